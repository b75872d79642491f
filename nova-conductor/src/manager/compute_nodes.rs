//! Hypervisor resources (the resource tracker's reports) and claims.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{ComputeNode, ComputeNodeReport, ResourceRequest};
use uuid::Uuid;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::ComputeNodes for ConductorManager {
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
        retry_on_disconnect("compute_node_get_all", || self.db.compute_node_get_all()).await
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
}
