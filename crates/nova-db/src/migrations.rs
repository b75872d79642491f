//! Nova's `migrations` table: the os-migrations list.

use crate::{db_err, Db};
use nova_common::NovaError;
use nova_objects::{Migration, MigrationFilters};
use sqlx::postgres::PgRow;
use sqlx::Row;

fn migration_from_row(r: &PgRow) -> Result<Migration, sqlx::Error> {
    Ok(Migration {
        id: r.try_get::<i32, _>("id")? as i64,
        uuid: r.try_get("uuid")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        source_compute: r.try_get("source_compute")?,
        dest_compute: r.try_get("dest_compute")?,
        dest_host: r.try_get("dest_host")?,
        source_node: r.try_get("source_node")?,
        dest_node: r.try_get("dest_node")?,
        status: r.try_get("status")?,
        instance_uuid: r.try_get("instance_uuid")?,
        old_instance_type_id: r
            .try_get::<Option<i32>, _>("old_instance_type_id")?
            .map(i64::from),
        new_instance_type_id: r
            .try_get::<Option<i32>, _>("new_instance_type_id")?
            .map(i64::from),
        migration_type: r.try_get("migration_type")?,
        hidden: r.try_get("hidden")?,
        user_id: r.try_get("user_id")?,
        project_id: r.try_get("project_id")?,
    })
}

impl Db {
    /// The live, unhidden migrations matching `f`, newest first (by
    /// `created_at`, then `id`), after `f.marker` and at most `f.limit`.
    pub async fn migration_get_all_by_filters(
        &self,
        f: &MigrationFilters,
    ) -> Result<Vec<Migration>, NovaError> {
        let marker = match f.marker {
            None => None,
            Some(m) => {
                let row: Option<(chrono::DateTime<chrono::Utc>, i32)> = sqlx::query_as(
                    "SELECT created_at, id FROM migrations WHERE uuid = $1 AND deleted = 0",
                )
                .bind(m)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
                Some(row.ok_or_else(|| NovaError::MarkerNotFound {
                    marker: m.to_string(),
                })?)
            }
        };
        let rows = sqlx::query(
            "SELECT * FROM migrations
             WHERE deleted = 0 AND NOT hidden
               AND ($1::text IS NULL OR status = $1)
               AND ($2::text IS NULL OR source_compute = $2 OR dest_compute = $2)
               AND ($3::text IS NULL OR source_compute = $3)
               AND ($4::uuid IS NULL OR instance_uuid = $4)
               AND ($5::text IS NULL OR migration_type = $5)
               AND ($6::text IS NULL OR user_id = $6)
               AND ($7::text IS NULL OR project_id = $7)
               AND ($8::timestamptz IS NULL OR coalesce(updated_at, created_at) >= $8)
               AND ($9::timestamptz IS NULL OR coalesce(updated_at, created_at) <= $9)
               AND ($10::timestamptz IS NULL OR (created_at, id) < ($10, $11))
             ORDER BY created_at DESC, id DESC
             LIMIT $12",
        )
        .bind(&f.status)
        .bind(&f.host)
        .bind(&f.source_compute)
        .bind(f.instance_uuid)
        .bind(&f.migration_type)
        .bind(&f.user_id)
        .bind(&f.project_id)
        .bind(f.changes_since)
        .bind(f.changes_before)
        .bind(marker.map(|m| m.0))
        .bind(marker.map(|m| m.1))
        .bind(f.limit)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(migration_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }
}
