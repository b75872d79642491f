//! Linux bridges, as Nova's `LinuxBridgeInterfaceDriver.ensure_bridge`.

use crate::{execute, LinuxNetError};
use std::path::Path;
use tracing::info;

/// Whether a network device of that name exists on this host.
pub fn device_exists(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && Path::new("/sys/class/net").join(name).exists()
}

/// Make sure `bridge` exists and is up; when `interface` is given, enslave it
/// to the bridge and bring it up. Safe against a concurrent caller creating
/// the same bridge: the bridge existing afterwards is what counts.
pub async fn ensure_bridge(bridge: &str, interface: Option<&str>) -> Result<(), LinuxNetError> {
    if !device_exists(bridge) {
        info!(%bridge, "creating bridge");
        if let Err(e) = execute("ip", ["link", "add", "name", bridge, "type", "bridge"]).await {
            if !device_exists(bridge) {
                return Err(e);
            }
        }
    }
    execute("ip", ["link", "set", bridge, "up"]).await?;
    if let Some(iface) = interface.filter(|i| !i.is_empty()) {
        let master = Path::new("/sys/class/net").join(iface).join("master");
        let enslaved = std::fs::read_link(&master)
            .ok()
            .and_then(|p| p.file_name().map(|n| n == bridge))
            .unwrap_or(false);
        if !enslaved {
            info!(%bridge, %iface, "adding interface to bridge");
            execute("ip", ["link", "set", iface, "master", bridge]).await?;
        }
        execute("ip", ["link", "set", iface, "up"]).await?;
    }
    Ok(())
}

/// Prefix length of a dotted IPv4 netmask (`255.255.255.0` → 24).
pub fn prefix_len(netmask: &str) -> Option<u32> {
    let m: std::net::Ipv4Addr = netmask.parse().ok()?;
    let bits = u32::from(m);
    (bits.leading_ones() + bits.trailing_zeros() == 32).then_some(bits.leading_ones())
}

/// Give `dev` the network's gateway address, `gateway/<prefix>` with its
/// broadcast (Nova's `initialize_gateway_device`): nothing when it has it,
/// and the device's other addresses are left alone.
pub async fn initialize_gateway_device(
    dev: &str,
    gateway: &str,
    netmask: &str,
    broadcast: &str,
) -> Result<(), LinuxNetError> {
    let prefix = prefix_len(netmask).ok_or_else(|| LinuxNetError::Failed {
        cmd: format!("initialize_gateway_device {dev}"),
        status: "invalid".into(),
        stderr: format!("bad netmask {netmask:?}"),
    })?;
    let cidr = format!("{gateway}/{prefix}");
    let shown = execute("ip", ["-4", "-o", "addr", "show", "dev", dev]).await?;
    if shown
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "inet" && w[1] == cidr)
    {
        return Ok(());
    }
    info!(%dev, address = %cidr, "adding the gateway address");
    let mut args = vec!["addr", "add", cidr.as_str()];
    if !broadcast.is_empty() {
        args.extend(["brd", broadcast]);
    }
    args.extend(["dev", dev]);
    execute("ip", args).await?;
    Ok(())
}

/// Remove `bridge` if it exists (nova-network's `remove_bridge`).
pub async fn delete_bridge(bridge: &str) -> Result<(), LinuxNetError> {
    if device_exists(bridge) {
        info!(%bridge, "deleting bridge");
        execute("ip", ["link", "delete", bridge, "type", "bridge"]).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_never_escape_sys_class_net() {
        assert!(device_exists("lo"));
        assert!(!device_exists(""));
        assert!(!device_exists("../../proc"));
        assert!(!device_exists("nova-no-such-dev"));
    }

    #[test]
    fn netmask_prefix_lengths() {
        assert_eq!(prefix_len("255.255.255.0"), Some(24));
        assert_eq!(prefix_len("255.255.252.0"), Some(22));
        assert_eq!(prefix_len("255.255.255.255"), Some(32));
        assert_eq!(prefix_len("255.0.255.0"), None);
        assert_eq!(prefix_len("nope"), None);
    }

    /// Creates and removes a real bridge (the tests run as root, as nova-compute does).
    #[tokio::test]
    async fn ensure_bridge_is_idempotent() {
        let br = format!("nvt{}", std::process::id() % 100_000);
        ensure_bridge(&br, None).await.unwrap();
        assert!(device_exists(&br));
        ensure_bridge(&br, None).await.unwrap();
        initialize_gateway_device(&br, "10.213.77.1", "255.255.255.0", "10.213.77.255")
            .await
            .unwrap();
        execute("ip", ["addr", "add", "192.0.2.9/32", "dev", &br])
            .await
            .unwrap();
        initialize_gateway_device(&br, "10.213.77.1", "255.255.255.0", "10.213.77.255")
            .await
            .unwrap();
        let shown = execute("ip", ["-4", "-o", "addr", "show", "dev", &br])
            .await
            .unwrap();
        assert_eq!(shown.matches("10.213.77.1/24").count(), 1, "{shown}");
        assert!(shown.contains("192.0.2.9/32"), "{shown}");
        delete_bridge(&br).await.unwrap();
        assert!(!device_exists(&br));
        delete_bridge(&br).await.unwrap();
    }
}
