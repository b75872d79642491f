//! Every binary reads oslo-style config the same way: a bad value stops it
//! with file, section, option and reason; an unknown option only warns.

#![allow(clippy::unwrap_used)]

use nova_e2e::bin_path;
use std::process::Command;

#[test]
fn bad_values_stop_every_daemon_with_file_section_option_and_reason() {
    let dir = std::env::temp_dir().join(format!("nova-cfg-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("nova.conf");
    std::fs::write(&good, "[DEFAULT]\nreport_interval = 5\n").unwrap();
    let bad = dir.join("override.conf");
    std::fs::write(&bad, "[DEFAULT]\nreport_interval = often\n").unwrap();
    for daemon in [
        "nova-api",
        "nova-compute",
        "nova-scheduler",
        "nova-conductor",
        "nova-network",
        "nova-novncproxy",
    ] {
        let out = Command::new(bin_path(daemon))
            .arg("--config-file")
            .arg(&good)
            .arg("--config-file")
            .arg(&bad)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(78), "{daemon}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&bad.display().to_string()), "{daemon}: {err}");
        assert!(err.contains("[DEFAULT] report_interval"), "{daemon}: {err}");
        assert!(err.contains("not an integer"), "{daemon}: {err}");
    }
    // --config-dir: *.conf files are read in name order after the files.
    let confd = dir.join("nova.conf.d");
    std::fs::create_dir_all(&confd).unwrap();
    std::fs::write(confd.join("10-bad.conf"), "[libvirt]\nvirt_type = bhyve\n").unwrap();
    let out = Command::new(bin_path("nova-manage"))
        .arg("--config-file")
        .arg(&good)
        .arg("--config-dir")
        .arg(&confd)
        .args(["db", "version"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&out.stderr).contains("[libvirt] virt_type"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_sample_config_lists_every_option() {
    let out = Command::new(bin_path("nova-manage"))
        .args(["config", "sample"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let sample =
        std::fs::read_to_string(nova_e2e::workspace_root().join("deploy/nova.conf.sample"))
            .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), sample);
}
