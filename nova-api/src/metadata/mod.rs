//! The metadata service (`enabled_apis = metadata`, `metadata_listen`:
//! `metadata_listen_port`, 8775), Nova's `nova/api/metadata/handler.py`.
//!
//! A guest asks `http://169.254.169.254/…`; nova-network's iptables rule on
//! the guest's bridge forwards it here without changing its source, so the
//! guest is found by its fixed IP (`fixed_ip_get_by_address` through the
//! conductor, then the instance). Behind a trusted proxy
//! (`[api] use_forwarded_for`) the address is `X-Forwarded-For`; behind a
//! metadata proxy (`[neutron] service_metadata_proxy`) the instance is
//! `X-Instance-ID`, signed with `metadata_proxy_shared_secret`
//! (`X-Instance-ID-Signature`, HMAC-SHA256) and owned by `X-Tenant-ID`.
//! Each instance's metadata is cached for `[api] metadata_cache_expiration`
//! seconds. No Keystone: the service has its own small layer stack.
//!
//! [`base`] (the `nova-metadata` crate, shared with the config drive)
//! builds the EC2 and OpenStack trees.

pub use nova_metadata::base;

use crate::layers::{request_log, run_to_completion};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::from_fn;
use axum::response::{IntoResponse, Response};
use axum::Router;
use base::InstanceMetadata;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower::ServiceBuilder;
use tracing::{error, info, warn};
use uuid::Uuid;

/// Cached metadata: `metadata-<address>` / `metadata-<instance id>` →
/// (when cached, the metadata).
type Cache = Arc<Mutex<HashMap<String, (Instant, Arc<InstanceMetadata>)>>>;

/// The metadata service's state: the shared API state and the cache.
#[derive(Clone)]
pub struct MetadataState {
    app: AppState,
    cache: Cache,
}

/// The metadata API's application: its own router and layers.
pub fn app(state: AppState) -> Router {
    if state.cfg.api.service_metadata_proxy && state.cfg.api.metadata_proxy_shared_secret.is_empty()
    {
        warn!("metadata_proxy_shared_secret is not configured, the metadata information returned by the proxy cannot be trusted");
    }
    let md = MetadataState {
        app: state,
        cache: Default::default(),
    };
    Router::new()
        .fallback(handle)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(run_to_completion::run_to_completion))
                .layer(from_fn(request_log::request_log)),
        )
        .with_state(md)
}

/// An error response as webob renders an `HTTPException` for the
/// request's Accept header (HTML for browsers and `*/*`, JSON, or text).
pub(crate) fn webob_error(status: StatusCode, explanation: &str, accept: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("");
    let code = format!("{} {title}", status.as_u16());
    let accept = accept.to_ascii_lowercase();
    let html = accept.contains("text/html") || accept.contains("*/*") || accept.contains("text/*");
    let json = accept.contains("application/json") || accept.contains("application/*");
    let (ctype, body) = if html {
        (
            "text/html; charset=UTF-8",
            format!(
                "<html>\n <head>\n  <title>{code}</title>\n </head>\n <body>\n  <h1>{code}</h1>\n  {explanation}<br /><br />\n\n\n\n </body>\n</html>"
            ),
        )
    } else if json {
        (
            "application/json",
            serde_json::json!({"message": format!("{explanation}<br /><br />\n\n\n"), "code": code, "title": title})
                .to_string(),
        )
    } else {
        (
            "text/plain; charset=UTF-8",
            format!("{code}\n\n{explanation}\n\n   "),
        )
    };
    (status, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

const NOT_FOUND: &str = "The resource could not be found.";
const UNKNOWN_ERROR: &str = "An unknown error has occurred. Please try your request again.";

/// HMAC-SHA256 of `msg` with `key`, as lower-case hex.
pub(crate) fn hmac_sha256_hex(key: &[u8], msg: &[u8]) -> String {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let inner = Sha256::new()
        .chain_update(&ipad)
        .chain_update(msg)
        .finalize();
    let outer = Sha256::new()
        .chain_update(&opad)
        .chain_update(inner)
        .finalize();
    outer.iter().map(|b| format!("{b:02x}")).collect()
}

/// Equal strings, compared in time independent of where they differ.
fn constant_time_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Why a request gets no metadata.
enum Refusal {
    /// 404 (unknown address or instance).
    NotFound,
    /// 400 / 403 / 500 with Nova's explanation.
    Status(StatusCode, String),
}

impl MetadataState {
    fn cached(&self, key: &str) -> Option<Arc<InstanceMetadata>> {
        let ttl = Duration::from_secs(self.app.cfg.api.metadata_cache_expiration);
        let cache = self.cache.lock().ok()?;
        cache
            .get(key)
            .filter(|(at, _)| at.elapsed() < ttl)
            .map(|(_, md)| md.clone())
    }

    fn remember(&self, key: String, md: Arc<InstanceMetadata>) {
        let ttl = Duration::from_secs(self.app.cfg.api.metadata_cache_expiration);
        if ttl.is_zero() {
            return;
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (at, _)| at.elapsed() < ttl);
            cache.insert(key, (Instant::now(), md));
        }
    }

    /// Nova's `get_metadata_by_remote_address`.
    async fn by_remote_address(
        &self,
        address: &str,
    ) -> Result<Option<Arc<InstanceMetadata>>, NovaError> {
        let key = format!("metadata-{address}");
        if let Some(md) = self.cached(&key) {
            return Ok(Some(md));
        }
        let ctx = RequestContext::admin();
        let fixed_ip = match self
            .app
            .conductor
            .fixed_ip_get_by_address(&ctx, address.to_string())
            .await
        {
            Ok(f) => f,
            Err(NovaError::FixedIpNotFoundForAddress { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(instance_uuid) = fixed_ip.instance_uuid else {
            return Ok(None);
        };
        info!(ip = %address, uuid = %instance_uuid, "Fixed IP translates to instance UUID");
        let md = self
            .by_instance_uuid(&ctx, instance_uuid, Some(address))
            .await?;
        if let Some(md) = &md {
            self.remember(key, md.clone());
        }
        Ok(md)
    }

    /// Nova's `get_metadata_by_instance_id`.
    async fn by_instance_id(
        &self,
        instance_id: &str,
        address: Option<&str>,
    ) -> Result<Option<Arc<InstanceMetadata>>, NovaError> {
        let key = format!("metadata-{instance_id}");
        if let Some(md) = self.cached(&key) {
            return Ok(Some(md));
        }
        let Ok(uuid) = Uuid::parse_str(instance_id) else {
            return Ok(None);
        };
        let md = self
            .by_instance_uuid(&RequestContext::admin(), uuid, address)
            .await?;
        if let Some(md) = &md {
            self.remember(key, md.clone());
        }
        Ok(md)
    }

    async fn by_instance_uuid(
        &self,
        ctx: &RequestContext,
        uuid: Uuid,
        address: Option<&str>,
    ) -> Result<Option<Arc<InstanceMetadata>>, NovaError> {
        let inst = match self.app.compute_api.get(ctx, &uuid.to_string()).await {
            Ok(i) => i,
            Err(NovaError::InstanceNotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(Some(Arc::new(self.collect(ctx, inst, address).await?)))
    }

    /// Everything the metadata shows about `inst`, as the config drive
    /// shows it ([`nova_metadata::collect`]), with the request's address
    /// and the password the guest posted.
    async fn collect(
        &self,
        ctx: &RequestContext,
        inst: Instance,
        address: Option<&str>,
    ) -> Result<InstanceMetadata, NovaError> {
        let extras = nova_metadata::Extras {
            address: address.map(str::to_string),
            password: self.app.compute_api.get_server_password(&inst),
            vendor_data: nova_metadata::load_vendor_data(&self.app.cfg)?,
            ..Default::default()
        };
        nova_metadata::collect(&self.app.conductor, ctx, &self.app.cfg, &inst, extras).await
    }

    /// Nova's `_handle_remote_ip_request`.
    async fn remote_ip_request(
        &self,
        peer: &SocketAddr,
        headers: &HeaderMap,
    ) -> Result<Arc<InstanceMetadata>, Refusal> {
        let mut address = peer.ip().to_string();
        if self.app.cfg.api.use_forwarded_for {
            if let Some(f) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()) {
                address = f.to_string();
            }
        }
        match self.by_remote_address(&address).await {
            Ok(Some(md)) => Ok(md),
            Ok(None) => {
                error!(ip = %address, "Failed to get metadata for IP {address}: no metadata");
                Err(Refusal::NotFound)
            }
            Err(e) => {
                error!(ip = %address, "Failed to get metadata for IP {address}: {e}");
                Err(Refusal::Status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    UNKNOWN_ERROR.into(),
                ))
            }
        }
    }

    /// Nova's `_handle_instance_id_request`: a metadata proxy names the
    /// instance, signs its id and names its project.
    async fn instance_id_request(
        &self,
        headers: &HeaderMap,
    ) -> Result<Arc<InstanceMetadata>, Refusal> {
        let one = |name: &str| -> Result<Option<String>, ()> {
            let mut all = headers.get_all(name).iter();
            match (all.next(), all.next()) {
                (None, _) => Ok(None),
                (Some(v), None) => Ok(Some(String::from_utf8_lossy(v.as_bytes()).into_owned())),
                (Some(_), Some(_)) => Err(()),
            }
        };
        let bad = |msg: &str| Refusal::Status(StatusCode::BAD_REQUEST, msg.into());
        let instance_id = one("x-instance-id")
            .map_err(|_| bad("Multiple X-Instance-ID headers found within request."))?;
        let tenant_id = one("x-tenant-id")
            .map_err(|_| bad("Multiple X-Tenant-ID headers found within request."))?;
        let signature = one("x-instance-id-signature").ok().flatten();
        let remote_address = one("x-forwarded-for").ok().flatten();
        let Some(instance_id) = instance_id else {
            return Err(bad("X-Instance-ID header is missing from request."));
        };
        let Some(signature) = signature else {
            return Err(bad(
                "X-Instance-ID-Signature header is missing from request.",
            ));
        };
        let Some(tenant_id) = tenant_id else {
            return Err(bad("X-Tenant-ID header is missing from request."));
        };
        let expected = hmac_sha256_hex(
            self.app.cfg.api.metadata_proxy_shared_secret.as_bytes(),
            instance_id.as_bytes(),
        );
        if !constant_time_eq(&expected, &signature) {
            if !instance_id.is_empty() {
                warn!(
                    requestor_id = %instance_id,
                    requestor_address = remote_address.as_deref().unwrap_or("None"),
                    "X-Instance-ID-Signature: {signature} does not match the expected value for id: {instance_id}"
                );
            }
            return Err(Refusal::Status(
                StatusCode::FORBIDDEN,
                "Invalid proxy request signature.".into(),
            ));
        }
        match self
            .by_instance_id(&instance_id, remote_address.as_deref())
            .await
        {
            Ok(Some(md)) if md.project_id == tenant_id => Ok(md),
            Ok(Some(_)) => {
                warn!("Tenant_id {tenant_id} does not match tenant_id of instance {instance_id}.");
                Err(Refusal::NotFound)
            }
            Ok(None) => {
                error!("Failed to get metadata for instance id: {instance_id}");
                Err(Refusal::NotFound)
            }
            Err(e) => {
                error!("Failed to get metadata for instance id: {instance_id}: {e}");
                Err(Refusal::Status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    UNKNOWN_ERROR.into(),
                ))
            }
        }
    }
}

/// Nova's `MetadataRequestHandler.__call__`.
async fn handle(
    State(md): State<MetadataState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = uri.path();
    // As Nova's handler, the method matters only on the password path.
    let password = base::is_password_path(path);
    if base::normpath(path) == "/" {
        return text(
            base::root_listing().into_bytes(),
            base::MIME_TYPE_TEXT_PLAIN,
        );
    }
    let found = if md.app.cfg.api.service_metadata_proxy {
        md.instance_id_request(&headers).await
    } else {
        if headers.contains_key("x-instance-id") {
            warn!("X-Instance-ID present in request headers. The 'service_metadata_proxy' option must be enabled to process this header.");
        }
        md.remote_ip_request(&peer, &headers).await
    };
    let meta = match found {
        Ok(m) => m,
        Err(Refusal::NotFound) => return webob_error(StatusCode::NOT_FOUND, NOT_FOUND, &accept),
        Err(Refusal::Status(s, msg)) => return webob_error(s, &msg, &accept),
    };
    match meta.lookup(path) {
        Ok(_) if password && method == Method::POST => {
            md.post_password(&meta, &body, &accept).await
        }
        Ok(_) if password && method != Method::GET => webob_error(
            StatusCode::BAD_REQUEST,
            "GET and POST only are supported.",
            &accept,
        ),
        Ok(f) => text(f.body, f.mime),
        Err(_) => webob_error(StatusCode::NOT_FOUND, NOT_FOUND, &accept),
    }
}

impl MetadataState {
    /// Nova's `handle_password` POST: a guest sets its password once (409
    /// when one is set, 400 over `MAX_SIZE`), kept as `password_N` system
    /// metadata through the conductor. Nova checks the cached metadata
    /// only; the instance is read again here too, so a second POST within
    /// the cache's lifetime is refused as well. The instance's cached
    /// metadata is dropped, so its next GET shows the password.
    async fn post_password(&self, meta: &InstanceMetadata, body: &[u8], accept: &str) -> Response {
        use crate::compute::api::server_password::MAX_SIZE;
        if !meta.password.is_empty() {
            return webob_error(StatusCode::CONFLICT, "", accept);
        }
        if body.len() > MAX_SIZE {
            return webob_error(StatusCode::BAD_REQUEST, "Request is too large.", accept);
        }
        let Ok(password) = std::str::from_utf8(body) else {
            return webob_error(StatusCode::BAD_REQUEST, "", accept);
        };
        let ctx = RequestContext::admin();
        let api = &self.app.compute_api;
        let stored = match api.get(&ctx, &meta.uuid.to_string()).await {
            Ok(inst) if !api.get_server_password(&inst).is_empty() => {
                return webob_error(StatusCode::CONFLICT, "", accept)
            }
            Ok(inst) => api.set_server_password(&ctx, &inst, password).await,
            Err(e) => Err(e),
        };
        match stored {
            Ok(()) => {}
            // Deleted since its metadata was read: Nova's 400.
            Err(e @ NovaError::InstanceNotFound { .. }) => {
                return webob_error(StatusCode::BAD_REQUEST, &e.to_string(), accept)
            }
            Err(e) => {
                error!(uuid = %meta.uuid, "cannot store the instance's password: {e}");
                return webob_error(StatusCode::INTERNAL_SERVER_ERROR, UNKNOWN_ERROR, accept);
            }
        }
        if let Ok(mut cache) = self.cache.lock() {
            cache.retain(|_, (_, m)| m.uuid != meta.uuid);
        }
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=UTF-8")],
        )
            .into_response()
    }
}

fn text(body: Vec<u8>, mime: &'static str) -> Response {
    let ctype = if mime.starts_with("text/") {
        HeaderValue::from_str(&format!("{mime}; charset=UTF-8"))
            .unwrap_or(HeaderValue::from_static("text/plain"))
    } else {
        HeaderValue::from_static(mime)
    };
    (StatusCode::OK, [(header::CONTENT_TYPE, ctype)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxy_signatures_are_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // A key longer than the block is hashed first (RFC 4231 test case 6).
        assert_eq!(
            hmac_sha256_hex(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
    }

    #[test]
    fn errors_are_rendered_as_webob_does() {
        let r = webob_error(StatusCode::NOT_FOUND, NOT_FOUND, "");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/plain; charset=UTF-8"
        );
        let r = webob_error(StatusCode::NOT_FOUND, NOT_FOUND, "*/*");
        assert_eq!(
            r.headers()[header::CONTENT_TYPE],
            "text/html; charset=UTF-8"
        );
        let r = webob_error(StatusCode::FORBIDDEN, "x", "application/json");
        assert_eq!(r.headers()[header::CONTENT_TYPE], "application/json");
    }
}
