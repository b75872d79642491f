//! Listings in the order a caller asks, as Nova's: `sort_key`/`sort_dir`
//! on `/servers` and `/servers/detail` (each may repeat; a key without a
//! direction takes the first one given, `desc` when none is; the keys Nova
//! ignores go with their direction; `host`/`node` are for admins; 2.73's
//! `locked`; 2.75 refuses what earlier versions ignored), paged through
//! `servers_links` in that order, also by openstacksdk; and on `/flavors`
//! (one key, `flavorid` ascending by default, `rxtx_factor` gone at 2.102).

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

/// The `name`s of what `path` lists under `key` (`servers`, `flavors`).
async fn names(cloud: &Cloud, path: &str, token: &str, mv: &str, key: &str) -> Vec<String> {
    let (s, b) = call(cloud, Method::GET, path, token, mv, None).await;
    assert_eq!(s, 200, "{path}: {b}");
    b[key]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every page of `path`, following `<key>_links`: the names, and how
/// many pages it took.
async fn paged(cloud: &Cloud, path: &str, token: &str, key: &str) -> (Vec<String>, usize) {
    let mut url = format!("{}{path}", cloud.api);
    let (mut all, mut pages) = (Vec::new(), 0);
    loop {
        let b: Value = cloud
            .http
            .get(&url)
            .header("X-Auth-Token", token)
            .header("OpenStack-API-Version", "compute 2.79")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        pages += 1;
        assert!(pages < 20, "the links never end: {b}");
        all.extend(
            b[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["name"].as_str().unwrap().to_string()),
        );
        match b[format!("{key}_links")][0]["href"].as_str() {
            Some(next) => url = next.to_string(),
            None => return (all, pages),
        }
    }
}

async fn status(cloud: &Cloud, path: &str, token: &str, mv: &str) -> (u16, String) {
    let (s, b) = call(cloud, Method::GET, path, token, mv, None).await;
    let message = b
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_string();
    (s, message)
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_follow_the_sort_keys_asked() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("lo-{id}"), "")], true).await;
    let demo = cloud.demo.clone();
    let created = ["delta", "alpha", "echo", "charlie", "bravo"];
    let mut ids = std::collections::HashMap::new();
    for name in created {
        let (s, b) = call(
            &cloud,
            Method::POST,
            "/servers",
            &demo,
            "2.37",
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id,
                "flavorRef": "1", "networks": "none"}})),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        ids.insert(name, b["server"]["id"].as_str().unwrap().to_string());
    }
    cloud.wait_for_builds(created.len(), 120).await;
    let asc = sorted(&created);
    let desc: Vec<String> = asc.iter().rev().cloned().collect();
    let newest_first: Vec<String> = created.iter().rev().map(|s| s.to_string()).collect();

    // One key, each way; without a direction it is `desc`.
    for path in ["/servers", "/servers/detail"] {
        let q = format!("{path}?sort_key=display_name&sort_dir=asc");
        assert_eq!(names(&cloud, &q, &demo, "2.1", "servers").await, asc);
        let q = format!("{path}?sort_key=display_name");
        assert_eq!(names(&cloud, &q, &demo, "2.1", "servers").await, desc);
        // No sort parameter: newest first.
        assert_eq!(
            names(&cloud, path, &demo, "2.1", "servers").await,
            newest_first
        );
    }
    // Pages of two in that order, each link carrying the order on.
    let (all, pages) = paged(
        &cloud,
        "/servers/detail?sort_key=display_name&sort_dir=asc&limit=2",
        &demo,
        "servers",
    )
    .await;
    assert_eq!((all, pages), (asc.clone(), 3));

    // 2.73's `locked`: the locked server first, the rest by name. Before
    // 2.73 `locked` is ignored with its direction, leaving the names
    // ascending.
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{}/action", ids["charlie"]),
        &demo,
        "2.73",
        Some(json!({"lock": null})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let q = "/servers?sort_key=locked&sort_dir=desc&sort_key=display_name&sort_dir=asc";
    assert_eq!(
        names(&cloud, q, &demo, "2.73", "servers").await,
        ["charlie", "alpha", "bravo", "delta", "echo"]
    );
    assert_eq!(names(&cloud, q, &demo, "2.72", "servers").await, asc);
    // A key Nova ignores lists newest first until 2.75, then is a 400.
    assert_eq!(
        names(&cloud, "/servers?sort_key=id", &demo, "2.74", "servers").await,
        newest_first
    );
    let (s, m) = status(&cloud, "/servers?sort_key=id", &demo, "2.75").await;
    assert_eq!(s, 400, "{m}");
    assert!(
        m.contains("sort_key") && m.contains("'id' is not one of"),
        "{m}"
    );

    // Bad keys and directions are 400s naming the problem; hosts are the
    // admins' to sort by.
    for (q, says) in [
        ("/servers?sort_key=bogus", "'bogus' is not one of"),
        (
            "/servers?sort_key=display_name&sort_dir=sideways",
            "Unknown sort direction, must be 'desc' or 'asc'",
        ),
        (
            "/servers?sort_key=display_name&sort_dir=asc&sort_dir=desc",
            "Sort direction size exceeds sort key size",
        ),
    ] {
        let (s, m) = status(&cloud, q, &demo, "2.1").await;
        assert_eq!(s, 400, "{q}: {m}");
        assert!(m.contains(says), "{q}: {m}");
    }
    let (s, m) = status(&cloud, "/servers?sort_key=host", &demo, "2.1").await;
    assert_eq!(
        (s, m.as_str()),
        (403, "Only administrators can sort servers by host")
    );
    assert_eq!(
        names(
            &cloud,
            "/servers?all_tenants=1&sort_key=host&sort_key=display_name&sort_dir=asc",
            &cloud.admin,
            "2.1",
            "servers"
        )
        .await,
        asc
    );

    // openstacksdk asks for the order and follows the links.
    let venv = std::env::var("NOVA_VENV").unwrap_or_else(|_| "/opt/nova-rs/venv".into());
    let out = Command::new(format!("{venv}/bin/python"))
        .env("OS_CLIENT_CONFIG_FILE", cloud.dir.join("clouds.yaml"))
        .args([
            "-c",
            "import json, openstack\n\
             c = openstack.connect(cloud='demo')\n\
             print(json.dumps([s.name for s in c.compute.servers(sort_key='display_name', sort_dir='desc', limit=2)]))\n",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openstacksdk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed, desc);

    // Flavors: by flavorid ascending unless asked otherwise.
    let by_id = names(&cloud, "/flavors", &demo, "2.1", "flavors").await;
    let (s, b) = call(&cloud, Method::GET, "/flavors/detail", &demo, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    let ids: Vec<&str> = b["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let mut want = ids.clone();
    want.sort();
    assert_eq!(ids, want);
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/flavors/detail?sort_key=memory_mb&sort_dir=desc",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let ram: Vec<i64> = b["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["ram"].as_i64().unwrap())
        .collect();
    assert!(
        ram.len() > 2 && ram.windows(2).all(|w| w[0] >= w[1]),
        "{ram:?}"
    );
    assert!(ram.first() > ram.last(), "{ram:?}");
    let by_ram: Vec<String> = b["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    let (all, pages) = paged(
        &cloud,
        "/flavors?sort_key=memory_mb&sort_dir=desc&limit=2",
        &demo,
        "flavors",
    )
    .await;
    assert_eq!(all, by_ram);
    assert!(pages >= 2, "{pages}");
    assert_ne!(by_ram, by_id);
    // A flavor whose description changed has an updated_at; ascending,
    // it comes before those that never changed (NULL sorts last).
    let (s, b) = call(
        &cloud,
        Method::PUT,
        "/flavors/2",
        &cloud.admin,
        "2.55",
        Some(json!({"flavor": {"description": "resorted"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = call(
        &cloud,
        Method::GET,
        "/flavors?sort_key=updated_at&sort_dir=asc",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(b["flavors"][0]["id"], "2", "{b}");
    for (q, mv, code) in [
        ("/flavors?sort_key=rxtx_factor", "2.101", 200),
        ("/flavors?sort_key=rxtx_factor", "2.102", 400),
        ("/flavors?sort_key=ram", "2.1", 400),
        ("/flavors?sort_dir=up", "2.1", 400),
    ] {
        let (s, m) = status(&cloud, q, &demo, mv).await;
        assert_eq!(s, code, "{q} at {mv}: {m}");
    }
}
