//! Evacuate a real guest (QEMU under TCG, the project's tiny guest) between
//! two compute hosts on one machine sharing `qemu:///system`, each with its
//! own `instances_path`. The source host's failure is simulated as a crash:
//! its nova-compute killed and its guest powered off. The guest boots on the
//! destination from a fresh disk (on this one libvirt the destination's
//! domain takes the uuid over, so it is no longer the source's); the
//! source, started again, completes the migration and leaves the
//! destination's guest alone, the one guest of that uuid here being
//! another host's.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::console_output as console;
use nova_e2e::{call, start_real_guest_cloud_hosts, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

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

fn virsh(args: &[&str]) -> (bool, String) {
    let out = Command::new("virsh")
        .args(["-c", "qemu:///system"])
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evacuate_a_real_guest_from_a_crashed_host() {
    let (mut cloud, guest) = start_real_guest_cloud_hosts(2, false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "ev-rg", "imageRef": image, "flavorRef": "guest"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    let source = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    wait_booted(&cloud, &id).await;
    let base = cloud.dir.clone();
    let dir = |host: &str| base.join(format!("instances-{host}"));
    assert!(dir(&source).join(&id).join("disk").exists());

    // The source host crashes: its nova-compute dies, its guest with it.
    let daemon = cloud
        .daemons
        .iter()
        .find(|d| d.name == format!("nova-compute@{source}"))
        .unwrap()
        .name
        .clone();
    cloud.kill(&daemon);
    assert!(virsh(&["destroy", &id]).0, "cannot power {id} off");
    let (s, b) = call(
        &cloud,
        Method::PUT,
        "/os-services/force-down",
        &cloud.admin,
        "2.11",
        Some(json!({"host": source, "binary": "nova-compute", "forced_down": true})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.admin,
        "2.14",
        Some(json!({"evacuate": {}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(dest, source);
    assert!(dir(&dest).join(&id).join("disk").exists());
    wait_booted(&cloud, &id).await;
    let (_, xml) = virsh(&["dumpxml", &id]);
    assert!(
        xml.contains(&format!("<nova:host>{dest}</nova:host>")),
        "the running domain is the destination's"
    );

    // The source comes back: the migration completes; the guest runs on.
    cloud.restart(&daemon);
    cloud
        .wait_for("the evacuation to be completed", 60, || async {
            let (_, b) = call(
                &cloud,
                Method::GET,
                &format!("/os-migrations?instance_uuid={id}"),
                &cloud.admin,
                "2.23",
                None,
            )
            .await;
            b["migrations"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["migration_type"] == "evacuation" && m["status"] == "completed")
                .then_some(())
        })
        .await;
    assert!(
        cloud
            .log(&daemon)
            .contains("evacuated while this host was down; no guest of it here"),
        "the source saw the guest is not its own"
    );
    // Its leftover disk on the source is gone (no shared storage); the
    // destination's files and guest are untouched.
    assert!(
        !dir(&source).join(&id).exists(),
        "the source still holds the evacuated instance's files"
    );
    assert!(dir(&dest).join(&id).join("disk").exists());
    let (_, xml) = virsh(&["dumpxml", &id]);
    assert!(xml.contains(&format!("<nova:host>{dest}</nova:host>")));
    assert!(virsh(&["domstate", &id]).1.contains("running"));
    wait_booted(&cloud, &id).await;

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
