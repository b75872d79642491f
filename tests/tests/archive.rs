//! `nova-manage db archive_deleted_rows` and `nova-manage db purge` on a
//! running cloud, as an operator's cron job runs them: a deleted server
//! (listed by admins with `deleted=true`, its actions readable at 2.21)
//! moves to the shadow tables with its actions, faults and metadata, and is
//! gone from every read; the live server is untouched. Exit codes and
//! output are Nova's (1 while rows were archived, 0 once nothing is left,
//! the verbose table; purge 0, then 3 with nothing left), bad options get
//! theirs.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::json;

async fn boot(cloud: &Cloud, name: &str) -> String {
    let (s, b) = call(
        cloud,
        Method::POST,
        "/servers",
        &cloud.demo,
        "2.37",
        Some(json!({"server": {"name": name, "imageRef": cloud.image_id,
            "flavorRef": "1", "networks": "none"}})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    b["server"]["id"].as_str().unwrap().to_string()
}

async fn delete(cloud: &Cloud, id: &str) {
    let path = format!("/servers/{id}");
    let (s, b) = call(cloud, Method::DELETE, &path, &cloud.demo, "2.1", None).await;
    assert_eq!(s, 204, "{b}");
    cloud
        .wait_for("the delete", 60, || async {
            let (s, _) = call(cloud, Method::GET, &path, &cloud.demo, "2.1", None).await;
            (s == 404).then_some(())
        })
        .await;
}

/// The ids admins list among deleted servers.
async fn deleted_ids(cloud: &Cloud) -> Vec<String> {
    let (s, b) = call(
        cloud,
        Method::GET,
        "/servers/detail?all_tenants=1&deleted=true",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_servers_are_archived_then_purged() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("ar-{id}"), "")], true).await;
    let gone = boot(&cloud, "gone").await;
    let kept = boot(&cloud, "kept").await;
    cloud.wait_for_builds(2, 60).await;
    let before_delete = chrono::Utc::now() - chrono::Duration::seconds(60);
    delete(&cloud, &gone).await;
    assert_eq!(deleted_ids(&cloud).await, [gone.as_str()]);
    // A listing of what changed since shows the deletion, to its owner too
    // (Nova's changes-since reads deleted servers unless `deleted` says
    // otherwise; a user's `deleted` is ignored); a plain listing does not.
    let since = before_delete.format("%Y-%m-%dT%H:%M:%SZ");
    let listed = |token: String, query: String| {
        let cloud = &cloud;
        async move {
            let path = format!("/servers/detail?{query}");
            let (s, b) = call(cloud, Method::GET, &path, &token, "2.1", None).await;
            assert_eq!(s, 200, "{b}");
            b["servers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| {
                    (
                        s["id"].as_str().unwrap().to_string(),
                        s["status"].as_str().unwrap().to_string(),
                    )
                })
                .collect::<std::collections::BTreeMap<_, _>>()
        }
    };
    let demo = cloud.demo.clone();
    let changed = listed(demo.clone(), format!("changes-since={since}")).await;
    assert_eq!(
        changed.get(&gone).map(String::as_str),
        Some("DELETED"),
        "{changed:?}"
    );
    assert_eq!(
        changed.get(&kept).map(String::as_str),
        Some("ACTIVE"),
        "{changed:?}"
    );
    let changed = listed(demo.clone(), format!("changes-since={since}&deleted=false")).await;
    assert!(changed.contains_key(&gone), "{changed:?}");
    assert!(!listed(demo, String::new()).await.contains_key(&gone));
    let admin = cloud.admin.clone();
    let changed = listed(
        admin,
        format!("all_tenants=1&changes-since={since}&deleted=false"),
    )
    .await;
    assert!(
        !changed.contains_key(&gone) && changed.contains_key(&kept),
        "{changed:?}"
    );
    let actions = format!("/servers/{gone}/os-instance-actions");
    let (s, b) = call(&cloud, Method::GET, &actions, &cloud.admin, "2.21", None).await;
    assert_eq!(s, 200, "a deleted server's actions are readable: {b}");
    assert_eq!(b["instanceActions"].as_array().unwrap().len(), 2, "{b}");

    // Options Nova refuses, with its exit codes; nothing moves.
    for (args, code, says) in [
        (
            vec!["db", "archive_deleted_rows", "--max_rows", "-1"],
            2,
            "Must supply a positive value for max_rows",
        ),
        (
            vec!["db", "archive_deleted_rows", "--before", "someday"],
            4,
            "Invalid value for --before",
        ),
        (
            vec!["db", "purge"],
            1,
            "Either --before or --all is required",
        ),
        (
            vec!["db", "purge", "--before", "someday"],
            2,
            "Invalid value for --before",
        ),
    ] {
        let (c, out, err) = cloud.nova_manage_code(&args);
        assert_eq!(c, code, "{args:?}: {out}{err}");
        assert!(out.contains(says), "{args:?}: {out}{err}");
    }
    // Deleted after this date: not yet.
    let (c, out, err) = cloud.nova_manage_code(&[
        "db",
        "archive_deleted_rows",
        "--before",
        "2000-01-01",
        "--verbose",
    ]);
    assert_eq!((c, out.trim()), (0, "Nothing was archived."), "{err}");
    assert_eq!(deleted_ids(&cloud).await, [gone.as_str()]);

    // Archived, until complete, in batches of one row.
    let (c, out, err) = cloud.nova_manage_code(&[
        "db",
        "archive_deleted_rows",
        "--max_rows",
        "1",
        "--until-complete",
        "--verbose",
    ]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        out.starts_with("Archiving..") && out.contains(".complete\n"),
        "{out}"
    );
    assert!(
        out.contains("| Table ") && out.contains("| Number of Rows Archived |"),
        "{out}"
    );
    let row = |table: &str| {
        out.lines()
            .find(|l| l.starts_with(&format!("| {table} ")))
            .map(|l| l.split('|').nth(2).unwrap().trim().to_string())
    };
    assert_eq!(row("instances").as_deref(), Some("1"), "{out}");
    assert_eq!(row("instance_actions").as_deref(), Some("2"), "{out}");
    assert!(row("instance_actions_events").is_some(), "{out}");
    assert!(deleted_ids(&cloud).await.is_empty());
    let (s, b) = call(&cloud, Method::GET, &actions, &cloud.admin, "2.21", None).await;
    assert_eq!(s, 404, "archived, the server is unknown: {b}");
    // The live server is whole.
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{kept}/os-instance-actions"),
        &cloud.demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["instanceActions"].as_array().unwrap().len(), 1, "{b}");
    let (s, b) = call(
        &cloud,
        Method::GET,
        &format!("/servers/{kept}"),
        &cloud.demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!((s, b["server"]["status"].as_str()), (200, Some("ACTIVE")));

    // Nothing left: 0, as a cron loop expects to stop.
    let (c, out, _) = cloud.nova_manage_code(&["db", "archive_deleted_rows", "--verbose"]);
    assert_eq!((c, out.trim()), (0, "Nothing was archived."));

    // Purged, then nothing to purge (3).
    let (c, out, err) = cloud.nova_manage_code(&["db", "purge", "--all", "--verbose"]);
    assert_eq!(c, 0, "{out}{err}");
    assert!(
        out.contains("DB: Deleted 1 rows from shadow_instances based on timestamp column (n/a)"),
        "{out}"
    );
    let (c, out, err) = cloud.nova_manage_code(&["db", "purge", "--all"]);
    assert_eq!(c, 3, "{out}{err}");

    // A second deleted server, archived and purged in one go.
    delete(&cloud, &kept).await;
    let (c, out, err) =
        cloud.nova_manage_code(&["db", "archive_deleted_rows", "--purge", "--verbose"]);
    assert_eq!(c, 1, "{out}{err}");
    assert!(
        out.contains("Rows were archived, running purge..."),
        "{out}"
    );
    assert!(out.contains("from shadow_instances"), "{out}");
    assert!(deleted_ids(&cloud).await.is_empty());
}
