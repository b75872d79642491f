//! `nova-scheduler`'s RPC API (topic `scheduler`).
//!
//! Version history (as Nova's `SchedulerAPI`):
//! - 4.5: `select_destinations` returns, per instance, a list of `Selection`
//!   objects: the selected host, then up to `[scheduler] max_attempts` - 1
//!   alternates when `return_alternates` is set. The scheduler no longer
//!   claims resources (nova-conductor does) and never calls the conductor
//!   while answering; its argument is `spec_obj`, as Nova names it. Each
//!   `Selection` carries the host's `availability_zone`. The fanout casts
//!   `update_aggregates` and `delete_aggregate` (Nova's, since 4.1) keep
//!   the scheduler's host aggregates current between refreshes.

use nova_objects::{Aggregate, RequestSpec, Selection};
use uuid::Uuid;

crate::rpc_api! {
    topic: "scheduler", version: "4.5";
    /// Choose a host for each instance from the scheduler's cached host
    /// states, consuming the request there, plus alternates for reschedules.
    /// One list per instance, in the order of `instance_uuids`. Always the
    /// objects form of Nova's reply (`return_objects=True`).
    call fn select_destinations(spec_obj: RequestSpec, instance_uuids: Vec<Uuid>, return_alternates: bool) -> Vec<Vec<Selection>>;
    /// These aggregates were created or changed (their hosts or metadata):
    /// the hosts' availability zones follow at once. Cast by nova-conductor
    /// to the fanout exchange after the write, before it answers.
    cast fn update_aggregates(aggregates: Vec<Aggregate>) -> ();
    /// This aggregate was deleted.
    cast fn delete_aggregate(aggregate: Aggregate) -> ();
}
