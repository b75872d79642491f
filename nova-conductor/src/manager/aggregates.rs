//! Host aggregates.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::Aggregate;
use std::collections::BTreeMap;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Aggregates for ConductorManager {
    async fn aggregate_get_all(&self, _ctx: &RequestContext) -> Result<Vec<Aggregate>, NovaError> {
        retry_on_disconnect("aggregate_get_all", || self.db.aggregate_get_all()).await
    }

    async fn aggregate_get(
        &self,
        _ctx: &RequestContext,
        aggregate_id: i64,
    ) -> Result<Aggregate, NovaError> {
        retry_on_disconnect("aggregate_get", || self.db.aggregate_get(aggregate_id)).await
    }

    async fn aggregate_create(
        &self,
        _ctx: &RequestContext,
        name: String,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, NovaError> {
        self.db
            .aggregate_create(&name, availability_zone.as_deref())
            .await
    }

    async fn aggregate_update(
        &self,
        _ctx: &RequestContext,
        aggregate_id: i64,
        name: Option<String>,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, NovaError> {
        self.db
            .aggregate_update(aggregate_id, name.as_deref(), availability_zone.as_deref())
            .await
    }

    async fn aggregate_delete(
        &self,
        _ctx: &RequestContext,
        aggregate_id: i64,
    ) -> Result<(), NovaError> {
        self.db.aggregate_delete(aggregate_id).await
    }

    async fn aggregate_host_add(
        &self,
        _ctx: &RequestContext,
        aggregate_id: i64,
        host: String,
    ) -> Result<Aggregate, NovaError> {
        self.db.aggregate_host_add(aggregate_id, &host).await
    }

    async fn aggregate_host_delete(
        &self,
        _ctx: &RequestContext,
        aggregate_id: i64,
        host: String,
    ) -> Result<Aggregate, NovaError> {
        self.db.aggregate_host_delete(aggregate_id, &host).await
    }

    async fn aggregate_metadata_update(
        &self,
        _ctx: &RequestContext,
        aggregate_id: i64,
        metadata: BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate, NovaError> {
        self.db
            .aggregate_metadata_update(aggregate_id, &metadata)
            .await
    }
}
