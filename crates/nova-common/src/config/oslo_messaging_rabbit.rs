//! `[oslo_messaging_rabbit]`: the RabbitMQ connection, as oslo.messaging
//! names its options.

use super::opt::{at_least, config_section};

config_section! {
    /// `[oslo_messaging_rabbit]`.
    pub struct RabbitSection in "oslo_messaging_rabbit" {
        /// Seconds before an unresponsive broker connection is considered dead (0 disables heartbeats).
        heartbeat_timeout_threshold: u16 = "60", at_least(0);
        /// Seconds added to the reconnect delay on each failed attempt.
        rabbit_retry_backoff: u64 = "2", at_least(1);
        /// Maximum seconds between reconnect attempts.
        rabbit_interval_max: u64 = "30", at_least(1);
    }
}
