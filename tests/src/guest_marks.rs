//! What tells, from the outside, which disk a real tiny guest booted and
//! what it kept: a disk image marked on its kernel command line, and a
//! record the guest itself writes on its disk at every boot (user data).

use crate::Cloud;
use reqwest::Method;
use serde_json::json;
use std::collections::HashSet;
use std::path::Path;
use std::process::Command;

/// User data: each boot reads the record at sector 131072 (64 MiB) of
/// /dev/vda and prints `GUEST-DISK boot=<boot id> read=<MARK:token:n|none>
/// wrote=<MARK:token:n+1>` after writing the record back with n + 1 (a new
/// token on a blank disk).
pub const DISK_MARKER: &str = r#"#!/bin/sh
d=/dev/vda
i=0
while [ ! -b $d ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
old="$(dd if=$d bs=512 skip=131072 count=1 2>/dev/null | tr -d '\000' | head -n 1)"
case "$old" in
    MARK:*:*) tok="$(echo "$old" | cut -d: -f2)"; n="$(echo "$old" | cut -d: -f3)" ;;
    *) old=none; tok="$(cat /proc/sys/kernel/random/uuid)"; n=0 ;;
esac
new="MARK:$tok:$((n + 1))"
if echo "$new" | dd of=$d bs=512 seek=131072 conv=notrunc,sync 2>/tmp/dd.err && sync; then
    wrote="$new"
else
    wrote="FAILED:$(tr ' \n' '__' </tmp/dd.err)"
fi
echo "GUEST-DISK boot=$(cat /proc/sys/kernel/random/boot_id) read=$old wrote=$wrote"
"#;

/// [`DISK_MARKER`] base64-encoded, as a server's `user_data`.
pub fn disk_marker_user_data() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(DISK_MARKER)
}

/// The guest's console output (admin; empty when it has none to give).
pub async fn console_output(cloud: &Cloud, id: &str) -> String {
    let (s, b) = cloud
        .req(
            Method::POST,
            &format!("/servers/{id}/action"),
            &cloud.admin,
            Some(json!({"os-getConsoleOutput": {}})),
        )
        .await;
    if s != 200 {
        return String::new();
    }
    b["output"].as_str().unwrap_or_default().to_string()
}

/// The record read by the next [`DISK_MARKER`] boot not seen yet (its boot
/// id goes into `seen`), and the one it wrote.
pub async fn next_disk_boot(
    cloud: &Cloud,
    id: &str,
    seen: &mut HashSet<String>,
) -> (String, String) {
    let (boot, read, wrote) = cloud
        .wait_for(
            &format!("{id}: a new boot's GUEST-DISK line"),
            600,
            || async {
                let out = console_output(cloud, id).await;
                out.lines()
                    .filter_map(|l| {
                        let rest = &l[l.find("GUEST-DISK boot=")? + "GUEST-DISK ".len()..];
                        let mut f = rest.split_whitespace();
                        let boot = f.next()?.strip_prefix("boot=")?.to_string();
                        let read = f.next()?.strip_prefix("read=")?.to_string();
                        let wrote = f.next()?.strip_prefix("wrote=")?.to_string();
                        Some((boot, read, wrote))
                    })
                    .find(|(boot, _, _)| !seen.contains(boot))
            },
        )
        .await;
    assert!(
        wrote.starts_with("MARK:"),
        "the guest could not write its disk: {wrote}"
    );
    seen.insert(boot);
    (read, wrote)
}

/// The tiny guest's disk with `hostname=<name>` on its kernel command line
/// (its syslinux.cfg rewritten with mtools): the guest prints
/// `GUEST-INIT hostname=<name>`, so the console tells which disk booted.
pub fn marked_tiny_disk(guest: &Path, name: &str) -> Vec<u8> {
    let dir = std::env::temp_dir().join(format!("nova-e2e-marked-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let raw = dir.join("disk.img");
    let run = |cmd: &mut Command| {
        let out = cmd.output().unwrap();
        assert!(
            out.status.success(),
            "{cmd:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(Command::new("qemu-img")
        .args(["convert", "-O", "raw"])
        .arg(guest.join("disk.qcow2"))
        .arg(&raw));
    let cfg = dir.join("syslinux.cfg");
    std::fs::write(
        &cfg,
        format!(
            "DEFAULT guest\nPROMPT 0\nTIMEOUT 0\nLABEL guest\n  KERNEL vmlinuz\n  INITRD initrd.gz\n  APPEND console=ttyS0 quiet hostname={name}\n"
        ),
    )
    .unwrap();
    run(Command::new("mcopy")
        .env("MTOOLS_SKIP_CHECK", "1")
        .arg("-o")
        .arg("-i")
        .arg(&raw)
        .arg(&cfg)
        .arg("::syslinux.cfg"));
    let qcow = dir.join("disk.qcow2");
    run(Command::new("qemu-img")
        .args(["convert", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow));
    let bytes = std::fs::read(&qcow).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    bytes
}
