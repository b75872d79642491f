//! `key_pairs` and `quotas`.

use crate::{db_err, is_unique_violation, Db};
use nova_common::NovaError;
use nova_objects::{KeyPair, QuotaUsage};
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::collections::BTreeMap;

fn keypair_from_row(r: &PgRow) -> Result<KeyPair, sqlx::Error> {
    Ok(KeyPair {
        id: r.try_get::<i32, _>("id")? as i64,
        name: r.try_get("name")?,
        user_id: r.try_get("user_id")?,
        fingerprint: r.try_get("fingerprint")?,
        public_key: r.try_get("public_key")?,
        key_type: r.try_get("type")?,
        created_at: r.try_get("created_at")?,
    })
}

fn keypair_not_found(user_id: &str, name: &str) -> NovaError {
    NovaError::KeypairNotFound {
        user_id: user_id.to_string(),
        name: name.to_string(),
    }
}

impl Db {
    pub async fn keypair_create(&self, k: &KeyPair) -> Result<KeyPair, NovaError> {
        let res = sqlx::query(
            "INSERT INTO key_pairs (name, user_id, fingerprint, public_key, type) VALUES ($1,$2,$3,$4,$5) RETURNING *",
        )
        .bind(&k.name)
        .bind(&k.user_id)
        .bind(&k.fingerprint)
        .bind(&k.public_key)
        .bind(&k.key_type)
        .fetch_one(&self.pool)
        .await;
        match res {
            Ok(r) => keypair_from_row(&r).map_err(db_err),
            Err(e) if is_unique_violation(&e) => Err(NovaError::KeyPairExists {
                key_name: k.name.clone(),
            }),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn keypair_get(&self, user_id: &str, name: &str) -> Result<KeyPair, NovaError> {
        let row = sqlx::query("SELECT * FROM key_pairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => keypair_from_row(&r).map_err(db_err),
            None => Err(keypair_not_found(user_id, name)),
        }
    }

    pub async fn keypair_get_all(&self, user_id: &str) -> Result<Vec<KeyPair>, NovaError> {
        let rows = sqlx::query("SELECT * FROM key_pairs WHERE user_id = $1 ORDER BY name, id")
            .bind(user_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| keypair_from_row(r).map_err(db_err))
            .collect()
    }

    pub async fn keypair_destroy(&self, user_id: &str, name: &str) -> Result<(), NovaError> {
        let res = sqlx::query("DELETE FROM key_pairs WHERE user_id = $1 AND name = $2")
            .bind(user_id)
            .bind(name)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(keypair_not_found(user_id, name));
        }
        Ok(())
    }

    /// The project's overrides (resource → limit); defaults come from `[quota]`.
    pub async fn quota_get_all_by_project(
        &self,
        project_id: &str,
    ) -> Result<BTreeMap<String, i64>, NovaError> {
        let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i32, _>(1)? as i64)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)
    }

    pub async fn quota_update(
        &self,
        project_id: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for (resource, limit) in limits {
            sqlx::query(
                "INSERT INTO quotas (project_id, resource, hard_limit) VALUES ($1, $2, $3)
                 ON CONFLICT (project_id, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit, updated_at = now()",
            )
            .bind(project_id)
            .bind(resource)
            .bind(*limit as i32)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub async fn quota_destroy_all_by_project(&self, project_id: &str) -> Result<(), NovaError> {
        sqlx::query("DELETE FROM quotas WHERE project_id = $1")
            .bind(project_id)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Instances, cores and RAM the project's live instances hold.
    pub async fn quota_usage(&self, project_id: &str) -> Result<QuotaUsage, NovaError> {
        let r = sqlx::query(
            "SELECT count(*)::bigint, coalesce(sum(vcpus), 0)::bigint, coalesce(sum(memory_mb), 0)::bigint,
                (SELECT count(*) FROM floating_ips
                 WHERE project_id = $1 AND deleted = 0 AND auto_assigned = FALSE)::bigint,
                (SELECT count(*) FROM security_groups WHERE project_id = $1 AND deleted = 0)::bigint,
                (SELECT count(*) FROM instance_groups WHERE project_id = $1)::bigint
             FROM instances WHERE project_id = $1 AND deleted = 0",
        )
        .bind(project_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(QuotaUsage {
            instances: r.try_get(0).map_err(db_err)?,
            cores: r.try_get(1).map_err(db_err)?,
            ram: r.try_get(2).map_err(db_err)?,
            floating_ips: r.try_get(3).map_err(db_err)?,
            security_groups: r.try_get(4).map_err(db_err)?,
            server_groups: r.try_get(5).map_err(db_err)?,
        })
    }

    /// Key pairs a user holds (the `key_pairs` quota).
    pub async fn keypair_count(&self, user_id: &str) -> Result<i64, NovaError> {
        sqlx::query_scalar("SELECT count(*)::bigint FROM key_pairs WHERE user_id = $1")
            .bind(user_id)
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)
    }
}

impl Db {
    /// A quota class's limits (resource → limit), as stored.
    pub async fn quota_class_get_all_by_name(
        &self,
        class_name: &str,
    ) -> Result<BTreeMap<String, i64>, NovaError> {
        let rows = sqlx::query(
            "SELECT resource, hard_limit FROM quota_classes
             WHERE class_name = $1 AND hard_limit IS NOT NULL",
        )
        .bind(class_name)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i32, _>(1)? as i64)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)
    }

    /// Set a quota class's limits (created or updated per resource), at once.
    pub async fn quota_class_update(
        &self,
        class_name: &str,
        limits: &BTreeMap<String, i64>,
    ) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        for (resource, limit) in limits {
            sqlx::query(
                "INSERT INTO quota_classes (class_name, resource, hard_limit) VALUES ($1, $2, $3)
                 ON CONFLICT (class_name, resource) DO UPDATE SET hard_limit = EXCLUDED.hard_limit, updated_at = now()",
            )
            .bind(class_name)
            .bind(resource)
            .bind(*limit as i32)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }
}
