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
//! - [`cloud`]: the dispatch and one function per action (Nova's `CloudController`), by concern in `cloud/`.

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

#[cfg(test)]
mod tests {
    //! The stack over HTTP with noauth2, on actions that need no RPC.

    use super::*;
    use axum::body::Body as HttpBody;
    use axum::http::{Request, StatusCode};
    use nova_common::NovaConfig;
    use tower::ServiceExt;

    async fn call(req: Request<HttpBody>) -> (StatusCode, axum::http::HeaderMap, String) {
        let cfg = NovaConfig::parse_text(
            "[api]\nauth_strategy = noauth2\n[DEFAULT]\nec2_host = ec2.example\n",
        )
        .expect("cfg");
        let transport = nova_rpc::Transport::start(&cfg, "test").expect("transport");
        let resp = app(crate::test_state(&cfg, &transport))
            .oneshot(req)
            .await
            .expect("infallible");
        transport.close().await;
        let (parts, body) = resp.into_parts();
        let bytes = axum::body::to_bytes(body, 1 << 20).await.expect("body");
        (
            parts.status,
            parts.headers,
            String::from_utf8_lossy(&bytes).to_string(),
        )
    }

    const SIGNED: &str = "AWSAccessKeyId=demo%3Ademo&SignatureVersion=2&SignatureMethod=HmacSHA256\
                          &Timestamp=2026-12-04T06%3A00%3A00Z&Signature=x";

    #[tokio::test]
    async fn query_protocol_over_get_and_post() {
        let uri = format!("/?Action=DescribeRegions&Version=2014-10-01&{SIGNED}");
        let (s, h, b) = call(Request::get(uri).body(HttpBody::empty()).expect("req")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert_eq!(h["content-type"], "text/xml");
        assert!(b.contains("<DescribeRegionsResponse xmlns=\"http://ec2.amazonaws.com/doc/2014-10-01/\"><requestId>req-"), "{b}");
        assert!(b.contains("<regionInfo><item><regionName>nova</regionName><regionEndpoint>http://ec2.example:8773/</regionEndpoint>"), "{b}");
        let form =
            format!("Action=DescribeRegions&Version=2016-11-15&RegionName.1=nowhere&{SIGNED}");
        let req = Request::post("/")
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .body(HttpBody::from(form))
            .expect("req");
        let (s, _, b) = call(req).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        assert!(
            b.contains("2016-11-15") && b.contains("<regionInfo></regionInfo>"),
            "{b}"
        );
    }

    #[tokio::test]
    async fn client_mistakes_are_ec2_errors_with_request_ids() {
        let err = |b: &str, code: &str| {
            assert!(
                b.starts_with("<?xml version=\"1.0\"?>\n<Response><Errors><Error><Code>"),
                "{b}"
            );
            assert!(b.contains(&format!("<Code>{code}</Code>")), "{b}");
            assert!(b.contains("<RequestID>req-"), "{b}");
        };
        let get = |q: String| Request::get(q).body(HttpBody::empty()).expect("req");
        let (s, h, b) = call(get(format!("/?Action=RunAway&Version=2016-11-15&{SIGNED}"))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        err(&b, "InvalidAction");
        assert!(h.get("x-openstack-request-id").is_some());
        let (s, _, b) = call(get(format!("/?Action=DescribeRegions&{SIGNED}"))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        err(&b, "MissingParameter");
        let (s, _, b) = call(get("/?Action=DescribeRegions&Version=2016-11-15".into())).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED);
        err(&b, "MissingAuthenticationToken");
        let (s, _, b) = call(get(format!("/?Action=DescribeRegions&Version=2016-11-15&Filter.1.Name=bogus&Filter.1.Value.1=x&{SIGNED}"))).await;
        assert_eq!(s, StatusCode::BAD_REQUEST);
        err(&b, "InvalidParameterValue");
        let req = Request::post("/")
            .header("content-length", "99999999")
            .body(HttpBody::empty())
            .expect("req");
        let (s, _, b) = call(req).await;
        assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE);
        err(&b, "RequestEntityTooLarge");
    }
}
