//! Quota limits per project, and what a project uses.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::QuotaUsage;
use std::collections::BTreeMap;

impl ConductorManager {
    /// The one place the defaults of every project come from (Nova's
    /// `get_defaults`): each `[quota]` resource, overridden by the `default`
    /// quota class where it sets that resource.
    pub(crate) async fn defaults(&self) -> Result<BTreeMap<String, i64>, NovaError> {
        let class = retry_on_disconnect("quota_class_get_default", || {
            self.db.quota_class_get_all_by_name("default")
        })
        .await?;
        Ok(self
            .quota_defaults
            .iter()
            .map(|(r, d)| (r.clone(), class.get(r).copied().unwrap_or(*d)))
            .collect())
    }

    /// The project's limit of `resource`: its override, else the defaults' (-1: unlimited).
    pub(crate) async fn project_limit(
        &self,
        project_id: &str,
        resource: &str,
    ) -> Result<i64, NovaError> {
        let overrides = retry_on_disconnect("quota_get_all_by_project", || {
            self.db.quota_get_all_by_project(project_id)
        })
        .await?;
        let defaults = self.defaults().await?;
        Ok(overrides
            .get(resource)
            .or_else(|| defaults.get(resource))
            .copied()
            .unwrap_or(-1))
    }
}

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

    async fn quota_get_defaults(
        &self,
        _ctx: &RequestContext,
    ) -> Result<BTreeMap<String, i64>, NovaError> {
        self.defaults().await
    }

    async fn quota_class_get_all_by_name(
        &self,
        _ctx: &RequestContext,
        class_name: String,
    ) -> Result<BTreeMap<String, i64>, NovaError> {
        retry_on_disconnect("quota_class_get_all_by_name", || {
            self.db.quota_class_get_all_by_name(&class_name)
        })
        .await
    }

    async fn quota_class_update(
        &self,
        _ctx: &RequestContext,
        class_name: String,
        limits: BTreeMap<String, i64>,
    ) -> Result<(), NovaError> {
        self.db.quota_class_update(&class_name, &limits).await
    }
}
