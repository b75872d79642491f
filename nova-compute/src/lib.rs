//! nova-compute: one per hypervisor host. Serves `compute.<host>`, builds
//! and destroys instances through the configured `VirtDriver`, reports the
//! node's resources and reconciles the database with the hypervisor on start.

mod actions;
mod image_cache;
mod manager;
mod resource_tracker;
mod vif;

use nova_common::NovaConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use manager::ComputeManager;

pub const BINARY: &str = "nova-compute";

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let driver = nova_virt::load_driver(&cfg).map_err(|e| e.to_string())?;
    driver
        .init_host(&cfg.default.host)
        .await
        .map_err(|e| format!("cannot initialise {}: {e}", driver.name()))?;
    // Queues first, then the check-in (the node then links to its service).
    let rt =
        nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, Some("compute"), &shutdown).await?;
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
    info!(host = %cfg.default.host, driver = manager.driver_name(), "serving compute.{}", cfg.default.host);
    nova_rpc::compute::serve(
        &rt.transport,
        &cfg.default.host,
        manager,
        shutdown,
        Duration::from_secs(cfg.default.graceful_shutdown_timeout),
    )
    .await;
    periodic.abort();
    for task in [power_sync, cache_cleanup].into_iter().flatten() {
        task.abort();
    }
    rt.stop().await;
    Ok(())
}
