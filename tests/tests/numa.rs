//! NUMA topologies and CPU pinning end to end, on two fake compute hosts
//! that report two NUMA cells each (`[fake] numa_cells`), one CPU of each
//! cell shared and one dedicated (`[compute] cpu_shared_set`,
//! `cpu_dedicated_set`), and nova-scheduler running NUMATopologyFilter.
//!
//! Flavors made with the `openstack` CLI ask for pinning
//! (`hw:cpu_policy=dedicated`) and for guest NUMA cells (`hw:numa_nodes`):
//! the cloud holds exactly four pinned vCPUs, so the fifth pinned server
//! ends in ERROR with a fault naming NUMATopologyFilter; a deleted server
//! frees its CPU; a cold migration moves a pinned server's CPU from its
//! source to its destination (the source takes a new server after the
//! confirm, the destination no more), and so does a live migration.
//! Flavors and images that ask for a topology Nova refuses get Nova's 400
//! on create and resize, and an image that would change the topology is
//! refused on rebuild. A server's topology (2.78) shows its cells, and
//! to admins their host cells and pinned CPUs.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

/// Two cells of two CPUs: CPUs 0 and 2 shared, 1 and 3 dedicated.
const NUMA_HOST: &str = "[fake]\nnuma_cells = 2\nnuma_cpus_per_cell = 2\n\
                         [compute]\ncpu_shared_set = 0,2\ncpu_dedicated_set = 1,3\n";

const FILTERS: &str = "[filter_scheduler]\nenabled_filters = ComputeFilter,RamFilter,\
                       CoreFilter,DiskFilter,ImagePropertiesFilter,NUMATopologyFilter\n";

async fn boot(cloud: &Cloud, name: &str, flavor: &str) -> String {
    let (s, b) = call(
        cloud,
        Method::POST,
        "/servers",
        &cloud.demo,
        "2.1",
        Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": flavor}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    b["server"]["id"].as_str().unwrap().to_string()
}

async fn show(cloud: &Cloud, id: &str) -> Value {
    let (s, b) = call(
        cloud,
        Method::GET,
        &format!("/servers/{id}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["server"].clone()
}

/// Wait for the server to settle (no task) in `status`.
async fn settled(cloud: &Cloud, id: &str, status: &str) -> Value {
    cloud
        .wait_for(&format!("{id} to settle in {status}"), 60, || async {
            let srv = show(cloud, id).await;
            (srv["status"] == status && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

fn host_of(srv: &Value) -> String {
    srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string()
}

fn flavor(cloud: &Cloud, name: &str, vcpus: &str, props: &[&str]) -> String {
    let mut args = vec![
        "flavor", "create", "--vcpus", vcpus, "--ram", "256", "--disk", "1", "-f", "value", "-c",
        "id",
    ];
    for p in props {
        args.extend(["--property", p]);
    }
    args.push(name);
    cloud.osc("admin", &args).trim().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pinned_servers_take_dedicated_cpus_until_none_is_left() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-numa-{id}"), NUMA_HOST),
                ComputeHost::fake(format!("e2e-numb-{id}"), NUMA_HOST),
            ]
        },
        true,
    )
    .await;
    let hosts = [
        format!("e2e-numa-{}", cloud.id),
        format!("e2e-numb-{}", cloud.id),
    ];
    cloud.restart_with_conf("nova-scheduler", FILTERS);
    cloud.wait_for_scheduler_hosts(&hosts).await;
    cloud.unlimited_quota(&cloud.demo_project.clone()).await;
    let pinned = flavor(&cloud, "pinned", "1", &["hw:cpu_policy=dedicated"]);
    let two_cells = flavor(&cloud, "two-cells", "2", &["hw:numa_nodes=2"]);

    // Four dedicated CPUs in the cloud, two per host: four pinned servers.
    let mut ids = vec![];
    for i in 0..4 {
        ids.push(boot(&cloud, &format!("pin-{i}"), &pinned).await);
    }
    let mut per_host = std::collections::BTreeMap::<String, Vec<String>>::new();
    for id in &ids {
        let srv = settled(&cloud, id, "ACTIVE").await;
        per_host.entry(host_of(&srv)).or_default().push(id.clone());
    }
    assert_eq!(
        per_host.values().map(Vec::len).collect::<Vec<_>>(),
        [2, 2],
        "two pinned servers on each host: {per_host:?}"
    );
    // The fifth finds no dedicated CPU left.
    let fifth = boot(&cloud, "pin-4", &pinned).await;
    let srv = settled(&cloud, &fifth, "ERROR").await;
    let fault = srv["fault"].to_string();
    assert!(fault.contains("No valid host"), "{srv}");
    assert!(fault.contains("NUMATopologyFilter"), "{srv}");
    // Unpinned servers with two guest cells still fit: the shared CPUs are free.
    let cells = boot(&cloud, "cells", &two_cells).await;
    settled(&cloud, &cells, "ACTIVE").await;

    // Their topologies (2.78): the host's side for admins only.
    let topology = |id: String, token: String, mv: &'static str| {
        let cloud = &cloud;
        async move {
            let path = format!("/servers/{id}/topology");
            call(cloud, Method::GET, &path, &token, mv, None).await
        }
    };
    let (s, b) = topology(ids[0].clone(), cloud.demo.clone(), "2.77").await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = topology(ids[0].clone(), cloud.admin.clone(), "2.78").await;
    assert_eq!(s, 200, "{b}");
    let node = &b["nodes"][0];
    assert_eq!(b["nodes"].as_array().unwrap().len(), 1, "{b}");
    assert_eq!(node["vcpu_set"], json!([0]), "{b}");
    let pcpu = node["cpu_pinning"]["0"].as_i64().unwrap();
    assert!([1, 3].contains(&pcpu), "pinned to a dedicated CPU: {b}");
    assert_eq!(node["host_node"], pcpu / 2, "{b}");
    // The guest's metadata names its pinned vCPUs (Victoria's
    // `dedicated_cpus`); an unpinned guest has none.
    for (id, dedicated) in [(&ids[0], json!([0])), (&cells, json!([]))] {
        let srv = show(&cloud, id).await;
        let ip = srv["addresses"]
            .as_object()
            .unwrap()
            .values()
            .next()
            .unwrap()[0]["addr"]
            .as_str()
            .unwrap()
            .to_string();
        let md = cloud.guest_meta_data(&ip).await;
        assert_eq!(md["uuid"], json!(id), "{md}");
        assert_eq!(md["dedicated_cpus"], dedicated, "{md}");
    }
    let (_, b) = topology(cells.clone(), cloud.demo.clone(), "2.78").await;
    assert_eq!(
        b,
        json!({"nodes": [
            {"vcpu_set": [0], "siblings": [], "memory_mb": 128},
            {"vcpu_set": [1], "siblings": [], "memory_mb": 128},
        ], "pagesize_kb": null}),
        "{b}"
    );
    let out = cloud.osc(
        "admin",
        &[
            "--os-compute-api-version",
            "2.78",
            "server",
            "show",
            "--topology",
            "-f",
            "json",
            &cells,
        ],
    );
    let shown: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(shown["topology"]["nodes"][1]["host_node"], 1, "{out}");

    // A deleted server frees its CPU.
    let (a, b_host) = (hosts[0].clone(), hosts[1].clone());
    let gone = per_host[&a][0].clone();
    cloud.osc("demo", &["server", "delete", "--wait", &gone]);
    let again = boot(&cloud, "pin-again", &pinned).await;
    assert_eq!(host_of(&settled(&cloud, &again, "ACTIVE").await), a);
    cloud.osc("demo", &["server", "delete", "--wait", &again]);

    // A cold migration moves a pinned CPU from host b to host a.
    let moving = per_host[&b_host][0].clone();
    let out = cloud.openstack(
        "admin",
        &[
            "--os-compute-api-version",
            "2.56",
            "server",
            "migrate",
            "--host",
            &a,
            &moving,
        ],
    );
    assert!(out.0, "{out:?}");
    settled(&cloud, &moving, "VERIFY_RESIZE").await;
    cloud.osc("admin", &["server", "resize", "confirm", &moving]);
    assert_eq!(host_of(&settled(&cloud, &moving, "ACTIVE").await), a);
    // Host a is full again; host b has the CPU the migration left.
    let next = boot(&cloud, "pin-next", &pinned).await;
    assert_eq!(host_of(&settled(&cloud, &next, "ACTIVE").await), b_host);
    let last = boot(&cloud, "pin-last", &pinned).await;
    settled(&cloud, &last, "ERROR").await;

    // A live migration moves one too: b's CPU is free after it.
    cloud.osc("demo", &["server", "delete", "--wait", &moving]);
    let out = cloud.openstack(
        "admin",
        &[
            "--os-compute-api-version",
            "2.30",
            "server",
            "migrate",
            "--live-migration",
            "--host",
            &a,
            &next,
        ],
    );
    assert!(out.0, "{out:?}");
    assert_eq!(host_of(&settled(&cloud, &next, "ACTIVE").await), a);
    let after = boot(&cloud, "pin-after", &pinned).await;
    assert_eq!(host_of(&settled(&cloud, &after, "ACTIVE").await), b_host);

    // Topologies Nova refuses, with Nova's messages.
    let asym = flavor(&cloud, "asym", "2", &["hw:numa_nodes=3"]);
    let (ok, _, err) = cloud.openstack(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            &asym,
            "asym",
        ],
    );
    assert!(!ok);
    assert!(
        err.contains(
            "Instance CPUs and/or memory cannot be evenly distributed across instance NUMA nodes"
        ) && err.contains("BadRequestException: 400"),
        "{err}"
    );
    let bad_policy = flavor(
        &cloud,
        "thread-only",
        "1",
        &["hw:cpu_thread_policy=isolate"],
    );
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{cells}/action"),
        &cloud.demo,
        "2.1",
        Some(json!({"resize": {"flavorRef": bad_policy}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        "Cannot set cpu thread pinning policy in a non dedicated cpu pinning policy"
    );
    // An image asking for pinning cannot replace the image of an unpinned server.
    let pin_image =
        nova_e2e::upload_image(&cloud.http, &cloud.glance, "pin-image", Some(&cloud.admin)).await;
    cloud.osc(
        "admin",
        &[
            "image",
            "set",
            "--property",
            "hw_cpu_policy=dedicated",
            &pin_image,
        ],
    );
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{cells}/action"),
        &cloud.demo,
        "2.1",
        Some(json!({"rebuild": {"imageRef": pin_image}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert!(
        b["badRequest"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("NUMA topology cannot be changed as part of a rebuild"),
        "{b}"
    );
    assert_eq!(settled(&cloud, &cells, "ACTIVE").await["status"], "ACTIVE");
}
