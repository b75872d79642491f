//! The conductor's `compute_task` namespace (Nova's `ComputeTaskAPI`): the
//! long-running tasks, on topic `conductor`.
//!
//! A build waits for the scheduler's answer. Were builds consumed from the
//! `conductor` queue, enough of them would fill the conductor's prefetch
//! window and every compute host's database-proxy call would wait behind
//! them. So the namespace has a queue of its own, `conductor_compute_task`,
//! consumed with its own window; the conductor still serves the namespace on
//! `conductor` too, for a client that sends it there as oslo.messaging does.
//!
//! Version history (as Nova's): 1.17 `schedule_and_build_instances`; 1.19
//! `build_instances`, the reschedule of a build that failed on its host,
//! with the request spec and the remaining alternate hosts (`host_lists`);
//! nova-rs 1.20: `unshelve_instance` with its request spec (Nova's arguments).

use nova_objects::{FilterProperties, ImageMeta, Instance, RequestSpec, Selection};
use uuid::Uuid;

crate::rpc_api! {
    topic: "conductor", namespace: "compute_task", version: "1.20", queue: "conductor_compute_task";
    /// Schedule the instances and cast their builds to the chosen hosts.
    cast fn schedule_and_build_instances(request_spec: RequestSpec, instance_uuids: Vec<Uuid>) -> ();
    /// Build again elsewhere (cast by a compute host whose build failed): the
    /// next alternate of `host_lists`, or the scheduler's choice among the
    /// hosts not tried yet, until `[scheduler] max_attempts`.
    /// Unshelve (cast by the API): power a SHELVED instance on where it is,
    /// or schedule a SHELVED_OFFLOADED one (`request_spec` carries the zone
    /// and, at 2.91, the requested host), claim the host and cast its
    /// `unshelve_instance`.
    cast fn unshelve_instance(instance: Instance, request_spec: RequestSpec) -> ();
    cast fn build_instances(instances: Vec<Instance>, image: ImageMeta, filter_properties: FilterProperties, request_spec: RequestSpec, host_lists: Vec<Vec<Selection>>) -> ();
}
