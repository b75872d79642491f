//! Flavors (`instance_types`).

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::Flavor;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Flavors for ConductorManager {
    async fn flavor_get_by_flavor_id(
        &self,
        _ctx: &RequestContext,
        flavor_id: String,
    ) -> Result<Flavor, NovaError> {
        retry_on_disconnect("flavor_get_by_flavor_id", || {
            self.db.flavor_get_by_flavor_id(&flavor_id)
        })
        .await
    }

    async fn flavor_get_all(
        &self,
        _ctx: &RequestContext,
        is_public: Option<bool>,
    ) -> Result<Vec<Flavor>, NovaError> {
        retry_on_disconnect("flavor_get_all", || self.db.flavor_get_all(is_public)).await
    }

    async fn flavor_create(
        &self,
        ctx: &RequestContext,
        flavor: Flavor,
    ) -> Result<Flavor, NovaError> {
        let r = self.db.flavor_create(&flavor).await;
        self.flavors_written(ctx, r).await
    }

    async fn flavor_destroy(
        &self,
        ctx: &RequestContext,
        flavor_id: String,
    ) -> Result<(), NovaError> {
        let r = self.db.flavor_destroy(&flavor_id).await;
        self.flavors_written(ctx, r).await
    }
}
