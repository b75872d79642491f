//! `/os-services` (admin).

use crate::error::{ApiError, ApiResult};
use crate::microversion::ApiVersion;
use crate::policy::Target;
use crate::views::micro_isotime;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::Utc;
use nova_common::{NovaConfig, RequestContext};
use nova_objects::Service;
use serde_json::{json, Value};

pub fn zone(cfg: &NovaConfig, s: &Service) -> String {
    if s.binary == "nova-compute" {
        cfg.default.default_availability_zone.clone()
    } else {
        cfg.default.internal_service_availability_zone.clone()
    }
}

pub fn state_of(cfg: &NovaConfig, s: &Service) -> &'static str {
    if s.is_up(Utc::now(), cfg.default.service_down_time) {
        "up"
    } else {
        "down"
    }
}

fn view(cfg: &NovaConfig, s: &Service, v: ApiVersion) -> Value {
    let mut o = json!({
        "id": s.id,
        "binary": s.binary,
        "host": s.host,
        "zone": zone(cfg, s),
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": state_of(cfg, s),
        "updated_at": micro_isotime(s.updated_at),
        "disabled_reason": s.disabled_reason,
    });
    if v.at_least(11) {
        o["forced_down"] = json!(s.forced_down);
    }
    o
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    state
        .policy
        .authorize("os_compute_api:os-services:list", &ctx, &Target::own(&ctx))?;
    let mut services = state.conductor.service_get_all(&ctx).await?;
    for (k, val) in &p {
        match k.as_str() {
            "host" => services.retain(|s| &s.host == val),
            "binary" => services.retain(|s| &s.binary == val),
            _ => {}
        }
    }
    Ok(Json(json!({
        "services": services.iter().map(|s| view(&state.cfg, s, v)).collect::<Vec<_>>()
    })))
}

fn str_field(body: &Value, k: &str) -> ApiResult<String> {
    match body.get(k) {
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(s.clone()),
        Some(v) => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {k}. Value: {v}. must be a non-empty string"
        ))),
        None => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Value: {body}. '{k}' is a required property"
        ))),
    }
}

/// `PUT /os-services/{enable,disable,disable-log-reason,force-down}`.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(action): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-services:update",
        &ctx,
        &Target::own(&ctx),
    )?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let host = str_field(&body, "host")?;
    let binary = str_field(&body, "binary")?;
    let out = match action.as_str() {
        "enable" => {
            state
                .conductor
                .service_set_disabled(&ctx, host.clone(), binary.clone(), false, None)
                .await?;
            json!({"host": host, "binary": binary, "status": "enabled"})
        }
        "disable" => {
            state
                .conductor
                .service_set_disabled(&ctx, host.clone(), binary.clone(), true, None)
                .await?;
            json!({"host": host, "binary": binary, "status": "disabled"})
        }
        "disable-log-reason" => {
            let reason = str_field(&body, "disabled_reason")?;
            state
                .conductor
                .service_set_disabled(
                    &ctx,
                    host.clone(),
                    binary.clone(),
                    true,
                    Some(reason.clone()),
                )
                .await?;
            json!({"host": host, "binary": binary, "status": "disabled", "disabled_reason": reason})
        }
        "force-down" if v.at_least(11) => {
            let Some(forced) = body.get("forced_down").and_then(Value::as_bool) else {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute forced_down. 'forced_down' must be a boolean",
                ));
            };
            state
                .conductor
                .service_set_forced_down(&ctx, host.clone(), binary.clone(), forced)
                .await?;
            json!({"host": host, "binary": binary, "forced_down": forced})
        }
        _ => return Err(ApiError::not_found(format!("Unknown action {action}"))),
    };
    Ok(Json(json!({ "service": out })))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.policy.authorize(
        "os_compute_api:os-services:delete",
        &ctx,
        &Target::own(&ctx),
    )?;
    let id: i64 = id
        .parse()
        .map_err(|_| ApiError::bad_request(format!("Invalid uuid {id}")))?;
    state.conductor.service_delete(&ctx, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
