//! `/os-services` (admin), straight from the conductor's services table.

use super::views::services::service;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{json_body, object_of, parse_boolean};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::Service;
use serde_json::{json, Value};
use uuid::Uuid;

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    state
        .policy
        .authorize("os_compute_api:os-services:list", &ctx, &Target::own(&ctx))?;
    let (mut services, aggregates) = state.compute_api.services_and_aggregates(&ctx).await?;
    for (k, val) in &p {
        match k.as_str() {
            "host" => services.retain(|s| &s.host == val),
            "binary" => services.retain(|s| &s.binary == val),
            _ => {}
        }
    }
    Ok(Json(json!({
        "services": services
            .iter()
            .map(|s| service(&state.cfg, &aggregates, s, v))
            .collect::<Vec<_>>()
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

/// The service a 2.53 path names by uuid (400 when not a uuid, 404 when
/// there is none).
async fn by_uuid(state: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Service> {
    let u = Uuid::parse_str(id).map_err(|_| ApiError::bad_request(format!("Invalid uuid {id}")))?;
    state
        .conductor
        .service_get_all(ctx)
        .await?
        .into_iter()
        .find(|s| s.uuid == u)
        .ok_or_else(|| ApiError::not_found(format!("Service {id} could not be found.")))
}

/// `PUT /os-services/{uuid}` (2.53): `status`, `disabled_reason`,
/// `forced_down` of a nova-compute service; answers the whole service.
async fn update_v253(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    id: &str,
    body: &Value,
) -> ApiResult<Json<Value>> {
    let obj = object_of("body", body, |k| {
        matches!(k, "status" | "disabled_reason" | "forced_down")
    })?;
    let status = match obj.get("status") {
        None => None,
        Some(Value::String(s)) if s == "enabled" || s == "disabled" => Some(s.as_str()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute status. Value: {other}. {other} is not one of ['enabled', 'disabled']"
            )))
        }
    };
    let reason = match obj.get("disabled_reason") {
        None => None,
        Some(Value::String(r)) if !r.is_empty() && r.chars().count() <= 255 => Some(r.clone()),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute disabled_reason. Value: {other}. must be a string of 1 to 255 characters"
            )))
        }
    };
    let forced = obj
        .get("forced_down")
        .map(|f| parse_boolean("forced_down", f))
        .transpose()?;
    state
        .policy
        .authorize("os_compute_api:os-services:update", ctx, &Target::own(ctx))?;
    let svc = by_uuid(state, ctx, id).await?;
    if svc.binary != "nova-compute" {
        return Err(ApiError::bad_request(format!(
            "Updating a {} service is not supported. Only nova-compute services can be updated.",
            svc.binary
        )));
    }
    if status == Some("enabled") && reason.is_some() {
        return Err(ApiError::bad_request(
            "Specifying 'disabled_reason' with status 'enabled' is invalid.",
        ));
    }
    if status.is_none() && forced.is_none() {
        return Err(ApiError::bad_request(
            "No updates were requested. Fields 'status' or 'forced_down' should be specified.",
        ));
    }
    let (host, binary) = (svc.host.clone(), svc.binary.clone());
    if let Some(st) = status {
        let disabled = st == "disabled";
        let reason = if disabled { reason } else { None };
        state
            .conductor
            .service_set_disabled(ctx, host.clone(), binary.clone(), disabled, reason)
            .await?;
    }
    if let Some(f) = forced {
        state
            .conductor
            .service_set_forced_down(ctx, host, binary, f)
            .await?;
    }
    let updated = by_uuid(state, ctx, id).await?;
    let aggregates = state.compute_api.get_aggregate_list(ctx).await?;
    Ok(Json(
        json!({ "service": service(&state.cfg, &aggregates, &updated, v) }),
    ))
}

/// `PUT /os-services/{enable,disable,disable-log-reason,force-down}`
/// before 2.53; `PUT /os-services/{uuid}` from 2.53.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(action): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    if v.at_least(53) {
        return update_v253(&state, &ctx, v, &action, &body).await;
    }
    state.policy.authorize(
        "os_compute_api:os-services:update",
        &ctx,
        &Target::own(&ctx),
    )?;
    let known = ["enable", "disable", "disable-log-reason"].contains(&action.as_str())
        || (action == "force-down" && v.at_least(11));
    if !known {
        return Err(ApiError::not_found("Unknown action"));
    }
    // Nova's `service_update` schemas: `forced_down` from 2.11.
    object_of("body", &body, |k| {
        matches!(k, "host" | "binary" | "disabled_reason") || (k == "forced_down" && v.at_least(11))
    })?;
    let host = str_field(&body, "host")?;
    let binary = str_field(&body, "binary")?;
    let forced = body
        .get("forced_down")
        .map(|f| parse_boolean("forced_down", f))
        .transpose()?;
    if binary != "nova-compute" {
        return Err(ApiError::bad_request(format!(
            "Updating a {binary} service is not supported. Only nova-compute services can be updated."
        )));
    }
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
            let Some(forced) = forced else {
                return Err(ApiError::bad_request("Missing forced_down field"));
            };
            state
                .conductor
                .service_set_forced_down(&ctx, host.clone(), binary.clone(), forced)
                .await?;
            json!({"host": host, "binary": binary, "forced_down": forced})
        }
        _ => return Err(ApiError::not_found("Unknown action")),
    };
    Ok(Json(json!({ "service": out })))
}

/// `DELETE /os-services/{id}`: an integer id before 2.53, a uuid from 2.53.
pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.policy.authorize(
        "os_compute_api:os-services:delete",
        &ctx,
        &Target::own(&ctx),
    )?;
    let not_found = || ApiError::not_found(format!("Service {id} not found."));
    let service = if v.at_least(53) {
        by_uuid(&state, &ctx, &id)
            .await
            .map_err(|e| if e.code == 404 { not_found() } else { e })?
    } else {
        let n: i64 = id.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute id. Value: {id}. is not an integer"
            ))
        })?;
        let all = state.compute_api.service_list(&ctx).await?;
        all.into_iter().find(|s| s.id == n).ok_or_else(not_found)?
    };
    state.compute_api.delete_service(&ctx, &service).await?;
    Ok(StatusCode::NO_CONTENT)
}
