//! `[glance]`: where the image service is.

use super::opt::{at_least, config_section, list};

config_section! {
    /// `[glance]`.
    pub struct GlanceSection in "glance" {
        /// Glance API endpoints.
        api_servers: Vec<String> = "http://127.0.0.1:9292", list();
        /// Retries when talking to Glance.
        num_retries: u32 = "3", at_least(0);
        /// Seconds nova-api keeps an active image's metadata (per image and
        /// project) instead of asking Glance again on every server create;
        /// 0 disables. An image deleted or deactivated in Glance may still be
        /// accepted by a create for at most this long (one deleted through
        /// nova-api is forgotten at once); the compute host still downloads
        /// it from Glance.
        image_metadata_cache_time: u64 = "5", at_least(0);
    }
}
