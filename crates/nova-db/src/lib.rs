//! The database layer: the only code that speaks SQL. Used by nova-conductor
//! (and the operator tool nova-manage); every other daemon goes through the
//! conductor over RPC.
//!
//! Soft deletes follow Nova: a deleted row keeps its data, with `deleted`
//! set to its own `id` and `deleted_at` stamped.

mod aggregates;
mod archive;
mod console_auth_tokens;
mod ec2;
mod flavors;
mod floating_ips;
mod instance_groups;
mod instances;
mod migrations;
mod networks;
mod quotas;
mod security_groups;
mod services;
mod task_log;

use nova_common::NovaError;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use std::str::FromStr;
use std::time::Duration;

pub use archive::Archived;
pub use instances::InstanceOwner;
pub use migrations::MigrationClaim;
pub use networks::{FixedIpHolder, FixedIpListing, NetworkPlan};
pub use services::Claim;

/// Embedded migrations, applied by `nova-manage db sync`.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// The database handle: a connection pool.
#[derive(Clone)]
pub struct Db {
    pool: PgPool,
}

/// What a failed statement means to the caller, as oslo.db's exception
/// filters sort them: the database is out of reach (`DBConnectionError`,
/// transient, 503 at the API), or anything else (`DBError`, 500). Unique
/// violations are mapped to their `*Exists` error where they are caught.
pub fn db_err(e: sqlx::Error) -> NovaError {
    if is_connection_error(&e) {
        NovaError::DBConnectionError {
            reason: e.to_string(),
        }
    } else if let Some(reason) = data_exception(&e) {
        // The caller's value cannot be stored or used (a NUL character, a
        // value too long for its column, an invalid regular expression in
        // a `name` filter): the caller's mistake, a 400, not a 500.
        NovaError::InvalidInput { reason }
    } else {
        NovaError::DBError {
            reason: e.to_string(),
        }
    }
}

/// Connection refused or lost, the pool exhausted or closed, or the server
/// ending the session (SQLSTATE class 08, 57P01-57P03, 53300).
pub(crate) fn is_connection_error(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d.code().is_some_and(|c| {
            c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")
        }),
        _ => false,
    }
}

/// SQLSTATE class 22, "data exception": the message PostgreSQL gave.
fn data_exception(e: &sqlx::Error) -> Option<String> {
    match e {
        sqlx::Error::Database(d) if d.code().is_some_and(|c| c.starts_with("22")) => {
            Some(d.message().to_string())
        }
        _ => None,
    }
}

pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23505"))
}

/// The constraint a unique violation broke.
pub(crate) fn violated_constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(d) if is_unique_violation(e) => d.constraint(),
        _ => None,
    }
}

pub(crate) fn parse_uuid(s: &str) -> uuid::Uuid {
    uuid::Uuid::parse_str(s).unwrap_or_default()
}

impl Db {
    /// Connect to `[database] connection` (postgresql:// URL; SQLAlchemy's
    /// `postgresql+psycopg2://` spelling is accepted too).
    pub async fn connect(url: &str, max_pool_size: u32) -> Result<Self, NovaError> {
        let url = normalize_url(url);
        // No JIT compilation: nova's statements are short and planned
        // against small or freshly created tables, where cost estimates can
        // pass `jit_above_cost` and a read of no rows would spend half a
        // second compiling itself. Plans stay PostgreSQL's default (custom
        // plans while they pay, then the prepared statement's generic one):
        // forcing generic plans saved the re-planning of the instance read,
        // but a plan made while the tables were empty (sequential scans of
        // the joined tables) then stayed for the connection's life, and a
        // listing of 1,000 servers cost PostgreSQL 88 ms instead of ~10.
        let options = PgConnectOptions::from_str(&url)
            .map_err(db_err)?
            .options([("jit", "off")]);
        let pool = PgPoolOptions::new()
            .max_connections(max_pool_size.max(1))
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await
            .map_err(db_err)?;
        Ok(Db { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Db { pool }
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Apply pending migrations (`nova-manage db sync`): all of them, or
    /// up to `version` (one of the migrations'). As Nova's, a version below
    /// the applied one would be a downgrade, which no migration supports.
    pub async fn sync(&self, version: Option<i64>) -> Result<(), NovaError> {
        let failed = |e: sqlx::migrate::MigrateError| NovaError::DBError {
            reason: format!("migration failed: {e}"),
        };
        let Some(target) = version else {
            return MIGRATOR.run(&self.pool).await.map_err(failed);
        };
        if !MIGRATOR.version_exists(target) {
            return Err(NovaError::DBError {
                reason: format!(
                    "there is no schema version {target}; the latest is {}",
                    Self::latest_version()
                ),
            });
        }
        let current = self.version().await.unwrap_or(0);
        if target < current {
            return Err(NovaError::DBError {
                reason: format!(
                    "the schema is at version {current}: a downgrade to {target} is not supported"
                ),
            });
        }
        MIGRATOR.run_to(target, &self.pool).await.map_err(failed)
    }

    /// The newest schema version this code knows.
    pub fn latest_version() -> i64 {
        MIGRATOR.iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// The applied schema version (`nova-manage db version`): 0 for a
    /// database no migration has touched.
    pub async fn version(&self) -> Result<i64, NovaError> {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await
            .map_err(db_err)?;
        if !exists {
            return Ok(0);
        }
        let v: Option<i64> =
            sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
                .fetch_one(&self.pool)
                .await
                .map_err(db_err)?;
        Ok(v.unwrap_or(0))
    }

    /// Fail early with a clear message when `db sync` has not been run.
    pub async fn check_schema(&self) -> Result<(), NovaError> {
        let latest = Self::latest_version();
        match self.version().await {
            Ok(0) => Err(NovaError::DBError {
                reason: "database is not initialised: run `nova-manage db sync`".into(),
            }),
            Ok(v) if v >= latest => Ok(()),
            Ok(v) => Err(NovaError::DBError {
                reason: format!(
                    "database schema is at version {v}, this code needs {latest}: run `nova-manage db sync`"
                ),
            }),
            Err(_) => Err(NovaError::DBError {
                reason: "database is not initialised: run `nova-manage db sync`".into(),
            }),
        }
    }
}

/// `postgresql+psycopg2://u:p@h/db` → `postgresql://u:p@h/db`.
pub fn normalize_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest))
            if scheme.starts_with("postgresql+") || scheme.starts_with("postgres+") =>
        {
            format!("postgresql://{rest}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sqlalchemy_urls() {
        assert_eq!(
            super::normalize_url("postgresql+psycopg2://nova@127.0.0.1/nova"),
            "postgresql://nova@127.0.0.1/nova"
        );
        assert_eq!(super::normalize_url("postgres://x/y"), "postgres://x/y");
    }
}
