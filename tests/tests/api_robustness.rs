//! The API under hostile or careless clients (real binaries, PostgreSQL,
//! RabbitMQ; noauth2 and the fake driver): clients hanging up mid-request
//! leave no server in a task_state; concurrent creates never exceed the
//! quota; NUL characters and bad filters are 400s, never 5xx; listings stay
//! inside the caller's project.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::{json, Value};
use std::io::Write;
use std::time::Duration;

fn fake_compute(id: &str) -> Vec<(String, &'static str)> {
    vec![(format!("e2e-fake-{id}"), "fake.FakeDriver")]
}

async fn servers(cloud: &Cloud, token: &str) -> Vec<Value> {
    let path = if token == cloud.admin {
        "/servers/detail?all_tenants=1"
    } else {
        "/servers/detail"
    };
    let (s, b) = cloud.get(path, token).await;
    assert_eq!(s, 200, "{b}");
    b["servers"].as_array().cloned().unwrap_or_default()
}

async fn wait_settled(cloud: &Cloud, what: &str) -> Vec<Value> {
    cloud
        .wait_for(what, 120, || async {
            let all = servers(cloud, &cloud.admin).await;
            all.iter()
                .all(|s| s["OS-EXT-STS:task_state"].is_null() && s["status"] != "BUILD")
                .then_some(all)
        })
        .await
}

/// Send one request on a raw socket and close it `after_ms` later, before
/// the answer can arrive: the client hangs up mid-request.
fn hang_up(cloud: &Cloud, method: &str, path: &str, body: &Value, after_ms: u64) {
    let url = reqwest::Url::parse(&format!("{}{path}", cloud.api)).unwrap();
    let addr = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap());
    let body = body.to_string();
    let mut sock = std::net::TcpStream::connect(addr).unwrap();
    write!(
        sock,
        "{method} {} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        url.path(),
        cloud.demo,
        body.len()
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(after_ms));
    drop(sock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_requests_leave_nothing_half_done() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let (s, _) = cloud
        .req(
            Method::PUT,
            &format!("/os-quota-sets/{}", cloud.demo_project),
            &cloud.admin,
            Some(json!({"quota_set": {"instances": 100, "cores": 200, "ram": 204800}})),
        )
        .await;
    assert_eq!(s, 200);
    let boot = |name: &str| json!({"server": {"name": name, "imageRef": cloud.image_id, "flavorRef": "1"}});
    // Creates cut short at 1..15 ms, and later (a loaded machine reads the
    // request later: one cut before the server starts on it leaves nothing).
    let delays = (1..=15u64).chain((1..=8).map(|k| 25 * k));
    for (i, after_ms) in delays.enumerate() {
        hang_up(
            &cloud,
            "POST",
            "/servers",
            &boot(&format!("cut-{i}")),
            after_ms,
        );
    }
    let all = wait_settled(&cloud, "interrupted creates to settle").await;
    assert!(!all.is_empty(), "no create went through");
    assert!(all.iter().all(|s| s["status"] == "ACTIVE"), "{all:#?}");
    // Reboots and then deletes cut short.
    for (i, s) in all.iter().enumerate() {
        let id = s["id"].as_str().unwrap();
        hang_up(
            &cloud,
            "POST",
            &format!("/servers/{id}/action"),
            &json!({"reboot": {"type": "SOFT"}}),
            1 + (i as u64 % 15),
        );
    }
    let after = wait_settled(&cloud, "interrupted reboots to settle").await;
    assert!(after.iter().all(|s| s["status"] == "ACTIVE"), "{after:#?}");
    // Every server still takes actions (nothing stuck refusing with 409).
    let first = after[0]["id"].as_str().unwrap().to_string();
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{first}/action"),
            &cloud.demo,
            Some(json!({"reboot": {"type": "HARD"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    wait_settled(&cloud, "the hard reboot").await;
    for (i, s) in after.iter().enumerate() {
        let id = s["id"].as_str().unwrap();
        hang_up(
            &cloud,
            "DELETE",
            &format!("/servers/{id}"),
            &json!({}),
            1 + (i as u64 % 15),
        );
    }
    // A delete cut before the API read it leaves its server untouched (as a
    // create cut that early leaves nothing); none may stay half-deleted.
    let left = wait_settled(&cloud, "interrupted deletes to settle").await;
    assert!(left.len() < after.len(), "no delete went through");
    assert!(left.iter().all(|s| s["status"] == "ACTIVE"), "{left:#?}");
    for s in &left {
        let id = s["id"].as_str().unwrap();
        let (st, b) = cloud
            .req(Method::DELETE, &format!("/servers/{id}"), &cloud.demo, None)
            .await;
        assert_eq!(st, 204, "{b}");
    }
    cloud
        .wait_for("every delete to finish", 120, || async {
            servers(&cloud, &cloud.admin).await.is_empty().then_some(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_holds_under_concurrency_and_bad_input_is_a_400() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let (s, _) = cloud
        .req(
            Method::PUT,
            &format!("/os-quota-sets/{}", cloud.demo_project),
            &cloud.admin,
            Some(json!({"quota_set": {"instances": 10}})),
        )
        .await;
    assert_eq!(s, 200);
    let many = |n: i64| {
        json!({"server": {"name": "q", "imageRef": cloud.image_id, "flavorRef": "1",
                          "min_count": n, "max_count": n}})
    };
    // Three concurrent requests for 8: never more than 10 servers.
    let (a, b, c) = tokio::join!(
        cloud.req(Method::POST, "/servers", &cloud.demo, Some(many(8))),
        cloud.req(Method::POST, "/servers", &cloud.demo, Some(many(8))),
        cloud.req(Method::POST, "/servers", &cloud.demo, Some(many(8))),
    );
    let codes = [a.0, b.0, c.0];
    assert_eq!(codes.iter().filter(|c| **c == 202).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 403).count(), 2, "{codes:?}");
    let mine = servers(&cloud, &cloud.demo).await;
    assert_eq!(mine.len(), 8);
    // A huge max_count answers at once.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(many(1_000_000_000)),
        )
        .await;
    assert_eq!(s, 400, "{b}");

    // NUL characters: 400 naming the field, nothing stored.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(json!({"server": {"name": "a\u{0}b", "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("name"), "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(
                json!({"server": {"name": "m", "imageRef": cloud.image_id, "flavorRef": "1",
                                   "metadata": {"k": "v\u{0}"}}}),
            ),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert!(b.to_string().contains("metadata.k"), "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-keypairs",
            &cloud.demo,
            Some(json!({"keypair": {"name": "k\u{0}"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    for path in [
        "/os-keypairs/a%00b",
        "/servers/detail?name=x%00",
        "/flavors/%00",
    ] {
        let (s, b) = cloud.get(path, &cloud.demo).await;
        assert_eq!(s, 400, "{path}: {b}");
    }
    // The name filter is a regular expression; a bad one is a 400.
    for bad in ["[", "*", "("] {
        let (s, b) = cloud
            .get(&format!("/servers?name={}", urlencode(bad)), &cloud.demo)
            .await;
        assert_eq!(s, 400, "name={bad}: {b}");
    }
    let (s, b) = cloud.get("/servers?name=q-%5B0-9%5D", &cloud.demo).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["servers"].as_array().unwrap().len(), 8);
    assert_eq!(
        servers(&cloud, &cloud.demo).await.len(),
        8,
        "a bad request stored something"
    );

    // Listings stay in the caller's project.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.alt,
            Some(json!({"server": {"name": "alt", "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let alt_id = b["server"]["id"].as_str().unwrap().to_string();
    let demo_project = cloud.demo_project.clone();
    let (s, b) = cloud
        .get(
            &format!("/servers?all_tenants=1&tenant_id={demo_project}"),
            &cloud.admin,
        )
        .await;
    assert_eq!(s, 200);
    let ids: Vec<&str> = b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 8);
    assert!(!ids.contains(&alt_id.as_str()));
    // Without all_tenants, tenant_id does not reach another project.
    let (s, b) = cloud
        .get(&format!("/servers?tenant_id={demo_project}"), &cloud.admin)
        .await;
    assert_eq!(s, 200);
    assert!(b["servers"].as_array().unwrap().is_empty(), "{b}");
    // Another project's server as a marker is as unknown as a random id.
    for marker in [alt_id.clone(), uuid::Uuid::new_v4().to_string()] {
        let (s, b) = cloud
            .get(&format!("/servers?marker={marker}"), &cloud.demo)
            .await;
        assert_eq!(s, 400, "{b}");
    }
    // Nothing above made a 5xx: the API log has no error line.
    let log = cloud.log("nova-api");
    assert!(!log.contains(" failed: "), "{}", nova_e2e::tail(&log, 40));
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| format!("%{b:02X}")).collect()
}
