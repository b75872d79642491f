//! Reschedules, end to end: two fake compute hosts, one whose spawns fail
//! (`[fake] fail_spawn`). Builds that fail there end ACTIVE on the other
//! host; when both fail, the server ends in ERROR with a fault naming both.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

const FAILING: &str = "[fake]\nfail_spawn = true\n";

/// Boot `count` servers named after `name` (unique per call); their ids.
async fn boot(cloud: &Cloud, name: &str, count: usize) -> Vec<String> {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(
                json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1",
                                   "min_count": count, "max_count": count}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (_, list) = cloud
        .get(&format!("/servers?name=^{name}"), &cloud.admin)
        .await;
    let ids: Vec<String> = list["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), count, "{list}");
    ids
}

async fn settled(cloud: &Cloud, id: &str) -> Value {
    cloud
        .wait_for(&format!("server {id} to settle"), 90, || async {
            let (s, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            assert_eq!(s, 200, "{b}");
            let srv = b["server"].clone();
            (srv["status"] != "BUILD" && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

async fn delete_all(cloud: &Cloud, ids: &[String]) {
    for id in ids {
        let (s, b) = cloud
            .req(
                Method::DELETE,
                &format!("/servers/{id}"),
                &cloud.admin,
                None,
            )
            .await;
        assert_eq!(s, 204, "{b}");
    }
    for id in ids {
        cloud
            .wait_for(&format!("{id} to be gone"), 60, || async {
                let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
                (s == 404).then_some(())
            })
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_builds_are_rescheduled_to_another_host() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(format!("e2e-bad-{id}"), FAILING),
                ComputeHost::fake(format!("e2e-good-{id}"), ""),
            ]
        },
        false,
    )
    .await;
    let bad = format!("e2e-bad-{}", cloud.id);
    let good = format!("e2e-good-{}", cloud.id);

    // Four servers in one request: the RAM weigher spreads them over both
    // hosts (equal at first, "bad" sorts first), so two land on the failing
    // host first and are rescheduled to the other one.
    let ids = boot(&cloud, "spread", 4).await;
    for id in &ids {
        let srv = settled(&cloud, id).await;
        assert_eq!(srv["status"], "ACTIVE", "{srv}");
        assert_eq!(srv["OS-EXT-SRV-ATTR:host"], good.as_str(), "{srv}");
        assert!(srv.get("fault").is_none_or(Value::is_null), "{srv}");
    }
    let bad_log = cloud.log(&format!("nova-compute@{bad}"));
    assert!(bad_log.contains("was re-scheduled"), "{bad_log}");
    // One server alone: the failing host (now the emptier) is selected with the other as its alternate.
    let one = boot(&cloud, "alone", 1).await;
    let srv = settled(&cloud, &one[0]).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_eq!(srv["OS-EXT-SRV-ATTR:host"], good.as_str(), "{srv}");
    // Nothing is left counted on the failing host.
    let (_, hv) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
    for h in hv["hypervisors"].as_array().unwrap() {
        let want = if h["service"]["host"] == bad.as_str() {
            0
        } else {
            5
        };
        assert_eq!(h["running_vms"], want, "{h}");
    }
    delete_all(&cloud, &ids.iter().chain(&one).cloned().collect::<Vec<_>>()).await;

    // Both hosts fail: ERROR, with a fault naming both hosts and why.
    cloud.compute_conf(&good, "fake.FakeDriver", FAILING);
    cloud.restart(&format!("nova-compute@{good}"));
    let doomed = boot(&cloud, "doomed", 1).await;
    let srv = settled(&cloud, &doomed[0]).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    let fault = &srv["fault"];
    assert_eq!(fault["code"], 500, "{srv}");
    let msg = fault["message"].as_str().unwrap();
    assert!(
        msg.starts_with("Exceeded maximum number of retries."),
        "{msg}"
    );
    assert!(msg.contains(&bad) && msg.contains(&good), "{msg}");
    // The whole story is in the details (shown to admins).
    let details = fault["details"].as_str().unwrap();
    for host in [&bad, &good] {
        assert!(
            details.contains(&format!(
                "{host}: Virtualization driver error: spawn refused ([fake] fail_spawn is set)"
            )),
            "{details}"
        );
    }
    assert!(srv["OS-EXT-SRV-ATTR:host"].is_null(), "{srv}");
    delete_all(&cloud, &doomed).await;
}
