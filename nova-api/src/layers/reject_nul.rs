//! A NUL character can never be stored (PostgreSQL refuses it in text) and
//! is never meaningful in Nova's URLs: a path or query string carrying one,
//! raw or percent-encoded, is a 400 before any handler sees it. (JSON bodies
//! are checked field by field in [`json_body`](crate::openstack::common::json_body).)

use crate::error::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Whether `s`, percent-decoded, contains NUL.
fn has_nul(s: &str) -> bool {
    s.contains('\0') || s.to_ascii_lowercase().contains("%00")
}

pub async fn reject_nul(req: Request, next: Next) -> Response {
    let uri = req.uri();
    if has_nul(uri.path()) || uri.query().is_some_and(has_nul) {
        return ApiError::bad_request("Invalid input: the URL contains a NUL character.")
            .into_response();
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn encoded_and_raw_nul_are_found() {
        assert!(super::has_nul("/v2.1/os-keypairs/a%00b"));
        assert!(super::has_nul("name=x%00"));
        assert!(!super::has_nul("/v2.1/servers/detail"));
        assert!(!super::has_nul("name=100%25"));
    }
}
