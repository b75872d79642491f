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
    let transport = nova_rpc::Transport::start(&cfg, BINARY).map_err(|e| e.to_string())?;
    // Our queues exist before we announce ourselves: nothing sent to us is lost.
    nova_rpc::scheduler::declare(&transport, &cfg.default.host)
        .await
        .map_err(|e| format!("cannot reach the message broker: {e}"))?;
    let conductor = nova_rpc::conductor::Client::new(transport.clone());
    let hb = nova_rpc::service::spawn_heartbeat(
        conductor.clone(),
        cfg.default.host.clone(),
        BINARY,
        Some("scheduler"),
        Duration::from_secs(cfg.default.report_interval),
        shutdown.clone(),
    );
    let manager = Arc::new(SchedulerManager::new(conductor, cfg.clone()));
    nova_rpc::scheduler::serve(
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
