//! `ComputeTaskManager`: the conductor's `compute_task` namespace (Nova's
//! `ComputeTaskManager`): scheduling builds, and the periodic cleanup of
//! builds that nothing will finish.

use crate::manager::retry_on_disconnect;
use chrono::Utc;
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_db::Db;
use nova_objects::{InstanceFault, InstanceFilters, InstanceUpdate, RequestSpec};
use nova_rpc::{compute, scheduler, Transport};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use uuid::Uuid;

pub const EVENT_SCHEDULE: &str = "conductor_schedule_and_build_instances";

pub struct ComputeTaskManager {
    db: Db,
    scheduler: scheduler::Client,
    compute: compute::Client,
    cfg: NovaConfig,
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::compute_task::Manager for ComputeTaskManager {
    async fn schedule_and_build_instances(
        &self,
        ctx: &RequestContext,
        request_spec: RequestSpec,
        instance_uuids: Vec<Uuid>,
    ) -> Result<(), NovaError> {
        self.schedule_and_build(ctx, request_spec, instance_uuids)
            .await;
        Ok(())
    }
}

impl ComputeTaskManager {
    pub fn new(db: Db, transport: Transport, cfg: NovaConfig) -> Self {
        let long = Duration::from_secs(cfg.default.long_rpc_timeout);
        ComputeTaskManager {
            db,
            scheduler: scheduler::Client::new(transport.clone()).with_timeout(long),
            compute: compute::Client::new(transport),
            cfg,
        }
    }

    /// Nova's `schedule_and_build_instances`: ask the scheduler for hosts
    /// (which claims their resources), then cast each build to its host.
    /// Any failure puts the instances in ERROR with a fault.
    pub(crate) async fn schedule_and_build(
        &self,
        ctx: &RequestContext,
        spec: RequestSpec,
        uuids: Vec<Uuid>,
    ) {
        // Idempotence: a redelivered message must not schedule twice.
        let mut todo = Vec::new();
        for u in &uuids {
            let read = retry_on_disconnect("instance_get_by_uuid", || {
                self.db.instance_get_by_uuid(*u, false)
            });
            match read.await {
                Ok(i)
                    if i.vm_state == VmState::Building
                        && i.task_state == Some(TaskState::Scheduling) =>
                {
                    match (&i.host, &i.node) {
                        // Scheduled and claimed, but the cast may have been lost: cast again
                        // (the compute side ignores builds it already did).
                        (Some(h), Some(n)) => {
                            let (h, n) = (h.clone(), n.clone());
                            let mut one = spec.clone();
                            one.instance_uuid = i.uuid;
                            info!(instance = %u, host = %h, "re-casting the build of an already scheduled instance");
                            if let Err(e) = self
                                .compute
                                .to_server(&h)
                                .build_and_run_instance(ctx, i, spec.image.clone(), one, n)
                                .await
                            {
                                self.set_error_with_fault(ctx, *u, &e, EVENT_SCHEDULE).await;
                            }
                        }
                        _ => todo.push(i),
                    }
                }
                Ok(i) => {
                    info!(instance = %u, vm_state = %i.vm_state, "already scheduled; skipping")
                }
                Err(e) => warn!(instance = %u, "not scheduling: {e}"),
            }
        }
        if todo.is_empty() {
            return;
        }
        let todo_uuids: Vec<Uuid> = todo.iter().map(|i| i.uuid).collect();
        for u in &todo_uuids {
            let _ = self
                .db
                .action_event_start(*u, &ctx.request_id, EVENT_SCHEDULE, &self.cfg.default.host)
                .await;
        }
        let selections = match self
            .scheduler
            .select_destinations(ctx, spec.clone(), todo_uuids.clone())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                warn!("scheduling failed: {e}");
                for u in &todo_uuids {
                    self.set_error_with_fault(ctx, *u, &e, EVENT_SCHEDULE).await;
                }
                return;
            }
        };
        for inst in todo {
            let Some(sel) = selections.iter().find(|s| s.instance_uuid == inst.uuid) else {
                let e = NovaError::NoValidHost {
                    reason: "The scheduler returned no host for this instance.".into(),
                };
                self.set_error_with_fault(ctx, inst.uuid, &e, EVENT_SCHEDULE)
                    .await;
                continue;
            };
            // The claim assigned host and node; re-read to cast the current record.
            let read = retry_on_disconnect("instance_get_by_uuid", || {
                self.db.instance_get_by_uuid(inst.uuid, false)
            });
            let instance = match read.await {
                Ok(i) => i,
                Err(e) => {
                    warn!(instance = %inst.uuid, "gone after scheduling: {e}");
                    continue;
                }
            };
            let _ = self
                .db
                .action_event_finish(inst.uuid, &ctx.request_id, EVENT_SCHEDULE, "Success", None)
                .await;
            let mut one = spec.clone();
            one.instance_uuid = inst.uuid;
            let cast = self
                .compute
                .to_server(&sel.service_host)
                .build_and_run_instance(
                    ctx,
                    instance,
                    spec.image.clone(),
                    one,
                    sel.nodename.clone(),
                )
                .await;
            if let Err(e) = cast {
                error!(instance = %inst.uuid, host = %sel.service_host, "cannot cast build: {e}");
                self.set_error_with_fault(ctx, inst.uuid, &e, EVENT_SCHEDULE)
                    .await;
            } else {
                info!(instance = %inst.uuid, host = %sel.service_host, "build cast to compute");
            }
        }
    }

    /// ERROR, task_state cleared, fault recorded, action event failed.
    pub(crate) async fn set_error_with_fault(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        err: &NovaError,
        event: &str,
    ) {
        let upd = InstanceUpdate {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            ..Default::default()
        };
        if let Err(e) = self.db.instance_update(uuid, &upd).await {
            warn!(instance = %uuid, "cannot set ERROR: {e}");
            return;
        }
        let fault = InstanceFault {
            instance_uuid: uuid,
            code: err.http_code() as i32,
            message: err.to_string(),
            details: format!("{}: {}", err.class(), err),
            host: Some(self.cfg.default.host.clone()),
            created_at: None,
        };
        if let Err(e) = self.db.instance_fault_create(&fault).await {
            warn!(instance = %uuid, "cannot record fault: {e}");
        }
        let _ = self
            .db
            .action_event_finish(uuid, &ctx.request_id, event, "Error", Some(&fault.details))
            .await;
    }

    /// Builds nothing will finish: instances still building on a compute
    /// host that has been down for `service_down_time`, and (when
    /// `instance_build_timeout` is set) builds older than that timeout.
    pub(crate) async fn cleanup_stuck_builds(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let building = self
            .db
            .instance_get_all_by_filters(&InstanceFilters {
                status_vm_states: Some(vec![VmState::Building]),
                ..Default::default()
            })
            .await?;
        if building.is_empty() {
            return Ok(());
        }
        let now = Utc::now();
        let services = self.db.service_get_all().await?;
        for inst in building {
            let age = inst
                .created_at
                .map(|c| (now - c).num_seconds())
                .unwrap_or(0);
            let reason = if let Some(host) = &inst.host {
                let svc = services
                    .iter()
                    .find(|s| &s.host == host && s.binary == "nova-compute");
                let down = svc.is_none_or(|s| !s.is_up(now, self.cfg.default.service_down_time));
                down.then(|| format!("Compute host {host} went down during the build"))
            } else {
                None
            };
            let timeout = self.cfg.default.instance_build_timeout as i64;
            let reason = reason.or_else(|| {
                (timeout > 0 && age > timeout)
                    .then(|| format!("Instance failed to spawn within {timeout} seconds"))
            });
            if let Some(reason) = reason {
                warn!(instance = %inst.uuid, "{reason}; setting ERROR");
                let err = NovaError::BuildAbortException {
                    instance_uuid: inst.uuid.to_string(),
                    reason,
                };
                self.set_error_with_fault(&ctx, inst.uuid, &err, EVENT_SCHEDULE)
                    .await;
            }
        }
        Ok(())
    }
}

pub fn spawn_periodic(
    manager: Arc<ComputeTaskManager>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let period = Duration::from_secs(manager.cfg.default.service_down_time.max(10));
        let mut tick = tokio::time::interval(period);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.cleanup_stuck_builds().await {
                warn!("cleanup of stuck builds failed: {e}");
            }
        }
    })
}
