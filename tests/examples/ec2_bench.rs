//! Benchmark (not a test): EC2 `DescribeInstances` next to the compute API's
//! `GET /v2.1/servers/detail`, with 0 and 100 servers (FakeDriver), each
//! from 16 concurrent clients for 10 s. The cloud runs with noauth2 (as
//! bench.rs does for servers/detail), so Keystone's signature check is not
//! in the figure: with Keystone each EC2 request adds one `/v3/ec2tokens`
//! call. Run through `bench/run.sh`.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin:admin";
const CLIENTS: usize = 16;
const SECONDS: u64 = 10;

/// Requests per second of GET `url` from `CLIENTS` clients (every answer must be 200).
async fn rps(url: &str) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(SECONDS);
    let mut tasks = vec![];
    for _ in 0..CLIENTS {
        let (url, done) = (url.to_string(), done.clone());
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            while Instant::now() < until {
                let r = http
                    .get(&url)
                    .header("X-Auth-Token", ADMIN)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200, "{url}");
                r.bytes().await.unwrap();
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let t = Instant::now();
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / t.elapsed().as_secs_f64()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cloud =
        Cloud::start_with(|id| vec![(format!("ec2b-{id}"), "fake.FakeDriver")], false).await;
    cloud
        .wait_for("compute node", 30, || async {
            let (_, b) = cloud.get("/os-hypervisors", ADMIN).await;
            (b["hypervisors"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        })
        .await;
    cloud.unlimited_quota("admin").await;
    // noauth2: the access key is user:project and the signature is not checked.
    let describe = format!(
        "{}/?Action=DescribeInstances&Version=2016-11-15&AWSAccessKeyId=admin%3Aadmin\
         &SignatureVersion=2&SignatureMethod=HmacSHA256&Timestamp=2026-01-01T00%3A00%3A00Z&Signature=x",
        cloud.ec2
    );
    let detail = format!("{}/servers/detail", cloud.api);
    let detail_0 = rps(&detail).await;
    let ec2_0 = rps(&describe).await;

    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            ADMIN,
            Some(
                json!({"server": {"name": "ec2b", "imageRef": cloud.image_id, "flavorRef": "1",
                "min_count": 100, "max_count": 100}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    cloud
        .wait_for("100 ACTIVE", 600, || async {
            let (_, b) = cloud.get("/servers?status=ACTIVE", ADMIN).await;
            (b["servers"].as_array().map(|a| a.len()) == Some(100)).then_some(())
        })
        .await;
    let body = cloud
        .http
        .get(&describe)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body.matches("<instanceId>").count(), 100, "{body:.500}");
    let detail_100 = rps(&detail).await;
    let ec2_100 = rps(&describe).await;
    println!("detail_rps_0={detail_0:.0}");
    println!("ec2_describe_rps_0={ec2_0:.0}");
    println!("detail_rps_100={detail_100:.0}");
    println!("ec2_describe_rps_100={ec2_100:.0}");
}
