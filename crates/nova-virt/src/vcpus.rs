//! Each vCPU's CPU time, as libvirt's `virDomainGetVcpus` reports it for a
//! QEMU guest (Nova's diagnostics read it through `dom.vcpus()`): the user
//! and system time of the QEMU thread that runs the vCPU, from `/proc`.
//! QEMU names those threads `CPU <n>/<accelerator>` (`CPU 0/KVM`,
//! `CPU 1/TCG`); the process is the one started with `-uuid <domain uuid>`.
//! Only a guest on this machine can be read so, which the driver checks by
//! its connection URI.

use std::path::Path;

/// The kernel's clock ticks per second for `/proc/<pid>/stat` times
/// (`USER_HZ`, 100 on every Linux architecture QEMU/KVM hosts run).
const USER_HZ: u64 = 100;

/// Whether guests of the libvirt connection `uri` run on this machine.
pub fn uri_is_local(uri: &str) -> bool {
    ["qemu:///", "qemu+unix:///", "kvm:///"]
        .iter()
        .any(|p| uri.starts_with(p))
}

/// (vCPU number, nanoseconds) of the guest with domain UUID `uuid`, in
/// vCPU order; empty when no QEMU process of this machine runs it.
pub fn vcpu_times(uuid: &str) -> Vec<(i64, i64)> {
    vcpu_times_in(Path::new("/proc"), uuid)
}

fn vcpu_times_in(proc_root: &Path, uuid: &str) -> Vec<(i64, i64)> {
    let Some(pid) = qemu_pid(proc_root, uuid) else {
        return Vec::new();
    };
    let Ok(tasks) = std::fs::read_dir(proc_root.join(&pid).join("task")) else {
        return Vec::new();
    };
    let mut out: Vec<(i64, i64)> = tasks
        .flatten()
        .filter_map(|task| {
            let dir = task.path();
            let comm = std::fs::read_to_string(dir.join("comm")).ok()?;
            let n = vcpu_number(&comm)?;
            let ticks = cpu_ticks(&std::fs::read_to_string(dir.join("stat")).ok()?)?;
            let ns = ticks.saturating_mul(1_000_000_000 / USER_HZ);
            Some((n, i64::try_from(ns).unwrap_or(i64::MAX)))
        })
        .collect();
    out.sort_unstable();
    out
}

/// The process whose command line has `-uuid <uuid>`.
fn qemu_pid(proc_root: &Path, uuid: &str) -> Option<String> {
    let wanted = format!("-uuid\0{uuid}\0");
    std::fs::read_dir(proc_root)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|name| name.bytes().all(|b| b.is_ascii_digit()))
        .find(|pid| {
            std::fs::read(proc_root.join(pid).join("cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&wanted))
        })
}

/// `CPU 3/KVM` → 3.
fn vcpu_number(comm: &str) -> Option<i64> {
    let (n, _accel) = comm.trim().strip_prefix("CPU ")?.split_once('/')?;
    n.parse().ok()
}

/// utime + stime of a `/proc/<pid>/task/<tid>/stat` line (fields 14 and
/// 15; the command, field 2, is in parentheses and may hold spaces).
fn cpu_ticks(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcpu_threads_are_named_by_qemu() {
        assert_eq!(vcpu_number("CPU 0/KVM\n"), Some(0));
        assert_eq!(vcpu_number("CPU 12/TCG"), Some(12));
        assert_eq!(vcpu_number("qemu-system-x86"), None);
        assert_eq!(vcpu_number("CPU x/KVM"), None);
    }

    #[test]
    fn user_and_system_ticks_are_summed() {
        let stat =
            "4242 (CPU 0/TCG) S 1 4240 4240 0 -1 4194368 0 0 0 0 1234 56 0 0 20 0 4 0 100 0 0";
        assert_eq!(cpu_ticks(stat), Some(1290));
        assert_eq!(cpu_ticks("4242 (short) S 1"), None);
    }

    #[test]
    fn the_guests_process_is_found_by_its_uuid() {
        let root = std::env::temp_dir().join(format!("nova-vcpus-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let uuid = "9d3c5f0e-0000-4000-8000-000000000001";
        let write = |p: &str, s: &str| {
            let path = root.join(p);
            std::fs::create_dir_all(path.parent().unwrap_or(&root)).unwrap_or_default();
            std::fs::write(path, s).unwrap_or_default();
        };
        write("1/cmdline", "/sbin/init\0");
        write(
            "77/cmdline",
            &format!("qemu-system-x86_64\0-name\0guest=x\0-uuid\0{uuid}\0-m\0512\0"),
        );
        write("77/task/77/comm", "qemu-system-x86\n");
        write(
            "77/task/77/stat",
            "77 (qemu) S 1 1 1 0 -1 0 0 0 0 0 900 900 0 0 0 0",
        );
        for (tid, n, u, s) in [(80, 1, 300, 100), (79, 0, 1000, 23)] {
            write(&format!("77/task/{tid}/comm"), &format!("CPU {n}/TCG\n"));
            write(
                &format!("77/task/{tid}/stat"),
                &format!("{tid} (CPU {n}/TCG) S 1 1 1 0 -1 0 0 0 0 0 {u} {s} 0 0 0 0"),
            );
        }
        assert_eq!(
            vcpu_times_in(&root, uuid),
            [(0, 10_230_000_000), (1, 4_000_000_000)]
        );
        assert!(vcpu_times_in(&root, "another-uuid").is_empty());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn only_local_connections_are_read() {
        assert!(uri_is_local("qemu:///system"));
        assert!(uri_is_local("qemu+unix:///system?socket=/run/x.sock"));
        assert!(!uri_is_local("qemu+ssh://host/system"));
        assert!(!uri_is_local("test:///default"));
    }
}
