//! Shelve, shelve offload, unshelve and backup on the compute host (Nova's
//! `shelve_instance`, `shelve_offload_instance`, `unshelve_instance`,
//! `backup_instance`, `_rotate_backups`, `_poll_shelved_instances`), over
//! the transitions of [`nova_common::transitions`].
//!
//! Each runs under the instance's lock, acts only on the task_states its
//! transition expects (a redelivered or superseded message does nothing),
//! and ends in its final state or, on failure, back where it started with a
//! fault recorded: a failed shelve powers a guest that was running on
//! again, a failed offload leaves the instance SHELVED, a failed unshelve
//! leaves it SHELVED_OFFLOADED (its claim released), a failed backup deletes
//! its image. `init_host` rolls back the ones a restart interrupted.

use crate::manager::{virt_to_nova, ComputeManager};
use chrono::{NaiveDateTime, Utc};
use nova_common::states::{power_state, TaskState, VmState};
use nova_common::transitions::{self, Transition};
use nova_common::{NovaError, RequestContext};
use nova_objects::{ImageMeta, Instance, InstanceFilters, InstanceUpdate};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// The system metadata a shelve leaves and an unshelve removes.
const SHELVED_KEYS: [&str; 3] = ["shelved_at", "shelved_image_id", "shelved_host"];
/// Nova's format of `shelved_at` (`datetime.isoformat()`).
const SHELVED_AT_FORMAT: &str = "%Y-%m-%dT%H:%M:%S%.6f";

impl ComputeManager {
    fn step(from: &[TaskState], to: Option<TaskState>) -> InstanceUpdate {
        InstanceUpdate {
            task_state: Some(to),
            expected_task_state: Some(from.iter().map(|t| Some(*t)).collect()),
            ..Default::default()
        }
    }

    /// The instance, if it is still in one of `t`'s expected task_states
    /// (None also when it is gone): every action's first step on a compute
    /// host, so a repeated or superseded message does nothing.
    pub(crate) async fn expecting(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        t: &Transition,
    ) -> Result<Option<Instance>, NovaError> {
        match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) if t.expects(i.task_state) => Ok(Some(i)),
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "{} already handled; nothing to do", t.event);
                Ok(None)
            }
            Err(NovaError::InstanceNotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Snapshot the guest's disk and upload it into the Glance image
    /// `image_id`, the task_state going `held` → `pending` → `uploading`
    /// (each a compare-and-set: a delete meanwhile stops it).
    async fn snapshot_and_upload(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        image_id: &str,
        [held, pending, uploading]: [TaskState; 3],
    ) -> Result<(), NovaError> {
        let tmp = std::env::temp_dir().join(format!("nova-snapshot-{image_id}.qcow2"));
        let result = async {
            self.driver
                .snapshot(inst, &tmp)
                .await
                .map_err(virt_to_nova)?;
            self.update(ctx, inst.uuid, Self::step(&[held], Some(pending)))
                .await?;
            self.update(ctx, inst.uuid, Self::step(&[pending], Some(uploading)))
                .await?;
            self.images.glance().upload(ctx, image_id, &tmp).await
        }
        .await;
        let _ = tokio::fs::remove_file(&tmp).await;
        result
    }

    async fn delete_glance_image(&self, ctx: &RequestContext, uuid: Uuid, image_id: &str) {
        match self.images.glance().delete(ctx, image_id).await {
            Ok(()) | Err(NovaError::ImageNotFound { .. }) => {}
            Err(e) => warn!(instance = %uuid, image = %image_id, "cannot delete image: {e}"),
        }
    }

    // ----- backup -----

    /// createBackup: snapshot into `image_id`, then rotate.
    pub(crate) async fn backup(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        image_id: &str,
        backup_type: &str,
        rotation: i64,
    ) -> Result<(), NovaError> {
        let t = &transitions::BACKUP;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        let steps = [
            TaskState::ImageBackup,
            TaskState::ImagePendingUpload,
            TaskState::ImageUploading,
        ];
        let result = async {
            self.snapshot_and_upload(ctx, &inst, image_id, steps)
                .await?;
            self.update(ctx, uuid, Self::step(&[TaskState::ImageUploading], None))
                .await
        }
        .await;
        match result {
            Ok(_) => {
                info!(instance = %uuid, image = %image_id, "backup uploaded");
                if let Err(e) = self
                    .rotate_backups(ctx, &inst, image_id, backup_type, rotation)
                    .await
                {
                    warn!(instance = %uuid, "cannot rotate the backups: {e}");
                }
                self.event(ctx, uuid, t.event, Some(Ok(()))).await;
            }
            Err(e) => {
                warn!(instance = %uuid, "backup failed: {e}");
                self.delete_glance_image(ctx, uuid, image_id).await;
                self.record_fault(ctx, uuid, &e).await;
                let clear = Self::step(&steps, None);
                let _ = self.conductor.instance_update(ctx, uuid, clear).await;
                self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            }
        }
        Ok(())
    }

    /// Nova's `_rotate_backups`: keep the newest `rotation` backups of this
    /// instance and type (the one just made counts as the newest), delete
    /// the rest; a backup that cannot be deleted is logged and skipped.
    async fn rotate_backups(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        newest: &str,
        backup_type: &str,
        rotation: i64,
    ) -> Result<(), NovaError> {
        let uuid = inst.uuid.to_string();
        let query = [
            ("image_type", "backup"),
            ("backup_type", backup_type),
            ("instance_uuid", uuid.as_str()),
            ("sort_key", "created_at"),
            ("sort_dir", "desc"),
        ];
        let mut images = self.images.glance().list_filtered(ctx, &query).await?;
        // Glance's times have whole seconds: order ties by putting the
        // backup just made first, the rest by time, newest first.
        images.sort_by(|a, b| {
            (b.meta.id == newest)
                .cmp(&(a.meta.id == newest))
                .then_with(|| b.created_at.cmp(&a.created_at))
        });
        let keep = rotation.max(0) as usize;
        info!(instance = %uuid, found = images.len(), rotation, "rotating backups");
        for old in images.iter().skip(keep) {
            info!(instance = %uuid, image = %old.meta.id, "deleting excess backup");
            self.delete_glance_image(ctx, inst.uuid, &old.meta.id).await;
        }
        Ok(())
    }

    // ----- shelve -----

    /// shelve: power off, snapshot into `image_id`, SHELVED; then offload at
    /// once when `[DEFAULT] shelved_offload_time` is 0.
    pub(crate) async fn shelve(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        image_id: &str,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        let t = &transitions::SHELVE;
        let _lock = self.lock_instance(uuid).await;
        let Some(mut inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        // A shelve started again (a redelivered message) starts over, from
        // exactly the step it found (a late copy of this update must not
        // take a later step back).
        if inst.task_state != Some(TaskState::Shelving) {
            let found: Vec<TaskState> = inst.task_state.into_iter().collect();
            inst = self
                .update(ctx, uuid, Self::step(&found, Some(TaskState::Shelving)))
                .await?;
        }
        let was = self.power_state_of(&inst).await;
        let offload = self.cfg.default.shelved_offload_time == 0;
        let result = async {
            // A paused guest cannot shut down cleanly.
            let timeout = if clean_shutdown && was != power_state::PAUSED {
                self.cfg.default.shutdown_timeout
            } else {
                0
            };
            self.driver
                .power_off(&inst, timeout)
                .await
                .map_err(virt_to_nova)?;
            let steps = [
                TaskState::Shelving,
                TaskState::ShelvingImagePendingUpload,
                TaskState::ShelvingImageUploading,
            ];
            self.snapshot_and_upload(ctx, &inst, image_id, steps)
                .await?;
            let shelved_at = Utc::now().naive_utc().format(SHELVED_AT_FORMAT).to_string();
            let sysmeta = BTreeMap::from([
                ("shelved_at".to_string(), Some(shelved_at)),
                ("shelved_image_id".to_string(), Some(image_id.to_string())),
                ("shelved_host".to_string(), Some(self.host().to_string())),
            ]);
            let upd = InstanceUpdate {
                vm_state: Some(VmState::Shelved),
                task_state: Some(offload.then_some(TaskState::ShelvingOffloading)),
                power_state: Some(self.power_state_of(&inst).await),
                system_metadata: Some(sysmeta),
                expected_task_state: Some(vec![
                    Some(TaskState::Shelving),
                    Some(TaskState::ShelvingImageUploading),
                ]),
                ..Default::default()
            };
            self.update(ctx, uuid, upd).await
        }
        .await;
        match result {
            Ok(inst) => {
                info!(instance = %uuid, image = %image_id, "instance shelved");
                self.event(ctx, uuid, t.event, Some(Ok(()))).await;
                if offload {
                    if let Err(e) = self.offload(ctx, &inst, false, None).await {
                        self.offload_failed(ctx, uuid, &e).await;
                    }
                }
            }
            Err(e) => {
                warn!(instance = %uuid, "shelve failed: {e}");
                self.delete_glance_image(ctx, uuid, image_id).await;
                // Back as it was: a running guest runs again.
                if was == power_state::RUNNING
                    && self.power_state_of(&inst).await != power_state::RUNNING
                {
                    if let Err(pe) = self.driver.power_on(&inst, &inst.network_info).await {
                        warn!(instance = %uuid, "cannot power the guest on again: {pe}");
                    }
                }
                self.record_fault(ctx, uuid, &e).await;
                let mut clear = Self::step(t.expected_task_states, None);
                clear.power_state = Some(self.power_state_of(&inst).await);
                let _ = self.conductor.instance_update(ctx, uuid, clear).await;
                self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            }
        }
        Ok(())
    }

    /// shelveOffload, cast by the API.
    pub(crate) async fn shelve_offload(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        let t = &transitions::SHELVE_OFFLOAD;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        match self
            .offload(ctx, &inst, clean_shutdown, Some(t.event))
            .await
        {
            Ok(()) => {}
            Err(e) => {
                self.offload_failed(ctx, uuid, &e).await;
                self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            }
        }
        Ok(())
    }

    /// The offload proper (the caller holds the lock, the instance is in
    /// `shelving_offloading`): the guest goes, the instance leaves this host
    /// (host and node cleared, which frees the node's resources), its
    /// addresses stay allocated (nova-network's FlatDHCP keeps fixed IPs
    /// across a shelve). `event` is finished before the instance leaves
    /// this host (after that the host may record nothing about it).
    async fn offload(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        clean_shutdown: bool,
        event: Option<&str>,
    ) -> Result<(), NovaError> {
        let timeout = if clean_shutdown {
            self.cfg.default.shutdown_timeout
        } else {
            0
        };
        match self.driver.power_off(inst, timeout).await {
            Ok(()) | Err(nova_virt::VirtError::InstanceNotFound(_)) => {}
            Err(e) => return Err(virt_to_nova(e)),
        }
        let ps = match self.power_state_of(inst).await {
            power_state::NOSTATE => power_state::SHUTDOWN,
            ps => ps,
        };
        self.driver
            .destroy(inst, &inst.network_info)
            .await
            .map_err(virt_to_nova)?;
        self.unfilter_instance(inst).await;
        if let Some(event) = event {
            self.event(ctx, inst.uuid, event, Some(Ok(()))).await;
        }
        let upd = InstanceUpdate {
            vm_state: Some(VmState::ShelvedOffloaded),
            task_state: Some(None),
            power_state: Some(ps),
            host: Some(None),
            node: Some(None),
            launched_on: Some(None),
            expected_task_state: Some(vec![Some(TaskState::ShelvingOffloading)]),
            ..Default::default()
        };
        self.update(ctx, inst.uuid, upd).await?;
        info!(instance = %inst.uuid, "shelved instance offloaded");
        Ok(())
    }

    /// A failed offload leaves the instance SHELVED, with a fault.
    async fn offload_failed(&self, ctx: &RequestContext, uuid: Uuid, e: &NovaError) {
        warn!(instance = %uuid, "shelve offload failed: {e}");
        self.record_fault(ctx, uuid, e).await;
        let clear = Self::step(&[TaskState::ShelvingOffloading], None);
        let _ = self.conductor.instance_update(ctx, uuid, clear).await;
    }

    // ----- unshelve -----

    /// unshelve of an offloaded instance the conductor claimed this host for:
    /// spawn from the shelved image, which is then deleted.
    pub(crate) async fn unshelve(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        image: Option<ImageMeta>,
    ) -> Result<(), NovaError> {
        let t = &transitions::UNSHELVE;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        if inst.vm_state != VmState::ShelvedOffloaded || inst.host.as_deref() != Some(self.host()) {
            warn!(instance = %uuid, vm_state = %inst.vm_state, host = ?inst.host, "not an offloaded instance claimed for this host; refusing the unshelve");
            return Ok(());
        }
        self.event(ctx, uuid, t.event, None).await;
        let result = async {
            let inst = self
                .update(
                    ctx,
                    uuid,
                    Self::step(t.expected_task_states, Some(TaskState::Spawning)),
                )
                .await?;
            let image = image.ok_or_else(|| NovaError::UnshelveException {
                instance_id: uuid.to_string(),
                reason: "no shelved image to spawn from".into(),
            })?;
            let nw = inst.network_info.clone();
            let devices = self
                .spawn_guest(ctx, &inst, &image, &nw, &Default::default())
                .await?;
            Ok::<_, NovaError>((inst, image, devices))
        }
        .await;
        match result {
            Ok((inst, image, devices)) => {
                self.delete_glance_image(ctx, uuid, &image.id).await;
                let done = InstanceUpdate {
                    device_metadata: devices.map(Some),
                    vm_state: Some(VmState::Active),
                    task_state: Some(None),
                    power_state: Some(self.power_state_of(&inst).await),
                    launched_at: Some(Some(Utc::now())),
                    system_metadata: Some(
                        SHELVED_KEYS.iter().map(|k| (k.to_string(), None)).collect(),
                    ),
                    expected_task_state: Some(vec![Some(TaskState::Spawning)]),
                    ..Default::default()
                };
                match self.update(ctx, uuid, done).await {
                    Ok(_) => {
                        info!(instance = %uuid, "instance unshelved");
                        self.event(ctx, uuid, t.event, Some(Ok(()))).await;
                    }
                    Err(e) => {
                        warn!(instance = %uuid, "unshelved, but cannot record it: {e}");
                        self.event(ctx, uuid, t.event, Some(Err(&e))).await;
                    }
                }
            }
            Err(e) => {
                warn!(instance = %uuid, "unshelve failed: {e}");
                self.unshelve_failed(ctx, &inst, &e, Some(t.event)).await;
            }
        }
        Ok(())
    }

    /// Back to SHELVED_OFFLOADED: what the spawn left goes, a fault says
    /// why (and `event` failed), then the claim is released (host and node
    /// cleared; after that this host may record nothing about it).
    async fn unshelve_failed(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        e: &NovaError,
        event: Option<&str>,
    ) {
        if let Err(de) = self.driver.destroy(inst, &inst.network_info).await {
            warn!(instance = %inst.uuid, "cannot clean up the failed unshelve: {de}");
        }
        self.unfilter_instance(inst).await;
        self.record_fault(ctx, inst.uuid, e).await;
        if let Some(event) = event {
            self.event(ctx, inst.uuid, event, Some(Err(e))).await;
        }
        let back = InstanceUpdate {
            vm_state: Some(VmState::ShelvedOffloaded),
            task_state: Some(None),
            host: Some(None),
            node: Some(None),
            launched_on: Some(None),
            expected_task_state: Some(vec![Some(TaskState::Unshelving), Some(TaskState::Spawning)]),
            ..Default::default()
        };
        if let Err(ue) = self.conductor.instance_update(ctx, inst.uuid, back).await {
            warn!(instance = %inst.uuid, "cannot put the instance back to shelved_offloaded: {ue}");
        }
    }

    /// After `start_instance`: a SHELVED instance powered on again in place
    /// (the conductor's unshelve) loses its shelved image and keys, as Nova's
    /// `start_instance` does.
    pub(crate) async fn forget_shelved_image(&self, ctx: &RequestContext, uuid: Uuid) {
        let Ok(inst) = self.idempotent.instance_get_by_uuid(ctx, uuid).await else {
            return;
        };
        if inst.vm_state != VmState::Active || inst.task_state.is_some() {
            return;
        }
        let Some(image_id) = inst.system_metadata.get("shelved_image_id").cloned() else {
            return;
        };
        self.delete_glance_image(ctx, uuid, &image_id).await;
        let upd = InstanceUpdate {
            system_metadata: Some(SHELVED_KEYS.iter().map(|k| (k.to_string(), None)).collect()),
            ..Default::default()
        };
        if let Err(e) = self.conductor.instance_update(ctx, uuid, upd).await {
            warn!(instance = %uuid, "cannot remove the shelved keys: {e}");
        }
    }

    // ----- restarts and the periodic offload -----

    /// `init_host`'s part: roll back a shelve, offload or unshelve that a
    /// restart of this host interrupted (their messages, if redelivered,
    /// then find nothing to do). True when it handled the instance.
    pub(crate) async fn recover_shelving(&self, ctx: &RequestContext, inst: &Instance) -> bool {
        let uuid = inst.uuid;
        if transitions::SHELVE.expects(inst.task_state) {
            warn!(instance = %uuid, "a shelve was interrupted by a restart; rolling it back");
            let mut clear = Self::step(transitions::SHELVE.expected_task_states, None);
            clear.power_state = Some(self.power_state_of(inst).await);
            let _ = self.conductor.instance_update(ctx, uuid, clear).await;
            return false;
        }
        if transitions::SHELVE_OFFLOAD.expects(inst.task_state) {
            warn!(instance = %uuid, "a shelve offload was interrupted by a restart; it stays shelved");
            let clear = Self::step(&[TaskState::ShelvingOffloading], None);
            let _ = self.conductor.instance_update(ctx, uuid, clear).await;
            return false;
        }
        if inst.vm_state == VmState::ShelvedOffloaded {
            warn!(instance = %uuid, "an unshelve was interrupted by a restart; it stays offloaded");
            let err = NovaError::UnshelveException {
                instance_id: uuid.to_string(),
                reason: "interrupted by a restart of nova-compute".into(),
            };
            self.unshelve_failed(ctx, inst, &err, None).await;
            return true;
        }
        false
    }

    /// `_poll_shelved_instances`: offload this host's instances shelved for
    /// longer than `[DEFAULT] shelved_offload_time` seconds.
    pub(crate) async fn poll_shelved_instances(&self) -> Result<(), NovaError> {
        let offload_time = self.cfg.default.shelved_offload_time;
        if offload_time <= 0 {
            return Ok(());
        }
        let ctx = RequestContext::admin();
        let shelved = self
            .idempotent
            .instance_get_all_by_filters(
                &ctx,
                InstanceFilters {
                    host: Some(self.host().to_string()),
                    status_vm_states: Some(vec![VmState::Shelved]),
                    ..Default::default()
                },
            )
            .await?;
        let now = Utc::now().naive_utc();
        for inst in shelved.into_iter().filter(|i| i.task_state.is_none()) {
            let shelved_at = inst
                .system_metadata
                .get("shelved_at")
                .and_then(|s| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok());
            let due = shelved_at.is_some_and(|at| (now - at).num_seconds() > offload_time);
            if !due {
                continue;
            }
            let _lock = self.lock_instance(inst.uuid).await;
            let start = InstanceUpdate {
                task_state: Some(Some(TaskState::ShelvingOffloading)),
                expected_task_state: Some(vec![None]),
                expected_vm_state: Some(vec![VmState::Shelved]),
                ..Default::default()
            };
            let Ok(inst) = self.conductor.instance_update(&ctx, inst.uuid, start).await else {
                continue;
            };
            info!(instance = %inst.uuid, "offloading an instance shelved more than {offload_time} s ago");
            if let Err(e) = self.offload(&ctx, &inst, false, None).await {
                self.offload_failed(&ctx, inst.uuid, &e).await;
            }
        }
        Ok(())
    }
}

/// The periodic `_poll_shelved_instances` (`[DEFAULT] shelved_poll_interval`;
/// -1 disables it, 0 runs it every 60 seconds).
pub fn spawn_shelved_poll(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let secs = match manager.cfg.default.shelved_poll_interval {
        s if s < 0 => return None,
        0 => 60,
        s => s as u64,
    };
    if manager.cfg.default.shelved_offload_time <= 0 {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.poll_shelved_instances().await {
                warn!("polling shelved instances failed: {e}");
            }
        }
    }))
}
