//! The admin server actions `os-resetState`, `resetNetwork` and `injectNetworkInfo`
//! (Nova's `AdminActionsController`) and `os-migrateLive` (the live half of
//! Nova's `MigrateServerController`): body validation, policies, and Nova's
//! mapping of failures to 400/409.

use crate::compute::api::LiveMigrateRequest;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{instance_invalid_state, invalid, object_of, parse_boolean};
use crate::policy::Target;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nova_common::states::VmState;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::Value;

const POLICY_RESET_STATE: &str = "os_compute_api:os-admin-actions:reset_state";
const POLICY_RESET_NETWORK: &str = "os_compute_api:os-admin-actions:reset_network";
const POLICY_INJECT_NETWORK_INFO: &str = "os_compute_api:os-admin-actions:inject_network_info";
const POLICY_MIGRATE_LIVE: &str = "os_compute_api:os-migrate-server:migrate_live";

/// Nova's `reset_server_state` schema: `{"state": "active" | "error"}`.
pub fn parse_reset_state(args: &Value) -> ApiResult<VmState> {
    let o = object_of("os-resetState", args, |k| k == "state")?;
    match o.get("state") {
        None => Err(invalid(
            "os-resetState",
            args,
            "'state' is a required property",
        )),
        Some(Value::String(s)) if s == "active" => Ok(VmState::Active),
        Some(Value::String(s)) if s == "error" => Ok(VmState::Error),
        Some(other) => Err(invalid(
            "state",
            other,
            &format!("{other} is not one of ['active', 'error']"),
        )),
    }
}

/// `{"os-resetState": {"state": ...}}`.
pub async fn reset_state(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_RESET_STATE, ctx, &Target::project(&inst.project_id))?;
    let vm_state = parse_reset_state(args)?;
    state.compute_api.reset_state(ctx, inst, vm_state).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `{"resetNetwork": null}`: 202, or 409 when the server is locked.
pub async fn reset_network(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state.policy.authorize(
        POLICY_RESET_NETWORK,
        ctx,
        &Target::project(&inst.project_id),
    )?;
    // InstanceIsLocked is already Nova's 409.
    state.compute_api.reset_network(ctx, inst).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `{"injectNetworkInfo": null}`.
pub async fn inject_network_info(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state.policy.authorize(
        POLICY_INJECT_NETWORK_INFO,
        ctx,
        &Target::project(&inst.project_id),
    )?;
    state
        .compute_api
        .inject_network_info(ctx, inst)
        .await
        .map_err(|e| match e {
            NovaError::InstanceIsLocked { .. } => ApiError::conflict(e.to_string()),
            other => instance_invalid_state(other, "injectNetworkInfo"),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// The `os-migrateLive` body per microversion: `host` (string or null);
/// `block_migration` (boolean, or "auto" from 2.25); `disk_over_commit`
/// (boolean, required before 2.25, gone after); `force` (boolean, 2.30-2.67).
pub fn parse_migrate_live(v: ApiVersion, args: &Value) -> ApiResult<LiveMigrateRequest> {
    let mut allowed = vec!["host", "block_migration"];
    if !v.at_least(25) {
        allowed.push("disk_over_commit");
    }
    if v.at_least(30) && !v.at_least(68) {
        allowed.push("force");
    }
    let o = object_of("os-migrateLive", args, |k| allowed.contains(&k))?;
    let required: &[&str] = if v.at_least(25) {
        &["host", "block_migration"]
    } else {
        &["host", "block_migration", "disk_over_commit"]
    };
    if let Some(k) = required.iter().find(|k| !o.contains_key(**k)) {
        return Err(invalid(
            "os-migrateLive",
            args,
            &format!("'{k}' is a required property"),
        ));
    }
    // Nova's booleans (`parameter_types.boolean`: true, "True", "yes", ...);
    // `auto` from 2.25 leaves the choice to the compute host.
    let block_migration = match &o["block_migration"] {
        Value::String(s) if s == "auto" && v.at_least(25) => None,
        b => Some(parse_boolean("block_migration", b)?),
    };
    let flag = |k: &str| o.get(k).map(|x| parse_boolean(k, x)).transpose();
    let disk_over_commit = flag("disk_over_commit")?;
    let forced = flag("force")?.unwrap_or(false);
    let host = match &o["host"] {
        Value::Null => None,
        Value::String(h) if !h.is_empty() && h.chars().count() <= 255 => Some(h.clone()),
        other => {
            return Err(invalid(
                "host",
                other,
                "is not a valid host name (a string of 1 to 255 characters or null)",
            ))
        }
    };
    if v.at_least(30) && forced && host.is_none() {
        return Err(ApiError::bad_request(
            "Can't force to a non-provided destination",
        ));
    }
    Ok(LiveMigrateRequest {
        host,
        block_migration,
        disk_over_commit,
        // From 2.30 a named host is checked by the scheduler unless forced.
        force: v.at_least(30).then_some(forced),
        wait: !v.at_least(34),
    })
}

/// `{"os-migrateLive": {...}}`: 202; before 2.34 the conductor's refusals
/// (no host, a host that cannot take the guest) are Nova's 400s; 409 in a
/// state a live migration cannot start from.
pub async fn migrate_live(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_MIGRATE_LIVE, ctx, &Target::project(&inst.project_id))?;
    let req = parse_migrate_live(v, args)?;
    state
        .compute_api
        .live_migrate(ctx, inst, req)
        .await
        .map_err(|e| match e {
            NovaError::InstanceIsLocked { .. } => ApiError::conflict(e.to_string()),
            NovaError::NoValidHost { .. }
            | NovaError::ComputeHostNotFound { .. }
            | NovaError::ComputeServiceUnavailable { .. }
            | NovaError::UnableToMigrateToSelf { .. }
            | NovaError::InvalidLocalStorage { .. }
            | NovaError::InvalidSharedStorage { .. }
            | NovaError::MigrationPreCheckError { .. } => ApiError::bad_request(e.to_string()),
            other => instance_invalid_state(other, "os-migrateLive"),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reset_state_takes_active_or_error() {
        assert_eq!(
            parse_reset_state(&json!({"state": "active"})).ok(),
            Some(VmState::Active)
        );
        assert_eq!(
            parse_reset_state(&json!({"state": "error"})).ok(),
            Some(VmState::Error)
        );
        for bad in [
            json!({"state": "stopped"}),
            json!({}),
            json!({"state": "active", "x": 1}),
            json!(null),
        ] {
            assert_eq!(
                parse_reset_state(&bad).map_err(|e| e.code).err(),
                Some(400),
                "{bad}"
            );
        }
    }

    #[test]
    fn migrate_live_bodies_per_microversion() {
        let v = |m| ApiVersion::new(2, m);
        let old = json!({"host": null, "block_migration": false, "disk_over_commit": false});
        let r = parse_migrate_live(v(1), &old).expect("valid at 2.1");
        assert_eq!(r.host, None);
        assert!(r.wait, "before 2.34 the answer waits for the checks");
        assert_eq!(r.force, None, "before 2.30 a named host is forced");
        assert!(parse_migrate_live(v(25), &old).is_err());
        let auto = json!({"host": "h", "block_migration": "auto"});
        let r = parse_migrate_live(v(25), &auto).expect("auto at 2.25");
        assert_eq!(r.host.as_deref(), Some("h"));
        assert_eq!(r.block_migration, None, "auto decides from the storage");
        assert!(parse_migrate_live(v(1), &auto).is_err());
        let forced = json!({"host": "h", "block_migration": true, "force": true});
        let r = parse_migrate_live(v(30), &forced).expect("force at 2.30");
        assert_eq!((r.force, r.block_migration), (Some(true), Some(true)));
        let r = parse_migrate_live(v(34), &auto).expect("2.34");
        assert_eq!(r.force, Some(false), "a named host is checked from 2.30");
        assert!(!r.wait, "2.34 is asynchronous");
        assert!(parse_migrate_live(v(68), &forced).is_err());
        assert!(parse_migrate_live(v(25), &json!({"block_migration": true})).is_err());
    }
}
