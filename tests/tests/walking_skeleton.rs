//! The walking skeleton, end to end: the seven binaries as processes from
//! one nova.conf against real PostgreSQL, RabbitMQ, Keystone and Glance.

#![allow(clippy::unwrap_used)]

use nova_e2e::{compute_hosts, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

async fn server_state(cloud: &Cloud, id: &str) -> (u16, Value) {
    let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    (s, b["server"].clone())
}

async fn wait_status(cloud: &Cloud, id: &str, want: &str) -> Value {
    cloud
        .wait_for(&format!("server {id} to be {want}"), 60, || async {
            let (s, srv) = server_state(cloud, id).await;
            assert_eq!(s, 200, "{srv}");
            let st = srv["status"].as_str().unwrap_or_default().to_string();
            if st == "ERROR" && want != "ERROR" {
                panic!("server {id} went to ERROR: {srv}");
            }
            (st == want && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

/// A GET at a compute microversion.
async fn get_at(cloud: &Cloud, path: &str, token: &str, microversion: &str) -> (u16, Value) {
    let resp = cloud
        .http
        .get(format!("{}{path}", cloud.api))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {microversion}"))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

/// `host_status` of server `id` as `servers/detail` and `servers/{id}` show it
/// to the admin at 2.16 (they must agree).
async fn host_status_of(cloud: &Cloud, id: &str) -> Value {
    let (s, list) = get_at(cloud, "/servers/detail", &cloud.admin, "2.16").await;
    assert_eq!(s, 200, "{list}");
    let listed = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|srv| srv["id"] == id)
        .unwrap()["host_status"]
        .clone();
    let (s, shown) = get_at(cloud, &format!("/servers/{id}"), &cloud.admin, "2.16").await;
    assert_eq!(s, 200, "{shown}");
    assert_eq!(shown["server"]["host_status"], listed, "{shown}");
    listed
}

async fn create(cloud: &Cloud, body: Value) -> (u16, Value) {
    cloud
        .req(Method::POST, "/servers", &cloud.admin, Some(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn walking_skeleton() {
    let mut cloud = Cloud::start().await;
    let hosts = compute_hosts(&cloud.id);

    // Versions and microversions.
    let (s, v) = cloud.get("", &cloud.admin).await;
    assert_eq!(s, 200);
    assert_eq!(v["version"]["id"], "v2.1");
    let resp = cloud
        .http
        .get(format!("{}/flavors", cloud.api))
        .header("X-Auth-Token", &cloud.admin)
        .header("OpenStack-API-Version", "compute 2.25")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["openstack-api-version"], "compute 2.25");
    assert_eq!(resp.headers()["x-openstack-nova-api-version"], "2.25");
    assert!(resp.headers()["vary"]
        .to_str()
        .unwrap()
        .contains("OpenStack-API-Version"));
    assert!(resp.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .starts_with("req-"));
    let resp = cloud
        .http
        .get(format!("{}/flavors", cloud.api))
        .header("X-Auth-Token", &cloud.admin)
        .header("OpenStack-API-Version", "compute 2.999")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 406);

    // Every service checks in and is up: 5 control binaries + 2 computes.
    cloud
        .wait_for("all services up", 30, || async {
            let (_, b) = cloud.get("/os-services", &cloud.admin).await;
            let svcs = b["services"].as_array().cloned().unwrap_or_default();
            (svcs.len() == 7 && svcs.iter().all(|s| s["state"] == "up")).then_some(())
        })
        .await;
    let (s, b) = cloud.get("/os-services", &cloud.demo).await;
    assert_eq!(s, 403, "{b}");

    // Both compute nodes report resources.
    let hv = cloud
        .wait_for("two hypervisors", 30, || async {
            let (_, b) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
            let h = b["hypervisors"].as_array().cloned().unwrap_or_default();
            (h.len() == 2).then_some(h)
        })
        .await;
    for h in &hv {
        assert!(h["memory_mb"].as_i64().unwrap() > 0, "{h}");
        assert!(h["vcpus"].as_i64().unwrap() > 0, "{h}");
        assert_eq!(h["state"], "up");
    }
    let types: Vec<&str> = hv
        .iter()
        .map(|h| h["hypervisor_type"].as_str().unwrap())
        .collect();
    assert!(
        types.contains(&"fake") && types.contains(&"TEST"),
        "{types:?}"
    );

    // Three servers on each driver.
    let mut ids = vec![];
    for (host, _) in &hosts {
        for n in 0..3 {
            let (s, b) = create(
                &cloud,
                json!({"server": {"name": format!("vm-{n}"), "imageRef": cloud.image_id, "flavorRef": "1",
                                  "availability_zone": format!("nova:{host}")}}),
            )
            .await;
            assert_eq!(s, 202, "{b}");
            assert!(b["server"]["adminPass"].is_string());
            ids.push((
                b["server"]["id"].as_str().unwrap().to_string(),
                host.clone(),
            ));
        }
    }
    let mut addrs = std::collections::HashSet::new();
    for (id, host) in &ids {
        let srv = wait_status(&cloud, id, "ACTIVE").await;
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], host.as_str());
        assert_eq!(srv["OS-EXT-STS:power_state"], 1);
        let ip = srv["addresses"]["private"][0]["addr"]
            .as_str()
            .unwrap()
            .to_string();
        assert!(ip.starts_with(&nova_e2e::fixed_prefix(&cloud.id)), "{srv}");
        assert!(addrs.insert(ip), "duplicate address");
        assert!(srv["OS-EXT-IPS-MAC:mac_addr"].is_null());
        assert!(srv["addresses"]["private"][0]["OS-EXT-IPS-MAC:mac_addr"]
            .as_str()
            .unwrap()
            .starts_with("fa:16:3e"));
    }
    let (_, list) = cloud.get("/servers", &cloud.admin).await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 6);

    // host_status (2.16, admins): read with the servers in one conductor
    // call, never cached: a service change shows on the very next request.
    let (id, host) = &ids[0];
    assert_eq!(host_status_of(&cloud, id).await, "UP");
    let service_put = |action: &'static str, body: Value| {
        let cloud = &cloud;
        async move {
            let (s, b) = cloud
                .req(
                    Method::PUT,
                    &format!("/os-services/{action}"),
                    &cloud.admin,
                    Some(body),
                )
                .await;
            assert_eq!(s, 200, "{b}");
        }
    };
    let svc = json!({"host": host, "binary": "nova-compute"});
    service_put("disable", svc.clone()).await;
    assert_eq!(host_status_of(&cloud, id).await, "MAINTENANCE");
    service_put("enable", svc.clone()).await;
    assert_eq!(host_status_of(&cloud, id).await, "UP");
    let force_down = |forced: bool| {
        let mut body = svc.clone();
        body["forced_down"] = json!(forced);
        let cloud = &cloud;
        async move {
            let resp = cloud
                .http
                .put(format!("{}/os-services/force-down", cloud.api))
                .header("X-Auth-Token", &cloud.admin)
                .header("OpenStack-API-Version", "compute 2.11")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
        }
    };
    force_down(true).await;
    assert_eq!(host_status_of(&cloud, id).await, "DOWN");
    force_down(false).await;
    assert_eq!(host_status_of(&cloud, id).await, "UP");
    // Glance image metadata: nova-api keeps an active image's for `[glance]
    // image_metadata_cache_time` (5 s by default); once the image is
    // deactivated, then deleted, in Glance, creates are refused within that
    // bound. The image asks for more memory than the flavor has, so no
    // create gets through either way: a refusal names what nova-api saw.
    let cached = nova_e2e::upload_file(
        &cloud.http,
        &cloud.glance,
        &cloud.admin,
        json!({"name": "e2e-cache", "disk_format": "raw", "container_format": "bare",
               "visibility": "public", "min_ram": 1_000_000}),
        vec![0u8; 4096],
    )
    .await;
    let refusal = || {
        let cloud = &cloud;
        let cached = cached.clone();
        async move {
            let (s, b) = create(
                cloud,
                json!({"server": {"name": "never", "imageRef": cached, "flavorRef": "1"}}),
            )
            .await;
            assert_eq!(s, 400, "{b}");
            b["badRequest"]["message"].as_str().unwrap().to_string()
        }
    };
    assert!(refusal().await.contains("memory is too small"));
    let bound = std::time::Duration::from_secs(5 + 3);
    for (change, method, path, seen) in [
        (
            "deactivated",
            Method::POST,
            format!("/v2/images/{cached}/actions/deactivate"),
            "is not active",
        ),
        (
            "deleted",
            Method::DELETE,
            format!("/v2/images/{cached}"),
            "could not be found",
        ),
    ] {
        if change == "deleted" {
            // Active again (seen at once: only active images are kept), then deleted.
            let r = cloud
                .http
                .post(format!(
                    "{}/v2/images/{cached}/actions/reactivate",
                    cloud.glance
                ))
                .header("X-Auth-Token", &cloud.admin)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 204);
            assert!(refusal().await.contains("memory is too small"));
        }
        let r = cloud
            .http
            .request(method, format!("{}{path}", cloud.glance))
            .header("X-Auth-Token", &cloud.admin)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{change}");
        let changed = std::time::Instant::now();
        cloud
            .wait_for(
                &format!("a create from the {change} image to be refused"),
                20,
                || async { refusal().await.contains(seen).then_some(()) },
            )
            .await;
        assert!(
            changed.elapsed() < bound,
            "the {change} image was accepted for {:?}",
            changed.elapsed()
        );
    }

    // Not below 2.16, and never for non-admins.
    let (_, shown) = get_at(&cloud, &format!("/servers/{id}"), &cloud.admin, "2.15").await;
    assert!(shown["server"].get("host_status").is_none(), "{shown}");
    let (_, list) = get_at(&cloud, "/servers/detail", &cloud.demo, "2.16").await;
    assert!(list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|srv| srv.get("host_status").is_none()));

    // The libvirt host fetched the image from Glance once into _base; each of
    // its instances has a qcow2 overlay on it and its domain XML.
    let instances = cloud.dir.join("state/instances");
    let base: Vec<_> = std::fs::read_dir(instances.join("_base"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(base.len(), 1, "{base:?}");
    for (id, host) in &ids {
        let dir = instances.join(id);
        if host.contains("libvirt") {
            assert!(
                dir.join("disk").exists() && dir.join("libvirt.xml").exists(),
                "{}",
                dir.display()
            );
            let info = std::process::Command::new("qemu-img")
                .arg("info")
                .arg(dir.join("disk"))
                .output()
                .unwrap();
            let info = String::from_utf8_lossy(&info.stdout).to_string();
            assert!(
                info.contains("backing file") && info.contains("_base"),
                "{info}"
            );
        } else {
            assert!(!dir.exists(), "the fake driver writes nothing");
        }
    }

    // Image pre-caching (2.81) on an aggregate of both hosts: the libvirt
    // host downloads the image into _base, the fake one cannot
    // (`unsupported`); asked again, the image is `existing`.
    let precache =
        nova_e2e::upload_image(&cloud.http, &cloud.glance, "precache", Some(&cloud.admin)).await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-aggregates",
            &cloud.admin,
            Some(json!({"aggregate": {"name": "precache"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let agg = b["aggregate"]["id"].as_i64().unwrap();
    let (_, services) = cloud
        .get("/os-services?binary=nova-compute", &cloud.admin)
        .await;
    for svc in services["services"].as_array().unwrap() {
        let (s, b) = cloud
            .req(
                Method::POST,
                &format!("/os-aggregates/{agg}/action"),
                &cloud.admin,
                Some(json!({"add_host": {"host": svc["host"]}})),
            )
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let cache = |token: String, mv: &'static str, path: String, body: Value| {
        let cloud = &cloud;
        async move {
            let r = cloud
                .http
                .post(format!("{}{path}", cloud.api))
                .header("X-Auth-Token", token)
                .header("OpenStack-API-Version", format!("compute {mv}"))
                .json(&body)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.text().await.unwrap_or_default())
        }
    };
    let path = format!("/os-aggregates/{agg}/images");
    let good = json!({"cache": [{"id": precache}]});
    let admin = cloud.admin.clone();
    assert_eq!(
        cache(admin.clone(), "2.80", path.clone(), good.clone())
            .await
            .0,
        404
    );
    assert_eq!(
        cache(cloud.demo.clone(), "2.81", path.clone(), good.clone())
            .await
            .0,
        403
    );
    for bad in [
        json!({"cache": []}),
        json!({"cache": [{"id": precache}, {"id": precache}]}),
        json!({"cache": [{"id": "not-a-uuid"}]}),
        json!({"cache": [{"id": "00000000-0000-4000-8000-000000000000"}]}),
        json!({"images": [{"id": precache}]}),
    ] {
        let (s, b) = cache(admin.clone(), "2.81", path.clone(), bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let (s, b) = cache(
        admin.clone(),
        "2.81",
        "/os-aggregates/99999/images".into(),
        good.clone(),
    )
    .await;
    assert_eq!(s, 404, "{b}");
    let base_files = || std::fs::read_dir(instances.join("_base")).unwrap().count();
    let before = base_files();
    let (s, b) = cache(admin.clone(), "2.81", path.clone(), good.clone()).await;
    assert_eq!((s, b.as_str()), (202, ""), "{b}");
    let summaries = |want: usize| {
        let cloud = &cloud;
        async move {
            cloud
                .wait_for("the conductor's pre-cache summary", 60, || async {
                    let log = cloud.log("nova-conductor");
                    let lines: Vec<String> = log
                        .lines()
                        .filter(|l| l.contains("image pre-cache operation completed"))
                        .map(str::to_string)
                        .collect();
                    (lines.len() >= want).then_some(lines)
                })
                .await
        }
    };
    let done = summaries(1).await;
    assert!(
        done[0].contains("cached=1") && done[0].contains("unsupported=1"),
        "{done:?}"
    );
    assert_eq!(
        base_files(),
        before + 1,
        "the image is in the libvirt host's cache"
    );
    cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.81",
            "aggregate",
            "cache",
            "image",
            "precache",
            &precache,
        ],
    );
    let done = summaries(2).await;
    assert!(
        done[1].contains("existing=1") && done[1].contains("cached=0"),
        "{done:?}"
    );

    // Lifecycle actions on one server of each driver, with Nova's states.
    for (id, _) in [&ids[0], &ids[3]] {
        let act = |body: Value| {
            let id = id.clone();
            let cloud = &cloud;
            async move {
                cloud
                    .req(
                        Method::POST,
                        &format!("/servers/{id}/action"),
                        &cloud.admin,
                        Some(body),
                    )
                    .await
            }
        };
        for (body, want, power) in [
            (json!({"reboot": {"type": "SOFT"}}), "ACTIVE", 1),
            (json!({"reboot": {"type": "HARD"}}), "ACTIVE", 1),
            (json!({"os-stop": null}), "SHUTOFF", 4),
            (json!({"os-start": null}), "ACTIVE", 1),
            (json!({"pause": null}), "PAUSED", 3),
            (json!({"unpause": null}), "ACTIVE", 1),
            (json!({"suspend": null}), "SUSPENDED", 4),
            (json!({"resume": null}), "ACTIVE", 1),
        ] {
            let (s, b) = act(body.clone()).await;
            assert_eq!(s, 202, "{body} -> {b}");
            let srv = wait_status(&cloud, id, want).await;
            assert_eq!(srv["OS-EXT-STS:power_state"], power, "{body}: {srv}");
        }
        // Wrong state → 409; unknown action → 400; bad reboot type → 400.
        let (s, b) = act(json!({"os-start": null})).await;
        assert_eq!(s, 409, "{b}");
        assert!(
            b["conflictingRequest"]["message"]
                .as_str()
                .unwrap()
                .contains("vm_state active"),
            "{b}"
        );
        let (s, _) = act(json!({"fly": null})).await;
        assert_eq!(s, 400);
        let (s, _) = act(json!({"reboot": {"type": "GENTLE"}})).await;
        assert_eq!(s, 400);
        // Console output, whole and tail.
        let (s, b) = act(json!({"os-getConsoleOutput": {}})).await;
        assert_eq!(s, 200, "{b}");
        assert!(b["output"].is_string());
        let (s, b) = act(json!({"os-getConsoleOutput": {"length": 1}})).await;
        assert_eq!(s, 200, "{b}");
        assert!(b["output"].as_str().unwrap().lines().count() <= 1);
        // Locked servers refuse actions for non-admins; the lock shows at 2.9.
        let (s, _) = act(json!({"lock": null})).await;
        assert_eq!(s, 202);
        let r = cloud
            .http
            .get(format!("{}/servers/{id}", cloud.api))
            .header("X-Auth-Token", &cloud.admin)
            .header("OpenStack-API-Version", "compute 2.9")
            .send()
            .await
            .unwrap();
        let b: Value = r.json().await.unwrap();
        assert_eq!(b["server"]["locked"], true);
        let (s, _) = act(json!({"unlock": null})).await;
        assert_eq!(s, 202);
    }
    // Another project sees none of them, and cannot reach them by id.
    let (_, other) = cloud.get("/servers/detail", &cloud.demo).await;
    assert_eq!(other["servers"].as_array().unwrap().len(), 0);
    let (s, f) = cloud
        .get(&format!("/servers/{}", ids[0].0), &cloud.demo)
        .await;
    assert_eq!(s, 404, "{f}");
    assert!(f["itemNotFound"]["message"]
        .as_str()
        .unwrap()
        .contains("could not be found"));
    // Usage shows on the hypervisors.
    let (_, b) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
    for h in b["hypervisors"].as_array().unwrap() {
        assert_eq!(h["running_vms"], 3, "{h}");
    }

    // Bad requests get 400 naming the problem, and create nothing.
    let random = uuid::Uuid::new_v4().to_string();
    for (body, needle) in [
        (
            json!({"server": {"name": "x", "imageRef": random, "flavorRef": "1"}}),
            "imageRef",
        ),
        (
            json!({"server": {"name": "x", "imageRef": "not-a-uuid", "flavorRef": "1"}}),
            "imageRef",
        ),
        (
            json!({"server": {"imageRef": cloud.image_id, "flavorRef": "1"}}),
            "'name'",
        ),
        (
            json!({"server": {"name": "x", "imageRef": cloud.image_id, "flavorRef": "nope"}}),
            "flavorRef",
        ),
        (
            json!({"server": {"name": "x", "imageRef": cloud.image_id}}),
            "flavorRef",
        ),
        (json!({"nothing": 1}), "'server'"),
    ] {
        let (s, b) = create(&cloud, body.clone()).await;
        assert_eq!(s, 400, "{body} -> {b}");
        let msg = b["badRequest"]["message"].as_str().unwrap();
        assert!(msg.contains(needle), "{msg} should name {needle}");
    }
    let (s, b) = cloud
        .req(Method::POST, "/servers", &cloud.admin, None)
        .await;
    assert_eq!(s, 400, "{b}");
    let (_, list) = cloud.get("/servers", &cloud.admin).await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 6);

    // host_status (2.16, admins): read with the servers in one conductor
    // call, never cached: a service change shows on the very next request.
    let (id, host) = &ids[0];
    assert_eq!(host_status_of(&cloud, id).await, "UP");
    let service_put = |action: &'static str, body: Value| {
        let cloud = &cloud;
        async move {
            let (s, b) = cloud
                .req(
                    Method::PUT,
                    &format!("/os-services/{action}"),
                    &cloud.admin,
                    Some(body),
                )
                .await;
            assert_eq!(s, 200, "{b}");
        }
    };
    let svc = json!({"host": host, "binary": "nova-compute"});
    service_put("disable", svc.clone()).await;
    assert_eq!(host_status_of(&cloud, id).await, "MAINTENANCE");
    service_put("enable", svc.clone()).await;
    assert_eq!(host_status_of(&cloud, id).await, "UP");
    let force_down = |forced: bool| {
        let mut body = svc.clone();
        body["forced_down"] = json!(forced);
        let cloud = &cloud;
        async move {
            let resp = cloud
                .http
                .put(format!("{}/os-services/force-down", cloud.api))
                .header("X-Auth-Token", &cloud.admin)
                .header("OpenStack-API-Version", "compute 2.11")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200);
        }
    };
    force_down(true).await;
    assert_eq!(host_status_of(&cloud, id).await, "DOWN");
    force_down(false).await;
    assert_eq!(host_status_of(&cloud, id).await, "UP");
    // Not below 2.16, and never for non-admins.
    let (_, shown) = get_at(&cloud, &format!("/servers/{id}"), &cloud.admin, "2.15").await;
    assert!(shown["server"].get("host_status").is_none(), "{shown}");
    let (_, list) = get_at(&cloud, "/servers/detail", &cloud.demo, "2.16").await;
    assert!(list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .all(|srv| srv.get("host_status").is_none()));

    // A flavor larger than any host: ERROR with a NoValidHost fault naming the filter.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(json!({"flavor": {"name": "huge", "ram": 100_000_000, "vcpus": 1, "disk": 1, "id": "huge"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.demo,
            Some(json!({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 1}})),
        )
        .await;
    assert_eq!(s, 403, "{b}");
    // The project's RAM quota stops it first (403, nothing created) ...
    let (s, b) = create(
        &cloud,
        json!({"server": {"name": "too-big", "imageRef": cloud.image_id, "flavorRef": "huge"}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("Quota exceeded for ram"),
        "{b}"
    );
    // ... so the admin lifts it, and the scheduler has the last word.
    let (s, b) = cloud
        .req(
            Method::PUT,
            &format!("/os-quota-sets/{}", cloud.admin_project),
            &cloud.admin,
            Some(json!({"quota_set": {"ram": -1}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["quota_set"]["ram"], -1);
    let (s, b) = create(
        &cloud,
        json!({"server": {"name": "too-big", "imageRef": cloud.image_id, "flavorRef": "huge"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let big = b["server"]["id"].as_str().unwrap().to_string();
    let srv = wait_status(&cloud, &big, "ERROR").await;
    let msg = srv["fault"]["message"].as_str().unwrap();
    assert!(msg.contains("No valid host was found"), "{msg}");
    assert!(msg.contains("RamFilter"), "{msg}");
    assert_eq!(srv["fault"]["code"], 500);

    // Delete everything (the ERROR one too) and see it gone.
    for id in ids.iter().map(|(i, _)| i.clone()).chain([big.clone()]) {
        let (s, b) = cloud
            .req(
                Method::DELETE,
                &format!("/servers/{id}"),
                &cloud.admin,
                None,
            )
            .await;
        assert_eq!(s, 204, "{b}");
    }
    for id in ids.iter().map(|(i, _)| i.clone()).chain([big]) {
        cloud
            .wait_for(&format!("{id} to be gone"), 60, || async {
                let (s, _) = server_state(&cloud, &id).await;
                (s == 404).then_some(())
            })
            .await;
    }
    let (_, list) = cloud.get("/servers/detail", &cloud.admin).await;
    assert_eq!(list["servers"].as_array().unwrap().len(), 0);
    // Delete leaves no instance directory behind.
    for (id, _) in &ids {
        assert!(!instances.join(id).exists(), "{id} left files");
    }
    let (_, b) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
    for h in b["hypervisors"].as_array().unwrap() {
        assert_eq!(h["running_vms"], 0, "{h}");
    }

    // A killed compute shows down after service_down_time.
    let (fake_host, _) = &hosts[0];
    cloud.kill(&format!("nova-compute@{fake_host}"));
    cloud
        .wait_for("the killed compute to be down", 30, || async {
            let (_, b) = cloud
                .get("/os-services?binary=nova-compute", &cloud.admin)
                .await;
            b["services"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["host"] == fake_host.as_str() && s["state"] == "down")
                .then_some(())
        })
        .await;
    let (_, b) = cloud.get("/os-services", &cloud.admin).await;
    let up = b["services"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "up")
        .count();
    assert_eq!(up, 6, "{b}");

    // SIGTERM: every daemon finishes and exits 0.
    for (name, status) in cloud.terminate_all() {
        if name == format!("nova-compute@{fake_host}") {
            continue;
        }
        assert!(
            status.success(),
            "{name} exited with {status}: {}",
            cloud.log(&name)
        );
    }
}
