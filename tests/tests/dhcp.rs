//! nova-network's DHCP on the host: the network's dnsmasq serves a static
//! lease (`mac,hostname.novalocal,ip`) for each allocated address, loses it
//! on delete, and a restarted nova-network rebuilds the hosts file from the
//! database and reloads the dnsmasq that kept running.
//! (tests/tests/real_guest.rs checks that a real guest gets the lease.)

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, compute_hosts, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;

fn hosts_file(cloud: &Cloud) -> PathBuf {
    cloud.dir.join(format!(
        "state/networks/nova-{}.conf",
        bridge_name(&cloud.id)
    ))
}

fn dnsmasq_pid(cloud: &Cloud) -> Option<String> {
    let pid = std::fs::read_to_string(hosts_file(cloud).with_extension("pid")).ok()?;
    let pid = pid.trim().to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    String::from_utf8_lossy(&cmdline)
        .contains("dnsmasq")
        .then_some(pid)
}

async fn active(cloud: &Cloud, name: &str) -> (String, String) {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv: Value = cloud
        .wait_for(&format!("{name} ACTIVE"), 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            let srv = b["server"].clone();
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == "ACTIVE").then_some(srv)
        })
        .await;
    let addr = &srv["addresses"]["private"][0];
    let line = format!(
        "{},{name}.novalocal,{}",
        addr["OS-EXT-IPS-MAC:mac_addr"].as_str().unwrap(),
        addr["addr"].as_str().unwrap()
    );
    (id, line)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dnsmasq_serves_the_allocated_addresses() {
    let mut cloud = Cloud::start_with(compute_hosts, false).await;
    let (id1, line1) = active(&cloud, "dhcp-1").await;
    let (_id2, line2) = active(&cloud, "dhcp-2").await;
    let hosts = std::fs::read_to_string(hosts_file(&cloud)).unwrap();
    assert!(hosts.contains(&line1) && hosts.contains(&line2), "{hosts}");
    let pid = dnsmasq_pid(&cloud).expect("the network's dnsmasq runs");

    // Delete: the lease goes, the same dnsmasq reloads.
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id1}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("dhcp-1's lease to go", 60, || async {
            let hosts = std::fs::read_to_string(hosts_file(&cloud)).unwrap_or_default();
            (!hosts.contains(&line1) && hosts.contains(&line2)).then_some(())
        })
        .await;
    assert_eq!(dnsmasq_pid(&cloud).as_ref(), Some(&pid));

    // A restarted nova-network rebuilds the hosts file from the database.
    std::fs::write(hosts_file(&cloud), "").unwrap();
    cloud.restart("nova-network");
    cloud
        .wait_for("the hosts file rebuilt", 60, || async {
            let hosts = std::fs::read_to_string(hosts_file(&cloud)).unwrap_or_default();
            (hosts.trim() == line2).then_some(())
        })
        .await;
    assert_eq!(
        dnsmasq_pid(&cloud).as_ref(),
        Some(&pid),
        "dnsmasq survives nova-network's restart and is reloaded"
    );
    let log = cloud.log("nova-network");
    assert!(log.contains("dnsmasq reloaded its hosts"), "{log}");
}
