//! oslo.config-style configuration: INI files given with `--config-file`
//! (repeatable, later files win) and `--config-dir` (every `*.conf` in it,
//! sorted), Nova's sections, option names and defaults.
//!
//! Every option the code reads is declared once in [`OPTS`]; that table is
//! what validation, defaults and the sample-file test work from. Unknown
//! options are reported as warnings; a value that does not parse stops the
//! daemon with the file, section, option and reason.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The kind of value an option holds.
#[derive(Clone, Copy, Debug)]
pub enum OptKind {
    Str,
    Int { min: i64, max: i64 },
    Float { min: f64 },
    Bool,
    List,
    Choice(&'static [&'static str]),
}

/// One option as oslo.config declares it.
#[derive(Debug)]
pub struct OptDef {
    pub section: &'static str,
    pub name: &'static str,
    pub kind: OptKind,
    /// The default as it would be written in the file; `$var` is substituted.
    pub default: &'static str,
    pub help: &'static str,
}

const fn opt(
    section: &'static str,
    name: &'static str,
    kind: OptKind,
    default: &'static str,
    help: &'static str,
) -> OptDef {
    OptDef {
        section,
        name,
        kind,
        default,
        help,
    }
}

const PORT: OptKind = OptKind::Int { min: 0, max: 65535 };
const NONNEG: OptKind = OptKind::Int {
    min: 0,
    max: i64::MAX,
};
const POSITIVE: OptKind = OptKind::Int {
    min: 1,
    max: i64::MAX,
};

/// Every option this project reads. `deploy/nova.conf.sample` lists them all.
pub static OPTS: &[OptDef] = &[
    // [DEFAULT]
    opt("DEFAULT", "host", OptKind::Str, "", "Name of this node, used as the RPC server name and in the services table. Defaults to the machine's hostname."),
    opt("DEFAULT", "my_ip", OptKind::Str, "", "IP address of this host. Defaults to the address of the interface with the default route."),
    opt("DEFAULT", "state_path", OptKind::Str, "/var/lib/nova", "Top-level directory for maintaining Nova's state."),
    opt("DEFAULT", "instances_path", OptKind::Str, "$state_path/instances", "Where instances are stored on disk."),
    opt("DEFAULT", "transport_url", OptKind::Str, "rabbit://guest:guest@127.0.0.1:5672/", "The messaging server URL: rabbit://user:pass@host:port/vhost."),
    opt("DEFAULT", "control_exchange", OptKind::Str, "nova", "The topic exchange RPC messages are sent to."),
    opt("DEFAULT", "rpc_response_timeout", OptKind::Int { min: 1, max: 86400 }, "60", "Seconds to wait for a response from a call."),
    opt("DEFAULT", "long_rpc_timeout", OptKind::Int { min: 1, max: 86400 }, "1800", "Seconds to wait for long-running calls (select_destinations)."),
    opt("DEFAULT", "report_interval", POSITIVE, "10", "Seconds between nodes reporting state to the datastore."),
    opt("DEFAULT", "service_down_time", POSITIVE, "60", "Maximum seconds since the last check-in for a service to be considered up."),
    opt("DEFAULT", "graceful_shutdown_timeout", NONNEG, "60", "Seconds to wait for in-flight work to finish on SIGTERM."),
    opt("DEFAULT", "compute_driver", OptKind::Choice(&["libvirt.LibvirtDriver", "fake.FakeDriver"]), "libvirt.LibvirtDriver", "Driver used by nova-compute to control the hypervisor."),
    opt("DEFAULT", "debug", OptKind::Bool, "false", "Log at debug level."),
    opt("DEFAULT", "log_file", OptKind::Str, "", "Log to this file instead of standard error."),
    opt("DEFAULT", "osapi_compute_listen", OptKind::Str, "0.0.0.0", "Address nova-api listens on for the compute API."),
    opt("DEFAULT", "osapi_compute_listen_port", PORT, "8774", "Port of the compute API."),
    opt("DEFAULT", "reserved_host_memory_mb", NONNEG, "512", "Memory (MB) reserved for the host."),
    opt("DEFAULT", "reserved_host_disk_mb", NONNEG, "0", "Disk (MB) reserved for the host."),
    opt("DEFAULT", "reserved_host_cpus", NONNEG, "0", "Host CPUs reserved for the host."),
    opt("DEFAULT", "ram_allocation_ratio", OptKind::Float { min: 0.0 }, "1.5", "Virtual RAM to physical RAM allocation ratio."),
    opt("DEFAULT", "cpu_allocation_ratio", OptKind::Float { min: 0.0 }, "16.0", "Virtual CPU to physical CPU allocation ratio."),
    opt("DEFAULT", "disk_allocation_ratio", OptKind::Float { min: 0.0 }, "1.0", "Virtual disk to physical disk allocation ratio."),
    opt("DEFAULT", "default_availability_zone", OptKind::Str, "nova", "Availability zone of compute hosts."),
    opt("DEFAULT", "internal_service_availability_zone", OptKind::Str, "internal", "Availability zone of the non-compute services."),
    opt("DEFAULT", "instance_name_template", OptKind::Str, "instance-%08x", "Template for instance names on the hypervisor."),
    opt("DEFAULT", "update_resources_interval", NONNEG, "60", "Seconds between resource usage reports of nova-compute."),
    opt("DEFAULT", "shutdown_timeout", NONNEG, "60", "Seconds to wait for a guest to shut down cleanly before powering it off."),
    opt("DEFAULT", "sync_power_state_interval", OptKind::Int { min: -1, max: i64::MAX }, "600", "Seconds between syncs of power states with the hypervisor (-1 disables)."),
    opt("DEFAULT", "instance_build_timeout", NONNEG, "0", "Seconds after which an instance stuck in BUILD goes to ERROR; 0 disables it."),
    opt("DEFAULT", "network_manager", OptKind::Choice(&["nova.network.manager.FlatDHCPManager"]), "nova.network.manager.FlatDHCPManager", "The nova-network manager class."),
    opt("DEFAULT", "network_size", POSITIVE, "256", "Number of addresses in each private subnet (nova-manage network create)."),
    opt("DEFAULT", "num_networks", POSITIVE, "1", "Number of networks to support (nova-manage network create)."),
    opt("DEFAULT", "flat_network_bridge", OptKind::Str, "br100", "Bridge for simple network interfaces."),
    opt("DEFAULT", "flat_interface", OptKind::Str, "", "Physical interface added to the flat bridge."),
    opt("DEFAULT", "fixed_ip_disassociate_timeout", NONNEG, "600", "Seconds after which a deallocated fixed IP can be reused."),
    // [database]
    opt("database", "connection", OptKind::Str, "", "The database URL: postgresql://user@host/dbname. Read by nova-conductor and nova-manage only."),
    opt("database", "max_pool_size", POSITIVE, "5", "Maximum number of database connections in the pool."),
    // [api]
    opt("api", "auth_strategy", OptKind::Choice(&["keystone", "noauth2"]), "keystone", "How API requests are authenticated."),
    opt("api", "max_limit", POSITIVE, "1000", "Maximum number of items a collection resource returns in one response."),
    opt("api", "compute_link_prefix", OptKind::Str, "", "Base URL that replaces the request host in links."),
    // [wsgi]
    opt("wsgi", "max_request_body_size", POSITIVE, "114688", "Maximum size (bytes) of an API request body."),
    // [glance]
    opt("glance", "api_servers", OptKind::List, "http://127.0.0.1:9292", "Glance API endpoints."),
    opt("glance", "num_retries", NONNEG, "3", "Retries when talking to Glance."),
    // [libvirt]
    opt("libvirt", "virt_type", OptKind::Choice(&["kvm", "lxc", "qemu", "parallels"]), "kvm", "Libvirt domain type."),
    opt("libvirt", "connection_uri", OptKind::Str, "", "Libvirt connection URI; empty means derived from virt_type."),
    opt("libvirt", "wait_soft_reboot_seconds", NONNEG, "120", "Seconds to wait for a soft reboot before a hard one."),
    // [image_cache]
    opt("image_cache", "manager_interval", OptKind::Int { min: -1, max: i64::MAX }, "2400", "Seconds between image cache cleanups (-1 disables)."),
    opt("image_cache", "subdirectory_name", OptKind::Str, "_base", "Directory under instances_path holding cached base images."),
    opt("image_cache", "remove_unused_base_images", OptKind::Bool, "true", "Remove cached images no instance on this host uses."),
    opt("image_cache", "remove_unused_original_minimum_age_seconds", NONNEG, "86400", "Unused cached images younger than this are kept."),
    // [filter_scheduler]
    opt("filter_scheduler", "enabled_filters", OptKind::List, "RetryFilter,AvailabilityZoneFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter", "Filters the scheduler applies, in order."),
    opt("filter_scheduler", "ram_weight_multiplier", OptKind::Float { min: f64::MIN }, "1.0", "Multiplier of the RAMWeigher (negative stacks)."),
    opt("filter_scheduler", "host_subset_size", POSITIVE, "1", "Pick randomly among this many best hosts."),
    // [scheduler]
    opt("scheduler", "max_attempts", POSITIVE, "3", "Maximum attempts to schedule an instance."),
    // [vnc]
    opt("vnc", "enabled", OptKind::Bool, "true", "Enable VNC consoles."),
    opt("vnc", "server_listen", OptKind::Str, "127.0.0.1", "Address the instance VNC servers listen on."),
    opt("vnc", "server_proxyclient_address", OptKind::Str, "127.0.0.1", "Address the console proxy connects to."),
    opt("vnc", "novncproxy_host", OptKind::Str, "0.0.0.0", "Address nova-novncproxy listens on."),
    opt("vnc", "novncproxy_port", PORT, "6080", "Port nova-novncproxy listens on."),
    opt("vnc", "novncproxy_base_url", OptKind::Str, "http://127.0.0.1:6080/vnc_auto.html", "Public URL of the noVNC console."),
    // [oslo_messaging_rabbit]
    opt("oslo_messaging_rabbit", "heartbeat_timeout_threshold", NONNEG, "60", "Seconds before an unresponsive broker connection is considered dead (0 disables heartbeats)."),
    opt("oslo_messaging_rabbit", "rabbit_retry_backoff", POSITIVE, "2", "Seconds added to the reconnect delay on each failed attempt."),
    opt("oslo_messaging_rabbit", "rabbit_interval_max", POSITIVE, "30", "Maximum seconds between reconnect attempts."),
    // [keystone_authtoken] (keystonemiddleware's options that nova-api uses)
    opt("keystone_authtoken", "www_authenticate_uri", OptKind::Str, "", "Public Keystone URL sent to clients in WWW-Authenticate."),
    opt("keystone_authtoken", "auth_url", OptKind::Str, "", "Keystone URL nova-api authenticates itself against and validates tokens with."),
    opt("keystone_authtoken", "auth_type", OptKind::Choice(&["password"]), "password", "How nova-api authenticates itself to Keystone."),
    opt("keystone_authtoken", "username", OptKind::Str, "nova", "Service user name."),
    opt("keystone_authtoken", "password", OptKind::Str, "", "Service user password."),
    opt("keystone_authtoken", "project_name", OptKind::Str, "service", "Service project name."),
    opt("keystone_authtoken", "user_domain_name", OptKind::Str, "Default", "Domain of the service user."),
    opt("keystone_authtoken", "project_domain_name", OptKind::Str, "Default", "Domain of the service project."),
    opt("keystone_authtoken", "region_name", OptKind::Str, "", "Keystone region."),
    opt("keystone_authtoken", "service_token_roles", OptKind::List, "service", "Roles a service token must carry to be accepted as one."),
    opt("keystone_authtoken", "service_token_roles_required", OptKind::Bool, "false", "Reject service tokens without service_token_roles."),
    opt("keystone_authtoken", "token_cache_time", OptKind::Int { min: -1, max: 86400 }, "300", "Seconds a validated token is cached (-1 disables the cache)."),
    opt("keystone_authtoken", "memcached_servers", OptKind::List, "", "Ignored: tokens are cached in process."),
    opt("keystone_authtoken", "http_connect_timeout", POSITIVE, "5", "Seconds to connect to Keystone."),
    // [oslo_policy]
    opt("oslo_policy", "policy_file", OptKind::Str, "policy.yaml", "Policy overrides (YAML or JSON), relative to the config file's directory."),
    opt("oslo_policy", "enforce_scope", OptKind::Bool, "false", "Accepted for compatibility; system scope is not used."),
    opt("oslo_policy", "enforce_new_defaults", OptKind::Bool, "true", "Accepted for compatibility; the defaults are Nova's new ones."),
    // [quota]
    opt("quota", "instances", OptKind::Int { min: -1, max: i64::MAX }, "10", "Instances per project (-1: unlimited)."),
    opt("quota", "cores", OptKind::Int { min: -1, max: i64::MAX }, "20", "Instance cores per project."),
    opt("quota", "ram", OptKind::Int { min: -1, max: i64::MAX }, "51200", "Megabytes of instance RAM per project."),
    opt("quota", "metadata_items", OptKind::Int { min: -1, max: i64::MAX }, "128", "Metadata items per instance."),
    opt("quota", "injected_files", OptKind::Int { min: -1, max: i64::MAX }, "5", "Injected files per instance."),
    opt("quota", "injected_file_content_bytes", OptKind::Int { min: -1, max: i64::MAX }, "10240", "Bytes per injected file."),
    opt("quota", "injected_file_path_length", OptKind::Int { min: -1, max: i64::MAX }, "255", "Length of an injected file path."),
    opt("quota", "key_pairs", OptKind::Int { min: -1, max: i64::MAX }, "100", "Key pairs per user."),
    opt("quota", "server_groups", OptKind::Int { min: -1, max: i64::MAX }, "10", "Server groups per project."),
    opt("quota", "server_group_members", OptKind::Int { min: -1, max: i64::MAX }, "10", "Servers per server group."),
];

/// Where a bad value came from, and why it is bad.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub section: String,
    pub option: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: [{}] {}: {}",
            self.file, self.section, self.option, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Debug)]
struct RawValue {
    value: String,
    file: String,
    line: usize,
}

/// Values read from the files, later files winning.
#[derive(Clone, Debug, Default)]
pub struct RawConfig {
    values: BTreeMap<(String, String), RawValue>,
    pub files: Vec<PathBuf>,
}

impl RawConfig {
    /// Parse INI text. `[DEFAULT]` is case-sensitive as in oslo; keys are
    /// normalised with `-` → `_`.
    pub fn parse_str(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        let mut section: Option<String> = None;
        let mut last_key: Option<(String, String)> = None;
        for (i, raw_line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                last_key = None;
                continue;
            }
            // Continuation line (indented) extends the previous value.
            if raw_line.starts_with([' ', '\t']) {
                if let Some(k) = &last_key {
                    if let Some(v) = self.values.get_mut(k) {
                        v.value.push('\n');
                        v.value.push_str(trimmed);
                        continue;
                    }
                }
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or_else(|| ConfigError {
                    file: file.to_string(),
                    section: section.clone().unwrap_or_default(),
                    option: String::new(),
                    reason: format!("line {line_no}: malformed section header {trimmed:?}"),
                })?;
                section = Some(name.trim().to_string());
                last_key = None;
                continue;
            }
            let (key, value) = match trimmed.split_once(['=', ':']) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => {
                    return Err(ConfigError {
                        file: file.to_string(),
                        section: section.clone().unwrap_or_default(),
                        option: trimmed.to_string(),
                        reason: format!("line {line_no}: expected 'option = value'"),
                    })
                }
            };
            let Some(sec) = section.clone() else {
                return Err(ConfigError {
                    file: file.to_string(),
                    section: String::new(),
                    option: key.to_string(),
                    reason: format!("line {line_no}: option outside of any section"),
                });
            };
            let k = (sec, key.replace('-', "_"));
            self.values.insert(
                k.clone(),
                RawValue {
                    value: unquote(value).to_string(),
                    file: file.to_string(),
                    line: line_no,
                },
            );
            last_key = Some(k);
        }
        Ok(())
    }

    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            section: String::new(),
            option: String::new(),
            reason: format!("cannot read: {e}"),
        })?;
        self.files.push(path.to_path_buf());
        self.parse_str(&text, &path.display().to_string())
    }

    /// oslo semantics: the files in order, then each directory's `*.conf`
    /// sorted by name. A missing default file is not an error.
    pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut raw = RawConfig::default();
        for f in files {
            raw.load_file(f)?;
        }
        for d in dirs {
            let entries = std::fs::read_dir(d).map_err(|e| ConfigError {
                file: d.display().to_string(),
                section: String::new(),
                option: String::new(),
                reason: format!("cannot read config dir: {e}"),
            })?;
            let mut confs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            confs.sort();
            for f in confs {
                raw.load_file(&f)?;
            }
        }
        Ok(raw)
    }

    /// Options present in the files that no code reads.
    pub fn unknown_options(&self) -> Vec<String> {
        self.values
            .iter()
            .filter(|((s, n), _)| {
                !OPTS.iter().any(|o| o.section == s && o.name == n) && !is_foreign_section(s)
            })
            .map(|((s, n), v)| format!("{}:{}: unknown option [{}] {}", v.file, v.line, s, n))
            .collect()
    }
}

/// Sections that belong to other services or libraries sharing the file
/// (keystonemiddleware, oslo.policy, ...): not ours to warn about yet.
fn is_foreign_section(s: &str) -> bool {
    matches!(s, "oslo_concurrency" | "placement" | "neutron" | "cinder")
}

fn unquote(v: &str) -> &str {
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Typed access over [`RawConfig`], validating against [`OPTS`].
struct Reader<'a> {
    raw: &'a RawConfig,
}

impl Reader<'_> {
    fn def(section: &str, name: &str) -> &'static OptDef {
        OPTS.iter()
            .find(|o| o.section == section && o.name == name)
            .unwrap_or_else(|| panic!("option [{section}] {name} is not declared in OPTS"))
    }

    /// The raw string (file value or default), `$var` substituted, and where it came from.
    fn raw(&self, section: &str, name: &str) -> (String, String) {
        let def = Self::def(section, name);
        let (v, file) = match self
            .raw
            .values
            .get(&(section.to_string(), name.to_string()))
        {
            Some(rv) => (rv.value.clone(), rv.file.clone()),
            None => (def.default.to_string(), "<default>".to_string()),
        };
        (self.substitute(section, &v), file)
    }

    fn substitute(&self, section: &str, v: &str) -> String {
        if !v.contains('$') {
            return v.to_string();
        }
        let mut out = String::new();
        let mut rest = v;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                match b.find('}') {
                    Some(end) => (&b[..end], &b[end + 1..]),
                    None => (b, ""),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            if name.is_empty() {
                out.push('$');
            } else {
                let found = [section, "DEFAULT"].iter().find_map(|s| {
                    OPTS.iter()
                        .find(|o| o.section == *s && o.name == name)
                        .map(|o| self.raw(o.section, o.name).0)
                });
                out.push_str(&found.unwrap_or_default());
            }
            rest = tail;
        }
        out.push_str(rest);
        out
    }

    fn err(section: &str, name: &str, file: String, reason: String) -> ConfigError {
        ConfigError {
            file,
            section: section.to_string(),
            option: name.to_string(),
            reason,
        }
    }

    fn string(&self, section: &str, name: &str) -> Result<String, ConfigError> {
        let def = Self::def(section, name);
        let (v, file) = self.raw(section, name);
        if let OptKind::Choice(choices) = def.kind {
            if !choices.contains(&v.as_str()) {
                return Err(Self::err(
                    section,
                    name,
                    file,
                    format!("{v:?} is not one of {}", choices.join(", ")),
                ));
            }
        }
        Ok(v)
    }

    fn int(&self, section: &str, name: &str) -> Result<i64, ConfigError> {
        let def = Self::def(section, name);
        let (v, file) = self.raw(section, name);
        let n: i64 = v.trim().parse().map_err(|_| {
            Self::err(
                section,
                name,
                file.clone(),
                format!("{v:?} is not an integer"),
            )
        })?;
        if let OptKind::Int { min, max } = def.kind {
            if n < min || n > max {
                return Err(Self::err(
                    section,
                    name,
                    file,
                    format!("{n} is outside the range {min}..={max}"),
                ));
            }
        }
        Ok(n)
    }

    fn float(&self, section: &str, name: &str) -> Result<f64, ConfigError> {
        let def = Self::def(section, name);
        let (v, file) = self.raw(section, name);
        let n: f64 = v.trim().parse().map_err(|_| {
            Self::err(
                section,
                name,
                file.clone(),
                format!("{v:?} is not a number"),
            )
        })?;
        if let OptKind::Float { min } = def.kind {
            if n < min {
                return Err(Self::err(
                    section,
                    name,
                    file,
                    format!("{n} is below {min}"),
                ));
            }
        }
        Ok(n)
    }

    fn boolean(&self, section: &str, name: &str) -> Result<bool, ConfigError> {
        let (v, file) = self.raw(section, name);
        match v.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            _ => Err(Self::err(
                section,
                name,
                file,
                format!("{v:?} is not a boolean"),
            )),
        }
    }

    fn list(&self, section: &str, name: &str) -> Result<Vec<String>, ConfigError> {
        let (v, _) = self.raw(section, name);
        Ok(v.split([',', '\n'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect())
    }
}

#[derive(Clone, Debug)]
pub struct DefaultSection {
    pub host: String,
    pub my_ip: String,
    pub state_path: String,
    pub instances_path: String,
    pub transport_url: String,
    pub control_exchange: String,
    pub rpc_response_timeout: u64,
    pub long_rpc_timeout: u64,
    pub report_interval: u64,
    pub service_down_time: u64,
    pub graceful_shutdown_timeout: u64,
    pub compute_driver: String,
    pub debug: bool,
    pub log_file: Option<String>,
    pub osapi_compute_listen: String,
    pub osapi_compute_listen_port: u16,
    pub reserved_host_memory_mb: i64,
    pub reserved_host_disk_mb: i64,
    pub reserved_host_cpus: i64,
    pub ram_allocation_ratio: f64,
    pub cpu_allocation_ratio: f64,
    pub disk_allocation_ratio: f64,
    pub default_availability_zone: String,
    pub internal_service_availability_zone: String,
    pub instance_name_template: String,
    pub update_resources_interval: u64,
    pub instance_build_timeout: u64,
    pub shutdown_timeout: u64,
    /// Negative disables the sync.
    pub sync_power_state_interval: i64,
    pub network_manager: String,
    pub network_size: i64,
    pub num_networks: i64,
    pub flat_network_bridge: String,
    pub flat_interface: String,
    pub fixed_ip_disassociate_timeout: u64,
}

#[derive(Clone, Debug)]
pub struct DatabaseSection {
    pub connection: String,
    pub max_pool_size: u32,
}

#[derive(Clone, Debug)]
pub struct ApiSection {
    pub auth_strategy: String,
    pub max_limit: usize,
    pub compute_link_prefix: String,
    pub max_request_body_size: usize,
}

#[derive(Clone, Debug)]
pub struct GlanceSection {
    pub api_servers: Vec<String>,
    pub num_retries: u32,
}

#[derive(Clone, Debug)]
pub struct LibvirtSection {
    pub virt_type: String,
    pub connection_uri: String,
    pub wait_soft_reboot_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct ImageCacheSection {
    /// Negative disables the cleanup.
    pub manager_interval: i64,
    pub subdirectory_name: String,
    pub remove_unused_base_images: bool,
    pub remove_unused_original_minimum_age_seconds: u64,
}

#[derive(Clone, Debug)]
pub struct SchedulerSection {
    pub enabled_filters: Vec<String>,
    pub ram_weight_multiplier: f64,
    pub host_subset_size: usize,
    pub max_attempts: u32,
}

#[derive(Clone, Debug)]
pub struct VncSection {
    pub enabled: bool,
    pub server_listen: String,
    pub server_proxyclient_address: String,
    pub novncproxy_host: String,
    pub novncproxy_port: u16,
    pub novncproxy_base_url: String,
}

#[derive(Clone, Debug)]
pub struct KeystoneAuthtokenSection {
    pub www_authenticate_uri: String,
    pub auth_url: String,
    pub username: String,
    pub password: String,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    pub region_name: String,
    pub service_token_roles: Vec<String>,
    pub service_token_roles_required: bool,
    /// Seconds; negative disables caching.
    pub token_cache_time: i64,
    pub http_connect_timeout: u64,
}

#[derive(Clone, Debug)]
pub struct PolicySection {
    /// Resolved against the directory of the last config file when relative.
    pub policy_file: String,
}

/// `[quota]` defaults: resource name → limit (-1 unlimited), in Nova's order.
pub const QUOTA_RESOURCES: &[&str] = &[
    "instances",
    "cores",
    "ram",
    "metadata_items",
    "injected_files",
    "injected_file_content_bytes",
    "injected_file_path_length",
    "key_pairs",
    "server_groups",
    "server_group_members",
];

#[derive(Clone, Debug)]
pub struct RabbitSection {
    pub heartbeat_timeout_threshold: u16,
    pub rabbit_retry_backoff: u64,
    pub rabbit_interval_max: u64,
}

/// The whole configuration, typed.
#[derive(Clone, Debug)]
pub struct NovaConfig {
    pub default: DefaultSection,
    pub database: DatabaseSection,
    pub api: ApiSection,
    pub glance: GlanceSection,
    pub libvirt: LibvirtSection,
    pub image_cache: ImageCacheSection,
    pub scheduler: SchedulerSection,
    pub vnc: VncSection,
    pub rabbit: RabbitSection,
    pub keystone_authtoken: KeystoneAuthtokenSection,
    pub oslo_policy: PolicySection,
    /// `[quota]`: default limit per resource of [`QUOTA_RESOURCES`].
    pub quota: std::collections::BTreeMap<String, i64>,
    /// Warnings found while loading (unknown options), to log once tracing is up.
    pub warnings: Vec<String>,
}

/// The filters this scheduler implements (names as in Nova).
pub const KNOWN_FILTERS: &[&str] = &[
    "RetryFilter",
    "AvailabilityZoneFilter",
    "ComputeFilter",
    "RamFilter",
    "CoreFilter",
    "DiskFilter",
];

impl NovaConfig {
    pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Self, ConfigError> {
        let raw = RawConfig::load(files, dirs)?;
        Self::from_raw(&raw)
    }

    pub fn parse_text(text: &str) -> Result<Self, ConfigError> {
        let mut raw = RawConfig::default();
        raw.parse_str(text, "<string>")?;
        Self::from_raw(&raw)
    }

    pub fn from_raw(raw: &RawConfig) -> Result<Self, ConfigError> {
        let r = Reader { raw };
        let u = |n: i64| n as u64;
        let mut host = r.string("DEFAULT", "host")?;
        if host.is_empty() {
            host = system_hostname();
        }
        let mut my_ip = r.string("DEFAULT", "my_ip")?;
        if my_ip.is_empty() {
            my_ip = detect_my_ip();
        }
        let log_file = r.string("DEFAULT", "log_file")?;
        let default = DefaultSection {
            host,
            my_ip,
            state_path: r.string("DEFAULT", "state_path")?,
            instances_path: r.string("DEFAULT", "instances_path")?,
            transport_url: r.string("DEFAULT", "transport_url")?,
            control_exchange: r.string("DEFAULT", "control_exchange")?,
            rpc_response_timeout: u(r.int("DEFAULT", "rpc_response_timeout")?),
            long_rpc_timeout: u(r.int("DEFAULT", "long_rpc_timeout")?),
            report_interval: u(r.int("DEFAULT", "report_interval")?),
            service_down_time: u(r.int("DEFAULT", "service_down_time")?),
            graceful_shutdown_timeout: u(r.int("DEFAULT", "graceful_shutdown_timeout")?),
            compute_driver: r.string("DEFAULT", "compute_driver")?,
            debug: r.boolean("DEFAULT", "debug")?,
            log_file: (!log_file.is_empty()).then_some(log_file),
            osapi_compute_listen: r.string("DEFAULT", "osapi_compute_listen")?,
            osapi_compute_listen_port: r.int("DEFAULT", "osapi_compute_listen_port")? as u16,
            reserved_host_memory_mb: r.int("DEFAULT", "reserved_host_memory_mb")?,
            reserved_host_disk_mb: r.int("DEFAULT", "reserved_host_disk_mb")?,
            reserved_host_cpus: r.int("DEFAULT", "reserved_host_cpus")?,
            ram_allocation_ratio: r.float("DEFAULT", "ram_allocation_ratio")?,
            cpu_allocation_ratio: r.float("DEFAULT", "cpu_allocation_ratio")?,
            disk_allocation_ratio: r.float("DEFAULT", "disk_allocation_ratio")?,
            default_availability_zone: r.string("DEFAULT", "default_availability_zone")?,
            internal_service_availability_zone: r
                .string("DEFAULT", "internal_service_availability_zone")?,
            instance_name_template: r.string("DEFAULT", "instance_name_template")?,
            update_resources_interval: u(r.int("DEFAULT", "update_resources_interval")?),
            instance_build_timeout: u(r.int("DEFAULT", "instance_build_timeout")?),
            shutdown_timeout: u(r.int("DEFAULT", "shutdown_timeout")?),
            sync_power_state_interval: r.int("DEFAULT", "sync_power_state_interval")?,
            network_manager: r.string("DEFAULT", "network_manager")?,
            network_size: r.int("DEFAULT", "network_size")?,
            num_networks: r.int("DEFAULT", "num_networks")?,
            flat_network_bridge: r.string("DEFAULT", "flat_network_bridge")?,
            flat_interface: r.string("DEFAULT", "flat_interface")?,
            fixed_ip_disassociate_timeout: u(r.int("DEFAULT", "fixed_ip_disassociate_timeout")?),
        };
        let (url, url_file) = r.raw("DEFAULT", "transport_url");
        crate::config::parse_transport_url(&url)
            .map_err(|reason| Reader::err("DEFAULT", "transport_url", url_file, reason))?;
        let filters = r.list("filter_scheduler", "enabled_filters")?;
        if let Some(bad) = filters
            .iter()
            .find(|f| !KNOWN_FILTERS.contains(&f.as_str()))
        {
            let (_, file) = r.raw("filter_scheduler", "enabled_filters");
            return Err(Reader::err(
                "filter_scheduler",
                "enabled_filters",
                file,
                format!(
                    "unknown filter {bad:?}; known: {}",
                    KNOWN_FILTERS.join(", ")
                ),
            ));
        }
        Ok(NovaConfig {
            default,
            database: DatabaseSection {
                connection: r.string("database", "connection")?,
                max_pool_size: r.int("database", "max_pool_size")? as u32,
            },
            api: ApiSection {
                auth_strategy: r.string("api", "auth_strategy")?,
                max_limit: r.int("api", "max_limit")? as usize,
                compute_link_prefix: r.string("api", "compute_link_prefix")?,
                max_request_body_size: r.int("wsgi", "max_request_body_size")? as usize,
            },
            glance: GlanceSection {
                api_servers: r.list("glance", "api_servers")?,
                num_retries: r.int("glance", "num_retries")? as u32,
            },
            libvirt: LibvirtSection {
                virt_type: r.string("libvirt", "virt_type")?,
                connection_uri: r.string("libvirt", "connection_uri")?,
                wait_soft_reboot_seconds: u(r.int("libvirt", "wait_soft_reboot_seconds")?),
            },
            image_cache: ImageCacheSection {
                manager_interval: r.int("image_cache", "manager_interval")?,
                subdirectory_name: r.string("image_cache", "subdirectory_name")?,
                remove_unused_base_images: r.boolean("image_cache", "remove_unused_base_images")?,
                remove_unused_original_minimum_age_seconds: u(
                    r.int("image_cache", "remove_unused_original_minimum_age_seconds")?
                ),
            },
            scheduler: SchedulerSection {
                enabled_filters: filters,
                ram_weight_multiplier: r.float("filter_scheduler", "ram_weight_multiplier")?,
                host_subset_size: r.int("filter_scheduler", "host_subset_size")? as usize,
                max_attempts: r.int("scheduler", "max_attempts")? as u32,
            },
            vnc: VncSection {
                enabled: r.boolean("vnc", "enabled")?,
                server_listen: r.string("vnc", "server_listen")?,
                server_proxyclient_address: r.string("vnc", "server_proxyclient_address")?,
                novncproxy_host: r.string("vnc", "novncproxy_host")?,
                novncproxy_port: r.int("vnc", "novncproxy_port")? as u16,
                novncproxy_base_url: r.string("vnc", "novncproxy_base_url")?,
            },
            rabbit: RabbitSection {
                heartbeat_timeout_threshold: r
                    .int("oslo_messaging_rabbit", "heartbeat_timeout_threshold")?
                    .min(u16::MAX as i64) as u16,
                rabbit_retry_backoff: u(r.int("oslo_messaging_rabbit", "rabbit_retry_backoff")?),
                rabbit_interval_max: u(r.int("oslo_messaging_rabbit", "rabbit_interval_max")?),
            },
            keystone_authtoken: KeystoneAuthtokenSection {
                www_authenticate_uri: r.string("keystone_authtoken", "www_authenticate_uri")?,
                auth_url: r.string("keystone_authtoken", "auth_url")?,
                username: r.string("keystone_authtoken", "username")?,
                password: r.string("keystone_authtoken", "password")?,
                project_name: r.string("keystone_authtoken", "project_name")?,
                user_domain_name: r.string("keystone_authtoken", "user_domain_name")?,
                project_domain_name: r.string("keystone_authtoken", "project_domain_name")?,
                region_name: r.string("keystone_authtoken", "region_name")?,
                service_token_roles: r.list("keystone_authtoken", "service_token_roles")?,
                service_token_roles_required: r
                    .boolean("keystone_authtoken", "service_token_roles_required")?,
                token_cache_time: r.int("keystone_authtoken", "token_cache_time")?,
                http_connect_timeout: u(r.int("keystone_authtoken", "http_connect_timeout")?),
            },
            oslo_policy: PolicySection {
                policy_file: {
                    let f = r.string("oslo_policy", "policy_file")?;
                    let _ = r.boolean("oslo_policy", "enforce_scope")?;
                    let _ = r.boolean("oslo_policy", "enforce_new_defaults")?;
                    match (std::path::Path::new(&f).is_absolute(), raw.files.last()) {
                        (false, Some(last)) => last
                            .parent()
                            .map(|d| d.join(&f).display().to_string())
                            .unwrap_or(f),
                        _ => f,
                    }
                },
            },
            quota: QUOTA_RESOURCES
                .iter()
                .map(|q| Ok((q.to_string(), r.int("quota", q)?)))
                .collect::<Result<_, ConfigError>>()?,
            warnings: raw.unknown_options(),
        })
    }

    /// The database connection, or the error a daemon that needs it reports.
    pub fn require_database(&self) -> Result<&str, ConfigError> {
        if self.database.connection.is_empty() {
            return Err(ConfigError {
                file: "<config>".into(),
                section: "database".into(),
                option: "connection".into(),
                reason: "must be set (e.g. postgresql://nova@127.0.0.1/nova)".into(),
            });
        }
        Ok(&self.database.connection)
    }
}

/// The parts of `rabbit://user:pass@host:port/vhost`.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub vhost: String,
}

pub fn parse_transport_url(url: &str) -> Result<TransportUrl, String> {
    let rest = url
        .strip_prefix("rabbit://")
        .or_else(|| url.strip_prefix("amqp://"))
        .ok_or_else(|| format!("{url:?}: only rabbit:// (or amqp://) URLs are supported"))?;
    // Only the first host of a comma-separated list is used.
    let (authority, vhost) = match rest.split_once('/') {
        Some((a, v)) => (a, v.split('?').next().unwrap_or("").to_string()),
        None => (rest, String::new()),
    };
    let authority = authority.split(',').next().unwrap_or("");
    let (creds, hostport) = match authority.rsplit_once('@') {
        Some((c, h)) => (c, h),
        None => ("guest:guest", authority),
    };
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
        ),
        None => (hostport.to_string(), 5672),
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok(TransportUrl {
        user: user.to_string(),
        password: password.to_string(),
        host,
        port,
        vhost: if vhost.is_empty() { "/".into() } else { vhost },
    })
}

pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The source address the kernel would use for an outbound route (no packet is sent).
pub fn detect_my_ip() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("8.8.8.8:80")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_string())
}

/// The sample file text, as oslo-config-generator writes it: every option commented out with its default.
pub fn render_sample() -> String {
    let mut out = String::from(
        "# nova.conf sample: every option nova-rs reads, with its default.\n\
         # Generated from nova_common::config::OPTS; `cargo test -p nova-common` checks it is current.\n",
    );
    let mut sections: Vec<&str> = Vec::new();
    for o in OPTS {
        if !sections.contains(&o.section) {
            sections.push(o.section);
        }
    }
    for s in sections {
        out.push_str(&format!("\n[{s}]\n"));
        for o in OPTS.iter().filter(|o| o.section == s) {
            let kind = match o.kind {
                OptKind::Str => "string value".to_string(),
                OptKind::Int { .. } => "integer value".to_string(),
                OptKind::Float { .. } => "floating point value".to_string(),
                OptKind::Bool => "boolean value".to_string(),
                OptKind::List => "list value".to_string(),
                OptKind::Choice(c) => format!("string value, one of: {}", c.join(", ")),
            };
            out.push_str(&format!(
                "\n# {} ({kind})\n#{} = {}\n",
                o.help, o.name, o.default
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_novas() {
        let c = NovaConfig::parse_text("").expect("defaults parse");
        assert_eq!(c.default.report_interval, 10);
        assert_eq!(c.default.service_down_time, 60);
        assert_eq!(c.default.rpc_response_timeout, 60);
        assert_eq!(c.default.instances_path, "/var/lib/nova/instances");
        assert_eq!(c.api.auth_strategy, "keystone");
        assert_eq!(c.libvirt.virt_type, "kvm");
        assert_eq!(c.vnc.novncproxy_port, 6080);
    }

    #[test]
    fn later_values_win_and_interpolate() {
        let mut raw = RawConfig::default();
        raw.parse_str("[DEFAULT]\nstate_path = /a\n", "one.conf")
            .expect("parse");
        raw.parse_str(
            "[DEFAULT]\nstate_path = /b\nreport_interval=3\n",
            "two.conf",
        )
        .expect("parse");
        let c = NovaConfig::from_raw(&raw).expect("valid");
        assert_eq!(c.default.instances_path, "/b/instances");
        assert_eq!(c.default.report_interval, 3);
    }

    #[test]
    fn bad_value_names_file_section_option_and_reason() {
        let mut raw = RawConfig::default();
        raw.parse_str("[DEFAULT]\nreport_interval = soon\n", "/etc/nova/nova.conf")
            .expect("parse");
        let e = NovaConfig::from_raw(&raw).expect_err("must fail");
        assert_eq!(e.file, "/etc/nova/nova.conf");
        assert_eq!(e.section, "DEFAULT");
        assert_eq!(e.option, "report_interval");
        assert!(e.reason.contains("not an integer"), "{e}");

        let e = NovaConfig::parse_text("[libvirt]\nvirt_type = bhyve\n").expect_err("choice");
        assert!(e.to_string().contains("[libvirt] virt_type"), "{e}");
        let e = NovaConfig::parse_text("[filter_scheduler]\nenabled_filters = RamFilter,Nope\n")
            .expect_err("filter");
        assert!(e.reason.contains("Nope"), "{e}");
        let e = NovaConfig::parse_text("[DEFAULT]\ntransport_url = kafka://x\n").expect_err("url");
        assert_eq!(e.option, "transport_url");
    }

    #[test]
    fn unknown_options_warn() {
        let mut raw = RawConfig::default();
        raw.parse_str(
            "[DEFAULT]\nfoo_bar = 1\n[keystone_authtoken]\nauth_url = x\n",
            "f",
        )
        .expect("parse");
        let w = raw.unknown_options();
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("foo_bar"));
    }

    #[test]
    fn transport_urls() {
        let t = parse_transport_url("rabbit://u:p@10.0.0.1:5673/nova").expect("url");
        assert_eq!(
            (t.user.as_str(), t.port, t.vhost.as_str()),
            ("u", 5673, "nova")
        );
        let t = parse_transport_url("rabbit://guest:guest@localhost:5672/").expect("url");
        assert_eq!(t.vhost, "/");
    }

    #[test]
    fn sample_file_is_current_and_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nova.conf.sample");
        let text = std::fs::read_to_string(&path).expect("deploy/nova.conf.sample exists");
        assert_eq!(
            text,
            render_sample(),
            "deploy/nova.conf.sample is stale: regenerate with `nova-manage config sample > deploy/nova.conf.sample`"
        );
        // Uncommented, the sample is a valid configuration with every default.
        let uncommented: String = text
            .lines()
            .map(|l| {
                if l.starts_with('#') && !l.starts_with("# ") && l.contains(" = ") {
                    &l[1..]
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut raw = RawConfig::default();
        raw.parse_str(&uncommented, "nova.conf.sample")
            .expect("sample parses");
        assert!(raw.unknown_options().is_empty());
        NovaConfig::from_raw(&raw).expect("sample values are valid");
        for o in OPTS {
            assert!(
                text.contains(&format!("#{} = ", o.name)),
                "{} missing",
                o.name
            );
        }
    }
}
