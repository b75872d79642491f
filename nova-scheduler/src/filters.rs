//! Host filters, named as in Nova (`nova/scheduler/filters/`).

use crate::host_manager::HostState;
use chrono::{DateTime, Utc};
use nova_objects::{RequestSpec, Resource, ResourceRequest};

/// Everything a filter may look at besides the host.
pub struct FilterContext<'a> {
    pub spec: &'a RequestSpec,
    pub request: ResourceRequest,
    /// ComputeFilter's cutoff: a service is up when it checked in since.
    pub services_up_since: DateTime<Utc>,
}

impl<'a> FilterContext<'a> {
    /// `now` is when the host states were read: ComputeFilter judges each
    /// service's last check-in as of then.
    pub fn new(
        spec: &'a RequestSpec,
        request: ResourceRequest,
        now: DateTime<Utc>,
        service_down_time: u64,
    ) -> Self {
        FilterContext {
            spec,
            request,
            services_up_since: now - chrono::Duration::seconds(service_down_time as i64),
        }
    }
}

/// One host filter.
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool;
}

/// Hosts a build of this instance was already tried on fail: the conductor
/// names them in `ignore_hosts` when it asks again for a reschedule (Nova's
/// RetryFilter reads the same list from `retry.hosts`).
pub struct RetryFilter;
impl Filter for RetryFilter {
    fn name(&self) -> &'static str {
        "RetryFilter"
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        !ctx.spec.ignore_hosts.contains(&host.host)
    }
}

pub struct AvailabilityZoneFilter;
impl Filter for AvailabilityZoneFilter {
    fn name(&self) -> &'static str {
        "AvailabilityZoneFilter"
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        ctx.spec
            .availability_zone
            .as_ref()
            .is_none_or(|az| az == &host.availability_zone)
    }
}

pub struct ComputeFilter;
impl Filter for ComputeFilter {
    fn name(&self) -> &'static str {
        "ComputeFilter"
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        match &host.service {
            Some(s) => !s.disabled && s.checked_in_since(ctx.services_up_since),
            None => false,
        }
    }
}

pub struct RamFilter;
impl Filter for RamFilter {
    fn name(&self) -> &'static str {
        Resource::Ram.filter_name()
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        host.free.fits_resource(Resource::Ram, &ctx.request)
    }
}

pub struct CoreFilter;
impl Filter for CoreFilter {
    fn name(&self) -> &'static str {
        Resource::Vcpu.filter_name()
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        host.free.fits_resource(Resource::Vcpu, &ctx.request)
    }
}

pub struct DiskFilter;
impl Filter for DiskFilter {
    fn name(&self) -> &'static str {
        Resource::Disk.filter_name()
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        host.free.fits_resource(Resource::Disk, &ctx.request)
    }
}

/// Nova's `_GroupAntiAffinityFilter` for `policy`: a host passes while it
/// holds fewer of the group's members than `max_server_per_host` (1 unless
/// the 2.64 rule says more). Members placed earlier in the same request
/// count (the scheduler adds each choice to the group's hosts).
fn anti_affinity_passes(policy: &str, host: &HostState, ctx: &FilterContext<'_>) -> bool {
    match &ctx.spec.instance_group {
        Some(g) if g.policy == policy => g.members_on(&host.host) < g.max_server_per_host(),
        _ => true,
    }
}

/// Nova's `_GroupAffinityFilter` for `policy`: once a member is placed,
/// only the hosts holding members pass.
fn affinity_passes(policy: &str, host: &HostState, ctx: &FilterContext<'_>) -> bool {
    match &ctx.spec.instance_group {
        Some(g) if g.policy == policy && !g.hosts.is_empty() => g.hosts.contains(&host.host),
        _ => true,
    }
}

pub struct ServerGroupAntiAffinityFilter;
impl Filter for ServerGroupAntiAffinityFilter {
    fn name(&self) -> &'static str {
        "ServerGroupAntiAffinityFilter"
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        anti_affinity_passes("anti-affinity", host, ctx)
    }
}

pub struct ServerGroupAffinityFilter;
impl Filter for ServerGroupAffinityFilter {
    fn name(&self) -> &'static str {
        "ServerGroupAffinityFilter"
    }
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        affinity_passes("affinity", host, ctx)
    }
}

/// Build the filter chain from `enabled_filters` (names validated by the config loader).
pub fn build_filters(names: &[String]) -> Vec<Box<dyn Filter>> {
    names
        .iter()
        .filter_map(|n| -> Option<Box<dyn Filter>> {
            match n.as_str() {
                "RetryFilter" => Some(Box::new(RetryFilter)),
                "AvailabilityZoneFilter" => Some(Box::new(AvailabilityZoneFilter)),
                "ComputeFilter" => Some(Box::new(ComputeFilter)),
                "RamFilter" => Some(Box::new(RamFilter)),
                "CoreFilter" => Some(Box::new(CoreFilter)),
                "DiskFilter" => Some(Box::new(DiskFilter)),
                "ServerGroupAntiAffinityFilter" => Some(Box::new(ServerGroupAntiAffinityFilter)),
                "ServerGroupAffinityFilter" => Some(Box::new(ServerGroupAffinityFilter)),
                _ => None,
            }
        })
        .collect()
}

/// Run the chain over the `candidates` (indices into `hosts`). On success
/// the passing ones, in their order; otherwise the reason naming the filter
/// that removed the last hosts, with every filter's counts.
pub fn filter_hosts(
    filters: &[Box<dyn Filter>],
    hosts: &[HostState],
    candidates: &[usize],
    ctx: &FilterContext<'_>,
) -> Result<Vec<usize>, String> {
    if candidates.is_empty() {
        return Err(
            "There are not enough hosts available: no compute nodes are registered.".into(),
        );
    }
    // One pass, every filter on each host in turn (a host's state is read once) ...
    let passing: Vec<usize> = candidates
        .iter()
        .copied()
        .filter(|&i| filters.iter().all(|f| f.host_passes(&hosts[i], ctx)))
        .collect();
    if !passing.is_empty() {
        return Ok(passing);
    }
    // ... and, only when none passes, filter by filter to tell which one removed the last hosts.
    let mut candidates = candidates.to_vec();
    let mut results = Vec::new();
    for f in filters {
        let start = candidates.len();
        candidates.retain(|&i| f.host_passes(&hosts[i], ctx));
        results.push(format!(
            "{}: (start: {start}, end: {})",
            f.name(),
            candidates.len()
        ));
        if candidates.is_empty() {
            return Err(format!(
                "There are not enough hosts available. Filter {} returned 0 hosts. Filter results: [{}]",
                f.name(),
                results.join(", ")
            ));
        }
    }
    Ok(candidates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::host;
    use nova_objects::{ComputeNode, FreeResources};

    fn ctx(spec: &RequestSpec, mem: i64) -> FilterContext<'_> {
        let request = ResourceRequest {
            memory_mb: mem,
            vcpus: 1,
            disk_gb: 1,
        };
        FilterContext::new(spec, request, Utc::now(), 60)
    }

    fn all(hosts: &[HostState]) -> Vec<usize> {
        (0..hosts.len()).collect()
    }

    #[test]
    fn core_filter_counts_reserved_host_cpus_as_the_claim_does() {
        let node = ComputeNode {
            vcpus: 2,
            memory_mb: 4096,
            local_gb: 100,
            cpu_allocation_ratio: 1.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_host_cpus: 1,
            ..Default::default()
        };
        let h = HostState::new(&node, None, "nova");
        let spec = RequestSpec::default();
        let mut c = ctx(&spec, 64);
        c.request.vcpus = 2;
        assert!(!CoreFilter.host_passes(&h, &c));
        assert_eq!(
            FreeResources::of(&node).fits(&c.request),
            Err(Resource::Vcpu)
        );
        c.request.vcpus = 1;
        assert!(CoreFilter.host_passes(&h, &c));
    }

    #[test]
    fn reason_names_the_filter_that_removed_the_last_hosts() {
        let spec = RequestSpec::default();
        let hosts = vec![
            host("a", 1000.0, true, false),
            host("b", 500.0, false, false),
        ];
        let filters = build_filters(&["ComputeFilter".into(), "RamFilter".into()]);
        let err =
            filter_hosts(&filters, &hosts, &all(&hosts), &ctx(&spec, 2048)).expect_err("no host");
        assert!(err.contains("Filter RamFilter returned 0 hosts"), "{err}");
        assert!(err.contains("ComputeFilter: (start: 2, end: 1)"), "{err}");
        let ok = filter_hosts(&filters, &hosts, &all(&hosts), &ctx(&spec, 512)).expect("fits");
        assert_eq!(ok, vec![0]);
    }

    #[test]
    fn server_group_filters_follow_the_members_hosts() {
        use nova_objects::InstanceGroup;
        let hosts = vec![
            host("a", 1000.0, true, false),
            host("b", 1000.0, true, false),
            host("c", 1000.0, true, false),
        ];
        let filters = build_filters(&[
            "ServerGroupAntiAffinityFilter".into(),
            "ServerGroupAffinityFilter".into(),
        ]);
        let group = |policy: &str, on: &[&str], rules: &[(&str, i64)]| RequestSpec {
            instance_group: Some(InstanceGroup {
                policy: policy.into(),
                hosts: on.iter().map(|h| h.to_string()).collect(),
                rules: rules.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let pass = |spec: &RequestSpec| filter_hosts(&filters, &hosts, &all(&hosts), &ctx(spec, 1));
        assert_eq!(pass(&group("anti-affinity", &["a"], &[])), Ok(vec![1, 2]));
        let full = pass(&group("anti-affinity", &["a", "b", "c"], &[])).expect_err("full");
        assert!(
            full.contains("Filter ServerGroupAntiAffinityFilter returned 0 hosts"),
            "{full}"
        );
        // max_server_per_host = 2: a holds two, b one.
        let two = group(
            "anti-affinity",
            &["a", "a", "b"],
            &[("max_server_per_host", 2)],
        );
        assert_eq!(pass(&two), Ok(vec![1, 2]));
        assert_eq!(pass(&group("affinity", &[], &[])), Ok(vec![0, 1, 2]));
        assert_eq!(pass(&group("affinity", &["b", "b"], &[])), Ok(vec![1]));
        // Soft policies and no group filter nothing.
        assert_eq!(
            pass(&group("soft-anti-affinity", &["a", "b", "c"], &[])),
            Ok(vec![0, 1, 2])
        );
        assert_eq!(
            pass(&group("soft-affinity", &["b"], &[])),
            Ok(vec![0, 1, 2])
        );
        assert_eq!(pass(&RequestSpec::default()), Ok(vec![0, 1, 2]));
    }

    #[test]
    fn disabled_hosts_and_retries_are_filtered() {
        let spec = RequestSpec {
            ignore_hosts: vec!["a".into()],
            ..Default::default()
        };
        let hosts = vec![
            host("a", 1000.0, true, false),
            host("b", 1000.0, true, true),
        ];
        let retry = build_filters(&["RetryFilter".into()]);
        assert_eq!(
            filter_hosts(&retry, &hosts, &all(&hosts), &ctx(&spec, 1)).expect("b"),
            vec![1]
        );
        let compute = build_filters(&["ComputeFilter".into()]);
        assert_eq!(
            filter_hosts(&compute, &hosts, &all(&hosts), &ctx(&spec, 1)).expect("a"),
            vec![0]
        );
    }
}
