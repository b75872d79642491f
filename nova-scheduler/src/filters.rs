//! Host filters and the RAM weigher, named as in Nova.

use chrono::{DateTime, Utc};
use nova_objects::{ComputeNode, FreeResources, RequestSpec, Resource, ResourceRequest, Service};

/// What the scheduler knows of one compute node while deciding.
#[derive(Debug, Clone)]
pub struct HostState {
    pub host: String,
    pub nodename: String,
    pub uuid: uuid::Uuid,
    pub availability_zone: String,
    pub service: Option<Service>,
    pub total_ram_mb: i64,
    pub total_vcpus: i64,
    pub total_disk_gb: i64,
    /// What still fits (the same rule the claim applies).
    pub free: FreeResources,
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
        }
    }

    /// Account for an instance placed here during this request.
    pub fn consume(&mut self, req: &ResourceRequest) {
        self.free.consume(req);
    }
}

/// Everything a filter may look at besides the host.
pub struct FilterContext<'a> {
    pub spec: &'a RequestSpec,
    pub request: ResourceRequest,
    pub now: DateTime<Utc>,
    pub service_down_time: u64,
}

/// One host filter.
pub trait Filter: Send + Sync {
    fn name(&self) -> &'static str;
    fn host_passes(&self, host: &HostState, ctx: &FilterContext<'_>) -> bool;
}

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
            Some(s) => !s.disabled && s.is_up(ctx.now, ctx.service_down_time),
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
                _ => None,
            }
        })
        .collect()
}

/// Run the chain. On success the passing hosts; otherwise the reason
/// naming the filter that removed the last hosts, with every filter's counts.
pub fn filter_hosts<'h>(
    filters: &[Box<dyn Filter>],
    hosts: &'h [HostState],
    ctx: &FilterContext<'_>,
) -> Result<Vec<&'h HostState>, String> {
    let mut remaining: Vec<&HostState> = hosts.iter().collect();
    if remaining.is_empty() {
        return Err(
            "There are not enough hosts available: no compute nodes are registered.".into(),
        );
    }
    let mut results = Vec::new();
    for f in filters {
        let start = remaining.len();
        remaining.retain(|h| f.host_passes(h, ctx));
        results.push(format!(
            "{}: (start: {start}, end: {})",
            f.name(),
            remaining.len()
        ));
        if remaining.is_empty() {
            return Err(format!(
                "There are not enough hosts available. Filter {} returned 0 hosts. Filter results: [{}]",
                f.name(),
                results.join(", ")
            ));
        }
    }
    Ok(remaining)
}

/// RAMWeigher: more free RAM is better (multiplier < 0 stacks instead).
/// Weights are normalised over the candidates as Nova does.
pub fn weigh_hosts(hosts: Vec<&HostState>, ram_multiplier: f64) -> Vec<&HostState> {
    let (min, max) = hosts.iter().fold((f64::MAX, f64::MIN), |(lo, hi), h| {
        (lo.min(h.free.memory_mb), hi.max(h.free.memory_mb))
    });
    let norm = |v: f64| {
        if max > min {
            (v - min) / (max - min)
        } else {
            0.0
        }
    };
    let mut weighed: Vec<(f64, &HostState)> = hosts
        .into_iter()
        .map(|h| (ram_multiplier * norm(h.free.memory_mb), h))
        .collect();
    weighed.sort_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(std::cmp::Ordering::Equal));
    weighed.into_iter().map(|(_, h)| h).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(name: &str, free_ram: f64, up: bool, disabled: bool) -> HostState {
        let now = Utc::now();
        HostState {
            host: name.into(),
            nodename: name.into(),
            uuid: uuid::Uuid::nil(),
            availability_zone: "nova".into(),
            service: Some(Service {
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
        }
    }

    fn ctx(spec: &RequestSpec, mem: i64) -> FilterContext<'_> {
        FilterContext {
            spec,
            request: ResourceRequest {
                memory_mb: mem,
                vcpus: 1,
                disk_gb: 1,
            },
            now: Utc::now(),
            service_down_time: 60,
        }
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
        let err = filter_hosts(&filters, &hosts, &ctx(&spec, 2048)).expect_err("no host");
        assert!(err.contains("Filter RamFilter returned 0 hosts"), "{err}");
        assert!(err.contains("ComputeFilter: (start: 2, end: 1)"), "{err}");
        let ok = filter_hosts(&filters, &hosts, &ctx(&spec, 512)).expect("fits");
        assert_eq!(ok.len(), 1);
        assert_eq!(ok[0].host, "a");
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
            filter_hosts(&retry, &hosts, &ctx(&spec, 1))
                .expect("b")
                .len(),
            1
        );
        let compute = build_filters(&["ComputeFilter".into()]);
        assert_eq!(
            filter_hosts(&compute, &hosts, &ctx(&spec, 1)).expect("a")[0].host,
            "a"
        );
    }

    #[test]
    fn ram_weigher_spreads_or_stacks() {
        let hosts = [
            host("small", 100.0, true, false),
            host("big", 900.0, true, false),
        ];
        let spread = weigh_hosts(hosts.iter().collect(), 1.0);
        assert_eq!(spread[0].host, "big");
        let stack = weigh_hosts(hosts.iter().collect(), -1.0);
        assert_eq!(stack[0].host, "small");
    }
}
