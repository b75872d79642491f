//! rescue and unrescue with the real `openstack` CLI on a fake compute host
//! (`server rescue` → RESCUE, `server unrescue` → ACTIVE, a STOPPED server
//! rescued, the 200 body with adminPass, 400 for an unknown rescue image or
//! a bad body, 409 for unrescue of an ACTIVE server and rescue of a
//! RESCUED one, the `rescue`/`unrescue` instance actions), and one real
//! guest rescued from a second image: the domain boots the rescue disk with
//! its own disk second, and after unrescue its own disk again. And
//! nova-compute killed in the middle of a rescue and of an unrescue: the
//! instance is left with no task state after the restart.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

/// The JSON of an `openstack ... -f json` (after the "Complete" `--wait` prints).
fn json_out(out: &str) -> Value {
    let start = out.find(['{', '[']).unwrap_or(0);
    serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn action(cloud: &Cloud, id: &str, token: &str, body: Value) -> (u16, Value) {
    nova_e2e::call(
        cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        token,
        "2.1",
        Some(body),
    )
    .await
}

fn show(cloud: &Cloud, id: &str) -> Value {
    json_out(&cloud.osc("admin", &["server", "show", id, "-f", "json"]))
}

async fn wait_status(cloud: &Cloud, id: &str, status: &str) -> Value {
    cloud
        .wait_for(status, 90, || async {
            let s = show(cloud, id);
            (s["status"] == status && s["OS-EXT-STS:task_state"].is_null()).then_some(s)
        })
        .await
}

fn event_actions(cloud: &Cloud, id: &str) -> Vec<String> {
    let events = json_out(&cloud.osc("demo", &["server", "event", "list", id, "-f", "json"]));
    events
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["Action"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rescue_on_a_fake_host() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("rs-{id}"), "")], true).await;
    let created = json_out(&cloud.osc(
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
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let demo = cloud.demo.clone();

    // Unrescue of an ACTIVE server: 409 with Nova's message.
    let (st, b) = action(&cloud, &id, &demo, json!({"unrescue": null})).await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(
        b["conflictingRequest"]["message"],
        format!("Cannot 'unrescue' instance {id} while it is in vm_state active"),
        "{b}"
    );
    let (ok, _, err) = cloud.openstack("demo", &["server", "unrescue", &id]);
    assert!(!ok, "{err}");

    // ===== rescue and unrescue with the CLI =====
    cloud.osc("demo", &["server", "rescue", &id]);
    let s = wait_status(&cloud, &id, "RESCUE").await;
    assert_eq!(s["OS-EXT-STS:vm_state"], "rescued", "{s}");
    assert_eq!(s["OS-EXT-STS:power_state"], 1, "{s}");
    // Rescue of a RESCUED server: 409.
    let (st, b) = action(&cloud, &id, &demo, json!({"rescue": null})).await;
    assert_eq!(st, 409, "{b}");
    cloud.osc("demo", &["server", "unrescue", &id]);
    let s = wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(s["OS-EXT-STS:vm_state"], "active", "{s}");

    // ===== the API's answers =====
    // 200 with the password asked for; a second image to rescue with.
    let image2 =
        nova_e2e::upload_image(&cloud.http, &cloud.glance, "rescuer", Some(&cloud.admin)).await;
    let (st, b) = action(
        &cloud,
        &id,
        &demo,
        json!({"rescue": {"adminPass": "s3cret", "rescue_image_ref": image2}}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b, json!({"adminPass": "s3cret"}));
    wait_status(&cloud, &id, "RESCUE").await;
    let (st, b) = action(&cloud, &id, &demo, json!({"unrescue": null})).await;
    assert_eq!(st, 202, "{b}");
    wait_status(&cloud, &id, "ACTIVE").await;
    // A generated password when none is given.
    let (st, b) = action(&cloud, &id, &demo, json!({"rescue": {}})).await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["adminPass"].as_str().map(str::len), Some(12), "{b}");
    wait_status(&cloud, &id, "RESCUE").await;
    cloud.osc("demo", &["server", "unrescue", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;

    // Unknown rescue image: 400 with Nova's message, the server untouched.
    let unknown = uuid::Uuid::new_v4().to_string();
    let (st, b) = action(
        &cloud,
        &id,
        &demo,
        json!({"rescue": {"rescue_image_ref": unknown}}),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        format!("Requested rescue image '{unknown}' is not supported"),
        "{b}"
    );
    assert_eq!(show(&cloud, &id)["status"], "ACTIVE");
    // The CLI refuses an image it cannot find.
    let (ok, _, err) = cloud.openstack("demo", &["server", "rescue", "--image", &unknown, &id]);
    assert!(!ok, "{err}");
    // Bad bodies: 400.
    for body in [
        json!({"rescue": {"bogus": 1}}),
        json!({"rescue": {"rescue_image_ref": "not-a-uuid"}}),
        json!({"rescue": {"adminPass": 5}}),
    ] {
        let (st, b) = action(&cloud, &id, &demo, body.clone()).await;
        assert_eq!(st, 400, "{body}: {b}");
    }

    // ===== a STOPPED server is rescued (and runs), unrescue → ACTIVE =====
    cloud.osc("demo", &["server", "stop", &id]);
    wait_status(&cloud, &id, "SHUTOFF").await;
    cloud.osc("demo", &["server", "rescue", "--image", &image2, &id]);
    let s = wait_status(&cloud, &id, "RESCUE").await;
    assert_eq!(s["OS-EXT-STS:power_state"], 1, "{s}");
    cloud.osc("demo", &["server", "unrescue", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;

    // Not while paused: 409.
    cloud.osc("demo", &["server", "pause", &id]);
    wait_status(&cloud, &id, "PAUSED").await;
    let (st, b) = action(&cloud, &id, &demo, json!({"rescue": null})).await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(
        b["conflictingRequest"]["message"],
        format!("Cannot 'rescue' instance {id} while it is in vm_state paused"),
        "{b}"
    );

    // The instance actions, each with its compute event.
    let acts = event_actions(&cloud, &id);
    assert_eq!(
        acts.iter().filter(|a| *a == "rescue").count(),
        4,
        "{acts:?}"
    );
    assert_eq!(
        acts.iter().filter(|a| *a == "unrescue").count(),
        4,
        "{acts:?}"
    );
    let (st, b) = cloud
        .get(&format!("/servers/{id}/os-instance-actions"), &cloud.admin)
        .await;
    assert_eq!(st, 200, "{b}");
    let req = b["instanceActions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "rescue")
        .unwrap()["request_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, b) = cloud
        .get(
            &format!("/servers/{id}/os-instance-actions/{req}"),
            &cloud.admin,
        )
        .await;
    let events = b["instanceAction"]["events"].to_string();
    assert!(
        events.contains("compute_rescue_instance") && events.contains("Success"),
        "{b}"
    );
}

fn virsh(args: &[&str]) -> String {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg("qemu:///system")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

async fn console(cloud: &Cloud, id: &str) -> String {
    let admin = cloud.admin.clone();
    let (_, b) = action(cloud, id, &admin, json!({"os-getConsoleOutput": {}})).await;
    b["output"].as_str().unwrap_or_default().to_string()
}

/// The `<source file=...>` of each disk of a domain XML, by target device.
fn disks(xml: &str) -> Vec<(String, String)> {
    xml.split("<disk ")
        .skip(1)
        .filter_map(|d| {
            let src = d.split("<source file='").nth(1)?.split('\'').next()?;
            let dev = d.split("<target dev='").nth(1)?.split('\'').next()?;
            Some((dev.to_string(), src.to_string()))
        })
        .collect()
}

/// A real guest (QEMU under TCG) rescued with a second image whose kernel
/// command line names another hostname: the domain boots `disk.rescue`
/// (vda) with the instance's disk second (vdb), the console shows the
/// rescue system's marker; unrescue puts the original domain back, which
/// boots its own disk again, and removes the rescue files. Then a stable
/// device rescue (the image's `hw_rescue_device`): the own disk stays vda,
/// the rescue disk is vdb and boots first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_guest_rescue() {
    let (cloud, guest) = nova_e2e::start_real_guest_cloud(true, "").await;
    let first = cloud.upload_tiny_disk(&guest).await;
    let rescuer = nova_e2e::upload_file(
        &cloud.http,
        &cloud.glance,
        &cloud.admin,
        json!({"name": "tiny-rescue", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}),
        nova_e2e::guest_marks::marked_tiny_disk(&guest, "rescueguest"),
    )
    .await;
    cloud.create_guest_flavor().await;
    let created = json_out(&cloud.osc(
        "admin",
        &[
            "server", "create", "--image", &first, "--flavor", "guest", "--wait", "-f", "json",
            "rescuee",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    let name = b["server"]["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    cloud
        .wait_for("GUEST-INIT", 240, || async {
            console(&cloud, &id)
                .await
                .contains("GUEST-INIT hostname=")
                .then_some(())
        })
        .await;
    let own = disks(&virsh(&["dumpxml", &name]));
    assert_eq!(own.len(), 1, "{own:?}");
    assert!(own[0].1.ends_with(&format!("{id}/disk")), "{own:?}");
    let domid = virsh(&["domid", &name]);

    // ===== rescue =====
    let admin = cloud.admin.clone();
    let (st, b) = action(
        &cloud,
        &id,
        &admin,
        json!({"rescue": {"rescue_image_ref": rescuer}}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    wait_status(&cloud, &id, "RESCUE").await;
    let xml = virsh(&["dumpxml", &name]);
    let rescued = disks(&xml);
    assert_eq!(rescued.len(), 2, "{xml}");
    assert_eq!(rescued[0].0, "vda", "{rescued:?}");
    assert!(
        rescued[0].1.ends_with(&format!("{id}/disk.rescue")),
        "{rescued:?}"
    );
    assert_eq!(rescued[1].0, "vdb", "{rescued:?}");
    assert!(rescued[1].1.ends_with(&format!("{id}/disk")), "{rescued:?}");
    assert!(virsh(&["domstate", &name]).contains("running"));
    assert_ne!(
        virsh(&["domid", &name]),
        domid,
        "the guest was started again"
    );
    // The rescue system booted (its own hostname on the command line).
    cloud
        .wait_for("the rescue system's GUEST-INIT", 240, || async {
            console(&cloud, &id)
                .await
                .contains("GUEST-INIT hostname=rescueguest")
                .then_some(())
        })
        .await;
    let instance_dir = std::env::temp_dir()
        .join(format!("nova-e2e-{}", cloud.id))
        .join(format!("instances-qemu-{}", cloud.id))
        .join(&id);
    assert!(instance_dir.join("unrescue.xml").exists());
    assert!(instance_dir.join("disk.rescue").exists());

    // ===== unrescue =====
    let inits_before = console(&cloud, &id).await.matches("GUEST-INIT").count();
    cloud.osc("admin", &["server", "unrescue", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;
    let back = disks(&virsh(&["dumpxml", &name]));
    assert_eq!(back, own, "the original domain is back");
    assert!(virsh(&["domstate", &name]).contains("running"));
    assert!(!instance_dir.join("unrescue.xml").exists());
    assert!(!instance_dir.join("disk.rescue").exists());
    // Its own disk boots again (no hostname on its command line).
    cloud
        .wait_for("GUEST-INIT from the own disk", 240, || async {
            let out = console(&cloud, &id).await;
            (out.matches("GUEST-INIT").count() > inits_before
                && !out
                    .rsplit("GUEST-INIT")
                    .next()
                    .unwrap_or_default()
                    .starts_with(" hostname=rescueguest"))
            .then_some(())
        })
        .await;
    let events = json_out(&cloud.osc("admin", &["server", "event", "list", &id, "-f", "json"]));
    let events = events.to_string();
    assert!(
        events.contains("\"rescue\"") && events.contains("\"unrescue\""),
        "{events}"
    );

    // ===== stable device rescue (hw_rescue_device on the rescue image) =====
    cloud.osc(
        "admin",
        &[
            "image",
            "set",
            "--property",
            "hw_rescue_device=disk",
            &rescuer,
        ],
    );
    let inits_before = console(&cloud, &id).await.matches("GUEST-INIT").count();
    let (st, b) = action(
        &cloud,
        &id,
        &admin,
        json!({"rescue": {"rescue_image_ref": rescuer}}),
    )
    .await;
    assert_eq!(st, 200, "{b}");
    wait_status(&cloud, &id, "RESCUE").await;
    let xml = virsh(&["dumpxml", &name]);
    let stable = disks(&xml);
    // The own disk keeps its place; the rescue disk is attached after it
    // and booted first.
    assert_eq!(stable.len(), 2, "{xml}");
    assert_eq!(stable[0].0, "vda", "{stable:?}");
    assert!(stable[0].1.ends_with(&format!("{id}/disk")), "{stable:?}");
    assert_eq!(stable[1].0, "vdb", "{stable:?}");
    assert!(
        stable[1].1.ends_with(&format!("{id}/disk.rescue")),
        "{stable:?}"
    );
    assert!(xml.contains("<boot order='1'/>"), "{xml}");
    cloud
        .wait_for("the stable rescue system's GUEST-INIT", 240, || async {
            let out = console(&cloud, &id).await;
            (out.matches("GUEST-INIT").count() > inits_before
                && out
                    .rsplit("GUEST-INIT")
                    .next()
                    .unwrap_or_default()
                    .starts_with(" hostname=rescueguest"))
            .then_some(())
        })
        .await;
    cloud.osc("admin", &["server", "unrescue", &id]);
    wait_status(&cloud, &id, "ACTIVE").await;
    assert_eq!(disks(&virsh(&["dumpxml", &name])), own);
}

/// The server as the API shows it to the admin.
async fn server(cloud: &Cloud, id: &str) -> Value {
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    b["server"].clone()
}

/// Wait until the server shows `want` with no task state.
async fn settled(cloud: &Cloud, id: &str, want: &str) -> Value {
    cloud
        .wait_for(&format!("{want}, no task state"), 120, || async {
            let s = server(cloud, id).await;
            (s["status"] == want && s["OS-EXT-STS:task_state"].is_null()).then_some(s)
        })
        .await
}

/// Wait until the compute host has started `event` (its instance-action
/// event recorded), i.e. the action is in the driver's hands.
async fn wait_event_started(cloud: &Cloud, id: &str, action: &str, event: &str) {
    cloud
        .wait_for(&format!("{event} to start"), 60, || async {
            let (_, b) = cloud
                .get(&format!("/servers/{id}/os-instance-actions"), &cloud.admin)
                .await;
            let req = b["instanceActions"]
                .as_array()?
                .iter()
                .find(|a| a["action"] == action)?["request_id"]
                .as_str()?
                .to_string();
            let (_, b) = cloud
                .get(
                    &format!("/servers/{id}/os-instance-actions/{req}"),
                    &cloud.admin,
                )
                .await;
            b["instanceAction"]["events"]
                .as_array()?
                .iter()
                .any(|e| e["event"] == event)
                .then_some(())
        })
        .await;
}

/// nova-compute killed in the middle of a rescue and of an unrescue (the
/// fake driver's `rescue`/`unrescue` made slow). Nova 20.x's
/// `_init_instance` has no case for RESCUING/UNRESCUING (the task state
/// would stay until an admin's reset-state); here the interrupted action
/// is handled again at restart (its message redelivered, or init_host's
/// recovery after the grace period) and the instance never keeps its task
/// state. The fake driver's guests live in the killed process, so the
/// action finds no guest any more: ERROR with a fault, no task state, and
/// the server is usable again (rebuilt to ACTIVE, rescued, deleted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_compute_killed_mid_rescue_or_unrescue_leaves_no_task_state() {
    const SLOW: &str = "[fake]\nrescue_seconds = 60\n";
    const FAST: &str = "[fake]\nrescue_seconds = 0\n";
    let mut cloud = Cloud::start_hosts(
        |id| vec![ComputeHost::fake(format!("rk-{id}"), SLOW)],
        false,
    )
    .await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(json!({"server": {"name": "rk", "imageRef": cloud.image_id, "flavorRef": "1"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let srv = cloud
        .wait_for("ACTIVE", 90, || async {
            let s = server(&cloud, &id).await;
            (s["status"] == "ACTIVE" && s["OS-EXT-STS:task_state"].is_null()).then_some(s)
        })
        .await;
    let compute = format!(
        "nova-compute@{}",
        srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap()
    );

    // ===== killed mid-rescue =====
    let (st, b) = action(&cloud, &id, &cloud.demo, json!({"rescue": null})).await;
    assert_eq!(st, 200, "{b}");
    wait_event_started(&cloud, &id, "rescue", "compute_rescue_instance").await;
    assert_eq!(
        server(&cloud, &id).await["OS-EXT-STS:task_state"],
        "rescuing"
    );
    cloud.restart_with_conf(&compute, FAST);
    let s = settled(&cloud, &id, "ERROR").await;
    let fault = s["fault"]["message"].as_str().unwrap_or_default();
    assert!(fault.contains("cannot be rescued"), "{s}");
    // Usable: rebuilt from ERROR to ACTIVE, rescued and unrescued.
    let (st, b) = action(
        &cloud,
        &id,
        &cloud.demo,
        json!({"rebuild": {"imageRef": cloud.image_id}}),
    )
    .await;
    assert_eq!(st, 202, "{b}");
    settled(&cloud, &id, "ACTIVE").await;
    let (st, b) = action(&cloud, &id, &cloud.demo, json!({"rescue": null})).await;
    assert_eq!(st, 200, "{b}");
    settled(&cloud, &id, "RESCUE").await;

    // ===== killed mid-unrescue =====
    cloud.restart_with_conf(&compute, SLOW);
    cloud
        .wait_for("the compute service up again", 60, || async {
            let (_, b) = cloud.get("/os-services", &cloud.admin).await;
            b["services"]
                .as_array()?
                .iter()
                .any(|s| s["binary"] == "nova-compute" && s["state"] == "up")
                .then_some(())
        })
        .await;
    let (st, b) = action(&cloud, &id, &cloud.demo, json!({"unrescue": null})).await;
    assert_eq!(st, 202, "{b}");
    wait_event_started(&cloud, &id, "unrescue", "compute_unrescue_instance").await;
    assert_eq!(
        server(&cloud, &id).await["OS-EXT-STS:task_state"],
        "unrescuing"
    );
    cloud.restart_with_conf(&compute, FAST);
    let s = settled(&cloud, &id, "ERROR").await;
    assert!(!s["fault"]["message"].is_null(), "{s}");
    // Usable: deleted.
    let (st, _) = cloud
        .req(Method::DELETE, &format!("/servers/{id}"), &cloud.demo, None)
        .await;
    assert_eq!(st, 204);
    cloud
        .wait_for("the server to be gone", 120, || async {
            let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            (s == 404).then_some(())
        })
        .await;
}
