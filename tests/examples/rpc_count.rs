//! Benchmark (not a test): how many RPC messages one request costs, per
//! daemon and method, counted from the daemons' debug logs (each server logs
//! `received` for every message it handles, calls and casts alike; replies
//! are not counted). One FakeDriver host, noauth2:
//!
//! ```text
//! cargo build --workspace --bins && cargo build -p nova-e2e --example rpc_count
//! target/debug/examples/rpc_count
//! ```
//!
//! Prints `rpc_<phase>_total=N` and one `rpc_<phase> <daemon> <method>=N`
//! line per method, for: one boot (POST → ACTIVE), one servers/detail as
//! an admin at 2.16 (with `host_status`), one show at 2.16, one delete.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::json;
use std::collections::BTreeMap;

const ADMIN: &str = "admin:admin";
const DAEMONS: &[&str] = &[
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-network",
    "nova-novncproxy",
];

/// The messages each daemon handled for request `rid` (the request id
/// travels in every message's context), by (daemon, method).
fn received(cloud: &Cloud, compute: &str, rid: &str) -> BTreeMap<(String, String), usize> {
    let mut out = BTreeMap::new();
    for (name, line) in lines_of(cloud, compute, rid) {
        if !line.contains(" received") {
            continue;
        }
        let Some(m) = line.split("method=").nth(1) else {
            continue;
        };
        let method = m.split([' ', '}']).next().unwrap_or_default().to_string();
        *out.entry((name, method)).or_default() += 1;
    }
    out
}

/// Every daemon's log lines that name request `rid` (the request id travels
/// in every message's context), with the daemon's name.
fn lines_of(cloud: &Cloud, compute: &str, rid: &str) -> Vec<(String, String)> {
    let tag = format!("request_id={rid}");
    DAEMONS
        .iter()
        .map(|d| d.to_string())
        .chain([format!("nova-compute@{compute}")])
        .flat_map(|name| {
            cloud
                .log(&name)
                .lines()
                .filter(|l| l.contains(&tag))
                .map(|l| (name.clone(), l.to_string()))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Every log line of every daemon that names request `rid`, in time order
/// (the lines start with an RFC 3339 timestamp), with the milliseconds since
/// the first: where a request's time goes, daemon by daemon.
fn timeline(cloud: &Cloud, compute: &str, rid: &str) {
    let mut lines: Vec<(String, String, String)> = lines_of(cloud, compute, rid)
        .into_iter()
        .map(|(name, line)| {
            let (ts, rest) = line.split_once(' ').unwrap_or((&line, ""));
            (ts.to_string(), name, rest.trim().to_string())
        })
        .collect();
    lines.sort();
    let ms = |ts: &str| {
        chrono::DateTime::parse_from_rfc3339(ts)
            .map(|t| t.timestamp_micros() as f64 / 1000.0)
            .unwrap_or(0.0)
    };
    let t0 = lines.first().map(|l| ms(&l.0)).unwrap_or(0.0);
    for (ts, name, rest) in &lines {
        let rest: String = rest.chars().take(160).collect();
        println!("timeline {:8.2} {name:<28} {rest}", ms(ts) - t0);
    }
}

fn report(phase: &str, counts: &BTreeMap<(String, String), usize>) {
    for ((daemon, method), n) in counts {
        println!("rpc_{phase} {daemon} {method}={n}");
    }
    println!("rpc_{phase}_total={}", counts.values().sum::<usize>());
}

/// A request as the admin at 2.16: (status, body, request id).
async fn send(
    cloud: &Cloud,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value, String) {
    let mut r = cloud
        .http
        .request(method, format!("{}{path}", cloud.api))
        .header("X-Auth-Token", ADMIN)
        .header("OpenStack-API-Version", "compute 2.16");
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let rid = resp.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_string();
    let body = resp.json().await.unwrap_or(serde_json::Value::Null);
    (status, body, rid)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // The RPC servers' debug lines: every handled message is one `received`.
    // With NOVA_RPC_TIMELINE, RUST_LOG may add more (`sqlx::query=debug`
    // shows each statement's time).
    let extra = std::env::var("RUST_LOG").unwrap_or_default();
    std::env::set_var("RUST_LOG", format!("info,nova_rpc::server=debug,{extra}"));
    let host_of = |id: &str| format!("rpc-{id}");
    let cloud = Cloud::start_with(|id| vec![(host_of(id), "fake.FakeDriver")], false).await;
    let compute = host_of(&cloud.id);
    let settle = || tokio::time::sleep(std::time::Duration::from_millis(500));

    // The first boot fills what nova-api keeps (the flavors, the image's
    // metadata) and the host's image cache; the second is the one counted.
    let mut boot = String::new();
    let mut id = String::new();
    for name in ["rpc-count-warm", "rpc-count"] {
        let started = std::time::Instant::now();
        let (s, b, rid) = send(
            &cloud,
            Method::POST,
            "/servers",
            Some(json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        id = b["server"]["id"].as_str().unwrap().to_string();
        cloud
            .wait_for("ACTIVE", 60, || async {
                let (_, b) = cloud.get(&format!("/servers/{id}"), ADMIN).await;
                (b["server"]["status"] == "ACTIVE"
                    && b["server"]["OS-EXT-STS:task_state"].is_null())
                .then_some(())
            })
            .await;
        println!("boot_s {name}={:.3}", started.elapsed().as_secs_f64());
        boot = rid;
    }
    settle().await;
    report("boot", &received(&cloud, &compute, &boot));
    if std::env::var_os("NOVA_RPC_TIMELINE").is_some() {
        timeline(&cloud, &compute, &boot);
    }

    let (s, _, rid) = send(&cloud, Method::GET, "/servers/detail", None).await;
    assert_eq!(s, 200);
    settle().await;
    report("detail_admin_2_16", &received(&cloud, &compute, &rid));

    let (s, _, rid) = send(&cloud, Method::GET, &format!("/servers/{id}"), None).await;
    assert_eq!(s, 200);
    settle().await;
    report("show_admin_2_16", &received(&cloud, &compute, &rid));

    let (s, _, rid) = send(&cloud, Method::GET, "/flavors", None).await;
    assert_eq!(s, 200);
    settle().await;
    report("flavors", &received(&cloud, &compute, &rid));

    let (s, _, del) = send(&cloud, Method::DELETE, &format!("/servers/{id}"), None).await;
    assert_eq!(s, 204);
    cloud
        .wait_for("deleted", 60, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), ADMIN).await;
            (s == 404).then_some(())
        })
        .await;
    settle().await;
    report("delete", &received(&cloud, &compute, &del));
}
