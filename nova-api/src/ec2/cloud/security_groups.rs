//! Security groups through the same
//! [`SecurityGroupAPI`](crate::compute::api::SecurityGroupAPI) as the
//! compute API's `os-security-groups`: Describe, Create, Delete, and
//! Authorize/Revoke ingress in both of EC2's forms (the flat
//! `IpProtocol`/`FromPort`/`ToPort`/`CidrIp` and `IpPermissions.N`).
//! Groups are `sg-%08x` of their id ([`ec2utils::ec2_sg_id`]).

use super::*;
use crate::compute::api::security_groups::{
    check_cidr_prefix, new_ingress_rule, parse_cidr, rule_exists, Arg, Grantee,
};
use ec2utils::ec2_sg_id;
use nova_objects::{SecurityGroup, SecurityGroupRule};

fn authorize(state: &AppState, ctx: &RequestContext) -> Result<(), Ec2Error> {
    let project = ctx.project_id.clone().unwrap_or_default();
    Ok(state.policy.authorize(
        "os_compute_api:os-security-groups",
        ctx,
        &Target::project(&project),
    )?)
}

/// The group an `sg-` id names, if it is the caller's.
pub(super) async fn group_by_ec2_id(
    state: &AppState,
    ctx: &RequestContext,
    ec2_id: &str,
) -> Result<SecurityGroup, Ec2Error> {
    let Some(n) = ec2_id_to_id(ec2_id, &["sg"]) else {
        return Err(Ec2Error::new(
            "InvalidGroupId.Malformed",
            format!("Invalid id: \"{ec2_id}\" (expecting \"sg-...\")"),
        ));
    };
    state
        .security_group_api
        .get(ctx, n)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(ec2_id)))
}

/// The caller's group of this name.
async fn group_by_name(
    state: &AppState,
    ctx: &RequestContext,
    name: &str,
) -> Result<SecurityGroup, Ec2Error> {
    state
        .security_group_api
        .get_by_name(ctx, name)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(name)))
}

/// The group `GroupId` or `GroupName` names (Nova's `_validate_group_identifier`).
async fn named_group(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> Result<SecurityGroup, Ec2Error> {
    let nonempty = |k: &str| p.get(k).filter(|v| !v.is_empty()).map(str::to_string);
    match (nonempty("GroupId"), nonempty("GroupName")) {
        (Some(id), _) => group_by_ec2_id(state, ctx, &id).await,
        (None, Some(name)) => group_by_name(state, ctx, &name).await,
        (None, None) => Err(Ec2Error::missing_parameter("GroupName or GroupId")),
    }
}

/// The `sg-` id of each of the caller's groups by name (for `groupSet`s).
pub(super) async fn group_ids_by_name(
    state: &AppState,
    ctx: &RequestContext,
) -> Result<HashMap<String, String>, Ec2Error> {
    Ok(state
        .security_group_api
        .list(ctx, false)
        .await?
        .into_iter()
        .map(|g| (g.name, ec2_sg_id(g.id)))
        .collect())
}

/// A `groupSet`: `{groupId, groupName}` of each group name.
pub(super) fn group_set(names: &[String], ids: &HashMap<String, String>) -> X {
    X::Items(
        names
            .iter()
            .map(|n| {
                X::obj(vec![
                    ("groupId", X::text(ids.get(n).cloned().unwrap_or_default())),
                    ("groupName", X::text(n.clone())),
                ])
            })
            .collect(),
    )
}

/// One `ipPermissions` item before rendering: protocol, ports, and sources.
#[derive(Default)]
struct Permission {
    protocol: String,
    from_port: Option<i64>,
    to_port: Option<i64>,
    cidrs: Vec<String>,
    /// (project, name, id) of each source group.
    groups: Vec<(String, String, i64)>,
}

/// A group's rules as EC2 permissions, those with the same protocol and
/// ports merged (as AWS shows them); a source-group rule without a protocol
/// is every protocol, shown as icmp, tcp and udp (as Nova's EC2 API did).
fn permissions(g: &SecurityGroup) -> Vec<Permission> {
    let mut out: Vec<Permission> = vec![];
    let mut add = |protocol: String, from: Option<i64>, to: Option<i64>, r: &SecurityGroupRule| {
        let at = match out
            .iter()
            .position(|p| p.protocol == protocol && p.from_port == from && p.to_port == to)
        {
            Some(i) => i,
            None => {
                out.push(Permission {
                    protocol,
                    from_port: from,
                    to_port: to,
                    ..Default::default()
                });
                out.len() - 1
            }
        };
        let perm = &mut out[at];
        match (&r.cidr, &r.grantee_group) {
            (Some(c), _) => perm.cidrs.push(c.clone()),
            (None, Some(src)) => {
                perm.groups
                    .push((src.project_id.clone(), src.name.clone(), src.id))
            }
            (None, None) => {}
        }
    };
    for r in &g.rules {
        // A rule whose source group is gone is left out, as Nova does.
        if r.group_id.is_some() && r.grantee_group.is_none() {
            continue;
        }
        match &r.protocol {
            Some(proto) => add(proto.to_lowercase(), r.from_port, r.to_port, r),
            None => {
                for (proto, from, to) in [("icmp", -1, -1), ("tcp", 1, 65535), ("udp", 1, 65535)] {
                    add(proto.into(), Some(from), Some(to), r);
                }
            }
        }
    }
    out
}

fn format_group(g: &SecurityGroup) -> X {
    let perms: Vec<X> = permissions(g)
        .into_iter()
        .map(|p| {
            let mut f = vec![("ipProtocol", X::text(p.protocol))];
            if let Some(n) = p.from_port {
                f.push(("fromPort", X::int(n)));
            }
            if let Some(n) = p.to_port {
                f.push(("toPort", X::int(n)));
            }
            f.push((
                "groups",
                X::Items(
                    p.groups
                        .into_iter()
                        .map(|(project, name, id)| {
                            X::obj(vec![
                                ("userId", X::text(project)),
                                ("groupId", X::text(ec2_sg_id(id))),
                                ("groupName", X::text(name)),
                            ])
                        })
                        .collect(),
                ),
            ));
            f.push((
                "ipRanges",
                X::Items(
                    p.cidrs
                        .into_iter()
                        .map(|c| X::obj(vec![("cidrIp", X::text(c))]))
                        .collect(),
                ),
            ));
            X::obj(f)
        })
        .collect();
    X::obj(vec![
        ("ownerId", X::text(g.project_id.clone())),
        ("groupId", X::text(ec2_sg_id(g.id))),
        ("groupName", X::text(g.name.clone())),
        ("groupDescription", X::text(g.description.clone())),
        ("ipPermissions", X::Items(perms)),
        ("ipPermissionsEgress", X::Items(vec![])),
    ])
}

/// Whether a group passes one DescribeSecurityGroups filter.
fn group_filter(f: &Filter, g: &SecurityGroup) -> Result<bool, Ec2Error> {
    let perms = || permissions(g);
    Ok(match f.name.as_str() {
        "group-name" => filter_matches(f, &g.name),
        "group-id" => filter_matches(f, &ec2_sg_id(g.id)),
        "description" => filter_matches(f, &g.description),
        "owner-id" => filter_matches(f, &g.project_id),
        "ip-permission.protocol" => perms().iter().any(|p| filter_matches(f, &p.protocol)),
        "ip-permission.from-port" => perms().iter().any(|p| {
            p.from_port
                .is_some_and(|n| filter_matches(f, &n.to_string()))
        }),
        "ip-permission.to-port" => perms()
            .iter()
            .any(|p| p.to_port.is_some_and(|n| filter_matches(f, &n.to_string()))),
        "ip-permission.cidr" => perms()
            .iter()
            .any(|p| p.cidrs.iter().any(|c| filter_matches(f, c))),
        "ip-permission.group-name" => perms()
            .iter()
            .any(|p| p.groups.iter().any(|(_, n, _)| filter_matches(f, n))),
        "ip-permission.group-id" => perms().iter().any(|p| {
            p.groups
                .iter()
                .any(|(_, _, id)| filter_matches(f, &ec2_sg_id(*id)))
        }),
        "ip-permission.user-id" => perms()
            .iter()
            .any(|p| p.groups.iter().any(|(u, _, _)| filter_matches(f, u))),
        _ => return Err(unknown_filter(f)),
    })
}

pub(super) async fn describe_security_groups(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
    authorize(state, ctx)?;
    let names = id_list(p, "GroupName")?;
    let ids = id_list(p, "GroupId")?;
    let filters = p.filters()?;
    let (limit, offset) = p.page(5, 1000)?;
    let mut groups = if names.is_empty() && ids.is_empty() {
        state.security_group_api.list(ctx, false).await?
    } else {
        // Every group named must exist.
        let mut gs: Vec<SecurityGroup> = vec![];
        for id in &ids {
            gs.push(group_by_ec2_id(state, ctx, id).await?);
        }
        for n in &names {
            gs.push(group_by_name(state, ctx, n).await?);
        }
        gs.sort_by_key(|g| g.id);
        gs.dedup_by_key(|g| g.id);
        gs
    };
    let mut kept = vec![];
    'each: for g in groups.drain(..) {
        for f in &filters {
            if !group_filter(f, &g)? {
                continue 'each;
            }
        }
        kept.push(g);
    }
    kept.sort_by(|a, b| (&a.project_id, &a.name).cmp(&(&b.project_id, &b.name)));
    let (page, next) = paginate(kept, limit, offset);
    let mut out = body(vec![(
        "securityGroupInfo",
        X::Items(page.iter().map(format_group).collect()),
    )]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}

/// Nova's EC2 `validate_property`: 1 to 255 characters of `allowed`.
fn validate_property(
    value: &str,
    property: &str,
    allowed: impl Fn(char) -> bool,
) -> Result<(), Ec2Error> {
    let n = value.trim().chars().count();
    if !(1..=255).contains(&n) {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("Security group {property} should be between 1 and 255 characters"),
        ));
    }
    if !value.chars().all(allowed) {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("Value ({value}) for parameter {property} is invalid. Content limited to allowed characters."),
        ));
    }
    Ok(())
}

pub(super) async fn create_security_group(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    authorize(state, ctx)?;
    let name = p.required("GroupName")?;
    let description = p.required("GroupDescription")?;
    if state.cfg.ec2.ec2_strict_validation {
        // EC2's constraint: alphanumerics, spaces, dashes and underscores.
        let strict = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ');
        validate_property(name, "name", strict)?;
        validate_property(description, "description", strict)?;
    } else {
        validate_property(name, "name", |c| (' '..='~').contains(&c))?;
    }
    if name.starts_with("sg-") {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            "Group names may not be in the format sg-*.",
        ));
    }
    // The project's `default` exists before anyone can take its name.
    state.security_group_api.ensure_default(ctx).await?;
    let g = state
        .security_group_api
        .create_security_group(ctx, name, description)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(name)))?;
    Ok(body(vec![
        ("return", X::bool(true)),
        ("groupId", X::text(ec2_sg_id(g.id))),
    ]))
}

pub(super) async fn delete_security_group(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    authorize(state, ctx)?;
    let g = named_group(state, ctx, p).await?;
    // The API refuses a system group or one still in use, as AWS words them.
    state
        .security_group_api
        .destroy(ctx, &g)
        .await
        .map_err(|e| match e {
            NovaError::InvalidRequest { reason } if g.name == "default" => {
                Ec2Error::new("CannotDelete", reason)
            }
            NovaError::InvalidRequest { reason } => Ec2Error::new("InvalidGroup.InUse", reason),
            e => Ec2Error::from_nova(e, Some(&ec2_sg_id(g.id))),
        })?;
    Ok(ret_true())
}

/// One source group of a permission as sent.
struct SourceGroup {
    name: Option<String>,
    id: Option<String>,
    /// `user:project` or `project` (Nova's `_get_source_project_id`).
    owner: Option<String>,
}

/// One permission as sent.
struct Requested {
    protocol: Arg,
    from_port: Arg,
    to_port: Arg,
    cidrs: Vec<String>,
    groups: Vec<SourceGroup>,
}

fn arg(v: Option<&str>) -> Arg {
    match v {
        Some(s) if !s.is_empty() => Arg::Text(s.to_string()),
        _ => Arg::Missing,
    }
}

/// The permissions of an Authorize/Revoke: `IpPermissions.N` (with
/// `IpRanges.M.CidrIp` and `Groups.M.*`, also spelled `UserIdGroupPairs`),
/// or the old flat form.
fn requested_permissions(p: &Params) -> Vec<Requested> {
    let structs = p.structs("IpPermissions");
    if structs.is_empty() {
        let groups = match p.get("SourceSecurityGroupName").filter(|n| !n.is_empty()) {
            Some(n) => vec![SourceGroup {
                name: Some(n.to_string()),
                id: None,
                owner: p
                    .get("SourceSecurityGroupOwnerId")
                    .filter(|o| !o.is_empty())
                    .map(str::to_string),
            }],
            None => vec![],
        };
        return vec![Requested {
            protocol: arg(p.get("IpProtocol")),
            from_port: arg(p.get("FromPort")),
            to_port: arg(p.get("ToPort")),
            cidrs: p
                .get("CidrIp")
                .filter(|c| !c.is_empty())
                .map(|c| vec![c.to_string()])
                .unwrap_or_default(),
            groups,
        }];
    }
    structs
        .into_iter()
        .map(|m| {
            let sub = Params::from_request(&m.into_iter().collect::<Vec<_>>());
            let mut groups = sub.structs("Groups");
            groups.extend(sub.structs("UserIdGroupPairs"));
            Requested {
                protocol: arg(sub.get("IpProtocol")),
                from_port: arg(sub.get("FromPort")),
                to_port: arg(sub.get("ToPort")),
                cidrs: sub
                    .structs("IpRanges")
                    .into_iter()
                    .filter_map(|r| r.get("CidrIp").cloned())
                    .collect(),
                groups: groups
                    .into_iter()
                    .map(|g| SourceGroup {
                        name: g.get("GroupName").cloned().filter(|s| !s.is_empty()),
                        id: g.get("GroupId").cloned().filter(|s| !s.is_empty()),
                        owner: g.get("UserId").cloned().filter(|s| !s.is_empty()),
                    })
                    .collect(),
            }
        })
        .collect()
}

/// EC2's protocol names and numbers; `-1` (all) only from a source group.
fn protocol_arg(a: &Arg, from_group: bool) -> Result<Arg, Ec2Error> {
    let Arg::Text(s) = a else {
        return Ok(a.clone());
    };
    let name = match s.to_lowercase().as_str() {
        "tcp" | "6" => "tcp",
        "udp" | "17" => "udp",
        "icmp" | "1" => "icmp",
        "-1" | "all" if from_group => return Ok(Arg::Missing),
        other => {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("Invalid IP protocol {other}"),
            ))
        }
    };
    Ok(Arg::Text(name.into()))
}

/// The source group a permission names (Nova's `_rule_dict_last_step`).
async fn source_group_id(
    state: &AppState,
    ctx: &RequestContext,
    g: &SourceGroup,
) -> Result<i64, Ec2Error> {
    if let Some(id) = &g.id {
        return Ok(group_by_ec2_id(state, ctx, id).await?.id);
    }
    let Some(name) = &g.name else {
        return Err(Ec2Error::missing_parameter(
            "GroupName or GroupId of a source group",
        ));
    };
    let own = ctx.project_id.clone().unwrap_or_default();
    let project = match g.owner.as_deref() {
        Some(o) => o.rsplit(':').next().unwrap_or(o).to_string(),
        None => own.clone(),
    };
    if project == own {
        return Ok(group_by_name(state, ctx, name).await?.id);
    }
    state
        .conductor
        .security_group_get_by_name(ctx, project, name.clone())
        .await
        .map(|g| g.id)
        .map_err(|e| Ec2Error::from_nova(e, Some(name)))
}

/// The rules an Authorize/Revoke describes, checked as the compute API checks them.
async fn requested_rules(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> Result<Vec<SecurityGroupRule>, Ec2Error> {
    let mut rules = vec![];
    for perm in requested_permissions(p) {
        let mut grantees = vec![];
        for g in &perm.groups {
            grantees.push(Grantee::Group(source_group_id(state, ctx, g).await?));
        }
        for c in &perm.cidrs {
            grantees.push(Grantee::Cidr(parse_cidr(&Arg::Text(c.clone()))?));
        }
        if grantees.is_empty() {
            // No source: the whole internet, as Nova's `parse_cidr(None)`.
            grantees.push(Grantee::Cidr(parse_cidr(&Arg::Missing)?));
        }
        for grantee in grantees {
            let from_group = matches!(grantee, Grantee::Group(_));
            let protocol = protocol_arg(&perm.protocol, from_group)?;
            let rule = new_ingress_rule(grantee, &protocol, &perm.from_port, &perm.to_port)?
                .ok_or_else(|| {
                    Ec2Error::new(
                        "MissingParameter",
                        "can't build a valid rule: IpProtocol, FromPort and ToPort are needed",
                    )
                })?;
            if let Some(c) = &rule.cidr {
                check_cidr_prefix(c)?;
            }
            rules.push(rule);
        }
    }
    Ok(rules)
}

fn same_rule(a: &SecurityGroupRule, b: &SecurityGroupRule) -> bool {
    (&a.protocol, a.from_port, a.to_port, &a.cidr, a.group_id)
        == (&b.protocol, b.from_port, b.to_port, &b.cidr, b.group_id)
}

pub(super) async fn authorize_security_group_ingress(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
    authorize(state, ctx)?;
    let group = named_group(state, ctx, p).await?;
    let rules = requested_rules(state, ctx, p).await?;
    // All or nothing: refuse any rule the group (or this request) already has.
    for (n, r) in rules.iter().enumerate() {
        if rule_exists(&group, r).is_some() || rules[..n].iter().any(|o| same_rule(o, r)) {
            return Err(Ec2Error::new(
                "InvalidPermission.Duplicate",
                format!(
                    "the specified rule \"peer: {}, {}, ALLOW\" already exists",
                    r.cidr
                        .clone()
                        .unwrap_or_else(|| r.group_id.map(ec2_sg_id).unwrap_or_default()),
                    r.protocol.as_deref().unwrap_or("all"),
                ),
            ));
        }
    }
    for r in rules {
        state
            .security_group_api
            .create_security_group_rule(ctx, &group, r)
            .await?;
    }
    Ok(ret_true())
}

pub(super) async fn revoke_security_group_ingress(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
    authorize(state, ctx)?;
    let group = named_group(state, ctx, p).await?;
    let rules = requested_rules(state, ctx, p).await?;
    let mut ids = vec![];
    for r in &rules {
        match rule_exists(&group, r) {
            Some(id) => ids.push(id),
            None => {
                return Err(Ec2Error::new(
                    "InvalidPermission.NotFound",
                    "The specified rule does not exist in this security group.",
                ))
            }
        }
    }
    ids.sort_unstable();
    ids.dedup();
    state
        .security_group_api
        .remove_rules(ctx, &group, &ids)
        .await?;
    Ok(ret_true())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::GranteeGroup;

    fn params(p: &[(&str, &str)]) -> Params {
        let all: Vec<(String, String)> = p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Params::from_request(&all)
    }

    #[test]
    fn both_forms_of_permissions() {
        let flat = requested_permissions(&params(&[
            ("GroupName", "web"),
            ("IpProtocol", "tcp"),
            ("FromPort", "22"),
            ("ToPort", "22"),
            ("CidrIp", "10.0.0.0/8"),
        ]));
        assert_eq!(flat.len(), 1);
        assert_eq!(flat[0].cidrs, ["10.0.0.0/8"]);
        assert_eq!(flat[0].from_port, Arg::Text("22".into()));
        let nested = requested_permissions(&params(&[
            ("GroupId", "sg-00000001"),
            ("IpPermissions.1.IpProtocol", "tcp"),
            ("IpPermissions.1.FromPort", "22"),
            ("IpPermissions.1.ToPort", "22"),
            ("IpPermissions.1.IpRanges.1.CidrIp", "10.0.0.0/8"),
            ("IpPermissions.1.IpRanges.2.CidrIp", "192.168.0.0/16"),
            ("IpPermissions.1.Groups.1.GroupName", "db"),
            ("IpPermissions.2.IpProtocol", "icmp"),
            ("IpPermissions.2.UserIdGroupPairs.1.GroupId", "sg-00000002"),
        ]));
        assert_eq!(nested.len(), 2);
        assert_eq!(nested[0].cidrs, ["10.0.0.0/8", "192.168.0.0/16"]);
        assert_eq!(nested[0].groups[0].name.as_deref(), Some("db"));
        assert_eq!(nested[1].groups[0].id.as_deref(), Some("sg-00000002"));
        assert_eq!(nested[1].from_port, Arg::Missing);
        assert_eq!(
            protocol_arg(&Arg::Text("6".into()), false).ok(),
            Some(Arg::Text("tcp".into()))
        );
        assert!(protocol_arg(&Arg::Text("-1".into()), false).is_err());
        assert_eq!(
            protocol_arg(&Arg::Text("-1".into()), true).ok(),
            Some(Arg::Missing)
        );
    }

    #[test]
    fn rules_render_as_merged_permissions() {
        let src = GranteeGroup {
            id: 2,
            name: "db".into(),
            project_id: "p".into(),
            member_ips: vec![],
        };
        let g = SecurityGroup {
            id: 1,
            name: "web".into(),
            description: "d".into(),
            project_id: "p".into(),
            rules: vec![
                SecurityGroupRule {
                    protocol: Some("tcp".into()),
                    from_port: Some(22),
                    to_port: Some(22),
                    cidr: Some("10.0.0.0/8".into()),
                    ..Default::default()
                },
                SecurityGroupRule {
                    protocol: Some("TCP".into()),
                    from_port: Some(22),
                    to_port: Some(22),
                    group_id: Some(2),
                    grantee_group: Some(src.clone()),
                    ..Default::default()
                },
                SecurityGroupRule {
                    group_id: Some(2),
                    grantee_group: Some(src),
                    ..Default::default()
                },
            ],
            ..Default::default()
        };
        let perms = permissions(&g);
        assert_eq!(perms.len(), 4);
        assert_eq!(perms[0].protocol, "tcp");
        assert_eq!(perms[0].cidrs, ["10.0.0.0/8"]);
        assert_eq!(perms[0].groups, [("p".to_string(), "db".to_string(), 2)]);
        assert_eq!(
            perms
                .iter()
                .map(|p| p.protocol.as_str())
                .collect::<Vec<_>>(),
            ["tcp", "icmp", "tcp", "udp"]
        );
        let f = |name: &str, v: &str| Filter {
            name: name.into(),
            values: vec![v.into()],
        };
        assert!(group_filter(&f("ip-permission.cidr", "10.*"), &g).unwrap_or(false));
        assert!(group_filter(&f("ip-permission.group-id", "sg-00000002"), &g).unwrap_or(false));
        assert!(!group_filter(&f("group-name", "db"), &g).unwrap_or(true));
        assert!(group_filter(&f("bogus", "x"), &g).is_err());
    }
}
