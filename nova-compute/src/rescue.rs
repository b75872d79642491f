//! rescue and unrescue (Nova's `rescue_instance`/`unrescue_instance`),
//! over the transitions [`RESCUE`](transitions::RESCUE) and
//! [`UNRESCUE`](transitions::UNRESCUE).
//!
//! rescue: the rescue image is the requested one, else `[libvirt]
//! rescue_image_id`, else the instance's own; its files come through the
//! image cache (kernel and ramdisk: `[libvirt] rescue_kernel_id` /
//! `rescue_ramdisk_id`, else the instance's own, as Nova's).
//! The guest is powered off (cleanly unless asked otherwise), then the
//! driver boots it from the rescue disk with its own disk second: RESCUED.
//! unrescue: the driver puts the original guest back: ACTIVE. A failure
//! ends in ERROR with a fault (Nova's `InstanceNotRescuable` for a rescue).
//!
//! After a restart, a rescue or unrescue whose message is not handled again
//! within the grace period of interrupted builds is finished by `init_host`:
//! an unrescue is done again (the driver's unrescue can be repeated), a
//! rescue ends in ERROR with a fault (its rescue image is not known any
//! more); rescuing from ERROR is allowed, and the guest's original
//! definition, kept by the first rescue, is what a later unrescue restores.
//! (Nova 20.x's `_init_instance` has no case for RESCUING/UNRESCUING: its
//! cast is not redelivered and the task state stays until an admin's
//! reset-state; here the instance never keeps it.)

use crate::manager::{virt_to_nova, ComputeManager};
use nova_common::states::{TaskState, VmState};
use nova_common::transitions;
use nova_common::{NovaError, RequestContext};
use nova_objects::InstanceUpdate;
use std::sync::Arc;
use std::time::Duration;
use tracing::{info, warn};
use uuid::Uuid;

impl ComputeManager {
    /// Nova's `rescue_instance`.
    pub(crate) async fn rescue(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        rescue_password: Option<String>,
        rescue_image_ref: Option<String>,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        let t = &transitions::RESCUE;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        let d = &self.driver;
        let nw = inst.network_info.clone();
        let result: Result<i32, NovaError> = async {
            let lv = &self.cfg.libvirt;
            let image_ref = [
                rescue_image_ref.as_deref(),
                Some(lv.rescue_image_id.as_str()),
                Some(inst.image_ref.as_str()),
            ]
            .into_iter()
            .flatten()
            .find(|r| !r.is_empty())
            .unwrap_or_default()
            .to_string();
            let image = self.images.glance().show(ctx, &image_ref).await?;
            let mut files = nova_virt::ImageFiles::default();
            if d.needs_image_files() {
                let [kernel, ramdisk] = [
                    (&lv.rescue_kernel_id, &inst.kernel_id),
                    (&lv.rescue_ramdisk_id, &inst.ramdisk_id),
                ]
                .map(|(opt, own)| if opt.is_empty() { own } else { opt });
                files = self.images.files_for(ctx, &image, kernel, ramdisk).await?;
            }
            let timeout = if clean_shutdown {
                self.cfg.default.shutdown_timeout
            } else {
                0
            };
            d.power_off(&inst, timeout).await.map_err(virt_to_nova)?;
            crate::vif::plug_vifs(d.as_ref(), &nw).await?;
            self.filter_instance(ctx, &inst, &nw).await?;
            let password = rescue_password.unwrap_or_default();
            d.rescue(&inst, &image, &nw, &files, &password)
                .await
                .map_err(virt_to_nova)?;
            Ok(self.power_state_of(&inst).await)
        }
        .await
        .map_err(|e: NovaError| NovaError::InstanceNotRescuable {
            instance_id: uuid.to_string(),
            reason: format!("Driver Error: {e}"),
        });
        let result = match result {
            Ok(ps) => {
                let done = InstanceUpdate {
                    vm_state: Some(VmState::Rescued),
                    task_state: Some(None),
                    power_state: Some(ps),
                    launched_at: Some(Some(chrono::Utc::now())),
                    expected_task_state: Some(t.expected()),
                    ..Default::default()
                };
                self.update(ctx, uuid, done).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        self.finish(ctx, uuid, t, result).await;
        Ok(())
    }

    /// Nova's `unrescue_instance`.
    pub(crate) async fn unrescue(&self, ctx: &RequestContext, uuid: Uuid) -> Result<(), NovaError> {
        let t = &transitions::UNRESCUE;
        let _lock = self.lock_instance(uuid).await;
        let Some(inst) = self.expecting(ctx, uuid, t).await? else {
            return Ok(());
        };
        self.event(ctx, uuid, t.event, None).await;
        let d = &self.driver;
        let nw = inst.network_info.clone();
        let result: Result<i32, NovaError> = async {
            crate::vif::plug_vifs(d.as_ref(), &nw).await?;
            self.filter_instance(ctx, &inst, &nw).await?;
            d.unrescue(&inst, &nw).await.map_err(virt_to_nova)?;
            Ok(self.power_state_of(&inst).await)
        }
        .await;
        let result = match result {
            Ok(ps) => {
                let done = InstanceUpdate {
                    vm_state: Some(VmState::Active),
                    task_state: Some(None),
                    power_state: Some(ps),
                    expected_task_state: Some(t.expected()),
                    ..Default::default()
                };
                self.update(ctx, uuid, done).await.map(|_| ())
            }
            Err(e) => Err(e),
        };
        self.finish(ctx, uuid, t, result).await;
        Ok(())
    }

    /// The end of a rescue or unrescue: the event, or ERROR with a fault.
    async fn finish(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        t: &transitions::Transition,
        result: Result<(), NovaError>,
    ) {
        match result {
            Ok(()) => {
                info!(instance = %uuid, "{} done", t.event);
                self.event(ctx, uuid, t.event, Some(Ok(()))).await;
            }
            // A delete took over.
            Err(NovaError::UnexpectedTaskStateError { actual, .. }) => {
                info!(instance = %uuid, task_state = %actual, "{} superseded", t.event);
            }
            Err(e) => {
                warn!(instance = %uuid, "{} failed: {e}", t.event);
                self.set_error(ctx, uuid, &e).await;
                self.event(ctx, uuid, t.event, Some(Err(&e))).await;
            }
        }
    }

    /// `init_host`: rescues and unrescues a restart interrupted. Their
    /// messages come back redelivered; whatever is still rescuing or
    /// unrescuing after `wait` was not, and is finished here.
    pub(crate) fn recover_rescues(self: &Arc<Self>, interrupted: Vec<Uuid>, wait: Duration) {
        if interrupted.is_empty() {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            let ctx = RequestContext::admin();
            for uuid in interrupted {
                let task_state = {
                    let _g = me.lock_instance(uuid).await;
                    match me.idempotent.instance_get_by_uuid(&ctx, uuid).await {
                        Ok(i) => i.task_state,
                        Err(_) => continue,
                    }
                };
                match task_state {
                    Some(TaskState::Unrescuing) => {
                        warn!(instance = %uuid, "unrescue was interrupted by a nova-compute restart; finishing it");
                        if let Err(e) = me.unrescue(&ctx, uuid).await {
                            warn!(instance = %uuid, "cannot finish the unrescue: {e}");
                        }
                    }
                    Some(TaskState::Rescuing) => {
                        let _g = me.lock_instance(uuid).await;
                        let still = me
                            .idempotent
                            .instance_get_by_uuid(&ctx, uuid)
                            .await
                            .is_ok_and(|i| i.task_state == Some(TaskState::Rescuing));
                        if !still {
                            continue;
                        }
                        warn!(instance = %uuid, "rescue was interrupted by a nova-compute restart");
                        let err = NovaError::InstanceNotRescuable {
                            instance_id: uuid.to_string(),
                            reason: "the rescue was interrupted by a restart of nova-compute"
                                .into(),
                        };
                        me.set_error(&ctx, uuid, &err).await;
                        me.event(&ctx, uuid, transitions::RESCUE.event, Some(Err(&err)))
                            .await;
                    }
                    _ => {}
                }
            }
        });
    }
}
