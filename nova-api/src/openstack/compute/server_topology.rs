//! `GET /servers/{id}/topology` (2.78, Nova's `server_topology.py`): the
//! guest's NUMA cells as the host it is on fitted them; the host's side
//! (`host_node`, `cpu_pinning`) for those the `host:index` policy allows.

use super::floating_ips::version_not_found;
use crate::error::ApiResult;
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::compute::servers::get_instance;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::numa::InstanceNumaTopology;
use serde_json::{json, Value};

const POLICY_INDEX: &str = "compute:server:topology:index";
const POLICY_HOST_INDEX: &str = "compute:server:topology:host:index";

/// Nova's `_get_numa_topology`. `siblings` stays empty as upstream's: its
/// fitting no longer records a guest CPU topology for the cells.
pub fn topology(t: Option<&InstanceNumaTopology>, show_host_info: bool) -> Value {
    let Some(t) = t else {
        return json!({"nodes": [], "pagesize_kb": null});
    };
    let mut pagesize_kb = None;
    let nodes: Vec<Value> = t
        .cells
        .iter()
        .map(|c| {
            let vcpus: Vec<u32> = c.cpuset.union(&c.pcpuset).copied().collect();
            let mut node = json!({
                "vcpu_set": vcpus,
                "siblings": [],
                "memory_mb": c.memory,
            });
            if show_host_info {
                node["host_node"] = json!(c.id);
                node["cpu_pinning"] = json!(c.cpu_pinning);
            }
            if let Some(p) = c.pagesize.filter(|p| *p > 0) {
                pagesize_kb = Some(p);
            }
            node
        })
        .collect();
    json!({"nodes": nodes, "pagesize_kb": pagesize_kb})
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !v.at_least(78) {
        return Err(version_not_found());
    }
    let inst = get_instance(&state, &ctx, &id).await?;
    let target = Target::project(&inst.project_id);
    state.policy.authorize(POLICY_INDEX, &ctx, &target)?;
    let show_host_info = state.policy.allows(POLICY_HOST_INDEX, &ctx, &target);
    Ok(Json(topology(inst.numa_topology.as_ref(), show_host_info)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::numa::InstanceNumaCell;

    #[test]
    fn cells_with_and_without_the_host_side() {
        let cell = InstanceNumaCell {
            id: 1,
            cpuset: [0].into_iter().collect(),
            pcpuset: [1, 2].into_iter().collect(),
            memory: 512,
            pagesize: Some(2048),
            cpu_pinning: [(1, 5), (2, 6)].into_iter().collect(),
            ..Default::default()
        };
        let t = InstanceNumaTopology {
            cells: vec![cell],
            ..Default::default()
        };
        let admin = topology(Some(&t), true);
        assert_eq!(
            admin,
            json!({"nodes": [{"vcpu_set": [0, 1, 2], "siblings": [], "memory_mb": 512,
                "host_node": 1, "cpu_pinning": {"1": 5, "2": 6}}], "pagesize_kb": 2048})
        );
        let member = topology(Some(&t), false);
        assert!(member["nodes"][0].get("host_node").is_none(), "{member}");
        assert!(member["nodes"][0].get("cpu_pinning").is_none(), "{member}");
        assert_eq!(
            topology(None, true),
            json!({"nodes": [], "pagesize_kb": null})
        );
    }
}
