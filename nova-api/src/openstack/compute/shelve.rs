//! The `shelve`, `shelveOffload` and `unshelve` server actions (Nova's
//! `ShelveController`): body validation per microversion (unshelve's
//! `availability_zone` from 2.77, `host` and a null zone from 2.91),
//! policies, and Nova's mapping of failures to 400/403/409.

use crate::compute::api::UnshelveRequest;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{instance_invalid_state, invalid};
use crate::policy::Target;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::Value;

const POLICY_SHELVE: &str = "os_compute_api:os-shelve:shelve";
const POLICY_SHELVE_OFFLOAD: &str = "os_compute_api:os-shelve:shelve_offload";
const POLICY_UNSHELVE: &str = "os_compute_api:os-shelve:unshelve";
const POLICY_UNSHELVE_TO_HOST: &str = "os_compute_api:os-shelve:unshelve_to_host";

/// Nova's 409s of these actions; the rest as the error says.
fn conflict_or(e: NovaError, action: &str) -> ApiError {
    match e {
        NovaError::InstanceIsLocked { .. }
        | NovaError::UnshelveInstanceInvalidState { .. }
        | NovaError::UnshelveHostNotInAZ { .. } => ApiError::conflict(e.to_string()),
        NovaError::InvalidRequest { .. } | NovaError::ComputeHostNotFound { .. } => {
            ApiError::bad_request(e.to_string())
        }
        other => instance_invalid_state(other, action),
    }
}

/// `{"shelve": <anything>}`.
pub async fn shelve(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_SHELVE, ctx, &Target::project(&inst.project_id))?;
    state
        .compute_api
        .shelve(ctx, inst)
        .await
        .map_err(|e| conflict_or(e, "shelve"))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `{"shelveOffload": <anything>}` (admin by default).
pub async fn shelve_offload(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state.policy.authorize(
        POLICY_SHELVE_OFFLOAD,
        ctx,
        &Target::project(&inst.project_id),
    )?;
    state
        .compute_api
        .shelve_offload(ctx, inst)
        .await
        .map_err(|e| conflict_or(e, "shelveOffload"))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Nova's `parameter_types.name`: 1 to 255 characters, no leading or
/// trailing whitespace.
fn zone_name(v: &Value) -> ApiResult<String> {
    match v {
        Value::String(s) if s.is_empty() || s.chars().count() > 255 => Err(invalid(
            "availability_zone",
            v,
            "must be 1 to 255 characters long",
        )),
        Value::String(s) if s.trim() != s => Err(invalid(
            "availability_zone",
            v,
            "has leading or trailing whitespace",
        )),
        Value::String(s) => Ok(s.clone()),
        other => Err(invalid(
            "availability_zone",
            other,
            &format!("{other} is not of type 'string'"),
        )),
    }
}

/// The unshelve body as the microversion's schema allows it: anything
/// before 2.77 (ignored); from 2.77 null or `{"availability_zone": name}`;
/// from 2.91 null or an object of an optional `availability_zone` (string
/// or null) and an optional `host`.
pub fn parse_unshelve(v: ApiVersion, args: &Value) -> ApiResult<UnshelveRequest> {
    if !v.at_least(77) {
        return Ok(UnshelveRequest::default());
    }
    let obj = match args {
        Value::Null => return Ok(UnshelveRequest::default()),
        Value::Object(o) => o,
        other => {
            return Err(invalid(
                "unshelve",
                other,
                &format!("{other} is not of type 'object', 'null'"),
            ))
        }
    };
    let allowed: &[&str] = if v.at_least(91) {
        &["availability_zone", "host"]
    } else {
        &["availability_zone"]
    };
    if let Some(k) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(
            "unshelve",
            args,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    let mut req = UnshelveRequest::default();
    if !v.at_least(91) {
        let Some(az) = obj.get("availability_zone") else {
            return Err(invalid(
                "unshelve",
                args,
                "'availability_zone' is a required property",
            ));
        };
        req.new_az = Some(Some(zone_name(az)?));
        return Ok(req);
    }
    match obj.get("availability_zone") {
        None => {}
        Some(Value::Null) => req.new_az = Some(None),
        Some(Value::String(s)) => req.new_az = Some(Some(s.clone())),
        Some(other) => {
            return Err(invalid(
                "availability_zone",
                other,
                &format!("{other} is not of type 'string', 'null'"),
            ))
        }
    }
    match obj.get("host") {
        None => {}
        Some(Value::String(h)) => req.host = Some(h.clone()),
        Some(other) => {
            return Err(invalid(
                "host",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    }
    Ok(req)
}

/// `{"unshelve": null | {...}}`; a `host` needs `unshelve_to_host` (admin).
pub async fn unshelve(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_UNSHELVE, ctx, &Target::project(&inst.project_id))?;
    let req = parse_unshelve(v, args)?;
    if req.host.is_some() {
        state.policy.authorize(
            POLICY_UNSHELVE_TO_HOST,
            ctx,
            &Target::project(&inst.project_id),
        )?;
    }
    state
        .compute_api
        .unshelve(ctx, inst, req)
        .await
        .map_err(|e| conflict_or(e, "unshelve"))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(minor: u32) -> ApiVersion {
        ApiVersion::new(2, minor)
    }

    #[test]
    fn unshelve_bodies_per_microversion() {
        // Before 2.77 anything goes, and is ignored.
        let any = json!({"availability_zone": "x", "foo": 1});
        assert_eq!(
            parse_unshelve(v(76), &any).ok(),
            Some(UnshelveRequest::default())
        );
        // 2.77: null or exactly a zone name.
        assert_eq!(
            parse_unshelve(v(77), &Value::Null).ok(),
            Some(UnshelveRequest::default())
        );
        let az = parse_unshelve(v(77), &json!({"availability_zone": "nova"})).ok();
        assert_eq!(az.and_then(|r| r.new_az), Some(Some("nova".to_string())));
        for bad in [
            json!({}),
            json!({"availability_zone": null}),
            json!({"availability_zone": " nova"}),
            json!({"host": "h"}),
            json!("nova"),
        ] {
            assert_eq!(
                parse_unshelve(v(77), &bad).map_err(|e| e.code).err(),
                Some(400),
                "{bad}"
            );
        }
        // 2.91: a null zone unpins, a host may be given, {} is accepted.
        let r = parse_unshelve(v(91), &json!({"availability_zone": null, "host": "h"})).ok();
        assert_eq!(
            r,
            Some(UnshelveRequest {
                new_az: Some(None),
                host: Some("h".into())
            })
        );
        assert_eq!(
            parse_unshelve(v(91), &json!({})).ok(),
            Some(UnshelveRequest::default())
        );
        for bad in [
            json!({"host": null}),
            json!({"foo": 1}),
            json!({"availability_zone": 1}),
        ] {
            assert_eq!(
                parse_unshelve(v(91), &bad).map_err(|e| e.code).err(),
                Some(400),
                "{bad}"
            );
        }
    }
}
