//! Authentication responses for nova-api: keystonemiddleware's 401 and
//! a 503 when Keystone cannot answer. Validation itself is
//! `nova_clients::keystone`.

use crate::error::ApiError;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

pub use nova_clients::keystone::{AuthError, KeystoneAuth};

/// keystonemiddleware's 401.
pub fn unauthorized(www_authenticate: &str, why: &str) -> Response {
    let body = json!({"error": {"code": 401, "title": "Unauthorized",
        "message": format!("The request you have made requires authentication. {why}").trim().to_string()}});
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(www_authenticate) {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

pub fn unavailable(why: &str) -> Response {
    ApiError::new(
        503,
        format!("The identity service (Keystone) is unavailable: {why}"),
    )
    .into_response()
}
