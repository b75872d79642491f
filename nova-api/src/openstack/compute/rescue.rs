//! The `rescue` and `unrescue` server actions (Nova's `RescueController`):
//! the body schema, policies `os_compute_api:os-rescue` and
//! `os_compute_api:os-unrescue`, and Nova's answers: rescue 200 with
//! `adminPass` (under `[api] enable_instance_password`, else `{}`), 400 for
//! an unknown rescue image, 409 in a wrong state or when locked; unrescue 202.

use super::servers::generate_password;
use crate::error::{ApiError, ApiResult};
use crate::openstack::common::{instance_invalid_state, invalid, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};

const POLICY_RESCUE: &str = "os_compute_api:os-rescue";
const POLICY_UNRESCUE: &str = "os_compute_api:os-unrescue";

/// A validated `rescue` body: `adminPass` and `rescue_image_ref`.
#[derive(Debug, Default, PartialEq)]
struct RescueBody {
    admin_pass: Option<String>,
    rescue_image_ref: Option<String>,
}

/// Nova's schema: `rescue` is an object (or null) with at most `adminPass`
/// (a string) and `rescue_image_ref` (a uuid).
fn parse(args: &Value) -> ApiResult<RescueBody> {
    let obj = match args {
        Value::Null => return Ok(RescueBody::default()),
        Value::Object(o) => o,
        other => {
            return Err(invalid(
                "rescue",
                other,
                &format!("{other} is not of type 'object', 'null'"),
            ))
        }
    };
    object_of("rescue", args, |k| {
        matches!(k, "adminPass" | "rescue_image_ref")
    })?;
    let mut body = RescueBody::default();
    if let Some(v) = obj.get("adminPass") {
        match v {
            Value::String(s) => body.admin_pass = Some(s.clone()),
            other => {
                return Err(invalid(
                    "adminPass",
                    other,
                    &format!("{other} is not of type 'string'"),
                ))
            }
        }
    }
    if let Some(v) = obj.get("rescue_image_ref") {
        match v {
            Value::String(s) if uuid::Uuid::parse_str(s).is_ok() => {
                body.rescue_image_ref = Some(s.clone())
            }
            Value::String(s) => {
                return Err(invalid(
                    "rescue_image_ref",
                    v,
                    &format!("'{s}' is not a 'uuid'"),
                ))
            }
            other => {
                return Err(invalid(
                    "rescue_image_ref",
                    other,
                    &format!("{other} is not of type 'string'"),
                ))
            }
        }
    }
    Ok(body)
}

fn refusal(e: NovaError, action: &str) -> ApiError {
    match e {
        NovaError::InstanceIsLocked { .. } => ApiError::conflict(e.to_string()),
        NovaError::UnsupportedRescueImage { .. } | NovaError::InstanceNotRescuable { .. } => {
            ApiError::bad_request(e.to_string())
        }
        other => instance_invalid_state(other, action),
    }
}

/// `{"rescue": {"adminPass"?, "rescue_image_ref"?} | null}`: 200.
pub async fn rescue(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    let body = parse(args)?;
    let password = body.admin_pass.unwrap_or_else(generate_password);
    state
        .policy
        .authorize(POLICY_RESCUE, ctx, &Target::owner(inst))?;
    state
        .compute_api
        .rescue(ctx, inst, password.clone(), body.rescue_image_ref)
        .await
        .map_err(|e| refusal(e, "rescue"))?;
    let out = if state.cfg.api.enable_instance_password {
        json!({ "adminPass": password })
    } else {
        json!({})
    };
    Ok((StatusCode::OK, Json(out)).into_response())
}

/// `{"unrescue": null}`: 202.
pub async fn unrescue(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_UNRESCUE, ctx, &Target::project(&inst.project_id))?;
    state
        .compute_api
        .unrescue(ctx, inst)
        .await
        .map_err(|e| refusal(e, "unrescue"))?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_follows_novas_schema() {
        assert_eq!(parse(&Value::Null).ok(), Some(RescueBody::default()));
        assert_eq!(parse(&json!({})).ok(), Some(RescueBody::default()));
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(
            parse(&json!({"adminPass": "pw", "rescue_image_ref": id})).ok(),
            Some(RescueBody {
                admin_pass: Some("pw".into()),
                rescue_image_ref: Some(id),
            })
        );
        for bad in [
            json!({"bogus": 1}),
            json!({"adminPass": 1}),
            json!({"rescue_image_ref": "not-a-uuid"}),
            json!({"rescue_image_ref": null}),
            json!("x"),
            json!([]),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
