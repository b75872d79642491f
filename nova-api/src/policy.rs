//! Policy as oslo.policy evaluates it, with Nova's default rules for the
//! APIs served here, overridable by `[oslo_policy] policy_file` (YAML or JSON).
//!
//! Rule language: `rule:<name>`, `role:<name>`, `<attr>:%(<target key>)s`,
//! `is_admin:True`, `@` (always), `!` (never), `not`, `and`, `or`, parentheses.

use crate::error::ApiError;
use nova_common::RequestContext;
use std::collections::HashMap;

/// Nova's defaults (nova/policies/*.py, new defaults).
pub const DEFAULT_RULES: &[(&str, &str)] = &[
    ("context_is_admin", "role:admin"),
    ("admin_api", "role:admin"),
    ("service_api", "role:service"),
    (
        "service_or_admin",
        "rule:service_api or rule:context_is_admin",
    ),
    (
        "project_member_api",
        "role:member and project_id:%(project_id)s",
    ),
    (
        "project_reader_api",
        "role:reader and project_id:%(project_id)s",
    ),
    (
        "project_member_or_admin",
        "rule:project_member_api or rule:context_is_admin",
    ),
    (
        "project_reader_or_admin",
        "rule:project_reader_api or rule:context_is_admin",
    ),
    (
        "admin_or_owner",
        "is_admin:True or project_id:%(project_id)s",
    ),
    (
        "os_compute_api:servers:index",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:servers:detail",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:servers:index:get_all_tenants",
        "rule:admin_api",
    ),
    (
        "os_compute_api:servers:detail:get_all_tenants",
        "rule:admin_api",
    ),
    ("os_compute_api:servers:allow_all_filters", "rule:admin_api"),
    (
        "os_compute_api:servers:show",
        "rule:project_reader_or_admin",
    ),
    ("os_compute_api:servers:show:host_status", "rule:admin_api"),
    (
        "os_compute_api:servers:show:flavor-extra-specs",
        "rule:project_reader_or_admin",
    ),
    (
        "compute:servers:create:requested_destination",
        "rule:admin_api",
    ),
    (
        "os_compute_api:servers:create",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:create:forced_host",
        "rule:admin_api",
    ),
    (
        "os_compute_api:servers:delete",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-extended-server-attributes",
        "rule:admin_api",
    ),
    (
        "os_compute_api:servers:create_image",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-create-backup",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-shelve:shelve",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-shelve:shelve_offload", "rule:admin_api"),
    (
        "os_compute_api:os-deferred-delete:restore",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-deferred-delete:force",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-admin-actions:reset_state",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-admin-actions:reset_network",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-admin-actions:inject_network_info",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-migrate-server:migrate_live",
        "rule:admin_api",
    ),
    ("os_compute_api:os-evacuate", "rule:admin_api"),
    (
        "os_compute_api:os-shelve:unshelve",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-shelve:unshelve_to_host",
        "rule:admin_api",
    ),
    ("os_compute_api:os-multinic", "rule:project_member_or_admin"),
    ("compute:aggregates:images", "rule:admin_api"),
    (
        "compute:server:topology:index",
        "rule:project_reader_or_admin",
    ),
    ("compute:server:topology:host:index", "rule:admin_api"),
    (
        "os_compute_api:servers:trigger_crash_dump",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:reboot",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:rebuild",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-rescue", "rule:project_member_or_admin"),
    (
        "os_compute_api:os-admin-password",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-unrescue", "rule:project_member_or_admin"),
    (
        "os_compute_api:servers:stop",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:start",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-pause-server:pause",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-pause-server:unpause",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-suspend-server:suspend",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-suspend-server:resume",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-lock-server:lock",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-lock-server:unlock",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-lock-server:unlock:unlock_override",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-console-output",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-remote-consoles",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-console-auth-tokens", "rule:admin_api"),
    ("os_compute_api:os-flavor-manage:create", "rule:admin_api"),
    ("os_compute_api:os-flavor-manage:delete", "rule:admin_api"),
    ("os_compute_api:os-services:list", "rule:admin_api"),
    ("os_compute_api:os-services:update", "rule:admin_api"),
    ("os_compute_api:os-services:delete", "rule:admin_api"),
    ("os_compute_api:os-hosts:list", "rule:admin_api"),
    ("os_compute_api:os-hosts:show", "rule:admin_api"),
    ("os_compute_api:os-hosts:update", "rule:admin_api"),
    ("os_compute_api:os-hosts:start", "rule:admin_api"),
    ("os_compute_api:os-hosts:shutdown", "rule:admin_api"),
    ("os_compute_api:os-hosts:reboot", "rule:admin_api"),
    ("os_compute_api:os-hypervisors:list", "rule:admin_api"),
    (
        "os_compute_api:os-hypervisors:list-detail",
        "rule:admin_api",
    ),
    ("os_compute_api:os-hypervisors:show", "rule:admin_api"),
    ("os_compute_api:os-hypervisors:statistics", "rule:admin_api"),
    ("os_compute_api:os-hypervisors:uptime", "rule:admin_api"),
    ("os_compute_api:os-hypervisors:search", "rule:admin_api"),
    ("os_compute_api:os-hypervisors:servers", "rule:admin_api"),
    (
        "os_compute_api:os-keypairs:index",
        "(rule:admin_api) or user_id:%(user_id)s",
    ),
    (
        "os_compute_api:os-keypairs:create",
        "(rule:admin_api) or user_id:%(user_id)s",
    ),
    (
        "os_compute_api:os-keypairs:show",
        "(rule:admin_api) or user_id:%(user_id)s",
    ),
    (
        "os_compute_api:os-keypairs:delete",
        "(rule:admin_api) or user_id:%(user_id)s",
    ),
    (
        "os_compute_api:os-security-groups",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-security-group-default-rules",
        "rule:admin_api",
    ),
    ("os_compute_api:extensions", "@"),
    ("os_compute_api:os-migrations:index", "rule:admin_api"),
    (
        "os_compute_api:servers:resize",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:confirm_resize",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:revert_resize",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-migrate-server:migrate", "rule:admin_api"),
    ("os_compute_api:os-server-diagnostics", "rule:admin_api"),
    (
        "os_compute_api:os-admin-actions:reset_state",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-instance-usage-audit-log:list",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-instance-usage-audit-log:show",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-server-groups:create",
        "rule:project_member_api",
    ),
    (
        "os_compute_api:os-server-groups:delete",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-server-groups:index",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-server-groups:index:all_projects",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-server-groups:show",
        "rule:project_reader_or_admin",
    ),
    ("os_compute_api:servers:migrations:index", "rule:admin_api"),
    ("os_compute_api:servers:migrations:show", "rule:admin_api"),
    (
        "os_compute_api:servers:migrations:force_complete",
        "rule:admin_api",
    ),
    ("os_compute_api:servers:migrations:delete", "rule:admin_api"),
    (
        "os_compute_api:os-server-external-events:create",
        "rule:service_or_admin",
    ),
    ("os_compute_api:os-quota-class-sets:show", "rule:admin_api"),
    (
        "os_compute_api:os-quota-class-sets:update",
        "rule:admin_api",
    ),
    ("os_compute_api:limits", "@"),
    ("os_compute_api:limits:other_project", "rule:admin_api"),
    (
        "os_compute_api:os-quota-sets:show",
        "rule:project_reader_or_admin",
    ),
    ("os_compute_api:os-quota-sets:update", "rule:admin_api"),
    ("os_compute_api:os-quota-sets:delete", "rule:admin_api"),
    ("os_compute_api:os-quota-sets:defaults", "@"),
    (
        "os_compute_api:os-quota-sets:detail",
        "rule:project_reader_or_admin",
    ),
    ("os_compute_api:os-availability-zone:list", "@"),
    (
        "os_compute_api:os-availability-zone:detail",
        "rule:admin_api",
    ),
    // nova-network's proxy APIs (nova/policies/floating_ips.py, networks.py, ...).
    (
        "os_compute_api:os-floating-ips:add",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-floating-ips:remove",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-floating-ips:list",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-floating-ips:create",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-floating-ips:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-floating-ips:delete",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-floating-ip-pools:list", "@"),
    (
        "os_compute_api:os-networks:list",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-networks:view",
        "rule:project_reader_or_admin",
    ),
    ("os_compute_api:os-networks:create", "rule:admin_api"),
    ("os_compute_api:os-networks:delete", "rule:admin_api"),
    ("os_compute_api:os-networks:disassociate", "rule:admin_api"),
    ("os_compute_api:os-networks:add", "rule:admin_api"),
    (
        "os_compute_api:os-networks-associate:associate_host",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-networks-associate:disassociate_host",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-networks-associate:disassociate_project",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-tenant-networks:list",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-tenant-networks:show",
        "rule:project_reader_or_admin",
    ),
    // Newton's single `os-tenant-networks` rule was admin_or_owner; create
    // and delete keep that (in today's role names) beside list and show.
    (
        "os_compute_api:os-tenant-networks:create",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-tenant-networks:delete",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:os-fixed-ips:show", "rule:admin_api"),
    ("os_compute_api:os-fixed-ips:reserve", "rule:admin_api"),
    ("os_compute_api:os-fixed-ips:unreserve", "rule:admin_api"),
    (
        "os_compute_api:os-virtual-interfaces:list",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-attach-interfaces:list",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-attach-interfaces:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-attach-interfaces:create",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-attach-interfaces:delete",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-volumes-attachments:index",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-volumes-attachments:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-volumes-attachments:create",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-volumes-attachments:update",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-volumes-attachments:delete",
        "rule:project_member_or_admin",
    ),
    ("os_compute_api:ips:index", "rule:project_reader_or_admin"),
    ("os_compute_api:ips:show", "rule:project_reader_or_admin"),
    (
        "os_compute_api:os-server-password:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-server-password:clear",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:server-metadata:index",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:server-metadata:create",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:server-metadata:delete",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:servers:update",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:server-metadata:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:server-metadata:update",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:server-metadata:update_all",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-server-tags:index",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-server-tags:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-server-tags:update",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-server-tags:update_all",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-server-tags:delete",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-server-tags:delete_all",
        "rule:project_member_or_admin",
    ),
    (
        "os_compute_api:os-instance-actions:list",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-instance-actions:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-instance-actions:events",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-instance-actions:events:details",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-flavor-extra-specs:index",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-flavor-extra-specs:show",
        "rule:project_reader_or_admin",
    ),
    (
        "os_compute_api:os-flavor-extra-specs:create",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-flavor-extra-specs:update",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-flavor-extra-specs:delete",
        "rule:admin_api",
    ),
    ("os_compute_api:os-flavor-manage:update", "rule:admin_api"),
    ("os_compute_api:os-flavor-access", "rule:admin_api"),
    (
        "os_compute_api:os-flavor-access:add_tenant_access",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-flavor-access:remove_tenant_access",
        "rule:admin_api",
    ),
    ("os_compute_api:os-aggregates:index", "rule:admin_api"),
    ("os_compute_api:os-aggregates:create", "rule:admin_api"),
    ("os_compute_api:os-aggregates:show", "rule:admin_api"),
    ("os_compute_api:os-aggregates:update", "rule:admin_api"),
    ("os_compute_api:os-aggregates:delete", "rule:admin_api"),
    ("os_compute_api:os-aggregates:add_host", "rule:admin_api"),
    ("os_compute_api:os-aggregates:remove_host", "rule:admin_api"),
    (
        "os_compute_api:os-aggregates:set_metadata",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-simple-tenant-usage:list",
        "rule:admin_api",
    ),
    (
        "os_compute_api:os-simple-tenant-usage:show",
        "rule:project_reader_or_admin",
    ),
];

#[derive(Debug, Clone, PartialEq)]
enum Expr {
    Always,
    Never,
    Rule(String),
    Role(String),
    Generic(String, String),
    Not(Box<Expr>),
    And(Vec<Expr>),
    Or(Vec<Expr>),
}

/// What a rule is checked against: the resource's owner.
#[derive(Debug, Clone, Default)]
pub struct Target {
    pub project_id: Option<String>,
    pub user_id: Option<String>,
}

impl Target {
    pub fn project(p: &str) -> Self {
        Target {
            project_id: Some(p.to_string()),
            user_id: None,
        }
    }
    pub fn user(u: &str) -> Self {
        Target {
            project_id: None,
            user_id: Some(u.to_string()),
        }
    }
    /// A server's project and user (the rules that name its owner, such
    /// as rescue and changePassword).
    pub fn owner(inst: &nova_objects::Instance) -> Self {
        Target {
            project_id: Some(inst.project_id.clone()),
            user_id: Some(inst.user_id.clone()),
        }
    }
    /// The caller's own project and user (create, list).
    pub fn own(ctx: &RequestContext) -> Self {
        Target {
            project_id: ctx.project_id.clone(),
            user_id: ctx.user_id.clone(),
        }
    }
}

fn tokenize(s: &str) -> Vec<String> {
    // Parentheses group checks, except inside a check such as `project_id:%(project_id)s`.
    let mut out = vec![];
    let mut cur = String::new();
    let mut inner = 0usize;
    for c in s.chars() {
        match c {
            '(' if cur.is_empty() => out.push("(".into()),
            '(' => {
                inner += 1;
                cur.push(c);
            }
            ')' if inner > 0 => {
                inner -= 1;
                cur.push(c);
            }
            ')' => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                out.push(")".into());
            }
            c if c.is_whitespace() => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                inner = 0;
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

struct Parser {
    toks: Vec<String>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&str> {
        self.toks.get(self.pos).map(String::as_str)
    }
    fn next(&mut self) -> Option<String> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn or(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.and()?];
        while self.peek() == Some("or") {
            self.next();
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::Or(items)
        })
    }
    fn and(&mut self) -> Result<Expr, String> {
        let mut items = vec![self.unary()?];
        while self.peek() == Some("and") {
            self.next();
            items.push(self.unary()?);
        }
        Ok(if items.len() == 1 {
            items.remove(0)
        } else {
            Expr::And(items)
        })
    }
    fn unary(&mut self) -> Result<Expr, String> {
        match self.next().as_deref() {
            Some("not") => Ok(Expr::Not(Box::new(self.unary()?))),
            Some("(") => {
                let e = self.or()?;
                match self.next().as_deref() {
                    Some(")") => Ok(e),
                    _ => Err("missing ')'".into()),
                }
            }
            Some("@") => Ok(Expr::Always),
            Some("!") => Ok(Expr::Never),
            Some(t) => match t.split_once(':') {
                Some(("rule", r)) => Ok(Expr::Rule(r.to_string())),
                Some(("role", r)) => Ok(Expr::Role(r.to_lowercase())),
                Some((k, v)) => Ok(Expr::Generic(k.to_string(), v.to_string())),
                None => Err(format!("cannot parse check {t:?}")),
            },
            None => Err("unexpected end of rule".into()),
        }
    }
}

fn parse(rule: &str) -> Result<Expr, String> {
    if rule.trim().is_empty() {
        return Ok(Expr::Always);
    }
    let mut p = Parser {
        toks: tokenize(rule),
        pos: 0,
    };
    let e = p.or()?;
    if p.pos != p.toks.len() {
        return Err(format!("trailing tokens in {rule:?}"));
    }
    Ok(e)
}

#[derive(Debug, Clone)]
pub struct Policy {
    rules: HashMap<String, Expr>,
}

impl Policy {
    /// Nova's defaults, then the overrides of `policy_file` if it exists.
    pub fn load(policy_file: &str) -> Result<Self, String> {
        let mut rules = HashMap::new();
        for (k, v) in DEFAULT_RULES {
            rules.insert(
                k.to_string(),
                parse(v).map_err(|e| format!("default rule {k}: {e}"))?,
            );
        }
        if let Ok(text) = std::fs::read_to_string(policy_file) {
            for (k, v) in parse_policy_file(&text).map_err(|e| format!("{policy_file}: {e}"))? {
                let e = parse(&v).map_err(|e| format!("{policy_file}: rule {k}: {e}"))?;
                rules.insert(k, e);
            }
        }
        Ok(Policy { rules })
    }

    fn check(&self, e: &Expr, ctx: &RequestContext, t: &Target, depth: u8) -> bool {
        if depth > 20 {
            return false;
        }
        match e {
            Expr::Always => true,
            Expr::Never => false,
            Expr::Rule(r) => self
                .rules
                .get(r)
                .is_some_and(|x| self.check(x, ctx, t, depth + 1)),
            Expr::Role(r) => ctx.roles.iter().any(|x| x.eq_ignore_ascii_case(r)),
            Expr::Generic(k, v) => {
                let want = match v.strip_prefix("%(").and_then(|x| x.strip_suffix(")s")) {
                    Some("project_id") => t.project_id.clone(),
                    Some("user_id") => t.user_id.clone(),
                    Some(_) => None,
                    None => Some(v.clone()),
                };
                let have = match k.as_str() {
                    "project_id" | "tenant_id" => ctx.project_id.clone(),
                    "user_id" => ctx.user_id.clone(),
                    "is_admin" => Some(if ctx.is_admin {
                        "True".into()
                    } else {
                        "False".into()
                    }),
                    _ => None,
                };
                matches!((have, want), (Some(h), Some(w)) if h.eq_ignore_ascii_case(&w))
            }
            Expr::Not(x) => !self.check(x, ctx, t, depth + 1),
            Expr::And(xs) => xs.iter().all(|x| self.check(x, ctx, t, depth + 1)),
            Expr::Or(xs) => xs.iter().any(|x| self.check(x, ctx, t, depth + 1)),
        }
    }

    pub fn allows(&self, action: &str, ctx: &RequestContext, target: &Target) -> bool {
        match self.rules.get(action) {
            Some(e) => self.check(e, ctx, target, 0),
            // An unregistered rule falls back to "default", as oslo.policy does.
            None => self
                .rules
                .get("default")
                .is_some_and(|e| self.check(e, ctx, target, 0)),
        }
    }

    /// 403 with Nova's message when the rule denies.
    pub fn authorize(
        &self,
        action: &str,
        ctx: &RequestContext,
        target: &Target,
    ) -> Result<(), ApiError> {
        if self.allows(action, ctx, target) {
            Ok(())
        } else {
            Err(ApiError::forbidden_policy(action))
        }
    }
}

/// `policy.yaml` (one `"rule": "check"` per line) or `policy.json`.
fn parse_policy_file(text: &str) -> Result<Vec<(String, String)>, String> {
    let t = text.trim_start();
    if t.starts_with('{') {
        let v: serde_json::Value = serde_json::from_str(t).map_err(|e| e.to_string())?;
        return Ok(v
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("!").to_string()))
                    .collect()
            })
            .unwrap_or_default());
    }
    let unquote = |s: &str| {
        let s = s.trim();
        if s.len() >= 2
            && ((s.starts_with('"') && s.ends_with('"'))
                || (s.starts_with('\'') && s.ends_with('\'')))
        {
            s[1..s.len() - 1].to_string()
        } else {
            s.to_string()
        }
    };
    let mut out = vec![];
    for (n, line) in text.lines().enumerate() {
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') || l == "---" {
            continue;
        }
        // The key may be quoted and contain ':'; split after the key.
        let (k, v) = if let Some(rest) = l.strip_prefix('"') {
            let end = rest
                .find('"')
                .ok_or_else(|| format!("line {}: unterminated key", n + 1))?;
            (
                rest[..end].to_string(),
                rest[end + 1..]
                    .trim_start()
                    .strip_prefix(':')
                    .unwrap_or("")
                    .to_string(),
            )
        } else if let Some(rest) = l.strip_prefix('\'') {
            let end = rest
                .find('\'')
                .ok_or_else(|| format!("line {}: unterminated key", n + 1))?;
            (
                rest[..end].to_string(),
                rest[end + 1..]
                    .trim_start()
                    .strip_prefix(':')
                    .unwrap_or("")
                    .to_string(),
            )
        } else {
            let (k, v) = l
                .split_once(": ")
                .or_else(|| l.split_once(':'))
                .ok_or_else(|| format!("line {}: expected 'rule: check'", n + 1))?;
            (k.trim().to_string(), v.to_string())
        };
        out.push((k, unquote(&v)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(roles: &[&str], project: &str, user: &str) -> RequestContext {
        let is_admin = roles.contains(&"admin");
        RequestContext::new(
            user,
            project,
            roles.iter().map(|r| r.to_string()).collect(),
            is_admin,
        )
    }

    #[test]
    fn nova_defaults() {
        let p = Policy::load("/nonexistent").expect("defaults");
        let member = ctx(&["member", "reader"], "p1", "u1");
        let admin = ctx(&["admin", "member", "reader"], "adm", "a");
        let reader = ctx(&["reader"], "p1", "u2");
        assert!(p.allows(
            "os_compute_api:servers:create",
            &member,
            &Target::own(&member)
        ));
        assert!(!p.allows(
            "os_compute_api:servers:create",
            &reader,
            &Target::own(&reader)
        ));
        assert!(p.allows(
            "os_compute_api:servers:show",
            &reader,
            &Target::project("p1")
        ));
        assert!(!p.allows(
            "os_compute_api:servers:show",
            &member,
            &Target::project("p2")
        ));
        assert!(p.allows(
            "os_compute_api:servers:show",
            &admin,
            &Target::project("p2")
        ));
        assert!(!p.allows(
            "os_compute_api:os-services:list",
            &member,
            &Target::own(&member)
        ));
        assert!(p.allows(
            "os_compute_api:os-services:list",
            &admin,
            &Target::own(&admin)
        ));
        assert!(p.allows(
            "os_compute_api:os-keypairs:show",
            &member,
            &Target::user("u1")
        ));
        assert!(!p.allows(
            "os_compute_api:os-keypairs:show",
            &member,
            &Target::user("u9")
        ));
        let e = p
            .authorize(
                "os_compute_api:os-flavor-manage:create",
                &member,
                &Target::own(&member),
            )
            .expect_err("denied");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed."
        );
    }

    /// Every rule name the handlers check has a default (an unknown name would deny).
    #[test]
    fn every_checked_rule_has_a_default() {
        let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src")];
        let mut names = vec![];
        let mut handlers = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("src") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                if path.ends_with("policy.rs") {
                    continue;
                }
                handlers += 1;
                for part in text.split('"').skip(1).step_by(2) {
                    if part.starts_with("os_compute_api:")
                        && part
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_:-".contains(c))
                    {
                        names.push(part.to_string());
                    }
                }
            }
        }
        assert!(
            handlers > 10 && names.len() > 20,
            "{handlers} files, {names:?}"
        );
        for n in names {
            assert!(
                DEFAULT_RULES.iter().any(|(k, _)| *k == n),
                "no default rule for {n}"
            );
        }
    }

    #[test]
    fn overrides_from_yaml_and_json() {
        let dir = std::env::temp_dir().join(format!("pol-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let y = dir.join("policy.yaml");
        std::fs::write(&y, "# comment\n\"os_compute_api:os-services:list\": \"role:member\"\n'os_compute_api:servers:create': '!'\n").expect("write");
        let p = Policy::load(y.to_str().unwrap_or_default()).expect("yaml");
        let member = ctx(&["member"], "p1", "u1");
        assert!(p.allows(
            "os_compute_api:os-services:list",
            &member,
            &Target::own(&member)
        ));
        assert!(!p.allows(
            "os_compute_api:servers:create",
            &member,
            &Target::own(&member)
        ));
        let j = dir.join("policy.json");
        std::fs::write(&j, r#"{"os_compute_api:limits": "not role:member"}"#).expect("write");
        let p = Policy::load(j.to_str().unwrap_or_default()).expect("json");
        assert!(!p.allows("os_compute_api:limits", &member, &Target::own(&member)));
        std::fs::remove_dir_all(&dir).ok();
    }
}
