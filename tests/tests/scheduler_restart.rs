//! nova-scheduler killed while 200 boots are being requested, and started
//! again a few seconds later: every server ends ACTIVE (or ERROR with a
//! fault), none stays in BUILD. The conductor's calls wait in the scheduler's
//! queue; the new scheduler refreshes its host states before answering.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use std::time::Duration;

const REQUESTS: usize = 8;
const PER_REQUEST: usize = 25;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boots_survive_a_scheduler_restart() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-a-{id}"), ""),
                ComputeHost::fake(format!("e2e-b-{id}"), ""),
            ]
        },
        false,
    )
    .await;
    cloud.unlimited_quota(&cloud.admin_project).await;

    // Eight requests of 25 servers at once (no networks: the test network has 250 addresses).
    let posts = cloud.boot_concurrently("load", REQUESTS, PER_REQUEST);
    // Some builds are under way when the scheduler dies.
    cloud
        .wait_for("the first servers to be created", 60, || async {
            (cloud.all_servers().await.len() >= PER_REQUEST).then_some(())
        })
        .await;
    cloud.kill("nova-scheduler");
    tokio::time::sleep(Duration::from_secs(3)).await;
    cloud.restart("nova-scheduler");
    for p in posts {
        let (s, b) = p.await.unwrap();
        assert_eq!(s, 202, "{b}");
    }

    let all = cloud.wait_for_builds(REQUESTS * PER_REQUEST, 300).await;
    let mut active = 0;
    for srv in &all {
        match srv["status"].as_str().unwrap() {
            "ACTIVE" => active += 1,
            "ERROR" => assert!(
                srv["fault"]["message"].is_string(),
                "ERROR without a fault: {srv}"
            ),
            other => panic!("server left {other}: {srv}"),
        }
    }
    eprintln!("{active} of {} servers ACTIVE", all.len());
    assert_eq!(active, all.len(), "every server should be ACTIVE");
}
