//! Unshelve: Nova's `ComputeTaskManager.unshelve_instance`.
//!
//! A SHELVED instance still has its guest on its host: it is powered on
//! there (`powering-on`, compute's `start_instance`, which also deletes the
//! shelved image). A SHELVED_OFFLOADED one has no host: its shelved image is
//! looked up in Glance (gone: ERROR with a fault), the scheduler chooses a
//! host in the requested zone (or the requested host), this conductor
//! claims the host's resources as for a build, and the host spawns the
//! instance from the image (`unshelve_instance`). No valid host leaves the
//! instance offloaded, task_state cleared, as Nova does.
//!
//! Idempotent: only an instance in `unshelving` is acted on, and one already
//! claimed (its cast perhaps lost) gets its cast again.

use super::ComputeTaskManager;
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaError, RequestContext};
use nova_db::Claim;
use nova_objects::{
    FilterProperties, ImageMeta, Instance, InstanceUpdate, RequestSpec, ResourceRequest, Selection,
};
use tracing::{info, warn};
use uuid::Uuid;

pub const EVENT_SCHEDULE: &str = "schedule_instances";
pub const EVENT_IMAGE: &str = "get_image_info";

impl ComputeTaskManager {
    pub(crate) async fn unshelve(&self, ctx: &RequestContext, uuid: Uuid, spec: RequestSpec) {
        let inst = match self.read_instance(uuid).await {
            Ok(i) if i.task_state == Some(TaskState::Unshelving) => i,
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "not unshelving; nothing to do");
                return;
            }
            Err(e) => {
                warn!(instance = %uuid, "not unshelving: {e}");
                return;
            }
        };
        match inst.vm_state {
            VmState::Shelved => self.unshelve_in_place(ctx, &inst).await,
            VmState::ShelvedOffloaded => {
                if let Err(e) = self.unshelve_offloaded(ctx, &inst, spec).await {
                    warn!(instance = %uuid, "unshelve failed: {e}");
                    self.clear_unshelving(uuid, true).await;
                }
            }
            other => {
                let e = NovaError::UnshelveException {
                    instance_id: uuid.to_string(),
                    reason: format!("vm_state is {other}, not shelved or shelved_offloaded"),
                };
                warn!(instance = %uuid, "{e}");
                self.set_error_with_fault(ctx, uuid, &e, None).await;
            }
        }
    }

    /// SHELVED: the guest is still on its host; power it on there.
    async fn unshelve_in_place(&self, ctx: &RequestContext, inst: &Instance) {
        let uuid = inst.uuid;
        let upd = InstanceUpdate {
            task_state: Some(Some(TaskState::PoweringOn)),
            expected_task_state: Some(vec![Some(TaskState::Unshelving)]),
            ..Default::default()
        };
        let inst = match self.db.instance_update(uuid, &upd).await {
            Ok(i) => i,
            Err(e) => {
                info!(instance = %uuid, "not unshelving (changed meanwhile): {e}");
                return;
            }
        };
        let host = inst.host.clone().unwrap_or_default();
        if let Err(e) = self
            .compute
            .to_server(&host)
            .start_instance(ctx, inst)
            .await
        {
            warn!(instance = %uuid, %host, "cannot cast start_instance: {e}");
            let revert = InstanceUpdate {
                task_state: Some(None),
                expected_task_state: Some(vec![Some(TaskState::PoweringOn)]),
                ..Default::default()
            };
            let _ = self.db.instance_update(uuid, &revert).await;
        }
    }

    /// SHELVED_OFFLOADED: image, schedule, claim, cast.
    async fn unshelve_offloaded(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        spec: RequestSpec,
    ) -> Result<(), NovaError> {
        let uuid = inst.uuid;
        let me = self.cfg.default.host.clone();
        let image_id = inst
            .system_metadata
            .get("shelved_image_id")
            .cloned()
            .unwrap_or_default();
        let _ = self
            .db
            .action_event_start(uuid, &ctx.request_id, EVENT_IMAGE, &me)
            .await;
        let image = match self.shelved_image(ctx, &image_id).await {
            Ok(i) => {
                self.event_finish(ctx, uuid, EVENT_IMAGE, None).await;
                i
            }
            Err(NovaError::ImageNotFound { .. }) => {
                let e = NovaError::UnshelveException {
                    instance_id: uuid.to_string(),
                    reason: format!("Unshelve attempted but the image {image_id} cannot be found."),
                };
                warn!(instance = %uuid, "{e}");
                self.set_error_with_fault(ctx, uuid, &e, Some(EVENT_IMAGE))
                    .await;
                return Ok(());
            }
            Err(e) => {
                self.event_finish(ctx, uuid, EVENT_IMAGE, Some(&e)).await;
                return Err(e);
            }
        };
        // The flavor and owner are the instance's, whatever the message says.
        let mut spec = spec;
        spec.instance_uuid = uuid;
        spec.flavor = inst.flavor.clone();
        spec.project_id = inst.project_id.clone();
        spec.user_id = inst.user_id.clone();
        spec.num_instances = 1;
        spec.image = image.clone();
        // Claimed by an earlier delivery of this message: cast again.
        if let (Some(host), Some(node)) = (&inst.host, &inst.node) {
            info!(instance = %uuid, %host, "re-casting the unshelve of an already claimed instance");
            return self
                .cast_unshelve(ctx, uuid, host, node, &image, &spec)
                .await;
        }
        // The server group as it is now and the creation's hints (Nova's
        // request spec carries both).
        self.populate_move_info(inst, &mut spec).await?;
        let _ = self
            .db
            .action_event_start(uuid, &ctx.request_id, EVENT_SCHEDULE, &me)
            .await;
        let selections = match self
            .scheduler
            .select_destinations(ctx, spec.clone(), vec![uuid], false)
            .await
        {
            Ok(lists) => lists.into_iter().next().unwrap_or_default(),
            Err(e @ NovaError::NoValidHost { .. }) => {
                warn!(instance = %uuid, "No valid host found for unshelve instance: {e}");
                self.event_finish(ctx, uuid, EVENT_SCHEDULE, Some(&e)).await;
                self.clear_unshelving(uuid, false).await;
                return Ok(());
            }
            Err(e) => {
                self.event_finish(ctx, uuid, EVENT_SCHEDULE, Some(&e)).await;
                return Err(e);
            }
        };
        let request = ResourceRequest::for_instance(&spec.flavor, &spec.image.properties)?;
        for sel in selections {
            let zone = self.zone_of(&sel).await?;
            match self
                .db
                .compute_node_claim(uuid, &sel.service_host, &sel.nodename, &request, &zone)
                .await?
            {
                Claim::Claimed => {
                    self.event_finish(ctx, uuid, EVENT_SCHEDULE, None).await;
                    info!(instance = %uuid, host = %sel.service_host, "unshelving on the scheduled host");
                    return self
                        .cast_unshelve(ctx, uuid, &sel.service_host, &sel.nodename, &image, &spec)
                        .await;
                }
                Claim::DoesNotFit(r) => {
                    info!(instance = %uuid, host = %sel.service_host, "{} no longer passes", r.filter_name())
                }
                Claim::ServiceDisabled => {
                    info!(instance = %uuid, host = %sel.service_host, "its service was disabled or forced down meanwhile")
                }
                Claim::GroupPolicy(policy) => {
                    info!(instance = %uuid, host = %sel.service_host, "the server group's {policy} policy no longer allows this host")
                }
                Claim::AlreadyAssigned(h) => {
                    info!(instance = %uuid, host = %h, "already assigned by another delivery");
                    return Ok(());
                }
            }
        }
        let e = NovaError::NoValidHost {
            reason: "every host chosen for the unshelve was claimed meanwhile".into(),
        };
        warn!(instance = %uuid, "{e}");
        self.event_finish(ctx, uuid, EVENT_SCHEDULE, Some(&e)).await;
        self.clear_unshelving(uuid, false).await;
        Ok(())
    }

    /// The shelved image, if Glance still has it (deleted images count as gone).
    async fn shelved_image(
        &self,
        ctx: &RequestContext,
        image_id: &str,
    ) -> Result<ImageMeta, NovaError> {
        if image_id.is_empty() {
            return Err(NovaError::ImageNotFound {
                image_id: String::new(),
            });
        }
        let image = self.image_api.show(ctx, image_id).await?;
        if image.status == "deleted" || image.status == "killed" {
            return Err(NovaError::ImageNotFound {
                image_id: image_id.to_string(),
            });
        }
        Ok(image)
    }

    async fn cast_unshelve(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        host: &str,
        node: &str,
        image: &ImageMeta,
        spec: &RequestSpec,
    ) -> Result<(), NovaError> {
        let instance = self.read_instance(uuid).await?;
        let sel = Selection {
            service_host: host.to_string(),
            nodename: node.to_string(),
            ..Default::default()
        };
        self.compute
            .to_server(&sel.service_host)
            .unshelve_instance(
                ctx,
                instance,
                Some(image.clone()),
                FilterProperties { retry: None },
                sel.nodename,
                spec.clone(),
            )
            .await
    }

    /// Back to SHELVED_OFFLOADED with nothing to do: task_state cleared and,
    /// when `release`, a claim this unshelve took given back.
    async fn clear_unshelving(&self, uuid: Uuid, release: bool) {
        let mut upd = InstanceUpdate {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(TaskState::Unshelving)]),
            ..Default::default()
        };
        if release {
            upd.host = Some(None);
            upd.node = Some(None);
            upd.launched_on = Some(None);
        }
        if let Err(e) = self.db.instance_update(uuid, &upd).await {
            info!(instance = %uuid, "not clearing the unshelve: {e}");
        }
    }

    async fn event_finish(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        event: &str,
        err: Option<&NovaError>,
    ) {
        let (result, tb) = match err {
            None => ("Success", None),
            Some(e) => ("Error", Some(format!("{}: {e}", e.class()))),
        };
        let _ = self
            .db
            .action_event_finish(uuid, &ctx.request_id, event, result, tb.as_deref())
            .await;
    }
}
