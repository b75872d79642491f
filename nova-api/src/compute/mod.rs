//! Nova's `nova/compute/` as seen from the API: [`api`] runs inside nova-api
//! and talks to the conductor and compute hosts over RPC.

pub mod api;
