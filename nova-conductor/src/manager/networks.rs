//! Networks, fixed IPs and virtual interfaces, for nova-network.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{FixedIp, Network, NetworkCreate, VirtualInterface};
use uuid::Uuid;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Networks for ConductorManager {
    async fn network_get_all(&self, _ctx: &RequestContext) -> Result<Vec<Network>, NovaError> {
        retry_on_disconnect("network_get_all", || self.db.network_get_all()).await
    }

    async fn network_get_by_uuid(
        &self,
        _ctx: &RequestContext,
        network_uuid: Uuid,
    ) -> Result<Network, NovaError> {
        retry_on_disconnect("network_get_by_uuid", || {
            self.db.network_get_by_uuid(network_uuid)
        })
        .await
    }

    async fn virtual_interface_create(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        network_id: i64,
        address: String,
        tag: Option<String>,
    ) -> Result<VirtualInterface, NovaError> {
        self.db
            .virtual_interface_create(instance_uuid, network_id, &address, tag.as_deref())
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

    async fn fixed_ip_disassociate(
        &self,
        _ctx: &RequestContext,
        address: String,
        instance_uuid: Uuid,
    ) -> Result<(), NovaError> {
        self.db.fixed_ip_disassociate(&address, instance_uuid).await
    }

    async fn fixed_ip_associate(
        &self,
        _ctx: &RequestContext,
        address: String,
        network_id: i64,
        instance_uuid: Uuid,
        host: Option<String>,
        virtual_interface_id: i64,
    ) -> Result<FixedIp, NovaError> {
        self.db
            .fixed_ip_associate(
                &address,
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
        retry_on_disconnect("fixed_ip_get_by_instance", || {
            self.db.fixed_ip_get_by_instance(instance_uuid)
        })
        .await
    }

    async fn virtual_interface_get_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<VirtualInterface>, NovaError> {
        retry_on_disconnect("virtual_interface_get_by_instance", || {
            self.db.virtual_interface_get_by_instance(instance_uuid)
        })
        .await
    }

    async fn network_deallocate_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<(), NovaError> {
        self.db.network_deallocate_instance(instance_uuid).await
    }

    async fn fixed_ip_get_by_address(
        &self,
        _ctx: &RequestContext,
        address: String,
    ) -> Result<FixedIp, NovaError> {
        retry_on_disconnect("fixed_ip_get_by_address", || {
            self.db.fixed_ip_get_by_address(&address)
        })
        .await
    }

    async fn fixed_ip_set_reserved(
        &self,
        _ctx: &RequestContext,
        address: String,
        reserved: bool,
    ) -> Result<FixedIp, NovaError> {
        self.db.fixed_ip_set_reserved(&address, reserved).await
    }

    async fn network_delete_safe(
        &self,
        _ctx: &RequestContext,
        network_uuid: Uuid,
    ) -> Result<(), NovaError> {
        self.db.network_delete_safe(network_uuid).await
    }

    async fn network_set_project(
        &self,
        _ctx: &RequestContext,
        network_uuid: Uuid,
        project_id: Option<String>,
    ) -> Result<Network, NovaError> {
        self.db
            .network_set_project(network_uuid, project_id.as_deref())
            .await
    }

    async fn network_create_safe(
        &self,
        _ctx: &RequestContext,
        values: NetworkCreate,
    ) -> Result<Network, NovaError> {
        self.db.network_create_safe(&values).await
    }

    async fn network_set_host(
        &self,
        _ctx: &RequestContext,
        network_uuid: Uuid,
        host: Option<String>,
    ) -> Result<Network, NovaError> {
        self.db
            .network_set_host(network_uuid, host.as_deref())
            .await
    }
}
