//! Servers created on a chosen fixed address (nova-network's requested
//! networks): `openstack server create --nic net-id=...,v4-fixed-ip=...`
//! gets exactly that address, which nova-network hands to no other server
//! until the first one is deleted. Requests Nova refuses get its 400s:
//! an address in use, outside the network or malformed, one address for
//! several servers, a network twice or unknown, an unknown key. The
//! multinic actions (addFixedIp, removeFixedIp; 2.1-2.43) add an address
//! from the network and give one back. Two builds racing for one address:
//! the loser ends in ERROR with nova-network's refusal, not rescheduled.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, fixed_prefix, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

fn message(b: &Value) -> String {
    b["badRequest"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `GET /os-fixed-ips/{address}` (admin, 2.1).
async fn fixed_ip(cloud: &Cloud, address: &str) -> Value {
    let path = format!("/os-fixed-ips/{address}");
    call(cloud, Method::GET, &path, &cloud.admin, "2.1", None)
        .await
        .1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_get_the_fixed_ip_they_ask_for() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("fip-{id}"), "")], true).await;
    let demo = cloud.demo.clone();
    let (_, b) = call(
        &cloud,
        Method::GET,
        "/os-networks",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    let net = b["networks"][0]["id"].as_str().unwrap().to_string();
    let wanted = format!("{}77", fixed_prefix(&cloud.id));

    let create = |name: &str, address: &str| {
        let nic = format!("net-id={net},v4-fixed-ip={address}");
        let out = cloud.osc(
            "demo",
            &[
                "server",
                "create",
                "--image",
                &cloud.image_id,
                "--flavor",
                "m1.tiny",
                "--nic",
                &nic,
                "--wait",
                "-f",
                "json",
                name,
            ],
        );
        serde_json::from_str::<Value>(&out).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let first = create("first", &wanted);
    let (_, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{first}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    let addrs: Vec<&str> = b["server"]["addresses"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|a| a.as_array().unwrap())
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert_eq!(addrs, [wanted.as_str()], "{b}");
    let b = fixed_ip(&cloud, &wanted).await;
    assert_eq!(b["fixed_ip"]["hostname"], "first", "{b}");

    // Ports are Neutron's: attaching or listing interfaces is Nova's 501
    // on nova-network, through the CLI as through REST, once the request
    // itself is found sound (400) and the server is there (404).
    let (ok, _, err) = cloud.openstack("demo", &["server", "add", "network", &first, &net]);
    assert!(!ok);
    assert!(
        err.contains("501") && err.contains("The requested functionality is not supported."),
        "{err}"
    );
    let ifaces = format!("/servers/{first}/os-interface");
    let (s, b) = call(&cloud, Method::GET, &ifaces, &demo, "2.1", None).await;
    assert_eq!(
        (s, b["notImplemented"]["message"].as_str()),
        (501, Some("The requested functionality is not supported.")),
        "{b}"
    );
    let port = "5ac7e5a4-0000-4000-8000-000000000001";
    for (body, code, says) in [
        (
            json!({"interfaceAttachment": {"net_id": net, "port_id": port}}),
            400,
            "Must not input both network_id and port_id",
        ),
        (
            json!({"interfaceAttachment": {"fixed_ips": [{"ip_address": "10.0.0.9"}]}}),
            400,
            "Must input network_id when request IP address",
        ),
        (
            json!({"interfaceAttachment": {"net_id": net, "tag": "eth1"}}),
            400,
            "('tag' was unexpected)",
        ),
        (
            json!({"interfaceAttachment": {"net_id": net}}),
            501,
            "The requested functionality is not supported.",
        ),
    ] {
        let (s, b) = call(
            &cloud,
            Method::POST,
            &ifaces,
            &demo,
            "2.1",
            Some(body.clone()),
        )
        .await;
        assert_eq!(s, code, "{body}: {b}");
        let m = b.as_object().unwrap().values().next().unwrap()["message"].to_string();
        assert!(m.contains(says), "{body}: {b}");
    }
    let nowhere = format!("/servers/{port}/os-interface");
    let (s, b) = call(&cloud, Method::GET, &nowhere, &demo, "2.1", None).await;
    assert_eq!(s, 404, "{b}");
    let (s, b) = call(
        &cloud,
        Method::DELETE,
        &format!("{ifaces}/{port}"),
        &demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 501, "{b}");

    // Nova's refusals, all before anything is created.
    let post = |networks: Value, extra: Value| {
        let cloud = &cloud;
        let demo = demo.clone();
        async move {
            let mut server = json!({"name": "x", "imageRef": cloud.image_id, "flavorRef": "1",
                                    "networks": networks});
            for (k, v) in extra.as_object().unwrap() {
                server[k] = v.clone();
            }
            call(
                cloud,
                Method::POST,
                "/servers",
                &demo,
                "2.1",
                Some(json!({"server": server})),
            )
            .await
        }
    };
    let (s, b) = post(json!([{"uuid": net, "fixed_ip": wanted}]), json!({})).await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        message(&b),
        format!("Fixed IP address {wanted} is already in use on instance {first}."),
        "{b}"
    );
    let (s, b) = post(json!([{"uuid": net, "fixed_ip": "192.0.2.5"}]), json!({})).await;
    assert_eq!(
        (s, message(&b)),
        (400, "Fixed IP not found for address 192.0.2.5.".to_string()),
        "{b}"
    );
    let (s, b) = post(json!([{"uuid": net, "fixed_ip": "10.20.1"}]), json!({})).await;
    assert_eq!(s, 400, "{b}");
    assert!(
        message(&b).starts_with("Invalid input for field/attribute fixed_ip."),
        "{b}"
    );
    let free = format!("{}78", fixed_prefix(&cloud.id));
    let (s, b) = post(
        json!([{"uuid": net, "fixed_ip": free}]),
        json!({"max_count": 2}),
    )
    .await;
    assert_eq!(
        (s, message(&b)),
        (
            400,
            "Failed to launch instances: max_count cannot be greater than 1 if an fixed_ip is specified."
                .to_string()
        ),
        "{b}"
    );
    let (s, b) = post(json!([{"uuid": net}, {"uuid": net}]), json!({})).await;
    assert_eq!(
        (s, message(&b)),
        (400, format!("Duplicate networks ({net}) are not allowed")),
        "{b}"
    );
    let missing = "0f0f0f0f-0000-4000-8000-000000000000";
    let (s, b) = post(json!([{"uuid": missing}]), json!({})).await;
    assert_eq!(
        (s, message(&b)),
        (400, format!("Network {missing} could not be found.")),
        "{b}"
    );
    let (s, b) = post(json!([{"uuid": net, "name": "x"}]), json!({})).await;
    assert_eq!(s, 400, "{b}");
    assert!(message(&b).contains("('name' was unexpected)"), "{b}");
    let (_, b) = call(&cloud, Method::GET, "/servers", &demo, "2.1", None).await;
    assert_eq!(
        b["servers"].as_array().unwrap().len(),
        1,
        "nothing created: {b}"
    );

    // The multinic actions (2.1-2.43): one more address on the network,
    // then that one removed with `openstack server remove fixed ip`.
    let addresses = |id: String| {
        let cloud = &cloud;
        let demo = demo.clone();
        async move {
            let (_, b) = call(
                cloud,
                Method::GET,
                &format!("/servers/{id}/ips"),
                &demo,
                "2.1",
                None,
            )
            .await;
            let mut a: Vec<String> = b["addresses"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|l| l.as_array().unwrap().clone())
                .map(|a| a["addr"].as_str().unwrap().to_string())
                .collect();
            a.sort();
            a
        }
    };
    let action = |mv: &'static str, body: Value| {
        let cloud = &cloud;
        let demo = demo.clone();
        let path = format!("/servers/{first}/action");
        async move { call(cloud, Method::POST, &path, &demo, mv, Some(body)).await }
    };
    let (s, b) = action("2.44", json!({"addFixedIp": {"networkId": net}})).await;
    assert_eq!(s, 404, "gone at 2.44: {b}");
    let (s, b) = action("2.43", json!({"addFixedIp": {"network": net}})).await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = action("2.43", json!({"addFixedIp": {"networkId": net}})).await;
    assert_eq!(s, 202, "{b}");
    let two = cloud
        .wait_for("a second address", 30, || async {
            let a = addresses(first.clone()).await;
            (a.len() == 2).then_some(a)
        })
        .await;
    assert!(two.contains(&wanted), "{two:?}");
    let added = two.iter().find(|a| **a != wanted).unwrap().clone();
    assert!(added.starts_with(&fixed_prefix(&cloud.id)), "{two:?}");
    let b = fixed_ip(&cloud, &added).await;
    assert_eq!(b["fixed_ip"]["hostname"], "first", "{b}");
    cloud.osc(
        "demo",
        &[
            "--os-compute-api-version",
            "2.43",
            "server",
            "remove",
            "fixed",
            "ip",
            &first,
            &added,
        ],
    );
    cloud
        .wait_for("the added address removed", 30, || async {
            (addresses(first.clone()).await == std::slice::from_ref(&wanted)).then_some(())
        })
        .await;
    let b = fixed_ip(&cloud, &added).await;
    assert!(b["fixed_ip"]["hostname"].is_null(), "back in the pool: {b}");
    // An address the server does not have: accepted, refused by nova-network
    // on the host (the instance's fault), nothing changed.
    let (s, b) = action("2.43", json!({"removeFixedIp": {"address": free}})).await;
    assert_eq!(s, 202, "{b}");
    let log = format!("nova-compute@fip-{}", cloud.id);
    cloud
        .wait_for("the host's refusal", 30, || async {
            cloud
                .log(&log)
                .contains(&format!("doesn't have fixed IP '{free}'"))
                .then_some(())
        })
        .await;
    assert_eq!(
        addresses(first.clone()).await,
        std::slice::from_ref(&wanted)
    );

    // Deleted, the first server gives its address back: the next gets it.
    cloud.osc("demo", &["server", "delete", "--wait", &first]);
    let second = create("second", &wanted);
    let b = fixed_ip(&cloud, &wanted).await;
    assert_eq!(b["fixed_ip"]["hostname"], "second", "{b}");
    cloud.osc("demo", &["server", "delete", "--wait", &second]);

    // Two requests for one free address at once both pass the API's check;
    // nova-network gives the address to one build. The other is not tried
    // on another host (it would be refused the same): it ends in ERROR with
    // the refusal as its fault, never "No valid host". Should the second
    // request come after the first build took the address, it is the API's
    // 400 instead, and the race is run again on another address.
    let mut raced = false;
    for last in 80..83 {
        let address = format!("{}{last}", fixed_prefix(&cloud.id));
        let nets = json!([{"uuid": net, "fixed_ip": address}]);
        let (a, b) = tokio::join!(
            post(nets.clone(), json!({"name": format!("race-a-{last}")})),
            post(nets.clone(), json!({"name": format!("race-b-{last}")}))
        );
        let accepted: Vec<String> = [&a, &b]
            .iter()
            .filter(|(s, _)| *s == 202)
            .map(|(_, b)| b["server"]["id"].as_str().unwrap().to_string())
            .collect();
        for (s, b) in [&a, &b] {
            assert!(
                *s == 202
                    || (*s == 400 && message(b).contains(&format!("{address} is already in use"))),
                "{s} {b}"
            );
        }
        let mut settled = Vec::new();
        for id in &accepted {
            let server = cloud
                .wait_for("the racing build to settle", 60, || async {
                    let (_, b) = call(
                        &cloud,
                        Method::GET,
                        &format!("/servers/{id}"),
                        &demo,
                        "2.1",
                        None,
                    )
                    .await;
                    let s = b["server"].clone();
                    (s["OS-EXT-STS:task_state"].is_null()
                        && (s["status"] == "ACTIVE" || s["status"] == "ERROR"))
                        .then_some(s)
                })
                .await;
            settled.push(server);
        }
        let active: Vec<&Value> = settled.iter().filter(|s| s["status"] == "ACTIVE").collect();
        assert_eq!(active.len(), 1, "one build gets {address}: {settled:?}");
        let b = fixed_ip(&cloud, &address).await;
        assert_eq!(b["fixed_ip"]["hostname"], active[0]["name"], "{b}");
        if let Some(lost) = settled.iter().find(|s| s["status"] == "ERROR") {
            let fault = lost["fault"]["message"].as_str().unwrap_or_default();
            assert_eq!(
                fault,
                format!(
                    "Fixed IP address {address} is already in use on instance {}.",
                    active[0]["id"].as_str().unwrap()
                ),
                "{lost}"
            );
            raced = true;
        }
        for id in accepted {
            cloud.osc("demo", &["server", "delete", "--wait", &id]);
        }
        if raced {
            break;
        }
    }
    assert!(raced, "no two builds ever raced for one address");
}
