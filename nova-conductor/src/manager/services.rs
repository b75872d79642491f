//! The services table (Nova's servicegroup DB driver, through the conductor).

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::Service;

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Services for ConductorManager {
    async fn service_update(
        &self,
        _ctx: &RequestContext,
        host: String,
        binary: String,
        topic: Option<String>,
    ) -> Result<Service, NovaError> {
        self.db
            .service_update(&host, &binary, topic.as_deref())
            .await
    }

    async fn service_get_all(&self, _ctx: &RequestContext) -> Result<Vec<Service>, NovaError> {
        retry_on_disconnect("service_get_all", || self.db.service_get_all()).await
    }

    async fn service_set_disabled(
        &self,
        _ctx: &RequestContext,
        host: String,
        binary: String,
        disabled: bool,
        disabled_reason: Option<String>,
    ) -> Result<Service, NovaError> {
        self.db
            .service_set_disabled(&host, &binary, disabled, disabled_reason.as_deref())
            .await
    }

    async fn service_set_forced_down(
        &self,
        _ctx: &RequestContext,
        host: String,
        binary: String,
        forced_down: bool,
    ) -> Result<Service, NovaError> {
        self.db
            .service_set_forced_down(&host, &binary, forced_down)
            .await
    }

    async fn service_delete(
        &self,
        _ctx: &RequestContext,
        service_id: i64,
    ) -> Result<(), NovaError> {
        self.db.service_delete(service_id).await
    }
}
