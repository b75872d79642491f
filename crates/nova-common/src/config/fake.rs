//! `[fake]`: knobs of `compute_driver = fake.FakeDriver`, for tests. Not in
//! Nova, whose functional tests stub the fake driver in-process instead.

use super::opt::{at_least, boolean, config_section};

config_section! {
    /// `[fake]`.
    pub struct FakeSection in "fake" {
        /// Make every spawn of the fake driver fail (a hypervisor error), so that
        /// builds on this compute host are rescheduled or end in ERROR. For tests.
        fail_spawn: bool = "false", boolean();
        /// Seconds the fake driver takes to spawn a guest, as a real image
        /// download and boot do: long enough for a test to act while a build
        /// is SPAWNING. For tests.
        spawn_seconds: u64 = "0", at_least(0);
        /// Seconds the fake driver takes to finish a migration on the
        /// destination (`finish_migration`), as a real disk copy does: long
        /// enough for a test to stop nova-compute in the middle. For tests.
        finish_migration_seconds: u64 = "0", at_least(0);
        /// Seconds the fake driver takes to confirm a migration on the
        /// source (`confirm_migration`), as removing a real kept disk does:
        /// long enough for a test to stop nova-compute in the middle. For
        /// tests.
        confirm_migration_seconds: u64 = "0", at_least(0);
        /// Seconds the fake driver takes to rescue or unrescue a guest, as
        /// a real rescue's image download and reboot do: long enough for a
        /// test to stop nova-compute in the middle. For tests.
        rescue_seconds: u64 = "0", at_least(0);
        /// Seconds the fake driver's soft reboot waits for its guest, as a
        /// real one waits for a guest that ignores the ACPI request (up to
        /// `[libvirt] wait_soft_reboot_seconds`): long enough for a test to
        /// ask a hard reboot meanwhile. For tests.
        soft_reboot_seconds: u64 = "0", at_least(0);
        /// Seconds the fake driver takes to live-migrate a guest, as a
        /// real memory copy does: long enough for a test to force it to
        /// complete or abort it. For tests.
        live_migration_seconds: u64 = "0", at_least(0);
        /// Make every live migration this host is the destination of fail
        /// in `pre_live_migration` (a hypervisor error). For tests.
        fail_pre_live_migration: bool = "false", boolean();
        /// Seconds the fake driver takes to prepare for a live migration
        /// (`pre_live_migration`, as a real image download does): long
        /// enough for a test to stop nova-conductor in the middle. For tests.
        pre_live_migration_seconds: u64 = "0", at_least(0);
        /// Make every live migration from this host fail in the hypervisor
        /// once `live_migration_seconds` have passed. For tests.
        fail_live_migration: bool = "false", boolean();
        /// NUMA cells the fake hypervisor reports (0: none, as Nova's
        /// FakeDriver; guests asking for a NUMA topology or pinning then find
        /// no host). With cells, it reports `numa_cpus_per_cell` CPUs per cell
        /// (no hyperthreads) instead of its 1000 vCPUs, its memory split
        /// between them, each with 4 KiB pages and 512 pages of 2 MiB.
        /// `[compute] cpu_shared_set`/`cpu_dedicated_set` apply. For tests.
        numa_cells: u32 = "0", at_least(0);
        /// CPUs of each fake NUMA cell (see `numa_cells`). For tests.
        numa_cpus_per_cell: u32 = "4", at_least(1);
    }
}
