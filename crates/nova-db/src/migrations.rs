//! Nova's `migrations` table: the os-migrations list.

use crate::{db_err, Db};
use nova_common::states::TaskState;
use nova_common::NovaError;
use nova_objects::{Flavor, LiveMigrationProgress, Migration, MigrationFilters, ResourceRequest};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row};
use uuid::Uuid;

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
        progress: LiveMigrationProgress {
            memory_total: r.try_get("memory_total")?,
            memory_processed: r.try_get("memory_processed")?,
            memory_remaining: r.try_get("memory_remaining")?,
            disk_total: r.try_get("disk_total")?,
            disk_processed: r.try_get("disk_processed")?,
            disk_remaining: r.try_get("disk_remaining")?,
        },
    })
}

impl Db {
    /// A running live migration's progress (Nova's monitor saving
    /// `memory_*`/`disk_*`); a migration no longer running keeps its last.
    pub async fn migration_update_progress(
        &self,
        migration_id: i64,
        p: &LiveMigrationProgress,
    ) -> Result<(), NovaError> {
        sqlx::query(
            "UPDATE migrations SET memory_total = $2, memory_processed = $3,
                memory_remaining = $4, disk_total = $5, disk_processed = $6,
                disk_remaining = $7, updated_at = now()
             WHERE id = $1 AND deleted = 0 AND status = 'running'",
        )
        .bind(migration_id as i32)
        .bind(p.memory_total)
        .bind(p.memory_processed)
        .bind(p.memory_remaining)
        .bind(p.disk_total)
        .bind(p.disk_processed)
        .bind(p.disk_remaining)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

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

/// What [`Db::migration_create_with_claim`] did.
#[derive(Clone, Debug, PartialEq)]
pub enum MigrationClaim {
    /// The migration row exists, the destination's resources are held for it.
    Claimed(Box<Migration>),
    /// The destination has no room left: the first resource that does not fit.
    DoesNotFit(nova_objects::Resource),
    /// The destination's nova-compute is disabled or forced down (since the
    /// scheduler's last look at it).
    ServiceDisabled,
}

const FINALS: &[&str] = Migration::FINAL_STATUSES;

/// The migration's row as given, with the flavors' ids (`m.id` and the
/// times are the database's).
async fn insert_migration<'e>(
    e: impl sqlx::PgExecutor<'e>,
    m: &Migration,
    old_flavor_id: i64,
    new_flavor_id: i64,
) -> Result<Migration, NovaError> {
    let row = sqlx::query(
        "INSERT INTO migrations (uuid, source_compute, source_node, dest_compute, dest_node,
             dest_host, status, instance_uuid, old_instance_type_id, new_instance_type_id,
             migration_type, hidden, user_id, project_id, updated_at)
         VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14, now())
         RETURNING *",
    )
    .bind(m.uuid)
    .bind(&m.source_compute)
    .bind(&m.source_node)
    .bind(&m.dest_compute)
    .bind(&m.dest_node)
    .bind(&m.dest_host)
    .bind(&m.status)
    .bind(m.instance_uuid)
    .bind(old_flavor_id as i32)
    .bind(new_flavor_id as i32)
    .bind(&m.migration_type)
    .bind(m.hidden)
    .bind(&m.user_id)
    .bind(&m.project_id)
    .fetch_one(e)
    .await
    .map_err(db_err)?;
    migration_from_row(&row).map_err(db_err)
}

fn finals() -> Vec<String> {
    FINALS.iter().map(|s| s.to_string()).collect()
}

impl Db {
    /// Start a resize, cold migration or evacuation of an instance: under
    /// the destination node's row lock check that its service is neither
    /// disabled nor forced down and that the new flavor fits there (the claim), record the migration (`m.uuid`, hosts, type, status,
    /// flavors' ids) and the instance's old and new flavor, and recompute
    /// both nodes' usage, in one transaction. Only for an instance in
    /// `expected_task_state` with no other migration in progress.
    pub async fn migration_create_with_claim(
        &self,
        m: &Migration,
        old_flavor: &Flavor,
        new_flavor: &Flavor,
        request: &ResourceRequest,
        expected_task_state: TaskState,
    ) -> Result<MigrationClaim, NovaError> {
        let Some(instance_uuid) = m.instance_uuid else {
            return Err(NovaError::invalid_input("a migration needs its instance"));
        };
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let state: Option<Option<String>> = sqlx::query_scalar(
            "SELECT task_state FROM instances WHERE uuid = $1 AND deleted = 0 FOR UPDATE",
        )
        .bind(instance_uuid.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(state) = state else {
            return Err(NovaError::InstanceNotFound {
                instance_id: instance_uuid.to_string(),
            });
        };
        if state.as_deref() != Some(expected_task_state.as_str()) {
            return Err(NovaError::UnexpectedTaskStateError {
                instance_uuid: instance_uuid.to_string(),
                expected: expected_task_state.as_str().into(),
                actual: state.unwrap_or_else(|| "None".into()),
            });
        }
        let busy: Option<Uuid> = sqlx::query_scalar(
            "SELECT uuid FROM migrations WHERE instance_uuid = $1 AND deleted = 0
               AND coalesce(status, '') <> ALL($2) LIMIT 1",
        )
        .bind(instance_uuid)
        .bind(finals())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(other) = busy {
            return Err(NovaError::InstanceInvalidState {
                attr: "migration".into(),
                instance_uuid: instance_uuid.to_string(),
                state: format!("in progress ({other})"),
                method: "migrate".into(),
            });
        }
        let (dest, dest_node) = (
            m.dest_compute.clone().unwrap_or_default(),
            m.dest_node.clone().unwrap_or_default(),
        );
        let row = sqlx::query(
            "SELECT * FROM compute_nodes WHERE host = $1 AND hypervisor_hostname = $2 AND deleted = 0 FOR UPDATE",
        )
        .bind(&dest)
        .bind(&dest_node)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Err(NovaError::ComputeHostNotFound { host: dest });
        };
        let cn = crate::services::node_from_row(&row).map_err(db_err)?;
        let unusable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM services WHERE host = $1 AND \"binary\" = 'nova-compute'
                 AND deleted = 0 AND (disabled OR forced_down))",
        )
        .bind(&dest)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if unusable {
            return Ok(MigrationClaim::ServiceDisabled);
        }
        if let Err(resource) = nova_objects::FreeResources::of(&cn).fits(request) {
            return Ok(MigrationClaim::DoesNotFit(resource));
        }
        let Ok(numa) = crate::services::fit_numa(&cn, request) else {
            return Ok(MigrationClaim::DoesNotFit(
                nova_objects::Resource::NumaTopology,
            ));
        };
        // The destination's address, as Nova's `_move_claim` records it
        // (the driver's `get_host_ip_addr`: the host's `my_ip`).
        let m = &Migration {
            dest_host: m
                .dest_host
                .clone()
                .or_else(|| Some(cn.host_ip.clone()).filter(|ip| !ip.is_empty())),
            ..m.clone()
        };
        let created = insert_migration(&mut *tx, m, old_flavor.id, new_flavor.id).await?;
        // The NUMA topology fitted to the destination, for the destination
        // (Nova's `MigrationContext.new_numa_topology`).
        let context = serde_json::json!({
            "source_compute": m.source_compute,
            "source_node": m.source_node,
            "dest_compute": m.dest_compute,
            "dest_node": m.dest_node,
            "new_numa_topology": numa,
        });
        sqlx::query(
            "UPDATE instance_extra SET old_flavor = $2, new_flavor = $3, migration_context = $4
              WHERE instance_uuid = $1",
        )
        .bind(instance_uuid.to_string())
        .bind(serde_json::to_string(old_flavor)?)
        .bind(serde_json::to_string(new_flavor)?)
        .bind(context.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::recompute_migration_hosts(&mut tx, &created).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(MigrationClaim::Claimed(Box::new(created)))
    }

    async fn recompute_migration_hosts(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        m: &Migration,
    ) -> Result<(), NovaError> {
        for (h, n) in [
            (&m.source_compute, &m.source_node),
            (&m.dest_compute, &m.dest_node),
        ] {
            if let (Some(h), Some(n)) = (h, n) {
                crate::services::recompute_usage(tx, h, n)
                    .await
                    .map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// Record a migration that ended before it held anything (no
    /// destination was found: Nova's `MigrationTask` created its row first
    /// and set it `error` on the way out), in a final status such as
    /// `error`, so that it is listed with the instance's others.
    pub async fn migration_create_ended(&self, m: &Migration) -> Result<Migration, NovaError> {
        if m.in_progress() {
            return Err(NovaError::invalid_input(
                "only a migration in a final status is recorded without a claim",
            ));
        }
        insert_migration(
            &self.pool,
            m,
            m.old_instance_type_id.unwrap_or_default(),
            m.new_instance_type_id.unwrap_or_default(),
        )
        .await
    }

    /// One migration by id (MigrationNotFound).
    pub async fn migration_get(&self, id: i64) -> Result<Migration, NovaError> {
        let row = sqlx::query("SELECT * FROM migrations WHERE id = $1 AND deleted = 0")
            .bind(id as i32)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or(NovaError::MigrationNotFound {
                migration_id: id.to_string(),
            })?;
        migration_from_row(&row).map_err(db_err)
    }

    /// Set a migration's status, when it is one of `expected` (if given;
    /// otherwise MigrationNotFound... by status); the hosts' usage follows
    /// (a confirmed or reverted migration holds nothing any more).
    pub async fn migration_update_status(
        &self,
        id: i64,
        status: &str,
        expected: Option<&[String]>,
    ) -> Result<Migration, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let row = sqlx::query(
            "UPDATE migrations SET status = $2, updated_at = now()
             WHERE id = $1 AND deleted = 0 AND ($3::text[] IS NULL OR status = ANY($3))
             RETURNING *",
        )
        .bind(id as i32)
        .bind(status)
        .bind(expected)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Err(NovaError::MigrationNotFound {
                migration_id: id.to_string(),
            });
        };
        let m = migration_from_row(&row).map_err(db_err)?;
        if !m.in_progress() {
            if let Some(u) = m.instance_uuid {
                lock_instance_row(&mut tx, u).await?;
                // The instance keeps the topology of where it ended up:
                // the destination's once it is there (confirmed, completed),
                // else the one it had (reverted, failed, cancelled).
                sqlx::query(
                    "UPDATE instance_extra e SET old_flavor = NULL, new_flavor = NULL,
                            numa_topology = CASE
                                WHEN $2 IN ('confirmed', 'completed', 'done')
                                 AND e.migration_context::json->>'dest_compute' = i.host
                                 AND e.migration_context::json->>'dest_node' = i.node
                                THEN e.migration_context::json->>'new_numa_topology'
                                ELSE e.numa_topology END,
                            migration_context = NULL
                       FROM instances i
                      WHERE e.instance_uuid = $1 AND i.uuid = e.instance_uuid",
                )
                .bind(u.to_string())
                .bind(status)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        Self::recompute_migration_hosts(&mut tx, &m).await?;
        tx.commit().await.map_err(db_err)?;
        Ok(m)
    }

    /// The NUMA topology claimed for an instance on the destination of its
    /// move under way (`instance_extra.migration_context`), if any.
    pub async fn instance_migration_numa_topology(
        &self,
        instance_uuid: Uuid,
    ) -> Result<Option<nova_objects::numa::InstanceNumaTopology>, NovaError> {
        let text: Option<Option<String>> = sqlx::query_scalar(
            "SELECT migration_context::json->>'new_numa_topology' FROM instance_extra
              WHERE instance_uuid = $1 AND deleted = 0",
        )
        .bind(instance_uuid.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(text.flatten().and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// The migrations still under way of an instance, or touching a host
    /// (as source or destination), oldest first.
    pub async fn migration_get_in_progress(
        &self,
        instance_uuid: Option<Uuid>,
        host: Option<&str>,
    ) -> Result<Vec<Migration>, NovaError> {
        let rows = sqlx::query(
            "SELECT * FROM migrations WHERE deleted = 0 AND coalesce(status, '') <> ALL($1)
               AND ($2::uuid IS NULL OR instance_uuid = $2)
               AND ($3::text IS NULL OR source_compute = $3 OR dest_compute = $3)
             ORDER BY created_at, id",
        )
        .bind(finals())
        .bind(instance_uuid)
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(migration_from_row)
            .collect::<Result<_, _>>()
            .map_err(db_err)
    }
}

/// Lock the instance's row before writing a table hanging off it: that
/// write's trigger bumps the instance's generation (migration 0015), and
/// every writer taking the instance's row first keeps one lock order.
async fn lock_instance_row(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    uuid: Uuid,
) -> Result<(), NovaError> {
    sqlx::query("SELECT 1 FROM instances WHERE uuid = $1 FOR NO KEY UPDATE")
        .bind(uuid.to_string())
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}
