//! `console_auth_tokens`: console authorizations, stored by hash.

use crate::{db_err, Db};
use nova_common::NovaError;
use nova_objects::ConsoleAuthToken;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

fn token_from_row(r: &PgRow) -> Result<ConsoleAuthToken, sqlx::Error> {
    let uuid: String = r.try_get("instance_uuid")?;
    Ok(ConsoleAuthToken {
        id: r.try_get::<i32, _>("id")? as i64,
        console_type: r.try_get("console_type")?,
        host: r.try_get("host")?,
        port: r.try_get::<i32, _>("port")? as i64,
        internal_access_path: r.try_get("internal_access_path")?,
        instance_uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
        access_url_base: r
            .try_get::<Option<String>, _>("access_url_base")?
            .unwrap_or_default(),
        token_hash: r.try_get("token_hash")?,
        expires: r.try_get::<i32, _>("expires")? as i64,
        created_at: r.try_get("created_at")?,
    })
}

impl Db {
    /// Store an authorization (its `token_hash` and `expires` already set).
    pub async fn console_auth_token_create(
        &self,
        t: &ConsoleAuthToken,
    ) -> Result<ConsoleAuthToken, NovaError> {
        let r = sqlx::query(
            "INSERT INTO console_auth_tokens (token_hash, console_type, host, port, \
             internal_access_path, instance_uuid, expires, access_url_base) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8) RETURNING *",
        )
        .bind(&t.token_hash)
        .bind(&t.console_type)
        .bind(&t.host)
        .bind(t.port as i32)
        .bind(&t.internal_access_path)
        .bind(t.instance_uuid.to_string())
        .bind(t.expires as i32)
        .bind(&t.access_url_base)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        token_from_row(&r).map_err(db_err)
    }

    /// The authorization whose token hashes to `token_hash`, if it has not
    /// expired at `now` (unix seconds).
    pub async fn console_auth_token_get_valid(
        &self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<ConsoleAuthToken>, NovaError> {
        let row =
            sqlx::query("SELECT * FROM console_auth_tokens WHERE token_hash = $1 AND expires > $2")
                .bind(token_hash)
                .bind(now as i32)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
        row.map(|r| token_from_row(&r).map_err(db_err)).transpose()
    }

    /// Delete every authorization of the instance; how many there were.
    pub async fn console_auth_token_destroy_all_by_instance(
        &self,
        instance_uuid: Uuid,
    ) -> Result<u64, NovaError> {
        let res = sqlx::query("DELETE FROM console_auth_tokens WHERE instance_uuid = $1")
            .bind(instance_uuid.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected())
    }

    /// Delete the authorizations expired at `now` (unix seconds); how many.
    pub async fn console_auth_token_destroy_expired(&self, now: i64) -> Result<u64, NovaError> {
        let res = sqlx::query("DELETE FROM console_auth_tokens WHERE expires <= $1")
            .bind(now as i32)
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected())
    }
}
