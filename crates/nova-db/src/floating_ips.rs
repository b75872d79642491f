//! `floating_ips`: nova-network's floating IPs (Nova's `floating_ip_*`
//! database API), read with their associated fixed IP's address and
//! instance.

use crate::{db_err, is_unique_violation, parse_uuid, Db};
use nova_common::NovaError;
use nova_objects::{FixedIp, FloatingIp, FloatingIpCreate};
use sqlx::postgres::PgRow;
use sqlx::Row;

/// Every live floating IP, with its fixed IP's address and instance.
const SELECT: &str = "SELECT fl.id, fl.address, fl.fixed_ip_id, fl.project_id, fl.host, \
     fl.auto_assigned, fl.pool, fl.interface, f.address AS fixed_address, \
     f.instance_uuid AS fixed_instance_uuid \
     FROM floating_ips fl LEFT JOIN fixed_ips f ON f.id = fl.fixed_ip_id \
     WHERE fl.deleted = 0";

fn floating_from_row(r: &PgRow) -> Result<FloatingIp, sqlx::Error> {
    Ok(FloatingIp {
        id: r.try_get::<i32, _>("id")? as i64,
        address: r.try_get("address")?,
        fixed_ip_id: r.try_get::<Option<i32>, _>("fixed_ip_id")?.map(i64::from),
        project_id: r.try_get("project_id")?,
        host: r.try_get("host")?,
        auto_assigned: r.try_get("auto_assigned")?,
        pool: r.try_get("pool")?,
        interface: r.try_get("interface")?,
        fixed_address: r.try_get("fixed_address")?,
        instance_uuid: r
            .try_get::<Option<String>, _>("fixed_instance_uuid")?
            .map(|u| parse_uuid(&u)),
    })
}

fn rows(rows: Vec<PgRow>) -> Result<Vec<FloatingIp>, NovaError> {
    rows.iter()
        .map(|r| floating_from_row(r).map_err(db_err))
        .collect()
}

impl Db {
    /// Create floating IPs (`nova-manage floating create`); none when one
    /// of the addresses exists already (FloatingIpExists).
    pub async fn floating_ip_bulk_create(&self, ips: &[FloatingIpCreate]) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let addrs: Vec<&str> = ips.iter().map(|i| i.address.as_str()).collect();
        let taken: Option<String> = sqlx::query_scalar(
            "SELECT address FROM floating_ips WHERE deleted = 0 AND address = ANY($1) ORDER BY id LIMIT 1",
        )
        .bind(&addrs)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(address) = taken {
            return Err(NovaError::FloatingIpExists { address });
        }
        let pools: Vec<&str> = ips.iter().map(|i| i.pool.as_str()).collect();
        let ifaces: Vec<&str> = ips.iter().map(|i| i.interface.as_str()).collect();
        let res = sqlx::query(
            "INSERT INTO floating_ips (address, pool, interface)
             SELECT a, p, NULLIF(i, '') FROM unnest($1::varchar[], $2::varchar[], $3::varchar[]) AS t(a, p, i)",
        )
        .bind(&addrs)
        .bind(&pools)
        .bind(&ifaces)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => tx.commit().await.map_err(db_err),
            Err(e) if is_unique_violation(&e) => Err(NovaError::FloatingIpExists {
                address: addrs.first().map(|a| a.to_string()).unwrap_or_default(),
            }),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Soft-delete the floating IPs with these addresses
    /// (`nova-manage floating delete`); how many there were.
    pub async fn floating_ip_bulk_destroy(&self, addresses: &[String]) -> Result<u64, NovaError> {
        let res = sqlx::query(
            "UPDATE floating_ips SET deleted = id, deleted_at = now()
             WHERE deleted = 0 AND address = ANY($1)",
        )
        .bind(addresses)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(res.rows_affected())
    }

    pub async fn floating_ip_get_all(&self) -> Result<Vec<FloatingIp>, NovaError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} ORDER BY fl.id")))
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows(r)
    }

    /// The floating IPs a network host serves (associated there).
    pub async fn floating_ip_get_all_by_host(
        &self,
        host: &str,
    ) -> Result<Vec<FloatingIp>, NovaError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} AND fl.host = $1 ORDER BY fl.id"
        )))
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows(r)
    }

    /// The addresses a project allocated (not those given to its servers
    /// by `auto_assign_floating_ip`, as Nova's).
    pub async fn floating_ip_get_all_by_project(
        &self,
        project_id: &str,
    ) -> Result<Vec<FloatingIp>, NovaError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} AND fl.project_id = $1 AND NOT fl.auto_assigned ORDER BY fl.id"
        )))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows(r)
    }

    pub async fn floating_ip_get_by_fixed_ip_id(
        &self,
        fixed_ip_id: i64,
    ) -> Result<Vec<FloatingIp>, NovaError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} AND fl.fixed_ip_id = $1 ORDER BY fl.id"
        )))
        .bind(fixed_ip_id as i32)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows(r)
    }

    pub async fn floating_ip_get(&self, id: i64) -> Result<FloatingIp, NovaError> {
        let not_found = || NovaError::FloatingIpNotFound { id: id.to_string() };
        let id32 = i32::try_from(id).map_err(|_| not_found())?;
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} AND fl.id = $1")))
            .bind(id32)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match r {
            Some(r) => floating_from_row(&r).map_err(db_err),
            None => Err(not_found()),
        }
    }

    pub async fn floating_ip_get_by_address(&self, address: &str) -> Result<FloatingIp, NovaError> {
        let r = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} AND fl.address = $1")))
            .bind(address)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match r {
            Some(r) => floating_from_row(&r).map_err(db_err),
            None => Err(NovaError::FloatingIpNotFoundForAddress {
                address: address.to_string(),
            }),
        }
    }

    /// The pools that have floating IPs.
    pub async fn floating_ip_get_pools(&self) -> Result<Vec<String>, NovaError> {
        sqlx::query_scalar(
            "SELECT DISTINCT pool FROM floating_ips WHERE deleted = 0 AND pool IS NOT NULL ORDER BY pool",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)
    }

    /// Give the project a free address of `pool`. With `quota_limit`
    /// (not -1), the project's floating IPs that count against its quota
    /// (those not auto-assigned) are counted under a per-project lock in the
    /// same transaction, so two requests cannot both take the last one.
    pub async fn floating_ip_allocate_address(
        &self,
        project_id: &str,
        pool: &str,
        auto_assigned: bool,
        quota_limit: Option<i64>,
    ) -> Result<FloatingIp, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        if let Some(limit) = quota_limit.filter(|l| *l >= 0) {
            sqlx::query("SELECT pg_advisory_xact_lock(hashtext('floating_ips:' || $1))")
                .bind(project_id)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            let used: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM floating_ips
                 WHERE deleted = 0 AND project_id = $1 AND auto_assigned = FALSE",
            )
            .bind(project_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            if used + 1 > limit {
                return Err(NovaError::FloatingIpLimitExceeded {});
            }
        }
        let id: Option<i32> = sqlx::query_scalar(
            "UPDATE floating_ips SET project_id = $1, auto_assigned = $3, updated_at = now()
             WHERE id = (SELECT id FROM floating_ips
                         WHERE deleted = 0 AND pool = $2 AND project_id IS NULL
                           AND fixed_ip_id IS NULL AND host IS NULL
                         ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING id",
        )
        .bind(project_id)
        .bind(pool)
        .bind(auto_assigned)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(id) = id else {
            return Err(NovaError::NoMoreFloatingIps {});
        };
        tx.commit().await.map_err(db_err)?;
        self.floating_ip_get(id.into()).await
    }

    /// Give the address back to its pool.
    pub async fn floating_ip_deallocate(&self, address: &str) -> Result<(), NovaError> {
        sqlx::query(
            "UPDATE floating_ips SET project_id = NULL, host = NULL, auto_assigned = FALSE,
                updated_at = now()
             WHERE deleted = 0 AND address = $1 AND project_id IS NOT NULL",
        )
        .bind(address)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// Associate the floating IP with a fixed IP, served by `host`. The
    /// fixed IP it now forwards to, or None when it already did.
    pub async fn floating_ip_fixed_ip_associate(
        &self,
        floating_address: &str,
        fixed_address: &str,
        host: &str,
    ) -> Result<Option<FixedIp>, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let fixed = sqlx::query("SELECT * FROM fixed_ips WHERE deleted = 0 AND address = $1")
            .bind(fixed_address)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| NovaError::FixedIpNotFoundForAddress {
                address: fixed_address.to_string(),
            })?;
        let fixed = crate::networks::fixed_ip_from_row(&fixed).map_err(db_err)?;
        let current: Option<Option<i32>> = sqlx::query_scalar(
            "SELECT fixed_ip_id FROM floating_ips WHERE deleted = 0 AND address = $1 FOR UPDATE",
        )
        .bind(floating_address)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(current) = current else {
            return Err(NovaError::FloatingIpNotFoundForAddress {
                address: floating_address.to_string(),
            });
        };
        if current.map(i64::from) == Some(fixed.id) {
            return Ok(None);
        }
        sqlx::query(
            "UPDATE floating_ips SET fixed_ip_id = $2, host = $3, updated_at = now()
             WHERE deleted = 0 AND address = $1",
        )
        .bind(floating_address)
        .bind(fixed.id as i32)
        .bind(host)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Some(fixed))
    }

    /// Disassociate the floating IP; the fixed IP it forwarded to, if any.
    pub async fn floating_ip_disassociate(
        &self,
        address: &str,
    ) -> Result<Option<FixedIp>, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let fixed_id: Option<Option<i32>> = sqlx::query_scalar(
            "SELECT fixed_ip_id FROM floating_ips WHERE deleted = 0 AND address = $1 FOR UPDATE",
        )
        .bind(address)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(fixed_id) = fixed_id else {
            return Err(NovaError::FloatingIpNotFoundForAddress {
                address: address.to_string(),
            });
        };
        let fixed = match fixed_id {
            Some(id) => sqlx::query("SELECT * FROM fixed_ips WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
                .map(|r| crate::networks::fixed_ip_from_row(&r))
                .transpose()
                .map_err(db_err)?,
            None => None,
        };
        sqlx::query(
            "UPDATE floating_ips SET fixed_ip_id = NULL, host = NULL, updated_at = now()
             WHERE deleted = 0 AND address = $1",
        )
        .bind(address)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(fixed)
    }

    /// How many floating IPs count against the project's quota.
    pub async fn floating_ip_count_by_project(&self, project_id: &str) -> Result<i64, NovaError> {
        sqlx::query_scalar(
            "SELECT count(*) FROM floating_ips
             WHERE deleted = 0 AND project_id = $1 AND auto_assigned = FALSE",
        )
        .bind(project_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)
    }
}
