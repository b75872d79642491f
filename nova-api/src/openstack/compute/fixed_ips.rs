//! `/os-fixed-ips` (2.1-2.35, admin): show an address (its network, the
//! instance holding it, `reserved` from 2.4) and reserve/unreserve it.

use super::floating_ips::proxy_api;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::json_body;
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use serde_json::{json, Value};

fn own_project(ctx: &RequestContext) -> Target {
    Target::project(ctx.project_id.as_deref().unwrap_or_default())
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state
        .policy
        .authorize("os_compute_api:os-fixed-ips:show", &ctx, &own_project(&ctx))?;
    let api = &state.compute_api;
    let ip = api
        .get_fixed_ip_by_address(&ctx, &id)
        .await
        .map_err(|e| match e {
            NovaError::FixedIpNotFoundForAddress { .. } => ApiError::not_found(e.to_string()),
            NovaError::FixedIpInvalid { .. } => ApiError::bad_request(e.to_string()),
            other => other.into(),
        })?;
    let nets = api.networks_by_id(&ctx).await?;
    let inst = match ip.instance_uuid {
        Some(u) => match api.get(&ctx, &u.to_string()).await {
            Ok(i) => Some(i),
            Err(NovaError::InstanceNotFound { .. }) => None,
            Err(e) => return Err(e.into()),
        },
        None => None,
    };
    let mut body = json!({
        "cidr": nets.get(&ip.network_id).map(|n| n.cidr.clone()),
        "address": ip.address,
        "hostname": inst.as_ref().map(|i| i.hostname.clone()),
        "host": inst.as_ref().and_then(|i| i.host.clone()),
    });
    if v.at_least(4) {
        body["reserved"] = json!(ip.reserved);
    }
    Ok(Json(json!({"fixed_ip": body})))
}

/// `POST /os-fixed-ips/{address}/action`: `reserve` or `unreserve`.
pub async fn action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    proxy_api(v)?;
    let body = json_body(&body)?;
    let (name, _) = crate::openstack::common::the_action(&body)?;
    let (rule, reserved) = match name {
        "reserve" => ("os_compute_api:os-fixed-ips:reserve", true),
        "unreserve" => ("os_compute_api:os-fixed-ips:unreserve", false),
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    state.policy.authorize(rule, &ctx, &own_project(&ctx))?;
    state
        .compute_api
        .set_fixed_ip_reserved(&ctx, &id, reserved)
        .await
        .map_err(|e| match e {
            NovaError::FixedIpNotFoundForAddress { .. } => {
                ApiError::not_found(format!("Fixed IP {id} not found"))
            }
            NovaError::FixedIpInvalid { .. } => {
                ApiError::bad_request(format!("Fixed IP {id} not valid"))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}
