//! `/os-keypairs`: create (generated or imported), list, show, delete; per user.

use super::views::{collection_links, keypairs};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, object_of, param, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use serde_json::{json, Value};

type Params = Query<Vec<(String, String)>>;

/// The faults of KeypairAPI, as Nova's controller maps them.
fn keypair_error(e: NovaError) -> ApiError {
    match e {
        NovaError::KeypairNotFound { .. } => ApiError::not_found(e.to_string()),
        NovaError::KeyPairExists { .. } => ApiError::conflict(e.to_string()),
        NovaError::InvalidKeypair { .. } => ApiError::bad_request(e.to_string()),
        NovaError::KeypairLimitExceeded {} => {
            ApiError::new(403, "Quota exceeded, too many key pairs.")
        }
        other => other.into(),
    }
}

/// Whose key pairs: another user's only from 2.10 (and as policy allows).
fn target_user(ctx: &RequestContext, v: ApiVersion, requested: Option<&str>) -> String {
    match requested {
        Some(u) if v.at_least(10) => u.to_string(),
        _ => ctx.user_id.clone().unwrap_or_default(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let Some(k) = body.get("keypair") else {
        return Err(invalid("body", &body, "'keypair' is a required property"));
    };
    object_of("body", &body, |f| f == "keypair")?;
    // `type` from 2.2, `user_id` from 2.10.
    let o = object_of("keypair", k, |f| match f {
        "name" | "public_key" => true,
        "type" => v.at_least(2),
        "user_id" => v.at_least(10),
        _ => false,
    })?;
    // Nova's name schema: `[_\- a-zA-Z0-9]`, plus `@` and `.` from 2.92.
    let name_ok = |n: &str| {
        n.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | ' ')
                || (v.at_least(92) && matches!(c, '@' | '.'))
        })
    };
    let name = match o.get("name") {
        Some(Value::String(n)) if !name_ok(n) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute name. Value: {n}. '{n}' does not match the allowed characters"
            )))
        }
        Some(Value::String(n)) if !n.is_empty() && n.len() <= 255 => n.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute name. Value: {other}. must be 1-255 characters"
            )))
        }
        None => {
            return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute keypair. Value: {k}. 'name' is a required property"
        )))
        }
    };
    let key_type = match o.get("type") {
        None => "ssh".to_string(),
        Some(Value::String(t)) if t == "ssh" || t == "x509" => t.clone(),
        Some(other) => {
            return Err(invalid(
                "type",
                other,
                &format!("{other} is not one of ['ssh', 'x509']"),
            ))
        }
    };
    let public_key = match o.get("public_key") {
        // 2.92: keys are imported, never generated.
        None if v.at_least(92) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute keypair. Value: {k}. 'public_key' is a required property"
            )))
        }
        None => None,
        Some(Value::String(p)) => Some(p.clone()),
        Some(other) => {
            return Err(invalid(
                "public_key",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
    let user_id = match o.get("user_id") {
        None | Some(Value::String(_)) => {
            target_user(&ctx, v, o.get("user_id").and_then(Value::as_str))
        }
        Some(other) => {
            return Err(invalid(
                "user_id",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
    state.policy.authorize(
        "os_compute_api:os-keypairs:create",
        &ctx,
        &Target::user(&user_id),
    )?;
    let api = &state.keypair_api;
    let (kp, private_key) = match public_key {
        Some(p) => (
            api.import_key_pair(&ctx, &user_id, &name, &p, &key_type)
                .await
                .map_err(keypair_error)?,
            None,
        ),
        None => {
            let (kp, private) = api
                .create_key_pair(&ctx, &user_id, &name, &key_type)
                .await
                .map_err(keypair_error)?;
            (kp, Some(private))
        }
    };
    let status = if v.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let body = keypairs::created(&kp, private_key.as_deref(), v);
    Ok((status, Json(json!({ "keypair": body }))).into_response())
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let user = target_user(&ctx, v, param(&p, "user_id"));
    state.policy.authorize(
        "os_compute_api:os-keypairs:index",
        &ctx,
        &Target::user(&user),
    )?;
    let mut kps = state
        .keypair_api
        .get_key_pairs(&ctx, &user)
        .await
        .map_err(keypair_error)?;
    let mut links = None;
    if v.at_least(35) {
        if let Some(m) = param(&p, "marker") {
            let pos = kps
                .iter()
                .position(|k| k.name == m)
                .ok_or_else(|| ApiError::bad_request(format!("Marker {m} could not be found.")))?;
            kps.drain(..=pos);
        }
        let max_limit = state.cfg.api.max_limit;
        let limit = match param(&p, "limit") {
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request("limit must be an integer"))?,
            None => max_limit,
        };
        kps.truncate(limit.min(max_limit));
        links = collection_links(
            &base,
            "os-keypairs",
            &p,
            max_limit,
            kps.len(),
            kps.last().map(|k| k.name.clone()),
        );
    }
    let mut body = json!({"keypairs": kps.iter().map(|k| json!({"keypair": keypairs::keypair(k, v)})).collect::<Vec<_>>()});
    if let Some(l) = links {
        body["keypairs_links"] = l;
    }
    Ok(Json(body))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(name): Path<String>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let user = target_user(&ctx, v, param(&p, "user_id"));
    state.policy.authorize(
        "os_compute_api:os-keypairs:show",
        &ctx,
        &Target::user(&user),
    )?;
    let k = state
        .keypair_api
        .get_key_pair(&ctx, &user, &name)
        .await
        .map_err(keypair_error)?;
    Ok(Json(json!({"keypair": keypairs::show(&k, v)})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(name): Path<String>,
    Query(p): Params,
) -> ApiResult<StatusCode> {
    let user = target_user(&ctx, v, param(&p, "user_id"));
    state.policy.authorize(
        "os_compute_api:os-keypairs:delete",
        &ctx,
        &Target::user(&user),
    )?;
    state
        .keypair_api
        .delete_key_pair(&ctx, &user, &name)
        .await
        .map_err(keypair_error)?;
    Ok(if v.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}
