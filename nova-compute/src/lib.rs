//! nova-compute: one per hypervisor host. Serves `compute.<host>`, builds
//! and destroys instances through the configured `VirtDriver`, reports the
//! node's resources and reconciles the database with the hypervisor on start.
//!
//! It needs no database credentials (`[database] connection` is never read
//! here) and, deployed as intended, connects to RabbitMQ as a broker user of
//! its own (`nova-compute.<host>`), which confines it to its own queues and,
//! at the conductor, to its own instances and nodes. It takes orders only
//! from the control plane: a message from another compute host is refused.

mod actions;
mod config_drive;
mod evacuate;
mod firewall;
mod heal_info_cache;
mod image_cache;
mod live_migration;
mod manager;
mod password;
mod rescue;
mod resize;
mod resource_tracker;
mod shelve;
mod usage_audit;
mod vif;

use nova_common::NovaConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use manager::ComputeManager;

pub const BINARY: &str = "nova-compute";

/// Say whom this host is on the bus, and warn where it is trusted more than it should be.
fn log_trust(cfg: &NovaConfig, transport: &nova_rpc::Transport) {
    let host = &cfg.default.host;
    let trusted: Vec<&str> = transport.trust().control_plane_users().collect();
    if transport.is_confined() {
        if nova_common::trust::compute_host_of_user(transport.user()) != Some(host.as_str()) {
            warn!(user = transport.user(), %host, "this host's broker user is another host's: the conductor will treat it as that host");
        }
        info!(user = transport.user(), control_plane = ?trusted, "connected to the broker as this host's own user");
    } else {
        warn!(
            user = transport.user(),
            "this compute host shares a control-plane broker user and is trusted with everything; \
             give it its own with `nova-manage rabbit create_compute_user {host}`"
        );
    }
    if !cfg.database.connection.is_empty() {
        warn!("[database] connection is set, but nova-compute never uses it: remove the database credentials from compute hosts");
    }
}

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let driver = nova_virt::load_driver(&cfg).map_err(|e| e.to_string())?;
    driver
        .init_host(&cfg.default.host)
        .await
        .map_err(|e| format!("cannot initialise {}: {e}", driver.name()))?;
    // Queues first, then the check-in (the node then links to its service).
    let rt =
        nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, Some("compute"), &shutdown).await?;
    log_trust(&cfg, &rt.transport);
    let manager = Arc::new(ComputeManager::new(
        cfg.clone(),
        driver,
        rt.transport.clone(),
    ));
    if let Err(e) = manager.init_host().await {
        warn!("init_host did not finish: {e}");
    }
    let periodic = resource_tracker::spawn_periodic(manager.clone(), shutdown.clone());
    let power_sync = actions::spawn_power_sync(manager.clone(), shutdown.clone());
    let cache_cleanup = image_cache::spawn_cleanup(manager.clone(), shutdown.clone());
    let shelved_poll = shelve::spawn_shelved_poll(manager.clone(), shutdown.clone());
    let confirm_resizes = resize::spawn_poll_unconfirmed_resizes(manager.clone(), shutdown.clone());
    let reclaim = actions::spawn_reclaim(manager.clone(), shutdown.clone());
    let usage_audit = usage_audit::spawn_usage_audit(manager.clone(), shutdown.clone());
    let heal_info_cache = heal_info_cache::spawn_heal_info_cache(manager.clone(), shutdown.clone());
    info!(host = %cfg.default.host, driver = manager.driver_name(), "serving compute.{}", cfg.default.host);
    // The default endpoint: only the control plane may call it.
    nova_rpc::compute::serve(
        &rt.transport,
        &cfg.default.host,
        manager,
        shutdown,
        Duration::from_secs(cfg.default.graceful_shutdown_timeout),
    )
    .await;
    periodic.abort();
    for task in [
        power_sync,
        cache_cleanup,
        shelved_poll,
        confirm_resizes,
        reclaim,
        usage_audit,
        heal_info_cache,
    ]
    .into_iter()
    .flatten()
    {
        task.abort();
    }
    rt.stop().await;
    Ok(())
}
