//! `GET /os-console-auth-tokens/{token}` (admin, Nova's `console_auth_tokens.py`):
//! where a live console token leads. Below 2.31 only RDP tokens are shown.

use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::ConsoleAuthToken;
use serde_json::{json, Value};

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(token): Path<String>,
) -> ApiResult<Response> {
    state.policy.authorize(
        "os_compute_api:os-console-auth-tokens",
        &ctx,
        &Target::own(&ctx),
    )?;
    if token.trim().is_empty() {
        return Err(ApiError::bad_request("token not provided"));
    }
    let auth = match state
        .conductor
        .console_auth_token_validate(&ctx, ConsoleAuthToken::hash(&token))
        .await
    {
        Ok(a) => a,
        Err(NovaError::InvalidToken { .. }) => return Err(ApiError::not_found("Token not found")),
        Err(e) => return Err(e.into()),
    };
    if !v.at_least(31) && auth.console_type != "rdp-html5" {
        return Err(ApiError::new(
            401,
            "The requested console type details are not accessible",
        ));
    }
    let mut console = json!({
        "instance_uuid": auth.instance_uuid,
        "host": auth.host,
        "port": auth.port,
        "internal_access_path": auth.internal_access_path,
    });
    // 2.99: the TLS port (spice-direct's); VNC consoles have none.
    if v.at_least(99) {
        console["tls_port"] = Value::Null;
    }
    Ok((StatusCode::OK, Json(json!({ "console": console }))).into_response())
}
