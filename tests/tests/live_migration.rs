//! Live migration end to end on two fake compute hosts, with the real
//! `openstack` CLI and the REST API at the microversions that change it:
//! a running server moves to the named host (2.30, checked by the
//! scheduler) and to the scheduler's choice (2.25 "auto"), shows MIGRATING
//! and its migration (2.23) while the guest is copied, is forced to complete
//! (2.22) or aborted (2.24, stays where it was, migration `cancelled`); a
//! paused server arrives paused. Refusals: the server's own host (400 before
//! 2.34; from 2.34 a 202 with the instance back and the failure recorded),
//! a user who is not an admin (403), a server that is not migrating (409),
//! a migration that is not the server's (404). The hypervisors count the
//! server where it is.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

/// Every live migration of this cloud takes five minutes unless forced to
/// complete or aborted: long enough to look at it under way, and longer
/// than any wait here, so a force or an abort that did nothing fails.
const SLOW: &str = "[fake]\nlive_migration_seconds = 300\n";

async fn show(cloud: &Cloud, id: &str) -> Value {
    let (s, b) = call(
        cloud,
        Method::GET,
        &format!("/servers/{id}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["server"].clone()
}

fn host_of(srv: &Value) -> String {
    srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string()
}

async fn live_migrate(cloud: &Cloud, id: &str, token: &str, mv: &str, args: Value) -> (u16, Value) {
    call(
        cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        token,
        mv,
        Some(json!({ "os-migrateLive": args })),
    )
    .await
}

/// Wait for the server's live migration to be `running`; its id.
async fn running_migration(cloud: &Cloud, id: &str) -> i64 {
    let m = cloud
        .wait_for("the live migration to run", 60, || async {
            let (_, b) = call(
                cloud,
                Method::GET,
                &format!("/servers/{id}/migrations"),
                &cloud.admin,
                "2.80",
                None,
            )
            .await;
            b["migrations"]
                .as_array()
                .and_then(|l| l.first().cloned())
                .filter(|m| m["status"] == "running")
        })
        .await;
    assert_eq!(m["server_uuid"], id, "{m}");
    m["id"].as_i64().unwrap()
}

/// Wait for the server to settle (no task) in `status`; the server.
async fn settled(cloud: &Cloud, id: &str, status: &str) -> Value {
    cloud
        .wait_for(&format!("{id} to settle in {status}"), 60, || async {
            let srv = show(cloud, id).await;
            (srv["status"] == status && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

/// The migration `mid` as os-migrations lists it.
async fn migration(cloud: &Cloud, mid: i64) -> Value {
    let (_, b) = call(
        cloud,
        Method::GET,
        "/os-migrations",
        &cloud.admin,
        "2.23",
        None,
    )
    .await;
    b["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == mid)
        .cloned()
        .unwrap_or_else(|| panic!("no migration {mid}: {b}"))
}

/// running_vms of each hypervisor, by host.
async fn running_vms(cloud: &Cloud) -> Vec<(String, i64)> {
    let (_, b) = call(
        cloud,
        Method::GET,
        "/os-hypervisors/detail",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    let mut v: Vec<(String, i64)> = b["hypervisors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| {
            (
                h["service"]["host"].as_str().unwrap().to_string(),
                h["running_vms"].as_i64().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The events of the server's last `live-migration` action: (event, result).
async fn live_migration_events(cloud: &Cloud, id: &str) -> Vec<(String, String)> {
    let (_, acts) = call(
        cloud,
        Method::GET,
        &format!("/servers/{id}/os-instance-actions"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    let req = acts["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "live-migration")
        .unwrap_or_else(|| panic!("no live-migration action: {acts}"))["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, act) = call(
        cloud,
        Method::GET,
        &format!("/servers/{id}/os-instance-actions/{req}"),
        &cloud.admin,
        "2.51",
        None,
    )
    .await;
    act["instanceAction"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["event"].as_str().unwrap_or_default().to_string(),
                e["result"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_server_moves_between_hosts() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-lma-{id}"), SLOW),
                ComputeHost::fake(format!("e2e-lmb-{id}"), SLOW),
            ]
        },
        true,
    )
    .await;
    let hosts = [
        format!("e2e-lma-{}", cloud.id),
        format!("e2e-lmb-{}", cloud.id),
    ];
    cloud.wait_for_scheduler_hosts(&hosts).await;
    let created: Value = serde_json::from_str(&cloud.osc(
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
            "lm1",
        ],
    ))
    .unwrap();
    let vm = created["id"].as_str().unwrap().to_string();
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    let source = host_of(&srv);
    let dest = hosts.iter().find(|h| **h != source).unwrap().clone();

    // ===== refusals: not an admin; its own host; no body keys =====
    let (s, b) = live_migrate(
        &cloud,
        &vm,
        &cloud.demo,
        "2.25",
        json!({"host": null, "block_migration": "auto"}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    let (s, b) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.29",
        json!({"host": source, "block_migration": "auto"}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        format!("Unable to migrate instance ({vm}) to current host ({source})."),
        "{b}"
    );
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), source);
    // The refused migration is listed, `error`, as Nova's.
    let refused = live_migrations(&cloud, &vm).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(
        (&refused[0]["status"], &refused[0]["dest_compute"]),
        (&json!("error"), &json!(source)),
        "{refused:?}"
    );
    // From 2.34 the request is asynchronous: accepted, then undone, and
    // the instance action says why.
    let (s, b) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.34",
        json!({"host": source, "block_migration": "auto", "force": true}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_for("the refused migration to be recorded", 30, || async {
            live_migration_events(&cloud, &vm)
                .await
                .contains(&(
                    "conductor_live_migrate_instance".to_string(),
                    "Error".to_string(),
                ))
                .then_some(())
        })
        .await;
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), source);
    let refused = live_migrations(&cloud, &vm).await;
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert_eq!(refused[1]["status"], "error", "{refused:?}");

    // ===== to a named host, with the CLI; forced to complete =====
    let (ok, out, err) = cloud.openstack(
        "admin",
        &[
            "--os-compute-api-version",
            "2.30",
            "server",
            "migrate",
            "--live-migration",
            "--host",
            &dest,
            &vm,
        ],
    );
    assert!(ok, "{out}\n{err}");
    let mid = running_migration(&cloud, &vm).await;
    let srv = show(&cloud, &vm).await;
    assert_eq!(srv["status"], "MIGRATING", "{srv}");
    assert_eq!(srv["OS-EXT-STS:task_state"], "migrating", "{srv}");
    let (s, m) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/migrations/{mid}"),
        &cloud.admin,
        "2.59",
        None,
    )
    .await;
    assert_eq!(s, 200, "{m}");
    assert_eq!(m["migration"]["source_compute"], source.as_str(), "{m}");
    assert_eq!(m["migration"]["dest_compute"], dest.as_str(), "{m}");
    assert!(m["migration"]["uuid"].is_string(), "{m}");
    // Another server's migration id, and one that does not exist: 404.
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/migrations/{}", mid + 1000),
        &cloud.admin,
        "2.23",
        None,
    )
    .await;
    assert_eq!(s, 404, "{b}");
    // While it runs the server takes no other action.
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{vm}/action"),
        &cloud.admin,
        "2.1",
        Some(json!({"pause": null})),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.22",
            "server",
            "migration",
            "force",
            "complete",
            &vm,
            &mid.to_string(),
        ],
    );
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), dest, "{srv}");
    assert_eq!(srv["OS-EXT-SRV-ATTR:hypervisor_hostname"], dest.as_str());
    let m = migration(&cloud, mid).await;
    assert_eq!(m["status"], "completed", "{m}");
    assert_eq!(m["migration_type"], "live-migration", "{m}");
    assert!(m.get("links").is_none(), "only one in progress links: {m}");
    let events = live_migration_events(&cloud, &vm).await;
    for e in [
        "conductor_live_migrate_instance",
        "compute_pre_live_migration",
        "compute_live_migration",
        "compute_post_live_migration_at_destination",
    ] {
        assert!(
            events.contains(&(e.to_string(), "Success".to_string())),
            "{e}: {events:?}"
        );
    }
    let mut expected = vec![(source.clone(), 0), (dest.clone(), 1)];
    expected.sort();
    assert_eq!(running_vms(&cloud).await, expected);
    // Done: nothing to force any more (the server is not migrating).
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{vm}/migrations/{mid}/action"),
        &cloud.admin,
        "2.22",
        Some(json!({"force_complete": null})),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    // And the server's list of live migrations in progress is empty.
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{vm}/migrations"),
        &cloud.admin,
        "2.23",
        None,
    )
    .await;
    assert_eq!(b["migrations"], json!([]), "{b}");

    // ===== to the scheduler's choice (2.25 "auto"); aborted =====
    let (s, b) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.25",
        json!({"host": null, "block_migration": "auto"}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let mid = running_migration(&cloud, &vm).await;
    let running = migration(&cloud, mid).await;
    assert_eq!(running["dest_compute"], source.as_str());
    // A live migration in progress links to its server migration (2.23).
    let own = format!("/servers/{vm}/migrations/{mid}");
    let self_link = running["links"][0]["href"].as_str().unwrap_or_default();
    assert!(self_link.ends_with(&format!("/v2.1{own}")), "{running}");
    assert_eq!(running["links"][1]["rel"], "bookmark", "{running}");
    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.24",
            "server",
            "migration",
            "abort",
            &vm,
            &mid.to_string(),
        ],
    );
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), dest, "an aborted migration leaves it: {srv}");
    cloud
        .wait_for("the migration to be cancelled", 30, || async {
            (migration(&cloud, mid).await["status"] == "cancelled").then_some(())
        })
        .await;
    assert_eq!(
        running_vms(&cloud).await,
        expected,
        "nothing held on the source"
    );

    // ===== a paused server arrives paused =====
    cloud.osc("admin", &["server", "pause", &vm]);
    settled(&cloud, &vm, "PAUSED").await;
    let (s, b) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.68",
        json!({"host": source, "block_migration": false}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let mid = running_migration(&cloud, &vm).await;
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{vm}/migrations/{mid}/action"),
        &cloud.admin,
        "2.22",
        Some(json!({"force_complete": null})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let srv = settled(&cloud, &vm, "PAUSED").await;
    assert_eq!(host_of(&srv), source, "{srv}");
    assert_eq!(srv["OS-EXT-STS:power_state"], 3, "{srv}");
    cloud.osc("admin", &["server", "unpause", &vm]);
    settled(&cloud, &vm, "ACTIVE").await;
    cloud.osc("demo", &["server", "delete", "--wait", &vm]);
}

/// The server's migrations of type live-migration, oldest first.
async fn live_migrations(cloud: &Cloud, id: &str) -> Vec<Value> {
    let (_, b) = call(
        cloud,
        Method::GET,
        &format!("/os-migrations?instance_uuid={id}&migration_type=live-migration"),
        &cloud.admin,
        "2.23",
        None,
    )
    .await;
    let mut l = b["migrations"].as_array().unwrap().clone();
    l.sort_by_key(|m| m["id"].as_i64());
    l
}

/// A live migration that fails in the source's hypervisor, and one whose
/// destination cannot prepare: both accepted (202), both leave the server
/// ACTIVE where it was with its task cleared, the migration `error`, the
/// failing step's event `Error`, and neither destination holding anything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_live_migrations_leave_the_server_where_it_was() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(
                    format!("e2e-lfa-{id}"),
                    "[fake]\nfail_live_migration = true\nlive_migration_seconds = 1\n",
                ),
                ComputeHost::fake(format!("e2e-lfb-{id}"), ""),
                ComputeHost::fake(
                    format!("e2e-lfc-{id}"),
                    "[fake]\nfail_pre_live_migration = true\n",
                ),
            ]
        },
        true,
    )
    .await;
    let [a, b, c] = ["lfa", "lfb", "lfc"].map(|t| format!("e2e-{t}-{}", cloud.id));
    cloud
        .wait_for_scheduler_hosts(&[a.clone(), b.clone(), c.clone()])
        .await;
    let created: Value = serde_json::from_str(&cloud.osc(
        "admin",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--availability-zone",
            &format!("nova:{a}"),
            "--wait",
            "-f",
            "json",
            "lf",
        ],
    ))
    .unwrap();
    let vm = created["id"].as_str().unwrap().to_string();
    assert_eq!(host_of(&settled(&cloud, &vm, "ACTIVE").await), a);
    let mut idle = vec![(a.clone(), 1), (b.clone(), 0), (c.clone(), 0)];
    idle.sort();
    assert_eq!(running_vms(&cloud).await, idle);

    // ===== the source's hypervisor fails: back where it was =====
    let (s, body) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.30",
        json!({"host": b, "block_migration": "auto", "force": true}),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    let m = cloud
        .wait_for("the failed migration to end", 60, || async {
            live_migrations(&cloud, &vm)
                .await
                .pop()
                .filter(|m| m["status"] == "error")
        })
        .await;
    assert_eq!(m["dest_compute"], b.as_str(), "{m}");
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), a, "{srv}");
    assert!(
        live_migration_events(&cloud, &vm)
            .await
            .contains(&("compute_live_migration".to_string(), "Error".to_string())),
        "{:?}",
        live_migration_events(&cloud, &vm).await
    );
    assert_eq!(running_vms(&cloud).await, idle, "the claim on {b} is gone");

    // ===== the destination cannot prepare: accepted, then undone =====
    let (s, body) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.29",
        json!({"host": c, "block_migration": "auto"}),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    let all = live_migrations(&cloud, &vm).await;
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[1]["status"], "error", "{all:?}");
    assert_eq!(all[1]["dest_compute"], c.as_str(), "{all:?}");
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), a, "{srv}");
    let events = live_migration_events(&cloud, &vm).await;
    for e in [
        "conductor_live_migrate_instance",
        "compute_pre_live_migration",
    ] {
        assert!(
            events.contains(&(e.to_string(), "Error".to_string())),
            "{e}: {events:?}"
        );
    }
    assert_eq!(running_vms(&cloud).await, idle, "the claim on {c} is gone");
    cloud.osc("admin", &["server", "delete", "--wait", &vm]);
}

/// nova-conductor killed while the destination prepares (20 s fake
/// `pre_live_migration`): the request comes back to the restarted
/// conductor, which rolls the half-started migration back: the server
/// ACTIVE where it was, task cleared, the migration `error`, nothing held
/// on the destination.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conductor_killed_mid_live_migration_rolls_it_back_at_restart() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-lka-{id}"), ""),
                ComputeHost::fake(
                    format!("e2e-lkb-{id}"),
                    "[fake]\npre_live_migration_seconds = 20\n",
                ),
            ]
        },
        true,
    )
    .await;
    let [a, b] = ["lka", "lkb"].map(|t| format!("e2e-{t}-{}", cloud.id));
    cloud
        .wait_for_scheduler_hosts(&[a.clone(), b.clone()])
        .await;
    let created: Value = serde_json::from_str(&cloud.osc(
        "admin",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--availability-zone",
            &format!("nova:{a}"),
            "--wait",
            "-f",
            "json",
            "lk",
        ],
    ))
    .unwrap();
    let vm = created["id"].as_str().unwrap().to_string();
    settled(&cloud, &vm, "ACTIVE").await;
    let mut idle = vec![(a.clone(), 1), (b.clone(), 0)];
    idle.sort();
    let (s, body) = live_migrate(
        &cloud,
        &vm,
        &cloud.admin,
        "2.34",
        json!({"host": b, "block_migration": "auto", "force": true}),
    )
    .await;
    assert_eq!(s, 202, "{body}");
    cloud
        .wait_for("the destination to prepare", 60, || async {
            live_migrations(&cloud, &vm)
                .await
                .pop()
                .filter(|m| m["status"] == "preparing")
        })
        .await;
    cloud.kill("nova-conductor");
    cloud.restart("nova-conductor");
    let m = cloud
        .wait_for("the interrupted migration to end", 120, || async {
            live_migrations(&cloud, &vm)
                .await
                .pop()
                .filter(|m| m["status"] == "error")
        })
        .await;
    assert_eq!(m["dest_compute"], b.as_str(), "{m}");
    let srv = settled(&cloud, &vm, "ACTIVE").await;
    assert_eq!(host_of(&srv), a, "{srv}");
    assert_eq!(running_vms(&cloud).await, idle, "the claim on {b} is gone");
    cloud.osc("admin", &["server", "delete", "--wait", &vm]);
}
