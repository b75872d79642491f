//! `keystonecontext`: the [`RequestContext`] of an authenticated request,
//! from the caller the auth layer found and the request's ids; `is_admin`
//! is the policy's `context_is_admin`.

use super::auth::Caller;
use super::request_id::RequestId;
use crate::policy::{Policy, Target};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nova_common::RequestContext;
use std::sync::Arc;

pub async fn context(State(policy): State<Arc<Policy>>, mut req: Request, next: Next) -> Response {
    let Some(caller) = req.extensions_mut().remove::<Caller>() else {
        // A stack without the auth layer in front of this one.
        return crate::error::ApiError::new(500, crate::error::UNEXPECTED)
            .with_cause("no authenticated caller: the auth layer is missing")
            .into_response();
    };
    let mut ctx = RequestContext::new(&caller.user_id, &caller.project_id, caller.roles, false);
    ctx.auth_token = Some(caller.auth_token);
    ctx.is_admin = policy.allows("context_is_admin", &ctx, &Target::own(&ctx));
    if let Some(ids) = req.extensions().get::<RequestId>() {
        ctx.request_id = ids.id.clone();
        ctx.global_request_id = ids.global.clone();
    }
    req.extensions_mut().insert(ctx);
    next.run(req).await
}
