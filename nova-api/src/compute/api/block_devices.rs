//! A server create's block device mapping (Nova's `_validate_bdm`, the
//! part of it that does not need Cinder): the boot sequence, the flavor's
//! ephemeral and swap limits, and what this cloud can build.
//!
//! The Compute API and EC2's RunInstances parse their mappings into
//! [`BlockDevice`]s; this decides. A guest here gets its root disk from the
//! image (an `image` → `local` mapping at boot index 0, what OSC sends with
//! `--image`) and the flavor's own ephemeral and swap disks; a blank local
//! mapping that asks for exactly those (`--ephemeral`, `--swap`, EC2's
//! `ephemeral0`, at the flavor's sizes or without one) is accepted, any
//! other blank local disk is refused naming why, as this cloud keeps no
//! per-server mappings to build it from. Volumes and snapshots live in
//! Cinder, which this cloud does not have: a mapping that names one is
//! refused as Nova refuses one Cinder cannot find, and a mapping that would
//! create one (a destination of `volume`) is refused naming why, after
//! Nova's own checks, so that no request is accepted for a disk that would
//! not exist. For the same reason a server has no volume attachments, and
//! attaching, detaching or swapping a volume finds no volume (404
//! VolumeNotFound).

use super::API;
use nova_common::{NovaError, NovaResult};
use nova_objects::{Flavor, Instance};

/// One mapping, as Nova's `BlockDeviceDict` after `from_api`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlockDevice {
    /// `volume`, `image`, `snapshot` or `blank` (None in a legacy mapping).
    pub source_type: Option<String>,
    /// `local` or `volume`.
    pub destination_type: Option<String>,
    /// The volume, snapshot or image the source names.
    pub volume_id: Option<String>,
    pub snapshot_id: Option<String>,
    pub image_id: Option<String>,
    /// None and -1 alike: not bootable.
    pub boot_index: Option<i64>,
    /// GiB (MiB for swap, as Nova's).
    pub volume_size: Option<i64>,
    pub guest_format: Option<String>,
    /// `no_device`: the mapping suppresses a device.
    pub no_device: bool,
}

impl BlockDevice {
    /// A blank local disk: ephemeral, or swap by its guest format.
    fn is_blank_local(&self) -> bool {
        self.source_type.as_deref() == Some("blank")
            && self.destination_type.as_deref() == Some("local")
    }

    fn is_swap(&self) -> bool {
        self.is_blank_local() && self.guest_format.as_deref() == Some("swap")
    }

    fn is_ephemeral(&self) -> bool {
        self.is_blank_local() && !self.is_swap()
    }

    fn boots(&self) -> Option<i64> {
        self.boot_index.filter(|i| *i >= 0)
    }

    /// Nova's `BlockDeviceDict.from_legacy` and `from_legacy_mapping` with
    /// the API's root device name, for a mapping of the legacy kind (the
    /// Compute API's `block_device_mapping`, EC2's `BlockDeviceMapping`)
    /// parsed with its `virtual_name` and `device_name`: a virtual name of
    /// `swap` or `ephemeralN` is a blank local disk, a snapshot or volume
    /// goes to a volume (booting when its device is the root's, `vda`),
    /// `no_device` stays as it is, anything else is not a mapping.
    pub fn from_legacy(
        mut self,
        virtual_name: &str,
        device_name: &str,
        image_given: bool,
    ) -> NovaResult<BlockDevice> {
        let ephemeral = virtual_name.strip_prefix("ephemeral").is_some_and(|n| {
            n == "0"
                || (!n.is_empty() && !n.starts_with('0') && n.bytes().all(|c| c.is_ascii_digit()))
        });
        let given = |id: &Option<String>| id.as_deref().is_some_and(|s| !s.is_empty());
        let (source, destination) = if virtual_name == "swap" || ephemeral {
            self.guest_format = (virtual_name == "swap").then(|| "swap".to_string());
            ("blank", "local")
        } else if given(&self.snapshot_id) {
            ("snapshot", "volume")
        } else if given(&self.volume_id) {
            ("volume", "volume")
        } else if self.no_device {
            return Ok(self);
        } else {
            return Err(NovaError::InvalidBDMFormat {
                details: "Unrecognized legacy format.".into(),
            });
        };
        self.source_type = Some(source.into());
        self.destination_type = Some(destination.into());
        let at_root = device_name.strip_prefix("/dev/").unwrap_or(device_name) == LEGACY_ROOT;
        if destination == "volume" && at_root && image_given {
            return Err(NovaError::InvalidRequest {
                reason: format!(
                    "The volume cannot be assigned the same device name as the root device {LEGACY_ROOT}"
                ),
            });
        }
        self.boot_index = Some(if destination == "volume" && at_root {
            0
        } else {
            -1
        });
        Ok(self)
    }
}

/// The root device name Nova assumes for a legacy mapping.
const LEGACY_ROOT: &str = "vda";

impl API {
    /// Nova's `_validate_bdm` for a create of `flavor`, the image given
    /// (`imageRef`) or not: Ok when the mapping asks for nothing but the
    /// image's root disk and the flavor's own disks.
    pub fn check_block_device_mapping(
        flavor: &Flavor,
        image_given: bool,
        bdms: &[BlockDevice],
    ) -> NovaResult<()> {
        let bdms: Vec<&BlockDevice> = bdms.iter().filter(|b| !b.no_device).collect();
        if bdms.is_empty() {
            return Ok(());
        }
        // The boot indexes count from 0 without a gap; the image given
        // with no mapping at 0 is the root disk at 0.
        let mut order: Vec<i64> = bdms.iter().filter_map(|b| b.boots()).collect();
        if image_given && !order.contains(&0) {
            order.push(0);
        }
        order.sort_unstable();
        if order.is_empty() || order.iter().enumerate().any(|(i, b)| *b != i as i64) {
            return Err(NovaError::InvalidBDMBootSequence {});
        }
        // What Cinder would be asked for, and would not have.
        for b in &bdms {
            if let Some(id) = &b.snapshot_id {
                return Err(NovaError::InvalidBDMSnapshot { id: id.clone() });
            }
            if let Some(id) = &b.volume_id {
                return Err(NovaError::InvalidBDMVolume { id: id.clone() });
            }
        }
        let ephemeral: i64 = bdms
            .iter()
            .filter(|b| b.is_ephemeral())
            .map(|b| b.volume_size.unwrap_or(flavor.ephemeral_gb))
            .sum();
        if ephemeral > flavor.ephemeral_gb {
            return Err(NovaError::InvalidBDMEphemeralSize {});
        }
        let swaps: Vec<&&BlockDevice> = bdms.iter().filter(|b| b.is_swap()).collect();
        if swaps.len() > 1 {
            return Err(NovaError::InvalidBDMFormat {
                details: "More than one swap drive requested.".into(),
            });
        }
        if swaps
            .first()
            .is_some_and(|s| s.volume_size.unwrap_or(0) > flavor.swap)
        {
            return Err(NovaError::InvalidBDMSwapSize {});
        }
        for b in &bdms {
            if b.destination_type.as_deref() == Some("volume") {
                return Err(NovaError::InvalidBDMFormat {
                    details: "a volume cannot be created: this cloud has no Block Storage \
                              service (Cinder)."
                        .into(),
                });
            }
            if b.source_type.is_none() {
                return Err(NovaError::InvalidBDMFormat {
                    details: "Some fields are invalid.".into(),
                });
            }
        }
        if let Some(why) = not_the_flavors_own(flavor, &bdms) {
            return Err(NovaError::InvalidBDMFormat {
                details: format!(
                    "{why}: this cloud's compute driver makes the flavor's own ephemeral disk \
                     ({} GiB) and swap ({} MiB) and no other blank local disk.",
                    flavor.ephemeral_gb, flavor.swap
                ),
            });
        }
        Ok(())
    }
}

/// Why the blank local disks asked for are not the flavor's own disks, the
/// ones every server of the flavor gets (Nova's `_volume_size`: a blank
/// disk without a size has the flavor's): at most one ephemeral disk of
/// the flavor's ephemeral size, with the file system this cloud chooses,
/// and swap of the flavor's swap size.
fn not_the_flavors_own(flavor: &Flavor, bdms: &[&BlockDevice]) -> Option<String> {
    let ephemerals: Vec<&&BlockDevice> = bdms.iter().filter(|b| b.is_ephemeral()).collect();
    if ephemerals.len() > 1 {
        return Some(format!(
            "{} ephemeral disks were requested",
            ephemerals.len()
        ));
    }
    if let Some(e) = ephemerals.first() {
        let size = e.volume_size.unwrap_or(flavor.ephemeral_gb);
        if size != flavor.ephemeral_gb || size == 0 {
            return Some(format!("an ephemeral disk of {size} GiB was requested"));
        }
        if let Some(fs) = &e.guest_format {
            return Some(format!("an ephemeral disk formatted {fs} was requested"));
        }
    }
    if let Some(s) = bdms.iter().find(|b| b.is_swap()) {
        let size = s.volume_size.unwrap_or(flavor.swap);
        if size != flavor.swap || size == 0 {
            return Some(format!("swap of {size} MiB was requested"));
        }
    }
    None
}

impl API {
    /// The volumes attached to `inst` (Nova's block device mappings with a
    /// volume): none, as no volume exists without Cinder.
    pub fn volume_attachments(&self, inst: &Instance) -> Vec<String> {
        let _ = inst;
        Vec::new()
    }

    /// Nova's `attach_volume`, `detach_volume` and `swap_volume` begin by
    /// asking Cinder for the volume: here there is none to find, so what
    /// follows in them never runs.
    pub fn volume_get(&self, volume_id: &str) -> NovaResult<std::convert::Infallible> {
        Err(NovaError::VolumeNotFound {
            volume_id: volume_id.into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor() -> Flavor {
        Flavor {
            ephemeral_gb: 2,
            swap: 512,
            ..Default::default()
        }
    }

    fn image_root() -> BlockDevice {
        BlockDevice {
            source_type: Some("image".into()),
            destination_type: Some("local".into()),
            image_id: Some("img".into()),
            boot_index: Some(0),
            ..Default::default()
        }
    }

    fn blank(size: Option<i64>, format: Option<&str>) -> BlockDevice {
        BlockDevice {
            source_type: Some("blank".into()),
            destination_type: Some("local".into()),
            volume_size: size,
            guest_format: format.map(str::to_string),
            boot_index: Some(-1),
            ..Default::default()
        }
    }

    fn check(image_given: bool, bdms: &[BlockDevice]) -> NovaResult<()> {
        API::check_block_device_mapping(&flavor(), image_given, bdms)
    }

    #[test]
    fn the_image_root_disk_is_all_that_is_built() {
        assert_eq!(check(false, &[image_root()]), Ok(()));
        assert_eq!(check(true, &[image_root()]), Ok(()));
        assert_eq!(check(true, &[]), Ok(()));
        let none = BlockDevice {
            no_device: true,
            ..Default::default()
        };
        assert_eq!(check(true, &[none]), Ok(()));
    }

    #[test]
    fn boot_indexes_count_from_zero_without_a_gap() {
        let mut second = image_root();
        second.boot_index = Some(2);
        assert_eq!(
            check(false, &[image_root(), second.clone()]),
            Err(NovaError::InvalidBDMBootSequence {})
        );
        second.boot_index = Some(1);
        assert_eq!(
            check(false, &[second]),
            Err(NovaError::InvalidBDMBootSequence {})
        );
        assert_eq!(
            check(false, &[blank(None, None)]),
            Err(NovaError::InvalidBDMBootSequence {})
        );
    }

    #[test]
    fn volumes_and_snapshots_are_not_found() {
        let vol = BlockDevice {
            source_type: Some("volume".into()),
            destination_type: Some("volume".into()),
            volume_id: Some("v1".into()),
            boot_index: Some(0),
            ..Default::default()
        };
        assert_eq!(
            check(false, &[vol]),
            Err(NovaError::InvalidBDMVolume { id: "v1".into() })
        );
        let snap = BlockDevice {
            source_type: Some("snapshot".into()),
            destination_type: Some("volume".into()),
            snapshot_id: Some("s1".into()),
            boot_index: Some(0),
            ..Default::default()
        };
        assert_eq!(
            check(false, &[snap]),
            Err(NovaError::InvalidBDMSnapshot { id: "s1".into() })
        );
        let mut to_volume = image_root();
        to_volume.destination_type = Some("volume".into());
        assert!(matches!(
            check(false, &[to_volume]),
            Err(NovaError::InvalidBDMFormat { details }) if details.contains("Cinder")
        ));
    }

    #[test]
    fn ephemeral_and_swap_are_checked_against_the_flavor_first() {
        assert_eq!(
            check(true, &[blank(Some(2), None), blank(Some(1), None)]),
            Err(NovaError::InvalidBDMEphemeralSize {})
        );
        // No size: the flavor's, so a second one is too much.
        assert_eq!(
            check(true, &[blank(None, None), blank(None, None)]),
            Err(NovaError::InvalidBDMEphemeralSize {})
        );
        assert_eq!(
            check(true, &[blank(Some(1024), Some("swap"))]),
            Err(NovaError::InvalidBDMSwapSize {})
        );
        assert!(matches!(
            check(true, &[blank(Some(1), Some("swap")), blank(Some(1), Some("swap"))]),
            Err(NovaError::InvalidBDMFormat { details }) if details == "More than one swap drive requested."
        ));
        // Within the flavor but not its own disks: refused, naming why.
        for (other, why) in [
            (
                vec![blank(Some(1), None)],
                "an ephemeral disk of 1 GiB was requested",
            ),
            (
                vec![blank(Some(1), None), blank(Some(1), None)],
                "2 ephemeral disks were requested",
            ),
            (
                vec![blank(None, Some("ext3"))],
                "an ephemeral disk formatted ext3 was requested",
            ),
            (
                vec![blank(Some(256), Some("swap"))],
                "swap of 256 MiB was requested",
            ),
        ] {
            assert!(
                matches!(
                    check(true, &other),
                    Err(NovaError::InvalidBDMFormat { details })
                        if details.starts_with(why) && details.ends_with("own ephemeral disk (2 GiB) and swap (512 MiB) and no other blank local disk.")
                ),
                "{other:?}"
            );
        }
    }

    #[test]
    fn the_flavors_own_disks_may_be_asked_for() {
        for own in [
            vec![blank(Some(2), None)],
            vec![blank(None, None), blank(None, Some("swap"))],
            vec![
                image_root(),
                blank(Some(512), Some("swap")),
                blank(Some(2), None),
            ],
        ] {
            assert_eq!(check(true, &own), Ok(()), "{own:?}");
        }
        // A flavor without them gives none to ask for.
        let bare = Flavor::default();
        for none in [blank(None, None), blank(None, Some("swap"))] {
            assert!(matches!(
                API::check_block_device_mapping(&bare, true, &[none]),
                Err(NovaError::InvalidBDMFormat { details }) if details.contains("of 0 ")
            ));
        }
    }
}
