//! nova-network's DHCP on the host: the network's dnsmasq serves a static
//! lease (`mac,hostname.novalocal,ip`) for each allocated address, loses it
//! on delete, and a restarted nova-network rebuilds the hosts file from the
//! database and reloads the dnsmasq that kept running, or makes the bridge
//! and starts a dnsmasq again when the host lost them.
//! (tests/tests/real_guest.rs checks that a real guest gets the lease.)

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, compute_hosts, fixed_prefix, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::process::Command;

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

    // A host that lost the bridge and the dnsmasq (a reboot): the restarted
    // nova-network makes the bridge with its gateway address again and
    // starts a new dnsmasq serving the leases.
    let bridge = bridge_name(&cloud.id);
    let out = Command::new("kill").args(["-9", &pid]).output().unwrap();
    assert!(out.status.success());
    let out = Command::new("ip")
        .args(["link", "del", &bridge])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    cloud.restart("nova-network");
    let gateway = format!("{}1/24", fixed_prefix(&cloud.id));
    let new_pid = cloud
        .wait_for("the bridge and a new dnsmasq", 60, || async {
            let addrs = Command::new("ip")
                .args(["-4", "-o", "addr", "show", "dev", &bridge])
                .output()
                .ok()?;
            let up = String::from_utf8_lossy(&addrs.stdout).contains(&gateway);
            let hosts = std::fs::read_to_string(hosts_file(&cloud)).unwrap_or_default();
            let new = dnsmasq_pid(&cloud).filter(|p| *p != pid);
            (up && hosts.trim() == line2).then_some(new).flatten()
        })
        .await;
    let cmdline = std::fs::read(format!("/proc/{new_pid}/cmdline")).unwrap();
    assert!(
        String::from_utf8_lossy(&cmdline).contains(&format!(
            "--dhcp-hostsfile={}",
            hosts_file(&cloud).display()
        )),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
}
