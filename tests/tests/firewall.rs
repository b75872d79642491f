//! Security groups enforced on a real guest (QEMU under TCG, the project's
//! tiny busybox guest serving HTTP on port 80) by nova-compute's
//! IptablesFirewallDriver. A network namespace acts as an outside host (a
//! veth to the host and a route to the cloud's fixed range through it): the
//! guest's httpd is unreachable from there until a rule allowing tcp/80 is
//! added to its group, and unreachable again once the rule is removed, both
//! applied to the running guest; the host, on the fixed network itself,
//! reaches it throughout (`allow_same_net_traffic`). A restarted nova-compute
//! puts the guest's chain back; deleting the guest removes it. The guest's
//! interface carries its libvirt nwfilter (`nova-base` anti-spoofing), gone
//! with the guest.
//!
//! The namespace, the veth and the interfaces' forwarding are this test's
//! own and put back as they were; `bridge-nf-call-iptables` is turned on if
//! it was off, and back off after.

#![allow(clippy::unwrap_used)]

use nova_e2e::{
    bridge_name, fixed_prefix, fixed_range, iptables_binary_name, must, sh, start_real_guest_cloud,
    Cloud,
};
use reqwest::Method;
use serde_json::{json, Value};

fn read_sysctl(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_string())
}

/// The outside host: a namespace with a veth to this host, and the host
/// settings changed for it; everything is undone on drop.
struct Outside {
    ns: String,
    host_if: String,
    /// (sysctl path, value found) to put back.
    restore: Vec<(String, String)>,
}

impl Outside {
    fn set(&mut self, path: &str, value: &str) {
        let found = read_sysctl(path).unwrap_or_else(|| panic!("no {path}"));
        if found != value {
            std::fs::write(path, value).unwrap();
            self.restore.push((path.to_string(), found));
        }
    }

    /// `10.30.<n>.1` on the host, `.2` in the namespace, a route to the fixed range.
    fn new(cloud: &Cloud) -> Outside {
        let short = &cloud.id[..6];
        let n = u8::from_str_radix(&cloud.id[..2], 16).unwrap_or(0);
        let mut o = Outside {
            ns: format!("sgo{short}"),
            host_if: format!("sgh{short}"),
            restore: vec![],
        };
        let peer = format!("sgn{short}");
        must(&["ip", "netns", "add", &o.ns]);
        must(&[
            "ip", "link", "add", &o.host_if, "type", "veth", "peer", "name", &peer,
        ]);
        must(&["ip", "link", "set", &peer, "netns", &o.ns]);
        must(&[
            "ip",
            "addr",
            "add",
            &format!("10.30.{n}.1/30"),
            "dev",
            &o.host_if,
        ]);
        must(&["ip", "link", "set", &o.host_if, "up"]);
        must(&[
            "ip",
            "-n",
            &o.ns,
            "addr",
            "add",
            &format!("10.30.{n}.2/30"),
            "dev",
            &peer,
        ]);
        must(&["ip", "-n", &o.ns, "link", "set", &peer, "up"]);
        must(&["ip", "-n", &o.ns, "link", "set", "lo", "up"]);
        must(&[
            "ip",
            "-n",
            &o.ns,
            "route",
            "add",
            &fixed_range(&cloud.id),
            "via",
            &format!("10.30.{n}.1"),
        ]);
        // Forward between the veth and the cloud's bridge only (not the
        // host-wide ip_forward), and let bridged traffic through iptables.
        let bridge = bridge_name(&cloud.id);
        o.set(
            &format!("/proc/sys/net/ipv4/conf/{}/forwarding", o.host_if),
            "1",
        );
        o.set(&format!("/proc/sys/net/ipv4/conf/{bridge}/forwarding"), "1");
        o.set("/proc/sys/net/bridge/bridge-nf-call-iptables", "1");
        o
    }

    /// The HTTP status from `url`, or None when nothing answers within 3 s.
    fn http(&self, url: &str) -> Option<String> {
        let (_, out) = sh(&[
            "ip",
            "netns",
            "exec",
            &self.ns,
            "curl",
            "-s",
            "-m",
            "3",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ]);
        let code = out.trim().to_string();
        (code != "000" && !code.is_empty()).then_some(code)
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        for (path, value) in self.restore.iter().rev() {
            let _ = std::fs::write(path, value);
        }
        let _ = sh(&["ip", "link", "del", &self.host_if]);
        let _ = sh(&["ip", "netns", "del", &self.ns]);
    }
}

/// From the host itself (source: the bridge's address in the fixed range).
fn http_from_host(url: &str) -> Option<String> {
    let (_, out) = sh(&[
        "curl",
        "-s",
        "-m",
        "3",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        url,
    ]);
    let code = out.trim().to_string();
    (code != "000" && !code.is_empty()).then_some(code)
}

fn filter_rules() -> String {
    sh(&["iptables-save", "-t", "filter"]).1
}

/// The instance chain the host's `local` chain sends `ip` to.
fn instance_chain(binary: &str, ip: &str) -> String {
    let prefix = format!("-A {binary}-local -d {ip}/32 -j ");
    let rules = filter_rules();
    rules
        .lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no jump for {ip} in\n{rules}"))
        .trim()
        .to_string()
}

async fn console(cloud: &Cloud, id: &str) -> String {
    let (_, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-getConsoleOutput": {}})),
        )
        .await;
    b["output"].as_str().unwrap_or_default().to_string()
}

async fn reachable(cloud: &Cloud, outside: &Outside, url: &str, want: bool, what: &str) {
    cloud
        .wait_for(what, 60, || async {
            (outside.http(url).is_some() == want).then_some(())
        })
        .await;
}

/// Allow tcp/80 from anywhere into the group; the rule's id.
async fn add_http_rule(cloud: &Cloud, group: &Value) -> Value {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-security-group-rules",
            &cloud.admin,
            Some(json!({"security_group_rule": {"parent_group_id": group, "ip_protocol": "tcp",
                                               "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    b["security_group_rule"]["id"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_group_rules_apply_to_a_running_guest() {
    let (mut cloud, guest) = start_real_guest_cloud(false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(
                json!({"server": {"name": "fw-1", "imageRef": image, "flavorRef": "guest",
                                   "security_groups": [{"name": "default"}]}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv: Value = cloud
        .wait_for("fw-1 ACTIVE", 120, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE").then(|| b["server"].clone())
        })
        .await;
    let ip = srv["addresses"]["private"][0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let gateway = format!("{}1", fixed_prefix(&cloud.id));
    cloud
        .wait_for("the guest's lease", 120, || async {
            console(&cloud, &id)
                .await
                .contains(&format!("GUEST-LEASE ip={ip}/24 router={gateway}"))
                .then_some(())
        })
        .await;

    // libvirt nwfilter anti-spoofing: the interface references its filter,
    // which references nova-base with the guest's address and DHCP server.
    let name = srv["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    let mac = srv["addresses"]["private"][0]["OS-EXT-IPS-MAC:mac_addr"]
        .as_str()
        .unwrap()
        .replace(':', "");
    let filter = format!("nova-instance-{name}-{mac}");
    let (_, domain) = sh(&["virsh", "-c", "qemu:///system", "dumpxml", &name]);
    assert!(
        domain.contains(&format!("<filterref filter='{filter}'")),
        "{domain}"
    );
    let (_, fxml) = sh(&["virsh", "-c", "qemu:///system", "nwfilter-dumpxml", &filter]);
    assert!(fxml.contains("<filterref filter='nova-base'>"), "{fxml}");
    assert!(
        fxml.contains(&format!("<parameter name='IP' value='{ip}'/>")),
        "{fxml}"
    );
    assert!(
        fxml.contains(&format!("<parameter name='DHCPSERVER' value='{gateway}'/>")),
        "{fxml}"
    );

    // The guest's chain, jumped to for its address from compute's `local`.
    let c = iptables_binary_name(&cloud.id, Some(0));
    let rules = filter_rules();
    let jump = format!("-A {c}-local -d {ip}/32 -j {c}-inst-");
    assert!(rules.contains(&jump), "{jump}\nin\n{rules}");
    for needle in [
        format!("-A nova-filter-top -j {c}-local"),
        format!("-A {c}-sg-fallback -j DROP"),
        format!("-s {} -j ACCEPT", fixed_range(&cloud.id)),
        format!("-s {gateway}/32 -p udp -m udp --sport 67 --dport 68 -j ACCEPT"),
    ] {
        assert!(rules.contains(&needle), "{needle}\nin\n{rules}");
    }

    let outside = Outside::new(&cloud);
    let url = format!("http://{ip}/");
    // The host is on the fixed network: allowed by allow_same_net_traffic.
    cloud
        .wait_for("the guest's httpd from the host", 60, || async {
            http_from_host(&url).map(|_| ())
        })
        .await;
    // The outside host is not, and the default group has no rule.
    assert_eq!(outside.http(&url), None, "reachable without a rule");

    // A rule for tcp/80 opens it on the running guest.
    let (_, b) = cloud.get("/os-security-groups", &cloud.admin).await;
    let default = b["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "default")
        .unwrap()["id"]
        .clone();
    let rule = add_http_rule(&cloud, &default).await;
    reachable(
        &cloud,
        &outside,
        &url,
        true,
        "httpd reachable once tcp/80 is allowed",
    )
    .await;
    assert!(filter_rules().contains("-p tcp -m tcp --dport 80 -j ACCEPT"));

    // Removing the rule closes it again.
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-group-rules/{rule}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 202);
    reachable(
        &cloud,
        &outside,
        &url,
        false,
        "httpd unreachable once the rule is gone",
    )
    .await;

    // nova-compute's restart restores the chain (here: after it was lost).
    nova_linux_net::iptables::remove_binary(&c).unwrap();
    reachable(
        &cloud,
        &outside,
        &url,
        true,
        "unfiltered without compute's chains",
    )
    .await;
    let compute = cloud
        .daemons
        .iter()
        .find(|d| d.name.starts_with("nova-compute@"))
        .unwrap()
        .name
        .clone();
    cloud.restart(&compute);
    reachable(
        &cloud,
        &outside,
        &url,
        false,
        "filtered again after init_host",
    )
    .await;
    let rule = add_http_rule(&cloud, &default).await;
    reachable(
        &cloud,
        &outside,
        &url,
        true,
        "the restarted compute refreshes the rules",
    )
    .await;
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-group-rules/{rule}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 202);

    // A rule from a source group admits each member's address, kept up to
    // date as members come and go (nova-network's members refresh).
    let chain = instance_chain(&c, &ip);
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-security-group-rules",
            &cloud.admin,
            Some(json!({"security_group_rule": {"parent_group_id": default, "group_id": default,
                                               "ip_protocol": "tcp", "from_port": 22, "to_port": 22}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let from_member =
        |addr: &str| format!("-A {chain} -s {addr}/32 -p tcp -m tcp --dport 22 -j ACCEPT");
    cloud
        .wait_for("the member's own address admitted", 60, || async {
            filter_rules().contains(&from_member(&ip)).then_some(())
        })
        .await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "fw-2", "imageRef": image, "flavorRef": "guest"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id2 = b["server"]["id"].as_str().unwrap().to_string();
    let ip2: String = cloud
        .wait_for("fw-2's address", 120, || async {
            let (_, b) = cloud.get(&format!("/servers/{id2}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            b["server"]["addresses"]["private"][0]["addr"]
                .as_str()
                .map(str::to_string)
        })
        .await;
    cloud
        .wait_for("the new member admitted into fw-1's chain", 60, || async {
            filter_rules().contains(&from_member(&ip2)).then_some(())
        })
        .await;
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id2}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the gone member removed from fw-1's chain", 120, || async {
            let rules = filter_rules();
            (!rules.contains(&from_member(&ip2)) && rules.contains(&from_member(&ip))).then_some(())
        })
        .await;

    // Deleting the guest removes its chain and its jump.
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
        .wait_for("fw-1 gone", 120, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
    let (_, filters) = sh(&["virsh", "-c", "qemu:///system", "nwfilter-list"]);
    assert!(!filters.contains(&filter), "{filters}");
    let rules = filter_rules();
    assert!(!rules.contains(&format!("{c}-inst-")), "{rules}");
    assert!(
        rules.contains(&format!("-A {c}-sg-fallback -j DROP")),
        "{rules}"
    );
    drop(outside);
}
