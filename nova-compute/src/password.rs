//! changePassword (Nova's `set_admin_password`), over the transition
//! [`CHANGE_PASSWORD`](transitions::CHANGE_PASSWORD): the API calls and
//! waits, so every outcome is an answer and none leaves the task state.
//!
//! The guest must be running; the driver sets the password (libvirt: the
//! QEMU guest agent, which the guest has only when its image sets
//! `hw_qemu_guest_agent`). The task state is cleared in every case; a
//! failure is the caller's error (Nova's QemuGuestAgentNotEnabled, or
//! InstancePasswordSetFailed without the driver's words, which are only
//! logged), not an ERROR instance: the guest is as it was.

use crate::manager::{virt_to_nova, ComputeManager};
use nova_common::states::power_state;
use nova_common::transitions;
use nova_common::{NovaError, RequestContext};
use nova_objects::InstanceUpdate;
use tracing::{info, warn};
use uuid::Uuid;

impl ComputeManager {
    pub(crate) async fn change_password(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        new_pass: &str,
    ) -> Result<(), NovaError> {
        let t = &transitions::CHANGE_PASSWORD;
        let _lock = self.lock_instance(uuid).await;
        let failed = |reason: &str| NovaError::InstancePasswordSetFailed {
            instance: uuid.to_string(),
            reason: reason.to_string(),
        };
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Err(failed("another action or a delete superseded it"));
        };
        self.event(ctx, uuid, t.event, None).await;
        let result = async {
            let running = self
                .driver
                .get_info(&inst)
                .await
                .is_ok_and(|i| i.power_state == power_state::RUNNING);
            if !running {
                return Err(failed(&format!("instance {uuid} is not running")));
            }
            match self.driver.set_admin_password(&inst, new_pass).await {
                Ok(()) => Ok(()),
                Err(e) => match virt_to_nova(e) {
                    e @ NovaError::QemuGuestAgentNotEnabled {} => Err(e),
                    e => {
                        warn!(instance = %uuid, "set_admin_password failed: {e}");
                        Err(failed("error setting admin password"))
                    }
                },
            }
        }
        .await;
        self.clear_password_task_state(ctx, uuid).await;
        self.event(ctx, uuid, t.event, Some(result.as_ref().map(|_| ())))
            .await;
        if result.is_ok() {
            info!(instance = %uuid, "admin password set");
        }
        result
    }

    /// `init_host`: a password change the restart cut short. Its caller's
    /// call has failed (or will, on its timeout) and is not redelivered as a
    /// call worth answering, so only the task state is left to clear.
    pub(crate) async fn clear_interrupted_password_change(&self, ctx: &RequestContext, uuid: Uuid) {
        warn!(instance = %uuid, "a password change was interrupted by a nova-compute restart");
        self.clear_password_task_state(ctx, uuid).await;
    }

    /// `updating_password` cleared (only if it is still that).
    async fn clear_password_task_state(&self, ctx: &RequestContext, uuid: Uuid) {
        let t = &transitions::CHANGE_PASSWORD;
        let clear = InstanceUpdate {
            task_state: Some(None),
            expected_task_state: Some(t.expected()),
            ..Default::default()
        };
        if let Err(e) = self.update(ctx, uuid, clear).await {
            warn!(instance = %uuid, "cannot clear task_state {}: {e}", t.task_state);
        }
    }
}
