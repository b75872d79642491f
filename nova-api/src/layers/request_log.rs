//! `request_log`: one line per request, as Nova's RequestLog writes it.

use axum::body::HttpBody;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use std::time::Instant;
use tracing::info;

pub async fn request_log(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    let resp = next.run(req).await;
    let len = resp
        .body()
        .size_hint()
        .exact()
        .map(|n| n.to_string())
        .or_else(|| {
            resp.headers()
                .get("content-length")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        })
        .unwrap_or_else(|| "-".into());
    info!(
        "{} {} status: {} len: {} time: {:.7}",
        method,
        path,
        resp.status().as_u16(),
        len,
        started.elapsed().as_secs_f64()
    );
    resp
}
