//! The instance usage audit end to end on two fake compute hosts: the one
//! with `[DEFAULT] instance_usage_audit = true` records its run of the last
//! completed period (the default, a month) once, even across a restart; the other
//! is reported as not run; `os-instance_usage_audit_log` shows both.

#![allow(clippy::unwrap_used)]

use nova_e2e::{call, Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

async fn audit_log(cloud: &Cloud) -> Value {
    let (s, b) = call(
        cloud,
        Method::GET,
        "/os-instance_usage_audit_log",
        &cloud.admin,
        "2.1",
        None,
    )
    .await;
    assert_eq!(s, 200, "{b}");
    b["instance_usage_audit_logs"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_usage_audit_runs_once_per_period_on_the_hosts_that_have_it() {
    let mut cloud = Cloud::start_hosts(
        |id| {
            vec![
                ComputeHost::fake(
                    format!("e2e-ua-on-{id}"),
                    "[DEFAULT]\ninstance_usage_audit = true\n",
                ),
                ComputeHost::fake(format!("e2e-ua-off-{id}"), ""),
            ]
        },
        false,
    )
    .await;
    let on = format!("e2e-ua-on-{}", cloud.id);
    let off = format!("e2e-ua-off-{}", cloud.id);
    // The API reports the same period as the hosts audit.
    let before = audit_log(&cloud).await;
    assert_eq!(before["num_hosts"], 2, "{before}");
    let log = cloud
        .wait_for("the audit run of the host that has it", 60, || async {
            let log = audit_log(&cloud).await;
            (log["num_hosts_done"] == 1).then_some(log)
        })
        .await;
    assert_eq!(log["hosts_not_run"], json!([off]), "{log}");
    assert_eq!(log["num_hosts_running"], 0, "{log}");
    assert_eq!(
        log["overall_status"], "1 of 2 hosts done. 0 errors.",
        "{log}"
    );
    let run = &log["log"][&on];
    assert_eq!(run["state"], "DONE", "{log}");
    assert_eq!(run["errors"], 0, "{log}");
    // Nothing ran on it in the last completed month (the cloud is newer).
    assert_eq!(run["instances"], 0, "{log}");
    let message = run["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!(
            "Instance usage audit ran for host {on}, 0 instances in "
        )),
        "{message}"
    );
    let begin = log["period_beginning"].as_str().unwrap();
    assert!(begin.ends_with("-01 00:00:00"), "a monthly period: {log}");

    // Restarted, the host sees its run of this period and does not repeat it.
    let daemon = format!("nova-compute@{on}");
    cloud.restart(&daemon);
    cloud
        .wait_for("the restarted host to be up", 60, || async {
            let (_, b) = cloud
                .get("/os-services?binary=nova-compute", &cloud.admin)
                .await;
            b["services"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["state"] == "up")
                .then_some(())
        })
        .await;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let after = audit_log(&cloud).await;
    if after["period_beginning"] == log["period_beginning"] {
        assert_eq!(after["log"][&on]["message"], run["message"], "{after}");
    }
    assert!(
        !cloud.log(&daemon).contains("did not run"),
        "{}",
        cloud.log(&daemon)
    );
    assert!(
        !cloud
            .log(&format!("nova-compute@{off}"))
            .contains("usage audit"),
        "the host without the audit does not run it"
    );
}
