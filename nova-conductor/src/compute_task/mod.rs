//! `ComputeTaskManager`: the conductor's `compute_task` namespace (Nova's
//! `ComputeTaskManager`): scheduling builds and claiming their hosts
//! (`build`), unshelving (`unshelve`), resize and migration (`migrate`),
//! rebuild and evacuate (`rebuild`), and the periodic cleanup of builds
//! that nothing will finish.

mod build;
mod cache_images;
mod live_migrate;
mod migrate;
mod rebuild;
mod unshelve;

use crate::manager::retry_on_disconnect;
use chrono::Utc;
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_db::Db;
use nova_objects::{
    Aggregate, FilterProperties, Flavor, ImageMeta, Instance, InstanceFault, InstanceFilters,
    InstanceUpdate, Migration, RequestSpec, Selection,
};
use nova_rpc::{compute, scheduler, Transport};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;
use uuid::Uuid;

pub use build::EVENT_SCHEDULE;

pub struct ComputeTaskManager {
    db: Db,
    /// Glance, for the shelved image an unshelve spawns from.
    image_api: nova_clients::GlanceClient,
    scheduler: scheduler::Client,
    compute: compute::Client,
    cfg: NovaConfig,
}

impl ComputeTaskManager {
    /// The availability zone of `sel`'s host: as the scheduler gave it,
    /// else (a host not chosen by the scheduler) from its aggregates.
    async fn zone_of(&self, sel: &Selection) -> Result<String, NovaError> {
        match &sel.availability_zone {
            Some(zone) => Ok(zone.clone()),
            None => self.host_zone(&sel.service_host).await,
        }
    }

    /// The availability zone of `host`, from its aggregates.
    async fn host_zone(&self, host: &str) -> Result<String, NovaError> {
        crate::manager::aggregates::host_zone(
            &self.db,
            host,
            &self.cfg.default.default_availability_zone,
        )
        .await
    }

    /// The hosts of the instances the `same_host` and `different_host`
    /// hints name, for the scheduler's SameHostFilter and DifferentHostFilter.
    async fn populate_hint_hosts(&self, spec: &mut RequestSpec) -> Result<(), NovaError> {
        let mut uuids = spec.hint_uuids("same_host");
        uuids.extend(spec.hint_uuids("different_host"));
        spec.hint_instance_hosts = retry_on_disconnect("instance_hosts_by_uuids", || {
            self.db.instance_hosts_by_uuids(&uuids)
        })
        .await?;
        Ok(())
    }

    /// What a move (migrate, resize, evacuate, unshelve) schedules with
    /// besides the flavor, as Nova's stored RequestSpec has it: the server
    /// group as it is now and the hints the server was created with.
    async fn populate_move_info(
        &self,
        inst: &Instance,
        spec: &mut RequestSpec,
    ) -> Result<(), NovaError> {
        spec.instance_group = self
            .db
            .instance_group_get_by_instance_uuid(inst.uuid)
            .await?;
        spec.scheduler_hints = inst
            .system_metadata
            .get(nova_objects::SCHEDULER_HINTS_KEY)
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default();
        // Moves are scheduled for the image the instance was booted from
        // (its NUMA and hypervisor properties), as Nova's RequestSpec keeps it.
        if spec.image.properties.is_empty() {
            spec.image.properties = inst.image_properties();
        }
        self.populate_hint_hosts(spec).await
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::compute_task::Manager for ComputeTaskManager {
    async fn schedule_and_build_instances(
        &self,
        ctx: &RequestContext,
        request_spec: RequestSpec,
        instance_uuids: Vec<Uuid>,
        admin_password: Option<String>,
        injected_files: Vec<(String, String)>,
    ) -> Result<(), NovaError> {
        let injected = build::Injected {
            admin_password,
            injected_files,
        };
        self.schedule_and_build(ctx, request_spec, instance_uuids, &injected)
            .await;
        Ok(())
    }

    async fn unshelve_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        request_spec: RequestSpec,
    ) -> Result<(), NovaError> {
        self.unshelve(ctx, instance.uuid, request_spec).await;
        Ok(())
    }

    async fn migrate_server(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        flavor: Flavor,
        live: bool,
        clean_shutdown: bool,
        request_spec: RequestSpec,
    ) -> Result<(), NovaError> {
        if live {
            return Err(NovaError::invalid_input(
                "a live migration is asked with live_migrate_instance (1.24), not migrate_server",
            ));
        }
        self.migrate_cold(ctx, instance, flavor, clean_shutdown, request_spec)
            .await
    }

    async fn cache_images(
        &self,
        ctx: &RequestContext,
        aggregate: Aggregate,
        image_ids: Vec<String>,
    ) -> Result<(), NovaError> {
        self.cache_images_on(ctx, &aggregate, &image_ids).await;
        Ok(())
    }

    async fn live_migrate_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        host: Option<String>,
        block_migration: Option<bool>,
        _disk_over_commit: Option<bool>,
        request_spec: RequestSpec,
    ) -> Result<(), NovaError> {
        self.live_migrate(ctx, instance, host, block_migration, request_spec)
            .await
    }

    async fn post_live_migration_at_destination(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        migration_id: i64,
        block_migration: bool,
    ) -> Result<(), NovaError> {
        self.relay(
            ctx,
            instance_uuid,
            migration_id,
            migrate::Relay::PostLiveMigrationAtDestination { block_migration },
        )
        .await
    }

    async fn rollback_live_migration_at_destination(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        migration_id: i64,
        destroy_disks: bool,
    ) -> Result<(), NovaError> {
        self.relay(
            ctx,
            instance_uuid,
            migration_id,
            migrate::Relay::RollbackLiveMigrationAtDestination { destroy_disks },
        )
        .await
    }

    async fn resize_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        migration_id: i64,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.relay(
            ctx,
            instance_uuid,
            migration_id,
            migrate::Relay::ResizeInstance { clean_shutdown },
        )
        .await
    }

    async fn finish_resize(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        migration_id: i64,
        disk_info: String,
    ) -> Result<(), NovaError> {
        self.relay(
            ctx,
            instance_uuid,
            migration_id,
            migrate::Relay::FinishResize { disk_info },
        )
        .await
    }

    async fn finish_revert_resize(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        migration_id: i64,
    ) -> Result<(), NovaError> {
        self.relay(
            ctx,
            instance_uuid,
            migration_id,
            migrate::Relay::FinishRevertResize,
        )
        .await
    }

    async fn confirm_resize(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        migration_id: i64,
    ) -> Result<(), NovaError> {
        self.relay(
            ctx,
            instance_uuid,
            migration_id,
            migrate::Relay::ConfirmResize,
        )
        .await
    }

    async fn rebuild_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        orig_image_ref: String,
        image_ref: String,
        new_pass: Option<String>,
        injected_files: Vec<(String, String)>,
        recreate: bool,
        on_shared_storage: bool,
        preserve_ephemeral: bool,
        host: Option<String>,
        request_spec: RequestSpec,
        target_state: Option<String>,
    ) -> Result<(), NovaError> {
        let r = rebuild::Rebuild {
            orig_image_ref,
            image_ref,
            new_pass,
            injected_files,
            recreate,
            on_shared_storage,
            preserve_ephemeral,
            host,
            request_spec,
            target_state,
        };
        self.rebuild(ctx, instance, r).await
    }

    async fn build_instances(
        &self,
        ctx: &RequestContext,
        instances: Vec<Instance>,
        image: ImageMeta,
        filter_properties: FilterProperties,
        admin_password: Option<String>,
        injected_files: Vec<(String, String)>,
        request_spec: RequestSpec,
        host_lists: Vec<Vec<Selection>>,
    ) -> Result<(), NovaError> {
        let injected = build::Injected {
            admin_password,
            injected_files,
        };
        let mut host_lists = host_lists.into_iter();
        for inst in instances {
            let host_list = host_lists.next().unwrap_or_default();
            self.reschedule(
                ctx,
                inst.uuid,
                &image,
                &injected,
                filter_properties.clone(),
                &request_spec,
                host_list,
            )
            .await;
        }
        Ok(())
    }
}

impl ComputeTaskManager {
    pub fn new(db: Db, transport: Transport, cfg: NovaConfig) -> Self {
        let long = Duration::from_secs(cfg.default.long_rpc_timeout);
        ComputeTaskManager {
            db,
            image_api: nova_clients::GlanceClient::new(
                &cfg.glance.api_servers,
                cfg.glance.num_retries,
            ),
            scheduler: scheduler::Client::new(transport.clone()).with_timeout(long),
            compute: compute::Client::new(transport),
            cfg,
        }
    }

    /// Fault recorded, then ERROR with task_state cleared (in this order,
    /// so that whoever sees ERROR also sees why), and the action's `event`
    /// (when given) finished as failed.
    pub(crate) async fn set_error_with_fault(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        err: &NovaError,
        event: Option<&str>,
    ) {
        let fault = self.record_fault(uuid, err).await;
        let upd = InstanceUpdate {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            ..Default::default()
        };
        if let Err(e) = self.db.instance_update(uuid, &upd).await {
            warn!(instance = %uuid, "cannot set ERROR: {e}");
            return;
        }
        if let Some(event) = event {
            let _ = self
                .db
                .action_event_finish(uuid, &ctx.request_id, event, "Error", Some(&fault.details))
                .await;
        }
    }

    /// Record `err` as the instance's fault, seen on this conductor's host.
    pub(crate) async fn record_fault(&self, uuid: Uuid, err: &NovaError) -> InstanceFault {
        let fault = InstanceFault::from_error(uuid, err, Some(self.cfg.default.host.clone()));
        if let Err(e) = self.db.instance_fault_create(&fault).await {
            warn!(instance = %uuid, "cannot record fault: {e}");
        }
        fault
    }

    /// Builds nothing will finish: instances still building on a compute
    /// host that has been down for `service_down_time`, instances left
    /// unscheduled (SCHEDULING on no host) for longer than a scheduling can
    /// take (`long_rpc_timeout`), and (when `instance_build_timeout` is set)
    /// builds older than that timeout.
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
                let since = inst
                    .updated_at
                    .or(inst.created_at)
                    .map(|t| (now - t).num_seconds())
                    .unwrap_or(0);
                let limit = self.cfg.default.long_rpc_timeout as i64;
                (since > limit)
                    .then(|| format!("Instance was not scheduled within {limit} seconds"))
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
                self.set_error_with_fault(&ctx, inst.uuid, &err, Some(EVENT_SCHEDULE))
                    .await;
            }
        }
        Ok(())
    }

    /// Operations whose compute host is down will not finish (resizes and
    /// migrations aside: see below): a delete is
    /// completed here (Nova's local delete: the record is soft-deleted and
    /// its addresses released; the host destroys the guest when it comes
    /// back, in init_host), any other task_state is cleared so the user can
    /// act again (the host finds nothing to do when it comes back).
    pub(crate) async fn reset_dead_task_states(&self) -> Result<(), NovaError> {
        let now = Utc::now();
        let down_hosts: Vec<String> = self
            .db
            .service_get_all()
            .await?
            .into_iter()
            .filter(|s| s.binary == "nova-compute")
            .filter(|s| !s.is_up(now, self.cfg.default.service_down_time))
            .map(|s| s.host)
            .collect();
        for host in down_hosts.clone() {
            // An evacuation under way moves the instance off the dead host:
            // its task_state is the destination's to finish, unless the
            // destination is down too (then the evacuation failed).
            let mut evacuating: Vec<Uuid> = Vec::new();
            for m in self
                .db
                .migration_get_in_progress(None, Some(&host))
                .await?
                .into_iter()
                .filter(|m| m.migration_type.as_deref() == Some("evacuation"))
                .filter(|m| m.source_compute.as_deref() == Some(host.as_str()))
            {
                let dest_down = m
                    .dest_compute
                    .as_ref()
                    .is_none_or(|d| down_hosts.contains(d));
                if dest_down {
                    warn!(migration = m.id, dest = ?m.dest_compute, "the destination of an evacuation is down too: failed");
                    let expected = vec!["accepted".to_string()];
                    match self
                        .db
                        .migration_update_status(m.id, "failed", Some(&expected))
                        .await
                    {
                        Ok(_) | Err(NovaError::MigrationNotFound { .. }) => {}
                        Err(e) => return Err(e),
                    }
                } else if let Some(u) = m.instance_uuid {
                    evacuating.push(u);
                }
            }
            let stuck = self
                .db
                .instance_get_all_by_filters(&InstanceFilters {
                    host: Some(host.clone()),
                    ..Default::default()
                })
                .await?
                .into_iter()
                .filter(|i| i.vm_state != VmState::Building)
                .filter(|i| !evacuating.contains(&i.uuid))
                .filter_map(|i| i.task_state.map(|t| (i, t)))
                // A resize or migration under way is its hosts' to finish or
                // roll back when they come back (nova-compute's init_host):
                // clearing its task_state here would strand it half-moved.
                .filter(|(_, t)| !is_resize_task(*t));
            for (inst, task_state) in stuck {
                if task_state == TaskState::Deleting {
                    warn!(instance = %inst.uuid, %host, "compute host is down: finishing the delete locally");
                    self.db.network_deallocate_instance(inst.uuid).await?;
                    self.db.instance_destroy(inst.uuid).await?;
                    continue;
                }
                warn!(instance = %inst.uuid, %host, task_state = %task_state.as_str(), "compute host is down: clearing the task_state");
                let upd = InstanceUpdate {
                    task_state: Some(None),
                    expected_task_state: Some(vec![Some(task_state)]),
                    ..Default::default()
                };
                match self.db.instance_update(inst.uuid, &upd).await {
                    Ok(_) | Err(NovaError::UnexpectedTaskStateError { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(())
    }

    /// A migration of `inst` of `migration_type` (to `new_flavor_id`, at
    /// `dest` if one was asked for) that ended before it claimed a
    /// destination, written `error` and listed with the instance's others,
    /// as Nova's (whose row is written before its checks); None when it
    /// cannot be written (the refusal stands without it).
    pub(crate) async fn record_refused_migration(
        &self,
        inst: &Instance,
        new_flavor_id: i64,
        migration_type: &str,
        dest: Option<String>,
    ) -> Option<Migration> {
        let m = Migration {
            uuid: Uuid::new_v4(),
            source_compute: inst.host.clone(),
            source_node: inst.node.clone(),
            dest_compute: dest,
            status: Some("error".into()),
            instance_uuid: Some(inst.uuid),
            old_instance_type_id: Some(inst.instance_type_id),
            new_instance_type_id: Some(new_flavor_id),
            migration_type: Some(migration_type.into()),
            user_id: Some(inst.user_id.clone()),
            project_id: Some(inst.project_id.clone()),
            ..Default::default()
        };
        match self.db.migration_create_ended(&m).await {
            Ok(m) => Some(m),
            Err(e) => {
                warn!(instance = %inst.uuid, "cannot record the refused {migration_type}: {e}");
                None
            }
        }
    }
}

fn is_resize_task(t: TaskState) -> bool {
    matches!(
        t,
        TaskState::ResizePrep
            | TaskState::ResizeMigrating
            | TaskState::ResizeMigrated
            | TaskState::ResizeFinish
            | TaskState::ResizeReverting
            | TaskState::ResizeConfirming
    )
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
            if let Err(e) = manager.reset_dead_task_states().await {
                warn!("reset of task_states on down hosts failed: {e}");
            }
        }
    })
}
