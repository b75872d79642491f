//! Shared foundations of every Nova daemon: configuration, request context,
//! the error type that crosses RPC and API boundaries, instance state enums
//! and the state-transition table of every instance action,
//! logging and shutdown.

pub mod audit;
pub mod config;
pub mod context;
pub mod error;
pub mod service;
pub mod states;
pub mod systemd;
pub mod transitions;
pub mod trust;

pub use config::NovaConfig;
pub use context::RequestContext;
pub use error::{NovaError, NovaResult};

/// oslo's `strutils.bool_from_string` (not strict): true for `1`, `t`,
/// `true`, `on`, `y` and `yes` in any case, around any whitespace; false
/// for anything else.
pub fn bool_from_string(s: &str) -> bool {
    matches!(
        s.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes"
    )
}
