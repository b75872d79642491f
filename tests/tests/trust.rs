//! A hostile compute host: with the broker identity of one compute host of
//! a running cloud, forge the messages that would take over another host's
//! server, another project's quota, the flavors, the other host's service
//! and node, and users' key pairs, claiming admin all along. Every one is
//! refused (by the conductor, or by the broker and the other compute host),
//! and the API shows nothing changed.

#![allow(clippy::unwrap_used)]

use nova_common::trust::{compute_permissions, compute_user};
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_e2e::Cloud;
use nova_objects::{
    ComputeNodeReport, FilterProperties, Flavor, HostResources, ImageMeta, InstanceFilters,
    InstanceUpdate, RequestSpec,
};
use nova_rpc::{compute, compute_task, conductor};
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

fn rabbitmqctl(args: &[&str]) {
    let out = Command::new("rabbitmqctl")
        .arg("-q")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "rabbitmqctl {args:?}");
}

/// What the API shows of everything the forged messages aim at.
async fn observe(cloud: &Cloud, server: &str, victim: &str) -> Value {
    let (_, srv) = cloud.get(&format!("/servers/{server}"), &cloud.admin).await;
    let srv = &srv["server"];
    let (_, quota) = cloud
        .get(
            &format!("/os-quota-sets/{}", cloud.demo_project),
            &cloud.admin,
        )
        .await;
    let (_, flavors) = cloud.get("/flavors", &cloud.admin).await;
    let (_, services) = cloud.get("/os-services", &cloud.admin).await;
    let service = services["services"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["host"] == victim && s["binary"] == "nova-compute")
        .cloned()
        .unwrap();
    let (_, hvs) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
    let hv = hvs["hypervisors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["service"]["host"] == victim)
        .cloned()
        .unwrap();
    let (_, keys) = cloud.get("/os-keypairs", &cloud.demo).await;
    json!({
        "server": [srv["status"], srv["OS-EXT-SRV-ATTR:host"], srv["OS-EXT-STS:task_state"], srv["tenant_id"]],
        "quota": quota["quota_set"]["instances"],
        "flavors": flavors["flavors"].as_array().unwrap().len(),
        "service": [service["status"], service["state"]],
        "hypervisor": [hv["memory_mb"], hv["vcpus"]],
        "keypairs": keys["keypairs"].as_array().unwrap().len(),
    })
}

fn refused(what: &str, r: Result<impl std::fmt::Debug, NovaError>) -> String {
    match r {
        Err(NovaError::PolicyNotAuthorized { action }) => action,
        other => panic!("{what}: expected PolicyNotAuthorized, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_host_cannot_touch_what_is_not_its_own() {
    let mut cloud = Cloud::start_with(
        |id| {
            vec![
                (format!("e2e-trust-a-{id}"), "fake.FakeDriver"),
                (format!("e2e-trust-b-{id}"), "fake.FakeDriver"),
            ]
        },
        false,
    )
    .await;
    let hosts = [
        format!("e2e-trust-a-{}", cloud.id),
        format!("e2e-trust-b-{}", cloud.id),
    ];

    // Compute hosts hold no database credentials, and each is its own broker user.
    let shared = std::fs::read_to_string(&cloud.conf).unwrap();
    assert!(!shared.contains("[database]"), "{shared}");
    for h in &hosts {
        let own = std::fs::read_to_string(cloud.dir.join(format!("{h}.conf"))).unwrap();
        assert!(!own.contains("[database]"), "{own}");
        assert!(
            own.contains(&format!("rabbit://{}:", compute_user(h))),
            "{own}"
        );
    }

    // A demo user's server, with user data and a key pair.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-keypairs",
            &cloud.demo,
            Some(json!({"keypair": {"name": "demo-key"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(
                json!({"server": {"name": "victim", "imageRef": cloud.image_id, "flavorRef": "1",
                                   "key_name": "demo-key", "user_data": "c2VjcmV0"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let server = b["server"]["id"].as_str().unwrap().to_string();
    let uuid: uuid::Uuid = server.parse().unwrap();
    let victim = cloud
        .wait_for("the server to be ACTIVE", 60, || async {
            let (_, b) = cloud.get(&format!("/servers/{server}"), &cloud.admin).await;
            let srv = &b["server"];
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == "ACTIVE" && srv["OS-EXT-STS:task_state"].is_null())
                .then(|| srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string())
        })
        .await;
    let evil = hosts.iter().find(|h| **h != victim).unwrap().clone();
    // Both nodes have reported.
    cloud
        .wait_for("both hypervisors", 30, || async {
            let (_, b) = cloud.get("/os-hypervisors/detail", &cloud.admin).await;
            (b["hypervisors"].as_array().map(Vec::len) == Some(2)).then_some(())
        })
        .await;
    let before = observe(&cloud, &server, &victim).await;

    // The other host's identity, as its nova.conf gives it.
    let cfg = NovaConfig::load(
        &[cloud.conf.clone(), cloud.dir.join(format!("{evil}.conf"))],
        &[],
    )
    .unwrap();
    assert_eq!(cfg.default.host, evil);
    let transport = nova_rpc::Transport::start(&cfg, "evil").unwrap();
    transport
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    assert!(transport.is_confined());
    let db = conductor::Client::new(transport.clone());
    // Claiming admin, with every role there is: none of it counts.
    let mut admin = RequestContext::admin();
    admin.roles = vec!["admin".into(), "member".into(), "reader".into()];
    admin.user_id = Some("admin".into());
    admin.project_id = Some(cloud.admin_project.clone());

    // What is its own, it may do: list its own host's instances.
    let mine = db
        .instance_get_all_by_filters(
            &admin,
            InstanceFilters {
                host: Some(evil.clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(mine.is_empty(), "{mine:?}");

    // Everything else: refused.
    let action = refused(
        "move the other host's server to itself in ERROR",
        db.instance_update(
            &admin,
            uuid,
            InstanceUpdate {
                vm_state: Some(nova_common::states::VmState::Error),
                host: Some(Some(evil.clone())),
                node: Some(Some(evil.clone())),
                ..Default::default()
            },
        )
        .await,
    );
    assert!(action.contains(&compute_user(&evil)), "{action}");
    refused(
        "set the other host's server to ERROR",
        db.instance_update(
            &admin,
            uuid,
            InstanceUpdate {
                vm_state: Some(nova_common::states::VmState::Error),
                ..Default::default()
            },
        )
        .await,
    );
    refused(
        "soft-delete another project's server",
        db.instance_destroy(&admin, uuid).await,
    );
    refused(
        "read another host's server (and its user_data)",
        db.instance_get_by_uuid(&admin, uuid).await,
    );
    refused(
        "list every server (and their user_data)",
        db.instance_get_all_by_filters(&admin, InstanceFilters::default())
            .await,
    );
    refused(
        "record a fault on another host's server",
        db.instance_fault_create(
            &admin,
            nova_objects::InstanceFault {
                instance_uuid: uuid,
                code: 500,
                message: "forged".into(),
                details: "forged".into(),
                host: Some(evil.clone()),
                created_at: None,
            },
        )
        .await,
    );
    refused(
        "set a project's quota to 0",
        db.quota_update(
            &admin,
            cloud.demo_project.clone(),
            BTreeMap::from([("instances".to_string(), 0)]),
        )
        .await,
    );
    refused(
        "create a flavor",
        db.flavor_create(
            &admin,
            Flavor {
                flavorid: "evil".into(),
                name: "evil".into(),
                memory_mb: 64,
                vcpus: 1,
                is_public: true,
                rxtx_factor: 1.0,
                ..Default::default()
            },
        )
        .await,
    );
    refused(
        "disable the other compute service",
        db.service_set_disabled(
            &admin,
            victim.clone(),
            "nova-compute".into(),
            true,
            Some("forged".into()),
        )
        .await,
    );
    refused(
        "check in as the other host",
        db.service_update(
            &admin,
            victim.clone(),
            "nova-compute".into(),
            Some("compute".into()),
        )
        .await,
    );
    refused(
        "read a user's key pairs",
        db.keypair_get_all(&admin, "demo".into()).await,
    );
    refused(
        "report the other host's node with 2×10⁹ MB of RAM",
        db.compute_node_update(
            &admin,
            ComputeNodeReport {
                host: victim.clone(),
                host_ip: "127.0.0.1".into(),
                resources: HostResources {
                    hypervisor_hostname: victim.clone(),
                    hypervisor_type: "fake".into(),
                    vcpus: 100_000,
                    memory_mb: 2_000_000_000,
                    local_gb: 1_000_000,
                    ..Default::default()
                },
                cpu_allocation_ratio: 16.0,
                ram_allocation_ratio: 1.5,
                disk_allocation_ratio: 1.0,
                ..Default::default()
            },
        )
        .await,
    );
    // A build it asks the conductor for, or a reschedule of the other host's
    // server, is a cast: refused there, and logged.
    let tasks = compute_task::Client::new(transport.clone());
    tasks
        .schedule_and_build_instances(&admin, RequestSpec::default(), vec![uuid], None, vec![])
        .await
        .unwrap();
    tasks
        .build_instances(
            &admin,
            vec![nova_objects::Instance {
                uuid,
                ..Default::default()
            }],
            ImageMeta::default(),
            FilterProperties::default(),
            None,
            vec![],
            RequestSpec::default(),
            vec![],
        )
        .await
        .unwrap();
    for method in ["schedule_and_build_instances", "build_instances"] {
        cloud
            .wait_for(
                &format!("the conductor to log the refused {method}"),
                30,
                || async {
                    let log = cloud.log("nova-conductor");
                    log.lines()
                        .any(|l| {
                            l.contains("refused")
                                && l.contains(&format!("method={method}"))
                                && l.contains(&compute_user(&evil))
                        })
                        .then_some(())
                },
            )
            .await;
    }

    // Orders to the other compute host: the broker does not even take them.
    let instance = nova_objects::Instance {
        uuid,
        host: Some(victim.clone()),
        ..Default::default()
    };
    let other = compute::Client::new(transport.clone()).to_server(&victim);
    let action = refused(
        "cast a build to the other host",
        other
            .build_and_run_instance(
                &admin,
                instance.clone(),
                ImageMeta::default(),
                RequestSpec::default(),
                FilterProperties::default(),
                None,
                vec![],
                victim.clone(),
                vec![],
            )
            .await,
    );
    assert!(action.contains("ACCESS_REFUSED"), "{action}");
    refused(
        "cast a delete to the other host",
        other.terminate_instance(&admin, instance.clone()).await,
    );
    transport.close().await;

    // Were the broker to let them through (its permissions widened by
    // mistake), the other compute host refuses them itself.
    let user = compute_user(&evil);
    rabbitmqctl(&[
        "set_permissions",
        "-p",
        &cloud.vhost,
        &user,
        ".*",
        ".*",
        ".*",
    ]);
    rabbitmqctl(&["clear_topic_permissions", "-p", &cloud.vhost, &user]);
    let transport = nova_rpc::Transport::start(&cfg, "evil-widened").unwrap();
    transport
        .wait_connected(Duration::from_secs(10))
        .await
        .unwrap();
    let other = compute::Client::new(transport.clone()).to_server(&victim);
    other
        .build_and_run_instance(
            &admin,
            instance.clone(),
            ImageMeta::default(),
            RequestSpec::default(),
            FilterProperties::default(),
            None,
            vec![],
            victim.clone(),
            vec![],
        )
        .await
        .unwrap();
    other
        .terminate_instance(&admin, instance.clone())
        .await
        .unwrap();
    let log_name = format!("nova-compute@{victim}");
    cloud
        .wait_for(
            "the other compute host to log both refusals",
            30,
            || async {
                let log = cloud.log(&log_name);
                let refusals = log
                    .lines()
                    .filter(|l| l.contains("refused") && l.contains(&user))
                    .count();
                (refusals >= 2).then_some(())
            },
        )
        .await;
    transport.close().await;
    let p = compute_permissions(&evil, "nova").unwrap();
    rabbitmqctl(&[
        "set_permissions",
        "-p",
        &cloud.vhost,
        &user,
        &p.configure,
        &p.write,
        &p.read,
    ]);
    rabbitmqctl(&[
        "set_topic_permissions",
        "-p",
        &cloud.vhost,
        &user,
        &p.exchange,
        &p.topic_write,
        &p.topic_read,
    ]);

    // Nothing changed: the server runs where it ran, for whom it ran.
    let after = observe(&cloud, &server, &victim).await;
    assert_eq!(before, after);
    assert_eq!(after["server"][0], "ACTIVE");
    assert_eq!(after["server"][1], victim.as_str());
    assert_eq!(after["service"], json!(["enabled", "up"]));
    assert_eq!(after["keypairs"], 1);
    // The flavor was never made, and no fault was recorded.
    let (s, _) = cloud.get("/flavors/evil", &cloud.admin).await;
    assert_eq!(s, 404);
    let (_, b) = cloud.get(&format!("/servers/{server}"), &cloud.admin).await;
    assert!(b["server"]["fault"].is_null(), "{b}");

    // And the cloud still works for its users: the server can be deleted.
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{server}"),
            &cloud.demo,
            None,
        )
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the server to be gone", 60, || async {
            let (s, _) = cloud.get(&format!("/servers/{server}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
    for h in &hosts {
        let log = cloud.log(&format!("nova-compute@{h}"));
        assert!(
            log.contains("connected to the broker as this host's own user"),
            "{h}"
        );
        assert!(!log.contains("[database] connection is set"), "{h}");
    }
    cloud.terminate_all();
}
