//! `compute_req_id` (oslo.middleware's RequestId): every request gets a
//! `req-<uuid>`, returned as `x-openstack-request-id` and
//! `x-compute-request-id`, and a tracing span carrying it, so every log line
//! of the request names it. A well-formed incoming `x-openstack-request-id`
//! becomes the global request id.

use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use nova_common::context::generate_request_id;
use tracing::Instrument;

/// The request's ids, for the layers and handlers below.
#[derive(Clone, Debug)]
pub struct RequestId {
    pub id: String,
    /// The caller's id (another service's request this one is part of).
    pub global: Option<String>,
}

fn is_request_id(v: &str) -> bool {
    v.starts_with("req-") && v.len() == 40 && uuid::Uuid::parse_str(&v[4..]).is_ok()
}

pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = generate_request_id();
    let global = req
        .headers()
        .get("x-openstack-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| is_request_id(v))
        .map(str::to_string);
    let span = tracing::info_span!("api", request_id = %id);
    req.extensions_mut().insert(RequestId {
        id: id.clone(),
        global,
    });
    let mut resp = next.run(req).instrument(span).await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        let h = resp.headers_mut();
        h.insert(HeaderName::from_static("x-openstack-request-id"), v.clone());
        h.insert(HeaderName::from_static("x-compute-request-id"), v);
    }
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_well_formed_ids_are_taken() {
        assert!(super::is_request_id(
            "req-7d8e2f4c-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
        ));
        assert!(!super::is_request_id("req-nope"));
        assert!(!super::is_request_id(
            "abc-7d8e2f4c-1b2a-4c3d-9e8f-0a1b2c3d4e5f"
        ));
    }
}
