//! `/os-hypervisors` (admin), as of microversion < 2.53 (integer ids):
//! compute nodes and their services, from the conductor.

use super::views::hypervisors::{detail as detail_view, statistics as statistics_view, summary};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::{ComputeNode, InstanceFilters, Service};
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

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "list").await?;
    Ok(Json(
        json!({"hypervisors": ns.iter().map(|(n, s)| summary(&state.cfg, n, s.as_ref())).collect::<Vec<_>>()}),
    ))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "list-detail").await?;
    Ok(Json(
        json!({"hypervisors": ns.iter().map(|(n, s)| detail_view(&state.cfg, n, s.as_ref(), v)).collect::<Vec<_>>()}),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "show").await?;
    let not_found = || ApiError::not_found(format!("Hypervisor with ID {id} could not be found."));
    let want: i64 = id.parse().map_err(|_| not_found())?;
    let (n, s) = ns
        .iter()
        .find(|(n, _)| n.id == want)
        .ok_or_else(not_found)?;
    Ok(Json(
        json!({"hypervisor": detail_view(&state.cfg, n, s.as_ref(), v)}),
    ))
}

/// `GET /os-hypervisors/{id}/uptime` (before 2.88): the node's host's `uptime`.
pub async fn uptime(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "uptime").await?;
    let not_found = || ApiError::not_found(format!("Hypervisor with ID {id} could not be found."));
    let want: i64 = id.parse().map_err(|_| not_found())?;
    let (n, s) = ns
        .iter()
        .find(|(n, _)| n.id == want)
        .ok_or_else(not_found)?;
    let uptime = state
        .compute_api
        .get_host_uptime(&ctx, &n.host)
        .await
        .map_err(|e| match e {
            NovaError::ComputeServiceUnavailable { .. } | NovaError::ComputeHostNotFound { .. } => {
                ApiError::bad_request(e.to_string())
            }
            other => other.into(),
        })?;
    let mut body = summary(&state.cfg, n, s.as_ref());
    body["uptime"] = json!(uptime);
    Ok(Json(json!({ "hypervisor": body })))
}

pub async fn statistics(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    let ns = nodes(&state, &ctx, "statistics").await?;
    let nodes: Vec<&ComputeNode> = ns.iter().map(|(n, _)| n).collect();
    Ok(Json(
        json!({"hypervisor_statistics": statistics_view(&nodes)}),
    ))
}

/// The nodes whose `hypervisor_hostname` contains `pattern` (Nova's
/// `compute_node_search_by_hypervisor`), or 404.
fn matching<'a>(
    ns: &'a [(ComputeNode, Option<Service>)],
    pattern: &str,
) -> ApiResult<Vec<&'a (ComputeNode, Option<Service>)>> {
    let found: Vec<_> = ns
        .iter()
        .filter(|(n, _)| n.hypervisor_hostname.contains(pattern))
        .collect();
    if found.is_empty() {
        return Err(ApiError::not_found(format!(
            "No hypervisor matching '{pattern}' could be found."
        )));
    }
    Ok(found)
}

/// `GET /os-hypervisors/{pattern}/search` (before 2.53).
pub async fn search(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(pattern): Path<String>,
) -> ApiResult<Json<Value>> {
    if v.at_least(53) {
        return Err(super::floating_ips::version_not_found(v));
    }
    let ns = nodes(&state, &ctx, "search").await?;
    let found = matching(&ns, &pattern)?;
    Ok(Json(json!({"hypervisors": found
        .iter()
        .map(|(n, s)| summary(&state.cfg, n, s.as_ref()))
        .collect::<Vec<_>>()})))
}

/// `GET /os-hypervisors/{pattern}/servers` (before 2.53): the matching
/// nodes with their instances (`servers` only where there are some).
pub async fn servers(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(pattern): Path<String>,
) -> ApiResult<Json<Value>> {
    if v.at_least(53) {
        return Err(super::floating_ips::version_not_found(v));
    }
    let ns = nodes(&state, &ctx, "servers").await?;
    let found = matching(&ns, &pattern)?;
    let mut out = vec![];
    for (n, s) in found {
        let mut h = summary(&state.cfg, n, s.as_ref());
        let instances = state
            .compute_api
            .get_all(
                &ctx,
                InstanceFilters {
                    host: Some(n.host.clone()),
                    deleted: Some(false),
                    ..Default::default()
                },
                None,
            )
            .await?;
        let on_node: Vec<Value> = instances
            .iter()
            .filter(|i| i.node.as_deref().is_none_or(|x| x == n.hypervisor_hostname))
            .map(|i| json!({"uuid": i.uuid, "name": i.display_name}))
            .collect();
        if !on_node.is_empty() {
            h["servers"] = json!(on_node);
        }
        out.push(h);
    }
    Ok(Json(json!({ "hypervisors": out })))
}
