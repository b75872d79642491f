//! `/servers/{id}/os-server-password` (Nova's `server_password.py`): the
//! password the guest posted to the metadata service; DELETE clears it.

use super::servers::get_instance;
use crate::error::ApiResult;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::{json, Value};

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:os-server-password:show",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    Ok(Json(
        json!({"password": state.compute_api.get_server_password(&inst)}),
    ))
}

pub async fn clear(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:os-server-password:clear",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    state
        .compute_api
        .set_server_password(&ctx, &inst, "")
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
