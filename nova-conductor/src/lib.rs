//! nova-conductor: the only daemon with database access. It serves the
//! `conductor` topic (a typed database proxy for the other daemons) and runs
//! the build task: schedule, then cast the build to the chosen compute host.

mod manager;
mod tasks;

use nova_common::NovaConfig;
use nova_db::Db;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use manager::ConductorManager;

pub const BINARY: &str = "nova-conductor";

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let url = cfg.require_database().map_err(|e| e.to_string())?;
    let db = Db::connect(url, cfg.database.max_pool_size)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    db.check_schema().await.map_err(|e| e.to_string())?;
    let transport = nova_rpc::Transport::start(&cfg, BINARY).map_err(|e| e.to_string())?;
    // Our queues exist before we announce ourselves: nothing sent to us is lost.
    nova_rpc::conductor::declare(&transport, &cfg.default.host)
        .await
        .map_err(|e| format!("cannot reach the message broker: {e}"))?;
    let manager = Arc::new(ConductorManager::new(
        db.clone(),
        transport.clone(),
        cfg.clone(),
    ));

    // The conductor reports itself straight to the database.
    let hb = {
        let db = db.clone();
        let host = cfg.default.host.clone();
        let interval = Duration::from_secs(cfg.default.report_interval);
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tick.tick() => {}
                }
                match db.service_update(&host, BINARY, Some("conductor")).await {
                    Ok(_) => nova_common::systemd::ready("checked in"),
                    Err(e) => warn!("service report failed: {e}"),
                }
            }
        })
    };
    let periodic = tasks::spawn_periodic(manager.clone(), shutdown.clone());

    info!(host = %cfg.default.host, "serving topic conductor");
    nova_rpc::conductor::serve(
        &transport,
        &cfg.default.host,
        manager,
        shutdown.clone(),
        Duration::from_secs(cfg.default.graceful_shutdown_timeout),
    )
    .await;
    hb.abort();
    periodic.abort();
    transport.close().await;
    Ok(())
}
