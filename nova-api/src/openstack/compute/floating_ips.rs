//! nova-network's floating IP proxies (2.1-2.35; 404 from 2.36):
//! `/os-floating-ip-pools`, `/os-floating-ips` (allocate, list, show,
//! release), and the `addFloatingIp`/`removeFloatingIp` server actions
//! (2.1-2.43). The work is nova-network's, asked through
//! [`compute::api`](crate::compute::api)'s network API.

use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::{FloatingIp, Instance};
use serde_json::{json, Map, Value};
use std::net::IpAddr;
use tracing::{error, warn};

/// The last microversion of nova-network's proxy APIs.
pub const MAX_PROXY_API_SUPPORT_VERSION: u32 = 35;

/// Nova's 404 for a method outside its microversions: a bare "not found",
/// so that it looks as if the method were not there (its `dispatch`).
pub fn version_not_found() -> ApiError {
    ApiError::not_found("The resource could not be found.")
}

/// 404 from 2.36, as every nova-network proxy API.
pub fn proxy_api(v: ApiVersion) -> ApiResult<()> {
    if v.at_least(MAX_PROXY_API_SUPPORT_VERSION + 1) {
        return Err(version_not_found());
    }
    Ok(())
}

fn own_project(ctx: &RequestContext) -> Target {
    Target::project(ctx.project_id.as_deref().unwrap_or_default())
}

/// Nova's `_translate_floating_ip_view`.
pub fn floating_ip_view(f: &FloatingIp) -> Value {
    json!({
        "id": f.id,
        "ip": f.address,
        "pool": f.pool,
        "fixed_ip": f.fixed_address,
        "instance_id": f.instance_uuid.map(|u| u.to_string()),
    })
}

pub async fn pools(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-floating-ip-pools:list",
        &ctx,
        &own_project(&ctx),
    )?;
    let pools = state.compute_api.get_floating_ip_pools(&ctx).await?;
    Ok(Json(json!({
        "floating_ip_pools": pools.iter().map(|p| json!({"name": p})).collect::<Vec<_>>()
    })))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:list",
        &ctx,
        &own_project(&ctx),
    )?;
    let fips = state.compute_api.get_floating_ips_by_project(&ctx).await?;
    Ok(Json(json!({
        "floating_ips": fips.iter().map(floating_ip_view).collect::<Vec<_>>()
    })))
}

/// A floating IP by id: 404 when it is not the caller's, 400 for an id that is no integer.
async fn get_by_id(state: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<FloatingIp> {
    state
        .compute_api
        .get_floating_ip(ctx, id)
        .await
        .map_err(|e| match e {
            NovaError::FloatingIpNotFound { .. } => {
                ApiError::not_found(format!("Floating IP not found for ID {id}"))
            }
            NovaError::InvalidID { .. } => ApiError::bad_request(e.to_string()),
            other => other.into(),
        })
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:show",
        &ctx,
        &own_project(&ctx),
    )?;
    let fip = get_by_id(&state, &ctx, &id).await?;
    Ok(Json(json!({"floating_ip": floating_ip_view(&fip)})))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:create",
        &ctx,
        &own_project(&ctx),
    )?;
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        json_body(&body)?
    };
    let pool = match &body {
        Value::Null => None,
        Value::Object(o) => match o.get("pool") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(p.clone()),
            Some(other) => {
                return Err(invalid(
                    "pool",
                    other,
                    &format!("{other} is not of type 'string', 'null'"),
                ))
            }
        },
        other => {
            return Err(invalid(
                "body",
                other,
                &format!("{other} is not of type 'object', 'null'"),
            ))
        }
    };
    let in_pool = |msg: &str| match &pool {
        Some(p) => format!("{msg} in pool {p}."),
        None => format!("{msg}."),
    };
    let fip = state
        .compute_api
        .allocate_floating_ip(&ctx, pool.clone())
        .await
        .map_err(|e| match e {
            NovaError::NoMoreFloatingIps {} => ApiError::not_found(match &pool {
                Some(p) => format!("No more floating IPs in pool {p}."),
                None => "No more floating IPs available.".to_string(),
            }),
            NovaError::FloatingIpLimitExceeded {} => {
                ApiError::new(403, in_pool("IP allocation over quota"))
            }
            NovaError::FloatingIpPoolNotFound {} => ApiError::not_found(e.to_string()),
            other => other.into(),
        })?;
    Ok(Json(json!({"floating_ip": floating_ip_view(&fip)})))
}

/// The instance a floating address forwards to (Nova's
/// `get_instance_by_floating_ip_addr`).
async fn instance_by_address(
    state: &AppState,
    ctx: &RequestContext,
    address: &str,
) -> ApiResult<Option<Instance>> {
    let id = state
        .compute_api
        .get_instance_id_by_floating_address(ctx, address)
        .await
        .map_err(|e| match e {
            NovaError::FloatingIpNotFoundForAddress { .. } => ApiError::not_found(e.to_string()),
            NovaError::Forbidden {} => ApiError::new(403, e.to_string()),
            other => other.into(),
        })?;
    match id {
        Some(id) => Ok(Some(state.compute_api.get(ctx, &id.to_string()).await?)),
        None => Ok(None),
    }
}

/// Nova's controller-level mapping of a disassociation's failures.
fn disassociate_error(e: NovaError) -> ApiError {
    match e {
        NovaError::Forbidden {} => ApiError::new(403, "Access was denied to this resource."),
        NovaError::CannotDisassociateAutoAssignedFloatingIP {} => {
            ApiError::new(403, "Cannot disassociate auto assigned floating IP")
        }
        other => other.into(),
    }
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:delete",
        &ctx,
        &own_project(&ctx),
    )?;
    let fip = get_by_id(&state, &ctx, &id).await?;
    // The instance must be visible to the caller, as upstream looks it up.
    instance_by_address(&state, &ctx, &fip.address).await?;
    state
        .compute_api
        .disassociate_and_release_floating_ip(&ctx, &fip)
        .await
        .map_err(|e| match e {
            NovaError::FloatingIpNotFoundForAddress { .. } => ApiError::not_found(e.to_string()),
            other => disassociate_error(other),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// An IPv4 or IPv6 address, as the action schemas' `ip_address`.
fn ip_field(args: &Map<String, Value>, field: &str, required: bool) -> ApiResult<Option<String>> {
    match args.get(field) {
        None if required => Err(invalid(
            "addFloatingIp",
            &Value::Object(args.clone()),
            &format!("'{field}' is a required property"),
        )),
        None => Ok(None),
        Some(Value::String(s)) if s.parse::<IpAddr>().is_ok() => Ok(Some(s.clone())),
        Some(other) => Err(invalid(
            field,
            other,
            &format!("{other} is not valid under any of the given schemas"),
        )),
    }
}

/// The `addFloatingIp` / `removeFloatingIp` body: an object with only the given fields.
fn action_args<'a>(
    action: &str,
    args: &'a Value,
    allowed: &[&str],
) -> ApiResult<&'a Map<String, Value>> {
    object_of(action, args, |k| allowed.contains(&k))
}

/// `addFloatingIp` (2.1-2.43).
pub async fn add_floating_ip(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    if v.at_least(44) {
        return Err(version_not_found());
    }
    let o = action_args("addFloatingIp", args, &["address", "fixed_address"])?;
    let address = ip_field(o, "address", true)?.unwrap_or_default();
    let requested_fixed = ip_field(o, "fixed_address", false)?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:add",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    if inst.network_info.is_empty() {
        warn!(instance = %inst.uuid, "info cache is empty during associate");
        return Err(ApiError::bad_request("Instance network is not ready yet"));
    }
    let fixed_ips: Vec<&str> = inst
        .network_info
        .iter()
        .flat_map(|vif| vif.network.subnets.iter())
        .flat_map(|s| s.ips.iter())
        .map(|ip| ip.address.as_str())
        .collect();
    if fixed_ips.is_empty() {
        return Err(ApiError::bad_request("No fixed IPs associated to instance"));
    }
    let fixed_address = match requested_fixed {
        Some(f) => {
            if !fixed_ips.contains(&f.as_str()) {
                return Err(ApiError::bad_request(
                    "Specified fixed address not assigned to instance",
                ));
            }
            f
        }
        None => {
            let Some(first) = fixed_ips
                .iter()
                .find(|a| a.parse::<std::net::Ipv4Addr>().is_ok())
            else {
                return Err(ApiError::bad_request(format!(
                    "Unable to associate floating IP {address} to any fixed IPs for instance {}. \
                     Instance has no fixed IPv4 addresses to associate.",
                    inst.uuid
                )));
            };
            if fixed_ips.len() > 1 {
                warn!(instance = %inst.uuid, "multiple fixed_ips exist, using the first IPv4 fixed_ip: {first}");
            }
            first.to_string()
        }
    };
    match state
        .compute_api
        .associate_floating_ip(ctx, inst, &address, &fixed_address)
        .await
    {
        Ok(()) => Ok(StatusCode::ACCEPTED.into_response()),
        Err(NovaError::FloatingIpAssociated { .. }) => {
            Err(ApiError::bad_request("floating IP is already associated"))
        }
        Err(NovaError::NoFloatingIpInterface { .. }) => Err(ApiError::bad_request(
            "l3driver call to add floating IP failed",
        )),
        Err(NovaError::FloatingIpNotFoundForAddress { .. }) => {
            Err(ApiError::not_found("floating IP not found"))
        }
        Err(e @ (NovaError::Forbidden {} | NovaError::PolicyNotAuthorized { .. })) => {
            Err(ApiError::new(403, e.to_string()))
        }
        Err(e) => {
            let msg = format!(
                "Unable to associate floating IP {address} to fixed IP {fixed_address} for instance {}. Error: {e}",
                inst.uuid
            );
            error!("{msg}");
            Err(ApiError::bad_request(msg))
        }
    }
}

/// `removeFloatingIp` (2.1-2.43).
pub async fn remove_floating_ip(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    if v.at_least(44) {
        return Err(version_not_found());
    }
    let o = action_args("removeFloatingIp", args, &["address"])?;
    let address = match o.get("address") {
        Some(Value::String(s)) if s.parse::<IpAddr>().is_ok() => s.clone(),
        Some(other) => {
            return Err(invalid(
                "address",
                other,
                &format!("{other} is not valid under any of the given schemas"),
            ))
        }
        None => {
            return Err(invalid(
                "removeFloatingIp",
                args,
                "'address' is a required property",
            ))
        }
    };
    let holder = instance_by_address(state, ctx, &address).await?;
    let target = match &holder {
        Some(i) => Target::project(&i.project_id),
        None => Target::project(&inst.project_id),
    };
    state
        .policy
        .authorize("os_compute_api:os-floating-ips:remove", ctx, &target)?;
    let fip = state
        .compute_api
        .get_floating_ip_by_address(ctx, &address)
        .await
        .map_err(|e| match e {
            NovaError::FloatingIpNotFoundForAddress { .. } => {
                ApiError::not_found("floating IP not found")
            }
            other => other.into(),
        })?;
    match holder {
        Some(h) if fip.fixed_ip_id.is_some() && h.uuid == inst.uuid => {
            state
                .compute_api
                .disassociate_floating_ip(ctx, &address)
                .await
                .map_err(disassociate_error)?;
            Ok(StatusCode::ACCEPTED.into_response())
        }
        _ => Err(ApiError::conflict(format!(
            "Floating IP {address} is not associated with instance {}.",
            inst.uuid
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_view_is_novas() {
        let f = FloatingIp {
            id: 3,
            address: "172.24.4.3".into(),
            pool: Some("public".into()),
            ..Default::default()
        };
        assert_eq!(
            floating_ip_view(&f),
            json!({"id": 3, "ip": "172.24.4.3", "pool": "public", "fixed_ip": null, "instance_id": null})
        );
    }

    #[test]
    fn action_bodies_are_checked() {
        let ok = json!({"address": "10.0.0.1"});
        let o = action_args("addFloatingIp", &ok, &["address", "fixed_address"]).expect("ok");
        assert_eq!(
            ip_field(o, "address", true).expect("ip"),
            Some("10.0.0.1".into())
        );
        assert!(action_args("addFloatingIp", &json!("x"), &["address"]).is_err());
        assert!(action_args("addFloatingIp", &json!({"foo": 1}), &["address"]).is_err());
        let bad = json!({"address": "not-an-ip"});
        let o = action_args("addFloatingIp", &bad, &["address"]).expect("object");
        assert_eq!(ip_field(o, "address", true).unwrap_err().code, 400);
        let none = json!({});
        let o = action_args("addFloatingIp", &none, &["address"]).expect("object");
        assert_eq!(ip_field(o, "address", true).unwrap_err().code, 400);
    }
}
