//! `/servers/{id}/os-interface` (Nova's `attach_interfaces.py`): ports
//! attached to a server and hot-plugged into it. They are Neutron's; a
//! nova-network cloud has none, and Nova's nova-network API answers every
//! port call with `NotImplementedError`, which the API turns into
//! `501 The requested functionality is not supported.` (Nova itself let
//! `show` and `create` fail with a 500 there.) The request is checked as
//! Nova checks it first: the body's schema (400), the server (404) and the
//! policy (403). `openstack server add network|port` and
//! `openstack server remove port` say so.

use super::server_tags::tag_error;
use super::servers::authorized_instance as authorized;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, object_of};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::Extension;
use nova_common::RequestContext;
use serde_json::Value;

/// Nova's `raise_feature_not_supported`.
fn not_supported() -> ApiError {
    ApiError::new(501, "The requested functionality is not supported.")
}

/// `GET /servers/{id}/os-interface`.
pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-attach-interfaces:list",
    )
    .await?;
    Err(not_supported())
}

/// `GET /servers/{id}/os-interface/{port}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, _port)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-attach-interfaces:show",
    )
    .await?;
    Err(not_supported())
}

/// `POST /servers/{id}/os-interface`: `{"interfaceAttachment": {"net_id",
/// "port_id", "fixed_ips": [{"ip_address"}], "tag" (2.49)}}`, all optional.
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if !body.is_empty() {
        check_create(&json_body(&body)?, v)?;
    }
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-attach-interfaces:create",
    )
    .await?;
    Err(not_supported())
}

/// `DELETE /servers/{id}/os-interface/{port}`.
pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, _port)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-attach-interfaces:delete",
    )
    .await?;
    Err(not_supported())
}

/// Nova's `attach_interfaces.create` schema (`create_v249` adds `tag`) and
/// its two checks of what goes together.
fn check_create(body: &Value, v: ApiVersion) -> ApiResult<()> {
    let top = object_of("body", body, |k| k == "interfaceAttachment")?;
    let Some(att) = top.get("interfaceAttachment") else {
        return Ok(());
    };
    let mut allowed = vec!["net_id", "port_id", "fixed_ips"];
    if v.at_least(49) {
        allowed.push("tag");
    }
    let att = object_of("interfaceAttachment", att, |k| allowed.contains(&k))?;
    for key in ["net_id", "port_id"] {
        if let Some(val) = att.get(key) {
            if val
                .as_str()
                .is_none_or(|s| uuid::Uuid::parse_str(s).is_err())
            {
                return Err(invalid(
                    &format!("interfaceAttachment/{key}"),
                    val,
                    &format!("{val} is not a 'uuid'"),
                ));
            }
        }
    }
    let mut requested_ip = false;
    if let Some(ips) = att.get("fixed_ips") {
        let field = "interfaceAttachment/fixed_ips";
        let list = ips
            .as_array()
            .ok_or_else(|| invalid(field, ips, &format!("{ips} is not of type 'array'")))?;
        if list.len() != 1 {
            let why = if list.is_empty() {
                format!("{ips} is too short")
            } else {
                format!("{ips} is too long")
            };
            return Err(invalid(field, ips, &why));
        }
        let entry = object_of(&format!("{field}/0"), &list[0], |k| k == "ip_address")?;
        let ip = entry.get("ip_address").ok_or_else(|| {
            invalid(
                &format!("{field}/0"),
                &list[0],
                "'ip_address' is a required property",
            )
        })?;
        if ip
            .as_str()
            .is_none_or(|s| s.parse::<std::net::IpAddr>().is_err())
        {
            return Err(invalid(
                &format!("{field}/0/ip_address"),
                ip,
                &format!("{ip} is not a 'ip_address'"),
            ));
        }
        requested_ip = true;
    }
    if let Some(tag) = att.get("tag") {
        let why = match tag.as_str() {
            Some(t) => tag_error(t).map(|w| format!("{tag} {w}")),
            None => Some(format!("{tag} is not of type 'string'")),
        };
        if let Some(why) = why {
            return Err(invalid("interfaceAttachment/tag", tag, &why));
        }
    }
    if att.contains_key("net_id") && att.contains_key("port_id") {
        return Err(ApiError::bad_request(
            "Must not input both network_id and port_id",
        ));
    }
    if requested_ip && !att.contains_key("net_id") {
        return Err(ApiError::bad_request(
            "Must input network_id when request IP address",
        ));
    }
    Ok(())
}
