//! Host aggregates (Nova's `AggregateAPI`): a host joins an aggregate only
//! if it runs nova-compute, and no host may end up in two zones.

use super::API;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Aggregate, InstanceFilters};
use std::collections::BTreeMap;

/// Nova's `is_safe_to_update_az`: with `zone` as the aggregate's zone, none
/// of `hosts` may be in another aggregate of another zone.
fn zone_conflicts(
    all: &[Aggregate],
    aggregate_id: i64,
    zone: &str,
    hosts: &[String],
) -> Vec<String> {
    let mut zones: Vec<String> = all
        .iter()
        .filter(|a| a.id != aggregate_id && a.hosts.iter().any(|h| hosts.contains(h)))
        .filter_map(|a| a.availability_zone())
        .filter(|z| *z != zone)
        .map(str::to_string)
        .collect();
    zones.sort();
    zones.dedup();
    zones
}

impl API {
    /// The services and the host aggregates, read together: what the
    /// availability zones are made of (`crate::availability_zones`).
    pub async fn services_and_aggregates(
        &self,
        ctx: &RequestContext,
    ) -> NovaResult<(Vec<nova_objects::Service>, Vec<Aggregate>)> {
        tokio::try_join!(
            self.conductor.service_get_all(ctx),
            self.conductor.aggregate_get_all(ctx)
        )
    }

    pub async fn get_aggregate_list(&self, ctx: &RequestContext) -> NovaResult<Vec<Aggregate>> {
        self.conductor.aggregate_get_all(ctx).await
    }

    /// Nova's `cache_images` (2.81): the aggregate, and each image in
    /// Glance (before any host is asked), then a cast to the conductor,
    /// which asks the aggregate's hosts.
    pub async fn cache_images(
        &self,
        ctx: &RequestContext,
        id: i64,
        image_ids: Vec<String>,
    ) -> NovaResult<()> {
        let aggregate = self.conductor.aggregate_get(ctx, id).await?;
        for image in &image_ids {
            self.get_image(ctx, image).await?;
        }
        self.compute_task_api
            .cache_images(ctx, aggregate, image_ids)
            .await
    }

    pub async fn get_aggregate(&self, ctx: &RequestContext, id: i64) -> NovaResult<Aggregate> {
        self.conductor.aggregate_get(ctx, id).await
    }

    pub async fn create_aggregate(
        &self,
        ctx: &RequestContext,
        name: &str,
        availability_zone: Option<String>,
    ) -> NovaResult<Aggregate> {
        self.conductor
            .aggregate_create(ctx, name.to_string(), availability_zone)
            .await
    }

    pub async fn update_aggregate(
        &self,
        ctx: &RequestContext,
        id: i64,
        name: Option<String>,
        availability_zone: Option<Option<String>>,
    ) -> NovaResult<Aggregate> {
        // A zone given as null is refused as an empty one, before anything
        // changes (Nova saves the name first).
        if let Some(zone) = &availability_zone {
            self.check_zone_change(ctx, id, zone.as_deref()).await?;
        }
        self.conductor
            .aggregate_update(ctx, id, name, availability_zone.flatten())
            .await
    }

    pub async fn delete_aggregate(&self, ctx: &RequestContext, id: i64) -> NovaResult<()> {
        self.conductor.aggregate_delete(ctx, id).await
    }

    /// The host must run nova-compute (ComputeHostNotFound) and must not be
    /// in another zone already.
    pub async fn add_host_to_aggregate(
        &self,
        ctx: &RequestContext,
        id: i64,
        host: &str,
    ) -> NovaResult<Aggregate> {
        let services = self.conductor.service_get_all(ctx).await?;
        if !services
            .iter()
            .any(|s| s.host == host && s.binary == "nova-compute")
        {
            return Err(NovaError::ComputeHostNotFound {
                host: host.to_string(),
            });
        }
        let aggregate = self.conductor.aggregate_get(ctx, id).await?;
        if let Some(zone) = aggregate.availability_zone() {
            self.check_zone(ctx, id, zone, Some(host))
                .await
                .map_err(|reason| NovaError::InvalidAggregateActionAdd {
                    aggregate_id: id.to_string(),
                    reason,
                })?;
        }
        self.conductor
            .aggregate_host_add(ctx, id, host.to_string())
            .await
    }

    pub async fn remove_host_from_aggregate(
        &self,
        ctx: &RequestContext,
        id: i64,
        host: &str,
    ) -> NovaResult<Aggregate> {
        self.conductor
            .aggregate_host_delete(ctx, id, host.to_string())
            .await
    }

    /// Set metadata items (None removes one); a zone is checked as on update
    /// (so the zone cannot be removed: Nova refuses an empty zone name).
    pub async fn update_aggregate_metadata(
        &self,
        ctx: &RequestContext,
        id: i64,
        metadata: BTreeMap<String, Option<String>>,
    ) -> NovaResult<Aggregate> {
        if let Some(zone) = metadata.get("availability_zone") {
            self.check_zone_change(ctx, id, zone.as_deref()).await?;
        }
        self.conductor
            .aggregate_metadata_update(ctx, id, metadata)
            .await
    }

    /// Nova's `is_safe_to_update_az` with `check_no_instances_in_az`: the
    /// aggregate's zone becomes `zone` only if it names one, none of its
    /// hosts is in another zone, and, when the name changes, none of its
    /// hosts has instances (they would find themselves in another zone).
    async fn check_zone_change(
        &self,
        ctx: &RequestContext,
        id: i64,
        zone: Option<&str>,
    ) -> NovaResult<()> {
        let aggregate = self.conductor.aggregate_get(ctx, id).await?;
        let refuse = |reason: String| NovaError::InvalidAggregateActionUpdate {
            aggregate_id: id.to_string(),
            reason,
        };
        let Some(zone) = zone.filter(|z| !z.is_empty()) else {
            return Err(refuse(format!(
                "Aggregate {} does not support empty named availability zone",
                aggregate.name
            )));
        };
        self.check_zone(ctx, id, zone, None).await.map_err(refuse)?;
        if aggregate.availability_zone() == Some(zone) {
            return Ok(());
        }
        for host in &aggregate.hosts {
            let filters = InstanceFilters {
                host: Some(host.clone()),
                deleted: Some(false),
                limit: Some(1),
                ..Default::default()
            };
            if !self
                .conductor
                .instance_get_all_by_filters(&ctx.elevated(), filters)
                .await?
                .is_empty()
            {
                return Err(refuse(
                    "One or more hosts contain instances in this zone".to_string(),
                ));
            }
        }
        Ok(())
    }

    /// Why the aggregate's hosts (and `extra_host`) cannot be in `zone`.
    async fn check_zone(
        &self,
        ctx: &RequestContext,
        id: i64,
        zone: &str,
        extra_host: Option<&str>,
    ) -> Result<(), String> {
        let all = self
            .conductor
            .aggregate_get_all(ctx)
            .await
            .map_err(|e| e.to_string())?;
        let mut hosts: Vec<String> = all
            .iter()
            .filter(|a| a.id == id)
            .flat_map(|a| a.hosts.clone())
            .collect();
        hosts.extend(extra_host.map(str::to_string));
        let conflicts = zone_conflicts(&all, id, zone, &hosts);
        if conflicts.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "One or more hosts already in availability zone(s) {conflicts:?}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_is_in_one_zone() {
        let agg = |id: i64, zone: Option<&str>, hosts: &[&str]| Aggregate {
            id,
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            metadata: zone
                .map(|z| BTreeMap::from([("availability_zone".to_string(), z.to_string())]))
                .unwrap_or_default(),
            ..Default::default()
        };
        let all = vec![
            agg(1, Some("az1"), &["h1"]),
            agg(2, None, &["h2"]),
            agg(3, Some("az2"), &[]),
        ];
        assert_eq!(zone_conflicts(&all, 3, "az2", &["h1".into()]), vec!["az1"]);
        assert!(zone_conflicts(&all, 3, "az1", &["h1".into()]).is_empty());
        assert!(zone_conflicts(&all, 3, "az2", &["h2".into()]).is_empty());
    }
}
