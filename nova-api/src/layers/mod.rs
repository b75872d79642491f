//! The request pipeline as separate tower layers, one per filter of Nova's
//! api-paste pipeline, so that each listener composes its own stack:
//!
//! ```text
//! request_id → run_to_completion → fault → request_log → size_limit → reject_nul
//!   → legacy_v2 → project_id::strip → auth → context → microversion → project_id::check → handler
//! ```
//!
//! Each module exports an `axum::middleware` function (with its own small
//! state where it needs one); `openstack::compute::app` shows the
//! composition for the compute API.

pub mod auth;
pub mod context;
pub mod fault;
pub mod legacy_v2;
pub mod microversion;
pub mod project_id;
pub mod reject_nul;
pub mod request_id;
pub mod request_log;
pub mod run_to_completion;
pub mod size_limit;
