//! nova-conductor down while builds are requested: 100 boots posted while it
//! is dead wait in its queues and all end ACTIVE once it is back; 100 more,
//! whose builds it was working on when it was killed again, too (its
//! unfinished messages are redelivered and its build steps are idempotent).

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use std::time::Duration;

const REQUESTS: usize = 10;
const PER_REQUEST: usize = 10;

async fn all_active(cloud: &Cloud, expected: usize) {
    let all = cloud.wait_for_builds(expected, 300).await;
    for srv in &all {
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builds_requested_while_the_conductor_is_down_all_end_active() {
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

    // The conductor is dead while 100 boots are posted: nova-api's calls wait
    // in the conductor's queue (within rpc_response_timeout) until it is back.
    cloud.kill("nova-conductor");
    let posts = cloud.boot_concurrently("down", REQUESTS, PER_REQUEST);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cloud.restart("nova-conductor");
    for p in posts {
        let (s, b) = p.await.unwrap();
        assert_eq!(s, 202, "{b}");
    }
    all_active(&cloud, REQUESTS * PER_REQUEST).await;

    // 100 more; the conductor is killed as soon as they are accepted, with
    // their builds queued or half done, and started again.
    let posts = cloud.boot_concurrently("killed", REQUESTS, PER_REQUEST);
    for p in posts {
        let (s, b) = p.await.unwrap();
        assert_eq!(s, 202, "{b}");
    }
    cloud.kill("nova-conductor");
    tokio::time::sleep(Duration::from_secs(2)).await;
    cloud.restart("nova-conductor");
    all_active(&cloud, 2 * REQUESTS * PER_REQUEST).await;
}
