//! The `evacuate` server action (Nova's `EvacuateController`, admin): the
//! body per microversion (2.1 `host`, `onSharedStorage` (required),
//! `adminPass`; 2.14 no `onSharedStorage`; 2.29 `force`; 2.68 no `force`;
//! 2.95 the instance ends STOPPED), policy `os_compute_api:os-evacuate`,
//! then [`compute::api`](crate::compute::api) decides. 200, with
//! `{"adminPass": ...}` before 2.14 when `[api] enable_instance_password`.

use super::servers::generate_password;
use crate::compute::api::EvacuateRequest;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{instance_invalid_state, invalid, object_of, parse_boolean};
use crate::policy::Target;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};

pub const POLICY: &str = "os_compute_api:os-evacuate";

/// Nova's `evacuate` schemas (v2.1, v2.14, v2.29, v2.68).
pub fn parse(v: ApiVersion, args: &Value) -> ApiResult<EvacuateRequest> {
    let mut allowed = vec!["host", "adminPass"];
    if !v.at_least(14) {
        allowed.push("onSharedStorage");
    }
    if v.at_least(29) && !v.at_least(68) {
        allowed.push("force");
    }
    let o = object_of("evacuate", args, |k| allowed.contains(&k))?;
    let mut req = EvacuateRequest::default();
    if !v.at_least(14) {
        match o.get("onSharedStorage") {
            None => {
                return Err(invalid(
                    "evacuate",
                    args,
                    "'onSharedStorage' is a required property",
                ))
            }
            Some(b) => req.on_shared_storage = parse_boolean("onSharedStorage", b)?,
        }
    }
    req.host = match o.get("host") {
        None => None,
        Some(Value::String(h))
            if !h.is_empty()
                && h.chars().count() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c)) =>
        {
            Some(h.clone())
        }
        Some(other) => {
            return Err(invalid(
                "host",
                other,
                &format!("{other} does not match '^[a-zA-Z0-9-._]*$'"),
            ))
        }
    };
    req.admin_pass = match o.get("adminPass") {
        None => None,
        Some(Value::String(p)) if p.chars().count() <= 255 => Some(p.clone()),
        Some(other) => {
            return Err(invalid(
                "adminPass",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
    if let Some(f) = o.get("force") {
        req.force = parse_boolean("force", f)?;
    }
    // Before 2.29 a named host is taken as it is (Nova's `force=None`);
    // from 2.29 the scheduler checks it unless forced, and forcing needs one.
    if !v.at_least(29) {
        req.force = req.host.is_some();
    } else if req.force && req.host.is_none() {
        return Err(ApiError::bad_request(
            "Can't force to a non-provided destination",
        ));
    }
    if v.at_least(95) {
        req.target_state = Some("stopped".into());
    }
    Ok(req)
}

/// `{"evacuate": {...}}`.
pub async fn evacuate(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY, ctx, &Target::project(&inst.project_id))?;
    let mut req = parse(v, args)?;
    // The password of the new disk: none on shared storage (the guest keeps
    // its disk), the given one, or a generated one.
    if req.admin_pass.is_some() && req.on_shared_storage {
        return Err(ApiError::bad_request(
            "admin password can't be changed on existing disk",
        ));
    }
    if req.admin_pass.is_none() && !req.on_shared_storage {
        req.admin_pass = Some(generate_password());
    }
    let password = req.admin_pass.clone();
    state
        .compute_api
        .evacuate(ctx, inst, req)
        .await
        .map_err(|e| match e {
            NovaError::ComputeHostNotFound { host } => {
                ApiError::not_found(format!("Compute host {host} not found."))
            }
            e @ (NovaError::ComputeServiceInUse { .. } | NovaError::InvalidRequest { .. }) => {
                ApiError::bad_request(e.to_string())
            }
            other => instance_invalid_state(other, "evacuate"),
        })?;
    if !v.at_least(14) && state.cfg.api.enable_instance_password {
        return Ok((StatusCode::OK, Json(json!({ "adminPass": password }))).into_response());
    }
    Ok(StatusCode::OK.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> ApiVersion {
        ApiVersion::new(2, minor)
    }

    #[test]
    fn the_body_follows_the_microversion() {
        let body = json!({"host": "h2", "onSharedStorage": false});
        assert!(parse(v(1), &body).is_ok());
        assert!(parse(v(14), &body).is_err(), "onSharedStorage gone at 2.14");
        assert!(
            parse(v(1), &json!({"host": "h2"})).is_err(),
            "required before 2.14"
        );
        let forced = json!({"host": "h2", "force": true});
        assert!(parse(v(28), &forced).is_err());
        let named = json!({"host": "h2"});
        assert!(
            parse(v(28), &named).unwrap().force,
            "before 2.29 a named host is forced"
        );
        assert!(
            !parse(v(29), &named).unwrap().force,
            "from 2.29 it is checked"
        );
        assert!(!parse(v(28), &json!({})).unwrap().force);
        assert!(
            parse(v(29), &json!({"force": true})).is_err(),
            "force needs a host"
        );
        let r = parse(v(29), &forced).unwrap();
        assert!(r.force && r.host.as_deref() == Some("h2"));
        assert!(parse(v(68), &forced).is_err(), "force gone at 2.68");
        assert_eq!(parse(v(94), &json!({})).unwrap().target_state, None);
        assert_eq!(
            parse(v(95), &json!({})).unwrap().target_state.as_deref(),
            Some("stopped")
        );
        assert!(parse(v(14), &json!({"host": ""})).is_err());
        assert!(parse(v(14), &json!({"adminPass": 1})).is_err());
    }
}
