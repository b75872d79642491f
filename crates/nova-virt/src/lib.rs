//! Hypervisor drivers behind one trait, as Nova's `nova.virt.driver.ComputeDriver`.
//! `[DEFAULT] compute_driver` picks one: `libvirt.LibvirtDriver` or `fake.FakeDriver`.

pub mod configdrive;
pub mod fake;
pub mod libvirt;
mod live_migration;
pub mod local_disks;
pub mod numa;
mod nwfilter;
mod vcpus;
mod xml;

use async_trait::async_trait;
use nova_common::NovaConfig;
use nova_objects::{Diagnostics, HostResources, ImageMeta, Instance, LiveMigrateData, NetworkInfo};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use nova_objects::device_metadata::GuestInterface;
use uuid::Uuid;

pub use xml::{domain_xml, DomainConfig};

/// Errors at the hypervisor boundary.
#[derive(Debug, thiserror::Error)]
pub enum VirtError {
    #[error("Instance {0} could not be found on the hypervisor.")]
    InstanceNotFound(Uuid),
    #[error("Hypervisor connection failed: {0}")]
    Connection(String),
    #[error("Hypervisor error: {0}")]
    Hypervisor(String),
    /// The guest has no QEMU guest agent (its image does not ask for one).
    #[error("QEMU guest agent is not enabled")]
    QemuGuestAgentNotEnabled,
    /// A live migration this hypervisor cannot do (Nova's MigrationPreCheckError).
    #[error("{0}")]
    MigrationPreCheck(String),
    /// A live migration without block migration whose files are not shared.
    #[error("{path} is not on shared storage: {reason}")]
    InvalidSharedStorage { path: String, reason: String },
    /// A block migration whose files are shared.
    #[error("{path} is not on local storage: {reason}")]
    InvalidLocalStorage { path: String, reason: String },
    /// A live migration stopped by `live_migration_abort`.
    #[error("the live migration was aborted")]
    LiveMigrationAborted,
    /// The guest is defined but does not run.
    #[error("Instance {0} is not running.")]
    InstanceNotRunning(Uuid),
    /// The hypervisor cannot inject an NMI.
    #[error("Triggering crash dump is not supported")]
    TriggerCrashDumpNotSupported,
}

/// Whether image properties ask for the QEMU guest agent
/// (`hw_qemu_guest_agent`, a boolean as oslo reads one).
pub fn qemu_guest_agent(properties: &std::collections::BTreeMap<String, String>) -> bool {
    properties
        .get("hw_qemu_guest_agent")
        .is_some_and(|v| nova_common::bool_from_string(v))
}

/// Files a guest boots from, prepared by the compute host (the image cache).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImageFiles {
    /// The base disk image in `_base` and its format (qcow2, raw, ...).
    pub disk: Option<(std::path::PathBuf, String)>,
    /// Direct kernel boot (AMI with `kernel_id`/`ramdisk_id`).
    pub kernel: Option<std::path::PathBuf>,
    pub ramdisk: Option<std::path::PathBuf>,
    /// The config drive when the guest gets one
    /// ([`configdrive::required_by`]); the driver writes the drive.
    pub config_drive: Option<ConfigDrive>,
}

/// A config drive's files (path, contents), rendered by the compute host
/// once the driver has defined the guest and knows where its interfaces
/// are: the drive's metadata names the tagged ones by bus address (Nova
/// builds the device metadata between defining the guest and making its
/// drive).
#[derive(Clone)]
pub struct ConfigDrive(Arc<RenderDrive>);

/// What renders a config drive's files for a guest's interfaces.
type RenderDrive = dyn Fn(&[GuestInterface]) -> DriveFiles + Send + Sync;

/// Files of a drive: (path relative to its root, contents).
pub type DriveFiles = Vec<(String, Vec<u8>)>;

impl ConfigDrive {
    pub fn new(render: impl Fn(&[GuestInterface]) -> DriveFiles + Send + Sync + 'static) -> Self {
        ConfigDrive(Arc::new(render))
    }

    /// The drive's files for a guest with these interfaces.
    pub fn files(&self, interfaces: &[GuestInterface]) -> DriveFiles {
        (self.0)(interfaces)
    }
}

impl std::fmt::Debug for ConfigDrive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ConfigDrive(..)")
    }
}

/// The same renderer.
impl PartialEq for ConfigDrive {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What the hypervisor says about one guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InstanceInfo {
    /// `nova.compute.power_state` value.
    pub power_state: i32,
}

#[async_trait]
pub trait VirtDriver: Send + Sync {
    /// The `compute_driver` value this driver answers to.
    fn name(&self) -> &'static str;
    /// Connect and check the hypervisor is usable.
    async fn init_host(&self, host: &str) -> Result<(), VirtError>;
    /// The node's name as reported in `compute_nodes.hypervisor_hostname`.
    async fn nodename(&self) -> Result<String, VirtError>;
    async fn get_available_resource(&self) -> Result<HostResources, VirtError>;
    /// UUIDs of the guests this hypervisor runs (ours or not).
    async fn list_instance_uuids(&self) -> Result<Vec<Uuid>, VirtError>;
    /// Whether guests boot from image files the compute host must fetch.
    fn needs_image_files(&self) -> bool;
    /// The guest's root disk as the instance records it
    /// (`root_device_name`): Nova's `default_root_device_name`, or, for a
    /// driver without one, the compute manager's first virtio name. The
    /// libvirt guest's root disk is always virtio `vda`.
    fn default_root_device_name(&self) -> String {
        "/dev/vda".into()
    }
    /// Whether guests attach to host network devices (bridges) that nova-compute
    /// must plug before the guest starts (Nova's `plug_vifs`).
    fn needs_host_networking(&self) -> bool;
    /// Create and start the guest.
    async fn spawn(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
    ) -> Result<(), VirtError>;
    /// Stop and remove the guest; a guest that is already gone is not an error.
    async fn destroy(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
    ) -> Result<(), VirtError>;
    async fn get_info(&self, instance: &Instance) -> Result<InstanceInfo, VirtError>;
    /// The defined guest's interfaces where the hypervisor put them, for
    /// device role tagging; none from a driver that places no devices.
    async fn guest_interfaces(
        &self,
        _instance: &Instance,
    ) -> Result<Vec<GuestInterface>, VirtError> {
        Ok(vec![])
    }
    /// Reboot: soft (ACPI, then hard after `wait_soft_reboot_seconds`) or hard (destroy + start).
    async fn reboot(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        hard: bool,
    ) -> Result<(), VirtError>;
    /// Clean shutdown, waiting up to `timeout` seconds, then power off.
    async fn power_off(&self, instance: &Instance, timeout: u64) -> Result<(), VirtError>;
    async fn power_on(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
    ) -> Result<(), VirtError>;
    async fn pause(&self, instance: &Instance) -> Result<(), VirtError>;
    async fn unpause(&self, instance: &Instance) -> Result<(), VirtError>;
    /// Save the guest's memory to disk and stop it (libvirt managed save).
    async fn suspend(&self, instance: &Instance) -> Result<(), VirtError>;
    async fn resume(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
    ) -> Result<(), VirtError>;
    /// The guest's serial console log.
    async fn get_console_output(&self, instance: &Instance) -> Result<String, VirtError>;
    /// Nova's `trigger_crash_dump`: an NMI into the running guest.
    async fn trigger_crash_dump(&self, instance: &Instance) -> Result<(), VirtError>;
    /// Set the password of the guest's admin user (the image's
    /// `os_admin_user`, else `root`) in the running guest (changePassword).
    async fn set_admin_password(
        &self,
        instance: &Instance,
        password: &str,
    ) -> Result<(), VirtError>;
    /// The port of the guest's VNC server; None when the guest has none.
    async fn get_vnc_port(&self, instance: &Instance) -> Result<Option<i64>, VirtError>;
    /// Write a standalone qcow2 copy of the guest's disk to `dest` (for createImage).
    async fn snapshot(&self, instance: &Instance, dest: &std::path::Path) -> Result<(), VirtError>;
    /// On the source of a resize or cold migration: power the guest off
    /// (clean shutdown for up to `timeout` seconds), take it off the
    /// hypervisor and keep its files aside for a revert; the `disk_info`
    /// (JSON) the destination's [`VirtDriver::finish_migration`] takes the disk from.
    async fn migrate_disk_and_power_off(
        &self,
        instance: &Instance,
        timeout: u64,
    ) -> Result<String, VirtError>;
    /// On the destination: the guest from the disk `disk_info` names, grown
    /// to the instance's (new) root disk size, with its (new) flavor; started
    /// when `power_on`.
    async fn finish_migration(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        disk_info: &str,
        power_on: bool,
    ) -> Result<(), VirtError>;
    /// On the source, once confirmed: forget what was kept for a revert.
    async fn confirm_migration(&self, instance: &Instance) -> Result<(), VirtError>;
    /// On the source, once the destination destroyed its guest: the old
    /// guest back, as it was before the resize; started when `power_on`.
    async fn finish_revert_migration(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        power_on: bool,
    ) -> Result<(), VirtError>;
    /// Nova's `rescue`: keep the guest's definition aside, then boot it
    /// from a rescue disk made from `image` (its files in `files`), with its
    /// own disk attached as the second disk. `rescue_password` is the
    /// rescue system's admin password (no driver here injects passwords:
    /// Nova's libvirt driver does so only with `[libvirt] inject_password`).
    async fn rescue(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        rescue_password: &str,
    ) -> Result<(), VirtError>;
    /// Nova's `unrescue`: the original guest back, booted from its own
    /// disk, the rescue files removed. Unrescuing a guest that is not
    /// rescued (a repeated message) starts it as it is.
    async fn unrescue(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
    ) -> Result<(), VirtError>;
    /// The guest's counters as the driver names them (the free-form
    /// diagnostics before microversion 2.48).
    async fn get_diagnostics(
        &self,
        instance: &Instance,
    ) -> Result<BTreeMap<String, i64>, VirtError>;
    /// The guest's diagnostics in the standard format (2.48).
    async fn get_instance_diagnostics(&self, instance: &Instance)
        -> Result<Diagnostics, VirtError>;
    /// Live migration, on the destination (Nova's
    /// `check_can_live_migrate_destination`): whether this hypervisor can
    /// take the running guest; what the source's check needs to know of it
    /// (a file written into this host's `instances_path`, to tell shared
    /// storage).
    async fn check_can_live_migrate_destination(
        &self,
        instance: &Instance,
        block_migration: Option<bool>,
    ) -> Result<LiveMigrateData, VirtError>;
    /// On the source, with the destination's answer: the block migration
    /// decided (None: from the storage), or refused as Nova's
    /// (InvalidSharedStorage without shared storage, InvalidLocalStorage
    /// for a block migration over shared storage).
    async fn check_can_live_migrate_source(
        &self,
        instance: &Instance,
        dest_check_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, VirtError>;
    /// On the destination: the guest's files ready for it (for a block
    /// migration, its disk created empty over the base image of `files`);
    /// where the source must send it.
    async fn pre_live_migration(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        migrate_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, VirtError>;
    /// On the source: send the running guest to the destination `dest`
    /// (a host name) and return once it runs there;
    /// [`VirtError::LiveMigrationAborted`] when aborted meanwhile (the guest
    /// still runs here).
    async fn live_migration(
        &self,
        instance: &Instance,
        dest: &str,
        migrate_data: &LiveMigrateData,
    ) -> Result<(), VirtError>;
    /// On the source, during [`VirtDriver::live_migration`]: finish now.
    async fn live_migration_force_complete(&self, instance: &Instance) -> Result<(), VirtError>;
    /// How far the guest's live migration from this host is (libvirt's job
    /// statistics); `None` when the driver cannot tell or no job runs.
    async fn live_migration_progress(
        &self,
        _instance: &Instance,
    ) -> Result<Option<nova_objects::LiveMigrationProgress>, VirtError> {
        Ok(None)
    }
    /// On the source, during [`VirtDriver::live_migration`]: stop it.
    async fn live_migration_abort(&self, instance: &Instance) -> Result<(), VirtError>;
    /// On the source, the guest gone: what is left of it here (its files,
    /// unless the destination shares them).
    async fn post_live_migration_at_source(
        &self,
        instance: &Instance,
        migrate_data: &LiveMigrateData,
    ) -> Result<(), VirtError>;
    /// On the destination, the guest running here: make it this host's.
    async fn post_live_migration_at_destination(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
    ) -> Result<(), VirtError>;
    /// On the destination of a failed or aborted live migration: whatever
    /// of the guest got here is destroyed (its files too when `destroy_disks`).
    async fn rollback_live_migration_at_destination(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        destroy_disks: bool,
    ) -> Result<(), VirtError>;
    /// Nova's `instance_on_disk`: whether this host already sees the
    /// instance's disk (shared storage), so an evacuation could reuse it.
    /// Drivers without instance files see none.
    async fn instance_on_disk(&self, _instance: &Instance) -> bool {
        false
    }
    /// Where this host keeps the instance's files (drivers that keep none:
    /// the instance's uuid, to name it).
    fn instance_path(&self, instance: &Instance) -> String {
        instance.uuid.to_string()
    }
    /// Nova's `delete_instance_files`: remove what this host keeps of the
    /// instance under its `instances_path` (disks, console log, libvirt.xml)
    /// without touching any guest; true when there was something to remove.
    /// Drivers that keep no files have nothing to do.
    async fn delete_instance_files(&self, _instance: &Instance) -> Result<bool, VirtError> {
        Ok(false)
    }
    /// What `uptime` says on the host (Nova's libvirt `get_host_uptime`).
    async fn get_host_uptime(&self) -> Result<String, VirtError> {
        let out = tokio::process::Command::new("env")
            .args(["LANG=C", "uptime"])
            .output()
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot run uptime: {e}")))?;
        if !out.status.success() {
            return Err(VirtError::Hypervisor(format!(
                "uptime failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).to_string())
    }
}

/// Load the driver named by `[DEFAULT] compute_driver`.
pub fn load_driver(cfg: &NovaConfig) -> Result<Arc<dyn VirtDriver>, VirtError> {
    match cfg.default.compute_driver.as_str() {
        "fake.FakeDriver" => Ok(Arc::new(
            fake::FakeDriver::new(&cfg.default.host)
                .failing_spawns(cfg.fake.fail_spawn)
                .slow_spawns(cfg.fake.spawn_seconds)
                .slow_migrations(cfg.fake.finish_migration_seconds)
                .slow_confirms(cfg.fake.confirm_migration_seconds)
                .slow_rescues(cfg.fake.rescue_seconds)
                .slow_soft_reboots(cfg.fake.soft_reboot_seconds)
                .slow_live_migrations(cfg.fake.live_migration_seconds)
                .slow_pre_live_migrations(cfg.fake.pre_live_migration_seconds)
                .failing_live_migrations(
                    cfg.fake.fail_pre_live_migration,
                    cfg.fake.fail_live_migration,
                )
                .with_numa(
                    cfg.fake.numa_cells,
                    cfg.fake.numa_cpus_per_cell,
                    numa::CpuOptions::from_config(cfg)?,
                )?,
        )),
        "libvirt.LibvirtDriver" => Ok(Arc::new(libvirt::LibvirtDriver::new(cfg)?)),
        other => Err(VirtError::Connection(format!(
            "unknown compute_driver {other:?}"
        ))),
    }
}
