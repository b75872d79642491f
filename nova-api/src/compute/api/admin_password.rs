//! changePassword (Nova's `API.set_admin_password`), over the transition
//! [`CHANGE_PASSWORD`](transitions::CHANGE_PASSWORD).

use super::API;
use nova_common::transitions;
use nova_common::{NovaResult, RequestContext};
use nova_objects::Instance;

impl API {
    /// Lock and state checks (ACTIVE, no task), task_state
    /// updating_password, the `changePassword` action, then
    /// `set_admin_password` called on the instance's host and its answer
    /// awaited. When the call fails before the host answers (the host is
    /// down, the call timed out), the task state is put back here; the host
    /// clears it itself on every answer.
    pub async fn set_admin_password(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        password: String,
    ) -> NovaResult<()> {
        let t = &transitions::CHANGE_PASSWORD;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let call = compute.set_admin_password(ctx, i, password);
        self.cast_or_revert(ctx, inst.uuid, t, call).await
    }
}
