//! A compute host that dies leaves no task_state behind (real binaries, one
//! fake compute host): the conductor clears an action's task_state once the
//! host is down, and finishes a delete the host will never do.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::{json, Value};

async fn server(cloud: &Cloud, id: &str) -> (u16, Value) {
    let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    (s, b["server"].clone())
}

async fn boot_active(cloud: &Cloud, name: &str) -> String {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_for("ACTIVE", 60, || async {
            let (_, srv) = server(cloud, &id).await;
            (srv["status"] == "ACTIVE" && srv["OS-EXT-STS:task_state"].is_null()).then_some(())
        })
        .await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_compute_host_leaves_no_task_state_behind() {
    let mut cloud = Cloud::start_with(
        |id| vec![(format!("e2e-dead-{id}"), "fake.FakeDriver")],
        false,
    )
    .await;
    let rebooted = boot_active(&cloud, "rebooted").await;
    let deleted = boot_active(&cloud, "deleted").await;
    let compute = cloud
        .daemons
        .iter()
        .find(|d| d.name.starts_with("nova-compute@"))
        .unwrap()
        .name
        .clone();
    cloud.kill(&compute);
    // Still "up" for a few seconds: the API casts, and nothing will answer.
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{rebooted}/action"),
            &cloud.admin,
            Some(json!({"reboot": {"type": "SOFT"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (s, b) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{deleted}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204, "{b}");
    let (_, srv) = server(&cloud, &rebooted).await;
    assert_eq!(srv["OS-EXT-STS:task_state"], "rebooting", "{srv}");

    cloud
        .wait_for("the reboot's task_state to be cleared", 90, || async {
            let (_, srv) = server(&cloud, &rebooted).await;
            srv["OS-EXT-STS:task_state"].is_null().then_some(())
        })
        .await;
    cloud
        .wait_for("the delete to finish without the host", 90, || async {
            let (s, _) = server(&cloud, &deleted).await;
            (s == 404).then_some(())
        })
        .await;
    // The server whose reboot died takes actions again.
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{rebooted}/action"),
            &cloud.admin,
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
}
