//! `/os-instance_usage_audit_log` (admin): the runs of the compute hosts'
//! `instance_usage_audit` task for the last completed audit period
//! (`[DEFAULT] instance_usage_audit_period`), or the one completed before a
//! timestamp; every compute host that did not report is "not run".

use crate::error::{ApiError, ApiResult};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{Datelike, Duration, NaiveDate, NaiveDateTime, Timelike, Utc};
use nova_common::RequestContext;
use nova_objects::{Service, TaskLog};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// Nova's `last_completed_audit_period`: the most recently completed audit
/// period before `now` as (begin, end); None for a unit Nova does not know.
pub fn last_completed_audit_period(
    unit: &str,
    now: NaiveDateTime,
) -> Option<(NaiveDateTime, NaiveDateTime)> {
    let (unit, offset) = match unit.split_once('@') {
        Some((u, o)) => (u, o.parse::<u32>().ok()?),
        None => (unit, 0),
    };
    let at = |y: i32, m: u32, d: u32, h: u32| {
        NaiveDate::from_ymd_opt(y, m, d).and_then(|d| d.and_hms_opt(h, 0, 0))
    };
    // The month before (year, month).
    let prev = |y: i32, m: u32| if m <= 1 { (y - 1, 12) } else { (y, m - 1) };
    Some(match unit {
        "month" => {
            let day = offset.max(1);
            let mut end = at(now.year(), now.month(), day, 0)?;
            if end >= now {
                let (y, m) = prev(now.year(), now.month());
                end = at(y, m, day, 0)?;
            }
            let (y, m) = prev(end.year(), end.month());
            (at(y, m, day, 0)?, end)
        }
        "year" => {
            let month = offset.max(1);
            let end = at(now.year(), month, 1, 0)?;
            if end >= now {
                (
                    at(now.year() - 2, month, 1, 0)?,
                    at(now.year() - 1, month, 1, 0)?,
                )
            } else {
                (at(now.year() - 1, month, 1, 0)?, end)
            }
        }
        "day" => {
            let mut end = at(now.year(), now.month(), now.day(), offset)?;
            if end >= now {
                end -= Duration::days(1);
            }
            (end - Duration::days(1), end)
        }
        "hour" => {
            let mut end = now
                .with_minute(offset)?
                .with_second(0)?
                .with_nanosecond(0)?;
            if end >= now {
                end -= Duration::hours(1);
            }
            (end - Duration::hours(1), end)
        }
        _ => return None,
    })
}

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
        api.task_log_get_all(ctx, "instance_usage_audit", begin.and_utc(), end.and_utc()),
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

    fn period(unit: &str, now: &str) -> (String, String) {
        let (b, e) = last_completed_audit_period(unit, t(now)).expect("period");
        (b.to_string(), e.to_string())
    }

    #[test]
    fn audit_periods_as_nova_computes_them() {
        let p = |b: &str, e: &str| (b.to_string(), e.to_string());
        assert_eq!(
            period("month", "2026-12-04 13:00:00"),
            p("2026-11-01 00:00:00", "2026-12-01 00:00:00")
        );
        // The end itself is not completed yet; January wraps to December.
        assert_eq!(
            period("month", "2026-01-01 00:00:00"),
            p("2025-11-01 00:00:00", "2025-12-01 00:00:00")
        );
        assert_eq!(
            period("month@15", "2026-12-04 13:00:00"),
            p("2026-10-15 00:00:00", "2026-11-15 00:00:00")
        );
        assert_eq!(
            period("year@3", "2026-12-04 13:00:00"),
            p("2025-03-01 00:00:00", "2026-03-01 00:00:00")
        );
        assert_eq!(
            period("day@18", "2026-12-04 13:00:00"),
            p("2026-12-02 18:00:00", "2026-12-03 18:00:00")
        );
        assert_eq!(
            period("hour", "2026-12-04 13:20:00"),
            p("2026-12-04 12:00:00", "2026-12-04 13:00:00")
        );
        assert!(last_completed_audit_period("week", t("2026-12-04 13:00:00")).is_none());
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
