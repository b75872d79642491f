//! `nova-scheduler`'s RPC API (topic `scheduler`).

use nova_objects::{RequestSpec, Selection};
use uuid::Uuid;

crate::rpc_api! {
    topic: "scheduler", version: "4.5";
    /// Pick a host for each instance, claim its resources, return the choices.
    call fn select_destinations(spec: RequestSpec, instance_uuids: Vec<Uuid>) -> Vec<Selection>;
}
