//! `SchedulerManager`: `select_destinations`, answered from the host states
//! the [`HostManager`] keeps; it never calls the conductor.

use crate::filter_scheduler::FilterScheduler;
use crate::host_manager::HostManager;
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::{RequestSpec, Selection};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

pub struct SchedulerManager {
    driver: FilterScheduler,
    host_manager: Arc<HostManager>,
    /// How long a request waits for host states when none is known yet.
    first_refresh_timeout: Duration,
}

impl SchedulerManager {
    pub fn new(cfg: &NovaConfig, host_manager: Arc<HostManager>) -> Self {
        SchedulerManager {
            driver: FilterScheduler::new(cfg),
            host_manager,
            first_refresh_timeout: Duration::from_secs(cfg.default.rpc_response_timeout),
        }
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::scheduler::Manager for SchedulerManager {
    async fn select_destinations(
        &self,
        _ctx: &RequestContext,
        spec_obj: RequestSpec,
        instance_uuids: Vec<Uuid>,
        return_alternates: bool,
    ) -> Result<Vec<Vec<Selection>>, NovaError> {
        self.host_manager
            .wait_for_hosts(self.first_refresh_timeout)
            .await;
        self.driver.select_destinations(
            &self.host_manager,
            &spec_obj,
            &instance_uuids,
            return_alternates,
        )
    }
}
