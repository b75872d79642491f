//! `faultwrap`: a panic below becomes a 500 `computeFault` instead of a
//! dropped connection, every error answer is a Nova fault body (the
//! router's own refusals too: a method a path does not take, a path segment
//! that is not UTF-8), and every 5xx leaves the API logged at error level
//! with its request id and cause ([`ErrorCause`], set by
//! [`ApiError`](crate::error::ApiError) responses).

use super::request_id::RequestId;
use crate::error::{ApiError, ErrorCause, UNEXPECTED};
use axum::extract::Request;
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::{Method, StatusCode};
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

/// An error answer that is not JSON (axum's rejections are plain text, a
/// 405 empty) as Nova's fault body with the same status and headers.
async fn as_fault(resp: Response, method: &Method) -> Response {
    let status = resp.status();
    let json = resp
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|c| c.to_str().ok())
        .is_some_and(|c| c.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            format!("The method {method} is not allowed for this resource.")
        }
        _ if !text.is_empty() => text,
        _ => status.canonical_reason().unwrap_or("Error").to_string(),
    };
    let mut out = ApiError::new(status.as_u16(), message).into_response();
    for (name, value) in &parts.headers {
        if name != CONTENT_TYPE && name != CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
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
    let resp = as_fault(resp, &method).await;
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
