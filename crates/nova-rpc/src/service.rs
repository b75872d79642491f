//! What every RPC daemon but the conductor does: check in with the
//! conductor every `report_interval` (Nova's servicegroup DB driver).

use crate::{conductor, Transport};
use nova_common::NovaConfig;
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
                    nova_common::systemd::ready("checked in");
                }
                Ok(_) => nova_common::systemd::ready("checked in"),
                Err(e) => {
                    warn!(binary, "service report failed: {e}");
                    failing = true;
                }
            }
        }
    })
}

/// What every daemon but the conductor starts with: the broker connection,
/// its topic's durable queues (declared before the service announces
/// itself, so nothing sent to it is lost), a conductor client and the
/// `report_interval` check-in.
pub struct ServiceRuntime {
    pub transport: Transport,
    pub conductor: conductor::Client,
    heartbeat: tokio::task::JoinHandle<()>,
}

impl ServiceRuntime {
    pub async fn start(
        cfg: &NovaConfig,
        binary: &'static str,
        topic: Option<&'static str>,
        shutdown: &CancellationToken,
    ) -> Result<Self, String> {
        let transport = Transport::start(cfg, binary).map_err(|e| e.to_string())?;
        if let Some(topic) = topic {
            crate::server::declare(&transport, topic, &cfg.default.host)
                .await
                .map_err(|e| format!("cannot reach the message broker: {e}"))?;
        }
        let conductor = conductor::Client::new(transport.clone());
        let heartbeat = spawn_heartbeat(
            conductor.clone(),
            cfg.default.host.clone(),
            binary,
            topic,
            Duration::from_secs(cfg.default.report_interval),
            shutdown.clone(),
        );
        Ok(ServiceRuntime {
            transport,
            conductor,
            heartbeat,
        })
    }

    /// Stop checking in and close the broker connection.
    pub async fn stop(self) {
        self.heartbeat.abort();
        self.transport.close().await;
    }
}
