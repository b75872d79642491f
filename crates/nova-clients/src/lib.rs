//! HTTP clients for the OpenStack services Nova talks to.

pub mod glance;
pub mod keystone;

pub use glance::GlanceClient;
