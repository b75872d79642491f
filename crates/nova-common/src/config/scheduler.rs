//! `[filter_scheduler]` and `[scheduler]`: what nova-scheduler filters and
//! weighs hosts with, how often it refreshes its host states, and how many
//! times a build is tried.

use super::opt::{at_least, config_section, float, int, list_of};

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
    "AggregateInstanceExtraSpecsFilter",
    "AggregateMultiTenancyIsolation",
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
