//! Two real guests of one project on the cloud's network (QEMU under TCG,
//! the project's tiny busybox guest): with `allow_same_net_traffic = True`
//! (the default) one guest fetches the other's httpd page. The fetching
//! guest runs its user data (a shell script read from the metadata
//! service) and prints `GUEST-PEER-OK <page>` on its serial console.
//! Then nova-compute restarts with `allow_same_net_traffic = False`, puts
//! the serving guest's chain back without the fixed range's accept, and a
//! new guest's fetches are dropped (`GUEST-PEER-WAITING` after 5 tries)
//! until a security group rule lets tcp/80 in from the fixed range.
//! At most two guests run at once; waits are generous (TCG on a busy host),
//! nothing is timed.

#![allow(clippy::unwrap_used)]

use base64::Engine;
use nova_e2e::guest_marks::console_output as console;
use nova_e2e::{fixed_range, iptables_binary_name, start_real_guest_cloud, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

/// The first whole console line starting with one of `markers`.
async fn wait_line(cloud: &Cloud, id: &str, markers: &[&str], secs: u64) -> String {
    cloud
        .wait_for(&format!("{markers:?} on {id}'s console"), secs, || async {
            let out = console(cloud, id).await;
            // Whole lines only: the console may be read mid-write.
            let complete = out.rfind('\n').map(|i| &out[..i]).unwrap_or("");
            complete
                .lines()
                .map(str::trim)
                .find(|l| markers.iter().any(|m| l.starts_with(m)))
                .map(str::to_string)
        })
        .await
}

async fn boot(cloud: &Cloud, image: &str, name: &str, user_data: Option<&str>) -> (String, String) {
    let mut server = json!({"name": name, "imageRef": image, "flavorRef": "guest",
                            "security_groups": [{"name": "default"}]});
    if let Some(u) = user_data {
        server["user_data"] = json!(base64::engine::general_purpose::STANDARD.encode(u));
    }
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({ "server": server })),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv: Value = cloud
        .wait_for(&format!("{name} ACTIVE"), 300, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE").then(|| b["server"].clone())
        })
        .await;
    let ip = srv["addresses"]["private"][0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    (id, ip)
}

async fn delete(cloud: &Cloud, id: &str) {
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
        .wait_for(&format!("{id} gone"), 300, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
}

/// The guest's user data: fetch `http://<peer>/` until it answers.
fn fetch_script(peer: &str) -> String {
    format!(
        "#!/bin/sh\n\
         n=0\n\
         while [ $n -lt 120 ]; do\n\
         \x20 r=\"$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {peer} 80 2>/dev/null | tail -n 1)\"\n\
         \x20 case \"$r\" in *'hello from'*) echo \"GUEST-PEER-OK $r\"; exit 0 ;; esac\n\
         \x20 n=$((n + 1))\n\
         \x20 [ $n -eq 5 ] && echo GUEST-PEER-WAITING\n\
         \x20 sleep 2\n\
         done\n\
         echo GUEST-PEER-FAILED\n"
    )
}

fn filter_rules() -> String {
    let out = Command::new("iptables-save")
        .args(["-t", "filter"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guests_of_one_network_reach_each_other_when_allowed() {
    let nf = "/proc/sys/net/bridge/bridge-nf-call-iptables";
    assert_eq!(
        std::fs::read_to_string(nf).unwrap().trim(),
        "1",
        "bridged traffic goes through iptables (the kernel's default)"
    );
    let (mut cloud, guest) = start_real_guest_cloud(false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let range = fixed_range(&cloud.id);

    // The serving guest.
    let (b_id, b_ip) = boot(&cloud, &image, "peer-b", None).await;
    wait_line(&cloud, &b_id, &["GUEST-LEASE"], 300).await;

    // Same network, allowed: the other guest fetches its page.
    let (a_id, _) = boot(&cloud, &image, "peer-a", Some(&fetch_script(&b_ip))).await;
    let line = wait_line(
        &cloud,
        &a_id,
        &[
            "GUEST-PEER-OK",
            "GUEST-PEER-FAILED",
            "GUEST-METADATA-FAILED",
            "GUEST-USERDATA-FAILED",
        ],
        600,
    )
    .await;
    assert!(
        line.starts_with("GUEST-PEER-OK"),
        "{line}\n{}",
        console(&cloud, &a_id).await
    );
    assert!(line.contains("hello from peer-b"), "{line}");
    delete(&cloud, &a_id).await;

    // allow_same_net_traffic = False: the restarted compute rebuilds the
    // serving guest's chain without the fixed range's accept.
    let compute = cloud
        .daemons
        .iter()
        .find(|d| d.name.starts_with("nova-compute@"))
        .unwrap()
        .name
        .clone();
    cloud.restart_with_conf(&compute, "[DEFAULT]\nallow_same_net_traffic = False\n");
    let binary = iptables_binary_name(&cloud.id, Some(0));
    let chain = cloud
        .wait_for(
            "the serving guest's chain without the same-net accept",
            120,
            || async {
                let rules = filter_rules();
                let chain = rules.lines().find_map(|l| {
                    l.strip_prefix(&format!("-A {binary}-local -d {b_ip}/32 -j "))
                        .map(|c| c.trim().to_string())
                })?;
                let own: Vec<&str> = rules
                    .lines()
                    .filter(|l| l.starts_with(&format!("-A {chain} ")))
                    .collect();
                (!own.is_empty()
                    && !own
                        .iter()
                        .any(|l| l.contains(&format!("-s {range} -j ACCEPT"))))
                .then_some(chain)
            },
        )
        .await;

    let (c_id, _) = boot(&cloud, &image, "peer-c", Some(&fetch_script(&b_ip))).await;
    let line = wait_line(
        &cloud,
        &c_id,
        &[
            "GUEST-PEER-WAITING",
            "GUEST-PEER-OK",
            "GUEST-METADATA-FAILED",
            "GUEST-USERDATA-FAILED",
        ],
        600,
    )
    .await;
    assert_eq!(
        line,
        "GUEST-PEER-WAITING",
        "dropped without allow_same_net_traffic\n{}",
        console(&cloud, &c_id).await
    );
    // A rule lets tcp/80 in from the fixed range: the waiting guest gets through.
    let (_, b) = cloud.get("/os-security-groups", &cloud.admin).await;
    let group = b["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "default")
        .unwrap()["id"]
        .clone();
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-security-group-rules",
            &cloud.admin,
            Some(
                json!({"security_group_rule": {"parent_group_id": group, "ip_protocol": "tcp",
                                               "from_port": 80, "to_port": 80, "cidr": range}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let line = wait_line(&cloud, &c_id, &["GUEST-PEER-OK", "GUEST-PEER-FAILED"], 600).await;
    assert!(
        line.starts_with("GUEST-PEER-OK"),
        "{line}\nchain {chain}:\n{}",
        filter_rules()
    );
    assert!(line.contains("hello from peer-b"), "{line}");

    delete(&cloud, &c_id).await;
    delete(&cloud, &b_id).await;
}
