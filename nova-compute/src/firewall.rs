//! Security groups on the hypervisor host, as Nova's `IptablesFirewallDriver`
//! (`nova/virt/firewall.py`): each instance gets a chain `<binary>-inst-<id>`
//! in the filter table, jumped to from the wrapped `local` chain (itself
//! jumped to from `nova-filter-top` at the top of FORWARD and OUTPUT) for
//! each of its fixed IPs. The chain drops invalid packets, accepts
//! established ones, goes through the (empty) provider chain, accepts DHCP
//! from the network's server, the instance's own networks
//! (`allow_same_net_traffic`) and one source per security group rule (a
//! cidr, or each fixed IP of the source group's members), and ends in
//! `sg-fallback`, which drops. Ingress only, IPv4 only.
//!
//! Every change is loaded with one `iptables-restore` per table (atomic), and
//! only this binary's chains are rewritten.

use nova_linux_net::iptables::IptablesManager;
use nova_linux_net::LinuxNetError;
use nova_objects::{Instance, NetworkInfo, SecurityGroupRule};
use std::collections::BTreeMap;
use tokio::sync::Mutex;
use tracing::{debug, info};

/// The instance's chain (Nova's `_instance_chain_name`).
pub fn instance_chain_name(instance_id: i64) -> String {
    format!("inst-{instance_id}")
}

/// The `-p`/port part of a rule (Nova's `_build_tcp_udp_rule` / `_build_icmp_rule`).
fn protocol_args(rule: &SecurityGroupRule) -> Vec<String> {
    let Some(protocol) = rule.protocol.as_deref().map(str::to_lowercase) else {
        return vec![];
    };
    let mut args = vec!["-p".to_string(), protocol.clone()];
    let (from, to) = (rule.from_port.unwrap_or(-1), rule.to_port.unwrap_or(-1));
    match protocol.as_str() {
        "tcp" | "udp" => {
            if from == to {
                args.extend(["--dport".into(), from.to_string()]);
            } else {
                args.extend([
                    "-m".into(),
                    "multiport".into(),
                    "--dports".into(),
                    format!("{from}:{to}"),
                ]);
            }
        }
        "icmp" if from != -1 => {
            let icmp = if to == -1 {
                from.to_string()
            } else {
                format!("{from}/{to}")
            };
            args.extend(["-m".into(), "icmp".into(), "--icmp-type".into(), icmp]);
        }
        _ => {}
    }
    args
}

/// The instance chain's rules, in order (Nova's `instance_rules`, IPv4).
pub fn instance_rules(
    network_info: &NetworkInfo,
    rules: &[SecurityGroupRule],
    allow_same_net_traffic: bool,
) -> Vec<String> {
    let mut out = vec![
        "-m state --state INVALID -j DROP".to_string(),
        "-m state --state ESTABLISHED,RELATED -j ACCEPT".to_string(),
        "-j $provider".to_string(),
    ];
    // DHCP from each network's server (FlatDHCP: the gateway).
    for vif in network_info {
        for subnet in &vif.network.subnets {
            if let Some(gw) = subnet.gateway.as_deref().filter(|g| !g.contains(':')) {
                out.push(format!("-s {gw} -p udp --sport 67 --dport 68 -j ACCEPT"));
            }
        }
    }
    if allow_same_net_traffic {
        for vif in network_info {
            for subnet in &vif.network.subnets {
                if !subnet.cidr.contains(':') {
                    out.push(format!("-s {} -j ACCEPT", subnet.cidr));
                }
            }
        }
    }
    for rule in rules {
        if rule.cidr.as_deref().is_some_and(|c| c.contains(':')) {
            continue; // IPv6: not enforced by this driver (no use_ipv6).
        }
        let mut args = vec!["-j ACCEPT".to_string()];
        args.extend(protocol_args(rule));
        if let Some(cidr) = &rule.cidr {
            args.extend(["-s".into(), cidr.clone()]);
            out.push(args.join(" "));
        } else if let Some(g) = &rule.grantee_group {
            for ip in g.member_ips.iter().filter(|ip| !ip.contains(':')) {
                out.push(format!("{} -s {ip}", args.join(" ")));
            }
        }
    }
    out.push("-j $sg-fallback".into());
    out
}

/// The instance's fixed IPv4 addresses.
fn fixed_ips(network_info: &NetworkInfo) -> Vec<String> {
    network_info
        .iter()
        .flat_map(|vif| &vif.network.subnets)
        .flat_map(|s| &s.ips)
        .filter(|ip| ip.version == 4)
        .map(|ip| ip.address.clone())
        .collect()
}

struct State {
    iptables: IptablesManager,
    /// The filtered instances: id → network info.
    instances: BTreeMap<i64, NetworkInfo>,
}

/// Nova's `IptablesFirewallDriver` over this binary's iptables manager.
pub struct IptablesFirewallDriver {
    state: Mutex<State>,
    allow_same_net_traffic: bool,
}

impl IptablesFirewallDriver {
    pub fn new(binary: &str, allow_same_net_traffic: bool) -> Self {
        let mut iptables = IptablesManager::new(binary);
        iptables.add_chain("filter", "sg-fallback", true);
        iptables.add_rule("filter", "sg-fallback", "-j DROP", true, false);
        // Provider-wide drops (none are defined; the chain is jumped to as Nova does).
        iptables.add_chain("filter", "provider", true);
        IptablesFirewallDriver {
            state: Mutex::new(State {
                iptables,
                instances: BTreeMap::new(),
            }),
            allow_same_net_traffic,
        }
    }

    fn add_filters(
        &self,
        st: &mut State,
        inst: &Instance,
        nw: &NetworkInfo,
        rules: &[SecurityGroupRule],
    ) {
        let chain = instance_chain_name(inst.id);
        st.iptables.remove_chain("filter", &chain, true);
        st.iptables.add_chain("filter", &chain, true);
        for ip in fixed_ips(nw) {
            st.iptables.add_rule(
                "filter",
                "local",
                &format!("-d {ip} -j ${chain}"),
                true,
                false,
            );
        }
        for r in instance_rules(nw, rules, self.allow_same_net_traffic) {
            st.iptables.add_rule("filter", &chain, &r, true, false);
        }
        st.instances.insert(inst.id, nw.clone());
    }

    /// Set up (or replace) the instance's chain and load it (Nova's `prepare_instance_filter`).
    pub async fn prepare_instance_filter(
        &self,
        inst: &Instance,
        nw: &NetworkInfo,
        rules: &[SecurityGroupRule],
    ) -> Result<(), LinuxNetError> {
        let mut st = self.state.lock().await;
        self.add_filters(&mut st, inst, nw, rules);
        st.iptables.apply().await?;
        debug!(instance = %inst.uuid, "filters added to instance");
        Ok(())
    }

    /// Rebuild the chain of an instance this host filters from its current
    /// rules (Nova's `refresh_instance_security_rules`); false if it filters none.
    pub async fn refresh_instance_security_rules(
        &self,
        inst: &Instance,
        rules: &[SecurityGroupRule],
    ) -> Result<bool, LinuxNetError> {
        let mut st = self.state.lock().await;
        let Some(stored) = st.instances.get(&inst.id).cloned() else {
            return Ok(false);
        };
        let nw = if inst.network_info.is_empty() {
            stored
        } else {
            inst.network_info.clone()
        };
        self.add_filters(&mut st, inst, &nw, rules);
        st.iptables.apply().await?;
        info!(instance = %inst.uuid, rules = rules.len(), "security group rules refreshed");
        Ok(true)
    }

    /// Remove the instance's chain and its jumps (Nova's `unfilter_instance`).
    pub async fn unfilter_instance(&self, inst: &Instance) -> Result<(), LinuxNetError> {
        let mut st = self.state.lock().await;
        if st.instances.remove(&inst.id).is_none() {
            debug!(instance = %inst.uuid, "not filtered: nothing to remove");
            return Ok(());
        }
        st.iptables
            .remove_chain("filter", &instance_chain_name(inst.id), true);
        st.iptables.apply().await
    }

    /// The rules of the instance's chain as loaded (for tests and logs).
    #[cfg(test)]
    async fn chain(&self, id: i64) -> Vec<String> {
        let st = self.state.lock().await;
        st.iptables
            .chain_rules("filter", &instance_chain_name(id), true)
    }

    #[cfg(test)]
    async fn local(&self) -> Vec<String> {
        let st = self.state.lock().await;
        st.iptables.chain_rules("filter", "local", true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::{FixedIpInfo, GranteeGroup, NetworkRef, SubnetInfo, Vif};

    fn nw() -> NetworkInfo {
        vec![Vif {
            network: NetworkRef {
                subnets: vec![SubnetInfo {
                    cidr: "10.20.3.0/24".into(),
                    gateway: Some("10.20.3.1".into()),
                    dns: vec![],
                    ips: vec![FixedIpInfo {
                        address: "10.20.3.5".into(),
                        ip_type: "fixed".into(),
                        version: 4,
                        floating_ips: vec![],
                    }],
                }],
                ..Default::default()
            },
            ..Default::default()
        }]
    }

    fn rule(proto: &str, from: i64, to: i64, cidr: Option<&str>) -> SecurityGroupRule {
        SecurityGroupRule {
            protocol: Some(proto.into()),
            from_port: Some(from),
            to_port: Some(to),
            cidr: cidr.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn the_chain_is_novas() {
        let from_group = SecurityGroupRule {
            group_id: Some(4),
            grantee_group: Some(GranteeGroup {
                id: 4,
                member_ips: vec!["10.20.3.7".into(), "10.20.3.8".into()],
                ..Default::default()
            }),
            ..rule("tcp", 1, 65535, None)
        };
        let rules = [
            rule("tcp", 80, 80, Some("0.0.0.0/0")),
            rule("udp", 1000, 2000, Some("192.0.2.0/24")),
            rule("icmp", -1, -1, Some("0.0.0.0/0")),
            rule("icmp", 8, 0, Some("0.0.0.0/0")),
            rule("tcp", 22, 22, Some("2001:db8::/64")),
            from_group,
        ];
        assert_eq!(
            instance_rules(&nw(), &rules, true),
            [
                "-m state --state INVALID -j DROP",
                "-m state --state ESTABLISHED,RELATED -j ACCEPT",
                "-j $provider",
                "-s 10.20.3.1 -p udp --sport 67 --dport 68 -j ACCEPT",
                "-s 10.20.3.0/24 -j ACCEPT",
                "-j ACCEPT -p tcp --dport 80 -s 0.0.0.0/0",
                "-j ACCEPT -p udp -m multiport --dports 1000:2000 -s 192.0.2.0/24",
                "-j ACCEPT -p icmp -s 0.0.0.0/0",
                "-j ACCEPT -p icmp -m icmp --icmp-type 8/0 -s 0.0.0.0/0",
                "-j ACCEPT -p tcp -m multiport --dports 1:65535 -s 10.20.3.7",
                "-j ACCEPT -p tcp -m multiport --dports 1:65535 -s 10.20.3.8",
                "-j $sg-fallback",
            ]
        );
        let without_same_net = instance_rules(&nw(), &[], false);
        assert!(!without_same_net.contains(&"-s 10.20.3.0/24 -j ACCEPT".to_string()));
        assert_eq!(
            without_same_net.last().map(String::as_str),
            Some("-j $sg-fallback")
        );
    }

    #[tokio::test]
    async fn chains_are_wrapped_jumped_to_and_removed() {
        let fw = IptablesFirewallDriver::new("nova-compute", true);
        let inst = Instance {
            id: 42,
            ..Default::default()
        };
        let mut st = fw.state.lock().await;
        fw.add_filters(
            &mut st,
            &inst,
            &nw(),
            &[rule("tcp", 80, 80, Some("0.0.0.0/0"))],
        );
        drop(st);
        assert_eq!(fw.local().await, ["-d 10.20.3.5 -j nova-compute-inst-42"]);
        let chain = fw.chain(42).await;
        assert_eq!(chain[2], "-j nova-compute-provider");
        assert_eq!(
            chain.last().map(String::as_str),
            Some("-j nova-compute-sg-fallback")
        );
        // A refresh replaces the rules instead of adding to them.
        let mut st = fw.state.lock().await;
        fw.add_filters(&mut st, &inst, &nw(), &[]);
        drop(st);
        assert!(!fw.chain(42).await.iter().any(|r| r.contains("--dport 80")));
        assert_eq!(fw.local().await.len(), 1);
        let mut st = fw.state.lock().await;
        st.instances.remove(&42);
        st.iptables.remove_chain("filter", "inst-42", true);
        let text = st
            .iptables
            .modify_table("filter", "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
        drop(st);
        assert!(!text.contains("inst-42"), "{text}");
        assert!(text.contains(":nova-compute-sg-fallback - [0:0]"), "{text}");
        assert!(
            text.contains("-A nova-compute-sg-fallback -j DROP"),
            "{text}"
        );
    }
}
