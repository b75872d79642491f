//! Port of `nova/scheduler/host_manager.py`: the scheduler's own view of
//! every compute node, kept in memory.
//!
//! A periodic task (`[scheduler] periodic_task_interval`, and once at
//! startup) reads the compute nodes and their services from nova-conductor
//! and refreshes the host states. `select_destinations` never calls the
//! conductor: it chooses from these states and consumes each placement
//! locally (`consume_from_request`), so the next choice sees it before the
//! next refresh does. The one exception: while no compute node is known at
//! all (a scheduler just started, or a cloud with no compute host yet), a
//! request asks for a refresh now and waits for it.
//!
//! A refresh takes a node's figures from its report unless this scheduler
//! consumed from the node more recently than the report was written (Nova's
//! `update_from_compute_node`): a claim the conductor has not made yet is
//! not forgotten.
//!
//! A change the cache has not seen yet never places an instance wrongly and
//! never refuses one that fits: the conductor's claim refuses a host whose
//! nova-compute was disabled meanwhile (`Claim::ServiceDisabled`), and a
//! request that finds no valid host (a new node, a service enabled again,
//! a forced host not known yet) refreshes the states now and is tried once
//! more ([`HostManager::refresh_now`]); misses at the same time share one
//! refresh.

use chrono::{DateTime, Utc};
use nova_common::{NovaError, RequestContext};
use nova_objects::numa::{numa_fit_instance_to_host, NumaLimits, NumaTopology};
use nova_objects::{
    Aggregate, AvailabilityZones, ComputeNode, FreeResources, ResourceRequest, Service,
};
use nova_rpc::conductor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{watch, Notify};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use uuid::Uuid;

/// What the scheduler knows of one compute node.
#[derive(Debug, Clone)]
pub struct HostState {
    pub host: String,
    pub nodename: String,
    pub uuid: Uuid,
    pub availability_zone: String,
    pub service: Option<Service>,
    pub total_ram_mb: i64,
    pub total_vcpus: i64,
    pub total_disk_gb: i64,
    /// What still fits (the same rule the conductor's claim applies).
    pub free: FreeResources,
    /// Instances placed here, as reported plus those consumed since.
    pub num_instances: i64,
    /// Nova's `num_io_ops`: instances here in a task (the node's
    /// `current_workload`), plus those placed since (each a build).
    pub num_io_ops: i64,
    /// When `free` was last set: from the node's report, or by a placement here.
    pub updated: Option<DateTime<Utc>>,
    /// The node's latest report: what the hypervisor is and runs (the
    /// ImageProperties and ComputeCapabilities filters read it).
    pub node: Arc<ComputeNode>,
    /// The metadata of the host's aggregates (the Aggregate* filters).
    pub aggregate_metadata: Arc<crate::filters::AggregateMetadata>,
    /// The node's NUMA cells and what is used of them, as reported plus the
    /// placements since (NUMATopologyFilter); `None` when it reports none.
    pub numa_topology: Option<Arc<NumaTopology>>,
}

impl HostState {
    pub fn new(node: &ComputeNode, service: Option<Service>, az: &str) -> Self {
        HostState {
            host: node.host.clone(),
            nodename: node.hypervisor_hostname.clone(),
            uuid: node.uuid,
            availability_zone: az.to_string(),
            service,
            total_ram_mb: node.memory_mb,
            total_vcpus: node.vcpus,
            total_disk_gb: node.local_gb,
            free: FreeResources::of(node),
            num_instances: node.running_vms,
            num_io_ops: node.current_workload,
            updated: node.updated_at,
            node: Arc::new(node.clone()),
            aggregate_metadata: Default::default(),
            numa_topology: node.numa_topology.clone().map(Arc::new),
        }
    }

    /// Nova's `update_from_compute_node`: take the node's report, unless
    /// what this scheduler consumed here is newer than the report.
    pub fn update_from_compute_node(&mut self, node: &ComputeNode) {
        self.uuid = node.uuid;
        self.total_ram_mb = node.memory_mb;
        self.total_vcpus = node.vcpus;
        self.total_disk_gb = node.local_gb;
        self.node = Arc::new(node.clone());
        if let (Some(ours), Some(theirs)) = (self.updated, node.updated_at) {
            if ours > theirs {
                return;
            }
        }
        self.free = FreeResources::of(node);
        self.numa_topology = node.numa_topology.clone().map(Arc::new);
        self.num_instances = node.running_vms;
        self.num_io_ops = node.current_workload;
        self.updated = node.updated_at;
    }

    /// The node's allocation ratios, as NUMATopologyFilter applies them.
    pub fn numa_limits(&self) -> NumaLimits {
        NumaLimits {
            cpu_allocation_ratio: self.node.cpu_allocation_ratio,
            ram_allocation_ratio: self.node.ram_allocation_ratio,
        }
    }

    /// Nova's `consume_from_request`: account for an instance placed here.
    pub fn consume_from_request(&mut self, req: &ResourceRequest) {
        self.free.consume(req);
        // Its cells as the claim will fit them (the same rule, the same usage).
        let limits = self.numa_limits();
        if let (Some(want), Some(host)) = (&req.numa_topology, self.numa_topology.as_mut()) {
            if let Some(fitted) = numa_fit_instance_to_host(host, want, Some(&limits)) {
                Arc::make_mut(host).add(&fitted);
            }
        }
        self.num_instances += 1;
        // A build is an I/O operation (Nova counts BUILDING instances).
        self.num_io_ops += 1;
        self.updated = Some(Utc::now());
    }
}

/// Every compute node's state, sorted by host and node name, and when the
/// services they show were read.
#[derive(Debug, Default)]
pub struct HostStates {
    pub hosts: Vec<HostState>,
    pub refreshed_at: Option<DateTime<Utc>>,
    /// The host aggregates, by id: where the hosts' zones come from.
    aggregates: std::collections::BTreeMap<i64, Aggregate>,
}

impl HostStates {
    /// Replace the nodes and services with a fresh read (see the module docs);
    /// returns the nodes added and removed, as `host/node`.
    pub fn update(
        &mut self,
        nodes: &[ComputeNode],
        services: &[Service],
        default_az: &str,
        now: DateTime<Utc>,
    ) -> (Vec<String>, Vec<String>) {
        let compute_services: HashMap<&str, &Service> = services
            .iter()
            .filter(|s| s.binary == "nova-compute")
            .map(|s| (s.host.as_str(), s))
            .collect();
        let mut old: HashMap<(String, String), HostState> = std::mem::take(&mut self.hosts)
            .into_iter()
            .map(|h| ((h.host.clone(), h.nodename.clone()), h))
            .collect();
        let mut added = Vec::new();
        let mut hosts: Vec<HostState> = nodes
            .iter()
            .map(|n| {
                let service = compute_services.get(n.host.as_str()).map(|s| (*s).clone());
                match old.remove(&(n.host.clone(), n.hypervisor_hostname.clone())) {
                    Some(mut h) => {
                        h.update_from_compute_node(n);
                        h.service = service;
                        h
                    }
                    None => {
                        added.push(format!("{}/{}", n.host, n.hypervisor_hostname));
                        HostState::new(n, service, default_az)
                    }
                }
            })
            .collect();
        hosts.sort_by(|a, b| (&a.host, &a.nodename).cmp(&(&b.host, &b.nodename)));
        let mut removed: Vec<String> = old.into_keys().map(|(h, n)| format!("{h}/{n}")).collect();
        removed.sort();
        self.hosts = hosts;
        self.refreshed_at = Some(now);
        self.set_zones(default_az);
        (added, removed)
    }

    /// Replace the aggregates with a fresh read; the hosts' zones follow
    /// with the [`Self::update`] of the same refresh.
    fn replace_aggregates(&mut self, aggregates: Vec<Aggregate>) {
        self.aggregates = aggregates.into_iter().map(|a| (a.id, a)).collect();
    }

    /// Aggregates created or changed (`update_aggregates`).
    pub fn aggregates_changed(&mut self, changed: Vec<Aggregate>, default_az: &str) {
        self.aggregates
            .extend(changed.into_iter().map(|a| (a.id, a)));
        self.set_zones(default_az);
    }

    /// An aggregate deleted (`delete_aggregate`).
    pub fn aggregate_deleted(&mut self, id: i64, default_az: &str) {
        self.aggregates.remove(&id);
        self.set_zones(default_az);
    }

    /// Each host's zone and aggregate metadata, from the aggregates.
    fn set_zones(&mut self, default_az: &str) {
        let zones = AvailabilityZones::new(self.aggregates.values(), default_az);
        let metadata = crate::filters::aggregate_metadata_by_host(self.aggregates.values());
        for h in &mut self.hosts {
            let zone = zones.of(&h.host);
            if h.availability_zone != zone {
                h.availability_zone = zone.to_string();
            }
            h.aggregate_metadata = metadata.get(&h.host).cloned().unwrap_or_default();
        }
    }
}

/// Where the host states are read from: nova-conductor, in the daemon.
#[async_trait::async_trait]
pub trait HostSource: Send + Sync + 'static {
    /// Every compute node, every service and every host aggregate.
    async fn read(&self) -> Result<HostRead, NovaError>;
}

/// A read of what the host states are made of.
pub type HostRead = (Vec<ComputeNode>, Vec<Service>, Vec<Aggregate>);

#[async_trait::async_trait]
impl HostSource for conductor::Client {
    async fn read(&self) -> Result<HostRead, NovaError> {
        let ctx = RequestContext::admin();
        let reads = self.idempotent();
        tokio::try_join!(
            reads.compute_node_get_all(&ctx),
            reads.service_get_all(&ctx),
            reads.aggregate_get_all(&ctx)
        )
    }
}

/// The host states behind a lock, refreshed by [`HostManager::spawn_periodic`].
pub struct HostManager {
    states: Mutex<HostStates>,
    default_az: String,
    /// How many refreshes were started (each one's number).
    started: AtomicU64,
    /// The number of the latest refresh that succeeded (0: none yet):
    /// waiters watch it change.
    refreshes: watch::Sender<u64>,
    /// Ask the periodic task for a refresh now.
    nudge: Notify,
    /// The number of the latest refresh started before the latest
    /// aggregate cast: refreshes up to it read the aggregates before the
    /// cast's change, and keep those the casts made.
    aggregates_cast_after: AtomicU64,
}

/// How soon a failed refresh is tried again.
const REFRESH_RETRY: Duration = Duration::from_secs(2);

impl HostManager {
    pub fn new(default_availability_zone: &str) -> Self {
        HostManager {
            states: Mutex::new(HostStates::default()),
            default_az: default_availability_zone.to_string(),
            started: AtomicU64::new(0),
            refreshes: watch::channel(0).0,
            nudge: Notify::new(),
            aggregates_cast_after: AtomicU64::new(0),
        }
    }

    /// The states, for one request at a time.
    pub fn lock(&self) -> MutexGuard<'_, HostStates> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many compute nodes are known.
    pub fn len(&self) -> usize {
        self.lock().hosts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Take a fresh read of the compute nodes and services (the
    /// aggregates as they are).
    pub fn update(&self, nodes: &[ComputeNode], services: &[Service]) {
        let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        self.apply(n, nodes, services, None);
    }

    /// Aggregates created or changed (the `update_aggregates` cast).
    pub fn aggregates_changed(&self, aggregates: Vec<Aggregate>) {
        let mut states = self.lock();
        self.aggregates_cast_after
            .store(self.started.load(Ordering::SeqCst), Ordering::SeqCst);
        states.aggregates_changed(aggregates, &self.default_az);
    }

    /// An aggregate deleted (the `delete_aggregate` cast).
    pub fn aggregate_deleted(&self, aggregate: &Aggregate) {
        let mut states = self.lock();
        self.aggregates_cast_after
            .store(self.started.load(Ordering::SeqCst), Ordering::SeqCst);
        states.aggregate_deleted(aggregate.id, &self.default_az);
    }

    /// Apply the read of refresh number `n`.
    fn apply(
        &self,
        n: u64,
        nodes: &[ComputeNode],
        services: &[Service],
        aggregates: Option<Vec<Aggregate>>,
    ) {
        let mut states = self.lock();
        if let Some(a) = aggregates {
            if n > self.aggregates_cast_after.load(Ordering::SeqCst) {
                states.replace_aggregates(a);
            }
        }
        let (added, removed) = states.update(nodes, services, &self.default_az, Utc::now());
        drop(states);
        for n in added {
            info!(node = %n, "compute node added to the host states");
        }
        for n in removed {
            info!(node = %n, "compute node removed from the host states");
        }
        self.refreshes.send_modify(|last| *last = (*last).max(n));
    }

    /// Read the compute nodes and their services from `source`.
    pub async fn refresh(&self, source: &dyn HostSource) -> Result<(), NovaError> {
        let n = self.started.fetch_add(1, Ordering::SeqCst) + 1;
        let (nodes, services, aggregates) = source.read().await?;
        self.apply(n, &nodes, &services, Some(aggregates));
        Ok(())
    }

    /// Have the states refreshed by a read that starts after this call, and
    /// wait (up to `timeout`) for it. True when such a refresh succeeded.
    /// Calls at the same time share one refresh.
    pub async fn refresh_now(&self, timeout: Duration) -> bool {
        let mut rx = self.refreshes.subscribe();
        let before = self.started.load(Ordering::SeqCst);
        self.nudge.notify_one();
        tokio::time::timeout(timeout, rx.wait_for(|n| *n > before))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// When no compute node is known, ask for a refresh now and wait (up to
    /// `timeout`) for the next one to succeed. Otherwise return at once.
    pub async fn wait_for_hosts(&self, timeout: Duration) {
        let mut rx = self.refreshes.subscribe();
        let seen = *rx.borrow_and_update();
        if seen > 0 && !self.is_empty() {
            return;
        }
        info!("no compute node known yet: refreshing the host states before choosing");
        self.nudge.notify_one();
        let _ = tokio::time::timeout(timeout, rx.wait_for(|n| *n > seen)).await;
    }

    /// The periodic refresh: now, then every `interval` (never when None),
    /// and whenever a request finds no host. A failed refresh is tried again
    /// soon while it has never succeeded.
    pub fn spawn_periodic(
        self: &Arc<Self>,
        source: impl HostSource,
        interval: Option<Duration>,
        shutdown: CancellationToken,
    ) -> tokio::task::JoinHandle<()> {
        let hm = self.clone();
        tokio::spawn(async move {
            loop {
                let next = match hm.refresh(&source).await {
                    Ok(()) => interval,
                    Err(e) => {
                        warn!("cannot refresh the host states: {e}");
                        match interval {
                            Some(i) => Some(i.min(REFRESH_RETRY)),
                            None if hm.is_empty() => Some(REFRESH_RETRY),
                            None => None,
                        }
                    }
                };
                let sleep = async {
                    match next {
                        Some(d) => tokio::time::sleep(d).await,
                        None => std::future::pending().await,
                    }
                };
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = sleep => {}
                    _ = hm.nudge.notified() => {}
                }
            }
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A host with `free_ram` MB free, its service up or down, enabled or not.
    pub(crate) fn host(name: &str, free_ram: f64, up: bool, disabled: bool) -> HostState {
        let now = Utc::now();
        HostState {
            host: name.into(),
            nodename: name.into(),
            uuid: Uuid::nil(),
            availability_zone: "nova".into(),
            service: Some(Service {
                host: name.into(),
                binary: "nova-compute".into(),
                disabled,
                last_seen_up: Some(if up {
                    now
                } else {
                    now - chrono::Duration::seconds(600)
                }),
                ..Default::default()
            }),
            total_ram_mb: 4096,
            total_vcpus: 4,
            total_disk_gb: 100,
            free: FreeResources {
                memory_mb: free_ram,
                vcpus: 64.0,
                disk_gb: 100.0,
            },
            num_instances: 0,
            num_io_ops: 0,
            updated: None,
            node: Arc::new(ComputeNode::default()),
            aggregate_metadata: Default::default(),
            numa_topology: None,
        }
    }

    pub(crate) fn node(name: &str, memory_mb: i64, used: i64, at: DateTime<Utc>) -> ComputeNode {
        ComputeNode {
            host: name.into(),
            hypervisor_hostname: name.into(),
            vcpus: 8,
            memory_mb,
            memory_mb_used: used,
            local_gb: 100,
            cpu_allocation_ratio: 1.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            updated_at: Some(at),
            ..Default::default()
        }
    }

    pub(crate) fn service(name: &str) -> Service {
        Service {
            host: name.into(),
            binary: "nova-compute".into(),
            last_seen_up: Some(Utc::now()),
            ..Default::default()
        }
    }

    fn zone_aggregate(id: i64, hosts: &[&str], zone: &str) -> Aggregate {
        Aggregate {
            id,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            metadata: [("availability_zone".to_string(), zone.to_string())].into(),
            ..Default::default()
        }
    }

    /// Hosts take their zone from the aggregates of a refresh and at once
    /// from the casts; a refresh that read the aggregates before a cast
    /// does not undo it.
    #[tokio::test]
    async fn hosts_are_in_their_aggregates_zones() {
        struct Read(HostRead);
        #[async_trait::async_trait]
        impl HostSource for Read {
            async fn read(&self) -> Result<HostRead, NovaError> {
                Ok(self.0.clone())
            }
        }
        let t = Utc::now();
        let zone_of = |hm: &HostManager, host: &str| {
            hm.lock()
                .hosts
                .iter()
                .find(|h| h.host == host)
                .map(|h| h.availability_zone.clone())
                .unwrap_or_default()
        };
        let hm = HostManager::new("nova");
        let nodes = vec![node("a", 4096, 0, t), node("b", 4096, 0, t)];
        let services = vec![service("a"), service("b")];
        hm.refresh(&Read((
            nodes.clone(),
            services.clone(),
            vec![zone_aggregate(1, &["b"], "az1")],
        )))
        .await
        .unwrap();
        assert_eq!(zone_of(&hm, "a"), "nova");
        assert_eq!(zone_of(&hm, "b"), "az1");
        // Host a joins az1 too (update_aggregates) ...
        hm.aggregates_changed(vec![zone_aggregate(1, &["a", "b"], "az1")]);
        assert_eq!(zone_of(&hm, "a"), "az1");
        // ... and a refresh whose read began before the cast keeps it: a
        // read that starts after it takes what it read.
        let stale = Read((
            nodes.clone(),
            services.clone(),
            vec![zone_aggregate(1, &["b"], "az1")],
        ));
        let n = hm.started.load(Ordering::SeqCst);
        hm.aggregates_cast_after.store(n + 1, Ordering::SeqCst);
        hm.refresh(&stale).await.unwrap();
        assert_eq!(zone_of(&hm, "a"), "az1", "a stale read undid the cast");
        hm.refresh(&stale).await.unwrap();
        assert_eq!(zone_of(&hm, "a"), "nova");
        // The aggregate deleted (delete_aggregate): the default zone again.
        hm.aggregate_deleted(&zone_aggregate(1, &["b"], "az1"));
        assert_eq!(zone_of(&hm, "b"), "nova");
    }

    #[test]
    fn consumption_is_kept_until_a_newer_report_arrives() {
        let t0 = Utc::now() - chrono::Duration::seconds(60);
        let mut states = HostStates::default();
        let (added, removed) = states.update(
            &[node("b", 4096, 0, t0), node("a", 4096, 0, t0)],
            &[service("a"), service("b")],
            "nova",
            Utc::now(),
        );
        assert_eq!(added, ["b/b", "a/a"]);
        assert!(removed.is_empty());
        // Sorted by host: a, b.
        assert_eq!(states.hosts[0].host, "a");
        assert!(states.hosts[0].service.is_some());
        let req = ResourceRequest {
            memory_mb: 1024,
            vcpus: 1,
            disk_gb: 1,
            numa_topology: None,
        };
        states.hosts[0].consume_from_request(&req);
        assert_eq!(states.hosts[0].free.memory_mb, 3072.0);
        assert_eq!(states.hosts[0].num_instances, 1);
        // A report older than the consumption does not undo it ...
        states.update(
            &[node("a", 4096, 0, t0), node("b", 4096, 0, t0)],
            &[service("a")],
            "nova",
            Utc::now(),
        );
        assert_eq!(states.hosts[0].free.memory_mb, 3072.0);
        assert!(states.hosts[1].service.is_none(), "b's service is gone");
        // ... a newer one (the conductor's claim counted) replaces it.
        let later = Utc::now() + chrono::Duration::seconds(1);
        let (_, removed) = states.update(&[node("a", 4096, 2048, later)], &[], "nova", Utc::now());
        assert_eq!(removed, ["b/b"]);
        assert_eq!(states.hosts.len(), 1);
        assert_eq!(states.hosts[0].free.memory_mb, 2048.0);
    }

    #[tokio::test]
    async fn waiting_for_hosts_returns_at_once_when_some_are_known() {
        let hm = Arc::new(HostManager::new("nova"));
        // Nothing known: waits (here, for the update below).
        let waiter = {
            let hm = hm.clone();
            tokio::spawn(async move { hm.wait_for_hosts(Duration::from_secs(10)).await })
        };
        tokio::task::yield_now().await;
        hm.update(&[node("a", 4096, 0, Utc::now())], &[service("a")]);
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("woken by the refresh")
            .expect("joined");
        // Known: no wait at all.
        tokio::time::timeout(
            Duration::from_millis(100),
            hm.wait_for_hosts(Duration::from_secs(10)),
        )
        .await
        .expect("no wait");
    }
}
