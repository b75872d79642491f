//! `nova-compute`'s RPC API (topic `compute`, addressed as `compute.<host>`).

use nova_objects::{ImageMeta, Instance, RequestSpec};

crate::rpc_api! {
    topic: "compute", version: "5.0";
    /// Build the instance on this host (cast by the conductor after scheduling).
    cast fn build_and_run_instance(instance: Instance, image: ImageMeta, request_spec: RequestSpec, node: String) -> ();
    /// Destroy the instance and release what it holds (cast by the API).
    cast fn terminate_instance(instance: Instance) -> ();
}
