//! nova-api keeps the flavors between requests (`compute/api/flavor_cache.rs`)
//! and is never caught with an old copy: with two nova-api processes on one
//! conductor, every flavor write made through the first (create, extra
//! specs, access, description, delete) shows on the first's next request,
//! and on the second's as soon as the conductor's `flavors_changed` fanout
//! has arrived (the test allows it 5 s, and reports how many reads it took).

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

async fn req(
    cloud: &Cloud,
    api: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = cloud
        .http
        .request(method, format!("{api}{path}"))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", "compute 2.61");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The flavor as `token` sees it in `/flavors/detail` of `api`, if listed.
async fn listed(cloud: &Cloud, api: &str, token: &str, name: &str) -> Option<Value> {
    let (s, b) = req(
        cloud,
        api,
        Method::GET,
        "/flavors/detail?is_public=None",
        token,
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == name)
        .cloned()
}

/// Wait (5 s at most) until `check` holds on the second nova-api.
async fn on_second<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = std::time::Instant::now();
    let mut reads = 0;
    loop {
        reads += 1;
        if check().await {
            println!(
                "second nova-api: {what} after {reads} read(s), {:?}",
                start.elapsed()
            );
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(5),
            "the second nova-api still shows old flavors: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flavor_writes_show_on_the_next_request_of_every_nova_api() {
    let mut cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("fc-{id}"), "")], true).await;
    let (one, two) = (cloud.api.clone(), cloud.spawn_second_api().await);
    let admin = cloud.admin.clone();
    let demo = cloud.demo.clone();
    // Both have read (and keep) the flavors.
    for api in [&one, &two] {
        assert!(listed(&cloud, api, &admin, "m1.tiny").await.is_some());
        assert!(listed(&cloud, api, &admin, "cached").await.is_none());
    }

    // ===== create: a private flavor =====
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        "/flavors",
        &admin,
        Some(
            json!({"flavor": {"name": "cached", "ram": 64, "vcpus": 1, "disk": 1,
                               "id": "cached-1", "os-flavor-access:is_public": false}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(listed(&cloud, &one, &admin, "cached").await.is_some());
    let (s, _) = req(&cloud, &one, Method::GET, "/flavors/cached-1", &admin, None).await;
    assert_eq!(s, 200);
    on_second("the new flavor", || async {
        listed(&cloud, &two, &admin, "cached").await.is_some()
    })
    .await;
    // Private: not the demo project's yet.
    assert!(listed(&cloud, &one, &demo, "cached").await.is_none());

    // ===== access for the demo project =====
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        "/flavors/cached-1/action",
        &admin,
        Some(json!({"addTenantAccess": {"tenant": cloud.demo_project}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(listed(&cloud, &one, &demo, "cached").await.is_some());
    on_second("the demo project's access", || async {
        listed(&cloud, &two, &demo, "cached").await.is_some()
    })
    .await;

    // ===== extra specs and description =====
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        "/flavors/cached-1/os-extra_specs",
        &admin,
        Some(json!({"extra_specs": {"hw:cpu_policy": "shared"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let f = listed(&cloud, &one, &admin, "cached").await.unwrap();
    assert_eq!(f["extra_specs"], json!({"hw:cpu_policy": "shared"}), "{f}");
    let (s, b) = req(
        &cloud,
        &one,
        Method::PUT,
        "/flavors/cached-1",
        &admin,
        Some(json!({"flavor": {"description": "kept in nova-api"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = req(&cloud, &one, Method::GET, "/flavors/cached-1", &admin, None).await;
    assert_eq!(b["flavor"]["description"], "kept in nova-api", "{b}");
    on_second("the extra spec and the description", || async {
        listed(&cloud, &two, &admin, "cached")
            .await
            .is_some_and(|f| {
                f["extra_specs"] == json!({"hw:cpu_policy": "shared"})
                    && f["description"] == "kept in nova-api"
            })
    })
    .await;

    // ===== access removed, then the flavor deleted =====
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        "/flavors/cached-1/action",
        &admin,
        Some(json!({"removeTenantAccess": {"tenant": cloud.demo_project}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(listed(&cloud, &one, &demo, "cached").await.is_none());
    on_second("the access removed", || async {
        listed(&cloud, &two, &demo, "cached").await.is_none()
    })
    .await;
    let (s, _) = req(
        &cloud,
        &one,
        Method::DELETE,
        "/flavors/cached-1",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = req(&cloud, &one, Method::GET, "/flavors/cached-1", &admin, None).await;
    assert_eq!(s, 404);
    assert!(listed(&cloud, &one, &admin, "cached").await.is_none());
    on_second("the flavor deleted", || async {
        req(&cloud, &two, Method::GET, "/flavors/cached-1", &admin, None)
            .await
            .0
            == 404
    })
    .await;

    // ===== the broker connection lost and made again =====
    // The second nova-api may miss casts while it is away: what it kept
    // from before is not used once it is connected again (the epoch check
    // itself is unit-tested in flavor_cache.rs). Its connection is closed by
    // the broker; a flavor made meanwhile shows once it is back.
    let (s, _) = req(&cloud, &two, Method::GET, "/flavors", &admin, None).await;
    assert_eq!(s, 200);
    let conns = std::process::Command::new("rabbitmqctl")
        .args([
            "-q",
            "list_connections",
            "-p",
            &cloud.vhost,
            "pid",
            "client_properties",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&conns.stdout).to_string();
    let tag = format!("nova-api:{}", cloud.pid("nova-api-2"));
    let victims: Vec<String> = text
        .lines()
        .filter(|l| l.contains(&tag))
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .collect();
    assert!(
        !victims.is_empty(),
        "no broker connection named {tag}:\n{text}"
    );
    for v in &victims {
        let ok = std::process::Command::new("rabbitmqctl")
            .args(["-q", "close_connection", v, "flavor cache test"])
            .status()
            .unwrap()
            .success();
        assert!(ok, "rabbitmqctl close_connection {v}");
    }
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        "/flavors",
        &admin,
        Some(json!({"flavor": {"name": "while-away", "ram": 64, "vcpus": 1, "disk": 1}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    on_second("a flavor made while it was away", || async {
        listed(&cloud, &two, &admin, "while-away").await.is_some()
    })
    .await;
}
