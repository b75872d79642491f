//! `ComputeManager`: the server side of `compute.<host>`.

use crate::actions;
use crate::config_drive::Injected;
use chrono::Utc;
use nova_common::context::ReadDeleted;
use nova_common::states::{power_state, TaskState, VmState};
use nova_common::transitions;
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::{
    ConsoleConnectInfo, FilterProperties, ImageMeta, Instance, InstanceFault, InstanceFilters,
    InstanceUpdate, LiveMigrateData, NetworkInfo, NetworkRequest, RequestSpec, Selection,
};
use nova_rpc::{compute_task, conductor, network, Transport};
use nova_virt::{VirtDriver, VirtError};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::OwnedMutexGuard;
use tracing::{error, info, warn};
use uuid::Uuid;

/// The task states of a build on its way to ACTIVE (Nova's
/// `_build_and_run_instance` steps).
const BUILD_STEPS: [Option<TaskState>; 4] = [
    Some(TaskState::Scheduling),
    Some(TaskState::Networking),
    Some(TaskState::BlockDeviceMapping),
    Some(TaskState::Spawning),
];

pub const EVENT_BUILD: &str = "compute__do_build_and_run_instance";
pub const EVENT_TERMINATE: &str = "compute_terminate_instance";

pub struct ComputeManager {
    pub(crate) cfg: NovaConfig,
    pub(crate) driver: Arc<dyn VirtDriver>,
    pub(crate) conductor: conductor::Client,
    /// The conductor for calls safe to handle twice: reads, and instance
    /// updates (absolute values, the task_state compare-and-set refusing a
    /// stale one). Sent again when the broker connection drops before the
    /// reply, instead of failing the work in hand.
    pub(crate) idempotent: conductor::Client,
    pub(crate) compute_task: compute_task::Client,
    pub(crate) network: network::Client,
    /// One lock per instance: builds and deletes of the same instance run one at a time.
    locks: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
    /// Builds running now (for init_host's check of interrupted builds).
    building: Mutex<HashSet<Uuid>>,
    /// Soft reboots waiting for their guest now: a hard reboot of the same
    /// instance ends the wait (Nova's hard reboot over a soft one).
    soft_reboots: Mutex<HashMap<Uuid, Arc<tokio::sync::Notify>>>,
    pub(crate) images: crate::image_cache::ImageCache,
    /// Security groups in iptables, on hypervisors whose guests use host networking.
    firewall: Option<crate::firewall::IptablesFirewallDriver>,
}

/// A soft reboot under way ([`ComputeManager::soft_reboot_started`]).
pub(crate) struct SoftReboot<'a> {
    manager: &'a ComputeManager,
    uuid: Uuid,
    /// Woken (or holding a permit) once a hard reboot of it was asked.
    pub(crate) wake: Arc<tokio::sync::Notify>,
}

impl Drop for SoftReboot<'_> {
    fn drop(&mut self) {
        guard(&self.manager.soft_reboots).remove(&self.uuid);
    }
}

pub(crate) fn virt_to_nova(e: VirtError) -> NovaError {
    match e {
        VirtError::InstanceNotFound(u) => NovaError::InstanceNotFound {
            instance_id: u.to_string(),
        },
        VirtError::Hypervisor(reason) => NovaError::HypervisorError { reason },
        VirtError::QemuGuestAgentNotEnabled => NovaError::QemuGuestAgentNotEnabled {},
        VirtError::InstanceNotRunning(u) => NovaError::InstanceNotRunning {
            instance_id: u.to_string(),
        },
        VirtError::TriggerCrashDumpNotSupported => NovaError::TriggerCrashDumpNotSupported {},
        VirtError::MigrationPreCheck(reason) => NovaError::MigrationPreCheckError { reason },
        VirtError::InvalidSharedStorage { path, reason } => {
            NovaError::InvalidSharedStorage { path, reason }
        }
        VirtError::InvalidLocalStorage { path, reason } => {
            NovaError::InvalidLocalStorage { path, reason }
        }
        other => NovaError::HypervisorError {
            reason: other.to_string(),
        },
    }
}

/// Failures after which a build is not tried on another host (Nova's
/// `BuildAbortException` cases): the request itself is at fault, the
/// instance is being deleted, or the network has nothing to give it (no
/// address left, or the one it asked for taken since the API checked:
/// another host would be refused the same).
fn aborts_build(e: &NovaError) -> bool {
    matches!(
        e,
        NovaError::BuildAbortException { .. }
            | NovaError::InstanceNotFound { .. }
            | NovaError::InvalidImageConfigDrive { .. }
            | NovaError::UnexpectedTaskStateError { .. }
            | NovaError::NoMoreFixedIps { .. }
            | NovaError::FixedIpAlreadyInUse { .. }
            | NovaError::FixedIpNotFoundForNetwork { .. }
            | NovaError::ImageNotFound { .. }
            | NovaError::ImageNotActive { .. }
            | NovaError::ImageUnacceptable { .. }
            | NovaError::InvalidInput { .. }
    )
}

/// What a failed build hands back to the conductor when it reschedules.
struct FailedBuild<'a> {
    inst: &'a Instance,
    image: ImageMeta,
    request_spec: RequestSpec,
    filter_properties: FilterProperties,
    injected: Injected,
    node: String,
    host_list: Vec<Selection>,
}

fn guard<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ComputeManager {
    pub fn new(cfg: NovaConfig, driver: Arc<dyn VirtDriver>, transport: Transport) -> Self {
        let conductor = conductor::Client::new(transport.clone());
        let firewall = (driver.needs_host_networking()
            && cfg
                .default
                .firewall_driver
                .ends_with(".IptablesFirewallDriver"))
        .then(|| {
            // Chains named after the program, as Nova's (`nova-compute-inst-<id>`).
            crate::firewall::IptablesFirewallDriver::new(
                &nova_linux_net::iptables::binary_name(),
                cfg.default.allow_same_net_traffic,
            )
        });
        ComputeManager {
            firewall,
            driver,
            idempotent: conductor.idempotent(),
            conductor,
            compute_task: compute_task::Client::new(transport.clone()),
            network: network::Client::new(transport),
            locks: Mutex::new(HashMap::new()),
            building: Mutex::new(HashSet::new()),
            soft_reboots: Mutex::new(HashMap::new()),
            images: crate::image_cache::ImageCache::new(&cfg),
            cfg,
        }
    }

    /// Load the instance's security group rules into its firewall chain.
    pub(crate) async fn filter_instance(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        nw: &NetworkInfo,
    ) -> Result<(), NovaError> {
        let Some(fw) = &self.firewall else {
            return Ok(());
        };
        let rules = self
            .idempotent
            .security_group_rule_get_by_instance(ctx, inst.uuid)
            .await?;
        fw.prepare_instance_filter(inst, nw, &rules).await?;
        Ok(())
    }

    /// Remove the instance's firewall chain (a failure is logged: the guest is gone anyway).
    pub(crate) async fn unfilter_instance(&self, inst: &Instance) {
        if let Some(fw) = &self.firewall {
            if let Err(e) = fw.unfilter_instance(inst).await {
                warn!(instance = %inst.uuid, "cannot remove the instance's firewall rules: {e}");
            }
        }
    }

    pub fn driver_name(&self) -> &'static str {
        self.driver.name()
    }

    pub(crate) fn host(&self) -> &str {
        &self.cfg.default.host
    }

    /// The guest's power state as the hypervisor reports it (NOSTATE when
    /// it has no such guest or cannot say).
    pub(crate) async fn power_state_of(&self, inst: &Instance) -> i32 {
        self.driver
            .get_info(inst)
            .await
            .map(|i| i.power_state)
            .unwrap_or(power_state::NOSTATE)
    }

    pub(crate) async fn lock_instance(&self, uuid: Uuid) -> OwnedMutexGuard<()> {
        let m = guard(&self.locks).entry(uuid).or_default().clone();
        m.lock_owned().await
    }

    /// A soft reboot of `uuid` starts: until the returned guard goes, a
    /// hard reboot of it wakes `SoftReboot::wake`.
    pub(crate) fn soft_reboot_started(&self, uuid: Uuid) -> SoftReboot<'_> {
        let wake = Arc::new(tokio::sync::Notify::new());
        guard(&self.soft_reboots).insert(uuid, wake.clone());
        SoftReboot {
            manager: self,
            uuid,
            wake,
        }
    }

    /// A hard reboot of `uuid` was asked: a soft reboot waiting for the
    /// guest gives way (the hard reboot runs once it has let go).
    fn preempt_soft_reboot(&self, uuid: Uuid) {
        if let Some(n) = guard(&self.soft_reboots).get(&uuid) {
            n.notify_one();
        }
    }

    fn forget_lock(&self, uuid: Uuid) {
        let mut locks = guard(&self.locks);
        if locks.get(&uuid).is_some_and(|m| Arc::strong_count(m) == 1) {
            locks.remove(&uuid);
        }
    }

    /// Update the instance. Sent again across a broker blip; so when the
    /// compare-and-set fails because the instance already is where the update
    /// takes it (the first send was applied, its reply lost), that is success.
    pub(crate) async fn update(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        upd: InstanceUpdate,
    ) -> Result<Instance, NovaError> {
        match self
            .idempotent
            .instance_update(ctx, uuid, upd.clone())
            .await
        {
            Err(e @ NovaError::UnexpectedTaskStateError { .. }) => {
                let now = self.idempotent.instance_get_by_uuid(ctx, uuid).await?;
                let reached = upd.task_state.is_some_and(|t| now.task_state == t)
                    && upd.vm_state.is_none_or(|v| now.vm_state == v)
                    && upd.host.as_ref().is_none_or(|h| &now.host == h);
                if reached {
                    Ok(now)
                } else {
                    Err(e)
                }
            }
            other => other,
        }
    }

    pub(crate) async fn event(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        event: &str,
        result: Option<Result<(), &NovaError>>,
    ) {
        let r = match result {
            None => {
                self.conductor
                    .action_event_start(
                        ctx,
                        uuid,
                        ctx.request_id.clone(),
                        event.into(),
                        self.host().into(),
                    )
                    .await
            }
            Some(outcome) => {
                let (res, tb) = match outcome {
                    Ok(()) => ("Success", None),
                    Err(e) => ("Error", Some(format!("{}: {e}", e.class()))),
                };
                self.conductor
                    .action_event_finish(
                        ctx,
                        uuid,
                        ctx.request_id.clone(),
                        event.into(),
                        res.into(),
                        tb,
                    )
                    .await
            }
        };
        if let Err(e) = r {
            warn!(instance = %uuid, %event, "cannot record action event: {e}");
        }
    }

    /// After nova-network changed the instance's addresses (the multinic
    /// actions): its network info recorded and its VIFs plugged, as Nova's
    /// `_inject_network_info` (a libvirt guest sees a new interface at its
    /// next hard reboot); a failure is the instance's fault, no state change.
    async fn record_network_change(
        &self,
        ctx: &RequestContext,
        instance: &Instance,
        nw: Result<NetworkInfo, NovaError>,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let result = match nw {
            Ok(nw) => {
                let upd = InstanceUpdate {
                    network_info: Some(nw.clone()),
                    ..Default::default()
                };
                match self.update(ctx, uuid, upd).await {
                    Ok(_) => crate::vif::plug_vifs(self.driver.as_ref(), &nw).await,
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        };
        if let Err(e) = &result {
            warn!(instance = %uuid, "cannot change the fixed IPs: {e}");
            self.record_fault(ctx, uuid, e).await;
        }
        result
    }

    /// Fault recorded, then ERROR with task_state cleared (Nova's
    /// `add_instance_fault_from_exc` plus `_set_instance_obj_error_state`;
    /// in this order, so that whoever sees ERROR also sees why).
    pub(crate) async fn set_error(&self, ctx: &RequestContext, uuid: Uuid, err: &NovaError) {
        self.record_fault(ctx, uuid, err).await;
        let upd = InstanceUpdate {
            vm_state: Some(VmState::Error),
            task_state: Some(None),
            ..Default::default()
        };
        if let Err(e) = self.update(ctx, uuid, upd).await {
            warn!(instance = %uuid, "cannot set ERROR: {e}");
        }
    }

    /// Record `err` as the instance's fault, seen on this host.
    pub(crate) async fn record_fault(&self, ctx: &RequestContext, uuid: Uuid, err: &NovaError) {
        let fault = InstanceFault::from_error(uuid, err, Some(self.host().to_string()));
        if let Err(e) = self.conductor.instance_fault_create(ctx, fault).await {
            warn!(instance = %uuid, "cannot record fault: {e}");
        }
    }

    /// The build proper: networking, then spawning, then ACTIVE.
    async fn do_build(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        image: &ImageMeta,
        injected: &Injected,
    ) -> Result<(), NovaError> {
        use TaskState as T;
        let uuid = inst.uuid;
        // Expected: exactly the state this build found (SCHEDULING, or a
        // later step when a build interrupted by a restart is done again),
        // never "any build step": a copy of this update redelivered to a
        // restarted conductor after the build went on would otherwise take
        // it back to NETWORKING.
        self.update(
            ctx,
            uuid,
            InstanceUpdate {
                task_state: Some(Some(T::Networking)),
                expected_task_state: Some(vec![inst.task_state]),
                ..Default::default()
            },
        )
        .await?;
        // What the API recorded from the request's `networks`: "auto",
        // "none" or a list of network requests.
        let requested = inst
            .system_metadata
            .get("requested_networks")
            .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok());
        let nw = match requested {
            Some(serde_json::Value::String(s)) if s == "none" => NetworkInfo::new(),
            other => {
                let ids = other.and_then(|v| serde_json::from_value::<Vec<NetworkRequest>>(v).ok());
                self.network
                    .allocate_for_instance(
                        ctx,
                        uuid,
                        inst.project_id.clone(),
                        self.host().into(),
                        ids,
                    )
                    .await?
            }
        };
        // The network info and SPAWNING in one save: there are no block
        // devices to prepare here, so BLOCK_DEVICE_MAPPING would be set and
        // left in two consecutive round trips.
        let inst = self
            .update(
                ctx,
                uuid,
                InstanceUpdate {
                    network_info: Some(nw.clone()),
                    task_state: Some(Some(T::Spawning)),
                    expected_task_state: Some(vec![Some(T::Networking)]),
                    ..self.default_device_names(inst)
                },
            )
            .await?;
        let devices = self.spawn_guest(ctx, &inst, image, &nw, injected).await?;
        let ps = self.power_state_of(&inst).await;
        self.update(
            ctx,
            uuid,
            InstanceUpdate {
                device_metadata: devices.map(Some),
                vm_state: Some(VmState::Active),
                task_state: Some(None),
                power_state: Some(ps),
                launched_at: Some(Some(Utc::now())),
                expected_task_state: Some(vec![Some(T::Spawning)]),
                ..Default::default()
            },
        )
        .await?;
        info!(instance = %uuid, "instance spawned successfully");
        Ok(())
    }

    /// Nova's `_default_block_device_names`: the root device (kept once
    /// set) and the devices of the flavor's ephemeral and swap disks.
    pub(crate) fn default_device_names(&self, inst: &Instance) -> InstanceUpdate {
        let (ephemeral, swap) = local_devices(inst);
        InstanceUpdate {
            root_device_name: inst
                .root_device_name
                .is_none()
                .then(|| Some(self.driver.default_root_device_name())),
            default_ephemeral_device: ephemeral,
            default_swap_device: swap,
            ..Default::default()
        }
    }

    /// Nova's handling of a failed `_build_and_run_instance`: clean up; then,
    /// unless the build must not go elsewhere or rescheduling is disabled,
    /// put the instance back to SCHEDULING and cast `build_instances` to the
    /// conductor with this host's failure added to the retry information:
    /// the conductor releases the claim (a compute host never moves an
    /// instance itself) and builds elsewhere. Otherwise ERROR with a fault.
    /// A delete that raced the build owns the instance: nothing more is done.
    async fn build_failed(&self, ctx: &RequestContext, build: FailedBuild<'_>, e: NovaError) {
        use TaskState as T;
        let uuid = build.inst.uuid;
        warn!(instance = %uuid, "build failed: {e}");
        self.cleanup_build(ctx, build.inst).await;
        // The step the build failed at: the hand-back below expects exactly
        // it (see do_build on redelivered updates).
        let failed_at = match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) if transitions::DELETE.expects(i.task_state) => {
                info!(instance = %uuid, "deleted during the build");
                self.event(ctx, uuid, EVENT_BUILD, Some(Err(&e))).await;
                return;
            }
            Ok(i) if BUILD_STEPS.contains(&i.task_state) => i.task_state,
            Ok(i) => {
                info!(instance = %uuid, task_state = ?i.task_state, "no longer building; not rescheduling");
                self.event(ctx, uuid, EVENT_BUILD, Some(Err(&e))).await;
                return;
            }
            Err(NovaError::InstanceNotFound { .. }) => {
                info!(instance = %uuid, "deleted during the build");
                return;
            }
            Err(_) => build.inst.task_state,
        };
        let retry = match build.filter_properties.retry {
            Some(retry) if !aborts_build(&e) => retry,
            _ => {
                self.set_error(ctx, uuid, &e).await;
                self.event(ctx, uuid, EVENT_BUILD, Some(Err(&e))).await;
                return;
            }
        };
        let reason = e.to_string();
        let mut retry = retry;
        retry.record_failure(self.host(), &build.node, &reason);
        let handed_back = self
            .update(
                ctx,
                uuid,
                InstanceUpdate {
                    task_state: Some(Some(T::Scheduling)),
                    expected_task_state: Some(vec![failed_at]),
                    ..Default::default()
                },
            )
            .await;
        let inst = match handed_back {
            Ok(i) => i,
            Err(ue @ NovaError::UnexpectedTaskStateError { .. }) => {
                info!(instance = %uuid, "not rescheduling (a delete came first): {ue}");
                self.event(ctx, uuid, EVENT_BUILD, Some(Err(&e))).await;
                return;
            }
            Err(ue) => {
                error!(instance = %uuid, "cannot hand the build back to reschedule it: {ue}");
                self.set_error(ctx, uuid, &e).await;
                self.event(ctx, uuid, EVENT_BUILD, Some(Err(&e))).await;
                return;
            }
        };
        let rescheduled = NovaError::RescheduledException {
            instance_uuid: uuid.to_string(),
            reason,
        };
        self.event(ctx, uuid, EVENT_BUILD, Some(Err(&rescheduled)))
            .await;
        let cast = self
            .compute_task
            .build_instances(
                ctx,
                vec![inst],
                build.image,
                FilterProperties { retry: Some(retry) },
                build.injected.admin_password,
                build.injected.injected_files,
                build.request_spec,
                vec![build.host_list],
            )
            .await;
        match cast {
            Ok(()) => info!(instance = %uuid, "{rescheduled}"),
            Err(ce) => {
                error!(instance = %uuid, "cannot reschedule: {ce}");
                self.set_error(ctx, uuid, &e).await;
            }
        }
    }

    /// Tear down what a failed or aborted build left: the guest and the network.
    async fn cleanup_build(&self, ctx: &RequestContext, inst: &Instance) {
        if let Err(e) = self.driver.destroy(inst, &NetworkInfo::new()).await {
            warn!(instance = %inst.uuid, "cleanup: cannot destroy guest: {e}");
        }
        self.unfilter_instance(inst).await;
        if let Err(e) = self
            .network
            .deallocate_for_instance(ctx, inst.uuid, Some(self.host().into()))
            .await
        {
            warn!(instance = %inst.uuid, "cleanup: cannot deallocate network: {e}");
        }
    }

    /// Delete: destroy the guest, release the network, soft-delete the record.
    pub(crate) async fn do_terminate(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> Result<(), NovaError> {
        self.driver
            .destroy(inst, &inst.network_info)
            .await
            .map_err(virt_to_nova)?;
        self.unfilter_instance(inst).await;
        self.network
            .deallocate_for_instance(ctx, inst.uuid, Some(self.host().into()))
            .await?;
        self.conductor.instance_destroy(ctx, inst.uuid).await?;
        info!(instance = %inst.uuid, "instance destroyed");
        Ok(())
    }

    /// `init_host`: reconcile the database with the hypervisor after a (re)start.
    /// Record the power states that changed, in one conductor call (one
    /// `instance_update` each with a conductor from before it).
    async fn record_power_states(&self, ctx: &RequestContext, power_states: Vec<(Uuid, i32)>) {
        if power_states.is_empty() {
            return;
        }
        let n = power_states.len();
        match self
            .idempotent
            .instance_sync_power_states(ctx, self.host().to_string(), power_states.clone())
            .await
        {
            Ok(changed) => info!(changed, of = n, "power states recorded"),
            Err(NovaError::UnsupportedRpcMethod { .. }) => {
                for (uuid, ps) in power_states {
                    let _ = self
                        .update(
                            ctx,
                            uuid,
                            InstanceUpdate {
                                power_state: Some(ps),
                                ..Default::default()
                            },
                        )
                        .await;
                }
            }
            Err(e) => warn!("cannot record the power states: {e}"),
        }
    }

    pub async fn init_host(self: &Arc<Self>) -> Result<(), NovaError> {
        self.update_available_resource().await?;
        // Instances evacuated while this host was down are another host's now.
        if let Err(e) = self.destroy_evacuated_instances().await {
            warn!("cannot clean up evacuated instances: {e}");
        }
        let ctx = RequestContext::admin();
        let mine = self
            .idempotent
            .instance_get_all_by_filters(
                &ctx,
                InstanceFilters {
                    host: Some(self.host().to_string()),
                    ..Default::default()
                },
            )
            .await?;
        let on_hv: HashSet<Uuid> = self
            .driver
            .list_instance_uuids()
            .await
            .map_err(virt_to_nova)?
            .into_iter()
            .collect();
        let mut interrupted = Vec::new();
        let mut rescues = Vec::new();
        let mut power_states = Vec::new();
        for inst in &mine {
            if transitions::DELETE.expects(inst.task_state) {
                info!(instance = %inst.uuid, "finishing an interrupted delete");
                let _g = self.lock_instance(inst.uuid).await;
                if let Err(e) = self.do_terminate(&ctx, inst).await {
                    self.set_error(&ctx, inst.uuid, &e).await;
                }
                continue;
            }
            if inst.vm_state == VmState::Building {
                interrupted.push(inst.uuid);
                continue;
            }
            if self.recover_shelving(&ctx, inst).await {
                continue;
            }
            if transitions::RESCUE.expects(inst.task_state)
                || transitions::UNRESCUE.expects(inst.task_state)
            {
                rescues.push(inst.uuid);
            }
            if transitions::CHANGE_PASSWORD.expects(inst.task_state) {
                self.clear_interrupted_password_change(&ctx, inst.uuid)
                    .await;
            }
            // Nova's init_host plugs every instance's VIFs: after a host
            // reboot the bridges its guests use are gone.
            if let Err(e) = crate::vif::plug_vifs(self.driver.as_ref(), &inst.network_info).await {
                warn!(instance = %inst.uuid, "cannot plug VIFs: {e}");
            }
            // And restores its firewall: the chains went with the old process's state.
            if let Err(e) = self.filter_instance(&ctx, inst, &inst.network_info).await {
                warn!(instance = %inst.uuid, "cannot restore the firewall rules: {e}");
            }
            // Keep the recorded power state in line with the hypervisor.
            let ps = match self.driver.get_info(inst).await {
                Ok(i) => i.power_state,
                Err(VirtError::InstanceNotFound(_)) => power_state::NOSTATE,
                Err(e) => {
                    warn!(instance = %inst.uuid, "cannot read power state: {e}");
                    continue;
                }
            };
            if ps != inst.power_state {
                info!(instance = %inst.uuid, from = inst.power_state, to = ps, "power state changed while we were away");
                power_states.push((inst.uuid, ps));
            }
        }
        self.record_power_states(&ctx, power_states).await;
        // Resizes and migrations this host was in the middle of.
        if let Err(e) = self.recover_migrations().await {
            warn!("cannot recover interrupted migrations: {e}");
        }
        // Guests whose instance was deleted while this host was away.
        let known: HashSet<Uuid> = mine.iter().map(|i| i.uuid).collect();
        let mut deleted_ctx = ctx.clone();
        deleted_ctx.read_deleted = ReadDeleted::Yes;
        for uuid in on_hv.difference(&known) {
            if let Ok(inst) = self
                .conductor
                .instance_get_by_uuid(&deleted_ctx, *uuid)
                .await
            {
                if inst.deleted && inst.host.as_deref() == Some(self.host()) {
                    info!(instance = %uuid, "destroying the guest of a deleted instance");
                    if let Err(e) = self.driver.destroy(&inst, &inst.network_info).await {
                        warn!(instance = %uuid, "cannot destroy: {e}");
                    }
                }
            }
        }
        self.recover_rescues(
            rescues,
            Duration::from_secs(self.cfg.default.report_interval * 3),
        );
        // Builds interrupted by the restart come back as redelivered messages.
        // Whatever has not been picked up again after a grace period will not be.
        if !interrupted.is_empty() {
            let me = self.clone();
            let wait = Duration::from_secs(me.cfg.default.report_interval * 3);
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                for uuid in interrupted {
                    if guard(&me.building).contains(&uuid) {
                        continue;
                    }
                    let _g = me.lock_instance(uuid).await;
                    let ctx = RequestContext::admin();
                    let Ok(inst) = me.idempotent.instance_get_by_uuid(&ctx, uuid).await else {
                        continue;
                    };
                    if inst.vm_state != VmState::Building {
                        continue;
                    }
                    warn!(instance = %uuid, "build was interrupted by a nova-compute restart");
                    me.cleanup_build(&ctx, &inst).await;
                    let err = NovaError::BuildAbortException {
                        instance_uuid: uuid.to_string(),
                        reason: "the build was interrupted by a restart of nova-compute".into(),
                    };
                    me.set_error(&ctx, uuid, &err).await;
                }
            });
        }
        Ok(())
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::compute::Manager for ComputeManager {
    async fn build_and_run_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        image: ImageMeta,
        request_spec: RequestSpec,
        filter_properties: FilterProperties,
        admin_password: Option<String>,
        injected_files: Vec<(String, String)>,
        node: String,
        host_list: Vec<Selection>,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let injected = Injected {
            admin_password,
            injected_files,
        };
        let _lock = self.lock_instance(uuid).await;
        let inst = match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) => i,
            Err(NovaError::InstanceNotFound { .. }) => {
                info!(instance = %uuid, "deleted before the build started");
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if inst.vm_state != VmState::Building || !BUILD_STEPS.contains(&inst.task_state) {
            info!(instance = %uuid, vm_state = %inst.vm_state, "not building; nothing to do");
            return Ok(());
        }
        if inst.host.as_deref() != Some(self.host()) {
            error!(instance = %uuid, assigned = ?inst.host, "build sent to the wrong host; refusing");
            return Ok(());
        }
        guard(&self.building).insert(uuid);
        // The action event's start is recorded while the build starts (one
        // round trip less on the way to ACTIVE).
        let (_, outcome) = tokio::join!(
            self.event(ctx, uuid, EVENT_BUILD, None),
            self.do_build(ctx, &inst, &image, &injected)
        );
        guard(&self.building).remove(&uuid);
        match outcome {
            Ok(()) => self.event(ctx, uuid, EVENT_BUILD, Some(Ok(()))).await,
            Err(e) => {
                let build = FailedBuild {
                    inst: &inst,
                    image,
                    request_spec,
                    filter_properties,
                    injected,
                    node,
                    host_list,
                };
                self.build_failed(ctx, build, e).await
            }
        }
        Ok(())
    }

    async fn terminate_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let lock = self.lock_instance(uuid).await;
        let inst = match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) => i,
            Err(NovaError::InstanceNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        self.event(ctx, uuid, EVENT_TERMINATE, None).await;
        let outcome = self.do_terminate(ctx, &inst).await;
        match &outcome {
            Ok(()) => self.event(ctx, uuid, EVENT_TERMINATE, Some(Ok(()))).await,
            Err(e) => {
                error!(instance = %uuid, "delete failed: {e}");
                self.set_error(ctx, uuid, e).await;
                self.event(ctx, uuid, EVENT_TERMINATE, Some(Err(e))).await;
            }
        }
        drop(lock);
        self.forget_lock(uuid);
        Ok(())
    }

    async fn reboot_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        reboot_type: String,
    ) -> Result<(), NovaError> {
        let hard = reboot_type.eq_ignore_ascii_case("HARD");
        if hard {
            self.preempt_soft_reboot(instance.uuid);
        }
        let t = if hard {
            &transitions::HARD_REBOOT
        } else {
            &transitions::SOFT_REBOOT
        };
        self.run_action(ctx, &instance, t, actions::Op::Reboot { hard })
            .await
    }

    async fn stop_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.run_action(
            ctx,
            &instance,
            &transitions::STOP,
            actions::Op::PowerOff {
                clean: clean_shutdown,
            },
        )
        .await
    }

    async fn start_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let shelved = instance.system_metadata.contains_key("shelved_image_id");
        self.run_action(ctx, &instance, &transitions::START, actions::Op::PowerOn)
            .await?;
        if shelved {
            self.forget_shelved_image(ctx, uuid).await;
        }
        Ok(())
    }

    async fn pause_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.run_action(ctx, &instance, &transitions::PAUSE, actions::Op::Pause)
            .await
    }

    async fn unpause_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.run_action(ctx, &instance, &transitions::UNPAUSE, actions::Op::Unpause)
            .await
    }

    async fn suspend_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.run_action(ctx, &instance, &transitions::SUSPEND, actions::Op::Suspend)
            .await
    }

    async fn resume_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.run_action(ctx, &instance, &transitions::RESUME, actions::Op::Resume)
            .await
    }

    async fn snapshot_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        image_id: String,
    ) -> Result<(), NovaError> {
        self.snapshot(ctx, &instance, &image_id).await
    }

    async fn backup_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        image_id: String,
        backup_type: String,
        rotation: i64,
    ) -> Result<(), NovaError> {
        self.backup(ctx, instance.uuid, &image_id, &backup_type, rotation)
            .await
    }

    async fn shelve_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        image_id: String,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.shelve(ctx, instance.uuid, &image_id, clean_shutdown)
            .await
    }

    async fn shelve_offload_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.shelve_offload(ctx, instance.uuid, clean_shutdown)
            .await
    }

    async fn unshelve_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        image: Option<ImageMeta>,
        _filter_properties: FilterProperties,
        _node: String,
        _request_spec: RequestSpec,
    ) -> Result<(), NovaError> {
        self.unshelve(ctx, instance.uuid, image).await
    }

    async fn prep_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        flavor: nova_objects::Flavor,
        migration: nova_objects::Migration,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.do_prep_resize(ctx, instance, flavor, migration, clean_shutdown)
            .await
    }

    async fn resize_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: nova_objects::Migration,
        flavor: nova_objects::Flavor,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.do_resize_instance(ctx, instance, migration, flavor, clean_shutdown)
            .await
    }

    async fn finish_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: nova_objects::Migration,
        disk_info: String,
    ) -> Result<(), NovaError> {
        self.do_finish_resize(ctx, instance, migration, disk_info)
            .await
    }

    async fn confirm_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: nova_objects::Migration,
    ) -> Result<(), NovaError> {
        self.do_confirm_resize(ctx, instance, migration).await
    }

    async fn revert_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: nova_objects::Migration,
    ) -> Result<(), NovaError> {
        self.do_revert_resize(ctx, instance, migration).await
    }

    async fn finish_revert_resize(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration: nova_objects::Migration,
    ) -> Result<(), NovaError> {
        self.do_finish_revert_resize(ctx, instance, migration).await
    }

    async fn soft_delete_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.run_action(
            ctx,
            &instance,
            &transitions::SOFT_DELETE,
            actions::Op::SoftDelete,
        )
        .await
    }

    async fn restore_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.run_action(ctx, &instance, &transitions::RESTORE, actions::Op::Restore)
            .await
    }

    async fn rebuild_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        new_pass: Option<String>,
        injected_files: Vec<(String, String)>,
        image_ref: String,
        _orig_image_ref: String,
        preserve_ephemeral: bool,
        recreate: bool,
        on_shared_storage: bool,
        migration: Option<nova_objects::Migration>,
        scheduled_node: Option<String>,
        target_state: Option<String>,
    ) -> Result<(), NovaError> {
        if recreate {
            return self
                .evacuate(
                    ctx,
                    instance.uuid,
                    migration,
                    scheduled_node,
                    target_state,
                    on_shared_storage,
                )
                .await;
        }
        let injected = Injected {
            admin_password: new_pass,
            injected_files,
        };
        self.rebuild(
            ctx,
            instance.uuid,
            &image_ref,
            &injected,
            preserve_ephemeral,
        )
        .await
    }

    async fn rescue_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        rescue_password: Option<String>,
        rescue_image_ref: Option<String>,
        clean_shutdown: bool,
    ) -> Result<(), NovaError> {
        self.rescue(
            ctx,
            instance.uuid,
            rescue_password,
            rescue_image_ref,
            clean_shutdown,
        )
        .await
    }

    async fn unrescue_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.unrescue(ctx, instance.uuid).await
    }

    /// Nova's `inject_network_info`: re-plug the guest's VIFs from the
    /// network info now recorded (the bridges come back if they were lost);
    /// the guest itself reads its addresses over DHCP.
    async fn inject_network_info(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        let _lock = self.lock_instance(uuid).await;
        let inst = match self.idempotent.instance_get_by_uuid(ctx, uuid).await {
            Ok(i) => i,
            Err(NovaError::InstanceNotFound { .. }) => return Ok(()),
            Err(e) => return Err(e),
        };
        if inst.host.as_deref() != Some(self.host()) {
            warn!(instance = %uuid, host = ?inst.host, "inject_network_info for an instance of another host; ignored");
            return Ok(());
        }
        crate::vif::plug_vifs(self.driver.as_ref(), &inst.network_info).await?;
        info!(instance = %uuid, vifs = inst.network_info.len(), "network info injected");
        Ok(())
    }

    /// Nova's `reset_network`: the virt driver's to do, and no driver here
    /// (as Nova's libvirt, whose driver keeps the base class's no-op) has
    /// anything to reset; the guest keeps its DHCP-given addresses.
    async fn reset_network(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        info!(instance = %instance.uuid, "reset network: nothing to reset for this driver");
        Ok(())
    }

    /// Nova's `trigger_crash_dump`: the driver injects an NMI, the states
    /// stay as they are (what follows is up to the guest). A failure is the
    /// action event's error and the instance's fault, not an ERROR state.
    async fn trigger_crash_dump(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        let uuid = instance.uuid;
        if instance.host.as_deref() != Some(self.host()) {
            warn!(instance = %uuid, host = ?instance.host, "trigger_crash_dump for an instance of another host; ignored");
            return Ok(());
        }
        self.event(ctx, uuid, transitions::TRIGGER_CRASH_DUMP.event, None)
            .await;
        let result = self
            .driver
            .trigger_crash_dump(&instance)
            .await
            .map_err(virt_to_nova);
        if let Err(e) = &result {
            warn!(instance = %uuid, "cannot trigger a crash dump: {e}");
            self.record_fault(ctx, uuid, e).await;
        }
        self.event(
            ctx,
            uuid,
            transitions::TRIGGER_CRASH_DUMP.event,
            Some(result.as_ref().map(|_| ())),
        )
        .await;
        result
    }

    /// Nova's `cache_images`: each image into this host's image cache, one
    /// after the other; a driver that boots from no image files here (the
    /// fake one) answers `unsupported`, as Nova's without `cache_image`.
    async fn cache_images(
        &self,
        ctx: &RequestContext,
        image_ids: Vec<String>,
    ) -> Result<std::collections::BTreeMap<String, String>, NovaError> {
        info!(images = image_ids.len(), "caching images by request");
        let mut results = std::collections::BTreeMap::new();
        for id in image_ids {
            let status = if !self.driver.needs_image_files() {
                "unsupported"
            } else {
                match self.images.cache(ctx, &id).await {
                    Ok(true) => "cached",
                    Ok(false) => "existing",
                    Err(e) => {
                        warn!(image = %id, "failed to cache image: {e}");
                        "error"
                    }
                }
            };
            results.insert(id, status.to_string());
        }
        Ok(results)
    }

    /// Nova's `add_fixed_ip_to_instance` (addFixedIp).
    async fn add_fixed_ip_to_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        network_id: String,
    ) -> Result<(), NovaError> {
        let (uuid, host) = (instance.uuid, self.host().to_string());
        let _lock = self.lock_instance(uuid).await;
        let nw = self
            .network
            .add_fixed_ip_to_instance(ctx, uuid, host, network_id)
            .await;
        self.record_network_change(ctx, &instance, nw).await
    }

    /// Nova's `remove_fixed_ip_from_instance` (removeFixedIp).
    async fn remove_fixed_ip_from_instance(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        address: String,
    ) -> Result<(), NovaError> {
        let (uuid, host) = (instance.uuid, self.host().to_string());
        let _lock = self.lock_instance(uuid).await;
        let nw = self
            .network
            .remove_fixed_ip_from_instance(ctx, uuid, host, address)
            .await;
        self.record_network_change(ctx, &instance, nw).await
    }

    async fn get_host_uptime(&self, _ctx: &RequestContext) -> Result<String, NovaError> {
        self.driver.get_host_uptime().await.map_err(virt_to_nova)
    }

    async fn get_diagnostics(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
    ) -> Result<std::collections::BTreeMap<String, i64>, NovaError> {
        self.driver
            .get_diagnostics(&instance)
            .await
            .map_err(virt_to_nova)
    }

    async fn check_can_live_migrate_destination(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
        block_migration: Option<bool>,
        _disk_over_commit: Option<bool>,
    ) -> Result<LiveMigrateData, NovaError> {
        self.do_check_can_live_migrate_destination(instance, block_migration)
            .await
    }

    async fn check_can_live_migrate_source(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
        dest_check_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, NovaError> {
        self.do_check_can_live_migrate_source(instance, dest_check_data)
            .await
    }

    async fn pre_live_migration(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        block_migration: bool,
        migrate_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, NovaError> {
        let migrate_data = LiveMigrateData {
            block_migration: Some(block_migration),
            ..migrate_data
        };
        self.do_pre_live_migration(ctx, instance, migrate_data)
            .await
    }

    async fn live_migration(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        dest: String,
        block_migration: bool,
        migration: nova_objects::Migration,
        migrate_data: LiveMigrateData,
    ) -> Result<(), NovaError> {
        let migrate_data = LiveMigrateData {
            block_migration: Some(block_migration),
            ..migrate_data
        };
        self.do_live_migration(ctx, instance, dest, migration, migrate_data)
            .await
    }

    async fn post_live_migration_at_destination(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        _block_migration: bool,
        migration: nova_objects::Migration,
    ) -> Result<(), NovaError> {
        self.do_post_live_migration_at_destination(ctx, instance, migration)
            .await
    }

    async fn rollback_live_migration_at_destination(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        destroy_disks: bool,
        _migration: nova_objects::Migration,
    ) -> Result<(), NovaError> {
        self.do_rollback_live_migration_at_destination(ctx, instance, destroy_disks)
            .await
    }

    async fn live_migration_force_complete(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        self.do_live_migration_force_complete(instance).await
    }

    async fn live_migration_abort(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        migration_id: i64,
    ) -> Result<(), NovaError> {
        self.do_live_migration_abort(ctx, instance, migration_id)
            .await
    }

    async fn get_instance_diagnostics(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
    ) -> Result<nova_objects::Diagnostics, NovaError> {
        self.driver
            .get_instance_diagnostics(&instance)
            .await
            .map_err(virt_to_nova)
    }

    async fn set_admin_password(
        &self,
        ctx: &RequestContext,
        instance: Instance,
        new_pass: String,
    ) -> Result<(), NovaError> {
        self.change_password(ctx, instance.uuid, &new_pass).await
    }

    async fn get_console_output(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
        tail_length: Option<i64>,
    ) -> Result<String, NovaError> {
        let out = self
            .driver
            .get_console_output(&instance)
            .await
            .map_err(virt_to_nova)?;
        Ok(match tail_length {
            Some(n) if n >= 0 => {
                let lines: Vec<&str> = out.lines().collect();
                lines[lines.len().saturating_sub(n as usize)..].join("\n")
            }
            _ => out,
        })
    }

    async fn get_vnc_console(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
        console_type: String,
    ) -> Result<ConsoleConnectInfo, NovaError> {
        if !self.cfg.vnc.enabled {
            return Err(NovaError::ConsoleTypeUnavailable { console_type });
        }
        if console_type != "novnc" {
            return Err(NovaError::ConsoleTypeInvalid { console_type });
        }
        let port = self
            .driver
            .get_vnc_port(&instance)
            .await
            .map_err(virt_to_nova)?
            .ok_or(NovaError::ConsoleTypeUnavailable { console_type })?;
        Ok(ConsoleConnectInfo {
            host: self.cfg.vnc.server_proxyclient_address.clone(),
            port,
            internal_access_path: None,
        })
    }

    async fn refresh_instance_security_rules(
        &self,
        ctx: &RequestContext,
        instance: Instance,
    ) -> Result<(), NovaError> {
        let Some(fw) = &self.firewall else {
            return Ok(());
        };
        let rules = self
            .idempotent
            .security_group_rule_get_by_instance(ctx, instance.uuid)
            .await?;
        if !fw
            .refresh_instance_security_rules(&instance, &rules)
            .await?
        {
            info!(instance = %instance.uuid, "not filtered on this host: nothing to refresh");
        }
        Ok(())
    }

    async fn validate_console_port(
        &self,
        _ctx: &RequestContext,
        instance: Instance,
        port: i64,
        console_type: String,
    ) -> Result<bool, NovaError> {
        if console_type != "novnc" || !self.cfg.vnc.enabled {
            return Ok(false);
        }
        let now = self
            .driver
            .get_vnc_port(&instance)
            .await
            .map_err(virt_to_nova)?;
        Ok(now == Some(port))
    }
}

/// An update of a nullable device column.
type DeviceUpdate = Option<Option<String>>;

/// The devices of the instance's ephemeral and swap disks, as its flavor
/// has them now (an update of both columns).
pub(crate) fn local_devices(inst: &Instance) -> (DeviceUpdate, DeviceUpdate) {
    use nova_virt::local_disks::{default_device, LocalDiskKind};
    (
        Some(default_device(inst, LocalDiskKind::Ephemeral)),
        Some(default_device(inst, LocalDiskKind::Swap)),
    )
}
