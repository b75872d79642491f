//! Resize and cold migration between two real compute hosts on one machine
//! (QEMU under TCG, the project's tiny guest; both nova-compute share
//! `qemu:///system`, each with its own `instances_path`).
//!
//! The guest's user data keeps a record on its root disk (raw, 64 MiB in,
//! past the 32 MiB boot image; the disk is grown to the flavor's root_gb):
//! each boot prints what it reads there and writes the record back with its
//! counter plus one, so the console tells which disk each boot ran from:
//! the copy on the destination after a resize or migration, the source's
//! own disk, as it was, after a revert (what the destination wrote is gone).
//!
//! 1. resize to the other host, confirm (the source forgets the old guest);
//!    resize back and revert (the guest runs on its host again, old flavor,
//!    old disk);
//! 2. cold migrate (`openstack server migrate`, admin) and confirm; then a
//!    resize whose destination nova-compute is killed after the source has
//!    handed the disk over: at restart the destination hands the instance
//!    back, and it runs again on its host with its flavor and its disk.
//!
//! Guests boot one at a time (the tests take turns); waits are generous,
//! nothing is timed.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::{disk_marker_user_data, next_disk_boot};
use nova_e2e::{start_real_guest_cloud_hosts, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::process::Command;

/// One real-guest cloud at a time in this file (2 shared cores, TCG).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

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

async fn flavor(cloud: &Cloud, id: &str, ram: u32, disk: u32) {
    flavor_with(cloud, id, ram, disk, 0, 0).await
}

/// A flavor with an ephemeral disk (GiB) and swap (MiB).
async fn flavor_with(cloud: &Cloud, id: &str, ram: u32, disk: u32, ephemeral: u32, swap: u32) {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(
                json!({"flavor": {"name": id, "id": id, "ram": ram, "vcpus": 1, "disk": disk,
                "OS-FLV-EXT-DATA:ephemeral": ephemeral, "swap": swap}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
}

/// A guest booted from the tiny disk with the disk-record user data; its
/// id and the host it runs on.
async fn boot_marker_guest(cloud: &Cloud, image: &str, name: &str) -> (String, String) {
    let user_data = disk_marker_user_data();
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": name, "imageRef": image, "flavorRef": "guest", "user_data": user_data}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = wait_status(cloud, &id, "ACTIVE").await;
    (
        id,
        srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string(),
    )
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

/// The host whose `<nova:host>` the running domain carries.
fn domain_owner(id: &str) -> String {
    let xml = Command::new("virsh")
        .args(["-c", "qemu:///system", "dumpxml", id])
        .output()
        .unwrap();
    let xml = String::from_utf8_lossy(&xml.stdout);
    xml.split("<nova:host>")
        .nth(1)
        .and_then(|s| s.split("</nova:host>").next())
        .unwrap_or_default()
        .to_string()
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
        .wait_for("the server to be gone", 300, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_across_two_real_hosts_confirm_and_revert() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (cloud, guest) = start_real_guest_cloud_hosts(2, false, "shutdown_timeout = 30\n").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    // guest2 and guest3 add an ephemeral disk and swap.
    flavor_with(&cloud, "guest2", 160, 2, 1, 8).await;
    let (id, source) = boot_marker_guest(&cloud, &image, "rg1").await;
    let dir = |host: &str| cloud.dir.join(format!("instances-{host}"));
    // The 32 MiB image grown to the flavor's 1 GB root disk.
    assert_eq!(virtual_size(&dir(&source).join(&id).join("disk")), 1 << 30);
    let mut seen = HashSet::new();
    let (read, first) = next_disk_boot(&cloud, &id, &mut seen).await;
    assert_eq!(read, "none", "a blank disk at first");
    let token = first.split(':').nth(1).unwrap().to_string();
    let mark = |n: u32| format!("MARK:{token}:{n}");
    assert_eq!(first, mark(1));

    // Resize: the other host, the disk copied and grown to 2 GB, the guest
    // booted there from the copy (it reads what it wrote on the source).
    action(&cloud, &id, json!({"resize": {"flavorRef": "guest2"}})).await;
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(dest, source);
    let disk = dir(&dest).join(&id).join("disk");
    assert_eq!(virtual_size(&disk), 2 << 30, "{}", disk.display());
    assert!(dir(&source).join(format!("{id}_resize")).exists());
    // The new flavor's disks, made there.
    let local = |host: &str, file: &str| virtual_size(&dir(host).join(&id).join(file));
    assert_eq!(local(&dest, "disk.local"), 1 << 30);
    assert_eq!(local(&dest, "disk.swap"), 8 << 20);
    assert_eq!(
        next_disk_boot(&cloud, &id, &mut seen).await,
        (mark(1), mark(2)),
        "the destination's copy of the disk"
    );
    assert_eq!(
        domain_owner(&id),
        dest,
        "the running domain is the destination's"
    );
    action(&cloud, &id, json!({"confirmResize": null})).await;
    wait_status(&cloud, &id, "ACTIVE").await;
    cloud
        .wait_for("the source to forget the old guest", 60, || async {
            (!dir(&source).join(format!("{id}_resize")).exists()).then_some(())
        })
        .await;

    // Resize back to `source` (the only other host): the guest there writes
    // 3; revert: the guest runs on `dest` again with flavor guest2 and its
    // disk as it was (2: what the resized guest wrote is gone with it).
    flavor_with(&cloud, "guest3", 192, 2, 2, 16).await;
    action(&cloud, &id, json!({"resize": {"flavorRef": "guest3"}})).await;
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str());
    // The ephemeral disk came along, grown; swap as big as guest3's.
    assert_eq!(local(&source, "disk.local"), 2 << 30);
    assert_eq!(local(&source, "disk.swap"), 16 << 20);
    assert_eq!(
        next_disk_boot(&cloud, &id, &mut seen).await,
        (mark(2), mark(3))
    );
    action(&cloud, &id, json!({"revertResize": null})).await;
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], dest.as_str());
    assert_eq!(srv["flavor"]["id"], "guest2");
    assert_eq!(srv["OS-EXT-STS:power_state"], 1, "running again: {srv}");
    assert_eq!(
        next_disk_boot(&cloud, &id, &mut seen).await,
        (mark(2), mark(3)),
        "the reverted guest runs from its own disk, as it was before the resize"
    );
    assert_eq!(domain_owner(&id), dest);
    assert_eq!(local(&dest, "disk.local"), 1 << 30, "guest2's, as it was");
    assert!(
        !dir(&source).join(&id).exists(),
        "the reverted copy is gone"
    );
    delete(&cloud, &id).await;
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cold_migrate_and_a_destination_killed_mid_resize_on_real_hosts() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (mut cloud, guest) = start_real_guest_cloud_hosts(2, true, "shutdown_timeout = 30\n").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    flavor(&cloud, "guest2", 160, 2).await;
    let (id, first_host) = boot_marker_guest(&cloud, &image, "rg2").await;
    let mut seen = HashSet::new();
    let (read, first) = next_disk_boot(&cloud, &id, &mut seen).await;
    assert_eq!(read, "none");
    let token = first.split(':').nth(1).unwrap().to_string();
    let mark = |n: u32| format!("MARK:{token}:{n}");

    // Cold migration (admin, the CLI): the same flavor on the other host,
    // booted from the copied disk; confirmed.
    cloud.osc("admin", &["server", "migrate", &id]);
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    let host = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(host, first_host);
    assert_eq!(srv["flavor"]["id"], "guest");
    assert_eq!(
        next_disk_boot(&cloud, &id, &mut seen).await,
        (mark(1), mark(2)),
        "the migrated guest runs from the copy of its disk"
    );
    assert_eq!(domain_owner(&id), host);
    cloud.osc("admin", &["server", "resize", "confirm", &id]);
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], host.as_str());
    let (s, b) = cloud
        .get(
            &format!("/os-migrations?instance_uuid={id}&migration_type=migration"),
            &cloud.admin,
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["migrations"][0]["status"], "confirmed", "{b}");
    assert_eq!(b["migrations"][0]["source_compute"], first_host.as_str());
    assert_eq!(b["migrations"][0]["dest_compute"], host.as_str());

    // A resize to `first_host` (the only other host) whose destination dies
    // after the source handed the disk over. The steps are held still with
    // SIGSTOP so the kill lands there: the source waits until the
    // destination has done prep_resize; the destination then waits while
    // the source powers the guest off and hands its disk over
    // (resize_migrated, finish_resize queued for it); then it is killed and
    // started again.
    let source_svc = format!("nova-compute@{host}");
    let dest_svc = format!("nova-compute@{first_host}");
    signal(cloud.pid(&source_svc), "-STOP");
    action(&cloud, &id, json!({"resize": {"flavorRef": "guest2"}})).await;
    cloud
        .wait_for("the destination's prep_resize", 120, || async {
            cloud
                .action_events(&id, "resize")
                .await
                .contains(&("compute_prep_resize".to_string(), true))
                .then_some(())
        })
        .await;
    signal(cloud.pid(&dest_svc), "-STOP");
    signal(cloud.pid(&source_svc), "-CONT");
    cloud
        .wait_for("the source to hand the disk over", 300, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["OS-EXT-STS:task_state"] == "resize_migrated").then_some(())
        })
        .await;
    cloud.restart(&dest_svc);

    // The instance ends usable: back on its host, its flavor, its disk.
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], host.as_str(), "{srv}");
    assert_eq!(srv["flavor"]["id"], "guest", "{srv}");
    let (_, b) = cloud
        .get(
            &format!("/os-migrations?instance_uuid={id}&migration_type=resize"),
            &cloud.admin,
        )
        .await;
    assert_eq!(b["migrations"][0]["status"], "reverted", "{b}");
    assert!(
        cloud
            .log(&dest_svc)
            .contains("a resize was interrupted on its destination"),
        "the restarted destination's init_host handed the instance back"
    );
    assert_eq!(
        next_disk_boot(&cloud, &id, &mut seen).await,
        (mark(2), mark(3)),
        "the guest runs again from its own disk"
    );
    assert_eq!(domain_owner(&id), host);
    let dir = |h: &str| cloud.dir.join(format!("instances-{h}"));
    assert!(!dir(&host).join(format!("{id}_resize")).exists());
    assert!(!dir(&first_host).join(&id).exists());
    delete(&cloud, &id).await;
}
