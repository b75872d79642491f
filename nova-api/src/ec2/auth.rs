//! `ec2keystoneauth`: who signed the request. The signature is checked by
//! Keystone (`POST /v3/ec2tokens`, as ec2-api and Nova's EC2 API did), which
//! answers with a token for the credential's user and project; that caller
//! then goes through the same context and policy as the compute API.
//!
//! Accepted: SigV4 in the `Authorization` header or presigned (`X-Amz-*`
//! query parameters), and SigV2 (`Signature`, `SignatureVersion=2`). The
//! request's age is checked here first (`ec2_timestamp_expiry`). With
//! `[api] auth_strategy = noauth2` (development only), the access key is
//! taken as `user:project` and nothing is verified, as Nova's `ec2noauth`.

use super::faults::Ec2Error;
use crate::layers::auth::{AuthStrategy, Caller};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDateTime, Utc};
use nova_clients::keystone::Ec2AuthError;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The whole request, once read: every parameter (query, then form body).
#[derive(Clone, Debug, Default)]
pub struct Ec2Request {
    pub params: Vec<(String, String)>,
}

/// How a request is signed, and what Keystone needs to check it.
#[derive(Debug, PartialEq)]
pub struct Signed {
    pub access: String,
    pub signature: String,
    /// Parameters Keystone signs over (v2: all but `Signature`; v4: the query's).
    pub params: Vec<(String, String)>,
    /// When the request was signed, and until when it is valid (if it says).
    pub timestamp: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
}

fn form(bytes: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(bytes).into_owned().collect()
}

fn param<'a>(p: &'a [(String, String)], k: &str) -> Option<&'a str> {
    p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str())
}

/// `Authorization: AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., Signature=...`.
fn v4_header_field<'a>(auth: &'a str, name: &str) -> Option<&'a str> {
    auth.strip_prefix("AWS4-HMAC-SHA256")?
        .split(',')
        .map(str::trim)
        .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
}

fn parse_amz_date(v: &str) -> Option<DateTime<Utc>> {
    NaiveDateTime::parse_from_str(v, "%Y%m%dT%H%M%SZ")
        .ok()
        .map(|t| t.and_utc())
}

/// v2's `Timestamp`/`Expires`: ISO 8601, with or without fractions or zone.
fn parse_iso(v: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            let v = v.trim_end_matches('Z');
            ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(v, f).ok())
                .map(|t| t.and_utc())
        })
}

/// Find the signature in a request, and refuse what Keystone could not check.
pub fn signed(
    headers: &HeaderMap,
    query: &[(String, String)],
    all: &[(String, String)],
) -> Result<Signed, Ec2Error> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let incomplete = |what: &str| {
        Ec2Error::new(
            "IncompleteSignature",
            format!("The request signature is incomplete: {what}"),
        )
    };
    if auth.starts_with("AWS4-HMAC-SHA256") {
        let credential =
            v4_header_field(auth, "Credential").ok_or_else(|| incomplete("no Credential"))?;
        let signature =
            v4_header_field(auth, "Signature").ok_or_else(|| incomplete("no Signature"))?;
        v4_header_field(auth, "SignedHeaders").ok_or_else(|| incomplete("no SignedHeaders"))?;
        let date = headers
            .get("x-amz-date")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| incomplete("no X-Amz-Date header"))?;
        return v4(credential, signature, date, None, query.to_vec());
    }
    if !auth.is_empty() {
        return Err(incomplete("unsupported Authorization scheme"));
    }
    if param(query, "X-Amz-Algorithm").is_some() || param(query, "X-Amz-Signature").is_some() {
        if param(query, "X-Amz-Algorithm") != Some("AWS4-HMAC-SHA256") {
            return Err(incomplete("X-Amz-Algorithm must be AWS4-HMAC-SHA256"));
        }
        let get = |k: &str| param(query, k).ok_or_else(|| incomplete(&format!("no {k}")));
        get("X-Amz-SignedHeaders")?;
        let expires = get("X-Amz-Expires")?;
        let expires: i64 = expires
            .parse()
            .ok()
            .filter(|n| (0..=604_800).contains(n))
            .ok_or_else(|| Ec2Error::invalid_value("X-Amz-Expires", expires))?;
        let signed_params: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "X-Amz-Signature")
            .cloned()
            .collect();
        return v4(
            get("X-Amz-Credential")?,
            get("X-Amz-Signature")?,
            get("X-Amz-Date")?,
            Some(expires),
            signed_params,
        );
    }
    let Some(signature) = param(all, "Signature") else {
        return Err(Ec2Error::new(
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        ));
    };
    let access = param(all, "AWSAccessKeyId").ok_or_else(|| incomplete("no AWSAccessKeyId"))?;
    match param(all, "SignatureVersion") {
        Some("2") => {}
        Some(v) => {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("Signature version {v} is not supported; use 2 or 4"),
            ))
        }
        None => return Err(incomplete("no SignatureVersion")),
    }
    let timestamp = match param(all, "Timestamp") {
        Some(t) => Some(parse_iso(t).ok_or_else(|| Ec2Error::invalid_value("Timestamp", t))?),
        None => None,
    };
    let expires = match param(all, "Expires") {
        Some(t) => Some(parse_iso(t).ok_or_else(|| Ec2Error::invalid_value("Expires", t))?),
        None => None,
    };
    if timestamp.is_some() == expires.is_some() {
        return Err(Ec2Error::new(
            "MissingParameter",
            "The request must contain either a valid Timestamp or an Expires parameter",
        ));
    }
    Ok(Signed {
        access: access.to_string(),
        signature: signature.to_string(),
        params: all
            .iter()
            .filter(|(k, _)| k != "Signature")
            .cloned()
            .collect(),
        timestamp,
        expires,
    })
}

fn v4(
    credential: &str,
    signature: &str,
    date: &str,
    expires_in: Option<i64>,
    params: Vec<(String, String)>,
) -> Result<Signed, Ec2Error> {
    let scope: Vec<&str> = credential.split('/').collect();
    if scope.len() != 5 || scope[0].is_empty() || scope[4] != "aws4_request" {
        return Err(Ec2Error::new(
            "IncompleteSignature",
            "The Credential must be <access key>/<date>/<region>/<service>/aws4_request",
        ));
    }
    let t = parse_amz_date(date).ok_or_else(|| Ec2Error::invalid_value("X-Amz-Date", date))?;
    if !date.starts_with(scope[1]) {
        return Err(Ec2Error::auth_failure(
            "the credential's date is not the request's",
        ));
    }
    Ok(Signed {
        access: scope[0].to_string(),
        signature: signature.to_string(),
        params,
        timestamp: if expires_in.is_some() { None } else { Some(t) },
        expires: expires_in.map(|s| t + chrono::Duration::seconds(s)),
    })
}

/// Nova's `is_ec2_timestamp_expired`: a timestamp more than `expiry`
/// seconds off (either way), or an expiry time in the past.
pub fn check_age(s: &Signed, expiry: u64, now: DateTime<Utc>) -> Result<(), Ec2Error> {
    let expired = |when: &DateTime<Utc>| {
        Ec2Error::new(
            "RequestExpired",
            format!(
                "Request has expired. Timestamp date is {}",
                when.format("%Y-%m-%dT%H:%M:%SZ")
            ),
        )
    };
    let window = chrono::Duration::seconds(expiry as i64);
    if let Some(t) = &s.timestamp {
        if *t < now - window || *t > now + window {
            return Err(expired(t));
        }
    }
    if let Some(e) = &s.expires {
        if *e <= now {
            return Err(expired(e));
        }
    }
    Ok(())
}

/// Header names as HTTP/1.1 clients send them (`X-Amz-Date`, `Authorization`):
/// Keystone's signer looks some up with their capitals.
fn canonical_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut c = part.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// The `credentials` Keystone's `/v3/ec2tokens` checks.
pub fn keystone_credentials(
    s: &Signed,
    method: &Method,
    headers: &HeaderMap,
    path: &str,
    body: &[u8],
) -> Value {
    let mut h = Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        h.insert(canonical_name(name.as_str()), json!(values.join(",")));
    }
    let params: Map<String, Value> = s
        .params
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "access": s.access,
        "signature": s.signature,
        "host": headers.get("host").and_then(|v| v.to_str().ok()).unwrap_or_default(),
        "verb": method.as_str(),
        "path": path,
        "params": params,
        "headers": h,
        "body_hash": format!("{:x}", Sha256::digest(body)),
    })
}

/// The layer: read the request, check its signature, hand the caller on.
pub async fn ec2_keystone_auth(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let max = state.cfg.api.max_request_body_size;
    let body: Bytes = match axum::body::to_bytes(body, max).await {
        Ok(b) => b,
        Err(_) => {
            let mut e = Ec2Error::new("RequestEntityTooLarge", "Request is too large.");
            e.status = 413;
            return e.into_response();
        }
    };
    let query = form(parts.uri.query().unwrap_or_default().as_bytes());
    let mut all = query.clone();
    let is_form = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if parts.method == Method::POST && is_form {
        all.extend(form(&body));
    }
    let signed = match signed(&parts.headers, &query, &all) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let caller = match &state.auth {
        AuthStrategy::NoAuth2 { .. } => {
            let (user, project) = match signed.access.split_once(':') {
                Some((u, p)) => (u.to_string(), p.to_string()),
                None => (signed.access.clone(), signed.access.clone()),
            };
            let mut roles = vec!["member".to_string(), "reader".to_string()];
            if user == "admin" {
                roles.push("admin".into());
            }
            Caller {
                user_id: user,
                project_id: project,
                roles,
                auth_token: signed.access.clone(),
            }
        }
        AuthStrategy::Keystone(ks) => {
            if let Err(e) = check_age(&signed, state.cfg.ec2.ec2_timestamp_expiry, Utc::now()) {
                return e.into_response();
            }
            let creds = keystone_credentials(
                &signed,
                &parts.method,
                &parts.headers,
                parts.uri.path(),
                &body,
            );
            match ks
                .ec2_authenticate(&state.cfg.ec2.keystone_ec2_url, &creds)
                .await
            {
                Ok((id, token)) => Caller {
                    user_id: id.user_id,
                    project_id: id.project_id,
                    roles: id.roles,
                    auth_token: token,
                },
                Err(Ec2AuthError::Refused { status, message }) => {
                    tracing::info!(access = %signed.access, status, "Keystone refused an EC2 signature: {message}");
                    if message.contains("expired") {
                        return Ec2Error::new("RequestExpired", "Request has expired.")
                            .into_response();
                    }
                    return Ec2Error::auth_failure("signature or access key refused")
                        .into_response();
                }
                Err(Ec2AuthError::Unavailable(why)) => {
                    return Ec2Error::new(
                        "Unavailable",
                        "The service is unavailable. Please try again shortly.",
                    )
                    .with_cause(format!("cannot validate an EC2 signature: {why}"))
                    .into_response();
                }
            }
        }
    };
    let mut req = Request::from_parts(parts, axum::body::Body::empty());
    req.extensions_mut().insert(caller);
    req.extensions_mut().insert(Ec2Request { params: all });
    next.run(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sigv4_header() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=AKID/20261204/nova/ec2/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=abc123"));
        h.insert("x-amz-date", HeaderValue::from_static("20261204T060000Z"));
        h.insert("host", HeaderValue::from_static("127.0.0.1:8773"));
        let body = pairs(&[("Action", "DescribeRegions"), ("Version", "2016-11-15")]);
        let s = signed(&h, &[], &body).expect("signed");
        assert_eq!(s.access, "AKID");
        assert_eq!(s.signature, "abc123");
        assert!(s.params.is_empty());
        let now = parse_amz_date("20261204T060100Z").expect("date");
        check_age(&s, 300, now).expect("fresh");
        let late = parse_amz_date("20261204T061000Z").expect("date");
        assert_eq!(check_age(&s, 300, late).unwrap_err().code, "RequestExpired");
        let creds = keystone_credentials(&s, &Method::POST, &h, "/", b"Action=DescribeRegions");
        assert_eq!(creds["headers"]["X-Amz-Date"], "20261204T060000Z");
        assert!(creds["headers"]["Authorization"]
            .as_str()
            .is_some_and(|a| a.starts_with("AWS4")));
        assert_eq!(creds["host"], "127.0.0.1:8773");
        assert_eq!(creds["verb"], "POST");
        assert_eq!(creds["params"], json!({}));
        assert_eq!(
            creds["body_hash"],
            format!("{:x}", Sha256::digest(b"Action=DescribeRegions"))
        );
        // A credential scope of another day is refused before Keystone.
        h.insert("x-amz-date", HeaderValue::from_static("20261205T060000Z"));
        assert_eq!(signed(&h, &[], &body).unwrap_err().code, "AuthFailure");
        h.remove("x-amz-date");
        assert_eq!(
            signed(&h, &[], &body).unwrap_err().code,
            "IncompleteSignature"
        );
    }

    #[test]
    fn sigv4_presigned_and_v2() {
        let q = pairs(&[
            ("Action", "DescribeRegions"),
            ("X-Amz-Algorithm", "AWS4-HMAC-SHA256"),
            ("X-Amz-Credential", "AKID/20261204/nova/ec2/aws4_request"),
            ("X-Amz-Date", "20261204T060000Z"),
            ("X-Amz-Expires", "60"),
            ("X-Amz-SignedHeaders", "host"),
            ("X-Amz-Signature", "sig"),
        ]);
        let s = signed(&HeaderMap::new(), &q, &q).expect("presigned");
        assert_eq!(s.access, "AKID");
        assert!(!s.params.iter().any(|(k, _)| k == "X-Amz-Signature"));
        let t0 = parse_amz_date("20261204T060030Z").expect("date");
        check_age(&s, 300, t0).expect("within X-Amz-Expires");
        let t1 = parse_amz_date("20261204T060100Z").expect("date");
        assert_eq!(check_age(&s, 300, t1).unwrap_err().code, "RequestExpired");

        let v2 = pairs(&[
            ("Action", "DescribeRegions"),
            ("AWSAccessKeyId", "AKID"),
            ("SignatureMethod", "HmacSHA256"),
            ("SignatureVersion", "2"),
            ("Timestamp", "2026-12-04T06:00:00Z"),
            ("Signature", "b64="),
        ]);
        let s = signed(&HeaderMap::new(), &[], &v2).expect("v2");
        assert_eq!(s.signature, "b64=");
        assert_eq!(s.params.len(), 5);
        let mut bad = v2.clone();
        bad.retain(|(k, _)| k != "Timestamp");
        assert_eq!(
            signed(&HeaderMap::new(), &[], &bad).unwrap_err().code,
            "MissingParameter"
        );
        assert_eq!(
            signed(&HeaderMap::new(), &[], &pairs(&[("Action", "X")]))
                .unwrap_err()
                .code,
            "MissingAuthenticationToken"
        );
        assert_eq!(canonical_name("x-amz-date"), "X-Amz-Date");
        assert_eq!(canonical_name("authorization"), "Authorization");
    }
}
