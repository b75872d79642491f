//! Benchmark (not a test): POST /servers → the tiny guest printing
//! `GUEST-LEASE` on its serial console (scheduling, nova-network's address
//! and dnsmasq lease, the VIF, the domain, the guest's boot and DHCP), next
//! to a raw `virsh create` of the same domain XML on a bridge of its own
//! with a dnsmasq already serving the guest's MAC a static lease (the
//! guest's boot and DHCP only). Three runs each. Run through
//! `bench/guest_lease.sh` (or `bench/run.sh`).

#![allow(clippy::unwrap_used)]

use nova_e2e::{instance_name_prefix, start_real_guest_cloud};
use reqwest::Method;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

/// Wait for `marker` in `log`; the seconds since `t`.
async fn wait_for_marker(log: &Path, marker: &str, t: Instant) -> f64 {
    loop {
        if std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains(marker)
        {
            return t.elapsed().as_secs_f64();
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no {marker} in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn must(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{cmd:?}: {out:?}");
}

/// The raw side's bridge and its dnsmasq: removed on drop.
struct RawNet {
    bridge: String,
    dir: std::path::PathBuf,
}

impl RawNet {
    fn new(id: &str, dir: &Path) -> RawNet {
        let bridge = format!("nrl{}", &id[..6]);
        let n = RawNet {
            bridge: bridge.clone(),
            dir: dir.to_path_buf(),
        };
        must(Command::new("ip").args(["link", "add", &bridge, "type", "bridge"]));
        must(Command::new("ip").args(["addr", "add", "10.98.0.1/24", "dev", &bridge]));
        must(Command::new("ip").args(["link", "set", &bridge, "up"]));
        n
    }

    /// (Re)start dnsmasq with one static lease, `mac` → 10.98.0.5.
    fn serve(&self, mac: &str) {
        self.stop_dnsmasq();
        // A fresh lease database: the previous run's lease of 10.98.0.5 to
        // another MAC would hold the address until it expires.
        let _ = std::fs::remove_file(self.dir.join("raw-leases"));
        let hosts = self.dir.join("raw-hosts");
        std::fs::write(&hosts, format!("{mac},raw-vm,10.98.0.5\n")).unwrap();
        must(Command::new("dnsmasq").args([
            "--conf-file=/dev/null",
            "--strict-order",
            "--bind-interfaces",
            &format!("--interface={}", self.bridge),
            "--except-interface=lo",
            "--listen-address=10.98.0.1",
            "--port=0",
            "--dhcp-range=10.98.0.0,static,255.255.255.0,120s",
            &format!("--dhcp-hostsfile={}", hosts.display()),
            "--dhcp-authoritative",
            &format!("--pid-file={}", self.dir.join("raw-dnsmasq.pid").display()),
            &format!("--dhcp-leasefile={}", self.dir.join("raw-leases").display()),
        ]));
    }

    fn stop_dnsmasq(&self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.join("raw-dnsmasq.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).output();
            let _ = std::fs::remove_file(self.dir.join("raw-dnsmasq.pid"));
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for RawNet {
    fn drop(&mut self) {
        self.stop_dnsmasq();
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (cloud, guest) = start_real_guest_cloud(false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    let instances = cloud.dir.join("state/instances");
    let raw_net = RawNet::new(&cloud.id, &cloud.dir);
    let prefix = instance_name_prefix(&cloud.id);
    let mut nova_times = vec![];
    let mut raw_times = vec![];
    for n in 0..3 {
        // Through nova-rs (the first run also fills the image cache).
        let t = Instant::now();
        let (s, b) = cloud
            .req(
                Method::POST,
                "/servers",
                &cloud.admin,
                Some(json!({"server": {"name": format!("lease{n}"), "imageRef": image, "flavorRef": "guest"}})),
            )
            .await;
        assert_eq!(s, 202, "{b}");
        let id = b["server"]["id"].as_str().unwrap().to_string();
        let log = instances.join(&id).join("console.log");
        nova_times.push(wait_for_marker(&log, "GUEST-LEASE", t).await);
        let xml = std::fs::read_to_string(instances.join(&id).join("libvirt.xml")).unwrap();
        let (s, _) = cloud
            .req(
                Method::DELETE,
                &format!("/servers/{id}"),
                &cloud.admin,
                None,
            )
            .await;
        assert_eq!(s, 204);
        cloud
            .wait_for("deleted", 120, || async {
                (cloud.get(&format!("/servers/{id}"), &cloud.admin).await.0 == 404).then_some(())
            })
            .await;

        // The same domain, straight to libvirt, on the raw bridge (no nwfilter).
        let raw_dir = cloud.dir.join(format!("rawlease{n}"));
        std::fs::create_dir_all(&raw_dir).unwrap();
        let base = std::fs::read_dir(instances.join("_base"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        must(
            Command::new("qemu-img")
                .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
                .arg(&base)
                .arg(raw_dir.join("disk")),
        );
        let mac = xml
            .split("<mac address=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let bridge = xml
            .split("<source bridge=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap()
            .to_string();
        let raw_uuid = uuid::Uuid::new_v4().to_string();
        let raw_xml: String = xml
            .replace(&id, &raw_uuid)
            .replace(
                &instances.join(&raw_uuid).display().to_string(),
                &raw_dir.display().to_string(),
            )
            .replace(&format!("<name>{prefix}"), &format!("<name>raw{prefix}"))
            .replace(
                &format!("<source bridge=\"{bridge}\"/>"),
                &format!("<source bridge=\"{}\"/>", raw_net.bridge),
            )
            .lines()
            .filter(|l| !l.contains("<filterref"))
            .map(|l| format!("{l}\n"))
            .collect();
        let xml_path = raw_dir.join("domain.xml");
        std::fs::write(&xml_path, raw_xml).unwrap();
        raw_net.serve(&mac);
        let t = Instant::now();
        must(
            Command::new("virsh")
                .args(["-q", "-c", "qemu:///system", "create"])
                .arg(&xml_path),
        );
        raw_times.push(wait_for_marker(&raw_dir.join("console.log"), "GUEST-LEASE", t).await);
        let _ = Command::new("virsh")
            .args(["-q", "-c", "qemu:///system", "destroy", &raw_uuid])
            .output();
    }
    drop(raw_net);
    let fmt = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!("guest_lease_nova_s={}", fmt(&nova_times));
    println!("guest_lease_raw_s={}", fmt(&raw_times));
}
