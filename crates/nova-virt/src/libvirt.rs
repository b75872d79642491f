//! `libvirt.LibvirtDriver` over the `virt` crate. Every libvirt call is
//! blocking, so it runs on the blocking pool. One connection is kept for
//! the life of the process (with `test:///default` the whole hypervisor
//! state lives in it) and reopened if it breaks.
//!
//! Several compute hosts may share one libvirt (two nova-compute on one
//! machine, each with its own `host` and `instances_path`): instance names
//! stay Nova's (`instance_name_template`), and each domain names its owner
//! in its metadata (`<nova:host>`), which `list_instance_uuids` filters on,
//! so a host's `init_host`, power sync and resource counts see only its own
//! guests. A domain's uuid is the instance's, unique per libvirt: so a
//! resize or cold migration undefines the source's domain when it powers
//! the guest off (its `libvirt.xml` and disk are kept in
//! `<instances_path>/<uuid>_resize` for a revert) before the destination
//! defines its own; a revert undefines the destination's before the source
//! defines the old one again.

use crate::local_disks::{local_disks, LocalDisk, LocalDiskKind};
use crate::xml::{domain_xml, DomainConfig};
use crate::{ImageFiles, InstanceInfo, VirtDriver, VirtError};
use async_trait::async_trait;
use nova_common::states::power_state;
use nova_common::NovaConfig;
use nova_objects::{HostResources, ImageMeta, Instance, LiveMigrateData, NetworkInfo};
use std::sync::{Arc, Mutex};
use tracing::{info, warn};
use uuid::Uuid;
use virt::connect::Connect;
use virt::domain::{Domain, DomainState};

pub struct LibvirtDriver {
    uri: String,
    wait_soft_reboot_seconds: u64,
    virt_type: String,
    instances_path: String,
    name_template: String,
    vnc_enabled: bool,
    vnc_listen: String,
    host: String,
    conn: Arc<Mutex<Option<Connect>>>,
    /// Nova's basic filtering: nwfilter anti-spoofing on every interface
    /// (off with the NoopFirewallDriver, and on libvirt's test driver).
    nwfilter: bool,
    allow_same_net_traffic: bool,
    /// `[DEFAULT] config_drive_format` and `mkisofs_cmd`.
    config_drive_format: String,
    mkisofs_cmd: String,
    /// `[libvirt] live_migration_*`.
    live_migration: LiveMigrationConf,
    /// `[compute] cpu_shared_set`, `cpu_dedicated_set`, `[DEFAULT] vcpu_pin_set`.
    cpu_options: crate::numa::CpuOptions,
    /// The host's NUMA topology as last reported (read at `init_host`):
    /// the shared CPUs each guest cell's unpinned vCPUs float over.
    host_topology: std::sync::Mutex<Option<nova_objects::numa::NumaTopology>>,
}

/// `[libvirt] live_migration_*`, as the driver uses them.
struct LiveMigrationConf {
    scheme: String,
    inbound_addr: String,
    uri: String,
    bandwidth: u64,
    completion_timeout: u64,
}

fn verr(e: virt::error::Error) -> VirtError {
    VirtError::Hypervisor(e.to_string())
}

fn is_no_domain(e: &virt::error::Error) -> bool {
    // VIR_ERR_NO_DOMAIN
    matches!(
        e.code(),
        virt::enumutil::Enum::Known(virt::error::ErrorNumber::NoDomain)
    )
}

impl LibvirtDriver {
    /// The driver for `cfg`; a CPU option Nova would refuse is an error.
    pub fn new(cfg: &NovaConfig) -> Result<Self, VirtError> {
        let virt_type = cfg.libvirt.virt_type.clone();
        let uri = if cfg.libvirt.connection_uri.is_empty() {
            match virt_type.as_str() {
                "lxc" => "lxc:///".to_string(),
                "parallels" => "parallels:///system".to_string(),
                _ => "qemu:///system".to_string(),
            }
        } else {
            cfg.libvirt.connection_uri.clone()
        };
        Ok(LibvirtDriver {
            cpu_options: crate::numa::CpuOptions::from_config(cfg)?,
            host_topology: std::sync::Mutex::new(None),
            wait_soft_reboot_seconds: cfg.libvirt.wait_soft_reboot_seconds,
            virt_type,
            instances_path: cfg.default.instances_path.clone(),
            name_template: cfg.default.instance_name_template.clone(),
            vnc_enabled: cfg.vnc.enabled,
            vnc_listen: cfg.vnc.server_listen.clone(),
            host: cfg.default.host.clone(),
            conn: Arc::new(Mutex::new(None)),
            nwfilter: cfg.default.firewall_driver != "nova.virt.firewall.NoopFirewallDriver"
                && !uri.starts_with("test:"),
            allow_same_net_traffic: cfg.default.allow_same_net_traffic,
            config_drive_format: cfg.default.config_drive_format.clone(),
            mkisofs_cmd: cfg.default.mkisofs_cmd.clone(),
            live_migration: LiveMigrationConf {
                scheme: cfg.libvirt.live_migration_scheme.clone(),
                inbound_addr: cfg.libvirt.live_migration_inbound_addr.clone(),
                uri: cfg.libvirt.live_migration_uri.clone(),
                bandwidth: cfg.libvirt.live_migration_bandwidth,
                completion_timeout: cfg.libvirt.live_migration_completion_timeout,
            },
            uri,
        })
    }

    /// The domain UUID whose vCPU times can be read from this machine's
    /// `/proc` (a guest of a local connection), as libvirt's
    /// `virDomainGetVcpus` reads them.
    fn local_vcpus_of(&self, instance: &Instance) -> Option<String> {
        crate::vcpus::uri_is_local(&self.uri).then(|| instance.uuid.to_string())
    }

    /// Run `f` with a live connection on the blocking pool.
    async fn with_conn<T, F>(&self, f: F) -> Result<T, VirtError>
    where
        T: Send + 'static,
        F: FnOnce(&Connect) -> Result<T, VirtError> + Send + 'static,
    {
        let conn = self.conn.clone();
        let uri = self.uri.clone();
        tokio::task::spawn_blocking(move || {
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            let alive = guard
                .as_ref()
                .is_some_and(|c| c.is_alive().unwrap_or(false));
            if !alive {
                if guard.is_some() {
                    warn!(%uri, "libvirt connection lost; reconnecting");
                }
                let c = Connect::open(Some(&uri))
                    .map_err(|e| VirtError::Connection(format!("{uri}: {e}")))?;
                *guard = Some(c);
            }
            match guard.as_ref() {
                Some(c) => f(c),
                None => Err(VirtError::Connection(uri)),
            }
        })
        .await
        .map_err(|e| VirtError::Hypervisor(format!("libvirt task failed: {e}")))?
    }

    /// `virsh -c <uri> <args>`: `Ok(Err(stderr))` when virsh refuses.
    async fn virsh(&self, args: &[&str]) -> Result<Result<(), String>, VirtError> {
        let out = tokio::process::Command::new("virsh")
            .args(["-c", &self.uri])
            .args(args)
            .output()
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot run virsh: {e}")))?;
        if out.status.success() {
            return Ok(Ok(()));
        }
        Ok(Err(String::from_utf8_lossy(&out.stderr).trim().to_string()))
    }

    /// Run `f` on the instance's domain; a missing domain is InstanceNotFound.
    async fn with_domain<T, F>(&self, instance: &Instance, f: F) -> Result<T, VirtError>
    where
        T: Send + 'static,
        F: FnOnce(&Domain) -> Result<T, VirtError> + Send + 'static,
    {
        let uuid = instance.uuid;
        self.with_conn(move |c| {
            let d = lookup(c, uuid)?.ok_or(VirtError::InstanceNotFound(uuid))?;
            f(&d)
        })
        .await
    }

    async fn state(&self, instance: &Instance) -> Result<i32, VirtError> {
        Ok(self.get_info(instance).await?.power_state)
    }

    /// Ask the guest to shut down (ACPI) and wait up to `timeout` seconds for it.
    async fn clean_shutdown(&self, instance: &Instance, timeout: u64) -> Result<bool, VirtError> {
        if self.state(instance).await? == power_state::SHUTDOWN {
            return Ok(true);
        }
        self.with_domain(instance, |d| d.shutdown().map(|_| ()).map_err(verr))
            .await?;
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(timeout);
        loop {
            if self.state(instance).await? == power_state::SHUTDOWN {
                return Ok(true);
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(false);
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// The nwfilters the guest's interfaces reference (none without basic filtering).
    fn filters(&self, instance: &Instance, network_info: &NetworkInfo) -> Vec<(String, String)> {
        if !self.nwfilter {
            return vec![];
        }
        let mut f = crate::nwfilter::static_filters();
        f.extend(crate::nwfilter::instance_filters(
            &instance.name(&self.name_template),
            network_info,
            self.allow_same_net_traffic,
        ));
        f
    }

    fn instance_dir(&self, uuid: Uuid) -> String {
        format!("{}/{}", self.instances_path.trim_end_matches('/'), uuid)
    }

    /// The instance disk: a qcow2 overlay whose backing file is the cached
    /// base image of `files` (if any), as big as the flavor's root disk when
    /// the image is smaller (Nova's Qcow2 image backend; never smaller than
    /// the image).
    async fn create_disk(&self, instance: &Instance, files: &ImageFiles) -> Result<(), VirtError> {
        let Some((base, format)) = &files.disk else {
            return Ok(());
        };
        self.create_local_disks(instance, |_| None).await?;
        let disk = format!("{}/disk", self.instance_dir(instance.uuid));
        let _ = tokio::fs::remove_file(&disk).await;
        let root = instance.root_gb.max(0) as u64 * 1024 * 1024 * 1024;
        let size = if root > 0 && disk_virtual_size(&base.to_string_lossy()).await? < root {
            Some(root.to_string())
        } else {
            None
        };
        let out = tokio::process::Command::new("qemu-img")
            .args(["create", "-f", "qcow2", "-F", format, "-b"])
            .arg(base)
            .arg(&disk)
            .args(size)
            .output()
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot run qemu-img: {e}")))?;
        if !out.status.success() {
            return Err(VirtError::Hypervisor(format!(
                "qemu-img create failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }

    /// The flavor's ephemeral and swap disks in the instance directory,
    /// each made anew unless `kept` names a copy to bring along (a
    /// migration's: the ephemeral disk's contents are kept, grown to the
    /// new size if larger, as Nova's; swap is made anew when its size
    /// changed).
    async fn create_local_disks(
        &self,
        instance: &Instance,
        kept: impl Fn(&LocalDisk) -> Option<String>,
    ) -> Result<(), VirtError> {
        let dir = self.instance_dir(instance.uuid);
        let props = instance.image_properties();
        let os_type = props.get("os_type").map(String::as_str);
        for d in local_disks(instance) {
            let path = format!("{dir}/{}", d.file);
            let size = d.size_mb * 1024 * 1024;
            let old = match kept(&d) {
                Some(src) if tokio::fs::metadata(&src).await.is_ok() => {
                    let old_size = disk_virtual_size(&src).await?;
                    let reuse = d.kind == LocalDiskKind::Ephemeral && old_size <= size
                        || d.kind == LocalDiskKind::Swap && old_size == size;
                    reuse.then_some((src, old_size))
                }
                _ => None,
            };
            match old {
                Some((src, old_size)) => {
                    qemu_img(&["convert", "-O", "qcow2", &src, &path]).await?;
                    if old_size < size {
                        qemu_img(&["resize", &path, &size.to_string()]).await?;
                    }
                }
                None => crate::local_disks::make(&d, &path, os_type).await?,
            }
        }
        Ok(())
    }

    /// This hypervisor's identity: libvirt's host UUID.
    async fn host_uuid(&self) -> Result<String, VirtError> {
        self.with_conn(|c| {
            let caps = c.capabilities().map_err(verr)?;
            crate::live_migration::host_uuid(&caps).ok_or_else(|| {
                VirtError::Hypervisor("libvirt's capabilities name no host uuid".into())
            })
        })
        .await
    }

    /// Write a domain's file into its instance directory.
    async fn write_libvirt_xml(&self, uuid: Uuid) -> Result<(), VirtError> {
        let xml = self
            .with_conn(move |c| {
                let d = lookup(c, uuid)?.ok_or(VirtError::InstanceNotFound(uuid))?;
                d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE).map_err(verr)
            })
            .await?;
        let path = format!("{}/libvirt.xml", self.instance_dir(uuid));
        tokio::fs::write(&path, xml)
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot write {path}: {e}")))
    }

    /// Write the guest's files and domain (its disk an overlay on the cached
    /// base image when `files.disk` is given; otherwise the disk already
    /// there), define it, and start it when `start`.
    async fn define_guest(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        start: bool,
    ) -> Result<(), VirtError> {
        let uuid = instance.uuid;
        let dir = format!("{}/{}", self.instances_path.trim_end_matches('/'), uuid);
        let herr = |what: &str, e: std::io::Error| VirtError::Hypervisor(format!("{what}: {e}"));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| herr(&format!("cannot create {dir}"), e))?;
        self.create_disk(instance, files).await?;
        let cfg = self.domain_config(instance, image, files);
        let xml = domain_xml(&cfg, instance, image, network_info);
        let filters = self.filters(instance, network_info);
        tokio::fs::write(format!("{dir}/libvirt.xml"), &xml)
            .await
            .map_err(|e| herr(&format!("cannot write {dir}/libvirt.xml"), e))?;
        self.with_conn(move |c| {
            // A retried build may find a domain from the interrupted attempt.
            if let Some(old) = lookup(c, uuid)? {
                if old.is_active().unwrap_or(false) {
                    let _ = old.destroy();
                }
                let _ = old.undefine();
            }
            define_filters(c, &filters)?;
            c.define_domain_xml(&xml).map_err(verr)?;
            Ok(())
        })
        .await?;
        // The config drive once the guest is defined: its metadata names the
        // tagged interfaces by the addresses libvirt gave them.
        if let Some(drive) = &files.config_drive {
            let dest = std::path::Path::new(&dir).join(crate::configdrive::CONFIG_DRIVE_FILE);
            let made = match self.guest_interfaces(instance).await {
                Ok(interfaces) => {
                    crate::configdrive::make_drive(
                        &drive.files(&interfaces),
                        &dest,
                        &self.config_drive_format,
                        &self.mkisofs_cmd,
                    )
                    .await
                }
                Err(e) => Err(e),
            };
            if let Err(e) = made {
                let _ = self
                    .with_domain(instance, |d| d.undefine().map_err(verr))
                    .await;
                return Err(e);
            }
        }
        if start {
            self.with_domain(instance, |d| match d.create() {
                Ok(_) => Ok(()),
                Err(e) => {
                    let _ = d.undefine();
                    Err(verr(e))
                }
            })
            .await?;
        }
        Ok(())
    }

    /// What a guest that live-migrated away (or never arrived) leaves on
    /// this hypervisor: any domain of its uuid, its nwfilters, and its
    /// files when `files`.
    async fn destroy_leftovers(&self, instance: &Instance, files: bool) -> Result<(), VirtError> {
        let uuid = instance.uuid;
        let nwfilter = self.nwfilter;
        let prefix = crate::nwfilter::instance_filter_prefix(&instance.name(&self.name_template));
        self.with_conn(move |c| {
            if let Some(d) = lookup(c, uuid)? {
                if d.is_active().unwrap_or(false) {
                    let _ = d.destroy();
                }
                let _ = d.undefine();
            }
            if nwfilter {
                undefine_instance_filters(c, &prefix);
            }
            Ok(())
        })
        .await?;
        if files {
            self.delete_instance_files(instance).await?;
        }
        Ok(())
    }

    fn is_test_uri(&self) -> bool {
        self.uri.starts_with("test:")
    }

    /// What the domain XML of this guest depends on (direct kernel boot
    /// when `files` has a kernel).
    fn domain_config(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        files: &ImageFiles,
    ) -> DomainConfig {
        let cmdline = files.kernel.as_ref().map(|_| {
            let extra = image
                .properties
                .get("os_command_line")
                .cloned()
                .unwrap_or_default();
            format!("root=/dev/vda console=tty0 console=ttyS0 {extra}")
                .trim()
                .to_string()
        });
        DomainConfig {
            virt_type: self.virt_type.clone(),
            instances_path: self.instances_path.clone(),
            instance_name: instance.name(&self.name_template),
            vnc_enabled: self.vnc_enabled,
            vnc_listen: self.vnc_listen.clone(),
            kernel: files.kernel.as_ref().map(|p| p.display().to_string()),
            ramdisk: files.ramdisk.as_ref().map(|p| p.display().to_string()),
            cmdline,
            nwfilter: self.nwfilter,
            host: self.host.clone(),
            // Whatever made it (this spawn, or a resize that brought it
            // along), a drive in the instance directory is attached.
            numa: instance
                .numa_topology
                .as_ref()
                .map(|t| crate::xml::GuestNuma {
                    topology: t.clone(),
                    host_shared: self
                        .host_topology
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .iter()
                        .flat_map(|h| h.cells.iter().map(|c| (c.id, c.cpuset.clone())))
                        .collect(),
                    cpu_shared_set: self.cpu_options.cpu_shared_set().cloned(),
                }),
            vcpu_cpuset: self.cpu_options.floating_cpus().cloned(),
            // A drive about to be written (after the domain is defined) or
            // one already there.
            config_drive: (files.config_drive.is_some()
                || std::path::Path::new(&self.instance_dir(instance.uuid))
                    .join(crate::configdrive::CONFIG_DRIVE_FILE)
                    .exists())
            .then(|| self.config_drive_format.clone()),
        }
    }

    /// Replace the guest's domain by `xml` and start it (Nova's
    /// `_destroy` + `_create_guest`): the running guest is stopped, the
    /// definition replaced (same uuid and name), the new one started.
    async fn redefine_and_start(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        xml: String,
    ) -> Result<(), VirtError> {
        let filters = self.filters(instance, network_info);
        let uuid = instance.uuid;
        self.with_conn(move |c| {
            if let Some(old) = lookup(c, uuid)? {
                if old.is_active().map_err(verr)? {
                    old.destroy().map_err(verr)?;
                }
            }
            define_filters(c, &filters)?;
            let dom = c.define_domain_xml(&xml).map_err(verr)?;
            dom.create().map_err(verr)?;
            Ok(())
        })
        .await
    }
}

/// The rescue files of an instance directory (Nova's `*.rescue`).
const RESCUE_FILES: &[&str] = &["disk.rescue", "kernel.rescue", "ramdisk.rescue"];

/// The names libvirt-python gives `virDomainMemoryStat` tags (what Nova's
/// `memory-<name>` keys carry).
fn memory_stat_name(tag: u32) -> Option<&'static str> {
    Some(match tag {
        0 => "swap_in",
        1 => "swap_out",
        2 => "major_fault",
        3 => "minor_fault",
        4 => "unused",
        5 => "available",
        6 => "actual",
        7 => "rss",
        8 => "usable",
        9 => "last_update",
        10 => "disk_caches",
        _ => return None,
    })
}

fn to_power_state(s: DomainState) -> i32 {
    match s {
        DomainState::Running | DomainState::Blocked => power_state::RUNNING,
        DomainState::Paused => power_state::PAUSED,
        DomainState::Shutdown | DomainState::Shutoff => power_state::SHUTDOWN,
        DomainState::Crashed => power_state::CRASHED,
        DomainState::PMSuspended => power_state::SUSPENDED,
        DomainState::NoState => power_state::NOSTATE,
    }
}

fn lookup(c: &Connect, uuid: Uuid) -> Result<Option<Domain>, VirtError> {
    match c.lookup_domain_by_uuid_string(&uuid.to_string()) {
        Ok(d) => Ok(Some(d)),
        Err(e) if is_no_domain(&e) => Ok(None),
        Err(e) => Err(verr(e)),
    }
}

async fn qemu_img(args: &[&str]) -> Result<(), VirtError> {
    let out = tokio::process::Command::new("qemu-img")
        .args(args)
        .output()
        .await
        .map_err(|e| VirtError::Hypervisor(format!("cannot run qemu-img: {e}")))?;
    if !out.status.success() {
        return Err(VirtError::Hypervisor(format!(
            "qemu-img {} failed: {}",
            args.first().copied().unwrap_or_default(),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// The virtual size (bytes) of a disk image.
async fn disk_virtual_size(path: &str) -> Result<u64, VirtError> {
    let out = tokio::process::Command::new("qemu-img")
        .args(["info", "--output=json", path])
        .output()
        .await
        .map_err(|e| VirtError::Hypervisor(format!("cannot run qemu-img: {e}")))?;
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)
        .map_err(|e| VirtError::Hypervisor(format!("qemu-img info {path}: {e}")))?;
    Ok(v["virtual-size"].as_u64().unwrap_or(0))
}

/// Nova's unfilter_instance: undefine the guest's interfaces' nwfilters
/// (those named with its `prefix`); one that cannot go is logged.
fn undefine_instance_filters(c: &Connect, prefix: &str) {
    for f in c.list_all_nw_filters(0).unwrap_or_default() {
        if f.name().is_ok_and(|n| n.starts_with(prefix)) {
            if let Err(e) = f.undefine() {
                warn!("cannot undefine the nwfilter of a guest that is gone: {e}");
            }
        }
    }
}

/// Nova's setup_basic_filtering: the filters exist before the domain.
fn define_filters(c: &Connect, filters: &[(String, String)]) -> Result<(), VirtError> {
    for (name, filter) in filters {
        let uuid = c
            .lookup_nwfilter_by_name(name)
            .and_then(|f| f.uuid_string())
            .ok();
        c.define_nwfilter_xml(&crate::nwfilter::with_uuid(filter, uuid.as_deref()))
            .map_err(|e| VirtError::Hypervisor(format!("cannot define nwfilter {name}: {e}")))?;
    }
    Ok(())
}

/// Disk size and free space of the filesystem holding `path`, in GB.
fn disk_gb(path: &str) -> (i64, i64) {
    let _ = std::fs::create_dir_all(path);
    let out = std::process::Command::new("df")
        .args(["-k", "--output=size,avail", path])
        .output();
    let parse = |o: std::process::Output| -> Option<(i64, i64)> {
        let text = String::from_utf8(o.stdout).ok()?;
        let line = text.lines().nth(1)?;
        let mut it = line.split_whitespace().map(|v| v.parse::<i64>().ok());
        Some((it.next()?? / 1024 / 1024, it.next()?? / 1024 / 1024))
    };
    out.ok().and_then(parse).unwrap_or((0, 0))
}

#[async_trait]
impl VirtDriver for LibvirtDriver {
    fn name(&self) -> &'static str {
        "libvirt.LibvirtDriver"
    }

    fn needs_host_networking(&self) -> bool {
        !self.is_test_uri()
    }

    fn needs_image_files(&self) -> bool {
        true
    }

    async fn init_host(&self, _host: &str) -> Result<(), VirtError> {
        let uri = self.uri.clone();
        let (t, v) = self
            .with_conn(|c| {
                Ok((
                    c.driver_type().map_err(verr)?,
                    c.lib_version().map_err(verr)?,
                ))
            })
            .await?;
        info!(%uri, driver = %t, libvirt_version = v, "connected to libvirt");
        // The host's cells, before any guest is defined with them.
        self.get_available_resource().await?;
        Ok(())
    }

    async fn nodename(&self) -> Result<String, VirtError> {
        if self.is_test_uri() {
            return Ok(self.host.clone());
        }
        self.with_conn(|c| c.hostname().map_err(verr)).await
    }

    async fn get_available_resource(&self) -> Result<HostResources, VirtError> {
        let nodename = self.nodename().await?;
        let (total, avail) = disk_gb(&self.instances_path);
        let cpu_options = self.cpu_options.clone();
        let res = self
            .with_conn(move |c| {
                let ni = c.node_info().map_err(verr)?;
                let hv_type = c.driver_type().map_err(verr)?;
                let hv_version = c.hyp_version().map_err(verr)? as i64;
                let cpu_info = serde_json_like_cpu(&ni);
                let caps = c.capabilities().map_err(verr)?;
                Ok(HostResources {
                    hypervisor_hostname: nodename,
                    hypervisor_type: hv_type,
                    hypervisor_version: hv_version,
                    cpu_info,
                    vcpus: ni.cpus as i64,
                    memory_mb: (ni.memory / 1024) as i64,
                    local_gb: total,
                    disk_available_least: Some(avail),
                    supported_instances: crate::xml::supported_instances(&caps),
                    numa_topology: match crate::xml::host_numa_cells(&caps) {
                        cells if cells.is_empty() => None,
                        cells => Some(cpu_options.topology(&cells)?),
                    },
                })
            })
            .await?;
        *self.host_topology.lock().unwrap_or_else(|p| p.into_inner()) = res.numa_topology.clone();
        Ok(res)
    }

    async fn list_instance_uuids(&self) -> Result<Vec<Uuid>, VirtError> {
        let tag = crate::xml::owner_tag(&self.host);
        self.with_conn(move |c| {
            let doms = c.list_all_domains(0).map_err(verr)?;
            Ok(doms
                .iter()
                .filter(|d| d.xml_desc(0).is_ok_and(|x| x.contains(&tag)))
                .filter_map(|d| d.uuid_string().ok())
                .filter_map(|u| Uuid::parse_str(&u).ok())
                .collect())
        })
        .await
    }

    async fn migrate_disk_and_power_off(
        &self,
        instance: &Instance,
        timeout: u64,
    ) -> Result<String, VirtError> {
        self.power_off(instance, timeout).await?;
        let uuid = instance.uuid;
        // Off the hypervisor (the uuid is the destination's to use now).
        self.with_conn(move |c| {
            if let Some(d) = lookup(c, uuid)? {
                if let Err(e) = d.undefine() {
                    if !is_no_domain(&e) {
                        return Err(verr(e));
                    }
                }
            }
            Ok(())
        })
        .await?;
        let dir = self.instance_dir(uuid);
        let kept = format!("{dir}_resize");
        let _ = tokio::fs::remove_dir_all(&kept).await;
        tokio::fs::rename(&dir, &kept)
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot move {dir} to {kept}: {e}")))?;
        let mut info = serde_json::json!({ "disk": format!("{kept}/disk") });
        let drive = format!("{kept}/{}", crate::configdrive::CONFIG_DRIVE_FILE);
        if tokio::fs::metadata(&drive).await.is_ok() {
            info["config_drive"] = serde_json::json!(drive);
        }
        Ok(info.to_string())
    }

    async fn finish_migration(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        disk_info: &str,
        power_on: bool,
    ) -> Result<(), VirtError> {
        let info: serde_json::Value = serde_json::from_str(disk_info)
            .map_err(|e| VirtError::Hypervisor(format!("bad disk_info: {e}")))?;
        let src = info["disk"].as_str().unwrap_or_default().to_string();
        let dir = self.instance_dir(instance.uuid);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot create {dir}: {e}")))?;
        let disk = format!("{dir}/disk");
        if !self.is_test_uri() {
            // A standalone copy (the base image may not be cached here),
            // grown to the new flavor's root disk.
            qemu_img(&["convert", "-O", "qcow2", &src, &disk]).await?;
            if instance.root_gb > 0 {
                let size = format!("{}G", instance.root_gb);
                let virtual_gb = disk_virtual_size(&disk).await? as f64 / 1073741824.0;
                if (instance.root_gb as f64) > virtual_gb {
                    qemu_img(&["resize", &disk, &size]).await?;
                }
            }
        }
        if !self.is_test_uri() {
            // The ephemeral disk comes along; swap as big as the new flavor's.
            let from = src.rsplit_once('/').map(|(d, _)| d.to_string());
            self.create_local_disks(instance, |d| {
                from.as_ref().map(|dir| format!("{dir}/{}", d.file))
            })
            .await?;
        }
        // The config drive comes along as it was (personality files included).
        if let Some(drive) = info["config_drive"].as_str() {
            let dest = format!("{dir}/{}", crate::configdrive::CONFIG_DRIVE_FILE);
            tokio::fs::copy(drive, &dest)
                .await
                .map_err(|e| VirtError::Hypervisor(format!("cannot copy {drive}: {e}")))?;
        }
        let files = ImageFiles {
            disk: None,
            config_drive: None,
            ..files.clone()
        };
        self.define_guest(instance, image, network_info, &files, power_on)
            .await
    }

    async fn confirm_migration(&self, instance: &Instance) -> Result<(), VirtError> {
        let kept = format!("{}_resize", self.instance_dir(instance.uuid));
        match tokio::fs::remove_dir_all(&kept).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(VirtError::Hypervisor(format!("cannot remove {kept}: {e}"))),
        }
    }

    async fn finish_revert_migration(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        power_on: bool,
    ) -> Result<(), VirtError> {
        // The destination's destroy took the interfaces' filters (same names).
        let filters = self.filters(instance, network_info);
        let dir = self.instance_dir(instance.uuid);
        let kept = format!("{dir}_resize");
        if tokio::fs::metadata(&kept).await.is_ok() {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            tokio::fs::rename(&kept, &dir)
                .await
                .map_err(|e| VirtError::Hypervisor(format!("cannot move {kept} back: {e}")))?;
        }
        let xml = tokio::fs::read_to_string(format!("{dir}/libvirt.xml"))
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot read {dir}/libvirt.xml: {e}")))?;
        let uuid = instance.uuid;
        self.with_conn(move |c| {
            if let Some(old) = lookup(c, uuid)? {
                if old.is_active().unwrap_or(false) {
                    let _ = old.destroy();
                }
                let _ = old.undefine();
            }
            define_filters(c, &filters)?;
            let dom = c.define_domain_xml(&xml).map_err(verr)?;
            if power_on {
                dom.create().map_err(verr)?;
            }
            Ok(())
        })
        .await
    }

    /// Nova's destination check, less what the conductor's claim decided
    /// (room) and the CPU comparison (one `virt_type` per deployment): a
    /// file in `instances_path` for the source to look for, and this
    /// hypervisor's identity and addresses.
    async fn check_can_live_migrate_destination(
        &self,
        _instance: &Instance,
        block_migration: Option<bool>,
    ) -> Result<LiveMigrateData, VirtError> {
        let hypervisor_id = self.host_uuid().await?;
        tokio::fs::create_dir_all(&self.instances_path)
            .await
            .map_err(|e| {
                VirtError::Hypervisor(format!("cannot create {}: {e}", self.instances_path))
            })?;
        let filename = format!("tmp{}", Uuid::new_v4().simple());
        let path = format!("{}/{filename}", self.instances_path.trim_end_matches('/'));
        tokio::fs::write(&path, b"")
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot write {path}: {e}")))?;
        // Nova's cleanup_live_migration_destination_check comes after the
        // source's check; here the file goes once the source had its time.
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(120)).await;
            let _ = tokio::fs::remove_file(&path).await;
        });
        let inbound = &self.live_migration.inbound_addr;
        Ok(LiveMigrateData {
            block_migration,
            filename: Some(filename),
            dest_instances_path: Some(self.instances_path.clone()),
            target_connect_addr: (!inbound.is_empty()).then(|| inbound.clone()),
            graphics_listen_addr_vnc: Some(self.vnc_listen.clone()),
            hypervisor_id: Some(hypervisor_id),
            ..Default::default()
        })
    }

    /// Nova's source check: one hypervisor cannot migrate a guest to
    /// itself; shared storage is the destination's file seen here; a block
    /// migration needs local storage, a migration without needs shared
    /// storage ("auto" picks); a config drive does not come along with a
    /// block migration.
    async fn check_can_live_migrate_source(
        &self,
        instance: &Instance,
        dest_check_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, VirtError> {
        let uuid = instance.uuid;
        let me = self.host_uuid().await?;
        if dest_check_data.hypervisor_id.as_deref() == Some(me.as_str()) {
            return Err(VirtError::MigrationPreCheck(format!(
                "The destination runs on the same hypervisor as the source (libvirt host {me}): a guest cannot live-migrate to the hypervisor it runs on"
            )));
        }
        let shared = match &dest_check_data.filename {
            Some(f) => {
                tokio::fs::try_exists(format!("{}/{f}", self.instances_path.trim_end_matches('/')))
                    .await
                    .unwrap_or(false)
            }
            None => false,
        };
        let block = dest_check_data.block_migration.unwrap_or(!shared);
        if block && shared {
            return Err(VirtError::InvalidLocalStorage {
                path: self.host.clone(),
                reason: "Block migration can not be used with shared storage.".into(),
            });
        }
        if !block && !shared {
            return Err(VirtError::InvalidSharedStorage {
                path: self.host.clone(),
                reason: "Shared storage live-migration requires either shared storage or boot-from-volume with no local disks.".into(),
            });
        }
        if block {
            let xml = self
                .with_domain(instance, |d| d.xml_desc(0).map_err(verr))
                .await?;
            if crate::live_migration::has_readonly_drive(&xml) {
                return Err(VirtError::MigrationPreCheck(format!(
                    "Cannot block migrate instance {uuid} with a config drive: the drive is read-only and would not be copied"
                )));
            }
        }
        Ok(LiveMigrateData {
            block_migration: Some(block),
            is_shared_instance_path: Some(shared),
            ..dest_check_data
        })
    }

    /// The instance directory here; for a block migration its disk, empty,
    /// over this host's copy of the base image (libvirt copies the rest);
    /// the guest's nwfilters, which its interfaces name.
    async fn pre_live_migration(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        migrate_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, VirtError> {
        let dir = self.instance_dir(instance.uuid);
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| VirtError::Hypervisor(format!("cannot create {dir}: {e}")))?;
        if migrate_data.block_migration == Some(true) {
            self.create_disk(instance, files).await?;
        }
        let filters = self.filters(instance, network_info);
        self.with_conn(move |c| define_filters(c, &filters)).await?;
        // The guest's taps exist here already when this hypervisor shares
        // the source's network stack (two libvirtd on one machine).
        let taps_in_use = network_info
            .iter()
            .filter_map(|v| v.devname.clone())
            .filter(|d| std::path::Path::new("/sys/class/net").join(d).exists())
            .collect();
        // The shared CPUs of this host's cells, which the guest's unpinned
        // vCPUs float over here.
        let dst_cell_shared_cpus = self
            .host_topology
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .flat_map(|h| h.cells.iter().map(|c| (c.id, c.cpuset.clone())))
            .collect();
        Ok(LiveMigrateData {
            taps_in_use,
            dst_cell_shared_cpus,
            dst_cpu_shared_set: self.cpu_options.cpu_shared_set().cloned(),
            ..migrate_data
        })
    }

    /// Nova's `_live_migration_operation`: `migrateToURI3` peer to peer,
    /// live, the source undefined and the destination defined with the
    /// guest's definition rewritten for the destination (its paths, owner,
    /// VNC address); a block migration copies the writable disks. The
    /// migration runs on a connection of its own, so the driver's other
    /// calls (an abort) go on meanwhile; it is aborted after
    /// `live_migration_completion_timeout` seconds per GiB of RAM and disk.
    async fn live_migration(
        &self,
        instance: &Instance,
        dest: &str,
        migrate_data: &LiveMigrateData,
    ) -> Result<(), VirtError> {
        let uuid = instance.uuid;
        let source_xml = self
            .with_domain(instance, |d| {
                d.xml_desc(virt::sys::VIR_DOMAIN_XML_MIGRATABLE)
                    .map_err(verr)
            })
            .await?;
        // A guest with NUMA cells gets the cells and pinned CPUs claimed
        // for it on the destination (Nova's NUMA-aware live migration).
        let numa = match (&instance.numa_topology, &migrate_data.dst_numa_topology) {
            (None, _) => None,
            (Some(_), Some(t)) => Some(crate::xml::GuestNuma {
                topology: t.clone(),
                host_shared: migrate_data.dst_cell_shared_cpus.clone(),
                cpu_shared_set: migrate_data.dst_cpu_shared_set.clone(),
            }),
            (Some(_), None) => {
                return Err(VirtError::Hypervisor(
                    "the destination's NUMA topology for the guest is unknown: not migrating it with the source's pinning".into(),
                ))
            }
        };
        let dest_xml = crate::live_migration::destination_xml(
            &source_xml,
            &self.instances_path,
            &self.host,
            &self.vnc_listen,
            &crate::live_migration::Destination {
                host: dest,
                instances_path: migrate_data
                    .dest_instances_path
                    .as_deref()
                    .unwrap_or(&self.instances_path),
                vnc_listen: migrate_data.graphics_listen_addr_vnc.as_deref(),
                taps_in_use: &migrate_data.taps_in_use,
                numa: numa.as_ref(),
            },
        );
        let block = migrate_data.block_migration == Some(true);
        let addr = migrate_data.target_connect_addr.as_deref().unwrap_or(dest);
        let duri = crate::live_migration::migration_uri(
            &self.live_migration.uri,
            &self.live_migration.scheme,
            addr,
        );
        let mut flags = virt::sys::VIR_MIGRATE_LIVE
            | virt::sys::VIR_MIGRATE_PEER2PEER
            | virt::sys::VIR_MIGRATE_PERSIST_DEST
            | virt::sys::VIR_MIGRATE_UNDEFINE_SOURCE;
        let mut params = virt::domain::MigrateParameters {
            dest_xml: Some(dest_xml.clone()),
            persist_xml: Some(dest_xml),
            uri: migrate_data
                .target_connect_addr
                .as_ref()
                .map(|a| format!("tcp://{a}")),
            ..Default::default()
        };
        if self.live_migration.bandwidth > 0 {
            params.bandwidth = Some(self.live_migration.bandwidth);
        }
        if block {
            flags |= virt::sys::VIR_MIGRATE_NON_SHARED_INC;
            params.migrate_disks = crate::live_migration::local_disks(&source_xml);
        }
        info!(instance = %uuid, %duri, block, "live migration started");
        let gib = (instance.memory_mb.max(0) as u64).div_ceil(1024)
            + if block {
                instance.root_gb.max(0) as u64
            } else {
                0
            };
        let timeout = self.live_migration.completion_timeout * gib.max(1);
        let uri = self.uri.clone();
        let job = tokio::task::spawn_blocking(move || -> Result<(), VirtError> {
            let c = Connect::open(Some(&uri))
                .map_err(|e| VirtError::Connection(format!("{uri}: {e}")))?;
            let d = lookup(&c, uuid)?.ok_or(VirtError::InstanceNotFound(uuid))?;
            d.migrate_to_uri3(Some(&duri), params, flags).map_err(verr)
        });
        tokio::pin!(job);
        let outcome = if self.live_migration.completion_timeout == 0 {
            job.await
        } else {
            tokio::select! {
                r = &mut job => r,
                _ = tokio::time::sleep(std::time::Duration::from_secs(timeout)) => {
                    warn!(instance = %uuid, "live migration not done after {timeout} s: aborting it");
                    let _ = self.live_migration_abort(instance).await;
                    let _ = job.await;
                    return Err(VirtError::Hypervisor(format!(
                        "the live migration did not complete within {timeout} seconds ([libvirt] live_migration_completion_timeout)"
                    )));
                }
            }
        };
        match outcome.map_err(|e| VirtError::Hypervisor(format!("libvirt task failed: {e}")))? {
            Ok(()) => Ok(()),
            Err(VirtError::Hypervisor(m)) if m.contains("abort") => {
                Err(VirtError::LiveMigrationAborted)
            }
            Err(e) => Err(e),
        }
    }

    /// libvirt's job statistics of the migration (Nova's `_live_migration_monitor`
    /// reads the same `memory_*`/`disk_*` figures).
    async fn live_migration_progress(
        &self,
        instance: &Instance,
    ) -> Result<Option<nova_objects::LiveMigrationProgress>, VirtError> {
        let stats = self
            .with_domain(instance, |d| d.job_stats(0).map_err(verr))
            .await?;
        // VIR_DOMAIN_JOB_NONE: no job (not started, or over).
        if stats.r#type == 0 {
            return Ok(None);
        }
        let n = |v: Option<u64>| v.map(|b| i64::try_from(b).unwrap_or(i64::MAX));
        Ok(Some(nova_objects::LiveMigrationProgress {
            memory_total: n(stats.mem_total),
            memory_processed: n(stats.mem_processed),
            memory_remaining: n(stats.mem_remaining),
            disk_total: n(stats.disk_total),
            disk_processed: n(stats.disk_processed),
            disk_remaining: n(stats.disk_remaining),
        }))
    }

    /// Nova's force complete without post-copy: pause the guest, so the
    /// copy of its memory converges (it runs again on the destination).
    async fn live_migration_force_complete(&self, instance: &Instance) -> Result<(), VirtError> {
        self.with_domain(instance, |d| d.suspend().map_err(verr))
            .await
    }

    /// Nova's `abortJob` on the guest (through virsh: the bindings used here
    /// have no safe call for it). An abort that comes as the migration
    /// starts, before libvirt has its job, is tried again for a few seconds.
    async fn live_migration_abort(&self, instance: &Instance) -> Result<(), VirtError> {
        let uuid = instance.uuid.to_string();
        let mut tries = 0;
        loop {
            let Err(err) = self.virsh(&["domjobabort", &uuid]).await? else {
                return Ok(());
            };
            tries += 1;
            if !err.contains("no job") || tries >= 20 {
                return Err(VirtError::Hypervisor(format!(
                    "cannot abort the live migration: {err}"
                )));
            }
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        }
    }

    /// The guest left (its domain undefined by the migration): its files
    /// and nwfilters here go, unless the destination shares the files.
    async fn post_live_migration_at_source(
        &self,
        instance: &Instance,
        migrate_data: &LiveMigrateData,
    ) -> Result<(), VirtError> {
        self.destroy_leftovers(instance, migrate_data.is_shared_instance_path != Some(true))
            .await
    }

    /// The guest runs here: its definition is kept as `libvirt.xml`, and a
    /// guest paused to force the migration's end runs again.
    async fn post_live_migration_at_destination(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
    ) -> Result<(), VirtError> {
        let uuid = instance.uuid;
        let resume = instance.vm_state == nova_common::states::VmState::Active;
        self.with_conn(move |c| {
            let d = lookup(c, uuid)?.ok_or(VirtError::InstanceNotFound(uuid))?;
            let (state, _) = d.state().map_err(verr)?;
            if resume && matches!(state, virt::enumutil::Enum::Known(DomainState::Paused)) {
                d.resume().map_err(verr)?;
            }
            Ok(())
        })
        .await?;
        self.write_libvirt_xml(uuid).await
    }

    async fn rollback_live_migration_at_destination(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
        destroy_disks: bool,
    ) -> Result<(), VirtError> {
        self.destroy_leftovers(instance, destroy_disks).await
    }

    async fn spawn(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
    ) -> Result<(), VirtError> {
        self.define_guest(instance, image, network_info, files, true)
            .await
    }

    /// Nova's libvirt `rescue`: the domain's definition kept as
    /// `unrescue.xml` in the instance directory, the rescue image's disk
    /// written as `disk.rescue` (and its kernel/ramdisk as
    /// `kernel.rescue`/`ramdisk.rescue`), the domain redefined with
    /// `disk.rescue` first and the instance's own disk second, and started.
    /// `disk.rescue` is a standalone qcow2 copy of the cached base image
    /// rather than an overlay on it (Nova's image backend), so the image
    /// cache clean-up, which knows only the instances' own images, cannot
    /// remove a file a rescued guest runs on.
    async fn rescue(
        &self,
        instance: &Instance,
        image: &ImageMeta,
        network_info: &NetworkInfo,
        files: &ImageFiles,
        _rescue_password: &str,
    ) -> Result<(), VirtError> {
        let uuid = instance.uuid;
        // A stable device rescue (2.87) boots the rescue disk itself.
        let stable = crate::xml::stable_rescue(&image.properties).map_err(VirtError::Hypervisor)?;
        if stable.is_some() && (files.kernel.is_some() || files.disk.is_none()) {
            return Err(VirtError::Hypervisor(
                "a stable device rescue boots a disk image, not a kernel".into(),
            ));
        }
        let dir = self.instance_dir(uuid);
        let herr = |what: String, e: std::io::Error| VirtError::Hypervisor(format!("{what}: {e}"));
        let unrescue = format!("{dir}/unrescue.xml");
        // A repeated rescue keeps the original definition saved the first time.
        if tokio::fs::metadata(&unrescue).await.is_err() {
            // VIR_DOMAIN_XML_INACTIVE: the persistent definition.
            let xml = self
                .with_domain(instance, |d| d.xml_desc(2).map_err(verr))
                .await?;
            tokio::fs::write(&unrescue, &xml)
                .await
                .map_err(|e| herr(format!("cannot write {unrescue}"), e))?;
        }
        let mut rescue_files = ImageFiles::default();
        if let Some((base, format)) = &files.disk {
            let disk = format!("{dir}/disk.rescue");
            if !self.is_test_uri() {
                let base = base.display().to_string();
                qemu_img(&["convert", "-f", format, "-O", "qcow2", &base, &disk]).await?;
            }
            rescue_files.disk = Some((disk.into(), "qcow2".into()));
        }
        for (src, name, slot) in [
            (&files.kernel, "kernel.rescue", &mut rescue_files.kernel),
            (&files.ramdisk, "ramdisk.rescue", &mut rescue_files.ramdisk),
        ] {
            if let Some(src) = src {
                let dest = format!("{dir}/{name}");
                tokio::fs::copy(src, &dest)
                    .await
                    .map_err(|e| herr(format!("cannot copy {} to {dest}", src.display()), e))?;
                *slot = Some(dest.into());
            }
        }
        let cfg = self.domain_config(instance, image, &rescue_files);
        let xml =
            crate::xml::rescue_domain_xml(&cfg, instance, image, network_info, stable.as_ref());
        self.redefine_and_start(instance, network_info, xml).await?;
        info!(instance = %uuid, image = %image.id, "guest rescued");
        Ok(())
    }

    /// Nova's libvirt `unrescue`: the domain defined again from
    /// `unrescue.xml` and started, then `unrescue.xml` and the rescue files
    /// removed. Without `unrescue.xml` (removed by an unrescue that got that
    /// far) the guest is already its own; it is started if it is not running.
    async fn unrescue(
        &self,
        instance: &Instance,
        network_info: &NetworkInfo,
    ) -> Result<(), VirtError> {
        let dir = self.instance_dir(instance.uuid);
        let unrescue = format!("{dir}/unrescue.xml");
        match tokio::fs::read_to_string(&unrescue).await {
            Ok(xml) => {
                self.redefine_and_start(instance, network_info, xml).await?;
                if let Err(e) = tokio::fs::remove_file(&unrescue).await {
                    warn!(%unrescue, "cannot remove: {e}");
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                warn!(instance = %instance.uuid, "no {unrescue}: the guest is not rescued");
                self.power_on(instance, network_info).await?;
            }
            Err(e) => {
                return Err(VirtError::Hypervisor(format!(
                    "cannot read {unrescue}: {e}"
                )))
            }
        }
        for f in RESCUE_FILES {
            let path = format!("{dir}/{f}");
            if let Err(e) = tokio::fs::remove_file(&path).await {
                if e.kind() != std::io::ErrorKind::NotFound {
                    warn!(%path, "cannot remove a rescue file: {e}");
                }
            }
        }
        info!(instance = %instance.uuid, "guest unrescued");
        Ok(())
    }

    async fn destroy(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
    ) -> Result<(), VirtError> {
        let uuid = instance.uuid;
        let nwfilter = self.nwfilter;
        let prefix = crate::nwfilter::instance_filter_prefix(&instance.name(&self.name_template));
        self.with_conn(move |c| {
            if let Some(d) = lookup(c, uuid)? {
                if d.is_active().map_err(verr)? {
                    d.destroy().map_err(verr)?;
                }
                if let Err(e) = d.undefine() {
                    if !is_no_domain(&e) {
                        return Err(verr(e));
                    }
                }
            }
            // Nova's unfilter_instance: the interfaces' nwfilters go with the guest.
            if nwfilter {
                undefine_instance_filters(c, &prefix);
            }
            Ok(())
        })
        .await?;
        // Delete leaves nothing: the overlay, console log and libvirt.xml go too.
        if let Err(e) = self.delete_instance_files(instance).await {
            warn!(instance = %uuid, "{e}");
        }
        Ok(())
    }

    fn instance_path(&self, instance: &Instance) -> String {
        format!(
            "{}/{}",
            self.instances_path.trim_end_matches('/'),
            instance.uuid
        )
    }

    async fn instance_on_disk(&self, instance: &Instance) -> bool {
        tokio::fs::try_exists(format!("{}/disk", self.instance_path(instance)))
            .await
            .unwrap_or(false)
    }

    async fn delete_instance_files(&self, instance: &Instance) -> Result<bool, VirtError> {
        let dir = self.instance_path(instance);
        match tokio::fs::remove_dir_all(&dir).await {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(VirtError::Hypervisor(format!(
                "cannot remove instance directory {dir}: {e}"
            ))),
        }
    }

    async fn guest_interfaces(
        &self,
        instance: &Instance,
    ) -> Result<Vec<crate::GuestInterface>, VirtError> {
        let xml = self
            .with_domain(instance, |d| d.xml_desc(0).map_err(verr))
            .await?;
        Ok(crate::xml::guest_interfaces(&xml))
    }

    async fn get_info(&self, instance: &Instance) -> Result<InstanceInfo, VirtError> {
        let uuid = instance.uuid;
        self.with_conn(move |c| {
            let d = lookup(c, uuid)?.ok_or(VirtError::InstanceNotFound(uuid))?;
            let (state, _) = d.state().map_err(verr)?;
            let ps = match state {
                virt::enumutil::Enum::Known(s) => to_power_state(s),
                virt::enumutil::Enum::Unknown(_) => power_state::NOSTATE,
            };
            Ok(InstanceInfo { power_state: ps })
        })
        .await
    }

    async fn reboot(
        &self,
        instance: &Instance,
        _nw: &NetworkInfo,
        hard: bool,
    ) -> Result<(), VirtError> {
        if !hard {
            match self
                .clean_shutdown(instance, self.wait_soft_reboot_seconds)
                .await
            {
                Ok(true) => {
                    return self
                        .with_domain(instance, |d| d.create().map(|_| ()).map_err(verr))
                        .await;
                }
                Ok(false) => {
                    warn!(instance = %instance.uuid, "soft reboot timed out; rebooting hard")
                }
                Err(e) => {
                    warn!(instance = %instance.uuid, "soft reboot failed ({e}); rebooting hard")
                }
            }
        }
        self.with_domain(instance, |d| {
            if d.is_active().map_err(verr)? {
                d.destroy().map_err(verr)?;
            }
            d.create().map(|_| ()).map_err(verr)
        })
        .await
    }

    async fn power_off(&self, instance: &Instance, timeout: u64) -> Result<(), VirtError> {
        if timeout > 0 && self.clean_shutdown(instance, timeout).await? {
            return Ok(());
        }
        self.with_domain(instance, |d| {
            if d.is_active().map_err(verr)? {
                d.destroy().map_err(verr)?;
            }
            Ok(())
        })
        .await
    }

    async fn power_on(&self, instance: &Instance, _nw: &NetworkInfo) -> Result<(), VirtError> {
        self.with_domain(instance, |d| {
            if !d.is_active().map_err(verr)? {
                d.create().map_err(verr)?;
            }
            Ok(())
        })
        .await
    }

    async fn pause(&self, instance: &Instance) -> Result<(), VirtError> {
        self.with_domain(instance, |d| d.suspend().map(|_| ()).map_err(verr))
            .await
    }

    async fn unpause(&self, instance: &Instance) -> Result<(), VirtError> {
        self.with_domain(instance, |d| d.resume().map(|_| ()).map_err(verr))
            .await
    }

    async fn suspend(&self, instance: &Instance) -> Result<(), VirtError> {
        self.with_domain(instance, |d| d.managed_save(0).map(|_| ()).map_err(verr))
            .await
    }

    async fn resume(&self, instance: &Instance, _nw: &NetworkInfo) -> Result<(), VirtError> {
        // Starting a managed-saved domain restores it.
        self.with_domain(instance, |d| d.create().map(|_| ()).map_err(verr))
            .await
    }

    /// Nova's `set_admin_password`: through the QEMU guest agent
    /// (`virDomainSetUserPassword`), which the guest has only when its image
    /// asks for one (`hw_qemu_guest_agent`); the user is the image's
    /// `os_admin_user`, else `root`.
    async fn set_admin_password(
        &self,
        instance: &Instance,
        password: &str,
    ) -> Result<(), VirtError> {
        let image_props: std::collections::BTreeMap<String, String> = instance
            .system_metadata
            .iter()
            .filter_map(|(k, v)| k.strip_prefix("image_").map(|p| (p.to_string(), v.clone())))
            .collect();
        if !crate::qemu_guest_agent(&image_props) {
            return Err(VirtError::QemuGuestAgentNotEnabled);
        }
        let user = image_props
            .get("os_admin_user")
            .cloned()
            .unwrap_or_else(|| "root".to_string());
        let password = password.to_string();
        self.with_domain(instance, move |d| {
            d.set_user_password(&user, &password, 0).map_err(|e| {
                VirtError::Hypervisor(format!("cannot set the password of {user}: {e}"))
            })
        })
        .await
    }

    /// Nova's libvirt `trigger_crash_dump`: `virDomainInjectNMI` (through
    /// virsh: the bindings used here have no safe call for it), libvirt's
    /// "operation invalid" being a guest that does not run and "no support"
    /// a hypervisor without NMIs.
    async fn trigger_crash_dump(&self, instance: &Instance) -> Result<(), VirtError> {
        self.with_domain(instance, |_| Ok(())).await?;
        let Err(err) = self
            .virsh(&["inject-nmi", &instance.uuid.to_string()])
            .await?
        else {
            info!(instance = %instance.uuid, "NMI injected");
            return Ok(());
        };
        if err.contains("Requested operation is not valid") || err.contains("not running") {
            Err(VirtError::InstanceNotRunning(instance.uuid))
        } else if err.contains("not supported") {
            Err(VirtError::TriggerCrashDumpNotSupported)
        } else {
            Err(VirtError::Hypervisor(format!(
                "cannot inject an NMI: {err}"
            )))
        }
    }

    async fn get_console_output(&self, instance: &Instance) -> Result<String, VirtError> {
        self.with_domain(instance, |_| Ok(())).await?;
        let path = format!(
            "{}/{}/console.log",
            self.instances_path.trim_end_matches('/'),
            instance.uuid
        );
        match tokio::fs::read(&path).await {
            Ok(b) => Ok(String::from_utf8_lossy(&b).to_string()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
            Err(e) => Err(VirtError::Hypervisor(format!("cannot read {path}: {e}"))),
        }
    }

    /// Nova's libvirt `get_diagnostics`: per disk and interface counters,
    /// memory; counters libvirt cannot give are left out. (Per-vCPU times
    /// need virDomainGetVcpus, which the bindings lack: none are reported.)
    async fn get_diagnostics(
        &self,
        instance: &Instance,
    ) -> Result<std::collections::BTreeMap<String, i64>, VirtError> {
        let vcpus_of = self.local_vcpus_of(instance);
        self.with_domain(instance, move |d| {
            let xml = d.xml_desc(0).map_err(verr)?;
            let (disks, nics) = crate::xml::io_devices(&xml);
            let mut out = std::collections::BTreeMap::new();
            if let Some(uuid) = vcpus_of {
                for (n, ns) in crate::vcpus::vcpu_times(&uuid) {
                    out.insert(format!("cpu{n}_time"), ns);
                }
            }
            for disk in disks {
                if let Ok(st) = d.block_stats(&disk) {
                    out.insert(format!("{disk}_read_req"), st.rd_req);
                    out.insert(format!("{disk}_read"), st.rd_bytes);
                    out.insert(format!("{disk}_write_req"), st.wr_req);
                    out.insert(format!("{disk}_write"), st.wr_bytes);
                    out.insert(format!("{disk}_errors"), st.errs);
                }
            }
            for dev in nics.into_iter().filter_map(|(_, dev)| dev) {
                if let Ok(st) = d.interface_stats(&dev) {
                    out.insert(format!("{dev}_rx"), st.rx_bytes);
                    out.insert(format!("{dev}_rx_packets"), st.rx_packets);
                    out.insert(format!("{dev}_rx_errors"), st.rx_errs);
                    out.insert(format!("{dev}_rx_drop"), st.rx_drop);
                    out.insert(format!("{dev}_tx"), st.tx_bytes);
                    out.insert(format!("{dev}_tx_packets"), st.tx_packets);
                    out.insert(format!("{dev}_tx_errors"), st.tx_errs);
                    out.insert(format!("{dev}_tx_drop"), st.tx_drop);
                }
            }
            let info = d.info().map_err(verr)?;
            out.insert("memory".into(), info.max_mem as i64);
            if let Ok(stats) = d.memory_stats(0) {
                for st in stats {
                    if let Some(name) = memory_stat_name(st.tag) {
                        out.insert(format!("memory-{name}"), st.val as i64);
                    }
                }
            }
            Ok(out)
        })
        .await
    }

    /// Nova's libvirt `get_instance_diagnostics` (2.48's format).
    async fn get_instance_diagnostics(
        &self,
        instance: &Instance,
    ) -> Result<nova_objects::Diagnostics, VirtError> {
        use nova_objects::{
            CpuDiagnostics, Diagnostics, DiskDiagnostics, MemoryDiagnostics, NicDiagnostics,
        };
        let virt_type = self.virt_type.clone();
        let uptime = instance
            .launched_at
            .map(|t| (chrono::Utc::now() - t).num_seconds());
        let config_drive = !instance.config_drive.is_empty();
        let vcpus_of = self.local_vcpus_of(instance);
        self.with_domain(instance, move |d| {
            let xml = d.xml_desc(0).map_err(verr)?;
            let (disks, nics) = crate::xml::io_devices(&xml);
            let info = d.info().map_err(verr)?;
            let (state, _) = d.state().map_err(verr)?;
            let ps = match state {
                virt::enumutil::Enum::Known(s) => to_power_state(s),
                virt::enumutil::Enum::Unknown(_) => power_state::NOSTATE,
            };
            let disk_details = disks
                .iter()
                .filter_map(|disk| d.block_stats(disk).ok())
                .map(|st| DiskDiagnostics {
                    read_bytes: Some(st.rd_bytes),
                    read_requests: Some(st.rd_req),
                    write_bytes: Some(st.wr_bytes),
                    write_requests: Some(st.wr_req),
                    errors_count: Some(st.errs),
                })
                .collect();
            let nic_details = nics
                .into_iter()
                .filter_map(|(mac, dev)| {
                    let base = NicDiagnostics {
                        mac_address: Some(mac),
                        ..Default::default()
                    };
                    let Some(dev) = dev else {
                        // No target, so no counters.
                        return Some(base);
                    };
                    let st = d.interface_stats(&dev).ok()?;
                    Some(NicDiagnostics {
                        rx_octets: Some(st.rx_bytes),
                        rx_errors: Some(st.rx_errs),
                        rx_drop: Some(st.rx_drop),
                        rx_packets: Some(st.rx_packets),
                        tx_octets: Some(st.tx_bytes),
                        tx_errors: Some(st.tx_errs),
                        tx_drop: Some(st.tx_drop),
                        tx_packets: Some(st.tx_packets),
                        ..base
                    })
                })
                .collect();
            Ok(Diagnostics {
                state: Some(power_state::name(ps).into()),
                driver: Some("libvirt".into()),
                hypervisor: Some(virt_type),
                hypervisor_os: Some("linux".into()),
                uptime,
                config_drive: Some(config_drive),
                cpu_details: vcpus_of
                    .map(|uuid| crate::vcpus::vcpu_times(&uuid))
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(id, time)| CpuDiagnostics {
                        id: Some(id),
                        time: Some(time),
                        utilisation: None,
                    })
                    .collect(),
                nic_details,
                disk_details,
                memory_details: Some(MemoryDiagnostics {
                    maximum: Some((info.max_mem / 1024) as i64),
                    used: Some((info.memory / 1024) as i64),
                }),
            })
        })
        .await
    }

    async fn get_vnc_port(&self, instance: &Instance) -> Result<Option<i64>, VirtError> {
        let xml = self
            .with_domain(instance, |d| d.xml_desc(0).map_err(verr))
            .await?;
        Ok(crate::xml::vnc_port(&xml))
    }

    async fn snapshot(&self, instance: &Instance, dest: &std::path::Path) -> Result<(), VirtError> {
        let disk = format!(
            "{}/{}/disk",
            self.instances_path.trim_end_matches('/'),
            instance.uuid
        );
        // Pause a running guest so the copy is crash-consistent, as Nova's cold-ish fallback.
        let was_running = self.state(instance).await? == power_state::RUNNING;
        if was_running && !self.is_test_uri() {
            self.with_domain(instance, |d| d.suspend().map(|_| ()).map_err(verr))
                .await?;
        }
        let out = if self.is_test_uri() {
            // The test driver has no real disk: snapshot an empty image of the flavor's size.
            tokio::process::Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2"])
                .arg(dest)
                .arg("1M")
                .output()
                .await
        } else {
            tokio::process::Command::new("qemu-img")
                .args(["convert", "-U", "-O", "qcow2", &disk])
                .arg(dest)
                .output()
                .await
        };
        if was_running && !self.is_test_uri() {
            self.with_domain(instance, |d| d.resume().map(|_| ()).map_err(verr))
                .await?;
        }
        let out = out.map_err(|e| VirtError::Hypervisor(format!("cannot run qemu-img: {e}")))?;
        if !out.status.success() {
            return Err(VirtError::Hypervisor(format!(
                "qemu-img failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

/// Nova's cpu_info is a JSON document; this is the part libvirt's node info gives.
fn serde_json_like_cpu(ni: &virt::connect::NodeInfo) -> String {
    format!(
        "{{\"arch\": \"x86_64\", \"model\": \"{}\", \"vendor\": \"\", \"topology\": {{\"cells\": {}, \"sockets\": {}, \"cores\": {}, \"threads\": {}}}, \"features\": []}}",
        crate::xml::esc(&ni.model),
        ni.nodes,
        ni.sockets,
        ni.cores,
        ni.threads
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn driver() -> LibvirtDriver {
        let cfg = NovaConfig::parse_text(
            "[DEFAULT]\nhost = hv1\ninstances_path = /tmp/nova-virt-test\n[libvirt]\nvirt_type = qemu\nconnection_uri = test:///default\n",
        )
        .expect("config");
        LibvirtDriver::new(&cfg).expect("driver")
    }

    /// Against libvirt's in-process test driver: define, start, inspect, destroy.
    #[tokio::test]
    async fn lifecycle_on_the_test_driver() {
        let d = driver();
        d.init_host("hv1").await.expect("init_host");
        assert_eq!(d.nodename().await.expect("nodename"), "hv1");
        let res = d.get_available_resource().await.expect("resources");
        assert!(res.vcpus > 0 && res.memory_mb > 0);
        // The test driver's capabilities: i686 guests of its own domain type.
        assert_eq!(
            res.supported_instances,
            [
                ["i686".to_string(), "test".into(), "hvm".into()],
                ["i686".to_string(), "test".into(), "xen".into()]
            ]
        );
        let inst = Instance {
            id: 7,
            uuid: Uuid::new_v4(),
            display_name: "t".into(),
            memory_mb: 128,
            vcpus: 1,
            root_gb: 1,
            ..Default::default()
        };
        // A base image and an instance overlay on it, as the image cache provides.
        let base_dir = std::path::Path::new("/tmp/nova-virt-test/_base");
        std::fs::create_dir_all(base_dir).expect("base dir");
        let base = base_dir.join(format!("{}", inst.uuid.simple()));
        let out = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2"])
            .arg(&base)
            .arg("16M")
            .status()
            .expect("qemu-img");
        assert!(out.success());
        let files = ImageFiles {
            disk: Some((base.clone(), "qcow2".into())),
            ..Default::default()
        };
        d.spawn(&inst, &ImageMeta::default(), &vec![], &files)
            .await
            .expect("spawn");
        let disk = format!("/tmp/nova-virt-test/{}/disk", inst.uuid);
        let info = std::process::Command::new("qemu-img")
            .args(["info", &disk])
            .output()
            .expect("info");
        assert!(
            String::from_utf8_lossy(&info.stdout).contains(&base.display().to_string()),
            "overlay on base"
        );
        // Grown from the image's 16 MiB to the flavor's root disk.
        assert_eq!(
            disk_virtual_size(&disk).await.expect("virtual size"),
            1 << 30,
            "the overlay has the flavor's root_gb"
        );
        assert!(d
            .list_instance_uuids()
            .await
            .expect("list")
            .contains(&inst.uuid));
        assert_eq!(
            d.get_info(&inst).await.expect("info").power_state,
            power_state::RUNNING
        );
        // Lifecycle on the test driver.
        d.pause(&inst).await.expect("pause");
        assert_eq!(
            d.get_info(&inst).await.expect("info").power_state,
            power_state::PAUSED
        );
        d.unpause(&inst).await.expect("unpause");
        d.power_off(&inst, 5).await.expect("power off");
        assert_eq!(
            d.get_info(&inst).await.expect("info").power_state,
            power_state::SHUTDOWN
        );
        d.power_on(&inst, &vec![]).await.expect("power on");
        d.reboot(&inst, &vec![], false).await.expect("soft reboot");
        d.reboot(&inst, &vec![], true).await.expect("hard reboot");
        assert_eq!(
            d.get_info(&inst).await.expect("info").power_state,
            power_state::RUNNING
        );
        d.suspend(&inst).await.expect("suspend");
        assert_eq!(
            d.get_info(&inst).await.expect("info").power_state,
            power_state::SHUTDOWN
        );
        d.resume(&inst, &vec![]).await.expect("resume");
        assert_eq!(
            d.get_info(&inst).await.expect("info").power_state,
            power_state::RUNNING
        );
        assert_eq!(d.get_console_output(&inst).await.expect("console"), "");
        // changePassword: only through the guest agent its image asks for.
        assert!(matches!(
            d.set_admin_password(&inst, "pw").await,
            Err(VirtError::QemuGuestAgentNotEnabled)
        ));
        let mut with_agent = inst.clone();
        with_agent
            .system_metadata
            .insert("image_hw_qemu_guest_agent".into(), "yes".into());
        d.set_admin_password(&with_agent, "pw")
            .await
            .expect("the test driver sets the password");
        // Diagnostics: the test driver's counters for the guest's disk, its memory.
        let diags = d.get_diagnostics(&inst).await.expect("diagnostics");
        assert_eq!(diags.get("memory"), Some(&(128 * 1024)), "{diags:?}");
        assert!(diags.contains_key("vda_read_req"), "{diags:?}");
        let std = d
            .get_instance_diagnostics(&inst)
            .await
            .expect("instance diagnostics");
        assert_eq!(std.state.as_deref(), Some("running"));
        assert_eq!(std.driver.as_deref(), Some("libvirt"));
        assert_eq!(std.hypervisor.as_deref(), Some("qemu"));
        assert_eq!(std.disk_details.len(), 1, "{std:?}");
        assert_eq!(
            std.memory_details.as_ref().and_then(|m| m.maximum),
            Some(128),
            "{std:?}"
        );
        // A second spawn (retried build) replaces the domain.
        d.spawn(&inst, &ImageMeta::default(), &vec![], &files)
            .await
            .expect("respawn");
        d.destroy(&inst, &vec![]).await.expect("destroy");
        assert!(!d
            .list_instance_uuids()
            .await
            .expect("list")
            .contains(&inst.uuid));
        assert!(matches!(
            d.get_info(&inst).await,
            Err(VirtError::InstanceNotFound(_))
        ));
        d.destroy(&inst, &vec![])
            .await
            .expect("destroy is idempotent");
        assert!(
            !std::path::Path::new(&disk).exists(),
            "delete leaves no overlay"
        );
        std::fs::remove_file(&base).ok();
    }

    /// A config drive: written as an ISO 9660 image labelled config-2 (or
    /// VFAT) in the instance directory and attached to the guest.
    #[tokio::test]
    async fn config_drive_on_the_test_driver() {
        let run = |args: &[&str]| {
            let out = std::process::Command::new(args[0])
                .args(&args[1..])
                .output()
                .expect(args[0]);
            assert!(
                out.status.success(),
                "{args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        for format in ["iso9660", "vfat"] {
            let cfg = NovaConfig::parse_text(&format!(
                "[DEFAULT]\nhost = hv1\ninstances_path = /tmp/nova-virt-test\nconfig_drive_format = {format}\n[libvirt]\nvirt_type = qemu\nconnection_uri = test:///default\n"
            ))
            .expect("config");
            let d = LibvirtDriver::new(&cfg).expect("driver");
            let inst = Instance {
                uuid: Uuid::new_v4(),
                memory_mb: 64,
                vcpus: 1,
                ..Default::default()
            };
            let files = ImageFiles {
                config_drive: Some(crate::ConfigDrive::new(|_| {
                    vec![
                        (
                            "openstack/latest/meta_data.json".into(),
                            br#"{"uuid": "u"}"#.to_vec(),
                        ),
                        ("openstack/content/0000".into(), b"hello file".to_vec()),
                    ]
                })),
                ..Default::default()
            };
            d.spawn(&inst, &ImageMeta::default(), &vec![], &files)
                .await
                .expect("spawn");
            let dir = format!("/tmp/nova-virt-test/{}", inst.uuid);
            let drive = format!("{dir}/disk.config");
            if format == "iso9660" {
                assert!(run(&["isoinfo", "-d", "-i", &drive]).contains("Volume id: config-2"));
                let listing = run(&["isoinfo", "-R", "-f", "-i", &drive]);
                assert!(
                    listing.contains("/openstack/latest/meta_data.json"),
                    "{listing}"
                );
                assert_eq!(
                    run(&[
                        "isoinfo",
                        "-R",
                        "-i",
                        &drive,
                        "-x",
                        "/openstack/content/0000"
                    ]),
                    "hello file"
                );
            } else {
                assert!(run(&["mlabel", "-s", "-i", &drive, "::"]).contains("config-2"));
                assert_eq!(
                    run(&["mtype", "-i", &drive, "::/openstack/content/0000"]),
                    "hello file"
                );
            }
            let xml = std::fs::read_to_string(format!("{dir}/libvirt.xml")).expect("libvirt.xml");
            assert!(
                xml.contains(&format!("<source file=\"{drive}\"/>")),
                "{xml}"
            );
            assert!(!std::path::Path::new(&format!("{dir}/disk.config.d")).exists());
            // A resize or cold migration takes the drive along as it was.
            let info = d
                .migrate_disk_and_power_off(&inst, 0)
                .await
                .expect("migrate");
            assert!(info.contains("disk.config"), "{info}");
            d.finish_migration(
                &inst,
                &ImageMeta::default(),
                &vec![],
                &ImageFiles::default(),
                &info,
                true,
            )
            .await
            .expect("finish_migration");
            let before = std::fs::read(format!("{dir}_resize/disk.config")).expect("kept drive");
            assert_eq!(std::fs::read(&drive).expect("drive moved"), before);
            let xml = std::fs::read_to_string(format!("{dir}/libvirt.xml")).expect("libvirt.xml");
            assert!(
                xml.contains(&format!("<source file=\"{drive}\"/>")),
                "{xml}"
            );
            d.confirm_migration(&inst).await.expect("confirm");
            d.destroy(&inst, &vec![]).await.expect("destroy");
            assert!(
                !std::path::Path::new(&drive).exists(),
                "delete leaves no drive"
            );
        }
    }
}
