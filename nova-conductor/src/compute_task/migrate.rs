//! Resize and cold migration: Nova's `migrate_server` (its `MigrationTask`).
//!
//! The API put the instance in resize_prep. Here the scheduler chooses a
//! destination for the new flavor (the source left out, unless a resize may
//! stay on its host, `[DEFAULT] allow_resize_to_same_host`), and this
//! conductor claims it: in one transaction the migration row is written
//! (status `pre-migrating`), the instance's old and new flavor are kept, and
//! both nodes' usage is recomputed with the migration counted on each (the
//! new flavor on the destination, the old on the source) until it is
//! confirmed or reverted. Then `prep_resize` goes to the destination. A
//! failure before that leaves the instance as it was, its task_state
//! cleared, with a fault (Nova's `_set_vm_state_and_notify`), and the
//! migration `error`; the API, which called, answers it (400 NoValidHost).

use super::ComputeTaskManager;
use nova_common::states::TaskState;
use nova_common::{NovaError, RequestContext};
use nova_db::MigrationClaim;
use nova_objects::{
    Flavor, Instance, InstanceUpdate, Migration, RequestSpec, ResourceRequest, Selection,
};
use tracing::{info, warn};
use uuid::Uuid;

pub const EVENT_MIGRATE: &str = "conductor_migrate_server";

/// Why a migration found no destination, and whether its row was
/// written (and set `error`) before it failed.
pub(crate) struct Placement {
    error: NovaError,
    recorded: bool,
}

impl From<NovaError> for Placement {
    fn from(error: NovaError) -> Self {
        Placement {
            error,
            recorded: false,
        }
    }
}

/// Nova's migration types: a new flavor is a resize.
fn migration_type(inst: &Instance, flavor: &Flavor) -> &'static str {
    if flavor.id == inst.instance_type_id {
        "migration"
    } else {
        "resize"
    }
}

/// A hand-over between the two compute hosts of a migration.
pub(crate) enum Relay {
    /// Destination → source.
    ResizeInstance { clean_shutdown: bool },
    /// Source → destination.
    FinishResize { disk_info: String },
    /// Destination → source.
    FinishRevertResize,
    /// Destination → source (`resize_confirm_window` passed).
    ConfirmResize,
    /// Source → destination: the guest runs there (live migration).
    PostLiveMigrationAtDestination { block_migration: bool },
    /// Source → destination: the live migration did not complete; the
    /// instance is back in the source's zone.
    RollbackLiveMigrationAtDestination { destroy_disks: bool },
}

impl ComputeTaskManager {
    /// Forward a hand-over to the other host of the migration (the policy
    /// checked the caller is the side it must come from), with the
    /// instance and migration as the database has them.
    pub(crate) async fn relay(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        migration_id: i64,
        relay: Relay,
    ) -> Result<(), NovaError> {
        let m = self.db.migration_get(migration_id).await?;
        let inst = self.db.instance_get_by_uuid(uuid, false).await?;
        let source = m.source_compute.clone().unwrap_or_default();
        let dest = m.dest_compute.clone().unwrap_or_default();
        match relay {
            Relay::ResizeInstance { clean_shutdown } => {
                let flavor = inst
                    .new_flavor
                    .clone()
                    .unwrap_or_else(|| inst.flavor.clone());
                self.compute
                    .to_server(&source)
                    .resize_instance(ctx, inst, m, flavor, clean_shutdown)
                    .await
            }
            Relay::FinishResize { disk_info } => {
                self.compute
                    .to_server(&dest)
                    .finish_resize(ctx, inst, m, disk_info)
                    .await
            }
            Relay::FinishRevertResize => {
                // Back in the source's zone.
                let zone = self.host_zone(&source).await?;
                self.db.instance_set_availability_zone(uuid, &zone).await?;
                self.compute
                    .to_server(&source)
                    .finish_revert_resize(ctx, inst, m)
                    .await
            }
            Relay::ConfirmResize => {
                self.compute
                    .to_server(&source)
                    .confirm_resize(ctx, inst, m)
                    .await
            }
            Relay::PostLiveMigrationAtDestination { block_migration } => {
                self.compute
                    .to_server(&dest)
                    .post_live_migration_at_destination(ctx, inst, block_migration, m)
                    .await
            }
            Relay::RollbackLiveMigrationAtDestination { destroy_disks } => {
                let zone = self.host_zone(&source).await?;
                self.db.instance_set_availability_zone(uuid, &zone).await?;
                self.compute
                    .to_server(&dest)
                    .rollback_live_migration_at_destination(ctx, inst, destroy_disks, m)
                    .await
            }
        }
    }

    pub(crate) async fn migrate_cold(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        flavor: Flavor,
        clean_shutdown: bool,
        spec: RequestSpec,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let inst = self.db.instance_get_by_uuid(uuid, false).await?;
        if inst.task_state != Some(TaskState::ResizePrep) {
            info!(instance = %uuid, task_state = ?inst.task_state, "not waiting for a migration; skipping");
            return Ok(());
        }
        let busy = self
            .db
            .migration_get_in_progress(Some(uuid), None)
            .await
            .unwrap_or_default();
        if let Some(m) = busy.into_iter().next() {
            // A redelivered message: the migration was recorded; the cast
            // was perhaps lost: send it again (prep_resize is idempotent).
            if m.status.as_deref() == Some("pre-migrating") {
                if let Some(dest) = m.dest_compute.clone() {
                    info!(instance = %uuid, %dest, "re-casting prep_resize");
                    let _ = self
                        .compute
                        .to_server(&dest)
                        .prep_resize(ctx, inst, flavor, m, clean_shutdown)
                        .await;
                }
            }
            return Ok(());
        }
        let _ = self
            .db
            .action_event_start(uuid, &ctx.request_id, EVENT_MIGRATE, &self.cfg.default.host)
            .await;
        match self.place(ctx, &inst, &flavor, clean_shutdown, spec).await {
            Ok(dest) => {
                info!(instance = %uuid, %dest, "prep_resize cast to the destination");
                let _ = self
                    .db
                    .action_event_finish(uuid, &ctx.request_id, EVENT_MIGRATE, "Success", None)
                    .await;
                Ok(())
            }
            Err(Placement { error, recorded }) => {
                warn!(instance = %uuid, "cannot migrate: {error}");
                if !recorded {
                    self.record_refused_migration(
                        &inst,
                        flavor.id,
                        migration_type(&inst, &flavor),
                        None,
                    )
                    .await;
                }
                self.migration_failed(ctx, uuid, &error).await;
                Err(match error {
                    // Nova's conductor answers with what was moving.
                    NovaError::NoValidHost { .. } => NovaError::NoValidHost {
                        reason: match migration_type(&inst, &flavor) {
                            "resize" => "No valid host found for resize".into(),
                            _ => "No valid host found for cold migrate".into(),
                        },
                    },
                    other => other,
                })
            }
        }
    }

    /// Choose and claim a destination, record the migration, cast `prep_resize`.
    async fn place(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        flavor: &Flavor,
        clean_shutdown: bool,
        spec: RequestSpec,
    ) -> Result<String, Placement> {
        let uuid = inst.uuid;
        let source = inst.host.clone().ok_or(NovaError::InstanceNotReady {
            instance_id: uuid.to_string(),
        })?;
        let resize = migration_type(inst, flavor) == "resize";
        let mut spec = spec;
        spec.instance_uuid = uuid;
        spec.flavor = flavor.clone();
        spec.project_id = inst.project_id.clone();
        spec.user_id = inst.user_id.clone();
        spec.num_instances = 1;
        // The server group as it is now and the creation's hints.
        self.populate_move_info(inst, &mut spec).await?;
        if !(resize && self.cfg.default.allow_resize_to_same_host) {
            spec.ignore_hosts.push(source.clone());
        }
        let list = self
            .scheduler
            .select_destinations(ctx, spec, vec![uuid], true)
            .await?
            .into_iter()
            .next()
            .unwrap_or_default();
        let (dest, m) = self
            .claim_migration(
                inst,
                flavor,
                list,
                migration_type(inst, flavor),
                "pre-migrating",
                TaskState::ResizePrep,
            )
            .await?;
        let id = m.id;
        let cast = self
            .compute
            .to_server(&dest)
            .prep_resize(ctx, inst.clone(), flavor.clone(), m, clean_shutdown)
            .await;
        if let Err(error) = cast {
            let _ = self.db.migration_update_status(id, "error", None).await;
            return Err(Placement {
                error,
                recorded: true,
            });
        }
        Ok(dest)
    }

    /// The first of the scheduler's `selections` that still has room for
    /// `flavor`: there the migration (`migration_type`, `status`) of the
    /// instance (in `expected` task_state) from its host is recorded and the
    /// resources claimed, in one transaction (resize, cold migration,
    /// evacuation alike). NoValidHost when none has.
    pub(super) async fn claim_migration(
        &self,
        inst: &Instance,
        flavor: &Flavor,
        selections: Vec<Selection>,
        migration_type: &str,
        status: &str,
        expected: TaskState,
    ) -> Result<(String, Migration), NovaError> {
        let uuid = inst.uuid;
        let request = ResourceRequest::for_instance(flavor, &inst.image_properties())?;
        for sel in selections {
            let m = Migration {
                id: 0,
                uuid: Uuid::new_v4(),
                created_at: None,
                updated_at: None,
                source_compute: inst.host.clone(),
                source_node: inst.node.clone(),
                dest_compute: Some(sel.service_host.clone()),
                dest_node: Some(sel.nodename.clone()),
                dest_host: None,
                status: Some(status.into()),
                instance_uuid: Some(uuid),
                old_instance_type_id: Some(inst.instance_type_id),
                new_instance_type_id: Some(flavor.id),
                migration_type: Some(migration_type.into()),
                hidden: false,
                user_id: Some(inst.user_id.clone()),
                project_id: Some(inst.project_id.clone()),
                progress: Default::default(),
            };
            match self
                .db
                .migration_create_with_claim(&m, &inst.flavor, flavor, &request, expected)
                .await
            {
                Ok(MigrationClaim::Claimed(m)) => {
                    // The instance is in the destination's zone from now
                    // on, as Nova's conductor sets it before the move.
                    let zone = self.zone_of(&sel).await?;
                    self.db.instance_set_availability_zone(uuid, &zone).await?;
                    return Ok((sel.service_host, *m));
                }
                Ok(MigrationClaim::ServiceDisabled) => {
                    info!(instance = %uuid, host = %sel.service_host, "its service was disabled or forced down meanwhile; trying the next host");
                }
                Ok(MigrationClaim::DoesNotFit(r)) => {
                    info!(instance = %uuid, host = %sel.service_host, "{} no longer passes; trying the next host", r.filter_name());
                }
                Err(NovaError::ComputeHostNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Err(NovaError::NoValidHost {
            reason: "There are not enough hosts available.".into(),
        })
    }

    /// The instance stays where it was, as it was; the fault says why.
    async fn migration_failed(&self, ctx: &RequestContext, uuid: Uuid, err: &NovaError) {
        let fault = self.record_fault(uuid, err).await;
        let upd = InstanceUpdate {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(TaskState::ResizePrep)]),
            ..Default::default()
        };
        if let Err(e) = self.db.instance_update(uuid, &upd).await {
            warn!(instance = %uuid, "cannot clear the task_state: {e}");
        }
        let _ = self
            .db
            .action_event_finish(
                uuid,
                &ctx.request_id,
                EVENT_MIGRATE,
                "Error",
                Some(&fault.details),
            )
            .await;
    }
}
