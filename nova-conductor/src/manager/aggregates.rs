//! Host aggregates. Each change is cast to every nova-scheduler
//! (`update_aggregates`, `delete_aggregate`) after it is written and before
//! the writer's answer, so that the next scheduling sees the hosts' zones.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_db::Db;
use nova_objects::Aggregate;
use std::collections::BTreeMap;
use tracing::{info, warn};

/// The availability zone of `host`, from its aggregates (one rule:
/// [`nova_objects::host_availability_zone`]).
pub(crate) async fn host_zone(db: &Db, host: &str, default_zone: &str) -> NovaResult<String> {
    let aggregates =
        retry_on_disconnect("aggregate_get_by_host", || db.aggregate_get_by_host(host)).await?;
    Ok(nova_objects::host_availability_zone(
        &aggregates,
        host,
        default_zone,
    ))
}

impl ConductorManager {
    /// After an aggregate write that succeeded, before its answer: every
    /// nova-scheduler takes the aggregate as it now is.
    async fn aggregate_written(
        &self,
        ctx: &RequestContext,
        r: NovaResult<Aggregate>,
    ) -> NovaResult<Aggregate> {
        if let Ok(a) = &r {
            if let Err(e) = self.scheduler.update_aggregates(ctx, vec![a.clone()]).await {
                warn!(
                    aggregate = a.id,
                    "cannot tell nova-scheduler that the aggregate changed: {e}"
                );
            }
        }
        r
    }

    /// After `host` joined or left an aggregate: its instances are in the
    /// host's zone as it now is (Nova shows a server the zone of its host).
    /// A failure is logged: the aggregate change stands.
    async fn host_zone_changed(&self, host: &str) {
        let zone = match host_zone(&self.db, host, &self.default_availability_zone).await {
            Ok(zone) => zone,
            Err(e) => {
                warn!(%host, "cannot work out the host's zone: {e}");
                return;
            }
        };
        match retry_on_disconnect("instance_set_availability_zone_by_host", || {
            self.db.instance_set_availability_zone_by_host(host, &zone)
        })
        .await
        {
            Ok(0) => {}
            Ok(n) => info!(%host, %zone, instances = n, "the host's instances are in its new zone"),
            Err(e) => warn!(%host, %zone, "cannot put the host's instances in its zone: {e}"),
        }
    }
}

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
        ctx: &RequestContext,
        name: String,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, NovaError> {
        let r = self
            .db
            .aggregate_create(&name, availability_zone.as_deref())
            .await;
        self.aggregate_written(ctx, r).await
    }

    async fn aggregate_update(
        &self,
        ctx: &RequestContext,
        aggregate_id: i64,
        name: Option<String>,
        availability_zone: Option<String>,
    ) -> Result<Aggregate, NovaError> {
        let r = self
            .db
            .aggregate_update(aggregate_id, name.as_deref(), availability_zone.as_deref())
            .await;
        self.aggregate_written(ctx, r).await
    }

    async fn aggregate_delete(
        &self,
        ctx: &RequestContext,
        aggregate_id: i64,
    ) -> Result<(), NovaError> {
        let aggregate = self.db.aggregate_get(aggregate_id).await?;
        self.db.aggregate_delete(aggregate_id).await?;
        if let Err(e) = self.scheduler.delete_aggregate(ctx, aggregate).await {
            warn!(
                aggregate = aggregate_id,
                "cannot tell nova-scheduler that the aggregate was deleted: {e}"
            );
        }
        Ok(())
    }

    async fn aggregate_host_add(
        &self,
        ctx: &RequestContext,
        aggregate_id: i64,
        host: String,
    ) -> Result<Aggregate, NovaError> {
        let r = self.db.aggregate_host_add(aggregate_id, &host).await;
        let r = self.aggregate_written(ctx, r).await;
        if r.is_ok() {
            self.host_zone_changed(&host).await;
        }
        r
    }

    async fn aggregate_host_delete(
        &self,
        ctx: &RequestContext,
        aggregate_id: i64,
        host: String,
    ) -> Result<Aggregate, NovaError> {
        let r = self.db.aggregate_host_delete(aggregate_id, &host).await;
        let r = self.aggregate_written(ctx, r).await;
        if r.is_ok() {
            self.host_zone_changed(&host).await;
        }
        r
    }

    async fn aggregate_metadata_update(
        &self,
        ctx: &RequestContext,
        aggregate_id: i64,
        metadata: BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate, NovaError> {
        let r = self
            .db
            .aggregate_metadata_update(aggregate_id, &metadata)
            .await;
        self.aggregate_written(ctx, r).await
    }
}
