//! CPU pinning of real guests: QEMU under TCG through libvirt's
//! qemu:///system, on a compute host whose CPU 0 is shared and CPU 1
//! dedicated (`[compute] cpu_shared_set = 0`, `cpu_dedicated_set = 1`).
//! A guest of a `hw:cpu_policy=dedicated` flavor boots with its vCPU and
//! emulator threads pinned to CPU 1 (libvirt's domain and the running
//! QEMU's affinity say so) and one guest NUMA cell on host cell 0; an
//! unpinned guest floats over the shared CPU only; a second pinned guest
//! finds no dedicated CPU left and ends in ERROR. Between two hypervisors
//! (the second libvirtd of `tests/second-libvirt.sh`) whose dedicated CPUs
//! differ, a pinned guest live-migrates onto the destination's dedicated
//! CPU (Nova's NUMA-aware live migration) and keeps running.

#![allow(clippy::unwrap_used)]

use nova_e2e::guest_marks::console_output as console;
use nova_e2e::{
    start_real_guest_cloud, start_two_hypervisor_cloud_with, Cloud, SECOND_LIBVIRT_URI,
};
use reqwest::Method;
use serde_json::{json, Value};

/// The two tests take turns: libvirt's nwfilter writes each guest's
/// ebtables rules with `ebtables --concurrent` on nf_tables, which fails
/// ("RULE_DELETE failed ... rule in chain J-vnetN-ipv4") when another
/// guest's rules change at the same moment; a live migration's destination
/// hit that while the other test booted its guests (CI, 2026-12-07), and
/// the migration rolled back.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn virsh(args: &[&str]) -> String {
    virsh_on("qemu:///system", args)
}

fn virsh_on(uri: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("virsh")
        .arg("-c")
        .arg(uri)
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// The running QEMU's vCPU 0 of `domain` is held to host CPU `cpu` alone
/// (`virsh vcpupin --live`).
fn assert_vcpu0_runs_on(uri: &str, domain: &str, cpu: &str) {
    let affinity = virsh_on(uri, &["vcpupin", domain, "--live"]);
    assert!(
        affinity.lines().any(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.len() == 2 && f[0] == "0" && f[1] == cpu
        }),
        "{affinity}"
    );
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

/// The flavor `pinned`: the tiny guest with its vCPU on a dedicated CPU.
async fn create_pinned_flavor(cloud: &Cloud) {
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
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_guest_live_migrates_onto_the_destinations_dedicated_cpu() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (cloud, guest) = start_two_hypervisor_cloud_with(
        false,
        "",
        [
            "[compute]\ncpu_shared_set = 0\ncpu_dedicated_set = 1\n",
            "[compute]\ncpu_shared_set = 1\ncpu_dedicated_set = 0\n",
        ],
    )
    .await;
    let image = cloud.upload_tiny_disk(&guest).await;
    create_pinned_flavor(&cloud).await;
    let first = format!("qemu-{}", cloud.id);
    // Each host's libvirt and the CPU a pinned guest gets there.
    let on = |host: &str| {
        if host == first {
            ("qemu:///system", "1")
        } else {
            (SECOND_LIBVIRT_URI, "0")
        }
    };
    let id = boot(&cloud, "pinned-lm", &image, "pinned").await;
    let srv = settled(&cloud, &id).await;
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    let source = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    let (uri, cpu) = on(&source);
    let xml = virsh_on(uri, &["dumpxml", &id]);
    assert!(
        xml.contains(&format!("<vcpupin vcpu='0' cpuset='{cpu}'/>")),
        "{xml}"
    );
    cloud
        .wait_for("the pinned guest to boot", 180, || async {
            console(&cloud, &id)
                .await
                .contains("GUEST-INIT")
                .then_some(())
        })
        .await;

    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-migrateLive": {"host": null, "block_migration": true, "disk_over_commit": false}})),
        )
        .await;
    assert_eq!(s, 202, "{b}");
    let srv = cloud
        .wait_for("the live migration to end", 240, || async {
            let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
            let srv = b["server"].clone();
            (srv["OS-EXT-STS:task_state"].is_null() && srv["status"] != "MIGRATING").then_some(srv)
        })
        .await;
    let dest = srv["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string();
    assert_eq!(srv["status"], "ACTIVE", "{srv}");
    assert_ne!(dest, source, "{srv}");
    let (uri, cpu) = on(&dest);
    let xml = virsh_on(uri, &["dumpxml", &id]);
    assert!(
        xml.contains(&format!("<vcpupin vcpu='0' cpuset='{cpu}'/>"))
            && xml.contains(&format!("<emulatorpin cpuset='{cpu}'/>")),
        "pinned to the destination's dedicated CPU: {xml}"
    );
    assert_eq!(virsh_on(uri, &["domstate", &id]).trim(), "running");
    assert_vcpu0_runs_on(uri, &id, cpu);
    // The source keeps no definition of it.
    let left = virsh_on(on(&source).0, &["list", "--all", "--uuid"]);
    assert!(!left.contains(&id), "still on {source}'s libvirt: {left}");
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pinned_guest_runs_on_its_dedicated_cpu() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let (cloud, guest) = start_real_guest_cloud(
        false,
        "[compute]\ncpu_shared_set = 0\ncpu_dedicated_set = 1\n",
    )
    .await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    create_pinned_flavor(&cloud).await;

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
    assert_vcpu0_runs_on("qemu:///system", &name, "1");
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
