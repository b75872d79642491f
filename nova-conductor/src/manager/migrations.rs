//! Migrations (Nova's `migrations` table): os-migrations lists them, the
//! compute hosts of a resize or cold migration read and advance theirs.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{LiveMigrationProgress, Migration, MigrationFilters};
use uuid::Uuid;

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

    async fn migration_get(
        &self,
        _ctx: &RequestContext,
        migration_id: i64,
    ) -> Result<Migration, NovaError> {
        retry_on_disconnect("migration_get", || self.db.migration_get(migration_id)).await
    }

    async fn migration_update_status(
        &self,
        _ctx: &RequestContext,
        migration_id: i64,
        status: String,
        expected: Option<Vec<String>>,
    ) -> Result<Migration, NovaError> {
        self.db
            .migration_update_status(migration_id, &status, expected.as_deref())
            .await
    }

    async fn migration_update_progress(
        &self,
        _ctx: &RequestContext,
        migration_id: i64,
        progress: LiveMigrationProgress,
    ) -> Result<(), NovaError> {
        self.db
            .migration_update_progress(migration_id, &progress)
            .await
    }

    async fn migration_get_in_progress_by_host(
        &self,
        _ctx: &RequestContext,
        host: String,
    ) -> Result<Vec<Migration>, NovaError> {
        retry_on_disconnect("migration_get_in_progress_by_host", || {
            self.db.migration_get_in_progress(None, Some(&host))
        })
        .await
    }

    async fn migration_get_in_progress_by_instance(
        &self,
        _ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<Vec<Migration>, NovaError> {
        retry_on_disconnect("migration_get_in_progress_by_instance", || {
            self.db.migration_get_in_progress(Some(instance_uuid), None)
        })
        .await
    }
}
