//! EC2 ids and states (Nova's `ec2utils.py` and `inst_state.py`).

use nova_common::states::{TaskState, VmState};
use nova_common::{NovaResult, RequestContext};
use nova_objects::Instance;
use nova_rpc::conductor;
use std::collections::HashMap;
use uuid::Uuid;

pub use nova_metadata::{ec2_image_id, ec2_instance_id};

/// `sg-%08x` of a `security_groups` id. Nova's EC2 API named groups only
/// by name; boto3's model wants a `GroupId`, and the group's own integer id
/// is stable, unique and never reused, so it is the mapping.
pub fn ec2_sg_id(id: i64) -> String {
    format!("sg-{id:08x}")
}

/// The EC2 ids of instances (`i-%08x` of `instance_id_mappings`), in
/// order, made where missing: the EC2 API and the metadata service show
/// the same ids through this (Nova's `ec2utils.id_to_ec2_inst_id`).
pub async fn instance_ec2_ids(
    conductor: &conductor::Client,
    ctx: &RequestContext,
    uuids: Vec<Uuid>,
) -> NovaResult<Vec<String>> {
    if uuids.is_empty() {
        return Ok(vec![]);
    }
    let ids = conductor.ec2_instance_create(ctx, uuids).await?;
    Ok(ids.into_iter().map(ec2_instance_id).collect())
}

/// The EC2 ids of Glance images (uuid → `ami-`/`aki-`/`ari-%08x` of
/// `s3_images`), each shown as the kind given, made where missing (Nova's
/// `ec2utils.glance_id_to_ec2_id`); empty uuids are left out.
pub async fn image_ec2_ids(
    conductor: &conductor::Client,
    ctx: &RequestContext,
    images: &[(String, &'static str)],
) -> NovaResult<HashMap<String, String>> {
    let mut uuids: Vec<String> = images.iter().map(|(u, _)| u.clone()).collect();
    uuids.sort();
    uuids.dedup();
    uuids.retain(|u| !u.is_empty());
    if uuids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = conductor.s3_image_create(ctx, uuids.clone()).await?;
    let by_uuid: HashMap<String, i64> = uuids.into_iter().zip(ids).collect();
    Ok(images
        .iter()
        .filter_map(|(u, kind)| by_uuid.get(u).map(|n| (u.clone(), ec2_image_id(kind, *n))))
        .collect())
}

/// The integer of an EC2 id with one of these prefixes (`i`, or `ami`,
/// `aki`, `ari`): `None` when it is not such an id.
pub fn ec2_id_to_id(ec2_id: &str, prefixes: &[&str]) -> Option<i64> {
    let (prefix, hex) = ec2_id.split_once('-')?;
    if !prefixes.contains(&prefix) || hex.is_empty() || hex.len() > 16 {
        return None;
    }
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    i64::from_str_radix(hex, 16).ok().filter(|n| *n > 0)
}

/// Nova's `ec2utils.image_type`: `aki` for kernels, `ari` for ramdisks,
/// else `ami`, from an image's container or disk format.
pub fn image_kind(container_format: Option<&str>, disk_format: Option<&str>) -> &'static str {
    for f in [container_format, disk_format].into_iter().flatten() {
        match f {
            "aki" | "kernel" => return "aki",
            "ari" | "ramdisk" => return "ari",
            _ => {}
        }
    }
    "ami"
}

/// DescribeImages' `imageType` of an image kind.
pub fn image_type_name(kind: &str) -> &'static str {
    match kind {
        "aki" => "kernel",
        "ari" => "ramdisk",
        _ => "machine",
    }
}

pub const PENDING: (i64, &str) = (0, "pending");
pub const RUNNING: (i64, &str) = (16, "running");
pub const SHUTTING_DOWN: (i64, &str) = (32, "shutting-down");
pub const TERMINATED: (i64, &str) = (48, "terminated");
pub const STOPPING: (i64, &str) = (64, "stopping");
pub const STOPPED: (i64, &str) = (80, "stopped");

/// The EC2 state of an instance: code and name. Nova's map of vm_states,
/// refined by the task under way (as ec2-api does) so that waiters see
/// `stopping`, `shutting-down` and `pending` (starting) while they last.
/// An instance in ERROR is reported `terminated`: it will never run.
pub fn instance_state(inst: &Instance) -> (i64, &'static str) {
    use TaskState as T;
    use VmState as V;
    if inst.deleted {
        return TERMINATED;
    }
    match (inst.vm_state, inst.task_state) {
        (_, Some(T::Deleting | T::SoftDeleting)) => SHUTTING_DOWN,
        (V::Building, _) => PENDING,
        (V::Active, Some(T::PoweringOff)) => STOPPING,
        (V::Active | V::Rescued | V::Resized, _) => RUNNING,
        (V::Stopped, Some(T::PoweringOn)) => PENDING,
        (V::Stopped | V::Paused | V::Suspended | V::Shelved | V::ShelvedOffloaded, _) => STOPPED,
        (V::Deleted | V::SoftDeleted | V::Error, _) => TERMINATED,
    }
}

/// The names a state may be filtered by.
pub const STATE_NAMES: &[&str] = &[
    "pending",
    "running",
    "shutting-down",
    "terminated",
    "stopping",
    "stopped",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids() {
        assert_eq!(ec2_instance_id(10), "i-0000000a");
        assert_eq!(ec2_image_id("aki", 255), "aki-000000ff");
        assert_eq!(ec2_id_to_id("i-0000000a", &["i"]), Some(10));
        assert_eq!(
            ec2_id_to_id("ami-000000FF", &["ami", "aki", "ari"]),
            Some(255)
        );
        assert_eq!(ec2_id_to_id("i-0000000a", &["ami"]), None);
        assert_eq!(ec2_id_to_id("i-", &["i"]), None);
        assert_eq!(ec2_id_to_id("i-xyz", &["i"]), None);
        assert_eq!(ec2_id_to_id("i-00000000", &["i"]), None);
        assert_eq!(ec2_id_to_id("i-ffffffffffffffffff", &["i"]), None);
        assert_eq!(ec2_id_to_id("nonsense", &["i"]), None);
        assert_eq!(ec2_sg_id(26), "sg-0000001a");
        assert_eq!(ec2_id_to_id("sg-0000001a", &["sg"]), Some(26));
        assert_eq!(image_kind(Some("aki"), Some("aki")), "aki");
        assert_eq!(image_kind(Some("bare"), Some("qcow2")), "ami");
    }

    #[test]
    fn states() {
        let mut i = Instance {
            vm_state: VmState::Building,
            task_state: Some(TaskState::Scheduling),
            ..Default::default()
        };
        assert_eq!(instance_state(&i), PENDING);
        i.vm_state = VmState::Active;
        i.task_state = None;
        assert_eq!(instance_state(&i), RUNNING);
        i.task_state = Some(TaskState::PoweringOff);
        assert_eq!(instance_state(&i), STOPPING);
        i.vm_state = VmState::Stopped;
        i.task_state = None;
        assert_eq!(instance_state(&i), STOPPED);
        i.task_state = Some(TaskState::Deleting);
        assert_eq!(instance_state(&i), SHUTTING_DOWN);
        i.deleted = true;
        assert_eq!(instance_state(&i), TERMINATED);
    }
}
