//! A floating IP with a real guest: a network namespace acting as an
//! outside host, joined to this host by a veth pair whose host end is
//! nova-network's `public_interface` (the floating range on its subnet),
//! reaches the tiny guest's busybox httpd on port 80 through the floating
//! IP once a security-group rule allows tcp/80; `removeFloatingIp` cuts it off; a restarted nova-network puts back
//! the rules and the address it lost; deleting the guest takes them away.
//! The test leaves no namespace, veth, address or rule behind and restores
//! the forwarding settings it changes.

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, must, sh, start_real_guest_cloud, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn sysctl_path(key: &str) -> String {
    format!("/proc/sys/{}", key.replace('.', "/"))
}

fn read_sysctl(key: &str) -> String {
    std::fs::read_to_string(sysctl_path(key))
        .unwrap()
        .trim()
        .to_string()
}

/// The outside host: namespace, veth pair, and the forwarding settings
/// changed for it; all undone on drop.
struct Outside {
    ns: String,
    host_if: String,
    restore: Vec<(String, String)>,
}

impl Outside {
    fn new(id: &str, bridge: &str, subnet: &str) -> Outside {
        let ns = format!("fip{}", &id[..6]);
        let host_if = format!("fh{}", &id[..6]);
        let ns_if = format!("fn{}", &id[..6]);
        // Global ip_forward is left as it is (and checked at the end); the
        // two devices the guest's traffic enters by forward.
        let keys = [
            "net.ipv4.ip_forward".to_string(),
            format!("net.ipv4.conf.{bridge}.forwarding"),
        ];
        let restore = keys.iter().map(|k| (k.clone(), read_sysctl(k))).collect();
        let o = Outside {
            ns: ns.clone(),
            host_if: host_if.clone(),
            restore,
        };
        must(&["ip", "netns", "add", &ns]);
        must(&[
            "ip", "link", "add", &host_if, "type", "veth", "peer", "name", &ns_if,
        ]);
        must(&["ip", "link", "set", &ns_if, "netns", &ns]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("{subnet}1/24"),
            "dev",
            &host_if,
        ]);
        must(&["ip", "link", "set", &host_if, "up"]);
        must(&[
            "ip",
            "-n",
            &ns,
            "addr",
            "add",
            &format!("{subnet}2/24"),
            "dev",
            &ns_if,
        ]);
        must(&["ip", "-n", &ns, "link", "set", &ns_if, "up"]);
        must(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        std::fs::write(
            sysctl_path(&format!("net.ipv4.conf.{host_if}.forwarding")),
            "1",
        )
        .unwrap();
        std::fs::write(
            sysctl_path(&format!("net.ipv4.conf.{bridge}.forwarding")),
            "1",
        )
        .unwrap();
        o
    }

    /// `curl http://<addr>/` from the outside host: the body, if it answered.
    fn fetch(&self, addr: &str) -> Option<String> {
        let (ok, out) = sh(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "curl",
            "-s",
            "-m",
            "3",
            &format!("http://{addr}/"),
        ]);
        ok.then_some(out)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        let _ = sh(&["ip", "link", "del", &self.host_if]);
        let _ = sh(&["ip", "netns", "del", &self.ns]);
        for (k, v) in &self.restore {
            let _ = std::fs::write(sysctl_path(k), v);
        }
    }
}

async fn act(cloud: &Cloud, path: &str, method: Method, body: Option<Value>) -> (u16, Value) {
    cloud.req(method, path, &cloud.admin, body).await
}

/// Poll `f` until it holds, for at most `secs`.
fn until(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn dnat_rule(cloud: &Cloud, floating: &str, fixed: &str) -> (String, String) {
    let net = cloud
        .iptables_binaries()
        .into_iter()
        .find(|b| b.ends_with("-net"))
        .unwrap();
    (
        format!("{net}-PREROUTING"),
        format!("-d {floating}/32 -j DNAT --to-destination {fixed}"),
    )
}

fn has_rule(chain: &str, rule: &str) -> bool {
    sh(&["iptables-save", "-t", "nat"])
        .1
        .contains(&format!("-A {chain} {rule}"))
}

fn has_address(dev: &str, addr: &str) -> bool {
    sh(&["ip", "-4", "addr", "show", "dev", dev])
        .1
        .contains(&format!("{addr}/32"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_outside_reaches_a_guest_through_its_floating_ip() {
    let forward_before = nova_linux_net::host::ipv4_forwarding();
    let meta_ip_before = nova_e2e::host_net::lo_has_metadata_ip();
    let (mut cloud, guest) = start_real_guest_cloud(false, "").await;
    let bridge = bridge_name(&cloud.id);
    let n = u8::from_str_radix(&cloud.id[..2], 16).unwrap();
    let subnet = format!("198.19.{n}.");
    let outside = Outside::new(&cloud.id, &bridge, &subnet);
    let public = outside.host_if.clone();
    cloud.restart_with_conf(
        "nova-network",
        &format!("[DEFAULT]\npublic_interface = {public}\n"),
    );
    let (ok, out, err) = cloud.nova_manage(&[
        "floating",
        "create",
        "--ip_range",
        &format!("{subnet}16/29"),
        "--pool",
        "public",
        "--interface",
        &public,
    ]);
    assert!(ok, "{out}{err}");

    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = act(
        &cloud,
        "/servers",
        Method::POST,
        Some(json!({"server": {"name": "fip-guest", "imageRef": image, "flavorRef": "guest"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let fixed: String = cloud
        .wait_for("the guest ACTIVE", 120, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE")
                .then(|| {
                    b["server"]["addresses"]["private"][0]["addr"]
                        .as_str()
                        .map(String::from)
                })
                .flatten()
        })
        .await;
    cloud
        .wait_for("the guest's lease", 180, || async {
            let (_, b) = act(
                &cloud,
                &format!("/servers/{id}/action"),
                Method::POST,
                Some(json!({"os-getConsoleOutput": {}})),
            )
            .await;
            b["output"]
                .as_str()
                .unwrap_or_default()
                .contains(&format!("GUEST-LEASE ip={fixed}/"))
                .then_some(())
        })
        .await;

    let (s, b) = act(
        &cloud,
        "/os-floating-ips",
        Method::POST,
        Some(json!({"pool": "public"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let fip = b["floating_ip"]["ip"].as_str().unwrap().to_string();
    let fip_id = b["floating_ip"]["id"].as_i64().unwrap();
    // Not associated: nothing answers.
    assert_eq!(outside.fetch(&fip), None);

    let action = format!("/servers/{id}/action");
    let (s, b) = act(
        &cloud,
        &action,
        Method::POST,
        Some(json!({"addFloatingIp": {"address": fip}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    // The default security group lets nothing in yet; a tcp/80 rule opens it.
    for _ in 0..2 {
        assert_eq!(
            outside.fetch(&fip),
            None,
            "reachable before any rule allows it"
        );
    }
    let (s, b) = act(&cloud, "/os-security-groups", Method::GET, None).await;
    assert_eq!(s, 200, "{b}");
    let group = b["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "default")
        .unwrap()["id"]
        .clone();
    let (s, b) = act(
        &cloud,
        "/os-security-group-rules",
        Method::POST,
        Some(
            json!({"security_group_rule": {"parent_group_id": group, "ip_protocol": "tcp",
                                           "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    until("the guest's httpd through the floating IP", 60, || {
        outside
            .fetch(&fip)
            .is_some_and(|body| body.contains("hello from fip-guest"))
    });

    // removeFloatingIp cuts it off.
    let (s, b) = act(
        &cloud,
        &action,
        Method::POST,
        Some(json!({"removeFloatingIp": {"address": fip}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (chain, rule) = dnat_rule(&cloud, &fip, &fixed);
    assert!(!has_rule(&chain, &rule));
    assert!(!has_address(&public, &fip));
    for _ in 0..3 {
        assert_eq!(
            outside.fetch(&fip),
            None,
            "still reachable after removeFloatingIp"
        );
    }

    // Associated again; a restarted nova-network puts back what it lost.
    let (s, b) = act(
        &cloud,
        &action,
        Method::POST,
        Some(json!({"addFloatingIp": {"address": fip}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert!(has_rule(&chain, &rule));
    must(&[
        "iptables",
        "-t",
        "nat",
        "-D",
        &chain,
        "-d",
        &format!("{fip}/32"),
        "-j",
        "DNAT",
        "--to-destination",
        &fixed,
    ]);
    must(&["ip", "addr", "del", &format!("{fip}/32"), "dev", &public]);
    assert_eq!(outside.fetch(&fip), None);
    cloud.restart("nova-network");
    until("nova-network to restore the floating IP", 60, || {
        has_rule(&chain, &rule) && has_address(&public, &fip)
    });
    until("the guest's httpd again", 60, || {
        outside
            .fetch(&fip)
            .is_some_and(|body| body.contains("hello from fip-guest"))
    });

    // Deleting the guest disassociates it; then the address is released.
    let (s, _) = act(&cloud, &format!("/servers/{id}"), Method::DELETE, None).await;
    assert_eq!(s, 204);
    until("the floating IP's rule and address to go", 120, || {
        !has_rule(&chain, &rule) && !has_address(&public, &fip)
    });
    let (s, b) = act(
        &cloud,
        &format!("/os-floating-ips/{fip_id}"),
        Method::DELETE,
        None,
    )
    .await;
    assert_eq!(s, 202, "{b}");

    let ns = outside.ns.clone();
    drop(outside);
    drop(cloud);
    nova_e2e::host_net::assert_restored(forward_before, meta_ip_before);
    let nat = sh(&["iptables-save", "-t", "nat"]).1;
    assert!(!nat.contains(&fip), "{nat}");
    assert!(!sh(&["ip", "netns", "list"]).1.contains(&ns));
    assert!(!std::path::Path::new("/sys/class/net")
        .join(&public)
        .exists());
}
