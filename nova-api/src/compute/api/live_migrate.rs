//! Live migration's front half (Nova's `API.live_migrate`,
//! `live_migrate_force_complete`, `live_migrate_abort`): the checks and the
//! task_state here; the destination's choice and both hosts' checks in the
//! conductor (`nova-conductor/src/compute_task/live_migrate.rs`), the move
//! itself between the two compute hosts (`nova-compute/src/live_migration.rs`).

use super::{check_instance_host, check_instance_lock, check_instance_state, API};
use nova_common::states::TaskState;
use nova_common::transitions::LIVE_MIGRATE;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Instance, Migration, RequestSpec};
use tracing::warn;

/// The instance actions of the two server-migration calls.
const FORCE_COMPLETE: &str = "live_migration_force_complete";
const CANCEL: &str = "live_migration_cancel";

/// An `os-migrateLive` as the API version reads it.
#[derive(Debug, Default, PartialEq)]
pub struct LiveMigrateRequest {
    /// The destination an admin named, if any.
    pub host: Option<String>,
    /// None: `"auto"` (2.25), decided from the storage.
    pub block_migration: Option<bool>,
    /// Before 2.25 only (ignored, as by Nova's libvirt driver since Ocata).
    pub disk_over_commit: Option<bool>,
    /// 2.30-2.67: `force` (None before 2.30: a named host is not checked by
    /// the scheduler, as then).
    pub force: Option<bool>,
    /// Before 2.34 the answer waits for the conductor's checks and carries
    /// their errors; from 2.34 the request returns at once (async).
    pub wait: bool,
}

impl API {
    /// os-migrateLive: Nova's checks (lock, ACTIVE or PAUSED with no task,
    /// a named host must be a compute host), task_state migrating, then
    /// the conductor's `live_migrate_instance`.
    pub async fn live_migrate(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        req: LiveMigrateRequest,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, &LIVE_MIGRATE)?;
        check_instance_host(inst, &LIVE_MIGRATE)?;
        let mut spec = RequestSpec {
            instance_uuid: inst.uuid,
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor: inst.flavor.clone(),
            num_instances: 1,
            availability_zone: inst.pinned_availability_zone().map(str::to_string),
            ..Default::default()
        };
        let mut host = req.host;
        if let Some(h) = &host {
            let nodes = self.conductor.compute_node_get_all(ctx).await?;
            if !nodes.iter().any(|n| n.host == *h) {
                return Err(NovaError::ComputeHostNotFound { host: h.clone() });
            }
            // Not forced (2.30+): the scheduler checks the named host.
            if req.force == Some(false) {
                spec.force_hosts = vec![h.clone()];
                host = None;
            }
        }
        let inst = self.start_action(ctx, inst, &LIVE_MIGRATE).await?;
        let api = self.compute_task_api.clone();
        let call_ctx = ctx.clone();
        let uuid = inst.uuid;
        let call = async move {
            api.live_migrate_instance(
                &call_ctx,
                inst,
                host,
                req.block_migration,
                req.disk_over_commit,
                spec,
            )
            .await
        };
        if req.wait {
            return call.await;
        }
        // The conductor puts the instance back and records the failure
        // (fault, migration `failed`/`error`) itself; nothing to answer.
        tokio::spawn(async move {
            if let Err(e) = call.await {
                warn!(instance = %uuid, "live migration not started: {e}");
            }
        });
        Ok(())
    }

    /// The server's migration `migration_id` (MigrationNotFoundForInstance
    /// when it is another server's).
    pub async fn migration_of(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration_id: i64,
    ) -> NovaResult<Migration> {
        let not_found = || NovaError::MigrationNotFoundForInstance {
            migration_id: migration_id.to_string(),
            instance_id: inst.uuid.to_string(),
        };
        match self.conductor.migration_get(ctx, migration_id).await {
            Ok(m) if m.instance_uuid == Some(inst.uuid) => Ok(m),
            Ok(_) | Err(NovaError::MigrationNotFound { .. }) => Err(not_found()),
            Err(e) => Err(e),
        }
    }

    /// The checks both server-migration calls share: not locked, migrating,
    /// and the migration is this server's, in one of `statuses`.
    async fn running_migration(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration_id: i64,
        statuses: &[&str],
        method: &str,
    ) -> NovaResult<Migration> {
        check_instance_lock(ctx, inst)?;
        if inst.task_state != Some(TaskState::Migrating) {
            return Err(NovaError::InstanceInvalidState {
                attr: "task_state".into(),
                instance_uuid: inst.uuid.to_string(),
                state: inst
                    .task_state
                    .map(TaskState::as_str)
                    .unwrap_or("None")
                    .into(),
                method: method.into(),
            });
        }
        let m = self.migration_of(ctx, inst, migration_id).await?;
        let status = m.status.clone().unwrap_or_default();
        if !statuses.contains(&status.as_str()) {
            return Err(NovaError::InvalidMigrationState {
                migration_id: migration_id.to_string(),
                instance_uuid: inst.uuid.to_string(),
                state: status,
                method: method.into(),
            });
        }
        Ok(m)
    }

    /// force_complete (2.22): the running live migration finishes now.
    pub async fn live_migrate_force_complete(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration_id: i64,
    ) -> NovaResult<()> {
        self.running_migration(ctx, inst, migration_id, &["running"], "force complete")
            .await?;
        self.record_action(ctx, inst.uuid, FORCE_COMPLETE).await;
        self.compute(inst)
            .live_migration_force_complete(ctx, inst.clone())
            .await
    }

    /// Abort (2.24; a queued or preparing one too from 2.65).
    pub async fn live_migrate_abort(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration_id: i64,
        abort_in_queue: bool,
    ) -> NovaResult<()> {
        let statuses: &[&str] = if abort_in_queue {
            &["running", "queued", "preparing"]
        } else {
            &["running"]
        };
        let m = self
            .running_migration(ctx, inst, migration_id, statuses, "abort live migration")
            .await?;
        self.record_action(ctx, inst.uuid, CANCEL).await;
        self.compute(inst)
            .live_migration_abort(ctx, inst.clone(), m.id)
            .await
    }
}
