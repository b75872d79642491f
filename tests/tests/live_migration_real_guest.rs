//! Live migration of a real guest (QEMU under TCG, the project's tiny guest)
//! between two hypervisors: `qemu:///system` and the second libvirtd of
//! this machine (`tests/second-libvirt.sh`), a compute host on each, each
//! with its own `instances_path`; a block migration (no shared storage).
//!
//! The guest's user data prints `GUEST-TICK boot=<boot id> n=<n>` on its
//! console every second. After the move the destination's console (a new
//! file there) goes on with the same boot id from where it was, without a
//! boot: the guest kept running. The domain is on the other libvirt, owned
//! by the other host; the source's files are gone. Then back again, with
//! the scheduler choosing. And a migration held back (1 MiB/s) is aborted:
//! the guest ticks on where it was, nothing of it is left on the other side.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::console_output;
use nova_e2e::{call, start_two_hypervisor_cloud, Cloud, SECOND_LIBVIRT_URI};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

/// One real-guest cloud at a time in this file (2 shared cores, TCG).
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const TICKER: &str = r#"#!/bin/sh
b="$(cat /proc/sys/kernel/random/boot_id)"
n=0
while true; do
    n=$((n + 1))
    echo "GUEST-TICK boot=$b n=$n"
    sleep 1
done
"#;

/// The ticks on the console: (boot id, n), in order.
fn ticks(console: &str) -> Vec<(String, u64)> {
    console
        .lines()
        .filter_map(|l| {
            let rest = &l[l.find("GUEST-TICK boot=")? + "GUEST-TICK boot=".len()..];
            let (boot, n) = rest.split_once(" n=")?;
            Some((boot.to_string(), n.trim().parse().ok()?))
        })
        .collect()
}

async fn server(cloud: &Cloud, id: &str) -> Value {
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    b["server"].clone()
}

/// Wait for the server to be ACTIVE with no task on `host`.
async fn active_on(cloud: &Cloud, id: &str, host: &str) -> Value {
    cloud
        .wait_for(&format!("{id} ACTIVE on {host}"), 600, || async {
            let srv = server(cloud, id).await;
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == "ACTIVE"
                && srv["OS-EXT-STS:task_state"].is_null()
                && srv["OS-EXT-SRV-ATTR:host"] == host)
                .then_some(srv)
        })
        .await
}

/// Wait for at least `count` ticks on the server's console; the ticks.
async fn ticking(cloud: &Cloud, id: &str, count: usize) -> Vec<(String, u64)> {
    cloud
        .wait_for(&format!("{count} ticks on {id}'s console"), 600, || async {
            let t = ticks(&console_output(cloud, id).await);
            (t.len() >= count).then_some(t)
        })
        .await
}

/// The domain names `virsh list` shows on `uri`.
fn domains(uri: &str) -> String {
    let out = Command::new("virsh")
        .args(["-c", uri, "list", "--all", "--uuid"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The last live migration of the server, from os-migrations.
async fn last_live_migration(cloud: &Cloud, id: &str) -> Value {
    let (_, b) = call(
        cloud,
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
        .filter(|m| m["migration_type"] == "live-migration")
        .max_by_key(|m| m["id"].as_i64())
        .cloned()
        .unwrap_or_else(|| panic!("no live migration: {b}"))
}

/// The guest moved from `from` to `to` and kept running: the destination's
/// console goes on with `boot`'s ticks past `last`, and shows no boot.
async fn check_moved_alive(cloud: &Cloud, id: &str, boot: &str, last: u64) {
    let after = ticking(cloud, id, 2).await;
    let console = console_output(cloud, id).await;
    assert!(
        after.iter().all(|(b, _)| b == boot),
        "the guest rebooted: {after:?} (before: {boot})"
    );
    assert!(
        after[0].1 > last.saturating_sub(5) && after[0].1 > 1,
        "the destination's console starts at tick {} (last seen before: {last})",
        after[0].1
    );
    assert!(
        !console.contains("Linux version"),
        "the destination's console shows a boot:\n{console}"
    );
}

/// The ticking guest, booted and ticking: (id, its host).
async fn boot_ticker(cloud: &Cloud, image: &str) -> (String, String) {
    let user_data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(TICKER)
    };
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "lm", "imageRef": image, "flavorRef": "guest", "user_data": user_data}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = cloud
        .wait_for("the guest ACTIVE", 600, || async {
            let srv = server(cloud, &id).await;
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == "ACTIVE").then_some(srv)
        })
        .await;
    ticking(cloud, &id, 3).await;
    let host = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    (id, host)
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

/// The two hosts of a two-hypervisor cloud, `host` first.
fn hosts_from(cloud: &Cloud, host: &str) -> (String, String) {
    let (a, b) = (format!("qemu-{}", cloud.id), format!("qemu2-{}", cloud.id));
    if host == a {
        (a, b)
    } else {
        (b, a)
    }
}

/// The libvirt URI of a host of a two-hypervisor cloud.
fn uri_of(cloud: &Cloud, host: &str) -> String {
    if host == format!("qemu-{}", cloud.id) {
        "qemu:///system".to_string()
    } else {
        SECOND_LIBVIRT_URI.to_string()
    }
}

/// A host's directory of the instance.
fn instance_dir(cloud: &Cloud, host: &str, id: &str) -> std::path::PathBuf {
    std::env::temp_dir()
        .join(format!("nova-e2e-{}", cloud.id))
        .join(format!("instances-{host}"))
        .join(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_guest_keeps_running_across_a_live_migration() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (cloud, guest) = start_two_hypervisor_cloud(true, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (id, source) = boot_ticker(&cloud, &image).await;
    let (_, dest) = hosts_from(&cloud, &source);
    let boot = ticks(&console_output(&cloud, &id).await)[0].0.clone();
    let source_dir = instance_dir(&cloud, &source, &id);
    assert!(source_dir.join("disk").exists());

    // ===== to the other hypervisor, named, block migration "auto" (CLI) =====
    let last = ticks(&console_output(&cloud, &id).await).last().unwrap().1;
    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.30",
            "server",
            "migrate",
            "--live-migration",
            "--host",
            &dest,
            &id,
        ],
    );
    active_on(&cloud, &id, &dest).await;
    let m = last_live_migration(&cloud, &id).await;
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(m["source_compute"], source.as_str(), "{m}");
    check_moved_alive(&cloud, &id, &boot, last).await;
    assert!(
        domains(&uri_of(&cloud, &dest)).contains(&id),
        "not on {dest}'s libvirt"
    );
    assert!(
        !domains(&uri_of(&cloud, &source)).contains(&id),
        "still on {source}'s libvirt"
    );
    assert!(
        !source_dir.exists(),
        "the source kept {}",
        source_dir.display()
    );

    // ===== back, where the scheduler finds room (2.1: a block migration, asked) =====
    let last = ticks(&console_output(&cloud, &id).await).last().unwrap().1;
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-migrateLive": {"host": null, "block_migration": true, "disk_over_commit": false}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    active_on(&cloud, &id, &source).await;
    check_moved_alive(&cloud, &id, &boot, last).await;
    assert!(domains(&uri_of(&cloud, &source)).contains(&id));
    assert!(!domains(&uri_of(&cloud, &dest)).contains(&id));
    delete(&cloud, &id).await;
    assert!(!domains(&uri_of(&cloud, &source)).contains(&id));
}

/// Held back by `live_migration_bandwidth` (1 MiB/s: the guest's memory
/// takes minutes), the migration shows its progress (libvirt's job
/// statistics), then is aborted (2.24): libvirt's job ends, the
/// guest ticks on where it was without a reboot, the migration is
/// `cancelled`, the destination keeps no domain and no files of it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_live_migration_leaves_the_guest_running_where_it_was() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (cloud, guest) = start_two_hypervisor_cloud(true, "live_migration_bandwidth = 1").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (id, source) = boot_ticker(&cloud, &image).await;
    let (_, dest) = hosts_from(&cloud, &source);
    let boot = ticks(&console_output(&cloud, &id).await)[0].0.clone();
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.admin,
        "2.25",
        Some(json!({"os-migrateLive": {"host": dest, "block_migration": "auto"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let mid = cloud
        .wait_for("the live migration to run", 120, || async {
            let (_, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{id}/migrations"),
                &cloud.admin,
                "2.24",
                None,
            )
            .await;
            b["migrations"]
                .as_array()
                .and_then(|l| l.first().cloned())
                .filter(|m| m["status"] == "running")
                .map(|m| m["id"].as_i64().unwrap())
        })
        .await;
    // Its progress, as libvirt's job statistics tell the source: the
    // guest's memory in total, and more of it copied as it runs.
    let progress = || async {
        let (s, b) = call(
            &cloud,
            Method::GET,
            &format!("/servers/{id}/migrations/{mid}"),
            &cloud.admin,
            "2.24",
            None,
        )
        .await;
        assert_eq!(s, 200, "{b}");
        b["migration"].clone()
    };
    let first = cloud
        .wait_for("the migration's progress", 60, || async {
            let m = progress().await;
            m["memory_total_bytes"]
                .as_i64()
                .filter(|t| *t > 0)
                .map(|_| m.clone())
        })
        .await;
    let copied = |m: &Value| m["memory_processed_bytes"].as_i64().unwrap_or(0);
    assert!(
        first["memory_remaining_bytes"].as_i64().is_some(),
        "{first}"
    );
    cloud
        .wait_for("more of the memory copied", 60, || async {
            (copied(&progress().await) > copied(&first)).then_some(())
        })
        .await;
    let (s, b) = call(
        &cloud,
        Method::DELETE,
        &format!("/servers/{id}/migrations/{mid}"),
        &cloud.admin,
        "2.24",
        None,
    )
    .await;
    assert_eq!(s, 202, "{b}");
    active_on(&cloud, &id, &source).await;
    cloud
        .wait_for("the migration cancelled", 120, || async {
            let m = last_live_migration(&cloud, &id).await;
            (m["status"] == "cancelled").then_some(())
        })
        .await;
    let last = ticks(&console_output(&cloud, &id).await).last().unwrap().1;
    let on = cloud
        .wait_for("the guest to tick on", 120, || async {
            let t = ticks(&console_output(&cloud, &id).await);
            t.last().filter(|(_, n)| *n > last + 2).map(|_| t.clone())
        })
        .await;
    assert!(
        on.iter().all(|(b, _)| *b == boot),
        "the guest rebooted: {on:?}"
    );
    assert!(domains(&uri_of(&cloud, &source)).contains(&id));
    cloud
        .wait_for("the destination to clean up", 60, || async {
            (!domains(&uri_of(&cloud, &dest)).contains(&id)
                && !instance_dir(&cloud, &dest, &id).exists())
            .then_some(())
        })
        .await;
    delete(&cloud, &id).await;
}
