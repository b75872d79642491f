//! A call handled twice: nova-conductor replies, then acks; killed in
//! between, the broker hands the call to the next conductor although its
//! caller has its reply and has gone on. CI saw it once: the copy of a
//! build's first update (to NETWORKING) ran again while the build was
//! SPAWNING, took it back, and the build ended in ERROR.
//!
//! Here the copy is made deterministic: the test keeps a copy of every call
//! nova-compute makes to the conductor (a queue of its own bound like the
//! conductor's), and while the build is SPAWNING publishes that first update
//! again, with the compute host's own broker identity (only where its reply
//! goes is changed, so that the test reads it). The copy must be refused,
//! and the build go on to ACTIVE, with no fault.

#![allow(clippy::unwrap_used)]

use futures_util::StreamExt;
use lapin::options::{
    BasicConsumeOptions, BasicPublishOptions, QueueBindOptions, QueueDeclareOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, Consumer};
use nova_common::config::parse_transport_url;
use nova_common::NovaConfig;
use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

fn amqp_uri(transport_url: &str) -> String {
    let t = parse_transport_url(transport_url).unwrap();
    format!(
        "amqp://{}:{}@{}:{}/{}",
        t.user, t.password, t.host, t.port, t.vhost
    )
}

/// The oslo.messaging call inside a message body: `{"method", "args", ...}`.
fn call_of(body: &[u8]) -> Value {
    let outer: Value = serde_json::from_slice(body).unwrap();
    serde_json::from_str(outer["oslo.message"].as_str().unwrap()).unwrap()
}

/// A queue of the test's own (its name and what it receives), bound to
/// `binding`'s exchange and routing key if given.
async fn private_queue(ch: &Channel, binding: Option<(&str, &str)>) -> (String, Consumer) {
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    if let Some((exchange, key)) = binding {
        ch.queue_bind(
            q.name().clone(),
            exchange.into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    let consumer = ch
        .basic_consume(
            q.name().clone(),
            "".into(),
            BasicConsumeOptions {
                no_ack: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    (q.name().as_str().to_string(), consumer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_update_handled_again_late_does_not_take_the_build_back() {
    let cloud = Cloud::start_hosts(
        |id| {
            vec![ComputeHost::fake(
                format!("e2e-redeliver-{id}"),
                "[fake]\nspawn_seconds = 6\n",
            )]
        },
        false,
    )
    .await;
    let host = format!("e2e-redeliver-{}", cloud.id);
    let shared = NovaConfig::load(std::slice::from_ref(&cloud.conf), &[]).unwrap();
    let compute = NovaConfig::load(
        &[cloud.conf.clone(), cloud.dir.join(format!("{host}.conf"))],
        &[],
    )
    .unwrap();
    let exchange = shared.default.control_exchange.clone();

    // A copy of every call to the conductor topic.
    let admin = Connection::connect(
        &amqp_uri(&shared.default.transport_url),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let ch = admin.create_channel().await.unwrap();
    let (_, mut copies) = private_queue(&ch, Some((&exchange, "conductor"))).await;

    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(
                json!({"server": {"name": "twice", "imageRef": cloud.image_id,
                                   "flavorRef": "1"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let server = b["server"]["id"].as_str().unwrap().to_string();

    // The compute host's first update of the build, as it sent it.
    let first = tokio::time::timeout(Duration::from_secs(60), async {
        loop {
            let d = copies.next().await.unwrap().unwrap();
            let call = call_of(&d.data);
            if call["method"] == "instance_update"
                && call["args"]["instance_uuid"] == server.as_str()
                && call["args"]["updates"]["task_state"] == "networking"
            {
                return d;
            }
        }
    })
    .await
    .expect("the build's first update to the conductor");
    let sender = first.properties.user_id().clone().unwrap();
    assert_eq!(
        sender.as_str(),
        parse_transport_url(&compute.default.transport_url)
            .unwrap()
            .username()
    );

    cloud
        .wait_for("the build to be SPAWNING", 30, || async {
            let (_, b) = cloud.get(&format!("/servers/{server}"), &cloud.admin).await;
            let srv = &b["server"];
            assert_eq!(srv["status"], "BUILD", "{srv}");
            (srv["OS-EXT-STS:task_state"] == "spawning").then_some(())
        })
        .await;

    // The same call again, from the compute host's own broker identity; its
    // reply comes to the test (the call itself is unchanged).
    let (replies_q, mut replies) = private_queue(&ch, None).await;
    let mut outer: Value = serde_json::from_slice(&first.data).unwrap();
    let mut inner = call_of(&first.data);
    inner["_reply_q"] = json!(replies_q);
    inner["_msg_id"] = json!("late-copy");
    outer["oslo.message"] = json!(inner.to_string());
    let own = Connection::connect(
        &amqp_uri(&compute.default.transport_url),
        ConnectionProperties::default(),
    )
    .await
    .unwrap();
    let pch = own.create_channel().await.unwrap();
    let props = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_content_encoding("utf-8".into())
        .with_user_id(sender);
    pch.basic_publish(
        exchange.into(),
        "conductor".into(),
        BasicPublishOptions::default(),
        outer.to_string().as_bytes(),
        props,
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), replies.next())
        .await
        .expect("the conductor's reply to the late copy")
        .unwrap()
        .unwrap();
    let reply = call_of(&reply.data);
    assert_eq!(reply["_msg_id"], "late-copy", "{reply}");
    // Handled while the build was still SPAWNING, and refused.
    let failure = reply["failure"].to_string();
    assert!(
        failure.contains("UnexpectedTaskStateError")
            && failure.contains("expecting scheduling but the actual state is spawning"),
        "{reply}"
    );

    let srv = cloud
        .wait_for("the build to end", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{server}"), &cloud.admin).await;
            let srv = b["server"].clone();
            (srv["status"] != "BUILD").then_some(srv)
        })
        .await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert!(srv.get("fault").is_none(), "{srv}");
}
