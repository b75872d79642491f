//! Shelve, shelve offload, unshelve and createBackup with the real
//! `openstack` CLI (`server shelve [--offload]`, `server unshelve [--host]`,
//! `server backup create --type --rotate`, `image list`) and over HTTP, on
//! two fake compute hosts against the real Glance: the state machine (a
//! host with `shelved_offload_time = -1` keeps shelved servers, one with 0
//! offloads at once), the shelved image (`<name>-shelved`) and its deletion
//! at unshelve, an offload freeing the host while quota usage stays,
//! unshelve onto a named host (2.91), backup rotation keeping N images per
//! instance and type, microversioned responses, the 400/403/409s.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::{disk_marker_user_data, next_disk_boot};
use nova_e2e::{call_with_location as call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashSet;

async fn action(cloud: &Cloud, id: &str, token: &str, mv: &str, body: Value) -> (u16, Value) {
    let (s, _, b) = call(
        cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        token,
        mv,
        Some(body),
    )
    .await;
    (s, b)
}

fn json_out(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// The server once its status is `want` with no task_state (never ERROR).
async fn wait_status(cloud: &Cloud, id: &str, want: &str) -> Value {
    cloud
        .wait_for(&format!("{id} {want}"), 60, || async {
            let (_, _, b) = call(
                cloud,
                Method::GET,
                &format!("/servers/{id}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await;
            let srv = b["server"].clone();
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == want && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

/// Images named `name` in Glance, as the admin's `openstack image list` shows them.
fn images_named(cloud: &Cloud, prefix: &str) -> Vec<String> {
    let list = json_out(&cloud.osc("admin", &["image", "list", "-f", "json"]));
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["Name"].as_str())
        .filter(|n| n.starts_with(prefix))
        .map(str::to_string)
        .collect();
    names.sort();
    names
}

fn host_of(srv: &Value) -> Option<String> {
    srv["OS-EXT-SRV-ATTR:host"].as_str().map(str::to_string)
}

async fn hypervisor_vms(cloud: &Cloud, host: &str) -> i64 {
    let (_, _, b) = call(
        cloud,
        Method::GET,
        "/os-hypervisors/detail",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    b["hypervisors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["service"]["host"] == host)
        .map(|h| h["running_vms"].as_i64().unwrap())
        .unwrap()
}

async fn limits(cloud: &Cloud, token: &str) -> Value {
    let (_, _, b) = call(cloud, Method::GET, "/limits", token, "2.1", None).await;
    b["limits"]["absolute"].clone()
}

/// Glance keeps whole seconds: let the clock pass one before the next backup.
async fn next_second() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(
        1000 - now.subsec_millis() as u64 + 50,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shelve_unshelve_and_backup_rotation() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("keep-{id}"), "shelved_offload_time = -1\n"),
                ComputeHost::fake(format!("offload-{id}"), "shelved_offload_time = 0\n"),
                ComputeHost::fake(
                    format!("later-{id}"),
                    "shelved_offload_time = 2\nshelved_poll_interval = 1\n",
                ),
            ]
        },
        true,
    )
    .await;
    let id8 = cloud.id.clone();
    let (keep, offload) = (format!("keep-{id8}"), format!("offload-{id8}"));
    let later = format!("later-{id8}");
    let admin = cloud.admin.clone();
    let demo = cloud.demo.clone();
    let boot = |name: &str, host: &str| {
        cloud.osc(
            "admin",
            &[
                "server",
                "create",
                "--image",
                &cloud.image_id,
                "--flavor",
                "m1.tiny",
                "--availability-zone",
                &format!("nova:{host}"),
                "--wait",
                "-f",
                "json",
                name,
            ],
        )
    };
    let vm1 = json_out(&boot("vm1", &keep))["id"]
        .as_str()
        .unwrap()
        .to_string();

    // ===== wrong states before any shelve =====
    for body in [json!({"unshelve": null}), json!({"shelveOffload": null})] {
        let (s, b) = action(&cloud, &vm1, &admin, "2.1", body.clone()).await;
        assert_eq!(s, 409, "{body}: {b}");
        assert!(
            b["conflictingRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("vm_state active"),
            "{b}"
        );
    }

    // ===== shelve on a host that keeps shelved servers =====
    let before = limits(&cloud, &admin).await;
    cloud.osc("admin", &["server", "shelve", "--wait", "vm1"]);
    let srv = wait_status(&cloud, &vm1, "SHELVED").await;
    assert_eq!(host_of(&srv).as_deref(), Some(keep.as_str()), "{srv}");
    assert_eq!(srv["OS-EXT-STS:vm_state"], "shelved");
    assert_eq!(srv["OS-EXT-STS:power_state"], 4, "{srv}");
    assert_eq!(images_named(&cloud, "vm1-shelved"), ["vm1-shelved"]);
    let shelved = json_out(&cloud.osc("admin", &["image", "show", "vm1-shelved", "-f", "json"]));
    assert_eq!(shelved["status"], "active", "{shelved}");
    assert_eq!(shelved["properties"]["image_type"], "snapshot", "{shelved}");
    assert_eq!(
        shelved["properties"]["instance_uuid"],
        vm1.as_str(),
        "{shelved}"
    );
    assert_eq!(hypervisor_vms(&cloud, &keep).await, 1);
    // Shelved: no second shelve, no backup, no zone or host to unshelve with.
    for (mv, body) in [
        ("2.1", json!({"shelve": null})),
        (
            "2.1",
            json!({"createBackup": {"name": "b", "backup_type": "daily", "rotation": 1}}),
        ),
        ("2.77", json!({"unshelve": {"availability_zone": "nova"}})),
        ("2.91", json!({"unshelve": {"host": offload.clone()}})),
    ] {
        let (s, b) = action(&cloud, &vm1, &admin, mv, body.clone()).await;
        assert_eq!(s, 409, "{body}: {b}");
    }

    // ===== offload (admin): the host is freed, the quota still counted =====
    let (s, b) = action(&cloud, &vm1, &demo, "2.1", json!({"shelveOffload": null})).await;
    assert_eq!(s, 404, "demo does not see the admin's server: {b}");
    let (s, b) = action(&cloud, &vm1, &admin, "2.1", json!({"shelveOffload": null})).await;
    assert_eq!(s, 202, "{b}");
    let srv = wait_status(&cloud, &vm1, "SHELVED_OFFLOADED").await;
    assert_eq!(host_of(&srv), None, "{srv}");
    assert!(
        srv["OS-EXT-SRV-ATTR:hypervisor_hostname"].is_null(),
        "{srv}"
    );
    assert_eq!(hypervisor_vms(&cloud, &keep).await, 0);
    let after = limits(&cloud, &admin).await;
    for k in ["totalInstancesUsed", "totalCoresUsed", "totalRAMUsed"] {
        assert_eq!(after[k], before[k], "{k}: {before} / {after}");
    }
    // Offloaded: no console, no offload again.
    let (s, _) = action(&cloud, &vm1, &admin, "2.1", json!({"shelveOffload": null})).await;
    assert_eq!(s, 409);

    // ===== unshelve's inputs =====
    for (mv, body, code) in [
        (
            "2.77",
            json!({"unshelve": {"availability_zone": "nowhere"}}),
            400,
        ),
        ("2.77", json!({"unshelve": {}}), 400),
        ("2.77", json!({"unshelve": {"host": keep.clone()}}), 400),
        ("2.91", json!({"unshelve": {"host": "no-such-host"}}), 400),
        ("2.91", json!({"unshelve": {"host": 1}}), 400),
        ("2.91", json!({"unshelve": {"bogus": 1}}), 400),
    ] {
        let (s, b) = action(&cloud, &vm1, &admin, mv, body.clone()).await;
        assert_eq!(s, code, "{mv} {body}: {b}");
    }
    let srv = wait_status(&cloud, &vm1, "SHELVED_OFFLOADED").await;
    assert_eq!(host_of(&srv), None);

    // ===== unshelve onto a named host (2.91, admin), with the CLI =====
    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.91",
            "server",
            "unshelve",
            "--host",
            &offload,
            "--wait",
            "vm1",
        ],
    );
    let srv = wait_status(&cloud, &vm1, "ACTIVE").await;
    assert_eq!(host_of(&srv).as_deref(), Some(offload.as_str()), "{srv}");
    assert_eq!(srv["OS-EXT-STS:power_state"], 1);
    assert!(
        images_named(&cloud, "vm1-shelved").is_empty(),
        "the shelved image is deleted"
    );
    assert_eq!(hypervisor_vms(&cloud, &offload).await, 1);
    let events = cloud.osc("admin", &["server", "event", "list", "vm1", "-f", "json"]);
    for a in ["shelve", "shelveOffload", "unshelve"] {
        assert!(
            json_out(&events)
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["Action"] == a),
            "{a}: {events}"
        );
    }

    // ===== a host with shelved_offload_time = 0 offloads at once =====
    cloud.osc("admin", &["server", "shelve", "--wait", "vm1"]);
    let srv = wait_status(&cloud, &vm1, "SHELVED_OFFLOADED").await;
    assert_eq!(host_of(&srv), None, "{srv}");
    assert_eq!(hypervisor_vms(&cloud, &offload).await, 0);
    // Unshelved wherever the scheduler chooses.
    cloud.osc("admin", &["server", "unshelve", "--wait", "vm1"]);
    let srv = wait_status(&cloud, &vm1, "ACTIVE").await;
    assert!(host_of(&srv).is_some(), "{srv}");
    assert!(images_named(&cloud, "vm1-shelved").is_empty());

    // ===== unshelve in place: a SHELVED server powers on where it is =====
    let vm2 = json_out(&boot("vm2", &keep))["id"]
        .as_str()
        .unwrap()
        .to_string();
    cloud.osc("admin", &["server", "shelve", "--wait", "vm2"]);
    wait_status(&cloud, &vm2, "SHELVED").await;
    assert_eq!(images_named(&cloud, "vm2-shelved"), ["vm2-shelved"]);
    cloud.osc("admin", &["server", "unshelve", "--wait", "vm2"]);
    let srv = wait_status(&cloud, &vm2, "ACTIVE").await;
    assert_eq!(host_of(&srv).as_deref(), Some(keep.as_str()));
    cloud
        .wait_for("vm2's shelved image deleted", 30, || async {
            images_named(&cloud, "vm2-shelved").is_empty().then_some(())
        })
        .await;
    // `server shelve --offload` shelves, then offloads (admin).
    cloud.osc("admin", &["server", "shelve", "--offload", "--wait", "vm2"]);
    let srv = wait_status(&cloud, &vm2, "SHELVED_OFFLOADED").await;
    assert_eq!(host_of(&srv), None);

    // ===== policies: offload and unshelve to a host are admin's =====
    let mine = json_out(&cloud.osc(
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
            "mine",
        ],
    ))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = action(&cloud, &mine, &demo, "2.1", json!({"shelveOffload": null})).await;
    assert_eq!(s, 403, "{b}");
    cloud.osc("demo", &["server", "shelve", "--wait", "mine"]);
    // (Its host's periodic task may offload it: let it settle.)
    let srv = cloud
        .wait_for("mine shelved", 60, || async {
            let (_, _, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{mine}"),
                &admin,
                "2.1",
                None,
            )
            .await;
            let srv = b["server"].clone();
            (srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await;
    if srv["status"] == "SHELVED" && host_of(&srv).as_deref() == Some(later.as_str()) {
        wait_status(&cloud, &mine, "SHELVED_OFFLOADED").await;
    }
    let (s, b) = action(
        &cloud,
        &mine,
        &demo,
        "2.91",
        json!({"unshelve": {"host": keep.clone()}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    cloud.osc("demo", &["server", "unshelve", "--wait", "mine"]);
    wait_status(&cloud, &mine, "ACTIVE").await;
    // A locked server cannot be shelved by its owner.
    cloud.osc("demo", &["server", "lock", "mine"]);
    let (s, b) = action(&cloud, &mine, &demo, "2.1", json!({"shelve": null})).await;
    assert_eq!(s, 409, "{b}");
    cloud.osc("demo", &["server", "unlock", "mine"]);

    // ===== backups: rotation per instance and type =====
    let backup = |name: &str, kind: &str, rotate: &str| {
        cloud.osc(
            "admin",
            &[
                "server", "backup", "create", "--name", name, "--type", kind, "--rotate", rotate,
                "--wait", "vm1",
            ],
        );
    };
    for n in ["bk-daily-1", "bk-daily-2", "bk-daily-3"] {
        backup(n, "daily", "2");
        wait_status(&cloud, &vm1, "ACTIVE").await;
        next_second().await;
    }
    assert_eq!(
        images_named(&cloud, "bk-daily"),
        ["bk-daily-2", "bk-daily-3"]
    );
    let shown = json_out(&cloud.osc("admin", &["image", "show", "bk-daily-3", "-f", "json"]));
    assert_eq!(shown["properties"]["image_type"], "backup", "{shown}");
    assert_eq!(shown["properties"]["backup_type"], "daily", "{shown}");
    // Another type rotates on its own.
    backup("bk-weekly-1", "weekly", "1");
    wait_status(&cloud, &vm1, "ACTIVE").await;
    next_second().await;
    assert_eq!(
        images_named(&cloud, "bk-daily"),
        ["bk-daily-2", "bk-daily-3"]
    );
    assert_eq!(images_named(&cloud, "bk-weekly"), ["bk-weekly-1"]);
    // 2.45: the id in the body; before: a Location when rotation > 0.
    let (s, loc, b) = call(
        &cloud, Method::POST, &format!("/servers/{vm1}/action"), &admin, "2.45",
        Some(json!({"createBackup": {"name": "bk-weekly-2", "backup_type": "weekly", "rotation": 1}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert!(loc.is_none());
    let weekly2 = b["image_id"].as_str().unwrap().to_string();
    wait_status(&cloud, &vm1, "ACTIVE").await;
    cloud
        .wait_for("weekly rotation", 30, || async {
            (images_named(&cloud, "bk-weekly") == ["bk-weekly-2"]).then_some(())
        })
        .await;
    let shown = json_out(&cloud.osc("admin", &["image", "show", &weekly2, "-f", "json"]));
    assert_eq!(shown["name"], "bk-weekly-2");
    next_second().await;
    let (s, loc, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{vm1}/action"),
        &admin,
        "2.1",
        Some(
            json!({"createBackup": {"name": "bk-daily-4", "backup_type": "daily", "rotation": 1}}),
        ),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert!(
        loc.as_deref().is_some_and(|l| l.contains("/v2.1/images/")),
        "{loc:?}"
    );
    wait_status(&cloud, &vm1, "ACTIVE").await;
    cloud
        .wait_for("daily rotation to 1", 30, || async {
            (images_named(&cloud, "bk-daily") == ["bk-daily-4"]).then_some(())
        })
        .await;
    // Rotation 0 deletes them all, the new one too.
    next_second().await;
    let (s, loc, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{vm1}/action"),
        &admin,
        "2.1",
        Some(
            json!({"createBackup": {"name": "bk-daily-5", "backup_type": "daily", "rotation": 0}}),
        ),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert!(loc.is_none(), "{loc:?}");
    wait_status(&cloud, &vm1, "ACTIVE").await;
    cloud
        .wait_for("daily rotation to 0", 30, || async {
            images_named(&cloud, "bk-daily").is_empty().then_some(())
        })
        .await;
    // Bad bodies.
    for body in [
        json!({"createBackup": {"name": "x", "backup_type": "daily"}}),
        json!({"createBackup": {"name": "x", "backup_type": "daily", "rotation": -1}}),
        json!({"createBackup": {"backup_type": "daily", "rotation": 1}}),
        json!({"createBackup": {"name": "x", "backup_type": "daily", "rotation": 1, "extra": true}}),
    ] {
        let (s, b) = action(&cloud, &vm1, &admin, "2.1", body.clone()).await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let events = cloud.osc("admin", &["server", "event", "list", "vm1", "-f", "json"]);
    assert!(events.contains("createBackup"), "{events}");
    // The shelve and unshelve recorded their events: compute's, the conductor's.
    let (_, _, acts) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm1}/os-instance-actions"),
        &admin,
        "2.1",
        None,
    )
    .await;
    let req_of = |action: &str| {
        acts["instanceActions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["action"] == action)
            .map(|a| a["request_id"].as_str().unwrap().to_string())
            .unwrap()
    };
    for (action, events) in [
        ("shelve", vec!["compute_shelve_instance"]),
        ("shelveOffload", vec!["compute_shelve_offload_instance"]),
        (
            "unshelve",
            vec![
                "get_image_info",
                "schedule_instances",
                "compute_unshelve_instance",
            ],
        ),
        ("createBackup", vec!["compute_backup_instance"]),
    ] {
        let req = req_of(action);
        let (_, _, b) = call(
            &cloud,
            Method::GET,
            &format!("/servers/{vm1}/os-instance-actions/{req}"),
            &admin,
            "2.1",
            None,
        )
        .await;
        let got = &b["instanceAction"]["events"];
        for e in events {
            assert!(
                got.as_array()
                    .unwrap()
                    .iter()
                    .any(|x| x["event"] == e && x["result"] == "Success"),
                "{action}: {e} in {got}"
            );
        }
    }

    // ===== zones: 2.77 pins, 2.91 null unpins (shown from 2.96) =====
    let pinned = |srv: &Value| srv["pinned_availability_zone"].clone();
    let (s, b) = action(
        &cloud,
        &vm2,
        &admin,
        "2.77",
        json!({"unshelve": {"availability_zone": "nova"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    wait_status(&cloud, &vm2, "ACTIVE").await;
    let (_, _, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm2}"),
        &admin,
        "2.96",
        None,
    )
    .await;
    assert_eq!(pinned(&b["server"]), "nova", "{b}");
    // Wherever it went: shelve, and offload by hand only where the host keeps it.
    let (s, b) = action(&cloud, &vm2, &admin, "2.1", json!({"shelve": null})).await;
    assert_eq!(s, 202, "{b}");
    let srv = cloud
        .wait_for("vm2 shelved", 60, || async {
            let (_, _, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{vm2}"),
                &admin,
                "2.1",
                None,
            )
            .await;
            let srv = b["server"].clone();
            let st = srv["status"].as_str().unwrap_or_default().to_string();
            ((st == "SHELVED" || st == "SHELVED_OFFLOADED")
                && srv["OS-EXT-STS:task_state"].is_null())
            .then_some(srv)
        })
        .await;
    if host_of(&srv).as_deref() == Some(keep.as_str()) {
        let (s, b) = action(&cloud, &vm2, &admin, "2.1", json!({"shelveOffload": null})).await;
        assert_eq!(s, 202, "{b}");
    }
    wait_status(&cloud, &vm2, "SHELVED_OFFLOADED").await;
    let (s, b) = action(
        &cloud,
        &vm2,
        &admin,
        "2.91",
        json!({"unshelve": {"availability_zone": null}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    wait_status(&cloud, &vm2, "ACTIVE").await;
    let (_, _, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm2}"),
        &admin,
        "2.96",
        None,
    )
    .await;
    assert!(pinned(&b["server"]).is_null(), "{b}");

    // ===== shelved_offload_time = 2: the periodic task offloads =====
    let vm3 = json_out(&boot("vm3", &later))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, b) = action(&cloud, &vm3, &admin, "2.1", json!({"shelve": null})).await;
    assert_eq!(s, 202, "{b}");
    let srv = wait_status(&cloud, &vm3, "SHELVED_OFFLOADED").await;
    assert_eq!(host_of(&srv), None, "{srv}");
    let (_, _, acts) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm3}/os-instance-actions"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert!(
        !acts.to_string().contains("shelveOffload"),
        "no one asked for the offload: {acts}"
    );

    // ===== a shelved image gone from Glance: the unshelve ends in ERROR with a fault =====
    let shelved = json_out(&cloud.osc("admin", &["image", "show", "vm3-shelved", "-f", "json"]));
    cloud.osc(
        "admin",
        &["image", "delete", shelved["id"].as_str().unwrap()],
    );
    let (s, b) = action(&cloud, &vm3, &admin, "2.1", json!({"unshelve": null})).await;
    assert_eq!(s, 202, "{b}");
    let srv = cloud
        .wait_for("vm3 in ERROR", 60, || async {
            let (_, _, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{vm3}"),
                &admin,
                "2.1",
                None,
            )
            .await;
            (b["server"]["status"] == "ERROR").then(|| b["server"].clone())
        })
        .await;
    assert!(srv["OS-EXT-STS:task_state"].is_null(), "{srv}");
    let fault = srv["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("cannot be found"), "{srv}");
}

fn virsh(args: &[&str]) -> String {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg("qemu:///system")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn console(cloud: &Cloud, id: &str) -> (u16, String) {
    let (s, b) = action(
        cloud,
        id,
        &cloud.admin,
        "2.1",
        json!({"os-getConsoleOutput": {}}),
    )
    .await;
    (s, b["output"].as_str().unwrap_or_default().to_string())
}

/// A real guest (QEMU under TCG) on two real compute hosts, shelved and
/// offloaded (`shelved_offload_time = 0`): its domain and files leave the
/// host; its original image is then deleted from Glance, and the unshelve
/// (2.91, naming the other host) boots it there from the shelved snapshot
/// (the new disk is backed by that image's base file, and the record the
/// guest wrote on its disk before the shelve is read back), after which the
/// snapshot is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_guest_shelve_offload_and_unshelve() {
    let (cloud, guest) =
        nova_e2e::start_real_guest_cloud_hosts(2, true, "shutdown_timeout = 15\n").await;
    let disk_image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &cloud.admin,
        "2.1",
        Some(
            json!({"server": {"name": "shelver", "imageRef": disk_image, "flavorRef": "guest",
            "user_data": disk_marker_user_data()}}),
        ),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = cloud
        .wait_for("the guest ACTIVE", 180, || async {
            let (_, _, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{id}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE").then(|| b["server"].clone())
        })
        .await;
    let name = srv["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    let first_host = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    // The guest's first boot writes its record on its disk.
    let mut seen = HashSet::new();
    let (read, mark) = next_disk_boot(&cloud, &id, &mut seen).await;
    assert_eq!(read, "none", "a blank disk first");
    assert!(virsh(&["domstate", &name]).contains("running"));

    // Two daily backups with rotation 1: only the newer one is kept, a
    // real snapshot of the guest's disk (active, not empty).
    for name in ["rg-backup-1", "rg-backup-2"] {
        let (s, b) = action(
            &cloud,
            &id,
            &cloud.admin,
            "2.45",
            json!({"createBackup": {"name": name, "backup_type": "daily", "rotation": 1}}),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        let image_id = b["image_id"].as_str().unwrap().to_string();
        cloud
            .wait_for(&format!("{name} active"), 180, || async {
                let img: Value = cloud
                    .http
                    .get(format!("{}/v2/images/{image_id}", cloud.glance))
                    .header("X-Auth-Token", &cloud.admin)
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                (img["status"] == "active" && img["size"].as_u64().unwrap_or(0) > 0).then_some(())
            })
            .await;
        wait_status(&cloud, &id, "ACTIVE").await;
    }
    let kept = cloud
        .wait_for("the rotation to keep one backup", 60, || async {
            let kept = images_named(&cloud, "rg-backup-");
            (kept.len() == 1).then_some(kept)
        })
        .await;
    assert_eq!(kept, vec!["rg-backup-2".to_string()]);

    // Shelve: powered off, snapshotted, offloaded at once.
    let (s, b) = action(&cloud, &id, &cloud.admin, "2.1", json!({"shelve": null})).await;
    assert_eq!(s, 202, "{b}");
    let srv = cloud
        .wait_for("SHELVED_OFFLOADED", 180, || async {
            let (_, _, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{id}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "SHELVED_OFFLOADED"
                && b["server"]["OS-EXT-STS:task_state"].is_null())
            .then(|| b["server"].clone())
        })
        .await;
    assert!(srv["OS-EXT-SRV-ATTR:host"].is_null(), "{srv}");
    assert!(
        !virsh(&["list", "--all", "--name"]).contains(&name),
        "the domain is gone"
    );
    assert_eq!(console(&cloud, &id).await.0, 409, "no host, no console");
    let images: Value = cloud
        .http
        .get(format!("{}/v2/images?name=shelver-shelved", cloud.glance))
        .header("X-Auth-Token", &cloud.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let shelved = images["images"][0].clone();
    assert_eq!(shelved["status"], "active", "{images}");
    let shelved_id = shelved["id"].as_str().unwrap().to_string();
    // The image the guest was booted from goes: only the snapshot is left.
    let r = cloud
        .http
        .delete(format!("{}/v2/images/{disk_image}", cloud.glance))
        .header("X-Auth-Token", &cloud.admin)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());

    // Unshelve onto the other host (2.91): spawned there from the
    // snapshot, boots again.
    let (_, b) = cloud
        .get("/os-services?binary=nova-compute", &cloud.admin)
        .await;
    let other = b["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|h| h["host"].as_str())
        .find(|h| *h != first_host)
        .unwrap()
        .to_string();
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.admin,
        "2.91",
        json!({"unshelve": {"host": other}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let srv = cloud
        .wait_for("ACTIVE again", 180, || async {
            let (_, _, b) = call(
                &cloud,
                Method::GET,
                &format!("/servers/{id}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE" && b["server"]["OS-EXT-STS:task_state"].is_null())
                .then(|| b["server"].clone())
        })
        .await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], other.as_str(), "{srv}");
    assert!(virsh(&["dumpxml", &name]).contains(&format!("<nova:host>{other}</nova:host>")));
    // The record written before the shelve came through the snapshot.
    let (read, _) = next_disk_boot(&cloud, &id, &mut seen).await;
    assert_eq!(
        read, mark,
        "the disk kept what the guest wrote before the shelve"
    );
    let out = cloud
        .wait_for("GUEST-INIT after the unshelve", 180, || async {
            let out = console(&cloud, &id).await.1;
            out.contains("GUEST-INIT").then_some(out)
        })
        .await;
    assert_eq!(
        out.matches("GUEST-INIT").count(),
        1,
        "a fresh console: {out}"
    );
    assert!(virsh(&["domstate", &name]).contains("running"));
    // The new disk is backed by the shelved image's base file (sha1 of its id).
    let xml = virsh(&["dumpxml", &name]);
    let disk = xml
        .split("<source file='")
        .nth(1)
        .and_then(|s| s.split('\'').next())
        .unwrap()
        .to_string();
    let info = std::process::Command::new("qemu-img")
        .args(["info", "-U", "--output=json", &disk])
        .output()
        .unwrap();
    let info: Value = serde_json::from_slice(&info.stdout).unwrap();
    let backing = info["backing-filename"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let sha = std::process::Command::new("python3")
        .args([
            "-c",
            &format!("import hashlib;print(hashlib.sha1(b'{shelved_id}').hexdigest())"),
        ])
        .output()
        .unwrap();
    let sha = String::from_utf8_lossy(&sha.stdout).trim().to_string();
    assert!(
        backing.ends_with(&format!("/{sha}")),
        "{backing} is not {shelved_id}'s base ({sha})"
    );
    // And the shelved snapshot is deleted.
    let r = cloud
        .http
        .get(format!("{}/v2/images/{shelved_id}", cloud.glance))
        .header("X-Auth-Token", &cloud.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let (s, _, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/servers/{id}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the guest gone", 120, || async {
            (call(
                &cloud,
                Method::GET,
                &format!("/servers/{id}"),
                &cloud.admin,
                "2.1",
                None,
            )
            .await
            .0 == 404)
                .then_some(())
        })
        .await;
    assert!(!virsh(&["list", "--all", "--name"]).contains(&name));
}
