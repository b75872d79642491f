//! The request pipeline as separate tower layers, one per filter of Nova's
//! api-paste pipeline, so that each listener composes its own stack:
//!
//! ```text
//! request_id → run_to_completion → fault → request_log → size_limit → reject_nul
//!   → legacy_v2 → project_id::strip → auth → context → microversion → project_id::check → handler
//! ```
//!
//! Each module exports an `axum::middleware` function (with its own small
//! state where it needs one); `openstack::compute::app` shows the
//! composition for the compute API.

pub mod auth;
pub mod context;
pub mod fault;
pub mod legacy_v2;
pub mod microversion;
pub mod project_id;
pub mod reject_nul;
pub mod request_id;
pub mod request_log;
pub mod run_to_completion;
pub mod size_limit;

/// Route `req` as if it had asked for `path` (its query kept); false when
/// the result is not a URI.
pub(crate) fn set_path(req: &mut axum::extract::Request, path: &str) -> bool {
    let pq = match req.uri().query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    let Ok(pq) = pq.parse() else {
        return false;
    };
    parts.path_and_query = Some(pq);
    match axum::http::Uri::from_parts(parts) {
        Ok(uri) => {
            *req.uri_mut() = uri;
            true
        }
        Err(_) => false,
    }
}
