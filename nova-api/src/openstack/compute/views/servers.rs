//! Servers: the summary of listings and the full body of show and detail.

use super::links;
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::BaseUrl;
use chrono::{DateTime, Datelike, Timelike, Utc};
use nova_common::RequestContext;
use nova_objects::{Flavor, InstanceFault, Vif};
use nova_objects::{Instance, InstanceAttr};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use sha2::{Digest, Sha224};
use std::collections::BTreeMap;
use uuid::Uuid;

/// `hostId`: an opaque per-project hash of the host.
pub fn host_id(project_id: &str, host: Option<&str>) -> String {
    /// The last (project, host, hostId) this thread worked out: a page of
    /// servers is mostly one project's on a few hosts, so most of a
    /// listing's hashes are the one before.
    type Last = Option<(String, String, String)>;
    thread_local!(static LAST: std::cell::RefCell<Last> = const { std::cell::RefCell::new(None) });
    let Some(h) = host.filter(|h| !h.is_empty()) else {
        return String::new();
    };
    LAST.with_borrow_mut(|last| match last {
        Some((p, lh, id)) if p == project_id && lh == h => id.clone(),
        _ => {
            let mut d = Sha224::new();
            d.update(project_id.as_bytes());
            d.update(h.as_bytes());
            let id = format!("{:x}", d.finalize());
            *last = Some((project_id.to_string(), h.to_string(), id.clone()));
            id
        }
    })
}

pub fn server_summary(base: &BaseUrl, i: &Instance) -> Value {
    json!({
        "id": i.uuid.to_string(),
        "name": i.display_name,
        "links": links(base, "servers", &i.uuid.to_string()),
    })
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
pub use nova_objects::PINNED_AZ_KEY;

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

/// `2012-08-20T21:11:09Z` (`micro`: `2012-08-20T21:11:09.000000`), written
/// without chrono's format-string interpreter; `null` without a time.
struct Time(Option<DateTime<Utc>>, bool);

impl Serialize for Time {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some(t) = self.0 else {
            return s.serialize_unit();
        };
        let mut b = [0u8; 26];
        let mut put = |at: usize, n: u32, width: usize| {
            let mut n = n;
            for k in (0..width).rev() {
                b[at + k] = b'0' + (n % 10) as u8;
                n /= 10;
            }
        };
        put(0, t.year().clamp(0, 9999) as u32, 4);
        put(5, t.month(), 2);
        put(8, t.day(), 2);
        put(11, t.hour(), 2);
        put(14, t.minute(), 2);
        put(17, t.second(), 2);
        let len = if self.1 {
            put(20, (t.nanosecond() % 1_000_000_000) / 1000, 6);
            b[19] = b'.';
            26
        } else {
            b[19] = b'Z';
            20
        };
        for (at, c) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
            b[at] = c;
        }
        s.serialize_str(std::str::from_utf8(&b[..len]).unwrap_or_default())
    }
}

/// `{"href": ..., "rel": ...}`.
#[derive(Serialize)]
struct Link<'a> {
    href: String,
    rel: &'a str,
}

/// `parts` joined into a link's href, without the formatting machinery (a
/// listing writes four of them per server).
fn href(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// The self and bookmark links of a server.
fn server_links(base: &BaseUrl, id: &Uuid) -> [Link<'static>; 2] {
    let mut buf = Uuid::encode_buffer();
    let id = id.hyphenated().encode_lower(&mut buf);
    [
        Link {
            href: href(&[&base.versioned, "/servers/", id]),
            rel: "self",
        },
        Link {
            href: href(&[&base.bookmark, "/servers/", id]),
            rel: "bookmark",
        },
    ]
}

/// One address of `addresses`.
#[derive(Serialize)]
struct Address<'a> {
    #[serde(rename = "OS-EXT-IPS-MAC:mac_addr")]
    mac: &'a str,
    #[serde(rename = "OS-EXT-IPS:type")]
    ip_type: &'a str,
    addr: &'a str,
    version: u8,
}

/// `addresses`: per network label, each fixed address followed by its
/// floating ones.
struct Addresses<'a>(&'a [Vif]);

/// The addresses of the VIFs on one network label, in VIF order.
struct LabelAddresses<'a>(Vec<&'a Vif>);

impl Serialize for LabelAddresses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        for vif in &self.0 {
            for subnet in &vif.network.subnets {
                for ip in &subnet.ips {
                    seq.serialize_element(&Address {
                        mac: &vif.address,
                        ip_type: &ip.ip_type,
                        addr: &ip.address,
                        version: ip.version,
                    })?;
                    for f in &ip.floating_ips {
                        seq.serialize_element(&Address {
                            mac: &vif.address,
                            ip_type: "floating",
                            addr: f,
                            version: 4,
                        })?;
                    }
                }
            }
        }
        seq.end()
    }
}

impl Serialize for Addresses<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut by_label: BTreeMap<&str, LabelAddresses<'_>> = BTreeMap::new();
        for vif in self.0 {
            by_label
                .entry(vif.network.label.as_str())
                .or_insert_with(|| LabelAddresses(Vec::new()))
                .0
                .push(vif);
        }
        s.collect_map(by_label)
    }
}

/// `image`: `""` when booted from a volume, else its id and bookmark, with
/// (2.98) the standard image properties recorded at create.
struct Image<'a> {
    base: &'a BaseUrl,
    i: &'a Instance,
    v: ApiVersion,
}

/// 2.98's image `properties`: the standard ones among the `image_*`
/// system metadata.
struct ImageProperties<'a>(&'a BTreeMap<String, String>);

impl Serialize for ImageProperties<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().filter_map(|(k, val)| {
            let name = k.strip_prefix(IMAGE_PROP_PREFIX)?;
            IMAGE_META_PROPS
                .binary_search(&name)
                .ok()
                .map(|_| (name, val))
        }))
    }
}

impl Serialize for Image<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let i = self.i;
        if i.image_ref.is_empty() {
            return s.serialize_str("");
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &i.image_ref)?;
        m.serialize_entry(
            "links",
            &[Link {
                href: href(&[&self.base.bookmark, "/images/", &i.image_ref]),
                rel: "bookmark",
            }],
        )?;
        if self.v.at_least(98) {
            m.serialize_entry("properties", &ImageProperties(&i.system_metadata))?;
        }
        m.end()
    }
}

/// `flavor`: its id and bookmark before 2.47, the embedded flavor from 2.47.
struct FlavorView<'a> {
    base: &'a BaseUrl,
    f: &'a Flavor,
    v: ApiVersion,
    extra_specs: bool,
}

impl Serialize for FlavorView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.f;
        let mut m = s.serialize_map(None)?;
        if !self.v.at_least(47) {
            m.serialize_entry("id", &f.flavorid)?;
            m.serialize_entry(
                "links",
                &[Link {
                    href: href(&[&self.base.bookmark, "/flavors/", &f.flavorid]),
                    rel: "bookmark",
                }],
            )?;
            return m.end();
        }
        m.serialize_entry("disk", &f.root_gb)?;
        m.serialize_entry("ephemeral", &f.ephemeral_gb)?;
        if self.extra_specs {
            m.serialize_entry("extra_specs", &f.extra_specs)?;
        }
        m.serialize_entry("original_name", &f.name)?;
        m.serialize_entry("ram", &f.memory_mb)?;
        m.serialize_entry("swap", &f.swap)?;
        m.serialize_entry("vcpus", &f.vcpus)?;
        m.end()
    }
}

/// A server's `fault`; its details hidden from users for a 500.
struct FaultView<'a> {
    f: &'a InstanceFault,
    admin: bool,
}

impl Serialize for FaultView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.f;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("code", &f.code)?;
        m.serialize_entry("created", &Time(f.created_at, false))?;
        if self.admin || f.code != 500 {
            m.serialize_entry("details", &f.details)?;
        }
        m.serialize_entry("message", &f.message)?;
        m.end()
    }
}

/// nova-network's security groups of a server: `[{"name": ...}]`.
struct SecurityGroupNames<'a>(&'a [String]);

impl Serialize for SecurityGroupNames<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Named<'a> {
            name: &'a str,
        }
        s.collect_seq(self.0.iter().map(|n| Named { name: n }))
    }
}

/// What [`ServerDetail`] shows of what hangs off an instance at `v`, so a
/// listing reads no more (Nova's `expected_attrs` of `servers/detail`):
/// the flavor, addresses, metadata, security groups and fault always, tags
/// from 2.26, trusted certificates from 2.63, and from 2.73 the system
/// metadata (`locked_reason`; later the pinned zone, 2.98's image
/// properties and 2.100's scheduler hints).
pub fn detail_expected_attrs(v: ApiVersion) -> Vec<InstanceAttr> {
    let mut attrs = vec![
        InstanceAttr::Flavor,
        InstanceAttr::InfoCache,
        InstanceAttr::Metadata,
        InstanceAttr::SecurityGroups,
        InstanceAttr::Fault,
    ];
    for (minor, attr) in [
        (26, InstanceAttr::Tags),
        (63, InstanceAttr::TrustedCerts),
        (73, InstanceAttr::SystemMetadata),
    ] {
        if v.at_least(minor) {
            attrs.push(attr);
        }
    }
    attrs
}

/// The full server body (`GET /servers/{id}`, `/servers/detail`), written
/// straight to the serializer: listing 100 servers builds no JSON tree.
/// Members come in sorted order, as a `serde_json::Value` object would
/// write them (so [`server_detail`]'s tree and this write the same bytes).
pub struct ServerDetail<'a> {
    pub base: &'a BaseUrl,
    pub inst: &'a Instance,
    pub ctx: &'a RequestContext,
    pub v: ApiVersion,
    pub opts: DetailOptions<'a>,
}

impl Serialize for ServerDetail<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        self.head(&mut m)?;
        if let Some(hs) = self.host_status() {
            m.serialize_entry("host_status", hs)?;
        }
        self.tail(&mut m)?;
        m.end()
    }
}

impl ServerDetail<'_> {
    /// `host_status`, when this body shows it (admins, 2.16).
    pub fn host_status(&self) -> Option<&str> {
        self.opts
            .host_status
            .filter(|_| self.v.at_least(16) && self.ctx.is_admin)
    }

    /// The members before `host_status` (`OS-DCF:diskConfig` to `hostId`).
    fn head<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        let (i, v, opts) = (self.inst, self.v, self.opts);
        let admin = self.ctx.is_admin;
        let status = i.api_status();
        m.serialize_entry("OS-DCF:diskConfig", disk_config(i))?;
        m.serialize_entry(
            "OS-EXT-AZ:availability_zone",
            i.availability_zone.as_deref().unwrap_or_default(),
        )?;
        // 2.90: the hostname is everyone's to see.
        let hostname = if admin { v.at_least(3) } else { v.at_least(90) };
        if admin {
            m.serialize_entry("OS-EXT-SRV-ATTR:host", &i.host)?;
        }
        if hostname {
            m.serialize_entry("OS-EXT-SRV-ATTR:hostname", &i.hostname)?;
        }
        if admin {
            m.serialize_entry("OS-EXT-SRV-ATTR:hypervisor_hostname", &i.node)?;
            m.serialize_entry("OS-EXT-SRV-ATTR:instance_name", &i.name(opts.name_template))?;
            if v.at_least(3) {
                m.serialize_entry("OS-EXT-SRV-ATTR:kernel_id", &i.kernel_id)?;
                m.serialize_entry("OS-EXT-SRV-ATTR:launch_index", &i.launch_index)?;
                m.serialize_entry("OS-EXT-SRV-ATTR:ramdisk_id", &i.ramdisk_id)?;
                m.serialize_entry("OS-EXT-SRV-ATTR:reservation_id", &i.reservation_id)?;
                m.serialize_entry("OS-EXT-SRV-ATTR:root_device_name", &i.root_device_name)?;
                m.serialize_entry("OS-EXT-SRV-ATTR:user_data", &i.user_data)?;
            }
        }
        m.serialize_entry("OS-EXT-STS:power_state", &i.power_state)?;
        m.serialize_entry("OS-EXT-STS:task_state", &i.task_state.map(|t| t.as_str()))?;
        m.serialize_entry("OS-EXT-STS:vm_state", i.vm_state.as_str())?;
        m.serialize_entry("OS-SRV-USG:launched_at", &Time(i.launched_at, true))?;
        m.serialize_entry("OS-SRV-USG:terminated_at", &Time(i.terminated_at, true))?;
        m.serialize_entry("accessIPv4", i.access_ip_v4.as_deref().unwrap_or_default())?;
        m.serialize_entry("accessIPv6", i.access_ip_v6.as_deref().unwrap_or_default())?;
        m.serialize_entry("addresses", &Addresses(&i.network_info))?;
        m.serialize_entry("config_drive", &i.config_drive)?;
        m.serialize_entry("created", &Time(i.created_at, false))?;
        if v.at_least(19) {
            m.serialize_entry("description", &i.display_description)?;
        }
        if matches!(status, "ERROR" | "DELETED") {
            if let Some(f) = &i.fault {
                m.serialize_entry("fault", &FaultView { f, admin })?;
            }
        }
        m.serialize_entry(
            "flavor",
            &FlavorView {
                base: self.base,
                f: &i.flavor,
                v,
                extra_specs: opts.flavor_extra_specs,
            },
        )?;
        m.serialize_entry("hostId", &host_id(&i.project_id, i.host.as_deref()))?;
        Ok(())
    }

    /// The members after `host_status` (`id` to `user_id`).
    fn tail<M: SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
        let (i, v, opts) = (self.inst, self.v, self.opts);
        let status = i.api_status();
        let sysmeta = |k: &str| i.system_metadata.get(k);
        m.serialize_entry("id", &i.uuid)?;
        m.serialize_entry(
            "image",
            &Image {
                base: self.base,
                i,
                v,
            },
        )?;
        m.serialize_entry("key_name", &i.key_name)?;
        m.serialize_entry("links", &server_links(self.base, &i.uuid))?;
        if v.at_least(9) {
            m.serialize_entry("locked", &i.locked)?;
        }
        if v.at_least(73) {
            m.serialize_entry("locked_reason", &sysmeta("locked_reason"))?;
        }
        m.serialize_entry("metadata", &i.metadata)?;
        m.serialize_entry("name", &i.display_name)?;
        let none: &[u8] = &[];
        m.serialize_entry("os-extended-volumes:volumes_attached", none)?;
        if v.at_least(96) {
            m.serialize_entry("pinned_availability_zone", &sysmeta(PINNED_AZ_KEY))?;
        }
        if matches!(
            status,
            "ACTIVE" | "BUILD" | "REBUILD" | "RESIZE" | "VERIFY_RESIZE" | "MIGRATING"
        ) {
            m.serialize_entry("progress", &i.progress)?;
        }
        if v.at_least(100) {
            let hints = sysmeta(crate::compute::api::SCHEDULER_HINTS_KEY)
                .and_then(|h| serde_json::from_str::<Value>(h).ok())
                .filter(Value::is_object)
                .unwrap_or_else(|| json!({}));
            m.serialize_entry("scheduler_hints", &hints)?;
        }
        // nova-network's security groups: shown when the instance has any.
        if !i.security_groups.is_empty() {
            m.serialize_entry("security_groups", &SecurityGroupNames(&i.security_groups))?;
        }
        if let Some(groups) = opts.server_groups.filter(|_| v.at_least(71)) {
            m.serialize_entry("server_groups", groups)?;
        }
        m.serialize_entry("status", status)?;
        if v.at_least(26) {
            m.serialize_entry("tags", &i.tags)?;
        }
        m.serialize_entry("tenant_id", &i.project_id)?;
        if v.at_least(63) {
            m.serialize_entry("trusted_image_certificates", &i.trusted_certs)?;
        }
        m.serialize_entry("updated", &Time(i.updated_at.or(i.created_at), false))?;
        m.serialize_entry("user_id", &i.user_id)?;
        Ok(())
    }
}

/// A server body written once, to be written again as long as its instance
/// copy and the caller's kind are the same (see `rendered_servers`): its
/// bytes without `host_status`, which depends on the host's service now,
/// and where it goes.
#[derive(Debug)]
pub struct RenderedServer {
    bytes: Vec<u8>,
    /// Where `host_status` goes: after `hostId`, before `id`.
    split: usize,
}

impl RenderedServer {
    pub fn new(d: &ServerDetail<'_>) -> Result<Self, serde_json::Error> {
        /// One half of the body's members, as an object of its own.
        struct Half<'a>(&'a ServerDetail<'a>, bool);
        impl Serialize for Half<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut m = s.serialize_map(None)?;
                if self.1 {
                    self.0.head(&mut m)?;
                } else {
                    self.0.tail(&mut m)?;
                }
                m.end()
            }
        }
        // `{head}` without its `}`, then `{tail}` with a comma for its `{`.
        let mut bytes = serde_json::to_vec(&Half(d, true))?;
        bytes.pop();
        let split = bytes.len();
        serde_json::to_writer(&mut bytes, &Half(d, false))?;
        bytes[split] = b',';
        Ok(RenderedServer { bytes, split })
    }

    /// Append the body, with `host_status` when shown: the bytes
    /// `serde_json` writes for the [`ServerDetail`] it was made from.
    pub fn write(&self, out: &mut Vec<u8>, host_status: Option<&str>) {
        out.extend_from_slice(&self.bytes[..self.split]);
        if let Some(hs) = host_status {
            out.extend_from_slice(b",\"host_status\":");
            // A plain string cannot fail to serialise.
            let _ = serde_json::to_writer(&mut *out, hs);
        }
        out.extend_from_slice(&self.bytes[self.split..]);
    }

    /// The memory it holds.
    pub fn size(&self) -> usize {
        self.bytes.capacity()
    }
}

/// The full server body as a JSON tree (show, update, rebuild: one server).
pub fn server_detail(
    base: &BaseUrl,
    i: &Instance,
    ctx: &RequestContext,
    v: ApiVersion,
    opts: DetailOptions<'_>,
) -> Value {
    serde_json::to_value(ServerDetail {
        base,
        inst: i,
        ctx,
        v,
        opts,
    })
    .unwrap_or_default()
}

/// The body of `PUT /servers/{id}` before 2.75: the server without the
/// extended attributes (Nova's `show` with every `show_*` off).
pub fn server_update_view(
    base: &BaseUrl,
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
        // Nova's update/rebuild views before 2.75 list plain addresses
        // (no `extend_address`).
        if let Some(Value::Object(labels)) = obj.get_mut("addresses") {
            for entry in labels
                .values_mut()
                .filter_map(Value::as_array_mut)
                .flatten()
            {
                if let Some(e) = entry.as_object_mut() {
                    e.retain(|k, _| !k.starts_with("OS-EXT-IPS"));
                }
            }
        }
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

/// `OS-DCF:diskConfig`: Nova's `AUTO` or `MANUAL` from `auto_disk_config`.
pub fn disk_config(i: &Instance) -> &'static str {
    if i.auto_disk_config {
        "AUTO"
    } else {
        "MANUAL"
    }
}

/// The body of a create: just enough to find the server, and its password.
pub fn created(base: &BaseUrl, i: &Instance, admin_pass: &str) -> Value {
    let id = i.uuid.to_string();
    let mut server = json!({
        "id": id,
        "links": links(base, "servers", &id),
        "OS-DCF:diskConfig": disk_config(i),
        "adminPass": admin_pass,
    });
    if !i.security_groups.is_empty() {
        server["security_groups"] = super::security_groups::server_groups(&i.security_groups);
    }
    json!({ "server": server })
}

#[cfg(test)]
mod tests {
    use super::super::{isotime, micro_isotime};
    use super::*;
    use serde_json::Map;

    // The tree-building renderer this file had before `ServerDetail`: the
    // oracle the streaming view is compared with, byte for byte.
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

    /// `image`: `""` when booted from a volume, else its id and bookmark, with
    /// (2.98) the standard image properties recorded at create.
    fn image(base: &BaseUrl, i: &Instance, v: ApiVersion) -> Value {
        if i.image_ref.is_empty() {
            return json!("");
        }
        let mut img = json!({
            "id": i.image_ref,
            "links": [{"rel": "bookmark", "href": format!("{}/images/{}", base.bookmark, i.image_ref)}],
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
    fn flavor(base: &BaseUrl, i: &Instance, v: ApiVersion, extra_specs: bool) -> Value {
        let f = &i.flavor;
        if !v.at_least(47) {
            return json!({
                "id": f.flavorid,
                "links": [{"rel": "bookmark", "href": format!("{}/flavors/{}", base.bookmark, f.flavorid)}],
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
    fn old_server_detail(
        base: &BaseUrl,
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
            "addresses": addresses(i),
            "accessIPv4": i.access_ip_v4.clone().unwrap_or_default(),
            "accessIPv6": i.access_ip_v6.clone().unwrap_or_default(),
            "links": links(base, "servers", &i.uuid.to_string()),
            "OS-DCF:diskConfig": disk_config(i),
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
                super::super::security_groups::server_groups(&i.security_groups),
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

    #[test]
    fn host_id_is_per_project_sha224() {
        assert_eq!(host_id("p", None), "");
        let a = host_id("p1", Some("h"));
        assert_eq!(a.len(), 56);
        assert_ne!(a, host_id("p2", Some("h")));
        // The same answer when it is the last one worked out, and after.
        assert_eq!(host_id("p1", Some("h")), host_id("p1", Some("h")));
        assert_ne!(host_id("p1", Some("h")), host_id("p1", Some("h2")));
        assert_eq!(host_id("p1", Some("h2")), host_id("p1", Some("h2")));
        assert_eq!(host_id("p1", Some("h")), a);
        assert_eq!(host_id("p1", Some("")), "");
        // sha224("p1" + "h"), as Nova's `utils.generate_hostid`.
        assert_eq!(
            a,
            "85f11885062dc38d63ecede8e3ba6d9db25792128e80d74d204007ba"
        );
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
            &BaseUrl::new("http://x", None),
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
            &BaseUrl::new("http://x", None),
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
        server_detail(
            &BaseUrl::new("http://x", None),
            &sample(),
            &user,
            ApiVersion::new(2, v),
            opts,
        )
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
            &BaseUrl::new("http://x", None),
            &bfv,
            &user,
            ApiVersion::new(2, 98),
            DetailOptions::default(),
        );
        assert_eq!(v["image"], "");
    }

    /// An instance with something in every part the body shows.
    fn rich() -> Instance {
        use nova_common::states::{TaskState, VmState};
        use nova_objects::{FixedIpInfo, NetworkRef, SubnetInfo};
        let mut i = sample();
        i.host = Some("c1".into());
        i.node = Some("c1.node".into());
        i.availability_zone = Some("nova".into());
        i.key_name = Some("k \"quoted\"".into());
        i.user_data = Some("dXNlcg==".into());
        i.display_description = Some("d\u{e9}scription\n".into());
        i.access_ip_v4 = Some("1.2.3.4".into());
        i.created_at = chrono::DateTime::from_timestamp(1_700_000_000, 0);
        i.launched_at = chrono::DateTime::from_timestamp(1_700_000_123, 456_789_000);
        i.metadata.insert("a".into(), "b".into());
        i.tags = vec!["t1".into(), "t2".into()];
        i.security_groups = vec!["default".into(), "web".into()];
        i.system_metadata.insert(
            crate::compute::api::SCHEDULER_HINTS_KEY.into(),
            r#"{"group": "x"}"#.into(),
        );
        let vif = |label: &str, mac: &str, addr: &str, floating: Vec<String>| Vif {
            address: mac.into(),
            network: NetworkRef {
                label: label.into(),
                subnets: vec![SubnetInfo {
                    ips: vec![FixedIpInfo {
                        address: addr.into(),
                        ip_type: "fixed".into(),
                        version: 4,
                        floating_ips: floating,
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            ..Default::default()
        };
        i.network_info = vec![
            vif(
                "zeta",
                "fa:16:3e:00:00:01",
                "10.0.0.2",
                vec!["172.24.4.9".into()],
            ),
            vif("alpha", "fa:16:3e:00:00:02", "10.1.0.2", vec![]),
            vif("zeta", "fa:16:3e:00:00:03", "10.0.0.3", vec![]),
        ];
        i.fault = Some(nova_objects::InstanceFault {
            code: 500,
            message: "m".into(),
            details: "d".into(),
            created_at: chrono::DateTime::from_timestamp(1_700_000_200, 0),
            ..Default::default()
        });
        i.vm_state = VmState::Active;
        i.task_state = Some(TaskState::Rebooting);
        i
    }

    #[test]
    fn a_listing_reads_all_that_the_detail_view_shows() {
        use nova_common::states::VmState;
        let mut full = rich();
        full.system_metadata
            .insert("locked_reason".into(), "why".into());
        full.system_metadata
            .insert(PINNED_AZ_KEY.into(), "az1".into());
        full.system_metadata
            .insert("image_hw_disk_bus".into(), "virtio".into());
        full.trusted_certs = Some(vec!["cert".into()]);
        full.vm_state = VmState::Error;
        full.task_state = None;
        for admin in [false, true] {
            let ctx = RequestContext::new("u", "p", vec![], admin);
            for minor in 1..=103 {
                let v = ApiVersion::new(2, minor);
                let opts = DetailOptions {
                    name_template: "instance-%08x",
                    host_status: Some("UP"),
                    flavor_extra_specs: true,
                    server_groups: None,
                };
                let read = full.clone().with_only(&detail_expected_attrs(v));
                let body =
                    |inst| server_detail(&BaseUrl::new("http://x", None), inst, &ctx, v, opts);
                assert_eq!(body(&read), body(&full), "2.{minor}, admin {admin}");
            }
        }
        // And what it leaves out is left out: before 2.26 no tags, before
        // 2.73 no system metadata.
        let early = detail_expected_attrs(ApiVersion::new(2, 1));
        assert!(!early.contains(&InstanceAttr::Tags));
        assert!(!early.contains(&InstanceAttr::SystemMetadata));
        assert!(
            detail_expected_attrs(ApiVersion::new(2, 73)).contains(&InstanceAttr::SystemMetadata)
        );
    }

    #[test]
    fn streaming_view_writes_what_the_tree_did() {
        use nova_common::states::VmState;
        let group = Uuid::from_u128(7);
        let mut cases = vec![rich(), sample()];
        let mut err = rich();
        err.vm_state = VmState::Error;
        err.task_state = None;
        cases.push(err);
        let mut bfv = rich();
        bfv.image_ref.clear();
        bfv.fault.as_mut().unwrap().code = 404;
        bfv.vm_state = VmState::Error;
        cases.push(bfv);
        for inst in &cases {
            for admin in [false, true] {
                let ctx = RequestContext::new("u", "p", vec![], admin);
                for minor in 1..=103 {
                    for (hs, specs, groups) in [
                        (None, false, None),
                        (Some("UP"), true, Some(std::slice::from_ref(&group))),
                    ] {
                        let opts = DetailOptions {
                            name_template: "instance-%08x",
                            host_status: hs,
                            flavor_extra_specs: specs,
                            server_groups: groups,
                        };
                        let v = ApiVersion::new(2, minor);
                        // A URL that named the project is in every link.
                        let base = &BaseUrl::new("http://x", admin.then_some("p"));
                        let tree = old_server_detail(base, inst, &ctx, v, opts);
                        let stream = ServerDetail {
                            base,
                            inst,
                            ctx: &ctx,
                            v,
                            opts,
                        };
                        assert_eq!(
                            serde_json::to_string(&stream).unwrap(),
                            serde_json::to_string(&tree).unwrap(),
                            "2.{minor} admin={admin}"
                        );
                        assert_eq!(server_detail(base, inst, &ctx, v, opts), tree);
                        // Written once without host_status, then with it put in.
                        let kept = RenderedServer::new(&ServerDetail {
                            opts: DetailOptions {
                                host_status: None,
                                ..opts
                            },
                            ..stream
                        })
                        .unwrap();
                        let mut again = Vec::new();
                        kept.write(&mut again, stream.host_status());
                        assert_eq!(
                            String::from_utf8(again).unwrap(),
                            serde_json::to_string(&tree).unwrap(),
                            "kept, 2.{minor} admin={admin}"
                        );
                    }
                }
            }
        }
    }
}
