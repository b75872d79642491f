//! The single-host server actions with the real `openstack` CLI and over
//! HTTP, on a fake compute host: `server set --state` (os-resetState),
//! injectNetworkInfo, and os-migrateLive refused with Nova's 400
//! (NoValidHost; ComputeHostNotFound for an unknown host) or 409 in a state
//! a live migration cannot start from; resize and cold migration refused
//! at once with Nova's 400 NoValidHost, the migration recorded `error`; changePassword answered by the host
//! (202, no task state left, the action's event) and refused when stopped;
//! policies (403 for a project member), instance actions recorded; a
//! config drive with a personality file (`--use-config-drive --file`), the
//! personality quotas (403), an image with an invalid `img_config_drive`
//! (ERROR with Nova's fault).

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

async fn action(cloud: &Cloud, id: &str, token: &str, mv: &str, body: Value) -> (u16, Value) {
    call(
        cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        token,
        mv,
        Some(body),
    )
    .await
}

async fn show(cloud: &Cloud, id: &str) -> Value {
    call(
        cloud,
        Method::GET,
        &format!("/servers/{id}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await
    .1["server"]
        .clone()
}

/// `openstack server create --wait` of a server "vm" as demo: its id.
fn boot_vm(cloud: &Cloud) -> String {
    boot_named(cloud, "vm")
}

/// `openstack server create --wait` of a server `name` as demo: its id.
fn boot_named(cloud: &Cloud, name: &str) -> String {
    let out = cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--wait",
            "-f",
            "json",
            name,
        ],
    );
    json_out(&out)["id"].as_str().unwrap().to_string()
}

fn json_out(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

fn message(b: &Value) -> String {
    b.as_object()
        .and_then(|o| o.values().next())
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_state_inject_network_info_and_live_migration_refused() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("one-{id}"), "")], true).await;
    let host = format!("one-{}", cloud.id);
    let admin = cloud.admin.clone();
    let demo = cloud.demo.clone();
    let vm = boot_vm(&cloud);

    // ===== os-resetState: admin only, active or error =====
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.1",
        json!({"os-resetState": {"state": "error"}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    for bad in [
        json!({"os-resetState": {"state": "stopped"}}),
        json!({"os-resetState": {}}),
        json!({"os-resetState": {"state": "error", "x": 1}}),
    ] {
        let (s, b) = action(&cloud, &vm, &admin, "2.1", bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {b}");
    }
    assert_eq!(show(&cloud, &vm).await["status"], "ACTIVE");
    cloud.osc(
        "admin",
        &["server", "set", "--auto-approve", "--state", "error", &vm],
    );
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    assert_eq!(srv["OS-EXT-STS:vm_state"], "error");
    assert!(srv["OS-EXT-STS:task_state"].is_null());
    // In ERROR: no pause (409 with Nova's message), but a reset back.
    let (s, b) = action(&cloud, &vm, &demo, "2.1", json!({"pause": null})).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        message(&b),
        format!("Cannot 'pause' instance {vm} while it is in vm_state error"),
        "{b}"
    );
    cloud.osc(
        "admin",
        &["server", "set", "--auto-approve", "--state", "active", &vm],
    );
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    // The resets are recorded as instance actions.
    let (_, acts) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/os-instance-actions"),
        &admin,
        "2.1",
        None,
    )
    .await;
    let resets = acts["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["action"] == "resetState")
        .count();
    assert_eq!(resets, 2, "{acts}");

    // ===== injectNetworkInfo: admin only, a cast the host handles =====
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.1",
        json!({"injectNetworkInfo": null}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.1",
        json!({"injectNetworkInfo": null}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let log = format!("nova-compute@{host}");
    cloud
        .wait_for("the compute host injected the network info", 30, || async {
            cloud
                .log(&log)
                .contains("network info injected")
                .then_some(())
        })
        .await;

    // ===== resetNetwork: admin only, a cast the host logs (nothing to reset) =====
    let (s, b) = action(&cloud, &vm, &demo, "2.1", json!({"resetNetwork": null})).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        message(&b).contains("os_compute_api:os-admin-actions:reset_network"),
        "{b}"
    );
    let (s, b) = action(&cloud, &vm, &admin, "2.1", json!({"resetNetwork": null})).await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_for(
            "the compute host was asked to reset the network",
            30,
            || async { cloud.log(&log).contains("reset network").then_some(()) },
        )
        .await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers/00000000-0000-0000-0000-000000000000/action",
            &admin,
            Some(json!({"resetNetwork": null})),
        )
        .await;
    assert_eq!(s, 404, "{b}");

    // ===== os-migrateLive: on the only host there is nowhere to go; never a 5xx =====
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.25",
        json!({"os-migrateLive": {"host": null, "block_migration": "auto"}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.25",
        json!({"os-migrateLive": {"host": null, "block_migration": "auto"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(message(&b).starts_with("No valid host was found."), "{b}");
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.25",
        json!({"os-migrateLive": {"host": "nowhere", "block_migration": false}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        message(&b),
        "Compute host nowhere could not be found.",
        "{b}"
    );
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.1",
        json!({"os-migrateLive": {"host": null, "block_migration": false}}),
    )
    .await;
    assert_eq!(s, 400, "disk_over_commit is required before 2.25: {b}");
    // Nova's boolean spellings; forcing needs a host (2.30-2.67).
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.1",
        json!({"os-migrateLive": {"host": "nowhere", "block_migration": "False", "disk_over_commit": "no"}}),
    )
    .await;
    assert_eq!(
        (s, message(&b).as_str()),
        (400, "Compute host nowhere could not be found."),
        "{b}"
    );
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.30",
        json!({"os-migrateLive": {"host": null, "block_migration": "auto", "force": "true"}}),
    )
    .await;
    assert_eq!(
        (s, message(&b).as_str()),
        (400, "Can't force to a non-provided destination"),
        "{b}"
    );
    // The schemas of reboot, os-getConsoleOutput and resize, as Nova's.
    for body in [
        json!({"reboot": {"type": "hArD"}}),
        json!({"reboot": {"type": "SOFT", "when": "now"}}),
        json!({"reboot": {}}),
        json!({"os-getConsoleOutput": null}),
        json!({"os-getConsoleOutput": {"length": 1.5}}),
        json!({"os-getConsoleOutput": {"length": 5, "tail": true}}),
    ] {
        let (s, b) = action(&cloud, &vm, &demo, "2.1", body.clone()).await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.1",
        json!({"resize": {"flavorRef": "nope"}}),
    )
    .await;
    assert_eq!(
        (s, message(&b).as_str()),
        (400, "Flavor nope could not be found."),
        "{b}"
    );
    // The CLI says so too.
    let (ok, _, err) = cloud.openstack("admin", &["server", "migrate", "--live-migration", &vm]);
    assert!(!ok && err.contains("No valid host"), "{err}");

    // ===== resize and cold migration: no other host, so Nova's synchronous 400 =====
    // (`allow_resize_to_same_host` is off): the server is back as it was,
    // the migration is listed `error`, the action's event failed.
    let (s, b) = action(&cloud, &vm, &admin, "2.1", json!({"migrate": null})).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        message(&b),
        "No valid host was found. No valid host found for cold migrate",
        "{b}"
    );
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.1",
        json!({"resize": {"flavorRef": "2"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        message(&b),
        "No valid host was found. No valid host found for resize",
        "{b}"
    );
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_eq!(srv["OS-EXT-STS:task_state"], Value::Null, "{srv}");
    assert_eq!(srv["flavor"]["id"], "1", "{srv}");
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-migrations?instance_uuid={vm}"),
        &admin,
        "2.59",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let mut rows = b["migrations"].as_array().unwrap().clone();
    rows.sort_by_key(|m| m["id"].as_i64());
    let (live, others): (Vec<Value>, Vec<Value>) = rows
        .into_iter()
        .partition(|m| m["migration_type"] == "live-migration");
    // The two live migrations the conductor refused (no host; the unknown
    // host is the API's 400) are listed `error` too.
    let live: Vec<(&Value, &Value)> = live
        .iter()
        .map(|m| {
            assert_eq!(m["source_compute"], host.as_str(), "{m}");
            (&m["status"], &m["dest_compute"])
        })
        .collect();
    let error = json!("error");
    assert_eq!(
        live,
        [(&error, &Value::Null), (&error, &Value::Null)],
        "{b}"
    );
    let mut seen: Vec<(String, String)> = others
        .iter()
        .map(|m| {
            assert_eq!(m["source_compute"], host.as_str(), "{m}");
            assert_eq!(m["dest_compute"], Value::Null, "{m}");
            (
                m["migration_type"].as_str().unwrap().to_string(),
                m["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("migration".to_string(), "error".to_string()),
            ("resize".to_string(), "error".to_string())
        ],
        "{b}"
    );
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/os-instance-actions"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let resize = b["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "resize")
        .unwrap_or_else(|| panic!("no resize action: {b}"));
    let rid = resize["request_id"].as_str().unwrap();
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/os-instance-actions/{rid}"),
        &admin,
        "2.51",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let event = &b["instanceAction"]["events"][0];
    assert_eq!(event["event"], "conductor_migrate_server", "{b}");
    assert_eq!(event["result"], "Error", "{b}");
    // The CLI names the problem.
    let (ok, _, err) = cloud.openstack("demo", &["server", "resize", "--flavor", "m1.small", &vm]);
    assert!(
        !ok && err.contains("No valid host found for resize"),
        "{err}"
    );

    // ===== changePassword: the owner's, answered by the compute host =====
    for bad in [
        json!({"changePassword": {}}),
        json!({"changePassword": {"adminPass": 1}}),
        json!({"changePassword": {"adminPass": "x", "other": 1}}),
    ] {
        let (s, b) = action(&cloud, &vm, &demo, "2.1", bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.1",
        json!({"changePassword": {"adminPass": "Newpass1234"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    // The call was answered: nothing is left in a task state.
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert!(srv["OS-EXT-STS:task_state"].is_null(), "{srv}");
    let (_, acts) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/os-instance-actions"),
        &admin,
        "2.1",
        None,
    )
    .await;
    let req = acts["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "changePassword")
        .unwrap_or_else(|| panic!("no changePassword action: {acts}"))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, act) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/os-instance-actions/{req}"),
        &admin,
        "2.1",
        None,
    )
    .await;
    let events = act["instanceAction"]["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "compute_set_admin_password" && e["result"] == "Success"),
        "{act}"
    );
    // Stopped: 409.
    cloud.osc("admin", &["server", "stop", &vm]);
    cloud
        .wait_for("SHUTOFF", 60, || async {
            let srv = show(&cloud, &vm).await;
            (srv["status"] == "SHUTOFF" && srv["OS-EXT-STS:task_state"].is_null()).then_some(())
        })
        .await;
    let (s, b) = action(
        &cloud,
        &vm,
        &admin,
        "2.25",
        json!({"os-migrateLive": {"host": null, "block_migration": "auto"}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        message(&b),
        format!("Cannot 'os-migrateLive' instance {vm} while it is in vm_state stopped"),
        "{b}"
    );
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "SHUTOFF", "{srv}");
    assert!(srv["OS-EXT-STS:task_state"].is_null());
    // changePassword only on an ACTIVE server.
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.1",
        json!({"changePassword": {"adminPass": "x"}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        message(&b),
        format!("Cannot 'changePassword' instance {vm} while it is in vm_state stopped"),
        "{b}"
    );

    // ===== config drive and personality files (before 2.57) =====
    // (The CLI's `--file` fails in the client itself: OSC 7 hands an open
    // file to openstacksdk, "Object of type BufferedReader is not JSON
    // serializable"; so over HTTP.)
    let create = |name: &str, extra: Value| {
        let mut server =
            json!({"name": name, "imageRef": cloud.image_id, "flavorRef": "1", "networks": "auto"});
        server
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        call(
            &cloud,
            Method::POST,
            "/servers",
            &cloud.demo,
            "2.56",
            Some(json!({ "server": server })),
        )
    };
    let motd = json!({"path": "/etc/motd", "contents": "aGVsbG8K"});
    let (s, b) = create("cd", json!({"config_drive": true, "personality": [motd]})).await;
    assert_eq!(s, 202, "{b}");
    let cd = b["server"]["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &cd, "ACTIVE").await;
    assert_eq!(srv["config_drive"], "True", "{srv}");
    // The quotas: 403 with Nova's words, nothing made.
    let (s, b) = create("too-many", json!({"personality": vec![motd.clone(); 6]})).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(message(&b), "Personality file limit exceeded", "{b}");
    let long = json!([{"path": "p".repeat(300), "contents": ""}]);
    let (s, b) = create("long", json!({ "personality": long })).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(message(&b), "Personality file path exceeds maximum 255");
    let (s, b) = create(
        "raw",
        json!({"personality": [{"path": "/a", "contents": "not base64"}]}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (ok, out, _) = cloud.openstack("demo", &["server", "show", "too-many"]);
    assert!(!ok, "{out}");
    // An image whose img_config_drive is neither optional nor mandatory:
    // the build ends in ERROR with Nova's fault, no task state left.
    let bad = nova_e2e::upload_file(
        &cloud.http,
        &cloud.glance,
        &cloud.admin,
        json!({"name": "bad-cd", "disk_format": "raw", "container_format": "bare",
               "visibility": "public", "img_config_drive": "sometimes"}),
        vec![0u8; 512],
    )
    .await;
    let (_, out, _) = cloud.openstack(
        "demo",
        &[
            "server", "create", "--image", &bad, "--flavor", "m1.tiny", "--wait", "-f", "json",
            "bad-cd",
        ],
    );
    let id = json_out(&cloud.osc("demo", &["server", "show", "-f", "json", "bad-cd"]))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let srv = cloud
        .wait_for("bad-cd in ERROR", 60, || async {
            let srv = show(&cloud, &id).await;
            (srv["status"] == "ERROR" && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await;
    assert!(
        srv["fault"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("Image's config drive option 'sometimes' is invalid")),
        "{srv}\n{out}"
    );
}

async fn wait_status(cloud: &Cloud, id: &str, want: &str) -> Value {
    cloud
        .wait_for(&format!("{id} {want}"), 60, || async {
            let srv = show(cloud, id).await;
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == want && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

/// `[DEFAULT] reclaim_instance_interval` > 0: DELETE soft-deletes (guest
/// off, quota still counted), `server restore` brings it back, `server
/// delete --force` deletes at once, and the host's periodic
/// `_reclaim_queued_deletes` deletes what stayed soft-deleted too long.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soft_delete_restore_force_delete_and_reclaim() {
    let reclaim = "reclaim_instance_interval = 6\n";
    let mut cloud = Cloud::start_hosts(
        |id| vec![ComputeHost::fake(format!("soft-{id}"), reclaim)],
        true,
    )
    .await;
    cloud.restart_with_conf("nova-api", &format!("[DEFAULT]\n{reclaim}"));
    cloud.wait_for_api().await;
    let demo = cloud.demo.clone();
    let boot = |name: &str| boot_named(&cloud, name);
    let a = boot("a");
    // Restore of a server that is not soft-deleted: 409.
    let (s, b) = action(&cloud, &a, &demo, "2.1", json!({"restore": null})).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        message(&b),
        format!("Cannot 'restore' instance {a} while it is in vm_state active"),
        "{b}"
    );
    cloud.osc("demo", &["server", "delete", "a"]);
    let srv = wait_status(&cloud, &a, "SOFT_DELETED").await;
    assert_eq!(srv["OS-EXT-STS:vm_state"], "soft-delete", "{srv}");
    assert_eq!(srv["OS-EXT-STS:power_state"], 4, "{srv}");
    cloud.osc("demo", &["server", "restore", "a"]);
    let srv = wait_status(&cloud, &a, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-STS:power_state"], 1, "{srv}");
    // Soft-deleted again, then force-deleted: gone at once.
    cloud.osc("demo", &["server", "delete", "a"]);
    wait_status(&cloud, &a, "SOFT_DELETED").await;
    cloud.osc("demo", &["server", "delete", "--force", "a"]);
    cloud
        .wait_for("a deleted", 30, || async {
            let (s, _) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{a}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await;
            (s == 404).then_some(())
        })
        .await;

    // A soft-deleted server keeps counting in the quota, until reclaimed.
    let b_id = boot("b");
    let limits = |cloud: &Cloud| {
        let http = cloud.http.clone();
        let url = format!("{}/limits", cloud.api);
        let token = cloud.demo.clone();
        async move {
            let l: Value = http
                .get(url)
                .header("X-Auth-Token", token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            l["limits"]["absolute"]["totalInstancesUsed"]
                .as_i64()
                .unwrap()
        }
    };
    assert_eq!(limits(&cloud).await, 1);
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/servers/{b_id}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 204);
    wait_status(&cloud, &b_id, "SOFT_DELETED").await;
    assert_eq!(
        limits(&cloud).await,
        1,
        "a soft-deleted server still counts"
    );
    cloud
        .wait_for("b reclaimed by its host", 60, || async {
            let (s, _) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{b_id}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await;
            (s == 404).then_some(())
        })
        .await;
    assert_eq!(limits(&cloud).await, 0);
}

/// The instance actions of `vm`, newest first (admin).
async fn instance_actions(cloud: &Cloud, vm: &str) -> Vec<Value> {
    let path = format!("/servers/{vm}/os-instance-actions");
    let (_, b) = call(cloud, Method::GET, &path, &cloud.admin, "2.51", None).await;
    b["instanceActions"].as_array().unwrap().clone()
}

/// The newest instance action of `name` on `vm`, with its events (admin).
async fn instance_action(cloud: &Cloud, vm: &str, name: &str) -> Value {
    let acts = instance_actions(cloud, vm).await;
    let act = acts
        .iter()
        .find(|a| a["action"] == name)
        .unwrap_or_else(|| panic!("no {name} action: {acts:?}"));
    let path = format!(
        "/servers/{vm}/os-instance-actions/{}",
        act["request_id"].as_str().unwrap()
    );
    call(cloud, Method::GET, &path, &cloud.admin, "2.51", None)
        .await
        .1["instanceAction"]
        .clone()
}

/// trigger_crash_dump (2.17) with `openstack server dump create`: the
/// host injects the NMI and records the event, no state changes; 404
/// before 2.17, 400 for a body that is not null, 409 where Nova refuses
/// (stopped, locked for a member); in ERROR with its guest shut off the
/// host's refusal is the event's error and the server's fault.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_crash_dump() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("nmi-{id}"), "")], true).await;
    let (admin, demo) = (cloud.admin.clone(), cloud.demo.clone());
    let vm = boot_vm(&cloud);
    let dump = json!({"trigger_crash_dump": null});
    let (s, b) = action(&cloud, &vm, &demo, "2.16", dump.clone()).await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = action(
        &cloud,
        &vm,
        &demo,
        "2.17",
        json!({"trigger_crash_dump": {}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");

    cloud.osc(
        "demo",
        &[
            "--os-compute-api-version",
            "2.17",
            "server",
            "dump",
            "create",
            &vm,
        ],
    );
    let act = cloud
        .wait_for("the dump's event to finish", 30, || async {
            let a = instance_action(&cloud, &vm, "trigger_crash_dump").await;
            (a["events"][0]["result"] == "Success").then_some(a)
        })
        .await;
    assert_eq!(
        act["events"][0]["event"], "compute_trigger_crash_dump",
        "{act}"
    );
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert!(srv["OS-EXT-STS:task_state"].is_null(), "{srv}");

    // Locked by an admin: 409 for the member, not for the admin.
    cloud.osc("admin", &["server", "lock", &vm]);
    let (s, b) = action(&cloud, &vm, &demo, "2.17", dump.clone()).await;
    assert_eq!(s, 409, "{b}");
    assert!(message(&b).contains("is locked"), "{b}");
    let (s, b) = action(&cloud, &vm, &admin, "2.17", dump.clone()).await;
    assert_eq!(s, 202, "{b}");
    cloud.osc("admin", &["server", "unlock", &vm]);

    // Stopped: Nova's 409.
    cloud.osc("demo", &["server", "stop", &vm]);
    wait_status(&cloud, &vm, "SHUTOFF").await;
    let (s, b) = action(&cloud, &vm, &demo, "2.17", dump.clone()).await;
    assert_eq!(s, 409, "{b}");
    assert_eq!(
        message(&b),
        format!("Cannot 'trigger_crash_dump' instance {vm} while it is in vm_state stopped"),
        "{b}"
    );

    // ERROR with the guest shut off: accepted, then the host's refusal.
    cloud.osc(
        "admin",
        &["server", "set", "--auto-approve", "--state", "error", &vm],
    );
    let before = instance_actions(&cloud, &vm).await.len();
    let (s, b) = action(&cloud, &vm, &demo, "2.17", dump.clone()).await;
    assert_eq!(s, 202, "{b}");
    // The host records the fault, then finishes the event with the error.
    let act = cloud
        .wait_for("the dump's event to fail", 30, || async {
            let act = instance_action(&cloud, &vm, "trigger_crash_dump").await;
            (act["events"][0]["result"] == "Error").then_some(act)
        })
        .await;
    assert_eq!(
        act["events"][0]["event"], "compute_trigger_crash_dump",
        "{act}"
    );
    let srv = show(&cloud, &vm).await;
    let fault = srv["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("is not running"), "{srv}");
    assert_eq!(srv["status"], "ERROR", "{srv}");
    assert!(srv["OS-EXT-STS:task_state"].is_null(), "{srv}");
    assert_eq!(srv["fault"]["code"], 400, "{srv}");
    let acts = instance_actions(&cloud, &vm).await;
    assert_eq!(acts.len(), before + 1, "{acts:?}");
    assert_eq!(acts[0]["action"], "trigger_crash_dump", "{acts:?}");
}

/// A hard reboot asked while a soft reboot waits for a guest that ignores
/// it (`[fake] soft_reboot_seconds`, as a real guest ignoring ACPI for up
/// to `[libvirt] wait_soft_reboot_seconds`) runs at once, as Nova's: the
/// soft reboot gives up its wait, and the server is ACTIVE long before the
/// soft reboot's wait would have ended; both reboots are recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hard_reboot_ends_a_soft_reboots_wait() {
    let slow = "[fake]\nsoft_reboot_seconds = 300\n";
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("rb-{id}"), slow)], true).await;
    let vm = boot_vm(&cloud);
    let demo = cloud.demo.clone();
    let reboot = |kind: &str| json!({"reboot": {"type": kind}});
    let (s, b) = action(&cloud, &vm, &demo, "2.1", reboot("SOFT")).await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_for("the soft reboot waiting for its guest", 30, || async {
            let a = instance_action(&cloud, &vm, "reboot").await;
            (a["events"].as_array().is_some_and(|e| !e.is_empty())).then_some(())
        })
        .await;
    assert_eq!(show(&cloud, &vm).await["status"], "REBOOT");
    let (s, b) = action(&cloud, &vm, &demo, "2.1", reboot("HARD")).await;
    assert_eq!(s, 202, "{b}");
    // Within wait_status's minute: the soft reboot alone would wait five.
    wait_status(&cloud, &vm, "ACTIVE").await;
    let reboots: Vec<Value> = instance_actions(&cloud, &vm)
        .await
        .into_iter()
        .filter(|a| a["action"] == "reboot")
        .collect();
    assert_eq!(reboots.len(), 2, "{reboots:?}");
    assert!(
        cloud
            .log(&format!("nova-compute@rb-{}", cloud.id))
            .contains("soft reboot given up for the hard reboot asked"),
        "the compute host's log"
    );
}
