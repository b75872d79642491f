//! Host-wide settings a network host needs (Nova's `linux_net`
//! `_enable_ipv4_forwarding` and `ensure_metadata_ip`): IPv4 forwarding on,
//! and the metadata address `169.254.169.254/32` on `lo`. Both idempotent:
//! nothing is written when the host already has them.

use crate::{execute, LinuxNetError};
use std::path::Path;
use tracing::info;

/// The metadata service's well-known address.
pub const METADATA_IP: &str = "169.254.169.254";

const IP_FORWARD: &str = "/proc/sys/net/ipv4/ip_forward";

/// Whether `net.ipv4.ip_forward` is on.
pub fn ipv4_forwarding() -> bool {
    std::fs::read_to_string(IP_FORWARD).is_ok_and(|v| v.trim() == "1")
}

/// Turn `net.ipv4.ip_forward` on, writing the sysctl only when it is off
/// (Nova's `_enable_ipv4_forwarding`). Returns whether it was written.
pub fn enable_ipv4_forwarding() -> Result<bool, LinuxNetError> {
    if ipv4_forwarding() {
        return Ok(false);
    }
    info!("enabling IPv4 forwarding (net.ipv4.ip_forward = 1)");
    std::fs::write(IP_FORWARD, "1\n").map_err(|source| LinuxNetError::Spawn {
        cmd: format!("write 1 to {IP_FORWARD}"),
        source,
    })?;
    Ok(true)
}

/// Whether `dev` has `address` (an `a.b.c.d/n`) among its IPv4 addresses.
pub async fn has_address(dev: &str, address: &str) -> Result<bool, LinuxNetError> {
    let shown = execute("ip", ["-4", "-o", "addr", "show", "dev", dev]).await?;
    Ok(shown
        .split_whitespace()
        .collect::<Vec<_>>()
        .windows(2)
        .any(|w| w[0] == "inet" && w[1] == address))
}

/// Put `169.254.169.254/32` on `lo` with link scope (Nova's
/// `ensure_metadata_ip`); nothing when it is there. Returns whether it was
/// added.
pub async fn ensure_metadata_ip() -> Result<bool, LinuxNetError> {
    let cidr = format!("{METADATA_IP}/32");
    if has_address("lo", &cidr).await? {
        return Ok(false);
    }
    info!(address = %cidr, "adding the metadata address to lo");
    if let Err(e) = execute("ip", ["addr", "add", &cidr, "scope", "link", "dev", "lo"]).await {
        // Another network host on this machine may have added it meanwhile.
        if !has_address("lo", &cidr).await? {
            return Err(e);
        }
        return Ok(false);
    }
    Ok(true)
}

/// Whether this host runs a network service of that process name (its
/// `/proc/<pid>/comm`), e.g. a deployed `nova-network`.
pub fn process_running(comm: &str) -> bool {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return false;
    };
    dir.flatten().any(|e| {
        e.file_name()
            .to_string_lossy()
            .bytes()
            .all(|b| b.is_ascii_digit())
            && std::fs::read_to_string(Path::new("/proc").join(e.file_name()).join("comm"))
                .is_ok_and(|c| c.trim_end() == comm)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // ensure_metadata_ip is checked by the e2e network_rules test: the
    // address on lo is host-wide, shared with the test clouds running.
    #[tokio::test]
    async fn addresses_of_a_device() {
        assert!(has_address("lo", "127.0.0.1/8").await.unwrap());
        assert!(!has_address("lo", "127.0.0.2/8").await.unwrap());
    }

    #[test]
    fn process_lookup_by_comm() {
        assert!(!process_running("nova-no-such-process"));
        let me = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert!(process_running(me.trim_end()));
    }
}
