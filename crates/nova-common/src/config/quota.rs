//! `[quota]`: the default limit of each resource per project (or per user,
//! or per instance), -1 meaning unlimited.

use super::opt::{at_least, config_section};

config_section! {
    /// `[quota]`: read into `NovaConfig::quota`, resource name → limit.
    pub map QuotaSection<i64> in "quota" {
        /// Instances per project (-1: unlimited).
        instances = "10", at_least(-1);
        /// Instance cores per project.
        cores = "20", at_least(-1);
        /// Megabytes of instance RAM per project.
        ram = "51200", at_least(-1);
        /// Metadata items per instance.
        metadata_items = "128", at_least(-1);
        /// Injected files per instance.
        injected_files = "5", at_least(-1);
        /// Bytes per injected file.
        injected_file_content_bytes = "10240", at_least(-1);
        /// Length of an injected file path.
        injected_file_path_length = "255", at_least(-1);
        /// Key pairs per user.
        key_pairs = "100", at_least(-1);
        /// Server groups per project.
        server_groups = "10", at_least(-1);
        /// Servers per server group.
        server_group_members = "10", at_least(-1);
        /// Security groups per project (nova-network).
        security_groups = "10", at_least(-1);
        /// Rules per security group (nova-network).
        security_group_rules = "20", at_least(-1);
        /// Floating IPs a project may allocate (nova-network).
        floating_ips = "10", at_least(-1);
        /// Fixed IPs per project (nova-network; -1: unlimited).
        fixed_ips = "-1", at_least(-1);
    }
}

/// The `[quota]` resources, in Nova's order.
pub const QUOTA_RESOURCES: &[&str] = QuotaSection::NAMES;

/// nova-network's quotas (`[quota]` resources like the others), shown and
/// settable before microversion 2.36.
pub const NETWORK_QUOTAS: &[&str] = &[
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
];
