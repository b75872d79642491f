//! Resize, cold migration, and their confirmation or revert (Nova's
//! `API.resize`, `confirm_resize`, `revert_resize`): the checks and the
//! state change here, the work in the conductor's `migrate_server` and on
//! the two compute hosts (see `nova-compute/src/resize.rs`).

use super::{check_instance_host, check_instance_lock, check_instance_state, API};
use crate::servicegroup;
use nova_common::transitions::{self, Transition};
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Flavor, Instance, InstanceUpdate, Migration, RequestSpec};
use std::collections::BTreeMap;

impl API {
    /// Resize to the flavor `flavor_id`, or (None) cold-migrate, to
    /// `host` when an admin names one (2.56).
    pub async fn resize(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        flavor_id: Option<&str>,
        host: Option<String>,
        auto_disk_config: Option<bool>,
    ) -> NovaResult<()> {
        let t = if flavor_id.is_some() {
            &transitions::RESIZE
        } else {
            &transitions::MIGRATE
        };
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        // Nova's `_check_auto_disk_config` against the image the instance
        // was built from (its `image_` system metadata).
        super::check_auto_disk_config(
            inst.system_metadata
                .get("image_base_image_ref")
                .map_or(inst.image_ref.as_str(), String::as_str),
            inst.system_metadata
                .get("image_auto_disk_config")
                .map(String::as_str),
            auto_disk_config,
        )?;
        let flavor = match flavor_id {
            Some(id) => {
                let new = self
                    .conductor
                    .flavor_get_by_flavor_id(ctx, id.into())
                    .await?;
                self.check_resize(ctx, inst, &new).await?;
                new
            }
            None => inst.flavor.clone(),
        };
        let mut spec = RequestSpec {
            instance_uuid: inst.uuid,
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor: flavor.clone(),
            num_instances: 1,
            // Nova's RequestSpec.availability_zone: the zone asked for, not
            // the one the server happens to be in.
            availability_zone: inst.pinned_availability_zone().map(str::to_string),
            ..Default::default()
        };
        if let Some(h) = host {
            if inst.host.as_deref() == Some(h.as_str()) {
                return Err(NovaError::InvalidRequest {
                    reason: "Cannot migrate to the host where the server exists.".into(),
                });
            }
            let known = self.conductor.service_get_all(ctx).await?.iter().any(|s| {
                s.host == h
                    && s.binary == "nova-compute"
                    && servicegroup::service_is_up(&self.cfg, s)
            });
            if !known {
                return Err(NovaError::ComputeHostNotFound { host: h });
            }
            spec.force_hosts = vec![h];
        }
        // Where a revert or confirm takes the instance back to (Nova's
        // `old_vm_state` system metadata).
        let mut sm = BTreeMap::new();
        sm.insert(
            "old_vm_state".to_string(),
            Some(inst.vm_state.as_str().to_string()),
        );
        let i = self
            .conductor
            .instance_update(
                ctx,
                inst.uuid,
                InstanceUpdate {
                    task_state: Some(Some(t.task_state)),
                    system_metadata: Some(sm),
                    auto_disk_config,
                    expected_task_state: t.allowed_task_states.map(<[_]>::to_vec),
                    expected_vm_state: t.allowed_vm_states.map(<[_]>::to_vec),
                    ..Default::default()
                },
            )
            .await?;
        self.record_action(ctx, inst.uuid, t.action).await;
        // A call, as Nova's: a destination is found and claimed before the
        // answer, or the conductor has put the instance back and says why.
        let call = self
            .compute_task_api
            .migrate_server(ctx, i, flavor, false, true, spec);
        self.cast_or_revert(ctx, inst.uuid, t, call).await
    }

    /// Nova's resize checks: another flavor, not a smaller disk, and the
    /// quota for what it adds (cores, ram).
    async fn check_resize(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        new: &Flavor,
    ) -> NovaResult<()> {
        if new.id == inst.instance_type_id {
            return Err(NovaError::CannotResizeToSameFlavor {});
        }
        if new.disabled {
            return Err(NovaError::FlavorNotFound {
                flavor_id: new.flavorid.clone(),
            });
        }
        if new.root_gb < inst.root_gb {
            return Err(NovaError::CannotResizeDisk {
                reason: "Resizing to a smaller disk flavor is not allowed.".into(),
            });
        }
        // The new flavor's NUMA topology and pinning, with the instance's image.
        nova_objects::numa::numa_get_constraints(new, &inst.image_properties())?;
        let cores = new.vcpus - inst.vcpus;
        let ram = new.memory_mb - inst.memory_mb;
        if cores <= 0 && ram <= 0 {
            return Ok(());
        }
        let limits = self.get_project_quotas(ctx, &inst.project_id).await?;
        let used = self.quota_usage(ctx, &inst.project_id).await?;
        // Nova's `_check_quota_for_upsize`: every resource over, in one
        // TooManyInstances.
        let overs: Vec<(&str, String, i64, i64)> =
            [("cores", cores, used.cores), ("ram", ram, used.ram)]
                .into_iter()
                .filter_map(|(res, delta, used)| {
                    let allowed = limits.get(res).copied().unwrap_or(-1);
                    (delta > 0 && allowed >= 0 && used + delta > allowed)
                        .then(|| (res, delta.to_string(), used, allowed))
                })
                .collect();
        if overs.is_empty() {
            return Ok(());
        }
        Err(nova_objects::over_quota(overs))
    }

    /// The instance's resize waiting for confirmation (status `finished`).
    async fn finished_migration(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<Migration> {
        self.conductor
            .migration_get_in_progress_by_instance(ctx, inst.uuid)
            .await?
            .into_iter()
            .find(|m| m.status.as_deref() == Some("finished"))
            .ok_or(NovaError::MigrationNotFoundByStatus {
                instance_id: inst.uuid.to_string(),
                status: "finished".into(),
            })
    }

    /// confirmResize: the source host cleans up (migration `confirming`).
    pub async fn confirm_resize(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        self.finish_or_revert(ctx, inst, &transitions::CONFIRM_RESIZE, "confirming")
            .await
    }

    /// revertResize: back to the source with the old flavor (migration `reverting`).
    pub async fn revert_resize(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        self.finish_or_revert(ctx, inst, &transitions::REVERT_RESIZE, "reverting")
            .await
    }

    async fn finish_or_revert(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        t: &Transition,
        status: &str,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        let m = self.finished_migration(ctx, inst).await?;
        let i = self.save_task_state(ctx, inst, t).await?;
        let m = match self
            .conductor
            .migration_update_status(ctx, m.id, status.into(), Some(vec!["finished".into()]))
            .await
        {
            Ok(m) => m,
            Err(e) => {
                let cast = async { Err(e) };
                return self.cast_or_revert(ctx, inst.uuid, t, cast).await;
            }
        };
        self.record_action(ctx, inst.uuid, t.action).await;
        let (host, confirm) = if std::ptr::eq(t, &transitions::CONFIRM_RESIZE) {
            (m.source_compute.clone().unwrap_or_default(), true)
        } else {
            (inst.host.clone().unwrap_or_default(), false)
        };
        let compute = self.compute_rpcapi.to_server(&host);
        let id = m.id;
        let sent = if confirm {
            compute.confirm_resize(ctx, i, m).await
        } else {
            compute.revert_resize(ctx, i, m).await
        };
        if sent.is_err() {
            let _ = self
                .conductor
                .migration_update_status(ctx, id, "finished".into(), None)
                .await;
        }
        self.cast_or_revert(ctx, inst.uuid, t, async { sent }).await
    }
}
