//! Nova's versioned objects as plain serde types: what travels in RPC
//! messages and what the conductor reads from and writes to the database.
//! Field names are Nova's (`nova/objects/*.py`).

use chrono::{DateTime, Utc};
use nova_common::states::{status_from_state, TaskState, VmState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

pub type Timestamp = DateTime<Utc>;

pub mod device_metadata;
pub mod fields;
pub mod numa;
pub mod sort;
pub mod subnets;
pub mod wire_time;

/// `instance_types` (a flavor).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Flavor {
    pub id: i64,
    pub flavorid: String,
    pub name: String,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub swap: i64,
    pub rxtx_factor: f64,
    pub vcpu_weight: Option<i64>,
    pub disabled: bool,
    pub is_public: bool,
    #[serde(default)]
    pub extra_specs: BTreeMap<String, String>,
    #[serde(default, with = "wire_time")]
    pub created_at: Option<Timestamp>,
    /// When its description last changed (a flavor's one mutable field).
    #[serde(default, skip_serializing_if = "Option::is_none", with = "wire_time")]
    pub updated_at: Option<Timestamp>,
    /// Microversion 2.55.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The projects a private flavor is shared with (`instance_type_projects`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub projects: Vec<String>,
}

/// An instance fault (`instance_faults`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceFault {
    pub instance_uuid: Uuid,
    pub code: i32,
    pub message: String,
    pub details: String,
    pub host: Option<String>,
    #[serde(default, with = "wire_time")]
    pub created_at: Option<Timestamp>,
}

impl InstanceFault {
    /// The fault recording `err` against instance `uuid`, seen on `host`
    /// (Nova's `add_instance_fault_from_exc`). Whoever puts an instance in
    /// ERROR records this first, so that no reader sees ERROR without why.
    pub fn from_error(uuid: Uuid, err: &nova_common::NovaError, host: Option<String>) -> Self {
        InstanceFault {
            instance_uuid: uuid,
            code: err.http_code() as i32,
            message: err.to_string(),
            details: format!("{}: {err}", err.class()),
            host,
            created_at: None,
        }
    }
}

/// One IP of a VIF in the network info cache.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FixedIpInfo {
    pub address: String,
    #[serde(rename = "type")]
    pub ip_type: String,
    pub version: u8,
    #[serde(default)]
    pub floating_ips: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubnetInfo {
    pub cidr: String,
    pub gateway: Option<String>,
    #[serde(default)]
    pub dns: Vec<String>,
    pub ips: Vec<FixedIpInfo>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkRef {
    pub id: Uuid,
    pub label: String,
    pub bridge: String,
    pub bridge_interface: Option<String>,
    pub subnets: Vec<SubnetInfo>,
    #[serde(default)]
    pub should_create_bridge: bool,
}

/// One virtual interface, as in `nova.network.model.VIF`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Vif {
    pub id: Uuid,
    /// The MAC address.
    pub address: String,
    pub network: NetworkRef,
    #[serde(rename = "type")]
    pub vif_type: String,
    pub devname: Option<String>,
}

/// `instance_info_caches.network_info`.
pub type NetworkInfo = Vec<Vif>;

/// An instance, with the joined data the API shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Instance {
    pub id: i64,
    pub uuid: Uuid,
    pub user_id: String,
    pub project_id: String,
    pub display_name: String,
    pub display_description: Option<String>,
    pub hostname: String,
    pub image_ref: String,
    pub instance_type_id: i64,
    pub flavor: Flavor,
    pub memory_mb: i64,
    pub vcpus: i64,
    pub root_gb: i64,
    pub ephemeral_gb: i64,
    pub vm_state: VmState,
    pub task_state: Option<TaskState>,
    pub power_state: i32,
    pub host: Option<String>,
    pub node: Option<String>,
    pub launched_on: Option<String>,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    pub user_data: Option<String>,
    pub reservation_id: String,
    pub launch_index: i32,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub config_drive: String,
    /// `OS-DCF:diskConfig` `AUTO` (Nova's `instances.auto_disk_config`):
    /// asked at create, rebuild, resize or update, else the image's
    /// `auto_disk_config` property. Recorded and shown; as with Nova's
    /// libvirt driver, it changes nothing in how the disk is made.
    #[serde(default)]
    pub auto_disk_config: bool,
    pub locked: bool,
    pub locked_by: Option<String>,
    pub kernel_id: String,
    pub ramdisk_id: String,
    pub root_device_name: Option<String>,
    /// The devices of the flavor's ephemeral and swap disks (`/dev/vdb`,
    /// ...), set by the compute host at the build; None without one.
    pub default_ephemeral_device: Option<String>,
    pub default_swap_device: Option<String>,
    pub progress: i32,
    #[serde(default, with = "wire_time")]
    pub launched_at: Option<Timestamp>,
    #[serde(default, with = "wire_time")]
    pub terminated_at: Option<Timestamp>,
    #[serde(default, with = "wire_time")]
    pub created_at: Option<Timestamp>,
    #[serde(default, with = "wire_time")]
    pub updated_at: Option<Timestamp>,
    #[serde(default, with = "wire_time")]
    pub deleted_at: Option<Timestamp>,
    pub deleted: bool,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub system_metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub network_info: NetworkInfo,
    pub fault: Option<InstanceFault>,
    /// The names of its security groups (`security_group_instance_association`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// Server tags (microversion 2.26), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// During a resize or migration: the flavor before it (Nova's
    /// `instance_extra.flavor` `old`), and the one it goes to (`new`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_flavor: Option<Flavor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_flavor: Option<Flavor>,
    /// The image certificate ids the user trusts (2.63's
    /// `trusted_image_certificates`; Nova's `instance_extra.trusted_certs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_certs: Option<Vec<String>>,
    /// The instance's NUMA topology fitted to the host it is on now
    /// (`instance_extra.numa_topology`, or during a move the one fitted to
    /// the destination once it is there); `None` when it asks for none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa_topology: Option<numa::InstanceNumaTopology>,
    /// Where the hypervisor put the devices the user tagged
    /// (`instance_extra.device_metadata`); `None` when none is tagged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_metadata: Option<device_metadata::InstanceDeviceMetadata>,
}

impl Default for Instance {
    fn default() -> Self {
        Instance {
            id: 0,
            uuid: Uuid::nil(),
            user_id: String::new(),
            project_id: String::new(),
            display_name: String::new(),
            display_description: None,
            hostname: String::new(),
            image_ref: String::new(),
            instance_type_id: 0,
            flavor: Flavor::default(),
            memory_mb: 0,
            vcpus: 0,
            root_gb: 0,
            ephemeral_gb: 0,
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            power_state: 0,
            host: None,
            node: None,
            launched_on: None,
            availability_zone: None,
            key_name: None,
            key_data: None,
            user_data: None,
            reservation_id: String::new(),
            launch_index: 0,
            access_ip_v4: None,
            access_ip_v6: None,
            config_drive: String::new(),
            auto_disk_config: false,
            locked: false,
            locked_by: None,
            kernel_id: String::new(),
            ramdisk_id: String::new(),
            root_device_name: None,
            default_ephemeral_device: None,
            default_swap_device: None,
            progress: 0,
            launched_at: None,
            terminated_at: None,
            created_at: None,
            updated_at: None,
            deleted_at: None,
            deleted: false,
            metadata: BTreeMap::new(),
            system_metadata: BTreeMap::new(),
            network_info: Vec::new(),
            fault: None,
            security_groups: Vec::new(),
            tags: Vec::new(),
            old_flavor: None,
            new_flavor: None,
            trusted_certs: None,
            numa_topology: None,
            device_metadata: None,
        }
    }
}

impl Instance {
    /// The properties of the image the instance was booted from, as its
    /// system metadata keeps them (`image_<property>`; Nova's
    /// `ImageMeta.from_instance`): what moves schedule and fit with.
    pub fn image_properties(&self) -> BTreeMap<String, String> {
        self.system_metadata
            .iter()
            .filter_map(|(k, v)| {
                let prop = k.strip_prefix("image_")?;
                let base = matches!(
                    prop,
                    "name"
                        | "min_ram"
                        | "min_disk"
                        | "disk_format"
                        | "container_format"
                        | "base_image_ref"
                        | "size"
                        | "checksum"
                );
                (!base).then(|| (prop.to_string(), v.clone()))
            })
            .collect()
    }

    /// The zone the server is kept in, if any ([`PINNED_AZ_KEY`]).
    pub fn pinned_availability_zone(&self) -> Option<&str> {
        self.system_metadata.get(PINNED_AZ_KEY).map(String::as_str)
    }

    /// The hypervisor name, from `[DEFAULT] instance_name_template` (`instance-%08x`).
    pub fn name(&self, template: &str) -> String {
        render_name_template(template, self.id, &self.uuid)
    }

    pub fn api_status(&self) -> &'static str {
        status_from_state(self.vm_state, self.task_state)
    }

    /// The instance as a read of only `attrs` brings it
    /// ([`InstanceFilters::expected_attrs`]): what hangs off it and is not
    /// among them left empty.
    pub fn with_only(mut self, attrs: &[InstanceAttr]) -> Instance {
        let has = |a| attrs.contains(&a);
        if !has(InstanceAttr::Flavor) && !has(InstanceAttr::TrustedCerts) {
            self.flavor = Flavor::default();
            (self.old_flavor, self.new_flavor, self.trusted_certs) = (None, None, None);
            (self.numa_topology, self.device_metadata) = (None, None);
        }
        if !has(InstanceAttr::Metadata) {
            self.metadata.clear();
        }
        if !has(InstanceAttr::SystemMetadata) {
            self.system_metadata.clear();
        }
        if !has(InstanceAttr::InfoCache) {
            self.network_info.clear();
        }
        if !has(InstanceAttr::SecurityGroups) {
            self.security_groups.clear();
        }
        if !has(InstanceAttr::Fault) {
            self.fault = None;
        }
        if !has(InstanceAttr::Tags) {
            self.tags.clear();
        }
        self
    }
}

/// Render `instance-%08x`-style templates (also `%(uuid)s`, `%d`, `%x`).
pub fn render_name_template(template: &str, id: i64, uuid: &Uuid) -> String {
    // (A listing renders one per server: the uuid only when asked for.)
    let mut out = if template.contains("%(uuid)s") {
        template.replace("%(uuid)s", &uuid.to_string())
    } else {
        template.to_string()
    };
    if let Some(start) = out.find('%') {
        let spec: String = out[start + 1..]
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        let conv = out[start + 1 + spec.len()..].chars().next();
        let width: usize = spec.trim_start_matches('0').parse().unwrap_or(0);
        let zero = spec.starts_with('0');
        let padded = match (conv, zero) {
            (Some('x'), true) => format!("{id:0width$x}"),
            (Some('x'), false) => format!("{id:width$x}"),
            (Some('d'), true) => format!("{id:0width$}"),
            (Some('d'), false) => format!("{id:width$}"),
            _ => return out,
        };
        out.replace_range(start..start + 2 + spec.len(), &padded);
    }
    out
}

/// Serde for `Option<Option<T>>`: absent = leave alone, `null` = clear, value = set.
mod double_option {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer, T: Serialize>(
        v: &Option<Option<T>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match v {
            Some(inner) => inner.serialize(s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
        d: D,
    ) -> Result<Option<Option<T>>, D::Error> {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Fields the API sets when it creates an instance (`instance_create`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceCreate {
    pub uuid: Uuid,
    pub user_id: String,
    pub project_id: String,
    pub display_name: String,
    pub display_description: Option<String>,
    pub hostname: String,
    pub image_ref: String,
    pub flavor: Flavor,
    pub availability_zone: Option<String>,
    pub key_name: Option<String>,
    pub key_data: Option<String>,
    pub user_data: Option<String>,
    pub reservation_id: String,
    pub launch_index: i32,
    pub access_ip_v4: Option<String>,
    pub access_ip_v6: Option<String>,
    pub config_drive: String,
    /// `instances.auto_disk_config` (`OS-DCF:diskConfig` `AUTO`).
    #[serde(default)]
    pub auto_disk_config: bool,
    pub kernel_id: String,
    pub ramdisk_id: String,
    pub metadata: BTreeMap<String, String>,
    pub system_metadata: BTreeMap<String, String>,
    /// `instance_actions.request_id` of the create action.
    pub request_id: String,
    /// Names of the project's security groups to join (`default` is made if missing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// The server group to join (`scheduler_hints: {"group": ..}`), within
    /// the `server_group_members` quota.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_group: Option<Uuid>,
    /// `instance_extra.trusted_certs` (2.63).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trusted_certs: Option<Vec<String>>,
}

/// A partial update of an instance (`instance_update_and_get_original`).
/// `None` leaves a column alone; for nullable columns `Some(None)` clears it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceUpdate {
    pub vm_state: Option<VmState>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub task_state: Option<Option<TaskState>>,
    pub power_state: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub host: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub node: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub launched_on: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub launched_at: Option<Option<Timestamp>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub terminated_at: Option<Option<Timestamp>>,
    pub progress: Option<i32>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub root_device_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub default_ephemeral_device: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub default_swap_device: Option<Option<String>>,
    pub locked: Option<bool>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub locked_by: Option<Option<String>>,
    pub network_info: Option<NetworkInfo>,
    /// `"True"` once the compute host gave the guest a config drive it was
    /// not asked for (`force_config_drive`, `img_config_drive=mandatory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_drive: Option<String>,
    /// `PUT /servers/{id}`: the name, description and access addresses,
    /// and (2.90) the hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub display_description: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub access_ip_v4: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub access_ip_v6: Option<Option<String>>,
    /// system_metadata keys to set (Some) or remove (None), e.g. `locked_reason`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_metadata: Option<BTreeMap<String, Option<String>>>,
    /// The current flavor (a resize finishing or reverting): the flavor
    /// columns (`instance_type_id`, `memory_mb`, `vcpus`, `root_gb`,
    /// `ephemeral_gb`) and `instance_extra.flavor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flavor: Option<Flavor>,
    /// `instance_extra`'s old and new flavor of a resize (Some(None) clears).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub old_flavor: Option<Option<Flavor>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub new_flavor: Option<Option<Flavor>>,
    /// rebuild (2.63): `instance_extra.trusted_certs` (Some(None) clears).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub trusted_certs: Option<Option<Vec<String>>>,
    /// `instance_extra.device_metadata`, written once the guest's devices
    /// are placed (Some(None) clears).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub device_metadata: Option<Option<device_metadata::InstanceDeviceMetadata>>,
    /// `OS-DCF:diskConfig` asked at a rebuild, resize or update (or, at a
    /// rebuild, inherited from the new image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_disk_config: Option<bool>,
    /// rebuild: the new image, key pair (2.54) and user data (2.57).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_ref: Option<String>,
    /// rebuild: the new image's kernel and ramdisk (empty: none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ramdisk_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub key_name: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub key_data: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "double_option"
    )]
    pub user_data: Option<Option<String>>,
    /// Compare-and-set: the update applies only if task_state is one of these.
    pub expected_task_state: Option<Vec<Option<TaskState>>>,
    /// Compare-and-set on vm_state.
    pub expected_vm_state: Option<Vec<VmState>>,
}

nova_common::string_enum!(
    /// What hangs off an instance and is read with it, by the names of
    /// Nova's `expected_attrs` (`nova.objects.instance.INSTANCE_OPTIONAL_ATTRS`).
    /// `flavor` brings `instance_extra`'s flavors (current, old and new)
    /// and `trusted_certs` its trusted certificates: one read either way.
    InstanceAttr {
        Metadata => "metadata",
        SystemMetadata => "system_metadata",
        InfoCache => "info_cache",
        SecurityGroups => "security_groups",
        Fault => "fault",
        Flavor => "flavor",
        TrustedCerts => "trusted_certs",
        Tags => "tags",
    }
);

/// Filters of an instance listing (`instance_get_all_by_filters`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceFilters {
    pub project_id: Option<String>,
    pub host: Option<String>,
    pub name: Option<String>,
    pub status_vm_states: Option<Vec<VmState>>,
    pub image_ref: Option<String>,
    pub flavor_id: Option<i64>,
    pub uuids: Option<Vec<Uuid>>,
    /// Only deleted instances (`Some(true)`) or only live ones; unset,
    /// live ones unless `read_deleted`.
    pub deleted: Option<bool>,
    /// With `deleted` unset, deleted instances as well as live ones (Nova's
    /// listing with `changes-since`/`changes-before`, which shows what was
    /// deleted since).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub read_deleted: bool,
    pub changes_since: Option<Timestamp>,
    /// Changed at or before this (microversion 2.66).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes_before: Option<Timestamp>,
    /// Locked or not (microversion 2.73).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locked: Option<bool>,
    pub limit: Option<i64>,
    pub marker: Option<Uuid>,
    /// The listing's order as `sort_key`/`sort_dir` ask it, completed by
    /// [`sort::process_sort_params`]; absent = newest first
    /// (`created_at`, then `id`, descending). `marker` is the last row of
    /// the previous page in this order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sort: Option<Vec<sort::SortKey>>,
    /// Instances with all of these tags (microversion 2.26 filters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
    /// ... with any of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags_any: Option<Vec<String>>,
    /// ... without all of these together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_tags: Option<Vec<String>>,
    /// ... with none of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_tags_any: Option<Vec<String>>,
    /// Instances with all of these system metadata items (Nova's
    /// `system_metadata` filter; the EC2 API finds a `ClientToken` with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_metadata: Option<BTreeMap<String, String>>,
    /// A regular expression matched (from the start) against the
    /// instance's fixed IPv4 addresses (Nova's `ip` filter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// ... against its IPv6 addresses (`ip6`, 2.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip6: Option<String>,
    /// Nova's exact-match filters on instance columns beyond the fields
    /// above (`user_id`, `vm_state`, `task_state`): column -> the values
    /// any one of which matches.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub exact: BTreeMap<String, Vec<String>>,
    /// Nova's regular-expression filters on instance columns
    /// (`_regex_instance_filter`: `reservation_id`, `key_name`,
    /// `availability_zone`, `created_at`, `power_state`, ...): column ->
    /// expression, matched anywhere in the column's text.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub regex: BTreeMap<String, String>,
    /// What to read with each listed instance, as Nova's `expected_attrs`
    /// (a listing reads only what its view shows); absent = everything.
    /// An attribute not read is left empty (`metadata` `{}`, `fault`
    /// `null`, the flavor its default, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_attrs: Option<Vec<InstanceAttr>>,
}

impl InstanceFilters {
    /// The project when this query lists every live instance of it and
    /// nothing narrows it further (an empty answer then means the project
    /// has no instances): no filter but the project, not deleted ones, no
    /// marker, a limit of at least one. Which attributes are read, and in
    /// which order, does not narrow.
    pub fn whole_project(&self) -> Option<&str> {
        let InstanceFilters {
            project_id,
            host,
            name,
            status_vm_states,
            image_ref,
            flavor_id,
            uuids,
            deleted,
            read_deleted,
            changes_since,
            changes_before,
            locked,
            limit,
            marker,
            sort: _,
            tags,
            tags_any,
            not_tags,
            not_tags_any,
            system_metadata,
            ip,
            ip6,
            exact,
            regex,
            expected_attrs: _,
        } = self;
        let narrowed = host.is_some()
            || name.is_some()
            || status_vm_states.is_some()
            || image_ref.is_some()
            || flavor_id.is_some()
            || uuids.is_some()
            || *deleted == Some(true)
            || *read_deleted
            || changes_since.is_some()
            || changes_before.is_some()
            || locked.is_some()
            || limit.is_some_and(|l| l < 1)
            || marker.is_some()
            || tags.is_some()
            || tags_any.is_some()
            || not_tags.is_some()
            || not_tags_any.is_some()
            || system_metadata.is_some()
            || ip.is_some()
            || ip6.is_some()
            || !exact.is_empty()
            || !regex.is_empty();
        project_id.as_deref().filter(|_| !narrowed)
    }
}

/// One instance of a listing read for a caller that holds some of the
/// listed instances already (`instance_get_all_by_filters_known`): its
/// uuid and generation (which changes whenever the instance or anything a
/// server body shows of it does), and the instance itself unless the caller
/// holds it at that generation.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ListedInstance {
    pub uuid: Uuid,
    pub generation: i64,
    /// Boxed: a page of these is moved around whole while it is encoded,
    /// decoded and filed, and most of its elements hold no instance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<Box<Instance>>,
}

/// A service record (`services`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Service {
    pub id: i64,
    pub uuid: Uuid,
    pub host: String,
    pub binary: String,
    pub topic: Option<String>,
    pub report_count: i64,
    pub disabled: bool,
    pub disabled_reason: Option<String>,
    pub forced_down: bool,
    pub version: i32,
    pub last_seen_up: Option<Timestamp>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl Service {
    /// Nova's servicegroup DB driver: up when the last check-in is recent.
    pub fn is_up(&self, now: Timestamp, service_down_time: u64) -> bool {
        self.checked_in_since(now - chrono::Duration::seconds(service_down_time as i64))
    }

    /// Up as of a moment: checked in at or after `cutoff` (that moment less
    /// `service_down_time`) and not forced down. For judging many services
    /// against one cutoff.
    #[inline]
    pub fn checked_in_since(&self, cutoff: Timestamp) -> bool {
        !self.forced_down
            && self
                .last_seen_up
                .or(self.updated_at)
                .or(self.created_at)
                .is_some_and(|t| t >= cutoff)
    }
}

/// What a compute host reports about its node (`compute_nodes`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComputeNode {
    pub id: i64,
    pub uuid: Uuid,
    pub service_id: Option<i64>,
    pub host: String,
    pub hypervisor_hostname: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub cpu_info: String,
    pub host_ip: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub vcpus_used: i64,
    pub memory_mb_used: i64,
    pub local_gb_used: i64,
    pub free_ram_mb: i64,
    pub free_disk_gb: i64,
    pub current_workload: i64,
    pub running_vms: i64,
    pub disk_available_least: Option<i64>,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    pub updated_at: Option<Timestamp>,
    /// Host CPUs kept for the host itself (`[DEFAULT] reserved_host_cpus`).
    /// Reserved memory and disk are already part of `memory_mb_used` and `local_gb_used`.
    #[serde(default)]
    pub reserved_host_cpus: i64,
    /// The guests the hypervisor can run, each as (architecture, hypervisor
    /// type, VM mode), canonical (Nova's `supported_instances`, read by the
    /// ImagePropertiesFilter).
    #[serde(default)]
    pub supported_instances: Vec<[String; 3]>,
    /// The host's NUMA cells with what its instances use of them (Nova's
    /// `compute_nodes.numa_topology`); `None` when the hypervisor reports none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa_topology: Option<numa::NumaTopology>,
}

/// One resource class a flavor asks for, named after the filter that checks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    Ram,
    Vcpu,
    Disk,
    /// The NUMA cells, pinned CPUs and pages (`numa::numa_fit_instance_to_host`,
    /// not an amount: never in [`Resource::ALL`]).
    NumaTopology,
}

impl Resource {
    pub const ALL: [Resource; 3] = [Resource::Ram, Resource::Vcpu, Resource::Disk];

    /// The Nova filter that checks this resource.
    pub fn filter_name(self) -> &'static str {
        match self {
            Resource::Ram => "RamFilter",
            Resource::Vcpu => "CoreFilter",
            Resource::Disk => "DiskFilter",
            Resource::NumaTopology => "NUMATopologyFilter",
        }
    }
}

/// What a node can still take: `total × allocation ratio − used`, where used
/// counts the host's reservations (Nova's RamFilter/CoreFilter/DiskFilter and
/// the resource tracker's claim). The one "does it fit" rule: the scheduler's
/// filters and the conductor's claim both ask it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FreeResources {
    pub memory_mb: f64,
    pub vcpus: f64,
    pub disk_gb: f64,
}

impl FreeResources {
    pub fn of(node: &ComputeNode) -> Self {
        FreeResources {
            memory_mb: node.memory_mb as f64 * node.ram_allocation_ratio
                - node.memory_mb_used as f64,
            vcpus: node.vcpus as f64 * node.cpu_allocation_ratio
                - node.reserved_host_cpus as f64
                - node.vcpus_used as f64,
            disk_gb: node.local_gb as f64 * node.disk_allocation_ratio - node.local_gb_used as f64,
        }
    }

    /// Whether `req`'s amount of `resource` fits.
    #[inline]
    pub fn fits_resource(&self, resource: Resource, req: &ResourceRequest) -> bool {
        match resource {
            Resource::Ram => self.memory_mb >= req.memory_mb as f64,
            Resource::Vcpu => self.vcpus >= req.vcpus as f64,
            Resource::Disk => self.disk_gb >= req.disk_gb as f64,
            Resource::NumaTopology => true,
        }
    }

    /// `Ok` when everything fits, else the first resource that does not.
    pub fn fits(&self, req: &ResourceRequest) -> Result<(), Resource> {
        match Resource::ALL
            .into_iter()
            .find(|r| !self.fits_resource(*r, req))
        {
            Some(r) => Err(r),
            None => Ok(()),
        }
    }

    /// Account for `req` placed here.
    pub fn consume(&mut self, req: &ResourceRequest) {
        self.memory_mb -= req.memory_mb as f64;
        self.vcpus -= req.vcpus as f64;
        self.disk_gb -= req.disk_gb as f64;
    }
}

/// The hypervisor's own view of its resources (`get_available_resource`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HostResources {
    pub hypervisor_hostname: String,
    pub hypervisor_type: String,
    pub hypervisor_version: i64,
    pub cpu_info: String,
    pub vcpus: i64,
    pub memory_mb: i64,
    pub local_gb: i64,
    pub disk_available_least: Option<i64>,
    /// (architecture, hypervisor type, VM mode) of each kind of guest the
    /// hypervisor runs.
    #[serde(default)]
    pub supported_instances: Vec<[String; 3]>,
    /// The host's NUMA cells, none used (the driver's `get_available_resource`
    /// `numa_topology`, with `[compute] cpu_shared_set`/`cpu_dedicated_set` applied).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa_topology: Option<numa::NumaTopology>,
}

/// The compute host's report: hypervisor resources plus its config.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ComputeNodeReport {
    pub host: String,
    pub host_ip: String,
    pub resources: HostResources,
    pub reserved_host_memory_mb: i64,
    pub reserved_host_disk_mb: i64,
    pub reserved_host_cpus: i64,
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
}

/// What an instance needs from a host, as the scheduler claims it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResourceRequest {
    pub memory_mb: i64,
    pub vcpus: i64,
    pub disk_gb: i64,
    /// The NUMA topology the flavor and image ask for, not yet fitted
    /// (`numa::numa_get_constraints`; Nova's `RequestSpec.numa_topology`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numa_topology: Option<numa::InstanceNumaTopology>,
}

impl ResourceRequest {
    /// The flavor's amounts alone (no NUMA topology).
    pub fn from_flavor(f: &Flavor) -> Self {
        ResourceRequest {
            memory_mb: f.memory_mb,
            vcpus: f.vcpus,
            disk_gb: f.root_gb + f.ephemeral_gb + (f.swap + 1023) / 1024,
            numa_topology: None,
        }
    }

    /// What an instance of `flavor` booted from an image with these
    /// properties needs, its NUMA topology included (Nova's errors for a
    /// topology the two cannot ask for).
    pub fn for_instance(
        f: &Flavor,
        image_properties: &BTreeMap<String, String>,
    ) -> Result<Self, nova_common::NovaError> {
        Ok(ResourceRequest {
            numa_topology: numa::numa_get_constraints(f, image_properties)?,
            ..Self::from_flavor(f)
        })
    }
}

/// Image metadata as Glance v2 shows it (`nova.objects.ImageMeta`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ImageMeta {
    pub id: String,
    pub name: Option<String>,
    pub status: String,
    pub disk_format: Option<String>,
    pub container_format: Option<String>,
    pub size: Option<i64>,
    pub checksum: Option<String>,
    pub os_hash_algo: Option<String>,
    pub os_hash_value: Option<String>,
    pub min_ram: i64,
    pub min_disk: i64,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
}

/// The system_metadata key holding the scheduler hints a server was created
/// with, each value a list, as JSON (Nova keeps them in the RequestSpec;
/// 2.100 shows them; moves schedule with them again).
pub const SCHEDULER_HINTS_KEY: &str = "scheduler_hints";

/// The system_metadata key holding the availability zone the server is
/// kept in (the zone its creation or unshelve asked for, or
/// `default_schedule_zone`: Nova's `RequestSpec.availability_zone`, which
/// 2.96 shows as `pinned_availability_zone`). Moves stay in it; a server
/// without one may move to any zone.
pub const PINNED_AZ_KEY: &str = "pinned_availability_zone";

/// The scheduling request (`nova.objects.RequestSpec`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestSpec {
    pub instance_uuid: Uuid,
    pub project_id: String,
    pub user_id: String,
    pub flavor: Flavor,
    pub image: ImageMeta,
    pub num_instances: i32,
    pub availability_zone: Option<String>,
    /// Hosts already tried (RetryFilter).
    #[serde(default)]
    pub ignore_hosts: Vec<String>,
    /// An admin's `availability_zone = "zone:host"`: only these hosts are considered.
    #[serde(default)]
    pub force_hosts: Vec<String>,
    pub num_attempts: u32,
    /// The server group the instances join (`scheduler_hints: {"group": ..}`),
    /// its `hosts` filled in by the conductor before each scheduling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_group: Option<InstanceGroup>,
    /// The hints of the request (`os:scheduler_hints`), every value a list,
    /// as Nova's `RequestSpec.scheduler_hints` keeps them.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub scheduler_hints: BTreeMap<String, Vec<serde_json::Value>>,
    /// The host of each instance the `same_host` and `different_host` hints
    /// name (those on a host and not deleted), filled in by the conductor
    /// before each scheduling: the scheduler keeps no list of each host's
    /// instances, which Nova's filters read from `HostState.instances`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hint_instance_hosts: BTreeMap<Uuid, String>,
}

impl RequestSpec {
    /// Nova's `get_scheduler_hint` for a list hint: the uuids it names
    /// (values that are not uuids name no instance).
    pub fn hint_uuids(&self, hint: &str) -> Vec<Uuid> {
        self.scheduler_hints
            .get(hint)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect()
    }
}

/// A server group (`nova.objects.InstanceGroup`; tables `instance_groups`,
/// `instance_group_policy`, `instance_group_member`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceGroup {
    pub id: i64,
    pub uuid: Uuid,
    pub name: Option<String>,
    pub user_id: String,
    pub project_id: String,
    /// `affinity`, `anti-affinity`, `soft-affinity` or `soft-anti-affinity`.
    pub policy: String,
    /// 2.64's rules: `max_server_per_host` (anti-affinity only).
    #[serde(default)]
    pub rules: BTreeMap<String, i64>,
    /// The members that are not deleted, oldest first.
    #[serde(default)]
    pub members: Vec<Uuid>,
    /// The host of each member placed on one, one entry per member (a host
    /// holding two members is listed twice): the scheduler keeps no list of
    /// each host's instances, so the (anti-)affinity filters and weighers
    /// count a host's members here.
    #[serde(default)]
    pub hosts: Vec<String>,
    pub created_at: Option<Timestamp>,
}

impl InstanceGroup {
    pub const POLICIES: &'static [&'static str] = &[
        "affinity",
        "anti-affinity",
        "soft-affinity",
        "soft-anti-affinity",
    ];

    /// How many members a host may hold under anti-affinity (rule
    /// `max_server_per_host`, 1 by default).
    pub fn max_server_per_host(&self) -> usize {
        self.rules
            .get("max_server_per_host")
            .map(|n| (*n).max(1) as usize)
            .unwrap_or(1)
    }

    /// How many members `host` holds.
    pub fn members_on(&self, host: &str) -> usize {
        self.hosts.iter().filter(|h| *h == host).count()
    }
}

/// A host the scheduler chose for an instance, or one of its alternates
/// (`nova.objects.Selection`). `select_destinations` returns one list per
/// instance: the selected host first, then up to `max_attempts - 1`
/// alternates. None carries an allocation request: nova-conductor claims a
/// selection's resources itself (`compute_node_claim`) before it builds there.
///
/// Version history (nova-rs): 1.0 had `instance_uuid`; 1.1 drops it, the
/// lists being positional as in Nova.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Selection {
    pub service_host: String,
    pub nodename: String,
    pub compute_node_uuid: Uuid,
    /// The host's availability zone as the scheduler knows it (Nova's
    /// Selection 1.1): the instance's zone once it is placed there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub availability_zone: Option<String>,
}

/// One host a build was tried on (an entry of Nova's `retry['hosts']`, with
/// why it failed there, which Nova keeps only for the last host as `exc_reason`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetryHost {
    pub host: String,
    pub nodename: String,
    /// Why the build failed there; None while the attempt is running.
    pub exc_reason: Option<String>,
}

/// The attempts of a build so far (`filter_properties['retry']`, Nova's
/// `SchedulerRetries`): absent when rescheduling is disabled
/// (`[scheduler] max_attempts = 1`, or a build forced onto one host).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulerRetries {
    /// Attempts made, counting the one in progress.
    pub num_attempts: u32,
    /// The hosts tried, in order; the last one is the current attempt's.
    pub hosts: Vec<RetryHost>,
}

impl SchedulerRetries {
    /// Whether a build of this instance was already tried on `host`.
    pub fn tried(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.host == host)
    }

    /// The host tried for the attempt now starting.
    pub fn add_host(&mut self, host: &str, nodename: &str) {
        self.hosts.push(RetryHost {
            host: host.to_string(),
            nodename: nodename.to_string(),
            exc_reason: None,
        });
    }

    /// Why the build failed on `host` (Nova's `retry['exc_reason']`).
    pub fn record_failure(&mut self, host: &str, nodename: &str, reason: &str) {
        match self.hosts.iter_mut().rev().find(|h| h.host == host) {
            Some(h) => h.exc_reason = Some(reason.to_string()),
            None => self.hosts.push(RetryHost {
                host: host.to_string(),
                nodename: nodename.to_string(),
                exc_reason: Some(reason.to_string()),
            }),
        }
    }

    /// The last failure's reason (Nova's `exc_reason`).
    pub fn last_reason(&self) -> Option<&str> {
        self.hosts
            .iter()
            .rev()
            .find_map(|h| h.exc_reason.as_deref())
    }

    /// "Hosts tried: a, b. a: why; b: why": the names first, so that they
    /// survive the 255 characters of a fault's message.
    pub fn summary(&self) -> String {
        if self.hosts.is_empty() {
            return "No host was tried.".into();
        }
        let names: Vec<&str> = self.hosts.iter().map(|h| h.host.as_str()).collect();
        let reasons: Vec<String> = self
            .hosts
            .iter()
            .map(|h| {
                format!(
                    "{}: {}",
                    h.host,
                    h.exc_reason.as_deref().unwrap_or("unknown")
                )
            })
            .collect();
        format!("Hosts tried: {}. {}", names.join(", "), reasons.join("; "))
    }
}

/// What Nova's `filter_properties` dict carries that nova-rs uses: the retry
/// information of a build, passed from the conductor to the compute host and
/// back when the build is rescheduled.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FilterProperties {
    #[serde(default)]
    pub retry: Option<SchedulerRetries>,
}

/// A network (`networks`), FlatDHCP style.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    pub id: i64,
    pub uuid: Uuid,
    pub label: String,
    pub cidr: String,
    pub netmask: String,
    pub gateway: String,
    pub broadcast: String,
    pub dhcp_start: String,
    pub bridge: String,
    pub bridge_interface: Option<String>,
    pub dns1: Option<String>,
    pub dns2: Option<String>,
    pub multi_host: bool,
    pub project_id: Option<String>,
    pub host: Option<String>,
    pub priority: Option<i32>,
    pub created_at: Option<Timestamp>,
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
}

/// What `nova-manage network create` asks for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NetworkCreate {
    pub label: String,
    pub cidr: String,
    pub bridge: String,
    pub bridge_interface: Option<String>,
    pub dns1: Option<String>,
    pub dns2: Option<String>,
    pub multi_host: bool,
    pub project_id: Option<String>,
    /// The network's uuid (`--uuid`); a new one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<Uuid>,
    /// The guests' gateway (`--gateway`); the first address given out when
    /// absent (the subnet's first host, or `allowed_start`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    /// The part of the range whose addresses are made (`--fixed_cidr`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_cidr: Option<String>,
    /// The first and last addresses given out (`--allowed_start`,
    /// `--allowed_end`); those outside are reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_start: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_end: Option<String>,
    /// `--priority` (the order of a server's interfaces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
}

/// An address leased to an instance (`fixed_ips`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FixedIp {
    pub id: i64,
    pub address: String,
    pub network_id: i64,
    pub virtual_interface_id: Option<i64>,
    pub instance_uuid: Option<Uuid>,
    pub allocated: bool,
    pub leased: bool,
    pub reserved: bool,
    pub host: Option<String>,
}

/// One network a new server asks for (Nova's `NetworkRequest`, without
/// Neutron's port): the network, the fixed address wanted in it, if any,
/// and the device tag of its interface (2.32). Reads the bare network
/// uuid requests were once kept as.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(from = "NetworkRequestForm")]
pub struct NetworkRequest {
    pub network_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NetworkRequestForm {
    Uuid(Uuid),
    Request {
        network_id: Uuid,
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        tag: Option<String>,
    },
}

impl From<NetworkRequestForm> for NetworkRequest {
    fn from(f: NetworkRequestForm) -> Self {
        match f {
            NetworkRequestForm::Uuid(network_id) => NetworkRequest {
                network_id,
                address: None,
                tag: None,
            },
            NetworkRequestForm::Request {
                network_id,
                address,
                tag,
            } => NetworkRequest {
                network_id,
                address,
                tag,
            },
        }
    }
}

/// A floating IP (`floating_ips`) with what its fixed IP tells about it
/// (Nova's `FloatingIP` object with `fixed_ip` loaded).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FloatingIp {
    pub id: i64,
    pub address: String,
    pub fixed_ip_id: Option<i64>,
    pub project_id: Option<String>,
    pub host: Option<String>,
    pub auto_assigned: bool,
    pub pool: Option<String>,
    pub interface: Option<String>,
    /// The associated fixed IP's address.
    pub fixed_address: Option<String>,
    /// The instance holding the associated fixed IP.
    pub instance_uuid: Option<Uuid>,
}

/// One row of `nova-manage floating create`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct FloatingIpCreate {
    pub address: String,
    pub pool: String,
    pub interface: String,
}

/// `virtual_interfaces`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VirtualInterface {
    pub id: i64,
    pub uuid: Uuid,
    pub address: String,
    pub network_id: i64,
    pub instance_uuid: Uuid,
    /// The device tag the request gave its network (2.32).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
}

/// `instance_actions`, with its events.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceAction {
    pub id: i64,
    pub action: String,
    pub instance_uuid: Uuid,
    pub request_id: String,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub start_time: Option<Timestamp>,
    pub finish_time: Option<Timestamp>,
    pub message: Option<String>,
    /// Last change (2.58 shows it and filters on it).
    #[serde(default)]
    pub updated_at: Option<Timestamp>,
    #[serde(default)]
    pub events: Vec<InstanceActionEvent>,
}

/// `instance_actions_events`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceActionEvent {
    pub event: String,
    pub start_time: Option<Timestamp>,
    pub finish_time: Option<Timestamp>,
    pub result: Option<String>,
    pub traceback: Option<String>,
    pub host: Option<String>,
    /// The failure's message (2.84).
    #[serde(default)]
    pub details: Option<String>,
}

/// The EC2 ids (`instance_id_mappings`, `s3_images` ids) of an instance
/// and of its image, kernel and ramdisk: what its metadata shows as
/// `i-…`, `ami-…`, `aki-…`, `ari-…`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Ec2InstanceIds {
    pub instance_id: i64,
    pub image_id: Option<i64>,
    pub kernel_id: Option<i64>,
    pub ramdisk_id: Option<i64>,
}

/// A key pair (`key_pairs`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct KeyPair {
    pub id: i64,
    pub name: String,
    pub user_id: String,
    pub fingerprint: String,
    pub public_key: String,
    #[serde(rename = "type")]
    pub key_type: String,
    pub created_at: Option<Timestamp>,
}

/// Where a guest's console server listens, as the compute host reports it
/// (the connection part of Nova's `ConsoleAuthToken`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsoleConnectInfo {
    /// Address the console proxy connects to (`[vnc] server_proxyclient_address`).
    pub host: String,
    pub port: i64,
    /// A path to send as `CONNECT <path>` before the console protocol, if any.
    pub internal_access_path: Option<String>,
}

/// A console authorization (`console_auth_tokens`, Nova's `ConsoleAuthToken`).
/// Only the SHA-256 of the token is stored; the token itself is handed to the
/// user once, inside the console URL.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsoleAuthToken {
    pub id: i64,
    /// `novnc`, `spice-html5`, ...
    pub console_type: String,
    pub host: String,
    pub port: i64,
    pub internal_access_path: Option<String>,
    pub instance_uuid: Uuid,
    /// The proxy URL the token was issued for (`[vnc] novncproxy_base_url`).
    pub access_url_base: String,
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Unix seconds after which the token is no longer valid.
    pub expires: i64,
    pub created_at: Option<Timestamp>,
}

impl ConsoleAuthToken {
    /// What is stored of a token: its SHA-256, in hex (Nova's `utils.get_sha256_str`).
    pub fn hash(token: &str) -> String {
        use sha2::{Digest, Sha256};
        Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }
}

/// A row of Nova's `migrations` table (resize, cold and live migration,
/// evacuation of an instance).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Migration {
    pub id: i64,
    pub uuid: Uuid,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub source_compute: Option<String>,
    pub dest_compute: Option<String>,
    pub dest_host: Option<String>,
    pub source_node: Option<String>,
    pub dest_node: Option<String>,
    pub status: Option<String>,
    pub instance_uuid: Option<Uuid>,
    pub old_instance_type_id: Option<i64>,
    pub new_instance_type_id: Option<i64>,
    pub migration_type: Option<String>,
    pub hidden: bool,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    /// A live migration's progress, as the source's hypervisor last told.
    #[serde(default)]
    pub progress: LiveMigrationProgress,
}

/// How far a live migration is (Nova's `memory_*`/`disk_*` migration
/// fields, in bytes; the server migrations API shows them as `*_bytes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveMigrationProgress {
    pub memory_total: Option<i64>,
    pub memory_processed: Option<i64>,
    pub memory_remaining: Option<i64>,
    pub disk_total: Option<i64>,
    pub disk_processed: Option<i64>,
    pub disk_remaining: Option<i64>,
}

impl Migration {
    /// Statuses of a migration still under way (Nova's
    /// `MigrationList.get_in_progress_*` leave out the others): until
    /// confirmed or reverted, its hosts keep the resources it holds.
    pub const FINAL_STATUSES: &'static [&'static str] = &[
        "confirmed",
        "reverted",
        "error",
        "failed",
        "completed",
        "cancelled",
        "done",
    ];

    /// An evacuation whose source has not destroyed its guest yet (Nova's
    /// `_destroy_evacuated_instances` looks for these statuses; it sets
    /// `completed` once done).
    pub fn evacuation_to_clean_up(&self) -> bool {
        self.migration_type.as_deref() == Some("evacuation")
            && matches!(
                self.status.as_deref(),
                Some("accepted" | "pre-migrating" | "done")
            )
    }

    pub fn in_progress(&self) -> bool {
        !self
            .status
            .as_deref()
            .is_some_and(|s| Self::FINAL_STATUSES.contains(&s))
    }
}

/// What the two hosts of a live migration tell each other (Nova's
/// `LibvirtLiveMigrateData`, the fields this deployment uses): the
/// destination's checks fill in what it is, the source's checks decide
/// the block migration, `pre_live_migration` on the destination adds where
/// the source must send the guest.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LiveMigrateData {
    /// Copy the local disks along (None: decide from the storage, 2.25's
    /// `"auto"`).
    pub block_migration: Option<bool>,
    /// Whether source and destination see the same `instances_path`
    /// (a file the destination wrote there is seen by the source).
    pub is_shared_instance_path: Option<bool>,
    /// That file's name, in the destination's `instances_path`.
    pub filename: Option<String>,
    /// The destination's `instances_path`, where the guest's files go.
    #[serde(default)]
    pub dest_instances_path: Option<String>,
    /// The destination's hypervisor (`[libvirt] connection_uri`, or what
    /// `live_migration_uri`/`live_migration_scheme` make of its host).
    #[serde(default)]
    pub dest_uri: Option<String>,
    /// Where the migration stream goes (`[libvirt]
    /// live_migration_inbound_addr` of the destination), if set.
    #[serde(default)]
    pub target_connect_addr: Option<String>,
    /// The destination's VNC listen address for the guest.
    #[serde(default)]
    pub graphics_listen_addr_vnc: Option<String>,
    /// The hypervisor's identity (libvirt's host UUID): the same on both
    /// sides means one hypervisor, which cannot migrate to itself.
    #[serde(default)]
    pub hypervisor_id: Option<String>,
    /// The guest's tap devices that exist on the destination already
    /// (`pre_live_migration`): the two hypervisors share one network stack,
    /// so the guest's interfaces get new names there.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taps_in_use: Vec<String>,
    /// The instance's NUMA topology as claimed on the destination (its
    /// cells and pinned CPUs there), which the guest is migrated into
    /// (Nova's `dst_numa_info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_numa_topology: Option<numa::InstanceNumaTopology>,
    /// The destination's shared CPUs of each of its NUMA cells, and its
    /// `[compute] cpu_shared_set` (`pre_live_migration`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dst_cell_shared_cpus: BTreeMap<u32, numa::CpuSet>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst_cpu_shared_set: Option<numa::CpuSet>,
}

/// The filters of `migration_get_all_by_filters` (Nova's os-migrations
/// query): each given one must match; hidden migrations never do.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MigrationFilters {
    pub status: Option<String>,
    /// Source or destination compute.
    pub host: Option<String>,
    pub source_compute: Option<String>,
    pub instance_uuid: Option<Uuid>,
    pub migration_type: Option<String>,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub changes_since: Option<DateTime<Utc>>,
    pub changes_before: Option<DateTime<Utc>>,
    /// Newest first; after the migration of this uuid (MarkerNotFound if none).
    pub marker: Option<Uuid>,
    pub limit: Option<i64>,
}

/// What a project uses of the counted quota resources.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct QuotaUsage {
    pub instances: i64,
    pub cores: i64,
    pub ram: i64,
    /// nova-network floating IPs held (auto-assigned ones do not count).
    #[serde(default)]
    pub floating_ips: i64,
    /// The project's live security groups (nova-network).
    #[serde(default)]
    pub security_groups: i64,
    /// The project's server groups.
    #[serde(default)]
    pub server_groups: i64,
}

/// A host aggregate (`aggregates`, with its hosts and metadata); its
/// availability zone is the `availability_zone` metadata item.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Aggregate {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub hosts: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Option<Timestamp>,
    pub updated_at: Option<Timestamp>,
}

impl Aggregate {
    pub fn availability_zone(&self) -> Option<&str> {
        self.metadata.get("availability_zone").map(String::as_str)
    }
}

/// Nova's `get_host_availability_zone` for many hosts at once: a host is
/// in the zones its aggregates name (`availability_zone` metadata; sorted,
/// joined with commas: a host is in one zone, which several of its
/// aggregates may name), or in `default` (`[DEFAULT]
/// default_availability_zone`) when none of them names one.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AvailabilityZones {
    by_host: std::collections::HashMap<String, String>,
    default: String,
}

impl AvailabilityZones {
    pub fn new<'a>(aggregates: impl IntoIterator<Item = &'a Aggregate>, default: &str) -> Self {
        let mut zones: std::collections::HashMap<&str, std::collections::BTreeSet<&str>> =
            Default::default();
        for a in aggregates {
            if let Some(zone) = a.availability_zone() {
                for h in &a.hosts {
                    zones.entry(h.as_str()).or_default().insert(zone);
                }
            }
        }
        AvailabilityZones {
            by_host: zones
                .into_iter()
                .map(|(h, z)| (h.to_string(), z.into_iter().collect::<Vec<_>>().join(",")))
                .collect(),
            default: default.to_string(),
        }
    }

    /// The zone `host` is in.
    pub fn of(&self, host: &str) -> &str {
        self.by_host.get(host).map_or(&self.default, |z| z)
    }

    /// Whether `host` is in `zone` (see [`zone_includes`]).
    pub fn contains(&self, host: &str, zone: &str) -> bool {
        zone_includes(self.of(host), zone)
    }
}

/// Whether a host whose zone is `host_zone` (as [`AvailabilityZones::of`]
/// gives it) is in `zone`: one of its aggregates names it, or none names
/// any and `zone` is the default (Nova's AvailabilityZoneFilter).
pub fn zone_includes(host_zone: &str, zone: &str) -> bool {
    host_zone.split(',').any(|z| z == zone)
}

/// The zone `host` is in (see [`AvailabilityZones`]).
pub fn host_availability_zone<'a>(
    aggregates: impl IntoIterator<Item = &'a Aggregate>,
    host: &str,
    default: &str,
) -> String {
    AvailabilityZones::new(
        aggregates
            .into_iter()
            .filter(|a| a.hosts.iter().any(|h| h == host)),
        default,
    )
    .of(host)
    .to_string()
}

/// Nova's `_check_num_instances_quota` arithmetic: how many instances fit: `max` if they all do, else as many as the
/// tightest resource allows if that is at least `min`.
pub fn allowed_instances(
    limits: &BTreeMap<String, i64>,
    used: &QuotaUsage,
    flavor: &Flavor,
    min: i64,
    max: i64,
) -> Result<i64, nova_common::NovaError> {
    let resources = [
        ("instances", used.instances, 1),
        ("cores", used.cores, flavor.vcpus),
        ("ram", used.ram, flavor.memory_mb),
    ];
    let mut fits = max;
    let mut overs = vec![];
    for (res, used, each) in resources {
        let allowed = limits.get(res).copied().unwrap_or(-1);
        if allowed < 0 || used + max * each <= allowed {
            continue;
        }
        // Nova's TooManyInstances names the instances asked for as
        // "min-max" when they may be fewer than max; cores and ram as what
        // max of them would take.
        let req = if res == "instances" && min != max {
            format!("{min}-{max}")
        } else {
            (max * each).to_string()
        };
        overs.push((res, req, used, allowed));
        let headroom = if each > 0 {
            (allowed - used).max(0) / each
        } else {
            max
        };
        fits = fits.min(headroom);
    }
    if overs.is_empty() {
        return Ok(max);
    }
    if fits >= min {
        return Ok(fits);
    }
    Err(over_quota(overs))
}

/// Nova's `get_over_quota_detail` into TooManyInstances: each resource
/// over its limit as `(resource, requested, used, allowed)`, named in
/// sorted order, each column joined with ", ".
pub fn over_quota(mut overs: Vec<(&str, String, i64, i64)>) -> nova_common::NovaError {
    overs.sort_by_key(|o| o.0);
    let mut cols: [Vec<String>; 4] = Default::default();
    for (res, req, used, allowed) in overs {
        cols[0].push(res.to_string());
        cols[1].push(req);
        cols[2].push(used.to_string());
        cols[3].push(allowed.to_string());
    }
    let [overs, req, used, allowed] = cols.map(|c| c.join(", "));
    nova_common::NovaError::QuotaExceeded {
        overs,
        req,
        used,
        allowed,
    }
}

/// `security_groups`, with its rules (Nova's `SecurityGroup` with `rules` joined).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroup {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub user_id: String,
    pub project_id: String,
    #[serde(default)]
    pub rules: Vec<SecurityGroupRule>,
}

/// The group a rule grants access from, and (for a compute host) its members' fixed IPs.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GranteeGroup {
    pub id: i64,
    pub name: String,
    pub project_id: String,
    #[serde(default)]
    pub member_ips: Vec<String>,
}

/// `security_group_rules`: one ingress rule (a cidr or a source group).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupRule {
    pub id: i64,
    pub parent_group_id: i64,
    pub protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub cidr: Option<String>,
    pub group_id: Option<i64>,
    #[serde(default)]
    pub grantee_group: Option<GranteeGroup>,
}

/// `security_group_default_rules`: copied into each new `default` group.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SecurityGroupDefaultRule {
    pub id: i64,
    pub protocol: Option<String>,
    pub from_port: Option<i64>,
    pub to_port: Option<i64>,
    pub cidr: Option<String>,
}

/// Instance actions as Nova names them (`nova.compute.instance_actions`).
pub mod instance_actions {
    pub const CREATE: &str = "create";
    pub const DELETE: &str = "delete";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_whole_project_listing_is_the_project_and_nothing_else() {
        let whole = InstanceFilters {
            project_id: Some("p".into()),
            deleted: Some(false),
            limit: Some(1000),
            expected_attrs: Some(vec![InstanceAttr::Flavor]),
            ..Default::default()
        };
        assert_eq!(whole.whole_project(), Some("p"));
        let unbounded = InstanceFilters {
            deleted: None,
            limit: None,
            ..whole.clone()
        };
        assert_eq!(unbounded.whole_project(), Some("p"));
        assert_eq!(InstanceFilters::default().whole_project(), None);
        let mut one = BTreeMap::new();
        one.insert("k".to_string(), vec!["v".to_string()]);
        let narrowed: Vec<(&str, InstanceFilters)> = vec![
            (
                "host",
                InstanceFilters {
                    host: Some("h".into()),
                    ..whole.clone()
                },
            ),
            (
                "name",
                InstanceFilters {
                    name: Some("n".into()),
                    ..whole.clone()
                },
            ),
            (
                "status",
                InstanceFilters {
                    status_vm_states: Some(vec![VmState::Active]),
                    ..whole.clone()
                },
            ),
            (
                "image",
                InstanceFilters {
                    image_ref: Some("i".into()),
                    ..whole.clone()
                },
            ),
            (
                "flavor",
                InstanceFilters {
                    flavor_id: Some(1),
                    ..whole.clone()
                },
            ),
            (
                "uuids",
                InstanceFilters {
                    uuids: Some(vec![]),
                    ..whole.clone()
                },
            ),
            (
                "deleted",
                InstanceFilters {
                    deleted: Some(true),
                    ..whole.clone()
                },
            ),
            (
                "changes-since",
                InstanceFilters {
                    changes_since: Some(Timestamp::default()),
                    ..whole.clone()
                },
            ),
            (
                "changes-before",
                InstanceFilters {
                    changes_before: Some(Timestamp::default()),
                    ..whole.clone()
                },
            ),
            (
                "locked",
                InstanceFilters {
                    locked: Some(false),
                    ..whole.clone()
                },
            ),
            (
                "limit 0",
                InstanceFilters {
                    limit: Some(0),
                    ..whole.clone()
                },
            ),
            (
                "marker",
                InstanceFilters {
                    marker: Some(Uuid::nil()),
                    ..whole.clone()
                },
            ),
            (
                "tags",
                InstanceFilters {
                    tags: Some(vec![]),
                    ..whole.clone()
                },
            ),
            (
                "tags-any",
                InstanceFilters {
                    tags_any: Some(vec![]),
                    ..whole.clone()
                },
            ),
            (
                "not-tags",
                InstanceFilters {
                    not_tags: Some(vec![]),
                    ..whole.clone()
                },
            ),
            (
                "not-tags-any",
                InstanceFilters {
                    not_tags_any: Some(vec![]),
                    ..whole.clone()
                },
            ),
            (
                "system_metadata",
                InstanceFilters {
                    system_metadata: Some(BTreeMap::new()),
                    ..whole.clone()
                },
            ),
            (
                "ip",
                InstanceFilters {
                    ip: Some("10".into()),
                    ..whole.clone()
                },
            ),
            (
                "ip6",
                InstanceFilters {
                    ip6: Some("fe".into()),
                    ..whole.clone()
                },
            ),
            (
                "exact",
                InstanceFilters {
                    exact: one.clone(),
                    ..whole.clone()
                },
            ),
            (
                "regex",
                InstanceFilters {
                    regex: BTreeMap::from([("k".to_string(), "v".to_string())]),
                    ..whole.clone()
                },
            ),
        ];
        for (what, f) in narrowed {
            assert_eq!(f.whole_project(), None, "{what} narrows the listing");
        }
    }

    #[test]
    fn instance_update_keeps_clear_apart_from_absent() {
        let u = InstanceUpdate {
            task_state: Some(None),
            host: Some(Some("h".into())),
            ..Default::default()
        };
        let v = serde_json::to_value(&u).expect("ser");
        assert_eq!(v["task_state"], serde_json::Value::Null);
        assert!(v.get("node").is_none());
        let back: InstanceUpdate = serde_json::from_value(v).expect("de");
        assert_eq!(back, u);
    }

    #[test]
    fn quota_takes_as_many_instances_as_fit_down_to_min_count() {
        let limits: BTreeMap<String, i64> = [("instances", 10), ("cores", 20), ("ram", 4096)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        let used = QuotaUsage {
            instances: 2,
            cores: 2,
            ram: 1024,
            ..Default::default()
        };
        let f = Flavor {
            vcpus: 1,
            memory_mb: 1024,
            ..Default::default()
        };
        assert_eq!(allowed_instances(&limits, &used, &f, 1, 3).ok(), Some(3));
        // RAM leaves room for 3 of 5.
        assert_eq!(allowed_instances(&limits, &used, &f, 1, 5).ok(), Some(3));
        let e = allowed_instances(&limits, &used, &f, 4, 5).expect_err("4 do not fit");
        assert_eq!(
            e.to_string(),
            "Quota exceeded for ram: Requested 5120, but already used 1024 of 4096 ram"
        );
        // Several over: each named, sorted, instances as "min-max".
        let e = allowed_instances(&limits, &used, &f, 9, 10).expect_err("9 do not fit");
        assert_eq!(
            e.to_string(),
            "Quota exceeded for instances, ram: Requested 9-10, 10240, \
             but already used 2, 1024 of 10, 4096 instances, ram"
        );
        let unlimited = BTreeMap::from([("ram".to_string(), -1)]);
        assert_eq!(
            allowed_instances(&unlimited, &used, &f, 50, 50).ok(),
            Some(50)
        );
    }

    #[test]
    fn free_resources_count_ratios_and_reservations_once() {
        let node = ComputeNode {
            vcpus: 4,
            memory_mb: 2048,
            local_gb: 10,
            vcpus_used: 2,
            memory_mb_used: 512 + 1024, // reserved + instances
            local_gb_used: 4,
            cpu_allocation_ratio: 2.0,
            ram_allocation_ratio: 1.0,
            disk_allocation_ratio: 1.0,
            reserved_host_cpus: 3,
            ..Default::default()
        };
        let free = FreeResources::of(&node);
        assert_eq!(free.vcpus, 4.0 * 2.0 - 3.0 - 2.0);
        assert_eq!(free.memory_mb, 512.0);
        assert_eq!(free.disk_gb, 6.0);
        let req = |memory_mb, vcpus, disk_gb| ResourceRequest {
            memory_mb,
            vcpus,
            disk_gb,
            numa_topology: None,
        };
        assert_eq!(free.fits(&req(512, 3, 6)), Ok(()));
        assert_eq!(free.fits(&req(513, 1, 1)), Err(Resource::Ram));
        assert_eq!(free.fits(&req(1, 4, 1)), Err(Resource::Vcpu));
        assert_eq!(free.fits(&req(1, 1, 7)), Err(Resource::Disk));
        let mut after = free;
        after.consume(&req(512, 3, 6));
        assert_eq!(after.fits(&req(1, 0, 0)), Err(Resource::Ram));
        assert_eq!(Resource::Vcpu.filter_name(), "CoreFilter");
    }

    #[test]
    fn retries_remember_each_host_and_why() {
        let mut r = SchedulerRetries {
            num_attempts: 1,
            hosts: vec![],
        };
        assert_eq!(r.summary(), "No host was tried.");
        r.add_host("a", "a-node");
        assert!(r.tried("a") && !r.tried("b"));
        r.record_failure("a", "a-node", "disk on fire");
        r.record_failure("b", "b-node", "no luck");
        assert_eq!(r.last_reason(), Some("no luck"));
        assert_eq!(
            r.summary(),
            "Hosts tried: a, b. a: disk on fire; b: no luck"
        );
        let v = serde_json::to_value(FilterProperties {
            retry: Some(r.clone()),
        })
        .expect("ser");
        assert_eq!(v["retry"]["hosts"][0]["host"], "a");
        let back: FilterProperties = serde_json::from_value(serde_json::json!({})).expect("de");
        assert_eq!(back.retry, None);
    }

    #[test]
    fn name_template() {
        let u = Uuid::nil();
        assert_eq!(
            render_name_template("instance-%08x", 26, &u),
            "instance-0000001a"
        );
        assert_eq!(render_name_template("vm-%d", 7, &u), "vm-7");
        assert_eq!(render_name_template("vm-%5d.", 42, &u), "vm-   42.");
        assert_eq!(render_name_template("vm-%04d", 42, &u), "vm-0042");
        assert_eq!(render_name_template("vm-%4x", 255, &u), "vm-  ff");
        assert_eq!(render_name_template("vm-%2x", 4096, &u), "vm-1000");
        assert_eq!(render_name_template("i-%(uuid)s", 7, &u), format!("i-{u}"));
    }

    #[test]
    fn service_up_down() {
        let now = Utc::now();
        let mut s = Service {
            last_seen_up: Some(now - chrono::Duration::seconds(30)),
            ..Default::default()
        };
        assert!(s.is_up(now, 60));
        s.last_seen_up = Some(now - chrono::Duration::seconds(61));
        assert!(!s.is_up(now, 60));
        s.last_seen_up = Some(now);
        s.forced_down = true;
        assert!(!s.is_up(now, 60));
    }

    #[test]
    fn a_hosts_zone_is_its_aggregates_or_the_default() {
        let agg = |id: i64, hosts: &[&str], zone: Option<&str>| Aggregate {
            id,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            metadata: zone
                .map(|z| [("availability_zone".to_string(), z.to_string())].into())
                .unwrap_or_default(),
            ..Default::default()
        };
        let all = [
            agg(1, &["h1", "h2"], Some("az1")),
            agg(2, &["h1"], Some("az1")),
            agg(3, &["h3"], None),
            agg(4, &["h4"], Some("b")),
            agg(5, &["h4"], Some("a")),
        ];
        assert_eq!(host_availability_zone(&all, "h1", "nova"), "az1");
        assert_eq!(host_availability_zone(&all, "h2", "nova"), "az1");
        assert_eq!(host_availability_zone(&all, "h3", "nova"), "nova");
        assert_eq!(host_availability_zone(&all, "h9", "nova"), "nova");
        assert_eq!(host_availability_zone(&all, "h4", "nova"), "a,b");
        let zones = AvailabilityZones::new(&all, "nova");
        assert_eq!(zones.of("h1"), "az1");
        assert_eq!(zones.of("h3"), "nova");
        assert!(zones.contains("h4", "a") && zones.contains("h4", "b"));
        assert!(!zones.contains("h4", "a,b") && !zones.contains("h4", "nova"));
        assert!(zones.contains("h9", "nova") && !zones.contains("h1", "nova"));
    }

    #[test]
    fn disk_request_counts_swap_in_whole_gb() {
        let f = Flavor {
            root_gb: 1,
            ephemeral_gb: 2,
            swap: 512,
            memory_mb: 64,
            vcpus: 1,
            ..Default::default()
        };
        assert_eq!(
            ResourceRequest::from_flavor(&f),
            ResourceRequest {
                memory_mb: 64,
                vcpus: 1,
                disk_gb: 4,
                numa_topology: None,
            }
        );
    }
}

/// A guest's diagnostics in the standard format of microversion 2.48
/// (`nova.objects.Diagnostics`); what a driver cannot tell stays None.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagnostics {
    /// `pending`, `running`, `paused`, `shutdown`, `crashed` or `suspended`.
    pub state: Option<String>,
    pub driver: Option<String>,
    pub hypervisor: Option<String>,
    pub hypervisor_os: Option<String>,
    /// Seconds since the guest was launched.
    pub uptime: Option<i64>,
    pub config_drive: Option<bool>,
    #[serde(default)]
    pub cpu_details: Vec<CpuDiagnostics>,
    #[serde(default)]
    pub nic_details: Vec<NicDiagnostics>,
    #[serde(default)]
    pub disk_details: Vec<DiskDiagnostics>,
    pub memory_details: Option<MemoryDiagnostics>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CpuDiagnostics {
    pub id: Option<i64>,
    /// Nanoseconds.
    pub time: Option<i64>,
    /// Percent.
    pub utilisation: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NicDiagnostics {
    pub mac_address: Option<String>,
    pub rx_octets: Option<i64>,
    pub rx_errors: Option<i64>,
    pub rx_drop: Option<i64>,
    pub rx_packets: Option<i64>,
    pub rx_rate: Option<i64>,
    pub tx_octets: Option<i64>,
    pub tx_errors: Option<i64>,
    pub tx_drop: Option<i64>,
    pub tx_packets: Option<i64>,
    pub tx_rate: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DiskDiagnostics {
    pub read_bytes: Option<i64>,
    pub read_requests: Option<i64>,
    pub write_bytes: Option<i64>,
    pub write_requests: Option<i64>,
    pub errors_count: Option<i64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MemoryDiagnostics {
    /// Megabytes.
    pub maximum: Option<i64>,
    pub used: Option<i64>,
}

/// One host's run of a periodic audit task (`task_log`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskLog {
    pub task_name: String,
    /// `RUNNING` or `DONE`.
    pub state: String,
    pub host: String,
    pub period_beginning: Option<Timestamp>,
    pub period_ending: Option<Timestamp>,
    pub message: String,
    pub task_items: i64,
    pub errors: i64,
}
