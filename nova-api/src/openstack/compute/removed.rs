//! APIs Nova removed before the release this one follows (20.x): their
//! paths answer `410 Gone` (Nova's `HTTPGone`, as a `computeFault`), every
//! method, so an old script learns the API is gone rather than mistyped.
//! `os-cells` (cells v1), `os-certificates`, `os-cloudpipe`, `os-fping`,
//! `os-floating-ip-dns` and `os-floating-ips-bulk`.

use crate::error::ApiError;
use axum::response::{IntoResponse, Response};

/// The removed collections (each also with anything below it).
pub const REMOVED: &[&str] = &[
    "/os-cells",
    "/os-certificates",
    "/os-cloudpipe",
    "/os-fping",
    "/os-floating-ip-dns",
    "/os-floating-ips-bulk",
];

pub async fn gone() -> Response {
    ApiError::new(
        410,
        "This resource is no longer available.  No forwarding address is given.",
    )
    .into_response()
}
