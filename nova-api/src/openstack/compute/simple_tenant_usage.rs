//! `/os-simple-tenant-usage` (Nova's `simple_tenant_usage.py`): what each
//! project's servers used between `start` and `end` (both default to now):
//! every project for admins, one project for its members.

use super::views::micro_isotime;
use crate::compute::api::{ServerUsage, TenantUsage, UsagePage};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{param, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDateTime, Utc};
use nova_common::RequestContext;
use serde_json::{json, Value};

type Params = Query<Vec<(String, String)>>;

/// Nova's `_parse_datetime`: ISO 8601 with or without fractions (or an
/// offset), or `YYYY-MM-DD HH:MM:SS.ffffff`; absent means now.
fn parse_datetime(v: Option<&str>) -> ApiResult<DateTime<Utc>> {
    let Some(s) = v else {
        return Ok(Utc::now());
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Ok(t.and_utc());
        }
    }
    Err(ApiError::bad_request(
        "Invalid datetime string: Datetime is in invalid format",
    ))
}

fn period(p: &[(String, String)]) -> ApiResult<(DateTime<Utc>, DateTime<Utc>)> {
    let start = parse_datetime(param(p, "start"))?;
    let end = parse_datetime(param(p, "end"))?;
    // An empty period is refused as well as a reversed one (Nova's
    // `not period_start < period_stop`).
    if start >= end {
        return Err(ApiError::bad_request(
            "Invalid start time. The start time cannot occur after the end time.",
        ));
    }
    // A period that ends later than now ends now: what runs is charged up
    // to the present, not to the end asked for (Nova's `_index`/`_show`).
    Ok((start, end.min(Utc::now())))
}

fn server_usage(u: &ServerUsage) -> Value {
    let i = &u.instance;
    json!({
        "instance_id": i.uuid.to_string(),
        "name": i.display_name,
        "hours": u.hours,
        "memory_mb": i.memory_mb,
        "local_gb": u.local_gb,
        "vcpus": i.vcpus,
        "tenant_id": i.project_id,
        "flavor": i.flavor.name,
        "started_at": micro_isotime(i.launched_at),
        "ended_at": micro_isotime(i.terminated_at),
        "state": u.state,
        "uptime": u.uptime,
    })
}

fn tenant_usage(t: &TenantUsage, detailed: bool) -> Value {
    let mut v = json!({
        "tenant_id": t.tenant_id,
        "total_local_gb_usage": t.total_local_gb_usage,
        "total_vcpus_usage": t.total_vcpus_usage,
        "total_memory_mb_usage": t.total_memory_mb_usage,
        "total_hours": t.total_hours,
        "start": micro_isotime(Some(t.start)),
        "stop": micro_isotime(Some(t.stop)),
    });
    if detailed {
        v["server_usages"] = json!(t.server_usages.iter().map(server_usage).collect::<Vec<_>>());
    }
    v
}

/// The page asked for: `limit` and `marker` from 2.40; before it the first
/// `[api] max_limit` instances, silently.
fn page(state: &AppState, v: ApiVersion, p: &[(String, String)]) -> ApiResult<UsagePage> {
    let max = state.cfg.api.max_limit;
    if !v.at_least(40) {
        return Ok(UsagePage {
            limit: max,
            marker: None,
        });
    }
    let limit = match param(p, "limit") {
        Some(l) => l
            .parse::<usize>()
            .map_err(|_| {
                ApiError::bad_request(format!(
                    "Invalid input for query parameters limit. Value: {l}. '{l}' is not a 'non-negative integer'"
                ))
            })?
            .min(max),
        None => max,
    };
    let marker = match param(p, "marker") {
        Some(m) => Some(
            uuid::Uuid::parse_str(m)
                .map_err(|_| ApiError::bad_request(format!("Marker {m} could not be found.")))?,
        ),
        None => None,
    };
    Ok(UsagePage { limit, marker })
}

/// The `*_links` of a full page (2.40).
fn next_link(
    base: &BaseUrl,
    path: &str,
    p: &[(String, String)],
    next: Option<uuid::Uuid>,
) -> Option<Value> {
    Some(super::views::next_link(base, path, p, &next?.to_string()))
}

fn usage_error(e: nova_common::NovaError) -> ApiError {
    match e {
        nova_common::NovaError::MarkerNotFound { marker } => {
            ApiError::bad_request(format!("Marker {marker} could not be found."))
        }
        other => other.into(),
    }
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-simple-tenant-usage:list",
        &ctx,
        &Target::own(&ctx),
    )?;
    let (start, end) = period(&p)?;
    let detailed = param(&p, "detailed") == Some("1");
    let pg = page(&state, v, &p)?;
    let (usages, next) = state
        .compute_api
        .get_tenant_usages(&ctx, start, end, None, pg)
        .await
        .map_err(usage_error)?;
    let next = next.filter(|_| v.at_least(40));
    let mut body = json!({
        "tenant_usages": usages.iter().map(|t| tenant_usage(t, detailed)).collect::<Vec<_>>()
    });
    if let Some(l) = next_link(&base, "os-simple-tenant-usage", &p, next) {
        body["tenant_usages_links"] = l;
    }
    Ok(Json(body))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(tenant_id): Path<String>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-simple-tenant-usage:show",
        &ctx,
        &Target::project(&tenant_id),
    )?;
    let (start, end) = period(&p)?;
    let pg = page(&state, v, &p)?;
    let path = format!("os-simple-tenant-usage/{tenant_id}");
    let (usages, next) = state
        .compute_api
        .get_tenant_usages(&ctx, start, end, Some(tenant_id), pg)
        .await
        .map_err(usage_error)?;
    let next = next.filter(|_| v.at_least(40));
    let usage = usages
        .first()
        .map(|t| tenant_usage(t, true))
        .unwrap_or_else(|| json!({}));
    let mut body = json!({ "tenant_usage": usage });
    if let Some(l) = next_link(&base, &path, &p, next) {
        body["tenant_usage_links"] = l;
    }
    Ok(Json(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_as_nova_parses_them() {
        for ok in [
            "2026-01-01T00:00:00",
            "2026-01-01T00:00:00.123456",
            "2026-01-01 00:00:00.5",
            "2026-01-01T00:00:00Z",
        ] {
            assert!(parse_datetime(Some(ok)).is_ok(), "{ok}");
        }
        assert_eq!(
            parse_datetime(Some("yesterday")).map_err(|e| e.code).err(),
            Some(400)
        );
        let p = vec![
            ("start".to_string(), "2026-02-01T00:00:00".to_string()),
            ("end".to_string(), "2026-01-01T00:00:00".to_string()),
        ];
        assert_eq!(period(&p).map_err(|e| e.code).err(), Some(400));
    }
}
