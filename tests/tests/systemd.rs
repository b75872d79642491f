//! The operator install: deploy/install-services.sh lays out binaries, units
//! and directories; `systemd-analyze verify` accepts every unit; a daemon
//! speaks systemd's notify protocol (READY=1 after its check-in, WATCHDOG=1,
//! STOPPING=1 on SIGTERM).

#![allow(clippy::unwrap_used)]

use nova_e2e::{bin_path, workspace_root, Cloud};
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const DAEMONS: [&str; 6] = [
    "nova-api",
    "nova-conductor",
    "nova-scheduler",
    "nova-compute",
    "nova-network",
    "nova-novncproxy",
];

#[test]
fn install_lays_out_the_tree_and_systemd_verifies_every_unit() {
    let dest = std::env::temp_dir().join(format!("nova-destdir-{}", uuid::Uuid::new_v4().simple()));
    let bindir = bin_path("nova-api").parent().unwrap().to_path_buf();
    let out = Command::new("bash")
        .arg(workspace_root().join("deploy/install-services.sh"))
        .arg(&bindir)
        .env("DESTDIR", &dest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for d in ["etc/nova", "var/lib/nova/instances", "var/log/nova"] {
        assert!(dest.join(d).is_dir(), "{d} missing");
    }
    assert!(dest.join("etc/nova/nova.conf.sample").is_file());
    assert!(dest.join("usr/bin/nova-manage").is_file());

    // systemd-analyze checks that ExecStart exists: point it at the installed tree.
    let check = dest.join("verify");
    std::fs::create_dir_all(&check).unwrap();
    let mut units = vec![];
    for d in DAEMONS {
        assert!(dest.join("usr/bin").join(d).is_file(), "{d} not installed");
        let unit =
            std::fs::read_to_string(dest.join(format!("etc/systemd/system/{d}.service"))).unwrap();
        for line in [
            "Type=notify",
            "NotifyAccess=main",
            "WatchdogSec=",
            "NoNewPrivileges=",
            "ProtectSystem=",
            "RestartPreventExitStatus=78",
        ] {
            assert!(unit.contains(line), "{d}.service lacks {line}");
        }
        assert!(
            unit.contains(&format!(
                "ExecStart=/usr/bin/{d} --config-file /etc/nova/nova.conf"
            )),
            "{d}.service"
        );
        // Only the daemons that plug networks run as root; the rest as nova, with no capabilities.
        if ["nova-compute", "nova-network"].contains(&d) {
            assert!(unit.contains("User=root"), "{d}");
        } else {
            assert!(unit.contains("User=nova"), "{d}");
            assert!(unit.contains("CapabilityBoundingSet=\n"), "{d}");
            assert!(unit.contains("ProtectSystem=strict"), "{d}");
        }
        let p = check.join(format!("{d}.service"));
        let bin = dest.join("usr/bin").display().to_string() + "/";
        std::fs::write(&p, unit.replace("/usr/bin/", &bin)).unwrap();
        units.push(p);
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .args(&units)
        .output()
        .expect("systemd-analyze (package systemd, installed by deploy/install.sh)");
    let err = String::from_utf8_lossy(&out.stderr);
    // Warnings about the host's own units are not ours; anything naming a nova unit is.
    let ours: Vec<&str> = err.lines().filter(|l| l.contains("nova-")).collect();
    assert!(out.status.success() && ours.is_empty(), "{err}");
    let _ = std::fs::remove_dir_all(&dest);
}

fn recv_until(sock: &UnixDatagram, want: &str, deadline: Instant) -> Vec<String> {
    let mut seen = vec![];
    let mut buf = [0u8; 512];
    while Instant::now() < deadline {
        if let Ok(n) = sock.recv(&mut buf) {
            let msg = String::from_utf8_lossy(&buf[..n]).to_string();
            let done = msg.lines().any(|l| l == want);
            seen.push(msg);
            if done {
                return seen;
            }
        }
    }
    panic!("no {want} from the daemon; got {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_notifies_systemd_ready_watchdog_and_stopping() {
    let mut cloud = Cloud::start_with(|_| vec![], false).await;
    let sock_path = cloud.dir.join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let host = format!("e2e-notify-{}", cloud.id);
    let over = cloud.compute_conf(&host, "fake.FakeDriver", "");
    let log = std::fs::File::create(cloud.dir.join("notify-compute.log")).unwrap();
    let mut child = Command::new(bin_path("nova-compute"))
        .arg("--config-file")
        .arg(&cloud.conf)
        .arg("--config-file")
        .arg(&over)
        .env("NOTIFY_SOCKET", &sock_path)
        .env("WATCHDOG_USEC", "400000")
        .stderr(log)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    recv_until(&sock, "READY=1", deadline);
    // READY means checked in: the service is already listed.
    let (status, body) = cloud.get("/os-services", &cloud.admin).await;
    assert_eq!(status, 200);
    assert!(
        body["services"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["host"] == host.as_str() && s["binary"] == "nova-compute"),
        "{body}"
    );
    recv_until(
        &sock,
        "WATCHDOG=1",
        Instant::now() + Duration::from_secs(10),
    );
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    recv_until(
        &sock,
        "STOPPING=1",
        Instant::now() + Duration::from_secs(30),
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    assert!(Path::new(&sock_path).exists());
}
