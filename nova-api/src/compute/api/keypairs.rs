//! `nova.compute.api.KeypairAPI`: key pairs, their validation and quota.

use base64::Engine;
use md5::{Digest, Md5};
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::KeyPair;
use nova_rpc::conductor;
use uuid::Uuid;

/// `nova.compute.api.KeypairAPI`.
#[derive(Clone)]
pub struct KeypairAPI {
    conductor: conductor::Client,
}

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

fn invalid_keypair(reason: &str) -> NovaError {
    NovaError::InvalidKeypair {
        reason: reason.into(),
    }
}

impl KeypairAPI {
    pub fn new(conductor: conductor::Client) -> Self {
        KeypairAPI { conductor }
    }

    /// Nova's `_validate_new_key_pair`: a safe name (the widest set, 2.92's;
    /// each API narrows it as its schema says), a known type, room in the
    /// user's quota.
    async fn validate_new_key_pair(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: &str,
        key_type: &str,
    ) -> NovaResult<()> {
        if !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '@' | '.'))
            || name.trim() != name
        {
            return Err(invalid_keypair("Keypair name contains unsafe characters"));
        }
        if key_type != "ssh" {
            return Err(invalid_keypair("only ssh keys are supported"));
        }
        let defaults = self.conductor.quota_get_defaults(ctx).await?;
        let limit = defaults.get("key_pairs").copied().unwrap_or(-1);
        if limit >= 0
            && self
                .conductor
                .keypair_count(ctx, user_id.to_string())
                .await?
                >= limit
        {
            return Err(NovaError::KeypairLimitExceeded {});
        }
        Ok(())
    }

    /// Import the user's public key.
    pub async fn import_key_pair(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: &str,
        public_key: &str,
        key_type: &str,
    ) -> NovaResult<KeyPair> {
        self.validate_new_key_pair(ctx, user_id, name, key_type)
            .await?;
        self.save(ctx, user_id, name, public_key.trim(), key_type)
            .await
    }

    /// Generate a key pair: the record, and the private key (shown once).
    pub async fn create_key_pair(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: &str,
        key_type: &str,
    ) -> NovaResult<(KeyPair, String)> {
        self.validate_new_key_pair(ctx, user_id, name, key_type)
            .await?;
        let (public_key, private_key) = generate_key_pair(name).await?;
        let kp = self.save(ctx, user_id, name, &public_key, key_type).await?;
        Ok((kp, private_key))
    }

    async fn save(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: &str,
        public_key: &str,
        key_type: &str,
    ) -> NovaResult<KeyPair> {
        let fp = fingerprint(public_key)
            .ok_or_else(|| invalid_keypair("failed to generate fingerprint"))?;
        self.conductor
            .keypair_create(
                ctx,
                KeyPair {
                    name: name.to_string(),
                    user_id: user_id.to_string(),
                    fingerprint: fp,
                    public_key: public_key.to_string(),
                    key_type: key_type.to_string(),
                    ..Default::default()
                },
            )
            .await
    }

    pub async fn get_key_pairs(
        &self,
        ctx: &RequestContext,
        user_id: &str,
    ) -> NovaResult<Vec<KeyPair>> {
        self.conductor
            .keypair_get_all(ctx, user_id.to_string())
            .await
    }

    pub async fn get_key_pair(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: &str,
    ) -> NovaResult<KeyPair> {
        self.conductor
            .keypair_get(ctx, user_id.to_string(), name.to_string())
            .await
    }

    pub async fn delete_key_pair(
        &self,
        ctx: &RequestContext,
        user_id: &str,
        name: &str,
    ) -> NovaResult<()> {
        self.conductor
            .keypair_destroy(ctx, user_id.to_string(), name.to_string())
            .await
    }
}

/// A new RSA key pair from ssh-keygen: (public, private).
async fn generate_key_pair(name: &str) -> NovaResult<(String, String)> {
    let dir = std::env::temp_dir().join(format!("nova-keygen-{}", Uuid::new_v4().simple()));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| NovaError::internal(format!("cannot create {}: {e}", dir.display())))?;
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
                _ => Err(NovaError::internal("cannot read the generated key")),
            }
        }
        Ok(o) => Err(NovaError::internal(format!(
            "ssh-keygen failed: {}",
            String::from_utf8_lossy(&o.stderr)
        ))),
        Err(e) => Err(NovaError::internal(format!("cannot run ssh-keygen: {e}"))),
    };
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_like_nova() {
        let k =
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl demo";
        let fp = fingerprint(k).expect("valid key");
        assert_eq!(fp.len(), 47);
        assert!(fingerprint("ssh-rsa notbase64!!").is_none());
        assert!(fingerprint("hello").is_none());
    }
}
