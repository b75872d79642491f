//! `nova-conductor`'s RPC API (topic `conductor`, default namespace): the
//! database proxy every other daemon uses, one trait per concern. The build
//! task is the `compute_task` namespace ([`crate::compute_task`]).
//!
//! Version history: 3.0. `compute_node_claim` was removed without a new
//! version: only the scheduler sent it, and the scheduler no longer claims
//! (the conductor's `compute_task` does, in its own process); every other
//! method is unchanged, so older clients keep working. Likewise
//! `instance_get_by_uuid_with_services` and
//! `instance_get_all_by_filters_with_services` (an instance read and the
//! services its `host_status` needs, in one round trip) were added to 3.0:
//! only nova-api sends them, and it falls back to the two separate calls
//! when a conductor answers that it has no such method.
//! `instance_sync_power_states` (nova-compute's `init_host`: every power
//! state that changed, in one call) was added the same way: a compute host
//! falls back to one `instance_update` each on NoSuchMethod.
//! `task_log_get`, `task_log_begin_task` and `task_log_end_task` (a compute
//! host's `instance_usage_audit` run) were added the same way: a compute
//! host whose conductor lacks them logs that its audit did not run.
//! `instance_ec2_ids` (an instance's EC2 ids for its metadata, which a
//! compute host needs for a config drive) was added the same way.
//! `instance_get_all_by_filters_known` (a listing that sends only the
//! instances the caller does not hold at their generation) likewise: only
//! nova-api sends it, and it falls back to the full listing on NoSuchMethod.
//! `fixed_ip_associate` (a server's requested fixed address) and
//! `fixed_ip_disassociate` (removeFixedIp) likewise: only nova-network sends
//! them, for requests older clients cannot make. `migration_update_progress`
//! (a live migration's progress) likewise: a source whose conductor lacks it
//! logs that and migrates on.

use nova_objects::{
    Aggregate, ComputeNode, ComputeNodeReport, ConsoleAuthToken, Ec2InstanceIds, FixedIp, Flavor,
    FloatingIp, Instance, InstanceAction, InstanceCreate, InstanceFault, InstanceFilters,
    InstanceGroup, InstanceUpdate, KeyPair, ListedInstance, LiveMigrationProgress, Migration,
    MigrationFilters, Network, NetworkCreate, QuotaUsage, SecurityGroup, SecurityGroupDefaultRule,
    SecurityGroupRule, Service, TaskLog, Timestamp, VirtualInterface,
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
        /// As `instance_get_by_uuid`, with the `nova-compute` service of the
        /// instance's host (none when it has none): what the API's
        /// `host_status` (microversion 2.16) needs, in the same round trip.
        call fn instance_get_by_uuid_with_services(instance_uuid: Uuid) -> (Instance, Vec<Service>);
        /// As `instance_get_all_by_filters`, with the `nova-compute` services
        /// of the hosts the instances are on (for `host_status`).
        call fn instance_get_all_by_filters_with_services(filters: InstanceFilters) -> (Vec<Instance>, Vec<Service>);
        /// As `instance_get_all_by_filters`, for a caller that holds some of
        /// the instances already: `known` are their uuids and the generations
        /// it holds them at; those listed at that generation come without
        /// their instance. With the `nova-compute` services of the listed
        /// instances' hosts when `with_services`.
        call fn instance_get_all_by_filters_known(filters: InstanceFilters, known: Vec<(Uuid, i64)>, with_services: bool) -> (Vec<ListedInstance>, Vec<Service>);
        /// Update columns; fails with UnexpectedTaskStateError when the compare-and-set does not match.
        /// Changing host or node releases the usage counted on the previous node.
        call fn instance_update(instance_uuid: Uuid, updates: InstanceUpdate) -> Instance;
        /// Record the power states the hypervisor of `host` reports for its
        /// instances (nova-compute's `init_host`), in one statement instead of
        /// one `instance_update` each; instances not on `host` are left alone.
        /// How many changed.
        call fn instance_sync_power_states(host: String, power_states: Vec<(Uuid, i32)>) -> i64;
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
        call fn virtual_interface_create(instance_uuid: Uuid, network_id: i64, address: String, tag: Option<String>) -> VirtualInterface;
        call fn fixed_ip_associate_pool(network_id: i64, instance_uuid: Uuid, host: Option<String>, virtual_interface_id: i64) -> FixedIp;
        call fn fixed_ip_get_by_instance(instance_uuid: Uuid) -> Vec<FixedIp>;
        /// One of the instance's addresses back to the pool (removeFixedIp).
        call fn fixed_ip_disassociate(address: String, instance_uuid: Uuid) -> ();
        /// The requested address in the network, for the instance (Nova's `fixed_ip_associate`).
        call fn fixed_ip_associate(address: String, network_id: i64, instance_uuid: Uuid, host: Option<String>, virtual_interface_id: i64) -> FixedIp;
        call fn virtual_interface_get_by_instance(instance_uuid: Uuid) -> Vec<VirtualInterface>;
        /// Release the instance's fixed IPs and delete its VIFs.
        call fn network_deallocate_instance(instance_uuid: Uuid) -> ();
        /// The fixed IP with this address (Nova's `FixedIP.get_by_address`; the
        /// metadata service finds a guest by its source address), or
        /// FixedIpNotFoundForAddress.
        call fn fixed_ip_get_by_address(address: String) -> FixedIp;
        /// Reserve or unreserve an address (`os-fixed-ips`).
        call fn fixed_ip_set_reserved(address: String, reserved: bool) -> FixedIp;
        /// Delete the network and its addresses unless one is in use (NetworkInUse).
        call fn network_delete_safe(network_uuid: Uuid) -> ();
        /// Give the network to a project, or make it shared again (None).
        call fn network_set_project(network_uuid: Uuid, project_id: Option<String>) -> Network;
        /// Set or clear the network's host.
        call fn network_set_host(network_uuid: Uuid, host: Option<String>) -> Network;
        /// Create a network and its fixed IPs (`os-networks` create).
        call fn network_create_safe(values: NetworkCreate) -> Network;
    }
    /// Floating IPs (for nova-network; reads for the API).
    trait FloatingIps {
        call fn floating_ip_get(floating_ip_id: i64) -> FloatingIp;
        call fn floating_ip_get_by_address(address: String) -> FloatingIp;
        call fn floating_ip_get_all_by_project(project_id: String) -> Vec<FloatingIp>;
        /// The floating IPs associated on network host `host`.
        call fn floating_ip_get_all_by_host(host: String) -> Vec<FloatingIp>;
        call fn floating_ip_get_by_fixed_ip_id(fixed_ip_id: i64) -> Vec<FloatingIp>;
        call fn floating_ip_get_pools() -> Vec<String>;
        /// Take a free address of `pool` for the project; with `quota_limit`, checked
        /// atomically against the project's floating IPs (FloatingIpLimitExceeded).
        call fn floating_ip_allocate_address(project_id: String, pool: String, auto_assigned: bool, quota_limit: Option<i64>) -> FloatingIp;
        call fn floating_ip_deallocate(address: String) -> ();
        /// The fixed IP now forwarded to, or None when it already was.
        call fn floating_ip_fixed_ip_associate(floating_address: String, fixed_address: String, host: String) -> Option<FixedIp>;
        /// The fixed IP it forwarded to, if any.
        call fn floating_ip_disassociate(address: String) -> Option<FixedIp>;
    }
    trait KeyPairs {
        call fn keypair_create(keypair: KeyPair) -> KeyPair;
        call fn keypair_get(user_id: String, name: String) -> KeyPair;
        call fn keypair_get_all(user_id: String) -> Vec<KeyPair>;
        call fn keypair_destroy(user_id: String, name: String) -> ();
        call fn keypair_count(user_id: String) -> i64;
    }
    /// Server groups (Nova's `InstanceGroup` object methods): members are
    /// added by `instance_create_within_quota`, removed by `instance_destroy`.
    trait InstanceGroups {
        /// Record a group within its project's `server_groups` quota (ServerGroupLimitExceeded).
        call fn instance_group_create(group: InstanceGroup) -> InstanceGroup;
        /// A group with its live members and their hosts (InstanceGroupNotFound).
        call fn instance_group_get_by_uuid(group_uuid: Uuid) -> InstanceGroup;
        /// Every group (None), or one project's.
        call fn instance_group_get_all(project_id: Option<String>) -> Vec<InstanceGroup>;
        /// The group an instance is a member of, if any.
        call fn instance_group_get_by_instance_uuid(instance_uuid: Uuid) -> Option<InstanceGroup>;
        call fn instance_group_destroy(group_uuid: Uuid) -> ();
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
        /// The defaults of every project: `[quota]` overridden by the `default` quota class.
        call fn quota_get_defaults() -> BTreeMap<String, i64>;
        /// A quota class's stored limits (resource → limit).
        call fn quota_class_get_all_by_name(class_name: String) -> BTreeMap<String, i64>;
        call fn quota_class_update(class_name: String, limits: BTreeMap<String, i64>) -> ();
    }
    /// Runs of periodic audit tasks (os-instance_usage_audit_log).
    trait TaskLogs {
        /// The runs of `task_name` for exactly this period, one per host.
        call fn task_log_get_all(task_name: String, period_beginning: Timestamp, period_ending: Timestamp) -> Vec<TaskLog>;
        /// The run of `task_name` by `host` for exactly this period (in `state` when given), if any.
        call fn task_log_get(task_name: String, period_beginning: Timestamp, period_ending: Timestamp, host: String, state: Option<String>) -> Option<TaskLog>;
        /// Start a run on `host`: RUNNING (TaskAlreadyRunning when one exists).
        call fn task_log_begin_task(task_name: String, period_beginning: Timestamp, period_ending: Timestamp, host: String, task_items: Option<i64>, message: Option<String>) -> ();
        /// Finish the RUNNING run on `host`: DONE, with its errors and message (TaskNotRunning).
        call fn task_log_end_task(task_name: String, period_beginning: Timestamp, period_ending: Timestamp, host: String, errors: i64, message: String) -> ();
    }
    trait Migrations {
        /// The live, unhidden migrations matching the filters, newest first (MarkerNotFound).
        call fn migration_get_all_by_filters(filters: MigrationFilters) -> Vec<Migration>;
        /// One migration (MigrationNotFound).
        call fn migration_get(migration_id: i64) -> Migration;
        /// Set its status when it is one of `expected` (any when None), or
        /// MigrationNotFound; a confirmed or reverted one holds no resources.
        call fn migration_update_status(migration_id: i64, status: String, expected: Option<Vec<String>>) -> Migration;
        /// A running live migration's progress, from its source.
        call fn migration_update_progress(migration_id: i64, progress: LiveMigrationProgress) -> ();
        /// The migrations under way that touch `host` (source or destination).
        call fn migration_get_in_progress_by_host(host: String) -> Vec<Migration>;
        /// The migrations under way of one instance.
        call fn migration_get_in_progress_by_instance(instance_uuid: Uuid) -> Vec<Migration>;
    }
    /// nova-network's security groups: groups, rules, members and the
    /// rules every new `default` group starts with.
    trait SecurityGroups {
        /// The project's `default` group, made with the default rules if missing.
        call fn security_group_ensure_default(project_id: String, user_id: String) -> SecurityGroup;
        /// Create the group if the project's `security_groups` quota allows (SecurityGroupLimitExceeded).
        call fn security_group_create(group: SecurityGroup) -> SecurityGroup;
        call fn security_group_get(security_group_id: i64) -> SecurityGroup;
        call fn security_group_get_by_name(project_id: String, name: String) -> SecurityGroup;
        call fn security_group_get_by_project(project_id: String) -> Vec<SecurityGroup>;
        call fn security_group_get_all() -> Vec<SecurityGroup>;
        call fn security_group_get_by_instance(instance_uuid: Uuid) -> Vec<SecurityGroup>;
        call fn security_group_update(security_group_id: i64, name: String, description: String) -> SecurityGroup;
        /// Delete a group no live instance uses, with its rules and the rules granting from it.
        call fn security_group_destroy(security_group_id: i64) -> ();
        call fn instance_add_security_group(instance_uuid: Uuid, security_group_id: i64) -> ();
        call fn instance_remove_security_group(instance_uuid: Uuid, security_group_id: i64) -> ();
        /// Add a rule if the group's `security_group_rules` quota allows.
        call fn security_group_rule_create(rule: SecurityGroupRule) -> SecurityGroupRule;
        call fn security_group_rule_get(rule_id: i64) -> SecurityGroupRule;
        call fn security_group_rule_destroy(rule_id: i64) -> ();
        /// The rules of the instance's groups; rules from a source group carry its members' fixed IPs.
        call fn security_group_rule_get_by_instance(instance_uuid: Uuid) -> Vec<SecurityGroupRule>;
        call fn instance_get_all_by_security_group_id(security_group_id: i64) -> Vec<Instance>;
        call fn instance_get_all_by_grantee_security_group_ids(group_ids: Vec<i64>) -> Vec<Instance>;
        call fn security_group_default_rule_create(rule: SecurityGroupDefaultRule) -> SecurityGroupDefaultRule;
        call fn security_group_default_rule_list() -> Vec<SecurityGroupDefaultRule>;
        call fn security_group_default_rule_get(rule_id: i64) -> SecurityGroupDefaultRule;
        call fn security_group_default_rule_destroy(rule_id: i64) -> ();
    }
    /// The EC2 API's ids (Nova's `instance_id_mappings` and `s3_images`):
    /// an integer per uuid, made on first reference, never reused.
    trait Ec2Ids {
        /// The id of each instance uuid, in order, made where missing.
        call fn ec2_instance_create(instance_uuids: Vec<Uuid>) -> Vec<i64>;
        /// The instance uuid of an id, or InstanceNotFound.
        call fn ec2_instance_get_by_id(instance_id: i64) -> Uuid;
        /// The id of each Glance image uuid, in order, made where missing.
        call fn s3_image_create(image_uuids: Vec<String>) -> Vec<i64>;
        /// The image uuid of an id, or ImageNotFound.
        call fn s3_image_get(image_id: i64) -> String;
        /// The ids of an instance and of its image, kernel and ramdisk, made
        /// where missing: what its metadata (service or config drive) shows.
        call fn instance_ec2_ids(instance_uuid: Uuid) -> Ec2InstanceIds;
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
        /// Set system metadata items (the metadata service's and
        /// os-server-password's `password_N`); the system metadata after.
        call fn instance_system_metadata_update(instance_uuid: Uuid, metadata: BTreeMap<String, String>, delete: bool) -> BTreeMap<String, String>;
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
        /// Instances, deleted or not, that may have run between `begin` and
        /// `end`, of one project or all, on one host or all (`host` added
        /// to 3.0: a caller that omits it asks for every host).
        call fn instance_get_active_by_window_joined(begin: Timestamp, end: Timestamp, project_id: Option<String>, host: Option<String>) -> Vec<Instance>;
    }
}
