//! nova-scheduler: the filter scheduler. For each instance it filters the
//! compute nodes (`[filter_scheduler] enabled_filters`), weighs the rest
//! (RAMWeigher) and claims the resources on the best host through the
//! conductor; when a claim loses a race it tries the next host.

pub mod filters;
mod manager;

use nova_common::NovaConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use manager::SchedulerManager;

pub const BINARY: &str = "nova-scheduler";

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let rt = nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, Some("scheduler"), &shutdown)
        .await?;
    let manager = Arc::new(SchedulerManager::new(rt.conductor.clone(), cfg.clone()));
    nova_rpc::scheduler::serve(
        &rt.transport,
        &cfg.default.host,
        manager,
        shutdown,
        Duration::from_secs(cfg.default.graceful_shutdown_timeout),
    )
    .await;
    rt.stop().await;
    Ok(())
}
