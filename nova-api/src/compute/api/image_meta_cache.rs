//! nova-api's short-lived cache of Glance image metadata (`[glance]
//! image_metadata_cache_time`), so that a burst of server creates does not
//! ask Glance for the same image each time.
//!
//! Only active images are kept, each under the image id *and* the caller's
//! project and admin flag (what Glance decides visibility by): another
//! project never sees an image through this cache that Glance would not show
//! it. A lookup that fails, or finds an image not active, is never kept, so
//! an upload or a reactivation is seen at once; a deletion or deactivation
//! in Glance is seen within the cache time at most; one made through
//! nova-api's image proxy at once ([`ImageMetaCache::forget`]).

use nova_objects::ImageMeta;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Entries kept at most; past it, expired ones go first, then all.
const MAX_ENTRIES: usize = 1024;

/// Who asked: Glance shows an image by project (owner, members) and to admins.
type Key = (String, Option<String>, bool);

pub struct ImageMetaCache {
    ttl: Duration,
    entries: Mutex<HashMap<Key, (Instant, ImageMeta)>>,
}

impl ImageMetaCache {
    pub fn new(ttl: Duration) -> Self {
        ImageMetaCache {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Key, (Instant, ImageMeta)>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn key(image_id: &str, project_id: Option<&str>, is_admin: bool) -> Key {
        (
            image_id.to_string(),
            project_id.map(str::to_string),
            is_admin,
        )
    }

    /// The image as Glance showed it to this caller less than the cache time ago.
    pub fn get(
        &self,
        image_id: &str,
        project_id: Option<&str>,
        is_admin: bool,
    ) -> Option<ImageMeta> {
        if self.ttl.is_zero() {
            return None;
        }
        let key = Self::key(image_id, project_id, is_admin);
        let mut entries = self.lock();
        match entries.get(&key) {
            Some((at, meta)) if at.elapsed() < self.ttl => Some(meta.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Keep what Glance just showed this caller for `image_id`, if the image is active.
    pub fn put(&self, image_id: &str, project_id: Option<&str>, is_admin: bool, meta: &ImageMeta) {
        if self.ttl.is_zero() || meta.status != "active" {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(
            Self::key(image_id, project_id, is_admin),
            (Instant::now(), meta.clone()),
        );
    }

    /// Forget the image for every caller (it was deleted through nova-api).
    pub fn forget(&self, image_id: &str) {
        self.lock().retain(|(id, _, _), _| id != image_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, status: &str) -> ImageMeta {
        ImageMeta {
            id: id.into(),
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn keeps_active_images_per_project_for_the_cache_time() {
        let c = ImageMetaCache::new(Duration::from_millis(200));
        c.put("i1", Some("p1"), false, &image("i1", "active"));
        assert_eq!(c.get("i1", Some("p1"), false), Some(image("i1", "active")));
        // Another project, or the admin view, asks Glance itself.
        assert_eq!(c.get("i1", Some("p2"), false), None);
        assert_eq!(c.get("i1", Some("p1"), true), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(c.get("i1", Some("p1"), false), None, "expired");
    }

    #[test]
    fn never_keeps_what_is_not_active_and_forgets_deleted_images() {
        let c = ImageMetaCache::new(Duration::from_secs(60));
        for status in ["queued", "saving", "deactivated", "killed", "deleted"] {
            c.put("i1", Some("p1"), false, &image("i1", status));
            assert_eq!(c.get("i1", Some("p1"), false), None, "{status}");
        }
        c.put("i1", Some("p1"), false, &image("i1", "active"));
        c.put("i1", Some("p2"), false, &image("i1", "active"));
        c.put("i2", Some("p1"), false, &image("i2", "active"));
        c.forget("i1");
        assert_eq!(c.get("i1", Some("p1"), false), None);
        assert_eq!(c.get("i1", Some("p2"), false), None);
        assert!(c.get("i2", Some("p1"), false).is_some());
    }

    #[test]
    fn zero_disables_it_and_it_stays_bounded() {
        let c = ImageMetaCache::new(Duration::ZERO);
        c.put("i1", Some("p1"), false, &image("i1", "active"));
        assert_eq!(c.get("i1", Some("p1"), false), None);
        let c = ImageMetaCache::new(Duration::from_secs(60));
        for i in 0..(MAX_ENTRIES + 10) {
            c.put(
                &format!("i{i}"),
                Some("p1"),
                false,
                &image(&format!("i{i}"), "active"),
            );
        }
        assert!(c.lock().len() <= MAX_ENTRIES);
    }
}
