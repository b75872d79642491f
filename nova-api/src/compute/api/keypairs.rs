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

/// Nova's `generate_x509_fingerprint`: SHA-1 of a PEM certificate's DER,
/// colon-separated; None when it is not a PEM certificate.
pub fn x509_fingerprint(pem: &str) -> Option<String> {
    use sha1::Digest as _;
    let body = pem
        .trim()
        .strip_prefix("-----BEGIN CERTIFICATE-----")?
        .trim_end()
        .strip_suffix("-----END CERTIFICATE-----")?;
    let b64: String = body.split_whitespace().collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    // A DER SEQUENCE whose length covers the whole certificate.
    let (len, header) = match *der.get(1)? {
        n if n < 0x80 => (n as usize, 2),
        n => {
            let k = (n & 0x7f) as usize;
            let bytes = der.get(2..2 + k)?;
            (
                bytes.iter().fold(0usize, |a, b| (a << 8) | *b as usize),
                2 + k,
            )
        }
    };
    if der.first() != Some(&0x30) || header + len != der.len() {
        return None;
    }
    Some(
        sha1::Sha1::digest(&der)
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
        if key_type != "ssh" && key_type != "x509" {
            return Err(invalid_keypair(&format!(
                "Specified Keypair type '{key_type}' is invalid"
            )));
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
        let (public_key, private_key) = if key_type == "x509" {
            generate_x509_cert(user_id).await?
        } else {
            generate_key_pair(name).await?
        };
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
        let fp = if key_type == "x509" {
            x509_fingerprint(public_key)
                .ok_or_else(|| invalid_keypair("failed to generate X509 fingerprint"))?
        } else {
            fingerprint(public_key)
                .ok_or_else(|| invalid_keypair("failed to generate fingerprint"))?
        };
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

/// Nova's `generate_winrm_x509_cert`: a self-signed client certificate for
/// `user_id` (CN, and the UPN `<user_id>@localhost` WinRM maps to a user),
/// from openssl: (certificate, private key).
async fn generate_x509_cert(user_id: &str) -> NovaResult<(String, String)> {
    let dir = std::env::temp_dir().join(format!("nova-x509-{}", Uuid::new_v4().simple()));
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|e| NovaError::internal(format!("cannot create {}: {e}", dir.display())))?;
    let conf = dir.join("openssl.conf");
    let upn = format!("{user_id}@localhost");
    let text = format!(
        "distinguished_name = req_distinguished_name\n[req_distinguished_name]\n\
         [v3_req_client]\nextendedKeyUsage = clientAuth\n\
         subjectAltName = otherName:1.3.6.1.4.1.311.20.2.3;UTF8:{upn}\n"
    );
    let result = async {
        tokio::fs::write(&conf, text)
            .await
            .map_err(|e| NovaError::internal(format!("cannot write the openssl config: {e}")))?;
        let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
        let out = tokio::process::Command::new("openssl")
            .args(["req", "-x509", "-nodes", "-days", "3650", "-config"])
            .arg(&conf)
            .args(["-newkey", "rsa:2048", "-outform", "PEM", "-keyout"])
            .arg(&key)
            .args([
                "-subj",
                &format!("/CN={user_id}"),
                "-extensions",
                "v3_req_client",
                "-out",
            ])
            .arg(&cert)
            .output()
            .await
            .map_err(|e| NovaError::internal(format!("cannot run openssl: {e}")))?;
        if !out.status.success() {
            return Err(NovaError::internal(format!(
                "openssl req failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        let cert = tokio::fs::read_to_string(&cert).await;
        let key = tokio::fs::read_to_string(&key).await;
        match (cert, key) {
            (Ok(c), Ok(k)) => Ok((c, k)),
            _ => Err(NovaError::internal("cannot read the generated certificate")),
        }
    }
    .await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn x509_certificates_are_generated_and_fingerprinted() {
        let (cert, key) = generate_x509_cert("u1").await.expect("openssl");
        assert!(key.contains("PRIVATE KEY"), "{key}");
        let fp = x509_fingerprint(&cert).expect("a certificate");
        // SHA-1: 20 bytes as colon-separated hex.
        assert_eq!(fp.len(), 59, "{fp}");
        // The same as openssl's own.
        let out = std::process::Command::new("openssl")
            .args(["x509", "-noout", "-fingerprint", "-sha1"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().expect("stdin").write_all(cert.as_bytes())?;
                c.wait_with_output()
            })
            .expect("openssl x509");
        let theirs = String::from_utf8_lossy(&out.stdout).to_lowercase();
        assert!(theirs.trim().ends_with(&fp), "{theirs} vs {fp}");
        assert!(x509_fingerprint("ssh-rsa AAAA").is_none());
        let broken = cert.replacen("MII", "MIJ", 1);
        assert!(x509_fingerprint(&broken).is_none());
    }

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
