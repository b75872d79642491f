//! `nova-compute`'s RPC API (topic `compute`, addressed as `compute.<host>`).
//!
//! Version history (nova-rs): 5.1 `build_and_run_instance` gets the retry
//! information (`filter_properties`) and the alternate hosts (`host_list`),
//! which it hands back to the conductor when it reschedules a failed build.
//! 5.2 `refresh_instance_security_rules` (nova-network security groups).
//! 5.3 `get_diagnostics` and `get_instance_diagnostics`.

use nova_objects::{
    ConsoleConnectInfo, Diagnostics, FilterProperties, ImageMeta, Instance, RequestSpec, Selection,
};

crate::rpc_api! {
    topic: "compute", version: "5.3";
    /// Build the instance on this host (cast by the conductor once it claimed
    /// the host's resources). A failed build is rescheduled through the
    /// conductor's `build_instances` while `filter_properties.retry` allows.
    cast fn build_and_run_instance(instance: Instance, image: ImageMeta, request_spec: RequestSpec, filter_properties: FilterProperties, node: String, host_list: Vec<Selection>) -> ();
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
    /// Rebuild the instance's firewall from its security groups' current
    /// rules and members (cast by the API when either changes).
    cast fn refresh_instance_security_rules(instance: Instance) -> ();
    /// What `uptime` says on the host (`os-hypervisors/{id}/uptime`).
    call fn get_host_uptime() -> String;
    /// The guest's counters as the driver names them (diagnostics before 2.48).
    call fn get_diagnostics(instance: Instance) -> std::collections::BTreeMap<String, i64>;
    /// The guest's diagnostics in the standard format (2.48).
    call fn get_instance_diagnostics(instance: Instance) -> Diagnostics;
}
