//! `fake.FakeDriver`: guests that exist only in memory, with Nova's fake
//! host resources. For scale tests and benchmarks; `[fake] fail_spawn`
//! makes every spawn fail, to test rescheduling.

use crate::{ImageFiles, InstanceInfo, VirtDriver, VirtError};
use async_trait::async_trait;
use nova_common::states::power_state;
use nova_objects::{HostResources, ImageMeta, Instance, LiveMigrateData, NetworkInfo};
use std::collections::HashMap;
use std::sync::Mutex;
use uuid::Uuid;

pub struct FakeDriver {
    nodename: String,
    guests: Mutex<HashMap<Uuid, i32>>,
    /// Guests resized away from here, kept for a revert (power state before).
    resized: Mutex<HashMap<Uuid, i32>>,
    /// Guests running from a rescue disk.
    rescued: Mutex<std::collections::HashSet<Uuid>>,
    fail_spawn: bool,
    spawn_seconds: u64,
    finish_migration_seconds: u64,
    confirm_migration_seconds: u64,
    rescue_seconds: u64,
    soft_reboot_seconds: u64,
    live_migration_seconds: u64,
    fail_pre_live_migration: bool,
    pre_live_migration_seconds: u64,
    fail_live_migration: bool,
    /// Live migrations under way: a `true` aborts, a `false` completes now.
    migrating: Mutex<HashMap<Uuid, tokio::sync::mpsc::UnboundedSender<bool>>>,
    /// The NUMA topology it reports (`[fake] numa_cells`), if any.
    numa: Option<nova_objects::numa::NumaTopology>,
}

/// The fake hypervisor's memory (MiB).
const FAKE_MEMORY_MB: i64 = 800_000;

impl FakeDriver {
    pub fn new(host: &str) -> Self {
        FakeDriver {
            nodename: host.to_string(),
            guests: Mutex::new(HashMap::new()),
            resized: Mutex::new(HashMap::new()),
            rescued: Mutex::new(Default::default()),
            fail_spawn: false,
            spawn_seconds: 0,
            finish_migration_seconds: 0,
            confirm_migration_seconds: 0,
            rescue_seconds: 0,
            soft_reboot_seconds: 0,
            live_migration_seconds: 0,
            fail_pre_live_migration: false,
            pre_live_migration_seconds: 0,
            fail_live_migration: false,
            migrating: Mutex::new(HashMap::new()),
            numa: None,
        }
    }

    /// Report `cells` NUMA cells of `cpus_per_cell` CPUs (none when 0),
    /// the memory split between them, with the CPU options applied.
    pub fn with_numa(
        mut self,
        cells: u32,
        cpus_per_cell: u32,
        options: crate::numa::CpuOptions,
    ) -> Result<Self, VirtError> {
        if cells == 0 {
            return Ok(self);
        }
        let per_cell_mb = FAKE_MEMORY_MB / i64::from(cells);
        let hypervisor: Vec<crate::numa::HypervisorCell> = (0..cells)
            .map(|i| {
                let cpus: nova_objects::numa::CpuSet =
                    (i * cpus_per_cell..(i + 1) * cpus_per_cell).collect();
                crate::numa::HypervisorCell {
                    id: i,
                    siblings: cpus.iter().map(|c| [*c].into()).collect(),
                    cpus,
                    memory_mb: per_cell_mb,
                    mempages: vec![
                        nova_objects::numa::MemPage {
                            size_kb: 4,
                            total: (per_cell_mb - 1024) * 256,
                            ..Default::default()
                        },
                        nova_objects::numa::MemPage {
                            size_kb: 2048,
                            total: 512,
                            ..Default::default()
                        },
                    ],
                }
            })
            .collect();
        self.numa = Some(options.topology(&hypervisor)?);
        Ok(self)
    }

    /// `live_migration` takes this long (`[fake] live_migration_seconds`)
    /// unless forced to complete or aborted.
    pub fn slow_live_migrations(mut self, seconds: u64) -> Self {
        self.live_migration_seconds = seconds;
        self
    }

    /// `pre_live_migration` takes this long (`[fake] pre_live_migration_seconds`).
    pub fn slow_pre_live_migrations(mut self, seconds: u64) -> Self {
        self.pre_live_migration_seconds = seconds;
        self
    }

    /// Live migrations fail: to this host in `pre_live_migration`
    /// (`[fake] fail_pre_live_migration`), from it in `live_migration`
    /// (`[fake] fail_live_migration`).
    pub fn failing_live_migrations(mut self, pre: bool, migrate: bool) -> Self {
        self.fail_pre_live_migration = pre;
        self.fail_live_migration = migrate;
        self
    }

    /// Tell the live migration of `uuid` under way to end (`abort`) or
    /// complete now.
    fn signal_migration(&self, uuid: Uuid, abort: bool) -> Result<(), VirtError> {
        let m = self.migrating.lock().unwrap_or_else(|p| p.into_inner());
        match m.get(&uuid) {
            Some(tx) => tx
                .send(abort)
                .map_err(|_| VirtError::Hypervisor("the live migration has ended".into())),
            None => Err(VirtError::Hypervisor(format!(
                "no live migration of {uuid} is under way"
            ))),
        }
    }

    /// Every spawn fails with a hypervisor error (`[fake] fail_spawn`).
    pub fn failing_spawns(mut self, fail: bool) -> Self {
        self.fail_spawn = fail;
        self
    }

    /// `spawn` takes this long (`[fake] spawn_seconds`).
    pub fn slow_spawns(mut self, seconds: u64) -> Self {
        self.spawn_seconds = seconds;
        self
    }

    /// `finish_migration` takes this long (`[fake] finish_migration_seconds`).
    pub fn slow_migrations(mut self, seconds: u64) -> Self {
        self.finish_migration_seconds = seconds;
        self
    }

    /// `confirm_migration` takes this long (`[fake] confirm_migration_seconds`).
    pub fn slow_confirms(mut self, seconds: u64) -> Self {
        self.confirm_migration_seconds = seconds;
        self
    }

    /// `rescue` and `unrescue` take this long (`[fake] rescue_seconds`).
    pub fn slow_rescues(mut self, seconds: u64) -> Self {
        self.rescue_seconds = seconds;
        self
    }

    /// A soft reboot waits this long for its guest (`[fake] soft_reboot_seconds`).
    pub fn slow_soft_reboots(mut self, seconds: u64) -> Self {
        self.soft_reboot_seconds = seconds;
        self
    }

    async fn rescue_delay(&self) {
        if self.rescue_seconds > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(self.rescue_seconds)).await;
        }
    }

    fn set(&self, instance: &Instance, state: i32) -> Result<(), VirtError> {
        match self.guests().get_mut(&instance.uuid) {
            Some(s) => {
                *s = state;
                Ok(())
            }
            None => Err(VirtError::InstanceNotFound(instance.uuid)),
        }
    }

    fn guests(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, i32>> {
        self.guests.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn rescued(&self) -> std::sync::MutexGuard<'_, std::collections::HashSet<Uuid>> {
        self.rescued.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the guest runs from a rescue disk.
    pub fn is_rescued(&self, uuid: Uuid) -> bool {
        self.rescued().contains(&uuid)
    }
}

#[async_trait]
impl VirtDriver for FakeDriver {
    fn name(&self) -> &'static str {
        "fake.FakeDriver"
    }

    fn needs_host_networking(&self) -> bool {
        false
    }

    fn needs_image_files(&self) -> bool {
        false
    }

    async fn init_host(&self, _host: &str) -> Result<(), VirtError> {
        Ok(())
    }

    async fn nodename(&self) -> Result<String, VirtError> {
        Ok(self.nodename.clone())
    }

    async fn get_available_resource(&self) -> Result<HostResources, VirtError> {
        Ok(HostResources {
            hypervisor_hostname: self.nodename.clone(),
            hypervisor_type: "fake".into(),
            hypervisor_version: 1000,
            cpu_info: "?".into(),
            vcpus: self.numa.as_ref().map_or(1000, |t| {
                t.cells
                    .iter()
                    .map(|c| c.cpuset.union(&c.pcpuset).count() as i64)
                    .sum()
            }),
            memory_mb: FAKE_MEMORY_MB,
            local_gb: 600_000,
            disk_available_least: Some(600_000),
            supported_instances: vec![["x86_64".into(), "fake".into(), "hvm".into()]],
            numa_topology: self.numa.clone(),
        })
    }

    async fn list_instance_uuids(&self) -> Result<Vec<Uuid>, VirtError> {
        Ok(self.guests().keys().copied().collect())
    }

    async fn spawn(
        &self,
        instance: &Instance,
        _image: &ImageMeta,
        _network_info: &NetworkInfo,
        _files: &ImageFiles,
    ) -> Result<(), VirtError> {
        if self.fail_spawn {
            return Err(VirtError::Hypervisor(
                "spawn refused ([fake] fail_spawn is set)".into(),
            ));
        }
        if self.spawn_seconds > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(self.spawn_seconds)).await;
        }
        self.guests().insert(instance.uuid, power_state::RUNNING);
        Ok(())
    }

    async fn destroy(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
    ) -> Result<(), VirtError> {
        self.guests().remove(&instance.uuid);
        self.rescued().remove(&instance.uuid);
        Ok(())
    }

    async fn rescue(
        &self,
        instance: &Instance,
        _image: &ImageMeta,
        _network_info: &NetworkInfo,
        _files: &ImageFiles,
        _rescue_password: &str,
    ) -> Result<(), VirtError> {
        self.rescue_delay().await;
        self.set(instance, power_state::RUNNING)?;
        self.rescued().insert(instance.uuid);
        Ok(())
    }

    async fn unrescue(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
    ) -> Result<(), VirtError> {
        self.rescue_delay().await;
        self.set(instance, power_state::RUNNING)?;
        self.rescued().remove(&instance.uuid);
        Ok(())
    }

    async fn migrate_disk_and_power_off(
        &self,
        instance: &Instance,
        _timeout: u64,
    ) -> Result<String, VirtError> {
        let ps = self
            .guests()
            .remove(&instance.uuid)
            .ok_or(VirtError::InstanceNotFound(instance.uuid))?;
        self.resized
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance.uuid, ps);
        Ok("{}".into())
    }

    async fn finish_migration(
        &self,
        instance: &Instance,
        _image: &ImageMeta,
        _network_info: &NetworkInfo,
        _files: &ImageFiles,
        _disk_info: &str,
        power_on: bool,
    ) -> Result<(), VirtError> {
        if self.finish_migration_seconds > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(
                self.finish_migration_seconds,
            ))
            .await;
        }
        let ps = if power_on {
            power_state::RUNNING
        } else {
            power_state::SHUTDOWN
        };
        self.guests().insert(instance.uuid, ps);
        Ok(())
    }

    async fn confirm_migration(&self, instance: &Instance) -> Result<(), VirtError> {
        if self.confirm_migration_seconds > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(
                self.confirm_migration_seconds,
            ))
            .await;
        }
        self.resized
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&instance.uuid);
        Ok(())
    }

    async fn finish_revert_migration(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
        power_on: bool,
    ) -> Result<(), VirtError> {
        self.resized
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&instance.uuid);
        let ps = if power_on {
            power_state::RUNNING
        } else {
            power_state::SHUTDOWN
        };
        self.guests().insert(instance.uuid, ps);
        Ok(())
    }

    async fn check_can_live_migrate_destination(
        &self,
        _instance: &Instance,
        block_migration: Option<bool>,
    ) -> Result<LiveMigrateData, VirtError> {
        Ok(LiveMigrateData {
            block_migration,
            is_shared_instance_path: Some(false),
            hypervisor_id: Some(self.nodename.clone()),
            ..Default::default()
        })
    }

    /// Nothing is on disk: a block migration or not, as asked (Nova's
    /// fake driver checks nothing either); "auto" is a block migration.
    async fn check_can_live_migrate_source(
        &self,
        instance: &Instance,
        dest_check_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        Ok(LiveMigrateData {
            block_migration: Some(dest_check_data.block_migration.unwrap_or(true)),
            ..dest_check_data
        })
    }

    async fn pre_live_migration(
        &self,
        _instance: &Instance,
        _network_info: &NetworkInfo,
        _files: &ImageFiles,
        migrate_data: LiveMigrateData,
    ) -> Result<LiveMigrateData, VirtError> {
        if self.pre_live_migration_seconds > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(
                self.pre_live_migration_seconds,
            ))
            .await;
        }
        if self.fail_pre_live_migration {
            return Err(VirtError::Hypervisor(
                "the fake destination cannot take the guest ([fake] fail_pre_live_migration)"
                    .into(),
            ));
        }
        Ok(migrate_data)
    }

    async fn live_migration(
        &self,
        instance: &Instance,
        _dest: &str,
        _migrate_data: &LiveMigrateData,
    ) -> Result<(), VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        self.migrating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(instance.uuid, tx);
        let copy = tokio::time::sleep(std::time::Duration::from_secs(self.live_migration_seconds));
        let aborted = tokio::select! {
            _ = copy => false,
            signal = rx.recv() => signal.unwrap_or(false),
        };
        self.migrating
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&instance.uuid);
        if aborted {
            return Err(VirtError::LiveMigrationAborted);
        }
        if self.fail_live_migration {
            return Err(VirtError::Hypervisor(
                "the fake migration stream broke ([fake] fail_live_migration)".into(),
            ));
        }
        // The guest runs on the destination now.
        self.guests().remove(&instance.uuid);
        Ok(())
    }

    async fn live_migration_force_complete(&self, instance: &Instance) -> Result<(), VirtError> {
        self.signal_migration(instance.uuid, false)
    }

    async fn live_migration_abort(&self, instance: &Instance) -> Result<(), VirtError> {
        self.signal_migration(instance.uuid, true)
    }

    async fn post_live_migration_at_source(
        &self,
        _instance: &Instance,
        _migrate_data: &LiveMigrateData,
    ) -> Result<(), VirtError> {
        Ok(())
    }

    /// The guest arrives as it ran on the source (running or paused).
    async fn post_live_migration_at_destination(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
    ) -> Result<(), VirtError> {
        let ps = if instance.power_state == power_state::PAUSED {
            power_state::PAUSED
        } else {
            power_state::RUNNING
        };
        self.guests().insert(instance.uuid, ps);
        Ok(())
    }

    async fn rollback_live_migration_at_destination(
        &self,
        instance: &Instance,
        _network_info: &NetworkInfo,
        _destroy_disks: bool,
    ) -> Result<(), VirtError> {
        self.guests().remove(&instance.uuid);
        Ok(())
    }

    async fn get_info(&self, instance: &Instance) -> Result<InstanceInfo, VirtError> {
        self.guests()
            .get(&instance.uuid)
            .map(|p| InstanceInfo { power_state: *p })
            .ok_or(VirtError::InstanceNotFound(instance.uuid))
    }

    async fn reboot(
        &self,
        instance: &Instance,
        _nw: &NetworkInfo,
        hard: bool,
    ) -> Result<(), VirtError> {
        if !hard && self.soft_reboot_seconds > 0 {
            tokio::time::sleep(std::time::Duration::from_secs(self.soft_reboot_seconds)).await;
        }
        self.set(instance, power_state::RUNNING)
    }

    async fn power_off(&self, instance: &Instance, _timeout: u64) -> Result<(), VirtError> {
        self.set(instance, power_state::SHUTDOWN)
    }

    async fn power_on(&self, instance: &Instance, _nw: &NetworkInfo) -> Result<(), VirtError> {
        self.set(instance, power_state::RUNNING)
    }

    async fn pause(&self, instance: &Instance) -> Result<(), VirtError> {
        self.set(instance, power_state::PAUSED)
    }

    async fn unpause(&self, instance: &Instance) -> Result<(), VirtError> {
        self.set(instance, power_state::RUNNING)
    }

    async fn suspend(&self, instance: &Instance) -> Result<(), VirtError> {
        self.set(instance, power_state::SHUTDOWN)
    }

    async fn resume(&self, instance: &Instance, _nw: &NetworkInfo) -> Result<(), VirtError> {
        self.set(instance, power_state::RUNNING)
    }

    /// An NMI reaches a guest that runs (or is paused), as libvirt's.
    async fn trigger_crash_dump(&self, instance: &Instance) -> Result<(), VirtError> {
        match self.guests().get(&instance.uuid) {
            None => Err(VirtError::InstanceNotFound(instance.uuid)),
            Some(&s) if s == power_state::RUNNING || s == power_state::PAUSED => Ok(()),
            Some(_) => Err(VirtError::InstanceNotRunning(instance.uuid)),
        }
    }

    /// As Nova's fake driver: accepted for any guest it has.
    async fn set_admin_password(
        &self,
        instance: &Instance,
        _password: &str,
    ) -> Result<(), VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        Ok(())
    }

    async fn get_console_output(&self, instance: &Instance) -> Result<String, VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        // Nova's fake output is three lines; a guest's log is longer than
        // the tail of three Tempest asks for elsewhere, and Tempest's
        // unlimited read wants more, so the fake guest also tells what it
        // booted as.
        Ok(format!(
            "FAKE CONSOLE OUTPUT\n\
             fake guest {} ({}) booting\n\
             {} vCPU(s), {} MB RAM, {} GB disk\n\
             ANOTHER\n\
             LAST LINE",
            instance.uuid,
            instance.hostname,
            instance.flavor.vcpus,
            instance.flavor.memory_mb,
            instance.flavor.root_gb
        ))
    }

    async fn get_vnc_port(&self, instance: &Instance) -> Result<Option<i64>, VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        // Nova's fake driver's port: nothing listens there.
        Ok(Some(6969))
    }

    /// The counters of Nova's fake driver.
    async fn get_diagnostics(
        &self,
        instance: &Instance,
    ) -> Result<std::collections::BTreeMap<String, i64>, VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        Ok([
            ("cpu0_time", 17_300_000_000),
            ("memory", 524_288),
            ("vda_errors", -1),
            ("vda_read", 262_144),
            ("vda_read_req", 112),
            ("vda_write", 5_778_432),
            ("vda_write_req", 488),
            ("vnet1_rx", 2_070_139),
            ("vnet1_rx_drop", 0),
            ("vnet1_rx_errors", 0),
            ("vnet1_rx_packets", 26_701),
            ("vnet1_tx", 140_208),
            ("vnet1_tx_drop", 0),
            ("vnet1_tx_errors", 0),
            ("vnet1_tx_packets", 662),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect())
    }

    /// The diagnostics of Nova's fake driver, with the guest's real power state.
    async fn get_instance_diagnostics(
        &self,
        instance: &Instance,
    ) -> Result<nova_objects::Diagnostics, VirtError> {
        use nova_objects::{
            CpuDiagnostics, Diagnostics, DiskDiagnostics, MemoryDiagnostics, NicDiagnostics,
        };
        let state = *self
            .guests()
            .get(&instance.uuid)
            .ok_or(VirtError::InstanceNotFound(instance.uuid))?;
        Ok(Diagnostics {
            state: Some(nova_common::states::power_state::name(state).into()),
            // Nova's `DiagnosticsDriver` has no "fake" (libvirt, xenapi,
            // vmwareapi, ironic, hyperv; Tempest's schema checks it): Nova's
            // fake driver says libvirt, as here.
            driver: Some("libvirt".into()),
            hypervisor: Some("fake".into()),
            hypervisor_os: Some("fake-os".into()),
            uptime: Some(46664),
            config_drive: Some(false),
            cpu_details: vec![CpuDiagnostics {
                id: Some(0),
                time: Some(17_300_000_000),
                utilisation: Some(15),
            }],
            nic_details: vec![NicDiagnostics {
                mac_address: Some("01:23:45:67:89:ab".into()),
                rx_octets: Some(2_070_139),
                rx_errors: Some(100),
                rx_drop: Some(200),
                rx_packets: Some(26_701),
                rx_rate: Some(300),
                tx_octets: Some(140_208),
                tx_errors: Some(400),
                tx_drop: Some(500),
                tx_packets: Some(662),
                tx_rate: Some(600),
            }],
            disk_details: vec![DiskDiagnostics {
                read_bytes: Some(262_144),
                read_requests: Some(112),
                write_bytes: Some(5_778_432),
                write_requests: Some(488),
                errors_count: Some(1),
            }],
            memory_details: Some(MemoryDiagnostics {
                maximum: Some(512),
                used: Some(0),
            }),
        })
    }

    async fn snapshot(&self, instance: &Instance, dest: &std::path::Path) -> Result<(), VirtError> {
        if !self.guests().contains_key(&instance.uuid) {
            return Err(VirtError::InstanceNotFound(instance.uuid));
        }
        tokio::fs::write(dest, empty_qcow2(1 << 30))
            .await
            .map_err(|e| VirtError::Hypervisor(e.to_string()))
    }
}

/// A qcow2 (version 2) header of an empty disk of `size` bytes, padded to
/// 512 bytes: the snapshot is uploaded as qcow2, and Glance inspects the
/// data it receives against the image's disk_format.
fn empty_qcow2(size: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(512);
    h.extend_from_slice(b"QFI\xfb");
    h.extend_from_slice(&2u32.to_be_bytes()); // version
    h.extend_from_slice(&0u64.to_be_bytes()); // backing_file_offset
    h.extend_from_slice(&0u32.to_be_bytes()); // backing_file_size
    h.extend_from_slice(&16u32.to_be_bytes()); // cluster_bits
    h.extend_from_slice(&size.to_be_bytes());
    h.resize(512, 0); // no encryption, L1/refcount tables or snapshots
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fail_spawn_makes_every_spawn_fail() {
        let inst = Instance {
            uuid: Uuid::new_v4(),
            ..Default::default()
        };
        let (image, nw, files) = (
            ImageMeta::default(),
            NetworkInfo::new(),
            ImageFiles::default(),
        );
        let ok = FakeDriver::new("h");
        assert!(ok.spawn(&inst, &image, &nw, &files).await.is_ok());
        assert_eq!(ok.list_instance_uuids().await.unwrap_or_default().len(), 1);
        let failing = FakeDriver::new("h").failing_spawns(true);
        let err = failing.spawn(&inst, &image, &nw, &files).await;
        assert!(matches!(err, Err(VirtError::Hypervisor(m)) if m.contains("fail_spawn")));
        assert!(failing
            .list_instance_uuids()
            .await
            .unwrap_or_default()
            .is_empty());
    }

    #[tokio::test]
    async fn rescue_and_unrescue_track_the_rescued_guest() {
        let inst = Instance {
            uuid: Uuid::new_v4(),
            ..Default::default()
        };
        let (image, nw, files) = (
            ImageMeta::default(),
            NetworkInfo::new(),
            ImageFiles::default(),
        );
        let d = FakeDriver::new("h");
        // No guest: nothing to rescue.
        assert!(d.rescue(&inst, &image, &nw, &files, "pw").await.is_err());
        d.spawn(&inst, &image, &nw, &files).await.unwrap();
        d.power_off(&inst, 0).await.unwrap();
        d.rescue(&inst, &image, &nw, &files, "pw").await.unwrap();
        assert!(d.is_rescued(inst.uuid));
        assert_eq!(
            d.get_info(&inst).await.unwrap().power_state,
            power_state::RUNNING
        );
        d.unrescue(&inst, &nw).await.unwrap();
        assert!(!d.is_rescued(inst.uuid));
        assert_eq!(
            d.get_info(&inst).await.unwrap().power_state,
            power_state::RUNNING
        );
    }
}
