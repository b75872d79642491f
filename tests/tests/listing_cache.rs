//! nova-api keeps the servers of its recent `servers/detail` listings and
//! the conductor sends only those whose generation changed
//! (`compute/api/instance_cache.rs`, migration 0015). Never stale: with two
//! nova-api processes on one conductor, every change made through the first
//! (a rename, metadata, a tag, a security group added, renamed and removed,
//! a lock with its reason, a stop done by the compute host, a delete) shows
//! in the very next listing of both, and every listed server is, field for
//! field, what `GET /servers/{id}` shows of it. The bodies nova-api keeps
//! written (`rendered_servers.rs`) are per kind of caller, and an admin's
//! `host_status` follows the host's service at once.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

const MV: &str = "2.96";

async fn req(
    cloud: &Cloud,
    api: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    req_at(cloud, api, MV, method, path, token, body).await
}

/// At microversion `mv` (the security group proxies end at 2.35).
async fn req_at(
    cloud: &Cloud,
    api: &str,
    mv: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = cloud
        .http
        .request(method, format!("{api}{path}"))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The servers `api` lists for `token`, each checked against its own show.
async fn listing(cloud: &Cloud, api: &str, token: &str) -> Vec<Value> {
    listing_of(cloud, api, token, "/servers/detail").await
}

/// As [`listing`], of `path` (`/servers/detail?...`).
async fn listing_of(cloud: &Cloud, api: &str, token: &str, path: &str) -> Vec<Value> {
    let (s, b) = req(cloud, api, Method::GET, path, token, None).await;
    assert_eq!(s, 200, "{b}");
    let servers = b["servers"].as_array().unwrap().clone();
    for listed in &servers {
        let id = listed["id"].as_str().unwrap();
        let (s, b) = req(
            cloud,
            api,
            Method::GET,
            &format!("/servers/{id}"),
            token,
            None,
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let mut shown = b["server"].clone();
        // 2.71's server_groups are show's only.
        shown.as_object_mut().unwrap().remove("server_groups");
        // A change between the listing and the show is not a stale
        // listing (a build moving on, within the same second of
        // `updated`); anything else that differs is.
        let settled = |s: &Value| s["OS-EXT-STS:task_state"].is_null();
        if shown["updated"] == listed["updated"] && settled(&shown) && settled(listed) {
            let differ: Vec<String> = shown
                .as_object()
                .unwrap()
                .iter()
                .filter(|(k, v)| listed.get(k.as_str()) != Some(v))
                .map(|(k, v)| format!("{k}: shown {v}, listed {}", listed[k.as_str()]))
                .collect();
            assert!(
                differ.is_empty(),
                "the listed server is not the shown one: {differ:?}"
            );
            assert_eq!(&shown, listed, "the listed server is not the shown one");
        }
    }
    servers
}

/// Delete server `id` through `api` and wait until it is gone.
async fn delete(cloud: &Cloud, api: &str, token: &str, id: &str) {
    let path = format!("/servers/{id}");
    let (s, b) = req(cloud, api, Method::DELETE, &path, token, None).await;
    assert_eq!(s, 204, "{b}");
    cloud
        .wait_for("the delete", 30, || async {
            let (s, _) = req(cloud, api, Method::GET, &path, token, None).await;
            (s == 404).then_some(())
        })
        .await;
}

/// What a listing must show.
type Check = Box<dyn Fn(&[Value]) -> bool + Send + Sync>;

fn find<'a>(servers: &'a [Value], id: &str) -> Option<&'a Value> {
    servers.iter().find(|s| s["id"] == id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_shows_in_the_next_listing_of_every_nova_api() {
    let mut cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("lc-{id}"), "")], true).await;
    let (one, two) = (cloud.api.clone(), cloud.spawn_second_api().await);
    let demo = cloud.demo.clone();

    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        "/servers",
        &demo,
        Some(
            json!({"server": {"name": "lc", "imageRef": cloud.image_id, "flavorRef": "1",
            "networks": "none", "min_count": 3, "max_count": 3}}),
        ),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let ids: Vec<String> = cloud
        .wait_for("three ACTIVE servers", 60, || async {
            let all = listing(&cloud, &one, &demo).await;
            (all.len() == 3 && all.iter().all(|s| s["status"] == "ACTIVE")).then(|| {
                all.iter()
                    .map(|s| s["id"].as_str().unwrap().to_string())
                    .collect()
            })
        })
        .await;
    let (a, b_, c) = (&ids[0], &ids[1], &ids[2]);
    // Both nova-apis hold the page now.
    for api in [&one, &two] {
        assert_eq!(listing(&cloud, api, &demo).await.len(), 3);
    }

    // Each change through the first nova-api, then both listings at once.
    let both = |check: &'static str, f: Check| {
        let (cloud, one, two, demo) = (&cloud, &one, &two, &demo);
        async move {
            for api in [one, two] {
                let all = listing(cloud, api, demo).await;
                assert!(
                    f(&all),
                    "{api}: the next listing does not show {check}: {all:#?}"
                );
            }
        }
    };

    let (s, b) = req(
        &cloud,
        &one,
        Method::PUT,
        &format!("/servers/{a}"),
        &demo,
        Some(json!({"server": {"name": "renamed"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let a2 = a.clone();
    both(
        "the rename",
        Box::new(move |all| find(all, &a2).unwrap()["name"] == "renamed"),
    )
    .await;

    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        &format!("/servers/{b_}/metadata"),
        &demo,
        Some(json!({"metadata": {"color": "blue"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let b2 = b_.clone();
    both(
        "the metadata",
        Box::new(move |all| find(all, &b2).unwrap()["metadata"] == json!({"color": "blue"})),
    )
    .await;

    let (s, b) = req(
        &cloud,
        &one,
        Method::PUT,
        &format!("/servers/{c}/tags/listed"),
        &demo,
        None,
    )
    .await;
    assert!(s == 201 || s == 204, "{s} {b}");
    let c2 = c.clone();
    both(
        "the tag",
        Box::new(move |all| find(all, &c2).unwrap()["tags"] == json!(["listed"])),
    )
    .await;

    // A security group added, renamed, removed.
    let (s, g) = req_at(
        &cloud,
        &one,
        "2.1",
        Method::POST,
        "/os-security-groups",
        &demo,
        Some(json!({"security_group": {"name": "extra", "description": "d"}})),
    )
    .await;
    assert_eq!(s, 200, "{g}");
    let gid = g["security_group"]["id"].clone();
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        &format!("/servers/{a}/action"),
        &demo,
        Some(json!({"addSecurityGroup": {"name": "extra"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let groups = |name: &'static str, id: String| {
        Box::new(move |all: &[Value]| {
            find(all, &id).unwrap()["security_groups"]
                .as_array()
                .unwrap()
                .iter()
                .any(|g| g["name"] == name)
        }) as Check
    };
    both("the added group", groups("extra", a.clone())).await;
    let (s, b) = req_at(
        &cloud,
        &one,
        "2.1",
        Method::PUT,
        &format!("/os-security-groups/{gid}"),
        &demo,
        Some(json!({"security_group": {"name": "extra2", "description": "d"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    both("the renamed group", groups("extra2", a.clone())).await;
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        &format!("/servers/{a}/action"),
        &demo,
        Some(json!({"removeSecurityGroup": {"name": "extra2"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let a2 = a.clone();
    both(
        "the removed group",
        Box::new(move |all| !groups("extra2", a2.clone())(all)),
    )
    .await;

    // A lock with its reason (system metadata, 2.73).
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        &format!("/servers/{b_}/action"),
        &demo,
        Some(json!({"lock": {"locked_reason": "listed lock"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let b2 = b_.clone();
    both(
        "the lock",
        Box::new(move |all| {
            let s = find(all, &b2).unwrap();
            s["locked"] == true && s["locked_reason"] == "listed lock"
        }),
    )
    .await;

    // A stop, done by the compute host: once show has it, so do listings.
    let (s, b) = req(
        &cloud,
        &one,
        Method::POST,
        &format!("/servers/{c}/action"),
        &demo,
        Some(json!({"os-stop": null})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_for("the stop", 30, || async {
            let (_, b) = req(
                &cloud,
                &one,
                Method::GET,
                &format!("/servers/{c}"),
                &demo,
                None,
            )
            .await;
            (b["server"]["status"] == "SHUTOFF" && b["server"]["OS-EXT-STS:task_state"].is_null())
                .then_some(())
        })
        .await;
    let c2 = c.clone();
    both(
        "the stop",
        Box::new(move |all| find(all, &c2).unwrap()["status"] == "SHUTOFF"),
    )
    .await;

    // An admin's listings: the admin's own kind of bodies (with the host
    // and `host_status`), and `host_status` as the host's service is now,
    // though none of the servers changed.
    let admin = cloud.admin.clone();
    let all_tenants = "/servers/detail?all_tenants=1";
    let host_statuses = |want: &'static str| {
        let (cloud, one, two, admin) = (&cloud, &one, &two, &admin);
        async move {
            for api in [one, two] {
                let all = listing_of(cloud, api, admin, all_tenants).await;
                assert_eq!(all.len(), 3, "{all:#?}");
                for s in &all {
                    assert!(s["OS-EXT-SRV-ATTR:host"].is_string(), "{s}");
                    assert_eq!(s["host_status"], want, "{api}: {s}");
                }
            }
        }
    };
    host_statuses("UP").await;
    let (s, b) = req(
        &cloud,
        &one,
        Method::GET,
        "/os-services?binary=nova-compute",
        &admin,
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let service = b["services"][0]["id"].as_str().unwrap().to_string();
    for (status, want) in [("disabled", "MAINTENANCE"), ("enabled", "UP")] {
        let (s, b) = req(
            &cloud,
            &one,
            Method::PUT,
            &format!("/os-services/{service}"),
            &admin,
            Some(json!({"status": status})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        host_statuses(want).await;
    }
    // The demo user's bodies are still the demo user's.
    for api in [&one, &two] {
        for s in listing(&cloud, api, &demo).await {
            assert!(s.get("OS-EXT-SRV-ATTR:host").is_none(), "{s}");
            assert!(s.get("host_status").is_none(), "{s}");
        }
    }

    // A delete: gone from both.
    delete(&cloud, &one, &demo, c).await;
    let c2 = c.clone();
    both(
        "the delete",
        Box::new(move |all| all.len() == 2 && find(all, &c2).is_none()),
    )
    .await;
}

/// The ids `api` lists for `token` in `path`.
async fn ids_of(cloud: &Cloud, api: &str, token: &str, path: &str) -> Vec<String> {
    let (s, b) = req(cloud, api, Method::GET, path, token, None).await;
    assert_eq!(s, 200, "{b}");
    b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// A project that listed no servers is known empty by each nova-api
/// (`compute/api/empty_projects.rs`) until a server is created in it: the
/// nova-api that created it lists it in its very next listing, the other as
/// soon as the conductor's `instances_created` fanout has arrived (allowed
/// 5 s, as the flavors' cast is; it reports how many reads it took).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_project_known_empty_lists_its_first_server_at_once() {
    let mut cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("ep-{id}"), "")], true).await;
    let (one, two) = (cloud.api.clone(), cloud.spawn_second_api().await);
    let alt = cloud.alt.clone();
    let paths = ["/servers/detail", "/servers"];
    // Both nova-apis find the project empty (twice: the second answer is
    // the kept one).
    for api in [&one, &two] {
        for _ in 0..2 {
            for path in paths {
                assert!(ids_of(&cloud, api, &alt, path).await.is_empty());
            }
        }
    }

    for (creator, other) in [(&one, &two), (&two, &one)] {
        let (s, b) = req(
            &cloud,
            creator,
            Method::POST,
            "/servers",
            &alt,
            Some(
                json!({"server": {"name": "first", "imageRef": cloud.image_id,
                "flavorRef": "1", "networks": "none"}}),
            ),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        let id = b["server"]["id"].as_str().unwrap().to_string();
        for path in paths {
            assert_eq!(
                ids_of(&cloud, creator, &alt, path).await,
                [id.as_str()],
                "{creator}{path}: the creating nova-api's next listing"
            );
        }
        let start = std::time::Instant::now();
        let mut reads = 0;
        loop {
            reads += 1;
            let listed = ids_of(&cloud, other, &alt, "/servers/detail").await;
            if listed == [id.as_str()] {
                println!(
                    "{other}: the first server after {reads} read(s), {:?}",
                    start.elapsed()
                );
                break;
            }
            assert!(listed.is_empty(), "{listed:?}");
            assert!(
                start.elapsed() < std::time::Duration::from_secs(5),
                "{other} still lists the project empty"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(ids_of(&cloud, other, &alt, "/servers").await, [id.as_str()]);
        // A listing that narrows (here to nothing) is not the project's.
        assert!(ids_of(&cloud, creator, &alt, "/servers/detail?name=^none$")
            .await
            .is_empty());

        // Deleted, the project is empty again, and found so again.
        delete(&cloud, creator, &alt, &id).await;
        for api in [&one, &two] {
            for path in paths {
                assert!(ids_of(&cloud, api, &alt, path).await.is_empty());
            }
        }
    }
}
