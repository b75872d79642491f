//! Hypervisor resources (the resource tracker's reports). Claims are not
//! served here: the conductor's `compute_task` makes them itself.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{ComputeNode, ComputeNodeReport};

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
}
