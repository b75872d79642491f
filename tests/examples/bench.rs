//! Benchmark (not a test): boot and delete 100 servers with FakeDriver from
//! 10 concurrent clients, then 200 the same way, then 1,000 from 50 clients;
//! single-boot latency; servers/detail throughput (wrk, 16 connections) with
//! 0, 100 and 1,000 servers (the last at `limit=1000`), and with 100 servers
//! of another project beside the 1,000, flavors; idle RSS of
//! each daemon; and each daemon's CPU time per request of every phase
//! (utime + stime from `/proc/<pid>/stat`, so that a regression shows
//! without a second machine). Run through `bench/run.sh`, which builds
//! release binaries and writes docs/benchmarks.md.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;
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

/// Whose servers a phase boots and counts: the admin's own project, or
/// another project (booted with its own token, counted by the admin).
#[derive(Clone, Copy)]
struct Scope {
    token: &'static str,
    /// The listing's query that selects the project's servers.
    query: &'static str,
}

const OWN: Scope = Scope {
    token: ADMIN,
    query: "",
};

/// A second project, whose servers are listed beside the admin's 1,000.
const DEMO: Scope = Scope {
    token: "demo:demo",
    query: "all_tenants=1&tenant_id=demo&",
};

async fn count(cloud: &Cloud, scope: Scope, status: Option<&str>) -> usize {
    let q = status.map(|s| format!("status={s}")).unwrap_or_default();
    let (_, b) = cloud
        .get(&format!("/servers?{}{q}", scope.query), ADMIN)
        .await;
    b["servers"].as_array().map(|a| a.len()).unwrap_or(0)
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times.
fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds (user + system) each daemon has used so far, by name.
/// A process's command name and CPU ticks from `/proc/<pid>/stat`: its own
/// (utime + stime) and, with `children`, those of its exited children it
/// has waited for (cutime + cstime).
fn ticks_of(pid: u32, children: bool) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the ")" closing the command name: state is the 3rd
    // field, utime the 14th, stime the 15th, cutime and cstime the next two.
    let (head, rest) = stat.rsplit_once(')')?;
    let comm = head.split_once('(')?.1.to_string();
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        f.get(i - 3)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let own = ticks(14) + ticks(15);
    Some((
        comm,
        if children {
            own + ticks(16) + ticks(17)
        } else {
            own
        },
    ))
}

/// CPU seconds so far of each daemon, and of the shared services every
/// request also pays for: PostgreSQL (every `postgres` process, the
/// connections' backends and, through the postmaster's waited-for
/// children, those that ended) and RabbitMQ (`beam.smp`). The benchmark
/// is meant to run alone on the machine: other clouds' use of the two
/// services would be counted too.
fn cpu_s(cloud: &Cloud) -> BTreeMap<String, f64> {
    let tck = clk_tck();
    let mut out: BTreeMap<String, f64> = cloud
        .daemons
        .iter()
        .map(|d| {
            let t = ticks_of(d.child.id(), false).map(|(_, t)| t).unwrap_or(0.0);
            (d.name.split('@').next().unwrap().to_string(), t / tck)
        })
        .collect();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|p| p.parse().ok()) else {
            continue;
        };
        let service = match ticks_of(pid, true) {
            Some((comm, t)) if comm == "postgres" => ("postgresql", t),
            Some((comm, t)) if comm == "beam.smp" => ("rabbitmq", t),
            _ => continue,
        };
        *out.entry(service.0.to_string()).or_default() += service.1 / tck;
    }
    out
}

/// CPU milliseconds per request of each daemon between two readings.
fn cpu_per_request(
    phase: &str,
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    requests: f64,
) {
    for (name, a) in after {
        let b = before.get(name).copied().unwrap_or(0.0);
        println!(
            "cpu_ms_per_request {phase} {name}={:.3}",
            (a - b) * 1000.0 / requests.max(1.0)
        );
    }
}

/// Boot `clients` × `each` servers from `clients` concurrent clients; the
/// ids, when all were accepted (s), when all were ACTIVE (s).
async fn boot_many(
    cloud: &Cloud,
    scope: Scope,
    tag: &str,
    clients: usize,
    each: usize,
) -> (Vec<String>, f64, f64) {
    let total = clients * each;
    let t = Instant::now();
    let mut tasks = vec![];
    for c in 0..clients {
        let api = cloud.api.clone();
        let image = cloud.image_id.clone();
        let tag = tag.to_string();
        tasks.push(tokio::spawn(async move {
            let http = reqwest::Client::new();
            let mut ids = vec![];
            for n in 0..each {
                let r = http
                    .post(format!("{api}/servers"))
                    .header("X-Auth-Token", scope.token)
                    .json(&json!({"server": {"name": format!("{tag}-{c}-{n}"), "imageRef": image, "flavorRef": "1"}}))
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
    let mut ids = vec![];
    for task in tasks {
        ids.extend(task.await.unwrap());
    }
    let accepted = t.elapsed().as_secs_f64();
    cloud
        .wait_for(&format!("{total} ACTIVE"), 1200, || async {
            let n = count(cloud, scope, Some("ACTIVE")).await;
            assert_eq!(
                count(cloud, scope, Some("ERROR")).await,
                0,
                "a build failed"
            );
            (n == total).then_some(())
        })
        .await;
    (ids, accepted, t.elapsed().as_secs_f64())
}

/// Delete `ids` from 10 concurrent clients and wait until all are gone (s).
async fn delete_many(cloud: &Cloud, scope: Scope, ids: &[String]) -> f64 {
    let t = Instant::now();
    let mut tasks = vec![];
    for chunk in ids.chunks(ids.len().div_ceil(10).max(1)) {
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
            (count(cloud, scope, None).await == 0).then_some(())
        })
        .await;
    t.elapsed().as_secs_f64()
}

/// wrk for 10 s with 16 connections: requests per second and how many requests.
fn wrk(url: &str) -> (f64, f64) {
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
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk output: {text}"));
    // "  12345 requests in 10.01s, 1.2MB read"
    let requests = text
        .lines()
        .find(|l| l.contains(" requests in "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no request count in wrk output: {text}"));
    (rps, requests)
}

/// wrk on `url`, with each daemon's CPU time per request.
fn wrk_phase(cloud: &Cloud, phase: &str, url: &str) -> f64 {
    let before = cpu_s(cloud);
    let (rps, requests) = wrk(url);
    cpu_per_request(phase, &before, &cpu_s(cloud), requests);
    rps
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
    cloud.unlimited_quota("admin").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let mut rss = vec![];
    for d in &cloud.daemons {
        rss.push((
            d.name.split('@').next().unwrap().to_string(),
            cloud.rss_kib(&d.name),
        ));
    }
    let detail_url = format!("{}/servers/detail", cloud.api);
    let rps_empty = wrk_phase(&cloud, "detail_0", &detail_url);
    // The same empty answer from the conductor: a filter (matching
    // nothing here) makes it not the whole project's listing, which
    // nova-api answers alone once it knows the project has no servers.
    let rps_empty_asked = wrk_phase(
        &cloud,
        "detail_0_asked",
        &format!("{detail_url}?status=ACTIVE"),
    );
    let rps_flavors = wrk_phase(&cloud, "flavors", &format!("{}/flavors", cloud.api));

    // One boot at a time: POST → ACTIVE, each on an idle cloud (the
    // previous server's delete has finished before the next POST).
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
        cloud
            .wait_for("single gone", 60, || async {
                (count(&cloud, OWN, None).await == 0).then_some(())
            })
            .await;
    }
    single.sort_by(|a, b| a.partial_cmp(b).unwrap());

    // 100 boots from 10 concurrent clients, then 200 the same way.
    let before = cpu_s(&cloud);
    let (ids, _, boot_100) = boot_many(&cloud, OWN, "b", 10, 10).await;
    cpu_per_request("boot_100", &before, &cpu_s(&cloud), 100.0);
    let rps_100 = wrk_phase(&cloud, "detail_100", &detail_url);
    let before = cpu_s(&cloud);
    let delete_100 = delete_many(&cloud, OWN, &ids).await;
    cpu_per_request("delete_100", &before, &cpu_s(&cloud), 100.0);
    let before = cpu_s(&cloud);
    let (ids, _, boot_200) = boot_many(&cloud, OWN, "c", 10, 20).await;
    cpu_per_request("boot_200", &before, &cpu_s(&cloud), 200.0);
    delete_many(&cloud, OWN, &ids).await;

    // 1,000 boots from 50 concurrent clients (20 each) → all ACTIVE; then
    // the 1,000 listed in one page.
    let before = cpu_s(&cloud);
    let (ids_1000, accepted_1000, boot_1000) = boot_many(&cloud, OWN, "k", 50, 20).await;
    cpu_per_request("boot_1000", &before, &cpu_s(&cloud), 1000.0);
    let rps_1000 = wrk_phase(&cloud, "detail_1000", &format!("{detail_url}?limit=1000"));
    let api_rss_after_lists = cloud.rss_kib(
        &cloud
            .daemons
            .iter()
            .find(|d| d.name.starts_with("nova-api"))
            .unwrap()
            .name,
    );
    // 100 servers of another project, listed (by the admin, as in
    // detail_100) beside the admin's 1,000: a page's cost should not
    // depend on the servers of other projects.
    cloud.unlimited_quota("demo").await;
    let (demo_ids, _, _) = boot_many(&cloud, DEMO, "d", 10, 10).await;
    let rps_100_beside = wrk_phase(
        &cloud,
        "detail_100_beside_1000",
        &format!("{detail_url}?{}", DEMO.query.trim_end_matches('&')),
    );
    delete_many(&cloud, DEMO, &demo_ids).await;
    delete_many(&cloud, OWN, &ids_1000).await;

    let total_rss: u64 = rss
        .iter()
        .filter(|(n, _)| n != "nova-novncproxy" && n != "nova-network")
        .map(|(_, r)| r)
        .sum();
    println!("boot_100_s={boot_100:.2}");
    println!("boot_200_s={boot_200:.2}");
    println!("detail_rps_1000={rps_1000:.1}");
    println!("flavors_rps={rps_flavors:.0}");
    println!(
        "api_rss_after_1000_lists_mib={:.1}",
        api_rss_after_lists as f64 / 1024.0
    );
    println!("delete_100_s={delete_100:.2}");
    println!("accept_1000_s={accepted_1000:.2}");
    println!("boot_1000_s={boot_1000:.2}");
    println!("single_boot_median_s={:.3}", single[single.len() / 2]);
    println!("detail_rps_0={rps_empty:.0}");
    println!("detail_rps_0_asked={rps_empty_asked:.0}");
    println!("detail_rps_100={rps_100:.0}");
    println!("detail_rps_100_beside_1000={rps_100_beside:.0}");
    for (n, r) in &rss {
        println!("rss_kib {n}={r}");
    }
    println!(
        "rss_api_conductor_scheduler_compute_mib={:.1}",
        total_rss as f64 / 1024.0
    );
}
