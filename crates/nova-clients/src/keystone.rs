//! Keystone token validation as keystonemiddleware's auth_token does it
//! (`[keystone_authtoken]`).
//!
//! The service authenticates itself with its own credentials, validates each
//! `X-Auth-Token` with `GET /v3/auth/tokens`, and caches valid tokens until
//! `token_cache_time` or shortly before they expire, whichever comes first.

use chrono::{DateTime, Utc};
use nova_common::config::KeystoneAuthtokenSection;
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::Mutex as AsyncMutex;
use tracing::warn;

/// Upper bound on cached tokens; the oldest half is dropped when full.
const MAX_CACHED_TOKENS: usize = 10_000;
/// A token within this much of its expiry is not served from cache.
const EXPIRY_MARGIN_SECS: i64 = 30;

/// Who a validated token says the caller is.
#[derive(Clone, Debug, PartialEq)]
pub struct Identity {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub project_id: String,
    pub project_name: String,
    pub project_domain_id: String,
    pub roles: Vec<String>,
    pub expires_at: DateTime<Utc>,
}

/// Why a request is not authenticated.
#[derive(Debug)]
pub enum AuthError {
    /// Missing, invalid, expired or revoked token: 401.
    Unauthorized(String),
    /// Keystone cannot be reached or misbehaves: 503, never an open door.
    Unavailable(String),
}

pub struct KeystoneAuth {
    cfg: KeystoneAuthtokenSection,
    http: reqwest::Client,
    service_token: AsyncMutex<Option<(String, DateTime<Utc>)>>,
    cache: Mutex<HashMap<String, (Identity, Instant)>>,
    /// Validations that went to Keystone (for tests and logs).
    pub validations: std::sync::atomic::AtomicU64,
}

fn token_key(token: &str) -> String {
    format!("{:x}", Sha256::digest(token.as_bytes()))
}

fn parse_identity(body: &Value) -> Result<Identity, AuthError> {
    let t = &body["token"];
    let s = |v: &Value| v.as_str().unwrap_or_default().to_string();
    if t["project"].is_null() {
        return Err(AuthError::Unauthorized(
            "The token is not scoped to a project.".into(),
        ));
    }
    let expires_at = t["expires_at"]
        .as_str()
        .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
        .map(|e| e.with_timezone(&Utc))
        .ok_or_else(|| {
            AuthError::Unavailable("Keystone returned a token without expires_at".into())
        })?;
    Ok(Identity {
        user_id: s(&t["user"]["id"]),
        user_name: s(&t["user"]["name"]),
        user_domain_id: s(&t["user"]["domain"]["id"]),
        project_id: s(&t["project"]["id"]),
        project_name: s(&t["project"]["name"]),
        project_domain_id: s(&t["project"]["domain"]["id"]),
        roles: t["roles"]
            .as_array()
            .map(|r| {
                r.iter()
                    .filter_map(|x| x["name"].as_str().map(str::to_lowercase))
                    .collect()
            })
            .unwrap_or_default(),
        expires_at,
    })
}

impl KeystoneAuth {
    pub fn new(cfg: &KeystoneAuthtokenSection) -> Result<Self, String> {
        if cfg.auth_url.is_empty() {
            return Err(
                "[keystone_authtoken] auth_url must be set when [api] auth_strategy = keystone"
                    .into(),
            );
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(cfg.http_connect_timeout))
            .timeout(Duration::from_secs(cfg.http_connect_timeout * 4))
            .build()
            .map_err(|e| e.to_string())?;
        Ok(KeystoneAuth {
            cfg: cfg.clone(),
            http,
            service_token: AsyncMutex::new(None),
            cache: Mutex::new(HashMap::new()),
            validations: std::sync::atomic::AtomicU64::new(0),
        })
    }

    fn base(&self) -> String {
        let u = self.cfg.auth_url.trim_end_matches('/');
        if u.ends_with("/v3") {
            u.to_string()
        } else {
            format!("{u}/v3")
        }
    }

    /// `WWW-Authenticate: Keystone uri="..."`.
    pub fn www_authenticate(&self) -> String {
        let uri = if self.cfg.www_authenticate_uri.is_empty() {
            &self.cfg.auth_url
        } else {
            &self.cfg.www_authenticate_uri
        };
        format!("Keystone uri=\"{uri}\"")
    }

    async fn service_token(&self, refresh: bool) -> Result<String, AuthError> {
        let mut guard = self.service_token.lock().await;
        if !refresh {
            if let Some((t, exp)) = guard.as_ref() {
                if (*exp - Utc::now()).num_seconds() > EXPIRY_MARGIN_SECS {
                    return Ok(t.clone());
                }
            }
        }
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": self.cfg.username,
                "domain": {"name": self.cfg.user_domain_name},
                "password": self.cfg.password,
            }}},
            "scope": {"project": {"name": self.cfg.project_name, "domain": {"name": self.cfg.project_domain_name}}},
        }});
        let resp = self
            .http
            .post(format!("{}/auth/tokens?nocatalog", self.base()))
            .json(&body)
            .send()
            .await
            .map_err(|e| AuthError::Unavailable(format!("Keystone is unreachable: {e}")))?;
        if resp.status() == StatusCode::UNAUTHORIZED {
            return Err(AuthError::Unavailable(
                "Keystone refused nova's own credentials ([keystone_authtoken] username/password)"
                    .into(),
            ));
        }
        if !resp.status().is_success() {
            return Err(AuthError::Unavailable(format!(
                "Keystone answered {} to the service login",
                resp.status()
            )));
        }
        let token = resp
            .headers()
            .get("x-subject-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .ok_or_else(|| AuthError::Unavailable("Keystone returned no X-Subject-Token".into()))?;
        let v: Value = resp
            .json()
            .await
            .map_err(|e| AuthError::Unavailable(e.to_string()))?;
        let exp = v["token"]["expires_at"]
            .as_str()
            .and_then(|e| DateTime::parse_from_rfc3339(e).ok())
            .map(|e| e.with_timezone(&Utc))
            .unwrap_or_else(|| Utc::now() + chrono::Duration::minutes(5));
        *guard = Some((token.clone(), exp));
        Ok(token)
    }

    fn cached(&self, key: &str) -> Option<Identity> {
        let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        let (id, until) = cache.get(key)?;
        (Instant::now() < *until && (id.expires_at - Utc::now()).num_seconds() > EXPIRY_MARGIN_SECS)
            .then(|| id.clone())
    }

    fn remember(&self, key: String, id: &Identity) {
        if self.cfg.token_cache_time <= 0 {
            return;
        }
        let left = (id.expires_at - Utc::now()).num_seconds() - EXPIRY_MARGIN_SECS;
        let secs = left.min(self.cfg.token_cache_time);
        if secs <= 0 {
            return;
        }
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if cache.len() >= MAX_CACHED_TOKENS {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= MAX_CACHED_TOKENS {
                let mut ages: Vec<(String, Instant)> =
                    cache.iter().map(|(k, (_, u))| (k.clone(), *u)).collect();
                ages.sort_by_key(|(_, u)| *u);
                for (k, _) in ages.into_iter().take(MAX_CACHED_TOKENS / 2) {
                    cache.remove(&k);
                }
            }
        }
        cache.insert(
            key,
            (
                id.clone(),
                Instant::now() + Duration::from_secs(secs as u64),
            ),
        );
    }

    /// Validate a user's token.
    pub async fn validate(&self, token: &str) -> Result<Identity, AuthError> {
        let key = token_key(token);
        if let Some(id) = self.cached(&key) {
            return Ok(id);
        }
        self.validations
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let mut refresh = false;
        for _ in 0..2 {
            let service = self.service_token(refresh).await?;
            let resp = self
                .http
                .get(format!("{}/auth/tokens?nocatalog", self.base()))
                .header("X-Auth-Token", &service)
                .header("X-Subject-Token", token)
                .send()
                .await
                .map_err(|e| AuthError::Unavailable(format!("Keystone is unreachable: {e}")))?;
            match resp.status() {
                s if s.is_success() => {
                    let body: Value = resp
                        .json()
                        .await
                        .map_err(|e| AuthError::Unavailable(e.to_string()))?;
                    let id = parse_identity(&body)?;
                    tracing::info!(user = %id.user_id, project = %id.project_id, "validated a token with Keystone");
                    self.remember(key, &id);
                    return Ok(id);
                }
                StatusCode::NOT_FOUND => {
                    return Err(AuthError::Unauthorized(
                        "The token is invalid, expired or revoked.".into(),
                    ))
                }
                // Our own token expired or was revoked: log in again once.
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if !refresh => refresh = true,
                s => {
                    warn!("Keystone answered {s} to a token validation");
                    return Err(AuthError::Unavailable(format!(
                        "Keystone answered {s} to a token validation"
                    )));
                }
            }
        }
        Err(AuthError::Unavailable(
            "Keystone keeps refusing nova's service token".into(),
        ))
    }
}

/// What Keystone said about an EC2 signature (`POST /v3/ec2tokens`).
#[derive(Debug)]
pub enum Ec2AuthError {
    /// Keystone refused the signature: unknown access key, wrong signature,
    /// expired credential or disabled user. Its status and message.
    Refused { status: u16, message: String },
    /// Keystone cannot be reached, refuses nova's own credentials, or fails.
    Unavailable(String),
}

/// What Keystone says of a project id, asked with a user's token.
#[derive(Debug, PartialEq, Eq)]
pub enum ProjectLookup {
    Exists,
    /// 404: Keystone knows no such project.
    Missing,
    /// Keystone could not tell (403 for this user, unreachable, another
    /// answer): why.
    Unknown(String),
}

impl KeystoneAuth {
    /// `GET /v3/projects/{id}` with the caller's token (Nova's
    /// `verify_project_id`).
    pub async fn lookup_project(&self, token: &str, project_id: &str) -> ProjectLookup {
        let url = format!("{}/projects/{project_id}", self.base());
        match self
            .http
            .get(&url)
            .header("X-Auth-Token", token)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => ProjectLookup::Exists,
            Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => ProjectLookup::Missing,
            Ok(r) => ProjectLookup::Unknown(format!("Keystone answered {}", r.status())),
            Err(e) => ProjectLookup::Unknown(format!("Keystone cannot be reached: {e}")),
        }
    }

    /// Keystone's EC2 token URL: `url` if set, else `<auth_url>/v3/ec2tokens`.
    pub fn ec2tokens_url(&self, url: &str) -> String {
        if url.is_empty() {
            format!("{}/ec2tokens", self.base())
        } else {
            url.to_string()
        }
    }

    /// Have Keystone check an EC2 request's signature (`credentials`: access,
    /// signature, host, verb, path, params, headers, body_hash) and issue a
    /// token for the credential's user and project. Keystone (>= Train)
    /// answers only a service or admin caller, so nova's own token goes
    /// with it. The caller's identity and the new token.
    pub async fn ec2_authenticate(
        &self,
        url: &str,
        credentials: &Value,
    ) -> Result<(Identity, String), Ec2AuthError> {
        let url = self.ec2tokens_url(url);
        let body = json!({ "credentials": credentials });
        let unavailable = |e: AuthError| match e {
            AuthError::Unauthorized(m) | AuthError::Unavailable(m) => Ec2AuthError::Unavailable(m),
        };
        let mut refresh = false;
        for _ in 0..2 {
            let service = self.service_token(refresh).await.map_err(unavailable)?;
            let resp = self
                .http
                .post(&url)
                .header("X-Auth-Token", &service)
                .json(&body)
                .send()
                .await
                .map_err(|e| Ec2AuthError::Unavailable(format!("Keystone is unreachable: {e}")))?;
            let status = resp.status();
            let token = resp
                .headers()
                .get("x-subject-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            let message = v["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            match status {
                s if s.is_success() => {
                    let token = token.ok_or_else(|| {
                        Ec2AuthError::Unavailable("Keystone returned no X-Subject-Token".into())
                    })?;
                    let id = parse_identity(&v).map_err(unavailable)?;
                    tracing::info!(user = %id.user_id, project = %id.project_id, "Keystone accepted an EC2 signature");
                    return Ok((id, token));
                }
                // Keystone's own "requires authentication" is about nova's token
                // (expired or revoked): log in again once. Anything else is the
                // signature's fault.
                StatusCode::UNAUTHORIZED
                    if !refresh
                        && message
                            .starts_with("The request you have made requires authentication") =>
                {
                    refresh = true
                }
                StatusCode::FORBIDDEN => {
                    warn!("Keystone refused nova's token for ec2tokens: {message}");
                    return Err(Ec2AuthError::Unavailable(format!(
                        "Keystone does not let nova validate EC2 signatures (give its user the service or admin role): {message}"
                    )));
                }
                s if s.is_client_error() => {
                    return Err(Ec2AuthError::Refused {
                        status: s.as_u16(),
                        message,
                    })
                }
                s => {
                    warn!("Keystone answered {s} to an EC2 signature validation: {message}");
                    return Err(Ec2AuthError::Unavailable(format!(
                        "Keystone answered {s} to an EC2 signature validation"
                    )));
                }
            }
        }
        Err(Ec2AuthError::Unavailable(
            "Keystone keeps refusing nova's service token".into(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_token_body() {
        let b = json!({"token": {"expires_at": "2030-01-01T00:00:00.000000Z",
            "user": {"id": "u", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "project": {"id": "p", "name": "demo", "domain": {"id": "default", "name": "Default"}},
            "roles": [{"id": "1", "name": "member"}, {"id": "2", "name": "Reader"}]}});
        let id = parse_identity(&b).map_err(|_| ()).expect("parses");
        assert_eq!(id.project_id, "p");
        assert_eq!(id.roles, vec!["member", "reader"]);
        let unscoped =
            json!({"token": {"expires_at": "2030-01-01T00:00:00Z", "user": {"id": "u"}}});
        assert!(matches!(
            parse_identity(&unscoped),
            Err(AuthError::Unauthorized(_))
        ));
    }
}
