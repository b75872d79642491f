//! Limits (`/limits`): the absolute limits and what is used of them.

use crate::openstack::api_version_request::ApiVersion;
use nova_objects::QuotaUsage;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn limits(l: &BTreeMap<String, i64>, used: &QuotaUsage, v: ApiVersion) -> Value {
    let get = |k: &str| l.get(k).copied().unwrap_or(-1);
    let mut abs = json!({
        "maxTotalInstances": get("instances"),
        "maxTotalCores": get("cores"),
        "maxTotalRAMSize": get("ram"),
        "maxServerMeta": get("metadata_items"),
        "maxTotalKeypairs": get("key_pairs"),
        "maxServerGroups": get("server_groups"),
        "maxServerGroupMembers": get("server_group_members"),
        "totalInstancesUsed": used.instances,
        "totalCoresUsed": used.cores,
        "totalRAMUsed": used.ram,
        "totalServerGroupsUsed": used.server_groups,
    });
    // Image metadata: a Glance proxy limit, gone in 2.39.
    if !v.at_least(39) {
        abs["maxImageMeta"] = json!(get("metadata_items"));
    }
    // Personality: gone in 2.57.
    if !v.at_least(57) {
        abs["maxPersonality"] = json!(get("injected_files"));
        abs["maxPersonalitySize"] = json!(get("injected_file_content_bytes"));
    }
    // nova-network's limits, shown before 2.36.
    if !v.at_least(36) {
        let floating = get("floating_ips");
        for (k, val) in [
            ("maxSecurityGroups", get("security_groups")),
            ("maxSecurityGroupRules", get("security_group_rules")),
            ("maxTotalFloatingIps", floating),
            ("totalSecurityGroupsUsed", used.security_groups),
            ("totalFloatingIpsUsed", used.floating_ips),
        ] {
            abs[k] = json!(val);
        }
    }
    json!({"limits": {"rate": [], "absolute": abs}})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_meta_and_personality_limits_go() {
        let l = BTreeMap::new();
        let used = QuotaUsage::default();
        let at = |m| limits(&l, &used, ApiVersion::new(2, m))["limits"]["absolute"].clone();
        assert!(at(38).get("maxImageMeta").is_some());
        assert!(at(39).get("maxImageMeta").is_none());
        assert!(at(56).get("maxPersonality").is_some());
        assert!(at(57).get("maxPersonality").is_none());
        assert!(at(57).get("maxPersonalitySize").is_none());
        assert!(at(57).get("maxTotalInstances").is_some());
    }
}
