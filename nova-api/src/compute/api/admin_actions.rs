//! The admin server actions (Nova's `API.reset_state` as done by
//! `AdminActionsController`, `API.inject_network_info`).

use super::{check_instance_lock, API};
use nova_common::states::VmState;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Instance, InstanceUpdate};
use tracing::info;

/// The instance action `os-resetState` records (`instance_actions.RESET_STATE`).
const RESET_STATE: &str = "resetState";

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

    /// resetNetwork: the instance's host is asked to reset the guest's
    /// networking (a cast, as Nova's), unless the instance is locked.
    pub async fn reset_network(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        if inst.host.is_none() {
            // Nova casts to a host that is not there, and nothing answers.
            return Ok(());
        }
        self.compute(inst).reset_network(ctx, inst.clone()).await
    }
}
