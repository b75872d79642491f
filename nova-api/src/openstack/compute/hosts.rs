//! `/os-hosts` (admin; Nova's `hosts.py`, 2.1-2.42, 404 from 2.43): the
//! hosts of the services, a host's resources (its compute node's totals,
//! what is used now, and what its instances take in all and per project),
//! enabling or disabling its compute service, and the power actions, which
//! no driver here supports (501, as libvirt's in Nova).

use super::floating_ips::version_not_found;
use crate::availability_zones::service_zone;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::{ComputeNode, Instance, InstanceFilters, Service};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The last microversion of `/os-hosts`.
const MAX_VERSION: u32 = 42;

fn check(state: &AppState, ctx: &RequestContext, v: ApiVersion, action: &str) -> ApiResult<()> {
    if v.at_least(MAX_VERSION + 1) {
        return Err(version_not_found());
    }
    state.policy.authorize(
        &format!("os_compute_api:os-hosts:{action}"),
        ctx,
        &Target::own(ctx),
    )
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    check(&state, &ctx, v, "list")?;
    let zone = p
        .iter()
        .rev()
        .find(|(k, _)| k == "zone")
        .map(|(_, z)| z.as_str())
        .filter(|z| !z.is_empty());
    let (services, aggregates) = state.compute_api.services_and_aggregates(&ctx).await?;
    let hosts: Vec<Value> = services
        .iter()
        .map(|s| (s, service_zone(&state.cfg, &aggregates, s)))
        .filter(|(_, z)| zone.is_none_or(|want| want == z))
        .map(|(s, z)| json!({"host_name": s.host, "service": topic(s), "zone": z}))
        .collect();
    Ok(Json(json!({ "hosts": hosts })))
}

/// A service's topic (`compute`, `scheduler`, ...): the binary without `nova-`.
fn topic(s: &Service) -> String {
    s.topic.clone().unwrap_or_else(|| {
        s.binary
            .strip_prefix("nova-")
            .unwrap_or(&s.binary)
            .to_string()
    })
}

fn host_not_found(host: &str) -> ApiError {
    ApiError::not_found(format!("Compute host {host} could not be found."))
}

async fn compute_node(
    state: &AppState,
    ctx: &RequestContext,
    host: &str,
) -> ApiResult<ComputeNode> {
    let nodes = state.conductor.compute_node_get_all(ctx).await?;
    nodes
        .into_iter()
        .find(|n| n.host == host)
        .ok_or_else(|| host_not_found(host))
}

fn resource(host: &str, project: &str, cpu: i64, memory_mb: i64, disk_gb: i64) -> Value {
    json!({"resource": {"host": host, "project": project, "cpu": cpu,
        "memory_mb": memory_mb, "disk_gb": disk_gb}})
}

/// Nova's host resources: `(total)`, `(used_now)`, `(used_max)` and one
/// entry per project with instances on the host.
fn resources(host: &str, n: &ComputeNode, instances: &[Instance]) -> Vec<Value> {
    let mut out = vec![
        resource(host, "(total)", n.vcpus, n.memory_mb, n.local_gb),
        resource(
            host,
            "(used_now)",
            n.vcpus_used,
            n.memory_mb_used,
            n.local_gb_used,
        ),
    ];
    let mut max = (0, 0, 0);
    let mut by_project: BTreeMap<&str, (i64, i64, i64)> = BTreeMap::new();
    for i in instances {
        let f = &i.flavor;
        let use_ = (f.vcpus, f.memory_mb, f.root_gb + f.ephemeral_gb);
        max = (max.0 + use_.0, max.1 + use_.1, max.2 + use_.2);
        let e = by_project.entry(i.project_id.as_str()).or_default();
        *e = (e.0 + use_.0, e.1 + use_.1, e.2 + use_.2);
    }
    out.push(resource(host, "(used_max)", max.0, max.1, max.2));
    for (p, (c, m, d)) in by_project {
        out.push(resource(host, p, c, m, d));
    }
    out
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(host): Path<String>,
) -> ApiResult<Json<Value>> {
    check(&state, &ctx, v, "show")?;
    let node = compute_node(&state, &ctx, &host).await?;
    let instances = state
        .compute_api
        .get_all(
            &ctx,
            InstanceFilters {
                host: Some(host.clone()),
                deleted: Some(false),
                ..Default::default()
            },
            None,
        )
        .await?;
    Ok(Json(json!({ "host": resources(&host, &node, &instances) })))
}

/// `enable`/`disable` of a field of the update body.
fn mode(body: &Value, k: &str) -> ApiResult<Option<bool>> {
    match body.get(k) {
        None => Ok(None),
        Some(Value::String(s)) if ["enable", "Enable", "ENABLE"].contains(&s.as_str()) => {
            Ok(Some(true))
        }
        Some(Value::String(s)) if ["disable", "Disable", "DISABLE"].contains(&s.as_str()) => {
            Ok(Some(false))
        }
        Some(other) => Err(invalid(
            k,
            other,
            &format!(
                "{other} is not one of ['enable', 'disable', 'Enable', 'Disable', 'ENABLE', 'DISABLE']"
            ),
        )),
    }
}

/// PUT: `status` and `maintenance_mode` are both asked of the virt
/// driver in Nova, and no driver here (as Nova's libvirt) implements
/// either: a valid request for a known host is a 501. Disabling a host's
/// compute service is `os-services`' business.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(host): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    check(&state, &ctx, v, "update")?;
    let body = json_body(&body)?;
    let Some(obj) = body.as_object() else {
        return Err(invalid("body", &body, "is not of type 'object'"));
    };
    if let Some(extra) = obj
        .keys()
        .find(|k| *k != "status" && *k != "maintenance_mode")
    {
        return Err(invalid(
            "body",
            &body,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let status = mode(&body, "status")?;
    let maintenance = mode(&body, "maintenance_mode")?;
    if status.is_none() && maintenance.is_none() {
        return Err(ApiError::bad_request(
            "'status' or 'maintenance_mode' needed for host update",
        ));
    }
    compute_node(&state, &ctx, &host).await?;
    Err(not_supported())
}

/// Nova's `raise_feature_not_supported`: what it answers when the virt
/// driver does not implement a host operation.
fn not_supported() -> ApiError {
    ApiError::new(501, "The requested functionality is not supported.")
}

/// `GET /os-hosts/{host}/{startup,shutdown,reboot}`.
pub async fn power_action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((host, action)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let policy = match action.as_str() {
        "startup" => "start",
        "shutdown" => "shutdown",
        "reboot" => "reboot",
        _ => return Err(ApiError::not_found("The resource could not be found.")),
    };
    check(&state, &ctx, v, policy)?;
    compute_node(&state, &ctx, &host).await?;
    Err(not_supported())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_total_used_and_per_project() {
        let n = ComputeNode {
            vcpus: 8,
            memory_mb: 4096,
            local_gb: 100,
            vcpus_used: 2,
            memory_mb_used: 1024,
            local_gb_used: 3,
            ..Default::default()
        };
        let mut a = Instance {
            project_id: "p1".into(),
            ..Default::default()
        };
        a.flavor.vcpus = 1;
        a.flavor.memory_mb = 512;
        a.flavor.root_gb = 1;
        a.flavor.ephemeral_gb = 1;
        let mut b = a.clone();
        b.project_id = "p2".into();
        let r = resources("h", &n, &[a.clone(), a, b]);
        assert_eq!(r.len(), 5);
        assert_eq!(r[0]["resource"]["project"], "(total)");
        assert_eq!(r[0]["resource"]["cpu"], 8);
        assert_eq!(r[1]["resource"]["memory_mb"], 1024);
        assert_eq!(r[2]["resource"]["project"], "(used_max)");
        assert_eq!(r[2]["resource"]["disk_gb"], 6);
        assert_eq!(r[3]["resource"]["project"], "p1");
        assert_eq!(r[3]["resource"]["cpu"], 2);
        assert_eq!(r[4]["resource"]["host"], "h");
    }
}
