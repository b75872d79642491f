//! `nova-api`'s RPC API (topic `api`), served only to receive the
//! conductor's fanout casts: what nova-api keeps of the database between
//! requests and when to forget it. Not in upstream Nova, whose nova-api
//! reads the database itself on every request.
//!
//! Version history (nova-rs): 1.0 `flavors_changed`; 1.1
//! `instances_created`.

crate::rpc_api! {
    topic: "api", version: "1.1";
    /// A flavor, its extra specs or its access list changed: forget the
    /// cached flavors (cast by the conductor to the fanout exchange after
    /// each such write, before it answers the writer).
    cast fn flavors_changed() -> ();
    /// Instances of the project were created: forget that it had none
    /// (cast by the conductor to the fanout exchange after each instance
    /// creation, before it answers the creator).
    cast fn instances_created(project_id: String) -> ();
}
