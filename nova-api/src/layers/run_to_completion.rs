//! A request, once accepted, runs to its end whether or not the client
//! stays connected. Hyper drops a request's future when its client hangs
//! up; a handler dropped between "task_state set" and "cast sent" (or in the
//! middle of a multi-instance create) would leave servers in states nothing
//! clears. Here the rest of the pipeline runs in a task of its own: the
//! client going away drops only the wait for the response.

use crate::error::{ApiError, UNEXPECTED};
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

pub async fn run_to_completion(req: Request, next: Next) -> Response {
    let span = tracing::Span::current();
    match tokio::spawn(next.run(req).instrument(span)).await {
        Ok(resp) => resp,
        Err(e) => ApiError::new(500, UNEXPECTED)
            .with_cause(format!("request task failed: {e}"))
            .into_response(),
    }
}
