//! The resource tracker: report the node's resources to the conductor,
//! which derives usage from the instances assigned to it.

use crate::manager::ComputeManager;
use nova_common::{NovaError, RequestContext};
use nova_objects::ComputeNodeReport;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::warn;

impl ComputeManager {
    /// `update_available_resource`.
    pub async fn update_available_resource(&self) -> Result<(), NovaError> {
        let res =
            self.driver
                .get_available_resource()
                .await
                .map_err(|e| NovaError::HypervisorError {
                    reason: e.to_string(),
                })?;
        let d = &self.cfg.default;
        let report = ComputeNodeReport {
            host: d.host.clone(),
            host_ip: d.my_ip.clone(),
            resources: res,
            reserved_host_memory_mb: d.reserved_host_memory_mb,
            reserved_host_disk_mb: d.reserved_host_disk_mb,
            reserved_host_cpus: d.reserved_host_cpus,
            cpu_allocation_ratio: d.cpu_allocation_ratio,
            ram_allocation_ratio: d.ram_allocation_ratio,
            disk_allocation_ratio: d.disk_allocation_ratio,
        };
        self.conductor
            .compute_node_update(&RequestContext::admin(), report)
            .await?;
        Ok(())
    }
}

pub fn spawn_periodic(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let secs = manager.cfg.default.update_resources_interval.max(1);
        let mut tick = tokio::time::interval(Duration::from_secs(secs));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.update_available_resource().await {
                warn!("update_available_resource failed: {e}");
            }
        }
    })
}
