//! `SchedulerManager`: `select_destinations`.

use crate::filters::{build_filters, filter_hosts, weigh_hosts, Filter, FilterContext, HostState};
use chrono::Utc;
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::{RequestSpec, ResourceRequest, Selection};
use nova_rpc::conductor;
use rand::seq::SliceRandom;
use tracing::{info, warn};
use uuid::Uuid;

pub struct SchedulerManager {
    conductor: conductor::Client,
    filters: Vec<Box<dyn Filter>>,
    cfg: NovaConfig,
}

impl SchedulerManager {
    pub fn new(conductor: conductor::Client, cfg: NovaConfig) -> Self {
        SchedulerManager {
            conductor,
            filters: build_filters(&cfg.scheduler.enabled_filters),
            cfg,
        }
    }

    async fn host_states(&self, ctx: &RequestContext) -> Result<Vec<HostState>, NovaError> {
        let (nodes, services) = tokio::try_join!(
            self.conductor.compute_node_get_all(ctx),
            self.conductor.service_get_all(ctx)
        )?;
        Ok(nodes
            .iter()
            .map(|n| {
                let svc = services
                    .iter()
                    .find(|s| s.host == n.host && s.binary == "nova-compute")
                    .cloned();
                HostState::new(n, svc, &self.cfg.default.default_availability_zone)
            })
            .collect())
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::scheduler::Manager for SchedulerManager {
    async fn select_destinations(
        &self,
        ctx: &RequestContext,
        spec: RequestSpec,
        instance_uuids: Vec<Uuid>,
    ) -> Result<Vec<Selection>, NovaError> {
        let request = ResourceRequest::from_flavor(&spec.flavor);
        let mut hosts = self.host_states(ctx).await?;
        if !spec.force_hosts.is_empty() {
            hosts.retain(|h| spec.force_hosts.contains(&h.host));
            if hosts.is_empty() {
                return Err(NovaError::NoValidHost {
                    reason: format!("No such host - host: {}", spec.force_hosts.join(", ")),
                });
            }
        }
        let mut selections = Vec::new();
        for uuid in instance_uuids {
            let fctx = FilterContext {
                spec: &spec,
                request: request.clone(),
                now: Utc::now(),
                service_down_time: self.cfg.default.service_down_time,
            };
            let passing = filter_hosts(&self.filters, &hosts, &fctx).map_err(|reason| {
                warn!(instance = %uuid, "{reason}");
                NovaError::NoValidHost { reason }
            })?;
            let mut ranked = weigh_hosts(passing, self.cfg.scheduler.ram_weight_multiplier);
            // host_subset_size: pick randomly among the N best to spread races.
            let n = self.cfg.scheduler.host_subset_size.min(ranked.len());
            ranked[..n].shuffle(&mut rand::rng());
            let candidates: Vec<(String, String, Uuid)> = ranked
                .iter()
                .map(|h| (h.host.clone(), h.nodename.clone(), h.uuid))
                .collect();
            let mut chosen = None;
            for (host, node, node_uuid) in candidates {
                match self
                    .conductor
                    .compute_node_claim(ctx, uuid, host.clone(), node.clone(), request.clone())
                    .await?
                {
                    true => {
                        chosen = Some((host, node, node_uuid));
                        break;
                    }
                    false => {
                        info!(instance = %uuid, %host, "claim lost a race; trying the next host")
                    }
                }
            }
            let Some((host, node, node_uuid)) = chosen else {
                return Err(NovaError::NoValidHost {
                    reason: "There are not enough hosts available: every candidate's resources were claimed concurrently.".into(),
                });
            };
            if let Some(h) = hosts
                .iter_mut()
                .find(|h| h.host == host && h.nodename == node)
            {
                h.consume(&request);
            }
            info!(instance = %uuid, %host, "selected");
            selections.push(Selection {
                service_host: host,
                nodename: node,
                compute_node_uuid: node_uuid,
                instance_uuid: uuid,
            });
        }
        Ok(selections)
    }
}
