//! Nova's `_heal_instance_info_cache`: a compute host rebuilds its
//! instances' network info caches (the addresses a server shows) from
//! nova-network, one instance per `heal_instance_info_cache_interval`
//! seconds. A cache lost behind nova-compute's back (here emptied in the
//! database, as a restore or a host dying between nova-network's change and
//! its own write would leave it) comes back, in `GET /servers/{id}` and in
//! `servers/detail`; a server without networks stays without.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, db_url, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;

/// The addresses `GET /servers/{id}` and `servers/detail` show of `id`.
async fn addresses(cloud: &Cloud, id: &str) -> (Value, Value) {
    let path = format!("/servers/{id}");
    let (s, b) = call(cloud, Method::GET, &path, &cloud.demo, "2.1", None).await;
    assert_eq!(s, 200, "{b}");
    let (s, l) = call(
        cloud,
        Method::GET,
        "/servers/detail",
        &cloud.demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{l}");
    let listed = l["servers"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap()["addresses"]
        .clone();
    (b["server"]["addresses"].clone(), listed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_network_info_cache_heals() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![ComputeHost::fake(
                format!("heal-{id}"),
                "heal_instance_info_cache_interval = 1",
            )]
        },
        true,
    )
    .await;
    let mut ids = Vec::new();
    for (name, mv, networks) in [("wired", "2.37", "auto"), ("unwired", "2.37", "none")] {
        let (s, b) = call(
            &cloud,
            Method::POST,
            "/servers",
            &cloud.demo,
            mv,
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id,
                "flavorRef": "1", "networks": networks}})),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        ids.push(b["server"]["id"].as_str().unwrap().to_string());
    }
    cloud.wait_for_builds(2, 60).await;
    let (wired, unwired) = (ids[0].clone(), ids[1].clone());
    let (shown, listed) = addresses(&cloud, &wired).await;
    assert_eq!(shown, listed);
    let address = shown.as_object().unwrap().values().next().unwrap()[0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(addresses(&cloud, &unwired).await, (json!({}), json!({})));

    // A current cache is left as it is: after each instance had turns,
    // nothing was rewritten.
    let log = format!("nova-compute@heal-{}", cloud.id);
    let rewritten = |id: &str| {
        let id = format!("instance={id}");
        cloud
            .log(&log)
            .lines()
            .any(|l| l.contains("healed the network info cache") && l.contains(&id))
    };
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(!rewritten(&wired) && !rewritten(&unwired));

    // The cache lost behind nova-compute's back.
    let out = Command::new("psql")
        .args(["-X", "-q", "-tA", "-d", &db_url(&cloud.db), "-c"])
        .arg(format!(
            "WITH emptied AS (UPDATE instance_info_caches SET network_info = '[]' \
             WHERE instance_uuid = '{wired}' RETURNING 1) SELECT count(*) FROM emptied"
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "1",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Healed: the same address, in the show and the listing alike.
    cloud
        .wait_for("the cache healed", 30, || async {
            rewritten(&wired).then_some(())
        })
        .await;
    let (shown, listed) = addresses(&cloud, &wired).await;
    assert_eq!(shown, listed);
    let now: Vec<&str> = shown
        .as_object()
        .unwrap()
        .values()
        .flat_map(|a| a.as_array().unwrap())
        .map(|a| a["addr"].as_str().unwrap())
        .collect();
    assert_eq!(now, [address.as_str()], "{shown}");

    // Each instance had its turns; the one without networks was never
    // written (nothing to heal) and still shows none.
    assert_eq!(addresses(&cloud, &unwired).await, (json!({}), json!({})));
    assert!(
        !rewritten(&unwired),
        "a server without networks was rewritten"
    );
}
