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
