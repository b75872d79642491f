//! nova-api: Nova's HTTP APIs, one listener per `[DEFAULT] enabled_apis`
//! entry, as `nova/cmd/api.py` starts them.
//!
//! - [`compute::api`]: the one place that creates, deletes and acts on
//!   instances (Nova's `nova/compute/api.py`), usable by every API.
//! - [`openstack`]: the compute API v2.1 (`osapi_compute`), its handlers and views.
//! - [`layers`]: the request pipeline as separate tower layers (request id,
//!   fault, request log, size limit, auth, context, microversion) that each
//!   API composes into its own stack.
//!
//! - [`metadata`]: the metadata service (`metadata`, 8775) guests read.
//! - [`ec2`]: the EC2 API (`ec2`, 8773), the AWS Query protocol over the same
//!   compute API, signatures checked by Keystone.

mod availability_zones;
pub mod compute;
pub mod ec2;
mod error;
mod http_server;
pub mod layers;
pub mod metadata;
pub mod openstack;
mod policy;
mod servicegroup;

use axum::Router;
use nova_clients::GlanceClient;
use nova_common::NovaConfig;
use nova_rpc::{conductor, network};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};

pub use openstack::api_version_request::{MAX_VERSION, MIN_VERSION};

pub const BINARY: &str = "nova-api";

/// What every API of this process shares: cloned for every request (by
/// each layer and handler that takes it), so a clone is one reference
/// count, not a copy of every client in it.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    pub cfg: Arc<NovaConfig>,
    /// Instances, quota, zones: Nova's `compute.api.API`.
    pub compute_api: compute::api::API,
    pub keypair_api: compute::api::KeypairAPI,
    pub security_group_api: compute::api::SecurityGroupAPI,
    /// Plain reads and admin writes that Nova's API does on objects directly.
    pub conductor: conductor::Client,
    pub auth: layers::auth::AuthStrategy,
    pub policy: Arc<policy::Policy>,
    /// The server bodies `servers/detail` wrote, for the same copies again.
    pub rendered_servers: openstack::compute::rendered_servers::RenderedServers,
}

impl AppState {
    fn new(
        cfg: Arc<NovaConfig>,
        transport: &nova_rpc::Transport,
        conductor: conductor::Client,
        auth: layers::auth::AuthStrategy,
        policy: Arc<policy::Policy>,
    ) -> Self {
        let compute_api = compute::api::API::new(
            cfg.clone(),
            conductor.clone(),
            nova_rpc::compute::Client::new(transport.clone()),
            network::Client::new(transport.clone()),
            GlanceClient::new(&cfg.glance.api_servers, cfg.glance.num_retries),
        );
        AppState(Arc::new(Shared {
            keypair_api: compute::api::KeypairAPI::new(conductor.clone()),
            security_group_api: compute::api::SecurityGroupAPI::new(
                conductor.clone(),
                nova_rpc::compute::Client::new(transport.clone()),
            ),
            compute_api,
            conductor,
            auth,
            policy,
            rendered_servers: openstack::compute::rendered_servers::RenderedServers::new(
                2 * cfg.api.max_limit,
            ),
            cfg,
        }))
    }
}

/// The APIs `enabled_apis` can name (Nova's paste app names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    /// The compute API v2.1 on `osapi_compute_listen_port` (8774).
    OsapiCompute,
    /// The instance metadata service on `metadata_listen_port` (8775).
    Metadata,
    /// The EC2 API on `ec2_listen_port` (8773).
    Ec2,
}

impl Api {
    pub fn from_name(name: &str) -> Option<Api> {
        match name {
            "osapi_compute" => Some(Api::OsapiCompute),
            "metadata" => Some(Api::Metadata),
            "ec2" => Some(Api::Ec2),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Api::OsapiCompute => "osapi_compute",
            Api::Metadata => "metadata",
            Api::Ec2 => "ec2",
        }
    }

    /// Where it listens: `<name>_listen` and `<name>_listen_port`.
    pub fn listen_addr(self, cfg: &NovaConfig) -> String {
        let d = &cfg.default;
        let (host, port) = match self {
            Api::OsapiCompute => (&d.osapi_compute_listen, d.osapi_compute_listen_port),
            Api::Metadata => (&d.metadata_listen, d.metadata_listen_port),
            Api::Ec2 => (&d.ec2_listen, d.ec2_listen_port),
        };
        format!("{host}:{port}")
    }

    /// The API's application with its own layer stack, or `None` when this
    /// build does not have it.
    pub fn app(self, state: &AppState) -> Option<Router> {
        match self {
            Api::OsapiCompute => Some(openstack::compute::app(state.clone())),
            Api::Metadata => Some(metadata::app(state.clone())),
            Api::Ec2 => Some(ec2::app(state.clone())),
        }
    }
}

/// The APIs to start, in `enabled_apis` order. Names Nova does not know and
/// APIs this build does not have are reported and skipped, as Nova skips an
/// API whose paste app is missing.
pub fn enabled_apis(cfg: &NovaConfig) -> Vec<Api> {
    let mut apis = Vec::new();
    for name in &cfg.default.enabled_apis {
        match Api::from_name(name) {
            Some(api) if apis.contains(&api) => {}
            Some(api) => apis.push(api),
            None => warn!(
                "[DEFAULT] enabled_apis includes the unknown API {name:?}; known: osapi_compute, metadata, ec2. Fix it to remove this warning."
            ),
        }
    }
    apis
}

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let apis = enabled_apis(&cfg);
    if apis.is_empty() {
        error!("No APIs were started. Check the enabled_apis config option.");
        return Err("no API in [DEFAULT] enabled_apis can be started".into());
    }
    // Bind first: a port in use stops the daemon before anything else starts.
    let mut listeners = Vec::new();
    for api in &apis {
        let addr = api.listen_addr(&cfg);
        let l = tokio::net::TcpListener::bind(&addr)
            .await
            .map_err(|e| format!("cannot listen on {addr} for {}: {e}", api.name()))?;
        listeners.push((*api, addr, l));
    }
    let auth = layers::auth::AuthStrategy::from_config(&cfg)?;
    let policy = Arc::new(policy::Policy::load(&cfg.oslo_policy.policy_file)?);
    let cfg = Arc::new(cfg);
    let rt = nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, None, &shutdown).await?;
    let state = AppState::new(
        cfg.clone(),
        &rt.transport,
        rt.conductor.clone(),
        auth,
        policy,
    );
    let grace = Duration::from_secs(cfg.default.graceful_shutdown_timeout);
    // The conductor's fanout casts: what to forget of what is kept.
    let rpc_server = {
        let (t, host, api, stop) = (
            rt.transport.clone(),
            cfg.default.host.clone(),
            Arc::new(state.compute_api.clone()),
            shutdown.clone(),
        );
        tokio::spawn(async move { nova_rpc::api::serve(&t, &host, api, stop, grace).await })
    };
    let mut servers = tokio::task::JoinSet::new();
    for (api, addr, listener) in listeners {
        let Some(app) = api.app(&state) else { continue };
        info!(%addr, "{} API listening", api.name());
        // The peer's address goes with each request: the metadata service finds guests by it.
        servers.spawn(http_server::serve(listener, app, shutdown.clone()));
    }
    let mut result = Ok(());
    tokio::select! {
        _ = async {
            while let Some(done) = servers.join_next().await {
                if let Err(e) = done {
                    result = Err(format!("an API listener failed: {e}"));
                    shutdown.cancel();
                }
            }
        } => {}
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            warn!("graceful_shutdown_timeout expired with requests in flight");
        }
    }
    servers.abort_all();
    let _ = rpc_server.await;
    rt.stop().await;
    result
}

/// A state over a transport that never connects (enough for routes that make no RPC).
#[cfg(test)]
pub(crate) fn test_state(cfg: &NovaConfig, transport: &nova_rpc::Transport) -> AppState {
    AppState::new(
        Arc::new(cfg.clone()),
        transport,
        conductor::Client::new(transport.clone()),
        layers::auth::AuthStrategy::from_config(cfg).expect("auth"),
        Arc::new(policy::Policy::load("/nonexistent").expect("policy")),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every API this build has builds its router (axum panics on conflicting routes).
    #[tokio::test]
    async fn routers_build() {
        let cfg = NovaConfig::parse_text("[api]\nauth_strategy = noauth2\n").expect("cfg");
        let transport = nova_rpc::Transport::start(&cfg, "test").expect("transport");
        let state = test_state(&cfg, &transport);
        assert!(Api::OsapiCompute.app(&state).is_some());
        assert!(Api::Metadata.app(&state).is_some());
        assert!(Api::Ec2.app(&state).is_some());
        transport.close().await;
    }

    #[test]
    fn enabled_apis_skip_unknown_names_and_repeats() {
        let cfg = NovaConfig::parse_text("").expect("defaults");
        assert_eq!(enabled_apis(&cfg), [Api::OsapiCompute, Api::Metadata]);
        let cfg = NovaConfig::parse_text(
            "[DEFAULT]\nenabled_apis = ec2, bogus, osapi_compute, osapi_compute\n",
        )
        .expect("cfg");
        assert_eq!(enabled_apis(&cfg), [Api::Ec2, Api::OsapiCompute]);
        let cfg = NovaConfig::parse_text("[DEFAULT]\nenabled_apis = metadata\n").expect("cfg");
        assert_eq!(enabled_apis(&cfg), [Api::Metadata]);
        assert_eq!(Api::Metadata.listen_addr(&cfg), "0.0.0.0:8775");
        assert_eq!(Api::Ec2.listen_addr(&cfg), "0.0.0.0:8773");
    }
}
