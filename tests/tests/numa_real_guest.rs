//! CPU pinning of real guests: QEMU under TCG through libvirt's
//! qemu:///system, on a compute host whose CPU 0 is shared and CPU 1
//! dedicated (`[compute] cpu_shared_set = 0`, `cpu_dedicated_set = 1`).
//! A guest of a `hw:cpu_policy=dedicated` flavor boots with its vCPU and
//! emulator threads pinned to CPU 1 (libvirt's domain and the running
//! QEMU's affinity say so) and one guest NUMA cell on host cell 0; an
//! unpinned guest floats over the shared CPU only; a second pinned guest
//! finds no dedicated CPU left and ends in ERROR.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::console_output as console;
use nova_e2e::{start_real_guest_cloud, Cloud};
use reqwest::Method;
use serde_json::{json, Value};

fn virsh(args: &[&str]) -> String {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg("qemu:///system")
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

async fn boot(cloud: &Cloud, name: &str, image: &str, flavor: &str) -> String {
    let (s, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": name, "imageRef": image, "flavorRef": flavor}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    b["server"]["id"].as_str().unwrap().to_string()
}

async fn settled(cloud: &Cloud, id: &str) -> Value {
    cloud
        .wait_for(&format!("{id} to settle"), 180, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            let srv = b["server"].clone();
            (srv["status"] != "BUILD" && srv["OS-EXT-STS:task_state"].is_null()).then_some(srv)
        })
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_guest_runs_on_its_dedicated_cpu() {
    let (cloud, guest) = start_real_guest_cloud(
        false,
        "[compute]\ncpu_shared_set = 0\ncpu_dedicated_set = 1\n",
    )
    .await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors",
            &cloud.admin,
            Some(json!({"flavor": {"name": "pinned", "id": "pinned", "ram": 128, "vcpus": 1, "disk": 1}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");
    let (s, b) = cloud
        .req(
            Method::POST,
            "/flavors/pinned/os-extra_specs",
            &cloud.admin,
            Some(json!({"extra_specs": {"hw:cpu_policy": "dedicated"}})),
        )
        .await;
    assert_eq!(s, 200, "{b}");

    let pinned = boot(&cloud, "pinned-1", &image, "pinned").await;
    let srv = settled(&cloud, &pinned).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    let name = srv["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    let xml = virsh(&["dumpxml", &name]);
    assert!(xml.contains("<vcpupin vcpu='0' cpuset='1'/>"), "{xml}");
    assert!(xml.contains("<emulatorpin cpuset='1'/>"), "{xml}");
    assert!(
        xml.contains("<memnode cellid='0' mode='strict' nodeset='0'/>"),
        "{xml}"
    );
    assert!(
        xml.contains("<cell id='0' cpus='0' memory='131072' unit='KiB'/>"),
        "{xml}"
    );
    // The running QEMU's vCPU thread is held to CPU 1.
    let affinity = virsh(&["vcpupin", &name, "--live"]);
    assert!(
        affinity.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 2 && f[0] == "0" && f[1] == "1"
        }),
        "{affinity}"
    );
    cloud
        .wait_for("the pinned guest to boot", 180, || async {
            console(&cloud, &pinned)
                .await
                .contains("GUEST-INIT")
                .then_some(())
        })
        .await;

    // An unpinned guest stays off the dedicated CPU.
    let floating = boot(&cloud, "floating", &image, "guest").await;
    let srv = settled(&cloud, &floating).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    let name = srv["OS-EXT-SRV-ATTR:instance_name"]
        .as_str()
        .unwrap()
        .to_string();
    let xml = virsh(&["dumpxml", &name]);
    assert!(
        xml.contains("<vcpu placement='static' cpuset='0'>1</vcpu>"),
        "{xml}"
    );
    assert!(!xml.contains("<vcpupin"), "{xml}");

    // No dedicated CPU is left for a second pinned guest.
    let second = boot(&cloud, "pinned-2", &image, "pinned").await;
    let srv = settled(&cloud, &second).await;
    assert_eq!(srv["status"], "ERROR", "{srv}");
    assert!(
        srv["fault"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("No valid host"),
        "{srv}"
    );
    for id in [&pinned, &floating, &second] {
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
}
