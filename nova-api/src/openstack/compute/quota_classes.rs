//! `/os-quota-class-sets/{id}` (admin; Nova's `quota_classes.py`): a quota
//! class's limits, and setting them. The `default` class overrides the
//! `[quota]` defaults of every project (the conductor applies it).

use super::views::quota_classes::{quota_class_set, settable};
use super::views::quota_sets::resource_name;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{json_body, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::Value;
use std::collections::BTreeMap;

fn authorize(state: &AppState, ctx: &RequestContext, action: &str) -> ApiResult<()> {
    state.policy.authorize(
        &format!("os_compute_api:os-quota-class-sets:{action}"),
        ctx,
        &Target::default(),
    )
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &ctx, "show")?;
    let l = state.compute_api.get_class_quotas(&ctx, &id).await?;
    Ok(Json(quota_class_set(&l, v, Some(&id))))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authorize(&state, &ctx, "update")?;
    let body = json_body(&body)?;
    let obj = object_of("body", &body, |k| k == "quota_class_set")?;
    let Some(qs) = obj.get("quota_class_set") else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute body. Value: {body}. 'quota_class_set' is a required property"
        )));
    };
    let Some(qs) = qs.as_object() else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute quota_class_set. Value: {qs}. {qs} is not of type 'object'"
        )));
    };
    let mut updates = BTreeMap::new();
    for (k, val) in qs {
        let resource = resource_name(k);
        let known = state.cfg.quota.contains_key(resource);
        if !known || !settable(resource, v) {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_class_set. Value: {}. Additional properties are not allowed ('{k}' was unexpected)",
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
        updates.insert(resource.to_string(), n);
    }
    let l = state
        .compute_api
        .update_class_quotas(&ctx, &id, updates)
        .await?;
    Ok(Json(quota_class_set(&l, v, None)))
}
