//! Benchmark (not a test): boot and delete 100 servers with FakeDriver from
//! 10 concurrent clients, single-boot latency, servers/detail throughput
//! (wrk, 16 connections) with 0 and 100 servers, idle RSS of each daemon.
//! Run through `bench/run.sh`, which builds release binaries and writes
//! docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin:admin";

async fn boot(cloud: &Cloud, name: &str) -> String {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            ADMIN,
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["server"]["id"].as_str().unwrap().to_string()
}

async fn count(cloud: &Cloud, status: Option<&str>) -> usize {
    let q = status.map(|s| format!("?status={s}")).unwrap_or_default();
    let (_, b) = cloud.get(&format!("/servers{q}"), ADMIN).await;
    b["servers"].as_array().map(|a| a.len()).unwrap_or(0)
}

fn wrk(url: &str) -> f64 {
    let out = std::process::Command::new("wrk")
        .args([
            "-t2",
            "-c16",
            "-d10s",
            "-H",
            &format!("X-Auth-Token: {ADMIN}"),
            url,
        ])
        .output()
        .expect("wrk is installed (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output: {text}"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cloud =
        Cloud::start_with(|id| vec![(format!("bench-{id}"), "fake.FakeDriver")], false).await;
    cloud
        .wait_for("compute node", 30, || async {
            let (_, b) = cloud.get("/os-hypervisors", ADMIN).await;
            (b["hypervisors"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        })
        .await;
    // 100 servers exceed the default quota of 10 instances.
    let (s, b) = cloud
        .req(
            Method::PUT,
            "/os-quota-sets/admin",
            ADMIN,
            Some(json!({"quota_set": {"instances": -1, "cores": -1, "ram": -1}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rss = vec![];
    for d in &cloud.daemons {
        rss.push((
            d.name.split('@').next().unwrap().to_string(),
            cloud.rss_kib(&d.name),
        ));
    }
    let detail_url = format!("{}/servers/detail", cloud.api);
    let rps_empty = wrk(&detail_url);

    // One boot at a time: POST → ACTIVE.
    let mut single = vec![];
    for n in 0..5 {
        let t = Instant::now();
        let id = boot(&cloud, &format!("single-{n}")).await;
        loop {
            let (_, b) = cloud.get(&format!("/servers/{id}"), ADMIN).await;
            if b["server"]["status"] == "ACTIVE" {
                break;
            }
            assert_ne!(b["server"]["status"], "ERROR");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        single.push(t.elapsed().as_secs_f64());
        cloud
            .req(Method::DELETE, &format!("/servers/{id}"), ADMIN, None)
            .await;
    }
    cloud
        .wait_for("singles gone", 60, || async {
            (count(&cloud, None).await == 0).then_some(())
        })
        .await;
    single.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // 100 boots from 10 concurrent clients.
    let t = Instant::now();
    let mut tasks = vec![];
    for c in 0..10 {
        let api = cloud.api.clone();
        let image = cloud.image_id.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = vec![];
            for n in 0..10 {
                let r: serde_json::Value = http
                    .post(format!("{api}/servers"))
                    .header("X-Auth-Token", ADMIN)
                    .json(&json!({"server": {"name": format!("b-{c}-{n}"), "imageRef": image, "flavorRef": "1"}}))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                ids.push(r["server"]["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut ids = vec![];
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    cloud
        .wait_for("100 ACTIVE", 600, || async {
            (count(&cloud, Some("ACTIVE")).await == 100).then_some(())
        })
        .await;
    let boot_100 = t.elapsed().as_secs_f64();
    let rps_100 = wrk(&detail_url);

    let t = Instant::now();
    let mut tasks = vec![];
    for chunk in ids.chunks(10) {
        let api = cloud.api.clone();
        let chunk = chunk.to_vec();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            for id in chunk {
                let r = http
                    .delete(format!("{api}/servers/{id}"))
                    .header("X-Auth-Token", ADMIN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 204);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    cloud
        .wait_for("all deleted", 600, || async {
            (count(&cloud, None).await == 0).then_some(())
        })
        .await;
    let delete_100 = t.elapsed().as_secs_f64();

    // 1,000 boots from 50 concurrent clients (20 each) → all ACTIVE.
    let t = Instant::now();
    let mut tasks = vec![];
    for c in 0..50 {
        let api = cloud.api.clone();
        let image = cloud.image_id.clone();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = vec![];
            for n in 0..20 {
                let r = http
                    .post(format!("{api}/servers"))
                    .header("X-Auth-Token", ADMIN)
                    .json(&json!({"server": {"name": format!("k-{c}-{n}"), "imageRef": image, "flavorRef": "1"}}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 202);
                let b: serde_json::Value = r.json().await.unwrap();
                ids.push(b["server"]["id"].as_str().unwrap().to_string());
            }
            ids
        }));
    }
    let mut ids_1000 = vec![];
    for task in tasks {
        ids_1000.extend(task.await.unwrap());
    }
    let accepted_1000 = t.elapsed().as_secs_f64();
    cloud
        .wait_for("1000 ACTIVE", 1200, || async {
            let n = count(&cloud, Some("ACTIVE")).await;
            assert_eq!(count(&cloud, Some("ERROR")).await, 0, "a build failed");
            (n == 1000).then_some(())
        })
        .await;
    let boot_1000 = t.elapsed().as_secs_f64();
    for chunk in ids_1000.chunks(20) {
        for id in chunk {
            cloud
                .req(Method::DELETE, &format!("/servers/{id}"), ADMIN, None)
                .await;
        }
    }

    let total_rss: u64 = rss
        .iter()
        .filter(|(n, _)| n != "nova-novncproxy" && n != "nova-network")
        .map(|(_, r)| r)
        .sum();
    println!("boot_100_s={boot_100:.2}");
    println!("delete_100_s={delete_100:.2}");
    println!("accept_1000_s={accepted_1000:.2}");
    println!("boot_1000_s={boot_1000:.2}");
    println!("single_boot_median_s={:.3}", single[single.len() / 2]);
    println!("detail_rps_0={rps_empty:.0}");
    println!("detail_rps_100={rps_100:.0}");
    for (n, r) in &rss {
        println!("rss_kib {n}={r}");
    }
    println!(
        "rss_api_conductor_scheduler_compute_mib={:.1}",
        total_rss as f64 / 1024.0
    );
}
