//! Flavor extra specs, access lists and descriptions.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::Flavor;
use std::collections::BTreeMap;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::FlavorExtras for ConductorManager {
    async fn flavor_extra_specs_update_or_create(
        &self,
        ctx: &RequestContext,
        flavor_id: String,
        extra_specs: BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        let r = self
            .db
            .flavor_extra_specs_update_or_create(&flavor_id, &extra_specs)
            .await;
        self.flavors_written(ctx, r).await
    }

    async fn flavor_extra_specs_delete(
        &self,
        ctx: &RequestContext,
        flavor_id: String,
        key: String,
    ) -> Result<(), NovaError> {
        let r = self.db.flavor_extra_specs_delete(&flavor_id, &key).await;
        self.flavors_written(ctx, r).await
    }

    async fn flavor_access_get_by_flavor_id(
        &self,
        _ctx: &RequestContext,
        flavor_id: String,
    ) -> Result<Vec<String>, NovaError> {
        retry_on_disconnect("flavor_access_get_by_flavor_id", || {
            self.db.flavor_access_get_by_flavor_id(&flavor_id)
        })
        .await
    }

    async fn flavor_access_add(
        &self,
        ctx: &RequestContext,
        flavor_id: String,
        project_id: String,
    ) -> Result<Vec<String>, NovaError> {
        let r = self.db.flavor_access_add(&flavor_id, &project_id).await;
        self.flavors_written(ctx, r).await
    }

    async fn flavor_access_remove(
        &self,
        ctx: &RequestContext,
        flavor_id: String,
        project_id: String,
    ) -> Result<Vec<String>, NovaError> {
        let r = self.db.flavor_access_remove(&flavor_id, &project_id).await;
        self.flavors_written(ctx, r).await
    }

    async fn flavor_update_description(
        &self,
        ctx: &RequestContext,
        flavor_id: String,
        description: Option<String>,
    ) -> Result<Flavor, NovaError> {
        let r = self
            .db
            .flavor_update_description(&flavor_id, description.as_deref())
            .await;
        self.flavors_written(ctx, r).await
    }
}
