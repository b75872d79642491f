//! `/os-availability-zone`: the zones users may boot in, and (admin) every
//! zone with its hosts' services.

use super::views;
use crate::availability_zones::{get_availability_zones, get_zones_with_hosts};
use crate::error::ApiResult;
use crate::policy::Target;
use crate::AppState;
use axum::extract::State;
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::Value;

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-availability-zone:list",
        &ctx,
        &Target::own(&ctx),
    )?;
    let (services, aggregates) = state.compute_api.services_and_aggregates(&ctx).await?;
    let zones = get_availability_zones(&state.cfg, &services, &aggregates);
    Ok(Json(views::availability_zones::zones(&zones)))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-availability-zone:detail",
        &ctx,
        &Target::own(&ctx),
    )?;
    let (services, aggregates) = state.compute_api.services_and_aggregates(&ctx).await?;
    let zones = get_zones_with_hosts(&state.cfg, &services, &aggregates);
    Ok(Json(views::availability_zones::detail(&zones)))
}
