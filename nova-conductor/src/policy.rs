//! Who may call what of the conductor: the authorization table.
//!
//! Every request is authorized by its caller, the broker user that published
//! it (see [`nova_common::trust`]), before it runs:
//!
//! - the control plane (nova-api, the conductor itself, nova-scheduler,
//!   nova-network, nova-novncproxy) may call everything, with the context its
//!   message carries (nova-api has already applied the user's policy);
//! - a compute host may only do what a hypervisor of its own needs
//!   ([`compute_rule`], one arm per method: a method added to the API does
//!   not compile until it has a rule). Its context gets no privileges:
//!   `is_admin` and roles from its message are dropped, so they gain nothing;
//! - anyone else may call nothing.
//!
//! A refusal is `PolicyNotAuthorized`, changes nothing, and is logged with
//! the caller by the server.

use async_trait::async_trait;
use nova_common::states::{TaskState, VmState};
use nova_common::trust::Caller;
use nova_common::{NovaError, RequestContext};
use nova_db::{Db, InstanceOwner};
use nova_objects::{ComputeNodeReport, Flavor, InstanceFilters, InstanceUpdate};
use nova_rpc::server::{not_authorized, Policy};
use nova_rpc::{compute_task, conductor};
use uuid::Uuid;

use crate::manager::retry_on_disconnect;

/// What a compute host's request needs, decided from the request alone.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Rule {
    Allow,
    Refuse(String),
    /// The instance (deleted or not) must be on the caller's host.
    OwnInstance(Uuid),
    /// As `OwnInstance`, and the API must have asked for its deletion
    /// (task_state `deleting`): the host cannot delete a server on its own.
    OwnInstanceBeingDeleted(Uuid),
    /// A public flavor, or one an instance of the caller's host uses.
    FlavorInUse(String),
    /// A migration (resize, cold migration) the caller is the source or
    /// the destination of.
    OwnMigration(i64),
    /// An update that moves the instance to the caller (a resize finishing
    /// there, or reverting to it), possibly changing its flavor: only with
    /// a migration of the instance under way between the caller and another
    /// host, and only to the migration's old or new flavor.
    MoveInstanceHere {
        uuid: Uuid,
        flavor_id: Option<i64>,
    },
    /// The caller is the migration's source (`true`) or destination, and
    /// the migration is of this instance.
    MigrationSide {
        id: i64,
        uuid: Uuid,
        source: bool,
    },
}

/// What a compute host may ask of the conductor: the table, one arm per method.
pub(crate) fn compute_rule(host: &str, req: &conductor::Request) -> Rule {
    use conductor::Request as R;
    let refuse = |why: &str| Rule::Refuse(why.to_string());
    match req {
        // --- services: its own check-in only ---
        R::service_update {
            host: h,
            binary,
            topic,
        } => {
            if h == host
                && binary == "nova-compute"
                && matches!(topic.as_deref(), None | Some("compute"))
            {
                Rule::Allow
            } else {
                refuse("a compute host checks in only its own nova-compute service")
            }
        }
        R::service_get_all {}
        | R::service_set_disabled { .. }
        | R::service_set_forced_down { .. }
        | R::service_delete { .. } => refuse("services are the control plane's to list and change"),

        // --- compute nodes: report its own ---
        R::compute_node_update { report } => {
            if report.host != host {
                refuse("a compute host reports only its own nodes")
            } else if let Err(why) = plausible(report) {
                Rule::Refuse(why)
            } else {
                Rule::Allow
            }
        }
        R::compute_node_get_all {} => refuse("nodes are the scheduler's to read"),

        // --- flavors: read those of its instances ---
        R::flavor_get_by_flavor_id { flavor_id } => Rule::FlavorInUse(flavor_id.clone()),
        R::flavor_get_all { .. } | R::flavor_create { .. } | R::flavor_destroy { .. } => {
            refuse("flavors are the control plane's to list and change")
        }

        // --- instances: those assigned to it ---
        R::instance_create { .. } | R::instance_create_within_quota { .. } => {
            refuse("instances are created by the API")
        }
        R::instance_get_by_uuid { instance_uuid } => Rule::OwnInstance(*instance_uuid),
        R::instance_get_all_by_filters { filters } => {
            if filters.host.as_deref() == Some(host) {
                Rule::Allow
            } else {
                refuse("a compute host lists only its own host's instances")
            }
        }
        R::instance_get_by_uuid_with_services { .. }
        | R::instance_get_all_by_filters_with_services { .. }
        | R::instance_get_all_by_filters_known { .. } => {
            refuse("services are the control plane's to list and change")
        }
        R::instance_update {
            instance_uuid,
            updates,
        } => match moves_here(host, updates) {
            Ok(true) => Rule::MoveInstanceHere {
                uuid: *instance_uuid,
                flavor_id: updates.flavor.as_ref().map(|f| f.id),
            },
            Ok(false) => match update_stays_on(host, updates) {
                Ok(()) => Rule::OwnInstance(*instance_uuid),
                Err(why) => Rule::Refuse(why),
            },
            Err(why) => Rule::Refuse(why),
        },
        R::instance_sync_power_states { host: h, .. } => {
            // The statement itself touches only instances on `h`.
            if h == host {
                Rule::Allow
            } else {
                refuse("a compute host records power states of its own instances only")
            }
        }
        R::instance_destroy { instance_uuid } => Rule::OwnInstanceBeingDeleted(*instance_uuid),
        R::instance_fault_create { fault } => {
            if fault.host.as_deref().is_none_or(|h| h == host) {
                Rule::OwnInstance(fault.instance_uuid)
            } else {
                refuse("a compute host records faults under its own name")
            }
        }
        R::action_event_start {
            instance_uuid,
            host: h,
            ..
        } => {
            if h == host {
                Rule::OwnInstance(*instance_uuid)
            } else {
                refuse("a compute host records events under its own name")
            }
        }
        R::action_event_finish { instance_uuid, .. }
        | R::actions_get { instance_uuid }
        | R::action_start { instance_uuid, .. } => Rule::OwnInstance(*instance_uuid),

        // --- networks: the deployment's networks, its instances' addresses ---
        R::network_get_all {} | R::network_get_by_uuid { .. } => Rule::Allow,
        R::fixed_ip_get_by_instance { instance_uuid }
        | R::virtual_interface_get_by_instance { instance_uuid } => {
            Rule::OwnInstance(*instance_uuid)
        }
        R::virtual_interface_create { .. }
        | R::fixed_ip_associate_pool { .. }
        | R::fixed_ip_associate { .. }
        | R::fixed_ip_disassociate { .. }
        | R::network_deallocate_instance { .. }
        | R::fixed_ip_get_by_address { .. }
        | R::fixed_ip_set_reserved { .. }
        | R::network_delete_safe { .. }
        | R::network_set_project { .. }
        | R::network_create_safe { .. }
        | R::network_set_host { .. } => refuse("addresses are nova-network's to give and take"),
        R::floating_ip_get { .. }
        | R::floating_ip_get_by_address { .. }
        | R::floating_ip_get_all_by_project { .. }
        | R::floating_ip_get_all_by_host { .. }
        | R::floating_ip_get_by_fixed_ip_id { .. }
        | R::floating_ip_get_pools { .. }
        | R::floating_ip_allocate_address { .. }
        | R::floating_ip_deallocate { .. }
        | R::floating_ip_fixed_ip_associate { .. }
        | R::floating_ip_disassociate { .. } => {
            refuse("floating IPs are nova-network's to give and take")
        }

        // --- users' key pairs and projects' quotas: never ---
        R::keypair_create { .. }
        | R::keypair_get { .. }
        | R::keypair_get_all { .. }
        | R::keypair_destroy { .. }
        | R::keypair_count { .. } => refuse("key pairs are their users' own"),
        R::quota_get_all_by_project { .. }
        | R::quota_update { .. }
        | R::quota_destroy_all_by_project { .. }
        | R::quota_usage { .. }
        | R::quota_get_defaults { .. }
        | R::quota_class_get_all_by_name { .. }
        | R::quota_class_update { .. } => refuse("quotas are the control plane's"),
        // Its own evacuations, to clean up after when it comes back (Nova's
        // `_destroy_evacuated_instances`).
        R::migration_get_all_by_filters { filters } => {
            if filters.source_compute.as_deref() == Some(host) {
                Rule::Allow
            } else {
                refuse("a compute host lists only the migrations from its own host")
            }
        }
        R::migration_get_in_progress_by_instance { .. } => {
            refuse("migrations are listed by the API")
        }
        R::migration_get { migration_id }
        | R::migration_update_status { migration_id, .. }
        | R::migration_update_progress { migration_id, .. } => Rule::OwnMigration(*migration_id),
        R::migration_get_in_progress_by_host { host: h } => {
            if h == host {
                Rule::Allow
            } else {
                refuse("a compute host lists only its own host's migrations")
            }
        }
        R::task_log_get_all { .. } => refuse("audit logs are read by the API"),
        // Its own runs of the usage audit (Nova's `_instance_usage_audit`).
        R::task_log_get { host: h, .. }
        | R::task_log_begin_task { host: h, .. }
        | R::task_log_end_task { host: h, .. } => {
            if h == host {
                Rule::Allow
            } else {
                refuse("a compute host records only its own host's audit runs")
            }
        }
        R::instance_group_create { .. }
        | R::instance_group_get_by_uuid { .. }
        | R::instance_group_get_all { .. }
        | R::instance_group_get_by_instance_uuid { .. }
        | R::instance_group_destroy { .. } => {
            refuse("server groups are their projects' own, managed through the API")
        }

        // --- security groups: the rules of its own instances (its firewall) ---
        R::security_group_rule_get_by_instance { instance_uuid }
        | R::security_group_get_by_instance { instance_uuid } => Rule::OwnInstance(*instance_uuid),
        R::security_group_ensure_default { .. }
        | R::security_group_create { .. }
        | R::security_group_get { .. }
        | R::security_group_get_by_name { .. }
        | R::security_group_get_by_project { .. }
        | R::security_group_get_all { .. }
        | R::security_group_update { .. }
        | R::security_group_destroy { .. }
        | R::instance_add_security_group { .. }
        | R::instance_remove_security_group { .. }
        | R::security_group_rule_create { .. }
        | R::security_group_rule_get { .. }
        | R::security_group_rule_destroy { .. }
        | R::instance_get_all_by_security_group_id { .. }
        | R::instance_get_all_by_grantee_security_group_ids { .. }
        | R::security_group_default_rule_create { .. }
        | R::security_group_default_rule_list { .. }
        | R::security_group_default_rule_get { .. }
        | R::security_group_default_rule_destroy { .. } => {
            refuse("security groups are their projects' own, managed through the API")
        }

        // --- console tokens: issued by the API, checked by the console proxy ---
        R::console_auth_token_create { .. }
        | R::console_auth_token_validate { .. }
        | R::console_auth_token_destroy_all_by_instance { .. }
        | R::console_auth_token_destroy_expired { .. } => {
            refuse("console tokens are the control plane's")
        }

        // --- flavor extras: changed by admins through the API ---
        R::flavor_extra_specs_update_or_create { .. }
        | R::flavor_extra_specs_delete { .. }
        | R::flavor_access_get_by_flavor_id { .. }
        | R::flavor_access_add { .. }
        | R::flavor_access_remove { .. }
        | R::flavor_update_description { .. } => {
            refuse("flavors are the control plane's to list and change")
        }

        // --- server metadata and tags: the API's (a host reads them with its instance) ---
        R::instance_metadata_update { .. }
        | R::instance_metadata_delete { .. }
        | R::instance_system_metadata_update { .. }
        | R::instance_tag_get_by_instance_uuid { .. }
        | R::instance_tag_set { .. }
        | R::instance_tag_add { .. }
        | R::instance_tag_delete { .. } => {
            refuse("server metadata, tags and passwords are the API's to change")
        }

        // --- host aggregates: the control plane's ---
        R::aggregate_get_all {}
        | R::aggregate_get { .. }
        | R::aggregate_create { .. }
        | R::aggregate_update { .. }
        | R::aggregate_delete { .. }
        | R::aggregate_host_add { .. }
        | R::aggregate_host_delete { .. }
        | R::aggregate_metadata_update { .. } => refuse("aggregates are the control plane's"),

        // --- the EC2 API's ids and a server's metadata: the API's ---
        R::ec2_instance_create { .. }
        | R::ec2_instance_get_by_id { .. }
        | R::s3_image_create { .. }
        | R::s3_image_get { .. } => refuse("EC2 ids are the API's"),
        // Its own instance's, for the instance's config drive.
        R::instance_ec2_ids { instance_uuid } => Rule::OwnInstance(*instance_uuid),
        // --- usage reports: the API's, over every project ---
        // Its own host's instances, for its usage audit.
        R::instance_get_active_by_window_joined { host: Some(h), .. } if h == host => Rule::Allow,
        R::instance_get_active_by_window_joined { .. } => {
            refuse("usage reports are the control plane's")
        }
    }
}

/// What a compute host may ask of the `compute_task` namespace: to hand
/// back a build of its own that failed, for rescheduling (the conductor
/// releases the host's claim and chooses elsewhere; it takes the flavor from
/// the instance, not from the request).
pub(crate) fn compute_task_rule(_host: &str, req: &compute_task::Request) -> Rule {
    match req {
        compute_task::Request::schedule_and_build_instances { .. } => {
            Rule::Refuse("builds are started by the API".into())
        }
        compute_task::Request::unshelve_instance { .. } => {
            Rule::Refuse("unshelving is started by the API".into())
        }
        compute_task::Request::migrate_server { .. } => {
            Rule::Refuse("resizes and migrations are started by the API".into())
        }
        compute_task::Request::rebuild_instance { .. } => {
            Rule::Refuse("rebuilds and evacuations are started by the API".into())
        }
        compute_task::Request::live_migrate_instance { .. } => {
            Rule::Refuse("live migrations are started by the API".into())
        }
        compute_task::Request::cache_images { .. } => {
            Rule::Refuse("image pre-caching is started by the API".into())
        }
        compute_task::Request::post_live_migration_at_destination {
            instance_uuid,
            migration_id,
            ..
        }
        | compute_task::Request::rollback_live_migration_at_destination {
            instance_uuid,
            migration_id,
            ..
        } => Rule::MigrationSide {
            id: *migration_id,
            uuid: *instance_uuid,
            source: true,
        },
        compute_task::Request::resize_instance {
            instance_uuid,
            migration_id,
            ..
        }
        | compute_task::Request::finish_revert_resize {
            instance_uuid,
            migration_id,
        }
        | compute_task::Request::confirm_resize {
            instance_uuid,
            migration_id,
        } => Rule::MigrationSide {
            id: *migration_id,
            uuid: *instance_uuid,
            source: false,
        },
        compute_task::Request::finish_resize {
            instance_uuid,
            migration_id,
            ..
        } => Rule::MigrationSide {
            id: *migration_id,
            uuid: *instance_uuid,
            source: true,
        },
        compute_task::Request::build_instances { instances, .. } => match instances.as_slice() {
            [one] => Rule::OwnInstance(one.uuid),
            _ => Rule::Refuse("a compute host hands back one build at a time".into()),
        },
    }
}

/// Whether the update moves the instance to the caller (host set to it,
/// nothing else that only users and admins change); an update that changes
/// the flavor must be such a move.
fn moves_here(host: &str, u: &InstanceUpdate) -> Result<bool, String> {
    let here = u.host.as_ref().is_some_and(|h| h.as_deref() == Some(host));
    let flavors = u.flavor.is_some() || u.old_flavor.is_some() || u.new_flavor.is_some();
    if !here {
        return if flavors {
            Err("a flavor changes only with a resize finishing or reverting".into())
        } else {
            Ok(false)
        };
    }
    if u.launched_on.is_some()
        || u.locked.is_some()
        || u.locked_by.is_some()
        || u.trusted_certs.is_some()
    {
        return Err("a move takes the instance, nothing more".into());
    }
    Ok(true)
}

/// An update a compute host may make: never one that moves the instance
/// (host, node, launched_on) or locks it; the rest (states, times, network
/// info) is the host's to report. The one exception is releasing a shelved
/// instance of its own (shelve offload, or a failed unshelve): host, node
/// and launched_on cleared together with vm_state SHELVED_OFFLOADED.
fn update_stays_on(host: &str, u: &InstanceUpdate) -> Result<(), String> {
    let elsewhere =
        |v: &Option<Option<String>>| v.as_ref().is_some_and(|h| h.as_deref() != Some(host));
    let cleared = |v: &Option<Option<String>>| matches!(v, None | Some(None));
    let offloads = u.vm_state == Some(VmState::ShelvedOffloaded)
        && u.host == Some(None)
        && cleared(&u.node)
        && cleared(&u.launched_on);
    if offloads {
        // Released, not moved.
    } else if elsewhere(&u.host) || elsewhere(&u.launched_on) || u.node.is_some() {
        return Err("an instance stays on its host: a compute host cannot move it".into());
    }
    if u.locked.is_some() || u.locked_by.is_some() {
        return Err("locking is for users and admins".into());
    }
    if u.trusted_certs.is_some() {
        return Err("the trusted image certificates are the user's choice".into());
    }
    Ok(())
}

/// A node report whose numbers are numbers: nothing negative, ratios finite and positive.
fn plausible(r: &ComputeNodeReport) -> Result<(), String> {
    let res = &r.resources;
    let amounts = [
        res.vcpus,
        res.memory_mb,
        res.local_gb,
        res.disk_available_least.unwrap_or(0),
        r.reserved_host_memory_mb,
        r.reserved_host_disk_mb,
        r.reserved_host_cpus,
    ];
    let ratios = [
        r.cpu_allocation_ratio,
        r.ram_allocation_ratio,
        r.disk_allocation_ratio,
    ];
    if amounts.iter().any(|a| *a < 0) || ratios.iter().any(|x| !x.is_finite() || *x <= 0.0) {
        return Err("the node report is not plausible (negative amounts or bad ratios)".into());
    }
    Ok(())
}

/// The context a compute host's request runs with: who it acts for, under
/// which request id, but no privileges of its own making.
fn compute_context(mut ctx: RequestContext) -> RequestContext {
    ctx.is_admin = false;
    ctx.roles.clear();
    ctx
}

/// What the table's rules look up.
#[async_trait]
pub trait Lookup: Send + Sync + 'static {
    /// The instance's owner and host, deleted or not.
    async fn instance(&self, uuid: Uuid) -> Result<InstanceOwner, NovaError>;
    async fn flavor(&self, flavor_id: &str) -> Result<Flavor, NovaError>;
    /// Whether an instance of `host` uses the flavor with this database id.
    async fn flavor_used_on(&self, host: &str, id: i64) -> Result<bool, NovaError>;
    async fn migration(&self, id: i64) -> Result<nova_objects::Migration, NovaError>;
    /// The instance's migrations under way.
    async fn migrations_in_progress(
        &self,
        uuid: Uuid,
    ) -> Result<Vec<nova_objects::Migration>, NovaError>;
    /// The instance's migrations of every kind, whatever their status.
    async fn migrations_of(&self, uuid: Uuid) -> Result<Vec<nova_objects::Migration>, NovaError>;
}

#[async_trait]
impl Lookup for Db {
    async fn instance(&self, uuid: Uuid) -> Result<InstanceOwner, NovaError> {
        retry_on_disconnect("instance_owner", || self.instance_owner(uuid)).await
    }

    async fn flavor(&self, flavor_id: &str) -> Result<Flavor, NovaError> {
        retry_on_disconnect("flavor_get_by_flavor_id", || {
            self.flavor_get_by_flavor_id(flavor_id)
        })
        .await
    }

    async fn flavor_used_on(&self, host: &str, id: i64) -> Result<bool, NovaError> {
        let filters = InstanceFilters {
            host: Some(host.to_string()),
            flavor_id: Some(id),
            limit: Some(1),
            ..Default::default()
        };
        retry_on_disconnect("instance_get_all_by_filters", || {
            self.instance_get_all_by_filters(&filters)
        })
        .await
        .map(|v| !v.is_empty())
    }

    async fn migration(&self, id: i64) -> Result<nova_objects::Migration, NovaError> {
        retry_on_disconnect("migration_get", || self.migration_get(id)).await
    }

    async fn migrations_in_progress(
        &self,
        uuid: Uuid,
    ) -> Result<Vec<nova_objects::Migration>, NovaError> {
        retry_on_disconnect("migration_get_in_progress", || {
            self.migration_get_in_progress(Some(uuid), None)
        })
        .await
    }

    async fn migrations_of(&self, uuid: Uuid) -> Result<Vec<nova_objects::Migration>, NovaError> {
        let filters = nova_objects::MigrationFilters {
            instance_uuid: Some(uuid),
            ..Default::default()
        };
        retry_on_disconnect("migration_get_all_by_filters", || {
            self.migration_get_all_by_filters(&filters)
        })
        .await
    }
}

/// The conductor's policy, over both of its namespaces.
pub struct ConductorPolicy<L = Db> {
    lookup: L,
}

impl<L: Lookup> ConductorPolicy<L> {
    pub(crate) fn new(lookup: L) -> Self {
        ConductorPolicy { lookup }
    }

    /// The migration under way of the instance that `host` is the source or
    /// the destination of, if any.
    async fn migrating_with(
        &self,
        uuid: Uuid,
        host: &str,
    ) -> Result<Option<nova_objects::Migration>, NovaError> {
        Ok(self
            .lookup
            .migrations_in_progress(uuid)
            .await?
            .into_iter()
            .find(|m| {
                m.source_compute.as_deref() == Some(host) || m.dest_compute.as_deref() == Some(host)
            }))
    }

    /// Whether the instance was evacuated from `host` and `host` has not
    /// cleaned up after it yet (the evacuation `accepted` or `done`, not
    /// yet `completed`): it may read the instance to destroy its guest.
    async fn evacuated_from(&self, uuid: Uuid, host: &str) -> Result<bool, NovaError> {
        Ok(self.lookup.migrations_of(uuid).await?.iter().any(|m| {
            m.migration_type.as_deref() == Some("evacuation")
                && m.source_compute.as_deref() == Some(host)
                && m.evacuation_to_clean_up()
        }))
    }

    /// Whether `host` is the source of the instance's resize or cold
    /// migration it has just marked `confirmed` while the instance is still
    /// being confirmed: it settles the instance after the migration (Nova's
    /// order, so that whoever sees the instance settled sees the migration
    /// confirmed), and records the confirmation's event.
    async fn confirming_from(
        &self,
        i: &InstanceOwner,
        uuid: Uuid,
        host: &str,
    ) -> Result<bool, NovaError> {
        if i.task_state != Some(TaskState::ResizeConfirming) {
            return Ok(false);
        }
        let latest = self
            .lookup
            .migrations_of(uuid)
            .await?
            .into_iter()
            .filter(|m| matches!(m.migration_type.as_deref(), Some("resize" | "migration")))
            .max_by_key(|m| m.id);
        Ok(latest.is_some_and(|m| {
            m.source_compute.as_deref() == Some(host) && m.status.as_deref() == Some("confirmed")
        }))
    }

    /// Apply `rule` for compute host `host`; the instance it looked at, if any.
    async fn check(
        &self,
        caller: &Caller,
        host: &str,
        rule: Rule,
    ) -> Result<Option<InstanceOwner>, NovaError> {
        let on_host = |i: &InstanceOwner| i.host.as_deref() == Some(host);
        match rule {
            Rule::Allow => Ok(None),
            Rule::Refuse(why) => Err(not_authorized(caller, why)),
            Rule::OwnInstance(uuid) => {
                let i = self.lookup.instance(uuid).await?;
                if on_host(&i)
                    || self.migrating_with(uuid, host).await?.is_some()
                    || self.evacuated_from(uuid, host).await?
                    || self.confirming_from(&i, uuid, host).await?
                {
                    Ok(Some(i))
                } else {
                    Err(not_authorized(
                        caller,
                        format!("instance {uuid} is not on host {host}"),
                    ))
                }
            }
            Rule::OwnInstanceBeingDeleted(uuid) => {
                let i = self.lookup.instance(uuid).await?;
                if !on_host(&i) {
                    Err(not_authorized(
                        caller,
                        format!("instance {uuid} is not on host {host}"),
                    ))
                } else if !i.deleted && i.task_state != Some(TaskState::Deleting) {
                    Err(not_authorized(
                        caller,
                        format!("instance {uuid} is not being deleted"),
                    ))
                } else {
                    Ok(Some(i))
                }
            }
            Rule::OwnMigration(id) => {
                let m = self.lookup.migration(id).await?;
                let mine = [&m.source_compute, &m.dest_compute]
                    .iter()
                    .any(|h| h.as_deref() == Some(host));
                if mine {
                    Ok(None)
                } else {
                    Err(not_authorized(
                        caller,
                        format!("migration {id} is not from or to host {host}"),
                    ))
                }
            }
            Rule::MigrationSide { id, uuid, source } => {
                let m = self.lookup.migration(id).await?;
                let side = if source {
                    &m.source_compute
                } else {
                    &m.dest_compute
                };
                if side.as_deref() == Some(host) && m.instance_uuid == Some(uuid) {
                    Ok(None)
                } else {
                    Err(not_authorized(
                        caller,
                        format!("host {host} is not that side of migration {id} of {uuid}"),
                    ))
                }
            }
            Rule::MoveInstanceHere { uuid, flavor_id } => {
                let i = self.lookup.instance(uuid).await?;
                if on_host(&i) && flavor_id.is_none() {
                    // Not a move: it is here already.
                    return Ok(Some(i));
                }
                let Some(m) = self.migrating_with(uuid, host).await? else {
                    return Err(not_authorized(
                        caller,
                        format!("no migration of instance {uuid} involves host {host}"),
                    ));
                };
                let flavor_ok = flavor_id.is_none_or(|f| {
                    m.old_instance_type_id == Some(f) || m.new_instance_type_id == Some(f)
                });
                if flavor_ok {
                    Ok(Some(i))
                } else {
                    Err(not_authorized(
                        caller,
                        format!("flavor {flavor_id:?} is not one of migration {}", m.id),
                    ))
                }
            }
            Rule::FlavorInUse(flavor_id) => {
                let f = self.lookup.flavor(&flavor_id).await?;
                if f.is_public || self.lookup.flavor_used_on(host, f.id).await? {
                    Ok(None)
                } else {
                    Err(not_authorized(
                        caller,
                        format!("no instance of host {host} uses flavor {flavor_id}"),
                    ))
                }
            }
        }
    }
}

#[async_trait]
impl<L: Lookup> Policy<conductor::Request> for ConductorPolicy<L> {
    async fn authorize(
        &self,
        caller: &Caller,
        ctx: RequestContext,
        req: &conductor::Request,
    ) -> Result<RequestContext, NovaError> {
        let host = match caller {
            Caller::ControlPlane { .. } => return Ok(ctx),
            Caller::Unknown { .. } => return Err(not_authorized(caller, "not a Nova service")),
            Caller::ComputeHost { host, .. } => host,
        };
        let seen = self.check(caller, host, compute_rule(host, req)).await?;
        let mut ctx = compute_context(ctx);
        // An action is recorded for the instance's owner, not for whoever the message names.
        if let (conductor::Request::action_start { .. }, Some(i)) = (req, seen) {
            ctx.user_id = Some(i.user_id);
            ctx.project_id = Some(i.project_id);
        }
        Ok(ctx)
    }
}

#[async_trait]
impl<L: Lookup> Policy<compute_task::Request> for ConductorPolicy<L> {
    async fn authorize(
        &self,
        caller: &Caller,
        ctx: RequestContext,
        req: &compute_task::Request,
    ) -> Result<RequestContext, NovaError> {
        let host = match caller {
            Caller::ControlPlane { .. } => return Ok(ctx),
            Caller::Unknown { .. } => return Err(not_authorized(caller, "not a Nova service")),
            Caller::ComputeHost { host, .. } => host,
        };
        self.check(caller, host, compute_task_rule(host, req))
            .await?;
        Ok(compute_context(ctx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::Instance;
    use nova_objects::{
        ComputeNodeReport, ConsoleAuthToken, HostResources, InstanceCreate, InstanceFault, KeyPair,
        RequestSpec,
    };
    use std::collections::{BTreeMap, BTreeSet, HashMap};

    const H1: &str = "h1";
    const H2: &str = "h2";

    fn uuid(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    /// On h1: instance 1 (running, private flavor 7), instance 2 (being
    /// deleted), instance 3 (deleted). On h2: instance 4. On h3: instances 5
    /// and 6 (evacuated there).
    struct Fake {
        instances: HashMap<Uuid, Instance>,
        flavors: Vec<Flavor>,
    }

    impl Fake {
        fn new() -> Self {
            let inst = |n: u128, host: &str, task: Option<TaskState>, deleted: bool| Instance {
                id: n as i64,
                uuid: uuid(n),
                user_id: format!("user{n}"),
                project_id: format!("project{n}"),
                host: Some(host.into()),
                instance_type_id: if host == H1 { 7 } else { 1 },
                task_state: task,
                deleted,
                ..Default::default()
            };
            let flavor = |id: i64, flavorid: &str, is_public: bool| Flavor {
                id,
                flavorid: flavorid.into(),
                is_public,
                ..Default::default()
            };
            Fake {
                instances: [
                    inst(1, H1, None, false),
                    inst(2, H1, Some(TaskState::Deleting), false),
                    inst(3, H1, None, true),
                    inst(4, H2, None, false),
                    inst(5, "h3", None, false),
                    inst(6, "h3", None, false),
                    inst(7, "h3", Some(TaskState::ResizeConfirming), false),
                    inst(8, "h3", None, false),
                ]
                .into_iter()
                .map(|i| (i.uuid, i))
                .collect(),
                flavors: vec![
                    flavor(1, "public", true),
                    flavor(7, "private-used", false),
                    flavor(8, "private-unused", false),
                ],
            }
        }
    }

    #[async_trait]
    impl Lookup for Fake {
        async fn instance(&self, uuid: Uuid) -> Result<InstanceOwner, NovaError> {
            self.instances
                .get(&uuid)
                .map(InstanceOwner::from)
                .ok_or(NovaError::InstanceNotFound {
                    instance_id: uuid.to_string(),
                })
        }
        async fn flavor(&self, flavor_id: &str) -> Result<Flavor, NovaError> {
            self.flavors
                .iter()
                .find(|f| f.flavorid == flavor_id)
                .cloned()
                .ok_or(NovaError::FlavorNotFound {
                    flavor_id: flavor_id.into(),
                })
        }
        async fn flavor_used_on(&self, host: &str, id: i64) -> Result<bool, NovaError> {
            Ok(self
                .instances
                .values()
                .any(|i| i.host.as_deref() == Some(host) && i.instance_type_id == id))
        }
        async fn migration(&self, id: i64) -> Result<nova_objects::Migration, NovaError> {
            self.migrations()
                .into_iter()
                .find(|m| m.id == id)
                .ok_or(NovaError::MigrationNotFound {
                    migration_id: id.to_string(),
                })
        }
        async fn migrations_in_progress(
            &self,
            uuid: Uuid,
        ) -> Result<Vec<nova_objects::Migration>, NovaError> {
            Ok(self
                .migrations()
                .into_iter()
                .filter(|m| m.instance_uuid == Some(uuid) && m.in_progress())
                .collect())
        }
        async fn migrations_of(
            &self,
            uuid: Uuid,
        ) -> Result<Vec<nova_objects::Migration>, NovaError> {
            Ok(self
                .migrations()
                .into_iter()
                .filter(|m| m.instance_uuid == Some(uuid))
                .collect())
        }
    }

    impl Fake {
        /// Migration 5: instance 4 resizing from h2 to h3 (flavors 1 → 7);
        /// 6: instance 5 evacuated from h1 to h3 (`done`); 7: instance 6
        /// evacuated from h2 to h3, cleaned up (`completed`); 8 and 9:
        /// instance 7 resized from h1, then from h2, the last one just
        /// confirmed (the instance still `resize_confirming`); 10: instance
        /// 8 resized from h2, confirmed and settled.
        fn migrations(&self) -> Vec<nova_objects::Migration> {
            let resize = nova_objects::Migration {
                id: 5,
                uuid: uuid(5),
                created_at: None,
                updated_at: None,
                source_compute: Some(H2.into()),
                dest_compute: Some("h3".into()),
                dest_host: None,
                source_node: Some(H2.into()),
                dest_node: Some("h3".into()),
                status: Some("migrating".into()),
                instance_uuid: Some(uuid(4)),
                old_instance_type_id: Some(1),
                new_instance_type_id: Some(7),
                migration_type: Some("resize".into()),
                hidden: false,
                user_id: None,
                project_id: None,
                progress: Default::default(),
            };
            let evacuation = |id: i64, n: u128, from: &str, status: &str| nova_objects::Migration {
                id,
                uuid: uuid(id as u128 + 100),
                source_compute: Some(from.into()),
                source_node: Some(from.into()),
                dest_compute: Some("h3".into()),
                dest_node: Some("h3".into()),
                status: Some(status.into()),
                instance_uuid: Some(uuid(n)),
                migration_type: Some("evacuation".into()),
                ..resize.clone()
            };
            // An older resize of instance 7 from h1, and its latest from h2.
            let confirmed = |id: i64, n: u128, from: &str| nova_objects::Migration {
                id,
                uuid: uuid(id as u128 + 100),
                source_compute: Some(from.into()),
                source_node: Some(from.into()),
                status: Some("confirmed".into()),
                instance_uuid: Some(uuid(n)),
                ..resize.clone()
            };
            vec![
                resize.clone(),
                evacuation(6, 5, H1, "done"),
                evacuation(7, 6, H2, "completed"),
                confirmed(8, 7, H1),
                confirmed(9, 7, H2),
                confirmed(10, 8, H2),
            ]
        }
    }

    fn control() -> Caller {
        Caller::ControlPlane {
            user: "nova".into(),
        }
    }

    fn compute(host: &str) -> Caller {
        Caller::ComputeHost {
            user: format!("nova-compute.{host}"),
            host: host.into(),
        }
    }

    /// An admin-looking context: none of it helps a compute host.
    fn claims_admin() -> RequestContext {
        let mut ctx = RequestContext::admin();
        ctx.user_id = Some("someone".into());
        ctx.project_id = Some("somewhere".into());
        ctx
    }

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Outcome {
        Allowed,
        Refused,
        NotFound,
    }
    use Outcome::*;

    async fn outcome<R: Sync + 'static>(
        policy: &dyn Policy<R>,
        caller: &Caller,
        req: &R,
    ) -> Outcome {
        match policy.authorize(caller, claims_admin(), req).await {
            Ok(ctx) => {
                if !caller.is_control_plane() {
                    assert!(!ctx.is_admin && ctx.roles.is_empty(), "{caller}: {ctx:?}");
                }
                Allowed
            }
            Err(NovaError::PolicyNotAuthorized { action }) => {
                assert!(action.contains(&caller.to_string()), "{action}");
                Refused
            }
            Err(NovaError::InstanceNotFound { .. } | NovaError::FlavorNotFound { .. }) => NotFound,
            Err(e) => panic!("{caller}: unexpected {e:?}"),
        }
    }

    fn report(host: &str, memory_mb: i64, ratio: f64) -> ComputeNodeReport {
        ComputeNodeReport {
            host: host.into(),
            resources: HostResources {
                vcpus: 8,
                memory_mb,
                local_gb: 100,
                ..Default::default()
            },
            cpu_allocation_ratio: 16.0,
            ram_allocation_ratio: ratio,
            disk_allocation_ratio: 1.0,
            ..Default::default()
        }
    }

    /// Every conductor method, as compute host h1 would send it about its
    /// own things (and a few about others'), and what h1 and h2 may do with it.
    fn conductor_cases() -> Vec<(conductor::Request, Outcome, Outcome)> {
        use conductor::Request as R;
        let own = uuid(1);
        let update = |u: InstanceUpdate| R::instance_update {
            instance_uuid: own,
            updates: u,
        };
        vec![
            (
                R::service_update {
                    host: H1.into(),
                    binary: "nova-compute".into(),
                    topic: Some("compute".into()),
                },
                Allowed,
                Refused,
            ),
            (
                R::service_update {
                    host: H1.into(),
                    binary: "nova-scheduler".into(),
                    topic: None,
                },
                Refused,
                Refused,
            ),
            (R::service_get_all {}, Refused, Refused),
            (
                R::service_set_disabled {
                    host: H1.into(),
                    binary: "nova-compute".into(),
                    disabled: false,
                    disabled_reason: None,
                },
                Refused,
                Refused,
            ),
            (
                R::service_set_forced_down {
                    host: H1.into(),
                    binary: "nova-compute".into(),
                    forced_down: false,
                },
                Refused,
                Refused,
            ),
            (R::service_delete { service_id: 1 }, Refused, Refused),
            (
                R::compute_node_update {
                    report: report(H1, 16384, 1.5),
                },
                Allowed,
                Refused,
            ),
            (
                R::compute_node_update {
                    report: report(H1, -1, 1.5),
                },
                Refused,
                Refused,
            ),
            (
                R::compute_node_update {
                    report: report(H1, 16384, f64::INFINITY),
                },
                Refused,
                Refused,
            ),
            (R::compute_node_get_all {}, Refused, Refused),
            (
                R::flavor_get_by_flavor_id {
                    flavor_id: "public".into(),
                },
                Allowed,
                Allowed,
            ),
            (
                R::flavor_get_by_flavor_id {
                    flavor_id: "private-used".into(),
                },
                Allowed,
                Refused,
            ),
            (
                R::flavor_get_by_flavor_id {
                    flavor_id: "private-unused".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_get_by_flavor_id {
                    flavor_id: "missing".into(),
                },
                NotFound,
                NotFound,
            ),
            (R::flavor_get_all { is_public: None }, Refused, Refused),
            (
                R::flavor_create {
                    flavor: Flavor::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_destroy {
                    flavor_id: "public".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::instance_create {
                    values: InstanceCreate::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::instance_create_within_quota {
                    values: vec![InstanceCreate::default()],
                    min_count: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::instance_get_by_uuid { instance_uuid: own },
                Allowed,
                Refused,
            ),
            // Deleted instances of its own (init_host reads them), but never another host's.
            (
                R::instance_get_by_uuid {
                    instance_uuid: uuid(3),
                },
                Allowed,
                Refused,
            ),
            (
                R::instance_get_by_uuid {
                    instance_uuid: uuid(4),
                },
                Refused,
                Allowed,
            ),
            (
                R::instance_get_by_uuid {
                    instance_uuid: uuid(99),
                },
                NotFound,
                NotFound,
            ),
            (
                R::instance_get_all_by_filters {
                    filters: InstanceFilters {
                        host: Some(H1.into()),
                        ..Default::default()
                    },
                },
                Allowed,
                Refused,
            ),
            (
                R::instance_get_all_by_filters {
                    filters: InstanceFilters::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::instance_get_by_uuid_with_services { instance_uuid: own },
                Refused,
                Refused,
            ),
            (
                R::instance_get_all_by_filters_with_services {
                    filters: InstanceFilters {
                        host: Some(H1.into()),
                        ..Default::default()
                    },
                },
                Refused,
                Refused,
            ),
            (
                R::instance_get_all_by_filters_known {
                    filters: InstanceFilters {
                        host: Some(H1.into()),
                        ..Default::default()
                    },
                    known: vec![],
                    with_services: false,
                },
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    vm_state: Some(nova_common::states::VmState::Error),
                    task_state: Some(None),
                    host: Some(Some(H1.into())),
                    ..Default::default()
                }),
                Allowed,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    host: Some(Some(H2.into())),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    host: Some(None),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            // Releasing its own instance as SHELVED_OFFLOADED (shelve
            // offload, a failed unshelve), but not moving it elsewhere.
            (
                update(InstanceUpdate {
                    vm_state: Some(nova_common::states::VmState::ShelvedOffloaded),
                    host: Some(None),
                    node: Some(None),
                    launched_on: Some(None),
                    ..Default::default()
                }),
                Allowed,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    vm_state: Some(nova_common::states::VmState::ShelvedOffloaded),
                    host: Some(None),
                    node: Some(Some(H2.into())),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    vm_state: Some(nova_common::states::VmState::Active),
                    host: Some(None),
                    node: Some(None),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    node: Some(Some(H1.into())),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    launched_on: Some(Some(H2.into())),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    locked: Some(true),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                R::instance_update {
                    instance_uuid: uuid(4),
                    updates: InstanceUpdate::default(),
                },
                Refused,
                Allowed,
            ),
            // Only what the API asked to delete.
            (
                R::instance_sync_power_states {
                    host: H1.into(),
                    power_states: vec![(own, 1)],
                },
                Allowed,
                Refused,
            ),
            (R::instance_destroy { instance_uuid: own }, Refused, Refused),
            (
                R::instance_destroy {
                    instance_uuid: uuid(2),
                },
                Allowed,
                Refused,
            ),
            (
                R::instance_fault_create {
                    fault: InstanceFault {
                        instance_uuid: own,
                        host: Some(H1.into()),
                        ..Default::default()
                    },
                },
                Allowed,
                Refused,
            ),
            (
                R::instance_fault_create {
                    fault: InstanceFault {
                        instance_uuid: own,
                        host: Some("h9".into()),
                        ..Default::default()
                    },
                },
                Refused,
                Refused,
            ),
            (
                R::action_event_start {
                    instance_uuid: own,
                    request_id: "req-1".into(),
                    event: "e".into(),
                    host: H1.into(),
                },
                Allowed,
                Refused,
            ),
            (
                R::action_event_start {
                    instance_uuid: own,
                    request_id: "req-1".into(),
                    event: "e".into(),
                    host: "h9".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::action_event_finish {
                    instance_uuid: own,
                    request_id: "req-1".into(),
                    event: "e".into(),
                    result: "Success".into(),
                    traceback: None,
                },
                Allowed,
                Refused,
            ),
            (R::actions_get { instance_uuid: own }, Allowed, Refused),
            (
                R::action_start {
                    instance_uuid: own,
                    action: "stop".into(),
                    request_id: "req-1".into(),
                },
                Allowed,
                Refused,
            ),
            (R::network_get_all {}, Allowed, Allowed),
            (
                R::network_get_by_uuid {
                    network_uuid: uuid(5),
                },
                Allowed,
                Allowed,
            ),
            (
                R::virtual_interface_create {
                    instance_uuid: own,
                    network_id: 1,
                    address: "fa:16:3e:00:00:01".into(),
                    tag: None,
                },
                Refused,
                Refused,
            ),
            (
                R::fixed_ip_associate_pool {
                    network_id: 1,
                    instance_uuid: own,
                    host: Some(H1.into()),
                    virtual_interface_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::fixed_ip_disassociate {
                    address: "10.0.0.5".into(),
                    instance_uuid: own,
                },
                Refused,
                Refused,
            ),
            (
                R::fixed_ip_associate {
                    address: "10.0.0.5".into(),
                    network_id: 1,
                    instance_uuid: own,
                    host: Some(H1.into()),
                    virtual_interface_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::fixed_ip_get_by_instance { instance_uuid: own },
                Allowed,
                Refused,
            ),
            (
                R::virtual_interface_get_by_instance { instance_uuid: own },
                Allowed,
                Refused,
            ),
            (
                R::network_deallocate_instance { instance_uuid: own },
                Refused,
                Refused,
            ),
            // nova-network's business only: refused to every compute host.
            (
                R::fixed_ip_get_by_address {
                    address: "10.0.0.3".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::fixed_ip_set_reserved {
                    address: "10.0.0.3".into(),
                    reserved: true,
                },
                Refused,
                Refused,
            ),
            (
                R::network_delete_safe {
                    network_uuid: uuid(5),
                },
                Refused,
                Refused,
            ),
            (
                R::network_set_project {
                    network_uuid: uuid(5),
                    project_id: None,
                },
                Refused,
                Refused,
            ),
            (
                R::network_create_safe {
                    values: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::network_set_host {
                    network_uuid: uuid(5),
                    host: Some(H1.into()),
                },
                Refused,
                Refused,
            ),
            (R::floating_ip_get { floating_ip_id: 1 }, Refused, Refused),
            (
                R::floating_ip_get_by_address {
                    address: "172.24.4.1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::floating_ip_get_all_by_project {
                    project_id: "p1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::floating_ip_get_all_by_host { host: H1.into() },
                Refused,
                Refused,
            ),
            (
                R::floating_ip_get_by_fixed_ip_id { fixed_ip_id: 1 },
                Refused,
                Refused,
            ),
            (R::floating_ip_get_pools {}, Refused, Refused),
            (
                R::floating_ip_allocate_address {
                    project_id: "p1".into(),
                    pool: "nova".into(),
                    auto_assigned: false,
                    quota_limit: None,
                },
                Refused,
                Refused,
            ),
            (
                R::floating_ip_deallocate {
                    address: "172.24.4.1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::floating_ip_fixed_ip_associate {
                    floating_address: "172.24.4.1".into(),
                    fixed_address: "10.0.0.3".into(),
                    host: H1.into(),
                },
                Refused,
                Refused,
            ),
            (
                R::floating_ip_disassociate {
                    address: "172.24.4.1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::keypair_create {
                    keypair: KeyPair::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::keypair_get {
                    user_id: "user1".into(),
                    name: "k".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::keypair_get_all {
                    user_id: "user1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::keypair_destroy {
                    user_id: "user1".into(),
                    name: "k".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::keypair_count {
                    user_id: "user1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::quota_get_all_by_project {
                    project_id: "project1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::quota_update {
                    project_id: "project1".into(),
                    limits: BTreeMap::from([("instances".to_string(), 0)]),
                },
                Refused,
                Refused,
            ),
            (
                R::quota_destroy_all_by_project {
                    project_id: "project1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::quota_usage {
                    project_id: "project1".into(),
                },
                Refused,
                Refused,
            ),
            (R::quota_get_defaults {}, Refused, Refused),
            (
                R::migration_get_all_by_filters {
                    filters: Default::default(),
                },
                Refused,
                Refused,
            ),
            // The migrations from its own host (the evacuations it cleans up after).
            (
                R::migration_get_all_by_filters {
                    filters: nova_objects::MigrationFilters {
                        source_compute: Some(H1.into()),
                        migration_type: Some("evacuation".into()),
                        ..Default::default()
                    },
                },
                Allowed,
                Refused,
            ),
            // Instance 5 was evacuated from h1 to h3 (migration 6 `done`):
            // h1 may read it to destroy its old guest; instance 6's
            // evacuation from h2 is `completed`: nothing left to read.
            (
                R::instance_get_by_uuid {
                    instance_uuid: uuid(5),
                },
                Allowed,
                Refused,
            ),
            (
                R::instance_get_by_uuid {
                    instance_uuid: uuid(6),
                },
                Refused,
                Refused,
            ),
            // ...but not move it back or change it.
            (
                R::instance_update {
                    instance_uuid: uuid(5),
                    updates: InstanceUpdate {
                        host: Some(Some(H1.into())),
                        ..Default::default()
                    },
                },
                Refused,
                Refused,
            ),
            (
                R::migration_get_in_progress_by_instance {
                    instance_uuid: uuid(4),
                },
                Refused,
                Refused,
            ),
            // Instance 7's resize from h2 was just confirmed: h2 settles
            // the instance and records the event; h1's older one gives it
            // nothing. Instance 8 is settled: its source has done.
            (
                R::instance_update {
                    instance_uuid: uuid(7),
                    updates: InstanceUpdate {
                        vm_state: Some(VmState::Active),
                        task_state: Some(None),
                        expected_task_state: Some(vec![Some(TaskState::ResizeConfirming)]),
                        ..Default::default()
                    },
                },
                Refused,
                Allowed,
            ),
            (
                R::action_event_finish {
                    instance_uuid: uuid(7),
                    request_id: "req-1".into(),
                    event: "compute_confirm_resize".into(),
                    result: "Success".into(),
                    traceback: None,
                },
                Refused,
                Allowed,
            ),
            (
                R::instance_update {
                    instance_uuid: uuid(8),
                    updates: InstanceUpdate {
                        display_name: Some("x".into()),
                        ..Default::default()
                    },
                },
                Refused,
                Refused,
            ),
            // Migration 5 is h2's (its source), never h1's.
            (R::migration_get { migration_id: 5 }, Refused, Allowed),
            (
                R::migration_update_status {
                    migration_id: 5,
                    status: "migrating".into(),
                    expected: None,
                },
                Refused,
                Allowed,
            ),
            (
                R::migration_update_progress {
                    migration_id: 5,
                    progress: Default::default(),
                },
                Refused,
                Allowed,
            ),
            (
                R::migration_get_in_progress_by_host { host: H1.into() },
                Allowed,
                Refused,
            ),
            // Moving instance 4 to oneself: only a host of its migration, and
            // only to one of the migration's flavors.
            (
                R::instance_update {
                    instance_uuid: uuid(4),
                    updates: InstanceUpdate {
                        host: Some(Some(H2.into())),
                        flavor: Some(Flavor {
                            id: 1,
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                },
                Refused,
                Allowed,
            ),
            (
                R::instance_update {
                    instance_uuid: uuid(4),
                    updates: InstanceUpdate {
                        host: Some(Some(H2.into())),
                        flavor: Some(Flavor {
                            id: 8,
                            ..Default::default()
                        }),
                        ..Default::default()
                    },
                },
                Refused,
                Refused,
            ),
            (
                update(InstanceUpdate {
                    flavor: Some(Flavor::default()),
                    ..Default::default()
                }),
                Refused,
                Refused,
            ),
            (
                R::instance_group_get_by_instance_uuid {
                    instance_uuid: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::instance_group_create {
                    group: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::instance_group_get_by_uuid {
                    group_uuid: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::task_log_get_all {
                    task_name: "instance_usage_audit".into(),
                    period_beginning: Default::default(),
                    period_ending: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::task_log_get {
                    task_name: "instance_usage_audit".into(),
                    period_beginning: Default::default(),
                    period_ending: Default::default(),
                    host: H1.into(),
                    state: None,
                },
                Allowed,
                Refused,
            ),
            (
                R::task_log_begin_task {
                    task_name: "instance_usage_audit".into(),
                    period_beginning: Default::default(),
                    period_ending: Default::default(),
                    host: H1.into(),
                    task_items: Some(1),
                    message: None,
                },
                Allowed,
                Refused,
            ),
            (
                R::task_log_end_task {
                    task_name: "instance_usage_audit".into(),
                    period_beginning: Default::default(),
                    period_ending: Default::default(),
                    host: H1.into(),
                    errors: 0,
                    message: "done".into(),
                },
                Allowed,
                Refused,
            ),
            (
                R::instance_get_active_by_window_joined {
                    begin: Default::default(),
                    end: Default::default(),
                    project_id: None,
                    host: Some(H1.into()),
                },
                Allowed,
                Refused,
            ),
            // The trusted image certificates are the user's (rebuild).
            (
                R::instance_update {
                    instance_uuid: uuid(1),
                    updates: InstanceUpdate {
                        trusted_certs: Some(None),
                        ..Default::default()
                    },
                },
                Refused,
                Refused,
            ),
            (
                R::instance_group_get_all { project_id: None },
                Refused,
                Refused,
            ),
            (
                R::instance_group_destroy {
                    group_uuid: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::quota_class_get_all_by_name {
                    class_name: "default".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::quota_class_update {
                    class_name: "default".into(),
                    limits: BTreeMap::from([("instances".to_string(), 0)]),
                },
                Refused,
                Refused,
            ),
            (
                R::console_auth_token_create {
                    token: ConsoleAuthToken {
                        instance_uuid: own,
                        ..Default::default()
                    },
                    ttl: 600,
                },
                Refused,
                Refused,
            ),
            (
                R::console_auth_token_validate {
                    token_hash: "0".repeat(64),
                },
                Refused,
                Refused,
            ),
            (
                R::console_auth_token_destroy_all_by_instance { instance_uuid: own },
                Refused,
                Refused,
            ),
            (R::console_auth_token_destroy_expired {}, Refused, Refused),
            (
                R::instance_get_active_by_window_joined {
                    begin: Default::default(),
                    end: Default::default(),
                    project_id: None,
                    host: None,
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_extra_specs_update_or_create {
                    flavor_id: "1".into(),
                    extra_specs: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_extra_specs_delete {
                    flavor_id: "1".into(),
                    key: "k".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_access_get_by_flavor_id {
                    flavor_id: "1".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_access_add {
                    flavor_id: "1".into(),
                    project_id: "p".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_access_remove {
                    flavor_id: "1".into(),
                    project_id: "p".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::flavor_update_description {
                    flavor_id: "1".into(),
                    description: None,
                },
                Refused,
                Refused,
            ),
            (
                R::instance_tag_get_by_instance_uuid { instance_uuid: own },
                Refused,
                Refused,
            ),
            (
                R::instance_tag_set {
                    instance_uuid: own,
                    tags: vec![],
                },
                Refused,
                Refused,
            ),
            (
                R::instance_tag_add {
                    instance_uuid: own,
                    tag: "t".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::instance_tag_delete {
                    instance_uuid: own,
                    tag: "t".into(),
                },
                Refused,
                Refused,
            ),
            (R::aggregate_get_all {}, Refused, Refused),
            (R::aggregate_get { aggregate_id: 1 }, Refused, Refused),
            (
                R::aggregate_create {
                    name: "a".into(),
                    availability_zone: None,
                },
                Refused,
                Refused,
            ),
            (
                R::aggregate_update {
                    aggregate_id: 1,
                    name: None,
                    availability_zone: Some("az".into()),
                },
                Refused,
                Refused,
            ),
            (R::aggregate_delete { aggregate_id: 1 }, Refused, Refused),
            (
                R::aggregate_host_add {
                    aggregate_id: 1,
                    host: H1.into(),
                },
                Refused,
                Refused,
            ),
            (
                R::aggregate_host_delete {
                    aggregate_id: 1,
                    host: H1.into(),
                },
                Refused,
                Refused,
            ),
            (
                R::aggregate_metadata_update {
                    aggregate_id: 1,
                    metadata: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::ec2_instance_create {
                    instance_uuids: vec![own],
                },
                Refused,
                Refused,
            ),
            (
                R::ec2_instance_get_by_id { instance_id: 1 },
                Refused,
                Refused,
            ),
            (
                R::s3_image_create {
                    image_uuids: vec!["image".into()],
                },
                Refused,
                Refused,
            ),
            (R::s3_image_get { image_id: 1 }, Refused, Refused),
            (R::instance_ec2_ids { instance_uuid: own }, Allowed, Refused),
            (
                R::instance_metadata_update {
                    instance_uuid: own,
                    metadata: BTreeMap::new(),
                    delete: true,
                },
                Refused,
                Refused,
            ),
            (
                R::instance_metadata_delete {
                    instance_uuid: own,
                    key: "Name".into(),
                },
                Refused,
                Refused,
            ),
            // A guest's password is posted to the metadata service (the API), not by its host.
            (
                R::instance_system_metadata_update {
                    instance_uuid: own,
                    metadata: BTreeMap::new(),
                    delete: false,
                },
                Refused,
                Refused,
            ),
            // Security groups: the rules of its own instances, nothing else.
            (
                R::security_group_rule_get_by_instance { instance_uuid: own },
                Allowed,
                Refused,
            ),
            (
                R::security_group_get_by_instance { instance_uuid: own },
                Allowed,
                Refused,
            ),
            (
                R::security_group_ensure_default {
                    project_id: "p".into(),
                    user_id: "u".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::security_group_create {
                    group: Default::default(),
                },
                Refused,
                Refused,
            ),
            (
                R::security_group_get {
                    security_group_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::security_group_get_by_name {
                    project_id: "p".into(),
                    name: "default".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::security_group_get_by_project {
                    project_id: "p".into(),
                },
                Refused,
                Refused,
            ),
            (R::security_group_get_all {}, Refused, Refused),
            (
                R::security_group_update {
                    security_group_id: 1,
                    name: "n".into(),
                    description: "d".into(),
                },
                Refused,
                Refused,
            ),
            (
                R::security_group_destroy {
                    security_group_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::instance_add_security_group {
                    instance_uuid: own,
                    security_group_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::instance_remove_security_group {
                    instance_uuid: own,
                    security_group_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::security_group_rule_create {
                    rule: Default::default(),
                },
                Refused,
                Refused,
            ),
            (R::security_group_rule_get { rule_id: 1 }, Refused, Refused),
            (
                R::security_group_rule_destroy { rule_id: 1 },
                Refused,
                Refused,
            ),
            (
                R::instance_get_all_by_security_group_id {
                    security_group_id: 1,
                },
                Refused,
                Refused,
            ),
            (
                R::instance_get_all_by_grantee_security_group_ids { group_ids: vec![1] },
                Refused,
                Refused,
            ),
            (
                R::security_group_default_rule_create {
                    rule: Default::default(),
                },
                Refused,
                Refused,
            ),
            (R::security_group_default_rule_list {}, Refused, Refused),
            (
                R::security_group_default_rule_get { rule_id: 1 },
                Refused,
                Refused,
            ),
            (
                R::security_group_default_rule_destroy { rule_id: 1 },
                Refused,
                Refused,
            ),
        ]
    }

    fn compute_task_cases() -> Vec<(compute_task::Request, Outcome, Outcome)> {
        let reschedule = |uuids: &[u128]| compute_task::Request::build_instances {
            instances: uuids
                .iter()
                .map(|n| Instance {
                    uuid: uuid(*n),
                    ..Default::default()
                })
                .collect(),
            image: Default::default(),
            filter_properties: Default::default(),
            admin_password: None,
            injected_files: vec![],
            request_spec: RequestSpec::default(),
            host_lists: vec![],
        };
        vec![
            (
                compute_task::Request::schedule_and_build_instances {
                    request_spec: RequestSpec::default(),
                    instance_uuids: vec![uuid(1)],
                    admin_password: None,
                    injected_files: vec![],
                },
                Refused,
                Refused,
            ),
            // Its own failed build, one at a time; never another host's.
            (reschedule(&[1]), Allowed, Refused),
            (reschedule(&[4]), Refused, Allowed),
            (reschedule(&[1, 4]), Refused, Refused),
            (reschedule(&[]), Refused, Refused),
            (reschedule(&[99]), NotFound, NotFound),
            (
                compute_task::Request::unshelve_instance {
                    instance: Instance {
                        uuid: uuid(1),
                        ..Default::default()
                    },
                    request_spec: RequestSpec::default(),
                },
                Refused,
                Refused,
            ),
            // Migration 5 (instance 4): h2 is its source, h3 its destination.
            (
                compute_task::Request::finish_resize {
                    instance_uuid: uuid(4),
                    migration_id: 5,
                    disk_info: "{}".into(),
                },
                Refused,
                Allowed,
            ),
            (
                compute_task::Request::finish_resize {
                    instance_uuid: uuid(1),
                    migration_id: 5,
                    disk_info: "{}".into(),
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::resize_instance {
                    instance_uuid: uuid(4),
                    migration_id: 5,
                    clean_shutdown: true,
                },
                Refused,
                Refused,
            ),
            // A live migration's hand-overs come from its source (h2).
            (
                compute_task::Request::post_live_migration_at_destination {
                    instance_uuid: uuid(4),
                    migration_id: 5,
                    block_migration: true,
                },
                Refused,
                Allowed,
            ),
            (
                compute_task::Request::rollback_live_migration_at_destination {
                    instance_uuid: uuid(4),
                    migration_id: 5,
                    destroy_disks: true,
                },
                Refused,
                Allowed,
            ),
            (
                compute_task::Request::rollback_live_migration_at_destination {
                    instance_uuid: uuid(1),
                    migration_id: 5,
                    destroy_disks: true,
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::live_migrate_instance {
                    instance: Instance {
                        uuid: uuid(4),
                        ..Default::default()
                    },
                    host: None,
                    block_migration: None,
                    disk_over_commit: None,
                    request_spec: RequestSpec::default(),
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::cache_images {
                    aggregate: nova_objects::Aggregate::default(),
                    image_ids: vec!["i".into()],
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::finish_revert_resize {
                    instance_uuid: uuid(4),
                    migration_id: 5,
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::confirm_resize {
                    instance_uuid: uuid(4),
                    migration_id: 5,
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::rebuild_instance {
                    instance: Instance {
                        uuid: uuid(1),
                        ..Default::default()
                    },
                    orig_image_ref: String::new(),
                    image_ref: String::new(),
                    new_pass: None,
                    injected_files: vec![],
                    recreate: true,
                    on_shared_storage: false,
                    preserve_ephemeral: false,
                    host: None,
                    request_spec: RequestSpec::default(),
                    target_state: None,
                },
                Refused,
                Refused,
            ),
            (
                compute_task::Request::migrate_server {
                    instance: Instance::default(),
                    flavor: Flavor::default(),
                    live: false,
                    clean_shutdown: true,
                    request_spec: RequestSpec::default(),
                },
                Refused,
                Refused,
            ),
        ]
    }

    fn unknown() -> [Caller; 2] {
        [
            Caller::Unknown {
                user: Some("guest".into()),
            },
            Caller::Unknown { user: None },
        ]
    }

    /// Each request × caller kind: the control plane may do it all, the
    /// compute hosts what the table says, anyone else nothing.
    async fn check_table<R: Sync + std::fmt::Debug + 'static>(
        policy: &dyn Policy<R>,
        cases: &[(R, Outcome, Outcome)],
    ) {
        for (req, h1, h2) in cases {
            assert_eq!(
                outcome(policy, &control(), req).await,
                Allowed,
                "control plane: {req:?}"
            );
            assert_eq!(outcome(policy, &compute(H1), req).await, *h1, "h1: {req:?}");
            assert_eq!(outcome(policy, &compute(H2), req).await, *h2, "h2: {req:?}");
            for u in unknown() {
                assert_eq!(outcome(policy, &u, req).await, Refused, "{u}: {req:?}");
            }
        }
    }

    #[tokio::test]
    async fn every_method_by_every_kind_of_caller() {
        let policy = ConductorPolicy::new(Fake::new());
        let conductor_cases = conductor_cases();
        let task_cases = compute_task_cases();
        check_table::<conductor::Request>(&policy, &conductor_cases).await;
        check_table::<compute_task::Request>(&policy, &task_cases).await;

        let covered: BTreeSet<&str> = conductor_cases
            .iter()
            .map(|(r, ..)| r.method())
            .chain(task_cases.iter().map(|(r, ..)| r.method()))
            .collect();
        let all: BTreeSet<&str> = conductor::METHODS
            .iter()
            .chain(compute_task::METHODS)
            .copied()
            .collect();
        assert_eq!(covered, all, "every method has cases in the table test");
    }

    #[tokio::test]
    async fn a_compute_host_gains_nothing_by_claiming_admin() {
        let policy = ConductorPolicy::new(Fake::new());
        let ctx = Policy::<conductor::Request>::authorize(
            &policy,
            &compute(H1),
            claims_admin(),
            &conductor::Request::instance_get_by_uuid {
                instance_uuid: uuid(1),
            },
        )
        .await
        .expect("its own instance");
        assert!(!ctx.is_admin);
        assert!(ctx.roles.is_empty());
        assert_eq!(
            ctx.user_id.as_deref(),
            Some("someone"),
            "who it acts for is kept"
        );
        // The control plane's context is taken as sent.
        let ctx = Policy::<conductor::Request>::authorize(
            &policy,
            &control(),
            claims_admin(),
            &conductor::Request::service_get_all {},
        )
        .await
        .expect("control plane");
        assert!(ctx.is_admin);
    }

    #[tokio::test]
    async fn an_action_a_compute_host_starts_belongs_to_the_instances_owner() {
        let policy = ConductorPolicy::new(Fake::new());
        let ctx = Policy::<conductor::Request>::authorize(
            &policy,
            &compute(H1),
            claims_admin(),
            &conductor::Request::action_start {
                instance_uuid: uuid(1),
                action: "stop".into(),
                request_id: "req-1".into(),
            },
        )
        .await
        .expect("its own instance");
        assert_eq!(
            (ctx.user_id.as_deref(), ctx.project_id.as_deref()),
            (Some("user1"), Some("project1"))
        );
    }
}
