//! Smaller compute APIs end to end on a fake compute host: server
//! diagnostics (the driver's counters before 2.48, the standard format
//! from 2.48, admins only), x509 key pairs (2.2, generated and imported,
//! listed with the `openstack` CLI), os-resetState, and the instance usage audit log (no audit
//! has run: every compute host is "not run").

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diagnostics_x509_keypairs_and_the_audit_log() {
    let cloud = Cloud::start_with(
        |id| vec![(format!("e2e-extra-{id}"), "fake.FakeDriver")],
        true,
    )
    .await;
    let host = format!("e2e-extra-{}", cloud.id);

    // ===== diagnostics =====
    let created: Value = serde_json::from_str(&cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &cloud.image_id,
            "--flavor",
            "m1.tiny",
            "--wait",
            "-f",
            "json",
            "vm1",
        ],
    ))
    .unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let path = format!("/servers/{id}/diagnostics");
    let (s, old) = call(&cloud, Method::GET, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 200, "{old}");
    assert_eq!(old["memory"], 524288, "{old}");
    assert_eq!(old["vnet1_tx_packets"], 662, "{old}");
    let (s, new) = call(&cloud, Method::GET, &path, &cloud.admin, "2.48", None).await;
    assert_eq!(s, 200, "{new}");
    assert_eq!(new["state"], "running", "{new}");
    assert_eq!(new["driver"], "libvirt", "{new}");
    assert_eq!(new["num_cpus"], 1);
    assert_eq!(new["num_nics"], 1);
    assert_eq!(new["num_disks"], 1);
    assert_eq!(new["nic_details"][0]["mac_address"], "01:23:45:67:89:ab");
    assert_eq!(new["memory_details"], json!({"maximum": 512, "used": 0}));
    assert!(new.get("memory").is_none(), "{new}");
    // The state is the guest's own.
    cloud.osc("demo", &["server", "pause", "vm1"]);
    cloud
        .wait_for("vm1 to pause", 60, || async {
            let (_, new) = call(&cloud, Method::GET, &path, &cloud.admin, "2.48", None).await;
            (new["state"] == "paused").then_some(())
        })
        .await;
    // Admins only.
    let (s, _) = call(&cloud, Method::GET, &path, &cloud.demo, "2.48", None).await;
    assert_eq!(s, 403);
    let (s, _) = call(
        &cloud,
        Method::GET,
        "/servers/00000000-0000-4000-8000-000000000000/diagnostics",
        &cloud.admin,
        "2.48",
        None,
    )
    .await;
    assert_eq!(s, 404);

    // ===== os-resetState (admin): the vm_state set, the task_state cleared =====
    let act = format!("/servers/{id}/action");
    let reset = |state: &str| Some(json!({"os-resetState": {"state": state}}));
    let (s, _) = call(
        &cloud,
        Method::POST,
        &act,
        &cloud.demo,
        "2.1",
        reset("error"),
    )
    .await;
    assert_eq!(s, 403);
    let (s, b) = call(
        &cloud,
        Method::POST,
        &act,
        &cloud.admin,
        "2.1",
        reset("deleted"),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = call(
        &cloud,
        Method::POST,
        &act,
        &cloud.admin,
        "2.1",
        reset("error"),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    assert_eq!(b["server"]["status"], "ERROR", "{b}");
    let (s, _) = call(
        &cloud,
        Method::POST,
        &act,
        &cloud.admin,
        "2.1",
        reset("active"),
    )
    .await;
    assert_eq!(s, 202);
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    assert_eq!(b["server"]["status"], "ACTIVE", "{b}");

    // ===== x509 key pairs (2.2) =====
    let (s, kp) = call(
        &cloud,
        Method::POST,
        "/os-keypairs",
        &cloud.demo,
        "2.2",
        Some(json!({"keypair": {"name": "cert", "type": "x509"}})),
    )
    .await;
    assert_eq!(s, 201, "{kp}");
    let cert = kp["keypair"]["public_key"].as_str().unwrap();
    assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"), "{kp}");
    assert!(kp["keypair"]["private_key"]
        .as_str()
        .unwrap()
        .contains("PRIVATE KEY"));
    assert_eq!(kp["keypair"]["type"], "x509");
    // SHA-1 of the certificate, as colon-separated hex.
    let fp = kp["keypair"]["fingerprint"].as_str().unwrap();
    assert_eq!(fp.len(), 59, "{fp}");
    // Importing the same certificate gives the same fingerprint.
    let (s, imported) = call(
        &cloud,
        Method::POST,
        "/os-keypairs",
        &cloud.demo,
        "2.2",
        Some(json!({"keypair": {"name": "cert2", "type": "x509", "public_key": cert}})),
    )
    .await;
    assert_eq!(s, 201, "{imported}");
    assert_eq!(imported["keypair"]["fingerprint"], fp, "{imported}");
    assert!(
        imported["keypair"].get("private_key").is_none(),
        "{imported}"
    );
    // The CLI lists both, with their type.
    let listed = cloud.osc(
        "demo",
        &[
            "--os-compute-api-version",
            "2.2",
            "keypair",
            "list",
            "-f",
            "json",
        ],
    );
    assert!(
        listed.contains("cert2") && listed.contains("x509"),
        "{listed}"
    );
    // Not a certificate: 400.
    let (s, b) = call(
        &cloud,
        Method::POST,
        "/os-keypairs",
        &cloud.demo,
        "2.2",
        Some(json!({"keypair": {"name": "bad", "type": "x509", "public_key": "ssh-rsa AAAA"}})),
    )
    .await;
    assert_eq!(s, 400, "{b}");
    // Nova's create schemas: no `type` before 2.2, no `user_id` before 2.10,
    // a type of the two, nothing else in the body.
    for (version, body, says) in [
        (
            "2.1",
            json!({"keypair": {"name": "k1", "type": "ssh"}}),
            "Additional properties are not allowed ('type' was unexpected)",
        ),
        (
            "2.2",
            json!({"keypair": {"name": "k1", "type": "rsa"}}),
            "is not one of ['ssh', 'x509']",
        ),
        (
            "2.2",
            json!({"keypair": {"name": "k1", "user_id": "someone"}}),
            "Additional properties are not allowed ('user_id' was unexpected)",
        ),
        (
            "2.10",
            json!({"keypair": {"name": "k1", "colour": "red"}}),
            "Additional properties are not allowed ('colour' was unexpected)",
        ),
        (
            "2.10",
            json!({"keypair": {"name": "k1"}, "extra": 1}),
            "Additional properties are not allowed ('extra' was unexpected)",
        ),
    ] {
        let (s, b) = call(
            &cloud,
            Method::POST,
            "/os-keypairs",
            &cloud.demo,
            version,
            Some(body),
        )
        .await;
        let message = b["badRequest"]["message"].as_str().unwrap_or_default();
        assert!(s == 400 && message.contains(says), "{version}: {b}");
    }
    let listed = cloud.osc("demo", &["keypair", "list", "-f", "value", "-c", "Name"]);
    assert!(!listed.lines().any(|l| l == "k1"), "{listed}");

    // ===== the instance usage audit log =====
    let (s, log) = call(
        &cloud,
        Method::GET,
        "/os-instance_usage_audit_log",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{log}");
    let log = &log["instance_usage_audit_logs"];
    assert_eq!(log["num_hosts"], 1, "{log}");
    assert_eq!(log["hosts_not_run"], json!([host]), "{log}");
    assert_eq!(
        log["overall_status"], "0 of 1 hosts done. 0 errors.",
        "{log}"
    );
    // The month before a timestamp (the default period is a month).
    let (s, shown) = call(
        &cloud,
        Method::GET,
        "/os-instance_usage_audit_log/2012-12-14%2010:00:00",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{shown}");
    let shown = &shown["instance_usage_audit_log"];
    assert_eq!(shown["period_beginning"], "2012-11-01 00:00:00", "{shown}");
    assert_eq!(shown["period_ending"], "2012-12-01 00:00:00", "{shown}");
    let (s, _) = call(
        &cloud,
        Method::GET,
        "/os-instance_usage_audit_log/yesterday",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = call(
        &cloud,
        Method::GET,
        "/os-instance_usage_audit_log",
        &cloud.demo,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 403);
}
