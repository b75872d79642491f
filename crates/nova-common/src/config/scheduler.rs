//! `[filter_scheduler]` and `[scheduler]`: what nova-scheduler filters and
//! weighs hosts with, how often it refreshes its host states, and how many
//! times a build is tried.

use super::opt::{
    at_least, boolean, config_section, float, int, list, list_of, optional_string, string,
};

/// The filters this scheduler implements (names as in Nova). An unknown
/// filter stops the daemon, as Nova's loader does.
pub const KNOWN_FILTERS: &[&str] = &[
    "RetryFilter",
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "RamFilter",
    "CoreFilter",
    "DiskFilter",
    "ServerGroupAntiAffinityFilter",
    "ServerGroupAffinityFilter",
    "DifferentHostFilter",
    "SameHostFilter",
    "ImagePropertiesFilter",
    "ComputeCapabilitiesFilter",
    "NUMATopologyFilter",
    "AggregateInstanceExtraSpecsFilter",
    "AggregateMultiTenancyIsolation",
    "AllHostsFilter",
    "NumInstancesFilter",
    "AggregateNumInstancesFilter",
    "IoOpsFilter",
    "AggregateIoOpsFilter",
    "IsolatedHostsFilter",
    "AggregateTypeAffinityFilter",
    "AggregateImagePropertiesIsolation",
    "SimpleCIDRAffinityFilter",
    "JsonFilter",
];

config_section! {
    /// `[filter_scheduler]` and `[scheduler]`.
    pub struct SchedulerSection in "filter_scheduler" {
        /// Filters the scheduler applies, in order.
        enabled_filters: Vec<String> = "RetryFilter,AvailabilityZoneFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter", list_of(KNOWN_FILTERS);
        /// Multiplier of the RAMWeigher (negative stacks).
        ram_weight_multiplier: f64 = "1.0", float(f64::MIN);
        /// Multiplier of the ServerGroupSoftAffinityWeigher: how much a host
        /// holding members of a `soft-affinity` group is preferred.
        soft_affinity_weight_multiplier: f64 = "1.0", float(0.0);
        /// Multiplier of the ServerGroupSoftAntiAffinityWeigher: how much a
        /// host holding members of a `soft-anti-affinity` group is avoided.
        soft_anti_affinity_weight_multiplier: f64 = "1.0", float(0.0);
        /// NumInstancesFilter (and AggregateNumInstancesFilter where no
        /// aggregate of the host sets `max_instances_per_host`): a host with
        /// this many instances takes no more.
        max_instances_per_host: i64 = "50", at_least(1);
        /// IoOpsFilter (and AggregateIoOpsFilter where no aggregate of the host
        /// sets `max_io_ops_per_host`): a host with this many instances in an
        /// I/O-heavy task (builds, resizes, snapshots, rebuilds, ...) takes no
        /// more.
        max_io_ops_per_host: i64 = "8", at_least(0);
        /// IsolatedHostsFilter: the images (ids) that run only on `isolated_hosts`.
        isolated_images: Vec<String> = "", list();
        /// IsolatedHostsFilter: the hosts kept for `isolated_images`.
        isolated_hosts: Vec<String> = "", list();
        /// IsolatedHostsFilter: whether `isolated_hosts` run only `isolated_images`.
        restrict_isolated_hosts_to_isolated_images: bool = "true", boolean();
        /// AggregateImagePropertiesIsolation: only the aggregate metadata keys in
        /// this namespace (`<namespace><separator><key>`) are compared with the
        /// image's properties; unset compares every key.
        aggregate_image_properties_isolation_namespace: Option<String> = "", optional_string();
        /// AggregateImagePropertiesIsolation: what separates the namespace from the key.
        aggregate_image_properties_isolation_separator: String = ".", string();
        /// Pick randomly among this many best hosts.
        host_subset_size: usize = "1", at_least(1);
        /// Maximum number of attempts to build an instance: the first build plus
        /// its reschedules. A build that fails on its compute host is tried again
        /// on another host (first the alternates the scheduler returned with the
        /// selected host, max_attempts - 1 of them, then the hosts the scheduler
        /// picks when asked again) until this many attempts were made; then the
        /// instance goes to ERROR. 1 disables rescheduling.
        max_attempts in "scheduler": u32 = "3", at_least(1);
        /// Seconds between runs of the scheduler's periodic task, which refreshes
        /// its host states (compute nodes and their services) from nova-conductor.
        /// 0 means the default interval (60 seconds); a negative value disables the
        /// refresh, so host states are read only at startup and whenever no compute
        /// node is known. ComputeFilter judges each compute service by its last
        /// check-in as of the last refresh.
        periodic_task_interval in "scheduler": i64 = "60", int(i64::MIN, i64::MAX);
    }
}

/// The refresh interval `periodic_task_interval = 0` means (oslo.service's default spacing).
pub const DEFAULT_PERIODIC_TASK_INTERVAL: u64 = 60;

impl SchedulerSection {
    /// Seconds between host state refreshes, or None when disabled.
    pub fn host_refresh_interval(&self) -> Option<u64> {
        match self.periodic_task_interval {
            0 => Some(DEFAULT_PERIODIC_TASK_INTERVAL),
            n if n < 0 => None,
            n => Some(n as u64),
        }
    }
}
