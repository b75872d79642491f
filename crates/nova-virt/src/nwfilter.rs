//! libvirt nwfilter anti-spoofing, as Nova's `NWFilterFirewall` sets up its
//! basic filtering (`nova/virt/libvirt/firewall.py`): the static filters
//! `nova-base` (libvirt's `no-mac-spoofing`, `no-ip-spoofing`,
//! `no-arp-spoofing`, `nova-no-nd-reflection` and `allow-dhcp-server`),
//! `nova-nodhcp`, `nova-vpn` and `nova-allow-dhcp-server`, and one filter per
//! interface, `nova-instance-<instance name>-<mac without colons>`, that
//! references `nova-base` with the interface's `IP` and `DHCPSERVER` (and
//! `PROJNET`/`PROJMASK` with `allow_same_net_traffic`). The domain's
//! interface names it in a `<filterref>`; libvirt turns it into ebtables rules.

use crate::xml::esc;
use nova_objects::{NetworkInfo, Vif};
use std::net::Ipv4Addr;

/// The name of an interface's filter (Nova's `_instance_filter_name`).
pub fn instance_filter_name(instance_name: &str, mac: &str) -> String {
    format!("nova-instance-{instance_name}-{}", mac.replace(':', ""))
}

/// The prefix of every filter of an instance.
pub fn instance_filter_prefix(instance_name: &str) -> String {
    format!("nova-instance-{instance_name}-")
}

fn container(name: &str, filters: &[&str]) -> String {
    let refs: String = filters
        .iter()
        .map(|f| format!("<filterref filter='{f}'/>"))
        .collect();
    format!("<filter name='{name}' chain='root'>{refs}</filter>")
}

/// The static filters, in the order they must be defined (name, XML without uuid).
pub fn static_filters() -> Vec<(String, String)> {
    let no_nd = "<filter name='nova-no-nd-reflection' chain='ipv6'>\
         <rule action='drop' direction='in'>\
         <mac dstmacaddr='33:33:00:00:00:00' dstmacmask='ff:ff:00:00:00:00' srcmacaddr='$MAC'/>\
         </rule></filter>"
        .to_string();
    let dhcp = "<filter name='nova-allow-dhcp-server' chain='ipv4'>\
         <rule action='accept' direction='out' priority='100'>\
         <udp srcipaddr='0.0.0.0' dstipaddr='255.255.255.255' srcportstart='68' dstportstart='67'/>\
         </rule>\
         <rule action='accept' direction='in' priority='100'>\
         <udp srcipaddr='$DHCPSERVER' srcportstart='67' dstportstart='68'/>\
         </rule></filter>"
        .to_string();
    let mut base = vec![
        "no-mac-spoofing",
        "no-ip-spoofing",
        "no-arp-spoofing",
        "nova-no-nd-reflection",
    ];
    let nodhcp = container("nova-nodhcp", &base);
    base.push("allow-dhcp-server");
    vec![
        ("nova-no-nd-reflection".into(), no_nd),
        ("nova-nodhcp".into(), nodhcp),
        ("nova-base".into(), container("nova-base", &base)),
        (
            "nova-vpn".into(),
            container("nova-vpn", &["allow-dhcp-server"]),
        ),
        ("nova-allow-dhcp-server".into(), dhcp),
    ]
}

/// `10.0.0.0/24` → (`10.0.0.0`, `255.255.255.0`).
fn net_and_mask(cidr: &str) -> Option<(String, String)> {
    let (net, prefix) = cidr.split_once('/')?;
    let net: Ipv4Addr = net.parse().ok()?;
    let prefix: u32 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - prefix)
    };
    Some((net.to_string(), Ipv4Addr::from(mask).to_string()))
}

/// The parameters of an interface's filter (Nova's `_get_instance_filter_parameters`, IPv4).
fn parameters(vif: &Vif, allow_same_net_traffic: bool) -> String {
    let mut p = String::new();
    let param = |p: &mut String, name: &str, value: &str| {
        p.push_str(&format!(
            "<parameter name='{name}' value='{}'/>",
            esc(value)
        ))
    };
    let v4 = vif.network.subnets.iter().filter(|s| !s.cidr.contains(':'));
    for subnet in v4.clone() {
        for ip in subnet.ips.iter().filter(|ip| ip.version == 4) {
            param(&mut p, "IP", &ip.address);
        }
        if let Some(gw) = &subnet.gateway {
            param(&mut p, "DHCPSERVER", gw);
        }
    }
    if allow_same_net_traffic {
        for subnet in v4 {
            if let Some((net, mask)) = net_and_mask(&subnet.cidr) {
                param(&mut p, "PROJNET", &net);
                param(&mut p, "PROJMASK", &mask);
            }
        }
    }
    p
}

/// The filters of an instance's interfaces: (name, XML without uuid).
/// An interface on a subnet with a DHCP server gets `nova-base`, else `nova-nodhcp`.
pub fn instance_filters(
    instance_name: &str,
    network_info: &NetworkInfo,
    allow_same_net_traffic: bool,
) -> Vec<(String, String)> {
    network_info
        .iter()
        .map(|vif| {
            let name = instance_filter_name(instance_name, &vif.address);
            let dhcp = vif.network.subnets.iter().any(|s| s.gateway.is_some());
            let base = if dhcp { "nova-base" } else { "nova-nodhcp" };
            let xml = format!(
                "<filter name='{}' chain='root'><filterref filter='{base}'>{}</filterref></filter>",
                esc(&name),
                parameters(vif, allow_same_net_traffic)
            );
            (name, xml)
        })
        .collect()
}

/// `xml` with `<uuid>` set, so a filter defined again keeps its identity.
pub fn with_uuid(xml: &str, uuid: Option<&str>) -> String {
    match (uuid, xml.find('>')) {
        (Some(u), Some(end)) => {
            format!("{}<uuid>{}</uuid>{}", &xml[..=end], esc(u), &xml[end + 1..])
        }
        _ => xml.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::{FixedIpInfo, NetworkRef, SubnetInfo};

    #[test]
    fn filters_are_novas() {
        let statics = static_filters();
        let names: Vec<&str> = statics.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(
            names,
            [
                "nova-no-nd-reflection",
                "nova-nodhcp",
                "nova-base",
                "nova-vpn",
                "nova-allow-dhcp-server"
            ]
        );
        let base = &statics[2].1;
        for f in [
            "no-mac-spoofing",
            "no-ip-spoofing",
            "no-arp-spoofing",
            "nova-no-nd-reflection",
            "allow-dhcp-server",
        ] {
            assert!(
                base.contains(&format!("<filterref filter='{f}'/>")),
                "{base}"
            );
        }
        let vif = Vif {
            address: "fa:16:3e:00:00:01".into(),
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
        };
        let f = instance_filters("instance-0000002a", &vec![vif], true);
        assert_eq!(f[0].0, "nova-instance-instance-0000002a-fa163e000001");
        assert_eq!(
            f[0].1,
            "<filter name='nova-instance-instance-0000002a-fa163e000001' chain='root'>\
             <filterref filter='nova-base'><parameter name='IP' value='10.20.3.5'/>\
             <parameter name='DHCPSERVER' value='10.20.3.1'/>\
             <parameter name='PROJNET' value='10.20.3.0'/>\
             <parameter name='PROJMASK' value='255.255.255.0'/></filterref></filter>"
        );
        assert_eq!(
            with_uuid("<filter name='x' chain='root'></filter>", Some("u")),
            "<filter name='x' chain='root'><uuid>u</uuid></filter>"
        );
    }
}
