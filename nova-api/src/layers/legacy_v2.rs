//! `/v2`: the v2.1 API for clients of the old v2 endpoint (Nova's
//! `legacy_v2_compatible` pipeline, `LegacyV2CompatibleWrapper`), for
//! catalogs that still register compute as `.../v2/%(tenant_id)s`. The
//! same routes answer, at the base version: microversion headers are
//! dropped from the request (so a request is 2.1, as the frozen v2 API)
//! and from the response, with their `Vary`; links point under `/v2`.
//!
//! Nova also relaxes its body schemas there (unknown keys are stripped
//! rather than refused); here a body is checked as v2.1 checks it.

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

/// The request came in under `/v2`.
#[derive(Clone, Copy, Debug)]
pub struct LegacyV2;

const VERSION_HEADERS: [&str; 2] = ["openstack-api-version", "x-openstack-nova-api-version"];

/// `/v2/rest` → `/v2.1/rest`.
fn to_v21(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/v2/")?;
    Some(format!("/v2.1/{rest}"))
}

pub async fn legacy_v2(mut req: Request, next: Next) -> Response {
    let Some(path) = to_v21(req.uri().path()) else {
        return next.run(req).await;
    };
    if !super::set_path(&mut req, &path) {
        return next.run(req).await;
    }
    req.extensions_mut().insert(LegacyV2);
    for h in VERSION_HEADERS {
        req.headers_mut().remove(h);
    }
    let mut resp = next.run(req).await;
    let headers = resp.headers_mut();
    for h in VERSION_HEADERS {
        headers.remove(h);
    }
    let vary: Vec<String> = headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty() && !VERSION_HEADERS.contains(&v.to_ascii_lowercase().as_str()))
        .map(str::to_string)
        .collect();
    headers.remove("vary");
    if let Ok(v) = HeaderValue::from_str(&vary.join(", ")) {
        if !vary.is_empty() {
            headers.insert("vary", v);
        }
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::to_v21;

    #[test]
    fn v2_paths_are_v21_ones() {
        assert_eq!(to_v21("/v2/servers").as_deref(), Some("/v2.1/servers"));
        assert_eq!(
            to_v21("/v2/0123abcd/servers/detail").as_deref(),
            Some("/v2.1/0123abcd/servers/detail")
        );
        assert_eq!(to_v21("/v2.1/servers"), None);
        assert_eq!(to_v21("/v20/servers"), None);
    }
}
