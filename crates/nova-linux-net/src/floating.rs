//! Floating IPs on the network host, as Nova's `LinuxNetL3` driver does
//! them: the address as a `/32` on the public interface
//! (`bind_floating_ip`), and the nat rules of `floating_forward_rules`:
//! DNAT of the floating address to the fixed one in PREROUTING and OUTPUT,
//! SNAT of the fixed address to the floating one in `float-snat`, and SNAT
//! of DNATed replies in POSTROUTING. Removing it also clears the fixed
//! address's conntrack entries (`clean_conntrack`), so an established flow
//! does not outlive the association.

use crate::iptables::IptablesManager;
use crate::{execute, LinuxNetError};
use tracing::{info, warn};

/// Nova's `floating_forward_rules`: (wrapped nat chain, rule).
pub fn floating_forward_rules(
    floating_ip: &str,
    fixed_ip: &str,
    device: Option<&str>,
) -> Vec<(&'static str, String)> {
    let mut rules = Vec::new();
    let snat = format!("-s {fixed_ip}/32 -j SNAT --to-source {floating_ip}");
    match device.filter(|d| !d.is_empty()) {
        Some(dev) => {
            rules.push(("float-snat", format!("{snat} -d {fixed_ip}/32")));
            rules.push(("float-snat", format!("{snat} -o {dev}")));
        }
        None => rules.push(("float-snat", snat)),
    }
    let dnat = format!("-d {floating_ip}/32 -j DNAT --to-destination {fixed_ip}");
    rules.push(("PREROUTING", dnat.clone()));
    rules.push(("OUTPUT", dnat));
    rules.push((
        "POSTROUTING",
        format!("-s {fixed_ip}/32 -m conntrack --ctstate DNAT -j SNAT --to-source {floating_ip}"),
    ));
    rules
}

/// Add the floating IP's nat rules to the manager (Nova's
/// `ensure_floating_forward`), first dropping any rule of ours that names
/// the floating address, so a floating IP never forwards to two addresses.
/// The caller applies.
pub fn ensure_floating_forward(
    m: &mut IptablesManager,
    floating_ip: &str,
    fixed_ip: &str,
    device: Option<&str>,
) {
    let removed = m.remove_rules_naming("nat", floating_ip);
    if removed > 0 {
        warn!(
            floating = floating_ip,
            removed, "removed duplicate rules for floating IP"
        );
    }
    for (chain, rule) in floating_forward_rules(floating_ip, fixed_ip, device) {
        m.add_rule("nat", chain, &rule, true, false);
    }
}

/// Remove the floating IP's nat rules (Nova's `remove_floating_forward`).
/// The caller applies.
pub fn remove_floating_forward(
    m: &mut IptablesManager,
    floating_ip: &str,
    fixed_ip: &str,
    device: Option<&str>,
) {
    for (chain, rule) in floating_forward_rules(floating_ip, fixed_ip, device) {
        m.remove_rule("nat", chain, &rule, true);
    }
}

/// Whether `ip addr` failed because the address is there already (add) or
/// not there (del): exit status 2 with RTNETLINK's message, which Nova
/// accepts as success.
fn is_benign(e: &LinuxNetError) -> bool {
    match e {
        LinuxNetError::Failed { stderr, .. } => {
            stderr.contains("File exists")
                || stderr.contains("Cannot assign requested address")
                || stderr.contains("Address not found")
        }
        _ => false,
    }
}

/// `ip addr add <floating>/32 dev <device>` (Nova's `bind_floating_ip`).
/// A missing device is reported as such: Nova's `NoFloatingIpInterface`.
pub async fn bind_floating_ip(floating_ip: &str, device: &str) -> Result<(), LinuxNetError> {
    let addr = format!("{floating_ip}/32");
    match execute("ip", ["addr", "add", addr.as_str(), "dev", device]).await {
        Ok(_) => {
            info!(floating = floating_ip, %device, "floating IP bound");
            Ok(())
        }
        Err(e) if is_benign(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// `ip addr del <floating>/32 dev <device>` (Nova's `unbind_floating_ip`).
pub async fn unbind_floating_ip(floating_ip: &str, device: &str) -> Result<(), LinuxNetError> {
    let addr = format!("{floating_ip}/32");
    match execute("ip", ["addr", "del", addr.as_str(), "dev", device]).await {
        Ok(_) => {
            info!(floating = floating_ip, %device, "floating IP unbound");
            Ok(())
        }
        Err(e) if is_benign(&e) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Drop the conntrack entries whose reply source is the fixed address
/// (Nova's `clean_conntrack`, `conntrack -D -r <fixed>`): status 1 means
/// there were none. Without the `conntrack` tool this is logged and skipped.
pub async fn clean_conntrack(fixed_ip: &str) {
    match execute("conntrack", ["-D", "-r", fixed_ip]).await {
        Ok(_) => {}
        Err(LinuxNetError::Failed { status, .. }) if status.contains("exit status: 1") => {}
        Err(e) => warn!(fixed = fixed_ip, "cannot clean conntrack entries: {e}"),
    }
}

/// Whether the error says the interface does not exist.
pub fn is_missing_device(e: &LinuxNetError) -> bool {
    match e {
        LinuxNetError::Failed { stderr, .. } => {
            stderr.contains("Cannot find device") || stderr.contains("does not exist")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_novas() {
        let r = floating_forward_rules("172.24.4.10", "10.0.0.3", Some("eth1"));
        let want = [
            (
                "float-snat",
                "-s 10.0.0.3/32 -j SNAT --to-source 172.24.4.10 -d 10.0.0.3/32",
            ),
            (
                "float-snat",
                "-s 10.0.0.3/32 -j SNAT --to-source 172.24.4.10 -o eth1",
            ),
            (
                "PREROUTING",
                "-d 172.24.4.10/32 -j DNAT --to-destination 10.0.0.3",
            ),
            (
                "OUTPUT",
                "-d 172.24.4.10/32 -j DNAT --to-destination 10.0.0.3",
            ),
            (
                "POSTROUTING",
                "-s 10.0.0.3/32 -m conntrack --ctstate DNAT -j SNAT --to-source 172.24.4.10",
            ),
        ];
        assert_eq!(r.len(), want.len());
        for ((c, rule), (wc, wr)) in r.iter().zip(want) {
            assert_eq!((*c, rule.as_str()), (wc, wr));
        }
        let r = floating_forward_rules("172.24.4.10", "10.0.0.3", None);
        assert_eq!(r[0].1, "-s 10.0.0.3/32 -j SNAT --to-source 172.24.4.10");
        assert_eq!(r.len(), 4);
    }

    #[test]
    fn a_floating_ip_forwards_to_one_address_and_goes_away_whole() {
        let mut m = IptablesManager::new("nova-network");
        let empty = m.modify_table("nat", "");
        ensure_floating_forward(&mut m, "172.24.4.10", "10.0.0.3", Some("eth1"));
        // Re-associated elsewhere: the old rules go.
        ensure_floating_forward(&mut m, "172.24.4.10", "10.0.0.4", Some("eth1"));
        let nat = m.modify_table("nat", "");
        assert!(
            nat.contains(
                "-A nova-network-PREROUTING -d 172.24.4.10/32 -j DNAT --to-destination 10.0.0.4"
            ),
            "{nat}"
        );
        assert!(
            nat.contains(
                "-A nova-network-float-snat -s 10.0.0.4/32 -j SNAT --to-source 172.24.4.10 -o eth1"
            ),
            "{nat}"
        );
        assert!(!nat.contains("10.0.0.3"), "{nat}");
        // A similar address is not touched.
        ensure_floating_forward(&mut m, "172.24.4.1", "10.0.0.5", None);
        let nat = m.modify_table("nat", "");
        assert!(nat.contains("10.0.0.4"), "{nat}");
        remove_floating_forward(&mut m, "172.24.4.10", "10.0.0.4", Some("eth1"));
        remove_floating_forward(&mut m, "172.24.4.1", "10.0.0.5", None);
        assert_eq!(m.modify_table("nat", ""), empty);
    }
}
