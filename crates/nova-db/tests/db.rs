//! Queries against the real PostgreSQL, a fresh database per test.

#![allow(clippy::unwrap_used)]

use nova_common::states::{TaskState, VmState};
use nova_common::NovaError;
use nova_db::{Claim, Db};
use nova_objects::{
    ComputeNodeReport, HostResources, InstanceCreate, InstanceFault, InstanceFilters,
    InstanceUpdate, NetworkCreate, Resource, ResourceRequest,
};
use uuid::Uuid;

/// The URL of database `db` for the project's PostgreSQL role: `NOVA_TEST_DB_URL`
/// (server URL without a database) or what `deploy/lib/postgres.sh url` prints.
fn db_url(db: &str) -> String {
    static BASE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let base = BASE.get_or_init(|| match std::env::var("NOVA_TEST_DB_URL") {
        Ok(u) => u.trim_end_matches('/').to_string(),
        Err(_) => {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/lib/postgres.sh");
            let out = std::process::Command::new("bash")
                .args([script, "url", "postgres"])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{script} url: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout)
                .unwrap()
                .trim()
                .trim_end_matches("/postgres")
                .to_string()
        }
    });
    format!("{base}/{db}")
}

struct TestDb {
    name: String,
    db: Db,
}

async fn fresh() -> TestDb {
    let name = format!("nova_db_test_{}", Uuid::new_v4().simple());
    let admin = Db::connect(&db_url("postgres"), 1).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(admin.pool())
        .await
        .unwrap();
    let db = Db::connect(&db_url(&name), 4).await.unwrap();
    assert!(
        db.check_schema().await.is_err(),
        "an empty database is reported as not synced"
    );
    assert_eq!(db.version().await.unwrap(), 0, "no migration applied yet");
    // `db sync VERSION`: up to a version, never down, only known ones.
    db.sync(Some(3)).await.unwrap();
    assert_eq!(db.version().await.unwrap(), 3);
    assert!(
        db.check_schema().await.is_err(),
        "a schema behind is refused"
    );
    let down = db.sync(Some(2)).await.unwrap_err().to_string();
    assert!(down.contains("a downgrade to 2 is not supported"), "{down}");
    let unknown = db.sync(Some(9999)).await.unwrap_err().to_string();
    assert!(
        unknown.contains("there is no schema version 9999"),
        "{unknown}"
    );
    assert_eq!(db.version().await.unwrap(), 3);
    db.sync(None).await.unwrap();
    assert_eq!(db.version().await.unwrap(), Db::latest_version());
    db.check_schema().await.unwrap();
    TestDb { name, db }
}

impl TestDb {
    async fn drop_db(self) {
        self.db.pool().close().await;
        let admin = Db::connect(&db_url("postgres"), 1).await.unwrap();
        let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        )))
        .execute(admin.pool())
        .await;
    }
}

async fn new_instance(db: &Db, project: &str) -> nova_objects::Instance {
    let flavor = db.flavor_get_by_flavor_id("1").await.unwrap();
    db.instance_create(&InstanceCreate {
        uuid: Uuid::new_v4(),
        user_id: "u".into(),
        project_id: project.into(),
        display_name: "vm".into(),
        hostname: "vm".into(),
        image_ref: "img".into(),
        flavor,
        reservation_id: "r-1".into(),
        request_id: "req-1".into(),
        metadata: [("k".to_string(), "v".to_string())].into(),
        ..Default::default()
    })
    .await
    .unwrap()
}

fn report(host: &str, mem: i64) -> ComputeNodeReport {
    ComputeNodeReport {
        host: host.into(),
        host_ip: "127.0.0.1".into(),
        resources: HostResources {
            hypervisor_hostname: host.into(),
            hypervisor_type: "fake".into(),
            vcpus: 4,
            memory_mb: mem,
            local_gb: 100,
            ..Default::default()
        },
        reserved_host_memory_mb: 512,
        cpu_allocation_ratio: 1.0,
        ram_allocation_ratio: 1.0,
        disk_allocation_ratio: 1.0,
        ..Default::default()
    }
}

#[tokio::test]
async fn instance_lifecycle_cas_and_claims() {
    let t = fresh().await;
    let db = &t.db;
    let i = new_instance(db, "p1").await;
    assert_eq!(i.vm_state, VmState::Building);
    assert_eq!(i.task_state, Some(TaskState::Scheduling));
    assert_eq!(i.flavor.name, "m1.tiny");
    assert_eq!(i.metadata["k"], "v");
    assert_eq!(i.name("instance-%08x").len(), "instance-00000001".len());

    // Compare-and-set on task_state.
    let e = db
        .instance_update(
            i.uuid,
            &InstanceUpdate {
                task_state: Some(Some(TaskState::Spawning)),
                expected_task_state: Some(vec![Some(TaskState::Networking)]),
                ..Default::default()
            },
        )
        .await
        .unwrap_err();
    assert!(
        matches!(e, NovaError::UnexpectedTaskStateError { ref actual, .. } if actual == "scheduling"),
        "{e:?}"
    );

    // Check-ins update the row in place: no services_id_seq value per report.
    let first = db
        .service_update("h1", "nova-compute", Some("compute"))
        .await
        .unwrap();
    let seq = || async {
        sqlx::query_scalar::<_, i64>("SELECT last_value FROM services_id_seq")
            .fetch_one(db.pool())
            .await
            .unwrap()
    };
    let before = seq().await;
    for _ in 0..5 {
        db.service_update("h1", "nova-compute", None).await.unwrap();
    }
    let again = db.service_update("h1", "nova-compute", None).await.unwrap();
    assert_eq!(seq().await, before, "a check-in consumed a sequence value");
    assert_eq!(again.id, first.id);
    assert_eq!(again.report_count, first.report_count + 6);
    assert_eq!(again.topic.as_deref(), Some("compute"));

    // Claims: 2048 MB node with 512 reserved fits one 512 MB tiny... three times, not four.
    let node = db.compute_node_update(&report("h1", 2048)).await.unwrap();
    assert_eq!(node.memory_mb_used, 512);
    let req = ResourceRequest {
        memory_mb: 512,
        vcpus: 1,
        disk_gb: 1,
        numa_topology: None,
    };
    assert_eq!(
        db.compute_node_claim(i.uuid, "h1", "h1", &req, "nova")
            .await
            .unwrap(),
        Claim::Claimed
    );
    // An instance already assigned is another attempt's: left alone.
    assert_eq!(
        db.compute_node_claim(i.uuid, "h1", "h1", &req, "nova")
            .await
            .unwrap(),
        Claim::AlreadyAssigned("h1".into())
    );
    let mut others = vec![];
    let mut last = None;
    for _ in 0..3 {
        let o = new_instance(db, "p1").await;
        others.push(
            db.compute_node_claim(o.uuid, "h1", "h1", &req, "nova")
                .await
                .unwrap(),
        );
        last = Some(o);
    }
    assert_eq!(
        others,
        vec![
            Claim::Claimed,
            Claim::Claimed,
            Claim::DoesNotFit(Resource::Ram)
        ]
    );
    // The claim that did not fit left its instance unassigned.
    let unplaced = db
        .instance_get_by_uuid(last.unwrap().uuid, false)
        .await
        .unwrap();
    assert_eq!((unplaced.host, unplaced.node), (None, None));
    let nodes = db.compute_node_get_all().await.unwrap();
    assert_eq!(nodes[0].memory_mb_used, 2048);
    assert_eq!(nodes[0].running_vms, 3);
    // A reschedule releases the claim: un-assigning frees the node's usage.
    db.instance_update(
        i.uuid,
        &InstanceUpdate {
            host: Some(None),
            node: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let nodes = db.compute_node_get_all().await.unwrap();
    assert_eq!(nodes[0].memory_mb_used, 1536);
    assert_eq!(nodes[0].running_vms, 2);
    // A host disabled since the scheduler chose it is refused, the instance left unassigned.
    db.service_set_disabled("h1", "nova-compute", true, Some("maintenance"))
        .await
        .unwrap();
    assert_eq!(
        db.compute_node_claim(i.uuid, "h1", "h1", &req, "nova")
            .await
            .unwrap(),
        Claim::ServiceDisabled
    );
    let unplaced = db.instance_get_by_uuid(i.uuid, false).await.unwrap();
    assert_eq!((unplaced.host, unplaced.node), (None, None));
    db.service_set_disabled("h1", "nova-compute", false, None)
        .await
        .unwrap();
    assert_eq!(
        db.compute_node_claim(i.uuid, "h1", "h1", &req, "nova")
            .await
            .unwrap(),
        Claim::Claimed
    );
    // init_host's power states, in one statement: only what is on the host and differs.
    let elsewhere = new_instance(db, "p-unassigned").await;
    let unchanged = i.power_state;
    assert_eq!(
        db.instance_sync_power_states("h1", &[(i.uuid, 4), (elsewhere.uuid, 4)])
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        db.instance_sync_power_states("h1", &[(i.uuid, 4)])
            .await
            .unwrap(),
        0,
        "already recorded"
    );
    let synced = db.instance_get_by_uuid(i.uuid, false).await.unwrap();
    assert_eq!(synced.power_state, 4);
    assert_ne!(unchanged, 4);
    let untouched = db
        .instance_get_by_uuid(elsewhere.uuid, false)
        .await
        .unwrap();
    assert_eq!(untouched.power_state, elsewhere.power_state);

    // Listing, scoped and paged.
    let all = db
        .instance_get_all_by_filters(&InstanceFilters {
            project_id: Some("p1".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 4);
    let page = db
        .instance_get_all_by_filters(&InstanceFilters {
            limit: Some(2),
            marker: Some(all[1].uuid),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        page.iter().map(|x| x.uuid).collect::<Vec<_>>(),
        vec![all[2].uuid, all[3].uuid]
    );
    assert!(db
        .instance_get_all_by_filters(&InstanceFilters {
            project_id: Some("p2".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .is_empty());

    // Soft delete frees the node.
    let gone = db.instance_destroy(i.uuid).await.unwrap();
    assert!(gone.deleted);
    assert_eq!(gone.vm_state, VmState::Deleted);
    assert!(matches!(
        db.instance_get_by_uuid(i.uuid, false).await,
        Err(NovaError::InstanceNotFound { .. })
    ));
    assert!(db.instance_get_by_uuid(i.uuid, true).await.unwrap().deleted);
    assert_eq!(
        db.compute_node_get_all().await.unwrap()[0].memory_mb_used,
        1536
    );

    // Actions and events.
    db.action_event_start(
        others_uuid(db).await,
        "req-1",
        "compute__do_build_and_run_instance",
        "h1",
    )
    .await
    .unwrap();

    // An event started again by the host that started it and did not finish
    // it (a redelivered message) is the same event; once finished, or on
    // another host, a new one.
    let other = others_uuid(db).await;
    db.action_start(other, "confirmResize", "req-2", None, None)
        .await
        .unwrap();
    async fn events(db: &Db, uuid: Uuid) -> Vec<(String, bool)> {
        db.actions_get(uuid).await.unwrap()[0]
            .events
            .iter()
            .map(|e| (e.host.clone().unwrap_or_default(), e.finish_time.is_some()))
            .collect()
    }
    let start =
        |host: &'static str| db.action_event_start(other, "req-2", "compute_confirm_resize", host);
    start("h1").await.unwrap();
    start("h1").await.unwrap();
    assert_eq!(events(db, other).await, [("h1".to_string(), false)]);
    db.action_event_finish(other, "req-2", "compute_confirm_resize", "Success", None)
        .await
        .unwrap();
    assert_eq!(events(db, other).await, [("h1".to_string(), true)]);
    start("h1").await.unwrap();
    start("h2").await.unwrap();
    assert_eq!(
        events(db, other).await,
        [
            ("h1".to_string(), true),
            ("h1".to_string(), false),
            ("h2".to_string(), false)
        ]
    );
    t.drop_db().await;
}

async fn others_uuid(db: &Db) -> Uuid {
    db.instance_get_all_by_filters(&InstanceFilters::default())
        .await
        .unwrap()[0]
        .uuid
}

#[tokio::test]
async fn instances_are_found_by_system_metadata() {
    let t = fresh().await;
    let db = &t.db;
    let flavor = db.flavor_get_by_flavor_id("1").await.unwrap();
    let mut made = vec![];
    for (project, token) in [("p1", "tok-a"), ("p1", "tok-b"), ("p2", "tok-a")] {
        let i = db
            .instance_create(&InstanceCreate {
                uuid: Uuid::new_v4(),
                user_id: "u".into(),
                project_id: project.into(),
                flavor: flavor.clone(),
                system_metadata: [("EC2_client_token".to_string(), token.to_string())].into(),
                ..Default::default()
            })
            .await
            .unwrap();
        made.push(i.uuid);
    }
    let find = |project: &str, token: &str| InstanceFilters {
        project_id: Some(project.into()),
        system_metadata: Some([("EC2_client_token".to_string(), token.to_string())].into()),
        ..Default::default()
    };
    let found = db
        .instance_get_all_by_filters(&find("p1", "tok-a"))
        .await
        .unwrap();
    assert_eq!(found.iter().map(|i| i.uuid).collect::<Vec<_>>(), [made[0]]);
    assert!(db
        .instance_get_all_by_filters(&find("p1", "tok-c"))
        .await
        .unwrap()
        .is_empty());
    // A deleted instance's items are deleted with it.
    db.instance_destroy(made[0]).await.unwrap();
    assert!(db
        .instance_get_all_by_filters(&find("p1", "tok-a"))
        .await
        .unwrap()
        .is_empty());
    t.drop_db().await;
}

#[tokio::test]
async fn fixed_ips_are_handed_out_once_and_run_out() {
    let t = fresh().await;
    let db = &t.db;
    let net = db
        .network_create_safe(&NetworkCreate {
            label: "private".into(),
            cidr: "10.9.0.0/29".into(),
            bridge: "br100".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(net.gateway, "10.9.0.1");
    let mut got = std::collections::HashSet::new();
    let mut holders = vec![];
    for _ in 0..5 {
        let i = new_instance(db, "p").await;
        holders.push(i.uuid);
        let vif = db
            .virtual_interface_create(
                i.uuid,
                net.id,
                &format!("fa:16:3e:00:00:{:02x}", got.len()),
                None,
            )
            .await
            .unwrap();
        let ip = db
            .fixed_ip_associate_pool(net.id, i.uuid, Some("h"), vif.id)
            .await
            .unwrap();
        assert!(
            got.insert(ip.address.clone()),
            "{} handed out twice",
            ip.address
        );
        assert!(!["10.9.0.0", "10.9.0.1", "10.9.0.7"].contains(&ip.address.as_str()));
    }
    let i = new_instance(db, "p").await;
    let e = db
        .fixed_ip_associate_pool(net.id, i.uuid, None, 0)
        .await
        .unwrap_err();
    assert!(matches!(e, NovaError::NoMoreFixedIps { .. }), "{e:?}");
    // Overlapping networks are refused.
    assert!(db
        .network_create_safe(&NetworkCreate {
            label: "x".into(),
            cidr: "10.9.0.0/24".into(),
            ..Default::default()
        })
        .await
        .is_err());
    // Releasing gives the address back to the pool.
    let holder = holders[0];
    assert_eq!(db.fixed_ip_get_by_instance(holder).await.unwrap().len(), 1);
    db.network_deallocate_instance(holder).await.unwrap();
    assert!(db
        .fixed_ip_get_by_instance(holder)
        .await
        .unwrap()
        .is_empty());
    assert!(db
        .virtual_interface_get_by_instance(holder)
        .await
        .unwrap()
        .is_empty());
    // A VIF keeps the device tag its network was requested with.
    let vif = db
        .virtual_interface_create(i.uuid, net.id, "fa:16:3e:00:01:00", Some("storage"))
        .await
        .unwrap();
    assert_eq!(vif.tag.as_deref(), Some("storage"));
    let read = db.virtual_interface_get_by_instance(i.uuid).await.unwrap();
    assert_eq!(read, std::slice::from_ref(&vif));
    db.fixed_ip_associate_pool(net.id, i.uuid, None, vif.id)
        .await
        .unwrap();
    t.drop_db().await;
}

#[tokio::test]
async fn a_requested_fixed_ip_is_given_once_and_only_in_its_network() {
    let t = fresh().await;
    let db = &t.db;
    let create = |label: &'static str, cidr: &'static str| NetworkCreate {
        label: label.into(),
        cidr: cidr.into(),
        bridge: format!("br-{label}"),
        ..Default::default()
    };
    let net = db
        .network_create_safe(&create("a", "10.8.0.0/29"))
        .await
        .unwrap();
    let other = db
        .network_create_safe(&create("b", "10.8.1.0/29"))
        .await
        .unwrap();
    let (i, j) = (new_instance(db, "p").await, new_instance(db, "p").await);
    let vif = db
        .virtual_interface_create(i.uuid, net.id, "fa:16:3e:00:02:00", None)
        .await
        .unwrap();
    let ip = db
        .fixed_ip_associate("10.8.0.5", net.id, i.uuid, Some("h"), vif.id)
        .await
        .unwrap();
    assert_eq!(
        (ip.address.as_str(), ip.instance_uuid),
        ("10.8.0.5", Some(i.uuid))
    );
    assert!(ip.allocated);
    // Asked again by the same instance (a retried build): the same row.
    db.fixed_ip_associate("10.8.0.5", net.id, i.uuid, Some("h"), vif.id)
        .await
        .unwrap();
    // Another instance: in use. Another network, or an unknown address: not found.
    let e = db
        .fixed_ip_associate("10.8.0.5", net.id, j.uuid, None, 0)
        .await
        .unwrap_err();
    assert!(matches!(e, NovaError::FixedIpAlreadyInUse { .. }), "{e:?}");
    let e = db
        .fixed_ip_associate("10.8.0.5", other.id, j.uuid, None, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(e, NovaError::FixedIpNotFoundForNetwork { .. }),
        "{e:?}"
    );
    let e = db
        .fixed_ip_associate("10.7.0.5", net.id, j.uuid, None, 0)
        .await
        .unwrap_err();
    assert!(
        matches!(e, NovaError::FixedIpNotFoundForAddress { .. }),
        "{e:?}"
    );
    // The pool does not hand it out while it is held, and does once released.
    for _ in 0..4 {
        let ip = db
            .fixed_ip_associate_pool(net.id, j.uuid, None, 0)
            .await
            .unwrap();
        assert_ne!(ip.address, "10.8.0.5");
    }
    db.network_deallocate_instance(i.uuid).await.unwrap();
    let k = new_instance(db, "p").await;
    let ip = db
        .fixed_ip_associate("10.8.0.5", net.id, k.uuid, None, 0)
        .await
        .unwrap();
    assert_eq!(ip.instance_uuid, Some(k.uuid));
    // One address back to the pool (removeFixedIp): only by its holder.
    let e = db
        .fixed_ip_disassociate("10.8.0.5", j.uuid)
        .await
        .unwrap_err();
    assert!(
        matches!(e, NovaError::FixedIpNotFoundForSpecificInstance { .. }),
        "{e:?}"
    );
    db.fixed_ip_disassociate("10.8.0.5", k.uuid).await.unwrap();
    let ip = db.fixed_ip_get_by_address("10.8.0.5").await.unwrap();
    assert_eq!((ip.instance_uuid, ip.allocated), (None, false));
    t.drop_db().await;
}

#[tokio::test]
async fn an_unreachable_database_is_a_connection_error() {
    // Nothing listens on port 1: connection refused until the pool gives up.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_secs(1))
        .connect_lazy("postgresql://postgres@127.0.0.1:1/nova")
        .unwrap();
    let e = Db::from_pool(pool)
        .flavor_get_by_flavor_id("1")
        .await
        .unwrap_err();
    assert!(matches!(e, NovaError::DBConnectionError { .. }), "{e:?}");
    assert!(e.is_retryable());
}

#[tokio::test]
async fn a_connection_lost_mid_query_is_a_connection_error() {
    let t = fresh().await;
    let mut conn = t.db.pool().acquire().await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut *conn)
        .await
        .unwrap();
    let killer = tokio::spawn(async move {
        let admin = Db::connect(&db_url("postgres"), 1).await.unwrap();
        // Wait until the victim is inside its query, then end its session.
        loop {
            let active: bool = sqlx::query_scalar(
                "SELECT count(*) > 0 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'",
            )
            .bind(pid)
            .fetch_one(admin.pool())
            .await
            .unwrap();
            if active {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        sqlx::query("SELECT pg_terminate_backend($1)")
            .bind(pid)
            .execute(admin.pool())
            .await
            .unwrap();
    });
    let e = sqlx::query("SELECT pg_sleep(30)")
        .execute(&mut *conn)
        .await
        .unwrap_err();
    killer.await.unwrap();
    let e = nova_db::db_err(e);
    assert!(matches!(e, NovaError::DBConnectionError { .. }), "{e:?}");
    assert_eq!(e.http_code(), 503);
    drop(conn);
    // The pool replaces the dead connection: the next read works.
    t.db.flavor_get_by_flavor_id("1").await.unwrap();
    t.drop_db().await;
}

#[tokio::test]
async fn unique_violations_are_the_matching_exists_errors() {
    let t = fresh().await;
    let db = &t.db;
    let mut flavor = db.flavor_get_by_flavor_id("1").await.unwrap();
    flavor.flavorid = "new-id".into();
    assert_eq!(
        db.flavor_create(&flavor).await.unwrap_err(),
        NovaError::FlavorExists {
            name: flavor.name.clone()
        }
    );
    flavor.flavorid = "1".into();
    flavor.name = "a new name".into();
    assert_eq!(
        db.flavor_create(&flavor).await.unwrap_err(),
        NovaError::FlavorIdExists {
            flavor_id: "1".into()
        }
    );
    let kp = nova_objects::KeyPair {
        name: "k".into(),
        user_id: "u".into(),
        fingerprint: "f".into(),
        public_key: "ssh-ed25519 AAAA".into(),
        key_type: "ssh".into(),
        ..Default::default()
    };
    db.keypair_create(&kp).await.unwrap();
    assert_eq!(
        db.keypair_create(&kp).await.unwrap_err(),
        NovaError::KeyPairExists {
            key_name: "k".into()
        }
    );
    assert_eq!(
        db.keypair_get("u", "nope").await.unwrap_err(),
        NovaError::KeypairNotFound {
            user_id: "u".into(),
            name: "nope".into()
        }
    );
    let inst = new_instance(db, "p").await;
    let again = InstanceCreate {
        uuid: inst.uuid,
        flavor: db.flavor_get_by_flavor_id("1").await.unwrap(),
        ..Default::default()
    };
    assert_eq!(
        db.instance_create(&again).await.unwrap_err(),
        NovaError::InstanceExists {
            instance_name: inst.uuid.to_string()
        }
    );
    t.drop_db().await;
}

#[tokio::test]
async fn concurrent_creates_never_overrun_the_quota() {
    let t = fresh().await;
    let flavor = t.db.flavor_get_by_flavor_id("1").await.unwrap();
    let defaults: std::collections::BTreeMap<String, i64> = [
        ("instances".to_string(), 10),
        ("cores".to_string(), -1),
        ("ram".to_string(), -1),
    ]
    .into();
    let batch = |n: usize| -> Vec<InstanceCreate> {
        (0..n)
            .map(|i| InstanceCreate {
                uuid: Uuid::new_v4(),
                user_id: "u".into(),
                project_id: "pq".into(),
                display_name: format!("vm-{i}"),
                hostname: format!("vm-{i}"),
                image_ref: "img".into(),
                flavor: flavor.clone(),
                reservation_id: "r-q".into(),
                request_id: "req-q".into(),
                launch_index: i as i32,
                ..Default::default()
            })
            .collect()
    };
    // Three requests for 8 (at least 8) at once: one gets them, the others QuotaExceeded.
    let (b1, b2, b3) = (batch(8), batch(8), batch(8));
    let (a, b, c) = tokio::join!(
        t.db.instance_create_within_quota(&b1, 8, &defaults),
        t.db.instance_create_within_quota(&b2, 8, &defaults),
        t.db.instance_create_within_quota(&b3, 8, &defaults),
    );
    let made: Vec<usize> = [&a, &b, &c]
        .iter()
        .map(|r| r.as_ref().map(|v| v.len()).unwrap_or(0))
        .collect();
    assert_eq!(made.iter().sum::<usize>(), 8, "{made:?}");
    for r in [&a, &b, &c] {
        if let Err(e) = r {
            assert!(matches!(e, NovaError::QuotaExceeded { .. }), "{e:?}");
        }
    }
    // min 1, max 8: the 2 that are left.
    let rest =
        t.db.instance_create_within_quota(&batch(8), 1, &defaults)
            .await
            .unwrap();
    assert_eq!(rest.len(), 2);
    assert_eq!(t.db.quota_usage("pq").await.unwrap().instances, 10);
    // A project override wins over the default.
    t.db.quota_update("pq", &[("instances".to_string(), 11)].into())
        .await
        .unwrap();
    let one =
        t.db.instance_create_within_quota(&batch(3), 1, &defaults)
            .await
            .unwrap();
    assert_eq!(one.len(), 1);
    // Unlimited instances, cores and ram (nothing counted): all of them,
    // and the limit holds again as soon as one is set.
    t.db.quota_update(
        "pq",
        &[
            ("instances".to_string(), -1),
            ("cores".to_string(), -1),
            ("ram".to_string(), -1),
        ]
        .into(),
    )
    .await
    .unwrap();
    let many =
        t.db.instance_create_within_quota(&batch(8), 8, &defaults)
            .await
            .unwrap();
    assert_eq!(many.len(), 8);
    assert_eq!(t.db.quota_usage("pq").await.unwrap().instances, 19);
    t.db.quota_update("pq", &[("instances".to_string(), 20)].into())
        .await
        .unwrap();
    let last =
        t.db.instance_create_within_quota(&batch(3), 1, &defaults)
            .await
            .unwrap();
    assert_eq!(last.len(), 1);
    t.drop_db().await;
}

#[tokio::test]
async fn values_postgresql_cannot_take_are_invalid_input() {
    let t = fresh().await;
    // A bad regular expression in the `name` filter.
    for name in ["[", "*"] {
        let e =
            t.db.instance_get_all_by_filters(&InstanceFilters {
                name: Some(name.into()),
                ..Default::default()
            })
            .await
            .unwrap_err();
        assert!(matches!(e, NovaError::InvalidInput { .. }), "{name}: {e:?}");
        assert_eq!(e.http_code(), 400);
    }
    // A NUL character in a stored string.
    let e = t.db.keypair_get("u\0ser", "k").await.unwrap_err();
    assert!(matches!(e, NovaError::InvalidInput { .. }), "{e:?}");
    t.drop_db().await;
}

#[tokio::test]
async fn console_tokens_are_found_by_hash_until_they_expire() {
    let t = fresh().await;
    let db = &t.db;
    let inst = Uuid::new_v4();
    let tok = |hash: &str, expires: i64| nova_objects::ConsoleAuthToken {
        console_type: "novnc".into(),
        host: "127.0.0.1".into(),
        port: 5900,
        instance_uuid: inst,
        access_url_base: "http://127.0.0.1:6080/vnc_auto.html".into(),
        token_hash: hash.into(),
        expires,
        ..Default::default()
    };
    let live = db
        .console_auth_token_create(&tok("aa", 2000))
        .await
        .unwrap();
    assert_eq!(live.port, 5900);
    db.console_auth_token_create(&tok("bb", 1000))
        .await
        .unwrap();
    let found = db.console_auth_token_get_valid("aa", 1500).await.unwrap();
    assert_eq!(found.map(|f| f.instance_uuid), Some(inst));
    assert!(db
        .console_auth_token_get_valid("bb", 1500)
        .await
        .unwrap()
        .is_none());
    assert!(db
        .console_auth_token_get_valid("cc", 0)
        .await
        .unwrap()
        .is_none());
    assert_eq!(
        db.console_auth_token_destroy_expired(1500).await.unwrap(),
        1
    );
    assert_eq!(
        db.console_auth_token_destroy_all_by_instance(inst)
            .await
            .unwrap(),
        1
    );
    assert!(db
        .console_auth_token_get_valid("aa", 1500)
        .await
        .unwrap()
        .is_none());
    t.drop_db().await;
}

#[tokio::test]
async fn floating_ips_are_allocated_within_quota_and_forward_to_one_fixed_ip() {
    use nova_objects::FloatingIpCreate;
    let t = fresh().await;
    let db = &t.db;
    let fip = |a: &str, pool: &str| FloatingIpCreate {
        address: a.into(),
        pool: pool.into(),
        interface: "eth1".into(),
    };
    db.floating_ip_bulk_create(&[
        fip("172.24.4.1", "public"),
        fip("172.24.4.2", "public"),
        fip("172.24.4.3", "public"),
        fip("172.24.5.1", "other"),
    ])
    .await
    .unwrap();
    // One address taken: none of the batch is created.
    assert!(matches!(
        db.floating_ip_bulk_create(&[fip("172.24.4.9", "public"), fip("172.24.4.2", "public")])
            .await,
        Err(NovaError::FloatingIpExists { address }) if address == "172.24.4.2"
    ));
    assert_eq!(db.floating_ip_get_all().await.unwrap().len(), 4);
    assert_eq!(
        db.floating_ip_get_pools().await.unwrap(),
        vec!["other".to_string(), "public".to_string()]
    );

    // Quota 2 for p1: two allocations, the third is over quota; an
    // auto-assigned one does not count.
    let a = db
        .floating_ip_allocate_address("p1", "public", false, Some(2))
        .await
        .unwrap();
    assert_eq!(a.project_id.as_deref(), Some("p1"));
    assert_eq!(a.interface.as_deref(), Some("eth1"));
    db.floating_ip_allocate_address("p1", "public", false, Some(2))
        .await
        .unwrap();
    assert!(matches!(
        db.floating_ip_allocate_address("p1", "public", false, Some(2))
            .await,
        Err(NovaError::FloatingIpLimitExceeded {})
    ));
    let auto = db
        .floating_ip_allocate_address("p1", "public", true, None)
        .await
        .unwrap();
    assert!(auto.auto_assigned);
    assert_eq!(db.floating_ip_count_by_project("p1").await.unwrap(), 2);
    // The pool is empty now.
    assert!(matches!(
        db.floating_ip_allocate_address("p2", "public", false, Some(10))
            .await,
        Err(NovaError::NoMoreFloatingIps {})
    ));
    // The project's list leaves out the auto-assigned address.
    let listed = db.floating_ip_get_all_by_project("p1").await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|f| !f.auto_assigned));

    // Associate with an instance's fixed IP, then move it.
    let net = db
        .network_create_safe(&NetworkCreate {
            label: "private".into(),
            cidr: "10.9.1.0/29".into(),
            bridge: "br100".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let mut fixed = vec![];
    for n in 0..2 {
        let i = new_instance(db, "p1").await;
        let vif = db
            .virtual_interface_create(i.uuid, net.id, &format!("fa:16:3e:00:01:{n:02x}"), None)
            .await
            .unwrap();
        fixed.push((
            i.uuid,
            db.fixed_ip_associate_pool(net.id, i.uuid, None, vif.id)
                .await
                .unwrap(),
        ));
    }
    let (i0, f0) = &fixed[0];
    let got = db
        .floating_ip_fixed_ip_associate(&a.address, &f0.address, "net-host")
        .await
        .unwrap()
        .expect("newly associated");
    assert_eq!(got.id, f0.id);
    // Again: already done.
    assert!(db
        .floating_ip_fixed_ip_associate(&a.address, &f0.address, "net-host")
        .await
        .unwrap()
        .is_none());
    let shown = db.floating_ip_get_by_address(&a.address).await.unwrap();
    assert_eq!(shown.fixed_address.as_deref(), Some(f0.address.as_str()));
    assert_eq!(shown.instance_uuid, Some(*i0));
    assert_eq!(shown.host.as_deref(), Some("net-host"));
    assert_eq!(
        db.floating_ip_get_by_fixed_ip_id(f0.id)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        db.floating_ip_get_all_by_host("net-host")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(matches!(
        db.floating_ip_fixed_ip_associate(&a.address, "10.99.0.1", "net-host")
            .await,
        Err(NovaError::FixedIpNotFoundForAddress { .. })
    ));
    assert!(matches!(
        db.floating_ip_fixed_ip_associate("192.0.2.1", &f0.address, "net-host")
            .await,
        Err(NovaError::FloatingIpNotFoundForAddress { .. })
    ));
    let (i1, f1) = &fixed[1];
    db.floating_ip_fixed_ip_associate(&a.address, &f1.address, "net-host")
        .await
        .unwrap();
    assert_eq!(
        db.floating_ip_get(a.id).await.unwrap().instance_uuid,
        Some(*i1)
    );
    assert!(db
        .floating_ip_get_by_fixed_ip_id(f0.id)
        .await
        .unwrap()
        .is_empty());

    // Disassociate, release, delete.
    let was = db.floating_ip_disassociate(&a.address).await.unwrap();
    assert_eq!(was.map(|f| f.id), Some(f1.id));
    assert!(db
        .floating_ip_disassociate(&a.address)
        .await
        .unwrap()
        .is_none());
    db.floating_ip_deallocate(&a.address).await.unwrap();
    let back = db.floating_ip_get(a.id).await.unwrap();
    assert_eq!((back.project_id, back.host), (None, None));
    assert!(matches!(
        db.floating_ip_get(999_999).await,
        Err(NovaError::FloatingIpNotFound { .. })
    ));
    assert_eq!(
        db.floating_ip_bulk_destroy(&["172.24.4.1".into(), "172.24.5.1".into()])
            .await
            .unwrap(),
        2
    );
    assert_eq!(db.floating_ip_get_all().await.unwrap().len(), 2);
    // A deleted address may be created again.
    db.floating_ip_bulk_create(&[fip("172.24.4.1", "public")])
        .await
        .unwrap();

    // Fixed IPs: by address, reserved, and a network in use cannot go.
    let f = db.fixed_ip_get_by_address(&f0.address).await.unwrap();
    assert!(!f.reserved);
    assert!(
        db.fixed_ip_set_reserved(&f0.address, true)
            .await
            .unwrap()
            .reserved
    );
    assert!(matches!(
        db.fixed_ip_set_reserved("10.99.0.1", true).await,
        Err(NovaError::FixedIpNotFoundForAddress { .. })
    ));
    assert!(matches!(
        db.network_delete_safe(net.uuid).await,
        Err(NovaError::NetworkInUse { .. })
    ));
    let n = db.network_set_project(net.uuid, Some("p1")).await.unwrap();
    assert_eq!(n.project_id.as_deref(), Some("p1"));
    for (uuid, _) in &fixed {
        db.network_deallocate_instance(*uuid).await.unwrap();
    }
    db.network_delete_safe(net.uuid).await.unwrap();
    assert!(matches!(
        db.network_get_by_uuid(net.uuid).await,
        Err(NovaError::NetworkNotFound { .. })
    ));
    t.drop_db().await;
}

#[tokio::test]
async fn ec2_ids_are_stable_concurrent_and_never_reused() {
    let t = fresh().await;
    let db = &t.db;
    let (a, b) = (Uuid::new_v4().to_string(), Uuid::new_v4().to_string());
    // Many callers at once for the same uuids: one id each, whoever wins.
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let db = db.clone();
            let uuids = vec![a.clone(), b.clone(), a.clone()];
            tokio::spawn(async move { db.ec2_instance_create(&uuids).await.unwrap() })
        })
        .collect();
    let mut seen = vec![];
    for r in racers {
        seen.push(r.await.unwrap());
    }
    assert!(seen.iter().all(|s| s == &seen[0]), "{seen:?}");
    let ids = &seen[0];
    assert_eq!(ids[0], ids[2]);
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        db.ec2_instance_get_by_id(ids[1]).await.unwrap().as_deref(),
        Some(b.as_str())
    );
    assert_eq!(db.ec2_instance_get_by_id(0).await.unwrap(), None);
    assert_eq!(db.ec2_instance_get_by_id(i64::MAX).await.unwrap(), None);
    // A new uuid never gets an id handed out before.
    let c = db
        .ec2_instance_create(&[Uuid::new_v4().to_string()])
        .await
        .unwrap();
    assert!(c[0] > ids[0].max(ids[1]));
    // Images have their own sequence.
    let img = db.s3_image_create(&["glance-1".into()]).await.unwrap();
    assert_eq!(db.s3_image_create(&["glance-1".into()]).await.unwrap(), img);
    assert_eq!(
        db.s3_image_get(img[0]).await.unwrap().as_deref(),
        Some("glance-1")
    );
    assert!(db.s3_image_create(&[]).await.unwrap().is_empty());
    t.drop_db().await;
}

#[tokio::test]
async fn instance_metadata_updates_and_deletes() {
    let t = fresh().await;
    let db = &t.db;
    let inst = new_instance(db, "p1").await;
    let m = db
        .instance_metadata_update(
            inst.uuid,
            &[("Name".to_string(), "web".to_string())].into(),
            false,
        )
        .await
        .unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(m["Name"], "web");
    let m = db
        .instance_metadata_update(
            inst.uuid,
            &[("Name".to_string(), "db".to_string())].into(),
            false,
        )
        .await
        .unwrap();
    assert_eq!((m.len(), m["Name"].as_str()), (2, "db"));
    assert!(db.instance_metadata_delete(inst.uuid, "k").await.unwrap());
    let got = db.instance_get_by_uuid(inst.uuid, false).await.unwrap();
    assert_eq!(
        got.metadata,
        [("Name".to_string(), "db".to_string())].into()
    );
    let m = db
        .instance_metadata_update(inst.uuid, &Default::default(), true)
        .await
        .unwrap();
    assert!(m.is_empty());
    db.instance_destroy(inst.uuid).await.unwrap();
    assert!(matches!(
        db.instance_metadata_update(inst.uuid, &Default::default(), false)
            .await,
        Err(NovaError::InstanceNotFound { .. })
    ));
    t.drop_db().await;
}

#[tokio::test]
async fn security_groups_default_quota_members_and_destroy() {
    use nova_objects::{SecurityGroup, SecurityGroupDefaultRule, SecurityGroupRule};
    let t = fresh().await;
    let db = &t.db;
    // The default group starts with a copy of the default rules, once.
    db.security_group_default_rule_create(&SecurityGroupDefaultRule {
        protocol: Some("tcp".into()),
        from_port: Some(22),
        to_port: Some(22),
        cidr: Some("10.0.0.0/8".into()),
        ..Default::default()
    })
    .await
    .unwrap();
    let d = db.security_group_ensure_default("p", "u").await.unwrap();
    assert_eq!((d.name.as_str(), d.rules.len()), ("default", 1));
    assert_eq!(d.rules[0].cidr.as_deref(), Some("10.0.0.0/8"));
    let again = db.security_group_ensure_default("p", "u").await.unwrap();
    assert_eq!(again.id, d.id);

    // Groups per project: the default counts.
    let group = |name: &str| SecurityGroup {
        name: name.into(),
        description: "d".into(),
        user_id: "u".into(),
        project_id: "p".into(),
        ..Default::default()
    };
    let web = db.security_group_create(&group("web"), 2).await.unwrap();
    assert!(matches!(
        db.security_group_create(&group("web"), -1).await,
        Err(NovaError::SecurityGroupExists { .. })
    ));
    assert_eq!(
        db.security_group_create(&group("third"), 2).await,
        Err(NovaError::SecurityGroupLimitExceeded {})
    );

    // Rules per group; a rule from the default group carries its members' addresses.
    let from_default = SecurityGroupRule {
        parent_group_id: web.id,
        protocol: Some("tcp".into()),
        from_port: Some(1),
        to_port: Some(65535),
        group_id: Some(d.id),
        ..Default::default()
    };
    db.security_group_rule_create(&from_default, 1)
        .await
        .unwrap();
    assert_eq!(
        db.security_group_rule_create(&from_default, 1).await,
        Err(NovaError::SecurityGroupLimitExceeded {})
    );
    let net = db
        .network_create_safe(&NetworkCreate {
            label: "private".into(),
            cidr: "10.9.0.0/28".into(),
            bridge: "br100".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    let flavor = db.flavor_get_by_flavor_id("1").await.unwrap();
    let mut addr = vec![];
    let mut uuids = vec![];
    for groups in [vec!["web".to_string()], vec!["default".to_string()]] {
        let i = db
            .instance_create(&InstanceCreate {
                uuid: Uuid::new_v4(),
                user_id: "u".into(),
                project_id: "p".into(),
                flavor: flavor.clone(),
                security_groups: groups.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(i.security_groups, groups);
        let vif = db
            .virtual_interface_create(
                i.uuid,
                net.id,
                &format!("fa:16:3e:00:00:0{}", uuids.len()),
                None,
            )
            .await
            .unwrap();
        let ip = db
            .fixed_ip_associate_pool(net.id, i.uuid, Some("h"), vif.id)
            .await
            .unwrap();
        addr.push(ip.address);
        uuids.push(i.uuid);
    }
    let rules = db
        .security_group_rule_get_by_instance(uuids[0])
        .await
        .unwrap();
    assert_eq!(rules.len(), 1);
    let grantee = rules[0].grantee_group.clone().unwrap();
    assert_eq!(
        (grantee.name.as_str(), grantee.member_ips.clone()),
        ("default", vec![addr[1].clone()])
    );
    // The instances granting from the default group: the web member.
    let granting = db
        .instance_get_all_by_grantee_security_group_ids(&[d.id])
        .await
        .unwrap();
    assert_eq!(
        granting.iter().map(|i| i.uuid).collect::<Vec<_>>(),
        [uuids[0]]
    );
    // An unknown group on create is refused, and nothing is recorded.
    let bad = db
        .instance_create(&InstanceCreate {
            uuid: Uuid::new_v4(),
            project_id: "p".into(),
            flavor: flavor.clone(),
            security_groups: vec!["nope".into()],
            ..Default::default()
        })
        .await;
    assert!(
        matches!(bad, Err(NovaError::SecurityGroupNotFoundForProject { .. })),
        "{bad:?}"
    );

    // Membership; a group in use stays; once its member is gone it goes, with its rules.
    db.instance_add_security_group(uuids[0], d.id)
        .await
        .unwrap();
    assert!(matches!(
        db.instance_add_security_group(uuids[0], d.id).await,
        Err(NovaError::SecurityGroupExistsForInstance { .. })
    ));
    db.instance_remove_security_group(uuids[0], d.id)
        .await
        .unwrap();
    assert!(matches!(
        db.instance_remove_security_group(uuids[0], d.id).await,
        Err(NovaError::SecurityGroupNotExistsForInstance { .. })
    ));
    assert!(matches!(
        db.security_group_destroy(web.id).await,
        Err(NovaError::InvalidRequest { .. })
    ));
    db.instance_destroy(uuids[0]).await.unwrap();
    db.security_group_destroy(web.id).await.unwrap();
    assert!(matches!(
        db.security_group_get(web.id).await,
        Err(NovaError::SecurityGroupNotFound { .. })
    ));
    assert!(matches!(
        db.security_group_rule_get(rules[0].id).await,
        Err(NovaError::SecurityGroupNotFoundForRule { .. })
    ));
    t.drop_db().await;
}

#[tokio::test]
async fn usage_audit_runs_per_host_and_the_instances_active_on_a_host() {
    let t = fresh().await;
    let db = &t.db;
    let at = |s: &str| {
        chrono::DateTime::parse_from_rfc3339(s)
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let (b, e) = (at("2026-11-01T00:00:00Z"), at("2026-12-01T00:00:00Z"));
    // Launched in the period on h1; launched after it on h1; on h2.
    let mut on = vec![];
    for (host, launched) in [
        ("h1", "2026-11-10T00:00:00Z"),
        ("h1", "2026-12-02T00:00:00Z"),
        ("h2", "2026-11-10T00:00:00Z"),
    ] {
        let i = new_instance(db, "p").await;
        db.instance_update(
            i.uuid,
            &InstanceUpdate {
                host: Some(Some(host.into())),
                launched_at: Some(Some(at(launched))),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        on.push(i.uuid);
    }
    let h1 = db
        .instance_get_active_by_window_joined(b, e, None, Some("h1"))
        .await
        .unwrap();
    assert_eq!(h1.iter().map(|i| i.uuid).collect::<Vec<_>>(), vec![on[0]]);
    let all = db
        .instance_get_active_by_window_joined(b, e, None, None)
        .await
        .unwrap();
    assert_eq!(all.len(), 2, "both hosts' instances of the period");
    // One never launched (a build that failed) ran in no period.
    let never = new_instance(db, "p").await;
    let all = db
        .instance_get_active_by_window_joined(b, e, None, None)
        .await
        .unwrap();
    assert!(!all.iter().any(|i| i.uuid == never.uuid), "{all:?}");

    let name = "instance_usage_audit";
    assert!(db
        .task_log_get(name, b, e, "h1", None)
        .await
        .unwrap()
        .is_none());
    db.task_log_begin_task(name, b, e, "h1", Some(1), None)
        .await
        .unwrap();
    let again = db
        .task_log_begin_task(name, b, e, "h1", Some(1), None)
        .await;
    assert!(
        matches!(again, Err(NovaError::TaskAlreadyRunning { .. })),
        "{again:?}"
    );
    let running = db
        .task_log_get(name, b, e, "h1", None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((running.state.as_str(), running.task_items), ("RUNNING", 1));
    assert!(db
        .task_log_get(name, b, e, "h1", Some("DONE"))
        .await
        .unwrap()
        .is_none());
    let not_running = db.task_log_end_task(name, b, e, "h2", 0, "m").await;
    assert!(
        matches!(not_running, Err(NovaError::TaskNotRunning { .. })),
        "{not_running:?}"
    );
    db.task_log_end_task(name, b, e, "h1", 0, "done in 0 s")
        .await
        .unwrap();
    let all = db.task_log_get_all(name, b, e).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(
        (
            all[0].state.as_str(),
            all[0].host.as_str(),
            all[0].message.as_str()
        ),
        ("DONE", "h1", "done in 0 s")
    );
    t.drop_db().await;
}

#[tokio::test]
async fn an_instance_read_brings_what_hangs_off_it() {
    let t = fresh().await;
    let db = &t.db;
    let bare = new_instance(db, "p-joined").await;
    let flavor = db.flavor_get_by_flavor_id("1").await.unwrap();
    let bigger = db.flavor_get_by_flavor_id("2").await.unwrap();
    let full = db
        .instance_create(&InstanceCreate {
            uuid: Uuid::new_v4(),
            user_id: "u".into(),
            project_id: "p-joined".into(),
            display_name: "full".into(),
            hostname: "full".into(),
            image_ref: "img".into(),
            flavor: flavor.clone(),
            reservation_id: "r-2".into(),
            request_id: "req-2".into(),
            metadata: [("a", "1"), ("b", "2")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            system_metadata: [("image_os_distro", "cirros")]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into(),
            security_groups: vec!["default".into()],
            trusted_certs: Some(vec!["cert-1".into()]),
            ..Default::default()
        })
        .await
        .unwrap();
    let vif: nova_objects::Vif = serde_json::from_value(serde_json::json!({
        "id": Uuid::new_v4(), "address": "fa:16:3e:00:00:01", "type": "bridge", "devname": null,
        "network": {"id": Uuid::new_v4(), "bridge": "br100", "label": "private", "subnets": [],
            "bridge_interface": null}
    }))
    .unwrap();
    let devices: nova_objects::device_metadata::InstanceDeviceMetadata =
        serde_json::from_value(serde_json::json!({"devices": [{"type": "nic",
            "mac": "fa:16:3e:00:00:01", "bus": {"kind": "pci", "address": "0000:00:03.0"},
            "tags": ["storage"], "vf_trusted": false}]}))
        .unwrap();
    db.instance_update(
        full.uuid,
        &InstanceUpdate {
            network_info: Some(vec![vif.clone()]),
            device_metadata: Some(Some(devices.clone())),
            old_flavor: Some(Some(flavor.clone())),
            new_flavor: Some(Some(bigger.clone())),
            system_metadata: Some([("locked_reason".to_string(), Some("why".to_string()))].into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    for tag in ["zeta", "alpha"] {
        db.instance_tag_add(full.uuid, tag).await.unwrap();
    }
    for (code, message) in [(500, "first"), (404, "latest")] {
        db.instance_fault_create(&InstanceFault {
            instance_uuid: full.uuid,
            code,
            message: message.into(),
            details: format!("{message} details"),
            host: Some("h".into()),
            created_at: None,
        })
        .await
        .unwrap();
    }

    let got = db.instance_get_by_uuid(full.uuid, false).await.unwrap();
    let listed = db
        .instance_get_all_by_filters(&InstanceFilters {
            project_id: Some("p-joined".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|i| i.uuid).collect::<Vec<_>>(),
        [full.uuid, bare.uuid],
        "newest first"
    );
    assert_eq!(listed[0], got, "a listing reads an instance as a get does");
    // A listing reads only the attributes it is asked for (Nova's
    // `expected_attrs`), each of them as a full read has it.
    use nova_objects::InstanceAttr as A;
    let mut subsets: Vec<Vec<A>> = A::ALL.iter().map(|a| vec![*a]).collect();
    subsets.push(vec![]);
    subsets.push(vec![A::Flavor, A::InfoCache, A::Fault, A::Tags]);
    subsets.push(A::ALL.to_vec());
    for attrs in subsets {
        let only = db
            .instance_get_all_by_filters(&InstanceFilters {
                project_id: Some("p-joined".into()),
                expected_attrs: Some(attrs.clone()),
                ..Default::default()
            })
            .await
            .unwrap();
        let expected: Vec<_> = listed.iter().map(|i| i.clone().with_only(&attrs)).collect();
        assert_eq!(only, expected, "{attrs:?}");
        if !attrs.contains(&A::Fault) {
            assert!(only[0].fault.is_none());
        }
    }
    assert_eq!(got.flavor, flavor);
    assert_eq!(got.old_flavor, Some(flavor));
    assert_eq!(got.new_flavor, Some(bigger));
    assert_eq!(got.trusted_certs, Some(vec!["cert-1".to_string()]));
    assert_eq!(got.device_metadata, Some(devices));
    assert_eq!(got.network_info, vec![vif]);
    assert_eq!(
        got.metadata,
        [("a", "1"), ("b", "2")]
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .into()
    );
    assert_eq!(got.system_metadata["image_os_distro"], "cirros");
    assert_eq!(got.system_metadata["locked_reason"], "why");
    assert_eq!(got.security_groups, ["default"]);
    assert_eq!(got.tags, ["alpha", "zeta"]);
    let fault = got.fault.clone().expect("the latest fault");
    assert_eq!((fault.code, fault.message.as_str()), (404, "latest"));
    assert_eq!(fault.details, "latest details");
    assert_eq!(fault.host.as_deref(), Some("h"));
    assert!(fault.created_at.is_some());

    // Every connection has PostgreSQL's JIT off: with it, this read's cost
    // estimate on small tables passed `jit_above_cost` and a listing of no
    // rows spent half a second compiling.
    for _ in 0..3 {
        let jit: String = sqlx::query_scalar("SELECT current_setting('jit')")
            .fetch_one(db.pool())
            .await
            .unwrap();
        assert_eq!(jit, "off");
    }

    // The conductor's policy reads only the owner and host.
    assert_eq!(
        db.instance_owner(full.uuid).await.unwrap(),
        nova_db::InstanceOwner::from(&got)
    );
    assert!(matches!(
        db.instance_owner(Uuid::new_v4()).await,
        Err(NovaError::InstanceNotFound { .. })
    ));

    // The instance with nothing joined reads as empty, not as its neighbour's.
    let bare = &listed[1];
    assert_eq!(bare.metadata.len(), 1);
    assert!(bare.tags.is_empty() && bare.fault.is_none() && bare.network_info.is_empty());
    assert!(bare.old_flavor.is_none() && bare.trusted_certs.is_none());
    assert!(bare.device_metadata.is_none());
    assert!(
        bare.security_groups.is_empty(),
        "{:?}",
        bare.security_groups
    );
    t.drop_db().await;
}

#[tokio::test]
async fn a_builds_steps_keep_the_nodes_workload_right() {
    let t = fresh().await;
    let db = &t.db;
    db.service_update("hw", "nova-compute", Some("compute"))
        .await
        .unwrap();
    db.compute_node_update(&report("hw", 4096)).await.unwrap();
    let i = new_instance(db, "p-work").await;
    let req = ResourceRequest {
        memory_mb: 512,
        vcpus: 1,
        disk_gb: 1,
        numa_topology: None,
    };
    assert_eq!(
        db.compute_node_claim(i.uuid, "hw", "hw", &req, "nova")
            .await
            .unwrap(),
        Claim::Claimed
    );
    let workload = || async {
        let n = db.compute_node_get_all().await.unwrap();
        (n[0].current_workload, n[0].vcpus_used, n[0].running_vms)
    };
    assert_eq!(workload().await, (1, 1, 1), "building: busy");
    // From one task to another under compare-and-set: still busy (and the
    // node's row is left as it is).
    use TaskState as T;
    for (to, from) in [(T::Networking, T::Scheduling), (T::Spawning, T::Networking)] {
        db.instance_update(
            i.uuid,
            &InstanceUpdate {
                task_state: Some(Some(to)),
                expected_task_state: Some(vec![Some(from)]),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        assert_eq!(workload().await, (1, 1, 1), "{to:?}");
    }
    // Done: no task, not busy.
    db.instance_update(
        i.uuid,
        &InstanceUpdate {
            vm_state: Some(VmState::Active),
            task_state: Some(None),
            expected_task_state: Some(vec![Some(T::Spawning)]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(workload().await, (0, 1, 1), "active");
    // A task set without a compare-and-set (the old state unknown) counts.
    db.instance_update(
        i.uuid,
        &InstanceUpdate {
            task_state: Some(Some(T::Rebooting)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(workload().await, (1, 1, 1), "rebooting");
    // ... and one set from "no task or a task" too.
    db.instance_update(
        i.uuid,
        &InstanceUpdate {
            task_state: Some(None),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    db.instance_update(
        i.uuid,
        &InstanceUpdate {
            task_state: Some(Some(T::Rebooting)),
            expected_task_state: Some(vec![None, Some(T::Rebooting)]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(workload().await, (1, 1, 1), "rebooting again");
    t.drop_db().await;
}

/// The generation (migration 0015) an instance is listed at, by
/// `instance_generations_by_filters`.
async fn generation_of(db: &Db, uuid: Uuid) -> i64 {
    let page = db
        .instance_generations_by_filters(&InstanceFilters {
            uuids: Some(vec![uuid]),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1, "{page:?}");
    page[0].1
}

#[tokio::test]
async fn every_write_a_server_body_shows_changes_the_instance_generation() {
    let t = fresh().await;
    let db = &t.db;
    let inst = new_instance(db, "p-gen").await;
    let other = new_instance(db, "p-gen").await;
    let u = inst.uuid;
    let mut seen = vec![generation_of(db, u).await];
    let others_before = generation_of(db, other.uuid).await;
    // Each step must change the generation (a step that does not is named).
    let mut changed = |step: &str, g: i64| {
        assert!(
            !seen.contains(&g),
            "{step} left the generation at {g}: {seen:?}"
        );
        seen.push(g);
    };

    db.instance_update(
        u,
        &InstanceUpdate {
            vm_state: Some(VmState::Active),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    changed("instance_update", generation_of(db, u).await);
    let vif: nova_objects::Vif = serde_json::from_value(serde_json::json!({
        "id": Uuid::new_v4(), "address": "fa:16:3e:00:00:02", "type": "bridge", "devname": null,
        "network": {"id": Uuid::new_v4(), "bridge": "br100", "label": "private", "subnets": [],
            "bridge_interface": null}
    }))
    .unwrap();
    db.instance_update(
        u,
        &InstanceUpdate {
            network_info: Some(vec![vif]),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    changed("network info", generation_of(db, u).await);
    db.instance_metadata_update(u, &[("k2".to_string(), "v2".to_string())].into(), false)
        .await
        .unwrap();
    changed("metadata", generation_of(db, u).await);
    db.instance_metadata_delete(u, "k2").await.unwrap();
    changed("metadata delete", generation_of(db, u).await);
    db.instance_tag_add(u, "t1").await.unwrap();
    changed("tag add", generation_of(db, u).await);
    db.instance_tag_delete(u, "t1").await.unwrap();
    changed("tag delete", generation_of(db, u).await);
    db.instance_fault_create(&InstanceFault {
        instance_uuid: u,
        code: 500,
        message: "m".into(),
        details: "d".into(),
        host: None,
        created_at: None,
    })
    .await
    .unwrap();
    changed("fault", generation_of(db, u).await);
    let group = db
        .security_group_create(
            &nova_objects::SecurityGroup {
                id: 0,
                name: "web".into(),
                description: "d".into(),
                user_id: "u".into(),
                project_id: "p-gen".into(),
                rules: vec![],
            },
            10,
        )
        .await
        .unwrap();
    db.instance_add_security_group(u, group.id).await.unwrap();
    changed("security group added", generation_of(db, u).await);
    db.security_group_update(group.id, "web2", "d")
        .await
        .unwrap();
    changed("security group renamed", generation_of(db, u).await);
    let g = generation_of(db, u).await;
    db.security_group_update(group.id, "web2", "another description")
        .await
        .unwrap();
    assert_eq!(generation_of(db, u).await, g, "a description is not shown");
    db.instance_remove_security_group(u, group.id)
        .await
        .unwrap();
    changed("security group removed", generation_of(db, u).await);
    assert_eq!(
        generation_of(db, other.uuid).await,
        others_before,
        "another instance's writes are not this one's"
    );

    // The page is the listing's: its order, its filters, its limit.
    let page = db
        .instance_generations_by_filters(&InstanceFilters {
            project_id: Some("p-gen".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let listed: Vec<Uuid> = db
        .instance_get_all_by_filters(&InstanceFilters {
            project_id: Some("p-gen".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .iter()
        .map(|i| i.uuid)
        .collect();
    assert_eq!(page.iter().map(|p| p.0).collect::<Vec<_>>(), listed);
    assert_eq!(listed, [other.uuid, u]);
    let one = db
        .instance_generations_by_filters(&InstanceFilters {
            project_id: Some("p-gen".into()),
            limit: Some(1),
            marker: Some(other.uuid),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(one.iter().map(|p| p.0).collect::<Vec<_>>(), [u]);
    t.drop_db().await;
}

/// A compute node with two NUMA cells of one dedicated CPU each (CPUs 0 and
/// 1) and 4 GiB each.
fn numa_report(host: &str) -> ComputeNodeReport {
    use nova_objects::numa::{NumaCell, NumaTopology};
    let mut r = report(host, 8192);
    r.resources.numa_topology = Some(NumaTopology {
        cells: (0..2)
            .map(|i| NumaCell {
                id: i,
                pcpuset: [i].into(),
                memory: 4096,
                ..Default::default()
            })
            .collect(),
    });
    r
}

fn pinned_cpus(node: &nova_objects::ComputeNode) -> Vec<u32> {
    let t = node.numa_topology.as_ref().unwrap();
    t.cells
        .iter()
        .flat_map(|c| c.pinned_cpus.iter().copied())
        .collect()
}

#[tokio::test]
async fn numa_claims_pin_distinct_cpus_and_follow_a_migration() {
    let t = fresh().await;
    let db = &t.db;
    for h in ["n1", "n2"] {
        db.service_update(h, "nova-compute", Some("compute"))
            .await
            .unwrap();
        db.compute_node_update(&numa_report(h)).await.unwrap();
    }
    let flavor = nova_objects::Flavor {
        id: 1,
        vcpus: 1,
        memory_mb: 512,
        extra_specs: [("hw:cpu_policy".to_string(), "dedicated".to_string())].into(),
        ..Default::default()
    };
    let req = ResourceRequest::for_instance(&flavor, &Default::default()).unwrap();
    assert!(req.numa_topology.is_some());
    let node = |h: &'static str| async move {
        db.compute_node_get_all()
            .await
            .unwrap()
            .into_iter()
            .find(|n| n.host == h)
            .unwrap()
    };
    let a = new_instance(db, "p-numa").await;
    let b = new_instance(db, "p-numa").await;
    let c = new_instance(db, "p-numa").await;
    for i in [&a, &b] {
        assert_eq!(
            db.compute_node_claim(i.uuid, "n1", "n1", &req, "nova")
                .await
                .unwrap(),
            Claim::Claimed
        );
    }
    assert_eq!(
        db.compute_node_claim(c.uuid, "n1", "n1", &req, "nova")
            .await
            .unwrap(),
        Claim::DoesNotFit(Resource::NumaTopology),
        "both dedicated CPUs of n1 are pinned"
    );
    let pin = |u: Uuid| async move {
        db.instance_get_by_uuid(u, false)
            .await
            .unwrap()
            .numa_topology
            .unwrap()
            .pinned_host_cpus()
    };
    let (pa, pb) = (pin(a.uuid).await, pin(b.uuid).await);
    assert!(pa.is_disjoint(&pb), "{pa:?} {pb:?}");
    assert_eq!(pinned_cpus(&node("n1").await), [0, 1]);
    // A report from the host keeps the usage (recounted from the instances).
    db.compute_node_update(&numa_report("n1")).await.unwrap();
    assert_eq!(pinned_cpus(&node("n1").await), [0, 1]);
    // Deleting a frees its CPU.
    db.instance_destroy(a.uuid).await.unwrap();
    assert_eq!(
        pinned_cpus(&node("n1").await),
        pb.iter().copied().collect::<Vec<_>>()
    );

    // b migrates to n2: the destination holds a CPU from the claim, the
    // source keeps b's until the migration ends; then b has n2's pinning.
    db.instance_update(
        b.uuid,
        &InstanceUpdate {
            task_state: Some(Some(TaskState::ResizePrep)),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let m = nova_objects::Migration {
        uuid: Uuid::new_v4(),
        source_compute: Some("n1".into()),
        source_node: Some("n1".into()),
        dest_compute: Some("n2".into()),
        dest_node: Some("n2".into()),
        status: Some("pre-migrating".into()),
        instance_uuid: Some(b.uuid),
        migration_type: Some("migration".into()),
        ..Default::default()
    };
    let claimed = match db
        .migration_create_with_claim(&m, &flavor, &flavor, &req, TaskState::ResizePrep)
        .await
        .unwrap()
    {
        nova_db::MigrationClaim::Claimed(m) => m,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        pinned_cpus(&node("n1").await).len(),
        1,
        "the source keeps b's CPU"
    );
    assert_eq!(
        pinned_cpus(&node("n2").await).len(),
        1,
        "the destination holds one"
    );
    assert_eq!(pin(b.uuid).await, pb, "on its source, b keeps its pinning");
    db.instance_update(
        b.uuid,
        &InstanceUpdate {
            host: Some(Some("n2".into())),
            node: Some(Some("n2".into())),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    let on_n2 = pin(b.uuid).await;
    assert_eq!(
        on_n2.len(),
        1,
        "on the destination, b has the destination's pinning"
    );
    db.migration_update_status(claimed.id, "confirmed", None)
        .await
        .unwrap();
    assert_eq!(pin(b.uuid).await, on_n2);
    assert!(
        pinned_cpus(&node("n1").await).is_empty(),
        "the source freed b's CPU"
    );
    assert_eq!(
        pinned_cpus(&node("n2").await),
        on_n2.into_iter().collect::<Vec<_>>()
    );
    t.drop_db().await;
}

#[tokio::test]
async fn listings_sort_by_the_keys_asked_and_page_through_nulls() {
    use nova_objects::sort::{process_sort_params, SortDir, SortKey};
    let t = fresh().await;
    let db = &t.db;
    let flavor = db.flavor_get_by_flavor_id("1").await.unwrap();
    // Names repeat and some hosts are NULL, so the later keys decide.
    let plan = [
        ("b", Some("h2")),
        ("a", None),
        ("c", Some("h1")),
        ("a", Some("h2")),
        ("b", None),
        ("c", Some("h2")),
        ("a", Some("h1")),
    ];
    let mut made = Vec::new();
    for (name, host) in plan {
        let i = db
            .instance_create(&InstanceCreate {
                uuid: Uuid::new_v4(),
                user_id: "u".into(),
                project_id: "sorted".into(),
                display_name: name.into(),
                hostname: name.into(),
                image_ref: "img".into(),
                flavor: flavor.clone(),
                reservation_id: "r-1".into(),
                request_id: "req-1".into(),
                ..Default::default()
            })
            .await
            .unwrap();
        db.instance_update(
            i.uuid,
            &InstanceUpdate {
                host: Some(host.map(str::to_string)),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        made.push((i.id, name, host));
    }
    let listing = |sort: Vec<SortKey>, limit: Option<i64>, marker: Option<Uuid>| InstanceFilters {
        project_id: Some("sorted".into()),
        sort: Some(sort),
        limit,
        marker,
        ..Default::default()
    };
    let keys = |k: &[&str], d: &[&str]| {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        process_sort_params(&s(k), &s(d), &["created_at", "id"], SortDir::Desc).unwrap()
    };
    for (sort, expected) in [
        // host ascending puts the NULLs last; ties by name descending.
        (keys(&["host", "display_name"], &["asc", "desc"]), {
            let mut e = made.clone();
            e.sort_by(|a, b| {
                (a.2.is_none(), a.2, std::cmp::Reverse(a.1), a.0).cmp(&(
                    b.2.is_none(),
                    b.2,
                    std::cmp::Reverse(b.1),
                    b.0,
                ))
            });
            e
        }),
        // host descending puts them first; ties by creation, newest first.
        (keys(&["host"], &["desc"]), {
            let mut e = made.clone();
            e.sort_by(|a, b| (b.2.is_none(), b.2, b.0).cmp(&(a.2.is_none(), a.2, a.0)));
            e
        }),
    ] {
        let want: Vec<i64> = expected.iter().map(|e| e.0).collect();
        let all = db
            .instance_get_all_by_filters(&listing(sort.clone(), None, None))
            .await
            .unwrap();
        assert_eq!(
            all.iter().map(|i| i.id).collect::<Vec<_>>(),
            want,
            "{sort:?}"
        );
        // Pages of two, each after the last one's final row, make the same list.
        let mut paged = Vec::new();
        let mut marker = None;
        loop {
            let page = db
                .instance_get_all_by_filters(&listing(sort.clone(), Some(2), marker))
                .await
                .unwrap();
            paged.extend(page.iter().map(|i| i.id));
            match page.last() {
                Some(last) if page.len() == 2 => marker = Some(last.uuid),
                _ => break,
            }
        }
        assert_eq!(paged, want, "paged {sort:?}");
        // The generations a cached listing asks for come in the same order.
        let gens = db
            .instance_generations_by_filters(&listing(sort.clone(), None, None))
            .await
            .unwrap();
        assert_eq!(
            gens.iter().map(|g| g.0).collect::<Vec<_>>(),
            all.iter().map(|i| i.uuid).collect::<Vec<_>>()
        );
    }
    let e = db
        .instance_get_all_by_filters(&listing(
            vec![SortKey::new("user_data", SortDir::Asc)],
            None,
            None,
        ))
        .await
        .unwrap_err();
    assert!(matches!(e, NovaError::InvalidSortKey {}), "{e:?}");
    t.drop_db().await;
}

/// The rows of `table` (`SELECT count(*)`).
async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(db.pool())
        .await
        .unwrap()
}

#[tokio::test]
async fn every_soft_deleted_table_has_its_shadow() {
    let t = fresh().await;
    let db = &t.db;
    let shadowed = db.shadowed_tables().await.unwrap();
    assert!(shadowed.contains(&"instances".to_string()), "{shadowed:?}");
    // Every table with a `deleted` column, with the same columns in order.
    let soft: Vec<(String,)> = sqlx::query_as(
        "SELECT table_name::text FROM information_schema.columns
         WHERE table_schema = current_schema() AND column_name = 'deleted'
           AND table_name NOT LIKE 'shadow\\_%' ORDER BY 1",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    let soft: Vec<String> = soft.into_iter().map(|(t,)| t).collect();
    assert_eq!(shadowed, soft);
    for table in &soft {
        assert_eq!(
            db.table_columns(&format!("shadow_{table}")).await.unwrap(),
            db.table_columns(table).await.unwrap(),
            "shadow_{table}"
        );
        assert!(db
            .table_columns(table)
            .await
            .unwrap()
            .contains(&"id".to_string()));
    }
    // Whatever refers to a shadowed table is shadowed too, or archiving
    // its rows could not move what refers to them.
    let refs: Vec<(String, String)> = sqlx::query_as(
        "SELECT cl.relname::text, pcl.relname::text FROM pg_constraint con
         JOIN pg_class cl ON cl.oid = con.conrelid
         JOIN pg_class pcl ON pcl.oid = con.confrelid
         WHERE con.contype = 'f'",
    )
    .fetch_all(db.pool())
    .await
    .unwrap();
    for (child, parent) in refs {
        if soft.contains(&parent) {
            assert!(soft.contains(&child), "{child} refers to {parent}");
        }
    }
    t.drop_db().await;
}

#[tokio::test]
async fn deleted_rows_are_archived_with_what_refers_to_them_then_purged() {
    let t = fresh().await;
    let db = &t.db;
    let gone = new_instance(db, "p1").await;
    let kept = new_instance(db, "p1").await;
    for i in [&gone, &kept] {
        db.instance_fault_create(&InstanceFault {
            instance_uuid: i.uuid,
            code: 500,
            message: "boom".into(),
            details: String::new(),
            host: None,
            created_at: None,
        })
        .await
        .unwrap();
        db.action_start(i.uuid, "reboot", "req-a", None, None)
            .await
            .unwrap();
        db.action_event_start(i.uuid, "req-a", "compute_build", "h1")
            .await
            .unwrap();
    }
    db.instance_destroy(gone.uuid).await.unwrap();
    let live = |table: &'static str| async move { count(db, table).await };
    let before = (
        live("instances").await,
        live("instance_actions_events").await,
    );
    assert_eq!(before, (2, 2));

    // Deleted later than `before`: nothing.
    let long_ago = chrono::Utc::now() - chrono::Duration::days(1);
    let none = db
        .archive_deleted_rows(1000, Some(long_ago), false)
        .await
        .unwrap();
    assert_eq!(none.total, 0);
    assert!(none.tables.is_empty());

    let done = db.archive_deleted_rows(1000, None, false).await.unwrap();
    assert_eq!(done.instance_uuids, vec![gone.uuid]);
    // Each instance has as many rows in each (its create and the reboot
    // the test recorded): the archived one's moved, the live one's stay.
    for (table, n) in [
        ("instances", 1),
        ("instance_metadata", 1),
        ("instance_faults", 1),
        ("instance_actions", 2),
        ("instance_actions_events", 1),
        ("instance_extra", 1),
        ("instance_info_caches", 1),
    ] {
        assert_eq!(
            done.tables.get(table),
            Some(&n),
            "{table}: {:?}",
            done.tables
        );
        assert_eq!(
            live(table).await,
            n,
            "{table} keeps the live instance's rows"
        );
        assert_eq!(
            count(db, &format!("shadow_{table}")).await,
            n,
            "shadow_{table}"
        );
    }
    assert_eq!(done.total, done.tables.values().sum::<i64>());
    // The live instance is whole; the archived one is gone from every read.
    let read = db.instance_get_by_uuid(kept.uuid, false).await.unwrap();
    assert_eq!(read.metadata.get("k").map(String::as_str), Some("v"));
    assert!(db.instance_get_by_uuid(gone.uuid, true).await.is_err());
    let again = db.archive_deleted_rows(1000, None, false).await.unwrap();
    assert_eq!(again.total, 0);

    // A batch is at most max_rows of a table's own deleted rows.
    let a = new_instance(db, "p2").await;
    let b = new_instance(db, "p2").await;
    db.instance_destroy(a.uuid).await.unwrap();
    db.instance_destroy(b.uuid).await.unwrap();
    let first = db.archive_deleted_rows(1, None, false).await.unwrap();
    assert_eq!(first.tables.get("instances"), None, "{:?}", first.tables);
    assert_eq!(first.total, 1, "{:?}", first.tables);
    let mut passes = 1;
    while db.archive_deleted_rows(1, None, false).await.unwrap().total > 0 {
        passes += 1;
        assert!(passes < 50);
    }
    assert_eq!(count(db, "shadow_instances").await, 3);

    // Purged: those older than a date first (none), then all.
    let purged = db.purge_shadow_tables(Some(long_ago)).await.unwrap();
    assert!(purged.is_empty(), "{purged:?}");
    let purged = db.purge_shadow_tables(None).await.unwrap();
    let instances = purged
        .iter()
        .find(|(t, _, _)| t == "shadow_instances")
        .unwrap();
    assert_eq!((instances.1.as_str(), instances.2), ("(n/a)", 3));
    assert_eq!(count(db, "shadow_instances").await, 0);
    assert!(db.purge_shadow_tables(None).await.unwrap().is_empty());
    t.drop_db().await;
}
