//! `/servers/{id}/os-instance-actions` (Nova's `instance_actions.py`): what
//! was done to a server, and with the events of each action.
//!
//! From 2.21 a deleted server's actions can be read; events are shown to
//! those the `events` policy allows (with tracebacks) and, from 2.51, to
//! everyone who may see the action (without them); 2.62 adds the host
//! (to the former) and the per-project `hostId` (to all); 2.58 pages the
//! list (`limit`, `marker`, `changes-since`, `updated_at`), 2.66 adds
//! `changes-before`, 2.84 the events' `details` (policy `events:details`).

use super::servers::get_instance;
use super::views::micro_isotime;
use super::views::servers::host_id;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{param, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
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

fn format_action(a: &InstanceAction, v: ApiVersion) -> Value {
    let mut out = json!({
        "action": a.action,
        "instance_uuid": a.instance_uuid.to_string(),
        "request_id": a.request_id,
        "user_id": a.user_id,
        "project_id": a.project_id,
        "start_time": micro_isotime(a.start_time),
        "message": a.message,
    });
    if v.at_least(58) {
        out["updated_at"] = micro_isotime(a.updated_at);
    }
    out
}

/// What of an event the caller sees.
#[derive(Clone, Copy, Debug, Default)]
struct Shown {
    traceback: bool,
    host: bool,
    host_id: bool,
    details: bool,
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
        ev["host"] = json!(e.host);
    }
    if shown.host_id {
        ev["hostId"] = json!(host_id(project_id, e.host.as_deref()));
    }
    if shown.details {
        ev["details"] = json!(e.details);
    }
    ev
}

/// A `changes-since` / `changes-before` value.
pub(crate) fn timestamp(k: &str, val: &str) -> ApiResult<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(val)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            chrono::NaiveDateTime::parse_from_str(val, "%Y-%m-%dT%H:%M:%S%.f").map(|n| n.and_utc())
        })
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Invalid input for query parameters {k}. Value: {val}. '{val}' is not a 'date-time'"
            ))
        })
}

/// 2.58's paging and filters over the newest-first list.
fn page(
    actions: Vec<InstanceAction>,
    v: ApiVersion,
    p: &[(String, String)],
    max_limit: usize,
) -> ApiResult<(Vec<InstanceAction>, Option<usize>)> {
    if !v.at_least(58) {
        return Ok((actions, None));
    }
    let since = param(p, "changes-since")
        .map(|x| timestamp("changes-since", x))
        .transpose()?;
    let before = param(p, "changes-before")
        .filter(|_| v.at_least(66))
        .map(|x| timestamp("changes-before", x))
        .transpose()?;
    if let (Some(s), Some(b)) = (since, before) {
        if b < s {
            return Err(ApiError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
    }
    let limit = match param(p, "limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters limit. Value: {l}. '{l}' is not a 'non-negative integer'"
                ))
            })?
            .min(max_limit),
        None => max_limit,
    };
    let mut actions: Vec<InstanceAction> = actions
        .into_iter()
        .filter(|a| {
            let t = a.updated_at.or(a.start_time);
            since.is_none_or(|s| t.is_some_and(|t| t >= s))
                && before.is_none_or(|b| t.is_some_and(|t| t <= b))
        })
        .collect();
    if let Some(m) = param(p, "marker") {
        let pos = actions
            .iter()
            .position(|a| a.request_id == m)
            .ok_or_else(|| ApiError::bad_request(format!("Marker {m} could not be found.")))?;
        actions.drain(..=pos);
    }
    actions.truncate(limit);
    Ok((actions, Some(limit)))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(id): Path<String>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let inst = instance(&state, &ctx, v, &id, "list").await?;
    let actions = state.compute_api.get_actions(&ctx, &inst).await?;
    let (actions, limit) = page(actions, v, &p, state.cfg.api.max_limit)?;
    let mut body = json!({
        "instanceActions": actions.iter().map(|a| format_action(a, v)).collect::<Vec<_>>()
    });
    let collection = format!("servers/{id}/os-instance-actions");
    if let Some(l) = super::views::page_link(&base, &collection, &p, limit, actions.len(), || {
        actions.last().map(|a| a.request_id.clone())
    }) {
        body["links"] = l;
    }
    Ok(Json(body))
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
    let mut body = format_action(a, v);
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
            details: false,
        })
    } else if v.at_least(51) {
        Some(Shown {
            host_id: v.at_least(62),
            ..Default::default()
        })
    } else {
        None
    };
    let details = v.at_least(84)
        && state.policy.allows(
            "os_compute_api:os-instance-actions:events:details",
            &ctx,
            &Target::project(&inst.project_id),
        );
    if let Some(mut shown) = shown {
        shown.details = details;
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
                details: true,
            },
        );
        assert_eq!(admin["traceback"], "tb");
        assert_eq!(admin["host"], "h1");
        assert_eq!(admin["hostId"], json!(host_id("p", Some("h1"))));
        assert_eq!(admin["details"], Value::Null);
    }

    #[test]
    fn paging_from_2_58() {
        let acts: Vec<InstanceAction> = (0..3)
            .map(|n| InstanceAction {
                request_id: format!("req-{n}"),
                ..Default::default()
            })
            .collect();
        let p = |kv: &[(&str, &str)]| -> Vec<(String, String)> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let (all, lim) = page(
            acts.clone(),
            ApiVersion::new(2, 57),
            &p(&[("limit", "1")]),
            1000,
        )
        .expect("old");
        assert_eq!((all.len(), lim), (3, None));
        let (one, lim) = page(
            acts.clone(),
            ApiVersion::new(2, 58),
            &p(&[("limit", "1"), ("marker", "req-0")]),
            1000,
        )
        .expect("page");
        assert_eq!((one[0].request_id.as_str(), lim), ("req-1", Some(1)));
        let e = page(
            acts,
            ApiVersion::new(2, 58),
            &p(&[("marker", "nope")]),
            1000,
        )
        .expect_err("marker");
        assert_eq!(e.code, 400);
    }
}
