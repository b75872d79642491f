//! The trust boundary on the real RabbitMQ: a compute host's own broker
//! user, confined to its queues, known to servers by the broker-checked
//! `user_id` of its messages.

#![allow(clippy::unwrap_used)]

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, ConnectionProperties};
use nova_common::trust::{compute_permissions, compute_user, Caller};
use nova_common::{NovaError, RequestContext};
use nova_rpc::server::Policy;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod common;
use common::{BrokerUser, Vhost};

/// Stands for the conductor: a topic a compute host may send to.
mod proxy {
    nova_rpc::rpc_api! {
        topic: "conductor", version: "9.0";
        call fn whoami() -> String;
        cast fn note(text: String) -> ();
    }
}

/// Stands for nova-compute: `compute.<host>`.
mod hypervisor {
    nova_rpc::rpc_api! {
        topic: "compute", version: "9.0";
        call fn ping() -> String;
        cast fn poke() -> ();
    }
}

#[derive(Default)]
struct Proxy {
    notes: Mutex<Vec<String>>,
}

#[nova_rpc::__private::async_trait]
impl proxy::Manager for Proxy {
    async fn whoami(&self, ctx: &RequestContext) -> Result<String, NovaError> {
        Ok(format!("admin={}", ctx.is_admin))
    }
    async fn note(&self, _: &RequestContext, text: String) -> Result<(), NovaError> {
        self.notes.lock().unwrap().push(text);
        Ok(())
    }
}

/// Records every caller; lets the control plane and compute hosts in (the
/// latter without privileges), refuses everyone else.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Caller>>,
}

#[nova_rpc::__private::async_trait]
impl Policy<proxy::Request> for Recorder {
    async fn authorize(
        &self,
        caller: &Caller,
        mut ctx: RequestContext,
        _req: &proxy::Request,
    ) -> Result<RequestContext, NovaError> {
        self.seen.lock().unwrap().push(caller.clone());
        match caller {
            Caller::ControlPlane { .. } => Ok(ctx),
            Caller::ComputeHost { .. } => {
                ctx.is_admin = false;
                Ok(ctx)
            }
            Caller::Unknown { .. } => Err(nova_rpc::server::not_authorized(caller, "unknown")),
        }
    }
}

#[derive(Default)]
struct Hypervisor {
    pokes: Mutex<usize>,
}

#[nova_rpc::__private::async_trait]
impl hypervisor::Manager for Hypervisor {
    async fn ping(&self, _: &RequestContext) -> Result<String, NovaError> {
        Ok("pong".into())
    }
    async fn poke(&self, _: &RequestContext) -> Result<(), NovaError> {
        *self.pokes.lock().unwrap() += 1;
        Ok(())
    }
}

/// nova-compute's policy (the default, control plane only), watched.
#[derive(Default)]
struct Watched {
    refused: Mutex<Vec<Caller>>,
}

#[nova_rpc::__private::async_trait]
impl Policy<hypervisor::Request> for Watched {
    async fn authorize(
        &self,
        caller: &Caller,
        ctx: RequestContext,
        req: &hypervisor::Request,
    ) -> Result<RequestContext, NovaError> {
        let r = nova_rpc::server::ControlPlaneOnly
            .authorize(caller, ctx, req)
            .await;
        if r.is_err() {
            self.refused.lock().unwrap().push(caller.clone());
        }
        r
    }
}

async fn connected(cfg: &nova_common::NovaConfig, name: &str) -> nova_rpc::Transport {
    let t = nova_rpc::Transport::start(cfg, name).unwrap();
    t.wait_connected(Duration::from_secs(10)).await.unwrap();
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_host_is_known_by_its_broker_user_and_confined_to_its_own_queues() {
    let vhost = Vhost::new();
    let id = &uuid::Uuid::new_v4().simple().to_string()[..8];
    let host = format!("trust-{id}");
    let perms = compute_permissions(&host, "nova").unwrap();
    let own = BrokerUser::new(&compute_user(&host), &vhost, Some(&perms));
    // A compute user the broker was (wrongly) left to trust with everything,
    // and a user that is no Nova service at all.
    let rogue_host = format!("rogue-{id}");
    let rogue = BrokerUser::new(&compute_user(&rogue_host), &vhost, None);
    let stranger = BrokerUser::new(&format!("stranger-{id}"), &vhost, None);

    let ctl = connected(&vhost.config(5), "control-plane").await;
    assert!(!ctl.is_confined());
    let recorder = Arc::new(Recorder::default());
    let proxy_m = Arc::new(Proxy::default());
    let proxy_s = proxy::server(&ctl, "ctl").endpoint(proxy::endpoint_with_policy(
        proxy_m.clone(),
        recorder.clone(),
    ));
    proxy_s.declare().await.unwrap();

    let compute = connected(&own.config(&vhost, &host, 5), "nova-compute").await;
    assert!(compute.is_confined());
    assert_eq!(compute.user(), own.name);
    let hv_m = Arc::new(Hypervisor::default());
    let watched = Arc::new(Watched::default());
    let hv_s = hypervisor::server(&compute, &host).endpoint(hypervisor::endpoint_with_policy(
        hv_m.clone(),
        watched.clone(),
    ));
    hv_s.declare().await.unwrap();

    let shutdown = CancellationToken::new();
    let grace = Duration::from_secs(5);
    let servers = [
        tokio::spawn(proxy_s.serve(shutdown.clone(), grace)),
        tokio::spawn(hv_s.serve(shutdown.clone(), grace)),
    ];
    let admin = RequestContext::admin();

    // The compute host calls the conductor: the server knows it by its user_id,
    // whatever the context claims; the reply comes back on its reply queue.
    let from_compute = proxy::Client::new(compute.clone());
    assert_eq!(from_compute.whoami(&admin).await.unwrap(), "admin=false");
    assert_eq!(
        recorder.seen.lock().unwrap().last().cloned(),
        Some(Caller::ComputeHost {
            user: own.name.clone(),
            host: host.clone()
        })
    );
    // The control plane calls the compute host, which replies through the control exchange.
    let to_compute = hypervisor::Client::new(ctl.clone()).to_server(&host);
    assert_eq!(to_compute.ping(&admin).await.unwrap(), "pong");

    // The broker does not let the compute host send to another host's queue.
    let started = Instant::now();
    let r = hypervisor::Client::new(compute.clone())
        .to_server("some-other-host")
        .ping(&admin)
        .await;
    match &r {
        Err(NovaError::PolicyNotAuthorized { action }) => {
            assert!(action.contains("ACCESS_REFUSED"), "{action}")
        }
        other => panic!("expected a refusal by the broker, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at once, not timed out"
    );
    // ... and its connection goes on working after the refusal.
    assert_eq!(from_compute.whoami(&admin).await.unwrap(), "admin=false");

    // A compute user the broker lets through anyway is refused by the
    // compute host itself, and what it asked for never runs.
    let rogue_t = connected(&rogue.config(&vhost, &rogue_host, 5), "rogue").await;
    hypervisor::Client::new(rogue_t.clone())
        .to_server(&host)
        .poke(&admin)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while watched.refused.lock().unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the rogue cast never arrived");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        watched.refused.lock().unwrap()[0].compute_host(),
        Some(rogue_host.as_str())
    );
    assert_eq!(*hv_m.pokes.lock().unwrap(), 0);
    hypervisor::Client::new(ctl.clone())
        .to_server(&host)
        .poke(&admin)
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while *hv_m.pokes.lock().unwrap() == 0 {
        assert!(
            Instant::now() < deadline,
            "the control plane's poke never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Anyone else gets the refusal as the answer to a call.
    let stranger_t = connected(&stranger.config(&vhost, "elsewhere", 5), "stranger").await;
    assert!(!stranger_t.is_confined());
    let r = hypervisor::Client::new(stranger_t.clone())
        .to_server(&host)
        .ping(&admin)
        .await;
    match &r {
        Err(NovaError::PolicyNotAuthorized { action }) => {
            assert!(action.contains(&stranger.name), "{action}")
        }
        other => panic!("expected the compute host to refuse, got {other:?}"),
    }

    // Nobody can claim another user_id: the broker refuses the message.
    let raw = lapin::Connection::connect(
        &format!(
            "amqp://{}:{}@127.0.0.1:5672/{}",
            rogue.name, rogue.password, vhost.0
        ),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let ch = raw.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    let note = |text: &str| {
        let meta = nova_rpc::envelope::RequestMeta {
            ctx: RequestContext::admin(),
            version: "9.0".into(),
            namespace: None,
            unique_id: nova_rpc::envelope::new_unique_id(),
            msg_id: None,
            reply_q: None,
        };
        nova_rpc::envelope::encode_request(
            &nova_rpc::envelope::Call::from_value(
                &serde_json::json!({"method": "note", "args": {"text": text}}),
            )
            .expect("call"),
            &meta,
        )
    };
    let forged = async {
        ch.basic_publish(
            "nova".into(),
            "conductor".into(),
            BasicPublishOptions::default(),
            &note("forged"),
            BasicProperties::default().with_user_id("guest".into()),
        )
        .await?
        .await
    }
    .await;
    let e = forged.expect_err("the broker checks user_id");
    assert!(e.to_string().contains("PRECONDITION_FAILED"), "{e}");

    // A message without user_id is nobody's: refused, and the cast never runs.
    let ch = raw.create_channel().await.unwrap();
    ch.confirm_select(ConfirmSelectOptions::default())
        .await
        .unwrap();
    ch.basic_publish(
        "nova".into(),
        "conductor".into(),
        BasicPublishOptions::default(),
        &note("anonymous"),
        BasicProperties::default(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !recorder
        .seen
        .lock()
        .unwrap()
        .contains(&Caller::Unknown { user: None })
    {
        assert!(
            Instant::now() < deadline,
            "the anonymous cast never arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The control plane's casts do run (and after the refused one).
    proxy::Client::new(ctl.clone())
        .note(&admin, "ctl".into())
        .await
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while proxy_m.notes.lock().unwrap().is_empty() {
        assert!(
            Instant::now() < deadline,
            "the control plane's cast never ran"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(*proxy_m.notes.lock().unwrap(), ["ctl"]);

    let _ = raw.close(200, "done".into()).await;
    shutdown.cancel();
    for s in servers {
        tokio::time::timeout(Duration::from_secs(10), s)
            .await
            .unwrap()
            .unwrap();
    }
    for t in [compute, rogue_t, stranger_t, ctl] {
        t.close().await;
    }
}
