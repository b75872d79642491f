//! Profiling aid (not a test): `GET /servers/detail` with 100 servers, end
//! to end, under callgrind. One FakeDriver host; 100 servers are booted,
//! then `NOVA_PROFILE_REQUESTS` (default 20) sequential detail requests as
//! the admin at 2.1 (what `bench.rs`'s wrk phase sends) run between
//! `callgrind_control -i on` and `callgrind_control -d` of every daemon
//! started under valgrind. Start nova-api and nova-conductor under
//! callgrind through a `NOVA_BIN_DIR` whose `nova-api`/`nova-conductor` are
//! wrapper scripts:
//!
//! ```text
//! mkdir -p /tmp/cgbin /tmp/cg && for b in target/release/nova-*; do ln -sf "$PWD/$b" /tmp/cgbin/; done
//! for d in nova-api nova-conductor; do rm /tmp/cgbin/$d; printf '#!/bin/sh\nexec valgrind --tool=callgrind \
//!   --instr-atstart=no --callgrind-out-file=/tmp/cg/%s.%%p %s "$@"\n' $d "$PWD/target/release/$d" > /tmp/cgbin/$d
//!   chmod +x /tmp/cgbin/$d; done
//! NOVA_BIN_DIR=/tmp/cgbin target/release/examples/detail_profile
//! callgrind_annotate --inclusive=yes /tmp/cg/nova-api.<pid> | head -60
//! ```
//!
//! Each dump's `summary:` line is the instructions its daemon spent on
//! the requests. `NOVA_PROFILE_HOLD=<seconds>` keeps the cloud up after
//! them (its database is printed), to look at it with psql.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::json;
use std::process::Command;

const ADMIN: &str = "admin:admin";

fn callgrind_control(args: &[&str], pid: u32) -> bool {
    Command::new("callgrind_control")
        .args(args)
        .arg(pid.to_string())
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let requests: usize = std::env::var("NOVA_PROFILE_REQUESTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let servers: usize = std::env::var("NOVA_PROFILE_SERVERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let cloud =
        Cloud::start_with(|id| vec![(format!("prof-{id}"), "fake.FakeDriver")], false).await;
    cloud.unlimited_quota("admin").await;
    cloud
        .wait_for("compute node", 120, || async {
            let (_, b) = cloud.get("/os-hypervisors", ADMIN).await;
            (b["hypervisors"].as_array().map(|a| a.len()) == Some(1)).then_some(())
        })
        .await;
    for chunk in 0..servers.div_ceil(50) {
        let n = (servers - chunk * 50).min(50);
        let (s, b) = cloud
            .req(
                Method::POST,
                "/servers",
                ADMIN,
                Some(
                    json!({"server": {"name": format!("p{chunk}"), "imageRef": cloud.image_id,
                    "flavorRef": "1", "min_count": n, "max_count": n}}),
                ),
            )
            .await;
        assert_eq!(s, 202, "{b}");
    }
    cloud
        .wait_for("all ACTIVE", 1200, || async {
            let (_, b) = cloud.get("/servers?status=ACTIVE", ADMIN).await;
            (b["servers"].as_array().map(|a| a.len()) == Some(servers)).then_some(())
        })
        .await;
    // One listing first: what is profiled is the listing asked again
    // (nova-api holding its servers, see `instance_cache.rs`), as wrk's are.
    let (s, _) = cloud.get("/servers/detail", ADMIN).await;
    assert_eq!(s, 200);
    let profiled: Vec<(String, u32)> = cloud
        .daemons
        .iter()
        .map(|d| (d.name.clone(), d.child.id()))
        .filter(|(_, pid)| callgrind_control(&["-i", "on"], *pid))
        .collect();
    println!("profiling {profiled:?}");
    for _ in 0..requests {
        let (s, b) = cloud.get("/servers/detail", ADMIN).await;
        assert_eq!(s, 200);
        assert_eq!(b["servers"].as_array().unwrap().len(), servers);
    }
    for (name, pid) in &profiled {
        callgrind_control(&["-d"], *pid);
        callgrind_control(&["-i", "off"], *pid);
        println!("dumped {name} pid {pid}");
    }
    // `NOVA_PROFILE_HOLD=<seconds>`: keep the cloud (its database, its
    // daemons) up that long after the requests, to look at it with psql.
    if let Some(secs) = std::env::var("NOVA_PROFILE_HOLD")
        .ok()
        .and_then(|v| v.parse().ok())
    {
        println!("holding the cloud for {secs} s (database {})", cloud.db);
        tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    }
}
