//! The admin server actions (Nova's `API.reset_state` as done by
//! `AdminActionsController`, `API.inject_network_info`) and live migration's
//! front half (`API.live_migrate`), which this deployment refuses once the
//! request is valid: no compute host here can live-migrate a guest.

use super::{check_instance_host, check_instance_lock, API};
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Instance, InstanceUpdate};
use tracing::info;

/// The instance action `os-resetState` records (`instance_actions.RESET_STATE`).
const RESET_STATE: &str = "resetState";

/// vm_states a live migration starts from (Nova's `check_instance_state`
/// on `live_migrate`; task_state must be None).
const LIVE_MIGRATE_VM_STATES: [VmState; 2] = [VmState::Active, VmState::Paused];

impl API {
    /// os-resetState: set the vm_state (`active` or `error`, the caller
    /// parsed it), clear the task_state, whatever either was. Not
    /// lock-checked, as Nova (it is the admin's way out of a stuck state).
    pub async fn reset_state(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        vm_state: VmState,
    ) -> NovaResult<()> {
        self.record_action(ctx, inst.uuid, RESET_STATE).await;
        self.conductor
            .instance_update(
                ctx,
                inst.uuid,
                InstanceUpdate {
                    vm_state: Some(vm_state),
                    task_state: Some(None),
                    ..Default::default()
                },
            )
            .await?;
        info!(instance = %inst.uuid, vm_state = %vm_state, "state reset by an admin");
        Ok(())
    }

    /// injectNetworkInfo: the instance's host refreshes the guest's network
    /// from its network info (a cast, as Nova's).
    pub async fn inject_network_info(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        if inst.host.is_none() {
            return Err(NovaError::InstanceInvalidState {
                attr: "vm_state".into(),
                instance_uuid: inst.uuid.to_string(),
                state: inst.vm_state.as_str().into(),
                method: "inject_network_info".into(),
            });
        }
        self.compute(inst)
            .inject_network_info(ctx, inst.clone())
            .await
    }

    /// os-migrateLive: Nova's checks (lock, ACTIVE or PAUSED with no task,
    /// a named host must exist), then NoValidHost: the libvirt setup of this
    /// project has no shared storage or migration transport between hosts,
    /// so the scheduler could never find a destination.
    pub async fn live_migrate(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        host: Option<&str>,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        let invalid = |attr: &str, state: &str| NovaError::InstanceInvalidState {
            attr: attr.into(),
            instance_uuid: inst.uuid.to_string(),
            state: state.into(),
            method: "live_migrate".into(),
        };
        if !LIVE_MIGRATE_VM_STATES.contains(&inst.vm_state) {
            return Err(invalid("vm_state", inst.vm_state.as_str()));
        }
        if let Some(ts) = inst.task_state {
            return Err(invalid("task_state", TaskState::as_str(ts)));
        }
        check_instance_host(inst, &nova_common::transitions::STOP)
            .map_err(|_| invalid("vm_state", inst.vm_state.as_str()))?;
        if let Some(h) = host {
            let nodes = self.conductor.compute_node_get_all(ctx).await?;
            if !nodes.iter().any(|n| n.host == h) {
                return Err(NovaError::ComputeHostNotFound {
                    host: h.to_string(),
                });
            }
        }
        Err(NovaError::NoValidHost {
            reason: "live migration is not available: no compute host of this deployment can receive a running guest".into(),
        })
    }
}
