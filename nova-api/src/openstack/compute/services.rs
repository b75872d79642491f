//! `/os-services` (admin), straight from the conductor's services table.

use super::views::services::service;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::json_body;
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::{json, Value};

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
        "services": services.iter().map(|s| service(&state.cfg, s, v)).collect::<Vec<_>>()
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
    let body = json_body(&body)?;
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
