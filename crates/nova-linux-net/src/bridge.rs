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

    /// Creates and removes a real bridge (the tests run as root, as nova-compute does).
    #[tokio::test]
    async fn ensure_bridge_is_idempotent() {
        let br = format!("nvt{}", std::process::id() % 100_000);
        ensure_bridge(&br, None).await.unwrap();
        assert!(device_exists(&br));
        ensure_bridge(&br, None).await.unwrap();
        delete_bridge(&br).await.unwrap();
        assert!(!device_exists(&br));
        delete_bridge(&br).await.unwrap();
    }
}
