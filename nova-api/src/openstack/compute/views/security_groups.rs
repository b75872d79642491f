//! Security groups, their rules and the default rules, as Nova renders them.

use nova_objects::{SecurityGroup, SecurityGroupDefaultRule, SecurityGroupRule};
use serde_json::{json, Value};

/// A rule: `group` names its source group, else `ip_range` holds its cidr.
pub fn rule(r: &SecurityGroupRule) -> Value {
    let (group, ip_range) = match (&r.group_id, &r.grantee_group) {
        (Some(_), Some(g)) => (
            json!({"name": g.name, "tenant_id": g.project_id}),
            json!({}),
        ),
        (Some(_), None) => (json!({}), json!({})),
        (None, _) => (json!({}), json!({"cidr": r.cidr})),
    };
    json!({
        "id": r.id,
        "parent_group_id": r.parent_group_id,
        "ip_protocol": r.protocol,
        "from_port": r.from_port,
        "to_port": r.to_port,
        "group": group,
        "ip_range": ip_range,
    })
}

pub fn group(g: &SecurityGroup) -> Value {
    json!({
        "id": g.id,
        "description": g.description,
        "name": g.name,
        "tenant_id": g.project_id,
        // A rule whose source group is gone is left out, as Nova does.
        "rules": g.rules.iter()
            .filter(|r| r.group_id.is_none() || r.grantee_group.is_some())
            .map(rule).collect::<Vec<_>>(),
    })
}

/// Groups sorted by (tenant_id, name), as Nova lists them.
pub fn groups(gs: &[SecurityGroup]) -> Value {
    let mut sorted: Vec<&SecurityGroup> = gs.iter().collect();
    sorted.sort_by(|a, b| (&a.project_id, &a.name).cmp(&(&b.project_id, &b.name)));
    Value::Array(sorted.into_iter().map(group).collect())
}

pub fn default_rule(r: &SecurityGroupDefaultRule) -> Value {
    json!({
        "id": r.id,
        "ip_protocol": r.protocol,
        "from_port": r.from_port,
        "to_port": r.to_port,
        "ip_range": {"cidr": r.cidr},
    })
}

/// A server's `security_groups` field.
pub fn server_groups(names: &[String]) -> Value {
    Value::Array(names.iter().map(|n| json!({"name": n})).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::GranteeGroup;

    #[test]
    fn rules_show_a_source_group_or_a_cidr() {
        let by_cidr = SecurityGroupRule {
            id: 1,
            parent_group_id: 2,
            protocol: Some("tcp".into()),
            from_port: Some(80),
            to_port: Some(80),
            cidr: Some("0.0.0.0/0".into()),
            ..Default::default()
        };
        let v = rule(&by_cidr);
        assert_eq!(v["ip_range"]["cidr"], "0.0.0.0/0");
        assert_eq!(v["group"], json!({}));
        let by_group = SecurityGroupRule {
            group_id: Some(5),
            cidr: None,
            grantee_group: Some(GranteeGroup {
                id: 5,
                name: "web".into(),
                project_id: "p".into(),
                member_ips: vec![],
            }),
            ..by_cidr
        };
        let v = rule(&by_group);
        assert_eq!(v["group"], json!({"name": "web", "tenant_id": "p"}));
        assert_eq!(v["ip_range"], json!({}));
    }
}
