//! The RPC server: consume queues, dispatch by namespace, version and
//! method, reply, ack.
//!
//! Like oslo.messaging's RPC server, a service `topic` on `host` consumes
//! three queues: `topic` (shared by all servers of the topic), `topic.host`
//! (this server only) and an exclusive queue on the `topic_fanout` exchange.
//! A server holds one [`Endpoint`] per namespace it serves; a message goes
//! to the endpoint of its `namespace` whose RPC API version can serve the
//! message's `version` (oslo's `RPCDispatcher`). Each message is handled in
//! its own task and acked after the handler finishes, so a crash mid-way
//! gets it redelivered; at most `prefetch` messages are in hand at once.
//!
//! Each endpoint has a [`Policy`]: before a request runs, it is asked whether
//! the message's [`Caller`] (the broker-checked `user_id`, never a field of
//! the body) may make it, and with which context. The default,
//! [`ControlPlaneOnly`], serves the control plane and refuses everyone else.

use crate::envelope;
use crate::transport::{Incoming, QueueSpec, Transport};
use futures_util::future::BoxFuture;
use lapin::ExchangeKind;
use nova_common::trust::Caller;
use nova_common::{NovaError, RequestContext};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

/// Decodes a request's call ([`envelope::RequestCall`]), asks the endpoint's policy about
/// its caller, and runs it on the manager; the result comes back as its JSON
/// text ([`envelope::to_json_text`]), serialised once from its type.
pub type Handler = Arc<
    dyn Fn(
            Caller,
            RequestContext,
            envelope::RequestCall,
        ) -> BoxFuture<'static, Result<envelope::ResultText, NovaError>>
        + Send
        + Sync,
>;

/// Who may make which request `R` of an endpoint, and with what privileges.
#[async_trait::async_trait]
pub trait Policy<R>: Send + Sync + 'static {
    /// `Ok(ctx)`: the request runs, with this context (privileges come from
    /// the caller, not from what the message claims). `Err`: nothing runs,
    /// and the caller gets the error ([`not_authorized`] for a refusal).
    async fn authorize(
        &self,
        caller: &Caller,
        ctx: RequestContext,
        req: &R,
    ) -> Result<RequestContext, NovaError>;
}

/// The control plane may call everything; compute hosts and anyone else
/// nothing. What a compute host's nova-compute, the scheduler and
/// nova-network serve: none of them takes orders from a compute host.
pub struct ControlPlaneOnly;

#[async_trait::async_trait]
impl<R: Sync + 'static> Policy<R> for ControlPlaneOnly {
    async fn authorize(
        &self,
        caller: &Caller,
        ctx: RequestContext,
        _req: &R,
    ) -> Result<RequestContext, NovaError> {
        if caller.is_control_plane() {
            Ok(ctx)
        } else {
            Err(not_authorized(caller, "only the control plane may call it"))
        }
    }
}

/// A refusal of `caller` (`PolicyNotAuthorized`, 403), saying why.
pub fn not_authorized(caller: &Caller, why: impl std::fmt::Display) -> NovaError {
    NovaError::PolicyNotAuthorized {
        action: format!("this call from {caller} ({why})"),
    }
}

/// What a generated endpoint does with its policy's answer: a refusal is
/// logged (every one of them, calls and casts alike; the request's span
/// names the method and the caller).
#[doc(hidden)]
pub fn log_refusal(e: &NovaError) {
    if matches!(e, NovaError::PolicyNotAuthorized { .. }) {
        warn!("refused: {e}");
    } else {
        debug!("not authorized: {e}");
    }
}

/// How many messages a server works on at once.
pub const DEFAULT_PREFETCH: u16 = 64;

/// One namespace of a server at one RPC API version: what `rpc_api!`'s
/// `endpoint(manager)` returns (oslo's endpoint with its `Target`).
#[derive(Clone)]
pub struct Endpoint {
    pub namespace: Option<&'static str>,
    pub version: &'static str,
    pub methods: &'static [&'static str],
    pub handler: Handler,
}

/// `X.Y[.Z]` → numbers; anything else is no version at all.
fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let rev = parts.next().unwrap_or(Ok(0)).ok()?;
    parts.next().is_none().then_some((major, minor, rev))
}

/// Whether a server at `server` can serve a message sent at `requested`:
/// same major version, and nothing newer than the server knows.
pub fn version_is_compatible(server: &str, requested: &str) -> bool {
    match (parse_version(server), parse_version(requested)) {
        (Some((smaj, smin, srev)), Some((maj, min, rev))) => {
            maj == smaj && (min, rev) <= (smin, srev)
        }
        _ => false,
    }
}

/// The endpoint that serves `method` of `namespace` at `version`, or the
/// error the caller gets: `UnsupportedVersion` when the namespace is served
/// but not at a compatible version, `NoSuchMethod` otherwise. (oslo answers
/// a namespace it does not serve with `UnsupportedVersion` too; naming the
/// method is clearer, and the server log names the namespace.)
pub fn route<'a>(
    endpoints: &'a [Endpoint],
    namespace: Option<&str>,
    version: &str,
    method: &str,
) -> Result<&'a Endpoint, NovaError> {
    let mut served = false;
    let mut compatible = false;
    for ep in endpoints.iter().filter(|e| e.namespace == namespace) {
        served = true;
        if !version_is_compatible(ep.version, version) {
            continue;
        }
        compatible = true;
        if ep.methods.contains(&method) {
            return Ok(ep);
        }
    }
    if served && !compatible {
        Err(NovaError::UnsupportedVersion {
            version: version.to_string(),
            method: method.to_string(),
        })
    } else {
        if !served {
            warn!(
                namespace = namespace.unwrap_or("(none)"),
                "no endpoint serves this namespace"
            );
        }
        Err(NovaError::UnsupportedRpcMethod {
            method: method.to_string(),
        })
    }
}

/// A request whose method exists but whose arguments do not decode.
pub fn malformed_args(method: &str, e: serde_json::Error) -> NovaError {
    NovaError::internal(format!("Malformed arguments for RPC method {method}: {e}"))
}

/// The queues a server of `topic` on `host` consumes, as oslo.messaging
/// declares them, except that the fanout queue is exclusive (no other
/// connection can read or delete it), and that a confined compute host
/// consumes no shared `topic` queue: it may read only what is addressed to
/// it (and nothing is ever sent to plain `compute`).
pub(crate) fn topic_queues(transport: &Transport, topic: &str, host: &str) -> Vec<QueueSpec> {
    let exchange = transport.exchange().to_string();
    let shared = QueueSpec {
        name: topic.to_string(),
        exchange: exchange.clone(),
        exchange_kind: ExchangeKind::Topic,
        routing_key: topic.to_string(),
        durable: true,
        auto_delete: false,
        exclusive: false,
    };
    let own = QueueSpec {
        name: format!("{topic}.{host}"),
        exchange: exchange.clone(),
        exchange_kind: ExchangeKind::Topic,
        routing_key: format!("{topic}.{host}"),
        durable: true,
        auto_delete: false,
        exclusive: false,
    };
    let fanout = QueueSpec {
        name: format!("{topic}_fanout_{}", uuid::Uuid::new_v4().simple()),
        exchange: format!("{topic}_fanout"),
        exchange_kind: ExchangeKind::Fanout,
        routing_key: String::new(),
        durable: false,
        auto_delete: true,
        exclusive: true,
    };
    if transport.is_confined() {
        vec![own, fanout]
    } else {
        vec![shared, own, fanout]
    }
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

/// The queues of one topic on one host, the endpoints that serve what
/// arrives there, and how many messages may be in hand at once.
pub struct Server {
    transport: Transport,
    topic: String,
    host: String,
    endpoints: Vec<Endpoint>,
    prefetch: u16,
}

impl Server {
    pub fn new(transport: &Transport, topic: &str, host: &str) -> Self {
        Server {
            transport: transport.clone(),
            topic: topic.to_string(),
            host: host.to_string(),
            endpoints: Vec::new(),
            prefetch: DEFAULT_PREFETCH,
        }
    }

    pub fn endpoint(mut self, endpoint: Endpoint) -> Self {
        self.endpoints.push(endpoint);
        self
    }

    pub fn prefetch(mut self, prefetch: u16) -> Self {
        self.prefetch = prefetch.max(1);
        self
    }

    /// Declare the durable queues now (see [`declare`]).
    pub async fn declare(&self) -> Result<(), NovaError> {
        declare(&self.transport, &self.topic, &self.host).await
    }

    /// Serve until `shutdown`, then stop consuming and let in-flight
    /// handlers finish within `grace`.
    pub async fn serve(self, shutdown: CancellationToken, grace: Duration) {
        let Server {
            transport,
            topic,
            host,
            endpoints,
            prefetch,
        } = self;
        let endpoints: Arc<[Endpoint]> = endpoints.into();
        let queues = topic_queues(&transport, &topic, &host);
        let stop = shutdown.child_token();
        let mut rx = transport.subscribe(queues, prefetch, stop.clone());
        let tracker = TaskTracker::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                msg = rx.recv() => {
                    let Some(msg) = msg else { break };
                    tracker.spawn(handle(transport.clone(), endpoints.clone(), msg));
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
}

async fn handle(transport: Transport, endpoints: Arc<[Endpoint]>, msg: Incoming) {
    let (call, meta) = match envelope::decode_request(&msg.body) {
        Ok(x) => x,
        Err(e) => {
            warn!("dropping malformed message: {e}");
            msg.ack().await;
            return;
        }
    };
    let method = call.method().to_string();
    let caller = msg.caller.clone();
    let span = tracing::info_span!("rpc", %method, %caller, request_id = %meta.ctx.request_id);
    async {
        if msg.redelivered {
            info!("handling a redelivered message");
        }
        debug!(namespace = ?meta.namespace, version = %meta.version, "received");
        let result = match route(
            &endpoints,
            meta.namespace.as_deref(),
            &meta.version,
            &method,
        ) {
            Ok(ep) => (ep.handler)(caller, meta.ctx.clone(), call).await,
            Err(e) => {
                warn!(namespace = ?meta.namespace, version = %meta.version, "refused: {e}");
                Err(e)
            }
        };
        if let Err(e) = &result {
            debug!("failed: {e}");
        }
        if let (Some(q), Some(id)) = (&meta.reply_q, &meta.msg_id) {
            transport.reply(q, id, &result).await;
        } else if let Err(e) = &result {
            if !matches!(e, NovaError::PolicyNotAuthorized { .. }) {
                warn!("cast failed: {e}");
            }
        }
        msg.ack().await;
    }
    .instrument(span)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(namespace: Option<&'static str>, version: &'static str) -> Endpoint {
        Endpoint {
            namespace,
            version,
            methods: &["ping", "pong"],
            handler: Arc::new(|_, _, _| Box::pin(async { envelope::to_json_text(&()) })),
        }
    }

    /// The broker permissions of a compute host's user name the queues this
    /// crate's APIs use: keep them in step.
    #[test]
    fn a_compute_hosts_permissions_name_the_queues_it_uses() {
        assert_eq!(
            nova_common::trust::COMPUTE_SENDS_TO,
            [
                crate::conductor::QUEUE,
                crate::compute_task::QUEUE,
                crate::network::QUEUE
            ]
        );
        let p = nova_common::trust::compute_permissions("h1", "nova").expect("valid");
        assert!(p
            .topic_read
            .contains(&format!("{}\\.h1", crate::compute::QUEUE)));
    }

    #[test]
    fn versions() {
        assert!(version_is_compatible("3.0", "3.0"));
        assert!(version_is_compatible("1.17", "1.3"));
        assert!(version_is_compatible("1.17", "1.17.0"));
        assert!(!version_is_compatible("1.17", "1.18"), "newer minor");
        assert!(!version_is_compatible("1.17", "1.17.1"), "newer revision");
        assert!(!version_is_compatible("3.0", "2.0"), "older major");
        assert!(!version_is_compatible("3.0", "4.0"), "newer major");
        assert!(!version_is_compatible("3.0", "three"));
        assert!(!version_is_compatible("3.0", ""));
    }

    #[test]
    fn routes_by_namespace_version_and_method() {
        let eps = [ep(None, "3.0"), ep(Some("compute_task"), "1.17")];
        let found = route(&eps, Some("compute_task"), "1.10", "ping").expect("routed");
        assert_eq!(found.namespace, Some("compute_task"));
        let found = route(&eps, None, "3.0", "pong").expect("routed");
        assert_eq!(found.namespace, None);
    }

    #[test]
    fn refuses_what_it_cannot_serve() {
        let eps = [ep(None, "3.0"), ep(Some("compute_task"), "1.17")];
        let refused = |ns, v, m| route(&eps, ns, v, m).err().expect("refused");
        let e = refused(None, "2.9", "ping");
        assert_eq!(
            e,
            NovaError::UnsupportedVersion {
                version: "2.9".into(),
                method: "ping".into()
            }
        );
        assert_eq!(
            e.to_string(),
            "Endpoint does not support RPC version 2.9. Attempted method: ping"
        );
        assert_eq!(e.class(), "UnsupportedVersion");
        assert_eq!(e.module(), "oslo_messaging.rpc.dispatcher");
        assert!(matches!(
            refused(Some("compute_task"), "1.18", "ping"),
            NovaError::UnsupportedVersion { .. }
        ));
        let e = refused(None, "3.0", "nope");
        assert_eq!(
            e,
            NovaError::UnsupportedRpcMethod {
                method: "nope".into()
            }
        );
        assert_eq!(e.class(), "NoSuchMethod");
        assert_eq!(
            refused(Some("nowhere"), "1.0", "ping"),
            NovaError::UnsupportedRpcMethod {
                method: "ping".into()
            }
        );
    }
}
