//! `os-tenant-networks` create and delete (nova-network's proxy API,
//! 2.1-2.35, 404 above) over plain HTTP, as curl would send it
//! (python-openstackclient 10 has no nova-network fallback): a project
//! member makes a network of its own project, sees it, and deletes it;
//! readers may not, other projects cannot see or delete it, and a shared
//! network is not a user's to delete. Nova's errors: 400 for bad bodies and
//! too small ranges, 409 (CidrConflict) for an overlapping range.

#![allow(clippy::unwrap_used)]

use nova_e2e::{fixed_range, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

async fn call(
    cloud: &Cloud,
    method: Method,
    path: &str,
    token: &str,
    roles: Option<&str>,
    mv: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = cloud
        .http
        .request(method, format!("{}{path}", cloud.api))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(roles) = roles {
        r = r.header("X-Roles", roles);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn message(b: &Value) -> String {
    b.as_object()
        .and_then(|o| o.values().next())
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_creates_and_deletes_its_own_network() {
    let cloud = Cloud::start_with(
        |id| vec![(format!("e2e-fake-{id}"), "fake.FakeDriver")],
        false,
    )
    .await;
    let (demo, alt, admin) = (&cloud.demo, &cloud.alt, &cloud.admin);
    let post = |token: &'static str, roles: Option<&'static str>, mv: &'static str, body: Value| {
        let token = match token {
            "demo" => demo.clone(),
            "alt" => alt.clone(),
            _ => admin.clone(),
        };
        let cloud = &cloud;
        async move {
            call(
                cloud,
                Method::POST,
                "/os-tenant-networks",
                &token,
                roles,
                mv,
                Some(body),
            )
            .await
        }
    };
    let cidr = "10.99.0.0/28";

    // Bad bodies and ranges: 400.
    for body in [
        json!({"network": {"cidr": cidr}}),
        json!({"network": {"label": "t"}}),
        json!({"network": {"label": "t", "cidr": "nope"}}),
        json!({"network": {"label": "t", "cidr": cidr, "bridge": "br-x"}}),
        json!({"network": {"label": "t", "cidr": cidr}, "extra": 1}),
        json!({"net": {"label": "t", "cidr": cidr}}),
    ] {
        let (s, b) = post("demo", None, "2.1", body.clone()).await;
        assert_eq!(s, 400, "{body} -> {b}");
    }
    let (s, b) = post(
        "demo",
        None,
        "2.1",
        json!({"network": {"label": "t", "cidr": "10.99.9.0/31"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        message(&b).contains("does not contain enough (2+) usable hosts"),
        "{b}"
    );
    // Not above 2.35; not for a reader.
    let (s, _) = post(
        "demo",
        None,
        "2.36",
        json!({"network": {"label": "t", "cidr": cidr}}),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = post(
        "demo",
        Some("reader"),
        "2.1",
        json!({"network": {"label": "t", "cidr": cidr}}),
    )
    .await;
    assert_eq!(s, 403);
    // Overlapping the cloud's own network: CidrConflict.
    let (s, b) = post(
        "demo",
        None,
        "2.1",
        json!({"network": {"label": "t", "cidr": fixed_range(&cloud.id)}}),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    assert!(message(&b).contains("conflicts with existing cidr"), "{b}");

    // A member creates one: the short form, owned by its project.
    let (s, b) = post(
        "demo",
        None,
        "2.1",
        json!({"network": {"label": "t-net", "cidr": cidr}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let net = b["network"].clone();
    assert_eq!(net["label"], "t-net");
    assert_eq!(net["cidr"], cidr);
    let mut keys: Vec<_> = net.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["cidr", "id", "label"]);
    let id = net["id"].as_str().unwrap().to_string();
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{id}"),
        admin,
        None,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["network"]["project_id"], json!(cloud.demo_project));
    assert_eq!(b["network"]["netmask"], "255.255.255.240");
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-tenant-networks",
        demo,
        None,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        b["networks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == json!(id)),
        "{b}"
    );
    let (_, b) = call(
        &cloud,
        Method::GET,
        "/os-tenant-networks",
        alt,
        None,
        "2.1",
        None,
    )
    .await;
    assert!(
        !b["networks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["id"] == json!(id)),
        "{b}"
    );
    // The same range again: 409.
    let (s, _) = post(
        "alt",
        None,
        "2.1",
        json!({"network": {"label": "t2", "cidr": "10.99.0.8/29"}}),
    )
    .await;
    assert_eq!(s, 409);

    // A range larger than [DEFAULT] network_size is cut to its first free
    // subnet of that size, as Nova's create_networks; network_size cuts it
    // smaller; ipam keeps it whole.
    let mut made = Vec::new();
    for (body, want) in [
        (
            json!({"label": "big", "cidr": "10.98.0.0/16"}),
            "10.98.0.0/24",
        ),
        (
            json!({"label": "big2", "cidr": "10.98.0.0/16"}),
            "10.98.1.0/24",
        ),
        (
            json!({"label": "small", "cidr": "10.97.0.0/24", "network_size": "64"}),
            "10.97.0.0/26",
        ),
        (
            json!({"label": "whole", "cidr": "10.96.0.0/22", "ipam": true}),
            "10.96.0.0/22",
        ),
    ] {
        let (s, b) = post("demo", None, "2.1", json!({ "network": body })).await;
        assert_eq!((s, b["network"]["cidr"].as_str()), (200, Some(want)), "{b}");
        made.push(b["network"]["id"].as_str().unwrap().to_string());
    }
    for id in made {
        let path = format!("/os-tenant-networks/{id}");
        let (s, _) = call(&cloud, Method::DELETE, &path, demo, None, "2.1", None).await;
        assert_eq!(s, 202);
    }

    // Delete: not another project's, not the shared network, not by a reader, not above 2.35.
    let path = format!("/os-tenant-networks/{id}");
    let (s, _) = call(&cloud, Method::DELETE, &path, alt, None, "2.1", None).await;
    assert_eq!(s, 404);
    let (_, b) = call(
        &cloud,
        Method::GET,
        "/os-networks",
        admin,
        None,
        "2.1",
        None,
    )
    .await;
    let shared = b["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["label"] == "private")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/os-tenant-networks/{shared}"),
        demo,
        None,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404, "a shared network is not a user's to delete");
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &path,
        demo,
        Some("reader"),
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(&cloud, Method::DELETE, &path, demo, None, "2.36", None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&cloud, Method::DELETE, &path, demo, None, "2.1", None).await;
    assert_eq!(s, 202);
    let (s, _) = call(&cloud, Method::GET, &path, demo, None, "2.1", None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&cloud, Method::DELETE, &path, demo, None, "2.1", None).await;
    assert_eq!(s, 404);
    // The shared network is still there.
    let (s, _) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{shared}"),
        admin,
        None,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200);
}
