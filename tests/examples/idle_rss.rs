//! Benchmark (not a test): idle resident memory of each daemon of a
//! FakeDriver cloud, a few seconds after it started, and their total for
//! api + conductor + scheduler + compute (the issue's figure):
//!
//! ```text
//! cargo build --release --workspace --bins && cargo build --release -p nova-e2e --example idle_rss
//! NOVA_BIN_DIR=target/release target/release/examples/idle_rss
//! ```
//!
//! Also prints each daemon's `/proc/<pid>/smaps_rollup` split: anonymous
//! (heap, stacks) against file-backed (the binary's and libraries' pages).

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use std::time::Duration;

const ADMIN: &str = "admin:admin";

fn rollup(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The `n` mappings with the most resident memory: (KiB, range and name).
fn largest_mappings(pid: u32, n: usize) -> Vec<(u64, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let first = line.split_whitespace().next().unwrap_or_default();
        if first.contains('-') && !first.ends_with(':') {
            current = line.to_string();
        } else if let Some(v) = line.strip_prefix("Rss:") {
            let kib = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
            out.push((kib, current.clone()));
        }
    }
    out.sort_by_key(|b| std::cmp::Reverse(b.0));
    out.truncate(n);
    out
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cloud = Cloud::start_with(|id| vec![(format!("rss-{id}"), "fake.FakeDriver")], false).await;
    cloud
        .wait_for("compute node", 30, || async {
            let (_, b) = cloud.get("/os-hypervisors", ADMIN).await;
            (b["hypervisors"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        })
        .await;
    // One request through every daemon's usual path, then idle.
    let _ = cloud.get("/servers/detail", ADMIN).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut total = 0;
    for d in &cloud.daemons {
        let name = d.name.split('@').next().unwrap();
        let rss = cloud.rss_kib(&d.name);
        let pid = d.child.id();
        println!(
            "rss_kib {name}={rss} anon={} file={} threads={}",
            rollup(pid, "Anonymous"),
            rollup(pid, "Rss") - rollup(pid, "Anonymous"),
            std::fs::read_dir(format!("/proc/{pid}/task"))
                .map(|r| r.count())
                .unwrap_or(0)
        );
        if std::env::var_os("IDLE_RSS_MAPPINGS").is_some() {
            for (kib, what) in largest_mappings(pid, 6) {
                println!("  {kib:>6} KiB {what}");
            }
        }
        if !matches!(name, "nova-novncproxy" | "nova-network") {
            total += rss;
        }
    }
    println!(
        "rss_api_conductor_scheduler_compute_mib={:.1}",
        total as f64 / 1024.0
    );
}
