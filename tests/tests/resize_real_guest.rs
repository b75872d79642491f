//! Resize between two real compute hosts on one machine (QEMU under TCG,
//! the project's tiny guest; both nova-compute share `qemu:///system`, each
//! with its own `instances_path`): resize to a flavor with a bigger disk
//! lands on the other host, the guest boots there from the copied disk,
//! grown to the new size; confirm removes what the source kept; a second
//! resize reverted brings the guest back on its host with the old flavor.
//! Guests boot at most one at a time; waits are generous, nothing is timed.

#![allow(clippy::unwrap_used)]

use nova_e2e::{start_real_guest_cloud_hosts, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

async fn console(cloud: &Cloud, id: &str) -> String {
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-getConsoleOutput": {}})),
        )
        .await;
    if s != 200 {
        return String::new();
    }
    b["output"].as_str().unwrap_or_default().to_string()
}

async fn wait_status(cloud: &Cloud, id: &str, status: &str) -> Value {
    cloud
        .wait_for(&format!("{id} {status}"), 600, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == status && b["server"]["OS-EXT-STS:task_state"].is_null())
                .then(|| b["server"].clone())
        })
        .await
}

/// The guest's console has a lease line (it booted and got its address).
async fn wait_booted(cloud: &Cloud, id: &str) {
    cloud
        .wait_for(&format!("{id} to boot"), 600, || async {
            console(cloud, id)
                .await
                .contains("GUEST-LEASE")
                .then_some(())
        })
        .await;
}

async fn action(cloud: &Cloud, id: &str, body: Value) {
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(body),
        )
        .await;
    assert!(s == 202 || s == 204, "{s} {b}");
}

fn virtual_size(disk: &std::path::Path) -> u64 {
    let out = Command::new("qemu-img")
        .args(["info", "-U", "--output=json"])
        .arg(disk)
        .output()
        .unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v["virtual-size"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_across_two_real_hosts_confirm_and_revert() {
    let (cloud, guest) = start_real_guest_cloud_hosts(2, false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(json!({"flavor": {"name": "guest2", "id": "guest2", "ram": 160, "vcpus": 1, "disk": 2}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "rg1", "imageRef": image, "flavorRef": "guest"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    let source = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    wait_booted(&cloud, &id).await;

    // Resize: the other host, the disk copied and grown to 2 GB, the guest booted there.
    action(&cloud, &id, json!({"resize": {"flavorRef": "guest2"}})).await;
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(dest, source);
    let dir = |host: &str| cloud.dir.join(format!("instances-{host}"));
    let disk = dir(&dest).join(&id).join("disk");
    assert_eq!(virtual_size(&disk), 2 << 30, "{}", disk.display());
    assert!(dir(&source).join(format!("{id}_resize")).exists());
    wait_booted(&cloud, &id).await;
    let xml = Command::new("virsh")
        .args(["-c", "qemu:///system", "dumpxml", &id])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&xml.stdout).contains(&format!("<nova:host>{dest}</nova:host>")),
        "the running domain is the destination's"
    );
    action(&cloud, &id, json!({"confirmResize": null})).await;
    wait_status(&cloud, &id, "ACTIVE").await;
    cloud
        .wait_for("the source to forget the old guest", 60, || async {
            (!dir(&source).join(format!("{id}_resize")).exists()).then_some(())
        })
        .await;

    // Resize back to `source` (the only other host)... and revert: the guest
    // runs on `dest` again with flavor guest2.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(json!({"flavor": {"name": "guest3", "id": "guest3", "ram": 192, "vcpus": 1, "disk": 2}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    action(&cloud, &id, json!({"resize": {"flavorRef": "guest3"}})).await;
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str());
    action(&cloud, &id, json!({"revertResize": null})).await;
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], dest.as_str());
    assert_eq!(srv["flavor"]["id"], "guest2");
    assert_eq!(srv["OS-EXT-STS:power_state"], 1, "running again: {srv}");
    wait_booted(&cloud, &id).await;
    assert!(
        !dir(&source).join(&id).exists(),
        "the reverted copy is gone"
    );

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
        .wait_for("the server to be gone", 300, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
}
