//! Device role tagging (Nova's `nova.objects.virt_device_metadata`): which
//! of a guest's devices a user's tag names, and where the hypervisor put
//! it, so that the guest can find "the NIC tagged `storage`" by its bus
//! address in its metadata.
//!
//! A tag is given with a network of the server create request (2.32–2.36
//! and from 2.42) and kept on the virtual interface; once the guest is
//! defined, the compute host matches the hypervisor's interfaces to the
//! tagged VIFs ([`InstanceDeviceMetadata::of_interfaces`]) and saves the
//! result as `instance_extra.device_metadata`, which the metadata service
//! and the config drive render. Block devices are not tagged here: every
//! disk is the image's, and Nova tags only those of block device mappings.

use crate::VirtualInterface;
use serde::{Deserialize, Serialize};

nova_common::string_enum!(
    /// The bus a device is on (Nova's `DeviceBus` subclasses), by the name
    /// the metadata service gives it.
    BusKind {
        Pci => "pci",
        Usb => "usb",
        Scsi => "scsi",
        Ide => "ide",
    }
);

/// A device's bus and, when the hypervisor gave one, its address there
/// (`0000:00:03.0` on PCI).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceBus {
    pub kind: BusKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
}

/// One interface of a defined guest as the hypervisor placed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GuestInterface {
    pub mac: String,
    pub bus: Option<DeviceBus>,
}

/// Nova's `NetworkInterfaceMetadata`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NicMetadata {
    pub mac: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bus: Option<DeviceBus>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The VLAN the guest must tag its frames with (SR-IOV only: never set
    /// by nova-network, whose VLANs are the host's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vlan: Option<u16>,
    /// A trusted SR-IOV virtual function (never, without SR-IOV).
    #[serde(default)]
    pub vf_trusted: bool,
}

/// One tagged device (Nova's `DeviceMetadata` subclasses).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum DeviceMetadata {
    Nic(NicMetadata),
}

/// `instance_extra.device_metadata` (Nova's `InstanceDeviceMetadata`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceDeviceMetadata {
    pub devices: Vec<DeviceMetadata>,
}

impl InstanceDeviceMetadata {
    /// Nova's libvirt `_build_device_metadata` for interfaces: each of the
    /// guest's interfaces, in its device order, whose VIF (by MAC) carries
    /// a tag; `None` when none does.
    pub fn of_interfaces(interfaces: &[GuestInterface], vifs: &[VirtualInterface]) -> Option<Self> {
        let devices: Vec<DeviceMetadata> = interfaces
            .iter()
            .filter_map(|i| {
                let tag = vifs
                    .iter()
                    .find(|v| v.address.eq_ignore_ascii_case(&i.mac))?
                    .tag
                    .clone()
                    .filter(|t| !t.is_empty())?;
                Some(DeviceMetadata::Nic(NicMetadata {
                    mac: i.mac.clone(),
                    bus: i.bus.clone(),
                    tags: vec![tag],
                    vlan: None,
                    vf_trusted: false,
                }))
            })
            .collect();
        (!devices.is_empty()).then_some(InstanceDeviceMetadata { devices })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn vif(mac: &str, tag: Option<&str>) -> VirtualInterface {
        VirtualInterface {
            address: mac.into(),
            tag: tag.map(str::to_string),
            instance_uuid: Uuid::nil(),
            uuid: Uuid::nil(),
            id: 0,
            network_id: 0,
        }
    }

    fn pci(mac: &str, address: &str) -> GuestInterface {
        GuestInterface {
            mac: mac.into(),
            bus: Some(DeviceBus {
                kind: BusKind::Pci,
                address: Some(address.into()),
            }),
        }
    }

    #[test]
    fn only_tagged_interfaces_in_the_guests_order() {
        let ifaces = [
            pci("fa:16:3e:00:00:02", "0000:00:04.0"),
            pci("fa:16:3e:00:00:01", "0000:00:03.0"),
            pci("fa:16:3e:00:00:03", "0000:00:05.0"),
        ];
        let vifs = [
            vif("fa:16:3e:00:00:01", Some("first")),
            vif("FA:16:3E:00:00:02", Some("second")),
            vif("fa:16:3e:00:00:03", None),
        ];
        let md = InstanceDeviceMetadata::of_interfaces(&ifaces, &vifs).unwrap();
        let tags: Vec<(&str, &str)> = md
            .devices
            .iter()
            .map(|DeviceMetadata::Nic(n)| {
                let address = n.bus.as_ref().and_then(|b| b.address.as_deref());
                (n.tags[0].as_str(), address.unwrap())
            })
            .collect();
        assert_eq!(
            tags,
            [("second", "0000:00:04.0"), ("first", "0000:00:03.0")]
        );
        assert_eq!(
            serde_json::to_value(&md.devices[1]).unwrap(),
            serde_json::json!({"type": "nic", "mac": "fa:16:3e:00:00:01",
                "bus": {"kind": "pci", "address": "0000:00:03.0"},
                "tags": ["first"], "vf_trusted": false})
        );
        let back: InstanceDeviceMetadata =
            serde_json::from_value(serde_json::to_value(&md).unwrap()).unwrap();
        assert_eq!(back, md);
    }

    #[test]
    fn no_tagged_interface_no_device_metadata() {
        let ifaces = [pci("fa:16:3e:00:00:01", "0000:00:03.0")];
        assert_eq!(
            InstanceDeviceMetadata::of_interfaces(&ifaces, &[vif("fa:16:3e:00:00:01", None)]),
            None
        );
        assert_eq!(
            InstanceDeviceMetadata::of_interfaces(&ifaces, &[vif("fa:16:3e:00:00:09", Some("x"))]),
            None
        );
    }
}
