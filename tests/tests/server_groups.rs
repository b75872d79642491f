//! Server groups end to end, with the real `openstack` CLI on two fake
//! compute hosts: anti-affinity members land on different hosts and a third
//! one fails with NoValidHost (ERROR with a fault); affinity members land
//! together; show at 2.71 names the group; a deleted server leaves its group.
//! The `different_host` and `same_host` hints place away from or beside a
//! server, and a request no host satisfies fails naming DifferentHostFilter.
//! Also the `ip` filter of server lists, on these servers' fixed addresses.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost, E2E_ENABLED_FILTERS};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;

fn json_out(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn call(
    cloud: &Cloud,
    method: Method,
    path: &str,
    mv: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = cloud
        .http
        .request(method, format!("{}{path}", cloud.api))
        .header("X-Auth-Token", &cloud.admin)
        .header("OpenStack-API-Version", format!("compute {mv}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// `openstack server create --hint <hint>` as demo, without waiting; the id.
fn create_with_hint(cloud: &Cloud, name: &str, hint: &str) -> String {
    let created = json_out(&cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--hint",
            hint,
            "-f",
            "json",
            name,
        ],
    ));
    created["id"].as_str().unwrap().to_string()
}

/// `openstack server create --hint group=G` as demo, without waiting; the id.
fn create_in_group(cloud: &Cloud, name: &str, group: &str) -> String {
    create_with_hint(cloud, name, &format!("group={group}"))
}

/// The server once it left BUILD, as an admin sees it.
async fn settled(cloud: &Cloud, id: &str) -> Value {
    cloud
        .wait_for(&format!("server {id} to settle"), 90, || async {
            let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_eq!(s, 200, "{b}");
            let srv = b["server"].clone();
            (srv["status"] != "BUILD" && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anti_affinity_spreads_and_affinity_gathers() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-sga-{id}"), ""),
                ComputeHost::fake(format!("e2e-sgb-{id}"), ""),
            ]
        },
        true,
    )
    .await;

    // ===== anti-affinity: one member per host, the third has nowhere to go =====
    let anti = json_out(&cloud.osc(
        "demo",
        &[
            "server",
            "group",
            "create",
            "--policy",
            "anti-affinity",
            "-f",
            "json",
            "anti",
        ],
    ));
    let anti_id = anti["id"].as_str().unwrap().to_string();
    let mut hosts = Vec::new();
    let mut members = Vec::new();
    for name in ["a1", "a2"] {
        let id = create_in_group(&cloud, name, &anti_id);
        let srv = settled(&cloud, &id).await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        hosts.push(srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string());
        members.push(id);
    }
    assert_ne!(hosts[0], hosts[1], "anti-affinity members share a host");
    let third = create_in_group(&cloud, "a3", &anti_id);
    let srv = settled(&cloud, &third).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    let fault = srv["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.starts_with("No valid host was found."), "{srv}");
    assert!(
        srv["fault"]["details"]
            .as_str()
            .unwrap_or_default()
            .contains("ServerGroupAntiAffinityFilter"),
        "{srv}"
    );
    // The group lists its members (the failed one too: it was not deleted).
    let shown = json_out(&cloud.osc("demo", &["server", "group", "show", "anti", "-f", "json"]));
    let listed = shown["members"].to_string();
    for m in members.iter().chain([&third]) {
        assert!(listed.contains(m.as_str()), "{shown}");
    }
    // 2.71: a member's show names its group; 2.70 does not show the key.
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{}", members[0]),
        "2.71",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["server"]["server_groups"], json!([anti_id]), "{b}");
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{}", members[0]),
        "2.70",
        None,
    )
    .await;
    assert!(b["server"].get("server_groups").is_none(), "{b}");
    // 2.100: the hints it was created with.
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{}", members[0]),
        "2.100",
        None,
    )
    .await;
    assert_eq!(
        b["server"]["scheduler_hints"],
        json!({"group": [anti_id]}),
        "{b}"
    );
    // A deleted server leaves its group; its place can be taken again.
    cloud.osc("demo", &["server", "delete", "--wait", &third, &members[1]]);
    let shown = json_out(&cloud.osc("demo", &["server", "group", "show", "anti", "-f", "json"]));
    assert_eq!(
        shown["members"].as_array().map(Vec::len),
        Some(1),
        "{shown}"
    );
    let again = create_in_group(&cloud, "a4", &anti_id);
    let srv = settled(&cloud, &again).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_ne!(srv["OS-EXT-SRV-ATTR:host"], hosts[0].as_str(), "{srv}");

    // ===== affinity: members follow the first =====
    let aff = json_out(&cloud.osc(
        "demo",
        &[
            "server", "group", "create", "--policy", "affinity", "-f", "json", "aff",
        ],
    ));
    let aff_id = aff["id"].as_str().unwrap().to_string();
    let mut aff_hosts = Vec::new();
    for name in ["f1", "f2", "f3"] {
        let id = create_in_group(&cloud, name, &aff_id);
        let srv = settled(&cloud, &id).await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        aff_hosts.push(srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string());
    }
    assert!(
        aff_hosts.iter().all(|h| *h == aff_hosts[0]),
        "{aff_hosts:?}"
    );

    // ===== the same_host / different_host hints (SameHostFilter, DifferentHostFilter) =====
    let anchor = members[0].as_str();
    let away = create_with_hint(&cloud, "d1", &format!("different_host={anchor}"));
    let srv = settled(&cloud, &away).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_ne!(srv["OS-EXT-SRV-ATTR:host"], hosts[0].as_str(), "{srv}");
    let beside = create_with_hint(&cloud, "s1", &format!("same_host={anchor}"));
    let srv = settled(&cloud, &beside).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], hosts[0].as_str(), "{srv}");
    // Away from both hosts' servers: nowhere to go, and the fault names the filter.
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        "2.1",
        Some(
            json!({"server": {"name": "d2", "imageRef": cloud.image_id, "flavorRef": "1"},
                    "os:scheduler_hints": {"different_host": [anchor, away]}}),
        ),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let srv = settled(&cloud, b["server"]["id"].as_str().unwrap()).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    assert!(
        srv["fault"]["details"]
            .as_str()
            .unwrap_or_default()
            .contains("Filter DifferentHostFilter returned 0 hosts"),
        "{srv}"
    );
    // A hint that names no server's uuid is the caller's mistake.
    for hints in [
        json!({"same_host": "nope"}),
        json!({"different_host": [anchor, 7]}),
    ] {
        let (s, b) = call(
            &cloud,
            Method::POST,
            "/servers",
            "2.1",
            Some(
                json!({"server": {"name": "x", "imageRef": cloud.image_id, "flavorRef": "1"},
                        "os:scheduler_hints": hints}),
            ),
        )
        .await;
        assert_eq!(s, 400, "{b}");
    }
    cloud.osc("demo", &["server", "delete", "--wait", &away, &beside]);

    // ===== the ip filter of server lists: a regular expression on fixed addresses =====
    let (_, b) = cloud
        .get(&format!("/servers/{}", members[0]), &cloud.admin)
        .await;
    let addr = b["server"]["addresses"]
        .as_object()
        .and_then(|nets| nets.values().next())
        .and_then(|ips| ips[0]["addr"].as_str())
        .unwrap_or_else(|| panic!("no address: {b}"))
        .to_string();
    let (s, l) = cloud
        .get(
            &format!("/servers?all_tenants=1&ip={addr}%24"),
            &cloud.admin,
        )
        .await;
    assert_eq!(s, 200, "{l}");
    let ids: Vec<&str> = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [members[0].as_str()], "{l}");
    let (_, l) = cloud
        .get("/servers?all_tenants=1&ip=300%5C.", &cloud.admin)
        .await;
    assert_eq!(l["servers"], json!([]), "{l}");
    let (s, _) = cloud.get("/servers?ip=(", &cloud.admin).await;
    assert_eq!(s, 400);

    // ===== the API's own rules =====
    // 2.64 bodies: policy and rules; rules only with anti-affinity.
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-server-groups",
        "2.64",
        Some(
            json!({"server_group": {"name": "r", "policy": "anti-affinity",
                                     "rules": {"max_server_per_host": 2}}}),
        ),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["server_group"]["rules"],
        json!({"max_server_per_host": 2}),
        "{b}"
    );
    assert!(b["server_group"].get("policies").is_none(), "{b}");
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-server-groups",
        "2.64",
        Some(json!({"server_group": {"name": "r", "policy": "affinity",
                                     "rules": {"max_server_per_host": 2}}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // soft policies only from 2.15.
    let soft = json!({"server_group": {"name": "s", "policies": ["soft-anti-affinity"]}});
    let (s, _) = call(
        &cloud,
        Method::POST,
        "/os-server-groups",
        "2.14",
        Some(soft.clone()),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-server-groups",
        "2.15",
        Some(soft),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(
        b["server_group"]["policies"],
        json!(["soft-anti-affinity"]),
        "{b}"
    );
    // An unknown group in the hint is the caller's mistake.
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        "2.1",
        Some(
            json!({"server": {"name": "x", "imageRef": cloud.image_id, "flavorRef": "1"},
                    "os:scheduler_hints": {"group": "8a1f1e7c-1111-4a4a-9b9b-000000000000"}}),
        ),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // Admins see every project's groups with all_projects, their own without.
    let (_, mine) = call(&cloud, Method::GET, "/os-server-groups", "2.13", None).await;
    let (_, all) = call(
        &cloud,
        Method::GET,
        "/os-server-groups?all_projects=1",
        "2.13",
        None,
    )
    .await;
    let names = |v: &Value| -> Vec<String> {
        v["server_groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!names(&mine).contains(&"anti".to_string()), "{mine}");
    assert!(names(&all).contains(&"anti".to_string()), "{all}");
    // The project's groups are what it has used of its server_groups
    // quota: in /limits and in the quota set's detail.
    let own = names(&mine).len() as i64;
    assert!(own >= 2, "{mine}");
    let (_, l) = call(&cloud, Method::GET, "/limits", "2.1", None).await;
    assert_eq!(l["limits"]["absolute"]["totalServerGroupsUsed"], own, "{l}");
    let path = format!("/os-quota-sets/{}/detail", cloud.admin_project);
    let (s, q) = call(&cloud, Method::GET, &path, "2.1", None).await;
    assert_eq!(s, 200, "{q}");
    assert_eq!(q["quota_set"]["server_groups"]["in_use"], own, "{q}");
    // Delete: gone, then 404.
    cloud.osc("demo", &["server", "group", "delete", "aff"]);
    let (s, _) = call(
        &cloud,
        Method::GET,
        &format!("/os-server-groups/{aff_id}"),
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
}

/// `openstack server create` as demo, waiting until it settles; as an admin sees it.
async fn create_settled(cloud: &Cloud, name: &str, image: &str, flavor: &str) -> Value {
    let created = json_out(&cloud.osc(
        "demo",
        &[
            "server", "create", "--image", image, "--flavor", flavor, "-f", "json", name,
        ],
    ));
    settled(cloud, created["id"].as_str().unwrap()).await
}

/// The fault of a server that found no host names the filter that removed
/// the last hosts.
fn assert_no_valid_host(srv: &Value, filter: &str) {
    assert_eq!(srv["status"], "ERROR", "{srv}");
    let fault = srv["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.starts_with("No valid host was found."), "{srv}");
    let details = srv["fault"]["details"].as_str().unwrap_or_default();
    assert!(
        details.contains(&format!("Filter {filter} returned 0 hosts")),
        "{srv}"
    );
}

/// A public Glance image (a small raw disk) with these `key=value` properties; its id.
fn image_with(cloud: &Cloud, name: &str, props: &[&str]) -> String {
    let disk = cloud.dir.join("props.raw");
    if !disk.exists() {
        std::fs::write(&disk, vec![0u8; 65536]).unwrap();
    }
    let mut args = vec![
        "image",
        "create",
        "--disk-format",
        "raw",
        "--container-format",
        "bare",
        "--public",
        "--file",
        disk.to_str().unwrap(),
        "-f",
        "json",
    ];
    for p in props {
        args.extend(["--property", p]);
    }
    args.push(name);
    json_out(&cloud.osc("admin", &args))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// A cloud with two fake compute hosts, `e2e-<tag>a-<id>` and
/// `e2e-<tag>b-<id>`, each with its extra config; and their names.
async fn two_host_cloud(tag: &str, confs: [&str; 2]) -> (Cloud, String, String) {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-{tag}a-{id}"), confs[0]),
                ComputeHost::fake(format!("e2e-{tag}b-{id}"), confs[1]),
            ]
        },
        true,
    )
    .await;
    let (a, b) = (
        format!("e2e-{tag}a-{}", cloud.id),
        format!("e2e-{tag}b-{}", cloud.id),
    );
    (cloud, a, b)
}

/// Nova's default filters ImagePropertiesFilter and ComputeCapabilitiesFilter,
/// through Glance image properties and flavor extra specs set with the CLI:
/// the fake hosts run x86_64 `fake` hvm guests (as Nova's fake driver
/// advertises), so an aarch64 or a kvm-only image finds no host, an x86_64
/// one does; a flavor asking for another hypervisor type finds no host, one
/// asking for a host by name lands on it each time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn images_and_flavors_choose_the_hosts_that_run_them() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-ipa-{id}"), ""),
                ComputeHost::fake(format!("e2e-ipb-{id}"), ""),
            ]
        },
        true,
    )
    .await;
    // The aggregate filters too (not in the default list).
    cloud.restart_with_conf(
        "nova-scheduler",
        &format!(
            "[filter_scheduler]\nenabled_filters = {E2E_ENABLED_FILTERS},AggregateInstanceExtraSpecsFilter,AggregateMultiTenancyIsolation\n"
        ),
    );
    cloud.unlimited_quota(&cloud.demo_project).await;
    let image = |name: &str, props: &[&str]| image_with(&cloud, name, props);

    // ===== ImagePropertiesFilter =====
    let arm = image("arm", &["architecture=aarch64"]);
    assert_no_valid_host(
        &create_settled(&cloud, "arm", &arm, "m1.tiny").await,
        "ImagePropertiesFilter",
    );
    let kvm = image("kvm-only", &["hw_architecture=x86_64", "img_hv_type=kvm"]);
    assert_no_valid_host(
        &create_settled(&cloud, "kvm", &kvm, "m1.tiny").await,
        "ImagePropertiesFilter",
    );
    let x86 = image(
        "x86",
        &[
            "hw_architecture=amd64",
            "img_hv_type=fake",
            "hw_vm_mode=hvm",
        ],
    );
    let srv = create_settled(&cloud, "x86", &x86, "m1.tiny").await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");

    // ===== ComputeCapabilitiesFilter =====
    let flavor = |name: &str, spec: &str| {
        cloud.osc(
            "admin",
            &[
                "flavor",
                "create",
                "--ram",
                "512",
                "--disk",
                "1",
                "--vcpus",
                "1",
                "--property",
                spec,
                name,
            ],
        );
    };
    flavor("on-kvm", "capabilities:hypervisor_type=s== kvm");
    assert_no_valid_host(
        &create_settled(&cloud, "c1", &cloud.image_id, "on-kvm").await,
        "ComputeCapabilitiesFilter",
    );
    let (_, hosts) = call(&cloud, Method::GET, "/os-hypervisors/detail", "2.1", None).await;
    let second = hosts["hypervisors"][1]["service"]["host"]
        .as_str()
        .unwrap()
        .to_string();
    flavor(
        "on-second",
        &format!("capabilities:host=<or> nowhere <or> {second}"),
    );
    for name in ["c2", "c3", "c4"] {
        let srv = create_settled(&cloud, name, &cloud.image_id, "on-second").await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], second.as_str(), "{srv}");
    }

    // ===== the aggregate filters =====
    let first = hosts["hypervisors"][0]["service"]["host"]
        .as_str()
        .unwrap()
        .to_string();
    // AggregateInstanceExtraSpecsFilter: a flavor asking for ssd lands on
    // the host of the aggregate that has it, every time.
    cloud.osc(
        "admin",
        &["aggregate", "create", "--property", "ssd=true", "fast"],
    );
    cloud.osc("admin", &["aggregate", "add", "host", "fast", &first]);
    flavor("on-ssd", "aggregate_instance_extra_specs:ssd=true");
    for name in ["s1", "s2", "s3"] {
        let srv = create_settled(&cloud, name, &cloud.image_id, "on-ssd").await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], first.as_str(), "{srv}");
    }
    flavor("on-nvme", "aggregate_instance_extra_specs:nvme=true");
    assert_no_valid_host(
        &create_settled(&cloud, "n1", &cloud.image_id, "on-nvme").await,
        "AggregateInstanceExtraSpecsFilter",
    );
    // AggregateMultiTenancyIsolation: the second host kept for the admin
    // project takes none of demo's servers.
    let admin_project = cloud
        .osc(
            "admin",
            &["token", "issue", "-f", "value", "-c", "project_id"],
        )
        .trim()
        .to_string();
    cloud.osc(
        "admin",
        &[
            "aggregate",
            "create",
            "--property",
            &format!("filter_tenant_id={admin_project}"),
            "private",
        ],
    );
    cloud.osc("admin", &["aggregate", "add", "host", "private", &second]);
    for name in ["t1", "t2"] {
        let srv = create_settled(&cloud, name, &cloud.image_id, "m1.tiny").await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], first.as_str(), "{srv}");
    }
    assert_no_valid_host(
        &create_settled(&cloud, "t3", &cloud.image_id, "on-second").await,
        "AggregateMultiTenancyIsolation",
    );
}

/// `openstack server create --availability-zone <az>` as demo, waiting
/// until it settles; as an admin sees it.
async fn create_in_zone(cloud: &Cloud, name: &str, zone: &str) -> Value {
    let created = json_out(&cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--availability-zone",
            zone,
            "-f",
            "json",
            name,
        ],
    ));
    settled(cloud, created["id"].as_str().unwrap()).await
}

/// The zone each server shows (the zone of the host it is on, as it is now).
async fn zones_of(cloud: &Cloud, ids: &[String]) -> Vec<String> {
    let mut zones = vec![];
    for id in ids {
        let srv = settled(cloud, id).await;
        zones.push(
            srv["OS-EXT-AZ:availability_zone"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    zones
}

/// Each zone of `openstack availability zone list` and whether it is available.
fn zone_list(cloud: &Cloud, who: &str) -> Vec<(String, String)> {
    let mut zones: Vec<(String, String)> = json_out(&cloud.osc(
        who,
        &["availability", "zone", "list", "--compute", "-f", "json"],
    ))
    .as_array()
    .unwrap()
    .iter()
    .map(|z| {
        (
            z["Zone Name"].as_str().unwrap().to_string(),
            z["Zone Status"].as_str().unwrap().to_string(),
        )
    })
    .collect();
    zones.sort();
    zones
}

/// Availability zones from host aggregates, with the CLI: an aggregate
/// with a zone puts its hosts in it (zone list, compute service list);
/// servers asked into a zone land on its hosts and show it; a server asked
/// into no zone shows its host's; a zone with no enabled host is refused
/// (400); a zone's name cannot change while its hosts have servers, nor be
/// removed (400, Nova's messages); moving every host into the zone makes
/// the default zone vanish and puts the servers of the host moved in it; a
/// cold migration stays in the server's zone and shows the destination's; a
/// host leaving the zone takes its servers back into the default zone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_aggregates_make_availability_zones() {
    let (mut cloud, a, b) = two_host_cloud("az", ["", ""]).await;
    let up = |z: &str| (z.to_string(), "available".to_string());
    assert_eq!(zone_list(&cloud, "demo"), [up("nova")]);

    // ===== an aggregate makes zone az1 of host b =====
    cloud.osc("admin", &["aggregate", "create", "--zone", "az1", "agg1"]);
    cloud.osc("admin", &["aggregate", "add", "host", "agg1", &b]);
    assert_eq!(zone_list(&cloud, "demo"), [up("az1"), up("nova")]);
    let services = json_out(&cloud.osc(
        "admin",
        &[
            "compute",
            "service",
            "list",
            "--service",
            "nova-compute",
            "-f",
            "json",
        ],
    ));
    let zone_of = |host: &str| {
        services
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Host"] == host)
            .map(|s| s["Zone"].as_str().unwrap().to_string())
    };
    assert_eq!(zone_of(&a).as_deref(), Some("nova"), "{services}");
    assert_eq!(zone_of(&b).as_deref(), Some("az1"), "{services}");

    let (mut on_a, mut on_b) = (vec![], vec![]);
    for i in 0..2 {
        let srv = create_in_zone(&cloud, &format!("in-az1-{i}"), "az1").await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], b.as_str(), "{srv}");
        assert_eq!(srv["OS-EXT-AZ:availability_zone"], "az1", "{srv}");
        on_b.push(srv["id"].as_str().unwrap().to_string());
        let srv = create_in_zone(&cloud, &format!("in-nova-{i}"), "nova").await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], a.as_str(), "{srv}");
        assert_eq!(srv["OS-EXT-AZ:availability_zone"], "nova", "{srv}");
        on_a.push(srv["id"].as_str().unwrap().to_string());
    }

    // ===== a zone's name cannot change under servers, nor be removed =====
    for args in [
        &["aggregate", "set", "--zone", "az2", "agg1"][..],
        &[
            "aggregate",
            "set",
            "--property",
            "availability_zone=az2",
            "agg1",
        ][..],
    ] {
        let (ok, _, err) = cloud.openstack("admin", args);
        assert!(!ok, "{args:?} was accepted");
        assert!(
            err.contains("One or more hosts contain instances in this zone") && err.contains("400"),
            "{args:?}: {err}"
        );
    }
    let (ok, _, err) = cloud.openstack(
        "admin",
        &[
            "aggregate",
            "unset",
            "--property",
            "availability_zone",
            "agg1",
        ],
    );
    assert!(!ok, "the zone was removed");
    assert!(
        err.contains("Aggregate agg1 does not support empty named availability zone")
            && err.contains("400"),
        "{err}"
    );
    cloud.osc("admin", &["aggregate", "set", "--zone", "az1", "agg1"]);
    cloud.osc(
        "admin",
        &["aggregate", "set", "--property", "rack=r1", "agg1"],
    );
    assert_eq!(zone_list(&cloud, "demo"), [up("az1"), up("nova")]);
    cloud.osc(
        "admin",
        &["aggregate", "create", "--zone", "empty", "agg-empty"],
    );
    cloud.osc(
        "admin",
        &["aggregate", "set", "--zone", "renamed", "agg-empty"],
    );
    cloud.osc("admin", &["aggregate", "delete", "agg-empty"]);
    let any = create_settled(&cloud, "anywhere", &cloud.image_id, "m1.tiny").await;
    let expected = if any["OS-EXT-SRV-ATTR:host"] == b.as_str() {
        "az1"
    } else {
        "nova"
    };
    assert_eq!(any["OS-EXT-AZ:availability_zone"], expected, "{any}");
    let (ok, _, err) = cloud.openstack(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--availability-zone",
            "nope",
            "nowhere",
        ],
    );
    assert!(!ok, "a server in zone nope was accepted");
    assert!(
        err.contains("The requested availability zone is not available") && err.contains("400"),
        "{err}"
    );

    // ===== a resize takes a server that named no zone into its
    // destination's zone; a revert brings it back into its host's =====
    cloud.osc(
        "admin",
        &[
            "flavor", "create", "--ram", "1024", "--disk", "1", "--vcpus", "2", "bigger",
        ],
    );
    let id = any["id"].as_str().unwrap().to_string();
    cloud.osc("demo", &["server", "resize", "--flavor", "bigger", &id]);
    let resized = settled(&cloud, &id).await;
    assert_eq!(resized["status"], "VERIFY_RESIZE", "{resized}");
    let other = if expected == "az1" { "nova" } else { "az1" };
    assert_eq!(resized["OS-EXT-AZ:availability_zone"], other, "{resized}");
    cloud.osc("demo", &["server", "resize", "revert", &id]);
    let reverted = cloud
        .wait_for("the revert", 60, || async {
            let srv = settled(&cloud, &id).await;
            (srv["status"] == "ACTIVE").then_some(srv)
        })
        .await;
    assert_eq!(
        reverted["OS-EXT-SRV-ATTR:host"],
        any["OS-EXT-SRV-ATTR:host"]
    );
    assert_eq!(
        reverted["OS-EXT-AZ:availability_zone"], expected,
        "{reverted}"
    );

    // ===== [DEFAULT] default_schedule_zone: a server that names no zone
    // is scheduled into it and kept there =====
    cloud.restart_with_conf("nova-api", "[DEFAULT]\ndefault_schedule_zone = az1\n");
    cloud.wait_for_api().await;
    for i in 0..2 {
        let srv = create_settled(
            &cloud,
            &format!("default-zone-{i}"),
            &cloud.image_id,
            "m1.tiny",
        )
        .await;
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], b.as_str(), "{srv}");
        assert_eq!(srv["OS-EXT-AZ:availability_zone"], "az1", "{srv}");
    }
    cloud.restart_with_conf("nova-api", "");
    cloud.wait_for_api().await;

    // ===== both hosts in az1: the default zone has no host left; the
    // servers on a are in az1 with it =====
    cloud.osc("admin", &["aggregate", "add", "host", "agg1", &a]);
    assert_eq!(zone_list(&cloud, "demo"), [up("az1")]);
    assert_eq!(zones_of(&cloud, &on_a).await, ["az1", "az1"]);
    let (ok, _, err) = cloud.openstack(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--availability-zone",
            "nova",
            "in-nova-again",
        ],
    );
    assert!(!ok && err.contains("400"), "{err}");
    // The scheduler knows at once: a server asked into az1 may now land on a.
    let pinned = create_in_zone(&cloud, "pinned", "az1").await;
    let from = pinned["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    let id = pinned["id"].as_str().unwrap().to_string();
    cloud.osc("admin", &["server", "migrate", "--wait", &id]);
    cloud.osc("admin", &["server", "resize", "confirm", &id]);
    let moved = settled(&cloud, &id).await;
    assert_eq!(moved["status"], "ACTIVE", "{moved}");
    assert_ne!(moved["OS-EXT-SRV-ATTR:host"], from.as_str(), "{moved}");
    assert_eq!(moved["OS-EXT-AZ:availability_zone"], "az1", "{moved}");

    // ===== the aggregate gone: every host in the default zone again =====
    cloud.osc("admin", &["aggregate", "remove", "host", "agg1", &a]);
    assert_eq!(zones_of(&cloud, &on_a).await, ["nova", "nova"]);
    assert_eq!(zones_of(&cloud, &on_b).await, ["az1", "az1"]);
    cloud.osc("admin", &["aggregate", "remove", "host", "agg1", &b]);
    assert_eq!(zones_of(&cloud, &on_b).await, ["nova", "nova"]);
    cloud.osc("admin", &["aggregate", "delete", "agg1"]);
    assert_eq!(zone_list(&cloud, "demo"), [up("nova")]);
    let srv = create_in_zone(&cloud, "back-in-nova", "nova").await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_eq!(srv["OS-EXT-AZ:availability_zone"], "nova", "{srv}");
}

/// `openstack server create` as demo with `extra` options (hints), settled.
async fn create_with(
    cloud: &Cloud,
    name: &str,
    image: &str,
    flavor: &str,
    extra: &[&str],
) -> Value {
    let mut args = vec![
        "server", "create", "--image", image, "--flavor", flavor, "-f", "json",
    ];
    args.extend_from_slice(extra);
    args.push(name);
    let created = json_out(&cloud.osc("demo", &args));
    settled(cloud, created["id"].as_str().unwrap()).await
}

/// A server that must be ACTIVE on `host`.
fn assert_on(srv: &Value, host: &str) {
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], host, "{srv}");
}

/// How many servers each host holds, as the API lists them.
async fn servers_per_host(cloud: &Cloud) -> BTreeMap<String, usize> {
    let (_, b) = call(
        cloud,
        Method::GET,
        "/servers/detail?all_tenants=1",
        "2.1",
        None,
    )
    .await;
    let mut n = BTreeMap::new();
    for s in b["servers"].as_array().unwrap() {
        if let Some(h) = s["OS-EXT-SRV-ATTR:host"].as_str() {
            *n.entry(h.to_string()).or_insert(0) += 1;
        }
    }
    n
}

/// The rest of Nova's filters, each enabled in nova.conf as an operator
/// would and driven through the CLI: SimpleCIDRAffinityFilter and JsonFilter
/// (scheduler hints; a bad hint is a 400), AggregateTypeAffinityFilter and
/// AggregateImagePropertiesIsolation (aggregate metadata), IsolatedHostsFilter
/// (`isolated_images`/`isolated_hosts`), NumInstancesFilter with
/// AggregateNumInstancesFilter (`max_instances_per_host`, in nova.conf and
/// on an aggregate), IoOpsFilter (`max_io_ops_per_host`, builds in flight);
/// AllHostsFilter
/// rides along. Every NoValidHost names the filter that removed the last host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_of_novas_filters() {
    let (mut cloud, a, b) = two_host_cloud(
        "rf",
        [
            "[DEFAULT]\nmy_ip = 10.255.1.1\n",
            "[DEFAULT]\nmy_ip = 10.255.2.1\n",
        ],
    )
    .await;
    cloud.unlimited_quota(&cloud.demo_project).await;
    let filters = format!(
        "{E2E_ENABLED_FILTERS},AllHostsFilter,SimpleCIDRAffinityFilter,JsonFilter,\
         AggregateTypeAffinityFilter,AggregateImagePropertiesIsolation,IsolatedHostsFilter,\
         NumInstancesFilter,AggregateNumInstancesFilter,IoOpsFilter,AggregateIoOpsFilter"
    );
    let scheduler_conf = |extra: &str| {
        format!("[filter_scheduler]\nenabled_filters = {filters}\n{extra}[scheduler]\nperiodic_task_interval = -1\n")
    };
    cloud.restart_with_conf("nova-scheduler", &scheduler_conf(""));
    let image = &cloud.image_id.clone();

    // ===== SimpleCIDRAffinityFilter: near the host whose my_ip is in the network =====
    for i in 0..2 {
        let srv = create_with(
            &cloud,
            &format!("near-b-{i}"),
            image,
            "m1.tiny",
            &["--hint", "build_near_host_ip=10.255.2.77"],
        )
        .await;
        assert_on(&srv, &b);
    }
    let srv = create_with(
        &cloud,
        "near-a",
        image,
        "m1.tiny",
        &[
            "--hint",
            "build_near_host_ip=10.255.0.9",
            "--hint",
            "cidr=/23",
        ],
    )
    .await;
    assert_on(&srv, &a);
    assert_no_valid_host(
        &create_with(
            &cloud,
            "near-none",
            image,
            "m1.tiny",
            &["--hint", "build_near_host_ip=192.0.2.1"],
        )
        .await,
        "SimpleCIDRAffinityFilter",
    );
    let (ok, _, err) = cloud.openstack(
        "demo",
        &[
            "server",
            "create",
            "--image",
            image,
            "--flavor",
            "m1.tiny",
            "--hint",
            "build_near_host_ip=nope",
            "bad-hint",
        ],
    );
    assert!(
        !ok && err.contains("400") && err.contains("build_near_host_ip"),
        "{err}"
    );

    // ===== JsonFilter: the query hint over the host's attributes =====
    let query = format!(r#"query=["and", ["=", "$host", "{a}"], [">=", "$free_ram_mb", 512]]"#);
    for i in 0..2 {
        let srv = create_with(
            &cloud,
            &format!("query-a-{i}"),
            image,
            "m1.tiny",
            &["--hint", &query],
        )
        .await;
        assert_on(&srv, &a);
    }
    assert_no_valid_host(
        &create_with(
            &cloud,
            "query-none",
            image,
            "m1.tiny",
            &["--hint", r#"query=["=", "$host", "no-such-host"]"#],
        )
        .await,
        "JsonFilter",
    );

    // ===== AggregateTypeAffinityFilter: a kept for m1.tiny =====
    cloud.osc(
        "admin",
        &[
            "aggregate",
            "create",
            "--property",
            "instance_type=m1.tiny",
            "tiny-only",
        ],
    );
    cloud.osc("admin", &["aggregate", "add", "host", "tiny-only", &a]);
    cloud.osc(
        "admin",
        &[
            "flavor", "create", "--ram", "512", "--disk", "1", "--vcpus", "1", "other",
        ],
    );
    for i in 0..3 {
        let srv = create_with(&cloud, &format!("other-{i}"), image, "other", &[]).await;
        assert_on(&srv, &b);
    }

    // ===== AggregateImagePropertiesIsolation: a runs debian, b fedora =====
    cloud.osc(
        "admin",
        &[
            "aggregate",
            "set",
            "--property",
            "os_distro=debian",
            "tiny-only",
        ],
    );
    cloud.osc(
        "admin",
        &[
            "aggregate",
            "create",
            "--property",
            "os_distro=fedora",
            "fedora",
        ],
    );
    cloud.osc("admin", &["aggregate", "add", "host", "fedora", &b]);
    let distro_image =
        |name: &str, distro: &str| image_with(&cloud, name, &[&format!("os_distro={distro}")]);
    let debian = distro_image("debian", "debian");
    let ubuntu = distro_image("ubuntu", "ubuntu");
    for i in 0..2 {
        let srv = create_with(&cloud, &format!("debian-{i}"), &debian, "m1.tiny", &[]).await;
        assert_on(&srv, &a);
    }
    assert_no_valid_host(
        &create_with(&cloud, "ubuntu", &ubuntu, "m1.tiny", &[]).await,
        "AggregateImagePropertiesIsolation",
    );
    for (agg, host) in [("tiny-only", &a), ("fedora", &b)] {
        cloud.osc("admin", &["aggregate", "remove", "host", agg, host]);
        cloud.osc("admin", &["aggregate", "delete", agg]);
    }

    // ===== IsolatedHostsFilter: a kept for the debian image =====
    cloud.restart_with_conf(
        "nova-scheduler",
        &scheduler_conf(&format!(
            "isolated_images = {debian}\nisolated_hosts = {a}\n"
        )),
    );
    for i in 0..2 {
        let srv = create_with(&cloud, &format!("iso-{i}"), &debian, "m1.tiny", &[]).await;
        assert_on(&srv, &a);
        let srv = create_with(&cloud, &format!("not-iso-{i}"), &ubuntu, "m1.tiny", &[]).await;
        assert_on(&srv, &b);
    }

    // ===== NumInstancesFilter and AggregateNumInstancesFilter: room for
    // one more on a (its aggregate's cap), and on b up to nova.conf's cap
    // (two more than either host holds) =====
    let n = servers_per_host(&cloud).await;
    let (on_a, on_b) = (n[&a], n[&b]);
    let max = on_a.max(on_b) + 2;
    cloud.restart_with_conf(
        "nova-scheduler",
        &scheduler_conf(&format!("max_instances_per_host = {max}\n")),
    );
    cloud.osc(
        "admin",
        &[
            "aggregate",
            "create",
            "--property",
            &format!("max_instances_per_host={}", on_a + 1),
            "cap",
        ],
    );
    cloud.osc("admin", &["aggregate", "add", "host", "cap", &a]);
    for i in 0..1 + (max - on_b) {
        let srv = create_with(&cloud, &format!("count-{i}"), image, "m1.tiny", &[]).await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
    }
    let n = servers_per_host(&cloud).await;
    assert_eq!((n[&a], n[&b]), (on_a + 1, max), "{n:?}");
    assert_no_valid_host(
        &create_with(&cloud, "count-none", image, "m1.tiny", &[]).await,
        "AggregateNumInstancesFilter",
    );
    cloud.osc("admin", &["aggregate", "remove", "host", "cap", &a]);
    cloud.osc("admin", &["aggregate", "delete", "cap"]);

    // ===== IoOpsFilter: one build at a time per host. Builds take 15 s
    // (the fake driver's spawn); while two spawn, one on each host, a third
    // finds no host, even after the scheduler reads the hosts' workload
    // again (as it does when a request finds none) =====
    for host in [&a, &b] {
        cloud.restart_with_conf(
            &format!("nova-compute@{host}"),
            "[fake]\nspawn_seconds = 15\n",
        );
    }
    cloud.restart_with_conf(
        "nova-scheduler",
        &scheduler_conf("max_io_ops_per_host = 1\n"),
    );
    let mut spawning = vec![];
    for i in 0..2 {
        let created = json_out(&cloud.osc(
            "demo",
            &[
                "server",
                "create",
                "--image",
                image,
                "--flavor",
                "m1.tiny",
                "-f",
                "json",
                &format!("io-{i}"),
            ],
        ));
        spawning.push(created["id"].as_str().unwrap().to_string());
    }
    assert_no_valid_host(
        &create_with(&cloud, "io-none", image, "m1.tiny", &[]).await,
        "IoOpsFilter",
    );
    let mut placed = vec![];
    for id in &spawning {
        let srv = settled(&cloud, id).await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        placed.push(srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string());
    }
    placed.sort();
    assert_eq!(placed, [a.clone(), b.clone()]);
    // The builds done, the hosts take builds again.
    let srv = create_with(&cloud, "io-again", image, "m1.tiny", &[]).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
}
