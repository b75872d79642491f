//! Security groups (`security_groups`, `security_group_rules`,
//! `security_group_instance_association`, `security_group_default_rules`),
//! with the `security_groups` and `security_group_rules` quotas.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, SecurityGroup, SecurityGroupDefaultRule, SecurityGroupRule};
use uuid::Uuid;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::SecurityGroups for ConductorManager {
    async fn security_group_ensure_default(
        &self,
        _ctx: &RequestContext,
        project_id: String,
        user_id: String,
    ) -> Result<SecurityGroup, NovaError> {
        self.db
            .security_group_ensure_default(&project_id, &user_id)
            .await
    }

    async fn security_group_create(
        &self,
        _ctx: &RequestContext,
        group: SecurityGroup,
    ) -> Result<SecurityGroup, NovaError> {
        let limit = self
            .project_limit(&group.project_id, "security_groups")
            .await?;
        self.db.security_group_create(&group, limit).await
    }

    async fn security_group_get(
        &self,
        _ctx: &RequestContext,
        security_group_id: i64,
    ) -> Result<SecurityGroup, NovaError> {
        retry_on_disconnect("security_group_get", || {
            self.db.security_group_get(security_group_id)
        })
        .await
    }

    async fn security_group_get_by_name(
        &self,
        _ctx: &RequestContext,
        project_id: String,
        name: String,
    ) -> Result<SecurityGroup, NovaError> {
        retry_on_disconnect("security_group_get_by_name", || {
            self.db.security_group_get_by_name(&project_id, &name)
        })
        .await
    }

    async fn security_group_get_by_project(
        &self,
        _ctx: &RequestContext,
        project_id: String,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        retry_on_disconnect("security_group_get_by_project", || {
            self.db.security_group_get_by_project(&project_id)
        })
        .await
    }

    async fn security_group_get_all(
        &self,
        _ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        retry_on_disconnect("security_group_get_all", || {
            self.db.security_group_get_all()
        })
        .await
    }

    async fn security_group_get_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        retry_on_disconnect("security_group_get_by_instance", || {
            self.db.security_group_get_by_instance(instance_uuid)
        })
        .await
    }

    async fn security_group_update(
        &self,
        _ctx: &RequestContext,
        security_group_id: i64,
        name: String,
        description: String,
    ) -> Result<SecurityGroup, NovaError> {
        self.db
            .security_group_update(security_group_id, &name, &description)
            .await
    }

    async fn security_group_destroy(
        &self,
        _ctx: &RequestContext,
        security_group_id: i64,
    ) -> Result<(), NovaError> {
        self.db.security_group_destroy(security_group_id).await
    }

    async fn instance_add_security_group(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        security_group_id: i64,
    ) -> Result<(), NovaError> {
        self.db
            .instance_add_security_group(instance_uuid, security_group_id)
            .await
    }

    async fn instance_remove_security_group(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
        security_group_id: i64,
    ) -> Result<(), NovaError> {
        self.db
            .instance_remove_security_group(instance_uuid, security_group_id)
            .await
    }

    async fn security_group_rule_create(
        &self,
        _ctx: &RequestContext,
        rule: SecurityGroupRule,
    ) -> Result<SecurityGroupRule, NovaError> {
        let parent = self.db.security_group_get(rule.parent_group_id).await?;
        let limit = self
            .project_limit(&parent.project_id, "security_group_rules")
            .await?;
        self.db.security_group_rule_create(&rule, limit).await
    }

    async fn security_group_rule_get(
        &self,
        _ctx: &RequestContext,
        rule_id: i64,
    ) -> Result<SecurityGroupRule, NovaError> {
        retry_on_disconnect("security_group_rule_get", || {
            self.db.security_group_rule_get(rule_id)
        })
        .await
    }

    async fn security_group_rule_destroy(
        &self,
        _ctx: &RequestContext,
        rule_id: i64,
    ) -> Result<(), NovaError> {
        self.db.security_group_rule_destroy(rule_id).await
    }

    async fn security_group_rule_get_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<SecurityGroupRule>, NovaError> {
        retry_on_disconnect("security_group_rule_get_by_instance", || {
            self.db.security_group_rule_get_by_instance(instance_uuid)
        })
        .await
    }

    async fn instance_get_all_by_security_group_id(
        &self,
        _ctx: &RequestContext,
        security_group_id: i64,
    ) -> Result<Vec<Instance>, NovaError> {
        retry_on_disconnect("instance_get_all_by_security_group_id", || {
            self.db
                .instance_get_all_by_security_group_id(security_group_id)
        })
        .await
    }

    async fn instance_get_all_by_grantee_security_group_ids(
        &self,
        _ctx: &RequestContext,
        group_ids: Vec<i64>,
    ) -> Result<Vec<Instance>, NovaError> {
        retry_on_disconnect("instance_get_all_by_grantee_security_group_ids", || {
            self.db
                .instance_get_all_by_grantee_security_group_ids(&group_ids)
        })
        .await
    }

    async fn security_group_default_rule_create(
        &self,
        _ctx: &RequestContext,
        rule: SecurityGroupDefaultRule,
    ) -> Result<SecurityGroupDefaultRule, NovaError> {
        self.db.security_group_default_rule_create(&rule).await
    }

    async fn security_group_default_rule_list(
        &self,
        _ctx: &RequestContext,
    ) -> Result<Vec<SecurityGroupDefaultRule>, NovaError> {
        retry_on_disconnect("security_group_default_rule_list", || {
            self.db.security_group_default_rule_list()
        })
        .await
    }

    async fn security_group_default_rule_get(
        &self,
        _ctx: &RequestContext,
        rule_id: i64,
    ) -> Result<SecurityGroupDefaultRule, NovaError> {
        retry_on_disconnect("security_group_default_rule_get", || {
            self.db.security_group_default_rule_get(rule_id)
        })
        .await
    }

    async fn security_group_default_rule_destroy(
        &self,
        _ctx: &RequestContext,
        rule_id: i64,
    ) -> Result<(), NovaError> {
        self.db.security_group_default_rule_destroy(rule_id).await
    }
}
