//! Nova's `_heal_instance_info_cache`: every `[DEFAULT]
//! heal_instance_info_cache_interval` seconds one instance of this host has
//! its network info cache rebuilt from what nova-network holds, so a cache
//! left behind (a host that died between nova-network's change of its
//! addresses and its own write of them, a write lost with the database)
//! heals within one round of the host's instances.
//!
//! As Nova: the host's instances are taken one per run, in turn, and the
//! list is read again once it is used up; an instance still building or
//! being deleted is left out, as is (here) one with any task in progress,
//! whose task writes its own network info.

use crate::manager::ComputeManager;
use nova_common::states::VmState;
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceFilters, InstanceUpdate};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use uuid::Uuid;

/// Whether the heal may touch `inst` now.
fn healable(inst: &Instance, host: &str) -> bool {
    inst.host.as_deref() == Some(host)
        && inst.vm_state != VmState::Building
        && inst.task_state.is_none()
}

impl ComputeManager {
    /// One run: the next instance of `queue` (refilled from this host's
    /// instances when empty) gets nova-network's view of its network.
    pub(crate) async fn heal_instance_info_cache(
        &self,
        queue: &mut VecDeque<Uuid>,
    ) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let host = self.host().to_string();
        if queue.is_empty() {
            let on_host = self
                .idempotent
                .instance_get_all_by_filters(
                    &ctx,
                    InstanceFilters {
                        host: Some(host.clone()),
                        expected_attrs: Some(vec![]),
                        ..Default::default()
                    },
                )
                .await?;
            queue.extend(
                on_host
                    .iter()
                    .filter(|i| healable(i, &host))
                    .map(|i| i.uuid),
            );
            debug!(
                instances = queue.len(),
                "rebuilt the list of instances to heal"
            );
        }
        while let Some(uuid) = queue.pop_front() {
            let inst = match self.idempotent.instance_get_by_uuid(&ctx, uuid).await {
                Ok(i) => i,
                Err(NovaError::InstanceNotFound { .. }) => continue,
                Err(e) => return Err(e),
            };
            if !healable(&inst, &host) {
                continue;
            }
            let nw = self.network.get_instance_nw_info(&ctx, uuid).await?;
            if nw != inst.network_info {
                let upd = InstanceUpdate {
                    network_info: Some(nw),
                    expected_task_state: Some(vec![None]),
                    ..Default::default()
                };
                match self.update(&ctx, uuid, upd).await {
                    Ok(_) => info!(instance = %uuid, "healed the network info cache"),
                    // A task began meanwhile: it writes its own.
                    Err(NovaError::UnexpectedTaskStateError { .. }) => {}
                    Err(e) => return Err(e),
                }
            } else {
                debug!(instance = %uuid, "the network info cache is current");
            }
            return Ok(());
        }
        Ok(())
    }
}

/// The periodic heal, every `heal_instance_info_cache_interval` seconds
/// (none when it is 0 or less).
pub fn spawn_heal_info_cache(
    manager: Arc<ComputeManager>,
    shutdown: CancellationToken,
) -> Option<tokio::task::JoinHandle<()>> {
    let secs = u64::try_from(manager.cfg.default.heal_instance_info_cache_interval)
        .ok()
        .filter(|s| *s > 0)?;
    Some(tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(secs));
        tick.tick().await;
        let mut queue = VecDeque::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = manager.heal_instance_info_cache(&mut queue).await {
                warn!("healing the network info cache failed: {e}");
            }
        }
    }))
}
