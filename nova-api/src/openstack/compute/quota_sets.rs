//! `/os-quota-sets/{project}`: show, defaults, detail, update, delete.

use super::views::quota_sets::{
    detail as detail_view, in_use, quota_set, removed_at, resource_name,
};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::json_body;
use crate::openstack::identity::verify_project_id;
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:show",
        &ctx,
        &Target::project(&project),
    )?;
    verify_project_id(&state, &ctx, &project).await?;
    let l = state.compute_api.get_project_quotas(&ctx, &project).await?;
    Ok(Json(json!({"quota_set": quota_set(&l, v, Some(&project))})))
}

pub async fn defaults(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:defaults",
        &ctx,
        &Target::project(&project),
    )?;
    verify_project_id(&state, &ctx, &project).await?;
    let defaults = state.compute_api.quota_defaults(&ctx).await?;
    Ok(Json(
        json!({"quota_set": quota_set(&defaults, v, Some(&project))}),
    ))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:detail",
        &ctx,
        &Target::project(&project),
    )?;
    verify_project_id(&state, &ctx, &project).await?;
    let api = &state.compute_api;
    let l = api.get_project_quotas(&ctx, &project).await?;
    let used = api.quota_usage(&ctx, &project).await?;
    Ok(Json(
        json!({"quota_set": detail_view(&l, &used, v, &project)}),
    ))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:update",
        &ctx,
        &Target::project(&project),
    )?;
    verify_project_id(&state, &ctx, &project).await?;
    let body = json_body(&body)?;
    let Some(qs) = body.get("quota_set").and_then(Value::as_object) else {
        return Err(ApiError::bad_request(format!("Invalid input for field/attribute body. Value: {body}. 'quota_set' is a required property")));
    };
    let force = qs
        .get("force")
        .map(|f| f == &json!(true) || f == &json!("True") || f == &json!("true"))
        .unwrap_or(false);
    let api = &state.compute_api;
    let used = api.quota_usage(&ctx, &project).await?;
    let mut updates = BTreeMap::new();
    for (k, val) in qs {
        if k == "force" {
            continue;
        }
        let resource = resource_name(k);
        let known = !removed_at(resource, v) && state.cfg.quota.contains_key(resource);
        if !known {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_set. Value: {}. Additional properties are not allowed ('{k}' was unexpected)",
                Value::Object(qs.clone())
            )));
        }
        let n = match val {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|n| *n >= -1 && *n <= i32::MAX as i64)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {val}. must be an integer >= -1"
            ))
        })?;
        let in_use = in_use(&used, resource);
        if !force && n >= 0 && n < in_use {
            return Err(ApiError::bad_request(format!(
                "Quota limit {n} for {k} must be greater than or equal to already used and reserved {in_use}."
            )));
        }
        updates.insert(resource.to_string(), n);
    }
    state
        .conductor
        .quota_update(&ctx, project.clone(), updates)
        .await?;
    let l = api.get_project_quotas(&ctx, &project).await?;
    Ok(Json(json!({"quota_set": quota_set(&l, v, None)})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:delete",
        &ctx,
        &Target::project(&project),
    )?;
    state
        .conductor
        .quota_destroy_all_by_project(&ctx, project)
        .await?;
    Ok(StatusCode::ACCEPTED)
}
