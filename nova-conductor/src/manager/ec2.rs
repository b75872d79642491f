//! The EC2 API's ids (`instance_id_mappings`, `s3_images`) and a server's
//! user metadata (which the EC2 API shows as tags).

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use std::collections::BTreeMap;
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
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::InstanceMetadata for ConductorManager {
    async fn instance_metadata_update(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        metadata: BTreeMap<String, String>,
        delete: bool,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        self.db
            .instance_metadata_update(instance_uuid, &metadata, delete)
            .await
    }

    async fn instance_metadata_delete(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        key: String,
    ) -> Result<(), NovaError> {
        self.db.instance_metadata_delete(instance_uuid, &key).await
    }
}
