//! Server groups (`instance_groups`, `instance_group_policy`,
//! `instance_group_member`), with the `server_groups` quota.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::InstanceGroup;
use uuid::Uuid;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::InstanceGroups for ConductorManager {
    async fn instance_group_create(
        &self,
        _ctx: &RequestContext,
        group: InstanceGroup,
    ) -> Result<InstanceGroup, NovaError> {
        let limit = self
            .project_limit(&group.project_id, "server_groups")
            .await?;
        self.db.instance_group_create(&group, limit).await
    }

    async fn instance_group_get_by_uuid(
        &self,
        _ctx: &RequestContext,
        group_uuid: Uuid,
    ) -> Result<InstanceGroup, NovaError> {
        retry_on_disconnect("instance_group_get_by_uuid", || {
            self.db.instance_group_get_by_uuid(group_uuid)
        })
        .await
    }

    async fn instance_group_get_all(
        &self,
        _ctx: &RequestContext,
        project_id: Option<String>,
    ) -> Result<Vec<InstanceGroup>, NovaError> {
        retry_on_disconnect("instance_group_get_all", || {
            self.db.instance_group_get_all(project_id.as_deref())
        })
        .await
    }

    async fn instance_group_get_by_instance_uuid(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Option<InstanceGroup>, NovaError> {
        retry_on_disconnect("instance_group_get_by_instance_uuid", || {
            self.db.instance_group_get_by_instance_uuid(instance_uuid)
        })
        .await
    }

    async fn instance_group_destroy(
        &self,
        _ctx: &RequestContext,
        group_uuid: Uuid,
    ) -> Result<(), NovaError> {
        self.db.instance_group_destroy(group_uuid).await
    }
}
