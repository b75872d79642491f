//! `GET /servers/{id}/diagnostics` (admin): the driver's counters before
//! 2.48, the standard format from 2.48 (every field present, null when the
//! driver cannot tell).

use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::compute::servers::get_instance;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Diagnostics;
use serde_json::{json, Value};

/// Nova's `ViewBuilder.instance_diagnostics`.
pub fn instance_diagnostics(d: &Diagnostics) -> Value {
    let memory = d.memory_details.clone().unwrap_or_default();
    json!({
        "state": d.state,
        "driver": d.driver,
        "hypervisor": d.hypervisor,
        "hypervisor_os": d.hypervisor_os,
        "uptime": d.uptime,
        "config_drive": d.config_drive,
        "num_cpus": d.cpu_details.len(),
        "num_nics": d.nic_details.len(),
        "num_disks": d.disk_details.len(),
        "cpu_details": d.cpu_details,
        "nic_details": d.nic_details,
        "disk_details": d.disk_details,
        "memory_details": {"maximum": memory.maximum, "used": memory.used},
    })
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:os-server-diagnostics",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    let conflict = |e: NovaError| match e {
        NovaError::InstanceNotReady { .. } => ApiError::conflict(e.to_string()),
        other => other.into(),
    };
    let api = &state.compute_api;
    Ok(Json(if v.at_least(48) {
        instance_diagnostics(
            &api.get_instance_diagnostics(&ctx, &inst)
                .await
                .map_err(conflict)?,
        )
    } else {
        json!(api.get_diagnostics(&ctx, &inst).await.map_err(conflict)?)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::{CpuDiagnostics, NicDiagnostics};

    #[test]
    fn the_standard_view_counts_and_fills_in_nulls() {
        let d = Diagnostics {
            state: Some("running".into()),
            cpu_details: vec![CpuDiagnostics {
                id: Some(0),
                ..Default::default()
            }],
            nic_details: vec![NicDiagnostics {
                mac_address: Some("fa:16:3e:00:00:01".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let v = instance_diagnostics(&d);
        assert_eq!(v["num_cpus"], 1);
        assert_eq!(v["num_nics"], 1);
        assert_eq!(v["num_disks"], 0);
        assert_eq!(v["driver"], Value::Null);
        assert_eq!(v["cpu_details"][0]["utilisation"], Value::Null);
        assert_eq!(v["nic_details"][0]["rx_rate"], Value::Null);
        assert_eq!(v["memory_details"], json!({"maximum": null, "used": null}));
    }
}
