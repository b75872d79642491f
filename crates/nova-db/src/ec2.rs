//! `instance_id_mappings` and `s3_images`: the EC2 API's integer ids for
//! instance and image uuids (Nova's `ec2_instance_create` /
//! `s3_image_create`). A row is made on first reference and kept: an id
//! never changes and is never handed to another uuid.

use crate::{db_err, Db};
use nova_common::NovaError;
use sqlx::Row;
use std::collections::HashMap;

/// The two mapping tables (fixed names, never from input).
#[derive(Clone, Copy)]
enum Table {
    Instances,
    Images,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Instances => "instance_id_mappings",
            Table::Images => "s3_images",
        }
    }
}

impl Db {
    /// The id of each uuid, in order, creating the missing ones. Concurrent
    /// callers for the same uuid get the same id (the unique index decides).
    async fn ids_get_or_create(
        &self,
        table: Table,
        uuids: &[String],
    ) -> Result<Vec<i64>, NovaError> {
        if uuids.is_empty() {
            return Ok(vec![]);
        }
        let t = table.name();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            // Sorted, so that concurrent inserts of overlapping sets take
            // the unique index's locks in one order (no deadlock).
            "INSERT INTO {t} (uuid) SELECT DISTINCT u FROM unnest($1::varchar[]) AS u \
             ORDER BY u ON CONFLICT (uuid) DO NOTHING"
        )))
        .bind(uuids)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id, uuid FROM {t} WHERE uuid = ANY($1)"
        )))
        .bind(uuids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut by_uuid = HashMap::with_capacity(rows.len());
        for r in &rows {
            let id: i32 = r.try_get("id").map_err(db_err)?;
            let uuid: String = r.try_get("uuid").map_err(db_err)?;
            by_uuid.insert(uuid, id as i64);
        }
        uuids
            .iter()
            .map(|u| {
                by_uuid.get(u).copied().ok_or_else(|| NovaError::DBError {
                    reason: format!("{t}: no id for {u} after inserting it"),
                })
            })
            .collect()
    }

    async fn uuid_by_id(&self, table: Table, id: i64) -> Result<Option<String>, NovaError> {
        if !(1..=i32::MAX as i64).contains(&id) {
            return Ok(None);
        }
        let t = table.name();
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT uuid FROM {t} WHERE id = $1"
        )))
        .bind(id as i32)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.map(|r| r.try_get("uuid").map_err(db_err)).transpose()
    }

    /// The EC2 id of each instance uuid (`i-%08x`), made where missing.
    pub async fn ec2_instance_create(&self, uuids: &[String]) -> Result<Vec<i64>, NovaError> {
        self.ids_get_or_create(Table::Instances, uuids).await
    }

    /// The instance uuid of an EC2 instance id.
    pub async fn ec2_instance_get_by_id(&self, id: i64) -> Result<Option<String>, NovaError> {
        self.uuid_by_id(Table::Instances, id).await
    }

    /// The EC2 id of each image uuid (`ami-`/`aki-`/`ari-%08x`), made where missing.
    pub async fn s3_image_create(&self, uuids: &[String]) -> Result<Vec<i64>, NovaError> {
        self.ids_get_or_create(Table::Images, uuids).await
    }

    /// The image uuid of an EC2 image id.
    pub async fn s3_image_get(&self, id: i64) -> Result<Option<String>, NovaError> {
        self.uuid_by_id(Table::Images, id).await
    }
}
