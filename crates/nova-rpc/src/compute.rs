//! `nova-compute`'s RPC API (topic `compute`, addressed as `compute.<host>`).
//!
//! Version history (nova-rs): 5.1 `build_and_run_instance` gets the retry
//! information (`filter_properties`) and the alternate hosts (`host_list`),
//! which it hands back to the conductor when it reschedules a failed build.
//! 5.2 `refresh_instance_security_rules` (nova-network security groups).
//! 5.3 `backup_instance`, `shelve_instance`, `shelve_offload_instance`,
//! `unshelve_instance` (as Nova's, without accelerators).
//! 5.4 resize and cold migration, Nova's names and order: `prep_resize` on
//! the destination, `resize_instance` on the source, `finish_resize` on the
//! destination; then `confirm_resize` on the source, or `revert_resize` on
//! the destination and `finish_revert_resize` on the source.
//! 5.5 `get_diagnostics` and `get_instance_diagnostics`.
//! 5.6 `inject_network_info` (the admin action `injectNetworkInfo`),
//! `soft_delete_instance`, `restore_instance` (deferred delete).
//! 5.7 `rebuild_instance` (in place; no volumes).
//! 5.8 `rescue_instance`, `unrescue_instance` (as Nova's).
//! 5.9 `rebuild_instance` evacuates too: `recreate`, `on_shared_storage`,
//! the evacuation's `migration`, `scheduled_node`, `target_state` (2.95).
//! 5.10 `set_admin_password` (changePassword; a call, as Nova's).
//! 5.11 `build_and_run_instance` and `rebuild_instance` get Nova's
//! `admin_password`/`injected_files` (the personality files, `[path,
//! contents]` pairs, contents base64 as the user sent them), which only
//! a config drive carries to the guest.
//! 5.12 live migration, Nova's methods: `check_can_live_migrate_destination`
//! and `pre_live_migration` on the destination,
//! `check_can_live_migrate_source` and `live_migration` on the source (all
//! asked by the conductor, which here stands between the two hosts), then
//! `post_live_migration_at_destination` or
//! `rollback_live_migration_at_destination` (relayed by the conductor from
//! the source); `live_migration_force_complete` and `live_migration_abort`
//! (2.22, 2.24) on the source.
//! 5.13 `trigger_crash_dump` (2.17; Nova's 4.6), `add_fixed_ip_to_instance`
//! and `remove_fixed_ip_from_instance` (the multinic actions), `cache_images`
//! (an aggregate's image pre-caching, asked by the conductor).
//! 5.14 `reset_network` (the admin action `resetNetwork`).

use nova_objects::{
    ConsoleConnectInfo, Diagnostics, FilterProperties, Flavor, ImageMeta, Instance,
    LiveMigrateData, Migration, RequestSpec, Selection,
};

crate::rpc_api! {
    topic: "compute", version: "5.14";
    /// Build the instance on this host (cast by the conductor once it claimed
    /// the host's resources). A failed build is rescheduled through the
    /// conductor's `build_instances` while `filter_properties.retry` allows.
    cast fn build_and_run_instance(instance: Instance, image: ImageMeta, request_spec: RequestSpec, filter_properties: FilterProperties, admin_password: Option<String>, injected_files: Vec<(String, String)>, node: String, host_list: Vec<Selection>) -> ();
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
    /// Snapshot into the Glance image `image_id` (created by the API with
    /// `image_type=backup`), then delete the oldest backups of this instance
    /// and `backup_type` beyond `rotation`.
    cast fn backup_instance(instance: Instance, image_id: String, backup_type: String, rotation: i64) -> ();
    /// Power off, snapshot into `image_id` and mark the instance SHELVED
    /// (offloading at once when `[DEFAULT] shelved_offload_time` is 0).
    cast fn shelve_instance(instance: Instance, image_id: String, clean_shutdown: bool) -> ();
    /// Destroy the shelved guest and release the instance from this host.
    cast fn shelve_offload_instance(instance: Instance, clean_shutdown: bool) -> ();
    /// Spawn the offloaded instance here from its shelved image (cast by the
    /// conductor once it claimed this host's resources for it).
    cast fn unshelve_instance(instance: Instance, image: Option<ImageMeta>, filter_properties: FilterProperties, node: String, request_spec: RequestSpec) -> ();
    /// Destroy the guest and spawn it again from `image_ref` (the API has
    /// set the instance's `image_ref` already; `orig_image_ref` is the one
    /// it had). A STOPPED instance is powered off again afterwards.
    /// With `recreate` (an evacuation, cast by the conductor to the
    /// destination it claimed for `migration`): spawn the instance here on
    /// `scheduled_node` from its image (a fresh disk: no shared storage),
    /// take it over, migration `done`; STOPPED when it was, or when
    /// `target_state` is "stopped".
    cast fn rebuild_instance(instance: Instance, new_pass: Option<String>, injected_files: Vec<(String, String)>, image_ref: String, orig_image_ref: String, preserve_ephemeral: bool, recreate: bool, on_shared_storage: bool, migration: Option<Migration>, scheduled_node: Option<String>, target_state: Option<String>) -> ();
    /// Power the guest off and boot it from a rescue disk made from
    /// `rescue_image_ref` (None: the instance's own image) with its own
    /// disk attached second: RESCUED. `rescue_password` is the guest's
    /// admin password in the rescue system (None: one is generated).
    cast fn rescue_instance(instance: Instance, rescue_password: Option<String>, rescue_image_ref: Option<String>, clean_shutdown: bool) -> ();
    /// Put the original guest back, booted from its own disk: ACTIVE.
    cast fn unrescue_instance(instance: Instance) -> ();
    /// Set the guest's admin password (the API has set task_state
    /// updating_password; it is cleared whatever the outcome). Errors:
    /// QemuGuestAgentNotEnabled, InstancePasswordSetFailed.
    call fn set_admin_password(instance: Instance, new_pass: String) -> ();
    /// The last `tail_length` lines of the serial console (all when None).
    call fn get_console_output(instance: Instance, tail_length: Option<i64>) -> String;
    /// Where the guest's VNC server listens (`console_type` "novnc").
    call fn get_vnc_console(instance: Instance, console_type: String) -> ConsoleConnectInfo;
    /// Whether `port` is still the guest's console port (a token's check).
    call fn validate_console_port(instance: Instance, port: i64, console_type: String) -> bool;
    /// Rebuild the instance's firewall from its security groups' current
    /// rules and members (cast by the API when either changes).
    cast fn refresh_instance_security_rules(instance: Instance) -> ();
    /// On the destination of a resize or cold migration, whose resources the
    /// conductor claimed for `migration`: get ready, then hand over to the
    /// source (`resize_instance`).
    cast fn prep_resize(instance: Instance, flavor: Flavor, migration: Migration, clean_shutdown: bool) -> ();
    /// On the source: power the guest off and hand its disk over (the
    /// `disk_info` of `finish_resize`), then cast `finish_resize` to the destination.
    cast fn resize_instance(instance: Instance, migration: Migration, flavor: Flavor, clean_shutdown: bool) -> ();
    /// On the destination: take the instance over with its new flavor, start
    /// the guest from the disk handed over (unless it was stopped): VERIFY_RESIZE.
    cast fn finish_resize(instance: Instance, migration: Migration, disk_info: String) -> ();
    /// On the source: forget the old guest and its files (migration `confirmed`).
    cast fn confirm_resize(instance: Instance, migration: Migration) -> ();
    /// On the destination: destroy the new guest, then `finish_revert_resize` on the source.
    cast fn revert_resize(instance: Instance, migration: Migration) -> ();
    /// On the source: take the instance back with its old flavor and restart the old guest.
    cast fn finish_revert_resize(instance: Instance, migration: Migration) -> ();
    /// Power the guest off and mark the instance SOFT_DELETED.
    cast fn soft_delete_instance(instance: Instance) -> ();
    /// Power a SOFT_DELETED instance's guest on again: ACTIVE.
    cast fn restore_instance(instance: Instance) -> ();
    /// Refresh the guest's network from the instance's network info (the
    /// admin action `injectNetworkInfo`): its VIFs are plugged again.
    cast fn inject_network_info(instance: Instance) -> ();
    /// Reset the guest's networking (the admin action `resetNetwork`): as
    /// Nova's libvirt driver, which leaves it to the driver's no-op
    /// default, there is nothing to reset; the host logs the request.
    cast fn reset_network(instance: Instance) -> ();
    /// Inject an NMI into the guest (its kernel decides what follows: a
    /// crash dump, a panic, a log line). States stay as they are.
    cast fn trigger_crash_dump(instance: Instance) -> ();
    /// addFixedIp: nova-network gives the instance an address on the
    /// network (uuid or table id); the host records the network info and
    /// plugs the VIFs.
    cast fn add_fixed_ip_to_instance(instance: Instance, network_id: String) -> ();
    /// Nova's `cache_images`: each image into this host's image cache;
    /// per image `cached`, `existing`, `unsupported` or `error`.
    call fn cache_images(image_ids: Vec<String>) -> std::collections::BTreeMap<String, String>;
    /// removeFixedIp: the address back to its network.
    cast fn remove_fixed_ip_from_instance(instance: Instance, address: String) -> ();
    /// What `uptime` says on the host (`os-hypervisors/{id}/uptime`).
    call fn get_host_uptime() -> String;
    /// The guest's counters as the driver names them (diagnostics before 2.48).
    call fn get_diagnostics(instance: Instance) -> std::collections::BTreeMap<String, i64>;
    /// The guest's diagnostics in the standard format (2.48).
    call fn get_instance_diagnostics(instance: Instance) -> Diagnostics;
    /// On a live migration's destination: can this host take the running
    /// guest (the hypervisor, not the resources, which the conductor
    /// claimed)? What it is, for the source's checks.
    call fn check_can_live_migrate_destination(instance: Instance, block_migration: Option<bool>, disk_over_commit: Option<bool>) -> LiveMigrateData;
    /// On the source, with the destination's answer: decide the block
    /// migration (InvalidSharedStorage, InvalidLocalStorage when it cannot be).
    call fn check_can_live_migrate_source(instance: Instance, dest_check_data: LiveMigrateData) -> LiveMigrateData;
    /// On the destination: plug the guest's networks, prepare its files
    /// (an empty disk on the same base image for a block migration);
    /// where the source must send the guest.
    call fn pre_live_migration(instance: Instance, block_migration: bool, migrate_data: LiveMigrateData) -> LiveMigrateData;
    /// On the source (migration `preparing`, the destination prepared):
    /// migration `running`, the guest sent to `dest` while it runs; then
    /// the source's half of the clean-up and, through the conductor,
    /// `post_live_migration_at_destination`; on failure the rollback.
    cast fn live_migration(instance: Instance, dest: String, block_migration: bool, migration: Migration, migrate_data: LiveMigrateData) -> ();
    /// On the destination, the guest running here: the instance is this
    /// host's, task cleared, migration `completed`.
    cast fn post_live_migration_at_destination(instance: Instance, block_migration: bool, migration: Migration) -> ();
    /// On the destination of a failed live migration: whatever of the guest
    /// got here is destroyed (and its files, when `destroy_disks`).
    cast fn rollback_live_migration_at_destination(instance: Instance, destroy_disks: bool, migration: Migration) -> ();
    /// On the source: finish the running live migration now (the guest is
    /// paused for the rest of the copy).
    cast fn live_migration_force_complete(instance: Instance) -> ();
    /// On the source: abort the live migration (before it is done): the
    /// guest stays here, the migration `cancelled`.
    cast fn live_migration_abort(instance: Instance, migration_id: i64) -> ();
}
