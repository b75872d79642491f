//! `POST /os-server-external-events` (service or admin; Nova's
//! `server_external_events.py`): events about servers from other services.
//! 200 when every event is accepted, 207 otherwise, each event answered
//! with its `code` and `status`.

use crate::compute::api::external_events::ExternalEvent;
use crate::error::ApiResult;
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::{json, Value};
use uuid::Uuid;

/// The event names and the microversion each is taken from.
const NAMES: &[(&str, u32)] = &[
    ("network-changed", 0),
    ("network-vif-plugged", 0),
    ("network-vif-unplugged", 0),
    ("network-vif-deleted", 0),
    ("volume-extended", 51),
    ("power-update", 76),
    ("accelerator-request-bound", 82),
    ("volume-reimaged", 93),
];
/// Nova's `EVENT_STATUSES`.
const STATUSES: &[&str] = &["failed", "completed", "in-progress"];

/// One event of the body, validated as Nova's schema at `v` does.
fn parse_event(e: &Value, v: ApiVersion) -> ApiResult<ExternalEvent> {
    let o = object_of("events", e, |k| {
        matches!(k, "name" | "server_uuid" | "status" | "tag")
    })?;
    let name = match o.get("name") {
        None => return Err(invalid("events", e, "'name' is a required property")),
        Some(n) => n,
    };
    let name = name
        .as_str()
        .filter(|n| NAMES.iter().any(|(x, from)| x == n && v.at_least(*from)))
        .ok_or_else(|| invalid("name", name, "is not one of the allowed event names"))?;
    let uuid = match o.get("server_uuid") {
        None => return Err(invalid("events", e, "'server_uuid' is a required property")),
        Some(u) => u,
    };
    let server_uuid = uuid
        .as_str()
        .and_then(|u| Uuid::parse_str(u).ok())
        .ok_or_else(|| invalid("server_uuid", uuid, "is not a 'uuid'"))?;
    let status = match o.get("status") {
        None => "completed".to_string(),
        Some(s) => s
            .as_str()
            .filter(|s| STATUSES.contains(s))
            .ok_or_else(|| invalid("status", s, &format!("is not one of {STATUSES:?}")))?
            .to_string(),
    };
    let tag = match o.get("tag") {
        None => None,
        Some(t) => Some(
            t.as_str()
                .filter(|t| t.chars().count() <= 255)
                .ok_or_else(|| invalid("tag", t, "is not a string of at most 255 characters"))?
                .to_string(),
        ),
    };
    Ok(ExternalEvent {
        server_uuid,
        name: name.to_string(),
        status,
        tag,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    state.policy.authorize(
        "os_compute_api:os-server-external-events:create",
        &ctx,
        &Target::default(),
    )?;
    let body = json_body(&body)?;
    let o = object_of("body", &body, |k| k == "events")?;
    let given = match o.get("events") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(x) => return Err(invalid("events", x, "is not a non-empty array")),
        None => return Err(invalid("body", &body, "'events' is a required property")),
    };
    let events = given
        .iter()
        .map(|e| parse_event(e, v))
        .collect::<ApiResult<Vec<_>>>()?;
    let codes = state
        .compute_api
        .external_instance_event(&ctx, &events)
        .await?;
    let mut all_ok = true;
    let out: Vec<Value> = given
        .iter()
        .zip(&codes)
        .map(|(e, code)| {
            let mut e = e.clone();
            all_ok &= *code == 200;
            let status = if *code == 200 { "completed" } else { "failed" };
            if let Some(m) = e.as_object_mut() {
                m.insert("code".into(), json!(code));
                m.insert("status".into(), json!(status));
            }
            e
        })
        .collect();
    let code = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((code, Json(json!({ "events": out }))))
}
