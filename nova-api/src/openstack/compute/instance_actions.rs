//! `/servers/{id}/os-instance-actions` (Nova's `instance_actions.py`): what
//! was done to a server, and with the events of each action.
//!
//! From 2.21 a deleted server's actions can be read; events are shown to
//! those the `events` policy allows (with tracebacks) and, from 2.51, to
//! everyone who may see the action (without them); 2.62 adds the host
//! (to the former) and the per-project `hostId` (to all).

use super::servers::get_instance;
use super::views::micro_isotime;
use super::views::servers::host_id;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::context::ReadDeleted;
use nova_common::RequestContext;
use nova_objects::{Instance, InstanceAction, InstanceActionEvent};
use serde_json::{json, Value};

async fn instance(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    id: &str,
    action: &str,
) -> ApiResult<Instance> {
    let inst = if v.at_least(21) {
        let mut deleted_too = ctx.clone();
        deleted_too.read_deleted = ReadDeleted::Yes;
        get_instance(state, &deleted_too, id).await?
    } else {
        get_instance(state, ctx, id).await?
    };
    state.policy.authorize(
        &format!("os_compute_api:os-instance-actions:{action}"),
        ctx,
        &Target::project(&inst.project_id),
    )?;
    Ok(inst)
}

fn format_action(a: &InstanceAction) -> Value {
    json!({
        "action": a.action,
        "instance_uuid": a.instance_uuid.to_string(),
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": micro_isotime(a.start_time),
        "message": a.message,
    })
}

/// What of an event the caller sees.
#[derive(Clone, Copy, Debug, Default)]
struct Shown {
    traceback: bool,
    host: bool,
    host_id: bool,
}

fn format_event(e: &InstanceActionEvent, project_id: &str, shown: Shown) -> Value {
    let mut ev = json!({
        "event": e.event,
        "start_time": micro_isotime(e.start_time),
        "finish_time": micro_isotime(e.finish_time),
        "result": e.result,
    });
    if shown.traceback {
        ev["traceback"] = json!(e.traceback);
    }
    if shown.host {
        ev["host"] = json!(e.host.clone().unwrap_or_default());
    }
    if shown.host_id {
        ev["hostId"] = json!(host_id(project_id, e.host.as_deref()));
    }
    ev
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, v, &id, "list").await?;
    let actions = state.compute_api.get_actions(&ctx, &inst).await?;
    Ok(Json(json!({
        "instanceActions": actions.iter().map(format_action).collect::<Vec<_>>()
    })))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, request_id)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, v, &id, "show").await?;
    let actions = state.compute_api.get_actions(&ctx, &inst).await?;
    let Some(a) = actions.iter().find(|a| a.request_id == request_id) else {
        return Err(ApiError::not_found(format!(
            "Action {request_id} not found"
        )));
    };
    let mut body = format_action(a);
    let events_allowed = state.policy.allows(
        "os_compute_api:os-instance-actions:events",
        &ctx,
        &Target::project(&inst.project_id),
    );
    let shown = if events_allowed {
        Some(Shown {
            traceback: true,
            host: v.at_least(62),
            host_id: v.at_least(62),
        })
    } else if v.at_least(51) {
        Some(Shown {
            host_id: v.at_least(62),
            ..Default::default()
        })
    } else {
        None
    };
    if let Some(shown) = shown {
        let project = a.project_id.as_deref().unwrap_or(&inst.project_id);
        body["events"] = json!(a
            .events
            .iter()
            .map(|e| format_event(e, project, shown))
            .collect::<Vec<_>>());
    }
    Ok(Json(json!({ "instanceAction": body })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_show_what_the_caller_may_see() {
        let e = InstanceActionEvent {
            event: "compute_stop_instance".into(),
            result: Some("Success".into()),
            traceback: Some("tb".into()),
            host: Some("h1".into()),
            ..Default::default()
        };
        let user = format_event(&e, "p", Shown::default());
        assert!(user.get("traceback").is_none() && user.get("host").is_none());
        assert_eq!(user["result"], "Success");
        let admin = format_event(
            &e,
            "p",
            Shown {
                traceback: true,
                host: true,
                host_id: true,
            },
        );
        assert_eq!(admin["traceback"], "tb");
        assert_eq!(admin["host"], "h1");
        assert_eq!(admin["hostId"], json!(host_id("p", Some("h1"))));
    }
}
