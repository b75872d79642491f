//! The multinic actions (Nova's `multinic.py`, 2.1–2.43, 404 from 2.44):
//! `addFixedIp` gives a server one more fixed IP from a network (its uuid
//! or id), `removeFixedIp` takes one back. Both are casts: 202, and what
//! nova-network refuses is the instance's fault.

use super::server_actions::accepted;
use crate::error::{ApiError, ApiResult};
use crate::openstack::common::{invalid, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::response::Response;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{Map, Value};

const POLICY: &str = "os_compute_api:os-multinic";

/// The action's object, with only `key` in it (Nova's schemas).
fn only<'a>(action: &str, key: &str, args: &'a Value) -> ApiResult<&'a Map<String, Value>> {
    let o = object_of(action, args, |k| k == key)?;
    if !o.contains_key(key) {
        return Err(invalid(
            action,
            args,
            &format!("'{key}' is a required property"),
        ));
    }
    Ok(o)
}

fn conflict(e: NovaError) -> ApiError {
    match e {
        NovaError::InstanceIsLocked { .. } | NovaError::InstanceNotReady { .. } => {
            ApiError::conflict(e.to_string())
        }
        other => other.into(),
    }
}

/// `{"addFixedIp": {"networkId": <uuid or id>}}`.
pub async fn add_fixed_ip(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    let o = only("addFixedIp", "networkId", args)?;
    let network_id = match &o["networkId"] {
        Value::String(s) if (1..=36).contains(&s.chars().count()) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => {
            return Err(invalid(
                "networkId",
                other,
                &format!("{other} is not of type 'string', 'number'"),
            ))
        }
    };
    state
        .policy
        .authorize(POLICY, ctx, &Target::project(&inst.project_id))?;
    state
        .compute_api
        .add_fixed_ip(ctx, inst, network_id)
        .await
        .map_err(conflict)?;
    accepted()
}

/// `{"removeFixedIp": {"address": <IP address>}}`.
pub async fn remove_fixed_ip(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    let o = only("removeFixedIp", "address", args)?;
    let address = match &o["address"] {
        Value::String(a) if a.parse::<std::net::IpAddr>().is_ok() => a.clone(),
        other => {
            return Err(invalid(
                "address",
                other,
                &format!("{other} is not valid under any of the given schemas"),
            ))
        }
    };
    state
        .policy
        .authorize(POLICY, ctx, &Target::project(&inst.project_id))?;
    state
        .compute_api
        .remove_fixed_ip(ctx, inst, address)
        .await
        .map_err(conflict)?;
    accepted()
}
