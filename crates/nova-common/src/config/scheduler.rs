//! `[filter_scheduler]` and `[scheduler]`: what nova-scheduler filters and
//! weighs hosts with.

use super::opt::{at_least, config_section, float, list_of};

/// The filters this scheduler implements (names as in Nova). An unknown
/// filter stops the daemon, as Nova's loader does.
pub const KNOWN_FILTERS: &[&str] = &[
    "RetryFilter",
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "RamFilter",
    "CoreFilter",
    "DiskFilter",
];

config_section! {
    /// `[filter_scheduler]` and `[scheduler]`.
    pub struct SchedulerSection in "filter_scheduler" {
        /// Filters the scheduler applies, in order.
        enabled_filters: Vec<String> = "RetryFilter,AvailabilityZoneFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter", list_of(KNOWN_FILTERS);
        /// Multiplier of the RAMWeigher (negative stacks).
        ram_weight_multiplier: f64 = "1.0", float(f64::MIN);
        /// Pick randomly among this many best hosts.
        host_subset_size: usize = "1", at_least(1);
        /// Maximum attempts to schedule an instance. Not used yet: a build that
        /// fails on its host is not rescheduled, so every instance gets one attempt.
        max_attempts in "scheduler": u32 = "3", at_least(1);
    }
}
