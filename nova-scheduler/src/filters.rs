//! Host filters, named as in Nova (`nova/scheduler/filters/`).

mod aggregate_props;
mod compute_capabilities;
pub mod extra_specs_ops;
mod hints;
mod host_limits;
mod image_props;

use crate::host_manager::HostState;
pub use aggregate_props::{aggregate_metadata_by_host, AggregateMetadata};
use chrono::{DateTime, Utc};
use image_props::ImageRequirements;
use nova_common::config::SchedulerSection;
use nova_objects::{RequestSpec, Resource, ResourceRequest};
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The `[filter_scheduler]` options the filters read.
#[derive(Clone, Debug, PartialEq)]
pub struct FilterOptions {
    pub max_instances_per_host: i64,
    pub max_io_ops_per_host: i64,
    pub isolated_images: Vec<String>,
    pub isolated_hosts: Vec<String>,
    pub restrict_isolated_hosts_to_isolated_images: bool,
    pub image_props_namespace: Option<String>,
    pub image_props_separator: String,
}

impl FilterOptions {
    pub fn of(s: &SchedulerSection) -> Self {
        FilterOptions {
            max_instances_per_host: s.max_instances_per_host,
            max_io_ops_per_host: s.max_io_ops_per_host,
            isolated_images: s.isolated_images.clone(),
            isolated_hosts: s.isolated_hosts.clone(),
            restrict_isolated_hosts_to_isolated_images: s
                .restrict_isolated_hosts_to_isolated_images,
            image_props_namespace: s.aggregate_image_properties_isolation_namespace.clone(),
            image_props_separator: s.aggregate_image_properties_isolation_separator.clone(),
        }
    }
}

impl Default for FilterOptions {
    /// Nova's defaults.
    fn default() -> Self {
        FilterOptions {
            max_instances_per_host: 50,
            max_io_ops_per_host: 8,
            isolated_images: vec![],
            isolated_hosts: vec![],
            restrict_isolated_hosts_to_isolated_images: true,
            image_props_namespace: None,
            image_props_separator: ".".into(),
        }
    }
}

/// Everything a filter may look at besides the host.
pub struct FilterContext<'a> {
    pub spec: &'a RequestSpec,
    pub request: ResourceRequest,
    /// ComputeFilter's cutoff: a service is up when it checked in since.
    pub services_up_since: DateTime<Utc>,
    /// The hosts of the instances the `same_host` hint names (SameHostFilter).
    same_hosts: Vec<&'a str>,
    /// The hosts of the instances the `different_host` hint names
    /// (DifferentHostFilter).
    different_hosts: Vec<&'a str>,
    /// The kind of guest the image asks for (ImagePropertiesFilter).
    image: ImageRequirements,
    /// The flavor's capabilities extra specs (ComputeCapabilitiesFilter).
    capabilities: Vec<(Vec<String>, String)>,
    /// The flavor's aggregate extra specs (AggregateInstanceExtraSpecsFilter).
    aggregate_extra_specs: Vec<(String, String)>,
    pub options: &'a FilterOptions,
    /// Whether the image is one of `isolated_images` (IsolatedHostsFilter).
    image_isolated: bool,
    /// The image's properties as Nova's `ImageMetaProps`
    /// (AggregateImagePropertiesIsolation).
    image_props: BTreeMap<String, String>,
    /// `build_near_host_ip` + `cidr` (SimpleCIDRAffinityFilter; `Some(None)`: unreadable).
    near: Option<Option<(IpAddr, u8)>>,
    /// The `query` hint (JsonFilter; `Some(None)`: unreadable).
    query: Option<Option<serde_json::Value>>,
}

impl<'a> FilterContext<'a> {
    /// `now` is when the host states were read: ComputeFilter judges each
    /// service's last check-in as of then.
    pub fn new(
        spec: &'a RequestSpec,
        request: ResourceRequest,
        now: DateTime<Utc>,
        service_down_time: u64,
        options: &'a FilterOptions,
    ) -> Self {
        let hosts_of = |hint: &str| -> Vec<&'a str> {
            spec.hint_uuids(hint)
                .iter()
                .filter_map(|u| spec.hint_instance_hosts.get(u).map(String::as_str))
                .collect()
        };
        FilterContext {
            spec,
            request,
            services_up_since: now - chrono::Duration::seconds(service_down_time as i64),
            same_hosts: hosts_of("same_host"),
            different_hosts: hosts_of("different_host"),
            image: ImageRequirements::of(&spec.image),
            capabilities: compute_capabilities::requirements(&spec.flavor.extra_specs),
            aggregate_extra_specs: aggregate_props::extra_spec_requirements(
                &spec.flavor.extra_specs,
            ),
            options,
            image_isolated: options.isolated_images.contains(&spec.image.id),
            image_props: aggregate_props::image_meta_props(&spec.image.properties),
            near: hints::cidr_affinity(spec),
            query: hints::json_query(spec),
        }
    }
}

/// One host filter, by Nova's name. An enum rather than trait objects: the
/// chain runs once per host per placement (10,000 hosts × every instance),
/// so each check is inlined into the one pass over the hosts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Filter {
    /// Hosts a build of this instance was already tried on fail: the
    /// conductor names them in `ignore_hosts` when it asks again for a
    /// reschedule (Nova's RetryFilter reads the same list from `retry.hosts`).
    Retry,
    AvailabilityZone,
    /// The host's nova-compute is enabled and up (as of the refresh).
    Compute,
    /// What still fits, by `nova_objects::FreeResources` (the rule the
    /// conductor's claim applies too).
    Resource(Resource),
    /// Nova's `ServerGroupAntiAffinityFilter`.
    ServerGroupAntiAffinity,
    /// Nova's `ServerGroupAffinityFilter`.
    ServerGroupAffinity,
    /// Nova's `DifferentHostFilter`: not on a host holding any of the
    /// instances the `different_host` hint names.
    DifferentHost,
    /// Nova's `SameHostFilter`: on a host holding one of the instances the
    /// `same_host` hint names.
    SameHost,
    /// Nova's `ImagePropertiesFilter`: the hypervisor runs the kind of
    /// guest (architecture, hypervisor type, VM mode, version) the image
    /// asks for.
    ImageProperties,
    /// Nova's `ComputeCapabilitiesFilter`: the host's capabilities meet
    /// the flavor's `capabilities:` extra specs.
    ComputeCapabilities,
    /// Nova's `AggregateInstanceExtraSpecsFilter`: the host's aggregates'
    /// metadata meets the flavor's `aggregate_instance_extra_specs:` (and
    /// unscoped) extra specs.
    AggregateInstanceExtraSpecs,
    /// Nova's `AggregateMultiTenancyIsolation`: a host whose aggregates name
    /// projects (`filter_tenant_id*`) takes only theirs.
    AggregateMultiTenancyIsolation,
    /// Nova's `AllHostsFilter`: every host passes.
    AllHosts,
    /// Nova's `NumInstancesFilter`: fewer instances than `max_instances_per_host`.
    NumInstances,
    /// Nova's `AggregateNumInstancesFilter`: as NumInstancesFilter, the cap
    /// from the host's aggregates' `max_instances_per_host` (the smallest).
    AggregateNumInstances,
    /// Nova's `IoOpsFilter`: fewer instances in an I/O-heavy task than
    /// `max_io_ops_per_host`.
    IoOps,
    /// Nova's `AggregateIoOpsFilter`: as IoOpsFilter, the cap from the
    /// host's aggregates' `max_io_ops_per_host` (the smallest).
    AggregateIoOps,
    /// Nova's `IsolatedHostsFilter`: `isolated_images` only on `isolated_hosts`.
    IsolatedHosts,
    /// Nova's `AggregateTypeAffinityFilter`: a host whose aggregates name
    /// flavors (`instance_type`) takes only those.
    AggregateTypeAffinity,
    /// Nova's `AggregateImagePropertiesIsolation`: the image's properties
    /// are among the values the host's aggregates give the same keys.
    AggregateImagePropertiesIsolation,
    /// Nova's `SimpleCIDRAffinityFilter`: a host whose `host_ip` is in the
    /// network the `build_near_host_ip` and `cidr` hints name.
    SimpleCidrAffinity,
    /// Nova's `JsonFilter`: a host the `query` hint holds for.
    Json,
    /// Nova's `NUMATopologyFilter`: the NUMA topology the flavor and image
    /// ask for fits the host's cells as they are used
    /// (`numa::numa_fit_instance_to_host`, the rule the conductor's claim
    /// applies too).
    NumaTopology,
}

impl Filter {
    pub fn name(&self) -> &'static str {
        match self {
            Filter::Retry => "RetryFilter",
            Filter::AvailabilityZone => "AvailabilityZoneFilter",
            Filter::Compute => "ComputeFilter",
            Filter::Resource(r) => r.filter_name(),
            Filter::ServerGroupAntiAffinity => "ServerGroupAntiAffinityFilter",
            Filter::ServerGroupAffinity => "ServerGroupAffinityFilter",
            Filter::DifferentHost => "DifferentHostFilter",
            Filter::SameHost => "SameHostFilter",
            Filter::ImageProperties => "ImagePropertiesFilter",
            Filter::ComputeCapabilities => "ComputeCapabilitiesFilter",
            Filter::AggregateInstanceExtraSpecs => "AggregateInstanceExtraSpecsFilter",
            Filter::AggregateMultiTenancyIsolation => "AggregateMultiTenancyIsolation",
            Filter::AllHosts => "AllHostsFilter",
            Filter::NumInstances => "NumInstancesFilter",
            Filter::AggregateNumInstances => "AggregateNumInstancesFilter",
            Filter::IoOps => "IoOpsFilter",
            Filter::AggregateIoOps => "AggregateIoOpsFilter",
            Filter::IsolatedHosts => "IsolatedHostsFilter",
            Filter::AggregateTypeAffinity => "AggregateTypeAffinityFilter",
            Filter::AggregateImagePropertiesIsolation => "AggregateImagePropertiesIsolation",
            Filter::SimpleCidrAffinity => "SimpleCIDRAffinityFilter",
            Filter::Json => "JsonFilter",
            Filter::NumaTopology => "NUMATopologyFilter",
        }
    }

    #[inline(always)]
    pub fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool {
        match self {
            Filter::Retry => !ctx.spec.ignore_hosts.contains(&host.host),
            Filter::AvailabilityZone => ctx
                .spec
                .availability_zone
                .as_ref()
                .is_none_or(|az| nova_objects::zone_includes(&host.availability_zone, az)),
            Filter::Compute => match &host.service {
                Some(s) => !s.disabled && s.checked_in_since(ctx.services_up_since),
                None => false,
            },
            Filter::Resource(r) => host.free.fits_resource(*r, &ctx.request),
            Filter::ServerGroupAntiAffinity => anti_affinity_passes("anti-affinity", host, ctx),
            Filter::ServerGroupAffinity => affinity_passes("affinity", host, ctx),
            Filter::DifferentHost => !ctx.different_hosts.contains(&host.host.as_str()),
            Filter::SameHost => ctx.same_hosts.contains(&host.host.as_str()),
            Filter::ImageProperties => ctx
                .image
                .supported_by(&host.node.supported_instances, host.node.hypervisor_version),
            Filter::ComputeCapabilities => {
                compute_capabilities::host_passes(host, &ctx.capabilities)
            }
            Filter::AggregateInstanceExtraSpecs => aggregate_props::extra_specs_pass(
                &host.aggregate_metadata,
                &ctx.aggregate_extra_specs,
            ),
            Filter::AggregateMultiTenancyIsolation => {
                aggregate_props::tenant_passes(&host.aggregate_metadata, &ctx.spec.project_id)
            }
            Filter::AllHosts => true,
            Filter::NumInstances => {
                host_limits::num_instances_passes(host, ctx.options.max_instances_per_host)
            }
            Filter::AggregateNumInstances => host_limits::num_instances_passes(
                host,
                host_limits::aggregate_limit(
                    &host.aggregate_metadata,
                    "max_instances_per_host",
                    ctx.options.max_instances_per_host,
                ),
            ),
            Filter::IoOps => host_limits::io_ops_passes(host, ctx.options.max_io_ops_per_host),
            Filter::AggregateIoOps => host_limits::io_ops_passes(
                host,
                host_limits::aggregate_limit(
                    &host.aggregate_metadata,
                    "max_io_ops_per_host",
                    ctx.options.max_io_ops_per_host,
                ),
            ),
            Filter::IsolatedHosts => host_limits::isolated_hosts_pass(
                &host.host,
                ctx.image_isolated,
                !ctx.options.isolated_images.is_empty(),
                &ctx.options.isolated_hosts,
                ctx.options.restrict_isolated_hosts_to_isolated_images,
            ),
            Filter::AggregateTypeAffinity => aggregate_props::type_affinity_passes(
                &host.aggregate_metadata,
                &ctx.spec.flavor.name,
            ),
            Filter::AggregateImagePropertiesIsolation => {
                aggregate_props::image_props_isolation_passes(
                    &host.aggregate_metadata,
                    &ctx.image_props,
                    ctx.options.image_props_namespace.as_deref(),
                    &ctx.options.image_props_separator,
                )
            }
            Filter::SimpleCidrAffinity => match ctx.near {
                None => true,
                Some(None) => false,
                Some(Some(net)) => hints::in_network(&host.node.host_ip, net),
            },
            Filter::Json => match &ctx.query {
                None => true,
                Some(None) => false,
                Some(Some(q)) => hints::json_passes(host, q),
            },
            Filter::NumaTopology => match (&ctx.request.numa_topology, &host.numa_topology) {
                (None, _) => true,
                (Some(_), None) => false,
                (Some(want), Some(cells)) => nova_objects::numa::numa_fit_instance_to_host(
                    cells,
                    want,
                    Some(&host.numa_limits()),
                )
                .is_some(),
            },
        }
    }

    /// Whether the filter can remove any host for this request (Nova's
    /// filters skip themselves the same way: no retries, no zone asked).
    fn applies(&self, ctx: &FilterContext<'_>) -> bool {
        match self {
            Filter::Retry => !ctx.spec.ignore_hosts.is_empty(),
            Filter::AvailabilityZone => ctx.spec.availability_zone.is_some(),
            Filter::Compute | Filter::Resource(_) => true,
            Filter::ServerGroupAntiAffinity => group_policy_is(ctx, "anti-affinity"),
            Filter::ServerGroupAffinity => group_policy_is(ctx, "affinity"),
            // As Nova's: an empty list asks for nothing.
            Filter::DifferentHost => has_hint(ctx, "different_host"),
            Filter::SameHost => has_hint(ctx, "same_host"),
            Filter::ImageProperties => ctx.image.asks(),
            Filter::ComputeCapabilities => !ctx.capabilities.is_empty(),
            Filter::AggregateInstanceExtraSpecs => !ctx.aggregate_extra_specs.is_empty(),
            Filter::AggregateMultiTenancyIsolation => true,
            Filter::AllHosts => false,
            Filter::NumInstances | Filter::AggregateNumInstances => true,
            Filter::IoOps | Filter::AggregateIoOps => true,
            Filter::IsolatedHosts => {
                !ctx.options.isolated_images.is_empty() || !ctx.options.isolated_hosts.is_empty()
            }
            Filter::AggregateTypeAffinity | Filter::AggregateImagePropertiesIsolation => true,
            Filter::SimpleCidrAffinity => ctx.near.is_some(),
            Filter::Json => ctx.query.is_some(),
            Filter::NumaTopology => ctx.request.numa_topology.is_some(),
        }
    }

    /// Whether placing instances changes its answer (what fits, and where
    /// the group's members are): the others are run once per request, not
    /// once per instance.
    fn depends_on_usage(&self) -> bool {
        // A capability or a query may read what is free (`free_ram_mb`,
        // `num_instances`); a placement counts as an instance and an I/O
        // operation.
        matches!(
            self,
            Filter::Resource(_)
                | Filter::ServerGroupAntiAffinity
                | Filter::ServerGroupAffinity
                | Filter::ComputeCapabilities
                | Filter::NumInstances
                | Filter::AggregateNumInstances
                | Filter::IoOps
                | Filter::AggregateIoOps
                | Filter::Json
                | Filter::NumaTopology
        )
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

fn has_hint(ctx: &FilterContext<'_>, hint: &str) -> bool {
    ctx.spec
        .scheduler_hints
        .get(hint)
        .is_some_and(|v| !v.is_empty())
}

fn group_policy_is(ctx: &FilterContext<'_>, policy: &str) -> bool {
    ctx.spec
        .instance_group
        .as_ref()
        .is_some_and(|g| g.policy == policy)
}

/// Build the filter chain from `enabled_filters` (names validated by the config loader).
pub fn build_filters(names: &[String]) -> Vec<Filter> {
    names
        .iter()
        .filter_map(|n| match n.as_str() {
            "RetryFilter" => Some(Filter::Retry),
            "AvailabilityZoneFilter" => Some(Filter::AvailabilityZone),
            "ComputeFilter" => Some(Filter::Compute),
            "RamFilter" => Some(Filter::Resource(Resource::Ram)),
            "CoreFilter" => Some(Filter::Resource(Resource::Vcpu)),
            "DiskFilter" => Some(Filter::Resource(Resource::Disk)),
            "ServerGroupAntiAffinityFilter" => Some(Filter::ServerGroupAntiAffinity),
            "ServerGroupAffinityFilter" => Some(Filter::ServerGroupAffinity),
            "DifferentHostFilter" => Some(Filter::DifferentHost),
            "SameHostFilter" => Some(Filter::SameHost),
            "ImagePropertiesFilter" => Some(Filter::ImageProperties),
            "ComputeCapabilitiesFilter" => Some(Filter::ComputeCapabilities),
            "AggregateInstanceExtraSpecsFilter" => Some(Filter::AggregateInstanceExtraSpecs),
            "AggregateMultiTenancyIsolation" => Some(Filter::AggregateMultiTenancyIsolation),
            "AllHostsFilter" => Some(Filter::AllHosts),
            "NumInstancesFilter" => Some(Filter::NumInstances),
            "AggregateNumInstancesFilter" => Some(Filter::AggregateNumInstances),
            "IoOpsFilter" => Some(Filter::IoOps),
            "AggregateIoOpsFilter" => Some(Filter::AggregateIoOps),
            "IsolatedHostsFilter" => Some(Filter::IsolatedHosts),
            "AggregateTypeAffinityFilter" => Some(Filter::AggregateTypeAffinity),
            "AggregateImagePropertiesIsolation" => Some(Filter::AggregateImagePropertiesIsolation),
            "SimpleCIDRAffinityFilter" => Some(Filter::SimpleCidrAffinity),
            "JsonFilter" => Some(Filter::Json),
            "NUMATopologyFilter" => Some(Filter::NumaTopology),
            _ => None,
        })
        .collect()
}

/// The chain split for one request: the filters whose answer holds for the
/// whole request, run once, and those that placing instances changes.
pub struct RequestFilters {
    all: Vec<Filter>,
    per_request: Vec<Filter>,
    per_instance: Vec<Filter>,
}

impl RequestFilters {
    pub fn new(filters: &[Filter], ctx: &FilterContext<'_>) -> Self {
        let active: Vec<Filter> = filters.iter().copied().filter(|f| f.applies(ctx)).collect();
        let (per_instance, per_request) = active.iter().partition(|f| f.depends_on_usage());
        RequestFilters {
            all: filters.to_vec(),
            per_request,
            per_instance,
        }
    }

    /// The `candidates` (indices into `hosts`) the per-request filters pass.
    pub fn request_pass(
        &self,
        hosts: &[HostState],
        candidates: impl Iterator<Item = usize>,
        ctx: &FilterContext<'_>,
    ) -> Vec<usize> {
        match self.per_request.as_slice() {
            [] => candidates.collect(),
            [only] => candidates
                .filter(|&i| only.host_passes(&hosts[i], ctx))
                .collect(),
            all => candidates
                .filter(|&i| all.iter().all(|f| f.host_passes(&hosts[i], ctx)))
                .collect(),
        }
    }

    /// Of `eligible` (what [`Self::request_pass`] left), those the
    /// per-instance filters pass now. When none passes, the reason, naming the
    /// filter that removed the last hosts of `candidates` (every host
    /// considered, listed only then), with every filter's counts.
    pub fn instance_pass(
        &self,
        hosts: &[HostState],
        candidates: &dyn Fn(&[HostState]) -> Vec<usize>,
        eligible: &[usize],
        ctx: &FilterContext<'_>,
        passing: &mut Vec<usize>,
    ) -> Result<(), String> {
        passing.clear();
        // The resource filters: one inlined check of what fits per host,
        // each enabled resource by `FreeResources::fits_resource`.
        let enabled = |r: Resource| self.per_instance.contains(&Filter::Resource(r));
        let (ram, vcpu, disk) = (
            enabled(Resource::Ram),
            enabled(Resource::Vcpu),
            enabled(Resource::Disk),
        );
        // The others (the server group filters, only when the request has a
        // group of their policy) where the group's members are now.
        let others: Vec<Filter> = self
            .per_instance
            .iter()
            .copied()
            .filter(|f| !matches!(f, Filter::Resource(_)))
            .collect();
        let req = &ctx.request;
        let fits = |i: usize| {
            let free = &hosts[i].free;
            (!ram || free.fits_resource(Resource::Ram, req))
                && (!vcpu || free.fits_resource(Resource::Vcpu, req))
                && (!disk || free.fits_resource(Resource::Disk, req))
        };
        // Most requests have no other per-instance filter: their pass stays
        // one small inlined check per host.
        if others.is_empty() {
            passing.extend(eligible.iter().copied().filter(|&i| fits(i)));
        } else {
            passing.extend(
                eligible
                    .iter()
                    .copied()
                    .filter(|&i| fits(i) && others.iter().all(|f| f.host_passes(&hosts[i], ctx))),
            );
        }
        if passing.is_empty() {
            return Err(explain(&self.all, hosts, &candidates(hosts), ctx));
        }
        Ok(())
    }
}

/// Run the chain over the `candidates` (indices into `hosts`). On success
/// the passing ones, in their order; otherwise the reason naming the filter
/// that removed the last hosts, with every filter's counts.
pub fn filter_hosts(
    filters: &[Filter],
    hosts: &[HostState],
    candidates: &[usize],
    ctx: &FilterContext<'_>,
) -> Result<Vec<usize>, String> {
    let rf = RequestFilters::new(filters, ctx);
    let eligible = rf.request_pass(hosts, candidates.iter().copied(), ctx);
    let mut passing = Vec::new();
    rf.instance_pass(
        hosts,
        &|_| candidates.to_vec(),
        &eligible,
        ctx,
        &mut passing,
    )?;
    Ok(passing)
}

/// Filter by filter, to tell which one removed the last hosts (only when
/// none passes: the one pass above reads each host's state once).
fn explain(
    filters: &[Filter],
    hosts: &[HostState],
    candidates: &[usize],
    ctx: &FilterContext<'_>,
) -> String {
    if candidates.is_empty() {
        return "There are not enough hosts available: no compute nodes are registered.".into();
    }
    let mut candidates = candidates.to_vec();
    let mut results = Vec::new();
    for f in filters {
        let start = candidates.len();
        // A filter with nothing to check for this request passes every host
        // (SameHostFilter without its hint would pass none).
        if f.applies(ctx) {
            candidates.retain(|&i| f.host_passes(&hosts[i], ctx));
        }
        results.push(format!(
            "{}: (start: {start}, end: {})",
            f.name(),
            candidates.len()
        ));
        if candidates.is_empty() {
            return format!(
                "There are not enough hosts available. Filter {} returned 0 hosts. Filter results: [{}]",
                f.name(),
                results.join(", ")
            );
        }
    }
    "There are not enough hosts available.".into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::host;
    use nova_objects::{ComputeNode, FreeResources};
    use serde_json::json;
    use uuid::Uuid;

    static DEFAULTS: std::sync::LazyLock<FilterOptions> =
        std::sync::LazyLock::new(FilterOptions::default);

    fn ctx(spec: &RequestSpec, mem: i64) -> FilterContext<'_> {
        let request = ResourceRequest {
            memory_mb: mem,
            vcpus: 1,
            disk_gb: 1,
            numa_topology: None,
        };
        FilterContext::new(spec, request, Utc::now(), 60, &DEFAULTS)
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
        assert!(!Filter::Resource(Resource::Vcpu).host_passes(&h, &c));
        assert_eq!(
            FreeResources::of(&node).fits(&c.request),
            Err(Resource::Vcpu)
        );
        c.request.vcpus = 1;
        assert!(Filter::Resource(Resource::Vcpu).host_passes(&h, &c));
    }

    #[test]
    fn reason_names_the_filter_that_removed_the_last_hosts() {
        let spec = RequestSpec::default();
        let hosts = vec![
            host("a", 1000.0, true, false),
            host("b", 500.0, false, false),
        ];
        // SameHostFilter (no hint asked for) before the one that removes
        // the last host: it checks nothing and is not named.
        let filters = build_filters(&[
            "ComputeFilter".into(),
            "SameHostFilter".into(),
            "RamFilter".into(),
        ]);
        let err =
            filter_hosts(&filters, &hosts, &all(&hosts), &ctx(&spec, 2048)).expect_err("no host");
        assert!(err.contains("Filter RamFilter returned 0 hosts"), "{err}");
        assert!(err.contains("ComputeFilter: (start: 2, end: 1)"), "{err}");
        assert!(err.contains("SameHostFilter: (start: 1, end: 1)"), "{err}");
        let ok = filter_hosts(&filters, &hosts, &all(&hosts), &ctx(&spec, 512)).expect("fits");
        assert_eq!(ok, vec![0]);
    }

    #[test]
    fn same_and_different_host_follow_the_hinted_instances() {
        let hosts = vec![
            host("a", 1000.0, true, false),
            host("b", 1000.0, true, false),
            host("c", 1000.0, true, false),
        ];
        let (on_a, on_b, gone) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut spec = RequestSpec {
            hint_instance_hosts: [(on_a, "a".to_string()), (on_b, "b".to_string())].into(),
            ..Default::default()
        };
        let passing = |spec: &RequestSpec, name: &str| {
            let filters = build_filters(&[name.to_string()]);
            filter_hosts(&filters, &hosts, &all(&hosts), &ctx(spec, 64)).unwrap_or_default()
        };
        // No hint, or an empty list: every host passes both.
        assert_eq!(passing(&spec, "DifferentHostFilter"), vec![0, 1, 2]);
        assert_eq!(passing(&spec, "SameHostFilter"), vec![0, 1, 2]);
        spec.scheduler_hints = [
            ("different_host".to_string(), vec![]),
            ("same_host".to_string(), vec![]),
        ]
        .into();
        assert_eq!(passing(&spec, "DifferentHostFilter"), vec![0, 1, 2]);
        assert_eq!(passing(&spec, "SameHostFilter"), vec![0, 1, 2]);
        // One uuid as a list of one, as the API stores a single value.
        spec.scheduler_hints = [
            ("different_host".to_string(), vec![json!(on_a.to_string())]),
            ("same_host".to_string(), vec![json!(on_b.to_string())]),
        ]
        .into();
        assert_eq!(passing(&spec, "DifferentHostFilter"), vec![1, 2]);
        assert_eq!(passing(&spec, "SameHostFilter"), vec![1]);
        // Several: away from all of them; beside any of them.
        spec.scheduler_hints = [
            (
                "different_host".to_string(),
                vec![json!(on_a.to_string()), json!(on_b.to_string())],
            ),
            (
                "same_host".to_string(),
                vec![json!(on_a.to_string()), json!(on_b.to_string())],
            ),
        ]
        .into();
        assert_eq!(passing(&spec, "DifferentHostFilter"), vec![2]);
        assert_eq!(passing(&spec, "SameHostFilter"), vec![0, 1]);
        // An instance that is on no host (deleted, unknown): nothing to avoid, nowhere to join.
        spec.scheduler_hints = [
            ("different_host".to_string(), vec![json!(gone.to_string())]),
            ("same_host".to_string(), vec![json!(gone.to_string())]),
        ]
        .into();
        assert_eq!(passing(&spec, "DifferentHostFilter"), vec![0, 1, 2]);
        assert_eq!(passing(&spec, "SameHostFilter"), Vec::<usize>::new());
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
