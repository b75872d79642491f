//! Quota sets (`/os-quota-sets`).

use crate::openstack::api_version_request::ApiVersion;
use nova_objects::QuotaUsage;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Network quotas shown before 2.36 (nova-network's).
pub use nova_common::config::NETWORK_QUOTAS;

/// Whether a resource is one of nova-network's (hidden from 2.36).
pub fn is_network_quota(resource: &str) -> bool {
    NETWORK_QUOTAS.contains(&resource)
}

/// The personality quotas, removed in 2.57 (by their `[quota]` names).
const PERSONALITY_QUOTAS: &[&str] = &[
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_length",
];

/// Whether a resource (by its `[quota]` name) is gone at this
/// microversion: nova-network's from 2.36, personality's from 2.57.
pub fn removed_at(resource: &str, v: ApiVersion) -> bool {
    (v.at_least(36) && is_network_quota(resource))
        || (v.at_least(57) && PERSONALITY_QUOTAS.contains(&resource))
}

/// The API's name for a `[quota]` option.
pub fn api_name(resource: &str) -> &str {
    if resource == "injected_file_path_length" {
        "injected_file_path_bytes"
    } else {
        resource
    }
}

/// The `[quota]` name of an API resource name.
pub fn resource_name(api_name: &str) -> &str {
    if api_name == "injected_file_path_bytes" {
        "injected_file_path_length"
    } else {
        api_name
    }
}

/// What a project has used of a resource.
pub fn in_use(used: &QuotaUsage, resource: &str) -> i64 {
    match resource {
        "instances" => used.instances,
        "cores" => used.cores,
        "ram" => used.ram,
        "floating_ips" => used.floating_ips,
        "security_groups" => used.security_groups,
        "server_groups" => used.server_groups,
        _ => 0,
    }
}

pub fn quota_set(limits: &BTreeMap<String, i64>, v: ApiVersion, id: Option<&str>) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    for (k, val) in limits {
        if removed_at(k, v) {
            continue;
        }
        m.insert(api_name(k).to_string(), json!(val));
    }
    Value::Object(m)
}

/// Each resource's limit, use and reservation.
pub fn detail(limits: &BTreeMap<String, i64>, used: &QuotaUsage, v: ApiVersion, id: &str) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), json!(id));
    if let Value::Object(set) = quota_set(limits, v, None) {
        for (k, val) in set {
            let in_use = in_use(used, &k);
            m.insert(k, json!({"limit": val, "in_use": in_use, "reserved": 0}));
        }
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_quotas_go_in_2_57() {
        let limits: BTreeMap<String, i64> = [
            ("instances", 10),
            ("injected_files", 5),
            ("injected_file_path_length", 255),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let old = quota_set(&limits, ApiVersion::new(2, 56), None);
        assert_eq!(old["injected_files"], 5);
        assert_eq!(old["injected_file_path_bytes"], 255);
        let new = quota_set(&limits, ApiVersion::new(2, 57), None);
        assert!(new.get("injected_files").is_none());
        assert!(new.get("injected_file_path_bytes").is_none());
        assert_eq!(new["instances"], 10);
    }
}
