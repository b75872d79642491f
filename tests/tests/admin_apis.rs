//! Small admin APIs Tempest's compute tests use, over HTTP against the real
//! binaries (noauth2, one fake compute): `/extensions` and
//! `/extensions/{alias}`.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_apis() {
    let cloud = Cloud::start_with(
        |id| vec![(format!("admin-fake-{id}"), "fake.FakeDriver")],
        false,
    )
    .await;
    let (admin, demo) = (cloud.admin.clone(), cloud.demo.clone());

    // ===== /extensions: Nova's fixed list, for anyone =====
    let (s, b) = cloud.get("/extensions", &demo).await;
    assert_eq!(s, 200, "{b}");
    let exts = b["extensions"].as_array().unwrap();
    assert_eq!(exts.len(), 99);
    let aliases: Vec<&str> = exts.iter().map(|e| e["alias"].as_str().unwrap()).collect();
    let mut sorted = aliases.clone();
    sorted.sort();
    assert_eq!(aliases, sorted);
    for e in exts {
        for k in ["name", "alias", "namespace", "updated", "description"] {
            assert!(e[k].is_string(), "{k} in {e}");
        }
        assert_eq!(e["links"], serde_json::json!([]));
    }
    let (s, b) = cloud.get("/extensions/os-volumes", &admin).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["extension"]["name"], "Volumes");
    assert_eq!(b["extension"]["updated"], "2014-12-03T00:00:00Z");
    let (s, _) = cloud.get("/extensions/os-no-such", &demo).await;
    assert_eq!(s, 404);
}
