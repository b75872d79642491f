//! The oslo.messaging wire format (`oslo.version` 2.0).
//!
//! Request: `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}` where the
//! inner object carries `method`, `args`, `version`, `namespace`, `_unique_id`,
//! `_msg_id`/`_reply_q` for calls and the `_context_*` keys.
//! Reply: the inner object is `{"result", "failure", "ending", "_msg_id"}`.

use nova_common::{NovaError, RequestContext};
use serde_json::{json, Map, Value};
use uuid::Uuid;

pub const OSLO_VERSION: &str = "2.0";

fn wrap(inner: &Value) -> Vec<u8> {
    let msg = json!({
        "oslo.version": OSLO_VERSION,
        "oslo.message": inner.to_string(),
    });
    msg.to_string().into_bytes()
}

fn unwrap(body: &[u8]) -> Result<Map<String, Value>, NovaError> {
    let outer: Value = serde_json::from_slice(body)?;
    let inner = match outer.get("oslo.message") {
        Some(Value::String(s)) => serde_json::from_str::<Value>(s)?,
        // Tolerate an unwrapped (oslo.version 1) message.
        _ => outer,
    };
    match inner {
        Value::Object(m) => Ok(m),
        _ => Err(NovaError::internal("RPC message is not a JSON object")),
    }
}

/// Everything a request message carries besides method and args.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestMeta {
    pub ctx: RequestContext,
    pub version: String,
    pub namespace: Option<String>,
    pub unique_id: String,
    pub msg_id: Option<String>,
    pub reply_q: Option<String>,
}

/// Encode a request. `call` is the `{"method": ..., "args": ...}` object.
pub fn encode_request(call: &Value, meta: &RequestMeta) -> Vec<u8> {
    wrap(&request_inner(call, meta))
}

/// The inner (unwrapped) request object; golden tests pin this.
pub fn request_inner(call: &Value, meta: &RequestMeta) -> Value {
    let mut m = Map::new();
    m.insert(
        "method".into(),
        call.get("method").cloned().unwrap_or(Value::Null),
    );
    m.insert(
        "args".into(),
        call.get("args").cloned().unwrap_or_else(|| json!({})),
    );
    m.insert("version".into(), Value::from(meta.version.clone()));
    m.insert(
        "namespace".into(),
        meta.namespace
            .clone()
            .map(Value::from)
            .unwrap_or(Value::Null),
    );
    m.insert("_unique_id".into(), Value::from(meta.unique_id.clone()));
    if let Some(id) = &meta.msg_id {
        m.insert("_msg_id".into(), Value::from(id.clone()));
    }
    if let Some(q) = &meta.reply_q {
        m.insert("_reply_q".into(), Value::from(q.clone()));
    }
    meta.ctx.to_wire(&mut m);
    Value::Object(m)
}

/// Decode a request into (`{"method","args"}`, meta).
pub fn decode_request(body: &[u8]) -> Result<(Value, RequestMeta), NovaError> {
    let m = unwrap(body)?;
    let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
    let call = json!({
        "method": m.get("method").cloned().unwrap_or(Value::Null),
        "args": m.get("args").cloned().unwrap_or_else(|| json!({})),
    });
    let meta = RequestMeta {
        ctx: RequestContext::from_wire(&m),
        version: s("version").unwrap_or_else(|| "1.0".into()),
        namespace: s("namespace"),
        unique_id: s("_unique_id").unwrap_or_default(),
        msg_id: s("_msg_id"),
        reply_q: s("_reply_q"),
    };
    Ok((call, meta))
}

pub fn new_unique_id() -> String {
    Uuid::new_v4().simple().to_string()
}

/// Encode a reply to `msg_id`.
pub fn encode_reply(msg_id: &str, result: &Result<Value, NovaError>) -> Vec<u8> {
    wrap(&reply_inner(msg_id, result))
}

pub fn reply_inner(msg_id: &str, result: &Result<Value, NovaError>) -> Value {
    let (res, failure) = match result {
        Ok(v) => (v.clone(), Value::Null),
        Err(e) => (Value::Null, Value::from(e.to_failure().to_string())),
    };
    json!({
        "result": res,
        "failure": failure,
        "ending": true,
        "_msg_id": msg_id,
        "_unique_id": new_unique_id(),
    })
}

/// Decode a reply into (msg_id, outcome).
pub fn decode_reply(body: &[u8]) -> Result<(String, Result<Value, NovaError>), NovaError> {
    let m = unwrap(body)?;
    let msg_id = m
        .get("_msg_id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let outcome = match m.get("failure") {
        None | Some(Value::Null) => Ok(m.get("result").cloned().unwrap_or(Value::Null)),
        Some(Value::String(s)) => {
            let f: Value = serde_json::from_str(s).unwrap_or_else(|_| json!({"message": s}));
            Err(NovaError::from_failure(&f))
        }
        Some(f) => Err(NovaError::from_failure(f)),
    };
    Ok((msg_id, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_round_trip() {
        let ctx = RequestContext::new("u", "p", vec!["member".into()], false);
        let meta = RequestMeta {
            ctx,
            version: "6.0".into(),
            namespace: None,
            unique_id: "abc".into(),
            msg_id: Some("m1".into()),
            reply_q: Some("reply_x".into()),
        };
        let call = json!({"method": "ping", "args": {"arg": 1}});
        let body = encode_request(&call, &meta);
        let outer: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(outer["oslo.version"], "2.0");
        assert!(outer["oslo.message"].is_string());
        let (c2, m2) = decode_request(&body).expect("decode");
        assert_eq!(c2, call);
        assert_eq!(m2, meta);
    }

    #[test]
    fn reply_carries_typed_failure() {
        let err = NovaError::InstanceNotFound {
            instance_id: "x".into(),
        };
        let body = encode_reply("m1", &Err(err.clone()));
        let (id, out) = decode_reply(&body).expect("decode");
        assert_eq!(id, "m1");
        assert_eq!(out, Err(err));
        let (_, out) = decode_reply(&encode_reply("m2", &Ok(json!(5)))).expect("decode");
        assert_eq!(out, Ok(json!(5)));
    }
}
