//! Benchmark (not a test): resize and cold migration of the tiny guest
//! between two real compute hosts (QEMU TCG, one libvirt), next to the raw
//! work they do: `virsh shutdown` (Nova's clean shutdown) until shut off,
//! `qemu-img convert` of the disk into another directory and `qemu-img
//! resize` to the new flavor's root disk, `virsh define` + `virsh start`,
//! until the same `GUEST-INIT` console marker. Run through `bench/run.sh`.
//! Prints `name=run1 / run2` lines (seconds).

#![allow(clippy::unwrap_used)]

use nova_e2e::{start_real_guest_cloud_hosts, Cloud};
use reqwest::Method;
use serde_json::json;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const RUNS: usize = 2;

fn run(cmd: &mut Command) {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn until_marker(log: &Path, t: Instant) -> f64 {
    loop {
        if std::fs::read_to_string(log)
            .unwrap_or_default()
            .contains("GUEST-INIT")
        {
            return t.elapsed().as_secs_f64();
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "no GUEST-INIT in {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn until_status(cloud: &Cloud, id: &str, status: &str, t: Instant) -> (f64, String) {
    loop {
        let (_, b) = cloud.get(&format!("/servers/{id}"), &cloud.admin).await;
        let s = &b["server"];
        assert_ne!(s["status"], "ERROR", "{b}");
        if s["status"] == status && s["OS-EXT-STS:task_state"].is_null() {
            return (
                t.elapsed().as_secs_f64(),
                s["OS-EXT-SRV-ATTR:host"].as_str().unwrap().to_string(),
            );
        }
        assert!(
            t.elapsed() < Duration::from_secs(300),
            "{id} never {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn act(cloud: &Cloud, id: &str, body: serde_json::Value) {
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(body),
        )
        .await;
    assert!(s == 202 || s == 204, "{s} {b}");
}

/// A domain like the instance's (disk, serial file, no NIC) for the raw path.
fn raw_xml(name: &str, dir: &Path) -> String {
    format!(
        "<domain type=\"qemu\"><name>{name}</name><memory unit=\"KiB\">131072</memory><vcpu>1</vcpu>\
         <os><type machine=\"pc\">hvm</type><boot dev=\"hd\"/></os><features><acpi/><apic/></features>\
         <devices><disk type=\"file\" device=\"disk\"><driver name=\"qemu\" type=\"qcow2\" cache=\"none\"/>\
         <source file=\"{d}/disk\"/><target bus=\"virtio\" dev=\"vda\"/></disk>\
         <serial type=\"file\"><source path=\"{d}/console.log\" append=\"on\"/></serial></devices></domain>",
        d = dir.display()
    )
}

fn virsh(args: &[&str]) -> Command {
    let mut c = Command::new("virsh");
    c.args(["-q", "-c", "qemu:///system"]).args(args);
    c
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let (cloud, guest) = start_real_guest_cloud_hosts(2, false, "").await;
    let image = cloud.upload_tiny_disk(&guest).await;
    cloud.create_guest_flavor().await;
    for n in 0..RUNS {
        let (s, b) = cloud
            .req(Method::POST, "/flavors", &cloud.admin, Some(json!({"flavor": {"name": format!("r{n}"), "id": format!("r{n}"), "ram": 128, "vcpus": 1, "disk": n + 2}})))
            .await;
        assert_eq!(s, 200, "{b}");
    }
    let dir = |host: &str| cloud.dir.join(format!("instances-{host}"));
    let (_, b) = cloud
        .req(
            Method::POST,
            "/servers",
            &cloud.admin,
            Some(json!({"server": {"name": "rb", "imageRef": image, "flavorRef": "guest"}})),
        )
        .await;
    let id = b["server"]["id"].as_str().unwrap().to_string();
    let (_, mut host) = until_status(&cloud, &id, "ACTIVE", Instant::now()).await;
    until_marker(&dir(&host).join(&id).join("console.log"), Instant::now()).await;
    let mut m: Vec<(&str, Vec<f64>)> = [
        "resize_verify_s",
        "resize_guest_init_s",
        "resize_confirm_s",
        "migrate_verify_s",
        "migrate_guest_init_s",
        "migrate_confirm_s",
        "raw_shutdown_s",
        "raw_copy_s",
        "raw_start_guest_init_s",
        "raw_move_guest_init_s",
    ]
    .into_iter()
    .map(|k| (k, vec![]))
    .collect();
    let mut push = |k: &str, v: f64| m.iter_mut().find(|(n, _)| *n == k).unwrap().1.push(v);
    for n in 0..RUNS {
        // Resize (to the other host, a bigger disk), then confirm.
        for (kind, body) in [
            ("resize", json!({"resize": {"flavorRef": format!("r{n}")}})),
            ("migrate", json!({"migrate": null})),
        ] {
            let t = Instant::now();
            act(&cloud, &id, body).await;
            let (v, dest) = until_status(&cloud, &id, "VERIFY_RESIZE", t).await;
            assert_ne!(dest, host);
            push(&format!("{kind}_verify_s"), v);
            push(
                &format!("{kind}_guest_init_s"),
                until_marker(&dir(&dest).join(&id).join("console.log"), t).await,
            );
            let t = Instant::now();
            act(&cloud, &id, json!({"confirmResize": null})).await;
            push(
                &format!("{kind}_confirm_s"),
                until_status(&cloud, &id, "ACTIVE", t).await.0,
            );
            host = dest;
        }

        // Raw: a guest on an overlay of the same base grown to 1 GB, booted;
        // then shut down, its disk converted and grown, started from the copy.
        let src = cloud.dir.join(format!("raw-src{n}"));
        let dst = cloud.dir.join(format!("raw-dst{n}"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::create_dir_all(&dst).unwrap();
        let base = std::fs::read_dir(dir(&host).join("_base"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        run(Command::new("qemu-img")
            .args(["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b"])
            .arg(&base)
            .arg(src.join("disk"))
            .arg("1G"));
        let name = format!(
            "rawbench-{}",
            &cloud.dir.file_name().unwrap().to_string_lossy()
        );
        std::fs::write(src.join("domain.xml"), raw_xml(&name, &src)).unwrap();
        std::fs::write(dst.join("domain.xml"), raw_xml(&name, &dst)).unwrap();
        run(&mut virsh(&[
            "define",
            &src.join("domain.xml").display().to_string(),
        ]));
        run(&mut virsh(&["start", &name]));
        until_marker(&src.join("console.log"), Instant::now()).await;
        let t = Instant::now();
        run(&mut virsh(&["shutdown", &name]));
        loop {
            let out = virsh(&["domstate", &name]).output().unwrap();
            if String::from_utf8_lossy(&out.stdout).contains("shut off") {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(120),
                "raw guest never shut off"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        push("raw_shutdown_s", t.elapsed().as_secs_f64());
        run(&mut virsh(&["undefine", &name]));
        let c = Instant::now();
        run(Command::new("qemu-img")
            .args(["convert", "-O", "qcow2"])
            .arg(src.join("disk"))
            .arg(dst.join("disk")));
        run(Command::new("qemu-img")
            .arg("resize")
            .arg(dst.join("disk"))
            .arg(format!("{}G", n + 2)));
        push("raw_copy_s", c.elapsed().as_secs_f64());
        let s = Instant::now();
        run(&mut virsh(&[
            "define",
            &dst.join("domain.xml").display().to_string(),
        ]));
        run(&mut virsh(&["start", &name]));
        push(
            "raw_start_guest_init_s",
            until_marker(&dst.join("console.log"), s).await,
        );
        push("raw_move_guest_init_s", t.elapsed().as_secs_f64());
        let _ = virsh(&["destroy", &name]).output();
        let _ = virsh(&["undefine", &name]).output();
    }
    let _ = cloud
        .req(
            Method::DELETE,
            &format!("/servers/{id}"),
            &cloud.admin,
            None,
        )
        .await;
    for (k, v) in &m {
        let v: Vec<String> = v.iter().map(|x| format!("{x:.2}")).collect();
        println!("{k}={}", v.join(" / "));
    }
}
