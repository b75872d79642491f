//! Quota class sets (`/os-quota-class-sets`): which resources a microversion
//! shows and takes, and the body.

use super::quota_sets::api_name;
use crate::openstack::api_version_request::ApiVersion;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Gone from 2.50 (by their `[quota]` names): nova-network's.
const FILTERED_2_50: &[&str] = &[
    "fixed_ips",
    "floating_ips",
    "security_group_rules",
    "security_groups",
];
/// Gone from 2.57, besides those of 2.50: personality's.
const FILTERED_2_57: &[&str] = &[
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_length",
];
/// Shown only from 2.50 (taken at every microversion).
const EXTENDED: &[&str] = &["server_groups", "server_group_members"];

/// Whether a class body at `v` may set `resource` (by its `[quota]` name).
pub fn settable(resource: &str, v: ApiVersion) -> bool {
    !(v.at_least(50) && FILTERED_2_50.contains(&resource)
        || v.at_least(57) && FILTERED_2_57.contains(&resource))
}

/// Whether `resource` is in a class body at `v`.
fn shown(resource: &str, v: ApiVersion) -> bool {
    settable(resource, v) && (v.at_least(50) || !EXTENDED.contains(&resource))
}

/// `{"quota_class_set": {...}}`, with `id` on show.
pub fn quota_class_set(limits: &BTreeMap<String, i64>, v: ApiVersion, id: Option<&str>) -> Value {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    for (k, val) in limits.iter().filter(|(k, _)| shown(k, v)) {
        m.insert(api_name(k).to_string(), json!(val));
    }
    json!({ "quota_class_set": m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_per_microversion() {
        let l: BTreeMap<String, i64> = [
            "floating_ips",
            "injected_file_path_length",
            "server_groups",
            "cores",
        ]
        .iter()
        .map(|k| (k.to_string(), 1))
        .collect();
        let keys = |minor| {
            let b = quota_class_set(&l, ApiVersion::new(2, minor), Some("default"));
            let mut k: Vec<String> = b["quota_class_set"]
                .as_object()
                .unwrap()
                .keys()
                .cloned()
                .collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(1),
            ["cores", "floating_ips", "id", "injected_file_path_bytes"]
        );
        assert_eq!(
            keys(50),
            ["cores", "id", "injected_file_path_bytes", "server_groups"]
        );
        assert_eq!(keys(57), ["cores", "id", "server_groups"]);
    }
}
