//! `instance_metadata`: a server's user metadata (Nova's
//! `instance_metadata_update` / `instance_metadata_delete`), which the EC2
//! API also shows as an instance's tags.

use crate::{db_err, Db};
use nova_common::NovaError;
use sqlx::Row;
use std::collections::BTreeMap;
use uuid::Uuid;

impl Db {
    /// Set `metadata`'s keys on a live instance; with `delete`, remove every
    /// other key too. The instance's metadata afterwards.
    pub async fn instance_metadata_update(
        &self,
        uuid: Uuid,
        metadata: &BTreeMap<String, String>,
        delete: bool,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        let u = uuid.to_string();
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Lock the instance row: concurrent updates of one instance's metadata queue up.
        let live =
            sqlx::query("SELECT id FROM instances WHERE uuid = $1 AND deleted = 0 FOR UPDATE")
                .bind(&u)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if live.is_none() {
            return Err(NovaError::InstanceNotFound { instance_id: u });
        }
        let keys: Vec<String> = metadata.keys().cloned().collect();
        if delete {
            sqlx::query(
                "UPDATE instance_metadata SET deleted = id, deleted_at = now() \
                 WHERE instance_uuid = $1 AND deleted = 0 AND NOT (key = ANY($2))",
            )
            .bind(&u)
            .bind(&keys)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for (k, v) in metadata {
            let updated = sqlx::query(
                "UPDATE instance_metadata SET value = $3, updated_at = now() \
                 WHERE instance_uuid = $1 AND key = $2 AND deleted = 0",
            )
            .bind(&u)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO instance_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
                )
                .bind(&u)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        sqlx::query("UPDATE instances SET updated_at = now() WHERE uuid = $1")
            .bind(&u)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let rows = sqlx::query(
            "SELECT key, value FROM instance_metadata WHERE instance_uuid = $1 AND deleted = 0",
        )
        .bind(&u)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get::<String, _>(0).map_err(db_err)?,
                    r.try_get::<Option<String>, _>(1)
                        .map_err(db_err)?
                        .unwrap_or_default(),
                ))
            })
            .collect()
    }

    /// Remove one key of an instance's metadata (absent keys are no error).
    pub async fn instance_metadata_delete(&self, uuid: Uuid, key: &str) -> Result<(), NovaError> {
        sqlx::query(
            "UPDATE instance_metadata SET deleted = id, deleted_at = now() \
             WHERE instance_uuid = $1 AND key = $2 AND deleted = 0",
        )
        .bind(uuid.to_string())
        .bind(key)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }
}
