//! `/os-aggregates` (admin; Nova's `aggregates.py`): list, create, show,
//! update, delete, and the `add_host`, `remove_host`, `set_metadata`
//! actions.

use super::server_metadata::valid_metadata_key;
use super::views::micro_isotime;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Aggregate;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// One aggregate as Nova marshals it; `uuid` from 2.41.
pub fn view(a: &Aggregate, v: ApiVersion, hosts_and_metadata: bool) -> Value {
    let mut o = json!({
        "id": a.id,
        "name": a.name,
        "availability_zone": a.availability_zone(),
        "created_at": micro_isotime(a.created_at),
        "updated_at": micro_isotime(a.updated_at),
        "deleted_at": null,
        "deleted": false,
    });
    if hosts_and_metadata {
        o["hosts"] = json!(a.hosts);
        o["metadata"] = json!(a.metadata);
    }
    if v.at_least(41) {
        o["uuid"] = json!(a.uuid.to_string());
    }
    o
}

fn authorize(state: &AppState, ctx: &RequestContext, action: &str) -> ApiResult<()> {
    state.policy.authorize(
        &format!("os_compute_api:os-aggregates:{action}"),
        ctx,
        &Target::own(ctx),
    )
}

fn aggregate_id(id: &str) -> ApiResult<i64> {
    id.parse().map_err(|_| {
        ApiError::not_found(
            NovaError::AggregateNotFound {
                aggregate_id: id.to_string(),
            }
            .to_string(),
        )
    })
}

/// A zone: a name without ':' (Nova's `az_name`: `zone:host` would not
/// name it).
fn zone_field(v: &Value) -> ApiResult<Option<String>> {
    let zone = name_field("availability_zone", v, true)?;
    if zone.as_deref().is_some_and(|z| z.contains(':')) {
        return Err(invalid(
            "availability_zone",
            v,
            "must be printable characters except ':'",
        ));
    }
    Ok(zone)
}

/// A name or zone: 1 to 255 characters without leading or trailing spaces.
fn name_field(field: &str, v: &Value, nullable: bool) -> ApiResult<Option<String>> {
    match v {
        Value::Null if nullable => Ok(None),
        Value::String(s) if !s.is_empty() && s.chars().count() <= 255 && s.trim() == s => {
            Ok(Some(s.clone()))
        }
        other => Err(invalid(
            field,
            other,
            "must be 1 to 255 characters without leading or trailing whitespace",
        )),
    }
}

/// `{"aggregate": {...}}` with only `name` and `availability_zone`.
fn aggregate_body(body: &Value) -> ApiResult<&Map<String, Value>> {
    let Some(a) = body.get("aggregate") else {
        return Err(invalid("body", body, "'aggregate' is a required property"));
    };
    object_of("body", body, |k| k == "aggregate")?;
    object_of("aggregate", a, |k| {
        matches!(k, "name" | "availability_zone")
    })
}

fn fault(e: NovaError, conflict_on_invalid_action: bool) -> ApiError {
    match e {
        NovaError::AggregateNotFound { .. }
        | NovaError::AggregateHostNotFound { .. }
        | NovaError::ComputeHostNotFound { .. } => ApiError::not_found(e.to_string()),
        NovaError::AggregateNameExists { .. } | NovaError::AggregateHostExists { .. } => {
            ApiError::conflict(e.to_string())
        }
        NovaError::InvalidAggregateActionAdd { .. }
        | NovaError::InvalidAggregateActionUpdate { .. }
        | NovaError::InvalidAggregateActionDelete { .. } => {
            if conflict_on_invalid_action {
                ApiError::conflict(e.to_string())
            } else {
                ApiError::bad_request(e.to_string())
            }
        }
        other => other.into(),
    }
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &ctx, "index")?;
    let all = state.compute_api.get_aggregate_list(&ctx).await?;
    Ok(Json(
        json!({"aggregates": all.iter().map(|a| view(a, v, true)).collect::<Vec<_>>()}),
    ))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    authorize(&state, &ctx, "create")?;
    let body = json_body(&body)?;
    let a = aggregate_body(&body)?;
    let Some(name) = a.get("name") else {
        return Err(invalid(
            "aggregate",
            &body["aggregate"],
            "'name' is a required property",
        ));
    };
    let name = name_field("name", name, false)?.unwrap_or_default();
    let zone = match a.get("availability_zone") {
        Some(z) => zone_field(z)?,
        None => None,
    };
    let made = state
        .compute_api
        .create_aggregate(&ctx, &name, zone)
        .await
        .map_err(|e| fault(e, false))?;
    Ok(Json(json!({"aggregate": view(&made, v, false)})))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &ctx, "show")?;
    let a = state
        .compute_api
        .get_aggregate(&ctx, aggregate_id(&id)?)
        .await
        .map_err(|e| fault(e, false))?;
    Ok(Json(json!({"aggregate": view(&a, v, true)})))
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
    let a = aggregate_body(&body)?;
    if a.is_empty() {
        return Err(invalid(
            "aggregate",
            &body["aggregate"],
            "'name' or 'availability_zone' is required",
        ));
    }
    // An update's name may have leading or trailing spaces (Nova's
    // `name_with_leading_trailing_spaces`); a create's may not.
    let name = match a.get("name") {
        Some(Value::String(n)) if !n.trim().is_empty() && n.chars().count() <= 255 => {
            Some(n.clone())
        }
        Some(n) => name_field("name", n, false)?,
        None => None,
    };
    let zone = a.get("availability_zone").map(zone_field).transpose()?;
    let updated = state
        .compute_api
        .update_aggregate(&ctx, aggregate_id(&id)?, name, zone)
        .await
        .map_err(|e| fault(e, false))?;
    Ok(Json(json!({"aggregate": view(&updated, v, true)})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<()> {
    authorize(&state, &ctx, "delete")?;
    state
        .compute_api
        .delete_aggregate(&ctx, aggregate_id(&id)?)
        .await
        .map_err(|e| fault(e, false))
}

/// `{"host": "<name>"}` of add_host / remove_host.
fn host_arg(action: &str, args: &Value) -> ApiResult<String> {
    let Some(o) = args.as_object() else {
        return Err(invalid(action, args, "is not of type 'object'"));
    };
    if let Some(extra) = o.keys().find(|k| k.as_str() != "host") {
        return Err(invalid(
            action,
            args,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    match o.get("host") {
        Some(Value::String(h)) if !h.is_empty() && h.len() <= 255 => Ok(h.clone()),
        Some(other) => Err(invalid("host", other, "is not a valid host name")),
        None => Err(invalid(action, args, "'host' is a required property")),
    }
}

/// `{"metadata": {key: string or null}}` of set_metadata.
fn metadata_arg(args: &Value) -> ApiResult<BTreeMap<String, Option<String>>> {
    let Some(m) = args.get("metadata").and_then(Value::as_object) else {
        return Err(invalid(
            "set_metadata",
            args,
            "'metadata' is a required object",
        ));
    };
    if let Some(extra) = args
        .as_object()
        .and_then(|o| o.keys().find(|k| k.as_str() != "metadata"))
    {
        return Err(invalid(
            "set_metadata",
            args,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let mut out = BTreeMap::new();
    for (k, v) in m {
        if !valid_metadata_key(k) {
            return Err(invalid(
                "metadata",
                &args["metadata"],
                &format!("Additional properties are not allowed ('{k}' was unexpected)"),
            ));
        }
        let value = match v {
            Value::Null => None,
            Value::String(s) if s.chars().count() <= 255 => Some(s.clone()),
            other => {
                return Err(invalid(
                    &format!("metadata/{k}"),
                    other,
                    "is not a string of at most 255 characters or null",
                ))
            }
        };
        out.insert(k.clone(), value);
    }
    Ok(out)
}

/// `POST /os-aggregates/{id}/images` (2.81): `{"cache": [{"id": <image>}, ...]}`,
/// 202; Nova's 400 for a bad body, duplicate or unknown images, 404 for an
/// unknown aggregate.
pub async fn images(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    if !v.at_least(81) {
        return Err(super::floating_ips::version_not_found());
    }
    let body = json_body(&body)?;
    state
        .policy
        .authorize("compute:aggregates:images", &ctx, &Target::own(&ctx))?;
    let image_ids = cache_arg(&body)?;
    let id: i64 = id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "Invalid input received: id must be an integer ({id})"
        ))
    })?;
    let mut sorted = image_ids.clone();
    sorted.sort();
    sorted.dedup();
    if sorted.len() != image_ids.len() {
        return Err(ApiError::bad_request("Duplicate images in request"));
    }
    state
        .compute_api
        .cache_images(&ctx, id, image_ids)
        .await
        .map_err(|e| match e {
            NovaError::AggregateNotFound { .. } => ApiError::not_found(e.to_string()),
            NovaError::ImageNotFound { .. } | NovaError::ImageNotActive { .. } => {
                ApiError::bad_request(e.to_string())
            }
            other => other.into(),
        })?;
    Ok(StatusCode::ACCEPTED)
}

/// Nova's `aggregate_images` schema: `cache`, at least one `{"id": <uuid>}`.
fn cache_arg(body: &Value) -> ApiResult<Vec<String>> {
    fn bad<T>(field: &str, value: &Value, why: &str) -> ApiResult<T> {
        Err(invalid(field, value, why))
    }
    let Some(o) = body.as_object() else {
        return bad("cache", body, "is not of type 'object'");
    };
    if let Some(k) = o.keys().find(|k| *k != "cache") {
        return bad(
            k,
            body,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        );
    }
    let Some(list) = o.get("cache").and_then(Value::as_array) else {
        return bad("cache", body, "'cache' is a required property (a list)");
    };
    if list.is_empty() {
        return bad("cache", &Value::Array(vec![]), "[] is too short");
    }
    list.iter()
        .map(|item| {
            let Some(entry) = item.as_object() else {
                return bad("cache", item, &format!("{item} is not of type 'object'"));
            };
            if let Some(k) = entry.keys().find(|k| *k != "id") {
                return bad(
                    "cache",
                    item,
                    &format!("Additional properties are not allowed ('{k}' was unexpected)"),
                );
            }
            match entry.get("id") {
                Some(Value::String(s)) if uuid::Uuid::parse_str(s).is_ok() => Ok(s.clone()),
                Some(other) => bad("id", other, &format!("{other} is not a 'uuid'")),
                None => bad("cache", item, "'id' is a required property"),
            }
        })
        .collect()
}

/// `POST /os-aggregates/{id}/action`.
pub async fn action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let (name, args) = crate::openstack::common::the_action(&body)?;
    let api = &state.compute_api;
    let updated = match name {
        "add_host" => {
            authorize(&state, &ctx, "add_host")?;
            let host = host_arg(name, args)?;
            api.add_host_to_aggregate(&ctx, aggregate_id(&id)?, &host)
                .await
                .map_err(|e| fault(e, true))?
        }
        "remove_host" => {
            authorize(&state, &ctx, "remove_host")?;
            let host = host_arg(name, args)?;
            // Nova's message names the host and the aggregate, whatever
            // was not found or refused.
            let cannot = format!("Cannot remove host {host} in aggregate {id}");
            api.remove_host_from_aggregate(&ctx, aggregate_id(&id)?, &host)
                .await
                .map_err(|e| match fault(e, true) {
                    f if f.code == 404 => ApiError::not_found(cannot.clone()),
                    f if f.code == 409 => ApiError::conflict(cannot.clone()),
                    f => f,
                })?
        }
        "set_metadata" => {
            authorize(&state, &ctx, "set_metadata")?;
            let metadata = metadata_arg(args)?;
            api.update_aggregate_metadata(&ctx, aggregate_id(&id)?, metadata)
                .await
                .map_err(|e| fault(e, false))?
        }
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    Ok(Json(json!({"aggregate": view(&updated, v, true)})))
}
