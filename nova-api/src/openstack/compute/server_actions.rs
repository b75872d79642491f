//! `POST /servers/{id}/action`: reboot, os-stop, os-start, pause, unpause,
//! suspend, resume, lock, unlock, createImage, os-getConsoleOutput,
//! trigger_crash_dump,
//! os-getVNCConsole (in [`super::remote_consoles`]), shelve, shelveOffload,
//! unshelve (in [`super::shelve`]), createBackup (in [`super::create_backup`]),
//! os-resetState, resetNetwork, injectNetworkInfo, os-migrateLive (in [`super::admin_actions`]),
//! addFixedIp, removeFixedIp (in [`super::multinic`]),
//! restore, forceDelete (in [`super::deferred_delete`]), rebuild (in
//! [`super::rebuild`]), rescue, unrescue (in [`super::rescue`]), evacuate (in
//! [`super::evacuate`]).
//!
//! Each action validates its arguments and checks its policy, then asks
//! [`compute::api`](crate::compute::api), which owns the state machine;
//! state conflicts come back as Nova's 409s.

use super::servers::get_instance;
use crate::compute::api::RebootType;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{
    disk_config, instance_invalid_state, invalid, json_body, object_of, BaseUrl,
};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub(super) fn accepted() -> ApiResult<Response> {
    Ok(StatusCode::ACCEPTED.into_response())
}

pub async fn action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    base: BaseUrl,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let (name, args) = crate::openstack::common::the_action(&body)?;
    let inst = get_instance(&state, &ctx, &id).await?;
    let s = &state;
    let ctx = &ctx;
    match name {
        "reboot" => reboot(s, ctx, &inst, args).await,
        "os-stop" => power(s, ctx, &inst, Power::Stop).await,
        "os-start" => power(s, ctx, &inst, Power::Start).await,
        "pause" => power(s, ctx, &inst, Power::Pause).await,
        "unpause" => power(s, ctx, &inst, Power::Unpause).await,
        "suspend" => power(s, ctx, &inst, Power::Suspend).await,
        "resume" => power(s, ctx, &inst, Power::Resume).await,
        "lock" => lock(s, ctx, &inst, v, Some(args)).await,
        "unlock" => lock(s, ctx, &inst, v, None).await,
        "os-getConsoleOutput" => console_output(s, ctx, &inst, args).await,
        "trigger_crash_dump" if v.at_least(17) => trigger_crash_dump(s, ctx, &inst, args).await,
        "trigger_crash_dump" => Err(super::floating_ips::version_not_found()),
        "os-getVNCConsole" => super::remote_consoles::get_vnc_console(s, ctx, &inst, v, args).await,
        a @ ("os-getSPICEConsole" | "os-getSerialConsole" | "os-getRDPConsole") => {
            super::remote_consoles::get_unavailable_console(s, ctx, &inst, v, a, args).await
        }
        "createImage" => create_image(s, ctx, &inst, v, args).await,
        "rebuild" => super::rebuild::rebuild(s, ctx, &inst, v, &base, args).await,
        "rescue" => super::rescue::rescue(s, ctx, &inst, args).await,
        "changePassword" => super::admin_password::change_password(s, ctx, &inst, args).await,
        "unrescue" => super::rescue::unrescue(s, ctx, &inst).await,
        "createBackup" => super::create_backup::create_backup(s, ctx, &inst, v, &base, args).await,
        "shelve" => super::shelve::shelve(s, ctx, &inst).await,
        "shelveOffload" => super::shelve::shelve_offload(s, ctx, &inst).await,
        "unshelve" => super::shelve::unshelve(s, ctx, &inst, v, args).await,
        "resize" => resize(s, ctx, &inst, args).await,
        "confirmResize" => confirm_or_revert(s, ctx, &inst, true).await,
        "revertResize" => confirm_or_revert(s, ctx, &inst, false).await,
        "migrate" => migrate(s, ctx, &inst, v, args).await,
        "os-resetState" => super::admin_actions::reset_state(s, ctx, &inst, args).await,
        "injectNetworkInfo" => super::admin_actions::inject_network_info(s, ctx, &inst).await,
        "resetNetwork" => super::admin_actions::reset_network(s, ctx, &inst).await,
        "restore" => super::deferred_delete::restore(s, ctx, &inst).await,
        "forceDelete" => super::deferred_delete::force_delete(s, ctx, &inst).await,
        "os-migrateLive" => super::admin_actions::migrate_live(s, ctx, &inst, v, args).await,
        "evacuate" => super::evacuate::evacuate(s, ctx, &inst, v, args).await,
        // nova-network's multinic actions: gone from 2.44.
        "addFixedIp" | "removeFixedIp" if v.at_least(44) => {
            Err(super::floating_ips::version_not_found())
        }
        "addFixedIp" => super::multinic::add_fixed_ip(s, ctx, &inst, args).await,
        "removeFixedIp" => super::multinic::remove_fixed_ip(s, ctx, &inst, args).await,
        "addFloatingIp" => super::floating_ips::add_floating_ip(s, ctx, &inst, v, args).await,
        "removeFloatingIp" => super::floating_ips::remove_floating_ip(s, ctx, &inst, v, args).await,
        "addSecurityGroup" => {
            super::security_groups::server_action(s, ctx, &inst, args, true).await
        }
        "removeSecurityGroup" => {
            super::security_groups::server_action(s, ctx, &inst, args, false).await
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}

/// Nova's resize schema: `flavorRef` (string or integer), optional
/// `OS-DCF:diskConfig` (AUTO or MANUAL), nothing else.
async fn resize(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    let bad = |detail: String| {
        Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute resize. Value: {args}. {detail}"
        )))
    };
    let o = object_of("resize", args, |k| {
        k == "flavorRef" || k == "OS-DCF:diskConfig"
    })?;
    let flavor = match o.get("flavorRef") {
        Some(Value::String(f)) if !f.is_empty() => f.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return bad("flavorRef must be a non-empty string or an integer".into()),
        None => return bad("'flavorRef' is a required property".into()),
    };
    let auto_disk_config = disk_config(o.get("OS-DCF:diskConfig"))?;
    state.policy.authorize(
        "os_compute_api:servers:resize",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    match state
        .compute_api
        .resize(ctx, inst, Some(&flavor), None, auto_disk_config)
        .await
    {
        Err(
            e @ (NovaError::FlavorNotFound { .. }
            | NovaError::CannotResizeToSameFlavor {}
            | NovaError::CannotResizeDisk { .. }
            | NovaError::AutoDiskConfigDisabledByImage { .. }
            | NovaError::NoValidHost { .. }),
        ) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(instance_invalid_state(e, "resize")),
        Ok(()) => accepted(),
    }
}

async fn confirm_or_revert(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    confirm: bool,
) -> ApiResult<Response> {
    let (action, policy) = if confirm {
        ("confirmResize", "os_compute_api:servers:confirm_resize")
    } else {
        ("revertResize", "os_compute_api:servers:revert_resize")
    };
    state
        .policy
        .authorize(policy, ctx, &Target::project(&inst.project_id))?;
    let api = &state.compute_api;
    let done = if confirm {
        api.confirm_resize(ctx, inst).await
    } else {
        api.revert_resize(ctx, inst).await
    };
    match done {
        Ok(()) if confirm => Ok(StatusCode::NO_CONTENT.into_response()),
        Ok(()) => accepted(),
        Err(NovaError::MigrationNotFoundByStatus { .. }) => {
            Err(ApiError::bad_request("Instance has not been resized."))
        }
        Err(e) => Err(instance_invalid_state(e, action)),
    }
}

/// migrate (admin): before 2.56 Nova validates no body (`null` and `{}`
/// alike); from 2.56 `null` or `{"host": <name or null>}`.
async fn migrate(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    let host = match args {
        _ if !v.at_least(56) => None,
        Value::Null => None,
        Value::Object(_) => {
            let o = object_of("migrate", args, |k| k == "host")?;
            match o.get("host") {
                None | Some(Value::Null) => None,
                Some(Value::String(h)) if !h.is_empty() && h.len() <= 255 => Some(h.clone()),
                Some(_) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute host. Value: {args}. host must be a string of 1 to 255 characters"
                    )))
                }
            }
        }
        _ => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute migrate. Value: {args}. None is not of type 'object'"
            )))
        }
    };
    state.policy.authorize(
        "os_compute_api:os-migrate-server:migrate",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    match state.compute_api.resize(ctx, inst, None, host, None).await {
        Err(
            e @ (NovaError::ComputeHostNotFound { .. }
            | NovaError::InvalidRequest { .. }
            | NovaError::NoValidHost { .. }),
        ) => Err(ApiError::bad_request(e.to_string())),
        Err(e) => Err(instance_invalid_state(e, "migrate")),
        Ok(()) => accepted(),
    }
}

async fn reboot(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    state.policy.authorize(
        "os_compute_api:servers:reboot",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    // Nova's schema: `type` required, one of its six spellings.
    let o = object_of("reboot", args, |k| k == "type")?;
    let reboot_type = match o.get("type") {
        None => return Err(invalid("reboot", args, "'type' is a required property")),
        Some(Value::String(t)) if matches!(t.as_str(), "SOFT" | "Soft" | "soft") => {
            RebootType::Soft
        }
        Some(Value::String(t)) if matches!(t.as_str(), "HARD" | "Hard" | "hard") => {
            RebootType::Hard
        }
        Some(other) => {
            return Err(invalid(
                "type",
                other,
                &format!("{other} is not one of ['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft']"),
            ))
        }
    };
    state
        .compute_api
        .reboot(ctx, inst, reboot_type)
        .await
        .map_err(|e| instance_invalid_state(e, "reboot"))?;
    accepted()
}

/// The actions that only change the guest's power state.
#[derive(Clone, Copy)]
enum Power {
    Stop,
    Start,
    Pause,
    Unpause,
    Suspend,
    Resume,
}

impl Power {
    /// Nova's action name (in conflict messages) and policy rule.
    fn names(self) -> (&'static str, &'static str) {
        match self {
            Power::Stop => ("stop", "os_compute_api:servers:stop"),
            Power::Start => ("start", "os_compute_api:servers:start"),
            Power::Pause => ("pause", "os_compute_api:os-pause-server:pause"),
            Power::Unpause => ("unpause", "os_compute_api:os-pause-server:unpause"),
            Power::Suspend => ("suspend", "os_compute_api:os-suspend-server:suspend"),
            Power::Resume => ("resume", "os_compute_api:os-suspend-server:resume"),
        }
    }
}

async fn power(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    p: Power,
) -> ApiResult<Response> {
    let (action, policy) = p.names();
    state
        .policy
        .authorize(policy, ctx, &Target::project(&inst.project_id))?;
    let api = &state.compute_api;
    match p {
        Power::Stop => api.stop(ctx, inst).await,
        Power::Start => api.start(ctx, inst).await,
        Power::Pause => api.pause(ctx, inst).await,
        Power::Unpause => api.unpause(ctx, inst).await,
        Power::Suspend => api.suspend(ctx, inst).await,
        Power::Resume => api.resume(ctx, inst).await,
    }
    .map_err(|e| instance_invalid_state(e, action))?;
    accepted()
}

/// `{"trigger_crash_dump": null}` (2.17): 202, or 409 for a server that is
/// locked, on no host yet, or in a state that takes no NMI.
async fn trigger_crash_dump(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    if !args.is_null() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute trigger_crash_dump. Value: {args}. {args} is not of type 'null'"
        )));
    }
    state.policy.authorize(
        "os_compute_api:servers:trigger_crash_dump",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    state
        .compute_api
        .trigger_crash_dump(ctx, inst)
        .await
        .map_err(|e| match e {
            NovaError::InstanceNotReady { .. } | NovaError::InstanceIsLocked { .. } => {
                ApiError::conflict(e.to_string())
            }
            other => instance_invalid_state(other, "trigger_crash_dump"),
        })?;
    accepted()
}

/// Nova's lock schema from 2.73: `null` or `{"locked_reason": <1-255 chars>}`.
fn locked_reason(v: ApiVersion, args: &Value) -> ApiResult<Option<String>> {
    if !v.at_least(73) {
        return Ok(None);
    }
    let bad = |detail: &str| {
        Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute lock. Value: {args}. {detail}"
        )))
    };
    match args {
        Value::Null => Ok(None),
        Value::Object(_) => {
            let o = object_of("lock", args, |k| k == "locked_reason")?;
            match o.get("locked_reason") {
                None => Ok(None),
                Some(Value::String(r)) if !r.is_empty() && r.chars().count() <= 255 => {
                    Ok(Some(r.clone()))
                }
                Some(_) => bad("locked_reason must be a string of 1 to 255 characters"),
            }
        }
        _ => bad("is not of type 'object', 'null'"),
    }
}

async fn lock(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    lock_args: Option<&Value>,
) -> ApiResult<Response> {
    let lock = lock_args.is_some();
    let reason = match lock_args {
        Some(a) => locked_reason(v, a)?,
        None => None,
    };
    let policy = if lock {
        "os_compute_api:os-lock-server:lock"
    } else {
        "os_compute_api:os-lock-server:unlock"
    };
    state
        .policy
        .authorize(policy, ctx, &Target::project(&inst.project_id))?;
    if lock {
        state.compute_api.lock(ctx, inst, reason).await?;
    } else {
        // An admin's lock is the admin's to lift.
        if inst.locked_by.as_deref() == Some("admin") && !ctx.is_admin {
            return Err(ApiError::forbidden_policy(
                "os_compute_api:os-lock-server:unlock:unlock_override",
            ));
        }
        state.compute_api.unlock(ctx, inst).await?;
    }
    accepted()
}

async fn console_output(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
) -> ApiResult<Response> {
    state.policy.authorize(
        "os_compute_api:os-console-output",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    // Nova's schema: an object with at most `length`, an integer (or a
    // string of one) of at least -1, or null.
    let o = object_of("os-getConsoleOutput", args, |k| k == "length")?;
    let length = match o.get("length") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) if n.is_i64() => n.as_i64(),
        Some(Value::String(s)) if s.parse::<i64>().is_ok() => s.parse::<i64>().ok(),
        Some(other) => {
            return Err(invalid(
                "length",
                other,
                &format!("{other} is not of type 'integer', 'string', 'null'"),
            ))
        }
    };
    if length.is_some_and(|l| l < -1) {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute length: must be >= -1",
        ));
    }
    let out = state
        .compute_api
        .get_console_output(ctx, inst, length.filter(|l| *l >= 0))
        .await
        .map_err(|e| match e {
            NovaError::InstanceNotReady { .. } => ApiError::conflict(e.to_string()),
            NovaError::InstanceNotFound { .. } => {
                ApiError::conflict(format!("Instance {} is not running", inst.uuid))
            }
            other => other.into(),
        })?;
    Ok((StatusCode::OK, Json(json!({"output": out}))).into_response())
}

async fn create_image(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    state.policy.authorize(
        "os_compute_api:servers:create_image",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    let o = object_of("createImage", args, |k| k == "name" || k == "metadata")?;
    let Some(name) = o.get("name") else {
        return Err(invalid(
            "createImage",
            args,
            "'name' is a required property",
        ));
    };
    let image_name = super::create_backup::image_name(name)?;
    let properties = match o.get("metadata") {
        None => BTreeMap::new(),
        Some(m) => super::server_metadata::parse_metadata("metadata", m, false, 0, None)?,
    };
    super::create_backup::check_image_metadata_quota(state, ctx, v, &properties).await?;
    let image = state
        .compute_api
        .snapshot(ctx, inst, &image_name, &properties)
        .await
        .map_err(|e| instance_invalid_state(e, "createImage"))?;
    // 2.45: the new image's id in the body, no Location.
    if v.at_least(45) {
        return Ok((StatusCode::ACCEPTED, Json(json!({"image_id": image.id}))).into_response());
    }
    let mut resp = StatusCode::ACCEPTED.into_response();
    if let Ok(loc) = HeaderValue::from_str(&state.compute_api.image_url(&image.id)) {
        resp.headers_mut().insert("location", loc);
    }
    Ok(resp)
}
