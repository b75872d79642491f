//! Hypervisors (`/os-hypervisors`): integer ids before 2.53, uuids from
//! 2.53; the resource figures go and `uptime` comes in 2.88.

use crate::openstack::api_version_request::ApiVersion;
use crate::servicegroup;
use nova_common::NovaConfig;
use nova_objects::{ComputeNode, Service};
use serde_json::{json, Value};

pub fn summary(cfg: &NovaConfig, n: &ComputeNode, s: Option<&Service>, mv: ApiVersion) -> Value {
    json!({
        "id": if mv.at_least(53) { json!(n.uuid.to_string()) } else { json!(n.id) },
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

/// The detailed body; `uptime` (2.88) as the host reported it, if it did.
pub fn detail(
    cfg: &NovaConfig,
    n: &ComputeNode,
    s: Option<&Service>,
    mv: ApiVersion,
    uptime: Option<&str>,
) -> Value {
    let mut v = summary(cfg, n, s, mv);
    let service_id = if mv.at_least(53) {
        json!(s.map(|s| s.uuid.to_string()))
    } else {
        json!(s.map(|s| s.id))
    };
    let mut fields = vec![
        ("hypervisor_type", json!(n.hypervisor_type)),
        ("hypervisor_version", json!(n.hypervisor_version)),
        ("host_ip", json!(n.host_ip)),
        (
            "service",
            json!({
                "host": n.host,
                "id": service_id,
                "disabled_reason": s.and_then(|s| s.disabled_reason.clone()),
            }),
        ),
    ];
    if mv.at_least(88) {
        fields.push(("uptime", json!(uptime)));
    } else {
        fields.extend([
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
            ("cpu_info", cpu_info(n, mv)),
        ]);
    }
    if let Some(o) = v.as_object_mut() {
        for (k, val) in fields {
            o.insert(k.into(), val);
        }
    }
    v
}

/// `servers` (2.53 `with_servers`): the node's servers when it has any;
/// from 2.75 an empty list too.
pub fn add_servers(body: &mut Value, servers: Option<&[(String, String)]>, mv: ApiVersion) {
    let Some(servers) = servers else { return };
    if servers.is_empty() && !mv.at_least(75) {
        return;
    }
    body["servers"] = json!(servers
        .iter()
        .map(|(uuid, name)| json!({"uuid": uuid, "name": name}))
        .collect::<Vec<_>>());
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

    #[test]
    fn uuids_from_2_53_and_no_figures_from_2_88() {
        let cfg = NovaConfig::parse_text("").expect("cfg");
        let n = ComputeNode {
            id: 7,
            vcpus: 4,
            ..Default::default()
        };
        let s = Service {
            id: 3,
            ..Default::default()
        };
        let old = detail(&cfg, &n, Some(&s), ApiVersion::new(2, 52), None);
        assert_eq!(old["id"], 7);
        assert_eq!(old["service"]["id"], 3);
        assert_eq!(old["vcpus"], 4);
        let new = detail(&cfg, &n, Some(&s), ApiVersion::new(2, 53), None);
        assert_eq!(new["id"], n.uuid.to_string());
        assert_eq!(new["service"]["id"], s.uuid.to_string());
        let latest = detail(&cfg, &n, Some(&s), ApiVersion::new(2, 88), Some("up 1 day"));
        assert!(latest.get("vcpus").is_none() && latest.get("cpu_info").is_none());
        assert_eq!(latest["uptime"], "up 1 day");
        let mut b = json!({});
        add_servers(&mut b, Some(&[]), ApiVersion::new(2, 74));
        assert!(b.get("servers").is_none());
        add_servers(&mut b, Some(&[]), ApiVersion::new(2, 75));
        assert_eq!(b["servers"], json!([]));
    }
}
