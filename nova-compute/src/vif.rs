//! VIF plugging for nova-network's bridged networks (Nova's
//! `LibvirtGenericVIFDriver.plug` for bridge VIFs): the bridge a guest's NIC
//! attaches to must exist and be up on this host before the guest starts.

use nova_common::NovaError;
use nova_objects::NetworkInfo;
use nova_virt::VirtDriver;

/// Ensure every VIF's bridge (and its `bridge_interface`) when the driver
/// attaches guests to host devices and the network asks compute to create it.
pub async fn plug_vifs(
    driver: &dyn VirtDriver,
    network_info: &NetworkInfo,
) -> Result<(), NovaError> {
    if !driver.needs_host_networking() {
        return Ok(());
    }
    for vif in network_info {
        let net = &vif.network;
        if net.bridge.is_empty() || !net.should_create_bridge {
            continue;
        }
        nova_linux_net::bridge::ensure_bridge(&net.bridge, net.bridge_interface.as_deref()).await?;
    }
    Ok(())
}
