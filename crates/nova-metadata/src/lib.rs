//! An instance's metadata, in one place for its two readers (Nova's
//! `nova/api/metadata/base.py`): nova-api's metadata service, which serves
//! it to the guest over HTTP, and nova-compute, which writes it onto the
//! guest's config drive.
//!
//! [`collect`] gathers what the metadata is made of (through the
//! conductor); [`base::InstanceMetadata`] renders the EC2 and OpenStack
//! trees and the config drive's files.

pub mod base;

use base::{InstanceMetadata, Key};
use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::Instance;
use nova_rpc::conductor;
use serde_json::Value;
use tracing::warn;

/// `i-%08x` of an `instance_id_mappings` id.
pub fn ec2_instance_id(id: i64) -> String {
    format!("i-{id:08x}")
}

/// `ami-%08x` / `aki-%08x` / `ari-%08x` of an `s3_images` id.
pub fn ec2_image_id(kind: &str, id: i64) -> String {
    format!("{kind}-{id:08x}")
}

/// A public key's type as Nova records it: `x509` for a PEM certificate,
/// `ssh` otherwise.
pub fn key_type_of(public_key: &str) -> &'static str {
    if public_key
        .trim_start()
        .starts_with("-----BEGIN CERTIFICATE-----")
    {
        "x509"
    } else {
        "ssh"
    }
}

/// `[api] vendordata_jsonfile_path` as JSON when StaticJSON is a provider
/// (`{}` without a path; None when StaticJSON is not a provider), read each
/// time an instance's metadata is built, as Nova's JsonFileVendorData: an
/// edit shows without a restart, and a file that cannot be read or is not
/// JSON fails the metadata (a 500, or the config drive's build) with a
/// warning naming it.
pub fn load_vendor_data(cfg: &NovaConfig) -> Result<Option<Value>, NovaError> {
    let api = &cfg.api;
    if !api.vendordata_providers.iter().any(|p| p == "StaticJSON") {
        return Ok(None);
    }
    let Some(path) = &api.vendordata_jsonfile_path else {
        return Ok(Some(Value::Object(Default::default())));
    };
    std::fs::read_to_string(path)
        .map_err(|e| e.to_string())
        .and_then(|t| serde_json::from_str::<Value>(&t).map_err(|e| e.to_string()))
        .map(Some)
        .map_err(|e| {
            warn!(%path, "vendordata_jsonfile_path: cannot load {path}: {e}");
            NovaError::internal(format!("cannot load the vendor data file {path}: {e}"))
        })
}

/// What only the caller knows: the metadata service's request and the
/// config drive's build.
#[derive(Clone, Debug, Default)]
pub struct Extras {
    /// The address the request came from (the metadata service).
    pub address: Option<String>,
    /// The password the guest posted (the metadata service).
    pub password: String,
    /// The StaticJSON vendor data ([`load_vendor_data`]).
    pub vendor_data: Option<Value>,
    /// The personality files (the config drive).
    pub files: Vec<(String, Vec<u8>)>,
    /// The admin password (the config drive).
    pub admin_pass: Option<String>,
}

/// Everything the metadata shows about `inst` (Nova's
/// `InstanceMetadata.__init__`): its EC2 ids and security groups through
/// the conductor, the rest from the instance and the configuration.
pub async fn collect(
    conductor: &conductor::Client,
    ctx: &RequestContext,
    cfg: &NovaConfig,
    inst: &Instance,
    extras: Extras,
) -> Result<InstanceMetadata, NovaError> {
    let key = match (&inst.key_name, &inst.key_data) {
        (Some(name), Some(data)) => Some(Key {
            name: name.clone(),
            key_type: key_type_of(data).to_string(),
            public_key: data.clone(),
        }),
        _ => None,
    };
    let user_data = match &inst.user_data {
        Some(u) => Some(
            base64::Engine::decode(&base64::engine::general_purpose::STANDARD, u.trim())
                .map_err(|e| NovaError::internal(format!("instance user_data: {e}")))?,
        ),
        None => None,
    };
    let hostname = if cfg.api.dhcp_domain.is_empty() {
        inst.hostname.clone()
    } else {
        format!("{}.{}", inst.hostname, cfg.api.dhcp_domain)
    };
    let (ids, groups) = tokio::join!(
        conductor.instance_ec2_ids(ctx, inst.uuid),
        conductor.security_group_get_by_instance(ctx, inst.uuid)
    );
    let ids = ids?;
    Ok(InstanceMetadata {
        uuid: inst.uuid,
        project_id: inst.project_id.clone(),
        name: inst.display_name.clone(),
        hostname,
        launch_index: inst.launch_index,
        reservation_id: inst.reservation_id.clone(),
        availability_zone: inst
            .availability_zone
            .clone()
            .unwrap_or_else(|| cfg.default.default_availability_zone.clone()),
        ec2_instance_id: ec2_instance_id(ids.instance_id),
        ami_id: ids
            .image_id
            .map(|n| ec2_image_id("ami", n))
            .unwrap_or_default(),
        kernel_id: ids.kernel_id.map(|n| ec2_image_id("aki", n)),
        ramdisk_id: ids.ramdisk_id.map(|n| ec2_image_id("ari", n)),
        instance_type: inst.flavor.name.clone(),
        root_device_name: inst.root_device_name.clone(),
        ephemeral_device: inst.default_ephemeral_device.clone(),
        swap_device: inst.default_swap_device.clone(),
        key,
        user_data,
        meta: inst.metadata.clone(),
        security_groups: groups?.into_iter().map(|g| g.name).collect(),
        address: extras.address,
        network_info: inst.network_info.clone(),
        dedicated_cpus: inst
            .numa_topology
            .iter()
            .flat_map(|t| &t.cells)
            .flat_map(|c| c.pcpuset.iter().copied())
            .collect::<std::collections::BTreeSet<u32>>()
            .into_iter()
            .collect(),
        device_metadata: inst.device_metadata.clone(),
        password: extras.password,
        vendor_data: extras.vendor_data,
        files: extras.files,
        admin_pass: extras.admin_pass,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_types() {
        assert_eq!(key_type_of("ssh-ed25519 AAAA me"), "ssh");
        assert_eq!(
            key_type_of("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
            "x509"
        );
    }

    #[test]
    fn ec2_ids() {
        assert_eq!(ec2_instance_id(10), "i-0000000a");
        assert_eq!(ec2_image_id("aki", 255), "aki-000000ff");
    }
}
