//! `/os-instance_usage_audit_log` (admin): the runs of the compute hosts'
//! `instance_usage_audit` task for the last completed audit period
//! (`[DEFAULT] instance_usage_audit_period`), or the one completed before a
//! timestamp; every compute host that did not report is "not run".

use crate::error::{ApiError, ApiResult};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{NaiveDateTime, Utc};
use nova_common::audit::{last_completed_audit_period, INSTANCE_USAGE_AUDIT};
use nova_common::RequestContext;
use nova_objects::{Service, TaskLog};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Nova's `_get_audit_task_logs`: the report over the compute hosts
/// (disabled ones too: they can have instances).
pub fn audit_report(
    begin: NaiveDateTime,
    end: NaiveDateTime,
    task_logs: &[TaskLog],
    services: &[Service],
) -> Value {
    let hosts: BTreeSet<&str> = services
        .iter()
        .filter(|s| s.binary == "nova-compute")
        .map(|s| s.host.as_str())
        .collect();
    let seen: BTreeSet<&str> = task_logs.iter().map(|t| t.host.as_str()).collect();
    let done: BTreeSet<&str> = task_logs
        .iter()
        .filter(|t| t.state == "DONE")
        .map(|t| t.host.as_str())
        .collect();
    let running = task_logs
        .iter()
        .filter(|t| t.state == "RUNNING")
        .map(|t| &t.host);
    let running: BTreeSet<&String> = running.collect();
    let total_errors: i64 = task_logs.iter().map(|t| t.errors).sum();
    let total_items: i64 = task_logs.iter().map(|t| t.task_items).sum();
    let log: Map<String, Value> = task_logs
        .iter()
        .map(|t| {
            (
                t.host.clone(),
                json!({"state": t.state, "instances": t.task_items,
                       "errors": t.errors, "message": t.message}),
            )
        })
        .collect();
    let missing: Vec<&str> = hosts.difference(&seen).copied().collect();
    let done_of = if done.len() == hosts.len() {
        "ALL".to_string()
    } else {
        format!("{} of {}", done.len(), hosts.len())
    };
    json!({
        "period_beginning": begin.format("%Y-%m-%d %H:%M:%S").to_string(),
        "period_ending": end.format("%Y-%m-%d %H:%M:%S").to_string(),
        "num_hosts": hosts.len(),
        "num_hosts_done": done.len(),
        "num_hosts_running": running.len(),
        "num_hosts_not_run": missing.len(),
        "hosts_not_run": missing,
        "total_instances": total_items,
        "total_errors": total_errors,
        "overall_status": format!("{done_of} hosts done. {total_errors} errors."),
        "log": log,
    })
}

async fn report(
    state: &AppState,
    ctx: &RequestContext,
    before: Option<NaiveDateTime>,
) -> ApiResult<Value> {
    let unit = &state.cfg.default.instance_usage_audit_period;
    let now = before.unwrap_or_else(|| Utc::now().naive_utc());
    let (begin, end) = last_completed_audit_period(unit, now).ok_or_else(|| {
        ApiError::new(500, crate::error::UNEXPECTED).with_cause(format!(
            "[DEFAULT] instance_usage_audit_period = {unit} is not a valid audit period"
        ))
    })?;
    let api = &state.compute_api;
    let (logs, services) = tokio::try_join!(
        api.task_log_get_all(ctx, INSTANCE_USAGE_AUDIT, begin.and_utc(), end.and_utc()),
        api.service_list(ctx),
    )?;
    Ok(audit_report(begin, end, &logs, &services))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-instance-usage-audit-log:list",
        &ctx,
        &Target::own(&ctx),
    )?;
    let log = report(&state, &ctx, None).await?;
    Ok(Json(json!({ "instance_usage_audit_logs": log })))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-instance-usage-audit-log:show",
        &ctx,
        &Target::own(&ctx),
    )?;
    let format = if id.contains('.') {
        "%Y-%m-%d %H:%M:%S%.f"
    } else {
        "%Y-%m-%d %H:%M:%S"
    };
    let before = NaiveDateTime::parse_from_str(&id, format)
        .map_err(|_| ApiError::bad_request(format!("Invalid timestamp for date {id}")))?;
    let log = report(&state, &ctx, Some(before)).await?;
    Ok(Json(json!({ "instance_usage_audit_log": log })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").expect("time")
    }

    #[test]
    fn a_report_with_no_audit_run_lists_every_compute_host_as_not_run() {
        let svc = |h: &str, b: &str| Service {
            host: h.into(),
            binary: b.into(),
            ..Default::default()
        };
        let services = [
            svc("c1", "nova-compute"),
            svc("c2", "nova-compute"),
            svc("api", "nova-scheduler"),
        ];
        let (b, e) = (t("2026-11-01 00:00:00"), t("2026-12-01 00:00:00"));
        let r = audit_report(b, e, &[], &services);
        assert_eq!(r["num_hosts"], 2);
        assert_eq!(r["num_hosts_not_run"], 2);
        assert_eq!(r["hosts_not_run"], json!(["c1", "c2"]));
        assert_eq!(r["overall_status"], "0 of 2 hosts done. 0 errors.");
        assert_eq!(r["log"], json!({}));
        assert_eq!(r["period_beginning"], "2026-11-01 00:00:00");
        let done = TaskLog {
            host: "c1".into(),
            state: "DONE".into(),
            task_items: 3,
            errors: 1,
            message: "m".into(),
            ..Default::default()
        };
        let r = audit_report(b, e, &[done], &services[..1]);
        assert_eq!(r["overall_status"], "ALL hosts done. 1 errors.");
        assert_eq!(r["total_instances"], 3);
        assert_eq!(r["log"]["c1"]["instances"], 3);
    }
}
