//! Evacuate (Nova's `API.evacuate`): rebuild an instance on another host
//! when its own compute host is down. The checks and the state change are
//! here; the conductor's `rebuild_instance` (`recreate`) chooses and claims
//! the destination and records the `evacuation` migration, the destination's
//! `rebuild_instance` spawns it, and the source destroys what is left of it
//! when its nova-compute comes back (`init_host`).

use super::{check_instance_host, check_instance_state, API};
use crate::servicegroup;
use nova_common::transitions;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Instance, RequestSpec};

/// What the `evacuate` action asks for, as its microversion allows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EvacuateRequest {
    /// The destination an admin chose; None: the scheduler chooses.
    pub host: Option<String>,
    /// 2.29-2.67: skip the scheduler for `host`.
    pub force: bool,
    /// Before 2.14: whether the disk is on shared storage.
    pub on_shared_storage: bool,
    pub admin_pass: Option<String>,
    /// 2.95: "stopped", the evacuated instance ends STOPPED.
    pub target_state: Option<String>,
}

impl API {
    /// Nova's checks: a target host is a known compute host other than the
    /// instance's; the instance's own nova-compute must be down (not
    /// reporting, or forced down); ACTIVE, STOPPED or ERROR with no task.
    pub async fn evacuate(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        req: EvacuateRequest,
    ) -> NovaResult<()> {
        let t = &transitions::EVACUATE;
        let services = self.conductor.service_get_all(ctx).await?;
        if let Some(h) = &req.host {
            let known = services
                .iter()
                .any(|s| &s.host == h && s.binary == "nova-compute");
            if !known {
                return Err(NovaError::ComputeHostNotFound { host: h.clone() });
            }
            if inst.host.as_deref() == Some(h.as_str()) {
                return Err(NovaError::InvalidRequest {
                    reason: "The target host can't be the same one.".into(),
                });
            }
        }
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        let source = inst.host.clone().unwrap_or_default();
        let up = services
            .iter()
            .find(|s| s.host == source && s.binary == "nova-compute")
            .is_some_and(|s| servicegroup::service_is_up(&self.cfg, s));
        if up {
            return Err(NovaError::ComputeServiceInUse { host: source });
        }
        let updated = self.save_task_state(ctx, inst, t).await?;
        self.record_action(ctx, inst.uuid, t.action).await;
        let mut spec = RequestSpec {
            instance_uuid: inst.uuid,
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor: inst.flavor.clone(),
            num_instances: 1,
            availability_zone: inst.pinned_availability_zone().map(str::to_string),
            ..Default::default()
        };
        // A host the admin chose but did not force is checked by the
        // scheduler's filters; a forced one is taken as it is.
        if let (Some(h), false) = (&req.host, req.force) {
            spec.force_hosts = vec![h.clone()];
        }
        let forced = req.host.clone().filter(|_| req.force);
        let image_ref = inst.image_ref.clone();
        let cast = self.compute_task_api.rebuild_instance(
            ctx,
            updated,
            image_ref.clone(),
            image_ref,
            req.admin_pass,
            Vec::new(),
            true,
            req.on_shared_storage,
            false,
            forced,
            spec,
            req.target_state,
        );
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }
}
