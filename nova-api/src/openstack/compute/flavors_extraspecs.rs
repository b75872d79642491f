//! `/flavors/{id}/os-extra_specs` (Nova's `flavors_extraspecs.py`): anyone
//! who sees the flavor reads them, admins change them; from 2.86 the specs
//! written are validated (`compute/api/extra_specs.rs`).

use super::server_metadata::parse_metadata;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Flavor;
use serde_json::{json, Map, Value};

async fn flavor(
    state: &AppState,
    ctx: &RequestContext,
    id: &str,
    action: &str,
) -> ApiResult<Flavor> {
    state.policy.authorize(
        &format!("os_compute_api:os-flavor-extra-specs:{action}"),
        ctx,
        &Target::own(ctx),
    )?;
    Ok(state.compute_api.get_flavor(ctx, id).await?)
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = flavor(&state, &ctx, &id, "index").await?;
    Ok(Json(json!({ "extra_specs": f.extra_specs })))
}

/// POST: add or change the body's specs; the body back.
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let Some(obj) = body.as_object() else {
        return Err(invalid("body", &body, "is not of type 'object'"));
    };
    let Some(specs) = obj.get("extra_specs") else {
        return Err(invalid(
            "body",
            &body,
            "'extra_specs' is a required property",
        ));
    };
    if let Some(extra) = obj.keys().find(|k| k.as_str() != "extra_specs") {
        return Err(invalid(
            "body",
            &body,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let parsed = parse_metadata("extra_specs", specs, true, 0, None)?;
    let f = flavor(&state, &ctx, &id, "create").await?;
    state
        .compute_api
        .update_flavor_extra_specs(&ctx, &f.flavorid, parsed, v.at_least(86))
        .await?;
    Ok(Json(json!({ "extra_specs": specs })))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let f = flavor(&state, &ctx, &id, "show").await?;
    let Some(v) = f.extra_specs.get(&key) else {
        return Err(ApiError::not_found(
            NovaError::FlavorExtraSpecsNotFound {
                flavor_id: id,
                extra_specs_key: key,
            }
            .to_string(),
        ));
    };
    let mut m = Map::new();
    m.insert(key, json!(v));
    Ok(Json(Value::Object(m)))
}

/// PUT one: `{"<key>": value}`, the key the URL's.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let parsed = parse_metadata("body", &body, true, 1, Some(1))?;
    if !parsed.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let f = flavor(&state, &ctx, &id, "update").await?;
    state
        .compute_api
        .update_flavor_extra_specs(&ctx, &f.flavorid, parsed, v.at_least(86))
        .await?;
    Ok(Json(body))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let f = flavor(&state, &ctx, &id, "delete").await?;
    state
        .compute_api
        .delete_flavor_extra_spec(&ctx, &f.flavorid, &key)
        .await
        .map_err(|e| match e {
            NovaError::FlavorExtraSpecsNotFound { .. } => ApiError::not_found(e.to_string()),
            other => other.into(),
        })?;
    // Nova's default 200 (Tempest's unset_flavor_extra_specs schema).
    Ok(StatusCode::OK)
}
