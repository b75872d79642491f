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
//! nova-rs 1.20: `unshelve_instance` with its request spec (Nova's arguments);
//! 1.21 `migrate_server` (nova-rs: Nova's arguments that matter for a
//! resize or cold migration; a live one goes through `live_migrate_instance`, 1.24), and the
//! hand-overs between the two compute hosts of a migration, which Nova's
//! hosts cast to each other: here each compute host's broker user may
//! publish only to the control plane, so it asks the conductor, which
//! checks the migration names it and forwards the compute method of the
//! same name to the other host, with the instance as the database has it.
//! nova-rs 1.22: `rebuild_instance` (Nova's arguments, without the volume
//! ones): an in-place rebuild forwarded to the instance's host, or an
//! evacuation (`recreate`) scheduled, claimed and cast to the destination.
//! nova-rs 1.23: `schedule_and_build_instances`, `build_instances` and
//! `rebuild_instance` carry Nova's `admin_password` and `injected_files`
//! (the personality files) on to the compute host's config drive.
//! nova-rs 1.24: `live_migrate_instance` (Nova's `ComputeTaskAPI` method
//! of that name, which Nova sends as `migrate_server` with `live`): a call,
//! answered once the destination is chosen, claimed and checked by both
//! hosts; and the source's two hand-overs at a live migration's end.
//! nova-rs 1.25: `cache_images` (an aggregate's image pre-caching, 2.81).
//! nova-rs 1.26: `migrate_server` is a call, as Nova's: the API answers a
//! resize or cold migration no host can take with 400 NoValidHost.

use nova_objects::{
    Aggregate, FilterProperties, Flavor, ImageMeta, Instance, RequestSpec, Selection,
};
use uuid::Uuid;

crate::rpc_api! {
    topic: "conductor", namespace: "compute_task", version: "1.26", queue: "conductor_compute_task";
    /// Image pre-caching (2.81, cast by the API): each compute host of the
    /// aggregate that is up is asked to cache the images; the outcome is
    /// logged per image (cached, existing, error, unsupported, skipped).
    cast fn cache_images(aggregate: Aggregate, image_ids: Vec<String>) -> ();
    /// Schedule the instances and cast their builds to the chosen hosts.
    cast fn schedule_and_build_instances(request_spec: RequestSpec, instance_uuids: Vec<Uuid>, admin_password: Option<String>, injected_files: Vec<(String, String)>) -> ();
    /// Build again elsewhere (cast by a compute host whose build failed): the
    /// next alternate of `host_lists`, or the scheduler's choice among the
    /// hosts not tried yet, until `[scheduler] max_attempts`.
    /// Unshelve (cast by the API): power a SHELVED instance on where it is,
    /// or schedule a SHELVED_OFFLOADED one (`request_spec` carries the zone
    /// and, at 2.91, the requested host), claim the host and cast its
    /// `unshelve_instance`.
    cast fn unshelve_instance(instance: Instance, request_spec: RequestSpec) -> ();
    /// Resize (to `flavor`) or cold-migrate (the same flavor) the instance,
    /// which the API put in resize_prep: schedule a destination (the source
    /// excluded unless `allow_resize_to_same_host` for a resize;
    /// `request_spec.force_hosts` for an admin's target host), claim it,
    /// record the migration and cast `prep_resize` there. Answered once
    /// `prep_resize` is cast, or with the failure (NoValidHost "No valid
    /// host found for resize" / "for cold migrate"), the instance back as
    /// it was (task_state cleared) with a fault and the migration `error`.
    call fn migrate_server(instance: Instance, flavor: Flavor, live: bool, clean_shutdown: bool, request_spec: RequestSpec) -> ();
    /// From a migration's destination (after its `prep_resize`): forward
    /// `resize_instance` to the source.
    cast fn resize_instance(instance_uuid: Uuid, migration_id: i64, clean_shutdown: bool) -> ();
    /// From a migration's source (the disk handed over): forward
    /// `finish_resize` to the destination.
    cast fn finish_resize(instance_uuid: Uuid, migration_id: i64, disk_info: String) -> ();
    /// From a migration's destination (its guest destroyed by a revert):
    /// forward `finish_revert_resize` to the source.
    cast fn finish_revert_resize(instance_uuid: Uuid, migration_id: i64) -> ();
    /// From a migration's destination, when `[DEFAULT] resize_confirm_window`
    /// has passed (the instance already resize_confirming, the migration
    /// `confirming`): forward `confirm_resize` to the source.
    cast fn confirm_resize(instance_uuid: Uuid, migration_id: i64) -> ();
    /// Rebuild (cast by the API, task_state rebuilding): in place
    /// (`recreate` false) the instance's host gets `rebuild_instance`; an
    /// evacuation (`recreate`) from a host that is down gets a destination
    /// from the scheduler (the source excluded; `host` when the admin
    /// forced one), claimed here with a migration of type `evacuation`,
    /// then `rebuild_instance` with `recreate` there. `target_state`
    /// "stopped" (2.95) leaves the evacuated instance STOPPED.
    cast fn rebuild_instance(instance: Instance, orig_image_ref: String, image_ref: String, new_pass: Option<String>, injected_files: Vec<(String, String)>, recreate: bool, on_shared_storage: bool, preserve_ephemeral: bool, host: Option<String>, request_spec: RequestSpec, target_state: Option<String>) -> ();
    /// Live-migrate the instance (which the API put in `migrating`): to
    /// `host` as named (forced: no scheduler), or where the scheduler finds
    /// room (`request_spec.force_hosts` to check a named host); the
    /// destination claimed with a `live-migration` migration, both hosts'
    /// checks passed, the destination prepared, then `live_migration` cast
    /// to the source. Answered when the source has it or with the error
    /// (NoValidHost, MigrationPreCheckError, ComputeServiceUnavailable,
    /// UnableToMigrateToSelf, InvalidSharedStorage...), the instance back
    /// as it was and the migration `failed` or `error`.
    call fn live_migrate_instance(instance: Instance, host: Option<String>, block_migration: Option<bool>, disk_over_commit: Option<bool>, request_spec: RequestSpec) -> ();
    /// From a live migration's source, the guest running on the
    /// destination: forward `post_live_migration_at_destination` there.
    cast fn post_live_migration_at_destination(instance_uuid: Uuid, migration_id: i64, block_migration: bool) -> ();
    /// From a live migration's source, the migration failed or aborted:
    /// forward `rollback_live_migration_at_destination` there.
    cast fn rollback_live_migration_at_destination(instance_uuid: Uuid, migration_id: i64, destroy_disks: bool) -> ();
    cast fn build_instances(instances: Vec<Instance>, image: ImageMeta, filter_properties: FilterProperties, admin_password: Option<String>, injected_files: Vec<(String, String)>, request_spec: RequestSpec, host_lists: Vec<Vec<Selection>>) -> ();
}
