//! What Nova's `HostAPI` asks of a compute host.

use super::API;
use crate::servicegroup;
use nova_common::{NovaError, NovaResult, RequestContext};

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
}
