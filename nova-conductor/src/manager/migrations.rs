//! Migrations (Nova's `migrations` table), as os-migrations lists them.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Migration, MigrationFilters};

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::Migrations for ConductorManager {
    async fn migration_get_all_by_filters(
        &self,
        _ctx: &RequestContext,
        filters: MigrationFilters,
    ) -> Result<Vec<Migration>, NovaError> {
        retry_on_disconnect("migration_get_all_by_filters", || {
            self.db.migration_get_all_by_filters(&filters)
        })
        .await
    }
}
