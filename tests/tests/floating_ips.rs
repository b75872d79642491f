//! nova-network's floating IPs and network proxy APIs end to end, on a
//! fake-driver cloud with Keystone: `nova-manage floating`, the pools,
//! allocation within quota, association (the address in the server's
//! `addresses` and `/ips`, nova-network's nat rules and the address on
//! `public_interface`), disassociation, release, `auto_assign_floating_ip`,
//! the microversion limits and bad input; curl-like HTTP, openstacksdk's
//! compute proxy and `openstack server show`. Also `os-networks`,
//! `os-tenant-networks`, `os-fixed-ips` and `os-virtual-interfaces`.

#![allow(clippy::unwrap_used)]

use nova_e2e::{bridge_name, call, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

fn message(b: &Value) -> String {
    b.as_object()
        .and_then(|o| o.values().next())
        .and_then(|f| f["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

async fn boot(cloud: &Cloud, token: &str, name: &str) -> String {
    let (s, b) = call(
        cloud,
        Method::POST,
        "/servers",
        token,
        "2.1",
        Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_for(&format!("server {id} ACTIVE"), 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;
    id
}

/// The server's addresses of one type.
async fn addresses(cloud: &Cloud, id: &str, kind: &str) -> Vec<String> {
    let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    assert_eq!(s, 200, "{b}");
    b["server"]["addresses"]["private"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|a| a["OS-EXT-IPS:type"] == kind)
        .map(|a| a["addr"].as_str().unwrap().to_string())
        .collect()
}

fn nat_rules() -> String {
    let out = Command::new("iptables-save")
        .args(["-t", "nat"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn bridge_addresses(bridge: &str) -> String {
    let out = Command::new("ip")
        .args(["-4", "addr", "show", "dev", bridge])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// Whether nova-network forwards `floating` to `fixed`: the DNAT rule in
/// this cloud's chains and the address on the bridge.
fn forwarded(cloud: &Cloud, floating: &str, fixed: &str) -> (bool, bool) {
    let net = cloud
        .iptables_binaries()
        .into_iter()
        .find(|b| b.ends_with("-net"))
        .unwrap();
    let rule = format!("-A {net}-PREROUTING -d {floating}/32 -j DNAT --to-destination {fixed}");
    (
        nat_rules().contains(&rule),
        bridge_addresses(&bridge_name(&cloud.id)).contains(&format!("{floating}/32")),
    )
}

fn sdk(cloud: &Cloud, script: &str) -> String {
    let venv = std::env::var("NOVA_VENV").unwrap_or_else(|_| "/opt/nova-rs/venv".into());
    let out = Command::new(format!("{venv}/bin/python"))
        .env("OS_CLIENT_CONFIG_FILE", cloud.dir.join("clouds.yaml"))
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "openstacksdk: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floating_ips_and_network_proxies() {
    let mut cloud = Cloud::start_with(
        |id| vec![(format!("e2e-fake-{id}"), "fake.FakeDriver")],
        true,
    )
    .await;
    let bridge = bridge_name(&cloud.id);
    // Floating IPs live on this cloud's own bridge, never on the host's eth0.
    cloud.restart_with_conf(
        "nova-network",
        &format!("[DEFAULT]\npublic_interface = {bridge}\ndefault_floating_pool = public\n"),
    );
    let n = u8::from_str_radix(&cloud.id[..2], 16).unwrap();
    let range = format!("198.18.{n}.0/29");
    let prefix = format!("198.18.{n}.");

    // nova-manage floating create / list.
    let (ok, _, err) = cloud.nova_manage(&[
        "floating",
        "create",
        "--ip_range",
        &range,
        "--pool",
        "public",
        "--interface",
        &bridge,
    ]);
    assert!(ok, "{err}");
    let (ok, _, err) =
        cloud.nova_manage(&["floating", "create", "--ip_range", &format!("{prefix}3")]);
    assert!(!ok);
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = cloud.nova_manage(&["floating", "create", "--ip_range", "10.0.0.0/31"]);
    assert!(!ok && err.contains("single address"), "{err}");
    let (ok, out, _) = cloud.nova_manage(&["floating", "list"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 6, "{out}");
    assert!(
        out.contains(&format!("None\t{prefix}1\tNone\tpublic\t{bridge}")),
        "{out}"
    );

    // Pools; the proxy APIs end at 2.35.
    let demo = cloud.demo.clone();
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-floating-ip-pools",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, b.clone()),
        (200, json!({"floating_ip_pools": [{"name": "public"}]}))
    );
    for path in [
        "/os-floating-ip-pools",
        "/os-floating-ips",
        "/os-networks",
        "/os-tenant-networks",
    ] {
        let (s, b) = call(&cloud, Method::GET, path, &demo, "2.36", None).await;
        assert_eq!(s, 404, "{path}: {b}");
        let (s, b) = call(&cloud, Method::GET, path, &demo, "2.35", None).await;
        assert_eq!(s, 200, "{path}: {b}");
    }

    // Allocation within the project's floating_ips quota (2).
    let (s, b) = call(
        &cloud,
        Method::PUT,
        &format!("/os-quota-sets/{}", cloud.demo_project),
        &cloud.admin,
        "2.1",
        Some(json!({"quota_set": {"floating_ips": 2}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["quota_set"]["floating_ips"], 2);
    let mut fips = vec![];
    for _ in 0..2 {
        let (s, b) = call(
            &cloud,
            Method::POST,
            "/os-floating-ips",
            &demo,
            "2.1",
            Some(json!({"pool": "public"})),
        )
        .await;
        assert_eq!(s, 200, "{b}");
        let f = b["floating_ip"].clone();
        assert!(f["ip"].as_str().unwrap().starts_with(&prefix), "{f}");
        assert_eq!(f["pool"], "public");
        assert!(f["fixed_ip"].is_null() && f["instance_id"].is_null(), "{f}");
        fips.push(f);
    }
    let (_, b) = call(&cloud, Method::GET, "/limits", &demo, "2.1", None).await;
    let abs = &b["limits"]["absolute"];
    assert_eq!(
        (
            abs["maxTotalFloatingIps"].clone(),
            abs["totalFloatingIpsUsed"].clone()
        ),
        (json!(2), json!(2)),
        "{b}"
    );
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-quota-sets/{}/detail", cloud.demo_project),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(b["quota_set"]["floating_ips"]["in_use"], 2, "{b}");
    let (s, b) = call(&cloud, Method::POST, "/os-floating-ips", &demo, "2.1", None).await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(message(&b), "IP allocation over quota.");
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-floating-ips",
        &demo,
        "2.1",
        Some(json!({"pool": "public"})),
    )
    .await;
    assert_eq!(
        (s, message(&b)),
        (403, "IP allocation over quota in pool public.".into())
    );
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-floating-ips",
        &cloud.alt,
        "2.1",
        Some(json!({"pool": "nope"})),
    )
    .await;
    assert_eq!(
        (s, message(&b)),
        (404, "Floating IP pool not found.".into())
    );
    let (s, _) = call(
        &cloud,
        Method::POST,
        "/os-floating-ips",
        &cloud.alt,
        "2.1",
        Some(json!({"pool": 5})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = call(
        &cloud,
        Method::POST,
        "/os-floating-ips",
        &cloud.alt,
        "2.36",
        Some(json!({})),
    )
    .await;
    assert_eq!(s, 404);
    // A project without its own limit has the default quota class's.
    let class = |n: i64| {
        let cloud = &cloud;
        async move {
            let body = json!({"quota_class_set": {"floating_ips": n}});
            let path = "/os-quota-class-sets/default";
            let (s, b) = call(cloud, Method::PUT, path, &cloud.admin, "2.1", Some(body)).await;
            assert_eq!(
                (s, &b["quota_class_set"]["floating_ips"]),
                (200, &json!(n)),
                "{b}"
            );
        }
    };
    class(1).await;
    let allocate = || {
        call(
            &cloud,
            Method::POST,
            "/os-floating-ips",
            &cloud.alt,
            "2.1",
            None,
        )
    };
    let (s, b) = allocate().await;
    assert_eq!(s, 200, "{b}");
    let alt_fip = b["floating_ip"]["id"].clone();
    let (s, b) = allocate().await;
    assert_eq!((s, message(&b)), (403, "IP allocation over quota.".into()));
    class(10).await;
    let path = format!("/os-floating-ips/{}", alt_fip.to_string().trim_matches('"'));
    let (s, b) = call(&cloud, Method::DELETE, &path, &cloud.alt, "2.1", None).await;
    assert_eq!(s, 202, "{b}");

    // List and show: the project's own only.
    let (s, b) = call(&cloud, Method::GET, "/os-floating-ips", &demo, "2.1", None).await;
    assert_eq!(s, 200);
    assert_eq!(b["floating_ips"].as_array().unwrap().len(), 2, "{b}");
    let id0 = fips[0]["id"].as_i64().unwrap();
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-floating-ips/{id0}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!((s, b["floating_ip"].clone()), (200, fips[0].clone()));
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-floating-ips/{id0}"),
        &cloud.alt,
        "2.1",
        None,
    )
    .await;
    assert_eq!(
        (s, message(&b)),
        (404, format!("Floating IP not found for ID {id0}"))
    );
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-floating-ips/abc",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!((s, message(&b)), (400, "Invalid ID received abc.".into()));

    // Associate with a server.
    let sid = boot(&cloud, &demo, "fip-vm").await;
    let fixed = addresses(&cloud, &sid, "fixed").await;
    assert_eq!(fixed.len(), 1);
    let fixed = fixed[0].clone();
    let fip0 = fips[0]["ip"].as_str().unwrap().to_string();
    let fip1 = fips[1]["ip"].as_str().unwrap().to_string();
    let action = format!("/servers/{sid}/action");
    for (body, code) in [
        (json!({"addFloatingIp": {}}), 400),
        (json!({"addFloatingIp": {"address": "nope"}}), 400),
        (json!({"addFloatingIp": {"address": fip0, "bogus": 1}}), 400),
        (
            json!({"addFloatingIp": {"address": fip0, "fixed_address": "10.99.99.99"}}),
            400,
        ),
        (json!({"addFloatingIp": {"address": "192.0.2.77"}}), 404),
        (json!({"removeFloatingIp": {"address": fip1}}), 409),
    ] {
        let (s, b) = call(
            &cloud,
            Method::POST,
            &action,
            &demo,
            "2.1",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, code, "{body}: {b}");
    }
    let add = json!({"addFloatingIp": {"address": fip0, "fixed_address": fixed}});
    let (s, _) = call(
        &cloud,
        Method::POST,
        &action,
        &cloud.alt,
        "2.1",
        Some(add.clone()),
    )
    .await;
    assert_eq!(s, 404, "another project's server does not exist");
    let (s, b) = call(&cloud, Method::POST, &action, &demo, "2.1", Some(add)).await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(
        addresses(&cloud, &sid, "floating").await,
        vec![fip0.clone()]
    );
    assert_eq!(forwarded(&cloud, &fip0, &fixed), (true, true));
    let (s, b) = cloud.get(&format!("/servers/{sid}/ips"), &demo).await;
    assert_eq!(s, 200);
    assert_eq!(
        b,
        json!({"addresses": {"private": [{"version": 4, "addr": fixed}, {"version": 4, "addr": fip0}]}})
    );
    let (s, b) = cloud
        .get(&format!("/servers/{sid}/ips/private"), &demo)
        .await;
    assert_eq!((s, b["private"].as_array().map(Vec::len)), (200, Some(2)));
    let (s, _) = cloud.get(&format!("/servers/{sid}/ips/nope"), &demo).await;
    assert_eq!(s, 404);
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-floating-ips/{id0}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(b["floating_ip"]["fixed_ip"], json!(fixed));
    assert_eq!(b["floating_ip"]["instance_id"], json!(sid));
    // Another project may not take it away.
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/os-floating-ips/{id0}"),
        &cloud.alt,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    // OSC shows it with the server.
    let show = cloud.osc("demo", &["server", "show", &sid, "-f", "json"]);
    assert!(show.contains(&fip0), "{show}");

    // Disassociate.
    let remove = json!({"removeFloatingIp": {"address": fip0}});
    let (s, b) = call(
        &cloud,
        Method::POST,
        &action,
        &demo,
        "2.1",
        Some(remove.clone()),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert!(addresses(&cloud, &sid, "floating").await.is_empty());
    assert_eq!(forwarded(&cloud, &fip0, &fixed), (false, false));
    let (s, _) = call(&cloud, Method::POST, &action, &demo, "2.1", Some(remove)).await;
    assert_eq!(s, 409);

    // The same through openstacksdk's compute proxy.
    let out = sdk(
        &cloud,
        &format!(
            "import json, openstack\n\
             c = openstack.connect(cloud='demo')\n\
             r = c.compute.post('/servers/{sid}/action', json={{'addFloatingIp': {{'address': '{fip1}'}}}}, microversion='2.1')\n\
             assert r.status_code == 202, r.text\n\
             fips = c.compute.get('/os-floating-ips', microversion='2.1').json()['floating_ips']\n\
             print(json.dumps(fips))\n"
        ),
    );
    let listed: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
    let f1 = listed.iter().find(|f| f["ip"] == json!(fip1)).unwrap();
    assert_eq!(f1["instance_id"], json!(sid));
    assert_eq!(forwarded(&cloud, &fip1, &fixed), (true, true));

    // Deleting the server disassociates its floating IP, which stays allocated.
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/servers/{sid}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 204);
    let id1 = fips[1]["id"].as_i64().unwrap();
    cloud
        .wait_for("the floating IP to be disassociated", 60, || async {
            let (_, b) = call(
                &cloud,
                Method::GET,
                &format!("/os-floating-ips/{id1}"),
                &demo,
                "2.1",
                None,
            )
            .await;
            b["floating_ip"]["fixed_ip"].is_null().then_some(())
        })
        .await;
    assert_eq!(forwarded(&cloud, &fip1, &fixed), (false, false));

    // Release: gone from the list, then 404.
    for id in [id0, id1] {
        let path = format!("/os-floating-ips/{id}");
        let (s, b) = call(&cloud, Method::DELETE, &path, &demo, "2.1", None).await;
        assert_eq!(s, 202, "{b}");
        let (s, _) = call(&cloud, Method::DELETE, &path, &demo, "2.1", None).await;
        assert_eq!(s, 404);
    }
    let (_, b) = call(&cloud, Method::GET, "/os-floating-ips", &demo, "2.1", None).await;
    assert_eq!(b["floating_ips"], json!([]));

    // auto_assign_floating_ip: a new server gets one of the default pool,
    // released again when it is deleted.
    cloud.restart_with_conf(
        "nova-network",
        &format!(
            "[DEFAULT]\npublic_interface = {bridge}\nauto_assign_floating_ip = true\ndefault_floating_pool = public\n"
        ),
    );
    let sid = boot(&cloud, &demo, "auto-vm").await;
    let auto = addresses(&cloud, &sid, "floating").await;
    assert_eq!(auto.len(), 1, "auto-assigned");
    assert!(auto[0].starts_with(&prefix));
    let afixed = addresses(&cloud, &sid, "fixed").await[0].clone();
    assert_eq!(forwarded(&cloud, &auto[0], &afixed), (true, true));
    // Not among the project's floating IPs (Nova lists only those the
    // project allocated), and not the user's to disassociate.
    let (_, b) = call(&cloud, Method::GET, "/os-floating-ips", &demo, "2.1", None).await;
    assert_eq!(b["floating_ips"], json!([]), "{b}");
    // One action per body (Nova's action_peek).
    let both =
        json!({"removeFloatingIp": {"address": auto[0]}, "addFloatingIp": {"address": auto[0]}});
    let path = format!("/servers/{sid}/action");
    let (s, b) = call(&cloud, Method::POST, &path, &demo, "2.1", Some(both)).await;
    assert_eq!((s, message(&b)), (400, "Malformed request body".into()));
    let remove = json!({"removeFloatingIp": {"address": auto[0]}});
    let (s, b) = call(
        &cloud,
        Method::POST,
        &format!("/servers/{sid}/action"),
        &demo,
        "2.1",
        Some(remove),
    )
    .await;
    assert_eq!(
        (s, message(&b)),
        (403, "Cannot disassociate auto assigned floating IP".into())
    );

    // Networks.
    let (s, b) = call(&cloud, Method::GET, "/os-networks", &demo, "2.1", None).await;
    assert_eq!(s, 200);
    let net = b["networks"][0].clone();
    assert_eq!(net["label"], "private");
    assert!(net.get("bridge").is_none(), "{net}");
    let net_id = net["id"].as_str().unwrap().to_string();
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{net_id}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(b["network"]["bridge"], json!(bridge));
    // Times as Nova's network_dict gives them: microseconds, no zone.
    let micro = |v: &Value| {
        let t = v.as_str().unwrap_or_default();
        chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.6f").is_ok() && t.len() == 26
    };
    assert!(micro(&b["network"]["created_at"]), "{b}");
    let (s, _) = call(&cloud, Method::GET, "/os-networks/nope", &demo, "2.1", None).await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/os-networks/{net_id}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 403);
    let (s, b) = call(
        &cloud,
        Method::DELETE,
        &format!("/os-networks/{net_id}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 409, "in use: {b}");
    let (s, b) = call(
        &cloud,
        Method::GET,
        "/os-tenant-networks",
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["networks"][0],
        json!({"id": net_id, "cidr": net["cidr"], "label": "private"})
    );
    // Admin: host and project association, create and delete.
    let napath = format!("/os-networks/{net_id}/action");
    for (body, field, want) in [
        (
            json!({"associate_host": "net-host-1"}),
            "host",
            json!("net-host-1"),
        ),
        (json!({"disassociate_host": null}), "host", Value::Null),
    ] {
        let (s, b) = call(
            &cloud,
            Method::POST,
            &napath,
            &cloud.admin,
            "2.1",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, 202, "{body}: {b}");
        let (_, b) = call(
            &cloud,
            Method::GET,
            &format!("/os-networks/{net_id}"),
            &cloud.admin,
            "2.1",
            None,
        )
        .await;
        assert_eq!(b["network"][field], want, "{body}");
    }
    let (s, _) = call(
        &cloud,
        Method::POST,
        &napath,
        &demo,
        "2.1",
        Some(json!({"disassociate": null})),
    )
    .await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &cloud,
        Method::POST,
        &napath,
        &cloud.admin,
        "2.1",
        Some(json!({"associate_host": 5})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-networks",
        &cloud.admin,
        "2.1",
        Some(json!({"network": {"label": "extra", "cidr": format!("10.31.{n}.0/29")}})),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let extra = b["network"]["id"].as_str().unwrap().to_string();
    assert_eq!(b["network"]["cidr"], json!(format!("10.31.{n}.0/29")));
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-networks/add",
        &cloud.admin,
        "2.1",
        Some(json!({"id": extra})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{extra}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(b["network"]["project_id"], json!(cloud.admin_project));
    // Not the demo project's: invisible to it.
    let (s, _) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{extra}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cloud,
        Method::POST,
        &format!("/os-networks/{extra}/action"),
        &cloud.admin,
        "2.1",
        Some(json!({"disassociate": null})),
    )
    .await;
    assert_eq!(s, 202);
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{extra}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert!(b["network"]["project_id"].is_null(), "{b}");
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/os-networks/{extra}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = call(
        &cloud,
        Method::GET,
        &format!("/os-networks/{extra}"),
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cloud,
        Method::POST,
        "/os-networks",
        &cloud.admin,
        "2.1",
        Some(json!({"network": {"cidr": "10.32.0.0/29"}})),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = call(
        &cloud,
        Method::POST,
        "/os-networks",
        &cloud.admin,
        "2.1",
        Some(json!({"network": {"label": "overlap", "cidr": net["cidr"]}})),
    )
    .await;
    assert_eq!(s, 409, "CidrConflict");

    // Fixed IPs (admin).
    let fpath = format!("/os-fixed-ips/{afixed}");
    let (s, _) = call(&cloud, Method::GET, &fpath, &demo, "2.4", None).await;
    assert_eq!(s, 403);
    let (s, b) = call(&cloud, Method::GET, &fpath, &cloud.admin, "2.4", None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["fixed_ip"]["address"], json!(afixed));
    assert_eq!(b["fixed_ip"]["cidr"], net["cidr"]);
    assert_eq!(b["fixed_ip"]["hostname"], "auto-vm");
    assert_eq!(b["fixed_ip"]["reserved"], false);
    let (_, b) = call(&cloud, Method::GET, &fpath, &cloud.admin, "2.3", None).await;
    assert!(b["fixed_ip"].get("reserved").is_none());
    let (s, _) = call(
        &cloud,
        Method::POST,
        &format!("{fpath}/action"),
        &cloud.admin,
        "2.4",
        Some(json!({"reserve": null})),
    )
    .await;
    assert_eq!(s, 202);
    let (_, b) = call(&cloud, Method::GET, &fpath, &cloud.admin, "2.4", None).await;
    assert_eq!(b["fixed_ip"]["reserved"], true);
    let (s, _) = call(
        &cloud,
        Method::POST,
        &format!("{fpath}/action"),
        &cloud.admin,
        "2.4",
        Some(json!({"unreserve": null})),
    )
    .await;
    assert_eq!(s, 202);
    let (s, _) = call(
        &cloud,
        Method::GET,
        "/os-fixed-ips/10.254.254.254",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = call(
        &cloud,
        Method::GET,
        "/os-fixed-ips/nonsense",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 400);
    // Virtual interfaces (net_id from 2.12).
    let vpath = format!("/servers/{sid}/os-virtual-interfaces");
    let (s, b) = call(&cloud, Method::GET, &vpath, &demo, "2.12", None).await;
    assert_eq!(s, 200, "{b}");
    let vif = &b["virtual_interfaces"][0];
    assert!(vif["mac_address"]
        .as_str()
        .unwrap()
        .starts_with("fa:16:3e:"));
    assert_eq!(vif["net_id"], json!(net_id));
    let (_, b) = call(&cloud, Method::GET, &vpath, &demo, "2.11", None).await;
    assert!(b["virtual_interfaces"][0].get("net_id").is_none());
    // The proxy APIs end at 2.35, the VIFs at 2.43: served at this cloud's 2.38.
    let (s, _) = call(&cloud, Method::GET, &vpath, &demo, "2.38", None).await;
    assert_eq!(s, 200);

    // Deleting the server releases its auto-assigned floating IP.
    let (s, _) = call(
        &cloud,
        Method::DELETE,
        &format!("/servers/{sid}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 204);
    cloud
        .wait_for(
            "the auto-assigned floating IP to be released",
            60,
            || async {
                let (_, list, _) = cloud.nova_manage(&["floating", "list"]);
                let free = format!("None\t{}\tNone\tpublic\t", auto[0]);
                list.contains(&free).then_some(())
            },
        )
        .await;
    assert_eq!(forwarded(&cloud, &auto[0], &afixed), (false, false));

    // nova-manage floating delete.
    let (ok, _, err) = cloud.nova_manage(&["floating", "delete", "--ip_range", &range]);
    assert!(ok, "{err}");
    let (_, out, _) = cloud.nova_manage(&["floating", "list"]);
    assert!(
        out.contains("No floating IP addresses have been defined."),
        "{out}"
    );
}
