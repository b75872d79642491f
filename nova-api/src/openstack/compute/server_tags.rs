//! `/servers/{id}/tags` and `/servers/{id}/tags/{tag}` (microversion 2.26,
//! Nova's `server_tags.py`).

use super::servers::get_instance;
use crate::compute::api::MAX_TAG_COUNT;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{instance_invalid_state, invalid, json_body, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};

/// `parameter_types.tag`: 1 to 60 characters, neither '/' nor ','.
pub fn tag_error(tag: &str) -> Option<&'static str> {
    let n = tag.chars().count();
    if n == 0 {
        Some("is too short")
    } else if n > 60 {
        Some("is too long")
    } else if tag.contains(['/', ',']) {
        Some("does not match '^[^,/]*$'")
    } else {
        None
    }
}

async fn instance(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    id: &str,
    action: &str,
) -> ApiResult<Instance> {
    if !v.at_least(26) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let inst = get_instance(state, ctx, id).await?;
    state.policy.authorize(
        &format!("os_compute_api:os-server-tags:{action}"),
        ctx,
        &Target::project(&inst.project_id),
    )?;
    Ok(inst)
}

fn change_error(e: NovaError, action: &str) -> ApiError {
    match e {
        e @ NovaError::InstanceInvalidState { .. } => instance_invalid_state(e, action),
        NovaError::InvalidRequest { reason } => ApiError::bad_request(reason),
        other => other.into(),
    }
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, v, &id, "index").await?;
    let tags = state.compute_api.get_tags(&ctx, &inst).await?;
    Ok(Json(json!({ "tags": tags })))
}

/// PUT: replace all of the server's tags.
pub async fn update_all(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, v, &id, "update_all").await?;
    let body = json_body(&body)?;
    let Some(obj) = body.as_object() else {
        return Err(invalid("body", &body, "is not of type 'object'"));
    };
    if let Some(extra) = obj.keys().find(|k| k.as_str() != "tags") {
        return Err(invalid(
            "body",
            &body,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let Some(list) = obj.get("tags") else {
        return Err(invalid("body", &body, "'tags' is a required property"));
    };
    let Some(list) = list.as_array() else {
        return Err(invalid("tags", list, "is not of type 'array'"));
    };
    if list.len() > MAX_TAG_COUNT {
        return Err(invalid(
            "tags",
            &body["tags"],
            &format!("is too long (at most {MAX_TAG_COUNT} items)"),
        ));
    }
    let mut tags = Vec::with_capacity(list.len());
    for t in list {
        let Some(s) = t.as_str() else {
            return Err(invalid("tags", t, &format!("{t} is not of type 'string'")));
        };
        if let Some(why) = tag_error(s) {
            return Err(invalid("tags", t, &format!("{t} {why}")));
        }
        tags.push(s.to_string());
    }
    let tags = state
        .compute_api
        .set_tags(&ctx, &inst, tags)
        .await
        .map_err(|e| change_error(e, "update tags"))?;
    Ok(Json(json!({ "tags": tags })))
}

/// DELETE: remove all of the server's tags.
pub async fn delete_all(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let inst = instance(&state, &ctx, v, &id, "delete_all").await?;
    state
        .compute_api
        .delete_all_tags(&ctx, &inst)
        .await
        .map_err(|e| change_error(e, "delete tags"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// GET one: 204 when the server has it.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let inst = instance(&state, &ctx, v, &id, "show").await?;
    let tags = state.compute_api.get_tags(&ctx, &inst).await?;
    if !tags.contains(&tag) {
        return Err(ApiError::not_found(format!(
            "Server {id} has no tag '{tag}'"
        )));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// PUT one: 201 with its Location when added, 204 when the server had it.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<Response> {
    let inst = instance(&state, &ctx, v, &id, "update").await?;
    if let Some(why) = tag_error(&tag) {
        return Err(ApiError::bad_request(format!(
            "Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. Validation error message: '{tag}' {why}"
        )));
    }
    let added = state
        .compute_api
        .add_tag(&ctx, &inst, &tag)
        .await
        .map_err(|e| change_error(e, "update tag"))?;
    if !added {
        return Ok(StatusCode::NO_CONTENT.into_response());
    }
    let mut resp = StatusCode::CREATED.into_response();
    let location = format!(
        "{}/servers/{id}/tags/{}",
        base.versioned,
        utf8_percent_encode(&tag)
    );
    if let Ok(loc) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("location", loc);
    }
    Ok(resp)
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, tag)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let inst = instance(&state, &ctx, v, &id, "delete").await?;
    state
        .compute_api
        .delete_tag(&ctx, &inst, &tag)
        .await
        .map_err(|e| match e {
            NovaError::InstanceTagNotFound { .. } => ApiError::not_found(e.to_string()),
            other => change_error(other, "delete tag"),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

/// A path segment as a URL carries it.
fn utf8_percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_as_nova_validates_them() {
        assert_eq!(tag_error("web server"), None);
        assert!(tag_error("").is_some());
        assert!(tag_error("a,b").is_some());
        assert!(tag_error("a/b").is_some());
        assert!(tag_error(&"t".repeat(61)).is_some());
        assert_eq!(tag_error(&"t".repeat(60)), None);
        assert_eq!(utf8_percent_encode("a b"), "a%20b");
    }
}
