//! Real guests: QEMU under TCG through libvirt's qemu:///system, booted from
//! Glance images of the project's tiny busybox guest (deploy/lib/guest-image.sh),
//! as a qcow2 disk and as AKI/ARI/AMI, and from a snapshot of a guest; each
//! gets its lease and reads its own metadata; an NMI (trigger_crash_dump)
//! reaches a guest's kernel.
//! At most two guests run at once.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::console_output as console;
use nova_e2e::{fixed_prefix, start_real_guest_cloud, upload_file, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

async fn wait_marker(cloud: &Cloud, id: &str, marker: &str, count: usize) -> String {
    cloud
        .wait_for(
            &format!("{marker} x{count} on {id}'s console"),
            120,
            || async {
                let out = console(cloud, id).await;
                (out.matches(marker).count() >= count).then_some(out)
            },
        )
        .await
}

async fn wait_status(cloud: &Cloud, id: &str, want: &str) -> Value {
    cloud
        .wait_for(&format!("{id} {want}"), 120, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            let srv = b["server"].clone();
            assert_ne!(srv["status"], "ERROR", "{srv}");
            (srv["status"] == want && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

async fn act(cloud: &Cloud, id: &str, body: Value) {
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(body.clone()),
        )
        .await;
    assert_eq!(s, 202, "{body}: {b}");
}

fn virsh(args: &[&str]) -> String {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg("qemu:///system")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_guests_boot_reboot_stop_and_delete() {
    let (mut cloud, guest) = start_real_guest_cloud(true, "sync_power_state_interval = 2\nshutdown_timeout = 15\n[libvirt]\nwait_soft_reboot_seconds = 30\n").await;
    let read = |f: &str| std::fs::read(guest.join(f)).unwrap();
    let g = &cloud.glance;
    let disk = upload_file(&cloud.http, g, &cloud.admin, json!({"name": "tiny-disk", "disk_format": "qcow2", "container_format": "bare", "visibility": "public"}), read("disk.qcow2")).await;
    let aki = upload_file(&cloud.http, g, &cloud.admin, json!({"name": "tiny-aki", "disk_format": "aki", "container_format": "aki", "visibility": "public"}), read("vmlinuz")).await;
    let ari = upload_file(&cloud.http, g, &cloud.admin, json!({"name": "tiny-ari", "disk_format": "ari", "container_format": "ari", "visibility": "public"}), read("initrd.gz")).await;
    let ami = upload_file(&cloud.http, g, &cloud.admin, json!({"name": "tiny-ami", "disk_format": "ami", "container_format": "ami", "visibility": "public", "kernel_id": aki, "ramdisk_id": ari}), vec![0u8; 1 << 20]).await;
    let (s, b) = cloud
        .req(Method::POST, "/flavors", &cloud.admin, Some(json!({"flavor": {"name": "guest", "id": "guest", "ram": 128, "vcpus": 1, "disk": 1}})))
        .await;
    assert_eq!(s, 200, "{b}");
    // The second guest's flavor has an ephemeral disk and swap.
    let (s, b) = cloud
        .req(Method::POST, "/flavors", &cloud.admin, Some(json!({"flavor": {"name": "guest-disks", "id": "guest-disks", "ram": 128, "vcpus": 1, "disk": 1, "OS-FLV-EXT-DATA:ephemeral": 1, "swap": 16}})))
        .await;
    assert_eq!(s, 200, "{b}");

    let mut ids = vec![];
    // The first guest gets a config drive with a personality file, and its
    // NIC a device tag (2.42).
    let motd = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        "hello from personality\n",
    );
    let (_, nets) = cloud.get("/os-networks", &cloud.admin).await;
    let private = nets["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["label"] == "private")
        .unwrap()["id"]
        .clone();
    for (name, image, extra) in [
        (
            "disk-guest",
            &disk,
            json!({"config_drive": true, "personality": [{"path": "/etc/motd", "contents": motd}],
                "networks": [{"uuid": private, "tag": "nic-one"}]}),
        ),
        (
            "ami-guest",
            &ami,
            json!({"networks": "auto", "flavorRef": "guest-disks"}),
        ),
    ] {
        let mut server = json!({"name": name, "imageRef": image, "flavorRef": "guest"});
        server
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (s, b) = nova_e2e::call(
            &cloud,
            Method::POST,
            "/servers",
            &cloud.admin,
            "2.42",
            Some(json!({ "server": server })),
        )
        .await;
        assert_eq!(s, 202, "{b}");
        ids.push(b["server"]["id"].as_str().unwrap().to_string());
    }
    for id in &ids {
        wait_status(&cloud, id, "ACTIVE").await;
        wait_marker(&cloud, id, "GUEST-INIT", 1).await;
    }
    // nova-network's dnsmasq leases each guest the address the API shows,
    // with the network's gateway as its router.
    for id in &ids {
        let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
        let addr = b["server"]["addresses"]["private"][0]["addr"]
            .as_str()
            .unwrap()
            .to_string();
        let gateway = format!("{}1", fixed_prefix(&cloud.id));
        wait_marker(
            &cloud,
            id,
            &format!("GUEST-LEASE ip={addr}/24 router={gateway}"),
            1,
        )
        .await;
    }
    // Each guest reads its own metadata from 169.254.169.254 (forwarded by
    // nova-network's rule on this cloud's bridge to its metadata service,
    // which finds the guest by its fixed IP).
    for (id, name) in ids.iter().zip(["disk-guest", "ami-guest"]) {
        let out = cloud
            .wait_for(
                &format!("GUEST-METADATA on {id}'s console"),
                120,
                || async {
                    let out = console(&cloud, id).await;
                    // The whole line: the console may be read mid-write.
                    let done = out
                        .find("GUEST-METADATA")
                        .is_some_and(|at| out[at..].contains('\n'));
                    done.then_some(out)
                },
            )
            .await;
        assert!(
            out.contains(&format!(
                "GUEST-METADATA uuid={id} hostname={name}.novalocal"
            )),
            "{out}\nmetadata log: {}",
            nova_e2e::tail(&cloud.log("nova-api"), 20)
        );
    }
    // The config drive: the guest mounts it, finds its own uuid there and
    // writes the personality file where the request put it.
    let out = wait_marker(&cloud, &ids[0], "GUEST-PERSONALITY", 1).await;
    assert!(
        out.contains(&format!("GUEST-CONFIGDRIVE uuid={}", ids[0])),
        "{out}"
    );
    assert!(
        out.contains("GUEST-PERSONALITY path=/etc/motd content=hello from personality"),
        "{out}"
    );
    assert!(!console(&cloud, &ids[1]).await.contains("GUEST-CONFIGDRIVE"));
    // Device role tagging: the tagged NIC is named, at the PCI address the
    // guest sees it at, in the config drive and by the metadata service;
    // the untagged guest's metadata names no device.
    let out = wait_marker(&cloud, &ids[0], "tags=nic-one", 1).await;
    let nic = out
        .lines()
        .find_map(|l| l.trim().strip_prefix("GUEST-NIC name=eth0 "))
        .unwrap_or_else(|| panic!("no GUEST-NIC line:\n{out}"))
        .to_string();
    let field = |k: &str| {
        nic.split_whitespace()
            .find_map(|f| f.strip_prefix(k))
            .unwrap()
            .to_string()
    };
    let (mac, pci) = (field("mac="), field("pci="));
    assert!(pci.starts_with("0000:"), "{nic}");
    assert!(
        out.contains(&format!(
            "GUEST-CONFIGDRIVE-NIC address={pci} mac={mac} tags=nic-one"
        )),
        "{out}"
    );
    for (id, devices) in [
        (
            &ids[0],
            json!([{"type": "nic", "bus": "pci", "address": pci, "mac": mac,
                "tags": ["nic-one"], "vf_trusted": false}]),
        ),
        (&ids[1], json!([])),
    ] {
        let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
        let ip = b["server"]["addresses"]["private"][0]["addr"]
            .as_str()
            .unwrap()
            .to_string();
        let md = cloud.guest_meta_data(&ip).await;
        assert_eq!(md["devices"], devices, "{md}");
    }
    // The flavor's ephemeral disk (vfat, labelled ephemeral0, 1 GiB) and
    // swap (16 MiB) are the second guest's vdb and vdc, as the EC2
    // metadata's block-device-mapping says; the first guest has neither.
    let out = wait_marker(&cloud, &ids[1], "GUEST-INIT", 1).await;
    let disks: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("GUEST-DISK "))
        .collect();
    assert_eq!(
        disks,
        [
            "name=vdb bytes=1073741824 sig=ephemeral0",
            "name=vdc bytes=16777216 sig=SWAPSPACE2"
        ],
        "{out}"
    );
    assert!(!console(&cloud, &ids[0]).await.contains("GUEST-DISK"));
    // Diagnostics: the guest's one vCPU has run (its QEMU thread's time),
    // in 2.48's format and before it.
    let path = format!("/servers/{}/diagnostics", ids[1]);
    let (s, d) = nova_e2e::call(&cloud, Method::GET, &path, &cloud.admin, "2.48", None).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["num_cpus"], 1, "{d}");
    assert_eq!(d["cpu_details"][0]["id"], 0, "{d}");
    assert!(d["cpu_details"][0]["time"].as_i64().unwrap() > 0, "{d}");
    assert_eq!(d["cpu_details"][0]["utilisation"], Value::Null, "{d}");
    let (s, d) = nova_e2e::call(&cloud, Method::GET, &path, &cloud.admin, "2.1", None).await;
    assert_eq!(s, 200, "{d}");
    assert!(d["cpu0_time"].as_i64().unwrap() > 0, "{d}");
    assert_eq!(d["cpu1_time"], Value::Null, "{d}");
    let (_, b) = cloud
        .get(&format!("/servers/{}", ids[1]), &cloud.admin)
        .await;
    let ip = b["server"]["addresses"]["private"][0]["addr"]
        .as_str()
        .unwrap()
        .to_string();
    for (path, want) in [
        ("", "ami\nephemeral0\nroot\nswap"),
        ("/ephemeral0", "/dev/vdb"),
        ("/swap", "/dev/vdc"),
        ("/root", "/dev/vda"),
    ] {
        let got = cloud
            .http
            .get(format!(
                "{}/latest/meta-data/block-device-mapping{path}",
                cloud.metadata
            ))
            .header("X-Forwarded-For", &ip)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(got, want, "block-device-mapping{path}");
    }
    let (_, b) = cloud
        .get(&format!("/servers/{}", ids[0]), &cloud.admin)
        .await;
    assert_eq!(b["server"]["config_drive"], "True", "{b}");
    let name = b["server"]["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(virsh(&["domstate", &name]).contains("running"));

    // Soft and hard reboot: the guest boots again.
    let first = ids[0].clone();
    let id = &first;
    act(&cloud, id, json!({"reboot": {"type": "SOFT"}})).await;
    wait_status(&cloud, id, "ACTIVE").await;
    wait_marker(&cloud, id, "GUEST-INIT", 2).await;
    act(&cloud, id, json!({"reboot": {"type": "HARD"}})).await;
    wait_status(&cloud, id, "ACTIVE").await;
    wait_marker(&cloud, id, "GUEST-INIT", 3).await;
    // Stop (clean ACPI shutdown) and start.
    act(&cloud, id, json!({"os-stop": null})).await;
    let srv = wait_status(&cloud, id, "SHUTOFF").await;
    assert_eq!(srv["OS-EXT-STS:power_state"], 4);
    assert!(console(&cloud, id).await.contains("GUEST-POWEROFF"));
    act(&cloud, id, json!({"os-start": null})).await;
    wait_status(&cloud, id, "ACTIVE").await;
    wait_marker(&cloud, id, "GUEST-INIT", 4).await;
    // Pause/unpause and suspend/resume change the libvirt state.
    act(&cloud, id, json!({"pause": null})).await;
    wait_status(&cloud, id, "PAUSED").await;
    assert!(virsh(&["domstate", &name]).contains("paused"));
    act(&cloud, id, json!({"unpause": null})).await;
    wait_status(&cloud, id, "ACTIVE").await;
    act(&cloud, id, json!({"suspend": null})).await;
    wait_status(&cloud, id, "SUSPENDED").await;
    assert!(virsh(&["domstate", &name]).contains("shut off"));
    act(&cloud, id, json!({"resume": null})).await;
    wait_status(&cloud, id, "ACTIVE").await;
    assert!(virsh(&["domstate", &name]).contains("running"));
    // trigger_crash_dump (2.17): the NMI reaches the guest's kernel, which
    // has no crash kernel loaded here, so it logs the NMI and carries on.
    assert!(!console(&cloud, id).await.contains("NMI received"));
    let (s, b) = nova_e2e::call(
        &cloud,
        Method::POST,
        &format!("/servers/{id}/action"),
        &cloud.admin,
        "2.17",
        Some(json!({"trigger_crash_dump": null})),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    wait_marker(&cloud, id, "NMI received", 1).await;
    wait_status(&cloud, id, "ACTIVE").await;
    assert!(virsh(&["domstate", &name]).contains("running"));

    // The AMI guest goes; then a snapshot of the disk guest is uploaded to Glance and boots.
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{}", ids[1]),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    let r = cloud
        .http
        .post(format!("{}/servers/{id}/action", cloud.api))
        .header("X-Auth-Token", &cloud.admin)
        .json(&json!({"createImage": {"name": "snap", "metadata": {"purpose": "test"}}}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 202);
    let snap = r.headers()["location"]
        .to_str()
        .unwrap()
        .rsplit('/')
        .next()
        .unwrap()
        .to_string();
    wait_status(&cloud, id, "ACTIVE").await;
    let img: Value = cloud
        .http
        .get(format!("{}/v2/images/{snap}", cloud.glance))
        .header("X-Auth-Token", &cloud.admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(img["status"], "active", "{img}");
    assert_eq!(img["image_type"], "snapshot");
    assert_eq!(img["purpose"], "test");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "from-snap", "imageRef": snap, "flavorRef": "guest"}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let from_snap = b["server"]["id"].as_str().unwrap().to_string();
    wait_status(&cloud, &from_snap, "ACTIVE").await;
    wait_marker(&cloud, &from_snap, "GUEST-INIT", 1).await;
    ids.push(from_snap);

    // nova-compute killed in the middle of a boot and restarted: the instance ends ACTIVE or ERROR.
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(
                json!({"server": {"name": "interrupted", "imageRef": disk, "flavorRef": "guest"}}),
            ),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let interrupted = b["server"]["id"].as_str().unwrap().to_string();
    cloud
        .wait_for("the build to reach the compute host", 60, || async {
            let (_, b) = cloud
                .get(&format!("/servers/{interrupted}"), &cloud.admin)
                .await;
            let t = b["server"]["OS-EXT-STS:task_state"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            (t == "networking"
                || t == "block_device_mapping"
                || t == "spawning"
                || b["server"]["status"] == "ACTIVE")
                .then_some(())
        })
        .await;
    let compute = cloud
        .daemons
        .iter()
        .find(|d| d.name.starts_with("nova-compute@"))
        .unwrap()
        .name
        .clone();
    cloud.restart(&compute);
    let settled = cloud
        .wait_for("the interrupted build to settle", 120, || async {
            let (_, b) = cloud
                .get(&format!("/servers/{interrupted}"), &cloud.admin)
                .await;
            let st = b["server"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            ((st == "ACTIVE" || st == "ERROR") && b["server"]["OS-EXT-STS:task_state"].is_null())
                .then_some(st)
        })
        .await;
    assert!(settled == "ACTIVE" || settled == "ERROR");
    let (s, _) = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{interrupted}"),
            &cloud.admin,
            None,
        )
        .await;
    assert_eq!(s, 204);
    cloud
        .wait_for("the interrupted instance gone", 60, || async {
            (cloud
                .get(&format!("/servers/{interrupted}"), &cloud.admin)
                .await
                .0
                == 404)
                .then_some(())
        })
        .await;
    assert!(!virsh(&["list", "--all", "--uuid"]).contains(interrupted.as_str()));

    // The guest powers itself off (ACPI from outside nova): SHUTOFF within the sync interval.
    virsh(&["shutdown", &name]);
    wait_status(&cloud, id, "SHUTOFF").await;

    // Delete leaves no domain and no files.
    for id in [&ids[0], &ids[2]] {
        let (s, _) = cloud
            .req(
                Method::DELETE,
                &format!("/servers/{id}"),
                &cloud.admin,
                None,
            )
            .await;
        assert_eq!(s, 204);
    }
    for id in &ids {
        cloud
            .wait_for(&format!("{id} gone"), 60, || async {
                let (s, _) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
                (s == 404).then_some(())
            })
            .await;
        assert!(
            !virsh(&["list", "--all", "--uuid"]).contains(id.as_str()),
            "domain {id} left behind"
        );
        assert!(
            !cloud.dir.join("state/instances").join(id).exists(),
            "files of {id} left behind"
        );
    }
}
