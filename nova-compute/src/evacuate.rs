//! Evacuation (Nova's `rebuild_instance` with `recreate`, and
//! `_destroy_evacuated_instances`).
//!
//! On the destination the conductor claimed (the migration `accepted`):
//! check `onSharedStorage` (before 2.14) against what this host sees of the
//! instance's disk (Nova's `InvalidSharedStorage`: ERROR with a fault,
//! migration `failed`), take the instance over (host, node), spawn it from its image on a fresh
//! disk (no shared storage here, so nothing of the old disk is reused),
//! plug its VIFs and firewall, and finish ACTIVE, or STOPPED when it was
//! stopped or the API asked for it (2.95 `target_state`); the migration
//! becomes `done`. Failures end in ERROR with a fault, migration `failed`.
//!
//! On the source, when its nova-compute comes back (`init_host`): the
//! evacuations from this host not cleaned up yet (`accepted`, `done`) whose
//! instance is on another host now have their guest and files destroyed
//! here, when the hypervisor still lists the guest as this host's (as Nova,
//! which destroys only the guests its driver has); otherwise only this
//! host's files of the instance are removed (Nova's `destroy_disks` without
//! shared storage; on one libvirt shared by several hosts the guest of that
//! uuid is the destination's). Then the migration becomes `completed`.

use crate::manager::{virt_to_nova, ComputeManager};
use nova_common::context::ReadDeleted;
use nova_common::states::{TaskState, VmState};
use nova_common::transitions;
use nova_common::{NovaError, RequestContext};
use nova_objects::device_metadata::InstanceDeviceMetadata;
use nova_objects::{InstanceUpdate, Migration, MigrationFilters};
use tracing::{info, warn};
use uuid::Uuid;

impl ComputeManager {
    pub(crate) async fn evacuate(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        migration: Option<Migration>,
        scheduled_node: Option<String>,
        target_state: Option<String>,
        on_shared_storage: bool,
    ) -> Result<(), NovaError> {
        use TaskState as T;
        let t = &transitions::EVACUATE;
        let Some(migration) = migration else {
            return Err(NovaError::invalid_input(
                "an evacuation comes with its migration",
            ));
        };
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        let stopped =
            inst.vm_state == VmState::Stopped || target_state.as_deref() == Some("stopped");
        let node = match scheduled_node {
            Some(n) => n,
            None => self.driver.nodename().await.map_err(virt_to_nova)?,
        };
        let d = &self.driver;
        let result: Result<(i32, Option<InstanceDeviceMetadata>), NovaError> = async {
            // The caller's word on shared storage (before 2.14) against what
            // this host sees: the disk cannot be reused if it is not here,
            // and is not expected to be here if the caller said it is not.
            if on_shared_storage != d.instance_on_disk(&inst).await {
                return Err(NovaError::InvalidSharedStorage {
                    path: d.instance_path(&inst),
                    reason: if on_shared_storage {
                        "the evacuation was asked to reuse the instance's disk (onSharedStorage), but this host does not see it".into()
                    } else {
                        "the instance's disk is already on this host, though the evacuation was asked to rebuild it (onSharedStorage false)".into()
                    },
                });
            }
            let image = self.images.glance().show(ctx, &inst.image_ref).await?;
            let nw = inst.network_info.clone();
            // Take the instance over (its old host is down).
            self.update(
                ctx,
                uuid,
                InstanceUpdate {
                    host: Some(Some(self.host().to_string())),
                    node: Some(Some(node.clone())),
                    task_state: Some(Some(T::RebuildBlockDeviceMapping)),
                    expected_task_state: Some(t.expected()),
                    ..Default::default()
                },
            )
            .await?;
            let inst = self
                .update(
                    ctx,
                    uuid,
                    InstanceUpdate {
                        task_state: Some(Some(T::RebuildSpawning)),
                        expected_task_state: Some(vec![Some(T::RebuildBlockDeviceMapping)]),
                        ..Default::default()
                    },
                )
                .await?;
            let devices = self
                .spawn_guest(ctx, &inst, &image, &nw, &Default::default())
                .await?;
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
        // The instance first (ERROR and its fault while the migration
        // still names this host, which is what lets this host write them),
        // then the migration.
        let status = if result.is_ok() { "done" } else { "failed" };
        match result {
            Ok(()) => {
                info!(instance = %uuid, from = ?migration.source_compute, "instance evacuated here");
                self.event(ctx, uuid, t.event, Some(Ok(()))).await;
            }
            // A delete took over.
            Err(NovaError::UnexpectedTaskStateError { actual, .. }) => {
                info!(instance = %uuid, task_state = %actual, "evacuation superseded");
            }
            Err(e) => {
                warn!(instance = %uuid, "evacuation failed: {e}");
                self.set_error(ctx, uuid, &e).await;
                self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            }
        }
        if let Err(e) = self
            .conductor
            .migration_update_status(ctx, migration.id, status.into(), None)
            .await
        {
            warn!(instance = %uuid, migration = migration.id, "cannot set the evacuation {status}: {e}");
        }
        Ok(())
    }

    /// `init_host`: destroy the guests of instances evacuated from this
    /// host while it was down (their migration `accepted` or `done`, the
    /// instance on another host now), then mark the migration `completed`.
    pub(crate) async fn destroy_evacuated_instances(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let filters = MigrationFilters {
            source_compute: Some(self.host().to_string()),
            migration_type: Some("evacuation".into()),
            ..Default::default()
        };
        let evacuations = self
            .conductor
            .migration_get_all_by_filters(&ctx, filters)
            .await?;
        if evacuations.is_empty() {
            return Ok(());
        }
        // Only the guests this host has: on one libvirt shared by several
        // hosts the instance's new guest (same uuid) is another host's.
        let local: std::collections::HashSet<Uuid> = self
            .driver
            .list_instance_uuids()
            .await
            .map_err(virt_to_nova)?
            .into_iter()
            .collect();
        let mut read_deleted = ctx.clone();
        read_deleted.read_deleted = ReadDeleted::Yes;
        for m in evacuations
            .into_iter()
            .filter(Migration::evacuation_to_clean_up)
        {
            let Some(uuid) = m.instance_uuid else {
                continue;
            };
            let inst = match self
                .conductor
                .instance_get_by_uuid(&read_deleted, uuid)
                .await
            {
                Ok(i) => i,
                Err(e) => {
                    warn!(instance = %uuid, "cannot read the evacuated instance: {e}");
                    continue;
                }
            };
            if inst.host.as_deref() == Some(self.host()) {
                // Not moved yet: its guest here is still its own.
                continue;
            }
            if local.contains(&uuid) {
                let _g = self.lock_instance(uuid).await;
                info!(instance = %uuid, to = ?inst.host, "destroying the guest of an instance evacuated while this host was down");
                if let Err(e) = self.driver.destroy(&inst, &inst.network_info).await {
                    warn!(instance = %uuid, "cannot destroy the evacuated guest: {e}");
                    continue;
                }
                self.unfilter_instance(&inst).await;
            } else {
                // The guest of that uuid is another host's (or gone): only
                // this host's files of it go (no shared storage here).
                let _g = self.lock_instance(uuid).await;
                match self.driver.delete_instance_files(&inst).await {
                    Ok(removed) => {
                        info!(instance = %uuid, to = ?inst.host, files_removed = removed, "evacuated while this host was down; no guest of it here")
                    }
                    Err(e) => {
                        warn!(instance = %uuid, "cannot remove the files of an evacuated instance: {e}");
                        continue;
                    }
                }
            }
            if let Err(e) = self
                .conductor
                .migration_update_status(&ctx, m.id, "completed".into(), None)
                .await
            {
                warn!(instance = %uuid, migration = m.id, "cannot mark the evacuation completed: {e}");
            }
        }
        Ok(())
    }
}
