//! Remote consoles (Nova's `remote_consoles.py`): `POST /servers/{id}/remote-consoles`
//! (2.6+) and the older `os-getVNCConsole`, `os-getSPICEConsole`,
//! `os-getSerialConsole` and `os-getRDPConsole` server actions (2.1-2.5).
//! Only the noVNC console is served; the other protocols and types Nova's
//! schema accepts answer 400 as a deployment without them does.

use super::servers::get_instance;
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
use nova_objects::Instance;
use serde_json::{json, Value};

const POLICY: &str = "os_compute_api:os-remote-consoles";

/// The console types and protocols of Nova's schemas, in the order they
/// came: 2.6 has the first five types and four protocols, 2.8 adds
/// `webmks` and `mks`, 2.99 `spice-direct` (a SPICE console for a native
/// client).
const TYPES: &[&str] = &[
    "novnc",
    "xvpvnc",
    "rdp-html5",
    "spice-html5",
    "serial",
    "webmks",
    "spice-direct",
];
const PROTOCOLS: &[&str] = &["vnc", "spice", "rdp", "serial", "mks"];

fn enum_field<'a>(obj: &'a Value, field: &str, allowed: &[&str]) -> ApiResult<&'a str> {
    let Some(v) = obj.get(field) else {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: None. '{field}' is a required property"
        )));
    };
    match v.as_str() {
        Some(s) if allowed.contains(&s) => Ok(s),
        _ => Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {field}. Value: {v}. {v} is not one of {allowed:?}"
        ))),
    }
}

/// The errors of a console request, as Nova's controller maps them.
fn console_error(e: NovaError, inst: &Instance) -> ApiError {
    match e {
        NovaError::InstanceNotReady { .. } => {
            ApiError::conflict(format!("Instance {} is not ready", inst.uuid))
        }
        NovaError::InstanceNotFound { .. } => ApiError::not_found(e.to_string()),
        NovaError::ConsoleTypeUnavailable { .. }
        | NovaError::ConsoleTypeInvalid { .. }
        | NovaError::ConsoleNotAvailable { .. } => ApiError::bad_request(e.to_string()),
        other => other.into(),
    }
}

async fn vnc_url(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    console_type: &str,
) -> ApiResult<String> {
    if console_type != "novnc" {
        return Err(ApiError::bad_request(
            NovaError::ConsoleTypeInvalid {
                console_type: console_type.to_string(),
            }
            .to_string(),
        ));
    }
    state
        .compute_api
        .get_vnc_console(ctx, inst, console_type)
        .await
        .map_err(|e| console_error(e, inst))
}

/// `POST /servers/{id}/remote-consoles` (2.6+).
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    if !v.at_least(6) {
        return Err(ApiError::not_found("The resource could not be found."));
    }
    let body = json_body(&body)?;
    let Some(rc) = body.get("remote_console") else {
        return Err(invalid(
            "body",
            &body,
            "'remote_console' is a required property",
        ));
    };
    object_of("body", &body, |k| k == "remote_console")?;
    object_of("remote_console", rc, |k| k == "protocol" || k == "type")?;
    let (protocols, types) = if v.at_least(99) {
        (PROTOCOLS, TYPES)
    } else if v.at_least(8) {
        (PROTOCOLS, &TYPES[..6])
    } else {
        (&PROTOCOLS[..4], &TYPES[..5])
    };
    let protocol = enum_field(rc, "protocol", protocols)?;
    let console_type = enum_field(rc, "type", types)?;
    let inst = get_instance(&state, &ctx, &id).await?;
    state
        .policy
        .authorize(POLICY, &ctx, &Target::project(&inst.project_id))?;
    let url = match protocol {
        "vnc" => vnc_url(&state, &ctx, &inst, console_type).await?,
        // No SPICE, RDP, serial or MKS console in this deployment.
        other => {
            let t = if other == "rdp" { "rdp" } else { console_type };
            return Err(ApiError::bad_request(
                NovaError::ConsoleTypeUnavailable {
                    console_type: t.to_string(),
                }
                .to_string(),
            ));
        }
    };
    Ok((
        StatusCode::OK,
        Json(json!({"remote_console": {"protocol": protocol, "type": console_type, "url": url}})),
    )
        .into_response())
}

/// The `os-getVNCConsole` server action (2.1-2.5).
pub async fn get_vnc_console(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    args: &Value,
) -> ApiResult<Response> {
    if v.at_least(6) {
        return Err(super::floating_ips::version_not_found());
    }
    if !args.is_object() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute os-getVNCConsole. Value: {args}. {args} is not of type 'object'"
        )));
    }
    let console_type = enum_field(args, "type", &["novnc", "xvpvnc"])?;
    state
        .policy
        .authorize(POLICY, ctx, &Target::project(&inst.project_id))?;
    let url = vnc_url(state, ctx, inst, console_type).await?;
    Ok((
        StatusCode::OK,
        Json(json!({"console": {"type": console_type, "url": url}})),
    )
        .into_response())
}

/// The `os-getSPICEConsole`, `os-getSerialConsole` and `os-getRDPConsole`
/// server actions (2.1-2.5), with Nova's schemas: this deployment runs no
/// SPICE, serial or RDP proxy, so a valid request is Nova's 400
/// `ConsoleTypeUnavailable`, as a compute host with them disabled answers.
pub async fn get_unavailable_console(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    action: &str,
    args: &Value,
) -> ApiResult<Response> {
    if v.at_least(6) {
        return Err(super::floating_ips::version_not_found());
    }
    if !args.is_object() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute {action}. Value: {args}. {args} is not of type 'object'"
        )));
    }
    let types: &[&str] = match action {
        "os-getSPICEConsole" => &["spice-html5"],
        "os-getSerialConsole" => &["serial"],
        _ => &["rdp-html5"],
    };
    let console_type = enum_field(args, "type", types)?;
    state
        .policy
        .authorize(POLICY, ctx, &Target::project(&inst.project_id))?;
    Err(ApiError::bad_request(
        NovaError::ConsoleTypeUnavailable {
            console_type: console_type.to_string(),
        }
        .to_string(),
    ))
}
