//! Private flavors' access lists (Nova's `flavor_access.py`):
//! `GET /flavors/{id}/os-flavor-access` and the `addTenantAccess` /
//! `removeTenantAccess` actions of `POST /flavors/{id}/action`.

use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use serde_json::{json, Value};

fn access_list(flavor_id: &str, projects: &[String]) -> Value {
    json!({
        "flavor_access": projects
            .iter()
            .map(|p| json!({"flavor_id": flavor_id, "tenant_id": p}))
            .collect::<Vec<_>>()
    })
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state
        .policy
        .authorize("os_compute_api:os-flavor-access", &ctx, &Target::own(&ctx))?;
    let f = state.compute_api.get_flavor(&ctx, &id).await?;
    if f.is_public {
        return Err(ApiError::not_found(
            "Access list not available for public flavors.",
        ));
    }
    Ok(Json(access_list(&f.flavorid, &f.projects)))
}

/// `{"<action>": {"tenant": "<project id>"}}`.
fn tenant(action: &str, args: &Value) -> ApiResult<String> {
    let Some(obj) = args.as_object() else {
        return Err(invalid(action, args, "is not of type 'object'"));
    };
    if let Some(extra) = obj.keys().find(|k| k.as_str() != "tenant") {
        return Err(invalid(
            action,
            args,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    match obj.get("tenant") {
        Some(Value::String(t)) if !t.is_empty() && t.len() <= 255 => Ok(t.clone()),
        Some(other) => Err(invalid("tenant", other, "is not a valid project id")),
        None => Err(invalid(action, args, "'tenant' is a required property")),
    }
}

/// `POST /flavors/{id}/action`.
pub async fn action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let (name, args) = crate::openstack::common::the_action(&body)?;
    let (policy, add) = match name {
        "addTenantAccess" => ("os_compute_api:os-flavor-access:add_tenant_access", true),
        "removeTenantAccess" => (
            "os_compute_api:os-flavor-access:remove_tenant_access",
            false,
        ),
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    state.policy.authorize(policy, &ctx, &Target::own(&ctx))?;
    let project = tenant(name, args)?;
    crate::openstack::identity::verify_project_id(&state, &ctx, &project).await?;
    let f = state.compute_api.get_flavor(&ctx, &id).await?;
    let projects = if add {
        if f.is_public && v.at_least(7) {
            return Err(ApiError::conflict("Can not add access to a public flavor."));
        }
        state
            .compute_api
            .add_flavor_access(&ctx, &f, &project)
            .await
    } else {
        state
            .compute_api
            .remove_flavor_access(&ctx, &f, &project)
            .await
    }
    .map_err(|e| match e {
        NovaError::FlavorAccessExists { .. } => ApiError::conflict(e.to_string()),
        NovaError::FlavorAccessNotFound { .. } => ApiError::not_found(e.to_string()),
        other => other.into(),
    })?;
    Ok(Json(access_list(&f.flavorid, &projects)))
}
