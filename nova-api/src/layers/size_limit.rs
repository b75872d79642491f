//! `sizelimit`: a body larger than `[wsgi] max_request_body_size` is refused
//! with 413 before anything reads it.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// `State` is the limit in bytes.
pub async fn size_limit(State(max): State<usize>, req: Request, next: Next) -> Response {
    let too_big = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > max);
    if too_big {
        return ApiError::new(413, "Request is too large.").into_response();
    }
    next.run(req).await
}
