//! oslo.config-style configuration: INI files given with `--config-file`
//! (repeatable, later files win) and `--config-dir` (every `*.conf` in it,
//! sorted), Nova's sections, option names and defaults.
//!
//! Each section has its own module, where every option it reads is declared
//! exactly once, as one row of a `config_section!` (see [`opt`]): field,
//! type, default, kind and help. The section's struct, its [`OptDef`] table
//! (which validation, defaults, unknown-option warnings and the sample file
//! work from) and the code that reads it are generated from those rows.
//! What Nova derives instead of reading (the hostname, `my_ip`, a policy file
//! relative to the config file) is done after reading, in a small `resolve`
//! beside the section.
//!
//! Unknown options are reported as warnings; a value that does not parse
//! stops the daemon with the file, section, option and reason.

mod opt;
mod raw;
mod sample;

mod api;
mod compute;
mod conductor;
mod database;
mod default;
mod ec2;
mod fake;
mod glance;
mod image_cache;
mod keystone_authtoken;
mod libvirt;
mod oslo_messaging_rabbit;
mod oslo_policy;
mod quota;
mod scheduler;
mod vnc;

pub use api::ApiSection;
pub use compute::ComputeSection;
pub use conductor::ConductorSection;
pub use database::DatabaseSection;
pub use default::{
    detect_my_ip, parse_transport_url, system_hostname, DefaultSection, TransportUrl,
};
pub use ec2::Ec2Section;
pub use fake::FakeSection;
pub use glance::GlanceSection;
pub use image_cache::ImageCacheSection;
pub use keystone_authtoken::KeystoneAuthtokenSection;
pub use libvirt::LibvirtSection;
pub use opt::{OptDef, OptKind};
pub use oslo_messaging_rabbit::RabbitSection;
pub use oslo_policy::PolicySection;
pub use quota::{QuotaSection, NETWORK_QUOTAS, QUOTA_RESOURCES};
pub(crate) use raw::Reader;
pub use raw::{ConfigError, RawConfig};
pub use sample::render_sample;
pub use scheduler::{SchedulerSection, DEFAULT_PERIODIC_TASK_INTERVAL, KNOWN_FILTERS};
pub use vnc::VncSection;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every section's options, in the order the sample file lists them.
const SECTIONS: &[&[OptDef]] = &[
    DefaultSection::OPTS,
    Ec2Section::OPTS,
    DatabaseSection::OPTS,
    ApiSection::OPTS,
    GlanceSection::OPTS,
    LibvirtSection::OPTS,
    ImageCacheSection::OPTS,
    ComputeSection::OPTS,
    SchedulerSection::OPTS,
    FakeSection::OPTS,
    VncSection::OPTS,
    RabbitSection::OPTS,
    ConductorSection::OPTS,
    KeystoneAuthtokenSection::OPTS,
    PolicySection::OPTS,
    QuotaSection::OPTS,
];

/// Every option this project reads. `deploy/nova.conf.sample` lists them all.
pub fn opts() -> impl Iterator<Item = &'static OptDef> {
    SECTIONS.iter().flat_map(|s| s.iter())
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
    pub compute: ComputeSection,
    pub scheduler: SchedulerSection,
    pub fake: FakeSection,
    pub vnc: VncSection,
    pub rabbit: RabbitSection,
    /// `[conductor]`: whom RPC servers trust (see [`crate::trust`]).
    pub conductor: ConductorSection,
    pub keystone_authtoken: KeystoneAuthtokenSection,
    pub oslo_policy: PolicySection,
    /// `[quota]`: default limit per resource of [`QUOTA_RESOURCES`].
    pub quota: BTreeMap<String, i64>,
    /// The EC2 API's options (in `[DEFAULT]`).
    pub ec2: Ec2Section,
    /// Warnings found while loading (unknown options), to log once tracing is up.
    pub warnings: Vec<String>,
}

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
        let r = Reader::new(raw);
        let default = DefaultSection::read(&r)?.resolve(&r)?;
        let ec2 = Ec2Section::read(&r)?.resolve(&default);
        Ok(NovaConfig {
            conductor: ConductorSection::read(&r)?.resolve(&r, &default)?,
            default,
            database: DatabaseSection::read(&r)?,
            api: ApiSection::read(&r)?,
            glance: GlanceSection::read(&r)?,
            libvirt: LibvirtSection::read(&r)?,
            image_cache: ImageCacheSection::read(&r)?,
            compute: ComputeSection::read(&r)?,
            scheduler: SchedulerSection::read(&r)?,
            fake: FakeSection::read(&r)?,
            vnc: VncSection::read(&r)?,
            rabbit: RabbitSection::read(&r)?,
            keystone_authtoken: KeystoneAuthtokenSection::read(&r)?,
            oslo_policy: PolicySection::read(&r)?.resolve(&raw.files),
            quota: QuotaSection::read(&r)?,
            ec2,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Nova's default for every option, as Nova (or the library that owns
    /// the option: oslo.messaging, oslo.db, keystonemiddleware) declares it.
    /// Where nova-rs differs on purpose, the comment says so and why.
    const NOVA_DEFAULTS: &[(&str, &str, &str)] = &[
        ("DEFAULT", "host", ""),  // the machine's hostname, resolved at load
        ("DEFAULT", "my_ip", ""), // detected, resolved at load
        ("DEFAULT", "state_path", "/var/lib/nova"), // Nova: $pybasedir; packages use this
        ("DEFAULT", "instances_path", "$state_path/instances"),
        // oslo.messaging: unset, which means guest:guest@localhost:5672.
        (
            "DEFAULT",
            "transport_url",
            "rabbit://guest:guest@127.0.0.1:5672/",
        ),
        ("DEFAULT", "control_exchange", "nova"),
        ("DEFAULT", "rpc_response_timeout", "60"),
        ("DEFAULT", "long_rpc_timeout", "1800"),
        ("DEFAULT", "report_interval", "10"),
        ("DEFAULT", "service_down_time", "60"),
        ("DEFAULT", "graceful_shutdown_timeout", "60"),
        ("DEFAULT", "compute_driver", "libvirt.LibvirtDriver"), // Nova: none, required
        ("DEFAULT", "debug", "false"),
        ("DEFAULT", "log_file", ""),
        ("DEFAULT", "osapi_compute_listen", "0.0.0.0"),
        ("DEFAULT", "osapi_compute_listen_port", "8774"),
        ("DEFAULT", "enabled_apis", "osapi_compute,metadata"),
        ("DEFAULT", "metadata_listen", "0.0.0.0"),
        ("DEFAULT", "metadata_listen_port", "8775"),
        ("DEFAULT", "ec2_listen", "0.0.0.0"),
        ("DEFAULT", "ec2_listen_port", "8773"),
        ("DEFAULT", "reserved_host_memory_mb", "512"),
        ("DEFAULT", "reserved_host_disk_mb", "0"),
        ("DEFAULT", "reserved_host_cpus", "0"),
        ("DEFAULT", "ram_allocation_ratio", "1.5"),
        ("DEFAULT", "cpu_allocation_ratio", "16.0"),
        ("DEFAULT", "disk_allocation_ratio", "1.0"),
        ("DEFAULT", "default_availability_zone", "nova"),
        ("DEFAULT", "default_schedule_zone", ""),
        ("DEFAULT", "internal_service_availability_zone", "internal"),
        ("DEFAULT", "instance_name_template", "instance-%08x"),
        ("DEFAULT", "instance_usage_audit", "false"),
        ("DEFAULT", "instance_usage_audit_period", "month"),
        ("DEFAULT", "force_config_drive", "false"),
        ("DEFAULT", "config_drive_format", "iso9660"),
        ("DEFAULT", "mkisofs_cmd", "genisoimage"),
        ("DEFAULT", "update_resources_interval", "0"),
        ("DEFAULT", "shutdown_timeout", "60"),
        ("DEFAULT", "sync_power_state_interval", "600"),
        ("DEFAULT", "shelved_offload_time", "0"),
        ("DEFAULT", "reclaim_instance_interval", "0"),
        ("DEFAULT", "shelved_poll_interval", "3600"),
        ("DEFAULT", "heal_instance_info_cache_interval", "60"),
        ("DEFAULT", "instance_build_timeout", "0"),
        // Nova: VlanManager; FlatDHCPManager is the only manager ported.
        (
            "DEFAULT",
            "network_manager",
            "nova.network.manager.FlatDHCPManager",
        ),
        ("DEFAULT", "network_size", "256"),
        ("DEFAULT", "num_networks", "1"),
        ("DEFAULT", "flat_network_bridge", "br100"), // Nova: unset; devstack's value
        ("DEFAULT", "flat_interface", ""),
        ("DEFAULT", "flat_network_dns", "8.8.4.4"),
        ("DEFAULT", "networks_path", "$state_path/networks"),
        ("DEFAULT", "dhcp_lease_time", "86400"),
        ("DEFAULT", "force_dhcp_release", "true"),
        ("DEFAULT", "dnsmasq_config_file", ""),
        ("DEFAULT", "dns_server", ""),
        ("database", "connection", ""),
        ("database", "max_pool_size", "5"),
        ("api", "auth_strategy", "keystone"),
        ("api", "max_limit", "1000"),
        ("api", "compute_link_prefix", ""),
        ("api", "enable_instance_password", "true"),
        ("api", "dhcp_domain", "novalocal"),
        ("wsgi", "max_request_body_size", "114688"),
        ("glance", "api_servers", "http://127.0.0.1:9292"), // Nova: from the catalog
        ("glance", "num_retries", "3"),
        ("libvirt", "virt_type", "kvm"),
        ("libvirt", "connection_uri", ""),
        ("libvirt", "wait_soft_reboot_seconds", "120"),
        ("libvirt", "rescue_image_id", ""),
        ("libvirt", "rescue_kernel_id", ""),
        ("libvirt", "rescue_ramdisk_id", ""),
        ("libvirt", "live_migration_scheme", ""),
        ("libvirt", "live_migration_inbound_addr", ""),
        ("libvirt", "live_migration_uri", ""),
        ("libvirt", "live_migration_bandwidth", "0"),
        ("libvirt", "live_migration_completion_timeout", "800"),
        ("image_cache", "manager_interval", "2400"),
        ("compute", "cpu_shared_set", ""),
        ("compute", "cpu_dedicated_set", ""),
        ("DEFAULT", "vcpu_pin_set", ""),
        ("image_cache", "subdirectory_name", "_base"),
        ("image_cache", "remove_unused_base_images", "true"),
        (
            "image_cache",
            "remove_unused_original_minimum_age_seconds",
            "86400",
        ),
        // Nova's default list, less the filters not ported yet.
        (
            "filter_scheduler",
            "enabled_filters",
            "RetryFilter,AvailabilityZoneFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter",
        ),
        ("filter_scheduler", "ram_weight_multiplier", "1.0"),
        ("filter_scheduler", "soft_affinity_weight_multiplier", "1.0"),
        ("filter_scheduler", "soft_anti_affinity_weight_multiplier", "1.0"),
        ("filter_scheduler", "host_subset_size", "1"),
        ("filter_scheduler", "max_instances_per_host", "50"),
        ("filter_scheduler", "max_io_ops_per_host", "8"),
        ("filter_scheduler", "isolated_images", ""),
        ("filter_scheduler", "isolated_hosts", ""),
        (
            "filter_scheduler",
            "restrict_isolated_hosts_to_isolated_images",
            "true",
        ),
        (
            "filter_scheduler",
            "aggregate_image_properties_isolation_namespace",
            "",
        ),
        (
            "filter_scheduler",
            "aggregate_image_properties_isolation_separator",
            ".",
        ),
        ("scheduler", "max_attempts", "3"),
        ("scheduler", "periodic_task_interval", "60"),
        ("fake", "fail_spawn", "false"), // not in Nova: a test knob of FakeDriver
        ("fake", "spawn_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "finish_migration_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "confirm_migration_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "rescue_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "soft_reboot_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "live_migration_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "fail_pre_live_migration", "false"), // not in Nova: a test knob of FakeDriver
        ("fake", "pre_live_migration_seconds", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "fail_live_migration", "false"), // not in Nova: a test knob of FakeDriver
        ("fake", "numa_cells", "0"), // not in Nova: a test knob of FakeDriver
        ("fake", "numa_cpus_per_cell", "4"), // not in Nova: a test knob of FakeDriver
        ("vnc", "enabled", "true"),
        ("vnc", "server_listen", "127.0.0.1"),
        ("vnc", "server_proxyclient_address", "127.0.0.1"),
        ("vnc", "novncproxy_host", "0.0.0.0"),
        ("vnc", "novncproxy_port", "6080"),
        (
            "vnc",
            "novncproxy_base_url",
            "http://127.0.0.1:6080/vnc_auto.html",
        ),
        ("vnc", "auth_schemes", "none"),
        ("vnc", "vencrypt_client_key", ""),
        ("vnc", "vencrypt_client_cert", ""),
        ("vnc", "vencrypt_ca_certs", ""),
        ("consoleauth", "token_ttl", "600"),
        ("consoleauth", "enforce_session_timeout", "false"),
        ("console", "allowed_origins", ""),
        ("DEFAULT", "web", "/usr/share/novnc"),
        ("DEFAULT", "ssl_only", "false"),
        ("DEFAULT", "cert", "self.pem"),
        ("DEFAULT", "key", ""),
        ("DEFAULT", "instance_delete_interval", "300"),
        ("DEFAULT", "routing_source_ip", "$my_ip"),
        ("DEFAULT", "public_interface", "eth0"),
        ("DEFAULT", "dmz_cidr", ""),
        ("DEFAULT", "metadata_host", "$my_ip"),
        ("DEFAULT", "metadata_port", "8775"),
        ("DEFAULT", "forward_bridge_interface", "all"),
        ("DEFAULT", "iptables_drop_action", "DROP"),
        ("api", "use_forwarded_for", "false"),
        ("api", "metadata_cache_expiration", "15"),
        ("api", "vendordata_providers", "StaticJSON"),
        ("api", "vendordata_jsonfile_path", ""),
        (
            "api",
            "config_drive_skip_versions",
            "1.0 2007-01-19 2007-03-01 2007-08-29 2007-10-10 2007-12-15 2008-02-01 2008-09-01",
        ),
        ("neutron", "service_metadata_proxy", "false"),
        ("neutron", "metadata_proxy_shared_secret", ""),
        ("DEFAULT", "default_floating_pool", "nova"),
        ("DEFAULT", "auto_assign_floating_ip", "false"),
        ("oslo_messaging_rabbit", "heartbeat_timeout_threshold", "60"),
        ("oslo_messaging_rabbit", "rabbit_retry_backoff", "2"),
        ("oslo_messaging_rabbit", "rabbit_interval_max", "30"),
        // nova-rs only: upstream Nova trusts every message on the bus.
        ("conductor", "control_plane_rpc_users", ""),
        // nova-rs only: upstream nova-api asks Glance on every create.
        ("glance", "image_metadata_cache_time", "5"),
        ("keystone_authtoken", "www_authenticate_uri", ""),
        ("keystone_authtoken", "auth_url", ""),
        ("keystone_authtoken", "auth_type", "password"), // keystoneauth: unset
        // keystoneauth: unset; these are the install guide's values.
        ("keystone_authtoken", "username", "nova"),
        ("keystone_authtoken", "password", ""),
        ("keystone_authtoken", "project_name", "service"),
        ("keystone_authtoken", "user_domain_name", "Default"),
        ("keystone_authtoken", "project_domain_name", "Default"),
        ("keystone_authtoken", "token_cache_time", "300"),
        ("keystone_authtoken", "http_connect_timeout", "5"), // keystonemiddleware: unset
        ("oslo_policy", "policy_file", "policy.yaml"),
        ("quota", "instances", "10"),
        ("quota", "cores", "20"),
        ("quota", "ram", "51200"),
        ("quota", "metadata_items", "128"),
        ("quota", "injected_files", "5"),
        ("quota", "injected_file_content_bytes", "10240"),
        ("quota", "injected_file_path_length", "255"),
        ("quota", "key_pairs", "100"),
        ("quota", "server_groups", "10"),
        ("quota", "server_group_members", "10"),
        ("quota", "security_groups", "10"),
        ("quota", "security_group_rules", "20"),
        ("quota", "floating_ips", "10"),
        ("quota", "fixed_ips", "-1"),
        // Newton: None, which the libvirt driver reads as its iptables driver.
        (
            "DEFAULT",
            "firewall_driver",
            "nova.virt.libvirt.firewall.IptablesFirewallDriver",
        ),
        ("DEFAULT", "allow_same_net_traffic", "true"),
        ("DEFAULT", "ec2_host", "$my_ip"),
        ("DEFAULT", "ec2_port", "8773"),
        ("DEFAULT", "ec2_scheme", "http"),
        ("DEFAULT", "ec2_path", "/"),
        ("DEFAULT", "region_list", ""),
        // Nova: http://localhost:5000/v2.0/ec2tokens; Keystone has no v2.0
        // any more, and the v3 URL follows from [keystone_authtoken] auth_url.
        ("DEFAULT", "keystone_ec2_url", ""),
        ("DEFAULT", "ec2_timestamp_expiry", "300"),
        ("DEFAULT", "ec2_strict_validation", "true"),
        ("DEFAULT", "ec2_private_dns_show_ip", "false"),
        ("DEFAULT", "default_flavor", "m1.small"),
        ("DEFAULT", "allow_resize_to_same_host", "false"),
        ("DEFAULT", "resize_confirm_window", "0"),
        ("DEFAULT", "migrate_max_retries", "-1"),
    ];

    #[test]
    fn defaults_are_novas() {
        for o in opts() {
            let pinned = NOVA_DEFAULTS
                .iter()
                .find(|(s, n, _)| *s == o.section && *n == o.name)
                .unwrap_or_else(|| {
                    panic!(
                        "[{}] {}: add Nova's default to NOVA_DEFAULTS",
                        o.section, o.name
                    )
                });
            assert_eq!(o.default, pinned.2, "[{}] {}", o.section, o.name);
        }
        assert_eq!(
            opts().count(),
            NOVA_DEFAULTS.len(),
            "NOVA_DEFAULTS pins an undeclared option"
        );

        // And what the defaults become once read and resolved.
        let c = NovaConfig::parse_text("").expect("defaults parse");
        assert!(!c.default.host.is_empty() && !c.default.my_ip.is_empty());
        assert_eq!(c.default.instances_path, "/var/lib/nova/instances");
        assert_eq!(c.default.log_file, None);
        assert_eq!(c.default.report_interval, 10);
        assert_eq!(c.default.service_down_time, 60);
        assert_eq!(c.default.rpc_response_timeout, 60);
        assert_eq!(c.default.osapi_compute_listen_port, 8774);
        assert_eq!(c.default.enabled_apis, ["osapi_compute", "metadata"]);
        assert_eq!(c.default.ram_allocation_ratio, 1.5);
        assert_eq!(c.default.sync_power_state_interval, 600);
        assert_eq!(c.api.auth_strategy, "keystone");
        assert_eq!(c.glance.api_servers, ["http://127.0.0.1:9292"]);
        assert_eq!(c.libvirt.virt_type, "kvm");
        assert_eq!(c.scheduler.enabled_filters.len(), 10);
        assert_eq!(c.scheduler.max_attempts, 3);
        assert_eq!(c.scheduler.host_refresh_interval(), Some(60));
        assert!(!c.fake.fail_spawn);
        assert_eq!(c.vnc.novncproxy_port, 6080);
        assert_eq!(c.rabbit.heartbeat_timeout_threshold, 60);
        assert_eq!(c.keystone_authtoken.token_cache_time, 300);
        assert_eq!(c.oslo_policy.policy_file, "policy.yaml");
        let mut resources = QUOTA_RESOURCES.to_vec();
        resources.sort();
        assert!(c.quota.keys().map(String::as_str).eq(resources));
        assert_eq!(c.quota["ram"], 51200);
    }

    #[test]
    fn every_option_is_declared_once() {
        let mut seen = std::collections::BTreeSet::new();
        for o in opts() {
            assert!(
                seen.insert((o.section, o.name)),
                "[{}] {} declared twice",
                o.section,
                o.name
            );
            assert!(
                !o.help.trim().is_empty(),
                "[{}] {} has no help",
                o.section,
                o.name
            );
        }
    }

    #[test]
    fn update_resources_interval_0_is_the_default_periodic_interval() {
        let c = NovaConfig::parse_text("").expect("defaults parse");
        assert_eq!(c.default.update_resources_interval, 60);
        let c =
            NovaConfig::parse_text("[DEFAULT]\nupdate_resources_interval = 5\n").expect("parse");
        assert_eq!(c.default.update_resources_interval, 5);
    }

    #[test]
    fn periodic_task_interval_0_is_the_default_and_negative_disables() {
        let at = |v: &str| {
            NovaConfig::parse_text(&format!("[scheduler]\nperiodic_task_interval = {v}\n"))
                .expect("parse")
                .scheduler
                .host_refresh_interval()
        };
        assert_eq!(at("0"), Some(60));
        assert_eq!(at("2"), Some(2));
        assert_eq!(at("-1"), None);
    }

    #[test]
    fn the_control_plane_defaults_to_this_hosts_broker_user_but_never_to_a_compute_host() {
        let c = NovaConfig::parse_text("").expect("defaults parse");
        assert_eq!(c.conductor.control_plane_rpc_users, ["guest"]);
        let c =
            NovaConfig::parse_text("[DEFAULT]\ntransport_url = rabbit://nova%2Dctl:pw@ctl/nova\n")
                .expect("parse");
        assert_eq!(c.conductor.control_plane_rpc_users, ["nova-ctl"]);

        let compute = "[DEFAULT]\ntransport_url = rabbit://nova-compute.h1:pw@ctl/nova\n";
        let e = NovaConfig::parse_text(compute)
            .expect_err("a compute host must name the control plane");
        assert_eq!(
            (e.section.as_str(), e.option.as_str()),
            ("conductor", "control_plane_rpc_users")
        );
        assert!(e.reason.contains("must be set"), "{e}");
        let c = NovaConfig::parse_text(&format!(
            "{compute}[conductor]\ncontrol_plane_rpc_users = nova, nova-api\n"
        ))
        .expect("parse");
        assert_eq!(c.conductor.control_plane_rpc_users, ["nova", "nova-api"]);

        let e =
            NovaConfig::parse_text("[conductor]\ncontrol_plane_rpc_users = nova,nova-compute.h2\n")
                .expect_err("a compute user is never the control plane");
        assert!(e.reason.contains("compute host"), "{e}");
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
    fn every_kind_of_bad_value_names_file_section_option_and_reason() {
        let cases = [
            (
                "DEFAULT",
                "report_interval",
                "0",
                "0 is outside the range 1..=",
            ),
            ("DEFAULT", "debug", "maybe", "\"maybe\" is not a boolean"),
            (
                "DEFAULT",
                "cpu_allocation_ratio",
                "lots",
                "\"lots\" is not a number",
            ),
            ("DEFAULT", "ram_allocation_ratio", "-1", "-1 is below 0"),
            (
                "DEFAULT",
                "compute_driver",
                "vmwareapi.VMwareVCDriver",
                "is not one of",
            ),
            ("DEFAULT", "transport_url", "kafka://x", "only rabbit://"),
            (
                "api",
                "auth_strategy",
                "basic",
                "\"basic\" is not one of keystone, noauth2",
            ),
            // Rows that live in another group than their struct's.
            ("wsgi", "max_request_body_size", "big", "not an integer"),
            ("scheduler", "max_attempts", "0", "outside the range"),
            (
                "filter_scheduler",
                "enabled_filters",
                "RamFilter,Nope",
                "\"Nope\" is not one of",
            ),
            (
                "vnc",
                "novncproxy_port",
                "70000",
                "70000 is outside the range 0..=65535",
            ),
            (
                "oslo_messaging_rabbit",
                "heartbeat_timeout_threshold",
                "70000",
                "0..=65535",
            ),
            (
                "keystone_authtoken",
                "token_cache_time",
                "-2",
                "outside the range -1..=86400",
            ),
            ("quota", "instances", "-2", "outside the range -1..="),
        ];
        for (section, option, value, reason) in cases {
            let mut raw = RawConfig::default();
            raw.parse_str("[DEFAULT]\ndebug = true\n", "/etc/nova/nova.conf")
                .expect("parse");
            raw.parse_str(
                &format!("[{section}]\n{option} = {value}\n"),
                "/etc/nova/nova.conf.d/50-site.conf",
            )
            .expect("parse");
            let e = NovaConfig::from_raw(&raw).expect_err(option);
            assert_eq!(
                (e.file.as_str(), e.section.as_str(), e.option.as_str()),
                ("/etc/nova/nova.conf.d/50-site.conf", section, option)
            );
            assert!(e.reason.contains(reason), "{e}");
            assert_eq!(
                e.to_string(),
                format!(
                    "/etc/nova/nova.conf.d/50-site.conf: [{section}] {option}: {}",
                    e.reason
                )
            );
        }
        // A later good value replaces an earlier bad one.
        let mut raw = RawConfig::default();
        raw.parse_str("[DEFAULT]\nreport_interval = soon\n", "a.conf")
            .expect("parse");
        raw.parse_str("[DEFAULT]\nreport_interval = 5\n", "b.conf")
            .expect("parse");
        assert_eq!(
            NovaConfig::from_raw(&raw)
                .expect("valid")
                .default
                .report_interval,
            5
        );
    }

    #[test]
    fn relative_policy_file_is_next_to_the_last_config_file() {
        let mut raw = RawConfig::default();
        raw.files.push(PathBuf::from("/etc/nova/nova.conf"));
        let c = NovaConfig::from_raw(&raw).expect("valid");
        assert_eq!(c.oslo_policy.policy_file, "/etc/nova/policy.yaml");
        raw.parse_str(
            "[oslo_policy]\npolicy_file = /srv/policy.json\n",
            "/etc/nova/nova.conf",
        )
        .expect("parse");
        let c = NovaConfig::from_raw(&raw).expect("valid");
        assert_eq!(c.oslo_policy.policy_file, "/srv/policy.json");
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
    fn a_moved_option_is_read_from_its_old_section_with_a_warning() {
        let conf = |text: &str| {
            let mut raw = RawConfig::default();
            raw.parse_str(text, "n.conf").expect("parse");
            let c = NovaConfig::from_raw(&raw).expect("valid");
            (c.api.dhcp_domain, raw.unknown_options())
        };
        assert_eq!(conf(""), ("novalocal".to_string(), vec![]));
        assert_eq!(
            conf("[api]\ndhcp_domain = example.org\n"),
            ("example.org".to_string(), vec![])
        );
        assert_eq!(
            conf("[DEFAULT]\ndhcp_domain = old.example\n"),
            (
                "old.example".to_string(),
                vec![
                    "n.conf:2: option [DEFAULT] dhcp_domain is deprecated: use [api] dhcp_domain"
                        .to_string()
                ]
            )
        );
        // Both set: the new section wins, and the old one is not reported
        // as unknown.
        let (domain, warnings) =
            conf("[DEFAULT]\ndhcp_domain = old.example\n[api]\ndhcp_domain = new.example\n");
        assert_eq!(domain, "new.example");
        assert!(
            warnings.iter().all(|w| !w.contains("unknown")),
            "{warnings:?}"
        );
    }
}
