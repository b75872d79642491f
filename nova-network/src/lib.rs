//! nova-network, FlatDHCPManager flavour: IP address management for
//! instances (a VIF with a MAC and a fixed IP per network) and the
//! networks' bridges on this host (through `nova-linux-net`). dnsmasq and
//! iptables driving come with the networking issue; the IPAM state lives in
//! the database, reached through the conductor.

mod floating_ips;
mod manager;
mod policy;

use nova_common::NovaConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use manager::NetworkManager;
pub use policy::NetworkPolicy;

pub const BINARY: &str = "nova-network";

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let rt =
        nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, Some("network"), &shutdown).await?;
    let manager = Arc::new(NetworkManager::new(rt.conductor.clone(), cfg.clone()));
    if let Err(e) = manager.init_host().await {
        tracing::warn!("cannot set up this host's networks: {e}");
    }
    // Compute hosts ask for their own instances' addresses only.
    let policy = Arc::new(NetworkPolicy::new(rt.conductor.clone()));
    nova_rpc::network::server(&rt.transport, &cfg.default.host)
        .endpoint(nova_rpc::network::endpoint_with_policy(manager, policy))
        .serve(
            shutdown,
            Duration::from_secs(cfg.default.graceful_shutdown_timeout),
        )
        .await;
    rt.stop().await;
    Ok(())
}
