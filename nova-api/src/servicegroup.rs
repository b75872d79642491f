//! Nova's servicegroup API (database driver): a service is up when it
//! reported within `[DEFAULT] service_down_time`.

use chrono::Utc;
use nova_common::NovaConfig;
use nova_objects::Service;

pub fn service_is_up(cfg: &NovaConfig, s: &Service) -> bool {
    s.is_up(Utc::now(), cfg.default.service_down_time)
}

/// `"up"` or `"down"`, as the API shows a service's state.
pub fn state(cfg: &NovaConfig, s: &Service) -> &'static str {
    if service_is_up(cfg, s) {
        "up"
    } else {
        "down"
    }
}
