//! Servers: the summary of listings and the full body of show and detail.

use super::{isotime, links, micro_isotime};
use crate::openstack::api_version_request::ApiVersion;
use nova_common::RequestContext;
use nova_objects::Instance;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};

/// `hostId`: an opaque per-project hash of the host.
pub fn host_id(project_id: &str, host: Option<&str>) -> String {
    match host {
        Some(h) if !h.is_empty() => {
            let mut d = Sha224::new();
            d.update(project_id.as_bytes());
            d.update(h.as_bytes());
            format!("{:x}", d.finalize())
        }
        _ => String::new(),
    }
}

pub fn server_summary(base: &str, i: &Instance) -> Value {
    json!({
        "id": i.uuid.to_string(),
        "name": i.display_name,
        "links": links(base, "servers", &i.uuid.to_string()),
    })
}

fn addresses(i: &Instance) -> Value {
    let mut out = Map::new();
    for vif in &i.network_info {
        let list = out
            .entry(vif.network.label.clone())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = list {
            for subnet in &vif.network.subnets {
                for ip in &subnet.ips {
                    a.push(json!({
                        "version": ip.version,
                        "addr": ip.address,
                        "OS-EXT-IPS:type": ip.ip_type,
                        "OS-EXT-IPS-MAC:mac_addr": vif.address,
                    }));
                    for f in &ip.floating_ips {
                        a.push(json!({
                            "version": 4,
                            "addr": f,
                            "OS-EXT-IPS:type": "floating",
                            "OS-EXT-IPS-MAC:mac_addr": vif.address,
                        }));
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// The full server body (`GET /servers/{id}`, `/servers/detail`).
pub fn server_detail(
    base: &str,
    i: &Instance,
    ctx: &RequestContext,
    v: ApiVersion,
    name_template: &str,
    host_status: Option<&str>,
) -> Value {
    let status = i.api_status();
    let mut s = json!({
        "id": i.uuid.to_string(),
        "name": i.display_name,
        "status": status,
        "tenant_id": i.project_id,
        "user_id": i.user_id,
        "metadata": i.metadata,
        "hostId": host_id(&i.project_id, i.host.as_deref()),
        "image": if i.image_ref.is_empty() { json!("") } else { json!({
            "id": i.image_ref,
            "links": [{"rel": "bookmark", "href": format!("{base}/images/{}", i.image_ref)}],
        })},
        "flavor": {
            "id": i.flavor.flavorid,
            "links": [{"rel": "bookmark", "href": format!("{base}/flavors/{}", i.flavor.flavorid)}],
        },
        "created": isotime(i.created_at),
        "updated": isotime(i.updated_at.or(i.created_at)),
        "addresses": addresses(i),
        "accessIPv4": i.access_ip_v4.clone().unwrap_or_default(),
        "accessIPv6": i.access_ip_v6.clone().unwrap_or_default(),
        "links": links(base, "servers", &i.uuid.to_string()),
        "OS-DCF:diskConfig": "MANUAL",
        "OS-EXT-AZ:availability_zone": i.availability_zone.clone().unwrap_or_default(),
        "config_drive": i.config_drive,
        "key_name": i.key_name,
        "OS-SRV-USG:launched_at": micro_isotime(i.launched_at),
        "OS-SRV-USG:terminated_at": micro_isotime(i.terminated_at),
        "OS-EXT-STS:task_state": i.task_state.map(|t| t.as_str()),
        "OS-EXT-STS:vm_state": i.vm_state.as_str(),
        "OS-EXT-STS:power_state": i.power_state,
        "os-extended-volumes:volumes_attached": [],
    });
    let Some(obj) = s.as_object_mut() else {
        return s;
    };
    // nova-network's security groups: shown when the instance has any.
    if !i.security_groups.is_empty() {
        obj.insert(
            "security_groups".into(),
            super::security_groups::server_groups(&i.security_groups),
        );
    }
    if matches!(
        status,
        "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
    ) {
        obj.insert("progress".into(), json!(i.progress));
    }
    if ctx.is_admin {
        obj.insert("OS-EXT-SRV-ATTR:host".into(), json!(i.host));
        obj.insert("OS-EXT-SRV-ATTR:hypervisor_hostname".into(), json!(i.node));
        obj.insert(
            "OS-EXT-SRV-ATTR:instance_name".into(),
            json!(i.name(name_template)),
        );
        if v.at_least(3) {
            obj.insert(
                "OS-EXT-SRV-ATTR:reservation_id".into(),
                json!(i.reservation_id),
            );
            obj.insert("OS-EXT-SRV-ATTR:launch_index".into(), json!(i.launch_index));
            obj.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(i.hostname));
            obj.insert("OS-EXT-SRV-ATTR:kernel_id".into(), json!(i.kernel_id));
            obj.insert("OS-EXT-SRV-ATTR:ramdisk_id".into(), json!(i.ramdisk_id));
            obj.insert(
                "OS-EXT-SRV-ATTR:root_device_name".into(),
                json!(i.root_device_name),
            );
            obj.insert("OS-EXT-SRV-ATTR:user_data".into(), json!(i.user_data));
        }
    }
    if v.at_least(9) {
        obj.insert("locked".into(), json!(i.locked));
    }
    if v.at_least(16) && ctx.is_admin {
        if let Some(hs) = host_status {
            obj.insert("host_status".into(), json!(hs));
        }
    }
    if v.at_least(19) {
        obj.insert("description".into(), json!(i.display_description));
    }
    if v.at_least(26) {
        obj.insert("tags".into(), json!([]));
    }
    if matches!(status, "ERROR" | "DELETED") {
        if let Some(f) = &i.fault {
            let mut fault = json!({
                "code": f.code,
                "created": isotime(f.created_at),
                "message": f.message,
            });
            if ctx.is_admin || f.code != 500 {
                fault["details"] = json!(f.details);
            }
            obj.insert("fault".into(), fault);
        }
    }
    s
}

/// The body of a create: just enough to find the server, and its password.
pub fn created(base: &str, i: &Instance, admin_pass: &str) -> Value {
    let id = i.uuid.to_string();
    let mut server = json!({
        "id": id,
        "links": links(base, "servers", &id),
        "OS-DCF:diskConfig": "MANUAL",
        "adminPass": admin_pass,
    });
    if !i.security_groups.is_empty() {
        server["security_groups"] = super::security_groups::server_groups(&i.security_groups);
    }
    json!({ "server": server })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_id_is_per_project_sha224() {
        assert_eq!(host_id("p", None), "");
        let a = host_id("p1", Some("h"));
        assert_eq!(a.len(), 56);
        assert_ne!(a, host_id("p2", Some("h")));
    }

    #[test]
    fn fault_details_hidden_from_users_for_500() {
        use nova_common::states::VmState;
        let mut i = Instance {
            vm_state: VmState::Error,
            task_state: None,
            ..Default::default()
        };
        i.fault = Some(nova_objects::InstanceFault {
            code: 500,
            message: "m".into(),
            details: "d".into(),
            ..Default::default()
        });
        let user = RequestContext::new("u", "p", vec![], false);
        let v = server_detail(
            "http://x",
            &i,
            &user,
            ApiVersion::new(2, 1),
            "instance-%08x",
            None,
        );
        assert_eq!(v["status"], "ERROR");
        assert_eq!(v["fault"]["message"], "m");
        assert!(v["fault"].get("details").is_none());
        assert!(v.get("OS-EXT-SRV-ATTR:host").is_none());
        let admin = RequestContext::admin();
        let v = server_detail(
            "http://x",
            &i,
            &admin,
            ApiVersion::new(2, 1),
            "instance-%08x",
            None,
        );
        assert_eq!(v["fault"]["details"], "d");
        assert!(v.get("OS-EXT-SRV-ATTR:host").is_some());
    }
}
