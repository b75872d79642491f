//! `/os-hypervisors` (admin), as of microversion < 2.53 (integer ids).

use crate::error::{ApiError, ApiResult};
use crate::services::state_of;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::{ComputeNode, Service};
use serde_json::{json, Value};

async fn nodes(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
) -> ApiResult<Vec<(ComputeNode, Option<Service>)>> {
    if !ctx.is_admin {
        return Err(ApiError::forbidden_policy(&format!(
            "os_compute_api:os-hypervisors:{action}"
        )));
    }
    let (nodes, services) = tokio::try_join!(
        state.conductor.compute_node_get_all(ctx),
        state.conductor.service_get_all(ctx)
    )?;
    Ok(nodes
        .into_iter()
        .map(|n| {
            let s = services
                .iter()
                .find(|s| s.host == n.host && s.binary == "nova-compute")
                .cloned();
            (n, s)
        })
        .collect())
}

fn summary(state: &AppState, n: &ComputeNode, s: &Option<Service>) -> Value {
    json!({
        "id": n.id,
        "hypervisor_hostname": n.hypervisor_hostname,
        "state": s.as_ref().map(|s| state_of(&state.cfg, s)).unwrap_or("down"),
        "status": if s.as_ref().is_some_and(|s| s.disabled) { "disabled" } else { "enabled" },
    })
}

fn detail_view(state: &AppState, n: &ComputeNode, s: &Option<Service>) -> Value {
    let mut v = summary(state, n, s);
    if let Some(o) = v.as_object_mut() {
        for (k, val) in [
            ("hypervisor_type", json!(n.hypervisor_type)),
            ("hypervisor_version", json!(n.hypervisor_version)),
            ("vcpus", json!(n.vcpus)),
            ("memory_mb", json!(n.memory_mb)),
            ("local_gb", json!(n.local_gb)),
            ("vcpus_used", json!(n.vcpus_used)),
            ("memory_mb_used", json!(n.memory_mb_used)),
            ("local_gb_used", json!(n.local_gb_used)),
            ("free_ram_mb", json!(n.free_ram_mb)),
            ("free_disk_gb", json!(n.free_disk_gb)),
            ("current_workload", json!(n.current_workload)),
            ("running_vms", json!(n.running_vms)),
            ("disk_available_least", json!(n.disk_available_least)),
            ("host_ip", json!(n.host_ip)),
            ("cpu_info", json!(n.cpu_info)),
            (
                "service",
                json!({
                    "host": n.host,
                    "id": s.as_ref().map(|s| s.id),
                    "disabled_reason": s.as_ref().and_then(|s| s.disabled_reason.clone()),
                }),
            ),
        ] {
            o.insert(k.into(), val);
        }
    }
    v
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "list").await?;
    Ok(Json(
        json!({"hypervisors": ns.iter().map(|(n, s)| summary(&state, n, s)).collect::<Vec<_>>()}),
    ))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "list-detail").await?;
    Ok(Json(
        json!({"hypervisors": ns.iter().map(|(n, s)| detail_view(&state, n, s)).collect::<Vec<_>>()}),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "show").await?;
    let not_found = || ApiError::not_found(format!("Hypervisor with ID {id} could not be found."));
    let want: i64 = id.parse().map_err(|_| not_found())?;
    let (n, s) = ns
        .iter()
        .find(|(n, _)| n.id == want)
        .ok_or_else(not_found)?;
    Ok(Json(json!({"hypervisor": detail_view(&state, n, s)})))
}

pub async fn statistics(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "statistics").await?;
    let sum = |f: fn(&ComputeNode) -> i64| ns.iter().map(|(n, _)| f(n)).sum::<i64>();
    Ok(Json(json!({"hypervisor_statistics": {
        "count": ns.len(),
        "vcpus": sum(|n| n.vcpus),
        "memory_mb": sum(|n| n.memory_mb),
        "local_gb": sum(|n| n.local_gb),
        "vcpus_used": sum(|n| n.vcpus_used),
        "memory_mb_used": sum(|n| n.memory_mb_used),
        "local_gb_used": sum(|n| n.local_gb_used),
        "free_ram_mb": sum(|n| n.free_ram_mb),
        "free_disk_gb": sum(|n| n.free_disk_gb),
        "current_workload": sum(|n| n.current_workload),
        "running_vms": sum(|n| n.running_vms),
        "disk_available_least": sum(|n| n.disk_available_least.unwrap_or(0)),
    }})))
}
