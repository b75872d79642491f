//! nova-network's iptables rules on the host (Nova's `linux_net`): the
//! fixed range's SNAT to `routing_source_ip` out of `public_interface`, the
//! metadata host/`dmz_cidr`/in-range exceptions, the 169.254.169.254:80
//! forward of this cloud's bridge only, the metadata accept, the bridge's
//! FORWARD and dnsmasq rules. Each test cloud runs nova-network as its own
//! program name (`e2e<id>-net`), so its chains are its own; they are put
//! back by a restarted nova-network, unchanged by an instance's life, and
//! gone with the cloud, shared chains included when no one else uses them.

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, compute_hosts, fixed_range, host_net, iptables_binary_name, Cloud};
use reqwest::Method;
use serde_json::json;
use std::process::Command;

fn save() -> String {
    let out = Command::new("iptables-save").output().unwrap();
    assert!(out.status.success());
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// This cloud's nova-network rules, as iptables-save prints them, sorted.
fn rules_of(binary: &str) -> Vec<String> {
    let mut v: Vec<String> = save()
        .lines()
        .filter(|l| l.contains(&format!("{binary}-")))
        .map(str::to_string)
        .collect();
    v.sort();
    v
}

fn has(rules: &[String], needle: &str) -> bool {
    rules.iter().any(|l| l.contains(needle))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nova_network_rules_are_applied_restored_and_removed() {
    let forward_before = nova_linux_net::host::ipv4_forwarding();
    let meta_ip_before = host_net::lo_has_metadata_ip();
    let mut cloud = Cloud::start_with(compute_hosts, false).await;
    let net = iptables_binary_name(&cloud.id, None);
    let bridge = bridge_name(&cloud.id);
    let range = fixed_range(&cloud.id);
    let meta_port = cloud.metadata.rsplit(':').next().unwrap().to_string();
    let rules = cloud
        .wait_for("nova-network's iptables rules", 60, || async {
            let r = rules_of(&net);
            has(&r, "SNAT").then_some(r)
        })
        .await;
    // Nova's init_host: the host forwards and answers 169.254.169.254.
    assert!(nova_linux_net::host::ipv4_forwarding(), "ip_forward is on");
    assert!(host_net::lo_has_metadata_ip(), "169.254.169.254/32 on lo");
    let all = rules.join("\n");
    for needle in [
        // Nova's chains, named after this cloud's nova-network.
        format!("-A PREROUTING -j {net}-PREROUTING"),
        format!("-A POSTROUTING -j {net}-POSTROUTING"),
        format!("-A nova-postrouting-bottom -j {net}-snat"),
        format!("-A {net}-snat -j {net}-float-snat"),
        format!("-A nova-filter-top -j {net}-local"),
        // SNAT of the fixed range out of public_interface (eth0 by default).
        format!("-A {net}-snat -s {range} -o eth0 -j SNAT --to-source"),
        // The exceptions.
        format!("-A {net}-POSTROUTING -s {range} -d 127.0.0.1/32 -j ACCEPT"),
        format!("-A {net}-POSTROUTING -s {range} -d {range} -m conntrack ! --ctstate DNAT -j ACCEPT"),
        // Metadata: only this cloud's bridge, to its own metadata port.
        format!("-A {net}-PREROUTING -d 169.254.169.254/32 -i {bridge} -p tcp -m tcp --dport 80 -j REDIRECT --to-ports {meta_port}"),
        format!("-A {net}-INPUT -p tcp -m tcp --dport {meta_port} -m addrtype --dst-type LOCAL -j ACCEPT"),
        // The bridge's forwarding and its dnsmasq.
        format!("-A {net}-FORWARD -i {bridge} -j ACCEPT"),
        format!("-A {net}-FORWARD -o {bridge} -j ACCEPT"),
        format!("-A {net}-INPUT -i {bridge} -p udp -m udp --dport 67 -j ACCEPT"),
        format!("-A {net}-POSTROUTING -o {bridge} -p udp -m udp --dport 68 -j CHECKSUM --checksum-fill"),
    ] {
        assert!(all.contains(&needle), "{needle}\nin\n{all}");
    }
    // The shared top chain comes before this binary's FORWARD chain.
    let out = Command::new("iptables-save")
        .args(["-t", "filter"])
        .output()
        .unwrap();
    let dump = String::from_utf8_lossy(&out.stdout);
    let top = dump.find("-A FORWARD -j nova-filter-top").unwrap();
    let own = dump.find(&format!("-A FORWARD -j {net}-FORWARD")).unwrap();
    assert!(top < own, "{dump}");

    // An instance comes and goes: the rules do not change, no lease stays.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "rules-1", "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let addr = cloud
        .wait_for("rules-1 ACTIVE", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE")
                .then(|| b["server"]["addresses"]["private"][0]["addr"].clone())
        })
        .await;
    let addr = addr.as_str().unwrap().to_string();
    let hosts = cloud.dir.join(format!("state/networks/nova-{bridge}.conf"));
    assert!(std::fs::read_to_string(&hosts).unwrap().contains(&addr));
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the lease to go", 60, || async {
            let h = std::fs::read_to_string(&hosts).unwrap_or_default();
            (!h.contains(&addr)).then_some(())
        })
        .await;
    assert_eq!(
        rules_of(&net),
        rules,
        "no rule is left behind by the instance"
    );

    // Lost rules are put back by a restarted nova-network.
    nova_linux_net::iptables::remove_binary(&net).unwrap();
    assert!(rules_of(&net).is_empty());
    cloud.restart("nova-network");
    let back = cloud
        .wait_for("the rules back after a restart", 60, || async {
            let r = rules_of(&net);
            (r.len() >= rules.len()).then_some(r)
        })
        .await;
    assert_eq!(back, rules);

    // The cloud takes its rules with it.
    let binaries = cloud.iptables_binaries();
    assert!(binaries.contains(&net), "{binaries:?}");
    drop(cloud);
    let dump = save();
    for b in binaries {
        assert!(!dump.contains(&format!("{b}-")), "{b} left rules:\n{dump}");
    }
    // As found, unless another cloud (or a deployed nova-network) needs them.
    host_net::assert_restored(forward_before, meta_ip_before);
}
