//! Microversion negotiation: the request's [`ApiVersion`] from
//! `OpenStack-API-Version: compute X.Y` (or `X-OpenStack-Nova-API-Version`),
//! 400 when malformed, 406 when out of range, and the version echoed in the
//! response with `Vary`.

use crate::openstack::api_version_request::ApiVersion;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

pub async fn microversion(mut req: Request, next: Next) -> Response {
    let version = match ApiVersion::from_headers(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(version);
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("compute {version}")) {
        h.insert("openstack-api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&version.to_string()) {
        h.insert("x-openstack-nova-api-version", v);
    }
    h.insert(
        "vary",
        HeaderValue::from_static("OpenStack-API-Version, X-OpenStack-Nova-API-Version"),
    );
    resp
}
