//! The RPC server: consume a topic's queues, dispatch, reply, ack.
//!
//! Like oslo.messaging's RPC server, a service `topic` on `host` consumes
//! three queues: `topic` (shared by all servers of the topic), `topic.host`
//! (this server only) and an exclusive queue on the `topic_fanout` exchange.
//! Each message is handled in its own task and acked after the handler
//! finishes, so a crash mid-way gets it redelivered.

use crate::envelope;
use crate::transport::{Incoming, QueueSpec, Transport};
use futures_util::future::BoxFuture;
use lapin::ExchangeKind;
use nova_common::{NovaError, RequestContext};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

pub type Handler<R> =
    Arc<dyn Fn(RequestContext, R) -> BoxFuture<'static, Result<Value, NovaError>> + Send + Sync>;

/// How many messages a server works on at once.
pub const DEFAULT_PREFETCH: u16 = 64;

/// The queues a server of `topic` on `host` consumes, as oslo.messaging declares them.
pub(crate) fn topic_queues(transport: &Transport, topic: &str, host: &str) -> Vec<QueueSpec> {
    let exchange = transport.exchange().to_string();
    vec![
        QueueSpec {
            name: topic.to_string(),
            exchange: exchange.clone(),
            exchange_kind: ExchangeKind::Topic,
            routing_key: topic.to_string(),
            durable: true,
            auto_delete: false,
        },
        QueueSpec {
            name: format!("{topic}.{host}"),
            exchange: exchange.clone(),
            exchange_kind: ExchangeKind::Topic,
            routing_key: format!("{topic}.{host}"),
            durable: true,
            auto_delete: false,
        },
        QueueSpec {
            name: format!("{topic}_fanout_{}", uuid::Uuid::new_v4().simple()),
            exchange: format!("{topic}_fanout"),
            exchange_kind: ExchangeKind::Fanout,
            routing_key: String::new(),
            durable: false,
            auto_delete: true,
        },
    ]
}

/// Declare the durable queues of `topic` on `host` now: messages sent to
/// this server from then on wait in the broker even before `serve` consumes.
/// Daemons call this before announcing themselves in the services table.
pub async fn declare(transport: &Transport, topic: &str, host: &str) -> Result<(), NovaError> {
    let durable: Vec<QueueSpec> = topic_queues(transport, topic, host)
        .into_iter()
        .filter(|q| q.durable)
        .collect();
    transport.declare_queues(&durable).await
}

/// Serve `topic` on `host` until `shutdown`, then stop consuming and let
/// in-flight handlers finish within `grace`.
pub async fn serve<R>(
    transport: &Transport,
    topic: &str,
    host: &str,
    handler: Handler<R>,
    shutdown: CancellationToken,
    grace: Duration,
) where
    R: DeserializeOwned + Send + 'static,
{
    let queues = topic_queues(transport, topic, host);
    let stop = shutdown.child_token();
    let mut rx = transport.subscribe(queues, DEFAULT_PREFETCH, stop.clone());
    let tracker = TaskTracker::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            msg = rx.recv() => {
                let Some(msg) = msg else { break };
                let transport = transport.clone();
                let handler = handler.clone();
                tracker.spawn(handle(transport, handler, msg));
            }
        }
    }
    info!(%topic, "stopped consuming; waiting for in-flight requests");
    stop.cancel();
    // Messages already buffered here go back to the broker for another server.
    rx.close();
    while let Some(msg) = rx.recv().await {
        msg.requeue().await;
    }
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(%topic, "graceful_shutdown_timeout expired with requests still running");
    }
}

async fn handle<R: DeserializeOwned>(transport: Transport, handler: Handler<R>, msg: Incoming) {
    let (call, meta) = match envelope::decode_request(&msg.body) {
        Ok(x) => x,
        Err(e) => {
            warn!("dropping malformed message: {e}");
            msg.ack().await;
            return;
        }
    };
    let method = call["method"].as_str().unwrap_or("?").to_string();
    let span = tracing::info_span!("rpc", %method, request_id = %meta.ctx.request_id);
    async {
        if msg.redelivered {
            info!("handling a redelivered message");
        }
        debug!("received");
        let result = match serde_json::from_value::<R>(call) {
            Ok(req) => handler(meta.ctx.clone(), req).await,
            Err(e) => {
                warn!("unsupported or malformed request: {e}");
                Err(NovaError::UnsupportedRpcMethod {
                    method: method.clone(),
                })
            }
        };
        if let Err(e) = &result {
            debug!("failed: {e}");
        }
        if let (Some(q), Some(id)) = (&meta.reply_q, &meta.msg_id) {
            transport.reply(q, id, &result).await;
        } else if let Err(e) = &result {
            warn!("cast failed: {e}");
        }
        msg.ack().await;
    }
    .instrument(span)
    .await
}

/// Run a handler-producing manager method in the spawned task: a helper for the generated `serve`.
pub fn handler_from<R, F>(f: F) -> Handler<R>
where
    F: Fn(RequestContext, R) -> BoxFuture<'static, Result<Value, NovaError>>
        + Send
        + Sync
        + 'static,
{
    Arc::new(f)
}
