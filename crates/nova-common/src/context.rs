//! The request context, as Nova's `nova.context.RequestContext`.

use serde::de::{self, Deserializer, IgnoredAny, IntoDeserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
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
        if let Ok(Value::Object(m)) = serde_json::to_value(self.wire()) {
            msg.extend(m);
        }
    }

    /// The `_context_*` members of a message, serialised in sorted order
    /// (as a sorted tree of the message would write them).
    pub fn wire(&self) -> impl Serialize + '_ {
        #[derive(Serialize)]
        struct Wire<'a> {
            _context_auth_token: &'a Option<String>,
            _context_global_request_id: &'a Option<String>,
            _context_is_admin: bool,
            _context_project_id: &'a Option<String>,
            _context_read_deleted: ReadDeleted,
            _context_request_id: &'a str,
            _context_roles: &'a [String],
            _context_tenant: &'a Option<String>,
            _context_user: &'a Option<String>,
            _context_user_id: &'a Option<String>,
        }
        Wire {
            _context_auth_token: &self.auth_token,
            _context_global_request_id: &self.global_request_id,
            _context_is_admin: self.is_admin,
            _context_project_id: &self.project_id,
            _context_read_deleted: self.read_deleted,
            _context_request_id: &self.request_id,
            _context_roles: &self.roles,
            _context_tenant: &self.project_id,
            _context_user: &self.user_id,
            _context_user_id: &self.user_id,
        }
    }
}

/// A context read from a message's `_context_*` members one at a time, in
/// the same pass as the rest of the message (an RPC server builds no JSON
/// tree of what it receives; [`WireContext::read`]). A member of the wrong
/// type reads as absent. As a whole (`Deserialize`), it reads the context
/// of a message and skips everything else in it.
#[derive(Default)]
pub struct WireContext {
    request_id: Option<String>,
    global_request_id: Option<String>,
    user_id: Option<String>,
    project_id: Option<String>,
    roles: Vec<String>,
    is_admin: bool,
    auth_token: Option<String>,
    read_deleted: ReadDeleted,
}

impl WireContext {
    /// Reads the value of member `key` from `map` when it is one of the
    /// context's; `Ok(false)`: it is not, and its value is left unread.
    pub fn read<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<bool, A::Error> {
        let Some(name) = key.strip_prefix("_context_") else {
            return Ok(false);
        };
        match name {
            "request_id" => self.request_id = map.next_value::<Lenient<String>>()?.0,
            "global_request_id" => self.global_request_id = map.next_value::<Lenient<String>>()?.0,
            "user_id" => self.user_id = map.next_value::<Lenient<String>>()?.0,
            "project_id" => self.project_id = map.next_value::<Lenient<String>>()?.0,
            "auth_token" => self.auth_token = map.next_value::<Lenient<String>>()?.0,
            "roles" => {
                self.roles = map
                    .next_value::<Lenient<Vec<Lenient<String>>>>()?
                    .0
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.0)
                    .collect()
            }
            "is_admin" => self.is_admin = map.next_value::<Lenient<bool>>()?.0.unwrap_or(false),
            "read_deleted" => {
                self.read_deleted = map
                    .next_value::<Lenient<String>>()?
                    .0
                    .and_then(|s| {
                        ReadDeleted::deserialize(
                            IntoDeserializer::<'_, de::value::Error>::into_deserializer(s.as_str()),
                        )
                        .ok()
                    })
                    .unwrap_or_default()
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// The context read: a message without a request id gets a new one.
    pub fn finish(self) -> RequestContext {
        RequestContext {
            request_id: self.request_id.unwrap_or_else(generate_request_id),
            global_request_id: self.global_request_id,
            user_id: self.user_id,
            project_id: self.project_id,
            roles: self.roles,
            is_admin: self.is_admin,
            auth_token: self.auth_token,
            read_deleted: self.read_deleted,
        }
    }
}

impl<'de> Deserialize<'de> for WireContext {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Members;
        impl<'de> Visitor<'de> for Members {
            type Value = WireContext;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an RPC message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<WireContext, A::Error> {
                let mut ctx = WireContext::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if !ctx.read(&key, &mut map)? {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(ctx)
            }
        }
        d.deserialize_map(Members)
    }
}

/// The `visit_*` of a [`Lenient`] reader for scalars it does not want: read
/// as absent.
macro_rules! lenient_scalars {
    () => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(Lenient(None))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
    };
}

/// ... and for arrays and objects too (read past).
macro_rules! lenient_others {
    () => {
        lenient_scalars!();
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok(Lenient(None))
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(Lenient(None))
        }
    };
}

/// A `T` where the message has one, `None` where it has any other JSON
/// value there (which is read past, not refused).
pub struct Lenient<T>(pub Option<T>);

impl<'de> Deserialize<'de> for Lenient<String> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Text;
        impl<'de> Visitor<'de> for Text {
            type Value = Lenient<String>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Lenient(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Lenient(Some(v)))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            lenient_others!();
        }
        d.deserialize_any(Text)
    }
}

impl<'de> Deserialize<'de> for Lenient<bool> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Flag;
        impl<'de> Visitor<'de> for Flag {
            type Value = Lenient<bool>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Lenient(Some(v)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            lenient_others!();
        }
        d.deserialize_any(Flag)
    }
}

impl<'de> Deserialize<'de> for Lenient<Vec<Lenient<String>>> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct List;
        impl<'de> Visitor<'de> for List {
            type Value = Lenient<Vec<Lenient<String>>>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Lenient<String>>()? {
                    items.push(item);
                }
                Ok(Lenient(Some(items)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Lenient(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Lenient(None))
            }
            lenient_scalars!();
        }
        d.deserialize_any(List)
    }
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
        // Written in the order a sorted tree writes its members.
        assert_eq!(
            serde_json::to_string(&ctx.wire()).expect("json"),
            Value::Object(m.clone()).to_string()
        );
        assert_eq!(m["_context_roles"], serde_json::json!(["member"]));
        let read = WireContext::deserialize(&Value::Object(m)).expect("read");
        assert_eq!(read.finish(), ctx);
    }

    #[test]
    fn members_of_the_wrong_type_read_as_absent_and_others_are_skipped() {
        let msg = serde_json::json!({
            "method": "ping",
            "args": {"_context_user_id": "not-me"},
            "_context_request_id": "req-1",
            "_context_user_id": 7,
            "_context_project_id": ["p"],
            "_context_roles": ["reader", 1, null, {"x": 1}, "member"],
            "_context_is_admin": "true",
            "_context_auth_token": {"id": "t"},
            "_context_read_deleted": "only",
            "_context_tenant": "ignored",
            "_context_global_request_id": null,
        });
        let ctx = WireContext::deserialize(&msg).expect("read").finish();
        assert_eq!(ctx.request_id, "req-1");
        assert_eq!(ctx.user_id, None);
        assert_eq!(ctx.project_id, None);
        assert_eq!(ctx.roles, ["reader", "member"]);
        assert!(!ctx.is_admin);
        assert_eq!(ctx.auth_token, None);
        assert_eq!(ctx.read_deleted, ReadDeleted::Only);
        assert_eq!(ctx.global_request_id, None);

        let bare = WireContext::deserialize(&serde_json::json!({"_context_roles": "admin",
            "_context_is_admin": true, "_context_read_deleted": "sometimes"}))
        .expect("read")
        .finish();
        assert!(bare.request_id.starts_with("req-"), "a new request id");
        assert!(bare.roles.is_empty());
        assert!(bare.is_admin);
        assert_eq!(bare.read_deleted, ReadDeleted::No);
    }
}
