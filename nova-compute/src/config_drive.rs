//! Creating a guest, as every path that creates one does it (build,
//! rebuild, evacuate, unshelve; Nova's libvirt `spawn` with its
//! `_create_image`/`_create_configdrive`/`_build_device_metadata`): what it
//! boots from, the image's files from the image cache and, when the
//! instance needs a config drive, its metadata rendered as the drive's
//! files by `nova-metadata` (the same renderer as the metadata service),
//! with the personality files and the admin password of the request; its
//! VIFs plugged and filtered; the driver's spawn; and where the guest's
//! tagged interfaces ended up. The driver writes the drive once it has
//! defined the guest, so that the drive names those interfaces too.

use crate::manager::{virt_to_nova, ComputeManager};
use base64::Engine;
use nova_common::{NovaError, RequestContext};
use nova_objects::device_metadata::InstanceDeviceMetadata;
use nova_objects::{
    ImageMeta, Instance, InstanceUpdate, NetworkInfo, NetworkRequest, VirtualInterface,
};
use nova_virt::{ConfigDrive, ImageFiles};
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
    /// Create `inst`'s guest from `image` on the networks `nw`; the device
    /// metadata of its tagged interfaces comes back for the caller's final
    /// save (`None` when none is tagged).
    pub(crate) async fn spawn_guest(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        image: &ImageMeta,
        nw: &NetworkInfo,
        injected: &Injected,
    ) -> Result<Option<InstanceDeviceMetadata>, NovaError> {
        let tagged = self.tagged_vifs(ctx, inst).await?;
        let files = self
            .guest_files(ctx, inst, image, injected, &tagged)
            .await?;
        crate::vif::plug_vifs(self.driver.as_ref(), nw).await?;
        self.filter_instance(ctx, inst, nw).await?;
        self.driver
            .spawn(inst, image, nw, &files)
            .await
            .map_err(virt_to_nova)?;
        if tagged.is_empty() {
            return Ok(None);
        }
        let interfaces = self
            .driver
            .guest_interfaces(inst)
            .await
            .map_err(virt_to_nova)?;
        Ok(InstanceDeviceMetadata::of_interfaces(&interfaces, &tagged))
    }

    /// The instance's VIFs that carry a device tag, asked of the conductor
    /// only when its request tagged a network (the `requested_networks`
    /// the API recorded).
    async fn tagged_vifs(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> Result<Vec<VirtualInterface>, NovaError> {
        let tagged = |t: &Option<String>| t.as_deref().is_some_and(|t| !t.is_empty());
        let requested = inst
            .system_metadata
            .get("requested_networks")
            .and_then(|s| serde_json::from_str::<Vec<NetworkRequest>>(s).ok())
            .unwrap_or_default();
        if !requested.iter().any(|r| tagged(&r.tag)) {
            return Ok(vec![]);
        }
        let vifs = self
            .idempotent
            .virtual_interface_get_by_instance(ctx, inst.uuid)
            .await?;
        Ok(vifs.into_iter().filter(|v| tagged(&v.tag)).collect())
    }

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
        tagged: &[VirtualInterface],
    ) -> Result<ImageFiles, NovaError> {
        // Decided before any download: an invalid image property fails
        // the build without fetching the image.
        let force = self.cfg.default.force_config_drive;
        let drive = nova_virt::configdrive::required_by(inst, image, force)?;
        let mut files = if self.driver.needs_image_files() {
            self.images
                .files_for(ctx, image, &inst.kernel_id, &inst.ramdisk_id)
                .await?
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
        files.config_drive = Some(self.config_drive(ctx, inst, injected, tagged).await?);
        info!(instance = %inst.uuid, "Using config drive");
        Ok(files)
    }

    /// The config drive's files (Nova's `metadata_for_config_drive`), its
    /// device metadata from where the driver put the `tagged` VIFs.
    async fn config_drive(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        injected: &Injected,
        tagged: &[VirtualInterface],
    ) -> Result<ConfigDrive, NovaError> {
        let mut personality = Vec::with_capacity(injected.injected_files.len());
        for (path, contents) in &injected.injected_files {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(contents)
                .map_err(|e| NovaError::invalid_input(format!("personality file {path}: {e}")))?;
            personality.push((path.clone(), bytes));
        }
        let extras = nova_metadata::Extras {
            vendor_data: nova_metadata::load_vendor_data(&self.cfg)?,
            files: personality,
            admin_pass: injected.admin_password.clone(),
            ..Default::default()
        };
        let md = nova_metadata::collect(&self.idempotent, ctx, &self.cfg, inst, extras).await?;
        let skip: Vec<String> = self
            .cfg
            .api
            .config_drive_skip_versions
            .split_whitespace()
            .map(str::to_string)
            .collect();
        let tagged = tagged.to_vec();
        Ok(ConfigDrive::new(move |interfaces| {
            let mut md = md.clone();
            md.device_metadata = InstanceDeviceMetadata::of_interfaces(interfaces, &tagged);
            let skip: Vec<&str> = skip.iter().map(String::as_str).collect();
            md.config_drive_files(&skip)
        }))
    }
}
