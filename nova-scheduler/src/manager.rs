//! `SchedulerManager`: `select_destinations`, answered from the host states
//! the [`HostManager`] keeps. A request that finds no valid host has the
//! states refreshed now and is tried once more (see `host_manager`).

use crate::filter_scheduler::FilterScheduler;
use crate::host_manager::HostManager;
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::{Aggregate, RequestSpec, Selection};
use std::sync::Arc;
use std::time::Duration;
use tracing::info;
use uuid::Uuid;

pub struct SchedulerManager {
    driver: FilterScheduler,
    host_manager: Arc<HostManager>,
    /// How long a request waits for host states when none is known yet.
    first_refresh_timeout: Duration,
    /// How long a request that found no valid host waits for a refresh:
    /// half the caller's `rpc_response_timeout`, so it still gets an answer.
    miss_refresh_timeout: Duration,
}

impl SchedulerManager {
    pub fn new(cfg: &NovaConfig, host_manager: Arc<HostManager>) -> Self {
        SchedulerManager {
            driver: FilterScheduler::new(cfg),
            host_manager,
            first_refresh_timeout: Duration::from_secs(cfg.default.rpc_response_timeout),
            miss_refresh_timeout: Duration::from_secs(cfg.default.rpc_response_timeout) / 2,
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
        let select = || {
            self.driver.select_destinations(
                &self.host_manager,
                &spec_obj,
                &instance_uuids,
                return_alternates,
            )
        };
        match select() {
            Err(NovaError::NoValidHost { reason }) => {
                // The cache may not know of a node, or of a service enabled again, yet.
                info!("{reason}: refreshing the host states and trying once more");
                if self
                    .host_manager
                    .refresh_now(self.miss_refresh_timeout)
                    .await
                {
                    select()
                } else {
                    Err(NovaError::NoValidHost { reason })
                }
            }
            other => other,
        }
    }

    async fn update_aggregates(
        &self,
        _ctx: &RequestContext,
        aggregates: Vec<Aggregate>,
    ) -> Result<(), NovaError> {
        self.host_manager.aggregates_changed(aggregates);
        Ok(())
    }

    async fn delete_aggregate(
        &self,
        _ctx: &RequestContext,
        aggregate: Aggregate,
    ) -> Result<(), NovaError> {
        self.host_manager.aggregate_deleted(&aggregate);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::{node, service};
    use crate::host_manager::HostSource;
    use nova_objects::{ComputeNode, Flavor, Service};
    use nova_rpc::scheduler::Manager;
    use std::sync::Mutex;
    use tokio_util::sync::CancellationToken;

    /// What the conductor would answer: changed by the test as a writer would.
    #[derive(Default)]
    struct Rows(Mutex<(Vec<ComputeNode>, Vec<Service>)>);

    #[async_trait::async_trait]
    impl HostSource for Arc<Rows> {
        async fn read(&self) -> Result<crate::host_manager::HostRead, NovaError> {
            let (nodes, services) = self.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
            Ok((nodes, services, vec![]))
        }
    }

    fn spec(force: &[&str]) -> RequestSpec {
        RequestSpec {
            flavor: Flavor {
                memory_mb: 512,
                vcpus: 1,
                root_gb: 1,
                ..Default::default()
            },
            force_hosts: force.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        }
    }

    /// A change to the services or compute nodes is seen by the next request,
    /// though the periodic refresh never runs again (no interval).
    #[tokio::test]
    async fn a_new_or_changed_host_is_seen_on_the_next_request() {
        let cfg = NovaConfig::parse_text("").expect("config");
        let rows = Arc::new(Rows::default());
        let t = chrono::Utc::now();
        let mut disabled = service("h0");
        disabled.disabled = true;
        *rows.0.lock().expect("rows") = (vec![node("h0", 4096, 0, t)], vec![disabled]);
        let hm = Arc::new(HostManager::new("nova"));
        let shutdown = CancellationToken::new();
        let task = hm.spawn_periodic(rows.clone(), None, shutdown.clone());
        let sm = SchedulerManager::new(&cfg, hm.clone());
        let ctx = RequestContext::admin();
        let place = |force: &'static [&'static str]| {
            let sm = &sm;
            let ctx = &ctx;
            async move {
                sm.select_destinations(ctx, spec(force), vec![Uuid::new_v4()], false)
                    .await
                    .map(|l| l[0][0].service_host.clone())
            }
        };
        // The only host is disabled: no valid host, even after a refresh.
        let e = place(&[]).await.expect_err("disabled");
        assert!(e.to_string().contains("ComputeFilter"), "{e}");
        // Enabled again: the next request places there.
        rows.0.lock().expect("rows").1 = vec![service("h0")];
        assert_eq!(place(&[]).await.expect("enabled again"), "h0");
        // A new compute node and its service: the next request can be forced onto it.
        {
            let mut r = rows.0.lock().expect("rows");
            r.0.push(node("h1", 8192, 0, chrono::Utc::now()));
            r.1.push(service("h1"));
        }
        assert_eq!(place(&["h1"]).await.expect("new node"), "h1");
        shutdown.cancel();
        let _ = task.await;
    }
}
