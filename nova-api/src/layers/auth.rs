//! `authtoken` (keystonemiddleware) or `noauth2` (Nova's NoAuthMiddleware):
//! who is calling. Keystone tokens are validated by
//! `nova_clients::keystone`; a missing or bad token is keystonemiddleware's
//! 401, Keystone not answering is a 503. The caller's [`Caller`] goes into
//! the request for the context layer.

use crate::error::ApiError;
use crate::openstack::common::BaseUrl;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_clients::keystone::{AuthError, KeystoneAuth};
use nova_common::NovaConfig;
use serde_json::json;
use std::sync::Arc;

/// `[api] auth_strategy`.
#[derive(Clone)]
pub enum AuthStrategy {
    Keystone(Arc<KeystoneAuth>),
    /// Trust `X-Auth-Token: user:project` (development and tests only).
    NoAuth2 {
        compute_link_prefix: String,
    },
}

impl AuthStrategy {
    pub fn from_config(cfg: &NovaConfig) -> Result<Self, String> {
        Ok(match cfg.api.auth_strategy.as_str() {
            "keystone" => {
                AuthStrategy::Keystone(Arc::new(KeystoneAuth::new(&cfg.keystone_authtoken)?))
            }
            _ => AuthStrategy::NoAuth2 {
                compute_link_prefix: cfg.api.compute_link_prefix.clone(),
            },
        })
    }
}

/// The authenticated caller, as keystonemiddleware's `X-User-Id`,
/// `X-Project-Id` and `X-Roles` headers describe it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user_id: String,
    pub project_id: String,
    pub roles: Vec<String>,
    pub auth_token: String,
}

/// keystonemiddleware's 401.
fn unauthorized(www_authenticate: &str, why: &str) -> Response {
    let body = json!({"error": {"code": 401, "title": "Unauthorized",
        "message": format!("The request you have made requires authentication. {why}").trim().to_string()}});
    let mut resp = (StatusCode::UNAUTHORIZED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(www_authenticate) {
        resp.headers_mut().insert("www-authenticate", v);
    }
    resp
}

fn unavailable(why: &str) -> Response {
    ApiError::new(
        503,
        format!("The identity service (Keystone) is unavailable: {why}"),
    )
    .with_cause(format!("cannot validate a token: {why}"))
    .into_response()
}

fn header(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub async fn auth(State(strategy): State<AuthStrategy>, mut req: Request, next: Next) -> Response {
    let token = header(&req, "x-auth-token");
    let caller = match (&strategy, token) {
        (AuthStrategy::Keystone(ks), None) => {
            return unauthorized(&ks.www_authenticate(), "");
        }
        (AuthStrategy::Keystone(ks), Some(token)) => match ks.validate(&token).await {
            Ok(id) => Caller {
                user_id: id.user_id,
                project_id: id.project_id,
                roles: id.roles,
                auth_token: token,
            },
            Err(AuthError::Unauthorized(why)) => {
                return unauthorized(&ks.www_authenticate(), &why);
            }
            Err(AuthError::Unavailable(why)) => return unavailable(&why),
        },
        // As Nova's NoAuthMiddleware: no token answers with one.
        (
            AuthStrategy::NoAuth2 {
                compute_link_prefix,
            },
            None,
        ) => {
            let user = header(&req, "x-auth-user").unwrap_or_else(|| "admin".into());
            let project = header(&req, "x-auth-project-id").unwrap_or_else(|| "admin".into());
            let base = BaseUrl::from_headers(compute_link_prefix, req.headers(), None);
            let mut resp = StatusCode::NO_CONTENT.into_response();
            if let Ok(v) = HeaderValue::from_str(&format!("{user}:{project}")) {
                resp.headers_mut().insert("x-auth-token", v);
            }
            if let Ok(v) = HeaderValue::from_str(&base.versioned) {
                resp.headers_mut().insert("x-server-management-url", v);
            }
            return resp;
        }
        (AuthStrategy::NoAuth2 { .. }, Some(token)) => {
            let (user, project) = match token.split_once(':') {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => (token.clone(), token.clone()),
            };
            // Roles from X-Roles; without it a member (and reader), plus admin for "admin".
            let mut roles: Vec<String> = header(&req, "x-roles")
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
            Caller {
                user_id: user,
                project_id: project,
                roles,
                auth_token: token,
            }
        }
    };
    req.extensions_mut().insert(caller);
    next.run(req).await
}
