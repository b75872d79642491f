//! The OpenStack API (Nova's `nova/api/openstack/`): the compute API on
//! `osapi_compute_listen_port`, its microversions and shared helpers.

pub mod api_version_request;
pub mod common;
pub mod compute;
pub mod identity;
