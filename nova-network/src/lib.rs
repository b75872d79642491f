//! nova-network, FlatDHCPManager flavour: IP address management for
//! instances (a VIF with a MAC and a fixed IP per network). Bridge, dnsmasq
//! and iptables driving come with the networking issue; the IPAM state
//! lives in the database, reached through the conductor.

mod manager;

use nova_common::NovaConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use manager::NetworkManager;

pub const BINARY: &str = "nova-network";

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let transport = nova_rpc::Transport::start(&cfg, BINARY).map_err(|e| e.to_string())?;
    // Our queues exist before we announce ourselves: nothing sent to us is lost.
    nova_rpc::network::declare(&transport, &cfg.default.host)
        .await
        .map_err(|e| format!("cannot reach the message broker: {e}"))?;
    let conductor = nova_rpc::conductor::Client::new(transport.clone());
    let hb = nova_rpc::service::spawn_heartbeat(
        conductor.clone(),
        cfg.default.host.clone(),
        BINARY,
        Some("network"),
        Duration::from_secs(cfg.default.report_interval),
        shutdown.clone(),
    );
    let manager = Arc::new(NetworkManager::new(conductor, cfg.clone()));
    nova_rpc::network::serve(
        &transport,
        &cfg.default.host,
        manager,
        shutdown,
        Duration::from_secs(cfg.default.graceful_shutdown_timeout),
    )
    .await;
    hb.abort();
    transport.close().await;
    Ok(())
}
