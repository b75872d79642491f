//! `nova-conductor`'s RPC API (topic `conductor`, default namespace): the
//! database proxy every other daemon uses, one trait per concern. The build
//! task is the `compute_task` namespace ([`crate::compute_task`]).
//!
//! Version history: 3.0. `compute_node_claim` was removed without a new
//! version: only the scheduler sent it, and the scheduler no longer claims
//! (the conductor's `compute_task` does, in its own process); every other
//! method is unchanged, so older clients keep working.

use nova_objects::{
    Aggregate, ComputeNode, ComputeNodeReport, ConsoleAuthToken, FixedIp, Flavor, Instance,
    InstanceAction, InstanceCreate, InstanceFault, InstanceFilters, InstanceUpdate, KeyPair,
    Network, QuotaUsage, Service, Timestamp, VirtualInterface,
};
use std::collections::BTreeMap;
use uuid::Uuid;

crate::rpc_api! {
    topic: "conductor", version: "3.0";
    /// The services table (servicegroup DB driver).
    trait Services {
        /// Create the service record if missing and record a check-in.
        call fn service_update(host: String, binary: String, topic: Option<String>) -> Service;
        call fn service_get_all() -> Vec<Service>;
        call fn service_set_disabled(host: String, binary: String, disabled: bool, disabled_reason: Option<String>) -> Service;
        call fn service_set_forced_down(host: String, binary: String, forced_down: bool) -> Service;
        call fn service_delete(service_id: i64) -> ();
    }
    /// Hypervisor resources. (Claims are the conductor's own business: its
    /// `compute_task` claims a host's resources before it builds there.)
    trait ComputeNodes {
        /// Store the hypervisor's resources; used amounts are recomputed from the host's instances.
        call fn compute_node_update(report: ComputeNodeReport) -> ComputeNode;
        call fn compute_node_get_all() -> Vec<ComputeNode>;
    }
    trait Flavors {
        call fn flavor_get_by_flavor_id(flavor_id: String) -> Flavor;
        call fn flavor_get_all(is_public: Option<bool>) -> Vec<Flavor>;
        call fn flavor_create(flavor: Flavor) -> Flavor;
        call fn flavor_destroy(flavor_id: String) -> ();
    }
    /// Instances, their faults and their actions.
    trait Instances {
        call fn instance_create(values: InstanceCreate) -> Instance;
        /// Create as many of `values` as the project's quota allows (at least `min_count`)
        /// in one transaction under a per-project lock, or none (QuotaExceeded).
        call fn instance_create_within_quota(values: Vec<InstanceCreate>, min_count: i64) -> Vec<Instance>;
        call fn instance_get_by_uuid(instance_uuid: Uuid) -> Instance;
        call fn instance_get_all_by_filters(filters: InstanceFilters) -> Vec<Instance>;
        /// Update columns; fails with UnexpectedTaskStateError when the compare-and-set does not match.
        /// Changing host or node releases the usage counted on the previous node.
        call fn instance_update(instance_uuid: Uuid, updates: InstanceUpdate) -> Instance;
        /// Soft-delete the instance (and free its compute node usage).
        call fn instance_destroy(instance_uuid: Uuid) -> Instance;
        call fn instance_fault_create(fault: InstanceFault) -> ();
        call fn action_event_start(instance_uuid: Uuid, request_id: String, event: String, host: String) -> ();
        call fn action_event_finish(instance_uuid: Uuid, request_id: String, event: String, result: String, traceback: Option<String>) -> ();
        call fn actions_get(instance_uuid: Uuid) -> Vec<InstanceAction>;
        call fn action_start(instance_uuid: Uuid, action: String, request_id: String) -> ();
    }
    /// Networks, fixed IPs and VIFs (for nova-network).
    trait Networks {
        call fn network_get_all() -> Vec<Network>;
        call fn network_get_by_uuid(network_uuid: Uuid) -> Network;
        call fn virtual_interface_create(instance_uuid: Uuid, network_id: i64, address: String) -> VirtualInterface;
        call fn fixed_ip_associate_pool(network_id: i64, instance_uuid: Uuid, host: Option<String>, virtual_interface_id: i64) -> FixedIp;
        call fn fixed_ip_get_by_instance(instance_uuid: Uuid) -> Vec<FixedIp>;
        call fn virtual_interface_get_by_instance(instance_uuid: Uuid) -> Vec<VirtualInterface>;
        /// Release the instance's fixed IPs and delete its VIFs.
        call fn network_deallocate_instance(instance_uuid: Uuid) -> ();
    }
    trait KeyPairs {
        call fn keypair_create(keypair: KeyPair) -> KeyPair;
        call fn keypair_get(user_id: String, name: String) -> KeyPair;
        call fn keypair_get_all(user_id: String) -> Vec<KeyPair>;
        call fn keypair_destroy(user_id: String, name: String) -> ();
        call fn keypair_count(user_id: String) -> i64;
    }
    /// Console authorizations (Nova's `ConsoleAuthToken` object methods).
    trait ConsoleAuthTokens {
        /// Store the authorization (its `token_hash` set), valid for `ttl` seconds from now.
        call fn console_auth_token_create(token: ConsoleAuthToken, ttl: i64) -> ConsoleAuthToken;
        /// The live authorization whose token hashes to `token_hash`, or InvalidToken.
        call fn console_auth_token_validate(token_hash: String) -> ConsoleAuthToken;
        call fn console_auth_token_destroy_all_by_instance(instance_uuid: Uuid) -> ();
        /// Purge the expired authorizations; how many there were.
        call fn console_auth_token_destroy_expired() -> i64;
    }
    trait Quotas {
        /// The project's quota overrides (resource → limit).
        call fn quota_get_all_by_project(project_id: String) -> BTreeMap<String, i64>;
        call fn quota_update(project_id: String, limits: BTreeMap<String, i64>) -> ();
        call fn quota_destroy_all_by_project(project_id: String) -> ();
        call fn quota_usage(project_id: String) -> QuotaUsage;
    }
    /// Flavor extra specs, access lists and descriptions (admin changes through the API).
    trait FlavorExtras {
        /// Add or change extra specs; all of the flavor's extra specs after.
        call fn flavor_extra_specs_update_or_create(flavor_id: String, extra_specs: BTreeMap<String, String>) -> BTreeMap<String, String>;
        /// Remove one, or FlavorExtraSpecsNotFound.
        call fn flavor_extra_specs_delete(flavor_id: String, key: String) -> ();
        /// The projects a flavor is shared with.
        call fn flavor_access_get_by_flavor_id(flavor_id: String) -> Vec<String>;
        /// Share it (FlavorAccessExists if it is); the projects after.
        call fn flavor_access_add(flavor_id: String, project_id: String) -> Vec<String>;
        /// Stop sharing it (FlavorAccessNotFound if it was not); the projects after.
        call fn flavor_access_remove(flavor_id: String, project_id: String) -> Vec<String>;
        call fn flavor_update_description(flavor_id: String, description: Option<String>) -> Flavor;
    }
    /// Server metadata and tags.
    trait InstanceMetadata {
        /// Set these items (and with `delete`, remove every other); the metadata after.
        call fn instance_metadata_update(instance_uuid: Uuid, metadata: BTreeMap<String, String>, delete: bool) -> BTreeMap<String, String>;
        /// Remove one item; whether there was one.
        call fn instance_metadata_delete(instance_uuid: Uuid, key: String) -> bool;
        call fn instance_tag_get_by_instance_uuid(instance_uuid: Uuid) -> Vec<String>;
        /// Replace all of the tags; the tags after.
        call fn instance_tag_set(instance_uuid: Uuid, tags: Vec<String>) -> Vec<String>;
        call fn instance_tag_add(instance_uuid: Uuid, tag: String) -> ();
        /// Remove one, or InstanceTagNotFound.
        call fn instance_tag_delete(instance_uuid: Uuid, tag: String) -> ();
    }
    /// Host aggregates (admins, through the API).
    trait Aggregates {
        call fn aggregate_get_all() -> Vec<Aggregate>;
        call fn aggregate_get(aggregate_id: i64) -> Aggregate;
        /// AggregateNameExists if the name is taken.
        call fn aggregate_create(name: String, availability_zone: Option<String>) -> Aggregate;
        call fn aggregate_update(aggregate_id: i64, name: Option<String>, availability_zone: Option<String>) -> Aggregate;
        /// Only an aggregate without hosts (InvalidAggregateActionDelete).
        call fn aggregate_delete(aggregate_id: i64) -> ();
        call fn aggregate_host_add(aggregate_id: i64, host: String) -> Aggregate;
        call fn aggregate_host_delete(aggregate_id: i64, host: String) -> Aggregate;
        /// Set metadata items; a null value removes the item.
        call fn aggregate_metadata_update(aggregate_id: i64, metadata: BTreeMap<String, Option<String>>) -> Aggregate;
    }
    /// Usage over a period (`os-simple-tenant-usage`).
    trait Usage {
        /// Instances, deleted or not, that may have run between `begin` and `end`, of one project or all.
        call fn instance_get_active_by_window_joined(begin: Timestamp, end: Timestamp, project_id: Option<String>) -> Vec<Instance>;
    }
}
