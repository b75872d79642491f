//! nova-api: the OpenStack Compute API v2.1 on `osapi_compute_listen_port`.
//!
//! The middleware mirrors Nova's api-paste pipeline: request id → fault
//! wrap → request log → size limit → auth → context → microversion →
//! handler. Handlers validate input, then act through the conductor (the
//! database), Glance (images) and compute/network RPC.

mod auth;
mod error;
mod flavors;
mod hypervisors;
mod keypairs;
mod limits;
mod microversion;
mod middleware;
mod policy;
mod server_actions;
mod servers;
mod services;
mod versions;
mod views;

use axum::routing::{get, put};
use axum::Router;
use nova_clients::GlanceClient;
use nova_common::NovaConfig;
use nova_rpc::{compute, conductor, network};
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::info;

pub use microversion::{MAX_VERSION, MIN_VERSION};

pub const BINARY: &str = "nova-api";

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub cfg: Arc<NovaConfig>,
    pub conductor: conductor::Client,
    pub compute: compute::Client,
    pub network: network::Client,
    pub glance: GlanceClient,
    /// Keystone token validation; `None` with `auth_strategy = noauth2`.
    pub auth: Option<Arc<auth::KeystoneAuth>>,
    pub policy: Arc<policy::Policy>,
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/servers", get(servers::index).post(servers::create))
        .route("/servers/detail", get(servers::detail))
        .route("/servers/{id}", get(servers::show).delete(servers::delete))
        .route(
            "/servers/{id}/action",
            axum::routing::post(server_actions::action),
        )
        .route("/flavors", get(flavors::index).post(flavors::create))
        .route("/flavors/detail", get(flavors::detail))
        .route("/flavors/{id}", get(flavors::show).delete(flavors::delete))
        .route("/os-services", get(services::index))
        .route(
            "/os-services/{id}",
            put(services::update).delete(services::delete),
        )
        .route("/os-hypervisors", get(hypervisors::index))
        .route("/os-hypervisors/detail", get(hypervisors::detail))
        .route("/os-hypervisors/statistics", get(hypervisors::statistics))
        .route("/os-hypervisors/{id}", get(hypervisors::show))
        .route("/os-keypairs", get(keypairs::index).post(keypairs::create))
        .route(
            "/os-keypairs/{name}",
            get(keypairs::show).delete(keypairs::delete),
        )
        .route("/limits", get(limits::limits))
        .route(
            "/os-quota-sets/{project}",
            get(limits::quota_show)
                .put(limits::quota_update)
                .delete(limits::quota_delete),
        )
        .route(
            "/os-quota-sets/{project}/defaults",
            get(limits::quota_defaults),
        )
        .route("/os-quota-sets/{project}/detail", get(limits::quota_detail))
        .route("/os-availability-zone", get(limits::az_list))
        .route("/os-availability-zone/detail", get(limits::az_detail));
    Router::new()
        .route("/", get(versions::root))
        .route("/v2.1", get(versions::v21))
        .route("/v2.1/", get(versions::v21))
        .nest("/v2.1", api)
        .fallback(middleware::not_found)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::pipeline,
        ))
        .with_state(state)
}

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let auth = match cfg.api.auth_strategy.as_str() {
        "keystone" => Some(Arc::new(auth::KeystoneAuth::new(&cfg.keystone_authtoken)?)),
        _ => None,
    };
    let policy = Arc::new(policy::Policy::load(&cfg.oslo_policy.policy_file)?);
    let addr = format!(
        "{}:{}",
        cfg.default.osapi_compute_listen, cfg.default.osapi_compute_listen_port
    );
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let rt = nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, None, &shutdown).await?;
    let state = AppState {
        glance: GlanceClient::new(&cfg.glance.api_servers, cfg.glance.num_retries),
        conductor: rt.conductor.clone(),
        compute: compute::Client::new(rt.transport.clone()),
        network: network::Client::new(rt.transport.clone()),
        cfg: Arc::new(cfg),
        auth,
        policy,
    };
    info!(%addr, "compute API listening");
    let s = shutdown.clone();
    let grace = Duration::from_secs(state.cfg.default.graceful_shutdown_timeout);
    let server = axum::serve(listener, router(state))
        .with_graceful_shutdown(async move { s.cancelled().await });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        r = &mut server => r.map_err(|e| e.to_string())?,
        _ = async { shutdown.cancelled().await; tokio::time::sleep(grace).await } => {
            tracing::warn!("graceful_shutdown_timeout expired with requests in flight");
        }
    }
    rt.stop().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The route table builds (axum panics on conflicting routes).
    #[tokio::test]
    async fn router_builds() {
        let cfg =
            nova_common::NovaConfig::parse_text("[api]\nauth_strategy = noauth2\n").expect("cfg");
        let transport = nova_rpc::Transport::start(&cfg, "test").expect("transport");
        let state = super::AppState {
            glance: super::GlanceClient::new(&cfg.glance.api_servers, 0),
            conductor: super::conductor::Client::new(transport.clone()),
            compute: super::compute::Client::new(transport.clone()),
            network: super::network::Client::new(transport.clone()),
            cfg: std::sync::Arc::new(cfg),
            auth: None,
            policy: std::sync::Arc::new(
                super::policy::Policy::load("/nonexistent").expect("policy"),
            ),
        };
        let _ = super::router(state);
        transport.close().await;
    }
}
