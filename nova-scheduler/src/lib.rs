//! nova-scheduler: the filter scheduler. It keeps every compute node's state
//! in memory (`host_manager`), refreshed from nova-conductor by a periodic
//! task; for each instance of a request it filters those states
//! (`[filter_scheduler] enabled_filters`), weighs the rest (RAMWeigher),
//! chooses the best and consumes the request there, and returns it with up
//! to `[scheduler] max_attempts` - 1 alternates. It never calls the
//! conductor while answering: the conductor claims the chosen host's
//! resources itself, falling back on the alternates.

pub mod filter_scheduler;
pub mod filters;
pub mod host_manager;
mod manager;
pub mod weights;

use nova_common::NovaConfig;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

pub use filter_scheduler::FilterScheduler;
pub use host_manager::{HostManager, HostState};
pub use manager::SchedulerManager;

pub const BINARY: &str = "nova-scheduler";

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let rt = nova_rpc::service::ServiceRuntime::start(&cfg, BINARY, Some("scheduler"), &shutdown)
        .await?;
    let host_manager = Arc::new(HostManager::new(&cfg.default.default_availability_zone));
    let refresh = host_manager.spawn_periodic(
        rt.conductor.clone(),
        cfg.scheduler
            .host_refresh_interval()
            .map(Duration::from_secs),
        shutdown.clone(),
    );
    let manager = Arc::new(SchedulerManager::new(&cfg, host_manager));
    nova_rpc::scheduler::serve(
        &rt.transport,
        &cfg.default.host,
        manager,
        shutdown,
        Duration::from_secs(cfg.default.graceful_shutdown_timeout),
    )
    .await;
    refresh.abort();
    rt.stop().await;
    Ok(())
}
