//! Chaos during a burst of boots (real binaries, PostgreSQL, RabbitMQ, two
//! fake compute hosts): kill -9 every daemon in turn, drop every broker
//! connection, kill the PostgreSQL backends. Every server still ends ACTIVE
//! or ERROR with a fault within two minutes of the last blow: none stuck in
//! BUILD or a task_state, none lost.

#![allow(clippy::unwrap_used)]

use nova_e2e::{db_url, Cloud};
use reqwest::Method;
use serde_json::{json, Value};
use std::process::Command;
use std::time::Duration;

fn two_fake_computes(id: &str) -> Vec<(String, &'static str)> {
    vec![
        (format!("e2e-chaos-a-{id}"), "fake.FakeDriver"),
        (format!("e2e-chaos-b-{id}"), "fake.FakeDriver"),
    ]
}

fn close_broker_connections(cloud: &Cloud) {
    let ok = Command::new("rabbitmqctl")
        .args([
            "-q",
            "close_all_connections",
            "-p",
            &cloud.vhost,
            "chaos test",
        ])
        .status()
        .unwrap()
        .success();
    assert!(ok, "rabbitmqctl close_all_connections");
}

fn kill_database_backends(cloud: &Cloud) {
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
         WHERE datname = '{}' AND pid <> pg_backend_pid()",
        cloud.db
    );
    let out = Command::new("psql")
        .args(["-X", "-q", "-tA", "-d", &db_url("postgres"), "-c", &sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn boot(cloud: &Cloud, i: usize) -> Option<String> {
    let body = json!({"server": {"name": format!("chaos-{i}"), "imageRef": cloud.image_id, "flavorRef": "1"}});
    // The API itself may be the daemon that was just killed: try again until it answers.
    for _ in 0..100 {
        let r = cloud
            .http
            .post(format!("{}/servers", cloud.api))
            .header("X-Auth-Token", &cloud.demo)
            .json(&body)
            .send()
            .await;
        if let Ok(r) = r {
            let status = r.status().as_u16();
            let b: Value = r.json().await.unwrap_or(Value::Null);
            if status == 202 {
                return b["server"]["id"].as_str().map(str::to_string);
            }
            // 503 while the conductor or broker is away is fine: the request left nothing.
            assert_eq!(status, 503, "boot {i}: {b}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("boot {i} never accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_boots_survives_daemon_kills_broker_drops_and_database_kills() {
    let mut cloud = Cloud::start_with(two_fake_computes, false).await;
    let (s, _) = cloud
        .req(
            Method::PUT,
            &format!("/os-quota-sets/{}", cloud.demo_project),
            &cloud.admin,
            Some(json!({"quota_set": {"instances": 200, "cores": 400, "ram": 409600}})),
        )
        .await;
    assert_eq!(s, 200);

    let daemons: Vec<String> = cloud.daemons.iter().map(|d| d.name.clone()).collect();
    let mut ids = Vec::new();
    for round in 0..5 {
        // Ten boots, then a blow while they are in flight.
        for i in 0..10 {
            if let Some(id) = boot(&cloud, round * 10 + i).await {
                ids.push(id);
            }
        }
        match round {
            0 => close_broker_connections(&cloud),
            1 => kill_database_backends(&cloud),
            _ => {}
        }
        for d in daemons.iter().filter(|d| (d.len() + round) % 2 == 0) {
            cloud.restart(d);
        }
    }
    close_broker_connections(&cloud);
    kill_database_backends(&cloud);
    assert_eq!(ids.len(), 50, "every boot was accepted once");

    // Every server settles: ACTIVE, or ERROR with a fault. None stuck, none lost.
    let servers = cloud
        .wait_for("every server to settle", 120, || async {
            let (s, b) = cloud.get("/servers/detail", &cloud.demo).await;
            if s != 200 {
                return None;
            }
            let all = b["servers"].as_array().cloned().unwrap_or_default();
            let settled = all.iter().all(|s| {
                s["OS-EXT-STS:task_state"].is_null()
                    && (s["status"] == "ACTIVE" || s["status"] == "ERROR")
            });
            (settled && all.len() >= ids.len()).then_some(all)
        })
        .await;
    for id in &ids {
        let s = servers
            .iter()
            .find(|s| s["id"] == id.as_str())
            .unwrap_or_else(|| panic!("server {id} was lost"));
        if s["status"] == "ERROR" {
            assert!(
                s["fault"]["message"]
                    .as_str()
                    .is_some_and(|m| !m.is_empty()),
                "ERROR without a fault: {s}"
            );
        }
    }
    let active = servers.iter().filter(|s| s["status"] == "ACTIVE").count();
    eprintln!(
        "chaos: {active} of {} ACTIVE, the rest ERROR with a fault",
        ids.len()
    );
}
