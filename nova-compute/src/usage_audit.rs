//! Nova's `_instance_usage_audit` (with `compute_utils.has_audit_been_run`,
//! `start_instance_usage_audit`, `finish_instance_usage_audit`): when
//! `[DEFAULT] instance_usage_audit` is on, once per completed audit period
//! (`instance_usage_audit_period`) this host records in `task_log` how many
//! instances were active on it in that period: a RUNNING run with the
//! count, then DONE with the errors and Nova's message.
//! `os-instance_usage_audit_log` reports the runs of every host.
//!
//! Nova's per-instance work in the run is a `compute.instance.exists`
//! notification; this project sends no notifications, so the run counts the
//! instances and its error count is that of what it did per instance:
//! nothing can fail there.

use crate::manager::ComputeManager;
use nova_common::audit::{last_completed_audit_period, INSTANCE_USAGE_AUDIT};
use nova_common::{NovaError, RequestContext};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// How often the audit looks whether the last completed period was
/// audited (Nova's default periodic interval).
const AUDIT_INTERVAL: Duration = Duration::from_secs(60);

impl ComputeManager {
    /// One look: audit the last completed period unless this host has.
    pub(crate) async fn instance_usage_audit(&self) -> Result<(), NovaError> {
        if !self.cfg.default.instance_usage_audit {
            return Ok(());
        }
        let unit = &self.cfg.default.instance_usage_audit_period;
        let Some((begin, end)) = last_completed_audit_period(unit, chrono::Utc::now().naive_utc())
        else {
            return Err(NovaError::invalid_input(format!(
                "[DEFAULT] instance_usage_audit_period = {unit} is not a valid audit period"
            )));
        };
        let (b, e) = (begin.and_utc(), end.and_utc());
        let ctx = RequestContext::admin();
        let host = self.host().to_string();
        let c = &self.conductor;
        let name = INSTANCE_USAGE_AUDIT.to_string();
        if c.task_log_get(&ctx, name.clone(), b, e, host.clone(), None)
            .await?
            .is_some()
        {
            return Ok(());
        }
        let instances = c
            .instance_get_active_by_window_joined(&ctx, b, e, None, Some(host.clone()))
            .await?;
        let n = instances.len() as i64;
        info!(%host, %begin, %end, instances = n, "running the instance usage audit");
        let started = Instant::now();
        c.task_log_begin_task(&ctx, name.clone(), b, e, host.clone(), Some(n), None)
            .await?;
        let errors = 0;
        let message = format!(
            "Instance usage audit ran for host {host}, {n} instances in {:.3} seconds.",
            started.elapsed().as_secs_f64()
        );
        c.task_log_end_task(&ctx, name, b, e, host, errors, message)
            .await
    }
}

/// The periodic audit: at start and every minute; not run when the audit
/// is off.
pub fn spawn_usage_audit(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    if !manager.cfg.default.instance_usage_audit {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(AUDIT_INTERVAL);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.instance_usage_audit().await {
                warn!("the instance usage audit did not run: {e}");
            }
        }
    }))
}
