//! `[libvirt]`. An empty `connection_uri` is derived from `virt_type` by the
//! libvirt driver (nova-virt), as Nova does.

use super::opt::{at_least, choice, config_section, string};

config_section! {
    /// `[libvirt]`.
    pub struct LibvirtSection in "libvirt" {
        /// Libvirt domain type.
        virt_type: String = "kvm", choice(&["kvm", "lxc", "qemu", "parallels"]);
        /// Libvirt connection URI; empty means derived from virt_type.
        connection_uri: String = "", string();
        /// Seconds to wait for a soft reboot before a hard one.
        wait_soft_reboot_seconds: u64 = "120", at_least(0);
        /// Image to rescue with when the rescue request names none and the instance's image cannot be used (empty: the instance's image).
        rescue_image_id: String = "", string();
        /// Kernel image of rescue guests (empty: the instance's kernel, if any).
        rescue_kernel_id: String = "", string();
        /// Ramdisk image of rescue guests (empty: the instance's ramdisk, if any).
        rescue_ramdisk_id: String = "", string();
        /// Scheme of the destination's libvirt URI a live migration connects to (`qemu+<scheme>://<host>/system`); empty: tcp.
        live_migration_scheme: String = "", string();
        /// The address other hosts send live migrations to (the migration stream's target); empty: this host's name.
        live_migration_inbound_addr: String = "", string();
        /// Deprecated: the destination's libvirt URI as a template, `%s` the destination host (overrides live_migration_scheme).
        live_migration_uri: String = "", string();
        /// Maximum bandwidth of a live migration in MiB/s (0: libvirt's choice).
        live_migration_bandwidth: u64 = "0", at_least(0);
        /// Seconds a live migration may take per GiB of RAM and disk it copies before it is aborted (0: no limit).
        live_migration_completion_timeout: u64 = "800", at_least(0);
    }
}
