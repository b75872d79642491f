//! `aggregates`, `aggregate_hosts`, `aggregate_metadata` (Nova's API
//! database: rows are deleted, not soft-deleted).

use crate::{db_err, is_unique_violation, parse_uuid, Db};
use nova_common::NovaError;
use nova_objects::Aggregate;
use sqlx::{Postgres, Row, Transaction};
use std::collections::BTreeMap;
use uuid::Uuid;

fn not_found(id: i64) -> NovaError {
    NovaError::AggregateNotFound {
        aggregate_id: id.to_string(),
    }
}

/// Lock a live aggregate's row for the rest of `tx`, or AggregateNotFound.
async fn lock(tx: &mut Transaction<'_, Postgres>, id: i64) -> Result<(), NovaError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT id FROM aggregates WHERE id = $1 FOR UPDATE")
            .bind(id as i32)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    found.map(|_| ()).ok_or_else(|| not_found(id))
}

/// Set (or with None remove) metadata items inside `tx`.
async fn put_metadata(
    tx: &mut Transaction<'_, Postgres>,
    id: i64,
    items: &BTreeMap<String, Option<String>>,
) -> Result<(), NovaError> {
    for (k, v) in items {
        match v {
            Some(v) => {
                sqlx::query(
                    "INSERT INTO aggregate_metadata (aggregate_id, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (aggregate_id, key) DO UPDATE SET value = $3, updated_at = now()",
                )
                .bind(id as i32)
                .bind(k)
                .bind(v)
                .execute(&mut **tx)
                .await
                .map_err(db_err)?;
            }
            None => {
                sqlx::query("DELETE FROM aggregate_metadata WHERE aggregate_id = $1 AND key = $2")
                    .bind(id as i32)
                    .bind(k)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err)?;
            }
        }
    }
    sqlx::query("UPDATE aggregates SET updated_at = now() WHERE id = $1")
        .bind(id as i32)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

impl Db {
    async fn aggregates_where(&self, id: Option<i64>) -> Result<Vec<Aggregate>, NovaError> {
        let rows = sqlx::query(
            "SELECT id, uuid, name, created_at, updated_at FROM aggregates
             WHERE ($1::integer IS NULL OR id = $1) ORDER BY id",
        )
        .bind(id.map(|i| i as i32))
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut out = rows
            .iter()
            .map(|r| {
                Ok(Aggregate {
                    id: r.try_get::<i32, _>(0)? as i64,
                    uuid: parse_uuid(r.try_get(1)?),
                    name: r.try_get(2)?,
                    created_at: r.try_get(3)?,
                    updated_at: r.try_get(4)?,
                    ..Default::default()
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err)?;
        let ids: Vec<i32> = out.iter().map(|a| a.id as i32).collect();
        let hosts = sqlx::query(
            "SELECT aggregate_id, host FROM aggregate_hosts WHERE aggregate_id = ANY($1) ORDER BY id",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in hosts {
            let id: i32 = r.try_get(0).map_err(db_err)?;
            if let Some(a) = out.iter_mut().find(|a| a.id == id as i64) {
                a.hosts.push(r.try_get(1).map_err(db_err)?);
            }
        }
        let meta = sqlx::query(
            "SELECT aggregate_id, key, value FROM aggregate_metadata WHERE aggregate_id = ANY($1)",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in meta {
            let id: i32 = r.try_get(0).map_err(db_err)?;
            if let Some(a) = out.iter_mut().find(|a| a.id == id as i64) {
                a.metadata
                    .insert(r.try_get(1).map_err(db_err)?, r.try_get(2).map_err(db_err)?);
            }
        }
        Ok(out)
    }

    pub async fn aggregate_get_all(&self) -> Result<Vec<Aggregate>, NovaError> {
        self.aggregates_where(None).await
    }

    /// The aggregates `host` is in (Nova's `AggregateList.get_by_host`).
    pub async fn aggregate_get_by_host(&self, host: &str) -> Result<Vec<Aggregate>, NovaError> {
        let mut all = self.aggregates_where(None).await?;
        all.retain(|a| a.hosts.iter().any(|h| h == host));
        Ok(all)
    }

    pub async fn aggregate_get(&self, id: i64) -> Result<Aggregate, NovaError> {
        self.aggregates_where(Some(id))
            .await?
            .pop()
            .ok_or_else(|| not_found(id))
    }

    /// A new aggregate (AggregateNameExists if the name is taken).
    pub async fn aggregate_create(
        &self,
        name: &str,
        availability_zone: Option<&str>,
    ) -> Result<Aggregate, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let res = sqlx::query_scalar::<_, i32>(
            "INSERT INTO aggregates (uuid, name) VALUES ($1, $2) RETURNING id",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(name)
        .fetch_one(&mut *tx)
        .await;
        let id = match res {
            Ok(id) => id as i64,
            Err(e) if is_unique_violation(&e) => {
                return Err(NovaError::AggregateNameExists {
                    aggregate_name: name.to_string(),
                })
            }
            Err(e) => return Err(db_err(e)),
        };
        if let Some(az) = availability_zone {
            let items = BTreeMap::from([("availability_zone".to_string(), Some(az.to_string()))]);
            put_metadata(&mut tx, id, &items).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.aggregate_get(id).await
    }

    /// Rename it and/or set its zone.
    pub async fn aggregate_update(
        &self,
        id: i64,
        name: Option<&str>,
        availability_zone: Option<&str>,
    ) -> Result<Aggregate, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock(&mut tx, id).await?;
        if let Some(n) = name {
            let res =
                sqlx::query("UPDATE aggregates SET name = $2, updated_at = now() WHERE id = $1")
                    .bind(id as i32)
                    .bind(n)
                    .execute(&mut *tx)
                    .await;
            match res {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => {
                    return Err(NovaError::AggregateNameExists {
                        aggregate_name: n.to_string(),
                    })
                }
                Err(e) => return Err(db_err(e)),
            }
        }
        if let Some(az) = availability_zone {
            let items = BTreeMap::from([("availability_zone".to_string(), Some(az.to_string()))]);
            put_metadata(&mut tx, id, &items).await?;
        }
        tx.commit().await.map_err(db_err)?;
        self.aggregate_get(id).await
    }

    /// Delete an aggregate that has no hosts.
    pub async fn aggregate_delete(&self, id: i64) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock(&mut tx, id).await?;
        let hosts: i64 =
            sqlx::query_scalar("SELECT count(*) FROM aggregate_hosts WHERE aggregate_id = $1")
                .bind(id as i32)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err)?;
        if hosts > 0 {
            return Err(NovaError::InvalidAggregateActionDelete {
                aggregate_id: id.to_string(),
                reason: "Host aggregate is not empty".into(),
            });
        }
        for q in [
            "DELETE FROM aggregate_metadata WHERE aggregate_id = $1",
            "DELETE FROM aggregates WHERE id = $1",
        ] {
            sqlx::query(q)
                .bind(id as i32)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub async fn aggregate_host_add(&self, id: i64, host: &str) -> Result<Aggregate, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock(&mut tx, id).await?;
        let res = sqlx::query("INSERT INTO aggregate_hosts (host, aggregate_id) VALUES ($1, $2)")
            .bind(host)
            .bind(id as i32)
            .execute(&mut *tx)
            .await;
        match res {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(NovaError::AggregateHostExists {
                    host: host.to_string(),
                    aggregate_id: id.to_string(),
                })
            }
            Err(e) => return Err(db_err(e)),
        }
        tx.commit().await.map_err(db_err)?;
        self.aggregate_get(id).await
    }

    pub async fn aggregate_host_delete(&self, id: i64, host: &str) -> Result<Aggregate, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock(&mut tx, id).await?;
        let res = sqlx::query("DELETE FROM aggregate_hosts WHERE aggregate_id = $1 AND host = $2")
            .bind(id as i32)
            .bind(host)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::AggregateHostNotFound {
                aggregate_id: id.to_string(),
                host: host.to_string(),
            });
        }
        tx.commit().await.map_err(db_err)?;
        self.aggregate_get(id).await
    }

    /// Set metadata items; a None value removes the item.
    pub async fn aggregate_metadata_update(
        &self,
        id: i64,
        items: &BTreeMap<String, Option<String>>,
    ) -> Result<Aggregate, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock(&mut tx, id).await?;
        put_metadata(&mut tx, id, items).await?;
        tx.commit().await.map_err(db_err)?;
        self.aggregate_get(id).await
    }
}
