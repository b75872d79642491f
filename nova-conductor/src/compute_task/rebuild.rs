//! Rebuild and evacuate: Nova's `ComputeTaskManager.rebuild_instance`.
//!
//! The API put the instance in `rebuilding`. An in-place rebuild goes on
//! to the instance's host as it is. An evacuation (`recreate`: its host is
//! down) needs a new host: the scheduler chooses one (the source left out;
//! an admin's host not forced is the only candidate), or an admin's forced
//! host (2.29-2.67) is taken as it is; this conductor claims it together
//! with the migration row (type `evacuation`, status `accepted`, which the
//! source finds when it comes back), then casts `rebuild_instance` with
//! `recreate` to it. A failure before that leaves the instance where it
//! was, task_state cleared, with a fault (migration `error` if one was
//! recorded).
//!
//! Idempotent: only an instance still in `rebuilding` is acted on, and an
//! evacuation already claimed (its cast perhaps lost) is cast again.

use super::ComputeTaskManager;
use nova_common::states::TaskState;
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceUpdate, Migration, RequestSpec, Selection};
use tracing::{info, warn};

pub const EVENT_REBUILD: &str = "conductor_rebuild_server";

/// What the API asked for (Nova's arguments of `rebuild_instance`).
pub(crate) struct Rebuild {
    pub orig_image_ref: String,
    pub image_ref: String,
    pub new_pass: Option<String>,
    /// The personality files (before 2.57), for the config drive.
    pub injected_files: Vec<(String, String)>,
    pub recreate: bool,
    pub on_shared_storage: bool,
    pub preserve_ephemeral: bool,
    pub host: Option<String>,
    pub request_spec: RequestSpec,
    pub target_state: Option<String>,
}

impl ComputeTaskManager {
    pub(crate) async fn rebuild(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        r: Rebuild,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let inst = match self.read_instance(uuid).await {
            Ok(i) if i.task_state == Some(TaskState::Rebuilding) => i,
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "not waiting for a rebuild; skipping");
                return Ok(());
            }
            Err(e) => {
                warn!(instance = %uuid, "not rebuilding: {e}");
                return Ok(());
            }
        };
        if !r.recreate {
            let host = inst.host.clone().unwrap_or_default();
            return self
                .compute
                .to_server(&host)
                .rebuild_instance(
                    ctx,
                    inst,
                    r.new_pass,
                    r.injected_files,
                    r.image_ref,
                    r.orig_image_ref,
                    r.preserve_ephemeral,
                    false,
                    false,
                    None,
                    None,
                    None,
                )
                .await;
        }
        // A redelivered message: the evacuation was claimed already.
        let busy = self
            .db
            .migration_get_in_progress(Some(uuid), None)
            .await
            .unwrap_or_default();
        if let Some(m) = busy
            .into_iter()
            .find(|m| m.migration_type.as_deref() == Some("evacuation"))
        {
            info!(instance = %uuid, dest = ?m.dest_compute, "re-casting the evacuation");
            return self.cast_evacuate(ctx, inst, m, &r).await;
        }
        let _ = self
            .db
            .action_event_start(uuid, &ctx.request_id, EVENT_REBUILD, &self.cfg.default.host)
            .await;
        match self.place_evacuation(ctx, &inst, &r).await {
            Ok(dest) => {
                info!(instance = %uuid, %dest, "evacuation cast to the destination");
                let _ = self
                    .db
                    .action_event_finish(uuid, &ctx.request_id, EVENT_REBUILD, "Success", None)
                    .await;
            }
            Err(e) => {
                warn!(instance = %uuid, "cannot evacuate: {e}");
                self.evacuation_failed(ctx, &inst, &e).await;
            }
        }
        Ok(())
    }

    /// Choose (or take the forced) destination, claim it with the
    /// migration, cast `rebuild_instance` there.
    async fn place_evacuation(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        r: &Rebuild,
    ) -> Result<String, NovaError> {
        let uuid = inst.uuid;
        let source = inst.host.clone().ok_or(NovaError::InstanceNotReady {
            instance_id: uuid.to_string(),
        })?;
        let selections = match &r.host {
            // Forced (2.29-2.67): no scheduler, the host's node as it is.
            Some(h) => self
                .db
                .compute_node_get_all()
                .await?
                .into_iter()
                .filter(|n| &n.host == h)
                .map(|n| Selection {
                    service_host: n.host.clone(),
                    nodename: n.hypervisor_hostname.clone(),
                    compute_node_uuid: n.uuid,
                    availability_zone: None,
                })
                .collect(),
            None => {
                let mut spec = r.request_spec.clone();
                spec.instance_uuid = uuid;
                spec.flavor = inst.flavor.clone();
                spec.project_id = inst.project_id.clone();
                spec.user_id = inst.user_id.clone();
                spec.num_instances = 1;
                self.populate_move_info(inst, &mut spec).await?;
                spec.ignore_hosts.push(source.clone());
                self.scheduler
                    .select_destinations(ctx, spec, vec![uuid], true)
                    .await?
                    .into_iter()
                    .next()
                    .unwrap_or_default()
            }
        };
        let (dest, m) = self
            .claim_migration(
                inst,
                &inst.flavor,
                selections,
                "evacuation",
                "accepted",
                TaskState::Rebuilding,
            )
            .await?;
        let id = m.id;
        if let Err(e) = self.cast_evacuate(ctx, inst.clone(), m, r).await {
            let _ = self.db.migration_update_status(id, "error", None).await;
            return Err(e);
        }
        Ok(dest)
    }

    async fn cast_evacuate(
        &self,
        ctx: &RequestContext,
        inst: Instance,
        m: Migration,
        r: &Rebuild,
    ) -> Result<(), NovaError> {
        let dest = m.dest_compute.clone().unwrap_or_default();
        let node = m.dest_node.clone();
        let image_ref = inst.image_ref.clone();
        self.compute
            .to_server(&dest)
            .rebuild_instance(
                ctx,
                inst,
                r.new_pass.clone(),
                r.injected_files.clone(),
                image_ref.clone(),
                image_ref,
                false,
                true,
                r.on_shared_storage,
                Some(m),
                node,
                r.target_state.clone(),
            )
            .await
    }

    /// The instance stays where it was, as it was; the fault says why.
    async fn evacuation_failed(&self, ctx: &RequestContext, inst: &Instance, err: &NovaError) {
        let uuid = inst.uuid;
        let fault = self.record_fault(uuid, err).await;
        let upd = InstanceUpdate {
            task_state: Some(None),
            expected_task_state: Some(vec![Some(TaskState::Rebuilding)]),
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
                EVENT_REBUILD,
                "Error",
                Some(&fault.details),
            )
            .await;
    }
}
