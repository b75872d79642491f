//! Evacuate, end to end on two fake compute hosts through the real
//! `openstack` CLI: refused while the source's nova-compute is up, then
//! (source killed and forced down) the server rebuilt on the other host with
//! an `evacuation` migration and the usage moved; the source, started again,
//! completes the migration (the fake driver's guests do not outlive its
//! process, so it has no guest left to destroy); at 2.95 the evacuated
//! server ends SHUTOFF.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

fn json_out(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

async fn wait_status(cloud: &Cloud, id: &str, status: &str) -> Value {
    cloud
        .wait_for(&format!("server {id} to be {status}"), 90, || async {
            let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_eq!(s, 200, "{b}");
            let srv = b["server"].clone();
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == status && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

async fn vcpus_used(cloud: &Cloud) -> Vec<(String, i64)> {
    let (s, b) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
    assert_eq!(s, 200, "{b}");
    let mut v: Vec<(String, i64)> = b["hypervisors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["service"]["host"].as_str().unwrap().to_string(),
                h["vcpus_used"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The instance's evacuations that did not fail.
async fn evacuations(cloud: &Cloud, id: &str) -> Vec<Value> {
    all_evacuations(cloud, id)
        .await
        .into_iter()
        .filter(|m| m["status"] != "failed")
        .collect()
}

async fn all_evacuations(cloud: &Cloud, id: &str) -> Vec<Value> {
    let (s, b) = call(
        cloud,
        Method::GET,
        &format!("/os-migrations?instance_uuid={id}"),
        &cloud.admin,
        "2.23",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["migration_type"] == "evacuation")
        .cloned()
        .collect()
}

/// `{"evacuate": ...}` as an admin at 2.29.
async fn evacuate(cloud: &Cloud, id: &str, body: Value) -> (u16, Value) {
    let path = format!("/servers/{id}/action");
    call(cloud, Method::POST, &path, &cloud.admin, "2.29", Some(body)).await
}

fn compute_daemon(cloud: &Cloud, host: &str) -> String {
    cloud
        .daemons
        .iter()
        .find(|d| d.name.starts_with("nova-compute@") && d.name.ends_with(host))
        .unwrap_or_else(|| panic!("no nova-compute daemon for {host}"))
        .name
        .clone()
}

fn force_down(cloud: &Cloud, host: &str, down: bool) {
    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.11",
            "compute",
            "service",
            "set",
            if down { "--down" } else { "--up" },
            host,
            "nova-compute",
        ],
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evacuate_from_a_dead_host_and_clean_up_when_it_returns() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-ea-{id}"), ""),
                ComputeHost::fake(format!("e2e-eb-{id}"), ""),
            ]
        },
        true,
    )
    .await;
    let created = json_out(&cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "1",
            "--nic",
            "none",
            "--wait",
            "-f",
            "json",
            "ev1",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    let source = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    let hosts: Vec<String> = vcpus_used(&cloud).await.into_iter().map(|h| h.0).collect();
    let dest = hosts.iter().find(|h| **h != source).unwrap().clone();
    // The source is up: 400, nothing changes.
    let (s, b) = evacuate(&cloud, &id, json!({"evacuate": {}})).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b.to_string().contains("is still in use"),
        "Nova's ComputeServiceInUse: {b}"
    );
    // Admin only.
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.demo,
        "2.29",
        Some(json!({"evacuate": {}})),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    // The body per microversion: onSharedStorage is required at 2.1 and gone at 2.14.
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.admin,
        "2.1",
        Some(json!({"evacuate": {}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = evacuate(&cloud, &id, json!({"evacuate": {"onSharedStorage": false}})).await;
    assert_eq!(s, 400, "{b}");

    // The source dies (its server paused) and an admin forces its service down.
    cloud.osc("demo", &["server", "pause", &id]);
    wait_status(&cloud, &id, "PAUSED").await;
    let source_daemon = compute_daemon(&cloud, &source);
    cloud.kill(&source_daemon);
    force_down(&cloud, &source, true);
    // Unknown target: 404; the source itself: 400; PAUSED: 409 (ACTIVE,
    // STOPPED and ERROR only).
    let (s, b) = evacuate(&cloud, &id, json!({"evacuate": {"host": "nowhere"}})).await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = evacuate(&cloud, &id, json!({"evacuate": {"host": source}})).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = evacuate(&cloud, &id, json!({"evacuate": {}})).await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-resetState": {"state": "active"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");

    // The only other host disabled: no valid host; the server stays where
    // it was, its task_state cleared, and no migration is left behind.
    let service = |action: &str, host: &str| {
        cloud.osc(
            "admin",
            &["compute", "service", "set", action, host, "nova-compute"],
        );
    };
    service("--disable", &dest);
    let (s, b) = evacuate(&cloud, &id, json!({"evacuate": {}})).await;
    assert_eq!(s, 200, "{b}");
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str(), "{srv}");
    assert!(evacuations(&cloud, &id).await.is_empty());
    service("--enable", &dest);

    // Before 2.14 the caller says whether the disk is on shared storage:
    // it is not (the destination does not see it), so asking to reuse it
    // fails on the destination as Nova's InvalidSharedStorage: the server
    // in ERROR with the fault, still on its source, the migration failed.
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.admin,
        "2.13",
        Some(json!({"evacuate": {"host": dest, "onSharedStorage": true}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["adminPass"].is_null(),
        "no password for a reused disk: {b}"
    );
    let srv = cloud
        .wait_for("the server in ERROR", 90, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (b["server"]["status"] == "ERROR").then(|| b["server"].clone())
        })
        .await;
    assert!(srv["OS-EXT-STS:task_state"].is_null(), "{srv}");
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str(), "{srv}");
    let fault = srv["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("is not on shared storage"), "{srv}");
    let failed = all_evacuations(&cloud, &id).await;
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["status"], "failed", "{failed:?}");
    let used = vcpus_used(&cloud).await;
    assert!(
        used.contains(&(dest.clone(), 0)),
        "the claim went: {used:?}"
    );
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-resetState": {"state": "active"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");

    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.29",
            "server",
            "evacuate",
            "--host",
            &dest,
            &id,
        ],
    );
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], dest.as_str(), "{srv}");
    assert_eq!(srv["OS-EXT-STS:power_state"], 1, "{srv}");
    let ev = evacuations(&cloud, &id).await;
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0]["status"], "done", "{ev:?}");
    assert_eq!(ev[0]["source_compute"], source.as_str(), "{ev:?}");
    assert_eq!(ev[0]["dest_compute"], dest.as_str(), "{ev:?}");
    let used = vcpus_used(&cloud).await;
    assert!(used.contains(&(source.clone(), 0)), "{used:?}");
    assert!(used.contains(&(dest.clone(), 1)), "{used:?}");
    let (s, b) = cloud
        .get(&format!("/servers/{id}/os-instance-actions"), &cloud.admin)
        .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["instanceActions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["action"] == "evacuate"),
        "{b}"
    );

    // The source comes back: it destroys what is left of the instance
    // there and completes the migration; then it is put back in service.
    cloud.restart(&source_daemon);
    cloud
        .wait_for("the evacuation to be completed", 60, || async {
            let ev = evacuations(&cloud, &id).await;
            (ev[0]["status"] == "completed").then_some(())
        })
        .await;
    assert!(
        cloud
            .log(&source_daemon)
            .contains("evacuated while this host was down"),
        "the source looked at the evacuation"
    );
    force_down(&cloud, &source, false);
    let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server"]["OS-EXT-SRV-ATTR:host"], dest.as_str(), "{b}");

    // Back the other way at 2.95 (the scheduler chooses): it ends SHUTOFF.
    let dest_daemon = compute_daemon(&cloud, &dest);
    cloud.kill(&dest_daemon);
    force_down(&cloud, &dest, true);
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.admin,
        "2.95",
        Some(json!({"evacuate": {}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(b.is_null(), "no body from 2.14: {b}");
    let srv = wait_status(&cloud, &id, "SHUTOFF").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str(), "{srv}");
    assert_eq!(srv["OS-EXT-STS:power_state"], 4, "{srv}");
    // The hosts' usage, as their resource trackers report it (the source's
    // may report a moment after the server's state shows).
    let expected = [(source.clone(), 1), (dest.clone(), 0)];
    cloud
        .wait_for("the source's claim reported", 30, || async {
            let used = vcpus_used(&cloud).await;
            expected.iter().all(|e| used.contains(e)).then_some(())
        })
        .await;
    // A stopped server is started on its new host as usual.
    cloud.osc("admin", &["server", "start", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;
    cloud.restart(&dest_daemon);
    cloud
        .wait_for("the second evacuation to be completed", 60, || async {
            let ev = evacuations(&cloud, &id).await;
            ev.iter().all(|m| m["status"] == "completed").then_some(())
        })
        .await;
    force_down(&cloud, &dest, false);
    // The server is still there and deletable.
    cloud.osc("admin", &["server", "delete", "--wait", &id]);
}
