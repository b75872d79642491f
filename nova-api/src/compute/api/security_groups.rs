//! `nova.compute.api.SecurityGroupAPI` (nova-network's security groups):
//! groups, their ingress rules, the admin's default rules, membership of
//! instances, and the refresh of the firewalls of the running instances
//! concerned whenever rules or membership change.

use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Instance, SecurityGroup, SecurityGroupDefaultRule, SecurityGroupRule};
use nova_rpc::{compute, conductor};
use std::net::IpAddr;
use tracing::{info, warn};

/// Groups no one may rename or delete.
const RO_SECURITY_GROUPS: &[&str] = &["default"];

/// `nova.compute.api.SecurityGroupAPI`.
#[derive(Clone)]
pub struct SecurityGroupAPI {
    conductor: conductor::Client,
    compute_rpcapi: compute::Client,
}

fn invalid(msg: impl Into<String>) -> NovaError {
    NovaError::InvalidRequest { reason: msg.into() }
}

/// A JSON value as Python's `str()` would read it for a port or protocol.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    Missing,
    Int(i64),
    Text(String),
}

impl Arg {
    pub fn from_json(v: Option<&serde_json::Value>) -> Arg {
        match v {
            None | Some(serde_json::Value::Null) => Arg::Missing,
            Some(serde_json::Value::Number(n)) => match n.as_i64() {
                Some(i) => Arg::Int(i),
                None => Arg::Text(n.to_string()),
            },
            Some(serde_json::Value::String(s)) => Arg::Text(s.clone()),
            Some(other) => Arg::Text(other.to_string()),
        }
    }

    pub fn is_missing(&self) -> bool {
        matches!(self, Arg::Missing)
    }

    /// Python's `int()`: an integer or a string holding one.
    fn to_int(&self) -> Option<i64> {
        match self {
            Arg::Int(i) => Some(*i),
            Arg::Text(s) => s.trim().parse().ok(),
            Arg::Missing => None,
        }
    }

    fn text(&self) -> Option<String> {
        match self {
            Arg::Int(i) => Some(i.to_string()),
            Arg::Text(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

/// Nova's `validate_property`: a string of 1 to 255 characters once stripped.
pub fn validate_property(value: Option<&serde_json::Value>, property: &str) -> NovaResult<String> {
    let Some(serde_json::Value::String(s)) = value else {
        return Err(invalid(format!(
            "Security group {property} is not a string or unicode"
        )));
    };
    let len = s.trim().chars().count();
    if len < 1 {
        return Err(NovaError::invalid_input(format!(
            "{property} has a minimum character requirement of 1."
        )));
    }
    if len > 255 {
        return Err(NovaError::invalid_input(format!(
            "{property} has more than 255 characters."
        )));
    }
    Ok(s.clone())
}

/// Nova's `validate_id`: group and rule ids are integers.
pub fn validate_id(id: &Arg) -> NovaResult<i64> {
    id.to_int()
        .ok_or_else(|| invalid("Security group id should be integer"))
}

/// Nova's `utils.is_valid_cidr`: an address, a slash and a prefix length.
fn is_valid_cidr(cidr: &str) -> bool {
    let Some((addr, prefix)) = cidr.split_once('/') else {
        return false;
    };
    let Ok(ip) = addr.parse::<IpAddr>() else {
        return false;
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    !prefix.is_empty()
        && prefix.chars().all(|c| c.is_ascii_digit())
        && prefix.parse::<u32>().is_ok_and(|p| p <= max)
}

/// Percent-decoding, as `urllib.parse.unquote`.
fn unquote(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 3 <= bytes.len() {
            let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
            if let Some(b) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Nova's `parse_cidr`: a valid network, `0.0.0.0/0` when none is given.
pub fn parse_cidr(cidr: &Arg) -> NovaResult<String> {
    let Some(raw) = cidr.text() else {
        return Ok("0.0.0.0/0".into());
    };
    let bad = || NovaError::InvalidCidr { cidr: raw.clone() };
    let decoded = unquote(&raw).ok_or_else(bad)?;
    if !is_valid_cidr(&decoded) {
        return Err(bad());
    }
    Ok(decoded)
}

/// Where an ingress rule lets traffic in from.
#[derive(Clone, Debug, PartialEq)]
pub enum Grantee {
    Cidr(String),
    Group(i64),
}

/// Nova's `_new_ingress_rule`: the rule's protocol and ports, checked; None
/// when a cidr rule lacks a protocol or ports ("Not enough parameters").
pub fn new_ingress_rule(
    grantee: Grantee,
    protocol: &Arg,
    from_port: &Arg,
    to_port: &Arg,
) -> NovaResult<Option<SecurityGroupRule>> {
    let mut rule = SecurityGroupRule::default();
    let (mut from_port, mut to_port) = (from_port.clone(), to_port.clone());
    let proto = protocol.text();
    let upper = proto.as_deref().unwrap_or_default().to_uppercase();
    let is_cidr = match grantee {
        Grantee::Group(id) => {
            rule.group_id = Some(id);
            if from_port.is_missing() && to_port.is_missing() {
                if upper == "ICMP" {
                    (from_port, to_port) = (Arg::Int(-1), Arg::Int(-1));
                } else if upper == "TCP" || upper == "UDP" {
                    (from_port, to_port) = (Arg::Int(1), Arg::Int(65535));
                }
            }
            false
        }
        Grantee::Cidr(c) => {
            rule.cidr = Some(c);
            true
        }
    };
    let (Some(proto), false, false) = (proto, from_port.is_missing(), to_port.is_missing()) else {
        return Ok(if is_cidr { None } else { Some(rule) });
    };
    let (Some(from), Some(to)) = (from_port.to_int(), to_port.to_int()) else {
        return Err(NovaError::invalid_input(if upper == "ICMP" {
            "Type and Code must be integers for ICMP protocol type"
        } else {
            "To and From ports must be integers"
        }));
    };
    if !matches!(upper.as_str(), "TCP" | "UDP" | "ICMP") {
        return Err(NovaError::InvalidIpProtocol { protocol: proto });
    }
    let range = |msg: String| NovaError::InvalidPortRange {
        from_port: from.to_string(),
        to_port: to.to_string(),
        msg,
    };
    if upper != "ICMP" && from > to {
        return Err(range(
            "Former value cannot be greater than the later".into(),
        ));
    }
    if upper != "ICMP" && (from < 1 || to > 65535) {
        return Err(range(format!(
            "Valid {upper} ports should be between 1-65535"
        )));
    }
    if upper == "ICMP" && !((-1..=255).contains(&from) && (-1..=255).contains(&to)) {
        return Err(range("For ICMP, the type:code must be valid".into()));
    }
    rule.protocol = Some(proto);
    rule.from_port = Some(from);
    rule.to_port = Some(to);
    Ok(Some(rule))
}

/// The API's "Bad prefix" check: a /0 network other than the whole space.
pub fn check_cidr_prefix(cidr: &str) -> NovaResult<()> {
    let (net, prefix) = cidr.split_once('/').unwrap_or((cidr, "32"));
    if net != "0.0.0.0" && net != "::" && prefix == "0" {
        return Err(invalid(format!("Bad prefix for network in cidr {cidr}")));
    }
    Ok(())
}

/// A rule as the duplicate error names it.
fn rule_summary(r: &SecurityGroupRule) -> String {
    let source = match (&r.cidr, r.group_id) {
        (Some(c), _) => c.clone(),
        (None, Some(g)) => format!("group {g}"),
        (None, None) => "-".into(),
    };
    format!(
        "{} {}:{} from {source}",
        r.protocol.as_deref().unwrap_or("any"),
        r.from_port.map_or("-".into(), |p| p.to_string()),
        r.to_port.map_or("-".into(), |p| p.to_string()),
    )
}

/// Nova's `rule_exists`: the id of the group's rule with the same source,
/// ports and protocol, if there is one.
pub fn rule_exists(group: &SecurityGroup, new: &SecurityGroupRule) -> Option<i64> {
    group
        .rules
        .iter()
        .find(|r| {
            r.group_id == new.group_id
                && r.cidr == new.cidr
                && r.from_port == new.from_port
                && r.to_port == new.to_port
                && r.protocol == new.protocol
        })
        .map(|r| r.id)
}

impl SecurityGroupAPI {
    pub fn new(conductor: conductor::Client, compute_rpcapi: compute::Client) -> Self {
        SecurityGroupAPI {
            conductor,
            compute_rpcapi,
        }
    }

    fn project(ctx: &RequestContext) -> String {
        ctx.project_id.clone().unwrap_or_default()
    }

    /// The caller's project gets its `default` group on first use.
    pub async fn ensure_default(&self, ctx: &RequestContext) -> NovaResult<()> {
        let (Some(project), Some(user)) = (ctx.project_id.clone(), ctx.user_id.clone()) else {
            return Ok(());
        };
        self.conductor
            .security_group_ensure_default(ctx, project, user)
            .await?;
        Ok(())
    }

    pub async fn create_security_group(
        &self,
        ctx: &RequestContext,
        name: &str,
        description: &str,
    ) -> NovaResult<SecurityGroup> {
        info!(name, "Create Security Group");
        let group = SecurityGroup {
            name: name.to_string(),
            description: description.to_string(),
            user_id: ctx.user_id.clone().unwrap_or_default(),
            project_id: Self::project(ctx),
            ..Default::default()
        };
        // SecurityGroupExists as it is: each API words it its own way
        // (Nova's `raise_group_already_exists` hook).
        self.conductor.security_group_create(ctx, group).await
    }

    pub async fn update_security_group(
        &self,
        ctx: &RequestContext,
        group: &SecurityGroup,
        name: &str,
        description: &str,
    ) -> NovaResult<SecurityGroup> {
        if RO_SECURITY_GROUPS.contains(&group.name.as_str()) {
            return Err(invalid(format!(
                "Unable to update system group '{}'",
                group.name
            )));
        }
        self.conductor
            .security_group_update(ctx, group.id, name.to_string(), description.to_string())
            .await
    }

    /// A group by id (of the caller's project unless admin).
    pub async fn get(&self, ctx: &RequestContext, id: i64) -> NovaResult<SecurityGroup> {
        self.ensure_default(ctx).await?;
        let g = self.conductor.security_group_get(ctx, id).await?;
        if !ctx.is_admin && Some(&g.project_id) != ctx.project_id.as_ref() {
            return Err(NovaError::SecurityGroupNotFound {
                security_group_id: id.to_string(),
            });
        }
        Ok(g)
    }

    pub async fn get_by_name(&self, ctx: &RequestContext, name: &str) -> NovaResult<SecurityGroup> {
        self.ensure_default(ctx).await?;
        self.conductor
            .security_group_get_by_name(ctx, Self::project(ctx), name.to_string())
            .await
    }

    /// The project's groups; every project's for an admin asking `all_tenants`.
    pub async fn list(
        &self,
        ctx: &RequestContext,
        all_tenants: bool,
    ) -> NovaResult<Vec<SecurityGroup>> {
        self.ensure_default(ctx).await?;
        if ctx.is_admin && all_tenants {
            self.conductor.security_group_get_all(ctx).await
        } else {
            self.conductor
                .security_group_get_by_project(ctx, Self::project(ctx))
                .await
        }
    }

    pub async fn destroy(&self, ctx: &RequestContext, group: &SecurityGroup) -> NovaResult<()> {
        if RO_SECURITY_GROUPS.contains(&group.name.as_str()) {
            return Err(invalid(format!(
                "Unable to delete system group '{}'",
                group.name
            )));
        }
        info!(name = %group.name, "Delete security group");
        self.conductor.security_group_destroy(ctx, group.id).await
    }

    /// The instance's groups with their rules (`/servers/{id}/os-security-groups`).
    pub async fn get_instance_security_groups(
        &self,
        ctx: &RequestContext,
        instance: &Instance,
    ) -> NovaResult<Vec<SecurityGroup>> {
        self.conductor
            .security_group_get_by_instance(ctx, instance.uuid)
            .await
    }

    /// `addSecurityGroup`: join the group and refresh the instance's firewall.
    pub async fn add_to_instance(
        &self,
        ctx: &RequestContext,
        instance: &Instance,
        name: &str,
    ) -> NovaResult<()> {
        let group = self
            .conductor
            .security_group_get_by_name(ctx, Self::project(ctx), name.to_string())
            .await?;
        self.conductor
            .instance_add_security_group(ctx, instance.uuid, group.id)
            .await?;
        self.refresh_instances(ctx, std::slice::from_ref(instance))
            .await;
        Ok(())
    }

    /// `removeSecurityGroup`: leave the group and refresh the instance's firewall.
    pub async fn remove_from_instance(
        &self,
        ctx: &RequestContext,
        instance: &Instance,
        name: &str,
    ) -> NovaResult<()> {
        let group = self
            .conductor
            .security_group_get_by_name(ctx, Self::project(ctx), name.to_string())
            .await?;
        self.conductor
            .instance_remove_security_group(ctx, instance.uuid, group.id)
            .await?;
        self.refresh_instances(ctx, std::slice::from_ref(instance))
            .await;
        Ok(())
    }

    /// Nova's `create_security_group_rule`: refuse a duplicate
    /// (SecurityGroupRuleExists, worded by each API), then add it.
    pub async fn create_security_group_rule(
        &self,
        ctx: &RequestContext,
        group: &SecurityGroup,
        mut rule: SecurityGroupRule,
    ) -> NovaResult<SecurityGroupRule> {
        rule.parent_group_id = group.id;
        if rule_exists(group, &rule).is_some() {
            return Err(NovaError::SecurityGroupRuleExists {
                rule: rule_summary(&rule),
            });
        }
        let created = self.conductor.security_group_rule_create(ctx, rule).await?;
        info!(
            name = %group.name,
            protocol = ?created.protocol,
            from_port = ?created.from_port,
            to_port = ?created.to_port,
            "Security group added ingress rule"
        );
        self.trigger_rules_refresh(ctx, group.id).await;
        Ok(created)
    }

    pub async fn get_rule(&self, ctx: &RequestContext, id: i64) -> NovaResult<SecurityGroupRule> {
        self.ensure_default(ctx).await?;
        match self.conductor.security_group_rule_get(ctx, id).await {
            Err(NovaError::SecurityGroupNotFoundForRule { .. }) => {
                Err(NovaError::SecurityGroupNotFoundForRule {
                    rule_id: id.to_string(),
                })
            }
            other => other,
        }
    }

    pub async fn remove_rules(
        &self,
        ctx: &RequestContext,
        group: &SecurityGroup,
        rule_ids: &[i64],
    ) -> NovaResult<()> {
        for id in rule_ids {
            self.conductor.security_group_rule_destroy(ctx, *id).await?;
            info!(name = %group.name, rule = id, "Security group removed ingress rule");
        }
        self.trigger_rules_refresh(ctx, group.id).await;
        Ok(())
    }

    /// Cast `refresh_instance_security_rules` to the host of each instance that has one.
    async fn refresh_instances(&self, ctx: &RequestContext, instances: &[Instance]) {
        for inst in instances {
            let Some(host) = inst.host.as_deref().filter(|h| !h.is_empty()) else {
                continue;
            };
            let compute = self.compute_rpcapi.to_server(host);
            if let Err(e) = compute
                .refresh_instance_security_rules(ctx, inst.clone())
                .await
            {
                warn!(instance = %inst.uuid, %host, "cannot ask for a firewall refresh: {e}");
            }
        }
    }

    /// A rule was added to or removed from the group: refresh its members.
    pub async fn trigger_rules_refresh(&self, ctx: &RequestContext, group_id: i64) {
        match self
            .conductor
            .instance_get_all_by_security_group_id(ctx, group_id)
            .await
        {
            Ok(instances) => self.refresh_instances(ctx, &instances).await,
            Err(e) => warn!(group = group_id, "cannot list the group's instances: {e}"),
        }
    }

    /// The groups' members changed: refresh the instances whose rules grant from them.
    pub async fn trigger_members_refresh(&self, ctx: &RequestContext, group_ids: Vec<i64>) {
        match self
            .conductor
            .instance_get_all_by_grantee_security_group_ids(ctx, group_ids)
            .await
        {
            Ok(instances) => self.refresh_instances(ctx, &instances).await,
            Err(e) => warn!("cannot list the instances granting from the groups: {e}"),
        }
    }

    /// Server create: every requested group must exist in the project.
    pub async fn check_requested_secgroups(
        &self,
        ctx: &RequestContext,
        names: &[String],
    ) -> NovaResult<()> {
        for name in names {
            if name == "default" {
                continue;
            }
            match self
                .conductor
                .security_group_get_by_name(ctx, Self::project(ctx), name.clone())
                .await
            {
                Ok(_) => {}
                Err(NovaError::SecurityGroupNotFoundForProject { .. }) => {
                    return Err(NovaError::SecurityGroupNotFound {
                        security_group_id: name.clone(),
                    })
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    // ----- default rules (admin) -----

    /// Nova's `default_rule_exists`: same cidr, ports and protocol.
    pub async fn default_rule_exists(
        &self,
        ctx: &RequestContext,
        rule: &SecurityGroupDefaultRule,
    ) -> NovaResult<bool> {
        Ok(self
            .conductor
            .security_group_default_rule_list(ctx)
            .await?
            .iter()
            .any(|r| {
                r.cidr == rule.cidr
                    && r.from_port == rule.from_port
                    && r.to_port == rule.to_port
                    && r.protocol == rule.protocol
            }))
    }

    pub async fn add_default_rule(
        &self,
        ctx: &RequestContext,
        rule: SecurityGroupDefaultRule,
    ) -> NovaResult<SecurityGroupDefaultRule> {
        self.conductor
            .security_group_default_rule_create(ctx, rule)
            .await
    }

    pub async fn get_all_default_rules(
        &self,
        ctx: &RequestContext,
    ) -> NovaResult<Vec<SecurityGroupDefaultRule>> {
        self.conductor.security_group_default_rule_list(ctx).await
    }

    pub async fn get_default_rule(
        &self,
        ctx: &RequestContext,
        id: i64,
    ) -> NovaResult<SecurityGroupDefaultRule> {
        self.conductor
            .security_group_default_rule_get(ctx, id)
            .await
    }

    pub async fn remove_default_rule(&self, ctx: &RequestContext, id: i64) -> NovaResult<()> {
        self.conductor
            .security_group_default_rule_destroy(ctx, id)
            .await
    }
}

impl super::API {
    /// The names of the security groups `inst` is in (the metadata
    /// service's `security-groups`).
    pub async fn security_group_names(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<Vec<String>> {
        Ok(self
            .security_group_api
            .get_instance_security_groups(ctx, inst)
            .await?
            .into_iter()
            .map(|g| g.name)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn i(n: i64) -> Arg {
        Arg::Int(n)
    }
    fn t(s: &str) -> Arg {
        Arg::Text(s.into())
    }

    #[test]
    fn rules_are_validated_as_nova() {
        let cidr = || Grantee::Cidr("0.0.0.0/0".into());
        let r = new_ingress_rule(cidr(), &t("tcp"), &i(22), &t("22"))
            .expect("valid")
            .expect("rule");
        assert_eq!(
            (r.protocol.as_deref(), r.from_port, r.to_port),
            (Some("tcp"), Some(22), Some(22))
        );
        let e = new_ingress_rule(cidr(), &t("tcp"), &i(0), &i(22)).expect_err("port 0");
        assert_eq!(
            e.to_string(),
            "Invalid port range 0:22. Valid TCP ports should be between 1-65535"
        );
        let e = new_ingress_rule(cidr(), &t("udp"), &i(90), &i(80)).expect_err("reversed");
        assert!(e.to_string().contains("Former value cannot be greater"));
        let e = new_ingress_rule(cidr(), &t("gre"), &i(1), &i(2)).expect_err("protocol");
        assert_eq!(e.to_string(), "Invalid IP protocol gre.");
        let e = new_ingress_rule(cidr(), &t("tcp"), &t("a"), &i(2)).expect_err("not int");
        assert!(e.to_string().contains("To and From ports must be integers"));
        let e = new_ingress_rule(cidr(), &t("icmp"), &i(256), &i(0)).expect_err("icmp");
        assert!(e
            .to_string()
            .contains("For ICMP, the type:code must be valid"));
        assert!(new_ingress_rule(cidr(), &t("icmp"), &i(-1), &i(-1))
            .expect("valid")
            .is_some());
        // A cidr rule without ports is not enough.
        assert_eq!(
            new_ingress_rule(cidr(), &t("tcp"), &Arg::Missing, &Arg::Missing).expect("ok"),
            None
        );
        // A group rule gets the whole port range.
        let r = new_ingress_rule(Grantee::Group(3), &t("tcp"), &Arg::Missing, &Arg::Missing)
            .expect("ok")
            .expect("rule");
        assert_eq!(
            (r.group_id, r.from_port, r.to_port),
            (Some(3), Some(1), Some(65535))
        );
    }

    #[test]
    fn cidrs_are_parsed_as_nova() {
        assert_eq!(parse_cidr(&Arg::Missing).expect("default"), "0.0.0.0/0");
        assert_eq!(
            parse_cidr(&t("10.0.0.0%2F8")).expect("unquoted"),
            "10.0.0.0/8"
        );
        assert_eq!(
            parse_cidr(&t("10.0.0.0"))
                .expect_err("no prefix")
                .to_string(),
            "10.0.0.0 is not a valid IP network."
        );
        assert!(parse_cidr(&t("10.0.0.0/33")).is_err());
        assert!(parse_cidr(&t("::/0")).is_ok());
        assert!(check_cidr_prefix("10.0.0.0/0").is_err());
        assert!(check_cidr_prefix("0.0.0.0/0").is_ok());
    }

    #[test]
    fn properties_and_ids() {
        let j = serde_json::json!("  ");
        assert!(validate_property(Some(&j), "name").is_err());
        let j = serde_json::json!(5);
        assert_eq!(
            validate_property(Some(&j), "name")
                .expect_err("int")
                .to_string(),
            "Security group name is not a string or unicode"
        );
        assert_eq!(validate_id(&t("7")).expect("int"), 7);
        assert!(validate_id(&t("x")).is_err());
    }
}
