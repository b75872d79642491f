//! The host-wide settings nova-network's `init_host` changes (IPv4
//! forwarding, `169.254.169.254/32` on `lo`), left as the test clouds found
//! them.
//!
//! Several test clouds run at once on one host (parallel tests, and other
//! checkouts' test runs), and the host may also run a deployed nova-network
//! (the all-in-one). So a cloud does not put back what it saw at its own
//! start: the clouds register in a host-wide directory
//! (`/run/nova-e2e/host-net/holders/<cloud id>`, holding the test process'
//! pid) under a lock, the first one records the host's state (`orig`), and
//! the last one to go restores it, and only what was off, and only when no
//! deployed `nova-network` process (one not started as a test cloud's
//! `e2e<id>-net`) runs, since it would need both. A holder whose process
//! is gone (a killed test run) is dropped; its `orig` is kept, being the
//! state from before that run.

use nova_linux_net::host::{ipv4_forwarding, process_running, METADATA_IP};
use std::path::{Path, PathBuf};
use std::process::Command;

fn dir() -> PathBuf {
    PathBuf::from("/run/nova-e2e/host-net")
}

fn locked<T>(f: impl FnOnce(&Path) -> T) -> T {
    let d = dir();
    std::fs::create_dir_all(d.join("holders")).expect("host-net state directory");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(d.join("lock"))
        .expect("host-net lock file");
    lock.lock().expect("host-net lock");
    let out = f(&d);
    drop(lock);
    out
}

/// The clouds holding the host's settings, dropping those whose test
/// process is gone.
fn live_holders(d: &Path) -> Vec<String> {
    let mut live = vec![];
    for e in std::fs::read_dir(d.join("holders"))
        .into_iter()
        .flatten()
        .flatten()
    {
        let pid = std::fs::read_to_string(e.path()).unwrap_or_default();
        let pid = pid.trim();
        if !pid.is_empty() && Path::new("/proc").join(pid).exists() {
            live.push(e.file_name().to_string_lossy().into_owned());
        } else {
            let _ = std::fs::remove_file(e.path());
        }
    }
    live
}

/// Whether `lo` has the metadata address.
pub fn lo_has_metadata_ip() -> bool {
    Command::new("ip")
        .args(["-4", "-o", "addr", "show", "dev", "lo"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains(&format!("inet {METADATA_IP}/32 ")))
        .unwrap_or(false)
}

/// Register cloud `id` before its nova-network starts.
pub fn hold(id: &str) {
    locked(|d| {
        let orig = d.join("orig");
        if live_holders(d).is_empty() && !orig.exists() {
            let state = format!(
                "ip_forward={}\nmetadata_ip={}\n",
                u8::from(ipv4_forwarding()),
                u8::from(lo_has_metadata_ip())
            );
            std::fs::write(&orig, state).expect("host-net orig");
        }
        std::fs::write(d.join("holders").join(id), std::process::id().to_string())
            .expect("host-net holder");
    });
}

/// Unregister cloud `id` once its nova-network is gone; the last one out
/// puts back what was off.
pub fn release(id: &str) {
    locked(|d| {
        let _ = std::fs::remove_file(d.join("holders").join(id));
        if !live_holders(d).is_empty() {
            return;
        }
        let orig = d.join("orig");
        let state = std::fs::read_to_string(&orig).unwrap_or_default();
        if process_running("nova-network") {
            // A deployed network host needs both; they stay, and so does
            // `orig` for when it is gone.
            return;
        }
        if state.contains("ip_forward=0") && ipv4_forwarding() {
            if let Err(e) = std::fs::write("/proc/sys/net/ipv4/ip_forward", "0\n") {
                eprintln!("cannot turn IPv4 forwarding back off: {e}");
            }
        }
        if state.contains("metadata_ip=0") && lo_has_metadata_ip() {
            let _ = Command::new("ip")
                .args(["addr", "del", &format!("{METADATA_IP}/32"), "dev", "lo"])
                .output();
        }
        let _ = std::fs::remove_file(orig);
    });
}

/// The test clouds registered now (this process' and others').
pub fn holders() -> usize {
    locked(|d| live_holders(d).len())
}

/// After a test dropped its clouds: IPv4 forwarding and the metadata
/// address are as they were before (`forward_before`, `meta_ip_before`),
/// unless another cloud or a deployed nova-network still holds them.
pub fn assert_restored(forward_before: bool, meta_ip_before: bool) {
    let (forward, meta) = (ipv4_forwarding(), lo_has_metadata_ip());
    if holders() > 0 || process_running("nova-network") {
        return;
    }
    assert_eq!(forward, forward_before, "net.ipv4.ip_forward is as it was");
    assert_eq!(meta, meta_ip_before, "169.254.169.254 on lo is as it was");
}
