//! What every RPC daemon but the conductor does: check in with the
//! conductor every `report_interval` (Nova's servicegroup DB driver).

use crate::conductor;
use nova_common::RequestContext;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

/// Report this service as alive until `shutdown`. A failed report is logged
/// and retried at the next interval; the first success after failures is logged too.
pub fn spawn_heartbeat(
    conductor: conductor::Client,
    host: String,
    binary: &'static str,
    topic: Option<&'static str>,
    interval: Duration,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut failing = false;
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let ctx = RequestContext::admin();
            match conductor
                .service_update(
                    &ctx,
                    host.clone(),
                    binary.to_string(),
                    topic.map(str::to_string),
                )
                .await
            {
                Ok(_) if failing => {
                    info!(binary, "service report succeeded again");
                    failing = false;
                }
                Ok(_) => {}
                Err(e) => {
                    warn!(binary, "service report failed: {e}");
                    failing = true;
                }
            }
        }
    })
}
