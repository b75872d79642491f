//! Small admin APIs Tempest's compute tests use, over HTTP against the real
//! binaries (noauth2, one fake compute): `/extensions` and
//! `/extensions/{alias}`; `/os-quota-class-sets` with the `default` class
//! feeding every project's defaults and the quota a create is checked against;
//! `/os-server-external-events` (per-event codes, 207); `/os-migrations`
//! and `/servers/{id}/migrations` (empty until resize/migrate exist).

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud};
use reqwest::Method;
use serde_json::json;

/// A new aggregate of this name (as admin); its id.
async fn new_aggregate(cloud: &Cloud, name: &str) -> serde_json::Value {
    let body = json!({"aggregate": {"name": name}});
    let (s, b) = call(
        cloud,
        Method::POST,
        "/os-aggregates",
        &cloud.admin,
        "2.1",
        Some(body),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["aggregate"]["id"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_apis() {
    let cloud = Cloud::start_with(
        |id| vec![(format!("admin-fake-{id}"), "fake.FakeDriver")],
        false,
    )
    .await;
    let (admin, demo) = (cloud.admin.clone(), cloud.demo.clone());

    // ===== /extensions: Nova's fixed list, for anyone =====
    let (s, b) = cloud.get("/extensions", &demo).await;
    assert_eq!(s, 200, "{b}");
    let exts = b["extensions"].as_array().unwrap();
    assert_eq!(exts.len(), 99);
    let aliases: Vec<&str> = exts.iter().map(|e| e["alias"].as_str().unwrap()).collect();
    let mut sorted = aliases.clone();
    sorted.sort();
    assert_eq!(aliases, sorted);
    for e in exts {
        for k in ["name", "alias", "namespace", "updated", "description"] {
            assert!(e[k].is_string(), "{k} in {e}");
        }
        assert_eq!(e["links"], json!([]));
    }
    let (s, b) = cloud.get("/extensions/os-volumes", &admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["extension"]["name"], "Volumes");
    assert_eq!(b["extension"]["updated"], "2014-12-03T00:00:00Z");
    let (s, _) = cloud.get("/extensions/os-no-such", &demo).await;
    assert_eq!(s, 404);

    // ===== os-quota-class-sets: admin only; keys per microversion =====
    let qcs = "/os-quota-class-sets/default";
    let (s, b) = call(&cloud, Method::GET, qcs, &admin, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    let set = &b["quota_class_set"];
    assert_eq!(set["id"], "default");
    assert_eq!(set["instances"], 10);
    assert_eq!(set["floating_ips"], 10);
    assert_eq!(set["injected_file_path_bytes"], 255);
    assert!(set.get("server_groups").is_none(), "{set}");
    let (s, _) = call(&cloud, Method::GET, qcs, &demo, "2.1", None).await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &cloud,
        Method::PUT,
        qcs,
        &demo,
        "2.1",
        Some(json!({"quota_class_set": {"instances": 1}})),
    )
    .await;
    assert_eq!(s, 403);
    for (mv, bad) in [
        ("2.1", json!({"quota_class_set": {"no_such": 1}})),
        ("2.1", json!({"quota_class_set": {"instances": -2}})),
        ("2.1", json!({"quota_class": {"instances": 1}})),
        ("2.50", json!({"quota_class_set": {"floating_ips": 1}})),
        ("2.57", json!({"quota_class_set": {"injected_files": 1}})),
    ] {
        let (s, b) = call(&cloud, Method::PUT, qcs, &admin, mv, Some(bad.clone())).await;
        assert_eq!(s, 400, "{mv} {bad}: {b}");
    }
    let (s, b) = call(
        &cloud,
        Method::PUT,
        qcs,
        &admin,
        "2.57",
        Some(json!({"quota_class_set": {"instances": 1, "key_pairs": 7}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let set = &b["quota_class_set"];
    assert!(set.get("id").is_none(), "{set}");
    assert_eq!(set["instances"], 1);
    assert_eq!(set["server_groups"], 10);
    assert!(set.get("floating_ips").is_none() && set.get("injected_files").is_none());
    // Another class keeps the [quota] defaults.
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-quota-class-sets/gold",
        &admin,
        "2.50",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["quota_class_set"]["instances"], 10);

    // The `default` class is every project's default ...
    let project = cloud.demo_project.clone();
    for path in [
        format!("/os-quota-sets/{project}/defaults"),
        format!("/os-quota-sets/{project}"),
    ] {
        let (s, b) = cloud.get(&path, &demo).await;
        assert_eq!(s, 200, "{b}");
        assert_eq!(b["quota_set"]["instances"], 1, "{path}");
        assert_eq!(b["quota_set"]["key_pairs"], 7, "{path}");
    }
    // ... and what a create is held to.
    let boot = json!({"server": {
        "name": "qc", "imageRef": cloud.image_id, "flavorRef": "1",
        "min_count": 2, "networks": "none",
    }});
    let (s, b) = call(&cloud, Method::POST, "/servers", &demo, "2.37", Some(boot)).await;
    assert_eq!(s, 403, "{b}");
    assert!(
        b["forbidden"]["message"]
            .as_str()
            .unwrap()
            .contains("Quota exceeded"),
        "{b}"
    );

    // ===== os-server-external-events: service or admin; per-event codes =====
    let (s, b) = call(
        &cloud,
        Method::PUT,
        qcs,
        &admin,
        "2.1",
        Some(json!({"quota_class_set": {"instances": 10}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let boot = json!({"server": {
        "name": "ev", "imageRef": cloud.image_id, "flavorRef": "1", "networks": "none",
    }});
    let (s, b) = call(&cloud, Method::POST, "/servers", &demo, "2.37", Some(boot)).await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_for("the server ACTIVE", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &demo).await;
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;
    let ev = "/os-server-external-events";
    let missing = "00000000-0000-4000-8000-000000000001";
    let one = json!({"events": [{"name": "network-changed", "server_uuid": id}]});
    let (s, _) = call(&cloud, Method::POST, ev, &demo, "2.1", Some(one.clone())).await;
    assert_eq!(s, 403);
    let (s, b) = call(&cloud, Method::POST, ev, &admin, "2.1", Some(one)).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["events"][0]["code"], 200);
    assert_eq!(b["events"][0]["status"], "completed");
    let (s, b) = call(
        &cloud,
        Method::POST,
        ev,
        &admin,
        "2.76",
        Some(json!({"events": [
            {"name": "network-vif-plugged", "server_uuid": id, "tag": "t1"},
            {"name": "network-vif-unplugged", "server_uuid": missing},
            {"name": "power-update", "server_uuid": id},
        ]})),
    )
    .await;
    assert_eq!(s, 207, "{b}");
    let codes: Vec<i64> = b["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["code"].as_i64().unwrap())
        .collect();
    assert_eq!(codes, [200, 404, 400]);
    assert_eq!(b["events"][1]["status"], "failed");
    assert_eq!(b["events"][0]["tag"], "t1");
    for (mv, bad) in [
        (
            "2.75",
            json!({"events": [{"name": "power-update", "server_uuid": id, "tag": "POWER_ON"}]}),
        ),
        (
            "2.1",
            json!({"events": [{"name": "no-such", "server_uuid": id}]}),
        ),
        ("2.1", json!({"events": []})),
        (
            "2.1",
            json!({"events": [{"name": "network-changed", "server_uuid": "x"}]}),
        ),
    ] {
        let (s, b) = call(&cloud, Method::POST, ev, &admin, mv, Some(bad.clone())).await;
        assert_eq!(s, 400, "{mv} {bad}: {b}");
    }

    // ===== os-migrations and a server's migrations: admin; empty =====
    let (s, b) = call(&cloud, Method::GET, "/os-migrations", &admin, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["migrations"], json!([]));
    let (s, _) = call(&cloud, Method::GET, "/os-migrations", &demo, "2.1", None).await;
    assert_eq!(s, 403);
    let q = format!(
        "/os-migrations?status=running&host=h&instance_uuid={id}&migration_type=resize\
         &changes-since=2020-01-01T00:00:00Z&changes-before=2030-01-01T00:00:00Z\
         &limit=5&user_id=u&project_id=p&source_compute=h"
    );
    let (s, b) = call(&cloud, Method::GET, &q, &admin, "2.80", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["migrations"], json!([]));
    let q = format!("/os-migrations?marker={missing}");
    let (s, b) = call(&cloud, Method::GET, &q, &admin, "2.59", None).await;
    assert_eq!(s, 400, "{b}");
    let sm = format!("/servers/{id}/migrations");
    let (s, _) = call(&cloud, Method::GET, &sm, &admin, "2.22", None).await;
    assert_eq!(s, 404);
    let (s, _) = call(&cloud, Method::GET, &sm, &demo, "2.23", None).await;
    assert_eq!(s, 403);
    let (s, b) = call(&cloud, Method::GET, &sm, &admin, "2.80", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["migrations"], json!([]));
    let (s, _) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{missing}/migrations"),
        &admin,
        "2.23",
        None,
    )
    .await;
    assert_eq!(s, 404);

    let (s, _) = cloud
        .req(Method::DELETE, &format!("/servers/{id}"), &demo, None)
        .await;
    assert_eq!(s, 204);

    // ===== os-hosts: listed and shown; what the driver would do is a 501 =====
    let host = format!("admin-fake-{}", cloud.id);
    let (s, b) = call(&cloud, Method::GET, "/os-hosts", &admin, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["hosts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["host_name"] == host.as_str()
                && h["service"] == "compute"
                && h["zone"] == "nova"),
        "{b}"
    );
    let one = format!("/os-hosts/{host}");
    let (s, b) = call(&cloud, Method::GET, &one, &admin, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["host"][0]["resource"]["project"], "(total)", "{b}");
    let (s, _) = call(&cloud, Method::GET, &one, &demo, "2.1", None).await;
    assert_eq!(s, 403);
    // Nova asks the virt driver to enable or disable the host, or to put it
    // in maintenance; libvirt's (as every driver here) does neither.
    for body in [
        json!({"status": "disable"}),
        json!({"status": "ENABLE"}),
        json!({"maintenance_mode": "enable"}),
    ] {
        let (s, b) = call(&cloud, Method::PUT, &one, &admin, "2.1", Some(body.clone())).await;
        assert_eq!(s, 501, "{body}: {b}");
        assert_eq!(
            b["notImplemented"]["message"], "The requested functionality is not supported.",
            "{b}"
        );
    }
    // ... and the host's compute service was left enabled.
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-services?binary=nova-compute",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["services"][0]["status"], "enabled", "{b}");
    for body in [
        json!({"status": "off"}),
        json!({"maintenance_mode": "eNable"}),
        json!({"status": "enable", "zone": "nova"}),
    ] {
        let (s, b) = call(&cloud, Method::PUT, &one, &admin, "2.1", Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let (s, _) = call(
        &cloud,
        Method::PUT,
        "/os-hosts/no-such-host",
        &admin,
        "2.1",
        Some(json!({"status": "enable"})),
    )
    .await;
    assert_eq!(s, 404);
    for action in ["startup", "shutdown", "reboot"] {
        let (s, b) = call(
            &cloud,
            Method::GET,
            &format!("{one}/{action}"),
            &admin,
            "2.1",
            None,
        )
        .await;
        assert_eq!(s, 501, "{action}: {b}");
    }
    // Deprecated at 2.43.
    let (s, _) = call(&cloud, Method::GET, "/os-hosts", &admin, "2.43", None).await;
    assert_eq!(s, 404);

    // ===== availability zones: a zone of only disabled computes =====
    let zone = |b: &serde_json::Value, name: &str| {
        b["availabilityZoneInfo"]
            .as_array()
            .unwrap()
            .iter()
            .find(|z| z["zoneName"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("{name} in {b}"))
    };
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-availability-zone/detail",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let nova = zone(&b, "nova");
    assert_eq!(nova["zoneState"]["available"], true, "{b}");
    assert_eq!(nova["hosts"][&host]["nova-compute"]["active"], true, "{b}");
    let services = "/os-services/disable";
    let (s, b) = call(
        &cloud,
        Method::PUT,
        services,
        &admin,
        "2.1",
        Some(json!({"host": host, "binary": "nova-compute"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    // As Nova's: listed as not available, with no hosts; the internal zone
    // lists only enabled services.
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-availability-zone/detail",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let nova = zone(&b, "nova");
    assert_eq!(
        (&nova["zoneState"]["available"], &nova["hosts"]),
        (&json!(false), &serde_json::Value::Null),
        "{b}"
    );
    assert!(
        zone(&b, "internal")["hosts"]
            .to_string()
            .contains("nova-conductor"),
        "{b}"
    );
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-availability-zone",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(zone(&b, "nova")["zoneState"]["available"], false, "{b}");
    let (s, b) = call(
        &cloud,
        Method::PUT,
        "/os-services/enable",
        &admin,
        "2.1",
        Some(json!({"host": host, "binary": "nova-compute"})),
    )
    .await;
    assert_eq!(s, 200, "{b}");

    // ===== Nova's messages and limits for a few admin mistakes =====
    let bad_zone = json!({"aggregate": {"name": "colon", "availability_zone": "a:b"}});
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-aggregates",
        &admin,
        "2.1",
        Some(bad_zone),
    )
    .await;
    assert_eq!(
        s, 400,
        "a zone with ':' could not be asked for as zone:host: {b}"
    );
    let scratch_id = new_aggregate(&cloud, "scratch").await;
    // An update may not clear the zone with null (Nova's "empty named
    // availability zone"), and a refused update changes nothing; its name
    // may keep leading and trailing spaces.
    let path = format!("/os-aggregates/{scratch_id}");
    let null_zone = json!({"aggregate": {"name": "renamed", "availability_zone": null}});
    let (s, b) = call(&cloud, Method::PUT, &path, &admin, "2.1", Some(null_zone)).await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some(format!("Cannot update aggregate {scratch_id}. Reason: Aggregate scratch does not support empty named availability zone.").as_str())),
        "{b}"
    );
    let spaced = json!({"aggregate": {"name": " scratch "}});
    let (s, b) = call(&cloud, Method::PUT, &path, &admin, "2.1", Some(spaced)).await;
    assert_eq!(
        (s, b["aggregate"]["name"].as_str()),
        (200, Some(" scratch ")),
        "{b}"
    );
    let remove = json!({"remove_host": {"host": host}});
    let action = format!("/os-aggregates/{scratch_id}/action");
    let (s, b) = call(&cloud, Method::POST, &action, &admin, "2.1", Some(remove)).await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str().unwrap_or_default()),
        (
            404,
            format!("Cannot remove host {host} in aggregate {scratch_id}").as_str()
        ),
        "{b}"
    );
    let path = format!("/os-aggregates/{scratch_id}");
    assert_eq!(
        call(&cloud, Method::DELETE, &path, &admin, "2.1", None)
            .await
            .0,
        200
    );
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-hypervisors/99999",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("Hypervisor with ID '99999' could not be found.")),
        "{b}"
    );
    // Hypervisors are the policy's to show (admins by default).
    for (path, rule) in [
        ("/os-hypervisors", "list"),
        ("/os-hypervisors/statistics", "statistics"),
    ] {
        let (s, b) = call(&cloud, Method::GET, path, &demo, "2.1", None).await;
        assert_eq!(
            (s, b["forbidden"]["message"].as_str()),
            (
                403,
                Some(format!("Policy doesn't allow os_compute_api:os-hypervisors:{rule} to be performed.").as_str())
            ),
            "{b}"
        );
    }
    // A full page of hypervisors links to the next, the request's other
    // parameters kept.
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-hypervisors/detail?with_servers=false&limit=1",
        &admin,
        "2.53",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let first = b["hypervisors"][0]["id"].as_str().unwrap();
    let href = b["hypervisors_links"][0]["href"].as_str().unwrap();
    assert!(
        href.ends_with(&format!(
            "/v2.1/os-hypervisors/detail?limit=1&with_servers=false&marker={first}"
        )),
        "{b}"
    );
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-keypairs?marker=nope",
        &demo,
        "2.35",
        None,
    )
    .await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Marker nope could not be found.")),
        "{b}"
    );
    let group = json!({"server_group": {"name": "g", "policies": ["affinity"]}});
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-server-groups",
        &demo,
        "2.1",
        Some(group),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-server-groups?limit=0",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["server_groups"].as_array().map(Vec::len)),
        (200, Some(1)),
        "limit 0 is no limit: {b}"
    );

    // ===== os-services: only nova-compute services change or go =====
    let put = |path: &'static str, body: serde_json::Value| {
        let (cloud, admin) = (&cloud, &admin);
        async move { call(cloud, Method::PUT, path, admin, "2.1", Some(body)).await }
    };
    let sched = json!({"host": cloud.id.clone(), "binary": "nova-scheduler"});
    let (s, b) = put("/os-services/disable", sched).await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Updating a nova-scheduler service is not supported. Only nova-compute services can be updated.")),
        "{b}"
    );
    // The legacy body's schema: no `forced_down` before 2.11, nothing unknown.
    let compute = json!({"host": host, "binary": "nova-compute", "forced_down": true});
    let (s, b) = put("/os-services/disable", compute).await;
    let message = b["badRequest"]["message"].as_str().unwrap_or_default();
    assert!(
        s == 400
            && message
                .contains("Additional properties are not allowed ('forced_down' was unexpected)"),
        "{b}"
    );
    // force-down (2.11) takes Nova's spellings of a boolean and answers a
    // boolean; without the field it is Nova's 400.
    for (given, want) in [("yes", true), ("off", false)] {
        let body = json!({"host": host, "binary": "nova-compute", "forced_down": given});
        let (s, b) = call(
            &cloud,
            Method::PUT,
            "/os-services/force-down",
            &admin,
            "2.11",
            Some(body),
        )
        .await;
        assert_eq!(
            (s, &b["service"]["forced_down"]),
            (200, &json!(want)),
            "{b}"
        );
    }
    let (s, b) = call(
        &cloud,
        Method::PUT,
        "/os-services/force-down",
        &admin,
        "2.11",
        Some(json!({"host": host, "binary": "nova-compute"})),
    )
    .await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Missing forced_down field")),
        "{b}"
    );
    let (s, b) = put("/os-services/reboot", json!({})).await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("Unknown action")),
        "{b}"
    );
    let (_, b) = call(
        &cloud,
        Method::GET,
        "/os-services?binary=nova-compute",
        &admin,
        "2.1",
        None,
    )
    .await;
    let service_id = b["services"][0]["id"].as_i64().unwrap();
    let path = format!("/os-services/{service_id}");
    // A host with a server keeps its compute service.
    let boot = json!({"server": {"name": "keep", "imageRef": cloud.image_id, "flavorRef": "1", "networks": "none"}});
    let (s, b) = call(&cloud, Method::POST, "/servers", &demo, "2.37", Some(boot)).await;
    assert_eq!(s, 202, "{b}");
    let server = b["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_for("the server ACTIVE on the host", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{server}"), &demo).await;
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;
    let (s, b) = call(&cloud, Method::DELETE, &path, &admin, "2.1", None).await;
    assert_eq!(
        (s, b["conflictingRequest"]["message"].as_str()),
        (409, Some("Unable to delete compute service that is hosting instances. Migrate or delete the instances first.")),
        "{b}"
    );
    let (s, _) = cloud
        .req(Method::DELETE, &format!("/servers/{server}"), &demo, None)
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the server gone", 60, || async {
            let (s, _) = cloud.get(&format!("/servers/{server}"), &demo).await;
            (s == 404).then_some(())
        })
        .await;
    // Without servers it goes, and its host leaves its aggregates first.
    let agg_path = format!("/os-aggregates/{}", new_aggregate(&cloud, "doomed").await);
    let add = json!({"add_host": {"host": host}});
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("{agg_path}/action"),
        &admin,
        "2.1",
        Some(add),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = call(&cloud, Method::DELETE, &path, &admin, "2.1", None).await;
    assert_eq!(s, 204, "{b}");
    let (_, b) = call(&cloud, Method::GET, &agg_path, &admin, "2.1", None).await;
    assert_eq!(b["aggregate"]["hosts"], json!([]), "{b}");
    let (s, b) = call(
        &cloud,
        Method::DELETE,
        "/os-services/999999",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("Service 999999 not found.")),
        "{b}"
    );
}
