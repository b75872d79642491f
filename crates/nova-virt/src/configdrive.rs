//! Config drives (Nova's `nova/virt/configdrive.py`): the instance's
//! metadata as files on a small disk labelled `config-2`, for guests that
//! read it there rather than from the metadata service (cloud-init's
//! ConfigDrive source). The files come from `nova-metadata`; this module
//! decides whether an instance gets a drive and writes the image.

use crate::VirtError;
use nova_common::NovaError;
use nova_objects::{ImageMeta, Instance};
use std::path::Path;

/// The volume label guests look for.
pub const CONFIG_DRIVE_LABEL: &str = "config-2";

/// The file name of the drive in the instance directory.
pub const CONFIG_DRIVE_FILE: &str = "disk.config";

/// Size of a VFAT config drive (Nova's `CONFIGDRIVESIZE_BYTES`).
const VFAT_SIZE_KIB: u64 = 64 * 1024;

/// Nova's `configdrive.required_by`: the instance asked for one
/// (`config_drive`), the host forces one (`[DEFAULT] force_config_drive`),
/// or the image demands one (`img_config_drive=mandatory`). An
/// `img_config_drive` other than `optional` or `mandatory` is
/// InvalidImageConfigDrive.
pub fn required_by(instance: &Instance, image: &ImageMeta, force: bool) -> Result<bool, NovaError> {
    let prop = image
        .properties
        .get("img_config_drive")
        .map(String::as_str)
        .unwrap_or("optional");
    if prop != "optional" && prop != "mandatory" {
        return Err(NovaError::InvalidImageConfigDrive {
            config_drive: prop.to_string(),
        });
    }
    Ok(!instance.config_drive.is_empty() || force || prop == "mandatory")
}

/// Write `files` (relative paths and contents) as a config drive image at
/// `dest`: ISO 9660 with Rock Ridge and Joliet made by `mkisofs_cmd`
/// (`format` "iso9660"), or a 64 MiB VFAT image made with mkfs.vfat and
/// mtools ("vfat"); either labelled `config-2`. The files are staged in
/// `<dest>.d`, removed afterwards.
pub async fn make_drive(
    files: &[(String, Vec<u8>)],
    dest: &Path,
    format: &str,
    mkisofs_cmd: &str,
) -> Result<(), VirtError> {
    let herr = |what: String, e: std::io::Error| VirtError::Hypervisor(format!("{what}: {e}"));
    let staging = dest.with_extension("config.d");
    let _ = tokio::fs::remove_dir_all(&staging).await;
    for (path, contents) in files {
        // Paths come from the metadata renderer: relative, no `..`.
        if path.starts_with('/') || path.split('/').any(|s| s == ".." || s.is_empty()) {
            return Err(VirtError::Hypervisor(format!(
                "refusing config drive path {path:?}"
            )));
        }
        let file = staging.join(path);
        if let Some(parent) = file.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| herr(format!("cannot create {}", parent.display()), e))?;
        }
        tokio::fs::write(&file, contents)
            .await
            .map_err(|e| herr(format!("cannot write {}", file.display()), e))?;
    }
    let _ = tokio::fs::remove_file(dest).await;
    let made = match format {
        "iso9660" => {
            let publisher = format!("OpenStack Nova {}", env!("CARGO_PKG_VERSION"));
            run(tokio::process::Command::new(mkisofs_cmd)
                .arg("-o")
                .arg(dest)
                .args(["-ldots", "-allow-lowercase", "-allow-multidot", "-l"])
                .args(["-publisher", &publisher, "-quiet", "-J", "-r"])
                .args(["-V", CONFIG_DRIVE_LABEL])
                .arg(&staging))
            .await
        }
        "vfat" => make_vfat(&staging, dest).await,
        other => Err(VirtError::Hypervisor(format!(
            "Config drive format '{other}' is not supported."
        ))),
    };
    let _ = tokio::fs::remove_dir_all(&staging).await;
    made
}

/// A VFAT image labelled `config-2` holding the staged tree (mkfs.vfat,
/// then mtools' mcopy: no loop device, no mount).
async fn make_vfat(staging: &Path, dest: &Path) -> Result<(), VirtError> {
    run(tokio::process::Command::new("mkfs.vfat")
        .args(["-C", "-n", CONFIG_DRIVE_LABEL])
        .arg(dest)
        .arg(VFAT_SIZE_KIB.to_string()))
    .await?;
    let mut entries = tokio::fs::read_dir(staging)
        .await
        .map_err(|e| VirtError::Hypervisor(format!("cannot read {}: {e}", staging.display())))?;
    let mut top = vec![];
    while let Ok(Some(e)) = entries.next_entry().await {
        top.push(e.path());
    }
    if top.is_empty() {
        return Ok(());
    }
    run(tokio::process::Command::new("mcopy")
        .args(["-s", "-i"])
        .arg(dest)
        .args(&top)
        .arg("::/"))
    .await
}

/// Run a command to its end; its stderr is the error.
async fn run(cmd: &mut tokio::process::Command) -> Result<(), VirtError> {
    let prog = format!("{:?}", cmd.as_std().get_program());
    let out = cmd
        .output()
        .await
        .map_err(|e| VirtError::Hypervisor(format!("cannot run {prog}: {e}")))?;
    if !out.status.success() {
        return Err(VirtError::Hypervisor(format!(
            "{prog} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn required_by_the_instance_the_host_or_the_image() {
        let mut inst = Instance::default();
        let mut image = ImageMeta::default();
        assert!(!required_by(&inst, &image, false).unwrap());
        assert!(required_by(&inst, &image, true).unwrap());
        inst.config_drive = "True".into();
        assert!(required_by(&inst, &image, false).unwrap());
        inst.config_drive.clear();
        image
            .properties
            .insert("img_config_drive".into(), "mandatory".into());
        assert!(required_by(&inst, &image, false).unwrap());
        image
            .properties
            .insert("img_config_drive".into(), "sometimes".into());
        assert!(matches!(
            required_by(&inst, &image, false),
            Err(NovaError::InvalidImageConfigDrive { .. })
        ));
    }

    #[tokio::test]
    async fn paths_stay_inside_the_drive() {
        let dir = std::env::temp_dir().join(format!("cd-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for bad in ["/etc/passwd", "openstack/../../x", "a//b"] {
            let r = make_drive(
                &[(bad.to_string(), b"x".to_vec())],
                &dir.join("disk.config"),
                "iso9660",
                "genisoimage",
            )
            .await;
            assert!(r.is_err(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
