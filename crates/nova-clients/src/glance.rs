//! Glance v2 image API client (`nova.image.glance`).

use nova_common::{NovaError, RequestContext};
use nova_objects::ImageMeta;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tracing::warn;

/// Image fields Glance returns at top level that are not custom properties.
const CORE_FIELDS: &[&str] = &[
    "id",
    "name",
    "status",
    "disk_format",
    "container_format",
    "size",
    "virtual_size",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "min_ram",
    "min_disk",
    "owner",
    "visibility",
    "protected",
    "os_hidden",
    "tags",
    "created_at",
    "updated_at",
    "self",
    "file",
    "schema",
    "stores",
    "locations",
    "direct_url",
];

#[derive(Clone)]
pub struct GlanceClient {
    servers: Arc<Vec<String>>,
    next: Arc<AtomicUsize>,
    retries: u32,
    http: reqwest::Client,
}

impl GlanceClient {
    /// `[glance] api_servers`, tried round-robin, `num_retries` extra attempts.
    pub fn new(api_servers: &[String], num_retries: u32) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        GlanceClient {
            servers: Arc::new(
                api_servers
                    .iter()
                    .map(|s| s.trim_end_matches('/').to_string())
                    .collect(),
            ),
            next: Arc::new(AtomicUsize::new(0)),
            retries: num_retries,
            http,
        }
    }

    fn server(&self) -> Option<&String> {
        if self.servers.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.servers.len();
        self.servers.get(i)
    }

    /// `GET /v2/images/{id}`.
    pub async fn show(&self, ctx: &RequestContext, image_id: &str) -> Result<ImageMeta, NovaError> {
        Ok(image_from_json(&self.show_json(ctx, image_id).await?))
    }

    /// `GET /v2/images/{id}`, with owner and times (the compute API's image proxy).
    pub async fn show_image(
        &self,
        ctx: &RequestContext,
        image_id: &str,
    ) -> Result<GlanceImage, NovaError> {
        Ok(GlanceImage::from_json(
            &self.show_json(ctx, image_id).await?,
        ))
    }

    /// `GET /v2/images/{id}`: Glance's JSON.
    async fn show_json(&self, ctx: &RequestContext, image_id: &str) -> Result<Value, NovaError> {
        let mut last_err = None;
        for attempt in 0..=self.retries {
            let Some(server) = self.server() else {
                return Err(NovaError::GlanceConnectionFailed {
                    server: String::new(),
                    reason: "[glance] api_servers is empty".into(),
                });
            };
            let url = format!("{server}/v2/images/{image_id}");
            let mut req = self.http.get(&url).header("Accept", "application/json");
            if let Some(t) = &ctx.auth_token {
                req = req.header("X-Auth-Token", t);
            }
            req = req.header("X-Openstack-Request-Id", &ctx.request_id);
            match req.send().await {
                Ok(resp) => {
                    let status = resp.status();
                    if status == reqwest::StatusCode::NOT_FOUND
                        || status == reqwest::StatusCode::FORBIDDEN
                    {
                        return Err(NovaError::ImageNotFound {
                            image_id: image_id.to_string(),
                        });
                    }
                    if status == reqwest::StatusCode::UNAUTHORIZED {
                        return Err(NovaError::NotAuthorized {
                            reason: format!("Glance refused the token for image {image_id}"),
                        });
                    }
                    if status.is_server_error() {
                        last_err = Some(format!("HTTP {status}"));
                    } else if !status.is_success() {
                        return Err(NovaError::ImageNotFound {
                            image_id: image_id.to_string(),
                        });
                    } else {
                        let body: Value =
                            resp.json()
                                .await
                                .map_err(|e| NovaError::GlanceConnectionFailed {
                                    server: server.clone(),
                                    reason: format!("bad response: {e}"),
                                })?;
                        return Ok(body);
                    }
                }
                Err(e) => last_err = Some(e.to_string()),
            }
            if attempt < self.retries {
                warn!(%url, "Glance request failed ({}); retrying", last_err.clone().unwrap_or_default());
                tokio::time::sleep(Duration::from_millis(200 * (attempt as u64 + 1))).await;
            }
        }
        Err(NovaError::GlanceConnectionFailed {
            server: self.servers.join(","),
            reason: last_err.unwrap_or_default(),
        })
    }
}

impl GlanceClient {
    /// `GET /v2/images/{id}/file` into `dest` (through `dest.part`), verifying
    /// Glance's `os_hash_value` (sha512) and `checksum` (md5) on the way.
    pub async fn download(
        &self,
        ctx: &RequestContext,
        image: &ImageMeta,
        dest: &std::path::Path,
    ) -> Result<u64, NovaError> {
        use md5::Digest;
        use tokio::io::AsyncWriteExt;
        let server = self
            .server()
            .cloned()
            .ok_or_else(|| NovaError::GlanceConnectionFailed {
                server: String::new(),
                reason: "[glance] api_servers is empty".into(),
            })?;
        let failed = |reason: String| NovaError::GlanceConnectionFailed {
            server: server.clone(),
            reason,
        };
        let mut req = self
            .http
            .get(format!("{server}/v2/images/{}/file", image.id))
            .timeout(Duration::from_secs(3600));
        if let Some(t) = &ctx.auth_token {
            req = req.header("X-Auth-Token", t);
        }
        let mut resp = req.send().await.map_err(|e| failed(e.to_string()))?;
        match resp.status() {
            s if s == reqwest::StatusCode::NO_CONTENT => {
                return Err(NovaError::ImageNotActive {
                    image_id: image.id.clone(),
                })
            }
            s if s == reqwest::StatusCode::NOT_FOUND || s == reqwest::StatusCode::FORBIDDEN => {
                return Err(NovaError::ImageNotFound {
                    image_id: image.id.clone(),
                })
            }
            s if !s.is_success() => {
                return Err(failed(format!("HTTP {s} downloading image {}", image.id)))
            }
            _ => {}
        }
        let part = dest.with_extension("part");
        let mut file = tokio::fs::File::create(&part)
            .await
            .map_err(|e| NovaError::internal(format!("cannot create {}: {e}", part.display())))?;
        let mut md5 = md5::Md5::new();
        let mut sha512 = <sha2::Sha512 as sha2::Digest>::new();
        let mut size = 0u64;
        while let Some(chunk) = resp.chunk().await.map_err(|e| failed(e.to_string()))? {
            md5.update(&chunk);
            sha2::Digest::update(&mut sha512, &chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await.map_err(|e| {
                NovaError::internal(format!("cannot write {}: {e}", part.display()))
            })?;
        }
        file.flush()
            .await
            .map_err(|e| NovaError::internal(e.to_string()))?;
        drop(file);
        let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let md5_hex = hex(&md5.finalize());
        let sha_hex = hex(&sha2::Digest::finalize(sha512));
        let mismatch = match (
            image.os_hash_algo.as_deref(),
            &image.os_hash_value,
            &image.checksum,
        ) {
            (Some("sha512"), Some(v), _) => {
                (v != &sha_hex).then(|| format!("sha512 {sha_hex} != {v}"))
            }
            (_, _, Some(c)) => (c != &md5_hex).then(|| format!("md5 {md5_hex} != {c}")),
            _ => None,
        };
        if let Some(m) = mismatch {
            let _ = tokio::fs::remove_file(&part).await;
            return Err(NovaError::ImageUnacceptable {
                image_id: image.id.clone(),
                reason: format!("corrupt download ({m})"),
            });
        }
        tokio::fs::rename(&part, dest).await.map_err(|e| {
            NovaError::internal(format!("cannot move {} into place: {e}", dest.display()))
        })?;
        Ok(size)
    }
}

impl GlanceClient {
    /// The public URL of an image (the `Location` of createImage).
    pub fn image_url(&self, image_id: &str) -> String {
        let base = self.servers.first().cloned().unwrap_or_default();
        format!("{base}/images/{image_id}")
    }

    /// `POST /v2/images`: a queued image record with `body`'s fields and properties.
    pub async fn create(&self, ctx: &RequestContext, body: &Value) -> Result<ImageMeta, NovaError> {
        let server = self.server().cloned().unwrap_or_default();
        let mut req = self.http.post(format!("{server}/v2/images")).json(body);
        if let Some(t) = &ctx.auth_token {
            req = req.header("X-Auth-Token", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NovaError::GlanceConnectionFailed {
                server: server.clone(),
                reason: e.to_string(),
            })?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        if status == reqwest::StatusCode::FORBIDDEN {
            return Err(NovaError::NotAuthorized {
                reason: format!("Glance refused to create the image: {text}"),
            });
        }
        if !status.is_success() {
            return Err(NovaError::Invalid {
                reason: format!("Glance refused the image ({status}): {text}"),
            });
        }
        let v: Value = serde_json::from_str(&text)?;
        Ok(image_from_json(&v))
    }

    /// `POST /v2/images/{id}/members`: `member` (a project) may use the
    /// image (Nova's `_add_image_member`).
    pub async fn add_member(
        &self,
        ctx: &RequestContext,
        image_id: &str,
        member: &str,
    ) -> Result<(), NovaError> {
        let server = self.server().cloned().unwrap_or_default();
        let mut req = self
            .http
            .post(format!("{server}/v2/images/{image_id}/members"))
            .json(&serde_json::json!({ "member": member }));
        if let Some(t) = &ctx.auth_token {
            req = req.header("X-Auth-Token", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NovaError::GlanceConnectionFailed {
                server: server.clone(),
                reason: e.to_string(),
            })?;
        let status = resp.status();
        if !status.is_success() {
            let text = resp.text().await.unwrap_or_default();
            return Err(NovaError::Invalid {
                reason: format!(
                    "Glance refused {member} as a member of {image_id} ({status}): {text}"
                ),
            });
        }
        Ok(())
    }

    /// `PUT /v2/images/{id}/file` from a local file.
    pub async fn upload(
        &self,
        ctx: &RequestContext,
        image_id: &str,
        path: &std::path::Path,
    ) -> Result<(), NovaError> {
        let server = self.server().cloned().unwrap_or_default();
        let data = tokio::fs::read(path)
            .await
            .map_err(|e| NovaError::internal(format!("cannot read {}: {e}", path.display())))?;
        let mut req = self
            .http
            .put(format!("{server}/v2/images/{image_id}/file"))
            .timeout(Duration::from_secs(3600))
            .header("Content-Type", "application/octet-stream")
            .body(data);
        if let Some(t) = &ctx.auth_token {
            req = req.header("X-Auth-Token", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NovaError::GlanceConnectionFailed {
                server: server.clone(),
                reason: e.to_string(),
            })?;
        if !resp.status().is_success() {
            let st = resp.status();
            return Err(NovaError::GlanceConnectionFailed {
                server,
                reason: format!(
                    "upload of {image_id} answered {st}: {}",
                    resp.text().await.unwrap_or_default()
                ),
            });
        }
        Ok(())
    }

    /// `DELETE /v2/images/{id}`: ImageNotFound if Glance does not know it
    /// (or hides it), NotAuthorized if the caller may not delete it.
    pub async fn delete(&self, ctx: &RequestContext, image_id: &str) -> Result<(), NovaError> {
        let server = self.server().cloned().unwrap_or_default();
        let mut req = self.http.delete(format!("{server}/v2/images/{image_id}"));
        if let Some(t) = &ctx.auth_token {
            req = req.header("X-Auth-Token", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NovaError::GlanceConnectionFailed {
                server: server.clone(),
                reason: e.to_string(),
            })?;
        match resp.status() {
            s if s.is_success() => Ok(()),
            reqwest::StatusCode::NOT_FOUND => Err(NovaError::ImageNotFound {
                image_id: image_id.to_string(),
            }),
            reqwest::StatusCode::FORBIDDEN | reqwest::StatusCode::UNAUTHORIZED => {
                Err(NovaError::NotAuthorized {
                    reason: format!("Glance refused to delete image {image_id}"),
                })
            }
            s => Err(NovaError::GlanceConnectionFailed {
                server,
                reason: format!("delete of {image_id} answered {s}"),
            }),
        }
    }

    /// `PATCH /v2/images/{id}` with JSON-patch `ops` (custom properties:
    /// `{"op": "add"|"replace"|"remove", "path": "/<key>", "value": ...}`):
    /// the image after. ImageNotFound if Glance does not know or hides it,
    /// NotAuthorized if the caller may not change it.
    pub async fn patch(
        &self,
        ctx: &RequestContext,
        image_id: &str,
        ops: &[Value],
    ) -> Result<GlanceImage, NovaError> {
        let server = self.server().cloned().unwrap_or_default();
        let mut req = self
            .http
            .patch(format!("{server}/v2/images/{image_id}"))
            .header(
                "Content-Type",
                "application/openstack-images-v2.1-json-patch",
            )
            .header("X-Openstack-Request-Id", &ctx.request_id)
            .body(Value::Array(ops.to_vec()).to_string());
        if let Some(t) = &ctx.auth_token {
            req = req.header("X-Auth-Token", t);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| NovaError::GlanceConnectionFailed {
                server: server.clone(),
                reason: e.to_string(),
            })?;
        match resp.status() {
            s if s.is_success() => {
                let v: Value =
                    resp.json()
                        .await
                        .map_err(|e| NovaError::GlanceConnectionFailed {
                            server: server.clone(),
                            reason: format!("bad response: {e}"),
                        })?;
                Ok(GlanceImage::from_json(&v))
            }
            reqwest::StatusCode::NOT_FOUND => Err(NovaError::ImageNotFound {
                image_id: image_id.to_string(),
            }),
            reqwest::StatusCode::FORBIDDEN | reqwest::StatusCode::UNAUTHORIZED => {
                Err(NovaError::NotAuthorized {
                    reason: format!("Glance refused to change image {image_id}"),
                })
            }
            s => Err(NovaError::GlanceConnectionFailed {
                server,
                reason: format!(
                    "update of {image_id} answered {s}: {}",
                    resp.text().await.unwrap_or_default()
                ),
            }),
        }
    }

    /// `GET /v2/images`, every page: the images the caller can see.
    pub async fn list(&self, ctx: &RequestContext) -> Result<Vec<GlanceImage>, NovaError> {
        self.list_filtered(ctx, &[]).await
    }

    /// `GET /v2/images` with `query` (property filters such as
    /// `image_type=backup`, `sort_key`, `sort_dir`), every page.
    pub async fn list_filtered(
        &self,
        ctx: &RequestContext,
        query: &[(&str, &str)],
    ) -> Result<Vec<GlanceImage>, NovaError> {
        let server = self.server().cloned().unwrap_or_default();
        let mut first = "/v2/images?limit=1000".to_string();
        for (k, v) in query {
            first.push_str(&format!("&{}={}", encode(k), encode(v)));
        }
        let mut next = Some(first);
        let mut out = vec![];
        while let Some(path) = next.take() {
            let mut req = self
                .http
                .get(format!("{server}{path}"))
                .header("Accept", "application/json")
                .header("X-Openstack-Request-Id", &ctx.request_id);
            if let Some(t) = &ctx.auth_token {
                req = req.header("X-Auth-Token", t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| NovaError::GlanceConnectionFailed {
                    server: server.clone(),
                    reason: e.to_string(),
                })?;
            let status = resp.status();
            if !status.is_success() {
                return Err(NovaError::GlanceConnectionFailed {
                    server,
                    reason: format!("image list answered {status}"),
                });
            }
            let v: Value = resp
                .json()
                .await
                .map_err(|e| NovaError::GlanceConnectionFailed {
                    server: server.clone(),
                    reason: format!("bad response: {e}"),
                })?;
            for i in v["images"].as_array().into_iter().flatten() {
                out.push(GlanceImage::from_json(i));
            }
            next = v["next"].as_str().map(str::to_string);
        }
        Ok(out)
    }
}

/// An image as a listing shows it: its metadata, and who owns it and since when.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GlanceImage {
    pub meta: ImageMeta,
    pub owner: Option<String>,
    /// `public`, `community`, `shared` or `private`.
    pub visibility: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

impl GlanceImage {
    pub fn from_json(v: &Value) -> Self {
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        GlanceImage {
            meta: image_from_json(v),
            owner: s("owner"),
            visibility: s("visibility").unwrap_or_else(|| "private".into()),
            created_at: s("created_at"),
            updated_at: s("updated_at"),
        }
    }
}

/// A query string component, percent-encoded (RFC 3986 unreserved kept).
fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Glance v2 image JSON → `ImageMeta`; custom keys become properties.
pub fn image_from_json(v: &Value) -> ImageMeta {
    let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
    let i = |k: &str| v.get(k).and_then(Value::as_i64);
    let mut properties = BTreeMap::new();
    if let Some(obj) = v.as_object() {
        for (k, val) in obj {
            if CORE_FIELDS.contains(&k.as_str()) {
                continue;
            }
            let text = match val {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            properties.insert(k.clone(), text);
        }
    }
    ImageMeta {
        id: s("id").unwrap_or_default(),
        name: s("name"),
        status: s("status").unwrap_or_default(),
        disk_format: s("disk_format"),
        container_format: s("container_format"),
        size: i("size"),
        checksum: s("checksum"),
        os_hash_algo: s("os_hash_algo"),
        os_hash_value: s("os_hash_value"),
        min_ram: i("min_ram").unwrap_or(0),
        min_disk: i("min_disk").unwrap_or(0),
        properties,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn custom_keys_become_properties() {
        let v = serde_json::json!({"id": "x", "status": "active", "min_ram": 64,
            "kernel_id": "k", "hw_disk_bus": "virtio", "tags": [], "size": 5});
        let m = super::image_from_json(&v);
        assert_eq!(m.min_ram, 64);
        assert_eq!(m.size, Some(5));
        assert_eq!(m.properties.get("kernel_id").map(String::as_str), Some("k"));
        assert!(!m.properties.contains_key("tags"));
    }
}
