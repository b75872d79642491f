//! The transport against the real RabbitMQ, in a vhost of its own.

#![allow(clippy::unwrap_used)]

use nova_common::{NovaError, RequestContext};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

mod common;
use common::Vhost;

mod echo {
    nova_rpc::rpc_api! {
        topic: "echo", version: "1.0";
        call fn echo(text: String) -> String;
        call fn fail(instance_id: String) -> ();
        call fn slow(millis: u64) -> u64;
        cast fn bump(by: usize) -> ();
    }
}

/// A second namespace of the echo service, on a queue of its own.
mod tasks {
    nova_rpc::rpc_api! {
        topic: "echo", namespace: "tasks", version: "1.2", queue: "echo_tasks";
        /// Wait until the test lets go.
        call fn hold() -> ();
        call fn ping() -> String;
    }
}

/// A client of a newer major version of the echo API than the server's.
mod echo_v2 {
    nova_rpc::rpc_api! {
        topic: "echo", version: "2.0";
        call fn echo(text: String) -> String;
    }
}

struct Tasks {
    gate: Arc<tokio::sync::Semaphore>,
    held: Arc<AtomicUsize>,
}

#[nova_rpc::__private::async_trait]
impl tasks::Manager for Tasks {
    async fn hold(&self, _: &RequestContext) -> Result<(), NovaError> {
        self.held.fetch_add(1, Ordering::SeqCst);
        let _pass = self.gate.acquire().await;
        Ok(())
    }
    async fn ping(&self, _: &RequestContext) -> Result<String, NovaError> {
        Ok("pong".into())
    }
}

struct Echo {
    bumps: Arc<AtomicUsize>,
}

#[nova_rpc::__private::async_trait]
impl echo::Manager for Echo {
    async fn echo(&self, ctx: &RequestContext, text: String) -> Result<String, NovaError> {
        Ok(format!(
            "{text} from {}",
            ctx.user_id.clone().unwrap_or_default()
        ))
    }
    async fn fail(&self, _: &RequestContext, instance_id: String) -> Result<(), NovaError> {
        Err(NovaError::InstanceNotFound { instance_id })
    }
    async fn slow(&self, _: &RequestContext, millis: u64) -> Result<u64, NovaError> {
        tokio::time::sleep(Duration::from_millis(millis)).await;
        Ok(millis)
    }
    async fn bump(&self, _: &RequestContext, by: usize) -> Result<(), NovaError> {
        self.bumps.fetch_add(by, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_cast_errors_timeouts_and_graceful_stop() {
    let vhost = Vhost::new();
    let cfg = vhost.config(3);
    let server_t = nova_rpc::Transport::start(&cfg, "server").unwrap();
    let client_t = nova_rpc::Transport::start(&cfg, "client").unwrap();
    server_t
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    client_t
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    echo::declare(&server_t, "h1").await.unwrap();
    let bumps = Arc::new(AtomicUsize::new(0));
    let shutdown = CancellationToken::new();
    let server = {
        let t = server_t.clone();
        let m = Arc::new(Echo {
            bumps: bumps.clone(),
        });
        let s = shutdown.clone();
        tokio::spawn(async move { echo::serve(&t, "h1", m, s, Duration::from_secs(5)).await })
    };
    let client = echo::Client::new(client_t.clone());
    let ctx = RequestContext::new("alice", "p", vec![], false);

    // The queues were declared before serving: the first call is not lost.
    assert_eq!(
        client.echo(&ctx, "hi".into()).await.unwrap(),
        "hi from alice"
    );
    // Addressed to the server's own queue.
    assert_eq!(
        client.to_server("h1").echo(&ctx, "x".into()).await.unwrap(),
        "x from alice"
    );
    // A remote exception comes back as the same typed error.
    assert_eq!(
        client.fail(&ctx, "abc".into()).await,
        Err(NovaError::InstanceNotFound {
            instance_id: "abc".into()
        })
    );
    // Casts are delivered.
    for _ in 0..10 {
        client.bump(&ctx, 1).await.unwrap();
    }
    for _ in 0..50 {
        if bumps.load(Ordering::SeqCst) == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(bumps.load(Ordering::SeqCst), 10);
    // The broker drops every connection of the vhost: both sides reconnect,
    // re-declare their queues and serve again.
    assert!(Command::new("rabbitmqctl")
        .args([
            "-q",
            "close_all_connections",
            "-p",
            &vhost.0,
            "test: connection loss"
        ])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        match client
            .with_timeout(Duration::from_secs(1))
            .echo(&ctx, "again".into())
            .await
        {
            Ok(v) => {
                assert_eq!(v, "again from alice");
                break;
            }
            Err(e) => {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no recovery after connection loss: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    // Nobody serves this server name: MessagingTimeout after rpc_response_timeout.
    let started = std::time::Instant::now();
    let r = client.to_server("nobody").echo(&ctx, "x".into()).await;
    assert!(
        matches!(r, Err(NovaError::MessagingTimeout { .. })),
        "{r:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(3));

    // A request in flight when shutdown starts still gets its answer.
    let c2 = client.clone();
    let ctx2 = ctx.clone();
    let inflight = tokio::spawn(async move { c2.slow(&ctx2, 1500).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    shutdown.cancel();
    assert_eq!(inflight.await.unwrap().unwrap(), 1500);
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    client_t.close().await;
    server_t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn namespaces_versions_and_a_queue_of_their_own() {
    let vhost = Vhost::new();
    let cfg = vhost.config(10);
    let server_t = nova_rpc::Transport::start(&cfg, "server").unwrap();
    let client_t = nova_rpc::Transport::start(&cfg, "client").unwrap();
    for t in [&server_t, &client_t] {
        t.wait_connected(Duration::from_secs(10)).await.unwrap();
    }
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let held = Arc::new(AtomicUsize::new(0));
    let tasks_m = Arc::new(Tasks {
        gate: gate.clone(),
        held: held.clone(),
    });
    let echo_m = Arc::new(Echo {
        bumps: Arc::new(AtomicUsize::new(0)),
    });
    // The topic's queues serve both namespaces, one message in hand at a time.
    let main = echo::server(&server_t, "h1")
        .prefetch(1)
        .endpoint(echo::endpoint(echo_m))
        .endpoint(tasks::endpoint(tasks_m.clone()));
    // The tasks namespace's own queue, with a window of its own.
    let side = tasks::server(&server_t, "h1")
        .prefetch(1)
        .endpoint(tasks::endpoint(tasks_m));
    main.declare().await.unwrap();
    side.declare().await.unwrap();
    let shutdown = CancellationToken::new();
    let grace = Duration::from_secs(5);
    let servers = [
        tokio::spawn(main.serve(shutdown.clone(), grace)),
        tokio::spawn(side.serve(shutdown.clone(), grace)),
    ];
    let ctx = RequestContext::new("alice", "p", vec![], false);

    // Two long tasks: one in hand, the other waiting in the tasks queue.
    let tasks_c = tasks::Client::new(client_t.clone());
    let long: Vec<_> = (0..2)
        .map(|_| {
            let (c, ctx) = (tasks_c.clone(), ctx.clone());
            tokio::spawn(async move { c.hold(&ctx).await })
        })
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while held.load(Ordering::SeqCst) == 0 {
        assert!(std::time::Instant::now() < deadline, "no task started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // They hold none of the topic's window: quick calls are answered meanwhile.
    let echo_c = echo::Client::new(client_t.clone());
    for i in 0..5 {
        let text = format!("quick {i}");
        assert_eq!(
            echo_c.echo(&ctx, text.clone()).await.unwrap(),
            format!("{text} from alice")
        );
    }
    assert_eq!(held.load(Ordering::SeqCst), 1);
    // A namespaced message sent to the topic, as oslo.messaging routes it, is served there.
    let raw = |namespace: Option<&'static str>, version: &'static str, method: &'static str| {
        let t = client_t.clone();
        let ctx = ctx.clone();
        async move {
            let call = nova_rpc::envelope::Call::from_value(
                &serde_json::json!({"method": method, "args": {}}),
            )
            .unwrap();
            t.call(
                &ctx,
                &nova_rpc::Target::topic("echo"),
                &call,
                version,
                namespace,
                None,
            )
            .await
        }
    };
    assert_eq!(
        raw(Some("tasks"), "1.1", "ping").await.unwrap(),
        serde_json::json!("pong")
    );
    // What the server cannot serve comes back as oslo's typed refusals.
    assert_eq!(
        echo_v2::Client::new(client_t.clone())
            .echo(&ctx, "x".into())
            .await,
        Err(NovaError::UnsupportedVersion {
            version: "2.0".into(),
            method: "echo".into()
        })
    );
    assert_eq!(
        raw(Some("tasks"), "1.3", "ping").await,
        Err(NovaError::UnsupportedVersion {
            version: "1.3".into(),
            method: "ping".into()
        })
    );
    assert_eq!(
        raw(None, "1.0", "nope").await,
        Err(NovaError::UnsupportedRpcMethod {
            method: "nope".into()
        })
    );
    assert_eq!(
        raw(Some("nowhere"), "1.0", "ping").await,
        Err(NovaError::UnsupportedRpcMethod {
            method: "ping".into()
        })
    );
    // Let the long tasks go: both finish.
    gate.add_permits(2);
    for h in long {
        h.await.unwrap().unwrap();
    }
    assert_eq!(held.load(Ordering::SeqCst), 2);
    shutdown.cancel();
    for s in servers {
        tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .unwrap()
            .unwrap();
    }
    client_t.close().await;
    server_t.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_calls_are_sent_again_across_a_connection_loss() {
    let vhost = Vhost::new();
    let cfg = vhost.config(20);
    let server_t = nova_rpc::Transport::start(&cfg, "server").unwrap();
    let client_t = nova_rpc::Transport::start(&cfg, "client").unwrap();
    for t in [&server_t, &client_t] {
        t.wait_connected(Duration::from_secs(10)).await.unwrap();
    }
    echo::declare(&server_t, "h1").await.unwrap();
    let shutdown = CancellationToken::new();
    let server = {
        let t = server_t.clone();
        let m = Arc::new(Echo {
            bumps: Arc::new(AtomicUsize::new(0)),
        });
        let s = shutdown.clone();
        tokio::spawn(async move { echo::serve(&t, "h1", m, s, Duration::from_secs(5)).await })
    };
    let client = echo::Client::new(client_t.clone());
    let ctx = RequestContext::new("alice", "p", vec![], false);
    assert_eq!(client.slow(&ctx, 1).await.unwrap(), 1);

    // Two slow calls in flight when the broker drops every connection: the
    // plain one fails at once, the idempotent one is sent again and answered.
    let plain = {
        let c = client.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move { c.slow(&ctx, 2000).await })
    };
    let retried = {
        let c = client.idempotent();
        let ctx = ctx.clone();
        tokio::spawn(async move { c.slow(&ctx, 2000).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(Command::new("rabbitmqctl")
        .args([
            "-q",
            "close_all_connections",
            "-p",
            &vhost.0,
            "test: broker blip"
        ])
        .status()
        .unwrap()
        .success());
    let plain = plain.await.unwrap();
    assert!(
        matches!(&plain, Err(NovaError::MessagingTimeout { msg_id }) if msg_id.contains("connection lost")),
        "{plain:?}"
    );
    assert_eq!(retried.await.unwrap().unwrap(), 2000);

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap();
    client_t.close().await;
    server_t.close().await;
}
