//! `/limits`: the project's absolute limits and usage.

use super::views;
use crate::error::ApiResult;
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::param;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Query, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::Value;

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let own = ctx.project_id.clone().unwrap_or_default();
    let project = match param(&p, "tenant_id") {
        Some(t) if t != own => {
            state.policy.authorize(
                "os_compute_api:limits:other_project",
                &ctx,
                &Target::project(t),
            )?;
            t.to_string()
        }
        _ => own,
    };
    state
        .policy
        .authorize("os_compute_api:limits", &ctx, &Target::project(&project))?;
    let api = &state.compute_api;
    let l = api.get_project_quotas(&ctx, &project).await?;
    let used = api.quota_usage(&ctx, &project).await?;
    Ok(Json(views::limits::limits(&l, &used, v)))
}
