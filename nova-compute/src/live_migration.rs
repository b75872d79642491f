//! Live migration on the two compute hosts, Nova's flow with the conductor
//! between them (a compute host here publishes only to the control plane):
//! the conductor asks the destination's `check_can_live_migrate_destination`
//! and the source's `check_can_live_migrate_source`, claims the destination
//! and asks its `pre_live_migration`, then casts `live_migration` to the
//! source. The source sends the running guest; once it runs on the
//! destination, the source cleans up its side and hands over (through the
//! conductor) to the destination's `post_live_migration_at_destination`,
//! which takes the instance over: task cleared, migration `completed`. On
//! failure or abort the source takes the instance back as it was (task
//! cleared; migration `error` with a fault, or `cancelled`) and the
//! destination's `rollback_live_migration_at_destination` removes what got
//! there.

use crate::manager::{virt_to_nova, ComputeManager};
use nova_common::states::TaskState;
use nova_common::transitions::LIVE_MIGRATE;
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceUpdate, LiveMigrateData, Migration};
use nova_virt::VirtError;
use tracing::{info, warn};

const EVENT_PRE: &str = "compute_pre_live_migration";
const EVENT_POST_DEST: &str = "compute_post_live_migration_at_destination";

/// How a live migration that did not complete ends.
enum Rollback<'a> {
    /// Failed: migration `error`, a fault on the instance.
    Failed(&'a NovaError),
    /// Aborted by an admin: migration `cancelled`.
    Cancelled,
}

impl ComputeManager {
    pub(crate) async fn do_check_can_live_migrate_destination(
        &self,
        instance: Instance,
        block_migration: Option<bool>,
    ) -> Result<LiveMigrateData, NovaError> {
        self.driver
            .check_can_live_migrate_destination(&instance, block_migration)
            .await
            .map_err(virt_to_nova)
    }

    pub(crate) async fn do_check_can_live_migrate_source(
        &self,
        instance: Instance,
        dest_check_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, NovaError> {
        if instance.host.as_deref() != Some(self.host()) {
            return Err(NovaError::MigrationPreCheckError {
                reason: format!("instance {} is not on host {}", instance.uuid, self.host()),
            });
        }
        self.driver
            .check_can_live_migrate_source(&instance, dest_check_data)
            .await
            .map_err(virt_to_nova)
    }

    /// On the destination: networks plugged, firewall rules loaded, the
    /// image's files fetched for a block migration, the driver's part.
    pub(crate) async fn do_pre_live_migration(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migrate_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, NovaError> {
        let uuid = instance.uuid;
        self.event(ctx, uuid, EVENT_PRE, None).await;
        let result = async {
            let nw = instance.network_info.clone();
            crate::vif::plug_vifs(self.driver.as_ref(), &nw).await?;
            self.filter_instance(ctx, &instance, &nw).await?;
            let files = if migrate_data.block_migration == Some(true) {
                self.instance_image(ctx, &instance).await?.1
            } else {
                Default::default()
            };
            self.driver
                .pre_live_migration(&instance, &nw, &files, migrate_data)
                .await
                .map_err(virt_to_nova)
        }
        .await;
        self.event(ctx, uuid, EVENT_PRE, Some(result.as_ref().map(|_| ())))
            .await;
        result
    }

    /// On the source: send the guest, then the post steps or the rollback.
    pub(crate) async fn do_live_migration(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        dest: String,
        migration: Migration,
        migrate_data: LiveMigrateData,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let inst = match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i)
                if LIVE_MIGRATE.expects(i.task_state) && i.host.as_deref() == Some(self.host()) =>
            {
                i
            }
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "live migration already handled; nothing to do");
                return Ok(());
            }
            Err(NovaError::InstanceNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.event(ctx, uuid, LIVE_MIGRATE.event, None).await;
        if let Err(e) = self
            .conductor
            .migration_update_status(
                ctx,
                migration.id,
                "running".into(),
                Some(vec!["accepted".into(), "preparing".into(), "queued".into()]),
            )
            .await
        {
            // Aborted (or failed) before it started.
            warn!(instance = %uuid, "the live migration is no longer waiting: {e}");
            let m = self.conductor.migration_get(ctx, migration.id).await?;
            let how = if m.status.as_deref() == Some("cancelled") {
                Rollback::Cancelled
            } else {
                Rollback::Failed(&e)
            };
            self.rollback_live_migration(ctx, &inst, &migration, &migrate_data, how)
                .await;
            return Ok(());
        }
        info!(instance = %uuid, %dest, "live migration running");
        let migrating = self.driver.live_migration(&inst, &dest, &migrate_data);
        let outcome = self
            .reporting_progress(ctx, &inst, migration.id, migrating)
            .await;
        match outcome {
            Ok(()) => {
                self.post_live_migration(ctx, &inst, &migration, &migrate_data)
                    .await
            }
            Err(VirtError::LiveMigrationAborted) => {
                info!(instance = %uuid, "live migration aborted");
                self.rollback_live_migration(
                    ctx,
                    &inst,
                    &migration,
                    &migrate_data,
                    Rollback::Cancelled,
                )
                .await
            }
            Err(e) => {
                let e = virt_to_nova(e);
                warn!(instance = %uuid, "live migration failed: {e}");
                self.rollback_live_migration(
                    ctx,
                    &inst,
                    &migration,
                    &migrate_data,
                    Rollback::Failed(&e),
                )
                .await
            }
        }
        Ok(())
    }

    /// Await the driver's migration, recording its progress on the
    /// migration every few seconds meanwhile (Nova's monitor loop), for
    /// `GET /servers/{id}/migrations/{mid}`.
    async fn reporting_progress<F>(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration_id: i64,
        migrating: F,
    ) -> Result<(), VirtError>
    where
        F: std::future::Future<Output = Result<(), VirtError>>,
    {
        tokio::pin!(migrating);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(2));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                outcome = &mut migrating => return outcome,
                _ = tick.tick() => {
                    let progress = match self.driver.live_migration_progress(inst).await {
                        Ok(Some(p)) => p,
                        Ok(None) => continue,
                        Err(e) => {
                            warn!(instance = %inst.uuid, "cannot read the live migration's progress: {e}");
                            continue;
                        }
                    };
                    if let Err(e) = self
                        .conductor
                        .migration_update_progress(ctx, migration_id, progress)
                        .await
                    {
                        warn!(instance = %inst.uuid, "cannot record the live migration's progress: {e}");
                    }
                }
            }
        }
    }

    /// Nova's `_post_live_migration` on the source: its firewall rules and
    /// files go, then the destination takes over.
    async fn post_live_migration(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration: &Migration,
        migrate_data: &LiveMigrateData,
    ) {
        let uuid = inst.uuid;
        self.unfilter_instance(inst).await;
        if let Err(e) = self
            .driver
            .post_live_migration_at_source(inst, migrate_data)
            .await
        {
            warn!(instance = %uuid, "cannot clean up after the live migration: {e}");
        }
        let block = migrate_data.block_migration == Some(true);
        match self
            .compute_task
            .post_live_migration_at_destination(ctx, uuid, migration.id, block)
            .await
        {
            Ok(()) => {
                self.event(ctx, uuid, LIVE_MIGRATE.event, Some(Ok(())))
                    .await
            }
            Err(e) => {
                // The guest runs on the destination, which never heard of
                // it: the instance is in ERROR there for an admin to sort out.
                warn!(instance = %uuid, "cannot hand the live migration over: {e}");
                self.event(ctx, uuid, LIVE_MIGRATE.event, Some(Err(&e)))
                    .await;
                self.set_error(ctx, uuid, &e).await;
                self.set_migration(ctx, migration, "error").await;
            }
        }
    }

    /// Nova's `_rollback_live_migration` on the source: the instance stays
    /// here as it runs (task cleared), the destination removes what got there.
    async fn rollback_live_migration(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration: &Migration,
        migrate_data: &LiveMigrateData,
        how: Rollback<'_>,
    ) {
        let uuid = inst.uuid;
        let ps = self.power_state_of(inst).await;
        if let Rollback::Failed(e) = &how {
            self.record_fault(ctx, uuid, e).await;
        }
        let upd = InstanceUpdate {
            power_state: Some(ps),
            task_state: Some(None),
            expected_task_state: Some(vec![Some(TaskState::Migrating)]),
            ..Default::default()
        };
        if let Err(e) = self.update(ctx, uuid, upd).await {
            warn!(instance = %uuid, "cannot clear the task_state after the live migration: {e}");
        }
        let destroy_disks = migrate_data.is_shared_instance_path != Some(true);
        if let Err(e) = self
            .compute_task
            .rollback_live_migration_at_destination(ctx, uuid, migration.id, destroy_disks)
            .await
        {
            warn!(instance = %uuid, "cannot ask the destination to roll back: {e}");
        }
        let (status, outcome) = match how {
            Rollback::Failed(e) => ("error", Err(e)),
            Rollback::Cancelled => ("cancelled", Ok(())),
        };
        self.set_migration(ctx, migration, status).await;
        self.event(ctx, uuid, LIVE_MIGRATE.event, Some(outcome))
            .await;
    }

    /// On the destination: the instance is this host's (task cleared), the
    /// migration `completed`.
    pub(crate) async fn do_post_live_migration_at_destination(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: Migration,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let inst = match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) if LIVE_MIGRATE.expects(i.task_state) => i,
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "post live migration already handled");
                return Ok(());
            }
            Err(NovaError::InstanceNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.event(ctx, uuid, EVENT_POST_DEST, None).await;
        let nw = inst.network_info.clone();
        let result = async {
            self.driver
                .post_live_migration_at_destination(&inst, &nw)
                .await
                .map_err(virt_to_nova)?;
            let ps = self.power_state_of(&inst).await;
            self.update(
                ctx,
                uuid,
                InstanceUpdate {
                    host: Some(Some(self.host().to_string())),
                    node: Some(migration.dest_node.clone()),
                    power_state: Some(ps),
                    task_state: Some(None),
                    expected_task_state: Some(vec![Some(TaskState::Migrating)]),
                    ..Default::default()
                },
            )
            .await?;
            self.conductor
                .migration_update_status(ctx, migration.id, "completed".into(), None)
                .await?;
            Ok(())
        }
        .await;
        match &result {
            Ok(()) => info!(instance = %uuid, "live-migrated here"),
            Err(e) => {
                warn!(instance = %uuid, "cannot take the live-migrated instance over: {e}");
                self.set_error(ctx, uuid, e).await;
                self.set_migration(ctx, &migration, "error").await;
            }
        }
        self.event(
            ctx,
            uuid,
            EVENT_POST_DEST,
            Some(result.as_ref().map(|_| ())),
        )
        .await;
        Ok(())
    }

    /// On the destination of a live migration that did not complete.
    pub(crate) async fn do_rollback_live_migration_at_destination(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
        destroy_disks: bool,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        if instance.host.as_deref() == Some(self.host()) {
            // It is this host's (a late message after a completed one).
            return Ok(());
        }
        // No instance action event: the source ends the migration as it
        // sends this, and a host a migration no longer involves may not
        // write to the instance.
        let nw = instance.network_info.clone();
        self.unfilter_instance(&instance).await;
        match self
            .driver
            .rollback_live_migration_at_destination(&instance, &nw, destroy_disks)
            .await
        {
            Ok(()) => info!(instance = %uuid, "what the live migration left here is removed"),
            Err(e) => {
                warn!(instance = %uuid, "cannot remove what the live migration left here: {e}")
            }
        }
        Ok(())
    }

    pub(crate) async fn do_live_migration_force_complete(
        &self,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.driver
            .live_migration_force_complete(&instance)
            .await
            .map_err(virt_to_nova)
    }

    /// Abort: a running migration is stopped in the driver (its rollback
    /// marks it `cancelled`); one not started yet is marked `cancelled` and
    /// never starts.
    pub(crate) async fn do_live_migration_abort(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration_id: i64,
    ) -> Result<(), NovaError> {
        let queued = self
            .conductor
            .migration_update_status(
                ctx,
                migration_id,
                "cancelled".into(),
                Some(vec!["accepted".into(), "queued".into(), "preparing".into()]),
            )
            .await;
        if queued.is_ok() {
            info!(instance = %instance.uuid, "live migration cancelled before it started");
            return Ok(());
        }
        self.driver
            .live_migration_abort(&instance)
            .await
            .map_err(virt_to_nova)
    }

    /// init_host: a live migration this host was the source of when it
    /// stopped did not complete (libvirt ends a migration whose client went
    /// away): the instance stays here.
    pub(crate) async fn recover_live_migration(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        migration: &Migration,
    ) {
        warn!(instance = %inst.uuid, "a live migration was interrupted on its source; rolling back");
        let _lock = self.lock_instance(inst.uuid).await;
        let e = NovaError::MigrationError {
            reason: "interrupted by a restart of nova-compute on the source".into(),
        };
        self.rollback_live_migration(
            ctx,
            inst,
            migration,
            &LiveMigrateData::default(),
            Rollback::Failed(&e),
        )
        .await;
    }
}
