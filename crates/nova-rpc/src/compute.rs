//! `nova-compute`'s RPC API (topic `compute`, addressed as `compute.<host>`).

use nova_objects::{ConsoleConnectInfo, ImageMeta, Instance, RequestSpec};

crate::rpc_api! {
    topic: "compute", version: "5.0";
    /// Build the instance on this host (cast by the conductor after scheduling).
    cast fn build_and_run_instance(instance: Instance, image: ImageMeta, request_spec: RequestSpec, node: String) -> ();
    /// Destroy the instance and release what it holds (cast by the API).
    cast fn terminate_instance(instance: Instance) -> ();
    /// `reboot_type` is "SOFT" or "HARD".
    cast fn reboot_instance(instance: Instance, reboot_type: String) -> ();
    cast fn stop_instance(instance: Instance, clean_shutdown: bool) -> ();
    cast fn start_instance(instance: Instance) -> ();
    cast fn pause_instance(instance: Instance) -> ();
    cast fn unpause_instance(instance: Instance) -> ();
    cast fn suspend_instance(instance: Instance) -> ();
    cast fn resume_instance(instance: Instance) -> ();
    /// Snapshot the instance's disk and upload it to the Glance image `image_id`.
    cast fn snapshot_instance(instance: Instance, image_id: String) -> ();
    /// The last `tail_length` lines of the serial console (all when None).
    call fn get_console_output(instance: Instance, tail_length: Option<i64>) -> String;
    /// Where the guest's VNC server listens (`console_type` "novnc").
    call fn get_vnc_console(instance: Instance, console_type: String) -> ConsoleConnectInfo;
    /// Whether `port` is still the guest's console port (a token's check).
    call fn validate_console_port(instance: Instance, port: i64, console_type: String) -> bool;
}
