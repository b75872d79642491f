//! Servers: the summary of listings and the full body of show and detail.

use super::{isotime, links, micro_isotime};
use crate::openstack::api_version_request::ApiVersion;
use nova_common::RequestContext;
use nova_objects::Instance;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha224};
use uuid::Uuid;

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

/// `addresses` by network label; `extended` adds Nova's `OS-EXT-IPS:type`
/// and `OS-EXT-IPS-MAC:mac_addr` (every body but update and rebuild before
/// 2.75, Nova's `extend_address`).
fn addresses(i: &Instance, extended: bool) -> Value {
    let mut out = Map::new();
    for vif in &i.network_info {
        let list = out
            .entry(vif.network.label.clone())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = list {
            for subnet in &vif.network.subnets {
                for ip in &subnet.ips {
                    let mut fixed = json!({"version": ip.version, "addr": ip.address});
                    if extended {
                        fixed["OS-EXT-IPS:type"] = json!(ip.ip_type);
                        fixed["OS-EXT-IPS-MAC:mac_addr"] = json!(vif.address);
                    }
                    a.push(fixed);
                    for f in &ip.floating_ips {
                        let mut floating = json!({"version": 4, "addr": f});
                        if extended {
                            floating["OS-EXT-IPS:type"] = json!("floating");
                            floating["OS-EXT-IPS-MAC:mac_addr"] = json!(vif.address);
                        }
                        a.push(floating);
                    }
                }
            }
        }
    }
    Value::Object(out)
}

/// What a server body shows beyond what the microversion decides (Nova's
/// `show` flags): the instance-name template, the host's status (admins,
/// 2.16), the embedded flavor's extra specs (2.47, policy
/// `servers:show:flavor-extra-specs`) and `server_groups` (2.71: show,
/// update and rebuild, not detail).
#[derive(Clone, Copy, Debug, Default)]
pub struct DetailOptions<'a> {
    pub name_template: &'a str,
    pub host_status: Option<&'a str>,
    pub flavor_extra_specs: bool,
    /// The server's groups, when the body shows them.
    pub server_groups: Option<&'a [Uuid]>,
}

/// The system_metadata key holding the availability zone the server was
/// pinned to at create (Nova keeps it in the RequestSpec; 2.96 shows it).
pub const PINNED_AZ_KEY: &str = "pinned_availability_zone";

/// The prefix of image properties copied into system_metadata at create
/// (Nova's `SM_IMAGE_PROP_PREFIX`).
pub const IMAGE_PROP_PREFIX: &str = "image_";

/// The image properties 2.98 shows: Nova's `ImageMetaProps` fields and
/// their legacy names, sorted.
const IMAGE_META_PROPS: &[&str] = &[
    "architecture",
    "auto_disk_config",
    "bdm_v2",
    "bittorrent",
    "block_device_mapping",
    "cache_in_nova",
    "hw_architecture",
    "hw_auto_disk_config",
    "hw_boot_menu",
    "hw_cdrom_bus",
    "hw_cpu_cores",
    "hw_cpu_max_cores",
    "hw_cpu_max_sockets",
    "hw_cpu_max_threads",
    "hw_cpu_policy",
    "hw_cpu_realtime_mask",
    "hw_cpu_sockets",
    "hw_cpu_thread_policy",
    "hw_cpu_threads",
    "hw_device_id",
    "hw_disk_bus",
    "hw_disk_type",
    "hw_emulation_architecture",
    "hw_ephemeral_encryption",
    "hw_ephemeral_encryption_format",
    "hw_ephemeral_encryption_secret_uuid",
    "hw_firmware_stateless",
    "hw_firmware_type",
    "hw_floppy_bus",
    "hw_input_bus",
    "hw_ipxe_boot",
    "hw_locked_memory",
    "hw_machine_type",
    "hw_maxphysaddr_bits",
    "hw_maxphysaddr_mode",
    "hw_mem_encryption",
    "hw_mem_encryption_model",
    "hw_mem_page_size",
    "hw_numa_cpus",
    "hw_numa_mem",
    "hw_numa_nodes",
    "hw_pci_numa_affinity_policy",
    "hw_pmu",
    "hw_pointer_model",
    "hw_qemu_guest_agent",
    "hw_redirected_usb_ports",
    "hw_rescue_bus",
    "hw_rescue_device",
    "hw_rng_model",
    "hw_scsi_model",
    "hw_serial_port_count",
    "hw_sound_model",
    "hw_time_hpet",
    "hw_tpm_model",
    "hw_tpm_version",
    "hw_usb_model",
    "hw_video_model",
    "hw_video_ram",
    "hw_vif_model",
    "hw_vif_multiqueue_enabled",
    "hw_viommu_model",
    "hw_virtio_packed_ring",
    "hw_vm_mode",
    "hw_watchdog_action",
    "hypervisor_type",
    "hypervisor_version_requires",
    "img_bdm_v2",
    "img_bittorrent",
    "img_block_device_mapping",
    "img_cache_in_nova",
    "img_compression_level",
    "img_config_drive",
    "img_hide_hypervisor_id",
    "img_hv_requested_version",
    "img_hv_type",
    "img_linked_clone",
    "img_mappings",
    "img_owner_id",
    "img_root_device_name",
    "img_signature",
    "img_signature_certificate_uuid",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_use_agent",
    "img_version",
    "ipxe_boot",
    "mappings",
    "os_admin_user",
    "os_command_line",
    "os_distro",
    "os_require_quiesce",
    "os_secure_boot",
    "os_skip_agent_inject_files_at_boot",
    "os_skip_agent_inject_ssh",
    "os_type",
    "owner_id",
    "root_device_name",
    "traits_required",
    "vm_mode",
    "vmware_disktype",
    "vmware_image_version",
    "vmware_linked_clone",
    "vmware_ostype",
    "xenapi_device_id",
    "xenapi_image_compression_level",
    "xenapi_skip_agent_inject_files_at_boot",
    "xenapi_skip_agent_inject_ssh",
    "xenapi_use_agent",
];

/// `image`: `""` when booted from a volume, else its id and bookmark, with
/// (2.98) the standard image properties recorded at create.
fn image(base: &str, i: &Instance, v: ApiVersion) -> Value {
    if i.image_ref.is_empty() {
        return json!("");
    }
    let mut img = json!({
        "id": i.image_ref,
        "links": [{"rel": "bookmark", "href": format!("{base}/images/{}", i.image_ref)}],
    });
    if v.at_least(98) {
        let props: Map<String, Value> = i
            .system_metadata
            .iter()
            .filter_map(|(k, val)| {
                let name = k.strip_prefix(IMAGE_PROP_PREFIX)?;
                IMAGE_META_PROPS
                    .binary_search(&name)
                    .ok()
                    .map(|_| (name.to_string(), json!(val)))
            })
            .collect();
        img["properties"] = Value::Object(props);
    }
    img
}

/// `flavor`: its id and bookmark before 2.47, the embedded flavor from 2.47.
fn flavor(base: &str, i: &Instance, v: ApiVersion, extra_specs: bool) -> Value {
    let f = &i.flavor;
    if !v.at_least(47) {
        return json!({
            "id": f.flavorid,
            "links": [{"rel": "bookmark", "href": format!("{base}/flavors/{}", f.flavorid)}],
        });
    }
    let mut d = json!({
        "original_name": f.name,
        "vcpus": f.vcpus,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        "ephemeral": f.ephemeral_gb,
        "swap": f.swap,
    });
    if extra_specs {
        d["extra_specs"] = json!(f.extra_specs);
    }
    d
}

/// The full server body (`GET /servers/{id}`, `/servers/detail`).
pub fn server_detail(
    base: &str,
    i: &Instance,
    ctx: &RequestContext,
    v: ApiVersion,
    opts: DetailOptions<'_>,
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
        "image": image(base, i, v),
        "flavor": flavor(base, i, v, opts.flavor_extra_specs),
        "created": isotime(i.created_at),
        "updated": isotime(i.updated_at.or(i.created_at)),
        "addresses": addresses(i, true),
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
            json!(i.name(opts.name_template)),
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
    } else if v.at_least(90) {
        // 2.90: the hostname is everyone's to see.
        obj.insert("OS-EXT-SRV-ATTR:hostname".into(), json!(i.hostname));
    }
    if v.at_least(9) {
        obj.insert("locked".into(), json!(i.locked));
    }
    if v.at_least(16) && ctx.is_admin {
        if let Some(hs) = opts.host_status {
            obj.insert("host_status".into(), json!(hs));
        }
    }
    if v.at_least(19) {
        obj.insert("description".into(), json!(i.display_description));
    }
    if v.at_least(26) {
        obj.insert("tags".into(), json!(i.tags));
    }
    if v.at_least(63) {
        obj.insert("trusted_image_certificates".into(), json!(i.trusted_certs));
    }
    if let Some(groups) = opts.server_groups.filter(|_| v.at_least(71)) {
        obj.insert("server_groups".into(), json!(groups));
    }
    if v.at_least(73) {
        obj.insert(
            "locked_reason".into(),
            json!(i.system_metadata.get("locked_reason")),
        );
    }
    if v.at_least(96) {
        obj.insert(
            "pinned_availability_zone".into(),
            json!(i.system_metadata.get(PINNED_AZ_KEY)),
        );
    }
    if v.at_least(100) {
        let hints = i
            .system_metadata
            .get(crate::compute::api::SCHEDULER_HINTS_KEY)
            .and_then(|h| serde_json::from_str::<Value>(h).ok())
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        obj.insert("scheduler_hints".into(), hints);
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

/// The body of `PUT /servers/{id}` before 2.75: the server without the
/// extended attributes (Nova's `show` with every `show_*` off).
pub fn server_update_view(
    base: &str,
    i: &Instance,
    ctx: &RequestContext,
    v: ApiVersion,
    name_template: &str,
    flavor_extra_specs: bool,
    server_groups: &[Uuid],
) -> Value {
    let opts = DetailOptions {
        name_template,
        host_status: None,
        flavor_extra_specs,
        server_groups: Some(server_groups),
    };
    let mut s = server_detail(base, i, ctx, v, opts);
    if v.at_least(75) {
        return s;
    }
    if let Some(obj) = s.as_object_mut() {
        obj.insert("addresses".into(), addresses(i, false));
        obj.retain(|k, _| {
            !(k.starts_with("OS-EXT-")
                || k.starts_with("OS-SRV-USG:")
                || matches!(
                    k.as_str(),
                    "key_name"
                        | "security_groups"
                        | "config_drive"
                        | "os-extended-volumes:volumes_attached"
                        | "host_status"
                ))
        });
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
            DetailOptions {
                name_template: "instance-%08x",
                ..Default::default()
            },
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
            DetailOptions {
                name_template: "instance-%08x",
                ..Default::default()
            },
        );
        assert_eq!(v["fault"]["details"], "d");
        assert!(v.get("OS-EXT-SRV-ATTR:host").is_some());
    }

    fn sample() -> Instance {
        let mut i = Instance {
            image_ref: "155d900f-4e14-4e4c-a73d-069cbf4541e6".into(),
            hostname: "vm-1".into(),
            ..Default::default()
        };
        i.flavor.flavorid = "42".into();
        i.flavor.name = "m1.tiny".into();
        i.flavor.memory_mb = 512;
        i.flavor.vcpus = 1;
        i.flavor.root_gb = 1;
        i.flavor
            .extra_specs
            .insert("hw:cpu_policy".into(), "shared".into());
        i.system_metadata
            .insert("image_hw_disk_bus".into(), "virtio".into());
        i.system_metadata
            .insert("image_base_image_ref".into(), "x".into());
        i.system_metadata
            .insert("locked_reason".into(), "why".into());
        i.system_metadata
            .insert(PINNED_AZ_KEY.into(), "nova".into());
        i
    }

    fn render(v: u32, opts: DetailOptions<'_>) -> Value {
        let user = RequestContext::new("u", "p", vec![], false);
        server_detail("http://x", &sample(), &user, ApiVersion::new(2, v), opts)
    }

    #[test]
    fn image_meta_props_are_sorted_for_lookup() {
        assert!(IMAGE_META_PROPS.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn flavor_is_embedded_from_2_47() {
        let old = render(46, DetailOptions::default());
        assert_eq!(old["flavor"]["id"], "42");
        assert!(old["flavor"].get("original_name").is_none());
        let specs = DetailOptions {
            flavor_extra_specs: true,
            ..Default::default()
        };
        let new = render(47, specs);
        assert_eq!(
            new["flavor"],
            json!({"original_name": "m1.tiny", "vcpus": 1, "ram": 512, "disk": 1,
                   "ephemeral": 0, "swap": 0, "extra_specs": {"hw:cpu_policy": "shared"}})
        );
        assert!(render(47, DetailOptions::default())["flavor"]
            .get("extra_specs")
            .is_none());
    }

    #[test]
    fn later_fields_appear_at_their_microversions() {
        let keys = [
            (63, "trusted_image_certificates"),
            (73, "locked_reason"),
            (96, "pinned_availability_zone"),
            (100, "scheduler_hints"),
        ];
        for (mv, k) in keys {
            assert!(
                render(mv - 1, DetailOptions::default()).get(k).is_none(),
                "{k}"
            );
            assert!(render(mv, DetailOptions::default()).get(k).is_some(), "{k}");
        }
        let latest = render(103, DetailOptions::default());
        assert_eq!(latest["trusted_image_certificates"], Value::Null);
        assert_eq!(latest["locked_reason"], "why");
        assert_eq!(latest["pinned_availability_zone"], "nova");
        assert_eq!(latest["scheduler_hints"], json!({}));
        // server_groups: show/update only; the hostname for users from 2.90.
        assert!(latest.get("server_groups").is_none());
        let group = Uuid::from_u128(7);
        let show = DetailOptions {
            server_groups: Some(std::slice::from_ref(&group)),
            ..Default::default()
        };
        assert!(render(70, show).get("server_groups").is_none());
        assert_eq!(render(71, show)["server_groups"], json!([group]));
        assert!(render(89, show).get("OS-EXT-SRV-ATTR:hostname").is_none());
        assert_eq!(render(90, show)["OS-EXT-SRV-ATTR:hostname"], "vm-1");
    }

    #[test]
    fn image_properties_from_2_98() {
        assert!(render(97, DetailOptions::default())["image"]
            .get("properties")
            .is_none());
        let img = &render(98, DetailOptions::default())["image"];
        assert_eq!(img["properties"], json!({"hw_disk_bus": "virtio"}));
        let mut bfv = sample();
        bfv.image_ref.clear();
        let user = RequestContext::new("u", "p", vec![], false);
        let v = server_detail(
            "http://x",
            &bfv,
            &user,
            ApiVersion::new(2, 98),
            DetailOptions::default(),
        );
        assert_eq!(v["image"], "");
    }
}
