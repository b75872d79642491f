//! The EC2 API's ids (`instance_id_mappings`, `s3_images`) and a server's
//! user metadata (which the EC2 API shows as tags).

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::Ec2InstanceIds;
use uuid::Uuid;

/// More ids than one request may ask for at once (a listing is paginated well below).
const MAX_IDS_PER_CALL: usize = 10_000;

fn check_batch(n: usize) -> Result<(), NovaError> {
    if n > MAX_IDS_PER_CALL {
        return Err(NovaError::invalid_input(format!(
            "at most {MAX_IDS_PER_CALL} ids per request"
        )));
    }
    Ok(())
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Ec2Ids for ConductorManager {
    async fn ec2_instance_create(
        &self,
        _ctx: &RequestContext,
        instance_uuids: Vec<Uuid>,
    ) -> Result<Vec<i64>, NovaError> {
        check_batch(instance_uuids.len())?;
        let uuids: Vec<String> = instance_uuids.iter().map(Uuid::to_string).collect();
        // Idempotent (get or create), so it may be tried again.
        retry_on_disconnect("ec2_instance_create", || {
            self.db.ec2_instance_create(&uuids)
        })
        .await
    }

    async fn ec2_instance_get_by_id(
        &self,
        _ctx: &RequestContext,
        instance_id: i64,
    ) -> Result<Uuid, NovaError> {
        let found = retry_on_disconnect("ec2_instance_get_by_id", || {
            self.db.ec2_instance_get_by_id(instance_id)
        })
        .await?;
        found
            .and_then(|u| Uuid::parse_str(&u).ok())
            .ok_or_else(|| NovaError::InstanceNotFound {
                instance_id: instance_id.to_string(),
            })
    }

    async fn s3_image_create(
        &self,
        _ctx: &RequestContext,
        image_uuids: Vec<String>,
    ) -> Result<Vec<i64>, NovaError> {
        check_batch(image_uuids.len())?;
        if let Some(bad) = image_uuids.iter().find(|u| u.is_empty() || u.len() > 36) {
            return Err(NovaError::invalid_input(format!(
                "{bad:?} is not an image id"
            )));
        }
        retry_on_disconnect("s3_image_create", || self.db.s3_image_create(&image_uuids)).await
    }

    async fn s3_image_get(
        &self,
        _ctx: &RequestContext,
        image_id: i64,
    ) -> Result<String, NovaError> {
        retry_on_disconnect("s3_image_get", || self.db.s3_image_get(image_id))
            .await?
            .ok_or_else(|| NovaError::ImageNotFound {
                image_id: image_id.to_string(),
            })
    }

    async fn instance_ec2_ids(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Ec2InstanceIds, NovaError> {
        let inst = retry_on_disconnect("instance_get_by_uuid", || {
            self.db.instance_get_by_uuid(instance_uuid, false)
        })
        .await?;
        let mapped = [instance_uuid.to_string()];
        let instance_id = retry_on_disconnect("ec2_instance_create", || {
            self.db.ec2_instance_create(&mapped)
        })
        .await?
        .pop()
        .ok_or_else(|| NovaError::internal("no EC2 id made for the instance"))?;
        // The image, kernel and ramdisk uuids that are set, in one round trip.
        let images = [&inst.image_ref, &inst.kernel_id, &inst.ramdisk_id];
        let mut uuids: Vec<String> = images
            .iter()
            .filter(|u| !u.is_empty() && u.len() <= 36)
            .map(|u| u.to_string())
            .collect();
        uuids.sort();
        uuids.dedup();
        let ids = if uuids.is_empty() {
            vec![]
        } else {
            retry_on_disconnect("s3_image_create", || self.db.s3_image_create(&uuids)).await?
        };
        let id_of = |u: &str| {
            uuids
                .iter()
                .position(|x| x == u)
                .and_then(|i| ids.get(i).copied())
        };
        Ok(Ec2InstanceIds {
            instance_id,
            image_id: id_of(&inst.image_ref),
            kernel_id: id_of(&inst.kernel_id),
            ramdisk_id: id_of(&inst.ramdisk_id),
        })
    }
}
