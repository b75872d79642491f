//! `GET /servers/{id}/os-virtual-interfaces` (2.1-2.43): the instance's
//! VIFs, with their network's uuid from 2.12.

use super::floating_ips::version_not_found;
use super::servers::get_instance;
use crate::error::ApiResult;
use crate::openstack::api_version_request::ApiVersion;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::{json, Value};

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if v.at_least(44) {
        return Err(version_not_found());
    }
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:os-virtual-interfaces:list",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    let api = &state.compute_api;
    let vifs = api.get_vifs_by_instance(&ctx, &inst).await?;
    let nets = if v.at_least(12) {
        api.networks_by_id(&ctx).await?
    } else {
        Default::default()
    };
    let list: Vec<Value> = vifs
        .iter()
        .map(|vif| {
            let mut d = json!({"id": vif.uuid.to_string(), "mac_address": vif.address});
            if v.at_least(12) {
                d["net_id"] = json!(nets.get(&vif.network_id).map(|n| n.uuid.to_string()));
            }
            d
        })
        .collect();
    Ok(Json(json!({"virtual_interfaces": list})))
}
