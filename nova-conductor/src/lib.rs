//! nova-conductor: the only daemon with database access. It serves the
//! `conductor` topic (a typed database proxy for the other daemons,
//! `manager`) and the `compute_task` namespace (the build task: ask the
//! scheduler, claim the chosen host's resources, cast the build there, and
//! reschedule builds that failed, `compute_task`).
//!
//! Two consumers, each with its own prefetch window: the `conductor` queues
//! (every namespace, as oslo.messaging routes them) and the
//! `conductor_compute_task` queue our clients send builds to. A build waits
//! on the scheduler; since builds never hold the proxy's window, the compute
//! hosts' database calls never wait behind them. The scheduler itself never
//! calls the conductor while the conductor waits on it.
//!
//! Every request, in both namespaces, is first authorized by its caller
//! (`policy`): compute hosts may touch only what is theirs.

mod compute_task;
mod manager;
mod policy;

use nova_common::NovaConfig;
use nova_db::Db;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub use compute_task::ComputeTaskManager;
pub use manager::ConductorManager;
pub use policy::ConductorPolicy;

pub const BINARY: &str = "nova-conductor";

fn policy_users(transport: &nova_rpc::Transport) -> Vec<String> {
    transport
        .trust()
        .control_plane_users()
        .map(str::to_string)
        .collect()
}

pub async fn run(cfg: NovaConfig, shutdown: CancellationToken) -> Result<(), String> {
    let url = cfg.require_database().map_err(|e| e.to_string())?;
    let db = Db::connect(url, cfg.database.max_pool_size)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    db.check_schema().await.map_err(|e| e.to_string())?;
    let transport = nova_rpc::Transport::start(&cfg, BINARY).map_err(|e| e.to_string())?;
    let host = &cfg.default.host;
    let proxy = Arc::new(ConductorManager::new(
        db.clone(),
        cfg.quota.clone(),
        cfg.default.default_availability_zone.clone(),
        transport.clone(),
    ));
    let tasks = Arc::new(ComputeTaskManager::new(
        db.clone(),
        transport.clone(),
        cfg.clone(),
    ));
    let policy = Arc::new(ConductorPolicy::new(db.clone()));
    info!(
        control_plane = ?policy_users(&transport),
        "trusting these broker users as the control plane; compute hosts only with what is theirs"
    );
    let proxy_server = nova_rpc::conductor::server(&transport, host)
        .endpoint(nova_rpc::conductor::endpoint_with_policy(
            proxy,
            policy.clone(),
        ))
        .endpoint(nova_rpc::compute_task::endpoint_with_policy(
            tasks.clone(),
            policy.clone(),
        ));
    let task_server = nova_rpc::compute_task::server(&transport, host).endpoint(
        nova_rpc::compute_task::endpoint_with_policy(tasks.clone(), policy),
    );
    // Our queues exist before we announce ourselves: nothing sent to us is lost.
    for server in [&proxy_server, &task_server] {
        server
            .declare()
            .await
            .map_err(|e| format!("cannot reach the message broker: {e}"))?;
    }

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
    let periodic = compute_task::spawn_periodic(tasks, shutdown.clone());
    let purge = spawn_console_token_purge(db.clone(), &cfg, shutdown.clone());

    info!(%host, "serving topic conductor (namespaces: default, compute_task) and queue conductor_compute_task");
    let grace = Duration::from_secs(cfg.default.graceful_shutdown_timeout);
    tokio::join!(
        proxy_server.serve(shutdown.clone(), grace),
        task_server.serve(shutdown.clone(), grace),
    );
    hb.abort();
    periodic.abort();
    purge.abort();
    transport.close().await;
    Ok(())
}

/// Purge expired console tokens every `[DEFAULT] instance_delete_interval`
/// seconds (Nova's `_cleanup_expired_console_auth_tokens`); 0 disables it.
fn spawn_console_token_purge(
    db: Db,
    cfg: &NovaConfig,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let every = cfg.default.instance_delete_interval;
    tokio::spawn(async move {
        if every == 0 {
            return;
        }
        let mut tick = tokio::time::interval(Duration::from_secs(every));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let now = chrono::Utc::now().timestamp();
            match db.console_auth_token_destroy_expired(now).await {
                Ok(0) => {}
                Ok(n) => info!("purged {n} expired console tokens"),
                Err(e) => warn!("cannot purge expired console tokens: {e}"),
            }
        }
    })
}
