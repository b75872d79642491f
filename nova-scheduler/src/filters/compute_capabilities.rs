//! Nova's `ComputeCapabilitiesFilter`: a host passes when its capabilities
//! meet the flavor's extra specs scoped `capabilities:` (and, as Nova's,
//! unscoped ones that name a host attribute). `capabilities:a:b:c` reads
//! attribute `a` of the host and walks `b` then `c` into it, a text
//! attribute such as `cpu_info` read as JSON; the value is matched by
//! [`super::extra_specs_ops::matches`].

use super::extra_specs_ops;
use crate::host_manager::HostState;
use serde_json::Value;
use std::collections::BTreeMap;

/// The flavor's requirements the filter checks: (attribute path, requirement).
pub fn requirements(extra_specs: &BTreeMap<String, String>) -> Vec<(Vec<String>, String)> {
    extra_specs
        .iter()
        .filter_map(|(key, req)| {
            let scope: Vec<String> = key.split(':').map(str::to_string).collect();
            match scope.as_slice() {
                // Unscoped: only when the host has such an attribute.
                [name] => is_attribute(name).then(|| (scope.clone(), req.clone())),
                [first, rest @ ..] if first == "capabilities" => Some((rest.to_vec(), req.clone())),
                _ => None,
            }
        })
        .collect()
}

/// Whether `host` meets every requirement.
// Out of line: the filter chain inlines each filter into its pass over
// every host, and this one runs only for requests that ask for it.
#[inline(never)]
pub fn host_passes(host: &HostState, requirements: &[(Vec<String>, String)]) -> bool {
    // A capability the host does not have fails, whatever is asked.
    requirements.iter().all(|(path, req)| {
        capability(host, path).is_some_and(|v| extra_specs_ops::matches(&text(&v), req))
    })
}

/// Nova's `_get_capabilities`: the host attribute, then each key of the
/// path into it (a JSON text parsed first); None where the walk ends.
pub(super) fn capability(host: &HostState, path: &[String]) -> Option<Value> {
    let (first, rest) = path.split_first()?;
    let mut cap = attribute(host, first)?;
    for key in rest {
        if let Value::String(s) = &cap {
            cap = serde_json::from_str(s).ok()?;
        }
        cap = cap.get(key.as_str())?.clone();
        if cap.is_null() {
            return None;
        }
    }
    Some(cap)
}

/// A capability as the text it is matched as (Python's `str()` of a
/// number or a string; JSON for a list or a mapping).
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(true) => "True".into(),
        Value::Bool(false) => "False".into(),
        other => other.to_string(),
    }
}

const ATTRIBUTES: &[&str] = &[
    "host",
    "nodename",
    "uuid",
    "hypervisor_type",
    "hypervisor_version",
    "hypervisor_hostname",
    "cpu_info",
    "host_ip",
    "supported_instances",
    "free_ram_mb",
    "free_disk_mb",
    "disk_mb_used",
    "vcpus_total",
    "vcpus_used",
    "total_usable_ram_mb",
    "total_usable_disk_gb",
    "num_instances",
    "num_io_ops",
    "cpu_allocation_ratio",
    "ram_allocation_ratio",
    "disk_allocation_ratio",
];

fn is_attribute(name: &str) -> bool {
    ATTRIBUTES.contains(&name)
}

/// Nova's `HostState` attribute `name`, as the scheduler sees the host now
/// (its report, less what it has placed there since).
fn attribute(host: &HostState, name: &str) -> Option<Value> {
    let n = &host.node;
    let whole = |x: f64| -> Value {
        if x.fract() == 0.0 && x.abs() < 9e15 {
            Value::from(x as i64)
        } else {
            Value::from(x)
        }
    };
    // What is used, from what still fits (which counts the allocation ratios).
    let ram_used = host.total_ram_mb as f64 * n.ram_allocation_ratio - host.free.memory_mb;
    let disk_used = host.total_disk_gb as f64 * n.disk_allocation_ratio - host.free.disk_gb;
    Some(match name {
        "host" => host.host.clone().into(),
        "nodename" => host.nodename.clone().into(),
        "uuid" => host.uuid.to_string().into(),
        "hypervisor_type" => n.hypervisor_type.clone().into(),
        "hypervisor_version" => n.hypervisor_version.into(),
        "hypervisor_hostname" => n.hypervisor_hostname.clone().into(),
        "cpu_info" => n.cpu_info.clone().into(),
        "host_ip" => n.host_ip.clone().into(),
        "supported_instances" => serde_json::to_value(&n.supported_instances).ok()?,
        "free_ram_mb" => whole(host.total_ram_mb as f64 - ram_used),
        "free_disk_mb" => whole((host.total_disk_gb as f64 - disk_used) * 1024.0),
        "disk_mb_used" => whole(disk_used * 1024.0),
        "vcpus_total" => host.total_vcpus.into(),
        "vcpus_used" => whole(
            host.total_vcpus as f64 * n.cpu_allocation_ratio
                - n.reserved_host_cpus as f64
                - host.free.vcpus,
        ),
        "total_usable_ram_mb" => host.total_ram_mb.into(),
        "total_usable_disk_gb" => host.total_disk_gb.into(),
        "num_instances" => host.num_instances.into(),
        "num_io_ops" => host.num_io_ops.into(),
        "cpu_allocation_ratio" => n.cpu_allocation_ratio.into(),
        "ram_allocation_ratio" => n.ram_allocation_ratio.into(),
        "disk_allocation_ratio" => n.disk_allocation_ratio.into(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::host;
    use nova_objects::ComputeNode;
    use std::sync::Arc;

    fn qemu_host() -> HostState {
        let mut h = host("h1", 2048.0, true, false);
        h.node = Arc::new(ComputeNode {
            hypervisor_type: "QEMU".into(),
            hypervisor_version: 8_002_000,
            cpu_info:
                r#"{"arch": "x86_64", "features": ["sse4", "avx"], "topology": {"cores": 4}}"#
                    .into(),
            ram_allocation_ratio: 1.0,
            cpu_allocation_ratio: 16.0,
            disk_allocation_ratio: 1.0,
            ..Default::default()
        });
        h
    }

    fn specs(s: &[(&str, &str)]) -> BTreeMap<String, String> {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flavors_capabilities_are_read_off_the_host() {
        let h = qemu_host();
        let pass = |s: &[(&str, &str)]| host_passes(&h, &requirements(&specs(s)));
        assert!(pass(&[]));
        assert!(pass(&[("capabilities:hypervisor_type", "QEMU")]));
        assert!(!pass(&[("capabilities:hypervisor_type", "s== kvm")]));
        assert!(pass(&[("capabilities:hypervisor_version", ">= 8002000")]));
        assert!(pass(&[("capabilities:cpu_info:arch", "x86_64")]));
        assert!(pass(&[("capabilities:cpu_info:features", "<in> avx")]));
        assert!(!pass(&[("capabilities:cpu_info:features", "<in> avx512f")]));
        assert!(pass(&[("capabilities:cpu_info:topology:cores", ">= 4")]));
        assert!(!pass(&[("capabilities:cpu_info:nope", "x")]));
        assert!(!pass(&[("capabilities:no_such_attribute", "x")]));
        assert!(pass(&[("capabilities:free_ram_mb", ">= 2048")]));
        assert!(!pass(&[("capabilities:free_ram_mb", ">= 2049")]));
        // Other scopes are other filters' business; unscoped keys count
        // only when they name an attribute of the host.
        assert!(pass(&[
            ("hw:cpu_policy", "dedicated"),
            ("trait:HW_CPU_X86_AVX", "required")
        ]));
        assert!(pass(&[("no_such_attribute", "x")]));
        assert!(pass(&[("hypervisor_type", "QEMU")]));
        assert!(!pass(&[("hypervisor_type", "xen")]));
        // A text attribute that is not JSON cannot be walked into.
        let mut h2 = qemu_host();
        Arc::make_mut(&mut h2.node).cpu_info = "?".into();
        assert!(!host_passes(
            &h2,
            &requirements(&specs(&[("capabilities:cpu_info:arch", "x86_64")]))
        ));
    }
}
