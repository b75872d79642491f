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
mod database;
mod default;
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
pub use database::DatabaseSection;
pub use default::{
    detect_my_ip, parse_transport_url, system_hostname, DefaultSection, TransportUrl,
};
pub use glance::GlanceSection;
pub use image_cache::ImageCacheSection;
pub use keystone_authtoken::KeystoneAuthtokenSection;
pub use libvirt::LibvirtSection;
pub use opt::{OptDef, OptKind};
pub use oslo_messaging_rabbit::RabbitSection;
pub use oslo_policy::PolicySection;
pub use quota::{QuotaSection, QUOTA_RESOURCES};
pub(crate) use raw::Reader;
pub use raw::{ConfigError, RawConfig};
pub use sample::render_sample;
pub use scheduler::{SchedulerSection, KNOWN_FILTERS};
pub use vnc::VncSection;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Every section's options, in the order the sample file lists them.
const SECTIONS: &[&[OptDef]] = &[
    DefaultSection::OPTS,
    DatabaseSection::OPTS,
    ApiSection::OPTS,
    GlanceSection::OPTS,
    LibvirtSection::OPTS,
    ImageCacheSection::OPTS,
    SchedulerSection::OPTS,
    VncSection::OPTS,
    RabbitSection::OPTS,
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
    pub scheduler: SchedulerSection,
    pub vnc: VncSection,
    pub rabbit: RabbitSection,
    pub keystone_authtoken: KeystoneAuthtokenSection,
    pub oslo_policy: PolicySection,
    /// `[quota]`: default limit per resource of [`QUOTA_RESOURCES`].
    pub quota: BTreeMap<String, i64>,
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
        Ok(NovaConfig {
            default: DefaultSection::read(&r)?.resolve(&r)?,
            database: DatabaseSection::read(&r)?,
            api: ApiSection::read(&r)?,
            glance: GlanceSection::read(&r)?,
            libvirt: LibvirtSection::read(&r)?,
            image_cache: ImageCacheSection::read(&r)?,
            scheduler: SchedulerSection::read(&r)?,
            vnc: VncSection::read(&r)?,
            rabbit: RabbitSection::read(&r)?,
            keystone_authtoken: KeystoneAuthtokenSection::read(&r)?,
            oslo_policy: PolicySection::read(&r)?.resolve(&raw.files),
            quota: QuotaSection::read(&r)?,
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
    fn update_resources_interval_0_is_the_default_periodic_interval() {
        let c = NovaConfig::parse_text("").expect("defaults parse");
        assert_eq!(c.default.update_resources_interval, 60);
        let c =
            NovaConfig::parse_text("[DEFAULT]\nupdate_resources_interval = 5\n").expect("parse");
        assert_eq!(c.default.update_resources_interval, 5);
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
}
