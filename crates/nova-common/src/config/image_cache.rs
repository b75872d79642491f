//! `[image_cache]`: nova-compute's cache of base images.

use super::opt::{at_least, boolean, config_section, string};

config_section! {
    /// `[image_cache]`.
    pub struct ImageCacheSection in "image_cache" {
        /// Seconds between image cache cleanups (-1 disables).
        manager_interval: i64 = "2400", at_least(-1);
        /// Directory under instances_path holding cached base images.
        subdirectory_name: String = "_base", string();
        /// Remove cached images no instance on this host uses.
        remove_unused_base_images: bool = "true", boolean();
        /// Unused cached images younger than this are kept.
        remove_unused_original_minimum_age_seconds: u64 = "86400", at_least(0);
    }
}
