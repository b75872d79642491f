//! `/os-hypervisors` (admin): compute nodes and their services, from the
//! conductor. Integer ids before 2.53, uuids from 2.53 (with the
//! `hypervisor_hostname_pattern` and `with_servers` query parameters);
//! paging from 2.33; statistics and uptime gone from 2.88 (uptime moves
//! into the detailed body).

use super::floating_ips::version_not_found;
use super::views::hypervisors::{
    add_servers, detail as detail_view, statistics as statistics_view, summary,
};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{param, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::{ComputeNode, InstanceFilters, Service};
use serde_json::{json, Value};
use uuid::Uuid;

type Params = Query<Vec<(String, String)>>;

async fn nodes(
    state: &AppState,
    ctx: &RequestContext,
    action: &str,
) -> ApiResult<Vec<(ComputeNode, Option<Service>)>> {
    // The policy decides (admins by default); what it lets through reads
    // every host, as Nova's host API does.
    state.policy.authorize(
        &format!("os_compute_api:os-hypervisors:{action}"),
        ctx,
        &Target::default(),
    )?;
    let ctx = &ctx.elevated();
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

/// `with_servers` (2.53): a strict boolean.
fn with_servers(v: ApiVersion, p: &[(String, String)]) -> ApiResult<bool> {
    if !v.at_least(53) {
        return Ok(false);
    }
    match param(p, "with_servers").map(str::to_ascii_lowercase).as_deref() {
        None => Ok(false),
        Some("1" | "t" | "true" | "on" | "y" | "yes") => Ok(true),
        Some("0" | "f" | "false" | "off" | "n" | "no") => Ok(false),
        Some(other) => Err(ApiError::bad_request(format!(
            "Invalid input for query parameters with_servers. Value: {other}. '{other}' is not a 'boolean'"
        ))),
    }
}

/// The servers on a node's host, as `(uuid, name)`.
async fn servers_on(
    state: &AppState,
    ctx: &RequestContext,
    n: &ComputeNode,
) -> ApiResult<Vec<(String, String)>> {
    let f = InstanceFilters {
        host: Some(n.host.clone()),
        ..Default::default()
    };
    let insts = state.compute_api.get_all(&ctx.elevated(), f, None).await?;
    Ok(insts
        .into_iter()
        .filter(|i| i.node.as_deref().is_none_or(|x| x == n.hypervisor_hostname))
        .map(|i| (i.uuid.to_string(), i.display_name))
        .collect())
}

/// The host's uptime for the 2.88 body; none when it cannot be asked.
async fn uptime_of(state: &AppState, ctx: &RequestContext, n: &ComputeNode) -> Option<String> {
    state.compute_api.get_host_uptime(ctx, &n.host).await.ok()
}

/// A node's id as this microversion writes it.
fn node_id(n: &ComputeNode, v: ApiVersion) -> String {
    if v.at_least(53) {
        n.uuid.to_string()
    } else {
        n.id.to_string()
    }
}

/// Index and detail: the hostname pattern (2.53), paging (2.33), servers.
async fn list(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    base: &BaseUrl,
    p: &[(String, String)],
    detailed: bool,
) -> ApiResult<Value> {
    let action = if detailed { "list-detail" } else { "list" };
    let mut ns = nodes(state, ctx, action).await?;
    let servers = with_servers(v, p)?;
    let pattern = param(p, "hypervisor_hostname_pattern").filter(|_| v.at_least(53));
    let mut paged = v.at_least(33);
    if let Some(pat) = pattern {
        if param(p, "limit").is_some() || param(p, "marker").is_some() {
            return Err(ApiError::bad_request(
                "Paging over hypervisors with the hypervisor_hostname_pattern query parameter is not supported.",
            ));
        }
        paged = false;
        ns.retain(|(n, _)| n.hypervisor_hostname.contains(pat));
        if ns.is_empty() {
            return Err(ApiError::not_found(format!(
                "No hypervisor matching '{pat}' could be found."
            )));
        }
    }
    let mut limit = None;
    if paged {
        ns.sort_by_key(|(n, _)| n.id);
        if let Some(m) = param(p, "marker") {
            let pos = ns
                .iter()
                .position(|(n, _)| node_id(n, v) == m)
                .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
            ns.drain(..=pos);
        }
        let max = state.cfg.api.max_limit;
        let l = match param(p, "limit") {
            Some(l) => l
                .parse::<usize>()
                .map_err(|_| ApiError::bad_request("limit param must be an integer"))?
                .min(max),
            None => max,
        };
        ns.truncate(l);
        limit = Some(l);
    }
    let mut out = Vec::with_capacity(ns.len());
    for (n, s) in &ns {
        let mut body = if detailed {
            let up = if v.at_least(88) {
                uptime_of(state, ctx, n).await
            } else {
                None
            };
            detail_view(&state.cfg, n, s.as_ref(), v, up.as_deref())
        } else {
            summary(&state.cfg, n, s.as_ref(), v)
        };
        if servers {
            let list = servers_on(state, ctx, n).await?;
            add_servers(&mut body, Some(&list), v);
        }
        out.push(body);
    }
    let mut doc = json!({ "hypervisors": out });
    let path = if detailed {
        "os-hypervisors/detail"
    } else {
        "os-hypervisors"
    };
    if let Some(l) = super::views::page_link(base, path, p, limit, ns.len(), || {
        ns.last().map(|(n, _)| node_id(n, v))
    }) {
        doc["hypervisors_links"] = l;
    }
    Ok(doc)
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    Ok(Json(list(&state, &ctx, v, &base, &p, false).await?))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    Ok(Json(list(&state, &ctx, v, &base, &p, true).await?))
}

/// The node a path names: a uuid from 2.53 (400 otherwise), an integer
/// before (404 otherwise).
fn find<'a>(
    ns: &'a [(ComputeNode, Option<Service>)],
    v: ApiVersion,
    id: &str,
) -> ApiResult<&'a (ComputeNode, Option<Service>)> {
    let not_found =
        || ApiError::not_found(format!("Hypervisor with ID '{id}' could not be found."));
    if v.at_least(53) {
        let u =
            Uuid::parse_str(id).map_err(|_| ApiError::bad_request(format!("Invalid uuid {id}")))?;
        ns.iter().find(|(n, _)| n.uuid == u).ok_or_else(not_found)
    } else {
        let want: i64 = id.parse().map_err(|_| not_found())?;
        ns.iter().find(|(n, _)| n.id == want).ok_or_else(not_found)
    }
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let servers = with_servers(v, &p)?;
    let ns = nodes(&state, &ctx, "show").await?;
    let (n, s) = find(&ns, v, &id)?;
    let up = if v.at_least(88) {
        uptime_of(&state, &ctx, n).await
    } else {
        None
    };
    let mut body = detail_view(&state.cfg, n, s.as_ref(), v, up.as_deref());
    if servers {
        let list = servers_on(&state, &ctx, n).await?;
        add_servers(&mut body, Some(&list), v);
    }
    Ok(Json(json!({ "hypervisor": body })))
}

/// `GET /os-hypervisors/{id}/uptime` (before 2.88): the node's host's `uptime`.
pub async fn uptime(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if v.at_least(88) {
        return Err(version_not_found());
    }
    let ns = nodes(&state, &ctx, "uptime").await?;
    let (n, s) = find(&ns, v, &id)?;
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
    let mut body = summary(&state.cfg, n, s.as_ref(), v);
    body["uptime"] = json!(uptime);
    Ok(Json(json!({ "hypervisor": body })))
}

/// `GET /os-hypervisors/statistics` (before 2.88).
pub async fn statistics(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    if v.at_least(88) {
        return Err(version_not_found());
    }
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
        return Err(super::floating_ips::version_not_found());
    }
    let ns = nodes(&state, &ctx, "search").await?;
    let found = matching(&ns, &pattern)?;
    Ok(Json(json!({"hypervisors": found
        .iter()
        .map(|(n, s)| summary(&state.cfg, n, s.as_ref(), v))
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
        return Err(super::floating_ips::version_not_found());
    }
    let ns = nodes(&state, &ctx, "servers").await?;
    let found = matching(&ns, &pattern)?;
    let mut out = vec![];
    for (n, s) in found {
        let mut h = summary(&state.cfg, n, s.as_ref(), v);
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
