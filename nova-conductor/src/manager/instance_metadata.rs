//! Server metadata and tags.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use std::collections::BTreeMap;
use uuid::Uuid;

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
    ) -> Result<bool, NovaError> {
        self.db.instance_metadata_delete(instance_uuid, &key).await
    }

    async fn instance_system_metadata_update(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        metadata: BTreeMap<String, String>,
        delete: bool,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        self.db
            .instance_system_metadata_update(instance_uuid, &metadata, delete)
            .await
    }

    async fn instance_tag_get_by_instance_uuid(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<String>, NovaError> {
        retry_on_disconnect("instance_tag_get_by_instance_uuid", || {
            self.db.instance_tag_get_by_instance_uuid(instance_uuid)
        })
        .await
    }

    async fn instance_tag_set(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        tags: Vec<String>,
    ) -> Result<Vec<String>, NovaError> {
        self.db.instance_tag_set(instance_uuid, &tags).await
    }

    async fn instance_tag_add(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        tag: String,
    ) -> Result<(), NovaError> {
        self.db.instance_tag_add(instance_uuid, &tag).await
    }

    async fn instance_tag_delete(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        tag: String,
    ) -> Result<(), NovaError> {
        self.db.instance_tag_delete(instance_uuid, &tag).await
    }
}
