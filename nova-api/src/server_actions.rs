//! `POST /servers/{id}/action`: reboot, os-stop, os-start, pause, unpause,
//! suspend, resume, lock, unlock, os-getConsoleOutput — with Nova's state
//! checks (`check_instance_state`), task_states and instance actions.

use crate::error::{ApiError, ApiResult};
use crate::policy::Target;
use crate::servers::get_instance;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceUpdate};
use serde_json::{json, Value};

/// A state-changing action: allowed vm_states, the task_state it sets, Nova's action name.
struct Transition {
    name: &'static str,
    policy: &'static str,
    allowed: &'static [VmState],
    task_state: TaskState,
}

fn conflict(action: &str, inst: &Instance, attr: &str, state: &str) -> ApiError {
    ApiError::conflict(format!(
        "Cannot '{action}' instance {} while it is in {attr} {state}",
        inst.uuid
    ))
}

async fn begin(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    t: &Transition,
) -> ApiResult<Instance> {
    if !t.allowed.contains(&inst.vm_state) {
        return Err(conflict(t.name, inst, "vm_state", inst.vm_state.as_str()));
    }
    let hard_reboot_again = t.task_state == TaskState::RebootingHard
        && matches!(
            inst.task_state,
            Some(TaskState::Rebooting | TaskState::RebootPending | TaskState::RebootStarted)
        );
    if inst.task_state.is_some() && !hard_reboot_again {
        return Err(conflict(
            t.name,
            inst,
            "task_state",
            inst.task_state.map(|t| t.as_str()).unwrap_or("None"),
        ));
    }
    if inst.host.is_none() {
        return Err(conflict(t.name, inst, "vm_state", inst.vm_state.as_str()));
    }
    let expected = if hard_reboot_again {
        vec![inst.task_state]
    } else {
        vec![None]
    };
    let updated = state
        .conductor
        .instance_update(
            ctx,
            inst.uuid,
            InstanceUpdate {
                task_state: Some(Some(t.task_state)),
                expected_task_state: Some(expected),
                expected_vm_state: Some(t.allowed.to_vec()),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| match e {
            NovaError::UnexpectedTaskStateError { .. } | NovaError::InstanceInvalidState { .. } => {
                ApiError::conflict(format!(
                    "Cannot '{}' instance {}: its state changed meanwhile",
                    t.name, inst.uuid
                ))
            }
            other => other.into(),
        })?;
    if let Err(e) = state
        .conductor
        .action_start(ctx, inst.uuid, t.name.to_string(), ctx.request_id.clone())
        .await
    {
        tracing::warn!(instance = %inst.uuid, "cannot record the {} action: {e}", t.name);
    }
    Ok(updated)
}

const ACTIVE: &[VmState] = &[VmState::Active];

pub async fn action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let Some((name, args)) = body.as_object().and_then(|o| o.iter().next()) else {
        return Err(ApiError::bad_request("Malformed request body"));
    };
    let inst = get_instance(&state, &ctx, &id).await?;
    let own = Target::project(&inst.project_id);
    let host = inst.host.clone().unwrap_or_default();
    let compute = state.compute.to_server(&host);
    let locked_out = inst.locked && !ctx.is_admin;
    let accepted = || Ok(StatusCode::ACCEPTED.into_response());
    match name.as_str() {
        "reboot" => {
            state
                .policy
                .authorize("os_compute_api:servers:reboot", &ctx, &own)?;
            let kind = args
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_uppercase();
            if kind != "SOFT" && kind != "HARD" {
                return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute type. Value: {}. 'type' must be one of 'HARD', 'SOFT'",
                    args.get("type").cloned().unwrap_or(Value::Null)
                )));
            }
            if locked_out {
                return Err(ApiError::conflict(format!(
                    "Instance {} is locked",
                    inst.uuid
                )));
            }
            let t = if kind == "SOFT" {
                Transition {
                    name: "reboot",
                    policy: "",
                    allowed: ACTIVE,
                    task_state: TaskState::Rebooting,
                }
            } else {
                Transition {
                    name: "reboot",
                    policy: "",
                    allowed: &[
                        VmState::Active,
                        VmState::Stopped,
                        VmState::Paused,
                        VmState::Suspended,
                        VmState::Error,
                    ],
                    task_state: TaskState::RebootingHard,
                }
            };
            let i = begin(&state, &ctx, &inst, &t).await?;
            compute.reboot_instance(&ctx, i, kind).await?;
            accepted()
        }
        "os-stop" | "os-start" | "pause" | "unpause" | "suspend" | "resume" => {
            let t = match name.as_str() {
                "os-stop" => Transition {
                    name: "stop",
                    policy: "os_compute_api:servers:stop",
                    allowed: &[VmState::Active, VmState::Error],
                    task_state: TaskState::PoweringOff,
                },
                "os-start" => Transition {
                    name: "start",
                    policy: "os_compute_api:servers:start",
                    allowed: &[VmState::Stopped],
                    task_state: TaskState::PoweringOn,
                },
                "pause" => Transition {
                    name: "pause",
                    policy: "os_compute_api:os-pause-server:pause",
                    allowed: ACTIVE,
                    task_state: TaskState::Pausing,
                },
                "unpause" => Transition {
                    name: "unpause",
                    policy: "os_compute_api:os-pause-server:unpause",
                    allowed: &[VmState::Paused],
                    task_state: TaskState::Unpausing,
                },
                "suspend" => Transition {
                    name: "suspend",
                    policy: "os_compute_api:os-suspend-server:suspend",
                    allowed: ACTIVE,
                    task_state: TaskState::Suspending,
                },
                _ => Transition {
                    name: "resume",
                    policy: "os_compute_api:os-suspend-server:resume",
                    allowed: &[VmState::Suspended],
                    task_state: TaskState::Resuming,
                },
            };
            state.policy.authorize(t.policy, &ctx, &own)?;
            if locked_out {
                return Err(ApiError::conflict(format!(
                    "Instance {} is locked",
                    inst.uuid
                )));
            }
            let i = begin(&state, &ctx, &inst, &t).await?;
            match name.as_str() {
                "os-stop" => compute.stop_instance(&ctx, i, true).await?,
                "os-start" => compute.start_instance(&ctx, i).await?,
                "pause" => compute.pause_instance(&ctx, i).await?,
                "unpause" => compute.unpause_instance(&ctx, i).await?,
                "suspend" => compute.suspend_instance(&ctx, i).await?,
                _ => compute.resume_instance(&ctx, i).await?,
            }
            accepted()
        }
        "lock" | "unlock" => {
            let policy = if name == "lock" {
                "os_compute_api:os-lock-server:lock"
            } else {
                "os_compute_api:os-lock-server:unlock"
            };
            state.policy.authorize(policy, &ctx, &own)?;
            if name == "unlock" && inst.locked_by.as_deref() == Some("admin") && !ctx.is_admin {
                return Err(ApiError::forbidden_policy(
                    "os_compute_api:os-lock-server:unlock:unlock_override",
                ));
            }
            state
                .conductor
                .instance_update(
                    &ctx,
                    inst.uuid,
                    InstanceUpdate {
                        locked: Some(name == "lock"),
                        locked_by: Some((name == "lock").then(|| {
                            if ctx.is_admin {
                                "admin".to_string()
                            } else {
                                "owner".to_string()
                            }
                        })),
                        ..Default::default()
                    },
                )
                .await?;
            let _ = state
                .conductor
                .action_start(&ctx, inst.uuid, name.clone(), ctx.request_id.clone())
                .await;
            accepted()
        }
        "os-getConsoleOutput" => {
            state
                .policy
                .authorize("os_compute_api:os-console-output", &ctx, &own)?;
            let length = match args.get("length") {
                None | Some(Value::Null) => None,
                Some(Value::Number(n)) => n.as_i64(),
                Some(Value::String(s)) => Some(s.parse::<i64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for field/attribute length. Value: {s}. is not an integer"
                    ))
                })?),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                    "Invalid input for field/attribute length. Value: {other}. is not an integer"
                )))
                }
            };
            if length.is_some_and(|l| l < -1) {
                return Err(ApiError::bad_request(
                    "Invalid input for field/attribute length: must be >= -1",
                ));
            }
            if inst.host.is_none() || inst.vm_state == VmState::Building {
                return Err(ApiError::conflict(format!(
                    "Instance {} is not ready",
                    inst.uuid
                )));
            }
            let out = compute
                .get_console_output(&ctx, inst.clone(), length.filter(|l| *l >= 0))
                .await
                .map_err(|e| match e {
                    NovaError::InstanceNotFound { .. } => {
                        ApiError::conflict(format!("Instance {} is not running", inst.uuid))
                    }
                    other => other.into(),
                })?;
            Ok((StatusCode::OK, Json(json!({"output": out}))).into_response())
        }
        "createImage" => {
            state
                .policy
                .authorize("os_compute_api:servers:create_image", &ctx, &own)?;
            let image_name = match args.get("name") {
                Some(Value::String(n)) if !n.trim().is_empty() && n.len() <= 255 => n.clone(),
                Some(other) => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute name. Value: {other}. name must be 1-255 characters"
                    )))
                }
                None => {
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for field/attribute createImage. Value: {args}. 'name' is a required property"
                    )))
                }
            };
            let mut body = json!({
                "name": image_name,
                "disk_format": "qcow2",
                "container_format": "bare",
                "instance_uuid": inst.uuid.to_string(),
                "image_type": "snapshot",
                "base_image_ref": inst.image_ref,
                "user_id": ctx.user_id.clone().unwrap_or_default(),
                "min_ram": inst.memory_mb,
                "min_disk": inst.root_gb,
            });
            match args.get("metadata") {
                None | Some(Value::Null) => {}
                Some(Value::Object(m)) => {
                    for (k, v) in m {
                        let Some(v) = v.as_str() else {
                            return Err(ApiError::bad_request(format!("Invalid input for field/attribute metadata.{k}: not a string")));
                        };
                        body[k.as_str()] = json!(v);
                    }
                }
                Some(other) => return Err(ApiError::bad_request(format!("Invalid input for field/attribute metadata. Value: {other}. is not of type 'object'"))),
            }
            if locked_out {
                return Err(ApiError::conflict(format!(
                    "Instance {} is locked",
                    inst.uuid
                )));
            }
            let t = Transition {
                name: "createImage",
                policy: "",
                allowed: &[
                    VmState::Active,
                    VmState::Stopped,
                    VmState::Paused,
                    VmState::Suspended,
                ],
                task_state: TaskState::ImageSnapshotPending,
            };
            if !t.allowed.contains(&inst.vm_state)
                || inst.task_state.is_some()
                || inst.host.is_none()
            {
                return Err(conflict(t.name, &inst, "vm_state", inst.vm_state.as_str()));
            }
            let image = state.glance.create(&ctx, &body).await?;
            let i = match begin(&state, &ctx, &inst, &t).await {
                Ok(i) => i,
                Err(e) => {
                    let _ = state.glance.delete(&ctx, &image.id).await;
                    return Err(e);
                }
            };
            compute.snapshot_instance(&ctx, i, image.id.clone()).await?;
            let mut resp = StatusCode::ACCEPTED.into_response();
            if let Ok(loc) = axum::http::HeaderValue::from_str(&state.glance.image_url(&image.id)) {
                resp.headers_mut().insert("location", loc);
            }
            Ok(resp)
        }
        other => Err(ApiError::bad_request(format!(
            "There is no such action: {other}"
        ))),
    }
}
