//! Benchmark (not a test): POST /servers → the tiny guest's GUEST-INIT
//! marker on its console, next to a raw `virsh create` of the same domain
//! XML reaching the same marker. The difference is this project's overhead.
//! Run through `bench/run.sh`.

#![allow(clippy::unwrap_used)]

use nova_e2e::start_real_guest_cloud;
use reqwest::Method;
use serde_json::json;
use std::time::{Duration, Instant};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (cloud, guest) = start_real_guest_cloud(false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let instances = cloud.dir.join("state/instances");
    let mut nova_times = vec![];
    let mut raw_times = vec![];
    for n in 0..3 {
        // Through nova-rs (the first run also fills the image cache; it is reported too).
        let t = Instant::now();
        let (_, b) = cloud
            .req(Method::POST, "/servers", &cloud.admin, Some(json!({"server": {"name": format!("b{n}"), "imageRef": image, "flavorRef": "guest"}})))
            .await;
        let id = b["server"]["id"].as_str().unwrap().to_string();
        let log = instances.join(&id).join("console.log");
        loop {
            if std::fs::read_to_string(&log)
                .unwrap_or_default()
                .contains("GUEST-INIT")
            {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(120), "no GUEST-INIT");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nova_times.push(t.elapsed().as_secs_f64());
        // The same XML and disk, straight to libvirt.
        let xml = std::fs::read_to_string(instances.join(&id).join("libvirt.xml")).unwrap();
        cloud
            .req(
                Method::DELETE,
                &format!("/servers/{id}"),
                &cloud.admin,
                None,
            )
            .await;
        cloud
            .wait_for("deleted", 60, || async {
                (cloud.get(&format!("/servers/{id}"), &cloud.admin).await.0 == 404).then_some(())
            })
            .await;
        let raw_dir = cloud.dir.join(format!("raw{n}"));
        std::fs::create_dir_all(&raw_dir).unwrap();
        let base = std::fs::read_dir(instances.join("_base"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let disk = raw_dir.join("disk");
        assert!(std::process::Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(&disk)
            .status()
            .unwrap()
            .success());
        let raw_uuid = uuid::Uuid::new_v4().to_string();
        let raw_xml = xml
            .replace(&id, &raw_uuid)
            .replace(
                &instances.join(&raw_uuid).display().to_string(),
                &raw_dir.display().to_string(),
            )
            .replace("<name>instance-", "<name>raw-instance-");
        let xml_path = raw_dir.join("domain.xml");
        std::fs::write(&xml_path, raw_xml).unwrap();
        let raw_log = raw_dir.join("console.log");
        let t = Instant::now();
        assert!(std::process::Command::new("virsh")
            .args(["-q", "-c", "qemu:///system", "create"])
            .arg(&xml_path)
            .status()
            .unwrap()
            .success());
        loop {
            if std::fs::read_to_string(&raw_log)
                .unwrap_or_default()
                .contains("GUEST-INIT")
            {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "no GUEST-INIT (raw)"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        raw_times.push(t.elapsed().as_secs_f64());
        let _ = std::process::Command::new("virsh")
            .args(["-q", "-c", "qemu:///system", "destroy", &raw_uuid])
            .status();
    }
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!("guest_boot_nova_s={}", fmt(&nova_times));
    println!("guest_boot_raw_s={}", fmt(&raw_times));
}
