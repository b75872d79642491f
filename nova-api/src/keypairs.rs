//! `/os-keypairs`: create (generated or imported), list, show, delete; per user.

use crate::error::{ApiError, ApiResult};
use crate::microversion::ApiVersion;
use crate::policy::Target;
use crate::views::micro_isotime;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use md5::{Digest, Md5};
use nova_common::{NovaError, RequestContext};
use nova_objects::KeyPair;
use serde_json::{json, Value};

/// Nova's fingerprint of an OpenSSH public key: MD5 of the key blob, colon-separated.
pub fn fingerprint(public_key: &str) -> Option<String> {
    let mut parts = public_key.split_whitespace();
    let kind = parts.next()?;
    if !(kind.starts_with("ssh-") || kind.starts_with("ecdsa-") || kind.starts_with("sk-")) {
        return None;
    }
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    // The blob starts with the key type as an SSH string.
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    if blob.get(4..4 + len)? != kind.as_bytes() {
        return None;
    }
    let digest = Md5::digest(&blob);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

fn invalid(msg: &str) -> ApiError {
    ApiError::bad_request(format!("Keypair data is invalid: {msg}"))
}

/// A new RSA key pair from ssh-keygen: (public, private).
async fn generate(name: &str) -> ApiResult<(String, String)> {
    let dir = std::env::temp_dir().join(format!("nova-keygen-{}", uuid::Uuid::new_v4().simple()));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| ApiError::new(500, e.to_string()))?;
    let key = dir.join("key");
    let out = tokio::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "rsa",
            "-b",
            "2048",
            "-m",
            "PEM",
            "-N",
            "",
            "-C",
            &format!("Generated-by-Nova {name}"),
            "-f",
        ])
        .arg(&key)
        .output()
        .await;
    let result = match out {
        Ok(o) if o.status.success() => {
            let private = tokio::fs::read_to_string(&key).await;
            let public = tokio::fs::read_to_string(dir.join("key.pub")).await;
            match (public, private) {
                (Ok(p), Ok(k)) => Ok((p.trim().to_string(), k)),
                _ => Err(ApiError::new(500, "cannot read the generated key")),
            }
        }
        Ok(o) => Err(ApiError::new(
            500,
            format!("ssh-keygen failed: {}", String::from_utf8_lossy(&o.stderr)),
        )),
        Err(e) => Err(ApiError::new(500, format!("cannot run ssh-keygen: {e}"))),
    };
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

fn not_found(e: NovaError) -> ApiError {
    match &e {
        NovaError::KeypairNotFound { .. } => ApiError::not_found(e.to_string()),
        _ => e.into(),
    }
}

fn target_user(ctx: &RequestContext, v: ApiVersion, requested: Option<String>) -> String {
    match requested {
        Some(u) if v.at_least(10) => u,
        _ => ctx.user_id.clone().unwrap_or_default(),
    }
}

fn view(k: &KeyPair, v: ApiVersion) -> Value {
    let mut o = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if v.at_least(2) {
        o["type"] = json!(k.key_type);
    }
    o
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let Some(k) = body.get("keypair").filter(|k| k.is_object()) else {
        return Err(ApiError::bad_request(format!("Invalid input for field/attribute body. Value: {body}. 'keypair' is a required property")));
    };
    let name = match k.get("name") {
        Some(Value::String(n)) if !n.is_empty() && n.len() <= 255 => n.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "Invalid input for field/attribute name. Value: {other}. must be 1-255 characters"
            )))
        }
        None => {
            return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute keypair. Value: {k}. 'name' is a required property"
        )))
        }
    };
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == ' ')
        || name.trim() != name
    {
        return Err(invalid("Keypair name contains unsafe characters"));
    }
    let key_type = match k.get("type").and_then(Value::as_str) {
        Some(t) if v.at_least(2) => t.to_string(),
        _ => "ssh".to_string(),
    };
    if key_type != "ssh" {
        return Err(invalid("only ssh keys are supported"));
    }
    let user_id = target_user(
        &ctx,
        v,
        k.get("user_id").and_then(Value::as_str).map(str::to_string),
    );
    state.policy.authorize(
        "os_compute_api:os-keypairs:create",
        &ctx,
        &Target::user(&user_id),
    )?;
    let limit = state.cfg.quota.get("key_pairs").copied().unwrap_or(-1);
    if limit >= 0 && state.conductor.keypair_count(&ctx, user_id.clone()).await? >= limit {
        return Err(ApiError::new(403, "Quota exceeded, too many key pairs."));
    }
    let (public_key, private_key) = match k.get("public_key") {
        Some(Value::String(p)) => (p.trim().to_string(), None),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute public_key. Value: {other}. is not of type 'string'"
        )))
        }
        None => {
            let (p, k) = generate(&name).await?;
            (p, Some(k))
        }
    };
    let fp = fingerprint(&public_key).ok_or_else(|| invalid("failed to generate fingerprint"))?;
    let kp = state
        .conductor
        .keypair_create(
            &ctx,
            KeyPair {
                name,
                user_id: user_id.clone(),
                fingerprint: fp,
                public_key,
                key_type,
                ..Default::default()
            },
        )
        .await
        .map_err(|e| match &e {
            NovaError::KeyPairExists { .. } => ApiError::conflict(e.to_string()),
            _ => e.into(),
        })?;
    let mut out = view(&kp, v);
    out["user_id"] = json!(user_id);
    if let Some(pk) = private_key {
        out["private_key"] = json!(pk);
    }
    let status = if v.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": out}))).into_response())
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let user = target_user(
        &ctx,
        v,
        p.iter()
            .find(|(k, _)| k == "user_id")
            .map(|(_, v)| v.clone()),
    );
    state.policy.authorize(
        "os_compute_api:os-keypairs:index",
        &ctx,
        &Target::user(&user),
    )?;
    let mut kps = state.conductor.keypair_get_all(&ctx, user).await?;
    if v.at_least(35) {
        if let Some((_, m)) = p.iter().find(|(k, _)| k == "marker") {
            let pos = kps
                .iter()
                .position(|k| &k.name == m)
                .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
            kps.drain(..=pos);
        }
        if let Some((_, l)) = p.iter().find(|(k, _)| k == "limit") {
            let n: usize = l
                .parse()
                .map_err(|_| ApiError::bad_request("limit must be an integer"))?;
            kps.truncate(n);
        }
    }
    Ok(Json(
        json!({"keypairs": kps.iter().map(|k| json!({"keypair": view(k, v)})).collect::<Vec<_>>()}),
    ))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(name): Path<String>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    let user = target_user(
        &ctx,
        v,
        p.iter()
            .find(|(k, _)| k == "user_id")
            .map(|(_, v)| v.clone()),
    );
    state.policy.authorize(
        "os_compute_api:os-keypairs:show",
        &ctx,
        &Target::user(&user),
    )?;
    let k = state
        .conductor
        .keypair_get(&ctx, user, name)
        .await
        .map_err(not_found)?;
    let mut out = view(&k, v);
    for (key, val) in [
        ("user_id", json!(k.user_id)),
        ("id", json!(k.id)),
        ("created_at", micro_isotime(k.created_at)),
        ("updated_at", Value::Null),
        ("deleted_at", Value::Null),
        ("deleted", json!(false)),
    ] {
        out[key] = val;
    }
    Ok(Json(json!({"keypair": out})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(name): Path<String>,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<StatusCode> {
    let user = target_user(
        &ctx,
        v,
        p.iter()
            .find(|(k, _)| k == "user_id")
            .map(|(_, v)| v.clone()),
    );
    state.policy.authorize(
        "os_compute_api:os-keypairs:delete",
        &ctx,
        &Target::user(&user),
    )?;
    state
        .conductor
        .keypair_destroy(&ctx, user, name)
        .await
        .map_err(not_found)?;
    Ok(if v.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn fingerprints_like_nova() {
        // ssh-keygen -l -E md5 of this key: 4a:1c:ca:34:...
        let k =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo";
        let fp = super::fingerprint(k).expect("valid key");
        assert_eq!(fp.len(), 47);
        assert!(super::fingerprint("ssh-rsa notbase64!!").is_none());
        assert!(super::fingerprint("hello").is_none());
    }
}
