//! rebuild with the real `openstack` CLI on a fake compute host
//! (`server rebuild --image`: the new image_ref, name and metadata, the 202
//! body with adminPass, a STOPPED server ending STOPPED, 400s for unknown
//! images and bad bodies, 409 in a wrong state, the `rebuild` instance
//! action in `server event list`), and one real guest rebuilt from a
//! second image.

#![allow(clippy::unwrap_used)]

use nova_e2e::{Cloud, ComputeHost};
use reqwest::Method;
use serde_json::{json, Value};

/// The JSON of an `openstack ... -f json` (after the "Complete" `--wait` prints).
fn json_out(out: &str) -> Value {
    let start = out.find(['{', '[']).unwrap_or(0);
    serde_json::from_str(&out[start..]).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// `POST /servers/{id}/action` at a microversion: (status, body).
async fn action(cloud: &Cloud, id: &str, token: &str, mv: &str, body: Value) -> (u16, Value) {
    let resp = cloud
        .http
        .request(Method::POST, format!("{}/servers/{id}/action", cloud.api))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("compute {mv}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn show(cloud: &Cloud, id: &str) -> Value {
    json_out(&cloud.osc("admin", &["server", "show", id, "-f", "json"]))
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
async fn rebuild_on_a_fake_host() {
    let cloud =
        Cloud::start_hosts(|id| vec![ComputeHost::fake(format!("lc-{id}"), "")], true).await;
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

    // ===== rebuild =====
    let image2 =
        nova_e2e::upload_image(&cloud.http, &cloud.glance, "second", Some(&cloud.admin)).await;
    let out = json_out(&cloud.osc(
        "demo",
        &[
            "server",
            "rebuild",
            "--image",
            &image2,
            "--name",
            "vm1b",
            "--property",
            "k=v",
            "--wait",
            "-f",
            "json",
            &id,
        ],
    ));
    assert_eq!(out["id"], id.as_str(), "{out}");
    let s = show(&cloud, &id);
    assert_eq!(s["status"], "ACTIVE", "{s}");
    assert_eq!(s["name"], "vm1b", "{s}");
    assert!(s["image"].to_string().contains(&image2), "{s}");
    assert!(s["properties"].to_string().contains("k"), "{s}");
    assert!(event_actions(&cloud, &id).contains(&"rebuild".to_string()));
    let demo = cloud.demo.clone();
    // The body over HTTP: the server view, adminPass, at 2.75 the full detail.
    let (st, b) = action(
        &cloud,
        &id,
        &demo,
        "2.75",
        json!({"rebuild": {"imageRef": cloud.image_id, "adminPass": "s3cret"}}),
    )
    .await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["server"]["adminPass"], "s3cret", "{b}");
    assert_eq!(b["server"]["id"], id.as_str(), "{b}");
    assert_eq!(b["server"]["image"]["id"], cloud.image_id.as_str(), "{b}");
    assert!(b["server"].get("OS-EXT-STS:task_state").is_some(), "{b}");
    // A second rebuild while the first runs, or any in a wrong state: 409.
    let s = cloud
        .wait_for("the rebuild done", 60, || async {
            let s = show(&cloud, &id);
            (s["status"] == "ACTIVE" && s["OS-EXT-STS:task_state"].is_null()).then_some(s)
        })
        .await;
    assert!(s["image"].to_string().contains(&cloud.image_id), "{s}");
    // preserve_ephemeral: no driver here rebuilds in place (Nova's default
    // rebuild refuses it in the compute host): the server stays ACTIVE, the
    // action fails with the reason.
    let (st, b) = action(
        &cloud,
        &id,
        &demo,
        "2.1",
        json!({"rebuild": {"imageRef": cloud.image_id, "preserve_ephemeral": true}}),
    )
    .await;
    assert_eq!(st, 202, "{b}");
    let req = cloud
        .wait_for("the rebuild refused", 60, || async {
            let (_, b) = cloud
                .req(
                    Method::GET,
                    &format!("/servers/{id}/os-instance-actions"),
                    &cloud.admin,
                    None,
                )
                .await;
            let last = b["instanceActions"][0].clone();
            (last["action"] == "rebuild" && last["message"] == "Error")
                .then(|| last["request_id"].as_str().unwrap().to_string())
        })
        .await;
    let (_, b) = cloud
        .req(
            Method::GET,
            &format!("/servers/{id}/os-instance-actions/{req}"),
            &cloud.admin,
            None,
        )
        .await;
    let ev = &b["instanceAction"]["events"][0];
    assert_eq!(ev["result"], "Error", "{b}");
    assert!(
        ev["traceback"]
            .as_str()
            .unwrap_or_default()
            .contains("does not support preserving ephemeral partitions"),
        "{b}"
    );
    let s = show(&cloud, &id);
    assert_eq!(
        (&s["status"], &s["OS-EXT-STS:task_state"]),
        (&json!("ACTIVE"), &Value::Null),
        "{s}"
    );
    // Bad requests: an unknown image, a bad property, key_name before 2.54.
    for (mv, body) in [
        (
            "2.1",
            json!({"rebuild": {"imageRef": uuid::Uuid::new_v4().to_string()}}),
        ),
        (
            "2.1",
            json!({"rebuild": {"imageRef": cloud.image_id, "bogus": 1}}),
        ),
        (
            "2.53",
            json!({"rebuild": {"imageRef": cloud.image_id, "key_name": null}}),
        ),
        ("2.1", json!({"rebuild": {}})),
    ] {
        let (st, b) = action(&cloud, &id, &demo, mv, body.clone()).await;
        assert_eq!(st, 400, "{body}: {b}");
    }
    // A stopped server is rebuilt and stays stopped.
    cloud.osc("demo", &["server", "stop", &id]);
    cloud
        .wait_for("SHUTOFF", 60, || async {
            (show(&cloud, &id)["status"] == "SHUTOFF").then_some(())
        })
        .await;
    cloud.osc(
        "demo",
        &["server", "rebuild", "--image", &image2, "--wait", &id],
    );
    let s = show(&cloud, &id);
    assert_eq!(s["status"], "SHUTOFF", "{s}");
    assert!(s["image"].to_string().contains(&image2), "{s}");
    // Not in a paused state: 409 with Nova's message.
    cloud.osc("demo", &["server", "start", &id]);
    cloud
        .wait_for("ACTIVE", 60, || async {
            (show(&cloud, &id)["status"] == "ACTIVE").then_some(())
        })
        .await;
    cloud.osc("demo", &["server", "pause", &id]);
    cloud
        .wait_for("PAUSED", 60, || async {
            (show(&cloud, &id)["status"] == "PAUSED").then_some(())
        })
        .await;
    let (st, b) = action(
        &cloud,
        &id,
        &demo,
        "2.1",
        json!({"rebuild": {"imageRef": image2}}),
    )
    .await;
    assert_eq!(st, 409, "{b}");
    assert_eq!(
        b["conflictingRequest"]["message"],
        format!("Cannot 'rebuild' instance {id} while it is in vm_state paused"),
        "{b}"
    );

    // ===== OS-DCF:diskConfig: asked, or the image's auto_disk_config =====
    let disabled = image_with(&cloud, "adc-disabled", "disabled").await;
    let auto = image_with(&cloud, "adc-true", "True").await;
    let refused =
        |image: &str| format!("Requested image {image} has automatic disk resize disabled.");
    // The image proxy shows the property as Nova's disk_config extension.
    for (image, shown) in [(&auto, "AUTO"), (&disabled, "MANUAL")] {
        let (st, b) = cloud.get(&format!("/images/{image}"), &demo).await;
        assert_eq!(st, 200, "{b}");
        assert_eq!(b["image"]["OS-DCF:diskConfig"], shown, "{b}");
    }
    // Asked at create: in the 202 and in the server.
    let (st, b) = create(&cloud, &cloud.image_id, Some("AUTO")).await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["server"]["OS-DCF:diskConfig"], "AUTO", "{b}");
    let a = b["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(server(&cloud, &a).await["OS-DCF:diskConfig"], "AUTO");
    // Not asked: the image's property (True), or MANUAL without one.
    let (st, b) = create(&cloud, &auto, None).await;
    assert_eq!(st, 202, "{b}");
    let from_image = b["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        server(&cloud, &from_image).await["OS-DCF:diskConfig"],
        "AUTO"
    );
    // AUTO of an image that disables it: 400, nothing made.
    let (st, b) = create(&cloud, &disabled, Some("AUTO")).await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["badRequest"]["message"], refused(&disabled), "{b}");
    let (st, b) = create(&cloud, &cloud.image_id, Some("auto")).await;
    assert_eq!(st, 400, "{b}");
    let (st, b) = create(&cloud, &disabled, None).await;
    assert_eq!(st, 202, "{b}");
    let manual = b["server"]["id"].as_str().unwrap().to_string();
    assert_eq!(server(&cloud, &manual).await["OS-DCF:diskConfig"], "MANUAL");
    // Sorted by it, as Nova's `auto_disk_config` sort key.
    let (st, b) = cloud
        .get(
            "/servers/detail?sort_key=auto_disk_config&sort_dir=asc&sort_key=id",
            &demo,
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let order: Vec<&str> = b["servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["OS-DCF:diskConfig"].as_str().unwrap())
        .collect();
    let mut sorted = order.clone();
    sorted.sort_by_key(|d| *d == "AUTO");
    assert_eq!(order, sorted, "{b}");
    // Changed by an update.
    let (st, b) = cloud
        .req(
            Method::PUT,
            &format!("/servers/{a}"),
            &demo,
            Some(json!({"server": {"OS-DCF:diskConfig": "MANUAL"}})),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    assert_eq!(b["server"]["OS-DCF:diskConfig"], "MANUAL", "{b}");
    for sid in [&a, &from_image, &manual] {
        cloud
            .wait_for("ACTIVE", 60, || async {
                (server(&cloud, sid).await["status"] == "ACTIVE").then_some(())
            })
            .await;
    }
    // A rebuild: AUTO of the disabling image is refused; without it, the
    // new image's property decides (here: none, so MANUAL).
    let (st, b) = action(
        &cloud,
        &from_image,
        &demo,
        "2.1",
        json!({"rebuild": {"imageRef": disabled, "OS-DCF:diskConfig": "AUTO"}}),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["badRequest"]["message"], refused(&disabled), "{b}");
    let (st, b) = action(
        &cloud,
        &from_image,
        &demo,
        "2.1",
        json!({"rebuild": {"imageRef": cloud.image_id}}),
    )
    .await;
    assert_eq!(st, 202, "{b}");
    assert_eq!(b["server"]["OS-DCF:diskConfig"], "MANUAL", "{b}");
    // A resize asking AUTO of a server whose image disables it: 400, the
    // server left as it was.
    let (st, b) = action(
        &cloud,
        &manual,
        &demo,
        "2.1",
        json!({"resize": {"flavorRef": "2", "OS-DCF:diskConfig": "AUTO"}}),
    )
    .await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(b["badRequest"]["message"], refused(&disabled), "{b}");
    let s = server(&cloud, &manual).await;
    assert_eq!(
        (&s["status"], &s["flavor"]["id"]),
        (&json!("ACTIVE"), &json!("1")),
        "{s}"
    );

    // ===== the kernel and ramdisk: the new image's, as Nova's rebuild =====
    let ami = image_with_props(
        &cloud,
        "ami-style",
        &[("kernel_id", &disabled), ("ramdisk_id", &auto)],
    )
    .await;
    let kernel_of = |id: String| {
        let cloud = &cloud;
        async move {
            let (st, b) = nova_e2e::call(
                cloud,
                Method::GET,
                &format!("/servers/{id}"),
                &cloud.admin,
                "2.3",
                None,
            )
            .await;
            assert_eq!(st, 200, "{b}");
            let s = &b["server"];
            let ids = [
                &s["OS-EXT-SRV-ATTR:kernel_id"],
                &s["OS-EXT-SRV-ATTR:ramdisk_id"],
            ];
            (
                s["status"].clone(),
                ids.map(|v| v.as_str().unwrap().to_string()),
            )
        }
    };
    let rebuild_to = |image: String| {
        let (cloud, manual) = (&cloud, &manual);
        async move {
            let body = json!({"rebuild": {"imageRef": image}});
            action(cloud, manual, &cloud.demo, "2.1", body).await
        }
    };
    let (st, b) = rebuild_to(ami.clone()).await;
    assert_eq!(st, 202, "{b}");
    let (status, ids) = cloud
        .wait_for("the rebuild to an AMI-style image", 60, || async {
            let (status, ids) = kernel_of(manual.clone()).await;
            (status == "ACTIVE" && ids[0] == disabled).then_some((status, ids))
        })
        .await;
    assert_eq!(
        (status, ids),
        (json!("ACTIVE"), [disabled.clone(), auto.clone()])
    );
    // An image naming a kernel Glance does not have: 400, nothing changes.
    let missing = image_with_props(
        &cloud,
        "no-kernel",
        &[("kernel_id", "5bd8a3b6-0000-4000-8000-000000000000")],
    )
    .await;
    let (st, b) = rebuild_to(missing.clone()).await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"], "Cannot find image for rebuild",
        "{b}"
    );
    let (st, b) = create(&cloud, &missing, None).await;
    assert_eq!(st, 400, "{b}");
    assert_eq!(
        b["badRequest"]["message"],
        "Image 5bd8a3b6-0000-4000-8000-000000000000 could not be found.",
        "{b}"
    );
    // Back to an image without them: none.
    let (st, b) = rebuild_to(cloud.image_id.clone()).await;
    assert_eq!(st, 202, "{b}");
    let (_, ids) = cloud
        .wait_for("the rebuild to a plain image", 60, || async {
            let (status, ids) = kernel_of(manual.clone()).await;
            (status == "ACTIVE" && ids[0].is_empty()).then_some((status, ids))
        })
        .await;
    assert_eq!(ids, [String::new(), String::new()]);
}

/// A Glance image with the property `auto_disk_config`.
async fn image_with(cloud: &Cloud, name: &str, auto_disk_config: &str) -> String {
    image_with_props(cloud, name, &[("auto_disk_config", auto_disk_config)]).await
}

/// A Glance image with these properties.
async fn image_with_props(cloud: &Cloud, name: &str, props: &[(&str, &str)]) -> String {
    let id = nova_e2e::upload_image(&cloud.http, &cloud.glance, name, Some(&cloud.admin)).await;
    let patch: Vec<Value> = props
        .iter()
        .map(|(k, v)| json!({"op": "add", "path": format!("/{k}"), "value": v}))
        .collect();
    let resp = cloud
        .http
        .patch(format!("{}/v2/images/{id}", cloud.glance))
        .header("X-Auth-Token", &cloud.admin)
        .header(
            "Content-Type",
            "application/openstack-images-v2.1-json-patch",
        )
        .json(&patch)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "image patch: {}", resp.status());
    id
}

/// `POST /servers` of one m1.tiny server, `OS-DCF:diskConfig` if given.
async fn create(cloud: &Cloud, image: &str, disk_config: Option<&str>) -> (u16, Value) {
    let mut server = json!({"name": "adc", "imageRef": image, "flavorRef": "1"});
    if let Some(d) = disk_config {
        server["OS-DCF:diskConfig"] = json!(d);
    }
    cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.demo,
            Some(json!({"server": server})),
        )
        .await
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

async fn server(cloud: &Cloud, id: &str) -> Value {
    let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
    b["server"].clone()
}

async fn console(cloud: &Cloud, id: &str) -> String {
    let admin = cloud.admin.clone();
    let (_, b) = action(cloud, id, &admin, "2.1", json!({"os-getConsoleOutput": {}})).await;
    b["output"].as_str().unwrap_or_default().to_string()
}

/// The `GUEST-INIT` lines of a console output.
fn guest_inits(out: &str) -> Vec<&str> {
    out.lines()
        .filter_map(|l| l.find("GUEST-INIT").map(|i| l[i..].trim_end()))
        .collect()
}

/// A real guest (QEMU under TCG, two compute hosts) booted from the tiny disk marked
/// `hostname=firstguest`, rebuilt from a second image (marked
/// `hostname=rebuiltguest`): a new domain boots from a new disk, and its
/// console (a fresh one: the old guest's files went with it) shows only the
/// second image's marker; image_ref changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_guest_rebuild() {
    let (cloud, guest) = nova_e2e::start_real_guest_cloud_hosts(2, true, "").await;
    let first = nova_e2e::upload_file(
        &cloud.http,
        &cloud.glance,
        &cloud.admin,
        json!({"name": "tiny-disk-1", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}),
        nova_e2e::guest_marks::marked_tiny_disk(&guest, "firstguest"),
    )
    .await;
    let second = nova_e2e::upload_file(
        &cloud.http,
        &cloud.glance,
        &cloud.admin,
        json!({"name": "tiny-disk-2", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}),
        nova_e2e::guest_marks::marked_tiny_disk(&guest, "rebuiltguest"),
    )
    .await;
    cloud.create_guest_flavor().await;
    let created = json_out(&cloud.osc(
        "admin",
        &[
            "server",
            "create",
            "--image",
            &first,
            "--flavor",
            "guest",
            "--wait",
            "-f",
            "json",
            "rebuilder",
        ],
    ));
    let id = created["id"].as_str().unwrap().to_string();
    let srv = server(&cloud, &id).await;
    let name = srv["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    let out = cloud
        .wait_for("GUEST-INIT", 240, || async {
            let out = console(&cloud, &id).await;
            out.contains("GUEST-INIT").then_some(out)
        })
        .await;
    assert_eq!(
        guest_inits(&out),
        ["GUEST-INIT hostname=firstguest"],
        "the first boot is the first image's: {out}"
    );
    let host = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    let domid = virsh(&["domid", &name]);
    assert!(!domid.is_empty() && domid != "-", "{domid}");

    cloud.osc(
        "admin",
        &["server", "rebuild", "--image", &second, "--wait", &id],
    );
    let srv = server(&cloud, &id).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_eq!(srv["image"]["id"], second.as_str(), "{srv}");
    assert_eq!(
        srv["OS-EXT-SRV-ATTR:host"],
        host.as_str(),
        "rebuilt in place: {srv}"
    );
    // A new domain (a new id) boots again from the new image.
    let new_domid = virsh(&["domid", &name]);
    assert_ne!(new_domid, domid, "the guest was started again");
    assert!(virsh(&["domstate", &name]).contains("running"));
    let out = cloud
        .wait_for(
            "the second image's marker after the rebuild",
            240,
            || async {
                let out = console(&cloud, &id).await;
                out.contains("GUEST-INIT").then_some(out)
            },
        )
        .await;
    // The new boot is the second image's, and the only one on the console.
    assert_eq!(
        guest_inits(&out),
        ["GUEST-INIT hostname=rebuiltguest"],
        "the rebuilt guest booted the second image: {out}"
    );
    assert!(!out.contains("hostname=firstguest"), "{out}");
    let events = json_out(&cloud.osc("admin", &["server", "event", "list", &id, "-f", "json"]));
    assert!(events.to_string().contains("rebuild"), "{events}");
}
