//! Quota limits per project, and what a project uses.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::QuotaUsage;
use std::collections::BTreeMap;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Quotas for ConductorManager {
    async fn quota_get_all_by_project(
        &self,
        _ctx: &RequestContext,
        project_id: String,
    ) -> Result<BTreeMap<String, i64>, NovaError> {
        retry_on_disconnect("quota_get_all_by_project", || {
            self.db.quota_get_all_by_project(&project_id)
        })
        .await
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
        retry_on_disconnect("quota_usage", || self.db.quota_usage(&project_id)).await
    }
}
