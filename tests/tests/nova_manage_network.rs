//! nova-network's operator commands of `nova-manage` (Nova 12's) on a
//! running cloud: `fixed list` shows each address with the server holding
//! it and its host, `fixed reserve`/`unreserve` take an address out of the
//! pool and give it back (seen through `os-fixed-ips`), `network modify`
//! gives a network to a project and a host and takes them back, `network
//! delete` refuses a network still given to a project (as `os-networks`
//! DELETE does, 409) and deletes it once disassociated, `vm list` shows
//! the servers. Mistakes get upstream's messages and exit codes.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

/// `os-fixed-ips/{address}`'s `reserved` (2.4).
async fn reserved(cloud: &Cloud, address: &str) -> bool {
    let path = format!("/os-fixed-ips/{address}");
    let (s, b) = call(cloud, Method::GET, &path, &cloud.admin, "2.5", None).await;
    assert_eq!(s, 200, "{b}");
    b["fixed_ip"]["reserved"].as_bool().unwrap()
}

async fn networks(cloud: &Cloud) -> Vec<Value> {
    let (s, b) = call(
        cloud,
        Method::GET,
        "/os-networks",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["networks"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_manage_fixed_ips_and_networks() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("nm-{id}"), "")], true).await;
    let host = format!("nm-{}", cloud.id);
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/servers",
        &cloud.demo,
        "2.37",
        Some(
            json!({"server": {"name": "listed", "imageRef": cloud.image_id,
            "flavorRef": "1", "networks": "auto"}}),
        ),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = cloud
        .wait_for("the server ACTIVE", 60, || async {
            let path = format!("/servers/{id}");
            let (_, b) = call(&cloud, Method::GET, &path, &cloud.demo, "2.1", None).await;
            (b["server"]["status"] == "ACTIVE").then(|| b["server"].clone())
        })
        .await;
    let addr = srv["addresses"]["private"][0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    let private = networks(&cloud)
        .await
        .into_iter()
        .find(|n| n["label"] == "private")
        .unwrap();
    let cidr = private["cidr"].as_str().unwrap().to_string();

    // What deployment tools run for Nova's API database and cells v2: the
    // one database's version; the compute host known without mapping.
    let (ok, version, err) = cloud.nova_manage(&["db", "version"]);
    assert!(ok, "{err}");
    let (ok, api_version, err) = cloud.nova_manage(&["api_db", "version"]);
    assert!(ok, "{err}");
    assert_eq!(api_version, version);
    let (ok, out, err) = cloud.nova_manage(&["cell_v2", "discover_hosts", "--verbose", "--strict"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&format!("Compute host '{host}' is known.")),
        "{out}"
    );
    let (ok, out, err) = cloud.nova_manage(&["cell_v2", "map_cell0"]);
    assert!(ok && out.contains("does not use cells v2"), "{out}{err}");
    let (code, _, err) = cloud.nova_manage_code(&["db", "sync", "1"]);
    assert_eq!(code, 255);
    assert!(err.contains("a downgrade to 1 is not supported"), "{err}");

    // network list: Nova's tab-separated table, one row per network.
    let (ok, out, err) = cloud.nova_manage(&["network", "list"]);
    assert!(ok, "{err}");
    let rows: Vec<Vec<&str>> = out
        .lines()
        .map(|l| l.split('\t').map(str::trim_end).collect())
        .collect();
    assert_eq!(
        rows[0],
        [
            "id",
            "IPv4",
            "IPv6",
            "start address",
            "DNS1",
            "DNS2",
            "VlanID",
            "project",
            "uuid"
        ],
        "{out}"
    );
    let row = rows
        .iter()
        .find(|r| r[1] == cidr)
        .unwrap_or_else(|| panic!("{cidr} in {out}"));
    assert_eq!(row[8], private["id"].as_str().unwrap(), "{out}");
    assert_eq!(row[2], "None", "{out}");

    // fixed list: every address of the network, the server's with its
    // hostname and host; by host only the server's.
    let (ok, out, err) = cloud.nova_manage(&["fixed", "list"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[0].split('\t').map(str::trim).collect::<Vec<_>>(),
        ["network", "IP address", "hostname", "host"]
    );
    let row = |line: &str| {
        line.split('\t')
            .map(str::trim)
            .map(String::from)
            .collect::<Vec<_>>()
    };
    let held: Vec<Vec<String>> = lines[1..]
        .iter()
        .map(|l| row(l))
        .filter(|r| r[2] != "None")
        .collect();
    assert_eq!(
        held,
        [vec![
            cidr.clone(),
            addr.clone(),
            "listed".into(),
            host.clone()
        ]],
        "{out}"
    );
    assert!(lines.len() > 100, "a /24's addresses: {out}");
    let (ok, out, _) = cloud.nova_manage(&["fixed", "list", "--host", &host]);
    assert!(ok);
    assert_eq!(
        out.lines().skip(1).map(row).collect::<Vec<_>>(),
        held,
        "{out}"
    );
    let (ok, out, _) = cloud.nova_manage(&["fixed", "list", "--host", "nowhere"]);
    assert!(ok);
    assert!(out.ends_with("No fixed IP found.\n"), "{out}");

    // fixed reserve / unreserve, seen by the API.
    let free = lines[1..]
        .iter()
        .map(|l| row(l))
        .find(|r| r[2] == "None" && r[1].ends_with(".200"))
        .unwrap()[1]
        .clone();
    assert!(!reserved(&cloud, &free).await);
    let (code, out, _) = cloud.nova_manage_code(&["fixed", "reserve", "--address", &free]);
    assert_eq!(code, 0, "{out}");
    assert!(reserved(&cloud, &free).await);
    let (code, _, _) = cloud.nova_manage_code(&["fixed", "unreserve", "--address", &free]);
    assert_eq!(code, 0);
    assert!(!reserved(&cloud, &free).await);
    let (code, out, _) = cloud.nova_manage_code(&["fixed", "reserve", "--address", "192.0.2.99"]);
    assert_eq!(code, 2);
    assert_eq!(out, "error: Fixed IP not found for address 192.0.2.99.\n");
    let (code, _, err) = cloud.nova_manage_code(&["fixed", "reserve", "--address", "nope"]);
    assert_eq!(code, 255);
    assert!(err.contains("Fixed IP address nope is invalid."), "{err}");

    // A network given to a project, and a host, then taken back.
    let (ok, out, err) = cloud.nova_manage(&[
        "network",
        "create",
        "--label",
        "ops",
        "--fixed_range_v4",
        "10.123.45.0/29",
    ]);
    assert!(ok, "{out}{err}");
    let ops = || async {
        networks(&cloud)
            .await
            .into_iter()
            .find(|n| n["label"] == "ops")
    };
    let created = ops().await.unwrap();
    let net_id = created["id"].as_str().unwrap().to_string();
    // Times as Nova's network_dict gives them: microseconds, no zone;
    // updated_at once something changed the network.
    let micro = |v: &Value| {
        let t = v.as_str().unwrap_or_default();
        t.len() == 26 && chrono::NaiveDateTime::parse_from_str(t, "%Y-%m-%dT%H:%M:%S%.6f").is_ok()
    };
    assert!(micro(&created["created_at"]), "{created}");
    // No --dns1: [DEFAULT] flat_network_dns, as Nova's create_networks.
    assert_eq!(created["dns1"], "8.8.4.4", "{created}");
    assert_eq!(created["updated_at"], Value::Null, "{created}");
    let (ok, _, err) = cloud.nova_manage(&[
        "network",
        "modify",
        "--fixed_range",
        "10.123.45.0/29",
        "--project",
        "p-ops",
        "--host",
        "net-host",
    ]);
    assert!(ok, "{err}");
    let net = ops().await.unwrap();
    assert_eq!(
        (net["project_id"].clone(), net["host"].clone()),
        (json!("p-ops"), json!("net-host"))
    );
    assert!(micro(&net["updated_at"]), "{net}");
    // Given to a project, it is in use: for os-networks, and for nova-manage.
    let path = format!("/os-networks/{net_id}");
    let (s, b) = call(&cloud, Method::DELETE, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 409, "{b}");
    let (code, _, err) = cloud.nova_manage_code(&["network", "delete", "--uuid", &net_id]);
    assert_eq!(code, 255);
    assert!(
        err.contains("Network must be disassociated from project p-ops before it can be deleted."),
        "{err}"
    );
    // Setting and clearing at once is refused; each alone works.
    let (code, out, err) = cloud.nova_manage_code(&[
        "network",
        "modify",
        "--fixed_range",
        "10.123.45.0/29",
        "--project",
        "other",
        "--disassociate-host",
    ]);
    assert_eq!(code, 1);
    assert_eq!(
        out, "ERROR: Unexpected arguments provided. Please use separate commands.\n",
        "{err}"
    );
    for flag in ["--disassociate-project", "--disassociate-host"] {
        let (ok, _, err) =
            cloud.nova_manage(&["network", "modify", "--fixed_range", "10.123.45.0/29", flag]);
        assert!(ok, "{err}");
    }
    let net = ops().await.unwrap();
    assert_eq!(
        (net["project_id"].clone(), net["host"].clone()),
        (Value::Null, Value::Null)
    );
    let (code, _, err) =
        cloud.nova_manage_code(&["network", "modify", "--fixed_range", "10.9.9.0/29"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("Network could not be found with cidr 10.9.9.0/29."),
        "{err}"
    );

    // network delete: named by neither, refused; by CIDR, gone.
    let (code, _, err) = cloud.nova_manage_code(&["network", "delete"]);
    assert_eq!(code, 255);
    assert!(
        err.contains("Please specify either fixed_range or uuid"),
        "{err}"
    );
    // The server's network has an address in use.
    let (code, _, err) = cloud.nova_manage_code(&["network", "delete", "--fixed_range", &cidr]);
    assert_eq!(code, 255);
    assert!(err.contains("is still in use"), "{err}");
    let (ok, out, err) =
        cloud.nova_manage(&["network", "delete", "--fixed_range", "10.123.45.0/29"]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("Deleted network {net_id} ops")),
        "{out}"
    );
    assert!(ops().await.is_none());
    let (s, _) = call(&cloud, Method::GET, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 404);

    // network create as nova-network lays it out: a given uuid, gateway,
    // priority and the addresses given out between allowed_start and
    // allowed_end (the others reserved).
    let uuid = uuid::Uuid::new_v4().to_string();
    let (ok, out, err) = cloud.nova_manage(&[
        "network",
        "create",
        "--label",
        "laid-out",
        "--fixed_range_v4",
        "198.51.100.0/28",
        "--uuid",
        &uuid,
        "--gateway",
        "198.51.100.14",
        "--allowed_start",
        "198.51.100.4",
        "--allowed_end",
        "198.51.100.9",
        "--priority",
        "3",
    ]);
    assert!(ok, "{out}{err}");
    let path = format!("/os-networks/{uuid}");
    let (s, b) = call(&cloud, Method::GET, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    let net = &b["network"];
    assert_eq!(
        (
            &net["gateway"],
            &net["dhcp_start"],
            &net["priority"],
            &net["cidr"]
        ),
        (
            &json!("198.51.100.14"),
            &json!("198.51.100.4"),
            &json!(3),
            &json!("198.51.100.0/28")
        ),
        "{b}"
    );
    for (last, free) in [(3, false), (4, true), (9, true), (10, false), (14, false)] {
        assert_eq!(
            !reserved(&cloud, &format!("198.51.100.{last}")).await,
            free,
            ".{last}"
        );
    }
    let (code, _, err) = cloud.nova_manage_code(&[
        "network",
        "create",
        "--label",
        "outside",
        "--fixed_range_v4",
        "198.51.100.16/28",
        "--allowed_start",
        "198.51.100.2",
    ]);
    assert_eq!(code, 255);
    assert!(
        err.contains("198.51.100.2 is not within 198.51.100.16/28."),
        "{err}"
    );
    let (ok, _, err) = cloud.nova_manage(&["network", "delete", "--uuid", &uuid]);
    assert!(ok, "{err}");

    // os-networks create: the same fields, Nova's schema; what this
    // nova-network does not serve is a 400 that says so.
    let create = |net: Value| {
        let cloud = &cloud;
        async move {
            call(
                cloud,
                Method::POST,
                "/os-networks",
                &cloud.admin,
                "2.1",
                Some(json!({ "network": net })),
            )
            .await
        }
    };
    let (s, b) = create(json!({
        "label": "api-net",
        "cidr": "203.0.113.0/28",
        "fixed_cidr": "203.0.113.8/29",
        "gateway": "203.0.113.1",
        "vlan_start": 100,
    }))
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["network"]["gateway"], "203.0.113.1", "{b}");
    let api_net = b["network"]["id"].as_str().unwrap().to_string();
    // Only fixed_cidr's addresses were made.
    let (s, _) = call(
        &cloud,
        Method::GET,
        "/os-fixed-ips/203.0.113.4",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 404);
    assert!(!reserved(&cloud, "203.0.113.12").await);
    for (net, code, msg) in [
        (
            json!({"label": "x", "cidr": "203.0.113.16/28", "mtu": 9000}),
            400,
            "A network MTU is not supported by this cloud's nova-network",
        ),
        (
            json!({"label": "x", "cidr": "203.0.113.16/28", "enable_dhcp": false}),
            400,
            "A network without DHCP is not supported",
        ),
        (
            json!({"label": "x", "cidr": "203.0.113.16/28", "colour": "red"}),
            400,
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            json!({"label": "x", "cidr": "203.0.113.16/28", "gateway": "nope"}),
            400,
            "is not a 'ipv4'",
        ),
        (
            json!({"label": "x", "cidr": "203.0.113.16/28", "allowed_end": "203.0.113.40"}),
            400,
            "203.0.113.40 is not within 203.0.113.16/28.",
        ),
        (
            json!({"label": "x", "cidr": "203.0.113.0/28"}),
            409,
            "203.0.113.0/28",
        ),
    ] {
        let (s, b) = create(net.clone()).await;
        assert_eq!(s, code, "{net}: {b}");
        assert!(b.to_string().contains(msg), "{net}: {b}");
    }
    let path = format!("/os-networks/{api_net}");
    let (s, b) = call(&cloud, Method::DELETE, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 202, "{b}");

    // vm list: the server, its host, flavor and state.
    let (ok, out, _) = cloud.nova_manage(&["vm", "list"]);
    assert!(ok);
    let vm: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        &vm[..4],
        ["listed", host.as_str(), "m1.tiny", "active"],
        "{out}"
    );
    let (ok, out, _) = cloud.nova_manage(&["vm", "list", "--host", "nowhere"]);
    assert!(ok);
    assert_eq!(out.lines().count(), 1, "{out}");
}
