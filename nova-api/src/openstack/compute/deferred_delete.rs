//! The `restore` and `forceDelete` server actions (Nova's
//! `DeferredDeleteController`), for servers kept SOFT_DELETED by
//! `[DEFAULT] reclaim_instance_interval`.

use crate::error::{ApiError, ApiResult};
use crate::openstack::common::instance_invalid_state;
use crate::policy::Target;
use crate::AppState;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;

const POLICY_RESTORE: &str = "os_compute_api:os-deferred-delete:restore";
const POLICY_FORCE: &str = "os_compute_api:os-deferred-delete:force";

/// `{"restore": null}`: 409 unless SOFT_DELETED.
pub async fn restore(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_RESTORE, ctx, &Target::project(&inst.project_id))?;
    state
        .compute_api
        .restore(ctx, inst)
        .await
        .map_err(|e| match e {
            NovaError::InstanceIsLocked { .. } => ApiError::conflict(e.to_string()),
            other => instance_invalid_state(other, "restore"),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `{"forceDelete": null}`: delete now, whatever the state.
pub async fn force_delete(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
) -> ApiResult<Response> {
    state
        .policy
        .authorize(POLICY_FORCE, ctx, &Target::project(&inst.project_id))?;
    state
        .compute_api
        .force_delete(ctx, inst)
        .await
        .map_err(|e| match e {
            NovaError::InstanceIsLocked { .. } => ApiError::conflict(e.to_string()),
            other => instance_invalid_state(other, "forceDelete"),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}
