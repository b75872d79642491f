//! Benchmark (not a test): nova-compute's restart with 1,000 instances on
//! its host (FakeDriver, whose guests do not survive the restart, so every
//! instance's power state changes and `init_host` records all of them).
//! Prints the seconds from the restart to the "serving compute.<host>" line
//! (logged once `init_host` is done) and the messages the conductor handled
//! meanwhile, per method. Run through `bench/run.sh`, or alone:
//!
//! ```text
//! cargo build --release --workspace --bins && cargo build --release -p nova-e2e --example restart_bench
//! NOVA_BIN_DIR=target/release target/release/examples/restart_bench
//! ```

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const ADMIN: &str = "admin:admin";
const INSTANCES: usize = 1_000;
/// Instances per multiple-create request.
const PER_REQUEST: usize = 250;

async fn count(cloud: &Cloud, status: &str) -> usize {
    let (_, b) = cloud
        .get(&format!("/servers?status={status}&limit=1000"), ADMIN)
        .await;
    b["servers"].as_array().map(|a| a.len()).unwrap_or(0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The RPC servers' debug lines: every handled message is one `received`.
    std::env::set_var("RUST_LOG", "info,nova_rpc::server=debug");
    // 1,000 addresses: a /20 (the default network is a /24).
    if std::env::var_os("NOVA_E2E_FIXED_RANGE").is_none() {
        std::env::set_var("NOVA_E2E_FIXED_RANGE", "10.21.0.0/20");
    }
    let host = |id: &str| format!("restart-{id}");
    let mut cloud = Cloud::start_with(|id| vec![(host(id), "fake.FakeDriver")], false).await;
    let compute = format!("nova-compute@{}", host(&cloud.id));
    cloud.unlimited_quota("admin").await;
    for r in 0..INSTANCES / PER_REQUEST {
        let (s, b) = cloud
            .req(
                Method::POST,
                "/servers",
                ADMIN,
                Some(json!({"server": {
                    "name": format!("r{r}"), "imageRef": cloud.image_id, "flavorRef": "1",
                    "min_count": PER_REQUEST, "max_count": PER_REQUEST,
                }})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    cloud
        .wait_for("1,000 ACTIVE", 1200, || async {
            assert_eq!(count(&cloud, "ERROR").await, 0, "a build failed");
            (count(&cloud, "ACTIVE").await == INSTANCES).then_some(())
        })
        .await;
    // Let the builds' last messages be handled before counting.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let serving = |cloud: &Cloud| cloud.log(&compute).matches("serving compute.").count();
    let served_before = serving(&cloud);
    let conductor_log_start = cloud.log("nova-conductor").len();
    let t = Instant::now();
    cloud.restart(&compute);
    cloud
        .wait_for("init_host done", 600, || async {
            (serving(&cloud) > served_before).then_some(())
        })
        .await;
    let restart = t.elapsed().as_secs_f64();

    let log = cloud.log("nova-conductor");
    let mut methods: BTreeMap<String, usize> = BTreeMap::new();
    for line in log[conductor_log_start..].lines() {
        if !line.contains(" received") {
            continue;
        }
        if let Some(m) = line.split("method=").nth(1) {
            let m = m.split([' ', '}']).next().unwrap_or_default().to_string();
            *methods.entry(m).or_default() += 1;
        }
    }
    println!("restart_1000_s={restart:.2}");
    for (m, n) in &methods {
        println!("restart_1000_conductor {m}={n}");
    }
    println!(
        "restart_1000_conductor_messages={}",
        methods.values().sum::<usize>()
    );
}
