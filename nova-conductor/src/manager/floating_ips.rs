//! Floating IPs, for nova-network (and the API's reads).

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{FixedIp, FloatingIp};

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::FloatingIps for ConductorManager {
    async fn floating_ip_get(
        &self,
        _ctx: &RequestContext,
        floating_ip_id: i64,
    ) -> Result<FloatingIp, NovaError> {
        retry_on_disconnect("floating_ip_get", || {
            self.db.floating_ip_get(floating_ip_id)
        })
        .await
    }

    async fn floating_ip_get_by_address(
        &self,
        _ctx: &RequestContext,
        address: String,
    ) -> Result<FloatingIp, NovaError> {
        retry_on_disconnect("floating_ip_get_by_address", || {
            self.db.floating_ip_get_by_address(&address)
        })
        .await
    }

    async fn floating_ip_get_all_by_project(
        &self,
        _ctx: &RequestContext,
        project_id: String,
    ) -> Result<Vec<FloatingIp>, NovaError> {
        retry_on_disconnect("floating_ip_get_all_by_project", || {
            self.db.floating_ip_get_all_by_project(&project_id)
        })
        .await
    }

    async fn floating_ip_get_all_by_host(
        &self,
        _ctx: &RequestContext,
        host: String,
    ) -> Result<Vec<FloatingIp>, NovaError> {
        retry_on_disconnect("floating_ip_get_all_by_host", || {
            self.db.floating_ip_get_all_by_host(&host)
        })
        .await
    }

    async fn floating_ip_get_by_fixed_ip_id(
        &self,
        _ctx: &RequestContext,
        fixed_ip_id: i64,
    ) -> Result<Vec<FloatingIp>, NovaError> {
        retry_on_disconnect("floating_ip_get_by_fixed_ip_id", || {
            self.db.floating_ip_get_by_fixed_ip_id(fixed_ip_id)
        })
        .await
    }

    async fn floating_ip_get_pools(&self, _ctx: &RequestContext) -> Result<Vec<String>, NovaError> {
        retry_on_disconnect("floating_ip_get_pools", || self.db.floating_ip_get_pools()).await
    }

    async fn floating_ip_allocate_address(
        &self,
        _ctx: &RequestContext,
        project_id: String,
        pool: String,
        auto_assigned: bool,
        quota_limit: Option<i64>,
    ) -> Result<FloatingIp, NovaError> {
        self.db
            .floating_ip_allocate_address(&project_id, &pool, auto_assigned, quota_limit)
            .await
    }

    async fn floating_ip_deallocate(
        &self,
        _ctx: &RequestContext,
        address: String,
    ) -> Result<(), NovaError> {
        self.db.floating_ip_deallocate(&address).await
    }

    async fn floating_ip_fixed_ip_associate(
        &self,
        _ctx: &RequestContext,
        floating_address: String,
        fixed_address: String,
        host: String,
    ) -> Result<Option<FixedIp>, NovaError> {
        self.db
            .floating_ip_fixed_ip_associate(&floating_address, &fixed_address, &host)
            .await
    }

    async fn floating_ip_disassociate(
        &self,
        _ctx: &RequestContext,
        address: String,
    ) -> Result<Option<FixedIp>, NovaError> {
        self.db.floating_ip_disassociate(&address).await
    }
}
