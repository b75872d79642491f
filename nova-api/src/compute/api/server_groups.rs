//! Server groups (what Nova's `ServerGroupController` and `API.create` ask
//! of `InstanceGroup`): create within the `server_groups` quota (checked by
//! the conductor, which records it), read, list, delete, and the group a
//! server joins at create (`scheduler_hints: {"group": uuid}`).

use super::API;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::InstanceGroup;
use std::collections::BTreeMap;
use uuid::Uuid;

/// What a create asks for (the 2.64 body, or the older `policies` list).
#[derive(Clone, Debug)]
pub struct ServerGroupCreate {
    pub name: String,
    pub policy: String,
    pub rules: BTreeMap<String, i64>,
}

fn not_found(id: &str) -> NovaError {
    NovaError::InstanceGroupNotFound {
        group_uuid: id.to_string(),
    }
}

impl API {
    pub async fn create_server_group(
        &self,
        ctx: &RequestContext,
        req: ServerGroupCreate,
    ) -> NovaResult<InstanceGroup> {
        if !InstanceGroup::POLICIES.contains(&req.policy.as_str()) {
            return Err(NovaError::invalid_input(format!(
                "Invalid policy {}",
                req.policy
            )));
        }
        if req.policy != "anti-affinity" && !req.rules.is_empty() {
            return Err(NovaError::invalid_input(
                "Only anti-affinity policy supports rules.",
            ));
        }
        let group = InstanceGroup {
            uuid: Uuid::new_v4(),
            name: Some(req.name),
            user_id: ctx.user_id.clone().unwrap_or_default(),
            project_id: ctx.project_id.clone().unwrap_or_default(),
            policy: req.policy,
            rules: req.rules,
            ..Default::default()
        };
        self.conductor.instance_group_create(ctx, group).await
    }

    /// A group by its id (any project's: policy decides who may see it).
    pub async fn get_server_group(
        &self,
        ctx: &RequestContext,
        id: &str,
    ) -> NovaResult<InstanceGroup> {
        let uuid = Uuid::parse_str(id).map_err(|_| not_found(id))?;
        self.conductor.instance_group_get_by_uuid(ctx, uuid).await
    }

    /// The caller's project's groups, or every project's.
    pub async fn get_server_groups(
        &self,
        ctx: &RequestContext,
        all_projects: bool,
    ) -> NovaResult<Vec<InstanceGroup>> {
        let project = if all_projects {
            None
        } else {
            Some(ctx.project_id.clone().unwrap_or_default())
        };
        self.conductor.instance_group_get_all(ctx, project).await
    }

    pub async fn delete_server_group(
        &self,
        ctx: &RequestContext,
        group: &InstanceGroup,
    ) -> NovaResult<()> {
        self.conductor.instance_group_destroy(ctx, group.uuid).await
    }

    /// The groups a server is a member of (2.71's `server_groups`): at most one.
    pub async fn server_groups_of(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> NovaResult<Vec<Uuid>> {
        Ok(self
            .conductor
            .instance_group_get_by_instance_uuid(ctx, instance_uuid)
            .await?
            .map(|g| g.uuid)
            .into_iter()
            .collect())
    }
}
