//! The flavor's ephemeral and swap disks (Nova's `disk.local` and
//! `disk.swap`): which a guest has, the device each is (after the root
//! disk `vda`: the ephemeral disk first, then swap, as Nova's disk
//! mapping), and how they are made: a raw file of the flavor's size,
//! formatted (the ephemeral disk with the file system of the image's
//! `os_type`, labelled `ephemeral0`; swap with `mkswap`), turned into the
//! qcow2 file the domain names.

use crate::VirtError;
use nova_objects::Instance;

/// What a local disk holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalDiskKind {
    Ephemeral,
    Swap,
}

/// One of the guest's disks beyond its root disk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalDisk {
    pub kind: LocalDiskKind,
    /// The file in the instance directory.
    pub file: &'static str,
    /// The virtio device (`vdb`, `vdc`).
    pub device: String,
    /// MiB.
    pub size_mb: u64,
}

/// The instance's ephemeral and swap disks, in device order.
pub fn local_disks(instance: &Instance) -> Vec<LocalDisk> {
    let wanted = [
        (
            LocalDiskKind::Ephemeral,
            "disk.local",
            instance.ephemeral_gb.max(0) as u64 * 1024,
        ),
        (
            LocalDiskKind::Swap,
            "disk.swap",
            instance.flavor.swap.max(0) as u64,
        ),
    ];
    wanted
        .into_iter()
        .filter(|(_, _, size)| *size > 0)
        .enumerate()
        .map(|(i, (kind, file, size_mb))| LocalDisk {
            kind,
            file,
            device: format!("vd{}", (b'b' + i as u8) as char),
            size_mb,
        })
        .collect()
}

/// The device the instance's disk of `kind` is, as the instance records
/// it (`default_ephemeral_device`, `default_swap_device`).
pub fn default_device(instance: &Instance, kind: LocalDiskKind) -> Option<String> {
    local_disks(instance)
        .into_iter()
        .find(|d| d.kind == kind)
        .map(|d| format!("/dev/{}", d.device))
}

/// Nova's file system for an ephemeral disk: ext4 for a Linux image, vfat
/// otherwise (`_DEFAULT_FS_BY_OSTYPE`, `_DEFAULT_FILE_SYSTEM`).
pub fn ephemeral_fs(os_type: Option<&str>) -> &'static str {
    match os_type {
        Some("linux") => "ext4",
        _ => "vfat",
    }
}

async fn run(cmd: &str, args: &[&str]) -> Result<(), VirtError> {
    let out = tokio::process::Command::new(cmd)
        .args(args)
        .output()
        .await
        .map_err(|e| VirtError::Hypervisor(format!("cannot run {cmd}: {e}")))?;
    if !out.status.success() {
        return Err(VirtError::Hypervisor(format!(
            "{cmd} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

/// Make `disk` at `path`: formatted (`os_type` chooses the ephemeral
/// disk's file system), as a qcow2 file.
pub async fn make(disk: &LocalDisk, path: &str, os_type: Option<&str>) -> Result<(), VirtError> {
    let raw = format!("{path}.raw");
    let herr = |e: std::io::Error| VirtError::Hypervisor(format!("cannot create {raw}: {e}"));
    let _ = tokio::fs::remove_file(path).await;
    let f = tokio::fs::File::create(&raw).await.map_err(herr)?;
    f.set_len(disk.size_mb * 1024 * 1024).await.map_err(herr)?;
    drop(f);
    let formatted = match disk.kind {
        LocalDiskKind::Swap => run("mkswap", &[&raw]).await,
        LocalDiskKind::Ephemeral => match ephemeral_fs(os_type) {
            "ext4" => run("mkfs.ext4", &["-F", "-q", "-L", "ephemeral0", &raw]).await,
            _ => run("mkfs.vfat", &["-n", "ephemeral0", &raw]).await,
        },
    };
    let converted = match formatted {
        Ok(()) => {
            run(
                "qemu-img",
                &["convert", "-f", "raw", "-O", "qcow2", &raw, path],
            )
            .await
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&raw).await;
    converted
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::Flavor;

    fn instance(ephemeral_gb: i64, swap: i64) -> Instance {
        Instance {
            ephemeral_gb,
            flavor: Flavor {
                swap,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    #[test]
    fn the_ephemeral_disk_comes_first_then_swap() {
        let both = local_disks(&instance(2, 512));
        assert_eq!(
            both.iter()
                .map(|d| (d.file, d.device.as_str(), d.size_mb))
                .collect::<Vec<_>>(),
            [("disk.local", "vdb", 2048), ("disk.swap", "vdc", 512)]
        );
        let swap = instance(0, 256);
        assert_eq!(local_disks(&swap)[0].device, "vdb");
        assert_eq!(
            default_device(&swap, LocalDiskKind::Swap).as_deref(),
            Some("/dev/vdb")
        );
        assert_eq!(default_device(&swap, LocalDiskKind::Ephemeral), None);
        assert!(local_disks(&instance(0, 0)).is_empty());
    }

    #[test]
    fn linux_images_get_ext4_others_vfat() {
        assert_eq!(ephemeral_fs(Some("linux")), "ext4");
        assert_eq!(ephemeral_fs(Some("windows")), "vfat");
        assert_eq!(ephemeral_fs(None), "vfat");
    }

    #[tokio::test]
    async fn disks_are_formatted_qcow2_files() {
        let dir = std::env::temp_dir().join(format!("nova-local-disks-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        for d in local_disks(&instance(1, 16)) {
            let path = dir.join(d.file).to_string_lossy().to_string();
            make(&d, &path, None).await.expect("made");
            let info = std::process::Command::new("qemu-img")
                .args(["info", "--output=json", &path])
                .output()
                .expect("qemu-img");
            let info: serde_json::Value =
                serde_json::from_slice(&info.stdout).expect("qemu-img's JSON");
            assert_eq!(info["format"], "qcow2", "{info}");
            assert_eq!(
                info["virtual-size"].as_u64(),
                Some(d.size_mb * 1024 * 1024),
                "{info}"
            );
            assert!(!std::path::Path::new(&format!("{path}.raw")).exists());
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
