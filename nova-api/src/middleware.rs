//! The request pipeline, in Nova's api-paste order.

use crate::auth;
use crate::error::ApiError;
use crate::microversion::ApiVersion;
use crate::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::FutureExt;
use nova_common::context::generate_request_id;
use nova_common::RequestContext;
use std::panic::AssertUnwindSafe;
use std::time::Instant;
use tracing::{info, Instrument};

/// The public base URL, for links (`[api] compute_link_prefix` or the Host header).
#[derive(Clone, Debug)]
pub struct BaseUrl(pub String);

fn is_unauthenticated(path: &str) -> bool {
    matches!(path, "/" | "/v2.1" | "/v2.1/")
}

pub async fn pipeline(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    // request id
    let request_id = generate_request_id();
    let span = tracing::info_span!("api", request_id = %request_id);
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = Instant::now();
    async move {
        let global = req
            .headers()
            .get("x-openstack-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| v.starts_with("req-") && v.len() == 40)
            .map(str::to_string);
        // fault wrap: a panic becomes a computeFault, not a dropped connection.
        let resp = AssertUnwindSafe(inner(&state, &mut req, next, &request_id, global))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| {
                tracing::error!("handler panicked");
                ApiError::new(500, "Unexpected API Error. Please report this at http://bugs.launchpad.net/nova/ and attach the Nova API log if possible.").into_response()
            });
        let mut resp = resp;
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            h.insert(HeaderName::from_static("x-openstack-request-id"), v.clone());
            h.insert(HeaderName::from_static("x-compute-request-id"), v);
        }
        // request log
        info!(
            "{} {} status: {} len: {} time: {:.7}",
            method,
            path,
            resp.status().as_u16(),
            resp.headers().get("content-length").and_then(|v| v.to_str().ok()).unwrap_or("-"),
            started.elapsed().as_secs_f64()
        );
        resp
    }
    .instrument(span)
    .await
}

async fn inner(
    state: &AppState,
    req: &mut Request,
    next: Next,
    request_id: &str,
    global_request_id: Option<String>,
) -> Response {
    // size limit
    let max = state.cfg.api.max_request_body_size;
    let too_big = req
        .headers()
        .get("content-length")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|n| n > max);
    if too_big {
        return ApiError::new(413, "Request is too large.").into_response();
    }
    let base = if state.cfg.api.compute_link_prefix.is_empty() {
        let host = req
            .headers()
            .get("host")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("localhost");
        let proto = req
            .headers()
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("http");
        format!("{proto}://{host}")
    } else {
        state
            .cfg
            .api
            .compute_link_prefix
            .trim_end_matches('/')
            .to_string()
    };
    req.extensions_mut().insert(BaseUrl(base.clone()));
    let path = req.uri().path().to_string();
    if is_unauthenticated(&path) {
        let r = std::mem::replace(req, Request::new(Body::empty()));
        return next.run(r).await;
    }
    // auth + context
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let mut ctx = match (&state.auth, token) {
        (Some(ks), None) => return auth::unauthorized(&ks.www_authenticate(), ""),
        (Some(ks), Some(token)) => match ks.validate(&token).await {
            Ok(id) => {
                let mut c = RequestContext::new(&id.user_id, &id.project_id, id.roles, false);
                c.auth_token = Some(token);
                c
            }
            Err(auth::AuthError::Unauthorized(why)) => {
                return auth::unauthorized(&ks.www_authenticate(), &why)
            }
            Err(auth::AuthError::Unavailable(why)) => {
                tracing::error!("cannot validate a token: {why}");
                return auth::unavailable(&why);
            }
        },
        // noauth2, as Nova's NoAuthMiddleware: no token answers with one.
        (None, None) => {
            let user = header(req, "x-auth-user").unwrap_or_else(|| "admin".into());
            let project = header(req, "x-auth-project-id").unwrap_or_else(|| "admin".into());
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{user}:{project}")) {
                resp.headers_mut().insert("x-auth-token", v);
            }
            if let Ok(v) = HeaderValue::from_str(&format!("{base}/v2.1")) {
                resp.headers_mut().insert("x-server-management-url", v);
            }
            return resp;
        }
        (None, Some(token)) => {
            let (user, project) = match token.split_once(':') {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => (token.clone(), token.clone()),
            };
            // Roles from X-Roles; without it a member (and reader), plus admin for "admin".
            let mut roles: Vec<String> = header(req, "x-roles")
                .map(|r| {
                    r.split(',')
                        .map(|s| s.trim().to_lowercase())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_else(|| vec!["member".into(), "reader".into()]);
            if user == "admin" && !roles.iter().any(|r| r == "admin") {
                roles.push("admin".into());
            }
            let mut c = RequestContext::new(&user, &project, roles, false);
            c.auth_token = Some(token);
            c
        }
    };
    ctx.is_admin = state
        .policy
        .allows("context_is_admin", &ctx, &crate::policy::Target::own(&ctx));
    ctx.request_id = request_id.to_string();
    ctx.global_request_id = global_request_id;
    req.extensions_mut().insert(ctx);
    // microversion
    let version = match ApiVersion::from_headers(req.headers()) {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    req.extensions_mut().insert(version);
    let r = std::mem::replace(req, Request::new(Body::empty()));
    let mut resp = next.run(r).await;
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

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub async fn not_found(method: Method) -> Response {
    let _ = method;
    ApiError::not_found("The resource could not be found.").into_response()
}
