//! Hypervisors (`/os-hypervisors`), as of microversion < 2.53 (integer ids).

use crate::openstack::api_version_request::ApiVersion;
use crate::servicegroup;
use nova_common::NovaConfig;
use nova_objects::{ComputeNode, Service};
use serde_json::{json, Value};

pub fn summary(cfg: &NovaConfig, n: &ComputeNode, s: Option<&Service>) -> Value {
    json!({
        "id": n.id,
        "hypervisor_hostname": n.hypervisor_hostname,
        "state": s.map(|s| servicegroup::state(cfg, s)).unwrap_or("down"),
        "status": if s.is_some_and(|s| s.disabled) { "disabled" } else { "enabled" },
    })
}

/// `cpu_info`: the driver's JSON text, an object from 2.28 (`{}` when
/// the text is empty or not a JSON object).
fn cpu_info(n: &ComputeNode, v: ApiVersion) -> Value {
    if !v.at_least(28) {
        return json!(n.cpu_info);
    }
    match serde_json::from_str::<Value>(&n.cpu_info) {
        Ok(o @ Value::Object(_)) => o,
        _ => json!({}),
    }
}

pub fn detail(cfg: &NovaConfig, n: &ComputeNode, s: Option<&Service>, mv: ApiVersion) -> Value {
    let mut v = summary(cfg, n, s);
    if let Some(o) = v.as_object_mut() {
        for (k, val) in [
            ("hypervisor_type", json!(n.hypervisor_type)),
            ("hypervisor_version", json!(n.hypervisor_version)),
            ("vcpus", json!(n.vcpus)),
            ("memory_mb", json!(n.memory_mb)),
            ("local_gb", json!(n.local_gb)),
            ("vcpus_used", json!(n.vcpus_used)),
            ("memory_mb_used", json!(n.memory_mb_used)),
            ("local_gb_used", json!(n.local_gb_used)),
            ("free_ram_mb", json!(n.free_ram_mb)),
            ("free_disk_gb", json!(n.free_disk_gb)),
            ("current_workload", json!(n.current_workload)),
            ("running_vms", json!(n.running_vms)),
            ("disk_available_least", json!(n.disk_available_least)),
            ("host_ip", json!(n.host_ip)),
            ("cpu_info", cpu_info(n, mv)),
            (
                "service",
                json!({
                    "host": n.host,
                    "id": s.map(|s| s.id),
                    "disabled_reason": s.and_then(|s| s.disabled_reason.clone()),
                }),
            ),
        ] {
            o.insert(k.into(), val);
        }
    }
    v
}

/// The sums over every node.
pub fn statistics(nodes: &[&ComputeNode]) -> Value {
    let sum = |f: fn(&ComputeNode) -> i64| nodes.iter().map(|n| f(n)).sum::<i64>();
    json!({
        "count": nodes.len(),
        "vcpus": sum(|n| n.vcpus),
        "memory_mb": sum(|n| n.memory_mb),
        "local_gb": sum(|n| n.local_gb),
        "vcpus_used": sum(|n| n.vcpus_used),
        "memory_mb_used": sum(|n| n.memory_mb_used),
        "local_gb_used": sum(|n| n.local_gb_used),
        "free_ram_mb": sum(|n| n.free_ram_mb),
        "free_disk_gb": sum(|n| n.free_disk_gb),
        "current_workload": sum(|n| n.current_workload),
        "running_vms": sum(|n| n.running_vms),
        "disk_available_least": sum(|n| n.disk_available_least.unwrap_or(0)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_info_is_an_object_from_2_28() {
        let mut n = ComputeNode {
            cpu_info: r#"{"arch": "x86_64"}"#.into(),
            ..Default::default()
        };
        assert_eq!(
            cpu_info(&n, ApiVersion::new(2, 27)),
            json!(r#"{"arch": "x86_64"}"#)
        );
        assert_eq!(
            cpu_info(&n, ApiVersion::new(2, 28)),
            json!({"arch": "x86_64"})
        );
        n.cpu_info = "?".into();
        assert_eq!(cpu_info(&n, ApiVersion::new(2, 28)), json!({}));
    }
}
