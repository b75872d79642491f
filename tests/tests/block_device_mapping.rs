//! A server create's block device mapping, through the `openstack` CLI and
//! over HTTP: the image's root disk given as a mapping (with or without
//! `imageRef`) boots; Nova's refusals come with Nova's 400s (the schema,
//! `from_api`, the boot sequence, the flavor's swap and ephemeral limits, a
//! volume or snapshot Cinder would have to find); what this cloud cannot
//! build (a new volume, a blank local disk) is a 400 naming why, and no
//! refused request leaves a server behind. A server's volume attachments:
//! none listed, none to attach, swap or detach (404, no Cinder). The same
//! servers under `os-volumes_boot`.

#![allow(clippy::unwrap_used)]

use nova_e2e::Cloud;
use reqwest::Method;
use serde_json::{json, Value};

fn message(b: &Value) -> String {
    b["badRequest"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn block_device_mappings_boot_the_image_or_are_refused_with_novas_400s() {
    let cloud = Cloud::start().await;
    let image = cloud.image_id.clone();
    let root = json!({"uuid": image, "boot_index": "0", "source_type": "image",
                      "destination_type": "local", "delete_on_termination": true});
    let create = |server: Value| {
        let cloud = &cloud;
        async move {
            let mut body = json!({"name": "bdm", "flavorRef": "1"});
            for (k, v) in server.as_object().unwrap() {
                body[k] = v.clone();
            }
            cloud
                .req(
                    Method::POST,
                    "/servers",
                    &cloud.demo,
                    Some(json!({"server": body})),
                )
                .await
        }
    };

    // Refused, each with Nova's message.
    let volume = "0f8d2bd2-0000-4000-8000-000000000001";
    let cases = [
        (
            json!({"block_device_mapping_v2": [{"uuid": volume, "boot_index": 0,
                   "source_type": "volume", "destination_type": "volume"}]}),
            format!("Block Device Mapping is Invalid: failed to get volume {volume}."),
        ),
        (
            json!({"block_device_mapping_v2": [{"uuid": volume, "boot_index": 0,
                   "source_type": "snapshot", "destination_type": "volume"}]}),
            format!("Block Device Mapping is Invalid: failed to get snapshot {volume}."),
        ),
        (
            json!({"imageRef": image, "block_device_mapping": [{"device_name": "vdb", "volume_id": volume}]}),
            format!("Block Device Mapping is Invalid: failed to get volume {volume}."),
        ),
        (
            json!({"imageRef": image, "block_device_mapping_v2": [root.clone(),
                   {"source_type": "blank", "destination_type": "local", "guest_format": "swap",
                    "volume_size": 512, "boot_index": -1}]}),
            "Swap drive requested is larger than instance type allows.".to_string(),
        ),
        (
            json!({"imageRef": image, "block_device_mapping_v2": [root.clone(),
                   {"source_type": "blank", "destination_type": "local", "volume_size": 1,
                    "boot_index": -1}]}),
            "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block device mapping, flavor ephemeral size will be used.".to_string(),
        ),
        (
            json!({"block_device_mapping_v2": [{"uuid": image, "boot_index": 1,
                   "source_type": "image", "destination_type": "volume", "volume_size": 1}]}),
            "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping combination is not valid.".to_string(),
        ),
        (
            json!({"block_device_mapping_v2": [{"uuid": image, "boot_index": 0,
                   "source_type": "image", "destination_type": "volume", "volume_size": 1}]}),
            "Block Device Mapping is Invalid: a volume cannot be created: this cloud has no Block Storage service (Cinder).".to_string(),
        ),
        (
            json!({"imageRef": image, "block_device_mapping_v2": [{"uuid": image, "boot_index": 1,
                   "source_type": "image", "destination_type": "local"}]}),
            "Block Device Mapping is Invalid: Mapping image to local is not supported.".to_string(),
        ),
        (
            json!({"imageRef": image, "block_device_mapping_v2": [root.clone()],
                   "block_device_mapping": [{"volume_id": volume}]}),
            "Using different block_device_mapping syntaxes is not allowed in the same request."
                .to_string(),
        ),
    ];
    for (body, want) in cases {
        let (s, b) = create(body.clone()).await;
        assert_eq!(s, 400, "{body}: {b}");
        assert_eq!(message(&b), want, "{body}: {b}");
    }
    for (body, field) in [
        (
            json!({"imageRef": image, "block_device_mapping_v2": [{"source_type": "disk"}]}),
            "source_type",
        ),
        (
            json!({"imageRef": image, "block_device_mapping_v2": [{"boot_index": "first"}]}),
            "boot_index",
        ),
        (
            json!({"imageRef": image, "block_device_mapping_v2": "vda"}),
            "block_device_mapping_v2",
        ),
    ] {
        let (s, b) = create(body.clone()).await;
        assert_eq!(s, 400, "{body}: {b}");
        assert!(
            message(&b).starts_with(&format!("Invalid input for field/attribute {field}.")),
            "{body}: {b}"
        );
    }
    // A flavor with swap and ephemeral: within its sizes the blank disks
    // pass Nova's checks and are refused for what this cloud cannot build.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(
                json!({"flavor": {"name": "disks", "ram": 64, "vcpus": 1, "disk": 1,
                        "swap": 512, "OS-FLV-EXT-DATA:ephemeral": 1, "id": "disks"}}),
            ),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = create(json!({"imageRef": image, "flavorRef": "disks",
        "block_device_mapping_v2": [root.clone(), {"source_type": "blank", "destination_type": "local",
        "guest_format": "swap", "volume_size": 256, "boot_index": -1}]}))
    .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        message(&b),
        "Block Device Mapping is Invalid: swap of 256 MiB was requested: this cloud's compute driver makes the flavor's own ephemeral disk (1 GiB) and swap (512 MiB) and no other blank local disk.",
        "{b}"
    );
    // The legacy mapping's forms, as Nova's from_legacy reads them.
    for (legacy, why) in [
        (json!({"device_name": "vdb"}), "Block Device Mapping is Invalid: Unrecognized legacy format."),
        (json!({"volume_id": volume, "device_name": "/dev/vda"}),
         "The volume cannot be assigned the same device name as the root device vda"),
        (json!({"virtual_name": "ephemeral0", "volume_size": 2}),
         "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block device mapping, flavor ephemeral size will be used."),
    ] {
        let (s, b) = create(json!({"imageRef": image, "flavorRef": "disks",
            "block_device_mapping": [legacy.clone()]})).await;
        assert_eq!((s, message(&b)), (400, why.to_string()), "{legacy}: {b}");
    }
    // The CLI shows Nova's message.
    let (ok, _, err) = cloud.openstack(
        "demo",
        &[
            "server", "create", "--image", &image, "--flavor", "m1.tiny", "--swap", "1024", "cli",
        ],
    );
    assert!(
        !ok && err.contains("Swap drive requested is larger than instance type allows."),
        "{err}"
    );
    // Nothing was created by any of them.
    let (s, b) = cloud.req(Method::GET, "/servers", &cloud.demo, None).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["servers"], json!([]), "{b}");

    // The image's root disk as a mapping boots, with imageRef and without.
    let (s, b) =
        create(json!({"imageRef": image, "block_device_mapping_v2": [root.clone()]})).await;
    assert_eq!(s, 202, "{b}");
    let with_ref = b["server"]["id"].as_str().unwrap().to_string();
    let (s, b) =
        create(json!({"block_device_mapping_v2": [root.clone(), {"no_device": true}]})).await;
    assert_eq!(s, 202, "{b}");
    let without = b["server"]["id"].as_str().unwrap().to_string();
    // The flavor's own disks asked for by name: the legacy ephemeral0, and
    // the CLI's --ephemeral and --swap at the flavor's sizes.
    let (s, b) = create(json!({"imageRef": image, "flavorRef": "disks",
        "block_device_mapping": [{"virtual_name": "ephemeral0", "device_name": "/dev/vdb"}]}))
    .await;
    assert_eq!(s, 202, "{b}");
    let legacy = b["server"]["id"].as_str().unwrap().to_string();
    let out = cloud.osc(
        "demo",
        &[
            "server",
            "create",
            "--image",
            &image,
            "--flavor",
            "disks",
            "--ephemeral",
            "size=1",
            "--swap",
            "512",
            "-f",
            "value",
            "-c",
            "id",
            "own-disks",
        ],
    );
    let cli = out.trim().to_string();
    for id in [&with_ref, &without, &legacy, &cli] {
        let srv = cloud
            .wait_for("the server to be ACTIVE", 120, || async {
                let (_, b) = cloud
                    .req(Method::GET, &format!("/servers/{id}"), &cloud.demo, None)
                    .await;
                (b["server"]["status"] == "ACTIVE").then(|| b["server"].clone())
            })
            .await;
        assert_eq!(srv["image"]["id"], image.as_str(), "{srv}");
    }
    // os-volumes_boot: the same servers and the same refusals.
    let (s, b) = cloud
        .req(Method::GET, "/os-volumes_boot/detail", &cloud.demo, None)
        .await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(b["servers"].as_array().map(Vec::len), Some(4), "{b}");
    let (s, b) = cloud
        .req(
            Method::GET,
            &format!("/os-volumes_boot/{legacy}"),
            &cloud.demo,
            None,
        )
        .await;
    assert_eq!(
        (s, &b["server"]["flavor"]["id"]),
        (200, &json!("disks")),
        "{b}"
    );
    let (s, b) = cloud
        .req(
            Method::POST,
            "/os-volumes_boot",
            &cloud.demo,
            Some(json!({"server": {"name": "bfv", "flavorRef": "1",
                "block_device_mapping_v2": [{"uuid": volume, "boot_index": 0,
                "source_type": "volume", "destination_type": "volume"}]}})),
        )
        .await;
    assert_eq!(s, 400, "{b}");
    assert_eq!(
        message(&b),
        format!("Block Device Mapping is Invalid: failed to get volume {volume}.")
    );
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/os-volumes_boot/{cli}/action"),
            &cloud.demo,
            Some(json!({"os-stop": null})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    // Gone at 2.103, as Nova's.
    for (mv, code) in [("2.102", 200), ("2.103", 404)] {
        let (s, b) = nova_e2e::call(
            &cloud,
            Method::GET,
            "/os-volumes_boot",
            &cloud.demo,
            mv,
            None,
        )
        .await;
        assert_eq!(s, code, "{mv}: {b}");
    }

    // Volume attachments: none to list; attaching, swapping or detaching a
    // volume finds none (there is no Cinder); a wrong body is a 400 first.
    let base = format!("/servers/{with_ref}/os-volume_attachments");
    let vol_path = format!("{base}/{volume}");
    let (s, b) = cloud.req(Method::GET, &base, &cloud.demo, None).await;
    assert_eq!(
        (s, b.clone()),
        (200, json!({"volumeAttachments": []})),
        "{b}"
    );
    let out = cloud.osc("demo", &["server", "volume", "list", &with_ref]);
    assert!(!out.contains(volume), "{out}");
    let (s, b) = cloud.req(Method::GET, &vol_path, &cloud.demo, None).await;
    assert_eq!(s, 404, "{b}");
    assert_eq!(
        b["itemNotFound"]["message"],
        format!("Instance {with_ref} is not attached to volume {volume}"),
        "{b}"
    );
    let gone = format!("Volume {volume} could not be found.");
    let attach = json!({"volumeAttachment": {"volumeId": volume, "device": "/dev/vdb"}});
    for (method, path, token, body) in [
        (Method::POST, &base, &cloud.demo, Some(attach.clone())),
        (
            Method::PUT,
            &vol_path,
            &cloud.admin,
            Some(json!({"volumeAttachment": {"volumeId": volume}})),
        ),
        (Method::DELETE, &vol_path, &cloud.demo, None),
    ] {
        let (s, b) = cloud.req(method.clone(), path, token, body).await;
        assert_eq!(s, 404, "{method} {path}: {b}");
        assert_eq!(b["itemNotFound"]["message"], gone.as_str(), "{b}");
    }
    let (s, b) = cloud
        .req(
            Method::PUT,
            &vol_path,
            &cloud.demo,
            Some(json!({"volumeAttachment": {"volumeId": volume}})),
        )
        .await;
    assert_eq!(s, 403, "swapping a volume is the admin's: {b}");
    for bad in [
        json!({"volumeAttachment": {"volumeId": "nope"}}),
        json!({"volumeAttachment": {"volumeId": volume, "device": "vdb"}}),
        json!({"volumeAttachment": {"volumeId": volume, "tag": "t"}}),
        json!({"volume": {"volumeId": volume}}),
    ] {
        let (s, b) = cloud
            .req(Method::POST, &base, &cloud.demo, Some(bad.clone()))
            .await;
        assert_eq!(s, 400, "{bad}: {b}");
    }
    let (s, b) = nova_e2e::call(
        &cloud,
        Method::POST,
        &base,
        &cloud.demo,
        "2.49",
        Some(json!({"volumeAttachment": {"volumeId": volume, "tag": "t"}})),
    )
    .await;
    assert_eq!(s, 404, "a tag from 2.49: {b}");
    let (s, b) = nova_e2e::call(
        &cloud,
        Method::GET,
        &format!("{base}?foo=1"),
        &cloud.demo,
        "2.75",
        None,
    )
    .await;
    assert_eq!(s, 400, "{b}");
    let (s, b) = cloud
        .req(
            Method::GET,
            &format!("/servers/{volume}/os-volume_attachments"),
            &cloud.demo,
            None,
        )
        .await;
    assert_eq!(s, 404, "an unknown server: {b}");
}
