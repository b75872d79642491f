//! Benchmark (not a test): the floor every API request that asks the
//! conductor stands on, an RPC call that does nothing but answer. Two
//! processes, as nova-api and nova-conductor are: this one calls, a child of
//! it (`echo_floor serve <vhost>`) answers `echo` on a topic of its own, over
//! the real RabbitMQ in a vhost made for the run (and deleted after).
//!
//! ```text
//! cargo build --release -p nova-rpc --example echo_floor
//! target/release/examples/echo_floor [SECONDS]     # default 10
//! ```
//!
//! Prints `echo_rps_c1=` (one call at a time), `echo_rps_c16=` (16 in flight,
//! as wrk's 16 connections keep 16 API requests in flight), the mean latency
//! of the sequential calls, and the CPU time per call of each side (from
//! /proc), with a payload of the size of an empty `servers/detail` reply.

use nova_common::{NovaConfig, NovaError, RequestContext};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod echo {
    nova_rpc::rpc_api! {
        topic: "echo_floor", version: "1.0";
        call fn echo(text: String) -> String;
    }
}

struct Echo;

#[nova_rpc::__private::async_trait]
impl echo::Manager for Echo {
    async fn echo(&self, _: &RequestContext, text: String) -> Result<String, NovaError> {
        Ok(text)
    }
}

fn rabbitmqctl(args: &[&str]) -> bool {
    Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn config(vhost: &str) -> NovaConfig {
    match NovaConfig::parse_text(&format!(
        "[DEFAULT]\nhost = echo\nrpc_response_timeout = 30\ntransport_url = rabbit://guest:guest@127.0.0.1:5672/{vhost}\n"
    )) {
        Ok(c) => c,
        Err(e) => panic!("config: {e}"),
    }
}

/// utime + stime of a process, in seconds.
fn cpu_s(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| f.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}

async fn serve(vhost: &str) {
    let t = nova_rpc::Transport::start(&config(vhost), "echo-server").expect("transport");
    t.wait_connected(Duration::from_secs(10))
        .await
        .expect("connected");
    echo::declare(&t, "echo").await.expect("declare");
    println!("ready");
    let stop = CancellationToken::new();
    // Ends when the caller closes our stdin.
    let s = stop.clone();
    tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        let _ = std::io::stdin().read_line(&mut line);
        s.cancel();
    });
    let _ = echo::serve(&t, "echo", Arc::new(Echo), stop, Duration::from_secs(1)).await;
}

/// Calls for `secs` seconds with `inflight` calls outstanding: (calls, elapsed).
async fn run(client: &echo::Client, inflight: usize, secs: u64, payload: &str) -> (u64, f64) {
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let ctx = RequestContext::new("bench", "bench", vec![], false);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..inflight {
        let (c, d, s, ctx, p) = (
            client.clone(),
            done.clone(),
            stop.clone(),
            ctx.clone(),
            payload.to_string(),
        );
        tasks.push(tokio::spawn(async move {
            while !s.load(Ordering::Relaxed) {
                if c.echo(&ctx, p.clone()).await.is_ok() {
                    d.fetch_add(1, Ordering::Relaxed);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(secs)).await;
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    (done.load(Ordering::Relaxed), start.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        serve(args.get(2).map(String::as_str).unwrap_or("/")).await;
        return;
    }
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    let vhost = format!("echo_floor_{}", std::process::id());
    assert!(rabbitmqctl(&["add_vhost", &vhost]), "add_vhost");
    assert!(
        rabbitmqctl(&["set_permissions", "-p", &vhost, "guest", ".*", ".*", ".*"]),
        "set_permissions"
    );
    let me = std::env::current_exe().expect("current_exe");
    let mut child = Command::new(me)
        .args(["serve", &vhost])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the server");
    {
        use std::io::BufRead;
        let out = child.stdout.take().expect("stdout");
        let mut line = String::new();
        let _ = std::io::BufReader::new(out).read_line(&mut line);
        assert_eq!(line.trim(), "ready", "the server did not start");
    }
    let t = nova_rpc::Transport::start(&config(&vhost), "echo-client").expect("transport");
    t.wait_connected(Duration::from_secs(10))
        .await
        .expect("connected");
    let client = echo::Client::new(t);
    // The body of an empty `servers/detail` reply is about this long.
    let payload = "x".repeat(64);
    // Warm up.
    let _ = run(&client, 4, 1, &payload).await;
    let (me_pid, server_pid) = (std::process::id(), child.id());
    let (c0, s0) = (cpu_s(me_pid), cpu_s(server_pid));
    let (n1, e1) = run(&client, 1, secs, &payload).await;
    let (c1, s1) = (cpu_s(me_pid), cpu_s(server_pid));
    let (n16, e16) = run(&client, 16, secs, &payload).await;
    let (c2, s2) = (cpu_s(me_pid), cpu_s(server_pid));
    println!("echo_rps_c1={:.0}", n1 as f64 / e1);
    println!("echo_latency_c1_ms={:.3}", e1 * 1000.0 / n1.max(1) as f64);
    println!("echo_rps_c16={:.0}", n16 as f64 / e16);
    println!(
        "echo_cpu_ms_per_call_c16 caller={:.3} server={:.3}",
        (c2 - c1) * 1000.0 / n16.max(1) as f64,
        (s2 - s1) * 1000.0 / n16.max(1) as f64
    );
    println!(
        "echo_cpu_ms_per_call_c1 caller={:.3} server={:.3}",
        (c1 - c0) * 1000.0 / n1.max(1) as f64,
        (s1 - s0) * 1000.0 / n1.max(1) as f64
    );
    drop(child.stdin.take());
    let _ = child.wait();
    rabbitmqctl(&["delete_vhost", &vhost]);
}
