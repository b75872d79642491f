//! `ConductorManager`: the database proxy half of the conductor.

use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_db::Db;
use nova_objects::{
    ComputeNode, ComputeNodeReport, FixedIp, Flavor, Instance, InstanceAction, InstanceCreate,
    InstanceFault, InstanceFilters, InstanceUpdate, KeyPair, Network, QuotaUsage, RequestSpec,
    ResourceRequest, Service, VirtualInterface,
};
use nova_rpc::{compute, scheduler, Transport};
use std::collections::BTreeMap;
use uuid::Uuid;

pub struct ConductorManager {
    pub(crate) db: Db,
    pub(crate) scheduler: scheduler::Client,
    pub(crate) compute: compute::Client,
    pub(crate) cfg: NovaConfig,
}

impl ConductorManager {
    pub fn new(db: Db, transport: Transport, cfg: NovaConfig) -> Self {
        let long = std::time::Duration::from_secs(cfg.default.long_rpc_timeout);
        ConductorManager {
            db,
            scheduler: scheduler::Client::new(transport.clone()).with_timeout(long),
            compute: compute::Client::new(transport),
            cfg,
        }
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Manager for ConductorManager {
    async fn service_update(
        &self,
        _ctx: &RequestContext,
        host: String,
        binary: String,
        topic: Option<String>,
    ) -> Result<Service, NovaError> {
        self.db
            .service_update(&host, &binary, topic.as_deref())
            .await
    }

    async fn service_get_all(&self, _ctx: &RequestContext) -> Result<Vec<Service>, NovaError> {
        self.db.service_get_all().await
    }

    async fn service_set_disabled(
        &self,
        _ctx: &RequestContext,
        host: String,
        binary: String,
        disabled: bool,
        disabled_reason: Option<String>,
    ) -> Result<Service, NovaError> {
        self.db
            .service_set_disabled(&host, &binary, disabled, disabled_reason.as_deref())
            .await
    }

    async fn service_set_forced_down(
        &self,
        _ctx: &RequestContext,
        host: String,
        binary: String,
        forced_down: bool,
    ) -> Result<Service, NovaError> {
        self.db
            .service_set_forced_down(&host, &binary, forced_down)
            .await
    }

    async fn service_delete(
        &self,
        _ctx: &RequestContext,
        service_id: i64,
    ) -> Result<(), NovaError> {
        self.db.service_delete(service_id).await
    }

    async fn compute_node_update(
        &self,
        _ctx: &RequestContext,
        report: ComputeNodeReport,
    ) -> Result<ComputeNode, NovaError> {
        self.db.compute_node_update(&report).await
    }

    async fn compute_node_get_all(
        &self,
        _ctx: &RequestContext,
    ) -> Result<Vec<ComputeNode>, NovaError> {
        self.db.compute_node_get_all().await
    }

    async fn compute_node_claim(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        host: String,
        nodename: String,
        request: ResourceRequest,
    ) -> Result<bool, NovaError> {
        self.db
            .compute_node_claim(instance_uuid, &host, &nodename, &request)
            .await
    }

    async fn flavor_get_by_flavor_id(
        &self,
        _ctx: &RequestContext,
        flavor_id: String,
    ) -> Result<Flavor, NovaError> {
        self.db.flavor_get_by_flavor_id(&flavor_id).await
    }

    async fn flavor_get_all(
        &self,
        _ctx: &RequestContext,
        is_public: Option<bool>,
    ) -> Result<Vec<Flavor>, NovaError> {
        self.db.flavor_get_all(is_public).await
    }

    async fn flavor_create(
        &self,
        _ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, NovaError> {
        self.db.flavor_create(&flavor).await
    }

    async fn flavor_destroy(
        &self,
        _ctx: &RequestContext,
        flavor_id: String,
    ) -> Result<(), NovaError> {
        self.db.flavor_destroy(&flavor_id).await
    }

    async fn instance_create(
        &self,
        _ctx: &RequestContext,
        values: InstanceCreate,
    ) -> Result<Instance, NovaError> {
        self.db.instance_create(&values).await
    }

    async fn instance_get_by_uuid(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Instance, NovaError> {
        let read_deleted = ctx.read_deleted != nova_common::context::ReadDeleted::No;
        self.db
            .instance_get_by_uuid(instance_uuid, read_deleted)
            .await
    }

    async fn instance_get_all_by_filters(
        &self,
        _ctx: &RequestContext,
        filters: InstanceFilters,
    ) -> Result<Vec<Instance>, NovaError> {
        self.db.instance_get_all_by_filters(&filters).await
    }

    async fn instance_update(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        updates: InstanceUpdate,
    ) -> Result<Instance, NovaError> {
        self.db.instance_update(instance_uuid, &updates).await
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
        self.db.actions_get(instance_uuid).await
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

    async fn network_get_all(&self, _ctx: &RequestContext) -> Result<Vec<Network>, NovaError> {
        self.db.network_get_all().await
    }

    async fn network_get_by_uuid(
        &self,
        _ctx: &RequestContext,
        network_uuid: Uuid,
    ) -> Result<Network, NovaError> {
        self.db.network_get_by_uuid(network_uuid).await
    }

    async fn virtual_interface_create(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        network_id: i64,
        address: String,
    ) -> Result<VirtualInterface, NovaError> {
        self.db
            .virtual_interface_create(instance_uuid, network_id, &address)
            .await
    }

    async fn fixed_ip_associate_pool(
        &self,
        _ctx: &RequestContext,
        network_id: i64,
        instance_uuid: Uuid,
        host: Option<String>,
        virtual_interface_id: i64,
    ) -> Result<FixedIp, NovaError> {
        self.db
            .fixed_ip_associate_pool(
                network_id,
                instance_uuid,
                host.as_deref(),
                virtual_interface_id,
            )
            .await
    }

    async fn fixed_ip_get_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<FixedIp>, NovaError> {
        self.db.fixed_ip_get_by_instance(instance_uuid).await
    }

    async fn virtual_interface_get_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<VirtualInterface>, NovaError> {
        self.db
            .virtual_interface_get_by_instance(instance_uuid)
            .await
    }

    async fn network_deallocate_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<(), NovaError> {
        self.db.network_deallocate_instance(instance_uuid).await
    }

    async fn keypair_create(
        &self,
        _ctx: &RequestContext,
        keypair: KeyPair,
    ) -> Result<KeyPair, NovaError> {
        self.db.keypair_create(&keypair).await
    }

    async fn keypair_get(
        &self,
        _ctx: &RequestContext,
        user_id: String,
        name: String,
    ) -> Result<KeyPair, NovaError> {
        self.db.keypair_get(&user_id, &name).await
    }

    async fn keypair_get_all(
        &self,
        _ctx: &RequestContext,
        user_id: String,
    ) -> Result<Vec<KeyPair>, NovaError> {
        self.db.keypair_get_all(&user_id).await
    }

    async fn keypair_destroy(
        &self,
        _ctx: &RequestContext,
        user_id: String,
        name: String,
    ) -> Result<(), NovaError> {
        self.db.keypair_destroy(&user_id, &name).await
    }

    async fn keypair_count(
        &self,
        _ctx: &RequestContext,
        user_id: String,
    ) -> Result<i64, NovaError> {
        self.db.keypair_count(&user_id).await
    }

    async fn quota_get_all_by_project(
        &self,
        _ctx: &RequestContext,
        project_id: String,
    ) -> Result<BTreeMap<String, i64>, NovaError> {
        self.db.quota_get_all_by_project(&project_id).await
    }

    async fn quota_update(
        &self,
        _ctx: &RequestContext,
        project_id: String,
        limits: BTreeMap<String, i64>,
    ) -> Result<(), NovaError> {
        self.db.quota_update(&project_id, &limits).await
    }

    async fn quota_destroy_all_by_project(
        &self,
        _ctx: &RequestContext,
        project_id: String,
    ) -> Result<(), NovaError> {
        self.db.quota_destroy_all_by_project(&project_id).await
    }

    async fn quota_usage(
        &self,
        _ctx: &RequestContext,
        project_id: String,
    ) -> Result<QuotaUsage, NovaError> {
        self.db.quota_usage(&project_id).await
    }

    async fn schedule_and_build_instances(
        &self,
        ctx: &RequestContext,
        request_spec: RequestSpec,
        instance_uuids: Vec<Uuid>,
    ) -> Result<(), NovaError> {
        self.schedule_and_build(ctx, request_spec, instance_uuids)
            .await;
        Ok(())
    }
}
