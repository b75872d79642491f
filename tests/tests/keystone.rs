//! Keystone for real: python-openstackclient against this cloud as the demo
//! and admin users, token validation (401, cache, revocation, Keystone down
//! → 503) and policy (403, other projects' servers are 404); URLs naming
//! the project (2.18).

#![allow(clippy::unwrap_used)]

use nova_e2e::{keystone_token, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

fn validations(cloud: &Cloud) -> usize {
    cloud
        .log("nova-api")
        .matches("validated a token with Keystone")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openstack_cli_tokens_and_policy() {
    let cloud = Cloud::start_with(
        |id| vec![(format!("ks-fake-{id}"), "fake.FakeDriver")],
        true,
    )
    .await;
    cloud
        .wait_for("a compute node", 30, || async {
            let (_, b) = cloud.get("/os-hypervisors", &cloud.admin).await;
            (b["hypervisors"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        })
        .await;

    // --- as demo, with the real CLI ---
    let out = cloud.osc("demo", &["keypair", "create", "k1"]);
    assert!(out.contains("PRIVATE KEY"), "{out}");
    let kps: Value =
        serde_json::from_str(&cloud.osc("demo", &["keypair", "list", "-f", "json"])).unwrap();
    assert_eq!(kps[0]["Name"], "k1", "{kps}");
    let flavors = cloud.osc("demo", &["flavor", "list", "-f", "json"]);
    assert!(flavors.contains("m1.tiny"), "{flavors}");
    let created: Value = serde_json::from_str(&cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--key-name",
            "k1",
            "--wait",
            "-f",
            "json",
            "vm1",
        ],
    ))
    .unwrap();
    assert_eq!(created["status"], "ACTIVE", "{created}");
    let list: Value =
        serde_json::from_str(&cloud.osc("demo", &["server", "list", "-f", "json"])).unwrap();
    assert_eq!(list[0]["Name"], "vm1", "{list}");
    assert_eq!(list[0]["Status"], "ACTIVE");
    let shown: Value =
        serde_json::from_str(&cloud.osc("demo", &["server", "show", "vm1", "-f", "json"])).unwrap();
    assert_eq!(shown["key_name"], "k1", "{shown}");
    // URLs that name the project (Nova's optional project id, 2.18): the
    // same resources; another project's id is Nova's 400.
    let pid = cloud.demo_project.clone();
    let (s, b) = cloud
        .get(&format!("/{pid}/servers/detail"), &cloud.demo)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["servers"][0]["name"], "vm1", "{b}");
    // Their links repeat the project id (Nova's `_get_project_id`), the
    // server's flavor and image bookmarks too; without it, they do not.
    let srv = &b["servers"][0];
    let id = srv["id"].as_str().unwrap();
    let links = &srv["links"];
    let self_link = links[0]["href"].as_str().unwrap();
    assert!(
        self_link.ends_with(&format!("/v2.1/{pid}/servers/{id}")),
        "{links}"
    );
    let bookmark = links[1]["href"].as_str().unwrap();
    assert!(
        bookmark.ends_with(&format!("/{pid}/servers/{id}")),
        "{links}"
    );
    assert!(!bookmark.contains("/v2.1/"), "{links}");
    let flavor_link = srv["flavor"]["links"][0]["href"].as_str().unwrap();
    assert!(flavor_link.contains(&format!("/{pid}/flavors/")), "{srv}");
    assert!(!flavor_link.contains("/v2.1/"), "{srv}");
    let image_link = srv["image"]["links"][0]["href"].as_str().unwrap();
    assert!(
        image_link.ends_with(&format!("/{pid}/images/{}", cloud.image_id)),
        "{srv}"
    );
    let (_, plain) = cloud.get("/servers/detail", &cloud.demo).await;
    let plain_self = plain["servers"][0]["links"][0]["href"].as_str().unwrap();
    assert_eq!(plain_self, self_link.replace(&format!("/{pid}/"), "/"));
    let (s, b) = cloud.get(&format!("/{pid}/flavors/1"), &cloud.demo).await;
    assert_eq!((s, &b["flavor"]["id"]), (200, &json!("1")), "{b}");
    assert!(
        b["flavor"]["links"][0]["href"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/v2.1/{pid}/flavors/1")),
        "{b}"
    );
    let (s, b) = cloud
        .get(&format!("/{}/servers", cloud.admin_project), &cloud.demo)
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        format!(
            "Malformed request URL: URL's project_id '{}' doesn't match Context's project_id '{pid}'",
            cloud.admin_project
        ),
        "{b}"
    );
    assert!(
        shown["addresses"]
            .to_string()
            .contains(&nova_e2e::fixed_prefix(&cloud.id)),
        "{shown}"
    );
    let limits = cloud.osc("demo", &["limits", "show", "--absolute", "-f", "json"]);
    let limits: Value = serde_json::from_str(&limits).unwrap();
    let instances = limits
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "instances")
        .unwrap();
    assert_eq!(instances["Value"], 10, "{limits}");
    let used = limits
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["Name"] == "instances_used")
        .unwrap();
    assert_eq!(used["Value"], 1, "{limits}");
    let quota = cloud.osc("demo", &["quota", "show", "-f", "json"]);
    assert!(
        quota.contains("instances") || quota.contains("Instances"),
        "{quota}"
    );
    let azs = cloud.osc("demo", &["availability", "zone", "list", "-f", "json"]);
    assert!(azs.contains("nova"), "{azs}");

    // --- as admin ---
    cloud.osc(
        "admin",
        &[
            "flavor", "create", "--ram", "64", "--disk", "1", "--vcpus", "1", "m1.nano",
        ],
    );
    assert!(cloud.osc("admin", &["flavor", "list"]).contains("m1.nano"));
    let svcs = cloud.osc("admin", &["compute", "service", "list", "-f", "json"]);
    assert!(
        svcs.contains("nova-compute") && svcs.contains("nova-conductor"),
        "{svcs}"
    );
    let hvs = cloud.osc("admin", &["hypervisor", "list", "-f", "json"]);
    assert!(hvs.contains("ks-fake-"), "{hvs}");
    let all = cloud.osc("admin", &["server", "list", "--all-projects", "-f", "json"]);
    assert!(all.contains("vm1"), "{all}");
    assert!(!cloud
        .osc("admin", &["server", "list", "-f", "json"])
        .contains("vm1"));

    // --- negatives over HTTP ---
    let url = format!("{}/servers", cloud.api);
    let r = cloud.http.get(&url).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Keystone uri="));
    let r = cloud
        .http
        .get(&url)
        .header("X-Auth-Token", "not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (s, b) = cloud.get("/os-services", &cloud.demo).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        b["forbidden"]["message"],
        "Policy doesn't allow os_compute_api:os-services:list to be performed."
    );
    let (s, _) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.demo,
            Some(json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1}})),
        )
        .await;
    assert_eq!(s, 403);
    let vm1 = created["id"].as_str().unwrap();
    let (s, b) = cloud.get(&format!("/servers/{vm1}"), &cloud.alt).await;
    assert_eq!(s, 404, "{b}");
    let (s, _) = cloud
        .req(Method::DELETE, &format!("/servers/{vm1}"), &cloud.alt, None)
        .await;
    assert_eq!(s, 404);
    let (s, b) = cloud.get(&format!("/servers/{vm1}"), &cloud.admin).await;
    assert_eq!(s, 200, "{b}");

    // --- the token cache: one validation for many requests; revocation within the bound ---
    let ks = cloud.keystone.clone().unwrap();
    let (t, _) = keystone_token(&cloud.http, &ks, "demo", "demo", "demo").await;
    let before = validations(&cloud);
    for _ in 0..5 {
        let (s, _) = cloud.get("/flavors", &t).await;
        assert_eq!(s, 200);
    }
    assert_eq!(
        validations(&cloud) - before,
        1,
        "a cached token was validated again"
    );
    let revoke = cloud
        .http
        .delete(format!("{ks}/auth/tokens"))
        .header("X-Auth-Token", &cloud.admin)
        .header("X-Subject-Token", &t)
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status().as_u16(), 204);
    let revoked_at = Instant::now();
    cloud
        .wait_for("the revoked token to stop working", 15, || async {
            let (s, _) = cloud.get("/flavors", &t).await;
            (s == 401).then_some(())
        })
        .await;
    // token_cache_time = 3 s in the test config.
    assert!(revoked_at.elapsed() < Duration::from_secs(3 + 5));

    // --- Keystone down: 503 with a clear message, nothing created ---
    let (fresh, _) = keystone_token(&cloud.http, &ks, "demo", "demo", "demo").await;
    let servers_before: Value =
        serde_json::from_str(&cloud.osc("demo", &["server", "list", "-f", "json"])).unwrap();
    cloud.keystone_ctl("stop");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &fresh,
            Some(json!({"server": {"name": "nope", "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 503, "{b}");
    assert!(
        b["serviceUnavailable"]["message"]
            .as_str()
            .unwrap()
            .contains("Keystone"),
        "{b}"
    );
    cloud.keystone_ctl("start");
    let servers_after: Value =
        serde_json::from_str(&cloud.osc("demo", &["server", "list", "-f", "json"])).unwrap();
    assert_eq!(servers_before, servers_after);

    // --- clean up with the CLI ---
    cloud.osc("demo", &["server", "delete", "--wait", "vm1"]);
    cloud.osc("demo", &["keypair", "delete", "k1"]);
    assert_eq!(
        cloud.osc("demo", &["server", "list", "-f", "value"]).trim(),
        ""
    );
}
