//! Live migration: Nova's `LiveMigrationTask` (and the conductor's
//! `_live_migrate` around it), with one difference of place: Nova's
//! destination asks the source's checks and the source asks the
//! destination's `pre_live_migration`; here compute hosts publish only to
//! the control plane, so this task asks each host in turn.
//!
//! The API put the instance in `migrating`. The source must be up. A
//! destination is the admin's forced host (not the source, up, then
//! claimed) or the scheduler's choice (the source left out; a host that
//! fails the hosts' checks is left out too and the scheduler asked again,
//! up to `[DEFAULT] migrate_max_retries`). Both hosts check the guest can go
//! (`check_can_live_migrate_destination`, `check_can_live_migrate_source`:
//! one hypervisor, shared storage or not, block migration); then the
//! destination is claimed with a `live-migration` migration (`accepted`),
//! which holds the flavor on both nodes until it ends; `preparing` while
//! the destination's `pre_live_migration` runs; then `live_migration` goes
//! to the source, which moves the guest (`running`) and ends it.
//!
//! A refusal (no host, a host down or unable) puts the instance back as it
//! was, task cleared, with a fault, the migration (if one was claimed)
//! `error`, and answers the error; anything else ends the instance in ERROR
//! and the migration `failed`, answered as MigrationError (Nova's split).
//! A destination that fails to prepare is rolled back as Nova's source does
//! (instance as it was, migration `error`, a fault) and answered as
//! accepted: Nova's conductor has answered by then.

use super::ComputeTaskManager;
use chrono::Utc;
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceUpdate, LiveMigrateData, Migration, RequestSpec, Selection};
use tracing::{info, warn};

pub const EVENT_LIVE_MIGRATE: &str = "conductor_live_migrate_instance";
const LIVE_MIGRATION: &str = "live-migration";

/// Nova's "expected" live migration failures: the request cannot be done
/// as asked; nothing broke.
fn refusal(e: &NovaError) -> bool {
    matches!(
        e,
        NovaError::NoValidHost { .. }
            | NovaError::MaxRetriesExceeded { .. }
            | NovaError::ComputeHostNotFound { .. }
            | NovaError::ComputeServiceUnavailable { .. }
            | NovaError::UnableToMigrateToSelf { .. }
            | NovaError::InvalidLocalStorage { .. }
            | NovaError::InvalidSharedStorage { .. }
            | NovaError::MigrationPreCheckError { .. }
            | NovaError::InstanceInvalidState { .. }
    )
}

/// A failed start, and the migration claimed before it failed, if any.
struct Failure {
    error: NovaError,
    migration: Option<Migration>,
    /// It failed in the destination's `pre_live_migration`, which Nova's
    /// source asks after the conductor has answered: the instance stays as
    /// it was (not ERROR), the request was accepted.
    preparing: bool,
}

impl From<NovaError> for Failure {
    fn from(error: NovaError) -> Self {
        Failure {
            error,
            migration: None,
            preparing: false,
        }
    }
}

impl ComputeTaskManager {
    pub(crate) async fn live_migrate(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        host: Option<String>,
        block_migration: Option<bool>,
        spec: RequestSpec,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let inst = self.db.instance_get_by_uuid(uuid, false).await?;
        if inst.task_state != Some(TaskState::Migrating) {
            info!(instance = %uuid, task_state = ?inst.task_state, "not waiting for a live migration; skipping");
            return Ok(());
        }
        let started = self
            .db
            .migration_get_in_progress(Some(uuid), None)
            .await?
            .into_iter()
            .find(|m| m.migration_type.as_deref() == Some(LIVE_MIGRATION));
        if let Some(m) = started {
            // A redelivered request. Past `preparing` the source has it;
            // before, a conductor stopped in the middle: roll it back.
            if matches!(m.status.as_deref(), Some("accepted" | "preparing")) {
                warn!(instance = %uuid, migration = m.id, "a live migration was interrupted in the conductor; rolling it back");
                if let Some(dest) = &m.dest_compute {
                    let _ = self
                        .compute
                        .to_server(dest)
                        .rollback_live_migration_at_destination(ctx, inst.clone(), true, m.clone())
                        .await;
                }
                let f = Failure {
                    error: NovaError::MigrationError {
                        reason: "interrupted by a restart of nova-conductor".into(),
                    },
                    migration: Some(m),
                    preparing: true,
                };
                self.live_migration_failed(ctx, &inst, f).await;
            } else {
                info!(instance = %uuid, "the live migration was started already (a redelivered request)");
            }
            return Ok(());
        }
        let _ = self
            .db
            .action_event_start(
                uuid,
                &ctx.request_id,
                EVENT_LIVE_MIGRATE,
                &self.cfg.default.host,
            )
            .await;
        let requested = host.clone();
        let Err(mut f) = self
            .start_live_migration(ctx, &inst, host, block_migration, spec)
            .await
        else {
            let _ = self
                .db
                .action_event_finish(uuid, &ctx.request_id, EVENT_LIVE_MIGRATE, "Success", None)
                .await;
            return Ok(());
        };
        if f.migration.is_none() {
            // Refused before a destination was claimed: listed all the same,
            // as Nova's (whose row is written before its checks).
            f.migration = self
                .record_refused_migration(&inst, inst.instance_type_id, LIVE_MIGRATION, requested)
                .await;
        }
        let preparing = f.preparing;
        let e = self.live_migration_failed(ctx, &inst, f).await;
        if preparing {
            return Ok(());
        }
        Err(e)
    }

    /// Put the instance back (task cleared; ERROR for an unexpected
    /// failure) with a fault; the migration `error` or `failed`; what to answer.
    async fn live_migration_failed(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        f: Failure,
    ) -> NovaError {
        let uuid = inst.uuid;
        let expected = f.preparing || refusal(&f.error);
        warn!(instance = %uuid, "cannot live-migrate: {}", f.error);
        let fault = self.record_fault(uuid, &f.error).await;
        if let Some(m) = &f.migration {
            let status = if expected { "error" } else { "failed" };
            if let Err(e) = self.db.migration_update_status(m.id, status, None).await {
                warn!(instance = %uuid, "cannot end migration {}: {e}", m.id);
            }
            if let Some(source) = &inst.host {
                if let Ok(zone) = self.host_zone(source).await {
                    let _ = self.db.instance_set_availability_zone(uuid, &zone).await;
                }
            }
        }
        let upd = InstanceUpdate {
            task_state: Some(None),
            vm_state: (!expected).then_some(VmState::Error),
            expected_task_state: Some(vec![Some(TaskState::Migrating)]),
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
                EVENT_LIVE_MIGRATE,
                "Error",
                Some(&fault.details),
            )
            .await;
        if expected {
            f.error
        } else {
            NovaError::MigrationError {
                reason: f.error.to_string(),
            }
        }
    }

    /// Whether `host`'s nova-compute is up (ComputeServiceUnavailable if not).
    async fn check_host_is_up(&self, host: &str) -> Result<(), NovaError> {
        let up = self.db.service_get_all().await?.iter().any(|s| {
            s.host == host
                && s.binary == "nova-compute"
                && s.is_up(Utc::now(), self.cfg.default.service_down_time)
        });
        if up {
            Ok(())
        } else {
            Err(NovaError::ComputeServiceUnavailable {
                host: host.to_string(),
            })
        }
    }

    async fn start_live_migration(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        host: Option<String>,
        block_migration: Option<bool>,
        spec: RequestSpec,
    ) -> Result<(), Failure> {
        let uuid = inst.uuid;
        let source = inst.host.clone().ok_or(NovaError::InstanceNotReady {
            instance_id: uuid.to_string(),
        })?;
        self.check_host_is_up(&source).await?;
        let (dest, m, data) = match host {
            Some(h) => {
                self.forced_destination(ctx, inst, &h, block_migration)
                    .await?
            }
            None => {
                self.find_destination(ctx, inst, &source, block_migration, spec)
                    .await?
            }
        };
        let fail = |m: &Migration, error: NovaError| Failure {
            error,
            migration: Some(m.clone()),
            preparing: false,
        };
        let m = self
            .db
            .migration_update_status(m.id, "preparing", Some(&["accepted".to_string()]))
            .await
            .map_err(|e| fail(&m, e))?;
        let block = data.block_migration == Some(true);
        // The guest's cells and pinned CPUs as claimed on the destination.
        let data = LiveMigrateData {
            dst_numa_topology: self
                .db
                .instance_migration_numa_topology(uuid)
                .await
                .map_err(|e| fail(&m, e))?,
            ..data
        };
        info!(instance = %uuid, %source, %dest, block, "live migration: preparing the destination");
        let data = match self
            .compute
            .to_server(&dest)
            .pre_live_migration(ctx, inst.clone(), block, data)
            .await
        {
            Ok(d) => d,
            Err(e) => {
                // Whatever the destination made of it goes.
                let _ = self
                    .compute
                    .to_server(&dest)
                    .rollback_live_migration_at_destination(ctx, inst.clone(), true, m.clone())
                    .await;
                return Err(Failure {
                    preparing: true,
                    ..fail(&m, e)
                });
            }
        };
        self.compute
            .to_server(&source)
            .live_migration(ctx, inst.clone(), dest.clone(), block, m.clone(), data)
            .await
            .map_err(|e| fail(&m, e))?;
        info!(instance = %uuid, %dest, "live_migration cast to the source");
        Ok(())
    }

    /// Both hosts' checks for the guest to go to `dest` (a timeout is a
    /// refusal, as Nova's: the host cannot be relied on).
    async fn live_migration_checks(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        dest: &str,
        block_migration: Option<bool>,
    ) -> Result<LiveMigrateData, NovaError> {
        let timeout = |e: NovaError, what: &str| match e {
            NovaError::MessagingTimeout { .. } => NovaError::MigrationPreCheckError {
                reason: format!("Timeout while checking if we can live migrate {what}"),
            },
            other => other,
        };
        let dest_data = self
            .compute
            .to_server(dest)
            .check_can_live_migrate_destination(ctx, inst.clone(), block_migration, None)
            .await
            .map_err(|e| timeout(e, &format!("to host: {dest}")))?;
        let source = inst.host.clone().unwrap_or_default();
        self.compute
            .to_server(&source)
            .check_can_live_migrate_source(ctx, inst.clone(), dest_data)
            .await
            .map_err(|e| timeout(e, &format!("from host: {source}")))
    }

    /// The admin's host, as named (Nova's `_check_requested_destination`
    /// and the claim on it).
    async fn forced_destination(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        host: &str,
        block_migration: Option<bool>,
    ) -> Result<(String, Migration, LiveMigrateData), NovaError> {
        let uuid = inst.uuid;
        if inst.host.as_deref() == Some(host) {
            return Err(NovaError::UnableToMigrateToSelf {
                instance_id: uuid.to_string(),
                host: host.to_string(),
            });
        }
        self.check_host_is_up(host).await?;
        let node = self
            .db
            .compute_node_get_all()
            .await?
            .into_iter()
            .find(|n| n.host == host)
            .ok_or_else(|| NovaError::ComputeHostNotFound {
                host: host.to_string(),
            })?;
        let data = self
            .live_migration_checks(ctx, inst, host, block_migration)
            .await?;
        let sel = Selection {
            service_host: node.host.clone(),
            nodename: node.hypervisor_hostname.clone(),
            compute_node_uuid: node.uuid,
            availability_zone: None,
        };
        let (dest, m) = self.claim_live(inst, sel).await.map_err(|e| match e {
            NovaError::NoValidHost { .. } => NovaError::MigrationPreCheckError {
                reason: format!(
                    "Unable to move instance {uuid} to host {host}. There is not enough capacity on the host for the instance."
                ),
            },
            other => other,
        })?;
        Ok((dest, m, data))
    }

    /// Nova's `_find_destination`: the scheduler's choice, checked by
    /// both hosts and claimed; a host that fails is left out and the
    /// scheduler asked again.
    async fn find_destination(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        source: &str,
        block_migration: Option<bool>,
        spec: RequestSpec,
    ) -> Result<(String, Migration, LiveMigrateData), NovaError> {
        let uuid = inst.uuid;
        let mut spec = spec;
        spec.instance_uuid = uuid;
        spec.flavor = inst.flavor.clone();
        spec.project_id = inst.project_id.clone();
        spec.user_id = inst.user_id.clone();
        spec.num_instances = 1;
        self.populate_move_info(inst, &mut spec).await?;
        spec.ignore_hosts.push(source.to_string());
        let max = self.cfg.default.migrate_max_retries;
        let mut retries = 0i64;
        loop {
            let sel = self
                .scheduler
                .select_destinations(ctx, spec.clone(), vec![uuid], false)
                .await?
                .into_iter()
                .next()
                .and_then(|l| l.into_iter().next())
                .ok_or_else(|| NovaError::NoValidHost {
                    reason: "There are not enough hosts available.".into(),
                })?;
            let host = sel.service_host.clone();
            let tried = match self
                .live_migration_checks(ctx, inst, &host, block_migration)
                .await
            {
                Ok(data) => match self.claim_live(inst, sel).await {
                    Ok((dest, m)) => return Ok((dest, m, data)),
                    Err(e @ NovaError::NoValidHost { .. }) => e,
                    Err(e) => return Err(e),
                },
                Err(e) if refusal(&e) => e,
                Err(e) => return Err(e),
            };
            warn!(instance = %uuid, %host, "cannot live-migrate there: {tried}; trying another host");
            spec.ignore_hosts.push(host);
            retries += 1;
            if max >= 0 && retries > max {
                return Err(NovaError::MaxRetriesExceeded {
                    reason: format!(
                        "Exceeded max scheduling retries {max} for instance {uuid} during live migration"
                    ),
                });
            }
        }
    }

    /// The claim of `sel` for the live migration (status `accepted`).
    async fn claim_live(
        &self,
        inst: &Instance,
        sel: Selection,
    ) -> Result<(String, Migration), NovaError> {
        self.claim_migration(
            inst,
            &inst.flavor,
            vec![sel],
            LIVE_MIGRATION,
            "accepted",
            TaskState::Migrating,
        )
        .await
    }
}
