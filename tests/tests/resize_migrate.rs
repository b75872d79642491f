//! Resize, confirm, revert and cold migration, end to end on two fake
//! compute hosts through the real `openstack` CLI: the migration rows
//! (`server migration list`, os-migrations), the flavor and host the
//! server ends with, the resources each host holds meanwhile, and the 409s
//! of actions in the wrong state.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

fn json_out(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

/// The server once it has no task_state, and its status is `status`.
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

/// vcpus used per hypervisor host name.
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

async fn action(cloud: &Cloud, id: &str, token: &str, body: Value) -> (u16, Value) {
    cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            token,
            Some(body),
        )
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resize_confirm_revert_and_cold_migrate_on_two_hosts() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-a-{id}"), ""),
                ComputeHost::fake(format!("e2e-b-{id}"), ""),
            ]
        },
        true,
    )
    .await;
    // m1.tiny (1 vcpu) → flavor "big" (2 vcpus, same disk).
    cloud.osc(
        "admin",
        &[
            "flavor", "create", "--id", "big", "--vcpus", "2", "--ram", "1024", "--disk", "1",
            "--public", "big",
        ],
    );
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
            "rs1",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    let source = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();

    // Wrong states first: nothing to confirm or revert yet (400, as Nova).
    for act in ["confirmResize", "revertResize"] {
        let (s, b) = action(&cloud, &id, &cloud.demo, json!({ act: null })).await;
        assert_eq!(s, 409, "{act} on ACTIVE: {b}");
    }
    // The same flavor, and an unknown one.
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"resize": {"flavorRef": "1"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"resize": {"flavorRef": "nope"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // Cold migration is admin only.
    let (s, b) = action(&cloud, &id, &cloud.demo, json!({"migrate": null})).await;
    assert_eq!(s, 403, "{b}");
    // Over the project's cores and RAM quota: 403 naming both, as Nova's
    // TooManyInstances of an upsize; the server stays as it was.
    let quota = format!("/os-quota-sets/{}", cloud.demo_project);
    let (s, b) = cloud
        .req(
            Method::PUT,
            &quota,
            &cloud.admin,
            Some(json!({"quota_set": {"cores": 1, "ram": 512}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"resize": {"flavorRef": "big"}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        b["forbidden"]["message"],
        "Quota exceeded for cores, ram: Requested 1, 512, but already used 1, 512 of 1, 512 cores, ram",
        "{b}"
    );
    let (s, b) = cloud.req(Method::DELETE, &quota, &cloud.admin, None).await;
    assert_eq!(s, 202, "{b}");
    wait_status(&cloud, &id, "ACTIVE").await;

    // Resize, then confirm: on the other host with the new flavor.
    cloud.osc("demo", &["server", "resize", "--flavor", "big", &id]);
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(dest, source, "{srv}");
    assert_eq!(srv["flavor"]["id"], "big", "{srv}");
    // Both hosts hold the instance until it is confirmed: 1 vcpu on the source, 2 on the destination.
    let used = vcpus_used(&cloud).await;
    assert!(used.contains(&(source.clone(), 1)), "{used:?}");
    assert!(used.contains(&(dest.clone(), 2)), "{used:?}");
    // Another resize or a reboot now: 409.
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"resize": {"flavorRef": "1"}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"reboot": {"type": "SOFT"}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let migrations = json_out(&cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.80",
            "server",
            "migration",
            "list",
            "--server",
            &id,
            "-f",
            "json",
        ],
    ));
    let m = &migrations.as_array().unwrap()[0];
    assert_eq!(m["Status"], "finished", "{migrations}");
    assert_eq!(m["Type"], "resize", "{migrations}");
    assert_eq!(m["Source Compute"], source.as_str(), "{migrations}");
    assert_eq!(m["Dest Compute"], dest.as_str(), "{migrations}");
    cloud.osc("demo", &["server", "resize", "confirm", &id]);
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], dest.as_str());
    assert_eq!(srv["flavor"]["id"], "big");
    cloud
        .wait_for("the source to be released", 30, || async {
            let used = vcpus_used(&cloud).await;
            (used.contains(&(source.clone(), 0)) && used.contains(&(dest.clone(), 2))).then_some(())
        })
        .await;

    // Resize back to m1.tiny... a smaller disk is refused, the same disk is
    // fine: resize to flavor 1 (1 vcpu), then revert: back on `dest` with "big".
    cloud.osc("admin", &["server", "stop", &id]);
    wait_status(&cloud, &id, "SHUTOFF").await;
    cloud.osc("demo", &["server", "resize", "--flavor", "1", &id]);
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str());
    assert_eq!(
        srv["OS-EXT-STS:power_state"], 4,
        "stopped stays stopped: {srv}"
    );
    cloud.osc("demo", &["server", "resize", "revert", &id]);
    let srv = wait_status(&cloud, &id, "SHUTOFF").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], dest.as_str());
    assert_eq!(srv["flavor"]["id"], "big");
    let (s, b) = cloud
        .get(&format!("/os-migrations?instance_uuid={id}"), &cloud.admin)
        .await;
    assert_eq!(s, 200, "{b}");
    let statuses: Vec<&str> = b["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["reverted", "confirmed"], "{b}");
    // Each records its destination's address (Nova's `_move_claim`): the
    // host_ip of the destination's hypervisor.
    let (_, hv) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
    let ip_of = |host: &str| {
        hv["hypervisors"]
            .as_array()
            .unwrap()
            .iter()
            .find(|h| h["service"]["host"] == host)
            .unwrap_or_else(|| panic!("no hypervisor of {host}: {hv}"))["host_ip"]
            .clone()
    };
    for m in b["migrations"].as_array().unwrap() {
        let dest = m["dest_compute"].as_str().unwrap();
        assert!(m["dest_host"].is_string(), "{m}");
        assert_eq!(m["dest_host"], ip_of(dest), "{m}");
    }

    // Cold migration (admin): the same flavor on the other host.
    cloud.osc("admin", &["server", "start", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;
    cloud.osc("admin", &["server", "migrate", &id]);
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str());
    assert_eq!(srv["flavor"]["id"], "big");
    cloud.osc("admin", &["server", "resize", "confirm", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;
    let (_, b) = cloud
        .get(
            &format!("/os-migrations?instance_uuid={id}&migration_type=migration"),
            &cloud.admin,
        )
        .await;
    assert_eq!(b["migrations"][0]["status"], "confirmed", "{b}");
    // Paging at the latest microversion (2.59 strict, 2.102 every GET
    // strict): newest first, a full page links to the next one.
    let page = |q: String| {
        let cloud = &cloud;
        async move {
            let resp = cloud
                .http
                .get(format!("{}{q}", cloud.api))
                .header("X-Auth-Token", &cloud.admin)
                .header("OpenStack-API-Version", "compute 2.103")
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{q}");
            resp.json::<Value>().await.unwrap()
        }
    };
    let first = page(format!("/os-migrations?instance_uuid={id}&limit=2")).await;
    let types: Vec<&str> = first["migrations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["migration_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["migration", "resize"], "{first}");
    let next = first["migrations_links"][0]["href"].as_str().unwrap();
    let marker = first["migrations"][1]["uuid"].as_str().unwrap();
    assert!(next.contains(&format!("marker={marker}")), "{first}");
    let rest = page(next.split_once("/v2.1").unwrap().1.to_string()).await;
    assert_eq!(rest["migrations"].as_array().unwrap().len(), 1, "{rest}");
    assert!(rest.get("migrations_links").is_none(), "{rest}");
    // Migrating to the host it is on is refused (2.56).
    let (ok, _, err) = cloud.openstack(
        "admin",
        &[
            "--os-compute-api-version",
            "2.56",
            "server",
            "migrate",
            "--host",
            &source,
            &id,
        ],
    );
    assert!(!ok && err.contains("400"), "{err}");

    // The instance actions record each step.
    let actions = json_out(&cloud.osc("admin", &["server", "event", "list", &id, "-f", "json"]));
    let names: Vec<&str> = actions
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["Action"].as_str().unwrap())
        .collect();
    for want in ["resize", "confirmResize", "revertResize", "migrate"] {
        assert!(names.contains(&want), "{want} in {names:?}");
    }
    cloud.osc("demo", &["server", "delete", "--wait", &id]);
}

/// Two fake compute hosts with `conf` (the fake driver made slow where a
/// test kills one), a flavor `big` to resize to, and one ACTIVE m1.tiny
/// server of demo's named `name`: (the cloud, the server's id, its host).
async fn two_hosts_and_a_server(conf: &str, name: &str) -> (Cloud, String, String) {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-a-{id}"), conf),
                ComputeHost::fake(format!("e2e-b-{id}"), conf),
            ]
        },
        false,
    )
    .await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(
                json!({"flavor": {"name": "big", "id": "big", "ram": 1024, "vcpus": 2, "disk": 1}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    let host = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    (cloud, id, host)
}

/// A destination nova-compute killed while it finishes a resize (the fake
/// driver's `finish_migration` made slow): at restart its init_host hands
/// the instance back to the source, which restarts it with the old flavor.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_killed_mid_resize_hands_the_instance_back() {
    const SLOW: &str = "[fake]\nfinish_migration_seconds = 60\n";
    let (mut cloud, id, source) = two_hosts_and_a_server(SLOW, "rs2").await;
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"resize": {"flavorRef": "big"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let srv = cloud
        .wait_for("the destination to be finishing the resize", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (b["server"]["OS-EXT-STS:task_state"] == "resize_finish").then(|| b["server"].clone())
        })
        .await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(dest, source);
    cloud.restart(&format!("nova-compute@{dest}"));
    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], source.as_str(), "{srv}");
    assert_eq!(srv["flavor"]["id"], "1", "{srv}");
    let (_, b) = cloud
        .get(&format!("/os-migrations?instance_uuid={id}"), &cloud.admin)
        .await;
    assert_eq!(b["migrations"][0]["status"], "reverted", "{b}");
    // Usable: it stops and starts again.
    let (s, b) = action(&cloud, &id, &cloud.demo, json!({"os-stop": null})).await;
    assert_eq!(s, 202, "{b}");
    wait_status(&cloud, &id, "SHUTOFF").await;
}

/// A source nova-compute killed while it confirms a resize (the fake
/// driver's `confirm_migration` made slow): the confirm_resize it was
/// handling was never acked, so the restarted source gets it again and
/// finishes it. The instance ends ACTIVE on the destination with the new
/// flavor, the migration `confirmed`, the confirmation's event finished;
/// never left `resize_confirming`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_killed_mid_confirm_finishes_it_at_restart() {
    const SLOW: &str = "[fake]\nconfirm_migration_seconds = 10\n";
    let (mut cloud, id, source) = two_hosts_and_a_server(SLOW, "rs3").await;
    let (s, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"resize": {"flavorRef": "big"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let srv = wait_status(&cloud, &id, "VERIFY_RESIZE").await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_ne!(dest, source);

    let (s, b) = action(&cloud, &id, &cloud.demo, json!({"confirmResize": null})).await;
    assert_eq!(s, 204, "{b}");
    cloud
        .wait_for("the source to be confirming", 60, || async {
            cloud
                .action_events(&id, "confirmResize")
                .await
                .contains(&("compute_confirm_resize".to_string(), false))
                .then_some(())
        })
        .await;
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    assert_eq!(
        b["server"]["OS-EXT-STS:task_state"], "resize_confirming",
        "{b}"
    );
    let source_svc = format!("nova-compute@{source}");
    cloud.restart(&source_svc);

    let srv = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], dest.as_str(), "{srv}");
    assert_eq!(srv["flavor"]["id"], "big", "{srv}");
    let (_, b) = cloud
        .get(&format!("/os-migrations?instance_uuid={id}"), &cloud.admin)
        .await;
    assert_eq!(b["migrations"][0]["status"], "confirmed", "{b}");
    assert_eq!(
        cloud.action_events(&id, "confirmResize").await,
        vec![("compute_confirm_resize".to_string(), true)]
    );
    assert!(
        cloud
            .log(&source_svc)
            .contains("handling a redelivered message"),
        "the restarted source finished the confirmation it was given before"
    );
    // The source no longer counts the instance; the destination does.
    cloud
        .wait_for("the source to be released", 30, || async {
            let used = vcpus_used(&cloud).await;
            (used.contains(&(source.clone(), 0)) && used.contains(&(dest.clone(), 2))).then_some(())
        })
        .await;
    let (s, b) = action(&cloud, &id, &cloud.demo, json!({"os-stop": null})).await;
    assert_eq!(s, 202, "{b}");
    wait_status(&cloud, &id, "SHUTOFF").await;
}
