//! rescue and unrescue (Nova's `API.rescue`/`API.unrescue`), over the
//! transitions [`RESCUE`](transitions::RESCUE) and
//! [`UNRESCUE`](transitions::UNRESCUE).

use super::{check_instance_host, check_instance_lock, check_instance_state, API};
use nova_common::transitions;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::Instance;
use tracing::warn;

impl API {
    /// rescue: lock and state checks, the rescue image (when one is asked
    /// for) looked up in Glance (an unknown one is Nova's
    /// `UnsupportedRescueImage`), task_state rescuing, the `rescue` action,
    /// `rescue_instance` cast to the instance's host. There are no volumes
    /// here, so no instance is volume-backed (Nova's `InstanceNotRescuable`
    /// of 2.87 does not arise).
    pub async fn rescue(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        rescue_password: String,
        rescue_image_ref: Option<String>,
    ) -> NovaResult<()> {
        let t = &transitions::RESCUE;
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        if let Some(image) = &rescue_image_ref {
            match self.get_image(ctx, image).await {
                Ok(_) => {}
                Err(e @ NovaError::ImageNotFound { .. }) => {
                    warn!(instance = %inst.uuid, "cannot fetch the rescue image {image}: {e}");
                    return Err(NovaError::UnsupportedRescueImage {
                        image: image.clone(),
                    });
                }
                Err(e) if e.http_code() == 400 => {
                    warn!(instance = %inst.uuid, "cannot fetch the rescue image {image}: {e}");
                    return Err(NovaError::UnsupportedRescueImage {
                        image: image.clone(),
                    });
                }
                Err(e) => return Err(e),
            }
        }
        let i = self.save_task_state(ctx, inst, t).await?;
        self.record_action(ctx, inst.uuid, t.action).await;
        let compute = self.compute(inst);
        let cast = compute.rescue_instance(ctx, i, Some(rescue_password), rescue_image_ref, true);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    /// unrescue: a RESCUED instance back to its own disk.
    pub async fn unrescue(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::UNRESCUE;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.unrescue_instance(ctx, i);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }
}
