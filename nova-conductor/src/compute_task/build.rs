//! Builds: Nova's `schedule_and_build_instances` (the first attempt) and
//! `build_instances` (a reschedule, cast back by a compute host whose build
//! failed).
//!
//! The scheduler chooses from its own host states and never claims: for
//! each instance this conductor claims the selected host's resources in the
//! database (`compute_node_claim`), falling back on the alternates the
//! scheduler returned with it, and casts the build to the host it got.
//! A reschedule tries the remaining alternates first, then asks the
//! scheduler again for a host not tried yet, until `[scheduler]
//! max_attempts` attempts were made; then the instance goes to ERROR with a
//! fault naming every host tried and why the build failed there.
//!
//! Every step is idempotent, so a redelivered message does no harm: a first
//! build only schedules an instance still SCHEDULING and unassigned (one
//! that was assigned gets its build cast again), a reschedule only an
//! instance a compute host handed back (SCHEDULING, on a host it failed on
//! or already released; one it claimed elsewhere gets its build cast
//! again), and a claim only takes an unassigned instance.

use super::ComputeTaskManager;
use crate::manager::retry_on_disconnect;
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaError, RequestContext};
use nova_db::Claim;
use nova_objects::{
    FilterProperties, ImageMeta, Instance, InstanceUpdate, RequestSpec, ResourceRequest,
    SchedulerRetries, Selection,
};
use tracing::{error, info, warn};
use uuid::Uuid;

pub const EVENT_SCHEDULE: &str = "conductor_schedule_and_build_instances";

/// What the user gave for the guest itself (Nova's `admin_password` and
/// `injected_files`): passed on to the compute host with each build and
/// reschedule, never stored.
#[derive(Clone, Debug, Default)]
pub(crate) struct Injected {
    pub admin_password: Option<String>,
    pub injected_files: Vec<(String, String)>,
}

/// What became of an instance's list of hosts.
enum Placement {
    /// Claimed on this host; the build is cast there.
    Cast(String),
    /// Every host of the list was tried before, is gone, or has no room left.
    Exhausted,
    /// Deleted meanwhile, or another attempt assigned it: not ours to build.
    NotOurs,
}

impl ComputeTaskManager {
    pub(super) async fn read_instance(&self, uuid: Uuid) -> Result<Instance, NovaError> {
        retry_on_disconnect("instance_get_by_uuid", || {
            self.db.instance_get_by_uuid(uuid, false)
        })
        .await
    }

    /// Nova's `populate_retry` for a first attempt: the retry information,
    /// or None when rescheduling is disabled (`max_attempts = 1`, or a
    /// build forced onto one host).
    fn first_retry(&self, spec: &RequestSpec) -> Option<SchedulerRetries> {
        (self.cfg.scheduler.max_attempts > 1 && spec.force_hosts.len() != 1).then(|| {
            SchedulerRetries {
                num_attempts: 1,
                hosts: Vec::new(),
            }
        })
    }

    /// Nova's `_populate_group_info`: the server group as it is now, its
    /// members' hosts for the (anti-)affinity filters and weighers. A group
    /// deleted meanwhile no longer constrains the build. Also the hosts of
    /// the instances the `same_host`/`different_host` hints name.
    async fn populate_group_info(&self, spec: &mut RequestSpec) -> Result<(), NovaError> {
        self.populate_hint_hosts(spec).await?;
        let Some(group) = spec.instance_group.as_ref().map(|g| g.uuid) else {
            return Ok(());
        };
        match retry_on_disconnect("instance_group_get_by_uuid", || {
            self.db.instance_group_get_by_uuid(group)
        })
        .await
        {
            Ok(g) => spec.instance_group = Some(g),
            Err(NovaError::InstanceGroupNotFound { .. }) => {
                info!(group = %group, "server group deleted before the build was scheduled");
                spec.instance_group = None;
            }
            Err(e) => return Err(e),
        }
        Ok(())
    }

    /// Nova's `schedule_and_build_instances`: ask the scheduler for a host
    /// and alternates per instance, claim, cast. Any failure puts the
    /// instance in ERROR with a fault.
    pub(crate) async fn schedule_and_build(
        &self,
        ctx: &RequestContext,
        spec: RequestSpec,
        uuids: Vec<Uuid>,
        injected: &Injected,
    ) {
        // Idempotence: a redelivered message must not schedule twice.
        let mut todo = Vec::new();
        for u in &uuids {
            match self.read_instance(*u).await {
                Ok(i)
                    if i.vm_state == VmState::Building
                        && i.task_state == Some(TaskState::Scheduling) =>
                {
                    match (&i.host, &i.node) {
                        // Claimed, but the cast may have been lost: cast again
                        // (the compute host ignores builds it already did).
                        (Some(h), Some(n)) => {
                            let sel = Selection {
                                service_host: h.clone(),
                                nodename: n.clone(),
                                ..Default::default()
                            };
                            let mut retry = self.first_retry(&spec);
                            if let Some(r) = retry.as_mut() {
                                r.add_host(h, n);
                            }
                            info!(instance = %u, host = %h, "re-casting the build of an already scheduled instance");
                            if let Err(e) = self
                                .cast_build(
                                    ctx,
                                    *u,
                                    &spec,
                                    &spec.image,
                                    injected,
                                    retry,
                                    &sel,
                                    Vec::new(),
                                )
                                .await
                            {
                                self.set_error_with_fault(ctx, *u, &e, Some(EVENT_SCHEDULE))
                                    .await;
                            }
                        }
                        _ => todo.push(i.uuid),
                    }
                }
                Ok(i) => {
                    info!(instance = %u, vm_state = %i.vm_state, "already scheduled; skipping")
                }
                Err(e) => warn!(instance = %u, "not scheduling: {e}"),
            }
        }
        if todo.is_empty() {
            return;
        }
        // The schedule events are recorded while the scheduler chooses (their
        // finish comes after the claim, so it cannot overtake its start).
        let event_starts = async {
            for u in &todo {
                let _ = self
                    .db
                    .action_event_start(*u, &ctx.request_id, EVENT_SCHEDULE, &self.cfg.default.host)
                    .await;
            }
        };
        let mut spec = spec;
        let scheduling = async {
            self.populate_group_info(&mut spec).await?;
            self.scheduler
                .select_destinations(ctx, spec.clone(), todo.clone(), true)
                .await
        };
        let ((), scheduled) = tokio::join!(event_starts, scheduling);
        let host_lists = match scheduled {
            Ok(s) => s,
            Err(e) => {
                warn!("scheduling failed: {e}");
                for u in &todo {
                    self.set_error_with_fault(ctx, *u, &e, Some(EVENT_SCHEDULE))
                        .await;
                }
                return;
            }
        };
        let mut host_lists = host_lists.into_iter();
        for uuid in todo {
            let host_list = host_lists.next().unwrap_or_default();
            let retry = self.first_retry(&spec);
            match self
                .claim_and_cast(ctx, uuid, &spec, &spec.image, injected, retry, host_list)
                .await
            {
                Ok(Placement::Cast(host)) => {
                    info!(instance = %uuid, %host, "build cast to compute");
                    let _ = self
                        .db
                        .action_event_finish(uuid, &ctx.request_id, EVENT_SCHEDULE, "Success", None)
                        .await;
                }
                Ok(Placement::NotOurs) => {}
                Ok(Placement::Exhausted) => {
                    let e = NovaError::NoValidHost {
                        reason: "There are not enough hosts available: every host chosen for this instance was claimed meanwhile.".into(),
                    };
                    warn!(instance = %uuid, "{e}");
                    self.set_error_with_fault(ctx, uuid, &e, Some(EVENT_SCHEDULE))
                        .await;
                }
                Err(e) => {
                    error!(instance = %uuid, "cannot build: {e}");
                    self.set_error_with_fault(ctx, uuid, &e, Some(EVENT_SCHEDULE))
                        .await;
                }
            }
        }
    }

    /// Nova's `build_instances` for a reschedule: the build failed on the
    /// last host of `filter_properties.retry`, which handed the instance back
    /// (SCHEDULING, still assigned to it). Release that host's claim, then
    /// build elsewhere. What the compute host sent is not trusted for more
    /// than its own failure: the flavor comes from the instance, the image
    /// must be the instance's, alternates must still be up and enabled.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn reschedule(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        image: &ImageMeta,
        injected: &Injected,
        filter_properties: FilterProperties,
        spec: &RequestSpec,
        host_list: Vec<Selection>,
    ) {
        let inst = match self.read_instance(uuid).await {
            Ok(i)
                if i.vm_state == VmState::Building
                    && i.task_state == Some(TaskState::Scheduling) =>
            {
                i
            }
            Ok(i) => {
                info!(instance = %uuid, vm_state = %i.vm_state, task_state = ?i.task_state, "not waiting for a reschedule; skipping");
                return;
            }
            Err(e) => {
                warn!(instance = %uuid, "not rescheduling: {e}");
                return;
            }
        };
        // A redelivered message may find the instance claimed by this very
        // reschedule, its cast perhaps lost: cast again (the compute host
        // ignores a build it already did).
        let claimed_here = match (&inst.host, &inst.node, &filter_properties.retry) {
            (Some(h), Some(n), Some(r)) if !r.tried(h) => Some((h.clone(), n.clone())),
            _ => None,
        };
        if claimed_here.is_none() && inst.host.is_some() {
            // Release the failed host's claim: un-assigned, its usage recomputed.
            let release = InstanceUpdate {
                host: Some(None),
                node: Some(None),
                expected_task_state: Some(vec![Some(TaskState::Scheduling)]),
                ..Default::default()
            };
            if let Err(e) = self.db.instance_update(uuid, &release).await {
                info!(instance = %uuid, "not rescheduling (changed meanwhile): {e}");
                return;
            }
        }
        let Some(mut retry) = filter_properties.retry else {
            let e = NovaError::NoValidHost {
                reason: "The build failed and rescheduling is disabled.".into(),
            };
            self.set_error_with_fault(ctx, uuid, &e, None).await;
            return;
        };
        retry.num_attempts += 1;
        let max = self.cfg.scheduler.max_attempts;
        if retry.num_attempts > max {
            let e = NovaError::MaxRetriesExceeded {
                reason: format!(
                    "Exceeded max scheduling attempts {max} for instance {uuid}. Last exception: {}. {}",
                    retry.last_reason().unwrap_or("unknown"),
                    retry.summary()
                ),
            };
            warn!(instance = %uuid, "{e}");
            self.set_error_with_fault(ctx, uuid, &e, None).await;
            return;
        }
        if image.id != inst.image_ref {
            let e = NovaError::BuildAbortException {
                instance_uuid: uuid.to_string(),
                reason: format!("the image handed back ({}) is not the instance's", image.id),
            };
            warn!(instance = %uuid, "{e}");
            self.set_error_with_fault(ctx, uuid, &e, None).await;
            return;
        }
        let mut spec = spec.clone();
        spec.instance_uuid = uuid;
        spec.flavor = inst.flavor.clone();
        spec.project_id = inst.project_id.clone();
        spec.user_id = inst.user_id.clone();
        spec.image = image.clone();
        if let Some((host, node)) = claimed_here {
            info!(instance = %uuid, %host, "re-casting the rescheduled build of an already claimed instance");
            let sel = Selection {
                service_host: host.clone(),
                nodename: node.clone(),
                ..Default::default()
            };
            retry.add_host(&host, &node);
            let rest: Vec<Selection> = host_list
                .into_iter()
                .filter(|s| s.service_host != host)
                .collect();
            if let Err(e) = self
                .cast_build(ctx, uuid, &spec, image, injected, Some(retry), &sel, rest)
                .await
            {
                self.set_error_with_fault(ctx, uuid, &e, None).await;
            }
            return;
        }
        let host_list = self.usable(host_list).await;
        info!(instance = %uuid, attempt = retry.num_attempts, "rescheduling: {}", retry.summary());
        spec.num_instances = 1;
        spec.num_attempts = retry.num_attempts;
        for h in &retry.hosts {
            if !spec.ignore_hosts.contains(&h.host) {
                spec.ignore_hosts.push(h.host.clone());
            }
        }
        // The alternates first, then whatever the scheduler finds among the hosts not tried.
        let mut placed = self
            .claim_and_cast(
                ctx,
                uuid,
                &spec,
                image,
                injected,
                Some(retry.clone()),
                host_list,
            )
            .await;
        if matches!(placed, Ok(Placement::Exhausted)) {
            let scheduled = match self.populate_group_info(&mut spec).await {
                Ok(()) => {
                    self.scheduler
                        .select_destinations(ctx, spec.clone(), vec![uuid], true)
                        .await
                }
                Err(e) => Err(e),
            };
            placed = match scheduled {
                Ok(lists) => {
                    let list = lists.into_iter().next().unwrap_or_default();
                    self.claim_and_cast(
                        ctx,
                        uuid,
                        &spec,
                        image,
                        injected,
                        Some(retry.clone()),
                        list,
                    )
                    .await
                }
                Err(NovaError::NoValidHost { reason }) => {
                    info!(instance = %uuid, "no other host: {reason}");
                    Ok(Placement::Exhausted)
                }
                Err(e) => Err(e),
            };
        }
        match placed {
            Ok(Placement::Cast(host)) => info!(instance = %uuid, %host, "build rescheduled"),
            Ok(Placement::NotOurs) => {}
            Ok(Placement::Exhausted) => {
                let e = NovaError::MaxRetriesExceeded {
                    reason: format!(
                        "Exhausted all hosts available for retrying build failures for instance {uuid}. {}",
                        retry.summary()
                    ),
                };
                warn!(instance = %uuid, "{e}");
                self.set_error_with_fault(ctx, uuid, &e, None).await;
            }
            Err(e) => {
                error!(instance = %uuid, "cannot reschedule: {e}");
                self.set_error_with_fault(ctx, uuid, &e, None).await;
            }
        }
    }

    /// The alternates whose nova-compute is still up and enabled (they were
    /// chosen a while ago, and handed back by a compute host).
    async fn usable(&self, host_list: Vec<Selection>) -> Vec<Selection> {
        if host_list.is_empty() {
            return host_list;
        }
        let services = match retry_on_disconnect("service_get_all", || self.db.service_get_all())
            .await
        {
            Ok(s) => s,
            Err(e) => {
                warn!("cannot check the alternates' services, asking the scheduler instead: {e}");
                return Vec::new();
            }
        };
        let now = chrono::Utc::now();
        let down_time = self.cfg.default.service_down_time;
        host_list
            .into_iter()
            .filter(|sel| {
                services.iter().any(|s| {
                    s.host == sel.service_host
                        && s.binary == "nova-compute"
                        && !s.disabled
                        && s.is_up(now, down_time)
                })
            })
            .collect()
    }

    /// Claim the first host of `host_list` not tried before that still has
    /// room, and cast the build there with the rest of the list as its
    /// alternates.
    #[allow(clippy::too_many_arguments)]
    async fn claim_and_cast(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        spec: &RequestSpec,
        image: &ImageMeta,
        injected: &Injected,
        mut retry: Option<SchedulerRetries>,
        host_list: Vec<Selection>,
    ) -> Result<Placement, NovaError> {
        let request = ResourceRequest::for_instance(&spec.flavor, &spec.image.properties)?;
        let mut hosts = host_list.into_iter();
        while let Some(sel) = hosts.next() {
            let host = sel.service_host.as_str();
            if retry.as_ref().is_some_and(|r| r.tried(host)) {
                continue;
            }
            let zone = self.zone_of(&sel).await?;
            match self
                .db
                .compute_node_claim(uuid, host, &sel.nodename, &request, &zone)
                .await
            {
                Ok(Claim::Claimed) => {
                    if let Some(r) = retry.as_mut() {
                        r.add_host(host, &sel.nodename);
                    }
                    self.cast_build(
                        ctx,
                        uuid,
                        spec,
                        image,
                        injected,
                        retry,
                        &sel,
                        hosts.collect(),
                    )
                    .await?;
                    return Ok(Placement::Cast(sel.service_host));
                }
                Ok(Claim::DoesNotFit(resource)) => {
                    info!(instance = %uuid, %host, "{} no longer passes on this host; trying the next one", resource.filter_name());
                }
                Ok(Claim::ServiceDisabled) => {
                    info!(instance = %uuid, %host, "nova-compute disabled or forced down since it was chosen; trying the next one");
                }
                Ok(Claim::GroupPolicy(policy)) => {
                    info!(instance = %uuid, %host, "the server group's {policy} policy no longer allows this host; trying the next one");
                }
                Ok(Claim::AlreadyAssigned(other)) => {
                    info!(instance = %uuid, host = %other, "already assigned by another attempt");
                    return Ok(Placement::NotOurs);
                }
                Err(NovaError::ComputeHostNotFound { .. }) => {
                    info!(instance = %uuid, %host, "compute node gone; trying the next one");
                }
                Err(NovaError::InstanceNotFound { .. }) => {
                    info!(instance = %uuid, "deleted before its build started");
                    return Ok(Placement::NotOurs);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Placement::Exhausted)
    }

    /// Cast the build of the instance (as the database has it now, assigned
    /// to `sel`) to its host.
    #[allow(clippy::too_many_arguments)]
    async fn cast_build(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        spec: &RequestSpec,
        image: &ImageMeta,
        injected: &Injected,
        retry: Option<SchedulerRetries>,
        sel: &Selection,
        alternates: Vec<Selection>,
    ) -> Result<(), NovaError> {
        let instance = self.read_instance(uuid).await?;
        let mut one = spec.clone();
        one.instance_uuid = uuid;
        self.compute
            .to_server(&sel.service_host)
            .build_and_run_instance(
                ctx,
                instance,
                image.clone(),
                one,
                FilterProperties { retry },
                injected.admin_password.clone(),
                injected.injected_files.clone(),
                sel.nodename.clone(),
                alternates,
            )
            .await
    }
}
