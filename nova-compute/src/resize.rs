//! Resize and cold migration on the compute hosts, Nova's flow: the
//! destination's `prep_resize` hands over to the source's
//! `resize_instance` (guest powered off and taken off the hypervisor, its
//! disk handed over), then the destination's `finish_resize` takes the
//! instance over with its new flavor (VERIFY_RESIZE). `confirm_resize` on
//! the source forgets the old guest; `revert_resize` on the destination
//! destroys the new one and `finish_revert_resize` on the source brings the
//! old one back with the old flavor.
//!
//! Each step checks the task_state it expects (so a redelivered message
//! does nothing), records its event in the instance action, and on failure
//! ends the instance in ERROR with a fault and the migration in `error`.

use crate::manager::{virt_to_nova, ComputeManager};
use nova_common::states::{power_state, TaskState, VmState};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Flavor, ImageMeta, Instance, InstanceUpdate, Migration};
use tracing::{info, warn};

const EVENT_PREP: &str = "compute_prep_resize";
const EVENT_RESIZE: &str = "compute_resize_instance";
const EVENT_FINISH: &str = "compute_finish_resize";
const EVENT_CONFIRM: &str = "compute_confirm_resize";
const EVENT_REVERT: &str = "compute_revert_resize";
const EVENT_FINISH_REVERT: &str = "compute_finish_revert_resize";

/// Whether the guest runs after the move: unless it was stopped before it
/// (Nova's `old_vm_state` system metadata, set by the API).
fn was_running(inst: &Instance) -> bool {
    inst.system_metadata.get("old_vm_state").map(String::as_str) != Some(VmState::Stopped.as_str())
}

fn step(from: TaskState, to: Option<TaskState>) -> InstanceUpdate {
    InstanceUpdate {
        task_state: Some(to),
        expected_task_state: Some(vec![Some(from)]),
        ..Default::default()
    }
}

impl ComputeManager {
    /// The instance, if it is in `expected`; None when the message was
    /// handled already (or the instance is gone).
    async fn resize_target(
        &self,
        ctx: &RequestContext,
        uuid: uuid::Uuid,
        expected: TaskState,
        what: &str,
    ) -> Result<Option<Instance>, NovaError> {
        match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) if i.task_state == Some(expected) => Ok(Some(i)),
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "{what} already handled; nothing to do");
                Ok(None)
            }
            Err(NovaError::InstanceNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn set_migration(&self, ctx: &RequestContext, m: &Migration, status: &str) {
        if let Err(e) = self
            .conductor
            .migration_update_status(ctx, m.id, status.into(), None)
            .await
        {
            warn!(migration = m.id, "cannot set the migration {status}: {e}");
        }
    }

    /// A step failed: ERROR with a fault, the migration in `error`.
    async fn resize_failed(
        &self,
        ctx: &RequestContext,
        uuid: uuid::Uuid,
        m: &Migration,
        event: &str,
        e: &NovaError,
    ) {
        warn!(instance = %uuid, "{event} failed: {e}");
        self.set_error(ctx, uuid, e).await;
        self.event(ctx, uuid, event, Some(Err(e))).await;
        self.set_migration(ctx, m, "error").await;
    }

    pub(crate) async fn do_prep_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        _flavor: Flavor,
        migration: Migration,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        // The claim is the conductor's; this host only checks the instance
        // still waits for the resize and hands over to the source.
        if self
            .resize_target(ctx, uuid, TaskState::ResizePrep, "prep_resize")
            .await?
            .is_none()
        {
            return Ok(());
        }
        self.event(ctx, uuid, EVENT_PREP, None).await;
        let source = migration.source_compute.clone().unwrap_or_default();
        let cast = self
            .compute_task
            .resize_instance(ctx, uuid, migration.id, clean_shutdown)
            .await;
        match cast {
            Ok(()) => self.event(ctx, uuid, EVENT_PREP, Some(Ok(()))).await,
            Err(e) => {
                // Nothing moved yet: the instance stays as it was.
                warn!(instance = %uuid, "cannot hand the resize to {source}: {e}");
                let _ = self
                    .update(ctx, uuid, step(TaskState::ResizePrep, None))
                    .await;
                self.event(ctx, uuid, EVENT_PREP, Some(Err(&e))).await;
                self.set_migration(ctx, &migration, "error").await;
            }
        }
        Ok(())
    }

    pub(crate) async fn do_resize_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: Migration,
        _flavor: Flavor,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self
            .resize_target(ctx, uuid, TaskState::ResizePrep, "resize_instance")
            .await?
        else {
            return Ok(());
        };
        self.event(ctx, uuid, EVENT_RESIZE, None).await;
        let result: Result<(), NovaError> = async {
            self.update(
                ctx,
                uuid,
                step(TaskState::ResizePrep, Some(TaskState::ResizeMigrating)),
            )
            .await?;
            self.conductor
                .migration_update_status(ctx, migration.id, "migrating".into(), None)
                .await?;
            let timeout = if clean_shutdown {
                self.cfg.default.shutdown_timeout
            } else {
                0
            };
            let disk_info = self
                .driver
                .migrate_disk_and_power_off(&inst, timeout)
                .await
                .map_err(virt_to_nova)?;
            self.unfilter_instance(&inst).await;
            let migration = self
                .conductor
                .migration_update_status(ctx, migration.id, "post-migrating".into(), None)
                .await?;
            self.update(
                ctx,
                uuid,
                InstanceUpdate {
                    power_state: Some(power_state::SHUTDOWN),
                    ..step(TaskState::ResizeMigrating, Some(TaskState::ResizeMigrated))
                },
            )
            .await?;
            self.compute_task
                .finish_resize(ctx, uuid, migration.id, disk_info)
                .await
        }
        .await;
        match result {
            Ok(()) => self.event(ctx, uuid, EVENT_RESIZE, Some(Ok(()))).await,
            Err(e) => {
                self.resize_failed(ctx, uuid, &migration, EVENT_RESIZE, &e)
                    .await
            }
        }
        Ok(())
    }

    /// The image the instance was built from, as the driver needs it here.
    pub(crate) async fn instance_image(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> Result<(ImageMeta, nova_virt::ImageFiles), NovaError> {
        if !self.driver.needs_image_files() {
            let image = ImageMeta {
                id: inst.image_ref.clone(),
                ..Default::default()
            };
            return Ok((image, nova_virt::ImageFiles::default()));
        }
        let image = self.images.glance().show(ctx, &inst.image_ref).await?;
        let files = self
            .images
            .files_for(ctx, &image, &inst.kernel_id, &inst.ramdisk_id)
            .await?;
        Ok((image, files))
    }

    pub(crate) async fn do_finish_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: Migration,
        disk_info: String,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self
            .resize_target(ctx, uuid, TaskState::ResizeMigrated, "finish_resize")
            .await?
        else {
            return Ok(());
        };
        self.event(ctx, uuid, EVENT_FINISH, None).await;
        let power_on = was_running(&inst);
        let result: Result<(), NovaError> = async {
            let new = inst
                .new_flavor
                .clone()
                .unwrap_or_else(|| inst.flavor.clone());
            // The instance is this host's now, with its new flavor.
            let inst = self
                .update(
                    ctx,
                    uuid,
                    InstanceUpdate {
                        host: Some(Some(self.host().to_string())),
                        node: Some(migration.dest_node.clone()),
                        flavor: Some(new),
                        ..step(TaskState::ResizeMigrated, Some(TaskState::ResizeFinish))
                    },
                )
                .await?;
            let (image, files) = self.instance_image(ctx, &inst).await?;
            let nw = inst.network_info.clone();
            crate::vif::plug_vifs(self.driver.as_ref(), &nw).await?;
            self.filter_instance(ctx, &inst, &nw).await?;
            self.driver
                .finish_migration(&inst, &image, &nw, &files, &disk_info, power_on)
                .await
                .map_err(virt_to_nova)?;
            self.conductor
                .migration_update_status(ctx, migration.id, "finished".into(), None)
                .await?;
            let ps = self.power_state_of(&inst).await;
            let (ephemeral, swap) = crate::manager::local_devices(&inst);
            self.update(
                ctx,
                uuid,
                InstanceUpdate {
                    vm_state: Some(VmState::Resized),
                    power_state: Some(ps),
                    default_ephemeral_device: ephemeral,
                    default_swap_device: swap,
                    ..step(TaskState::ResizeFinish, None)
                },
            )
            .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                info!(instance = %uuid, "resized: waiting for confirmation");
                self.event(ctx, uuid, EVENT_FINISH, Some(Ok(()))).await
            }
            Err(e) => {
                self.resize_failed(ctx, uuid, &migration, EVENT_FINISH, &e)
                    .await
            }
        }
        Ok(())
    }

    pub(crate) async fn do_confirm_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: Migration,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self
            .resize_target(ctx, uuid, TaskState::ResizeConfirming, "confirm_resize")
            .await?
        else {
            return Ok(());
        };
        self.event(ctx, uuid, EVENT_CONFIRM, None).await;
        let result: Result<(), NovaError> = async {
            self.driver
                .confirm_migration(&inst)
                .await
                .map_err(virt_to_nova)?;
            let vm_state = if inst.power_state == power_state::RUNNING {
                VmState::Active
            } else {
                VmState::Stopped
            };
            // Nova's order: the migration, then the instance, so that
            // whoever sees the instance settled sees the migration
            // confirmed. This host (the source) may still settle it and
            // record the event while the instance is `resize_confirming`.
            self.conductor
                .migration_update_status(ctx, migration.id, "confirmed".into(), None)
                .await?;
            self.event(ctx, uuid, EVENT_CONFIRM, Some(Ok(()))).await;
            self.update(
                ctx,
                uuid,
                InstanceUpdate {
                    vm_state: Some(vm_state),
                    ..step(TaskState::ResizeConfirming, None)
                },
            )
            .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {}
            Err(e) => {
                self.resize_failed(ctx, uuid, &migration, EVENT_CONFIRM, &e)
                    .await
            }
        }
        Ok(())
    }

    pub(crate) async fn do_revert_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: Migration,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self
            .resize_target(ctx, uuid, TaskState::ResizeReverting, "revert_resize")
            .await?
        else {
            return Ok(());
        };
        self.event(ctx, uuid, EVENT_REVERT, None).await;
        let result: Result<(), NovaError> = async {
            self.driver
                .destroy(&inst, &inst.network_info)
                .await
                .map_err(virt_to_nova)?;
            self.unfilter_instance(&inst).await;
            self.compute_task
                .finish_revert_resize(ctx, uuid, migration.id)
                .await
        }
        .await;
        match result {
            Ok(()) => self.event(ctx, uuid, EVENT_REVERT, Some(Ok(()))).await,
            Err(e) => {
                self.resize_failed(ctx, uuid, &migration, EVENT_REVERT, &e)
                    .await
            }
        }
        Ok(())
    }

    pub(crate) async fn do_finish_revert_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: Migration,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self
            .resize_target(
                ctx,
                uuid,
                TaskState::ResizeReverting,
                "finish_revert_resize",
            )
            .await?
        else {
            return Ok(());
        };
        self.event(ctx, uuid, EVENT_FINISH_REVERT, None).await;
        let power_on = was_running(&inst);
        let result: Result<(), NovaError> = async {
            let old = inst
                .old_flavor
                .clone()
                .unwrap_or_else(|| inst.flavor.clone());
            let inst = self
                .update(
                    ctx,
                    uuid,
                    InstanceUpdate {
                        host: Some(Some(self.host().to_string())),
                        node: Some(migration.source_node.clone()),
                        flavor: Some(old),
                        expected_task_state: Some(vec![Some(TaskState::ResizeReverting)]),
                        ..Default::default()
                    },
                )
                .await?;
            let nw = inst.network_info.clone();
            crate::vif::plug_vifs(self.driver.as_ref(), &nw).await?;
            self.filter_instance(ctx, &inst, &nw).await?;
            self.driver
                .finish_revert_migration(&inst, &nw, power_on)
                .await
                .map_err(virt_to_nova)?;
            let ps = self.power_state_of(&inst).await;
            let vm_state = if power_on {
                VmState::Active
            } else {
                VmState::Stopped
            };
            // The migration first: whoever sees the instance settled sees
            // it reverted too.
            self.conductor
                .migration_update_status(ctx, migration.id, "reverted".into(), None)
                .await?;
            let (ephemeral, swap) = crate::manager::local_devices(&inst);
            self.update(
                ctx,
                uuid,
                InstanceUpdate {
                    vm_state: Some(vm_state),
                    power_state: Some(ps),
                    default_ephemeral_device: ephemeral,
                    default_swap_device: swap,
                    ..step(TaskState::ResizeReverting, None)
                },
            )
            .await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                info!(instance = %uuid, "resize reverted");
                self.event(ctx, uuid, EVENT_FINISH_REVERT, Some(Ok(())))
                    .await
            }
            Err(e) => {
                self.resize_failed(ctx, uuid, &migration, EVENT_FINISH_REVERT, &e)
                    .await
            }
        }
        Ok(())
    }
}

impl ComputeManager {
    /// Nova's `_poll_unconfirmed_resizes`: on the destination, resizes
    /// waiting for confirmation (migration `finished`) longer than
    /// `[DEFAULT] resize_confirm_window` seconds are confirmed, as if the
    /// user had: resize_confirming, migration `confirming`, and the source
    /// told (through the conductor) to clean up.
    pub(crate) async fn poll_unconfirmed_resizes(&self) -> Result<(), NovaError> {
        let window = self.cfg.default.resize_confirm_window;
        if window == 0 {
            return Ok(());
        }
        let ctx = RequestContext::admin();
        let now = chrono::Utc::now();
        let due = self
            .conductor
            .migration_get_in_progress_by_host(&ctx, self.host().to_string())
            .await?
            .into_iter()
            .filter(|m| m.dest_compute.as_deref() == Some(self.host()))
            .filter(|m| m.status.as_deref() == Some("finished"))
            .filter(|m| {
                m.updated_at
                    .or(m.created_at)
                    .is_some_and(|t| (now - t).num_seconds() >= window as i64)
            });
        for m in due {
            let Some(uuid) = m.instance_uuid else {
                continue;
            };
            let _lock = self.lock_instance(uuid).await;
            let confirming = InstanceUpdate {
                task_state: Some(Some(TaskState::ResizeConfirming)),
                expected_task_state: Some(vec![None]),
                expected_vm_state: Some(vec![VmState::Resized]),
                ..Default::default()
            };
            if let Err(e) = self.conductor.instance_update(&ctx, uuid, confirming).await {
                info!(instance = %uuid, "not confirming automatically: {e}");
                continue;
            }
            info!(instance = %uuid, window, "confirming a resize left unconfirmed");
            let sent = async {
                self.conductor
                    .migration_update_status(
                        &ctx,
                        m.id,
                        "confirming".into(),
                        Some(vec!["finished".into()]),
                    )
                    .await?;
                self.compute_task.confirm_resize(&ctx, uuid, m.id).await
            }
            .await;
            if let Err(e) = sent {
                warn!(instance = %uuid, "cannot confirm the resize: {e}");
                let _ = self
                    .update(&ctx, uuid, step(TaskState::ResizeConfirming, None))
                    .await;
            }
        }
        Ok(())
    }

    /// After a restart: the migrations this host was in the middle of
    /// (Nova's `_init_instance` for resize task_states). A source that died
    /// before the disk was handed over brings the guest back as it was; a
    /// destination that died before finishing hands the instance back to
    /// the source (a revert, through the conductor). The instance ends
    /// usable, never stuck in a resize task_state.
    pub(crate) async fn recover_migrations(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let migrations = self
            .conductor
            .migration_get_in_progress_by_host(&ctx, self.host().to_string())
            .await?;
        for m in migrations {
            let Some(uuid) = m.instance_uuid else {
                continue;
            };
            let inst = match self.idempotent.instance_get_by_uuid(&ctx, uuid).await {
                Ok(i) => i,
                Err(e) => {
                    warn!(instance = %uuid, "cannot read a migrating instance: {e}");
                    continue;
                }
            };
            let me = Some(self.host());
            let source = m.source_compute.as_deref() == me;
            let dest = m.dest_compute.as_deref() == me;
            match inst.task_state {
                Some(TaskState::ResizeMigrating) if source => {
                    warn!(instance = %uuid, "a resize was interrupted on its source; rolling back");
                    let _lock = self.lock_instance(uuid).await;
                    let power_on = was_running(&inst);
                    let nw = inst.network_info.clone();
                    let back = async {
                        crate::vif::plug_vifs(self.driver.as_ref(), &nw).await?;
                        self.filter_instance(&ctx, &inst, &nw).await?;
                        self.driver
                            .finish_revert_migration(&inst, &nw, power_on)
                            .await
                            .map_err(virt_to_nova)
                    }
                    .await;
                    match back {
                        Ok(()) => {
                            let ps = self.power_state_of(&inst).await;
                            let _ = self
                                .update(
                                    &ctx,
                                    uuid,
                                    InstanceUpdate {
                                        power_state: Some(ps),
                                        ..step(TaskState::ResizeMigrating, None)
                                    },
                                )
                                .await;
                            self.set_migration(&ctx, &m, "error").await;
                        }
                        Err(e) => {
                            self.resize_failed(&ctx, uuid, &m, EVENT_RESIZE, &e).await;
                        }
                    }
                }
                Some(TaskState::ResizeMigrated | TaskState::ResizeFinish) if dest => {
                    warn!(instance = %uuid, "a resize was interrupted on its destination; reverting to the source");
                    let _lock = self.lock_instance(uuid).await;
                    let revert = async {
                        self.update(
                            &ctx,
                            uuid,
                            InstanceUpdate {
                                task_state: Some(Some(TaskState::ResizeReverting)),
                                expected_task_state: Some(vec![inst.task_state]),
                                ..Default::default()
                            },
                        )
                        .await?;
                        self.conductor
                            .migration_update_status(&ctx, m.id, "reverting".into(), None)
                            .await?;
                        self.driver
                            .destroy(&inst, &inst.network_info)
                            .await
                            .map_err(virt_to_nova)?;
                        self.unfilter_instance(&inst).await;
                        self.compute_task
                            .finish_revert_resize(&ctx, uuid, m.id)
                            .await
                    }
                    .await;
                    if let Err(e) = revert {
                        self.resize_failed(&ctx, uuid, &m, EVENT_FINISH, &e).await;
                    }
                }
                Some(TaskState::Migrating)
                    if source && m.migration_type.as_deref() == Some("live-migration") =>
                {
                    self.recover_live_migration(&ctx, &inst, &m).await;
                }
                _ => {}
            }
        }
        Ok(())
    }
}

pub fn spawn_poll_unconfirmed_resizes(
    manager: std::sync::Arc<ComputeManager>,
    shutdown: tokio_util::sync::CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let window = manager.cfg.default.resize_confirm_window;
    if window == 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        // Nova's periodic task spacing is its default (60 s); a shorter
        // window is checked as often as it is long.
        let every = std::time::Duration::from_secs(window.clamp(1, 60));
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.poll_unconfirmed_resizes().await {
                warn!("polling unconfirmed resizes failed: {e}");
            }
        }
    }))
}
