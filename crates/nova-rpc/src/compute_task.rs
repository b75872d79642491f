//! The conductor's `compute_task` namespace (Nova's `ComputeTaskAPI`): the
//! long-running tasks, on topic `conductor`.
//!
//! A build waits for the scheduler, and the scheduler calls the conductor's
//! database proxy while it chooses. Were builds consumed from the `conductor`
//! queue, enough of them would fill the conductor's prefetch window and the
//! scheduler's calls would wait behind them until every RPC timed out. So
//! the namespace has a queue of its own, `conductor_compute_task`, consumed
//! with its own window; the conductor still serves the namespace on
//! `conductor` too, for a client that sends it there as oslo.messaging does.

use nova_objects::RequestSpec;
use uuid::Uuid;

crate::rpc_api! {
    topic: "conductor", namespace: "compute_task", version: "1.17", queue: "conductor_compute_task";
    /// Schedule the instances and cast their builds to the chosen hosts.
    cast fn schedule_and_build_instances(request_spec: RequestSpec, instance_uuids: Vec<Uuid>) -> ();
}
