//! The AMQP transport: one connection per process, supervised.
//!
//! A supervisor task owns the connection. On loss it logs, backs off
//! (`rabbit_retry_backoff`, capped at `rabbit_interval_max`), reconnects and
//! re-declares the exchanges, the reply queue and every registered
//! subscription. Callers wait (within their timeout) for a live link.
//!
//! Every message this process publishes carries the AMQP `user_id`
//! property, its broker user, which RabbitMQ refuses to relay if it is not
//! the connection's; every message it receives is handed over with the
//! [`Caller`] that property names (see [`nova_common::trust`]).
//!
//! A compute host's connection is *confined*: its broker user may touch only
//! its own queues (`nova-manage rabbit create_compute_user`), so it checks
//! for the control exchange instead of declaring it, leaves the queues it
//! sends to for their servers to declare, and replies to calls through the
//! control exchange, where the control plane's reply queues are bound too,
//! rather than through the default exchange, which would let it reach any
//! queue by name.

use crate::envelope;
use futures_util::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions, ExchangeDeclareOptions,
    QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};
use nova_common::config::{parse_transport_url, NovaConfig};
use nova_common::trust::{Caller, TrustPolicy};
use nova_common::{NovaError, RequestContext};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

/// How many times [`Transport::call_idempotent`] sends a request again after
/// the broker connection was lost before its reply came.
pub const IDEMPOTENT_RESENDS: u32 = 2;

/// What a pending call hears back.
enum Reply {
    /// The server's reply, decoded by the caller into its type.
    Body(envelope::ReplyBody),
    /// The connection was lost (with the reply queue) before the reply came.
    ConnectionLost,
}

/// Why a call did not return a result.
enum CallFailure {
    /// The server's failure, a timeout, or a message that could not be sent.
    Failed(NovaError),
    /// The connection was lost while waiting: the request may or may not
    /// have been handled.
    ConnectionLost(NovaError),
}

impl CallFailure {
    fn into_error(self) -> NovaError {
        match self {
            CallFailure::Failed(e) | CallFailure::ConnectionLost(e) => e,
        }
    }
}

/// Where a message goes: a topic, optionally one server's queue, or the fanout exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub topic: String,
    pub server: Option<String>,
    pub fanout: bool,
}

impl Target {
    pub fn topic(topic: &str) -> Self {
        Target {
            topic: topic.to_string(),
            server: None,
            fanout: false,
        }
    }

    pub fn routing_key(&self) -> String {
        match &self.server {
            Some(s) => format!("{}.{}", self.topic, s),
            None => self.topic.clone(),
        }
    }
}

/// A queue and how it is bound.
#[derive(Clone, Debug)]
pub(crate) struct QueueSpec {
    pub name: String,
    pub exchange: String,
    pub exchange_kind: ExchangeKind,
    pub routing_key: String,
    pub durable: bool,
    pub auto_delete: bool,
    /// Only this connection may use it (and it goes with the connection).
    pub exclusive: bool,
}

/// A message handed to a server, to be acked (or requeued) when handled.
pub struct Incoming {
    pub body: Vec<u8>,
    pub redelivered: bool,
    /// Who published it: the broker-checked `user_id` property, identified.
    pub caller: Caller,
    acker: lapin::Acker,
}

impl Incoming {
    pub async fn ack(&self) {
        if let Err(e) = self.acker.ack(BasicAckOptions::default()).await {
            // The channel died meanwhile: the broker redelivers; handlers are idempotent.
            warn!("could not ack message: {e}");
        }
    }

    pub async fn requeue(&self) {
        let opts = BasicNackOptions {
            requeue: true,
            ..Default::default()
        };
        if let Err(e) = self.acker.nack(opts).await {
            warn!("could not requeue message: {e}");
        }
    }
}

pub(crate) struct Subscription {
    pub queues: Vec<QueueSpec>,
    pub tx: mpsc::Sender<Incoming>,
    pub prefetch: u16,
    /// Cancelled when the server stops consuming.
    pub stop: CancellationToken,
}

struct Link {
    conn: Connection,
    /// Replaced when the broker closes it (e.g. after refusing a publish).
    publish: tokio::sync::Mutex<Channel>,
    /// Topic queues this link has made sure exist (see `ensure_queue`).
    declared: Mutex<std::collections::HashSet<String>>,
}

struct Inner {
    uri: String,
    /// This process's broker user: the `user_id` of everything it publishes.
    user: String,
    /// Whether `user` is a compute host's (see the module docs).
    confined: bool,
    trust: TrustPolicy,
    exchange: String,
    reply_q: String,
    default_timeout: Duration,
    retry_backoff: u64,
    interval_max: u64,
    link: watch::Sender<Option<Arc<Link>>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Reply>>>,
    subs: Mutex<Vec<Arc<Subscription>>>,
    /// Bumped when a subscription is added so the supervisor can attach it to the live link.
    subs_changed: tokio::sync::Notify,
    closed: CancellationToken,
    /// How many times the connection was made or queues were added to
    /// what it consumes (see [`Transport::connection_epoch`]).
    connections: std::sync::atomic::AtomicU64,
}

/// A handle on the process's AMQP connection; cheap to clone.
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The largest AMQP frame this side proposes (the broker may lower it).
/// lapin keeps a receive and a send buffer of 32 frames each, zero-filled:
/// at RabbitMQ's default of 128 KiB that is 8 MiB resident in every daemon
/// (most of an idle daemon's memory); at 16 KiB, 1 MiB. A larger message
/// travels as more frames (8 bytes of overhead each).
const FRAME_MAX: u32 = 16 * 1024;

impl Transport {
    /// Start the supervisor; returns at once. Use [`Transport::wait_connected`] to wait.
    pub fn start(cfg: &NovaConfig, process_name: &str) -> Result<Self, NovaError> {
        let t = parse_transport_url(&cfg.default.transport_url)
            .map_err(|e| NovaError::invalid_input(format!("transport_url: {e}")))?;
        let vhost = if t.vhost == "/" {
            "%2f".to_string()
        } else {
            t.vhost.clone()
        };
        let uri = format!(
            "amqp://{}:{}@{}:{}/{}?heartbeat={}&connection_timeout=10000&frame_max={FRAME_MAX}",
            t.user,
            t.password,
            t.host,
            t.port,
            vhost,
            cfg.rabbit.heartbeat_timeout_threshold / 2
        );
        let user = t.username();
        let trust = TrustPolicy::from_config(cfg);
        let confined = trust.identify(Some(&user)).compute_host().is_some();
        let (link, _) = watch::channel(None);
        let inner = Arc::new(Inner {
            uri,
            user,
            confined,
            trust,
            exchange: cfg.default.control_exchange.clone(),
            reply_q: format!("reply_{}", uuid::Uuid::new_v4().simple()),
            default_timeout: Duration::from_secs(cfg.default.rpc_response_timeout),
            retry_backoff: cfg.rabbit.rabbit_retry_backoff,
            interval_max: cfg.rabbit.rabbit_interval_max,
            link,
            pending: Mutex::new(HashMap::new()),
            subs: Mutex::new(Vec::new()),
            subs_changed: tokio::sync::Notify::new(),
            closed: CancellationToken::new(),
            connections: std::sync::atomic::AtomicU64::new(0),
        });
        let transport = Transport { inner };
        let sup = transport.clone();
        let name = process_name.to_string();
        tokio::spawn(async move { sup.supervise(name).await });
        Ok(transport)
    }

    pub fn default_timeout(&self) -> Duration {
        self.inner.default_timeout
    }

    /// The broker user this process publishes as.
    pub fn user(&self) -> &str {
        &self.inner.user
    }

    /// Whether this is a compute host's confined connection (see the module docs).
    pub fn is_confined(&self) -> bool {
        self.inner.confined
    }

    /// How this process tells callers apart.
    pub fn trust(&self) -> &TrustPolicy {
        &self.inner.trust
    }

    /// Wait until the broker connection is up, or fail after `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), NovaError> {
        self.link(timeout).await.map(|_| ())
    }

    pub fn is_connected(&self) -> bool {
        self.inner.link.borrow().is_some()
    }

    /// Which connection to the broker this is: 0 before the first, then
    /// bumped each time a connection is made (its queues consumed again)
    /// and each time queues subscribed later are consumed. What was learnt
    /// from casts under an older epoch may have missed some.
    pub fn connection_epoch(&self) -> u64 {
        self.inner
            .connections
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Close the connection and stop reconnecting.
    pub async fn close(&self) {
        self.inner.closed.cancel();
        let link = self.inner.link.borrow().clone();
        if let Some(l) = link {
            let _ = l.conn.close(200, "shutdown".into()).await;
        }
    }

    async fn link(&self, timeout: Duration) -> Result<Arc<Link>, NovaError> {
        let mut rx = self.inner.link.subscribe();
        let wait = async {
            loop {
                if let Some(l) = rx.borrow_and_update().clone() {
                    return Ok(l);
                }
                if rx.changed().await.is_err() {
                    return Err(());
                }
            }
        };
        match tokio::time::timeout(timeout, wait).await {
            Ok(Ok(l)) => Ok(l),
            _ => Err(NovaError::MessagingTimeout {
                msg_id: "(no connection to the message broker)".into(),
            }),
        }
    }

    async fn supervise(self, name: String) {
        let mut attempt: u64 = 0;
        loop {
            if self.inner.closed.is_cancelled() {
                return;
            }
            match self.connect_once(&name).await {
                Ok((link, mut events, mut attached)) => {
                    if attempt > 0 {
                        info!("reconnected to the AMQP broker after {attempt} failed attempt(s)");
                    } else {
                        info!("connected to the AMQP broker");
                    }
                    attempt = 0;
                    self.inner
                        .connections
                        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    self.inner.link.send_replace(Some(link.clone()));
                    // Attach subscriptions added later; watch for connection errors.
                    loop {
                        tokio::select! {
                            _ = self.inner.closed.cancelled() => return,
                            ev = events.next() => match ev {
                                // lapin reports a channel closed by the broker here too
                                // (a refused publish): the connection lives on.
                                Some(lapin::Event::Error(e)) if link.conn.status().connected() => {
                                    warn!("AMQP channel closed by the broker: {e}");
                                }
                                Some(lapin::Event::Error(e)) => {
                                    error!("AMQP connection lost: {e}");
                                    break;
                                }
                                Some(other) => debug!("AMQP event: {other:?}"),
                                None => {
                                    error!("AMQP connection closed");
                                    break;
                                }
                            },
                            _ = self.inner.subs_changed.notified() => {
                                let subs: Vec<_> = lock(&self.inner.subs)[attached..].to_vec();
                                for s in subs {
                                    if let Err(e) = self.attach(&link, s).await {
                                        error!("cannot attach subscription: {e}");
                                    }
                                    attached += 1;
                                }
                                // What was learnt before these queues were
                                // consumed may have missed a cast to them.
                                self.inner
                                    .connections
                                    .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            }
                            _ = tokio::time::sleep(Duration::from_secs(5)) => {
                                if !link.conn.status().connected() {
                                    error!("AMQP connection is no longer connected");
                                    break;
                                }
                            }
                        }
                    }
                    self.inner.link.send_replace(None);
                    // Calls in flight lose their reply queue; tell them now rather than at timeout.
                    let pending: Vec<_> = lock(&self.inner.pending).drain().collect();
                    for (_, tx) in pending {
                        let _ = tx.send(Reply::ConnectionLost);
                    }
                }
                Err(e) => {
                    attempt += 1;
                    let delay = (self.inner.retry_backoff * attempt).min(self.inner.interval_max);
                    error!(
                        "AMQP server unreachable: {e}. Trying again in {delay} seconds (attempt {attempt})"
                    );
                    tokio::select! {
                        _ = self.inner.closed.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(delay)) => {}
                    }
                    continue;
                }
            }
            // Lost an established connection: retry at once, then back off.
            attempt = attempt.max(1);
            info!("reconnecting to the AMQP broker");
        }
    }

    async fn connect_once(
        &self,
        name: &str,
    ) -> Result<
        (
            Arc<Link>,
            futures_util::stream::BoxStream<'static, lapin::Event>,
            usize,
        ),
        lapin::Error,
    > {
        // `<process>:<pid>`, as oslo.messaging names its connections: an
        // operator (or a test) can tell two processes of one binary apart.
        let props = ConnectionProperties::default()
            .with_connection_name(format!("{name}:{}", std::process::id()).into());
        let conn = Connection::connect(&self.inner.uri, props).await?;
        let events = conn.events_listener().boxed();
        let publish = conn.create_channel().await?;
        publish
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        // A confined user may not declare (nor delete) the control exchange:
        // it only checks that the control plane made it.
        publish
            .exchange_declare(
                self.inner.exchange.clone().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    passive: self.inner.confined,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        debug!(exchange = %self.inner.exchange, "declared exchange");
        let link = Arc::new(Link {
            conn,
            publish: tokio::sync::Mutex::new(publish),
            declared: Mutex::new(std::collections::HashSet::new()),
        });
        self.start_reply_consumer(&link).await?;
        // Everything registered so far; later ones are attached by the supervisor.
        let subs: Vec<_> = lock(&self.inner.subs).clone();
        let attached = subs.len();
        for s in subs {
            self.attach(&link, s).await?;
        }
        Ok((link, events, attached))
    }

    async fn start_reply_consumer(&self, link: &Link) -> Result<(), lapin::Error> {
        let ch = link.conn.create_channel().await?;
        ch.queue_declare(
            self.inner.reply_q.clone().into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
        if !self.inner.confined {
            // So that a confined compute host can reply through the control
            // exchange (its user may not publish to the default one).
            ch.queue_bind(
                self.inner.reply_q.clone().into(),
                self.inner.exchange.clone().into(),
                self.inner.reply_q.clone().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
        }
        let mut consumer = ch
            .basic_consume(
                self.inner.reply_q.clone().into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
        debug!(queue = %self.inner.reply_q, "declared reply queue");
        let inner = self.inner.clone();
        tokio::spawn(async move {
            let _ch = ch;
            while let Some(d) = consumer.next().await {
                let Ok(d) = d else { break };
                match envelope::decode_reply(&d.data) {
                    Ok((msg_id, body)) => {
                        let tx = lock(&inner.pending).remove(&msg_id);
                        match tx {
                            Some(tx) => {
                                let _ = tx.send(Reply::Body(body));
                            }
                            None => debug!(%msg_id, "reply for an unknown or expired call"),
                        }
                    }
                    Err(e) => warn!("malformed reply dropped: {e}"),
                }
            }
        });
        Ok(())
    }

    async fn attach(&self, link: &Link, sub: Arc<Subscription>) -> Result<(), lapin::Error> {
        if sub.stop.is_cancelled() {
            return Ok(());
        }
        let ch = link.conn.create_channel().await?;
        ch.basic_qos(sub.prefetch, BasicQosOptions::default())
            .await?;
        let mut consumers = Vec::new();
        for q in &sub.queues {
            if q.exchange != self.inner.exchange {
                ch.exchange_declare(
                    q.exchange.clone().into(),
                    q.exchange_kind.clone(),
                    ExchangeDeclareOptions {
                        durable: q.durable,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            }
            ch.queue_declare(
                q.name.clone().into(),
                QueueDeclareOptions {
                    durable: q.durable,
                    auto_delete: q.auto_delete,
                    exclusive: q.exclusive,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await?;
            ch.queue_bind(
                q.name.clone().into(),
                q.exchange.clone().into(),
                q.routing_key.clone().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await?;
            let consumer = ch
                .basic_consume(
                    q.name.clone().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            info!(queue = %q.name, exchange = %q.exchange, "consuming");
            consumers.push(consumer);
        }
        for mut consumer in consumers {
            let sub = sub.clone();
            let ch = ch.clone();
            let trust = self.inner.trust.clone();
            tokio::spawn(async move {
                let tag = consumer.tag();
                loop {
                    tokio::select! {
                        _ = sub.stop.cancelled() => {
                            let _ = ch.basic_cancel(tag.clone(), BasicCancelOptions::default()).await;
                            // Anything delivered before the cancel took effect goes back to the queue.
                            while let Ok(Some(Ok(d))) =
                                tokio::time::timeout(Duration::from_millis(200), consumer.next()).await
                            {
                                let _ = d.acker.nack(BasicNackOptions { requeue: true, ..Default::default() }).await;
                            }
                            return;
                        }
                        d = consumer.next() => {
                            let Some(Ok(d)) = d else { return };
                            let user = d.properties.user_id().as_ref().map(|u| u.as_str());
                            let caller = trust.identify(user);
                            let msg = Incoming { body: d.data, redelivered: d.redelivered, caller, acker: d.acker };
                            if sub.tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
        Ok(())
    }

    /// Declare queues (and their bindings) now, so that messages sent to them
    /// are kept even before anyone consumes. Waits up to the default timeout for the broker.
    pub(crate) async fn declare_queues(&self, queues: &[QueueSpec]) -> Result<(), NovaError> {
        let link = self.link(self.inner.default_timeout).await?;
        let fail = |e: lapin::Error| NovaError::internal(format!("cannot declare queues: {e}"));
        let ch = link.conn.create_channel().await.map_err(fail)?;
        for q in queues {
            if q.exchange != self.inner.exchange {
                ch.exchange_declare(
                    q.exchange.clone().into(),
                    q.exchange_kind.clone(),
                    ExchangeDeclareOptions {
                        durable: q.durable,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(fail)?;
            }
            ch.queue_declare(
                q.name.clone().into(),
                QueueDeclareOptions {
                    durable: q.durable,
                    auto_delete: q.auto_delete,
                    exclusive: q.exclusive,
                    ..Default::default()
                },
                FieldTable::default(),
            )
            .await
            .map_err(fail)?;
            ch.queue_bind(
                q.name.clone().into(),
                q.exchange.clone().into(),
                q.routing_key.clone().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(fail)?;
        }
        let _ = ch.close(200, "declared".into()).await;
        Ok(())
    }

    /// Register queues to consume; they are re-declared on every reconnect.
    pub(crate) fn subscribe(
        &self,
        queues: Vec<QueueSpec>,
        prefetch: u16,
        stop: CancellationToken,
    ) -> mpsc::Receiver<Incoming> {
        let (tx, rx) = mpsc::channel(prefetch as usize * 2);
        let sub = Arc::new(Subscription {
            queues,
            tx,
            prefetch,
            stop,
        });
        lock(&self.inner.subs).push(sub);
        self.inner.subs_changed.notify_one();
        rx
    }

    pub fn exchange(&self) -> &str {
        &self.inner.exchange
    }

    /// The link's publishing channel, opened anew if the broker closed it
    /// (it does when it refuses a message: wrong `user_id`, no permission).
    async fn publish_channel(&self, link: &Link) -> Result<Channel, lapin::Error> {
        let mut ch = link.publish.lock().await;
        if !ch.status().connected() {
            let fresh = link.conn.create_channel().await?;
            fresh
                .confirm_select(ConfirmSelectOptions::default())
                .await?;
            info!("opened a new publishing channel (the broker closed the previous one)");
            *ch = fresh;
        }
        Ok(ch.clone())
    }

    async fn publish(
        &self,
        exchange: &str,
        routing_key: &str,
        body: &[u8],
        persistent: bool,
        timeout: Duration,
    ) -> Result<(), NovaError> {
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_content_encoding("utf-8".into())
            .with_delivery_mode(if persistent { 2 } else { 1 })
            .with_user_id(self.inner.user.clone().into());
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tries = 0;
        loop {
            tries += 1;
            let remaining = deadline.saturating_duration_since(tokio::time::Instant::now());
            let link = self.link(remaining).await?;
            let res = async {
                let ch = self.publish_channel(&link).await?;
                // A confined user leaves other services' queues to them.
                if exchange == self.inner.exchange && !self.inner.confined {
                    self.ensure_queue(&link, &ch, routing_key).await?;
                }
                let confirm = ch
                    .basic_publish(
                        exchange.to_string().into(),
                        routing_key.to_string().into(),
                        BasicPublishOptions::default(),
                        body,
                        props.clone(),
                    )
                    .await?;
                Ok::<_, lapin::Error>(tokio::time::timeout(remaining, confirm).await)
            }
            .await;
            match res {
                Ok(Ok(Ok(c))) if c.is_nack() => {
                    warn!(%routing_key, "broker refused (nacked) a message");
                }
                Ok(Ok(Ok(_))) => return Ok(()),
                Ok(Ok(Err(e))) | Err(e) => {
                    if let Some(refusal) = self.refusal(exchange, routing_key, &e) {
                        warn!(%routing_key, "the broker refused a message: {e}");
                        return Err(refusal);
                    }
                    warn!(%routing_key, "publish failed: {e}");
                }
                Ok(Err(_)) => warn!(%routing_key, "no publisher confirm in time"),
            }
            if tries >= 3 || tokio::time::Instant::now() >= deadline {
                return Err(NovaError::MessagingTimeout {
                    msg_id: format!("(could not publish to {routing_key})"),
                });
            }
            tokio::time::sleep(Duration::from_millis(200 * tries)).await;
        }
    }

    /// A publish the broker refused for good (access refused, or a
    /// `user_id` that is not ours): no use trying again.
    fn refusal(&self, exchange: &str, routing_key: &str, e: &lapin::Error) -> Option<NovaError> {
        let lapin::ErrorKind::ProtocolError(amqp) = e.kind() else {
            return None;
        };
        let exchange = if exchange.is_empty() {
            "the default exchange"
        } else {
            exchange
        };
        matches!(amqp.get_id(), 403 | 406).then(|| NovaError::PolicyNotAuthorized {
            action: format!(
                "publishing to {exchange} with routing key {routing_key} as {} (the broker said: {})",
                self.inner.user,
                amqp.get_message()
            ),
        })
    }

    /// Make sure the durable queue a topic message goes to exists (declared
    /// and bound as its server declares it), once per connection: a message
    /// sent before its server first started is kept, not dropped.
    async fn ensure_queue(
        &self,
        link: &Link,
        ch: &Channel,
        routing_key: &str,
    ) -> Result<(), lapin::Error> {
        if lock(&link.declared).contains(routing_key) {
            return Ok(());
        }
        ch.queue_declare(
            routing_key.to_string().into(),
            QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await?;
        ch.queue_bind(
            routing_key.to_string().into(),
            self.inner.exchange.clone().into(),
            routing_key.to_string().into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await?;
        lock(&link.declared).insert(routing_key.to_string());
        Ok(())
    }

    /// Send a request and wait for its reply (`rpc_response_timeout` unless given).
    pub async fn call(
        &self,
        ctx: &RequestContext,
        target: &Target,
        call: &envelope::Call,
        version: &str,
        namespace: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Value, NovaError> {
        self.call_as(ctx, target, call, version, namespace, timeout)
            .await
    }

    /// As [`Transport::call`], the result decoded straight into `T` from the
    /// reply's text (what the typed clients use).
    pub async fn call_as<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        target: &Target,
        call: &envelope::Call,
        version: &str,
        namespace: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<T, NovaError> {
        let timeout = timeout.unwrap_or(self.inner.default_timeout);
        self.call_once(ctx, target, call, version, namespace, timeout)
            .await
            .map_err(CallFailure::into_error)?
            .result()
    }

    /// As [`Transport::call`], for a request that is safe to handle twice (a
    /// read, a compare-and-set update): when the broker connection is lost
    /// before the reply comes, the request is sent again once the connection
    /// is back, at most [`IDEMPOTENT_RESENDS`] times, each try within the timeout.
    pub async fn call_idempotent(
        &self,
        ctx: &RequestContext,
        target: &Target,
        call: &envelope::Call,
        version: &str,
        namespace: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<Value, NovaError> {
        self.call_idempotent_as(ctx, target, call, version, namespace, timeout)
            .await
    }

    /// As [`Transport::call_idempotent`], the result decoded straight into `T`.
    pub async fn call_idempotent_as<T: DeserializeOwned>(
        &self,
        ctx: &RequestContext,
        target: &Target,
        call: &envelope::Call,
        version: &str,
        namespace: Option<&str>,
        timeout: Option<Duration>,
    ) -> Result<T, NovaError> {
        let timeout = timeout.unwrap_or(self.inner.default_timeout);
        let mut resends = 0;
        loop {
            match self
                .call_once(ctx, target, call, version, namespace, timeout)
                .await
            {
                Ok(body) => return body.result(),
                Err(CallFailure::ConnectionLost(e)) if resends < IDEMPOTENT_RESENDS => {
                    resends += 1;
                    let method = call.method();
                    warn!(%method, "connection lost before the reply; sending again once reconnected ({e})");
                    self.wait_connected(timeout).await?;
                }
                Err(f) => return Err(f.into_error()),
            }
        }
    }

    async fn call_once(
        &self,
        ctx: &RequestContext,
        target: &Target,
        call: &envelope::Call,
        version: &str,
        namespace: Option<&str>,
        timeout: Duration,
    ) -> Result<envelope::ReplyBody, CallFailure> {
        let msg_id = uuid::Uuid::new_v4().simple().to_string();
        let meta = envelope::RequestMeta {
            ctx: ctx.clone(),
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            unique_id: envelope::new_unique_id(),
            msg_id: Some(msg_id.clone()),
            reply_q: Some(self.inner.reply_q.clone()),
        };
        let body = envelope::encode_request(call, &meta);
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.pending).insert(msg_id.clone(), tx);
        let started = tokio::time::Instant::now();
        let sent = self
            .publish(
                &self.inner.exchange,
                &target.routing_key(),
                &body,
                false,
                timeout,
            )
            .await;
        if let Err(e) = sent {
            lock(&self.inner.pending).remove(&msg_id);
            return Err(CallFailure::Failed(e));
        }
        let remaining = timeout.saturating_sub(started.elapsed());
        match tokio::time::timeout(remaining, rx).await {
            Ok(Ok(Reply::Body(body))) => Ok(body),
            Ok(Ok(Reply::ConnectionLost)) => {
                Err(CallFailure::ConnectionLost(NovaError::MessagingTimeout {
                    msg_id: format!("{msg_id} (connection lost)"),
                }))
            }
            _ => {
                lock(&self.inner.pending).remove(&msg_id);
                Err(CallFailure::Failed(NovaError::MessagingTimeout { msg_id }))
            }
        }
    }

    /// Send a request without waiting for a reply. Persistent, confirmed by the broker.
    pub async fn cast(
        &self,
        ctx: &RequestContext,
        target: &Target,
        call: &envelope::Call,
        version: &str,
        namespace: Option<&str>,
    ) -> Result<(), NovaError> {
        let meta = envelope::RequestMeta {
            ctx: ctx.clone(),
            version: version.to_string(),
            namespace: namespace.map(str::to_string),
            unique_id: envelope::new_unique_id(),
            msg_id: None,
            reply_q: None,
        };
        let body = envelope::encode_request(call, &meta);
        if target.fanout {
            let ex = format!("{}_fanout", target.topic);
            // Publishing to a missing exchange would close the channel: declare it first.
            let link = self.link(self.inner.default_timeout).await?;
            let ch = self
                .publish_channel(&link)
                .await
                .map_err(|e| NovaError::internal(format!("cannot declare {ex}: {e}")))?;
            ch.exchange_declare(
                ex.clone().into(),
                ExchangeKind::Fanout,
                ExchangeDeclareOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|e| NovaError::internal(format!("cannot declare {ex}: {e}")))?;
            self.publish(&ex, "", &body, false, self.inner.default_timeout)
                .await
        } else {
            self.publish(
                &self.inner.exchange,
                &target.routing_key(),
                &body,
                true,
                self.inner.default_timeout,
            )
            .await
        }
    }

    /// Send a reply to a call.
    pub(crate) async fn reply(
        &self,
        reply_q: &str,
        msg_id: &str,
        result: &Result<envelope::ResultText, NovaError>,
    ) {
        let body = envelope::encode_reply(msg_id, result);
        // A confined user may not publish to the default exchange; the
        // control plane's reply queues are bound to the control exchange too.
        let exchange = if self.inner.confined {
            self.inner.exchange.as_str()
        } else {
            ""
        };
        if let Err(e) = self
            .publish(exchange, reply_q, &body, false, self.inner.default_timeout)
            .await
        {
            warn!(%msg_id, "could not send reply: {e}");
        }
    }
}
