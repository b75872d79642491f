//! `/servers/{id}/metadata` and `/servers/{id}/metadata/{key}` (Nova's
//! `server_metadata.py`), and the metadata schema other resources share.

use super::servers::get_instance;
use crate::error::{ApiError, ApiResult};
use crate::openstack::common::{instance_invalid_state, invalid, json_body};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A key of `parameter_types.metadata`: `^[a-zA-Z0-9-_:. ]{1,255}$`.
pub fn valid_metadata_key(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 255
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_:. ".contains(c))
}

/// Nova's `parameter_types.metadata` (string values of at most 255
/// characters; with `numbers`, as flavor extra specs, numbers too, kept
/// as their text), with at least `min` and at most `max` items.
pub fn parse_metadata(
    field: &str,
    v: &Value,
    numbers: bool,
    min: usize,
    max: Option<usize>,
) -> ApiResult<BTreeMap<String, String>> {
    let Some(obj) = v.as_object() else {
        return Err(invalid(field, v, &format!("{v} is not of type 'object'")));
    };
    if obj.len() < min {
        return Err(invalid(
            field,
            v,
            &format!("{v} does not have enough properties"),
        ));
    }
    if max.is_some_and(|m| obj.len() > m) {
        return Err(invalid(field, v, &format!("{v} has too many properties")));
    }
    let mut out = BTreeMap::new();
    for (k, val) in obj {
        if !valid_metadata_key(k) {
            return Err(invalid(
                field,
                v,
                &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
        let s = match val {
            Value::String(s) => s.clone(),
            Value::Number(n) if numbers => n.to_string(),
            other => {
                let types = if numbers {
                    "'string', 'number'"
                } else {
                    "'string'"
                };
                return Err(invalid(
                    &format!("{field}/{k}"),
                    other,
                    &format!("{other} is not of type {types}"),
                ));
            }
        };
        if s.chars().count() > 255 {
            return Err(invalid(
                &format!("{field}/{k}"),
                val,
                &format!("{val} is too long"),
            ));
        }
        out.insert(k.clone(), s);
    }
    Ok(out)
}

/// `{"<wrapper>": {...}}` with nothing else in the body.
fn body_items(
    body: &Bytes,
    wrapper: &str,
    min: usize,
    max: Option<usize>,
) -> ApiResult<BTreeMap<String, String>> {
    let body = json_body(body)?;
    let Some(obj) = body.as_object() else {
        return Err(invalid("body", &body, "is not of type 'object'"));
    };
    let Some(m) = obj.get(wrapper) else {
        return Err(invalid(
            "body",
            &body,
            &format!("'{wrapper}' is a required property"),
        ));
    };
    if let Some(extra) = obj.keys().find(|k| k.as_str() != wrapper) {
        return Err(invalid(
            "body",
            &body,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    parse_metadata(wrapper, m, false, min, max)
}

async fn instance(
    state: &AppState,
    ctx: &RequestContext,
    id: &str,
    action: &str,
) -> ApiResult<Instance> {
    let inst = get_instance(state, ctx, id).await?;
    state.policy.authorize(
        &format!("os_compute_api:server-metadata:{action}"),
        ctx,
        &Target::project(&inst.project_id),
    )?;
    Ok(inst)
}

/// The faults of a metadata change, as Nova's controller maps them.
fn change_error(e: NovaError, action: &str) -> ApiError {
    match e {
        NovaError::MetadataLimitExceeded { .. } | NovaError::QuotaExceeded { .. } => {
            ApiError::new(403, e.to_string())
        }
        e @ (NovaError::InstanceInvalidState { .. }
        | NovaError::UnexpectedTaskStateError { .. }) => instance_invalid_state(e, action),
        other => other.into(),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("Metadata item was not found")
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, &id, "index").await?;
    Ok(Json(json!({ "metadata": inst.metadata })))
}

/// POST: merge into the server's metadata; all of it after.
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let items = body_items(&body, "metadata", 0, None)?;
    let inst = instance(&state, &ctx, &id, "create").await?;
    let all = state
        .compute_api
        .update_instance_metadata(&ctx, &inst, items, false)
        .await
        .map_err(|e| change_error(e, "update metadata"))?;
    Ok(Json(json!({ "metadata": all })))
}

/// PUT: replace the server's metadata.
pub async fn update_all(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let items = body_items(&body, "metadata", 0, None)?;
    let inst = instance(&state, &ctx, &id, "update_all").await?;
    let all = state
        .compute_api
        .update_instance_metadata(&ctx, &inst, items, true)
        .await
        .map_err(|e| change_error(e, "update metadata"))?;
    Ok(Json(json!({ "metadata": all })))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, &id, "show").await?;
    let value = inst.metadata.get(&key).ok_or_else(not_found)?;
    Ok(Json(json!({ "meta": { key: value } })))
}

/// PUT one item: the body's one key must be the URL's.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let item = body_items(&body, "meta", 1, Some(1))?;
    if !item.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let inst = instance(&state, &ctx, &id, "update").await?;
    state
        .compute_api
        .update_instance_metadata(&ctx, &inst, item.clone(), false)
        .await
        .map_err(|e| change_error(e, "update metadata"))?;
    Ok(Json(json!({ "meta": item })))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let inst = instance(&state, &ctx, &id, "delete").await?;
    if !inst.metadata.contains_key(&key) {
        return Err(not_found());
    }
    let existed = state
        .compute_api
        .delete_instance_metadata(&ctx, &inst, &key)
        .await
        .map_err(|e| change_error(e, "delete metadata"))?;
    if !existed {
        return Err(not_found());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_schema() {
        let ok = parse_metadata("metadata", &json!({"a b:c.d-e_f": "v"}), false, 0, None);
        assert_eq!(ok.map(|m| m.len()).map_err(|e| e.message), Ok(1));
        for bad in [
            json!({"": "v"}),
            json!({"k/x": "v"}),
            json!({"k": 1}),
            json!({"k": "v".repeat(256)}),
            json!({"k".repeat(256): "v"}),
            json!([]),
        ] {
            let e = parse_metadata("metadata", &bad, false, 0, None).expect_err("400");
            assert_eq!(e.code, 400, "{bad}");
        }
        let n = parse_metadata("extra_specs", &json!({"k": 2.5}), true, 0, None).expect("number");
        assert_eq!(n["k"], "2.5");
        assert!(parse_metadata("meta", &json!({"a": "1", "b": "2"}), false, 1, Some(1)).is_err());
        assert!(parse_metadata("meta", &json!({}), false, 1, Some(1)).is_err());
    }
}
