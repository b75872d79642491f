//! The images an API shows, changes and removes (Nova's `self.image_api`,
//! the Glance client): the EC2 API's image actions and the compute API's
//! image proxy (`/images`, `/images/{id}/metadata`).

use super::API;
use nova_clients::glance::GlanceImage;
use nova_common::{NovaResult, RequestContext};
use nova_objects::{ImageMeta, Instance};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

impl API {
    /// The images the caller can see.
    pub async fn get_all_images(&self, ctx: &RequestContext) -> NovaResult<Vec<GlanceImage>> {
        self.image_api.list(ctx).await
    }

    /// One image the caller can see, or ImageNotFound.
    pub async fn get_image(&self, ctx: &RequestContext, image_id: &str) -> NovaResult<ImageMeta> {
        self.image_api.show(ctx, image_id).await
    }

    /// Delete an image (Glance decides whether the caller may).
    pub async fn delete_image_record(
        &self,
        ctx: &RequestContext,
        image_id: &str,
    ) -> NovaResult<()> {
        self.image_api.delete(ctx, image_id).await?;
        self.image_cache.forget(image_id);
        Ok(())
    }

    /// The image a server is created from: from the short-lived cache
    /// ([`image_meta_cache`](super::image_meta_cache)) when this project saw
    /// it active within `[glance] image_metadata_cache_time`, else from Glance.
    pub(super) async fn image_for_create(
        &self,
        ctx: &RequestContext,
        image_href: &str,
    ) -> NovaResult<ImageMeta> {
        let project = ctx.project_id.as_deref();
        if let Some(image) = self.image_cache.get(image_href, project, ctx.is_admin) {
            return Ok(image);
        }
        let image = self.image_api.show(ctx, image_href).await?;
        self.image_cache
            .put(image_href, project, ctx.is_admin, &image);
        Ok(image)
    }

    /// The kernel and ramdisk a server of `image` boots with (Nova's
    /// `_handle_kernel_and_ramdisk`): those asked for (the EC2 API's
    /// `KernelId`, `RamdiskId`), else the image's `kernel_id` and
    /// `ramdisk_id`; a kernel of `nokernel` means neither. Each must be an
    /// image the caller can see (ImageNotFound otherwise, before anything is
    /// made); its id is returned, empty for none, as the instance keeps it.
    pub(super) async fn kernel_and_ramdisk(
        &self,
        ctx: &RequestContext,
        kernel_id: Option<&str>,
        ramdisk_id: Option<&str>,
        image: &ImageMeta,
    ) -> NovaResult<(String, String)> {
        let prop = |k: &str| image.properties.get(k).map(String::as_str);
        let kernel = kernel_id.or_else(|| prop("kernel_id"));
        let ramdisk = ramdisk_id.or_else(|| prop("ramdisk_id"));
        let (kernel, ramdisk) = match kernel {
            Some("nokernel") => (None, None),
            k => (k, ramdisk),
        };
        let mut ids = [String::new(), String::new()];
        for (id, slot) in [kernel, ramdisk].into_iter().zip(ids.iter_mut()) {
            if let Some(id) = id.filter(|id| !id.is_empty()) {
                *slot = self.image_for_create(ctx, id).await?.id;
            }
        }
        let [kernel, ramdisk] = ids;
        Ok((kernel, ramdisk))
    }
}

/// Image properties a snapshot never inherits (Nova's
/// `NON_INHERITABLE_IMAGE_PROPERTIES`, and the `os_glance` namespace).
const NON_INHERITABLE: &[&str] = &[
    "cinder_encryption_key_id",
    "cinder_encryption_key_deletion_policy",
    "img_signature",
    "img_signature_hash_method",
    "img_signature_key_type",
    "img_signature_certificate_uuid",
];

/// Nova's `compute_utils.create_image` body: a snapshot or backup of
/// `inst`, named `name`. The properties of the image the instance was
/// booted from are inherited from its `image_*` system metadata (so that a
/// snapshot of an AMI-style guest keeps its `kernel_id` and `ramdisk_id`),
/// then Nova's own (`instance_uuid`, `user_id`, `image_type`,
/// `base_image_ref`), then `extra`, which wins. The data is always qcow2, as
/// the drivers write it. The image is private to the caller's project when
/// the instance is its own, else shared (Nova's
/// `initialize_instance_snapshot_metadata`: an admin's snapshot of another
/// project's server, which that project is then made a member of).
/// Whether the caller's project owns `inst`.
fn owned_by_caller(ctx: &RequestContext, inst: &Instance) -> bool {
    ctx.project_id.as_deref() == Some(inst.project_id.as_str())
}

pub(super) fn snapshot_image_body(
    ctx: &RequestContext,
    inst: &Instance,
    name: &str,
    image_type: &str,
    extra: &BTreeMap<String, String>,
) -> Value {
    let mut body = json!({
        "name": name,
        "disk_format": "qcow2",
        "container_format": "bare",
        "min_ram": inst.memory_mb,
        "min_disk": inst.root_gb,
    });
    for (k, v) in &inst.system_metadata {
        let Some(prop) = k.strip_prefix("image_") else {
            continue;
        };
        let nova_owned = matches!(
            prop,
            "name" | "min_ram" | "min_disk" | "disk_format" | "container_format" | "base_image_ref"
        );
        if nova_owned || NON_INHERITABLE.contains(&prop) || prop.starts_with("os_glance") {
            continue;
        }
        body[prop] = json!(v);
    }
    body["instance_uuid"] = json!(inst.uuid.to_string());
    body["user_id"] = json!(ctx.user_id.clone().unwrap_or_default());
    body["image_type"] = json!(image_type);
    body["base_image_ref"] = json!(inst.image_ref);
    body["visibility"] = json!(if owned_by_caller(ctx, inst) {
        "private"
    } else {
        "shared"
    });
    for (k, v) in extra {
        body[k.as_str()] = json!(v);
    }
    body
}

impl API {
    /// Create the (queued) Glance image a snapshot, backup or shelve uploads into.
    pub(super) async fn create_snapshot_image(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        name: &str,
        image_type: &str,
        extra: &BTreeMap<String, String>,
    ) -> NovaResult<ImageMeta> {
        let body = snapshot_image_body(ctx, inst, name, image_type, extra);
        let image = self.image_api.create(ctx, &body).await?;
        if !owned_by_caller(ctx, inst) {
            self.image_api
                .add_member(ctx, &image.id, &inst.project_id)
                .await?;
        }
        Ok(image)
    }
}

impl API {
    /// One image with its owner and times (the image proxy's show), or ImageNotFound.
    pub async fn get_image_record(
        &self,
        ctx: &RequestContext,
        image_id: &str,
    ) -> NovaResult<GlanceImage> {
        self.image_api.show_image(ctx, image_id).await
    }

    /// Nova's image metadata update: merge `metadata` into the image's
    /// properties, or with `replace` make them exactly `metadata`; within the
    /// caller's `metadata_items` quota (MetadataLimitExceeded). The image after.
    pub async fn update_image_metadata(
        &self,
        ctx: &RequestContext,
        image: &GlanceImage,
        metadata: &BTreeMap<String, String>,
        replace: bool,
    ) -> NovaResult<GlanceImage> {
        let old = &image.meta.properties;
        let count = if replace {
            metadata.len()
        } else {
            old.keys()
                .chain(metadata.keys())
                .collect::<BTreeSet<_>>()
                .len()
        };
        let project = ctx.project_id.clone().unwrap_or_default();
        self.check_metadata_quota(ctx, &project, count).await?;
        let mut ops = vec![];
        for (k, v) in metadata {
            let op = if old.contains_key(k) {
                "replace"
            } else {
                "add"
            };
            ops.push(json!({"op": op, "path": format!("/{}", json_pointer(k)), "value": v}));
        }
        if replace {
            for k in old.keys().filter(|k| !metadata.contains_key(*k)) {
                ops.push(json!({"op": "remove", "path": format!("/{}", json_pointer(k))}));
            }
        }
        if ops.is_empty() {
            return Ok(image.clone());
        }
        self.image_api.patch(ctx, &image.meta.id, &ops).await
    }

    /// Remove one property of an image: the image after.
    pub async fn delete_image_metadata_item(
        &self,
        ctx: &RequestContext,
        image_id: &str,
        key: &str,
    ) -> NovaResult<GlanceImage> {
        let op = json!({"op": "remove", "path": format!("/{}", json_pointer(key))});
        self.image_api.patch(ctx, image_id, &[op]).await
    }
}

/// A key as one JSON-pointer segment (RFC 6901: `~` → `~0`, `/` → `~1`).
fn json_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}
