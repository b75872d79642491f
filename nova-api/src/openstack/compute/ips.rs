//! `/servers/{id}/ips` and `/servers/{id}/ips/{network}`: the instance's
//! addresses per network label, fixed and floating, from its network info
//! cache (Nova's `IPsController`, the basic address view).

use super::servers::get_instance;
use crate::error::{ApiError, ApiResult};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::Instance;
use serde_json::{json, Map, Value};

/// label → [{version, addr}], fixed addresses each followed by its floating ones.
pub fn addresses(i: &Instance) -> Map<String, Value> {
    let mut out = Map::new();
    for vif in &i.network_info {
        let list = out
            .entry(vif.network.label.clone())
            .or_insert_with(|| Value::Array(vec![]));
        if let Value::Array(a) = list {
            for subnet in &vif.network.subnets {
                for ip in &subnet.ips {
                    a.push(json!({"version": ip.version, "addr": ip.address}));
                    for f in &ip.floating_ips {
                        a.push(json!({"version": 4, "addr": f}));
                    }
                }
            }
        }
    }
    out
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:ips:index",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    Ok(Json(json!({"addresses": addresses(&inst)})))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, network)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:ips:show",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    let mut all = addresses(&inst);
    match all.remove(&network) {
        Some(list) => Ok(Json(json!({ network: list }))),
        None => Err(ApiError::not_found(
            "Instance is not a member of specified network",
        )),
    }
}
