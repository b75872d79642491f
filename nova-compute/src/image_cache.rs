//! The image cache: each Glance image a guest needs is downloaded once per
//! host into `instances_path/_base/<sha1(image id)>`, checked against
//! Glance's hash, and shared by the instance overlays. A concurrent second
//! boot of the same image waits for the first download. A periodic task
//! removes base files no instance on this host uses any more.

use crate::manager::ComputeManager;
use nova_clients::GlanceClient;
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::{ImageMeta, InstanceFilters};
use nova_virt::ImageFiles;
use sha1::Digest;
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

pub struct ImageCache {
    base: PathBuf,
    glance: GlanceClient,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// Nova's base file name: the SHA-1 of the image id.
pub fn base_name(image_id: &str) -> String {
    sha1::Sha1::digest(image_id.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ImageCache {
    pub fn new(cfg: &NovaConfig) -> Self {
        ImageCache {
            base: PathBuf::from(&cfg.default.instances_path)
                .join(&cfg.image_cache.subdirectory_name),
            glance: GlanceClient::new(&cfg.glance.api_servers, cfg.glance.num_retries),
            locks: Mutex::new(HashMap::new()),
        }
    }

    pub fn glance(&self) -> &GlanceClient {
        &self.glance
    }

    /// The cached copy of `image`, downloading it first if needed.
    pub async fn fetch(
        &self,
        ctx: &RequestContext,
        image: &ImageMeta,
    ) -> Result<PathBuf, NovaError> {
        let path = self.base.join(base_name(&image.id));
        let lock = self
            .locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(image.id.clone())
            .or_default()
            .clone();
        let _guard = lock.lock().await;
        if tokio::fs::metadata(&path).await.is_ok() {
            // Touch: the cleanup ages files by their last use.
            let _ = filetime_touch(&path).await;
            return Ok(path);
        }
        tokio::fs::create_dir_all(&self.base).await.map_err(|e| {
            NovaError::internal(format!("cannot create {}: {e}", self.base.display()))
        })?;
        let started = std::time::Instant::now();
        let size = self.glance.download(ctx, image, &path).await?;
        info!(image = %image.id, bytes = size, secs = started.elapsed().as_secs_f64(), "image downloaded into the cache");
        Ok(path)
    }

    /// Pre-cache the Glance image `image_id` (Nova's `cache_image`):
    /// `true` when it was downloaded now, `false` when it was here already.
    pub async fn cache(&self, ctx: &RequestContext, image_id: &str) -> Result<bool, NovaError> {
        let image = self.glance.show(ctx, image_id).await?;
        let existing = tokio::fs::metadata(self.base.join(base_name(&image.id)))
            .await
            .is_ok();
        self.fetch(ctx, &image).await?;
        Ok(!existing)
    }

    /// Everything a guest of `image` boots from: the disk, and for AMI-style
    /// guests the kernel and ramdisk images it names (the instance's
    /// `kernel_id` and `ramdisk_id`, as Nova's libvirt driver: chosen when
    /// the server was created or rebuilt; empty for none).
    pub async fn files_for(
        &self,
        ctx: &RequestContext,
        image: &ImageMeta,
        kernel_id: &str,
        ramdisk_id: &str,
    ) -> Result<ImageFiles, NovaError> {
        let mut files = ImageFiles::default();
        let disk = self.fetch(ctx, image).await?;
        let format = match image.disk_format.as_deref() {
            Some("qcow2") => "qcow2",
            Some("vmdk") => "vmdk",
            Some("vdi") => "vdi",
            // ami, raw, iso and the rest are raw bytes.
            _ => "raw",
        };
        files.disk = Some((disk, format.to_string()));
        for (id, slot) in [
            (kernel_id, &mut files.kernel),
            (ramdisk_id, &mut files.ramdisk),
        ] {
            if !id.is_empty() {
                let meta = self.glance.show(ctx, id).await?;
                if meta.status != "active" {
                    return Err(NovaError::ImageNotActive {
                        image_id: id.to_string(),
                    });
                }
                *slot = Some(self.fetch(ctx, &meta).await?);
            }
        }
        Ok(files)
    }

    /// Remove base files that no instance on this host uses and that were
    /// last used more than `min_age` ago.
    pub async fn cleanup(
        &self,
        in_use: &HashSet<String>,
        min_age: Duration,
    ) -> Result<usize, NovaError> {
        let mut removed = 0;
        let Ok(mut dir) = tokio::fs::read_dir(&self.base).await else {
            return Ok(0);
        };
        let mut used: HashSet<String> = in_use.iter().map(|id| base_name(id)).collect();
        // A disk may be backed by a base file of an image the instance no
        // longer names (unshelved from its shelved image, since deleted):
        // as Nova's image cache manager, keep every backing file in use.
        used.extend(self.backing_files_in_use().await);
        while let Ok(Some(entry)) = dir.next_entry().await {
            let name = entry.file_name().to_string_lossy().to_string();
            if used.contains(&name) || name.ends_with(".part") {
                continue;
            }
            let old = entry
                .metadata()
                .await
                .ok()
                .and_then(|m| m.modified().ok())
                .and_then(|t| SystemTime::now().duration_since(t).ok())
                .is_some_and(|age| age >= min_age);
            if old {
                match tokio::fs::remove_file(entry.path()).await {
                    Ok(()) => {
                        info!(file = %entry.path().display(), "removed unused base image");
                        removed += 1;
                    }
                    Err(e) => {
                        warn!(file = %entry.path().display(), "cannot remove unused base image: {e}")
                    }
                }
            }
        }
        Ok(removed)
    }
}

impl ImageCache {
    /// The base files (their names in the cache) that the qcow2 disks under
    /// `instances_path/*/disk` are backed by, read from their headers.
    async fn backing_files_in_use(&self) -> HashSet<String> {
        let mut out = HashSet::new();
        let Some(instances) = self.base.parent() else {
            return out;
        };
        let Ok(mut dirs) = tokio::fs::read_dir(instances).await else {
            return out;
        };
        while let Ok(Some(entry)) = dirs.next_entry().await {
            let disk = entry.path().join("disk");
            let Ok(Some(backing)) =
                tokio::task::spawn_blocking(move || qcow2_backing_file(&disk)).await
            else {
                continue;
            };
            let backing = PathBuf::from(backing);
            if backing.parent() == Some(self.base.as_path()) {
                if let Some(name) = backing.file_name() {
                    out.insert(name.to_string_lossy().to_string());
                }
            }
        }
        out
    }
}

/// The backing file a qcow2 image's header names (offset 8: its offset,
/// offset 16: its length), if any.
fn qcow2_backing_file(path: &std::path::Path) -> Option<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = std::fs::File::open(path).ok()?;
    let mut header = [0u8; 20];
    f.read_exact(&mut header).ok()?;
    if &header[..4] != b"QFI\xfb" {
        return None;
    }
    let offset = u64::from_be_bytes(header[8..16].try_into().ok()?);
    let len = u32::from_be_bytes(header[16..20].try_into().ok()?) as usize;
    if offset == 0 || len == 0 || len > 4096 {
        return None;
    }
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut name = vec![0u8; len];
    f.read_exact(&mut name).ok()?;
    String::from_utf8(name).ok()
}

/// Set a file's modification time to now (the base file was just used).
async fn filetime_touch(path: &std::path::Path) -> std::io::Result<()> {
    let f = tokio::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .await?;
    f.into_std().await.set_modified(SystemTime::now())
}

impl ComputeManager {
    /// Image ids the instances of this host use (disk, kernel, ramdisk).
    async fn images_in_use(&self) -> Result<HashSet<String>, NovaError> {
        let ctx = RequestContext::admin();
        let mine = self
            .conductor
            .instance_get_all_by_filters(
                &ctx,
                InstanceFilters {
                    host: Some(self.cfg.default.host.clone()),
                    ..Default::default()
                },
            )
            .await?;
        Ok(mine
            .iter()
            .flat_map(|i| {
                [
                    i.image_ref.clone(),
                    i.kernel_id.clone(),
                    i.ramdisk_id.clone(),
                ]
            })
            .filter(|s| !s.is_empty())
            .collect())
    }

    pub(crate) async fn cleanup_image_cache(&self) -> Result<usize, NovaError> {
        if !self.cfg.image_cache.remove_unused_base_images {
            return Ok(0);
        }
        let in_use = self.images_in_use().await?;
        let min_age = Duration::from_secs(
            self.cfg
                .image_cache
                .remove_unused_original_minimum_age_seconds,
        );
        self.images.cleanup(&in_use, min_age).await
    }
}

pub fn spawn_cleanup(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let secs = manager.cfg.image_cache.manager_interval;
    if secs < 0 || !manager.driver.needs_image_files() {
        return None;
    }
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs.max(1) as u64));
        tick.tick().await;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.cleanup_image_cache().await {
                warn!("image cache cleanup failed: {e}");
            }
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_names_are_sha1_of_the_image_id() {
        assert_eq!(base_name("abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }

    #[tokio::test]
    async fn cleanup_keeps_used_and_young_files() {
        let dir =
            std::env::temp_dir().join(format!("nova-cache-{}", uuid::Uuid::new_v4().simple()));
        let cfg =
            NovaConfig::parse_text(&format!("[DEFAULT]\ninstances_path = {}\n", dir.display()))
                .expect("cfg");
        let cache = ImageCache::new(&cfg);
        std::fs::create_dir_all(dir.join("_base")).expect("dir");
        for id in ["used", "unused"] {
            std::fs::write(dir.join("_base").join(base_name(id)), b"x").expect("write");
        }
        let in_use: HashSet<String> = ["used".to_string()].into();
        assert_eq!(
            cache
                .cleanup(&in_use, Duration::from_secs(3600))
                .await
                .expect("cleanup"),
            0
        );
        assert_eq!(
            cache
                .cleanup(&in_use, Duration::ZERO)
                .await
                .expect("cleanup"),
            1
        );
        assert!(dir.join("_base").join(base_name("used")).exists());
        // A disk backed by a base file keeps it, whatever image it names.
        std::fs::write(dir.join("_base").join("backing"), b"x").expect("write");
        std::fs::create_dir_all(dir.join("inst")).expect("dir");
        let backing = dir.join("_base").join("backing");
        let out = std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "raw", "-b"])
            .arg(&backing)
            .arg(dir.join("inst").join("disk"))
            .arg("1M")
            .output()
            .expect("qemu-img");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            cache
                .cleanup(&in_use, Duration::ZERO)
                .await
                .expect("cleanup"),
            0
        );
        assert!(backing.exists());
        assert!(!dir.join("_base").join(base_name("unused")).exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
