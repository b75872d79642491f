//! `/limits`, `/os-quota-sets` and `/os-availability-zone`.

use crate::error::{ApiError, ApiResult};
use crate::microversion::ApiVersion;
use crate::policy::Target;
use crate::services::state_of;
use crate::views::micro_isotime;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::QuotaUsage;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// The API's name for a `[quota]` option.
fn api_name(resource: &str) -> &str {
    if resource == "injected_file_path_length" {
        "injected_file_path_bytes"
    } else {
        resource
    }
}

/// Network quotas shown before 2.36 (nova-network's, fixed defaults).
const NETWORK_QUOTAS: &[(&str, i64)] = &[
    ("fixed_ips", -1),
    ("floating_ips", 10),
    ("security_group_rules", 20),
    ("security_groups", 10),
];

/// Effective limits of a project: `[quota]` defaults overridden by the project's rows.
pub async fn effective_limits(
    state: &AppState,
    ctx: &RequestContext,
    project: &str,
) -> ApiResult<BTreeMap<String, i64>> {
    let mut limits: BTreeMap<String, i64> = state.cfg.quota.clone();
    for (k, v) in state
        .conductor
        .quota_get_all_by_project(ctx, project.to_string())
        .await?
    {
        limits.insert(k, v);
    }
    Ok(limits)
}

fn quota_body(
    limits: &BTreeMap<String, i64>,
    v: ApiVersion,
    id: Option<&str>,
) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(id) = id {
        m.insert("id".into(), json!(id));
    }
    for (k, val) in limits {
        m.insert(api_name(k).to_string(), json!(val));
    }
    if !v.at_least(36) {
        for (k, d) in NETWORK_QUOTAS {
            m.insert(k.to_string(), json!(limits.get(*k).copied().unwrap_or(*d)));
        }
    }
    m
}

/// 403 when creating `count` instances of `vcpus`/`ram` would exceed the project's quota.
pub async fn check_instance_quota(
    state: &AppState,
    ctx: &RequestContext,
    project: &str,
    count: i64,
    vcpus: i64,
    ram: i64,
) -> ApiResult<()> {
    let limits = effective_limits(state, ctx, project).await?;
    let used = state
        .conductor
        .quota_usage(ctx, project.to_string())
        .await?;
    for (res, used, req) in [
        ("instances", used.instances, count),
        ("cores", used.cores, count * vcpus),
        ("ram", used.ram, count * ram),
    ] {
        let allowed = limits.get(res).copied().unwrap_or(-1);
        if allowed >= 0 && used + req > allowed {
            return Err(ApiError::new(
                403,
                format!("Quota exceeded for {res}: Requested {req}, but already used {used} of {allowed} {res}"),
            ));
        }
    }
    Ok(())
}

pub async fn limits(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let own = ctx.project_id.clone().unwrap_or_default();
    let project = match p
        .iter()
        .find(|(k, _)| k == "tenant_id")
        .map(|(_, v)| v.clone())
    {
        Some(t) if t != own => {
            state.policy.authorize(
                "os_compute_api:limits:other_project",
                &ctx,
                &Target::project(&t),
            )?;
            t
        }
        _ => own,
    };
    state
        .policy
        .authorize("os_compute_api:limits", &ctx, &Target::project(&project))?;
    let l = effective_limits(&state, &ctx, &project).await?;
    let used: QuotaUsage = state.conductor.quota_usage(&ctx, project.clone()).await?;
    let get = |k: &str| l.get(k).copied().unwrap_or(-1);
    let mut abs = json!({
        "maxTotalInstances": get("instances"),
        "maxTotalCores": get("cores"),
        "maxTotalRAMSize": get("ram"),
        "maxServerMeta": get("metadata_items"),
        "maxPersonality": get("injected_files"),
        "maxPersonalitySize": get("injected_file_content_bytes"),
        "maxTotalKeypairs": get("key_pairs"),
        "maxServerGroups": get("server_groups"),
        "maxServerGroupMembers": get("server_group_members"),
        "maxImageMeta": get("metadata_items"),
        "totalInstancesUsed": used.instances,
        "totalCoresUsed": used.cores,
        "totalRAMUsed": used.ram,
        "totalServerGroupsUsed": 0,
    });
    if !v.at_least(36) {
        for (k, val) in [
            ("maxSecurityGroups", 10),
            ("maxSecurityGroupRules", 20),
            ("maxTotalFloatingIps", 10),
            ("totalSecurityGroupsUsed", 0),
            ("totalFloatingIpsUsed", 0),
        ] {
            abs[k] = json!(val);
        }
    }
    Ok(Json(json!({"limits": {"rate": [], "absolute": abs}})))
}

pub async fn quota_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:show",
        &ctx,
        &Target::project(&project),
    )?;
    let l = effective_limits(&state, &ctx, &project).await?;
    Ok(Json(
        json!({"quota_set": quota_body(&l, v, Some(&project))}),
    ))
}

pub async fn quota_defaults(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:defaults",
        &ctx,
        &Target::project(&project),
    )?;
    Ok(Json(
        json!({"quota_set": quota_body(&state.cfg.quota, v, Some(&project))}),
    ))
}

pub async fn quota_detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:detail",
        &ctx,
        &Target::project(&project),
    )?;
    let l = effective_limits(&state, &ctx, &project).await?;
    let used = state.conductor.quota_usage(&ctx, project.clone()).await?;
    let mut m = Map::new();
    m.insert("id".into(), json!(project));
    for (k, val) in quota_body(&l, v, None) {
        let in_use = match k.as_str() {
            "instances" => used.instances,
            "cores" => used.cores,
            "ram" => used.ram,
            _ => 0,
        };
        m.insert(k, json!({"limit": val, "in_use": in_use, "reserved": 0}));
    }
    Ok(Json(json!({"quota_set": m})))
}

pub async fn quota_update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(project): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:update",
        &ctx,
        &Target::project(&project),
    )?;
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let Some(qs) = body.get("quota_set").and_then(Value::as_object) else {
        return Err(ApiError::bad_request(format!("Invalid input for field/attribute body. Value: {body}. 'quota_set' is a required property")));
    };
    let force = qs
        .get("force")
        .map(|f| f == &json!(true) || f == &json!("True") || f == &json!("true"))
        .unwrap_or(false);
    let used = state.conductor.quota_usage(&ctx, project.clone()).await?;
    let mut updates = BTreeMap::new();
    for (k, val) in qs {
        if k == "force" {
            continue;
        }
        let resource = if k == "injected_file_path_bytes" {
            "injected_file_path_length"
        } else {
            k.as_str()
        };
        let known = state.cfg.quota.contains_key(resource)
            || (!v.at_least(36) && NETWORK_QUOTAS.iter().any(|(n, _)| *n == resource));
        if !known {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute quota_set. Value: {}. Additional properties are not allowed ('{k}' was unexpected)",
                Value::Object(qs.clone())
            )));
        }
        let n = match val {
            Value::Number(n) => n.as_i64(),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
        .filter(|n| *n >= -1 && *n <= i32::MAX as i64)
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "Invalid input for field/attribute {k}. Value: {val}. must be an integer >= -1"
            ))
        })?;
        let in_use = match resource {
            "instances" => used.instances,
            "cores" => used.cores,
            "ram" => used.ram,
            _ => 0,
        };
        if !force && n >= 0 && n < in_use {
            return Err(ApiError::bad_request(format!(
                "Quota limit {n} for {k} must be greater than or equal to already used and reserved {in_use}."
            )));
        }
        updates.insert(resource.to_string(), n);
    }
    state
        .conductor
        .quota_update(&ctx, project.clone(), updates)
        .await?;
    let l = effective_limits(&state, &ctx, &project).await?;
    Ok(Json(json!({"quota_set": quota_body(&l, v, None)})))
}

pub async fn quota_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(project): Path<String>,
) -> ApiResult<StatusCode> {
    state.policy.authorize(
        "os_compute_api:os-quota-sets:delete",
        &ctx,
        &Target::project(&project),
    )?;
    state
        .conductor
        .quota_destroy_all_by_project(&ctx, project)
        .await?;
    Ok(StatusCode::ACCEPTED)
}

pub async fn az_list(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-availability-zone:list",
        &ctx,
        &Target::own(&ctx),
    )?;
    let services = state.conductor.service_get_all(&ctx).await?;
    let computes: Vec<_> = services
        .iter()
        .filter(|s| s.binary == "nova-compute")
        .collect();
    let zone = &state.cfg.default.default_availability_zone;
    let mut zones = vec![];
    if !computes.is_empty() {
        let available = computes.iter().any(|s| !s.disabled);
        zones.push(json!({"zoneName": zone, "zoneState": {"available": available}, "hosts": null}));
    }
    Ok(Json(json!({"availabilityZoneInfo": zones})))
}

pub async fn az_detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-availability-zone:detail",
        &ctx,
        &Target::own(&ctx),
    )?;
    let services = state.conductor.service_get_all(&ctx).await?;
    let mut zones: BTreeMap<String, (bool, Map<String, Value>)> = BTreeMap::new();
    for s in &services {
        let zone = crate::services::zone(&state.cfg, s);
        let entry = zones.entry(zone).or_insert_with(|| (false, Map::new()));
        let up = state_of(&state.cfg, s) == "up";
        entry.0 |= !s.disabled;
        let host = entry.1.entry(s.host.clone()).or_insert_with(|| json!({}));
        host[s.binary.as_str()] = json!({"available": up && !s.disabled, "active": !s.disabled, "updated_at": micro_isotime(s.updated_at)});
    }
    let info: Vec<Value> = zones
        .into_iter()
        .map(|(name, (available, hosts))| json!({"zoneName": name, "zoneState": {"available": available}, "hosts": hosts}))
        .collect();
    Ok(Json(json!({"availabilityZoneInfo": info})))
}
