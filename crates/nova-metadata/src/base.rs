//! An instance's metadata and the two trees it is served as (Nova's
//! `nova/api/metadata/base.py`): the EC2-style tree (`/<version>/meta-data/…`,
//! `/<version>/user-data`) and the OpenStack tree
//! (`/openstack/<version>/meta_data.json`, `user_data`, `vendor_data.json`,
//! `network_data.json`, `vendor_data2.json`, `password`).
//!
//! [`InstanceMetadata`] is collected once per instance (and cached by the
//! handler); [`InstanceMetadata::lookup`] answers a path from it.

use base64::Engine;
use nova_objects::device_metadata::{DeviceMetadata, InstanceDeviceMetadata};
use nova_objects::NetworkInfo;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The EC2 metadata versions (`latest` is the last).
pub const VERSIONS: &[&str] = &[
    "1.0",
    "2007-01-19",
    "2007-03-01",
    "2007-08-29",
    "2007-10-10",
    "2007-12-15",
    "2008-02-01",
    "2008-09-01",
    "2009-04-04",
];

pub const FOLSOM: &str = "2012-08-10";
pub const GRIZZLY: &str = "2013-04-04";
pub const HAVANA: &str = "2013-10-17";
pub const LIBERTY: &str = "2015-10-15";
pub const NEWTON_ONE: &str = "2016-06-30";
pub const NEWTON_TWO: &str = "2016-10-06";
pub const OCATA: &str = "2017-02-22";
pub const ROCKY: &str = "2018-08-27";
pub const VICTORIA: &str = "2020-10-14";

/// The OpenStack metadata versions (`latest` is the last); versions dated
/// in the future are hidden from the listing but may be asked for.
pub const OPENSTACK_VERSIONS: &[&str] = &[
    FOLSOM, GRIZZLY, HAVANA, LIBERTY, NEWTON_ONE, NEWTON_TWO, OCATA, ROCKY, VICTORIA,
];

pub const MD_JSON_NAME: &str = "meta_data.json";
pub const VD_JSON_NAME: &str = "vendor_data.json";
pub const VD2_JSON_NAME: &str = "vendor_data2.json";
pub const NW_JSON_NAME: &str = "network_data.json";
pub const UD_NAME: &str = "user_data";
pub const PASS_NAME: &str = "password";
pub const MIME_TYPE_TEXT_PLAIN: &str = "text/plain";
pub const MIME_TYPE_APPLICATION_JSON: &str = "application/json";

/// The instance's key pair as the metadata shows it.
#[derive(Clone, Debug, PartialEq)]
pub struct Key {
    pub name: String,
    pub key_type: String,
    pub public_key: String,
}

/// Everything the metadata of one instance is made of.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceMetadata {
    pub uuid: Uuid,
    pub project_id: String,
    /// The display name.
    pub name: String,
    /// `<hostname>.<dhcp_domain>` (or the bare hostname without a domain).
    pub hostname: String,
    pub launch_index: i32,
    pub reservation_id: String,
    pub availability_zone: String,
    /// EC2 ids: `i-…`, `ami-…`, and the kernel and ramdisk (`aki-…`, `ari-…`) when set.
    pub ec2_instance_id: String,
    pub ami_id: String,
    pub kernel_id: Option<String>,
    pub ramdisk_id: Option<String>,
    /// The flavor's name.
    pub instance_type: String,
    pub root_device_name: Option<String>,
    /// The flavor's ephemeral and swap disks' devices (`/dev/vdb`, ...).
    pub ephemeral_device: Option<String>,
    pub swap_device: Option<String>,
    pub key: Option<Key>,
    /// The decoded user data.
    pub user_data: Option<Vec<u8>>,
    /// The server's metadata (`meta`).
    pub meta: BTreeMap<String, String>,
    pub security_groups: Vec<String>,
    /// The address the request came from.
    pub address: Option<String>,
    pub network_info: NetworkInfo,
    /// The guest's pinned vCPUs (its NUMA cells' `pcpuset`), sorted.
    pub dedicated_cpus: Vec<u32>,
    /// Where the hypervisor put the devices the user tagged.
    pub device_metadata: Option<InstanceDeviceMetadata>,
    /// The password the guest posted (`password_N` system metadata, joined).
    pub password: String,
    /// The StaticJSON vendor data (the `vendordata_jsonfile_path` file, or
    /// `{}`), None when `vendordata_providers` does not list StaticJSON.
    pub vendor_data: Option<Value>,
    /// The personality files (path, contents) a config drive carries
    /// (Nova's `content`): listed as `files` in `meta_data.json`, each
    /// served as `openstack/content/<NNNN>`. The metadata service has none
    /// (Nova does not keep them after the build).
    pub files: Vec<(String, Vec<u8>)>,
    /// The admin password a config drive's `meta_data.json` shows as
    /// `admin_pass` (Nova's `extra_md`).
    pub admin_pass: Option<String>,
}

/// The directory of the personality files in the OpenStack tree.
pub const CONTENT_DIR: &str = "content";

/// The key of the `index`th personality file (`0000`, `0001`, ...).
fn content_key(index: usize) -> String {
    format!("{index:04}")
}

/// A path the metadata does not have (404).
#[derive(Debug, PartialEq)]
pub struct InvalidMetadataPath;

/// What a path resolves to: a body and its content type.
#[derive(Debug, PartialEq)]
pub struct Found {
    pub body: Vec<u8>,
    pub mime: &'static str,
}

/// A node of the EC2 tree.
#[derive(Clone, Debug)]
enum Node {
    /// A directory; `name` replaces the `key/` line in its parent's listing
    /// (`public-keys/` lists `0=<key name>`).
    Dir {
        name: Option<String>,
        children: BTreeMap<String, Node>,
    },
    List(Vec<String>),
    Leaf(Vec<u8>),
}

impl Node {
    fn leaf(s: impl Into<String>) -> Node {
        Node::Leaf(s.into().into_bytes())
    }

    fn dir(children: BTreeMap<String, Node>) -> Node {
        Node::Dir {
            name: None,
            children,
        }
    }

    /// Nova's `ec2_md_print`.
    fn render(&self) -> Vec<u8> {
        match self {
            Node::Dir { children, .. } => children
                .iter()
                .map(|(k, v)| match v {
                    Node::Dir { name: Some(n), .. } => n.clone(),
                    Node::Dir { name: None, .. } => format!("{k}/"),
                    _ => k.clone(),
                })
                .collect::<Vec<_>>()
                .join("\n")
                .into_bytes(),
            Node::List(items) => items.join("\n").into_bytes(),
            Node::Leaf(b) => b.clone(),
        }
    }

    /// The tree as JSON (a config drive's `ec2/<version>/meta-data.json`):
    /// directories are objects (a listing name such as `0=<key>` is not
    /// data), lists arrays, leaves strings.
    fn to_json(&self) -> Value {
        match self {
            Node::Dir { children, .. } => Value::Object(
                children
                    .iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect(),
            ),
            Node::List(items) => json!(items),
            Node::Leaf(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

/// `posixpath.normpath`: no empty or `.` segments, `..` resolved, no trailing slash.
pub fn normpath(path: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            s => out.push(s),
        }
    }
    format!("/{}", out.join("/"))
}

/// Today as `YYYY-MM-DD` (UTC).
fn today() -> String {
    chrono::Utc::now().format("%Y-%m-%d").to_string()
}

/// Whether `path` names the OpenStack tree's `password` (which, from
/// 2013-04-04 on, also takes a POST).
pub fn is_password_path(path: &str) -> bool {
    let path = normpath(path);
    let tokens: Vec<&str> = path.split('/').filter(|t| !t.is_empty()).collect();
    matches!(tokens.as_slice(), ["openstack", _, PASS_NAME])
}

fn version_index(versions: &[&str], v: &str) -> Option<usize> {
    versions.iter().position(|x| *x == v)
}

/// Whether `requested` is at least `required` (both known versions).
fn at_least(versions: &[&str], required: &str, requested: &str) -> bool {
    match (
        version_index(versions, requested),
        version_index(versions, required),
    ) {
        (Some(a), Some(b)) => a >= b,
        _ => false,
    }
}

fn found(body: impl Into<Vec<u8>>, mime: &'static str) -> Found {
    Found {
        body: body.into(),
        mime,
    }
}

impl InstanceMetadata {
    /// The first fixed IPv4 address and the first floating address
    /// (Nova's `get_ip_info_for_instance_from_nw_info`).
    fn ip_info(&self) -> (Option<String>, Option<String>) {
        let ips = self
            .network_info
            .iter()
            .flat_map(|v| v.network.subnets.iter())
            .flat_map(|s| s.ips.iter())
            .filter(|ip| ip.version == 4);
        let mut fixed = None;
        let mut floating = None;
        for ip in ips {
            fixed.get_or_insert_with(|| ip.address.clone());
            if let Some(f) = ip.floating_ips.first() {
                floating.get_or_insert_with(|| f.clone());
            }
        }
        (fixed, floating)
    }

    /// The EC2 tree of `version` (`{"meta-data": …, "user-data": …}`), or
    /// None for an unknown version.
    fn ec2_metadata(&self, version: &str) -> Option<Node> {
        let version = if version == "latest" {
            VERSIONS[VERSIONS.len() - 1]
        } else {
            version
        };
        version_index(VERSIONS, version)?;
        let since = |v: &str| at_least(VERSIONS, v, version);
        let (fixed, floating) = self.ip_info();
        let mut md: BTreeMap<String, Node> = BTreeMap::new();
        md.insert("ami-id".into(), Node::leaf(&self.ami_id));
        md.insert(
            "ami-launch-index".into(),
            Node::leaf(self.launch_index.to_string()),
        );
        md.insert("ami-manifest-path".into(), Node::leaf("FIXME"));
        md.insert("instance-id".into(), Node::leaf(&self.ec2_instance_id));
        md.insert("hostname".into(), Node::leaf(&self.hostname));
        md.insert(
            "local-ipv4".into(),
            Node::leaf(fixed.or_else(|| self.address.clone()).unwrap_or_default()),
        );
        md.insert("reservation-id".into(), Node::leaf(&self.reservation_id));
        md.insert(
            "security-groups".into(),
            Node::List(self.security_groups.clone()),
        );
        if let Some(key) = &self.key {
            let mut k0 = BTreeMap::new();
            k0.insert("openssh-key".to_string(), Node::leaf(&key.public_key));
            let mut keys = BTreeMap::new();
            keys.insert(
                "0".to_string(),
                Node::Dir {
                    name: Some(format!("0={}", key.name)),
                    children: k0,
                },
            );
            md.insert("public-keys".into(), Node::dir(keys));
        }
        if since("2007-01-19") {
            md.insert("local-hostname".into(), Node::leaf(&self.hostname));
            md.insert("public-hostname".into(), Node::leaf(&self.hostname));
            md.insert(
                "public-ipv4".into(),
                Node::leaf(floating.unwrap_or_default()),
            );
        }
        if since("2007-08-29") {
            md.insert("instance-type".into(), Node::leaf(&self.instance_type));
        }
        if since("2007-12-15") {
            md.insert(
                "block-device-mapping".into(),
                Node::dir(self.block_device_mapping()),
            );
            if let Some(k) = &self.kernel_id {
                md.insert("kernel-id".into(), Node::leaf(k));
            }
            if let Some(r) = &self.ramdisk_id {
                md.insert("ramdisk-id".into(), Node::leaf(r));
            }
        }
        if since("2008-02-01") {
            let mut p = BTreeMap::new();
            p.insert(
                "availability-zone".to_string(),
                Node::leaf(&self.availability_zone),
            );
            md.insert("placement".into(), Node::dir(p));
        }
        if since("2008-09-01") {
            md.insert("instance-action".into(), Node::leaf("none"));
        }
        let mut data = BTreeMap::new();
        data.insert("meta-data".to_string(), Node::dir(md));
        if let Some(ud) = &self.user_data {
            data.insert("user-data".to_string(), Node::Leaf(ud.clone()));
        }
        Some(Node::dir(data))
    }

    /// Nova's `instance_block_mapping` for an image-backed root disk:
    /// `ami` and `root` name the root device, `ephemeral0` and `swap` the
    /// flavor's disks.
    fn block_device_mapping(&self) -> BTreeMap<String, Node> {
        let root = self
            .root_device_name
            .clone()
            .unwrap_or_else(|| "/dev/vda".into());
        let mut m = BTreeMap::new();
        m.insert(
            "ami".to_string(),
            Node::leaf(root.trim_start_matches("/dev/")),
        );
        m.insert("root".to_string(), Node::leaf(root));
        if let Some(d) = &self.ephemeral_device {
            m.insert("ephemeral0".to_string(), Node::leaf(d.clone()));
        }
        if let Some(d) = &self.swap_device {
            m.insert("swap".to_string(), Node::leaf(d.clone()));
        }
        m
    }

    /// `meta_data.json` of `version`.
    pub fn metadata_json(&self, version: &str) -> Value {
        let since = |v: &str| at_least(OPENSTACK_VERSIONS, v, version);
        let mut m = Map::new();
        m.insert("uuid".into(), json!(self.uuid));
        if !self.meta.is_empty() {
            m.insert("meta".into(), json!(self.meta));
        }
        if let Some(key) = &self.key {
            m.insert(
                "public_keys".into(),
                json!({ key.name.clone(): key.public_key }),
            );
            m.insert(
                "keys".into(),
                json!([{"name": key.name, "type": key.key_type, "data": key.public_key}]),
            );
        }
        m.insert("hostname".into(), json!(self.hostname));
        m.insert("name".into(), json!(self.name));
        m.insert("launch_index".into(), json!(self.launch_index));
        m.insert("availability_zone".into(), json!(self.availability_zone));
        if since(GRIZZLY) {
            let mut seed = [0u8; 512];
            rand::Rng::fill(&mut rand::rng(), &mut seed[..]);
            m.insert(
                "random_seed".into(),
                json!(base64::engine::general_purpose::STANDARD.encode(seed)),
            );
        }
        if since(LIBERTY) {
            m.insert("project_id".into(), json!(self.project_id));
        }
        if since(NEWTON_ONE) {
            m.insert("devices".into(), self.devices(version));
        }
        if since(VICTORIA) {
            m.insert("dedicated_cpus".into(), json!(self.dedicated_cpus));
        }
        if !self.files.is_empty() {
            let files: Vec<Value> = self
                .files
                .iter()
                .enumerate()
                .map(|(i, (path, _))| {
                    json!({"path": path, "content_path": format!("/{CONTENT_DIR}/{}", content_key(i))})
                })
                .collect();
            m.insert("files".into(), Value::Array(files));
        }
        if let Some(p) = &self.admin_pass {
            m.insert("admin_pass".into(), json!(p));
        }
        Value::Object(m)
    }

    /// `meta_data.json`'s `devices` (Nova's `_get_device_metadata`): each
    /// tagged device with its bus and address (`none` when unknown), a
    /// NIC's MAC, its VLAN from 2017-02-22 and `vf_trusted` from
    /// 2018-08-27.
    fn devices(&self, version: &str) -> Value {
        let since = |v: &str| at_least(OPENSTACK_VERSIONS, v, version);
        let devices = self.device_metadata.iter().flat_map(|m| &m.devices);
        let out = devices.map(|d| {
            let DeviceMetadata::Nic(nic) = d;
            let mut o = Map::new();
            if let (Some(vlan), true) = (nic.vlan, since(OCATA)) {
                o.insert("vlan".into(), json!(vlan));
            }
            if since(ROCKY) {
                o.insert("vf_trusted".into(), json!(nic.vf_trusted));
            }
            o.insert("type".into(), json!("nic"));
            o.insert("mac".into(), json!(nic.mac));
            let bus = nic.bus.as_ref();
            o.insert("bus".into(), json!(bus.map_or("none", |b| b.kind.as_str())));
            let address = bus.and_then(|b| b.address.as_deref());
            o.insert("address".into(), json!(address.unwrap_or("none")));
            if !nic.tags.is_empty() {
                o.insert("tags".into(), json!(nic.tags));
            }
            Value::Object(o)
        });
        Value::Array(out.collect())
    }

    /// `network_data.json` (Nova's `netutils.get_network_metadata`):
    /// nova-network's subnets are served by its dnsmasq, so each is
    /// `ipv4_dhcp`.
    pub fn network_data(&self) -> Value {
        let mut links = vec![];
        let mut networks = vec![];
        let mut services: Vec<Value> = vec![];
        for (ifc_num, vif) in self.network_info.iter().enumerate() {
            let Some(subnet) = vif.network.subnets.iter().find(|s| !s.cidr.contains(':')) else {
                continue;
            };
            // nova-network's network info names no device (Nova's
            // `_get_eth_link` then numbers the links); the tap device is
            // the host's business.
            let link_id = format!("interface{ifc_num}");
            let legacy = [
                "bridge",
                "dvs",
                "hw_veb",
                "hostdev_physical",
                "ib_hostdev",
                "ivs",
                "ovs",
                "vhostuser",
                "vrouter",
            ];
            let nic_type = if legacy.contains(&vif.vif_type.as_str()) {
                vif.vif_type.clone()
            } else {
                "phy".into()
            };
            links.push(json!({
                "id": link_id,
                "vif_id": vif.id,
                "type": nic_type,
                "mtu": null,
                "ethernet_mac_address": vif.address,
            }));
            networks.push(json!({
                "id": format!("network{}", networks.len()),
                "type": "ipv4_dhcp",
                "link": link_id,
                "network_id": vif.network.id,
            }));
            for dns in &subnet.dns {
                let s = json!({"type": "dns", "address": dns});
                if !services.contains(&s) {
                    services.push(s);
                }
            }
        }
        if links.is_empty() {
            return json!({});
        }
        json!({"links": links, "networks": networks, "services": services})
    }

    /// The files of an OpenStack version directory (Nova's `_handle_version`).
    fn version_listing(&self, version: &str) -> Vec<String> {
        let since = |v: &str| at_least(OPENSTACK_VERSIONS, v, version);
        let mut ret = vec![MD_JSON_NAME.to_string()];
        if self.user_data.is_some() {
            ret.push(UD_NAME.into());
        }
        if since(GRIZZLY) {
            ret.push(PASS_NAME.into());
        }
        if since(HAVANA) {
            ret.push(VD_JSON_NAME.into());
        }
        if since(LIBERTY) {
            ret.push(NW_JSON_NAME.into());
        }
        if since(NEWTON_TWO) {
            ret.push(VD2_JSON_NAME.into());
        }
        ret
    }

    fn openstack_item(&self, tokens: &[&str]) -> Result<Found, InvalidMetadataPath> {
        let requested = tokens.first().copied().unwrap_or_default();
        if requested == CONTENT_DIR {
            return self.content_item(tokens);
        }
        let version = if requested == "latest" {
            OPENSTACK_VERSIONS[OPENSTACK_VERSIONS.len() - 1]
        } else {
            requested
        };
        version_index(OPENSTACK_VERSIONS, version).ok_or(InvalidMetadataPath)?;
        let since = |v: &str| at_least(OPENSTACK_VERSIONS, v, version);
        let json_body = |v: &Value| found(v.to_string(), MIME_TYPE_APPLICATION_JSON);
        if tokens.len() == 1 {
            return Ok(found(
                self.version_listing(version).join("\n"),
                MIME_TYPE_TEXT_PLAIN,
            ));
        }
        let path = tokens[1..].join("/");
        match path.as_str() {
            MD_JSON_NAME => Ok(json_body(&self.metadata_json(version))),
            UD_NAME => self
                .user_data
                .as_ref()
                .map(|u| found(u.clone(), MIME_TYPE_TEXT_PLAIN))
                .ok_or(InvalidMetadataPath),
            // The network data is JSON, served with the default type as Nova does.
            NW_JSON_NAME => Ok(found(self.network_data().to_string(), MIME_TYPE_TEXT_PLAIN)),
            VD_JSON_NAME if since(HAVANA) => self
                .vendor_data
                .as_ref()
                .map(json_body)
                .ok_or(InvalidMetadataPath),
            VD2_JSON_NAME if since(NEWTON_TWO) => {
                let mut j = Map::new();
                if let Some(v) = &self.vendor_data {
                    j.insert("static".into(), v.clone());
                }
                Ok(json_body(&Value::Object(j)))
            }
            PASS_NAME if since(GRIZZLY) => Ok(found(self.password.clone(), MIME_TYPE_TEXT_PLAIN)),
            _ => Err(InvalidMetadataPath),
        }
    }

    /// `openstack/content/<NNNN>` (Nova's `_handle_content`): a
    /// personality file's contents; no listing, one level.
    fn content_item(&self, tokens: &[&str]) -> Result<Found, InvalidMetadataPath> {
        let [_, key] = tokens else {
            return Err(InvalidMetadataPath);
        };
        let i = key.parse::<usize>().map_err(|_| InvalidMetadataPath)?;
        match self.files.get(i) {
            Some((_, contents)) if content_key(i) == *key => {
                Ok(found(contents.clone(), MIME_TYPE_TEXT_PLAIN))
            }
            _ => Err(InvalidMetadataPath),
        }
    }

    /// The files of a config drive (Nova's `metadata_for_config_drive`):
    /// each EC2 version not in `skip_versions` (`[api]
    /// config_drive_skip_versions`) and `latest` as
    /// `ec2/<version>/meta-data.json` (and `user-data`), each OpenStack
    /// version and `latest` as `openstack/<version>/meta_data.json`,
    /// `user_data`, `vendor_data.json`, `network_data.json`,
    /// `vendor_data2.json` (from the version that has each), and the
    /// personality files as `openstack/content/<NNNN>`.
    pub fn config_drive_files(&self, skip_versions: &[&str]) -> Vec<(String, Vec<u8>)> {
        let mut out = vec![];
        for version in VERSIONS.iter().copied().chain(["latest"]) {
            if skip_versions.contains(&version) {
                continue;
            }
            let Some(Node::Dir { mut children, .. }) = self.ec2_metadata(version) else {
                continue;
            };
            if let Some(ud) = children.remove("user-data") {
                out.push((format!("ec2/{version}/user-data"), ud.render()));
            }
            if let Some(md) = children.remove("meta-data") {
                out.push((
                    format!("ec2/{version}/meta-data.json"),
                    md.to_json().to_string().into_bytes(),
                ));
            }
        }
        for version in OPENSTACK_VERSIONS.iter().copied().chain(["latest"]) {
            let since = |v: &str| version == "latest" || at_least(OPENSTACK_VERSIONS, v, version);
            let mut names = vec![MD_JSON_NAME];
            if self.user_data.is_some() {
                names.push(UD_NAME);
            }
            if since(HAVANA) {
                names.push(VD_JSON_NAME);
            }
            if since(LIBERTY) {
                names.push(NW_JSON_NAME);
            }
            if since(NEWTON_TWO) {
                names.push(VD2_JSON_NAME);
            }
            for name in names {
                let path = format!("openstack/{version}/{name}");
                // Without StaticJSON there is no vendor_data.json to write.
                if let Ok(f) = self.lookup(&path) {
                    out.push((path, f.body));
                }
            }
        }
        for (i, (_, contents)) in self.files.iter().enumerate() {
            out.push((
                format!("openstack/{CONTENT_DIR}/{}", content_key(i)),
                contents.clone(),
            ));
        }
        out
    }

    /// The metadata at `path` (Nova's `InstanceMetadata.lookup`): a path not
    /// under `/openstack` is in the EC2 tree.
    pub fn lookup(&self, path: &str) -> Result<Found, InvalidMetadataPath> {
        let path = normpath(path);
        let mut tokens: Vec<&str> = path.split('/').skip(1).filter(|t| !t.is_empty()).collect();
        if tokens.first() != Some(&"openstack") && tokens.first() != Some(&"ec2") {
            tokens.insert(0, "ec2");
        }
        if tokens.len() == 1 {
            let versions: Vec<String> = if tokens[0] == "openstack" {
                let today = today();
                OPENSTACK_VERSIONS
                    .iter()
                    .filter(|v| **v <= today.as_str())
                    .map(|v| v.to_string())
                    .chain(["latest".to_string()])
                    .collect()
            } else {
                VERSIONS
                    .iter()
                    .map(|v| v.to_string())
                    .chain(["latest".to_string()])
                    .collect()
            };
            return Ok(found(versions.join("\n"), MIME_TYPE_TEXT_PLAIN));
        }
        if tokens[0] == "openstack" {
            return self.openstack_item(&tokens[1..]);
        }
        let mut node = self.ec2_metadata(tokens[1]).ok_or(InvalidMetadataPath)?;
        for t in &tokens[2..] {
            node = match node {
                Node::Dir { mut children, .. } => children.remove(*t).ok_or(InvalidMetadataPath)?,
                _ => return Err(InvalidMetadataPath),
            };
        }
        Ok(found(node.render(), MIME_TYPE_TEXT_PLAIN))
    }
}

/// The response to `/`: the EC2 versions and `latest`.
pub fn root_listing() -> String {
    VERSIONS
        .iter()
        .copied()
        .chain(["latest"])
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::device_metadata::{BusKind, DeviceBus, NicMetadata};
    use nova_objects::{FixedIpInfo, NetworkRef, SubnetInfo, Vif};

    fn md() -> InstanceMetadata {
        InstanceMetadata {
            uuid: Uuid::from_u128(7),
            project_id: "p1".into(),
            name: "vm one".into(),
            hostname: "vm-one.novalocal".into(),
            launch_index: 0,
            reservation_id: "r-abcdefgh".into(),
            availability_zone: "nova".into(),
            ec2_instance_id: "i-0000000a".into(),
            ami_id: "ami-00000001".into(),
            kernel_id: None,
            ramdisk_id: None,
            instance_type: "m1.tiny".into(),
            root_device_name: Some("/dev/vda".into()),
            ephemeral_device: None,
            swap_device: None,
            key: Some(Key {
                name: "k1".into(),
                key_type: "ssh".into(),
                public_key: "ssh-rsa AAAA k1".into(),
            }),
            user_data: Some(b"#!/bin/sh\necho hi\n".to_vec()),
            meta: [("role".to_string(), "web".to_string())].into(),
            security_groups: vec!["default".into()],
            address: Some("10.0.0.3".into()),
            network_info: vec![Vif {
                id: Uuid::from_u128(9),
                address: "fa:16:3e:00:00:01".into(),
                network: NetworkRef {
                    id: Uuid::from_u128(5),
                    label: "private".into(),
                    bridge: "br100".into(),
                    bridge_interface: None,
                    should_create_bridge: true,
                    subnets: vec![SubnetInfo {
                        cidr: "10.0.0.0/24".into(),
                        gateway: Some("10.0.0.1".into()),
                        dns: vec!["8.8.8.8".into()],
                        ips: vec![FixedIpInfo {
                            address: "10.0.0.3".into(),
                            ip_type: "fixed".into(),
                            version: 4,
                            floating_ips: vec!["172.24.4.5".into()],
                        }],
                    }],
                },
                vif_type: "bridge".into(),
                devname: Some("tap00000000-00".into()),
            }],
            dedicated_cpus: vec![0, 1],
            device_metadata: Some(InstanceDeviceMetadata {
                devices: vec![DeviceMetadata::Nic(NicMetadata {
                    mac: "fa:16:3e:00:00:01".into(),
                    bus: Some(DeviceBus {
                        kind: BusKind::Pci,
                        address: Some("0000:00:03.0".into()),
                    }),
                    tags: vec!["storage".into()],
                    vlan: None,
                    vf_trusted: false,
                })],
            }),
            password: String::new(),
            vendor_data: Some(json!({})),
            files: vec![],
            admin_pass: None,
        }
    }

    fn text(m: &InstanceMetadata, path: &str) -> String {
        String::from_utf8(m.lookup(path).expect(path).body).expect("utf8")
    }

    #[test]
    fn ec2_tree() {
        let m = md();
        assert_eq!(text(&m, "/latest"), "meta-data/\nuser-data");
        let listing = text(&m, "/latest/meta-data/");
        assert_eq!(
            listing,
            "ami-id\nami-launch-index\nami-manifest-path\nblock-device-mapping/\nhostname\n\
             instance-action\ninstance-id\ninstance-type\nlocal-hostname\nlocal-ipv4\nplacement/\n\
             public-hostname\npublic-ipv4\npublic-keys/\nreservation-id\nsecurity-groups"
        );
        assert_eq!(text(&m, "/2009-04-04/meta-data/instance-id"), "i-0000000a");
        assert_eq!(text(&m, "/latest/meta-data/local-ipv4"), "10.0.0.3");
        assert_eq!(text(&m, "/latest/meta-data/public-ipv4"), "172.24.4.5");
        assert_eq!(text(&m, "/latest/meta-data/public-keys"), "0=k1");
        assert_eq!(text(&m, "/latest/meta-data/public-keys/0"), "openssh-key");
        assert_eq!(
            text(&m, "/latest/meta-data/public-keys/0/openssh-key"),
            "ssh-rsa AAAA k1"
        );
        assert_eq!(
            text(&m, "/latest/meta-data/placement/availability-zone"),
            "nova"
        );
        assert_eq!(text(&m, "/latest/meta-data/security-groups"), "default");
        assert_eq!(text(&m, "/latest/user-data"), "#!/bin/sh\necho hi\n");
        assert_eq!(
            text(&m, "/latest/meta-data/block-device-mapping/"),
            "ami\nroot"
        );
        let disks = InstanceMetadata {
            ephemeral_device: Some("/dev/vdb".into()),
            swap_device: Some("/dev/vdc".into()),
            ..md()
        };
        assert_eq!(
            text(&disks, "/latest/meta-data/block-device-mapping/"),
            "ami\nephemeral0\nroot\nswap"
        );
        assert_eq!(
            text(&disks, "/latest/meta-data/block-device-mapping/ephemeral0"),
            "/dev/vdb"
        );
        assert_eq!(
            text(&disks, "/latest/meta-data/block-device-mapping/swap"),
            "/dev/vdc"
        );
        // Older versions have less.
        assert!(!text(&m, "/1.0/meta-data").contains("public-ipv4"));
        assert!(m.lookup("/1.0/meta-data/instance-type").is_err());
        for bad in [
            "/2010-01-01/meta-data",
            "/latest/meta-data/nope",
            "/latest/meta-data/hostname/x",
        ] {
            assert_eq!(m.lookup(bad), Err(InvalidMetadataPath), "{bad}");
        }
        // No user data: none listed, 404.
        let mut m = md();
        m.vendor_data = None;
        assert!(m.lookup("/openstack/latest/vendor_data.json").is_err());
        assert_eq!(text(&m, "/openstack/latest/vendor_data2.json"), "{}");
        m.user_data = None;
        assert_eq!(text(&m, "/latest"), "meta-data/");
        assert!(m.lookup("/latest/user-data").is_err());
    }

    #[test]
    fn openstack_tree() {
        let m = md();
        let versions = text(&m, "/openstack");
        assert!(
            versions.starts_with("2012-08-10\n2013-04-04\n"),
            "{versions}"
        );
        assert!(versions.ends_with("\n2020-10-14\nlatest"), "{versions}");
        assert_eq!(
            text(&m, "/openstack/latest"),
            "meta_data.json\nuser_data\npassword\nvendor_data.json\nnetwork_data.json\nvendor_data2.json"
        );
        assert_eq!(
            text(&m, "/openstack/2012-08-10"),
            "meta_data.json\nuser_data"
        );
        let f = m.lookup("/openstack/latest/meta_data.json").expect("md");
        assert_eq!(f.mime, MIME_TYPE_APPLICATION_JSON);
        let j: Value = serde_json::from_slice(&f.body).expect("json");
        assert_eq!(j["uuid"], Uuid::from_u128(7).to_string());
        assert_eq!(j["hostname"], "vm-one.novalocal");
        assert_eq!(j["name"], "vm one");
        assert_eq!(j["public_keys"]["k1"], "ssh-rsa AAAA k1");
        assert_eq!(j["keys"][0]["type"], "ssh");
        assert_eq!(j["meta"]["role"], "web");
        assert_eq!(j["project_id"], "p1");
        assert_eq!(j["launch_index"], 0);
        assert_eq!(
            j["devices"],
            json!([{"type": "nic", "bus": "pci", "address": "0000:00:03.0",
                "mac": "fa:16:3e:00:00:01", "tags": ["storage"], "vf_trusted": false}])
        );
        assert_eq!(j["dedicated_cpus"], json!([0, 1]));
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(j["random_seed"].as_str().expect("seed"))
                .expect("b64")
                .len(),
            512
        );
        // Folsom has neither the seed nor the project.
        let f = m
            .lookup("/openstack/2012-08-10/meta_data.json")
            .expect("md");
        let j: Value = serde_json::from_slice(&f.body).expect("json");
        assert!(j.get("random_seed").is_none() && j.get("project_id").is_none());
        // Before Victoria (2020-10-14) no dedicated CPUs.
        let f = m
            .lookup("/openstack/2018-08-27/meta_data.json")
            .expect("md");
        let j: Value = serde_json::from_slice(&f.body).expect("json");
        assert!(j.get("dedicated_cpus").is_none() && j.get("devices").is_some());
        // Before Rocky no `vf_trusted`; before Newton's first no devices.
        let f = m
            .lookup("/openstack/2017-02-22/meta_data.json")
            .expect("md");
        let j: Value = serde_json::from_slice(&f.body).expect("json");
        assert_eq!(
            j["devices"],
            json!([{"type": "nic", "bus": "pci", "address": "0000:00:03.0",
                "mac": "fa:16:3e:00:00:01", "tags": ["storage"]}])
        );
        let f = m
            .lookup("/openstack/2016-06-30/meta_data.json")
            .expect("md");
        let j: Value = serde_json::from_slice(&f.body).expect("json");
        assert_eq!(j["devices"].as_array().map(Vec::len), Some(1));
        let f = m
            .lookup("/openstack/2015-10-15/meta_data.json")
            .expect("md");
        let j: Value = serde_json::from_slice(&f.body).expect("json");
        assert!(j.get("devices").is_none(), "{j}");
        assert_eq!(
            text(&m, "/openstack/latest/user_data"),
            "#!/bin/sh\necho hi\n"
        );
        assert_eq!(text(&m, "/openstack/latest/vendor_data.json"), "{}");
        assert_eq!(
            text(&m, "/openstack/latest/vendor_data2.json"),
            r#"{"static":{}}"#
        );
        let nd: Value =
            serde_json::from_str(&text(&m, "/openstack/latest/network_data.json")).expect("json");
        assert_eq!(nd["links"][0]["ethernet_mac_address"], "fa:16:3e:00:00:01");
        assert_eq!(nd["links"][0]["type"], "bridge");
        assert_eq!(nd["networks"][0]["type"], "ipv4_dhcp");
        assert_eq!(nd["services"][0]["address"], "8.8.8.8");
        for bad in [
            "/openstack/2011-01-01/meta_data.json",
            "/openstack/2012-08-10/vendor_data.json",
            "/openstack/latest/nope",
            "/openstack/latest/meta_data.json/x",
        ] {
            assert_eq!(m.lookup(bad), Err(InvalidMetadataPath), "{bad}");
        }
    }

    #[test]
    fn personality_files_and_the_admin_password() {
        let mut m = md();
        // The metadata service has neither.
        let plain: Value =
            serde_json::from_str(&text(&m, "/openstack/latest/meta_data.json")).unwrap();
        assert!(plain.get("files").is_none() && plain.get("admin_pass").is_none());
        assert!(m.lookup("/openstack/content/0000").is_err());
        m.files = vec![
            ("/etc/motd".into(), b"hello".to_vec()),
            ("/root/x.bin".into(), vec![0, 159, 146, 150]),
        ];
        m.admin_pass = Some("s3cret".into());
        let j: Value =
            serde_json::from_str(&text(&m, "/openstack/2012-08-10/meta_data.json")).unwrap();
        assert_eq!(
            j["files"],
            json!([
                {"path": "/etc/motd", "content_path": "/content/0000"},
                {"path": "/root/x.bin", "content_path": "/content/0001"},
            ])
        );
        assert_eq!(j["admin_pass"], "s3cret");
        assert_eq!(text(&m, "/openstack/content/0000"), "hello");
        assert_eq!(
            m.lookup("/openstack/content/0001").unwrap().body,
            vec![0, 159, 146, 150]
        );
        for bad in [
            "/openstack/content",
            "/openstack/content/0002",
            "/openstack/content/1",
            "/openstack/content/0000/x",
        ] {
            assert_eq!(m.lookup(bad), Err(InvalidMetadataPath), "{bad}");
        }
    }

    #[test]
    fn config_drive_files() {
        let mut m = md();
        m.files = vec![("/etc/motd".into(), b"hello".to_vec())];
        let skip = [
            "1.0",
            "2007-01-19",
            "2007-03-01",
            "2007-08-29",
            "2007-10-10",
            "2007-12-15",
            "2008-02-01",
            "2008-09-01",
        ];
        let files: BTreeMap<String, Vec<u8>> = m.config_drive_files(&skip).into_iter().collect();
        let names: Vec<&str> = files.keys().map(String::as_str).collect();
        // EC2: the versions not skipped, and latest.
        for ec2 in ["2009-04-04", "latest"] {
            assert!(
                names.contains(&format!("ec2/{ec2}/meta-data.json").as_str()),
                "{names:?}"
            );
            assert!(names.contains(&format!("ec2/{ec2}/user-data").as_str()));
        }
        assert!(!names.iter().any(|n| n.starts_with("ec2/2008-09-01/")));
        // OpenStack: every version; each file from the version that has it.
        assert!(names.contains(&"openstack/2012-08-10/meta_data.json"));
        assert!(names.contains(&"openstack/2012-08-10/user_data"));
        assert!(!names.contains(&"openstack/2012-08-10/vendor_data.json"));
        assert!(names.contains(&"openstack/2013-10-17/vendor_data.json"));
        assert!(!names.contains(&"openstack/2013-10-17/network_data.json"));
        for f in [
            "meta_data.json",
            "user_data",
            "vendor_data.json",
            "network_data.json",
            "vendor_data2.json",
        ] {
            assert!(
                names.contains(&format!("openstack/latest/{f}").as_str()),
                "{f}"
            );
        }
        // Never the password the guest posts to the service.
        assert!(!names.iter().any(|n| n.ends_with("/password")));
        assert_eq!(files["openstack/content/0000"], b"hello");
        let md: Value = serde_json::from_slice(&files["openstack/latest/meta_data.json"]).unwrap();
        assert_eq!(md["uuid"], json!(Uuid::from_u128(7)));
        assert_eq!(md["files"][0]["content_path"], "/content/0000");
        // The EC2 tree as JSON: directories are objects, lists arrays; the
        // key's listing name is not data.
        let ec2: Value = serde_json::from_slice(&files["ec2/latest/meta-data.json"]).unwrap();
        assert_eq!(ec2["instance-id"], "i-0000000a");
        assert_eq!(ec2["security-groups"], json!(["default"]));
        assert_eq!(ec2["placement"], json!({"availability-zone": "nova"}));
        assert_eq!(
            ec2["public-keys"],
            json!({"0": {"openssh-key": "ssh-rsa AAAA k1"}})
        );
        assert_eq!(files["ec2/latest/user-data"], b"#!/bin/sh\necho hi\n");
        // Without user data and StaticJSON, no such files.
        m.user_data = None;
        m.vendor_data = None;
        let names: Vec<String> = m
            .config_drive_files(&skip)
            .into_iter()
            .map(|(n, _)| n)
            .collect();
        assert!(!names
            .iter()
            .any(|n| n.ends_with("user_data") || n.ends_with("user-data")));
        assert!(!names.iter().any(|n| n.ends_with("/vendor_data.json")));
        assert!(names.contains(&"openstack/latest/vendor_data2.json".to_string()));
    }

    #[test]
    fn paths_are_normalized() {
        assert_eq!(
            normpath("//latest/./meta-data/../meta-data/"),
            "/latest/meta-data"
        );
        assert_eq!(normpath(""), "/");
        assert_eq!(normpath("/.."), "/");
        assert!(root_listing().ends_with("2009-04-04\nlatest"));
    }
}
