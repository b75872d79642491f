//! What a guest boots from, config drive included (the part of Nova's
//! libvirt `_create_image`/`_create_configdrive` that is the compute
//! host's): the image's files from the image cache, and, when the instance
//! needs a config drive, its metadata rendered as the drive's files by
//! `nova-metadata` (the same renderer as the metadata service), with the
//! personality files and the admin password of the request. The driver
//! writes the drive.

use crate::manager::ComputeManager;
use base64::Engine;
use nova_common::{NovaError, RequestContext};
use nova_objects::{ImageMeta, Instance, InstanceUpdate};
use nova_virt::ImageFiles;
use tracing::info;

/// What the request gave for the guest itself (Nova's `admin_password`
/// and `injected_files`): only a config drive carries it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Injected {
    pub admin_password: Option<String>,
    /// `(path, base64 contents)` as the API validated them.
    pub injected_files: Vec<(String, String)>,
}

impl ComputeManager {
    /// The files `inst` boots from with `image`: the image's (for drivers
    /// that need them) and its config drive when it needs one
    /// ([`nova_virt::configdrive::required_by`]). An instance given a drive
    /// it did not ask for is recorded as having one (`config_drive`
    /// "True", Nova's `configdrive.update_instance`).
    pub(crate) async fn guest_files(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        image: &ImageMeta,
        injected: &Injected,
    ) -> Result<ImageFiles, NovaError> {
        // Decided before any download: an invalid image property fails
        // the build without fetching the image.
        let force = self.cfg.default.force_config_drive;
        let drive = nova_virt::configdrive::required_by(inst, image, force)?;
        let mut files = if self.driver.needs_image_files() {
            self.images.files_for(ctx, image).await?
        } else {
            ImageFiles::default()
        };
        if !drive {
            return Ok(files);
        }
        if inst.config_drive.is_empty() {
            let upd = InstanceUpdate {
                config_drive: Some("True".into()),
                ..Default::default()
            };
            self.update(ctx, inst.uuid, upd).await?;
        }
        files.config_drive = Some(self.config_drive_files(ctx, inst, injected).await?);
        info!(instance = %inst.uuid, "Using config drive");
        Ok(files)
    }

    /// The config drive's files (Nova's `metadata_for_config_drive`).
    async fn config_drive_files(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        injected: &Injected,
    ) -> Result<Vec<(String, Vec<u8>)>, NovaError> {
        let mut personality = Vec::with_capacity(injected.injected_files.len());
        for (path, contents) in &injected.injected_files {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(contents)
                .map_err(|e| NovaError::invalid_input(format!("personality file {path}: {e}")))?;
            personality.push((path.clone(), bytes));
        }
        let extras = nova_metadata::Extras {
            vendor_data: nova_metadata::load_vendor_data(&self.cfg),
            files: personality,
            admin_pass: injected.admin_password.clone(),
            ..Default::default()
        };
        let md = nova_metadata::collect(&self.idempotent, ctx, &self.cfg, inst, extras).await?;
        let skip: Vec<&str> = self
            .cfg
            .api
            .config_drive_skip_versions
            .split_whitespace()
            .collect();
        Ok(md.config_drive_files(&skip))
    }
}
