//! The `changePassword` server action (Nova's `AdminPasswordController`):
//! the body schema (`adminPass`, a string, and nothing else), policy
//! `os_compute_api:os-admin-password`, and Nova's answers: 202 without a
//! body once the compute host set the password; 409 in a wrong state, when
//! locked, when the guest has no agent (QemuGuestAgentNotEnabled) or the
//! host failed (InstancePasswordSetFailed).

use crate::error::{ApiError, ApiResult};
use crate::openstack::common::{instance_invalid_state, invalid, object_of};
use crate::policy::Target;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::Value;

const POLICY: &str = "os_compute_api:os-admin-password";

/// Nova's schema: `{"changePassword": {"adminPass": "..."}}`.
fn parse(args: &Value) -> ApiResult<String> {
    let obj = object_of("changePassword", args, |k| k == "adminPass")?;
    match obj.get("adminPass") {
        Some(Value::String(p)) => Ok(p.clone()),
        Some(other) => Err(invalid(
            "changePassword/adminPass",
            other,
            &format!("{other} is not of type 'string'"),
        )),
        None => Err(ApiError::bad_request(
            "Invalid input for field/attribute changePassword. 'adminPass' is a required property",
        )),
    }
}

/// `{"changePassword": {"adminPass": ...}}`: 202.
pub async fn change_password(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    let password = parse(args)?;
    state.policy.authorize(POLICY, ctx, &Target::owner(inst))?;
    state
        .compute_api
        .set_admin_password(ctx, inst, password)
        .await
        .map_err(|e| match e {
            NovaError::InstanceIsLocked { .. } => ApiError::conflict(e.to_string()),
            other => instance_invalid_state(other, "changePassword"),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_body_follows_novas_schema() {
        assert_eq!(parse(&json!({"adminPass": "pw"})).ok(), Some("pw".into()));
        assert_eq!(parse(&json!({"adminPass": ""})).ok(), Some(String::new()));
        for bad in [
            json!({}),
            json!({"adminPass": 1}),
            json!({"adminPass": null}),
            json!({"adminPass": "pw", "other": 1}),
            json!(null),
            json!("pw"),
        ] {
            assert!(parse(&bad).is_err(), "{bad}");
        }
    }
}
