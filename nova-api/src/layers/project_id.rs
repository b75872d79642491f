//! URLs that name the project (Nova's `ProjectMapper`, optional from 2.18):
//! `/v2.1/{project_id}/servers` is `/v2.1/servers`, for catalogs that still
//! register the compute endpoint as `.../v2.1/%(tenant_id)s`. `strip` takes
//! the segment (hex and dashes, as Nova's `[0-9a-f-]+`) out of the path
//! before routing; `check` answers Nova's 400 when it is not the token's
//! project.

use crate::error::ApiError;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use nova_common::RequestContext;

/// The project id a request's URL named.
#[derive(Clone, Debug)]
pub struct UrlProjectId(pub String);

/// Nova's project id token: hex digits and dashes.
fn is_project_id(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-')
}

/// `/v2.1/{project_id}/rest` → (`project_id`, `/v2.1/rest`).
fn split(path: &str) -> Option<(&str, String)> {
    let rest = path.strip_prefix("/v2.1/")?;
    let (segment, tail) = rest.split_once('/')?;
    (is_project_id(segment) && !tail.is_empty()).then(|| (segment, format!("/v2.1/{tail}")))
}

pub async fn strip(mut req: Request, next: Next) -> Response {
    if let Some((project, path)) = split(req.uri().path()) {
        let project = project.to_string();
        if super::set_path(&mut req, &path) {
            req.extensions_mut().insert(UrlProjectId(project));
        }
    }
    next.run(req).await
}

pub async fn check(req: Request, next: Next) -> Response {
    let named = req.extensions().get::<UrlProjectId>();
    let ctx = req.extensions().get::<RequestContext>();
    if let (Some(UrlProjectId(url)), Some(ctx)) = (named, ctx) {
        if ctx.project_id.as_deref() != Some(url.as_str()) {
            let own = ctx.project_id.clone().unwrap_or_default();
            return ApiError::bad_request(format!(
                "Malformed request URL: URL's project_id '{url}' doesn't match Context's project_id '{own}'"
            ))
            .into_response();
        }
    }
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn only_a_hex_segment_before_a_resource_is_a_project() {
        let p = "0123456789abcdef0123456789abcdef";
        assert_eq!(
            split(&format!("/v2.1/{p}/servers/detail")),
            Some((p, "/v2.1/servers/detail".to_string()))
        );
        assert_eq!(split("/v2.1/servers/detail"), None);
        assert_eq!(split("/v2.1/flavors"), None);
        assert_eq!(split(&format!("/v2.1/{p}")), None);
        assert_eq!(
            split("/v2.1/ABCDEF/servers"),
            None,
            "Nova's regex is lower case"
        );
    }
}
