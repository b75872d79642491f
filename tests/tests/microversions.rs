//! Microversions 2.1–2.103 over public HTTP: the advertised maximum,
//! `latest`, 406 above it, and what later microversions change in the
//! bodies of servers (2.47, 2.52, 2.73, 2.90/2.94, 2.96, 2.98, 2.100),
//! flavors (2.61, 2.75, 2.102; extra specs validated from 2.86), hypervisors (2.53, 2.75, 2.88), services
//! (2.53), limits (2.39, 2.57), createImage (2.45), the nova-network
//! proxies' end (2.36, 2.44), the query-string checks (2.75, 2.102), the
//! status filter (2.38) and the `*_links` of full pages.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::{json, Value};

fn fake_compute(id: &str) -> Vec<(String, &'static str)> {
    vec![(format!("mv-fake-{id}"), "fake.FakeDriver")]
}

/// A request at a microversion: (status, headers, body).
async fn call(
    cloud: &Cloud,
    method: Method,
    path: &str,
    token: &str,
    mv: &str,
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let headers = [("OpenStack-API-Version", format!("compute {mv}"))];
    call_url(
        cloud,
        method,
        format!("{}{path}", cloud.api),
        token,
        &headers,
        body,
    )
    .await
}

/// A request to `url` with `headers`: (status, headers, body).
async fn call_url(
    cloud: &Cloud,
    method: Method,
    url: String,
    token: &str,
    headers: &[(&str, String)],
    body: Option<Value>,
) -> (u16, HeaderMap, Value) {
    let mut r = cloud
        .http
        .request(method, url)
        .header("X-Auth-Token", token);
    for (name, value) in headers {
        r = r.header(*name, value);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        headers,
        serde_json::from_str(&text).unwrap_or(Value::Null),
    )
}

async fn get(cloud: &Cloud, path: &str, token: &str, mv: &str) -> (u16, Value) {
    let (s, _, b) = call(cloud, Method::GET, path, token, mv, None).await;
    (s, b)
}

/// An image with one standard property (`hw_qemu_guest_agent`) and one
/// custom property (`site_note`), as Glance stores them.
async fn image_with_properties(cloud: &Cloud) -> String {
    let r: Value = cloud
        .http
        .post(format!("{}/v2/images", cloud.glance))
        .json(&json!({
            "name": "mv-image", "disk_format": "raw", "container_format": "bare",
            "visibility": "public", "hw_qemu_guest_agent": "yes", "site_note": "x"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = r["id"].as_str().unwrap().to_string();
    let resp = cloud
        .http
        .put(format!("{}/v2/images/{id}/file", cloud.glance))
        .header("Content-Type", "application/octet-stream")
        .body(vec![0u8; 65536])
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn microversions_up_to_2_103() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let (admin, demo) = (cloud.admin.clone(), cloud.demo.clone());

    // ===== the advertised range, latest, 406 =====
    let root: Value = cloud
        .http
        .get(format!("{}/", cloud.api.trim_end_matches("/v2.1")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v21 = root["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == "v2.1")
        .cloned()
        .unwrap();
    assert_eq!(
        (v21["version"].as_str(), v21["min_version"].as_str()),
        (Some("2.103"), Some("2.1"))
    );
    let doc: Value = cloud
        .http
        .get(cloud.api.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["version"]["version"], "2.103");
    let (s, h, _) = call(&cloud, Method::GET, "/flavors", &demo, "latest", None).await;
    assert_eq!(s, 200);
    assert_eq!(h["openstack-api-version"], "compute 2.103");
    assert_eq!(h["x-openstack-nova-api-version"], "2.103");
    let (s, _, b) = call(&cloud, Method::GET, "/flavors", &demo, "2.104", None).await;
    assert_eq!(s, 406, "{b}");
    let (s, h, _) = call(&cloud, Method::GET, "/flavors", &demo, "2.103", None).await;
    assert_eq!(
        (s, h["openstack-api-version"].to_str().unwrap()),
        (200, "compute 2.103")
    );

    // ===== a server created with tags (2.52), a hostname (2.94 FQDN) and a zone =====
    let image = image_with_properties(&cloud).await;
    let boot = |mv_hostname: &str| {
        json!({"server": {
            "name": "mv-one", "imageRef": image, "flavorRef": "1", "networks": "none",
            "availability_zone": "nova", "tags": ["blue", "green"], "hostname": mv_hostname
        }})
    };
    // Before 2.52 tags are unknown; 2.90 takes a plain hostname only.
    let mut tags_only = boot("x1");
    tags_only["server"]
        .as_object_mut()
        .unwrap()
        .remove("hostname");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &demo,
        "2.51",
        Some(tags_only),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &demo,
        "2.93",
        Some(boot("vm.example.org")),
    )
    .await;
    assert_eq!(s, 400, "an FQDN needs 2.94: {b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &demo,
        "2.94",
        Some(boot("vm.example.org")),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let path = format!("/servers/{id}");
    cloud
        .wait_for("the server to be ACTIVE", 120, || async {
            let (_, b) = get(&cloud, &path, &demo, "2.1").await;
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;

    // 2.47: the embedded flavor instead of its id and link.
    let (_, b) = get(&cloud, &path, &demo, "2.46").await;
    assert_eq!(b["server"]["flavor"]["id"], "1", "{b}");
    let (_, b) = get(&cloud, &path, &admin, "2.47").await;
    let f = &b["server"]["flavor"];
    assert!(f.get("id").is_none() && f.get("links").is_none(), "{f}");
    assert_eq!(f["original_name"], "m1.tiny", "{f}");
    for k in ["vcpus", "ram", "disk", "ephemeral", "swap"] {
        assert!(f[k].is_i64(), "{k} in {f}");
    }
    assert!(
        f["extra_specs"].is_object(),
        "the admin sees extra_specs: {f}"
    );
    // 2.3: the root disk's device, set by the compute host at the build.
    assert_eq!(
        b["server"]["OS-EXT-SRV-ATTR:root_device_name"], "/dev/vda",
        "{b}"
    );

    // The later fields, each from its microversion.
    let (_, old) = get(&cloud, &path, &demo, "2.62").await;
    for k in [
        "trusted_image_certificates",
        "server_groups",
        "locked_reason",
        "pinned_availability_zone",
        "scheduler_hints",
        "OS-EXT-SRV-ATTR:hostname",
    ] {
        assert!(old["server"].get(k).is_none(), "{k} at 2.62: {old}");
    }
    assert!(old["server"]["image"].get("properties").is_none());
    let (s, latest) = get(&cloud, &path, &demo, "2.100").await;
    assert_eq!(s, 200);
    let srv = &latest["server"];
    assert_eq!(srv["tags"], json!(["blue", "green"]), "{srv}");
    assert_eq!(srv["trusted_image_certificates"], Value::Null);
    assert_eq!(srv["server_groups"], json!([]));
    assert_eq!(srv["locked_reason"], Value::Null);
    assert_eq!(srv["pinned_availability_zone"], "nova");
    assert_eq!(srv["scheduler_hints"], json!({}));
    assert_eq!(
        srv["OS-EXT-SRV-ATTR:hostname"], "vm.example.org",
        "2.90: users see it"
    );
    assert_eq!(
        srv["image"]["properties"],
        json!({"hw_qemu_guest_agent": "yes"}),
        "2.98: the standard image properties only"
    );
    let (_, b) = get(&cloud, &path, &demo, "2.95").await;
    assert!(b["server"].get("pinned_availability_zone").is_none());
    let (_, b) = get(&cloud, &path, &demo, "2.97").await;
    assert!(b["server"]["image"].get("properties").is_none());
    let (_, b) = get(&cloud, &path, &demo, "2.99").await;
    assert!(b["server"].get("scheduler_hints").is_none());
    // The listing has them too, but not server_groups (show only).
    let (_, b) = get(&cloud, "/servers/detail", &demo, "2.100").await;
    let listed = &b["servers"][0];
    assert_eq!(listed["pinned_availability_zone"], "nova", "{listed}");
    assert!(listed.get("server_groups").is_none(), "{listed}");

    // 2.73: a lock's reason, cleared by unlock.
    let action = format!("{path}/action");
    let lock = json!({"lock": {"locked_reason": "maintenance"}});
    let (s, _, b) = call(&cloud, Method::POST, &action, &demo, "2.73", Some(lock)).await;
    assert_eq!(s, 202, "{b}");
    let (_, b) = get(&cloud, &path, &demo, "2.73").await;
    assert_eq!(
        (
            b["server"]["locked"].as_bool(),
            b["server"]["locked_reason"].as_str()
        ),
        (Some(true), Some("maintenance"))
    );
    let (_, b) = get(&cloud, &path, &demo, "2.72").await;
    assert!(b["server"].get("locked_reason").is_none(), "{b}");
    // ... and the `locked` filter (2.73); changes-before (2.66).
    let count = |b: &Value| b["servers"].as_array().map(Vec::len);
    let (_, b) = get(&cloud, "/servers?locked=true", &demo, "2.73").await;
    assert_eq!(count(&b), Some(1), "{b}");
    let (_, b) = get(&cloud, "/servers?locked=false", &demo, "2.73").await;
    assert_eq!(count(&b), Some(0), "{b}");
    assert_eq!(
        get(&cloud, "/servers?locked=maybe", &demo, "2.73").await.0,
        400
    );
    let (_, b) = get(
        &cloud,
        "/servers?changes-before=2000-01-01T00:00:00Z",
        &demo,
        "2.66",
    )
    .await;
    assert_eq!(count(&b), Some(0), "{b}");
    let (_, b) = get(
        &cloud,
        "/servers?changes-before=2999-01-01T00:00:00Z",
        &demo,
        "2.66",
    )
    .await;
    assert_eq!(count(&b), Some(1), "{b}");
    let bad = "/servers?changes-since=2020-01-02T00:00:00Z&changes-before=2020-01-01T00:00:00Z";
    assert_eq!(get(&cloud, bad, &demo, "2.66").await.0, 400);
    let bad = json!({"lock": {"locked_reason": ""}});
    let (s, _, _) = call(&cloud, Method::POST, &action, &demo, "2.73", Some(bad)).await;
    assert_eq!(s, 400);
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        &action,
        &demo,
        "2.73",
        Some(json!({"unlock": null})),
    )
    .await;
    assert_eq!(s, 202);
    let (_, b) = get(&cloud, &path, &demo, "2.73").await;
    assert_eq!(b["server"]["locked_reason"], Value::Null, "{b}");

    // 2.90: the hostname on update.
    let upd = json!({"server": {"hostname": "renamed"}});
    let (s, _, b) = call(&cloud, Method::PUT, &path, &demo, "2.89", Some(upd.clone())).await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = call(&cloud, Method::PUT, &path, &demo, "2.90", Some(upd)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server"]["OS-EXT-SRV-ATTR:hostname"], "renamed", "{b}");
    assert_eq!(
        b["server"]["server_groups"],
        json!([]),
        "PUT shows server_groups: {b}"
    );

    // createImage's schema: Nova's image name and metadata; before 2.39 the
    // metadata counts against the metadata_items quota (128).
    let many: serde_json::Map<String, Value> =
        (0..129).map(|i| (format!("k{i}"), json!("v"))).collect();
    for (body, want) in [
        (json!({"name": "x", "metadata": {"": ""}}), 400),
        (json!({"name": "x", "metadata": {"a/b": "c"}}), 400),
        (
            json!({"name": "x", "metadata": {"k": "v".repeat(256)}}),
            400,
        ),
        (json!({"name": "x", "metadata": null}), 400),
        (json!({"name": " x"}), 400),
        (json!({"name": "x", "extra": 1}), 400),
        (json!({"name": "x", "metadata": many}), 403),
    ] {
        let snap = json!({ "createImage": body });
        let (s, _, b) = call(&cloud, Method::POST, &action, &demo, "2.1", Some(snap)).await;
        assert_eq!(s, want, "{b}");
        if want == 403 {
            assert_eq!(
                b["forbidden"]["message"], "Image metadata limit exceeded",
                "{b}"
            );
        }
    }
    // 2.45: createImage answers the image id, without Location. A locked
    // server is snapshotted all the same, as Nova's.
    let lock = json!({"lock": null});
    let (s, _, b) = call(&cloud, Method::POST, &action, &demo, "2.1", Some(lock)).await;
    assert_eq!(s, 202, "{b}");
    let snap = json!({"createImage": {"name": "mv-snap"}});
    let (s, h, b) = call(&cloud, Method::POST, &action, &demo, "2.45", Some(snap)).await;
    assert_eq!(s, 202, "{b}");
    assert!(h.get("location").is_none());
    assert_eq!(b["image_id"].as_str().map(str::len), Some(36), "{b}");
    let own_snap = b["image_id"].as_str().unwrap().to_string();
    let snapshot_done = || async {
        cloud
            .wait_for("the snapshot to finish", 60, || async {
                let (_, b) = get(&cloud, &path, &demo, "2.1").await;
                b["server"]["OS-EXT-STS:task_state"].is_null().then_some(())
            })
            .await
    };
    snapshot_done().await;
    let unlock = json!({"unlock": null});
    let (s, _, b) = call(&cloud, Method::POST, &action, &demo, "2.1", Some(unlock)).await;
    assert_eq!(s, 202, "{b}");
    // The owner's snapshot is private to its project; an admin's snapshot
    // of it is shared, with the server's project a member (Nova's
    // snapshot visibility), so the owner reads both.
    let glance_image = |id: String| {
        let (cloud, demo) = (&cloud, &demo);
        async move {
            let r = cloud
                .http
                .get(format!("{}/v2/images/{id}", cloud.glance))
                .header("X-Auth-Token", demo)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let (s, img) = glance_image(own_snap).await;
    assert_eq!((s, &img["visibility"]), (200, &json!("private")), "{img}");
    let snap = json!({"createImage": {"name": "mv-admin-snap"}});
    let (s, _, b) = call(&cloud, Method::POST, &action, &admin, "2.45", Some(snap)).await;
    assert_eq!(s, 202, "{b}");
    snapshot_done().await;
    let (s, img) = glance_image(b["image_id"].as_str().unwrap().to_string()).await;
    assert_eq!((s, &img["visibility"]), (200, &json!("shared")), "{img}");

    // ===== nova-network's proxies end at 2.35, the VIFs at 2.43 =====
    assert_eq!(get(&cloud, "/os-networks", &admin, "2.35").await.0, 200);
    assert_eq!(get(&cloud, "/os-networks", &admin, "2.36").await.0, 404);
    // The image proxy at 2.35, its metadata at 2.38.
    let image_meta = format!("/images/{}/metadata", cloud.image_id);
    assert_eq!(get(&cloud, &image_meta, &demo, "2.38").await.0, 200);
    assert_eq!(get(&cloud, &image_meta, &demo, "2.39").await.0, 404);
    let image = format!("/images/{}", cloud.image_id);
    assert_eq!(get(&cloud, &image, &demo, "2.35").await.0, 200);
    assert_eq!(get(&cloud, &image, &demo, "2.36").await.0, 404);
    let vifs = format!("{path}/os-virtual-interfaces");
    assert_eq!(get(&cloud, &vifs, &demo, "2.43").await.0, 200);
    assert_eq!(get(&cloud, &vifs, &demo, "2.44").await.0, 404);
    let add = json!({"addFloatingIp": {"address": "10.0.0.1"}});
    let (s, _, _) = call(&cloud, Method::POST, &action, &demo, "2.44", Some(add)).await;
    assert_eq!(s, 404);

    // ===== flavors: extra_specs (2.61), swap (2.75), no rxtx_factor (2.102) =====
    let (_, b) = get(&cloud, "/flavors/1", &admin, "2.60").await;
    assert!(b["flavor"].get("extra_specs").is_none());
    assert_eq!(b["flavor"]["swap"], "");
    let (_, b) = get(&cloud, "/flavors/1", &admin, "2.61").await;
    assert_eq!(b["flavor"]["extra_specs"], json!({}), "{b}");
    let (_, b) = get(&cloud, "/flavors/1", &admin, "2.75").await;
    assert_eq!(b["flavor"]["swap"], 0);
    assert!(b["flavor"]["rxtx_factor"].is_number());
    let (_, b) = get(&cloud, "/flavors/1", &admin, "2.102").await;
    assert!(
        b["flavor"].get("rxtx_factor").is_none()
            && b["flavor"].get("OS-FLV-DISABLED:disabled").is_none(),
        "{b}"
    );
    let (s, b) = get(&cloud, "/flavors/detail?name=tiny", &admin, "2.102").await;
    assert_eq!(s, 200, "{b}");
    let names: Vec<&str> = b["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["m1.tiny"]);
    // A regular expression, as Nova's; one that does not parse is a 400.
    let (s, b) = get(
        &cloud,
        "/flavors?name=%5Em1%5C.(tiny%7Csmall)%24",
        &admin,
        "2.102",
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let mut names: Vec<&str> = b["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["m1.small", "m1.tiny"], "{b}");
    let (s, b) = get(&cloud, "/flavors?name=(m1", &admin, "2.102").await;
    assert_eq!(s, 400, "{b}");

    // ===== unknown query parameters: 400 from 2.75 (servers), 2.102 (all GETs) =====
    assert_eq!(
        get(&cloud, "/servers/detail?bogus=1", &demo, "2.74")
            .await
            .0,
        200
    );
    assert_eq!(
        get(&cloud, "/servers/detail?bogus=1", &demo, "2.75")
            .await
            .0,
        400
    );
    assert_eq!(
        get(&cloud, "/os-keypairs?bogus=1", &demo, "2.75").await.0,
        400
    );
    assert_eq!(
        get(&cloud, &format!("{path}?bogus=1"), &demo, "2.101")
            .await
            .0,
        200
    );
    assert_eq!(
        get(&cloud, &format!("{path}?bogus=1"), &demo, "2.102")
            .await
            .0,
        400
    );

    // ===== limits: maxImageMeta gone in 2.39, personality in 2.57 =====
    let (_, b) = get(&cloud, "/limits", &demo, "2.38").await;
    assert!(b["limits"]["absolute"].get("maxImageMeta").is_some(), "{b}");
    let (_, b) = get(&cloud, "/limits", &demo, "2.57").await;
    let abs = &b["limits"]["absolute"];
    assert!(
        abs.get("maxImageMeta").is_none() && abs.get("maxPersonality").is_none(),
        "{abs}"
    );
    assert!(abs["maxTotalInstances"].is_i64());

    // ===== hypervisors: uuids (2.53), servers always (2.75), figures gone (2.88) =====
    let (_, b) = get(&cloud, "/os-hypervisors/detail", &admin, "2.52").await;
    let old = &b["hypervisors"][0];
    assert!(old["id"].is_i64() && old["service"]["id"].is_i64(), "{old}");
    assert!(old["vcpus"].is_i64());
    let int_id = old["id"].to_string();
    let (_, b) = get(
        &cloud,
        "/os-hypervisors/detail?with_servers=true",
        &admin,
        "2.75",
    )
    .await;
    let hv = &b["hypervisors"][0];
    let hv_id = hv["id"].as_str().unwrap().to_string();
    assert_eq!(
        uuid::Uuid::parse_str(&hv_id).map(|u| u.to_string()).ok(),
        Some(hv_id.clone())
    );
    assert!(
        uuid::Uuid::parse_str(hv["service"]["id"].as_str().unwrap()).is_ok(),
        "{hv}"
    );
    assert_eq!(
        hv["servers"],
        json!([{"uuid": id, "name": "mv-one"}]),
        "{hv}"
    );
    let (s, b) = get(&cloud, &format!("/os-hypervisors/{hv_id}"), &admin, "2.53").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        get(&cloud, &format!("/os-hypervisors/{int_id}"), &admin, "2.53")
            .await
            .0,
        400
    );
    assert_eq!(
        get(&cloud, &format!("/os-hypervisors/{int_id}"), &admin, "2.52")
            .await
            .0,
        200
    );
    let (_, b) = get(&cloud, &format!("/os-hypervisors/{hv_id}"), &admin, "2.88").await;
    let hv = &b["hypervisor"];
    for gone in [
        "vcpus",
        "memory_mb",
        "local_gb",
        "cpu_info",
        "running_vms",
        "current_workload",
    ] {
        assert!(hv.get(gone).is_none(), "{gone} at 2.88: {hv}");
    }
    assert!(hv.get("uptime").is_some(), "{hv}");
    assert_eq!(
        get(&cloud, "/os-hypervisors/statistics", &admin, "2.87")
            .await
            .0,
        200
    );
    assert_eq!(
        get(&cloud, "/os-hypervisors/statistics", &admin, "2.88")
            .await
            .0,
        404
    );
    let uptime = format!("/os-hypervisors/{hv_id}/uptime");
    assert_eq!(get(&cloud, &uptime, &admin, "2.88").await.0, 404);

    // ===== services by uuid (2.53) =====
    let (_, b) = get(&cloud, "/os-services", &admin, "2.52").await;
    assert!(b["services"][0]["id"].is_i64(), "{b}");
    let (_, b) = get(&cloud, "/os-services?binary=nova-compute", &admin, "2.53").await;
    let svc = b["services"][0].clone();
    let svc_id = svc["id"].as_str().unwrap().to_string();
    assert!(uuid::Uuid::parse_str(&svc_id).is_ok(), "{svc}");
    let put = |body: Value| {
        let path = format!("/os-services/{svc_id}");
        let cloud = &cloud;
        let admin = admin.clone();
        async move { call(cloud, Method::PUT, &path, &admin, "2.53", Some(body)).await }
    };
    let (s, _, b) = put(json!({"status": "disabled", "disabled_reason": "mv test"})).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        (b["service"]["id"].as_str(), b["service"]["status"].as_str()),
        (Some(svc_id.as_str()), Some("disabled"))
    );
    assert_eq!(b["service"]["disabled_reason"], "mv test");
    assert_eq!(
        put(json!({"status": "enabled", "disabled_reason": "x"}))
            .await
            .0,
        400
    );
    assert_eq!(put(json!({})).await.0, 400);
    let (s, _, b) = put(json!({"status": "enabled"})).await;
    assert_eq!(
        (s, b["service"]["status"].as_str()),
        (200, Some("enabled")),
        "{b}"
    );
    let disable = json!({"host": svc["host"], "binary": "nova-compute"});
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        "/os-services/disable",
        &admin,
        "2.53",
        Some(disable),
    )
    .await;
    assert_eq!(s, 400, "the action paths end at 2.53");
    let (_, b) = get(&cloud, "/os-services?binary=nova-scheduler", &admin, "2.53").await;
    let sched = b["services"][0]["id"].as_str().unwrap().to_string();
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        &format!("/os-services/{sched}"),
        &admin,
        "2.53",
        Some(json!({"status": "disabled"})),
    )
    .await;
    assert_eq!(s, 400, "only nova-compute services are updated");

    // ===== keypairs: imported only from 2.92, with '@' and '.' =====
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/os-keypairs",
        &demo,
        "2.92",
        Some(json!({"keypair": {"name": "k1"}})),
    )
    .await;
    assert_eq!(s, 400, "2.92 does not generate keys: {b}");
    let pk =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMTzoopJviM+lfNEVaA+sSaxHD0Z1EybFKIonPQ8vP8/ mv@test";
    let import = json!({"keypair": {"name": "me@host.example", "public_key": pk}});
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/os-keypairs",
        &demo,
        "2.91",
        Some(import.clone()),
    )
    .await;
    assert_eq!(s, 400, "'@' needs 2.92: {b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/os-keypairs",
        &demo,
        "2.92",
        Some(import),
    )
    .await;
    assert_eq!(s, 201, "{b}");

    // ===== 2.74: the admin's requested host =====
    let host = format!("mv-fake-{}", cloud.id);
    let at_host = |h: &str| {
        json!({"server": {"name": "mv-two", "imageRef": image, "flavorRef": "1",
                          "networks": "none", "host": h}})
    };
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &admin,
        "2.73",
        Some(at_host(&host)),
    )
    .await;
    assert_eq!(s, 400, "host needs 2.74: {b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &demo,
        "2.74",
        Some(at_host(&host)),
    )
    .await;
    assert_eq!(s, 403, "the admin's only: {b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &admin,
        "2.74",
        Some(at_host("nowhere")),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &admin,
        "2.74",
        Some(at_host(&host)),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let two = format!("/servers/{}", b["server"]["id"].as_str().unwrap());
    cloud
        .wait_for("the second server to be ACTIVE", 120, || async {
            let (_, b) = get(&cloud, &two, &admin, "2.74").await;
            (b["server"]["status"] == "ACTIVE").then_some(b)
        })
        .await;
    let (_, b) = get(&cloud, &two, &admin, "2.74").await;
    assert_eq!(b["server"]["OS-EXT-SRV-ATTR:host"], host.as_str(), "{b}");
    let (s, _, _) = call(&cloud, Method::DELETE, &two, &admin, "2.74", None).await;
    assert_eq!(s, 204);

    // ===== clean up =====
    let (s, _, _) = call(&cloud, Method::DELETE, &path, &demo, "2.103", None).await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the server to go", 60, || async {
            (get(&cloud, &path, &demo, "2.1").await.0 == 404).then_some(())
        })
        .await;
}

/// 2.63's `trusted_image_certificates` (validated, kept, shown, replaced by
/// a rebuild) and the server list's column filters: `reservation_id` for
/// everyone, 2.83's for non-admins (ignored before).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_certs_and_list_filters() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let (admin, demo) = (cloud.admin.clone(), cloud.demo.clone());
    let boot = |certs: Value| {
        json!({"server": {
            "name": "tc", "imageRef": cloud.image_id, "flavorRef": "1", "networks": "none",
            "trusted_image_certificates": certs
        }})
    };
    let post = |mv: &'static str, body: Value| {
        let cloud = &cloud;
        let demo = demo.clone();
        async move { call(cloud, Method::POST, "/servers", &demo, mv, Some(body)).await }
    };
    let (s, _, b) = post("2.62", boot(json!(["c1"]))).await;
    assert_eq!(s, 400, "unknown before 2.63: {b}");
    for bad in [json!([]), json!(["c1", "c1"]), json!([""]), json!("c1")] {
        let (s, _, b) = post("2.63", boot(bad.clone())).await;
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let (s, _, b) = post("2.63", boot(json!(["c1", "c2"]))).await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let path = format!("/servers/{id}");
    cloud
        .wait_for("the server to be ACTIVE", 120, || async {
            let (_, b) = get(&cloud, &path, &demo, "2.1").await;
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;
    let (_, b) = get(&cloud, &path, &demo, "2.63").await;
    assert_eq!(
        b["server"]["trusted_image_certificates"],
        json!(["c1", "c2"])
    );
    let (_, b) = get(&cloud, &path, &demo, "2.62").await;
    assert!(
        b["server"].get("trusted_image_certificates").is_none(),
        "{b}"
    );

    // The list filters.
    let (_, b) = get(&cloud, &path, &admin, "2.3").await;
    let rid = b["server"]["OS-EXT-SRV-ATTR:reservation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let count = |q: String, mv: &'static str| {
        let cloud = &cloud;
        let demo = demo.clone();
        async move {
            let (s, b) = get(cloud, &format!("/servers/detail?{q}"), &demo, mv).await;
            assert_eq!(s, 200, "{q}: {b}");
            b["servers"].as_array().unwrap().len()
        }
    };
    assert_eq!(count(format!("reservation_id={rid}"), "2.1").await, 1);
    assert_eq!(count("reservation_id=r-nomatch".into(), "2.1").await, 0);
    assert_eq!(count("key_name=nomatch".into(), "2.82").await, 1, "ignored");
    assert_eq!(count("key_name=nomatch".into(), "2.83").await, 0);
    assert_eq!(count("power_state=1".into(), "2.83").await, 1);
    assert_eq!(count("vm_state=stopped".into(), "2.83").await, 0);
    assert_eq!(count("vm_state=active".into(), "2.83").await, 1);
    assert_eq!(count("created_at=^20".into(), "2.83").await, 1);

    // A rebuild replaces them (null clears); its body shows the user data (2.57).
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        &format!("{path}/action"),
        &demo,
        "2.63",
        Some(json!({"rebuild": {"imageRef": cloud.image_id, "trusted_image_certificates": null}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        b["server"]["trusted_image_certificates"],
        Value::Null,
        "{b}"
    );
    assert!(b["server"].get("user_data").is_some(), "{b}");
    assert_eq!(b["server"]["key_name"], Value::Null, "{b}");

    // An unknown status matches nothing, and is a 400 from 2.38.
    assert_eq!(count("status=NOSUCH".into(), "2.37").await, 0);
    let (s, b) = get(&cloud, "/servers/detail?status=NOSUCH", &demo, "2.38").await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["badRequest"]["message"], "Invalid status value", "{b}");

    // Full pages link to the next one: flavors (sorted query, marker the
    // last flavorid) and keypairs (2.35, marker the last name).
    let (_, all) = get(&cloud, "/flavors", &demo, "2.1").await;
    let ids: Vec<&str> = all["flavors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    assert!(ids.len() > 2, "{all}");
    assert!(all.get("flavors_links").is_none(), "not a full page: {all}");
    let (_, b) = get(&cloud, "/flavors/detail?limit=2", &demo, "2.1").await;
    let next = b["flavors_links"][0]["href"].as_str().unwrap().to_string();
    assert!(
        next.ends_with(&format!("/v2.1/flavors/detail?limit=2&marker={}", ids[1])),
        "{b}"
    );
    let (s, b) = get(&cloud, next.split_once("/v2.1").unwrap().1, &demo, "2.1").await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["flavors"][0]["id"], ids[2], "{b}");
    for name in ["kp-a", "kp-b", "kp-c"] {
        let (s, _, b) = call(
            &cloud,
            Method::POST,
            "/os-keypairs",
            &demo,
            "2.35",
            Some(json!({"keypair": {"name": name}})),
        )
        .await;
        assert_eq!(s, 201, "{b}");
    }
    let (_, b) = get(&cloud, "/os-keypairs?limit=2", &demo, "2.35").await;
    let next = b["keypairs_links"][0]["href"].as_str().unwrap().to_string();
    assert!(
        next.ends_with("/v2.1/os-keypairs?limit=2&marker=kp-b"),
        "{b}"
    );
    let (_, b) = get(&cloud, next.split_once("/v2.1").unwrap().1, &demo, "2.35").await;
    assert_eq!(b["keypairs"][0]["keypair"]["name"], "kp-c", "{b}");
    assert!(b.get("keypairs_links").is_none(), "{b}");
}

/// 2.86: flavor extra specs in a known namespace are validated on create
/// (POST) and update (PUT); before 2.86 anything is kept, and names in
/// unknown namespaces pass at any version.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flavor_extra_specs_validation_2_86() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let admin = cloud.admin.clone();
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/flavors",
        &admin,
        "2.1",
        Some(json!({"flavor": {"name": "es86", "ram": 64, "vcpus": 1, "disk": 1, "id": "es86"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let specs = "/flavors/es86/os-extra_specs";
    let post = |mv: &'static str, body: Value| {
        let cloud = &cloud;
        let admin = admin.clone();
        async move { call(cloud, Method::POST, specs, &admin, mv, Some(body)).await }
    };

    // 2.85: not validated, kept as given.
    let (s, _, b) = post("2.85", json!({"extra_specs": {"hw:cpu_policy": "bogus"}})).await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = get(&cloud, &format!("{specs}/hw:cpu_policy"), &admin, "2.86").await;
    assert_eq!(b["hw:cpu_policy"], "bogus");

    // 2.86: an invalid value is refused with a message naming it, and
    // nothing of the request is saved.
    let (s, _, b) = post(
        "2.86",
        json!({"extra_specs": {"hw:cpu_policy": "bogus", "foo:bar": "x"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let msg = b["badRequest"]["message"].as_str().unwrap_or_default();
    assert!(
        msg.contains("'bogus' is not one of: dedicated, shared, mixed"),
        "{b}"
    );
    let (s, _) = get(&cloud, &format!("{specs}/foo:bar"), &admin, "2.86").await;
    assert_eq!(s, 404, "a refused request saves nothing");
    // An unknown name in a known namespace, a bad integer.
    let (s, _, b) = post(
        "2.86",
        json!({"extra_specs": {"hw:cpu_polcy": "dedicated"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(b["badRequest"]["message"]
        .as_str()
        .unwrap_or_default()
        .contains("'hw:cpu_polcy' does not appear to be a valid extra spec"));
    let (s, _, b) = post("2.86", json!({"extra_specs": {"hw:numa_nodes": "0"}})).await;
    assert_eq!(s, 400, "{b}");

    // Valid ones, and an unknown namespace, pass.
    let (s, _, b) = post(
        "2.86",
        json!({"extra_specs": {
            "hw:cpu_policy": "dedicated", "foo:bar": "anything",
            "trait:HW_CPU_X86_AVX2": "required", "resources1:CUSTOM_MAGIC": "1",
            "hw:numa_cpus.0": "0-1,^1"
        }}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = get(&cloud, specs, &admin, "2.86").await;
    assert_eq!(b["extra_specs"]["hw:cpu_policy"], "dedicated");
    assert_eq!(b["extra_specs"]["foo:bar"], "anything");

    // PUT of one key: the same rule.
    let put = |mv: &'static str, key: &'static str, value: &'static str| {
        let cloud = &cloud;
        let admin = admin.clone();
        async move {
            call(
                cloud,
                Method::PUT,
                &format!("{specs}/{key}"),
                &admin,
                mv,
                Some(json!({ key: value })),
            )
            .await
        }
    };
    let (s, _, b) = put("2.86", "hw:cpu_realtime", "maybe").await;
    assert_eq!(s, 400, "{b}");
    let (s, _, b) = put("2.85", "hw:cpu_realtime", "maybe").await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = put("2.86", "hw:cpu_realtime", "yes").await;
    assert_eq!(s, 200, "{b}");
    let (s, _, b) = put("2.86", "foo:baz", "whatever").await;
    assert_eq!(s, 200, "{b}");
}

/// `/v2` (Nova's `legacy_v2_compatible` pipeline), as a catalog registering
/// compute at `.../v2/%(tenant_id)s` reaches it: the same servers at the
/// base version whatever microversion header is sent, with no version
/// headers in the answer and links under `/v2`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_legacy_v2_endpoint_is_the_base_version() {
    // Keystone's projects: ids a URL can name.
    let cloud = Cloud::start_with(fake_compute, true).await;
    let v2 = format!(
        "{}/v2/{}",
        cloud.api.trim_end_matches("/v2.1"),
        cloud.demo_project
    );
    let send = |method: Method, url: String, body: Option<Value>| {
        let cloud = &cloud;
        async move {
            let headers = [
                ("OpenStack-API-Version", "compute 2.19".to_string()),
                ("X-OpenStack-Nova-API-Version", "2.19".to_string()),
            ];
            call_url(cloud, method, url, &cloud.demo, &headers, body).await
        }
    };
    // 2.37's "auto" is not the base version's.
    let (s, _, b) = send(
        Method::POST,
        format!("{v2}/servers"),
        Some(
            json!({"server": {"name": "legacy", "imageRef": cloud.image_id,
            "flavorRef": "1", "networks": "auto"}}),
        ),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, h, b) = send(
        Method::POST,
        format!("{v2}/servers"),
        Some(json!({"server": {"name": "legacy", "imageRef": cloud.image_id, "flavorRef": "1"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    for gone in [
        "openstack-api-version",
        "x-openstack-nova-api-version",
        "vary",
    ] {
        assert!(h.get(gone).is_none(), "{gone}: {h:?}");
    }
    let id = b["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        b["server"]["links"][0]["href"],
        format!("{v2}/servers/{id}"),
        "{b}"
    );
    cloud
        .wait_for("the server to be ACTIVE", 120, || async {
            let (_, _, b) = send(Method::GET, format!("{v2}/servers/{id}"), None).await;
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;
    // 2.19's description is not shown: the header was not read.
    let (s, _, b) = send(Method::GET, format!("{v2}/servers/detail"), None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["servers"][0]["id"], id.as_str(), "{b}");
    assert!(b["servers"][0].get("description").is_none(), "{b}");
    // The same server at /v2.1, where the header counts.
    let (s, b) = get(&cloud, &format!("/servers/{id}"), &cloud.demo, "2.19").await;
    assert_eq!(s, 200, "{b}");
    assert!(b["server"].get("description").is_some(), "{b}");
    let (s, _, b) = send(Method::DELETE, format!("{v2}/servers/{id}"), None).await;
    assert_eq!(s, 204, "{b}");
}
