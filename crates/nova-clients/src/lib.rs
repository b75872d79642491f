//! HTTP clients for the OpenStack services Nova talks to.

pub mod glance;

pub use glance::GlanceClient;
