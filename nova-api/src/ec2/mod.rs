//! The EC2 API (`ec2`, port 8773): the AWS Query protocol over GET and
//! POST, signatures checked by Keystone, actions carried out by the same
//! [`compute::api`](crate::compute::api) as the compute API.
//!
//! Pipeline, as Nova's `[composite:ec2]` (`ec2faultwrap logrequest
//! ec2keystoneauth cloudrequest validator ec2executor`):
//!
//! ```text
//! request_id → run_to_completion → ec2_fault_wrap → request_log → size_limit
//!   → ec2_keystone_auth → context → executor (cloud.rs)
//! ```
//!
//! - [`apirequest`]: arguments and XML; [`faults`]: EC2 errors and their layer;
//! - [`auth`]: signatures (Keystone `ec2tokens`); [`ec2utils`]: ids and states;
//! - [`cloud`]: one function per action (Nova's `CloudController`).

pub mod apirequest;
pub mod auth;
pub mod cloud;
pub mod ec2utils;
pub mod faults;

use crate::layers::request_id::RequestId;
use crate::layers::{context, request_id, request_log, run_to_completion, size_limit};
use crate::AppState;
use apirequest::{render_response, Params};
use auth::Ec2Request;
use axum::extract::State;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use faults::{ok_xml, Ec2Error};
use nova_common::RequestContext;
use tower::ServiceBuilder;
use tracing::Instrument;

/// What an action answers: the elements inside `<{Action}Response>`.
pub type Body = Vec<(String, apirequest::X)>;

/// `ec2executor`: the action named by `Action`, rendered in the namespace of `Version`.
async fn executor(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(req): Extension<Ec2Request>,
    Extension(ids): Extension<RequestId>,
) -> Response {
    let all = &req.params;
    let get = |k: &str| {
        all.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .filter(|v| !v.is_empty())
    };
    let Some(action) = get("Action") else {
        return Ec2Error::new(
            "MissingAction",
            "The request must contain the parameter Action",
        )
        .into_response();
    };
    let Some(version) = get("Version") else {
        return Ec2Error::missing_parameter("Version").into_response();
    };
    if !version
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Ec2Error::invalid_value("Version", &version).into_response();
    }
    let params = Params::from_request(all);
    let span = tracing::info_span!("ec2", action = %action);
    let result = cloud::dispatch(&state, &ctx, &action, &params)
        .instrument(span)
        .await;
    match result {
        Ok(body) => ok_xml(render_response(&action, &version, &ids.id, &body)),
        Err(e) => e.into_response(),
    }
}

/// The `ec2` application with its own layer stack.
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", axum::routing::any(executor))
        .fallback(executor)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(request_id::request_id))
                .layer(from_fn(run_to_completion::run_to_completion))
                .layer(from_fn(faults::ec2_fault_wrap))
                .layer(from_fn(request_log::request_log))
                .layer(from_fn_with_state(
                    state.cfg.api.max_request_body_size,
                    size_limit::size_limit,
                ))
                .layer(from_fn_with_state(state.clone(), auth::ec2_keystone_auth))
                .layer(from_fn_with_state(state.policy.clone(), context::context)),
        )
        .with_state(state)
}
