//! nova-network's DHCP on the host: the network's dnsmasq serves a static
//! lease (`mac,hostname.novalocal,ip`) for each allocated address, loses it
//! on delete, and a restarted nova-network rebuilds the hosts file from the
//! database and reloads the dnsmasq that kept running, or makes the bridge
//! and starts a dnsmasq again when the host lost them.
//! A guest's NIC played from a network namespace (busybox's udhcpc) is
//! leased its server's address, and, with `force_dhcp_release`, the next
//! server given that address after a delete is leased it at once.
//! (tests/tests/real_guest.rs checks that a real guest gets the lease.)

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, compute_hosts, fixed_prefix, must, sh, Cloud};
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

/// Delete the server (204; it goes on in the background).
async fn delete(cloud: &Cloud, id: &str) {
    let (s, b) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204, "{b}");
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
    delete(&cloud, &id1).await;
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

/// A guest's NIC played from this host: a veth with one end on the cloud's
/// bridge and the other in a network namespace of its own, where busybox's
/// udhcpc asks the network's dnsmasq for a lease with the MAC of a server.
/// Removed on drop.
struct GuestNic {
    ns: String,
    host_if: String,
    nic: String,
}

impl GuestNic {
    fn new(cloud: &Cloud) -> GuestNic {
        let short = &cloud.id[..6];
        let g = GuestNic {
            ns: format!("dhcp{short}"),
            host_if: format!("dhh{short}"),
            nic: format!("dhg{short}"),
        };
        must(&["ip", "netns", "add", &g.ns]);
        must(&[
            "ip", "link", "add", &g.host_if, "type", "veth", "peer", "name", &g.nic,
        ]);
        must(&["ip", "link", "set", &g.nic, "netns", &g.ns]);
        must(&[
            "ip",
            "link",
            "set",
            &g.host_if,
            "master",
            &bridge_name(&cloud.id),
        ]);
        must(&["ip", "link", "set", &g.host_if, "up"]);
        g
    }

    /// The address dnsmasq leases to `mac`, or None (udhcpc's output) when
    /// it offers none. udhcpc quits once leased without releasing (no -R):
    /// the lease stays in dnsmasq, as a guest's would.
    fn lease(&self, mac: &str) -> Result<String, String> {
        must(&["ip", "-n", &self.ns, "link", "set", &self.nic, "down"]);
        must(&[
            "ip", "-n", &self.ns, "link", "set", &self.nic, "address", mac,
        ]);
        must(&["ip", "-n", &self.ns, "link", "set", &self.nic, "up"]);
        let (_, out) = sh(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "busybox",
            "udhcpc",
            "-i",
            &self.nic,
            "-f",
            "-q",
            "-n",
            "-t",
            "5",
            "-T",
            "2",
            "-s",
            "/bin/true",
        ]);
        // "udhcpc: lease of 10.20.x.y obtained from 10.20.x.1, lease time 86400"
        out.lines()
            .find_map(|l| {
                l.split_once("lease of ")
                    .and_then(|(_, rest)| rest.split_once(" obtained"))
                    .map(|(ip, _)| ip.to_string())
            })
            .ok_or(out)
    }
}

impl Drop for GuestNic {
    fn drop(&mut self) {
        let _ = sh(&["ip", "link", "del", &self.host_if]);
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

/// `mac,hostname.novalocal,ip` → (mac, ip).
fn mac_and_ip(line: &str) -> (String, String) {
    let parts: Vec<&str> = line.split(',').collect();
    (parts[0].to_string(), parts[2].to_string())
}

/// Removes a bridge this test made on drop.
struct BridgeGuard(String);

impl Drop for BridgeGuard {
    fn drop(&mut self) {
        let _ = sh(&["ip", "link", "del", &self.0]);
    }
}

/// Nova's `force_dhcp_release`: deleting a server ends the lease dnsmasq
/// gave its MAC, so when its address goes to the next server, that
/// server's MAC gets it at once. Without the release dnsmasq keeps the old
/// lease for `dhcp_lease_time` (a day) and offers the new MAC nothing
/// ("not using configured address ... because it is leased to ...").
/// The host serves a second network, so two dnsmasq share port 67: the
/// release must reach the one of the server's network (it did not before
/// each dnsmasq was bound to its bridge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_released_address_is_leased_to_the_next_server() {
    let mut cloud = Cloud::start_with(compute_hosts, false).await;
    let second = format!("nrx{}", &cloud.id[..6]);
    let _guard = BridgeGuard(second.clone());
    let n = u8::from_str_radix(&cloud.id[..2], 16).unwrap_or(0);
    let (ok, out, err) = cloud.nova_manage(&[
        "network",
        "create",
        "--label",
        "second",
        "--fixed_range_v4",
        &format!("10.19.{n}.0/24"),
        "--bridge",
        &second,
    ]);
    assert!(ok, "{out}{err}");
    cloud.restart("nova-network");
    let second_pid = cloud.dir.join(format!("state/networks/nova-{second}.pid"));
    cloud
        .wait_for("the second network's dnsmasq", 60, || async {
            let pid = std::fs::read_to_string(&second_pid).ok()?;
            std::path::Path::new(&format!("/proc/{}", pid.trim()))
                .exists()
                .then_some(())
        })
        .await;
    let nic = GuestNic::new(&cloud);
    let (id1, line1) = active(&cloud, "lease-1").await;
    let (mac1, ip) = mac_and_ip(&line1);
    assert_eq!(nic.lease(&mac1), Ok(ip.clone()), "the first server's lease");

    delete(&cloud, &id1).await;
    cloud
        .wait_for("lease-1's address released", 60, || async {
            let (s, b) = cloud
                .get(&format!("/os-fixed-ips/{ip}"), &cloud.admin)
                .await;
            assert_eq!(s, 200, "{b}");
            b["fixed_ip"]["hostname"].is_null().then_some(())
        })
        .await;

    // Every other address of the network reserved: the next server gets
    // the one just released.
    let prefix = fixed_prefix(&cloud.id);
    for n in 2..=254 {
        let addr = format!("{prefix}{n}");
        if addr == ip {
            continue;
        }
        let (s, b) = cloud
            .req(
                Method::POST,
                &format!("/os-fixed-ips/{addr}/action"),
                &cloud.admin,
                Some(json!({"reserve": null})),
            )
            .await;
        assert_eq!(s, 202, "reserve {addr}: {b}");
    }
    let (_id2, line2) = active(&cloud, "lease-2").await;
    let (mac2, ip2) = mac_and_ip(&line2);
    assert_eq!(ip2, ip, "the released address goes to the next server");
    assert_ne!(mac2, mac1);
    assert_eq!(
        nic.lease(&mac2),
        Ok(ip.clone()),
        "the next server's MAC is leased the address at once"
    );
    let log = cloud.log("nova-network");
    assert!(
        log.contains("DHCP lease released"),
        "nova-network logs the release: {log}"
    );
}
