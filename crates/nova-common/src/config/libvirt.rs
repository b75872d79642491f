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
    }
}
