//! What Nova's `HostAPI` asks of a compute host, and the runs of its
//! periodic audit tasks (`task_log_get_all`).

use super::API;
use crate::servicegroup;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{InstanceFilters, Service, TaskLog, Timestamp};

impl API {
    /// `uptime` on the host; its nova-compute must be up
    /// (ComputeServiceUnavailable otherwise, as Nova's `_assert_host_exists`).
    pub async fn get_host_uptime(&self, ctx: &RequestContext, host: &str) -> NovaResult<String> {
        let services = self.conductor.service_get_all(ctx).await?;
        let Some(service) = services
            .iter()
            .find(|s| s.host == host && s.binary == "nova-compute")
        else {
            return Err(NovaError::ComputeHostNotFound {
                host: host.to_string(),
            });
        };
        if !servicegroup::service_is_up(&self.cfg, service) {
            return Err(NovaError::ComputeServiceUnavailable {
                host: host.to_string(),
            });
        }
        self.compute_rpcapi
            .to_server(host)
            .get_host_uptime(ctx)
            .await
    }

    /// The runs of `task_name` for exactly this period, one per host.
    pub async fn task_log_get_all(
        &self,
        ctx: &RequestContext,
        task_name: &str,
        begin: Timestamp,
        end: Timestamp,
    ) -> NovaResult<Vec<TaskLog>> {
        self.conductor
            .task_log_get_all(ctx, task_name.to_string(), begin, end)
            .await
    }

    /// Every service record (Nova's `HostAPI.service_get_all`).
    pub async fn service_list(&self, ctx: &RequestContext) -> NovaResult<Vec<Service>> {
        self.conductor.service_get_all(ctx).await
    }

    /// Delete a service record, as Nova's os-services delete: a compute
    /// service whose host still has instances stays
    /// (ServiceHostingInstances); otherwise its host first leaves every
    /// aggregate it is in.
    pub async fn delete_service(&self, ctx: &RequestContext, service: &Service) -> NovaResult<()> {
        if service.binary == "nova-compute" {
            let filters = InstanceFilters {
                host: Some(service.host.clone()),
                limit: Some(1),
                expected_attrs: Some(vec![]),
                ..Default::default()
            };
            if !self
                .conductor
                .instance_get_all_by_filters(ctx, filters)
                .await?
                .is_empty()
            {
                return Err(NovaError::ServiceHostingInstances {});
            }
            for aggregate in self.conductor.aggregate_get_all(ctx).await? {
                if aggregate.hosts.contains(&service.host) {
                    self.remove_host_from_aggregate(ctx, aggregate.id, &service.host)
                        .await?;
                }
            }
        }
        self.conductor.service_delete(ctx, service.id).await
    }
}
