//! The everyday `openstack` commands beyond create/list/delete, with the
//! real CLI against real binaries and Keystone: flavor extra specs and
//! access lists (`flavor set/unset --property/--project`, `flavor show`),
//! `server set --name/--property/--tag`, `server unset`, `server event
//! list/show`; and over HTTP the faults Nova gives for bad input on each
//! (400), other people's flavors (403/404), the `metadata_items` quota
//! (403), the tag limit, and what microversions gate. Host aggregates
//! (`openstack aggregate create/add host/set/show/list/remove host/delete`)
//! and `openstack hypervisor show` (its aggregates and uptime); `openstack
//! usage list/show` (os-simple-tenant-usage).

#![allow(clippy::unwrap_used)]

use nova_e2e::{call_with_location as call, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

fn json_out(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flavor_extras_server_set_and_events() {
    let cloud = Cloud::start_with(
        |id| vec![(format!("breadth-fake-{id}"), "fake.FakeDriver")],
        true,
    )
    .await;
    let (admin, demo) = (cloud.admin.clone(), cloud.demo.clone());
    let demo_project = cloud.demo_project.clone();

    // ===== flavors: extra specs and access, with the CLI =====
    cloud.osc(
        "admin",
        &[
            "flavor",
            "create",
            "--ram",
            "64",
            "--disk",
            "1",
            "--vcpus",
            "1",
            "--private",
            "--property",
            "hw:cpu_policy=shared",
            "f.priv",
        ],
    );
    cloud.osc(
        "admin",
        &[
            "flavor",
            "set",
            "--property",
            "quota:disk_read_iops_sec=100",
            "f.priv",
        ],
    );
    let shown = json_out(&cloud.osc("admin", &["flavor", "show", "f.priv", "-f", "json"]));
    assert_eq!(shown["properties"]["hw:cpu_policy"], "shared", "{shown}");
    assert_eq!(
        shown["properties"]["quota:disk_read_iops_sec"], "100",
        "{shown}"
    );
    assert_eq!(shown["os-flavor-access:is_public"], false, "{shown}");
    let priv_id = shown["id"].as_str().unwrap().to_string();
    // Private: the demo project neither lists nor finds it...
    assert!(!cloud.osc("demo", &["flavor", "list"]).contains("f.priv"));
    let (ok, _, _) = cloud.openstack("demo", &["flavor", "show", "f.priv"]);
    assert!(!ok, "demo must not see a private flavor");
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("/flavors/{priv_id}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    // ... until it is shared with it.
    cloud.osc(
        "admin",
        &["flavor", "set", "--project", &demo_project, "f.priv"],
    );
    let shown = json_out(&cloud.osc("admin", &["flavor", "show", "f.priv", "-f", "json"]));
    assert!(
        shown["access_project_ids"]
            .to_string()
            .contains(&demo_project),
        "{shown}"
    );
    assert!(cloud.osc("demo", &["flavor", "list"]).contains("f.priv"));
    let as_demo = json_out(&cloud.osc("demo", &["flavor", "show", "f.priv", "-f", "json"]));
    assert_eq!(
        as_demo["properties"]["hw:cpu_policy"], "shared",
        "{as_demo}"
    );
    cloud.osc(
        "admin",
        &["flavor", "unset", "--property", "hw:cpu_policy", "f.priv"],
    );
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("/flavors/{priv_id}/os-extra_specs"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, &b),
        (
            200,
            &json!({"extra_specs": {"quota:disk_read_iops_sec": "100"}})
        )
    );
    cloud.osc(
        "admin",
        &["flavor", "unset", "--project", &demo_project, "f.priv"],
    );
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("/flavors/{priv_id}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404, "access removed");

    // ===== flavors over HTTP: what Tempest sends, and the faults =====
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/flavors",
        &admin,
        "2.1",
        Some(
            json!({"flavor": {"name": "f.int", "ram": 64, "vcpus": 1, "disk": 1, "id": 4242,
                               "os-flavor-access:is_public": "False"}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["flavor"]["id"], "4242");
    assert_eq!(b["flavor"]["os-flavor-access:is_public"], false);
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        "/flavors",
        &admin,
        "2.1",
        Some(
            json!({"flavor": {"name": "f.bad", "ram": 64, "vcpus": 1, "disk": 1,
                               "os-flavor-access:is_public": "maybe"}}),
        ),
    )
    .await;
    assert_eq!(s, 400);
    let specs = "/flavors/4242/os-extra_specs";
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        specs,
        &admin,
        "2.1",
        Some(json!({"extra_specs": {"a": "1", "n": 2}})),
    )
    .await;
    assert_eq!((s, &b), (200, &json!({"extra_specs": {"a": "1", "n": 2}})));
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{specs}/n"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!((s, &b), (200, &json!({"n": "2"})));
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &format!("{specs}/a"),
        &admin,
        "2.1",
        Some(json!({"a": "x"})),
    )
    .await;
    assert_eq!((s, &b), (200, &json!({"a": "x"})));
    for (method, path, body, want) in [
        (
            Method::POST,
            specs.to_string(),
            json!({"extra_specs": {"a": "1"}}),
            403,
        ),
        (Method::PUT, format!("{specs}/a"), json!({"a": "1"}), 403),
    ] {
        let (s, _, b) = call(&cloud, method, &path, &demo, "2.1", Some(body)).await;
        assert_eq!(s, want, "demo changing extra specs: {b}");
    }
    for (path, body) in [
        (specs.to_string(), json!({"extra_specs": {"": "v"}})),
        (specs.to_string(), json!({"extra_specs": {"a/b": "v"}})),
        (
            specs.to_string(),
            json!({"extra_specs": {"a": "v".repeat(256)}}),
        ),
        (specs.to_string(), json!({"extra_specs": {"a": ["list"]}})),
        (specs.to_string(), json!({"specs": {}})),
    ] {
        let (s, _, b) = call(
            &cloud,
            Method::POST,
            &path,
            &admin,
            "2.1",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &format!("{specs}/a"),
        &admin,
        "2.1",
        Some(json!({"b": "1"})),
    )
    .await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Request body and URI mismatch"))
    );
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        &format!("{specs}/a"),
        &admin,
        "2.1",
        Some(json!({"a": "1", "b": "2"})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{specs}/nope"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(
        b["itemNotFound"]["message"],
        "Flavor 4242 has no extra specs with key nope."
    );
    let (s, _, _) = call(
        &cloud,
        Method::DELETE,
        &format!("{specs}/a"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "Nova answers an extra spec's delete with 200");
    let (s, _, _) = call(
        &cloud,
        Method::DELETE,
        &format!("{specs}/a"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        "/flavors/nope/os-extra_specs",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    // Access lists.
    let add = |t: &str| json!({"addTenantAccess": {"tenant": t}});
    let p1 = cloud.admin_project.clone();
    // A project Keystone does not know: 400, nothing recorded (Nova's
    // verify_project_id).
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/flavors/4242/action",
        &admin,
        "2.7",
        Some(add("no-such-project")),
    )
    .await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (
            400,
            Some("Project ID no-such-project is not a valid project.")
        ),
        "{b}"
    );
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/flavors/4242/action",
        &admin,
        "2.7",
        Some(add(&p1)),
    )
    .await;
    assert_eq!(
        (s, &b),
        (
            200,
            &json!({"flavor_access": [{"flavor_id": "4242", "tenant_id": p1}]})
        )
    );
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/flavors/4242/action",
        &admin,
        "2.7",
        Some(add(&p1)),
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/flavors/1/action",
        &admin,
        "2.7",
        Some(add(&p1)),
    )
    .await;
    assert_eq!(
        (s, b["conflictingRequest"]["message"].as_str()),
        (409, Some("Can not add access to a public flavor."))
    );
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        "/flavors/4242/action",
        &demo,
        "2.7",
        Some(add("p2")),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        "/flavors/4242/action",
        &admin,
        "2.7",
        Some(json!({"addTenantAccess": {"tenant": ""}})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        "/flavors/4242/os-flavor-access",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["flavor_access"].as_array().map(Vec::len)),
        (200, Some(1))
    );
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        "/flavors/1/os-flavor-access",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("Access list not available for public flavors."))
    );
    let remove = json!({"removeTenantAccess": {"tenant": demo_project}});
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        "/flavors/4242/action",
        &admin,
        "2.7",
        Some(remove),
    )
    .await;
    assert_eq!(s, 404);
    // Descriptions come at 2.55: before it PUT /flavors/{id} is not allowed.
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        "/flavors/4242",
        &admin,
        "2.38",
        Some(json!({"flavor": {"description": "d"}})),
    )
    .await;
    assert_eq!(s, 405);

    // ===== a server: set --name, --property, --tag; events =====
    let created = json_out(&cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--wait",
            "-f",
            "json",
            "vm1",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let srv = format!("/servers/{id}");
    cloud.osc("demo", &["server", "set", "--name", "vm2", "vm1"]);
    cloud.osc(
        "demo",
        &[
            "server",
            "set",
            "--property",
            "a=1",
            "--property",
            "b=2",
            "vm2",
        ],
    );
    cloud.osc(
        "demo",
        &["server", "set", "--tag", "blue", "--tag", "green", "vm2"],
    );
    let shown = json_out(&cloud.osc("demo", &["server", "show", "vm2", "-f", "json"]));
    assert_eq!(shown["name"], "vm2", "{shown}");
    assert_eq!(shown["properties"], json!({"a": "1", "b": "2"}), "{shown}");
    assert_eq!(shown["tags"], json!(["blue", "green"]), "{shown}");
    cloud.osc(
        "demo",
        &["server", "unset", "--property", "a", "--tag", "blue", "vm2"],
    );
    let (s, _, b) = call(&cloud, Method::GET, &srv, &demo, "2.26", None).await;
    assert_eq!(s, 200);
    assert_eq!(
        (&b["server"]["metadata"], &b["server"]["tags"]),
        (&json!({"b": "2"}), &json!(["green"]))
    );
    let tagged = |filter: &str| {
        let out = cloud.osc("demo", &["server", "list", filter, "green", "-f", "json"]);
        json_out(&out).as_array().unwrap().len()
    };
    assert_eq!(tagged("--tags"), 1);
    assert_eq!(tagged("--not-tags"), 0);

    // PUT /servers/{id} over HTTP.
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &srv,
        &demo,
        "2.19",
        Some(json!({"server": {
        "accessIPv4": "10.1.2.3", "accessIPv6": "0000:0000:0000:0000:0000:babe:220.12.22.2",
        "description": "web"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server"]["accessIPv6"], "::babe:dc0c:1602");
    assert_eq!(b["server"]["accessIPv4"], "10.1.2.3");
    assert_eq!(b["server"]["description"], "web");
    assert_eq!(b["server"]["name"], "vm2");
    assert!(b["server"].get("OS-EXT-STS:vm_state").is_none(), "{b}");
    for body in [
        json!({"server": {"accessIPv4": "1.2.3"}}),
        json!({"server": {"accessIPv6": "not-an-address"}}),
        json!({"server": {"name": ""}}),
        json!({"server": {"name": " padded "}}),
        json!({"server": {"hostname": "x"}}),
        json!({"server": {"description": "x"}}),
        json!({"name": "x"}),
    ] {
        let (s, _, b) = call(&cloud, Method::PUT, &srv, &demo, "2.1", Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        &srv,
        &cloud.alt,
        "2.1",
        Some(json!({"server": {"name": "x"}})),
    )
    .await;
    assert_eq!(s, 404, "another project's server");

    // Metadata over HTTP: items, validation, quota.
    let md = format!("{srv}/metadata");
    let (s, _, b) = call(&cloud, Method::GET, &format!("{md}/b"), &demo, "2.1", None).await;
    assert_eq!((s, &b), (200, &json!({"meta": {"b": "2"}})));
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &format!("{md}/c"),
        &demo,
        "2.1",
        Some(json!({"meta": {"c": "3"}})),
    )
    .await;
    assert_eq!((s, &b), (200, &json!({"meta": {"c": "3"}})));
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        &md,
        &demo,
        "2.1",
        Some(json!({"metadata": {"d": "4"}})),
    )
    .await;
    assert_eq!(
        (s, &b),
        (200, &json!({"metadata": {"b": "2", "c": "3", "d": "4"}}))
    );
    for (method, path, body) in [
        (Method::PUT, format!("{md}/c"), json!({"meta": {"x": "3"}})),
        (
            Method::PUT,
            format!("{md}/c"),
            json!({"meta": {"c": "3", "x": "1"}}),
        ),
        (Method::POST, md.clone(), json!({"metadata": {"": "v"}})),
        (
            Method::POST,
            md.clone(),
            json!({"metadata": {"k".repeat(256): "v"}}),
        ),
        (
            Method::POST,
            md.clone(),
            json!({"metadata": {"k": "v".repeat(256)}}),
        ),
        (Method::PUT, md.clone(), json!({"meta": {"k": "v"}})),
    ] {
        let (s, _, b) = call(&cloud, method, &path, &demo, "2.1", Some(body.clone())).await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{md}/nope"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("Metadata item was not found"))
    );
    let (s, _, _) = call(
        &cloud,
        Method::DELETE,
        &format!("{md}/nope"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        &format!("/os-quota-sets/{demo_project}"),
        &admin,
        "2.1",
        Some(json!({"quota_set": {"metadata_items": 3}})),
    )
    .await;
    assert_eq!(s, 200);
    // A project Keystone does not know: 400 for each quota call, nothing
    // recorded.
    for (method, path, body) in [
        (
            Method::PUT,
            "/os-quota-sets/no-such-project",
            Some(json!({"quota_set": {"instances": 5}})),
        ),
        (Method::GET, "/os-quota-sets/no-such-project", None),
        (Method::GET, "/os-quota-sets/no-such-project/defaults", None),
        (Method::GET, "/os-quota-sets/no-such-project/detail", None),
    ] {
        let (s, _, b) = call(&cloud, method, path, &admin, "2.1", body).await;
        assert_eq!(
            (s, b["badRequest"]["message"].as_str()),
            (
                400,
                Some("Project ID no-such-project is not a valid project.")
            ),
            "{path}: {b}"
        );
    }
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        &md,
        &demo,
        "2.1",
        Some(json!({"metadata": {"e": "5"}})),
    )
    .await;
    assert_eq!(s, 403, "over the metadata_items quota: {b}");
    assert_eq!(
        b["forbidden"]["message"],
        "Maximum number of metadata items exceeds 3"
    );
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &md,
        &demo,
        "2.1",
        Some(json!({"metadata": {"only": "1"}})),
    )
    .await;
    assert_eq!((s, &b), (200, &json!({"metadata": {"only": "1"}})));
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &demo,
        "2.1",
        Some(json!({"server": {
        "name": "many", "imageRef": cloud.image_id, "flavorRef": "1",
        "metadata": {"1": "a", "2": "b", "3": "c", "4": "d"}}})),
    )
    .await;
    assert_eq!(s, 403, "a new server over the metadata_items quota: {b}");
    let (s, _, _) = call(
        &cloud,
        Method::DELETE,
        &format!("{md}/only"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 204);

    // Tags over HTTP.
    let tags = format!("{srv}/tags");
    let (s, _, _) = call(&cloud, Method::GET, &tags, &demo, "2.25", None).await;
    assert_eq!(s, 404, "tags come at 2.26");
    let (s, location, _) = call(
        &cloud,
        Method::PUT,
        &format!("{tags}/red"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 201);
    assert!(location
        .unwrap()
        .ends_with(&format!("/v2.1/servers/{id}/tags/red")));
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        &format!("{tags}/red"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 204, "already there");
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("{tags}/red"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("{tags}/nope"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &cloud,
        Method::DELETE,
        &format!("{tags}/nope"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &cloud,
        Method::PUT,
        &format!("{tags}/a,b"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 400);
    let fifty: Vec<String> = (0..50).map(|n| format!("t{n}")).collect();
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &tags,
        &demo,
        "2.26",
        Some(json!({"tags": fifty})),
    )
    .await;
    assert_eq!((s, b["tags"].as_array().map(Vec::len)), (200, Some(50)));
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &format!("{tags}/one-more"),
        &demo,
        "2.26",
        None,
    )
    .await;
    assert_eq!(s, 400, "the 51st tag: {b}");
    let mut too_many = fifty.clone();
    too_many.push("t50".into());
    for body in [
        json!({"tags": too_many}),
        json!({"tags": [""]}),
        json!({"tags": ["x".repeat(61)]}),
        json!({"tags": "x"}),
    ] {
        let (s, _, b) = call(&cloud, Method::PUT, &tags, &demo, "2.26", Some(body)).await;
        assert_eq!(s, 400, "{b}");
    }
    let (s, _, _) = call(&cloud, Method::DELETE, &tags, &demo, "2.26", None).await;
    assert_eq!(s, 204);
    let (_, _, b) = call(&cloud, Method::GET, &tags, &demo, "2.26", None).await;
    assert_eq!(b, json!({"tags": []}));

    // ===== instance actions =====
    cloud.osc("demo", &["server", "stop", "vm2"]);
    cloud
        .wait_for("vm2 to stop", 60, || async {
            let (_, _, b) = call(&cloud, Method::GET, &srv, &demo, "2.1", None).await;
            (b["server"]["status"] == "SHUTOFF").then_some(())
        })
        .await;
    let events = json_out(&cloud.osc("demo", &["server", "event", "list", "vm2", "-f", "json"]));
    let actions: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["stop", "create"], "{events}");
    let stop_req = events[0]["Request ID"].as_str().unwrap().to_string();
    let shown = json_out(&cloud.osc(
        "admin",
        &["server", "event", "show", &id, &stop_req, "-f", "json"],
    ));
    assert_eq!(shown["action"], "stop", "{shown}");
    assert!(
        shown["events"]
            .to_string()
            .contains("compute_stop_instance"),
        "{shown}"
    );
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions/{stop_req}"),
        &demo,
        "2.38",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert!(
        b["instanceAction"].get("events").is_none(),
        "events are the admin's before 2.51: {b}"
    );
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions/{stop_req}"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200);
    let ev = &b["instanceAction"]["events"][0];
    assert_eq!(
        (ev["event"].as_str(), ev["result"].as_str()),
        (Some("compute_stop_instance"), Some("Success")),
        "{b}"
    );
    // From 2.58 the action shows when its last event finished.
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions/{stop_req}"),
        &admin,
        "2.58",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let action = &b["instanceAction"];
    assert!(action["updated_at"].is_string(), "{b}");
    assert_eq!(
        action["updated_at"], action["events"][0]["finish_time"],
        "{b}"
    );
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions/req-nope"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["itemNotFound"]["message"].as_str()),
        (404, Some("Action req-nope not found"))
    );
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions"),
        &cloud.alt,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    // A full page (2.58) links to the next with the request's filters kept.
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions?limit=1&changes-since=2000-01-01T00:00:00Z"),
        &demo,
        "2.58",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let first = b["instanceActions"][0]["request_id"].as_str().unwrap();
    let href = b["links"][0]["href"].as_str().unwrap();
    assert!(
        href.ends_with(&format!(
            "{srv}/os-instance-actions?changes-since=2000-01-01T00%3A00%3A00Z&limit=1&marker={first}"
        )),
        "{b}"
    );
    // A deleted server's actions stay readable from 2.21.
    cloud.osc("demo", &["server", "delete", "--wait", "vm2"]);
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions"),
        &demo,
        "2.21",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["instanceActions"][0]["action"], "delete", "{b}");
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("{srv}/os-instance-actions"),
        &demo,
        "2.20",
        None,
    )
    .await;
    assert_eq!(s, 404);
    // Deleted servers are listed by status for admins only.
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        "/servers/detail?status=DELETED&all_tenants=1",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let deleted: Vec<&str> = b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert!(
        !deleted.is_empty() && deleted.iter().all(|s| *s == "DELETED"),
        "{b}"
    );
    assert!(
        b["servers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| srv.ends_with(s["id"].as_str().unwrap())),
        "{srv} is listed: {b}"
    );
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        "/servers?status=DELETED",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b["forbidden"]["message"].as_str()),
        (403, Some("Only administrators may list deleted instances")),
        "{b}"
    );

    // ===== host aggregates and hypervisor show =====
    let host = format!("breadth-fake-{}", cloud.id);
    cloud.osc("admin", &["aggregate", "create", "--zone", "az1", "agg1"]);
    cloud.osc("admin", &["aggregate", "add", "host", "agg1", &host]);
    cloud.osc(
        "admin",
        &["aggregate", "set", "--property", "ssd=true", "agg1"],
    );
    let agg = json_out(&cloud.osc("admin", &["aggregate", "show", "agg1", "-f", "json"]));
    assert_eq!(agg["availability_zone"], "az1", "{agg}");
    assert_eq!(agg["hosts"], json!([host]), "{agg}");
    assert!(agg["properties"].to_string().contains("ssd"), "{agg}");
    let list = cloud.osc("admin", &["aggregate", "list", "-f", "json"]);
    assert!(list.contains("agg1") && list.contains("az1"), "{list}");
    let hvs = json_out(&cloud.osc("admin", &["hypervisor", "list", "-f", "json"]));
    // The CLI negotiates 2.88: hypervisors go by uuid (2.53).
    let hv_uuid = hvs[0]["ID"].as_str().unwrap().to_string();
    let hv = json_out(&cloud.osc("admin", &["hypervisor", "show", &hv_uuid, "-f", "json"]));
    assert_eq!(hv["aggregates"], json!(["agg1"]), "{hv}");
    assert!(hv.get("load_average").is_some(), "uptime parsed: {hv}");
    // Before 2.53 by integer id, with /uptime (gone in 2.88).
    let (_, _, l) = call(&cloud, Method::GET, "/os-hypervisors", &admin, "2.1", None).await;
    let hv_id = l["hypervisors"][0]["id"].to_string();
    let (s, _, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-hypervisors/{hv_id}/uptime"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["hypervisor"]["uptime"]
            .as_str()
            .unwrap()
            .contains("load average"),
        "{b}"
    );
    let agg_id = agg["id"].to_string();
    let action = format!("/os-aggregates/{agg_id}/action");
    let (s, _, _) = call(&cloud, Method::GET, "/os-aggregates", &demo, "2.1", None).await;
    assert_eq!(s, 403);
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/os-aggregates",
        &admin,
        "2.1",
        Some(json!({"aggregate": {"name": "agg1"}})),
    )
    .await;
    assert_eq!(
        (s, b["conflictingRequest"]["message"].as_str()),
        (409, Some("Aggregate agg1 already exists."))
    );
    for body in [
        json!({"aggregate": {"name": ""}}),
        json!({"aggregate": {"zone": "x", "name": "y"}}),
        json!({"name": "y"}),
    ] {
        let (s, _, b) = call(
            &cloud,
            Method::POST,
            "/os-aggregates",
            &admin,
            "2.1",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 400, "{body}: {b}");
    }
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        "/os-aggregates",
        &admin,
        "2.38",
        Some(json!({"aggregate": {"name": "agg2", "availability_zone": "az2"}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert!(
        b["aggregate"].get("hosts").is_none() && b["aggregate"].get("uuid").is_none(),
        "{b}"
    );
    let agg2 = b["aggregate"]["id"].to_string();
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        &format!("/os-aggregates/{agg2}/action"),
        &admin,
        "2.1",
        Some(json!({"add_host": {"host": host}})),
    )
    .await;
    assert_eq!(s, 409, "a host in two zones: {b}");
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        &action,
        &admin,
        "2.1",
        Some(json!({"add_host": {"host": host}})),
    )
    .await;
    assert_eq!(s, 409, "already a member");
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        &action,
        &admin,
        "2.1",
        Some(json!({"add_host": {"host": "no-such-host"}})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, _) = call(
        &cloud,
        Method::POST,
        &action,
        &admin,
        "2.1",
        Some(json!({"remove_host": {"host": "no-such-host"}})),
    )
    .await;
    assert_eq!(s, 404);
    let (s, _, b) = call(
        &cloud,
        Method::DELETE,
        &format!("/os-aggregates/{agg_id}"),
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 400, "not empty: {b}");
    let (s, _, b) = call(
        &cloud,
        Method::POST,
        &action,
        &admin,
        "2.1",
        Some(json!({"set_metadata": {"metadata": {"ssd": null, "hdd": "no"}}})),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["aggregate"]["metadata"],
        json!({"availability_zone": "az1", "hdd": "no"}),
        "{b}"
    );
    let (s, _, b) = call(
        &cloud,
        Method::PUT,
        &format!("/os-aggregates/{agg2}"),
        &admin,
        "2.1",
        Some(json!({"aggregate": {"name": "agg3"}})),
    )
    .await;
    assert_eq!((s, b["aggregate"]["name"].as_str()), (200, Some("agg3")));
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        "/os-aggregates/999999",
        &admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    cloud.osc("admin", &["aggregate", "remove", "host", "agg1", &host]);
    cloud.osc("admin", &["aggregate", "delete", "agg1", "agg3"]);
    let (_, _, b) = call(&cloud, Method::GET, "/os-aggregates", &admin, "2.1", None).await;
    assert_eq!(b, json!({"aggregates": []}));

    // ===== usage =====
    let usages = json_out(&cloud.osc("admin", &["usage", "list", "-f", "json"]));
    let mine = usages
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["Project"] == demo_project.as_str())
        .unwrap_or_else(|| panic!("demo's usage in {usages}"));
    // OSC asks with detailed=True; Nova lists servers only for detailed=1.
    assert!(mine["RAM MB-Hours"].as_f64().unwrap() > 0.0, "{usages}");
    let shown = json_out(&cloud.osc("demo", &["usage", "show", "-f", "json"]));
    assert_eq!(shown["Servers"][0]["instance_id"], id.as_str(), "{shown}");
    assert_eq!(
        shown["Servers"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
    let path = format!(
        "/os-simple-tenant-usage/{demo_project}?start=2000-01-01T00:00:00&end=2100-01-01T00:00:00"
    );
    let (s, _, b) = call(&cloud, Method::GET, &path, &demo, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    // A period ending in the future ends now, as Nova's.
    let stop = b["tenant_usage"]["stop"].as_str().unwrap_or_default();
    let now = (chrono::Utc::now() + chrono::Duration::seconds(2))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    assert!(stop <= now.as_str() && stop > "2000", "{stop} > {now}: {b}");
    let su = &b["tenant_usage"]["server_usages"][0];
    assert_eq!(
        (su["instance_id"].as_str(), su["state"].as_str()),
        (Some(id.as_str()), Some("terminated")),
        "{b}"
    );
    assert_eq!(
        (su["flavor"].as_str(), su["memory_mb"].as_i64()),
        (Some("m1.tiny"), Some(512)),
        "{b}"
    );
    assert!(
        b["tenant_usage"]["total_hours"].as_f64().unwrap() > 0.0,
        "{b}"
    );
    let bad_time = "Invalid datetime string: Datetime is in invalid format";
    let reversed = "Invalid start time. The start time cannot occur after the end time.";
    for (path, token, want, text) in [
        (
            "/os-simple-tenant-usage?start=yesterday",
            admin.as_str(),
            400,
            bad_time,
        ),
        (
            "/os-simple-tenant-usage?start=2100-01-01T00:00:00&end=2000-01-01T00:00:00",
            admin.as_str(),
            400,
            reversed,
        ),
        // An empty period is refused too, as Nova's.
        (
            "/os-simple-tenant-usage?start=2020-01-01T00:00:00&end=2020-01-01T00:00:00",
            admin.as_str(),
            400,
            reversed,
        ),
        (
            "/os-simple-tenant-usage",
            demo.as_str(),
            403,
            "Policy doesn't allow os_compute_api:os-simple-tenant-usage:list to be performed.",
        ),
    ] {
        let (s, _, b) = call(&cloud, Method::GET, path, token, "2.1", None).await;
        let message = b
            .as_object()
            .and_then(|o| o.values().next())
            .map(|f| &f["message"]);
        assert_eq!(
            (s, message.and_then(|m| m.as_str())),
            (want, Some(text)),
            "{path}: {b}"
        );
    }
    let (s, _, _) = call(
        &cloud,
        Method::GET,
        &format!("/os-simple-tenant-usage/{demo_project}"),
        &cloud.alt,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 403, "another project's usage");
}
