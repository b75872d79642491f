//! `[glance]`: where the image service is.

use super::opt::{at_least, config_section, list};

config_section! {
    /// `[glance]`.
    pub struct GlanceSection in "glance" {
        /// Glance API endpoints.
        api_servers: Vec<String> = "http://127.0.0.1:9292", list();
        /// Retries when talking to Glance.
        num_retries: u32 = "3", at_least(0);
    }
}
