//! nova-network's security groups through the compute API (real binaries,
//! PostgreSQL, RabbitMQ; noauth2 and the fake driver): the per-project
//! `default` group (with the admin's default rules), group and rule CRUD with
//! Nova's validation (400), unknown groups and rules (404), duplicate rules,
//! in-use and system groups (400), quotas (403), membership of servers
//! (create, add/remove actions, `/servers/{id}/os-security-groups`), and the
//! proxy APIs' end at microversion 2.36.
//! (tests/tests/firewall.rs checks the rules on a real guest.)

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::{json, Value};

fn fake_compute(id: &str) -> Vec<(String, &'static str)> {
    vec![(format!("e2e-fake-{id}"), "fake.FakeDriver")]
}

/// A request at a microversion.
async fn req_at(
    cloud: &Cloud,
    version: &str,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut r = cloud
        .http
        .request(method, format!("{}{path}", cloud.api))
        .header("X-Auth-Token", token)
        .header("X-OpenStack-Nova-API-Version", version);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn post(cloud: &Cloud, path: &str, token: &str, body: Value) -> (u16, Value) {
    cloud.req(Method::POST, path, token, Some(body)).await
}

fn rule(parent: &Value, proto: &str, from: Value, to: Value, cidr: Option<&str>) -> Value {
    let mut r = json!({"parent_group_id": parent, "ip_protocol": proto,
                       "from_port": from, "to_port": to});
    if let Some(c) = cidr {
        r["cidr"] = json!(c);
    }
    json!({ "security_group_rule": r })
}

async fn groups(cloud: &Cloud, token: &str) -> Vec<Value> {
    let (s, b) = cloud.get("/os-security-groups", token).await;
    assert_eq!(s, 200, "{b}");
    b["security_groups"].as_array().cloned().unwrap()
}

/// The names of the server's groups (`/servers/{id}/os-security-groups`), sorted.
async fn server_groups(cloud: &Cloud, id: &str) -> Vec<String> {
    let (s, b) = cloud
        .get(&format!("/servers/{id}/os-security-groups"), &cloud.demo)
        .await;
    assert_eq!(s, 200, "{b}");
    let mut names: Vec<String> = b["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap().to_string())
        .collect();
    names.sort();
    names
}

async fn action(cloud: &Cloud, id: &str, body: Value) -> (u16, Value) {
    post(cloud, &format!("/servers/{id}/action"), &cloud.demo, body).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn security_groups_api() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let demo = &cloud.demo;

    // The default group appears on first use, empty, in the caller's project.
    let gs = groups(&cloud, demo).await;
    assert_eq!(gs.len(), 1, "{gs:?}");
    assert_eq!(gs[0]["name"], "default");
    assert_eq!(gs[0]["tenant_id"], cloud.demo_project.as_str());
    assert_eq!(gs[0]["rules"], json!([]));
    let default_id = gs[0]["id"].clone();

    // Create, show, update; Nova's 400s for bad names and duplicates.
    let (s, b) = post(
        &cloud,
        "/os-security-groups",
        demo,
        json!({"security_group": {"name": "web", "description": "web servers"}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let web = b["security_group"].clone();
    assert_eq!(web["name"], "web");
    assert_eq!(web["description"], "web servers");
    let web_id = web["id"].clone();
    // Counted against the project's limits (default and web).
    let (_, b) = cloud.get("/limits", demo).await;
    let abs = &b["limits"]["absolute"];
    assert_eq!(
        (
            abs["totalSecurityGroupsUsed"].clone(),
            abs["maxSecurityGroups"].clone()
        ),
        (json!(2), json!(10)),
        "{b}"
    );
    assert_eq!(abs["maxSecurityGroupRules"], 20);
    // Paging as Nova's `common.limited`: a limit of 0 is no limit; an
    // offset skips; a limit that is not a non-negative integer is a 400.
    let names = |b: &Value| -> Vec<String> {
        let list = b["security_groups"].as_array().unwrap();
        list.iter()
            .map(|g| g["name"].as_str().unwrap().to_string())
            .collect()
    };
    let (s, all) = cloud.get("/os-security-groups?limit=0", demo).await;
    assert_eq!(
        (s, names(&all)),
        (200, vec!["default".to_string(), "web".into()]),
        "{all}"
    );
    let (_, b) = cloud
        .get("/os-security-groups?limit=1&offset=1", demo)
        .await;
    assert_eq!(names(&b), ["web"], "{b}");
    let (s, b) = cloud.get("/os-security-groups?limit=-1", demo).await;
    assert_eq!(
        (s, b["badRequest"]["message"].as_str()),
        (400, Some("Invalid input for query parameters limit. Value: -1. '-1' does not match '^[0-9]*$'")),
        "{b}"
    );
    let (s, b) = post(
        &cloud,
        "/os-security-groups",
        demo,
        json!({"security_group": {"name": "web", "description": "again"}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        "Security group web already exists"
    );
    for bad in [
        json!({"security_group": {"name": "", "description": "x"}}),
        json!({"security_group": {"name": "x"}}),
        json!({"security_group": {"name": 5, "description": "x"}}),
        json!({"nothing": {}}),
    ] {
        let (s, b) = post(&cloud, "/os-security-groups", demo, bad.clone()).await;
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let (s, b) = cloud
        .get(&format!("/os-security-groups/{web_id}"), demo)
        .await;
    assert_eq!(
        (s, &b["security_group"]["name"]),
        (200, &json!("web")),
        "{b}"
    );
    let (s, _) = cloud.get("/os-security-groups/abc", demo).await;
    assert_eq!(s, 400);
    let (s, b) = cloud.get("/os-security-groups/999999", demo).await;
    assert_eq!(s, 404, "{b}");
    // Another project's group does not exist for the demo user.
    let alt_groups = groups(&cloud, &cloud.alt).await;
    let alt_default = alt_groups[0]["id"].clone();
    let (s, _) = cloud
        .get(&format!("/os-security-groups/{alt_default}"), demo)
        .await;
    assert_eq!(s, 404);
    let (s, b) = cloud
        .req(
            Method::PUT,
            &format!("/os-security-groups/{default_id}"),
            demo,
            Some(json!({"security_group": {"name": "other", "description": "x"}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        "Unable to update system group 'default'"
    );

    // Rules: one tcp/80 from anywhere; Nova's validation.
    let (s, b) = post(
        &cloud,
        "/os-security-group-rules",
        demo,
        rule(&web_id, "tcp", json!(80), json!("80"), Some("0.0.0.0/0")),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let r = &b["security_group_rule"];
    assert_eq!(r["ip_protocol"], "tcp");
    assert_eq!(
        (r["from_port"].clone(), r["to_port"].clone()),
        (json!(80), json!(80))
    );
    assert_eq!(r["ip_range"], json!({"cidr": "0.0.0.0/0"}));
    assert_eq!(r["parent_group_id"], web_id);
    let rule80 = r["id"].clone();
    let bad_rules = [
        (
            rule(&web_id, "tcp", json!(80), json!(80), Some("0.0.0.0/0")),
            "This rule already exists in group",
        ),
        (
            rule(&web_id, "tcp", json!(0), json!(80), None),
            "Valid TCP ports should be between 1-65535",
        ),
        (
            rule(&web_id, "udp", json!(1), json!(70000), None),
            "Valid UDP ports should be between 1-65535",
        ),
        (
            rule(&web_id, "tcp", json!(90), json!(80), None),
            "Former value cannot be greater than the later",
        ),
        (
            rule(&web_id, "gre", json!(1), json!(2), None),
            "Invalid IP protocol gre.",
        ),
        (
            rule(&web_id, "tcp", json!("a"), json!(2), None),
            "To and From ports must be integers",
        ),
        (
            rule(&web_id, "icmp", json!(300), json!(0), None),
            "For ICMP, the type:code must be valid",
        ),
        (
            rule(&web_id, "tcp", json!(1), json!(2), Some("10.0.0.0/33")),
            "10.0.0.0/33 is not a valid IP network.",
        ),
        (
            rule(&web_id, "tcp", json!(1), json!(2), Some("10.1.0.0/0")),
            "Bad prefix for network in cidr 10.1.0.0/0",
        ),
        (
            rule(&web_id, "tcp", Value::Null, Value::Null, None),
            "Not enough parameters to build a valid rule.",
        ),
        (
            rule(&json!("x"), "tcp", json!(1), json!(2), None),
            "Security group id should be integer",
        ),
    ];
    for (body, msg) in bad_rules {
        let (s, b) = post(&cloud, "/os-security-group-rules", demo, body.clone()).await;
        assert_eq!(s, 400, "{body}: {b}");
        let got = b["badRequest"]["message"].as_str().unwrap_or_default();
        assert!(got.contains(msg), "{body}: {got}");
    }
    let (s, _) = post(
        &cloud,
        "/os-security-group-rules",
        demo,
        rule(&json!(999999), "tcp", json!(1), json!(2), None),
    )
    .await;
    assert_eq!(s, 404);
    // From a source group: the whole tcp range by default, the group named.
    let (s, b) = post(
        &cloud,
        "/os-security-group-rules",
        demo,
        json!({"security_group_rule": {"parent_group_id": web_id, "group_id": default_id, "ip_protocol": "tcp"}}),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let r = &b["security_group_rule"];
    assert_eq!(
        r["group"],
        json!({"name": "default", "tenant_id": cloud.demo_project})
    );
    assert_eq!(
        (r["from_port"].clone(), r["to_port"].clone()),
        (json!(1), json!(65535))
    );
    let (s, b) = post(
        &cloud,
        "/os-security-group-rules",
        demo,
        rule(&web_id, "icmp", json!(-1), json!(-1), None),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let (_, b) = cloud
        .get(&format!("/os-security-groups/{web_id}"), demo)
        .await;
    assert_eq!(
        b["security_group"]["rules"].as_array().unwrap().len(),
        3,
        "{b}"
    );

    // Quotas: rules per group and groups per project (403).
    let (s, b) = cloud
        .req(
            Method::PUT,
            &format!("/os-quota-sets/{}", cloud.demo_project),
            &cloud.admin,
            Some(json!({"quota_set": {"security_group_rules": 3, "security_groups": 2}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["quota_set"]["security_group_rules"], 3);
    let (s, b) = post(
        &cloud,
        "/os-security-group-rules",
        demo,
        rule(&web_id, "udp", json!(53), json!(53), None),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        b["forbidden"]["message"],
        "Quota exceeded, too many security group rules."
    );
    let (s, b) = post(
        &cloud,
        "/os-security-groups",
        demo,
        json!({"security_group": {"name": "third", "description": "x"}}),
    )
    .await;
    assert_eq!(s, 403, "{b}");
    assert_eq!(
        b["forbidden"]["message"],
        "Quota exceeded, too many security groups."
    );
    // Network quotas are gone from 2.36.
    let (_, b) = req_at(
        &cloud,
        "2.36",
        Method::GET,
        &format!("/os-quota-sets/{}", cloud.demo_project),
        &cloud.admin,
        None,
    )
    .await;
    assert!(b["quota_set"].get("security_groups").is_none(), "{b}");

    // Servers: create in a group; an unknown group is a 400.
    let (s, b) = post(
        &cloud,
        "/servers",
        demo,
        json!({"server": {"name": "sg-nope", "imageRef": cloud.image_id, "flavorRef": "1",
                          "security_groups": [{"name": "nope"}]}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["badRequest"]["message"], "Security group nope not found.");
    let (s, b) = post(
        &cloud,
        "/servers",
        demo,
        json!({"server": {"name": "sg-1", "imageRef": cloud.image_id, "flavorRef": "1",
                          "security_groups": [{"name": "web"}]}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(b["server"]["security_groups"], json!([{"name": "web"}]));
    let id = b["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_for("sg-1 ACTIVE", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), demo).await;
            assert_ne!(b["server"]["status"], "ERROR", "{b}");
            (b["server"]["status"] == "ACTIVE").then_some(())
        })
        .await;
    assert_eq!(server_groups(&cloud, &id).await, ["web"]);

    // add/removeSecurityGroup.
    let (s, b) = action(
        &cloud,
        &id,
        json!({"addSecurityGroup": {"name": "default"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    assert_eq!(server_groups(&cloud, &id).await, ["default", "web"]);
    let (_, b) = cloud.get(&format!("/servers/{id}"), demo).await;
    let mut shown: Vec<&str> = b["server"]["security_groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["name"].as_str().unwrap())
        .collect();
    shown.sort();
    assert_eq!(shown, ["default", "web"], "{b}");
    let (s, _) = action(
        &cloud,
        &id,
        json!({"addSecurityGroup": {"name": "default"}}),
    )
    .await;
    assert_eq!(s, 400, "already a member");
    let (s, _) = action(&cloud, &id, json!({"addSecurityGroup": {"name": "nope"}})).await;
    assert_eq!(s, 404);
    let (s, _) = action(&cloud, &id, json!({"addSecurityGroup": {"name": " "}})).await;
    assert_eq!(s, 400);
    let (s, _) = action(&cloud, &id, json!({"addSecurityGroup": {}})).await;
    assert_eq!(s, 400);
    let (s, b) = action(
        &cloud,
        &id,
        json!({"removeSecurityGroup": {"name": "default"}}),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (s, _) = action(
        &cloud,
        &id,
        json!({"removeSecurityGroup": {"name": "default"}}),
    )
    .await;
    assert_eq!(s, 400, "not a member");
    assert_eq!(server_groups(&cloud, &id).await, ["web"]);

    // A group in use, and the default group, cannot be deleted.
    let (s, b) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-groups/{web_id}"),
            demo,
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(b["badRequest"]["message"], "Security group is still in use");
    let (s, b) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-groups/{default_id}"),
            demo,
            None,
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        "Unable to delete system group 'default'"
    );

    // Rules go; a gone rule is a 404.
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-group-rules/{rule80}"),
            demo,
            None,
        )
        .await;
    assert_eq!(s, 202);
    let (s, b) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-group-rules/{rule80}"),
            demo,
            None,
        )
        .await;
    assert_eq!(s, 404, "{b}");

    // Once the server is gone, so can the group be.
    let (s, _) = cloud
        .req(Method::DELETE, &format!("/servers/{id}"), demo, None)
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("sg-1 gone", 60, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), demo).await;
            (s == 404).then_some(())
        })
        .await;
    let (s, b) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-groups/{web_id}"),
            demo,
            None,
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let (s, _) = cloud
        .get(&format!("/os-security-groups/{web_id}"), demo)
        .await;
    assert_eq!(s, 404);

    // The proxy APIs end at 2.35; the actions and the server's groups stay.
    let (s, _) = req_at(
        &cloud,
        "2.35",
        Method::GET,
        "/os-security-groups",
        demo,
        None,
    )
    .await;
    assert_eq!(s, 200);
    let (s, _) = req_at(
        &cloud,
        "2.36",
        Method::GET,
        "/os-security-groups",
        demo,
        None,
    )
    .await;
    assert_eq!(s, 404);
    let (s, _) = req_at(
        &cloud,
        "2.36",
        Method::POST,
        "/os-security-group-rules",
        demo,
        Some(rule(&default_id, "tcp", json!(22), json!(22), None)),
    )
    .await;
    assert_eq!(s, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_rules_seed_new_default_groups() {
    let cloud = Cloud::start_with(fake_compute, false).await;
    let body = json!({"security_group_default_rule":
        {"ip_protocol": "tcp", "from_port": 22, "to_port": 22, "cidr": "10.0.0.0/8"}});
    // Admin only.
    let (s, _) = post(
        &cloud,
        "/os-security-group-default-rules",
        &cloud.demo,
        body.clone(),
    )
    .await;
    assert_eq!(s, 403);
    let (s, b) = post(
        &cloud,
        "/os-security-group-default-rules",
        &cloud.admin,
        body.clone(),
    )
    .await;
    assert_eq!(s, 200, "{b}");
    let r = b["security_group_default_rule"].clone();
    assert_eq!(r["ip_range"], json!({"cidr": "10.0.0.0/8"}));
    assert_eq!(r["ip_protocol"], "tcp");
    let (s, b) = post(
        &cloud,
        "/os-security-group-default-rules",
        &cloud.admin,
        body,
    )
    .await;
    assert_eq!(s, 409, "{b}");
    let (s, b) = post(
        &cloud,
        "/os-security-group-default-rules",
        &cloud.admin,
        json!({"security_group_default_rule": {"ip_protocol": "tcp", "from_port": 0, "to_port": 22}}),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = cloud
        .get("/os-security-group-default-rules", &cloud.admin)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        b["security_group_default_rules"].as_array().unwrap().len(),
        1
    );

    // A project's default group, made now, starts with a copy of the default rules.
    let gs = groups(&cloud, &cloud.demo).await;
    let rules = gs[0]["rules"].as_array().unwrap();
    assert_eq!(rules.len(), 1, "{gs:?}");
    assert_eq!(rules[0]["ip_range"], json!({"cidr": "10.0.0.0/8"}));
    assert_eq!(
        (rules[0]["from_port"].clone(), rules[0]["to_port"].clone()),
        (json!(22), json!(22))
    );

    let id = r["id"].clone();
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/os-security-group-default-rules/{id}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = cloud
        .get(
            &format!("/os-security-group-default-rules/{id}"),
            &cloud.admin,
        )
        .await;
    assert_eq!(s, 404);
    let (s, _) = cloud
        .get("/os-security-group-default-rules/x", &cloud.admin)
        .await;
    assert_eq!(s, 400);
    // The copy stays in the group.
    let gs = groups(&cloud, &cloud.demo).await;
    assert_eq!(gs[0]["rules"].as_array().unwrap().len(), 1);
}
