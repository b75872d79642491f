//! Lifecycle actions on running instances (reboot, stop/start, pause,
//! suspend, soft delete/restore, snapshot) and the periodic power-state sync, with Nova's state
//! machine from [`nova_common::transitions`]: the API sets the task_state,
//! the compute host does the work, checks the task_state it expects (so a
//! redelivered message is harmless) and ends in a final vm_state with
//! task_state cleared, or ERROR with a fault.

use crate::config_drive::Injected;
use crate::manager::{virt_to_nova, ComputeManager};
use nova_common::states::{power_state, TaskState, VmState};
use nova_common::transitions::{self, Transition};
use nova_common::{NovaError, RequestContext};
use nova_objects::device_metadata::InstanceDeviceMetadata;
use nova_objects::{Instance, InstanceFilters, InstanceUpdate};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// What the driver is asked to do.
pub enum Op {
    Reboot {
        hard: bool,
    },
    PowerOff {
        clean: bool,
    },
    PowerOn,
    Pause,
    Unpause,
    Suspend,
    Resume,
    /// Nova's `soft_delete_instance`: drivers without a soft delete power
    /// the guest off (at once, no clean shutdown).
    SoftDelete,
    /// Nova's `restore_instance`: the guest powered on again.
    Restore,
}

impl ComputeManager {
    /// Run an action on an instance of this host.
    pub(crate) async fn run_action(
        &self,
        ctx: &RequestContext,
        instance: &Instance,
        action: &Transition,
        op: Op,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        // A soft reboot waits for the guest (up to `[libvirt]
        // wait_soft_reboot_seconds`); a hard reboot asked meanwhile ends
        // the wait rather than queueing behind it.
        let soft = matches!(op, Op::Reboot { hard: false }).then(|| self.soft_reboot_started(uuid));
        let Some(inst) = self.expecting(ctx, uuid, action).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, action.event, None).await;
        let nw = inst.network_info.clone();
        let d = &self.driver;
        // A guest (re)started on this host needs its bridges (they are gone
        // after a host reboot), as Nova plugs VIFs before power-on.
        let starts_guest = matches!(
            op,
            Op::Reboot { .. } | Op::PowerOn | Op::Resume | Op::Restore
        );
        let plugged = if starts_guest {
            crate::vif::plug_vifs(d.as_ref(), &nw).await
        } else {
            Ok(())
        };
        let result = match plugged {
            Err(e) => Err(e),
            Ok(()) => match op {
                Op::Reboot { hard } => match &soft {
                    Some(soft) => tokio::select! {
                        r = d.reboot(&inst, &nw, hard) => r,
                        () = soft.wake.notified() => {
                            info!(instance = %uuid, "soft reboot given up for the hard reboot asked");
                            Ok(())
                        }
                    },
                    None => d.reboot(&inst, &nw, hard).await,
                },
                Op::PowerOff { clean } => {
                    let timeout = if clean {
                        self.cfg.default.shutdown_timeout
                    } else {
                        0
                    };
                    d.power_off(&inst, timeout).await
                }
                Op::PowerOn => d.power_on(&inst, &nw).await,
                Op::Pause => d.pause(&inst).await,
                Op::Unpause => d.unpause(&inst).await,
                Op::Suspend => d.suspend(&inst).await,
                Op::Resume => d.resume(&inst, &nw).await,
                Op::SoftDelete => d.power_off(&inst, 0).await,
                Op::Restore => d.power_on(&inst, &nw).await,
            }
            .map_err(virt_to_nova),
        };
        match result {
            Ok(()) => {
                let ps = self.power_state_of(&inst).await;
                if action.final_power_state.is_some_and(|want| want != ps) {
                    warn!(instance = %uuid, power_state = ps, "{} left the guest {}", action.event, power_state::name(ps));
                }
                let done = self
                    .conductor
                    .instance_update(
                        ctx,
                        uuid,
                        InstanceUpdate {
                            vm_state: action.final_vm_state,
                            task_state: Some(None),
                            power_state: Some(ps),
                            expected_task_state: Some(action.expected()),
                            ..Default::default()
                        },
                    )
                    .await;
                match done {
                    Ok(_) => {}
                    // Another action (a hard reboot over a soft one, a delete) took over.
                    Err(NovaError::UnexpectedTaskStateError { actual, .. }) => {
                        info!(instance = %uuid, task_state = %actual, "{} superseded; leaving the instance to it", action.event);
                    }
                    Err(e) => return Err(e),
                }
                self.event(ctx, uuid, action.event, Some(Ok(()))).await;
                info!(instance = %uuid, "{} done", action.event);
            }
            Err(e) => {
                warn!(instance = %uuid, "{} failed: {e}", action.event);
                self.set_error(ctx, uuid, &e).await;
                self.event(ctx, uuid, action.event, Some(Err(&e))).await;
            }
        }
        Ok(())
    }

    /// rebuild: destroy the guest and spawn it again from `image_ref` (a new
    /// disk from the new image), stepping the task_state rebuilding →
    /// rebuild_block_device_mapping → rebuild_spawning → None. A STOPPED
    /// instance is powered off again and ends STOPPED; anything else ends
    /// ACTIVE. Failures end in ERROR with a fault.
    pub(crate) async fn rebuild(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        image_ref: &str,
        injected: &Injected,
        preserve_ephemeral: bool,
    ) -> Result<(), NovaError> {
        use TaskState as T;
        let t = &transitions::REBUILD;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        if preserve_ephemeral {
            // Nova's `_rebuild_default_impl`, which every driver here is
            // (none rebuilds in place): the guest is left as it was, the
            // task_state cleared, the refusal its fault and the event's.
            let e = NovaError::PreserveEphemeralNotSupported {};
            warn!(instance = %uuid, "rebuild refused: {e}");
            self.record_fault(ctx, uuid, &e).await;
            let found: Vec<Option<T>> = vec![inst.task_state];
            let back = InstanceUpdate {
                task_state: Some(None),
                expected_task_state: Some(found),
                ..Default::default()
            };
            if let Err(u) = self.update(ctx, uuid, back).await {
                info!(instance = %uuid, "rebuild's task_state not cleared: {u}");
            }
            self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            return Ok(());
        }
        let stopped = inst.vm_state == VmState::Stopped;
        let step = |from: &[T], to: T| InstanceUpdate {
            task_state: Some(Some(to)),
            expected_task_state: Some(from.iter().map(|t| Some(*t)).collect()),
            ..Default::default()
        };
        let d = &self.driver;
        let result: Result<(i32, Option<InstanceDeviceMetadata>), NovaError> = async {
            let image = self.images.glance().show(ctx, image_ref).await?;
            let nw = inst.network_info.clone();
            d.destroy(&inst, &nw).await.map_err(virt_to_nova)?;
            // From exactly the step this rebuild found (see `do_build`: a
            // late copy of this update must not take a later step back).
            let found: Vec<T> = inst.task_state.into_iter().collect();
            self.update(ctx, uuid, step(&found, T::RebuildBlockDeviceMapping))
                .await?;
            let inst = self
                .update(
                    ctx,
                    uuid,
                    step(&[T::RebuildBlockDeviceMapping], T::RebuildSpawning),
                )
                .await?;
            let devices = self.spawn_guest(ctx, &inst, &image, &nw, injected).await?;
            if stopped {
                d.power_off(&inst, 0).await.map_err(virt_to_nova)?;
            }
            Ok((self.power_state_of(&inst).await, devices))
        }
        .await;
        let result = match result {
            Ok((ps, devices)) => {
                let done = InstanceUpdate {
                    device_metadata: devices.map(Some),
                    vm_state: Some(if stopped {
                        VmState::Stopped
                    } else {
                        VmState::Active
                    }),
                    task_state: Some(None),
                    power_state: Some(ps),
                    launched_at: Some(Some(chrono::Utc::now())),
                    expected_task_state: Some(vec![Some(T::RebuildSpawning)]),
                    ..Default::default()
                };
                self.update(ctx, uuid, done).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => {
                info!(instance = %uuid, "instance rebuilt from image {image_ref}");
                self.event(ctx, uuid, t.event, Some(Ok(()))).await;
            }
            // A delete took over.
            Err(NovaError::UnexpectedTaskStateError { actual, .. }) => {
                info!(instance = %uuid, task_state = %actual, "rebuild superseded");
            }
            Err(e) => {
                warn!(instance = %uuid, "rebuild failed: {e}");
                self.set_error(ctx, uuid, &e).await;
                self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            }
        }
        Ok(())
    }

    /// createImage: snapshot the disk and upload it to the image the API created.
    /// The instance keeps its vm_state; task_state goes image_snapshot →
    /// image_pending_upload → image_uploading → None. A failure clears the
    /// task_state, deletes the image record and records the fault.
    pub(crate) async fn snapshot(
        &self,
        ctx: &RequestContext,
        instance: &Instance,
        image_id: &str,
    ) -> Result<(), NovaError> {
        let t = &transitions::SNAPSHOT;
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let step = |from: TaskState, to: Option<TaskState>| InstanceUpdate {
            task_state: Some(to),
            expected_task_state: Some(vec![Some(from)]),
            ..Default::default()
        };
        let inst = match self
            .conductor
            .instance_update(
                ctx,
                uuid,
                InstanceUpdate {
                    task_state: Some(Some(TaskState::ImageSnapshot)),
                    expected_task_state: Some(t.expected()),
                    ..Default::default()
                },
            )
            .await
        {
            Ok(i) => i,
            Err(
                NovaError::UnexpectedTaskStateError { .. } | NovaError::InstanceNotFound { .. },
            ) => {
                info!(instance = %uuid, "snapshot already handled; nothing to do");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        self.event(ctx, uuid, t.event, None).await;
        let tmp = std::env::temp_dir().join(format!("nova-snapshot-{image_id}.qcow2"));
        let result: Result<(), NovaError> = async {
            self.driver
                .snapshot(&inst, &tmp)
                .await
                .map_err(virt_to_nova)?;
            self.conductor
                .instance_update(
                    ctx,
                    uuid,
                    step(
                        TaskState::ImageSnapshot,
                        Some(TaskState::ImagePendingUpload),
                    ),
                )
                .await?;
            self.conductor
                .instance_update(
                    ctx,
                    uuid,
                    step(
                        TaskState::ImagePendingUpload,
                        Some(TaskState::ImageUploading),
                    ),
                )
                .await?;
            self.images.glance().upload(ctx, image_id, &tmp).await?;
            self.conductor
                .instance_update(ctx, uuid, step(TaskState::ImageUploading, None))
                .await?;
            Ok(())
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        match &result {
            Ok(()) => {
                info!(instance = %uuid, image = %image_id, "snapshot uploaded");
                self.event(ctx, uuid, t.event, Some(Ok(()))).await;
            }
            Err(e) => {
                warn!(instance = %uuid, "snapshot failed: {e}");
                let _ = self.images.glance().delete(ctx, image_id).await;
                self.record_fault(ctx, uuid, e).await;
                let clear = InstanceUpdate {
                    task_state: Some(None),
                    ..Default::default()
                };
                let _ = self.conductor.instance_update(ctx, uuid, clear).await;
                self.event(ctx, uuid, t.event, Some(Err(e))).await;
            }
        }
        Ok(())
    }

    /// `_sync_power_states`: make the database follow the hypervisor, as Nova does.
    pub(crate) async fn sync_power_states(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let mine = self
            .conductor
            .instance_get_all_by_filters(
                &ctx,
                InstanceFilters {
                    host: Some(self.cfg.default.host.clone()),
                    ..Default::default()
                },
            )
            .await?;
        for inst in mine {
            // Instances in a task are being changed right now; leave them alone.
            if inst.task_state.is_some() || inst.vm_state == VmState::Building {
                continue;
            }
            let _lock = self.lock_instance(inst.uuid).await;
            let ps = match self.driver.get_info(&inst).await {
                Ok(i) => i.power_state,
                Err(nova_virt::VirtError::InstanceNotFound(_)) => power_state::NOSTATE,
                Err(e) => {
                    warn!(instance = %inst.uuid, "power state sync: {e}");
                    continue;
                }
            };
            let mut upd = InstanceUpdate {
                expected_task_state: Some(vec![None]),
                ..Default::default()
            };
            if ps != inst.power_state {
                upd.power_state = Some(ps);
            }
            let off = matches!(
                ps,
                power_state::SHUTDOWN | power_state::CRASHED | power_state::NOSTATE
            );
            if inst.vm_state == VmState::Active && off {
                // The guest stopped on its own: the instance is now stopped.
                info!(instance = %inst.uuid, power_state = ps, "instance shut down by itself; marking it SHUTOFF");
                upd.vm_state = Some(VmState::Stopped);
            } else if inst.vm_state == VmState::Stopped && ps == power_state::RUNNING {
                // A stopped instance must not run (Nova powers it off).
                warn!(instance = %inst.uuid, "stopped instance is running; powering it off");
                if let Err(e) = self.driver.power_off(&inst, 0).await {
                    warn!(instance = %inst.uuid, "cannot power off: {e}");
                }
                upd.power_state = Some(power_state::SHUTDOWN);
            }
            if upd.power_state.is_some() || upd.vm_state.is_some() {
                if let Err(e) = self.conductor.instance_update(&ctx, inst.uuid, upd).await {
                    info!(instance = %inst.uuid, "power state sync skipped: {e}");
                }
            }
        }
        Ok(())
    }
}

pub fn spawn_power_sync(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let secs = manager.cfg.default.sync_power_state_interval;
    if secs < 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs.max(1) as u64));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.sync_power_states().await {
                warn!("power state sync failed: {e}");
            }
        }
    }))
}

impl ComputeManager {
    /// Nova's `_reclaim_queued_deletes`: delete this host's instances that
    /// have been SOFT_DELETED (with no task) for longer than
    /// `[DEFAULT] reclaim_instance_interval` seconds.
    pub(crate) async fn reclaim_queued_deletes(&self) -> Result<(), NovaError> {
        let interval = self.cfg.default.reclaim_instance_interval;
        if interval <= 0 {
            return Ok(());
        }
        let ctx = RequestContext::admin();
        let queued = self
            .idempotent
            .instance_get_all_by_filters(
                &ctx,
                InstanceFilters {
                    host: Some(self.cfg.default.host.clone()),
                    status_vm_states: Some(vec![VmState::SoftDeleted]),
                    ..Default::default()
                },
            )
            .await?;
        let now = chrono::Utc::now();
        for inst in queued.into_iter().filter(|i| i.task_state.is_none()) {
            let old_enough = inst
                .updated_at
                .is_none_or(|at| (now - at).num_seconds() >= interval);
            if !old_enough {
                continue;
            }
            let _lock = self.lock_instance(inst.uuid).await;
            let start = InstanceUpdate {
                task_state: Some(Some(TaskState::Deleting)),
                expected_task_state: Some(vec![None]),
                expected_vm_state: Some(vec![VmState::SoftDeleted]),
                ..Default::default()
            };
            let Ok(inst) = self.conductor.instance_update(&ctx, inst.uuid, start).await else {
                continue;
            };
            info!(instance = %inst.uuid, "reclaiming an instance soft-deleted more than {interval} s ago");
            if let Err(e) = self.do_terminate(&ctx, &inst).await {
                warn!(instance = %inst.uuid, "cannot reclaim: {e}");
                self.set_error(&ctx, inst.uuid, &e).await;
            }
        }
        Ok(())
    }
}

/// The periodic `_reclaim_queued_deletes`: every 60 seconds, or every
/// `reclaim_instance_interval` seconds when that is shorter; not run when
/// soft delete is off.
pub fn spawn_reclaim(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let interval = manager.cfg.default.reclaim_instance_interval;
    if interval <= 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(interval.min(60) as u64));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.reclaim_queued_deletes().await {
                warn!("reclaiming soft-deleted instances failed: {e}");
            }
        }
    }))
}
