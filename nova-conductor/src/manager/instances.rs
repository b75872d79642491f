//! Instances, their faults, and their actions and events.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::context::ReadDeleted;
use nova_common::{NovaError, RequestContext};
use nova_objects::{
    Instance, InstanceAction, InstanceCreate, InstanceFault, InstanceFilters, InstanceUpdate,
    ListedInstance, Service,
};
use std::collections::BTreeSet;
use uuid::Uuid;

impl ConductorManager {
    /// The `nova-compute` services of the hosts these instances are on.
    async fn compute_services_of(&self, instances: &[Instance]) -> Result<Vec<Service>, NovaError> {
        self.compute_services_on(instances.iter().filter_map(|i| i.host.as_deref()).collect())
            .await
    }

    /// The `nova-compute` services of these hosts.
    async fn compute_services_on(&self, hosts: BTreeSet<&str>) -> Result<Vec<Service>, NovaError> {
        if hosts.is_empty() {
            return Ok(vec![]);
        }
        let services = retry_on_disconnect("service_get_all", || self.db.service_get_all()).await?;
        Ok(services
            .into_iter()
            .filter(|s| s.binary == "nova-compute" && hosts.contains(s.host.as_str()))
            .collect())
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Instances for ConductorManager {
    async fn instance_create(
        &self,
        ctx: &RequestContext,
        values: InstanceCreate,
    ) -> Result<Instance, NovaError> {
        let r = self.db.instance_create(&values).await;
        self.instances_written(ctx, &values.project_id, r).await
    }

    async fn instance_create_within_quota(
        &self,
        ctx: &RequestContext,
        values: Vec<InstanceCreate>,
        min_count: i64,
    ) -> Result<Vec<Instance>, NovaError> {
        if min_count < 1 || min_count as usize > values.len() {
            return Err(NovaError::invalid_input(format!(
                "min_count {min_count} is not between 1 and the {} instances given",
                values.len()
            )));
        }
        if let Some(v) = values.iter().find(|v| v.project_id != values[0].project_id) {
            return Err(NovaError::invalid_input(format!(
                "instance {} belongs to another project than the rest",
                v.uuid
            )));
        }
        let defaults = self.defaults().await?;
        let r = self
            .db
            .instance_create_within_quota(&values, min_count as usize, &defaults)
            .await;
        self.instances_written(ctx, &values[0].project_id, r).await
    }

    async fn instance_get_by_uuid(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Instance, NovaError> {
        let read_deleted = ctx.read_deleted != ReadDeleted::No;
        retry_on_disconnect("instance_get_by_uuid", || {
            self.db.instance_get_by_uuid(instance_uuid, read_deleted)
        })
        .await
    }

    async fn instance_get_all_by_filters(
        &self,
        _ctx: &RequestContext,
        filters: InstanceFilters,
    ) -> Result<Vec<Instance>, NovaError> {
        retry_on_disconnect("instance_get_all_by_filters", || {
            self.db.instance_get_all_by_filters(&filters)
        })
        .await
    }

    async fn instance_get_by_uuid_with_services(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<(Instance, Vec<Service>), NovaError> {
        let instance = self.instance_get_by_uuid(ctx, instance_uuid).await?;
        let services = self
            .compute_services_of(std::slice::from_ref(&instance))
            .await?;
        Ok((instance, services))
    }

    async fn instance_get_all_by_filters_with_services(
        &self,
        ctx: &RequestContext,
        filters: InstanceFilters,
    ) -> Result<(Vec<Instance>, Vec<Service>), NovaError> {
        let instances = self.instance_get_all_by_filters(ctx, filters).await?;
        let services = self.compute_services_of(&instances).await?;
        Ok((instances, services))
    }

    async fn instance_get_all_by_filters_known(
        &self,
        _ctx: &RequestContext,
        filters: InstanceFilters,
        known: Vec<(Uuid, i64)>,
        with_services: bool,
    ) -> Result<(Vec<ListedInstance>, Vec<Service>), NovaError> {
        // The page first (uuids, generations and hosts: one index scan),
        // then the instances the caller does not hold at their generation.
        // Read after the page, each is at least as new as the generation
        // it is sent with, so a caller filing it under that generation
        // never holds it as newer than it is.
        let page = retry_on_disconnect("instance_get_all_by_filters_known", || {
            self.db.instance_generations_by_filters(&filters)
        })
        .await?;
        let known: foldhash::HashMap<Uuid, i64> = known.into_iter().collect();
        let wanted: Vec<Uuid> = page
            .iter()
            .filter(|(u, g, _)| known.get(u) != Some(g))
            .map(|(u, _, _)| *u)
            .collect();
        let mut read: foldhash::HashMap<Uuid, Instance> = Default::default();
        if !wanted.is_empty() {
            let f = InstanceFilters {
                uuids: Some(wanted),
                deleted: filters.deleted,
                read_deleted: filters.read_deleted,
                expected_attrs: filters.expected_attrs.clone(),
                ..Default::default()
            };
            let instances = retry_on_disconnect("instance_get_all_by_filters_known", || {
                self.db.instance_get_all_by_filters(&f)
            })
            .await?;
            read = instances.into_iter().map(|i| (i.uuid, i)).collect();
        }
        let services = if with_services {
            let hosts = page
                .iter()
                .filter_map(|(_, _, h)| h.as_deref())
                .chain(read.values().filter_map(|i| i.host.as_deref()))
                .collect();
            self.compute_services_on(hosts).await?
        } else {
            vec![]
        };
        // An instance gone between the two reads (deleted meanwhile, when
        // the listing is of live ones) is left out, as a later listing would.
        // (Pushed into a Vec of the page's size: collected, the large
        // elements were copied again with every growth.)
        let mut listed = Vec::with_capacity(page.len());
        for (uuid, generation, _) in page {
            let instance = if known.get(&uuid) == Some(&generation) {
                None
            } else {
                match read.remove(&uuid) {
                    Some(i) => Some(Box::new(i)),
                    None => continue,
                }
            };
            listed.push(ListedInstance {
                uuid,
                generation,
                instance,
            });
        }
        Ok((listed, services))
    }

    async fn instance_update(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        updates: InstanceUpdate,
    ) -> Result<Instance, NovaError> {
        self.db.instance_update(instance_uuid, &updates).await
    }

    async fn instance_sync_power_states(
        &self,
        _ctx: &RequestContext,
        host: String,
        power_states: Vec<(Uuid, i32)>,
    ) -> Result<i64, NovaError> {
        self.db
            .instance_sync_power_states(&host, &power_states)
            .await
    }

    async fn instance_destroy(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Instance, NovaError> {
        self.db.instance_destroy(instance_uuid).await
    }

    async fn instance_fault_create(
        &self,
        _ctx: &RequestContext,
        fault: InstanceFault,
    ) -> Result<(), NovaError> {
        self.db.instance_fault_create(&fault).await
    }

    async fn action_event_start(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        request_id: String,
        event: String,
        host: String,
    ) -> Result<(), NovaError> {
        self.db
            .action_event_start(instance_uuid, &request_id, &event, &host)
            .await
    }

    async fn action_event_finish(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        request_id: String,
        event: String,
        result: String,
        traceback: Option<String>,
    ) -> Result<(), NovaError> {
        self.db
            .action_event_finish(
                instance_uuid,
                &request_id,
                &event,
                &result,
                traceback.as_deref(),
            )
            .await
    }

    async fn actions_get(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<InstanceAction>, NovaError> {
        retry_on_disconnect("actions_get", || self.db.actions_get(instance_uuid)).await
    }

    async fn action_start(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        action: String,
        request_id: String,
    ) -> Result<(), NovaError> {
        self.db
            .action_start(
                instance_uuid,
                &action,
                &request_id,
                ctx.user_id.as_deref(),
                ctx.project_id.as_deref(),
            )
            .await
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Usage for ConductorManager {
    async fn instance_get_active_by_window_joined(
        &self,
        _ctx: &RequestContext,
        begin: nova_objects::Timestamp,
        end: nova_objects::Timestamp,
        project_id: Option<String>,
        host: Option<String>,
    ) -> Result<Vec<Instance>, NovaError> {
        retry_on_disconnect("instance_get_active_by_window_joined", || {
            self.db.instance_get_active_by_window_joined(
                begin,
                end,
                project_id.as_deref(),
                host.as_deref(),
            )
        })
        .await
    }
}
