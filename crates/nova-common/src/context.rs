//! The request context, as Nova's `nova.context.RequestContext`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use uuid::Uuid;

/// Who is asking, on whose behalf, and under which request id.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RequestContext {
    pub request_id: String,
    pub global_request_id: Option<String>,
    pub user_id: Option<String>,
    pub project_id: Option<String>,
    pub roles: Vec<String>,
    pub is_admin: bool,
    /// Never logged: `Debug` is derived, so log fields, not the context.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_token: Option<String>,
    /// Admin listing of other projects' resources (`all_tenants`).
    #[serde(default)]
    pub read_deleted: ReadDeleted,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadDeleted {
    #[default]
    No,
    Yes,
    Only,
}

pub fn generate_request_id() -> String {
    format!("req-{}", Uuid::new_v4())
}

impl RequestContext {
    /// A context for a daemon acting on its own behalf (periodic tasks, heartbeats).
    pub fn admin() -> Self {
        RequestContext {
            request_id: generate_request_id(),
            roles: vec!["admin".into()],
            is_admin: true,
            ..Default::default()
        }
    }

    pub fn new(user_id: &str, project_id: &str, roles: Vec<String>, is_admin: bool) -> Self {
        RequestContext {
            request_id: generate_request_id(),
            user_id: Some(user_id.to_string()),
            project_id: Some(project_id.to_string()),
            roles,
            is_admin,
            ..Default::default()
        }
    }

    /// The same caller under a fresh request id (for work spawned by a request).
    pub fn elevated(&self) -> Self {
        let mut c = self.clone();
        c.is_admin = true;
        if !c.roles.iter().any(|r| r == "admin") {
            c.roles.push("admin".into());
        }
        c
    }

    /// The context as oslo.messaging flattens it into a message: `_context_<key>`.
    pub fn to_wire(&self, msg: &mut Map<String, Value>) {
        let put = |m: &mut Map<String, Value>, k: &str, v: Value| {
            m.insert(format!("_context_{k}"), v);
        };
        put(msg, "request_id", Value::from(self.request_id.clone()));
        put(
            msg,
            "global_request_id",
            self.global_request_id
                .clone()
                .map(Value::from)
                .unwrap_or(Value::Null),
        );
        put(msg, "user_id", opt(&self.user_id));
        put(msg, "project_id", opt(&self.project_id));
        put(msg, "user", opt(&self.user_id));
        put(msg, "tenant", opt(&self.project_id));
        put(msg, "roles", Value::from(self.roles.clone()));
        put(msg, "is_admin", Value::from(self.is_admin));
        put(msg, "auth_token", opt(&self.auth_token));
        put(
            msg,
            "read_deleted",
            serde_json::to_value(self.read_deleted).unwrap_or(Value::Null),
        );
    }

    /// Rebuild a context from the `_context_*` keys of a message.
    pub fn from_wire(msg: &Map<String, Value>) -> Self {
        let s = |k: &str| {
            msg.get(&format!("_context_{k}"))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        RequestContext {
            request_id: s("request_id").unwrap_or_else(generate_request_id),
            global_request_id: s("global_request_id"),
            user_id: s("user_id"),
            project_id: s("project_id"),
            roles: msg
                .get("_context_roles")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            is_admin: msg
                .get("_context_is_admin")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            auth_token: s("auth_token"),
            read_deleted: msg
                .get("_context_read_deleted")
                .and_then(|v| serde_json::from_value(v.clone()).ok())
                .unwrap_or_default(),
        }
    }
}

fn opt(v: &Option<String>) -> Value {
    v.clone().map(Value::from).unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_round_trip() {
        let mut ctx = RequestContext::new("u1", "p1", vec!["member".into()], false);
        ctx.auth_token = Some("secret".into());
        ctx.global_request_id = Some("req-g".into());
        let mut m = Map::new();
        ctx.to_wire(&mut m);
        assert_eq!(m["_context_user_id"], "u1");
        assert_eq!(m["_context_roles"], serde_json::json!(["member"]));
        assert_eq!(RequestContext::from_wire(&m), ctx);
    }
}
