//! `faultwrap`: a panic below becomes a 500 `computeFault` instead of a
//! dropped connection, and every 5xx leaves the API logged at error level
//! with its request id and cause ([`ErrorCause`], set by
//! [`ApiError`](crate::error::ApiError) responses).

use super::request_id::RequestId;
use crate::error::{ApiError, ErrorCause, UNEXPECTED};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use std::any::Any;
use std::panic::AssertUnwindSafe;

fn panic_message(p: &(dyn Any + Send)) -> &str {
    p.downcast_ref::<&str>()
        .copied()
        .or_else(|| p.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

pub async fn fault_wrap(req: Request, next: Next) -> Response {
    let request_id = req
        .extensions()
        .get::<RequestId>()
        .map(|r| r.id.clone())
        .unwrap_or_default();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let resp = match AssertUnwindSafe(next.run(req)).catch_unwind().await {
        Ok(resp) => resp,
        Err(p) => ApiError::new(500, UNEXPECTED)
            .with_cause(format!("handler panicked: {}", panic_message(p.as_ref())))
            .into_response(),
    };
    if resp.status().is_server_error() {
        let cause = resp
            .extensions()
            .get::<ErrorCause>()
            .map(|c| c.0.as_str())
            .unwrap_or("no cause recorded");
        tracing::error!(
            request_id = %request_id,
            status = resp.status().as_u16(),
            "{method} {path} failed: {cause}"
        );
    }
    resp
}
