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
    assert_eq!(code, 1);
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
    let net_id = ops().await.unwrap()["id"].as_str().unwrap().to_string();
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
    // Given to a project, it is in use: for os-networks, and for nova-manage.
    let path = format!("/os-networks/{net_id}");
    let (s, b) = call(&cloud, Method::DELETE, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 409, "{b}");
    let (code, _, err) = cloud.nova_manage_code(&["network", "delete", "--uuid", &net_id]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Network must be disassociated from project p-ops before it can be deleted."),
        "{err}"
    );
    // Setting and clearing at once is refused; each alone works.
    let (code, _, err) = cloud.nova_manage_code(&[
        "network",
        "modify",
        "--fixed_range",
        "10.123.45.0/29",
        "--project",
        "other",
        "--disassociate-host",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("Unexpected arguments provided"), "{err}");
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
    assert_eq!(code, 1);
    assert!(
        err.contains("Network could not be found with cidr 10.9.9.0/29."),
        "{err}"
    );

    // network delete: named by neither, refused; by CIDR, gone.
    let (code, _, err) = cloud.nova_manage_code(&["network", "delete"]);
    assert_eq!(code, 1);
    assert!(
        err.contains("Please specify either fixed_range or uuid"),
        "{err}"
    );
    // The server's network has an address in use.
    let (code, _, err) = cloud.nova_manage_code(&["network", "delete", "--fixed_range", &cidr]);
    assert_eq!(code, 1);
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
