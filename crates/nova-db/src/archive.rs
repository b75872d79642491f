//! Nova's `archive_deleted_rows` and `purge_shadow_tables` (`nova-manage
//! db archive_deleted_rows` / `db purge`): soft-deleted rows move to the
//! `shadow_*` tables (migration 0018), each with the rows that refer to it
//! by foreign key, in one transaction; the shadow tables are emptied later.
//!
//! Which tables, columns and references there are is read from
//! PostgreSQL's catalog, as Nova reflects its metadata: a table is archived
//! when it has a shadow table, and a reference is followed wherever the
//! schema declares one.

use crate::{db_err, Db};
use chrono::{DateTime, Utc};
use nova_common::NovaError;
use sqlx::{AssertSqlSafe, Postgres, Row, Transaction};
use std::collections::BTreeMap;
use tracing::warn;
use uuid::Uuid;

/// What one archiving pass moved.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Archived {
    /// Rows moved per table (those that referred to a moved row included).
    pub tables: BTreeMap<String, i64>,
    /// The instances moved.
    pub instance_uuids: Vec<Uuid>,
    pub total: i64,
}

/// A foreign key into a table: `child.child_col` refers to `parent_col`.
struct Reference {
    child: String,
    child_col: String,
    parent_col: String,
}

/// References Nova's models declare that this schema leaves undeclared
/// (`migrations.instance_uuid` is a `uuid`, `instances.uuid` text; an
/// instance's actions outlive it in the live table, as Nova's do, until it
/// is archived): (child, column, parent, column).
const UNDECLARED: &[(&str, &str, &str, &str)] = &[
    ("instance_actions", "instance_uuid", "instances", "uuid"),
    ("migrations", "instance_uuid", "instances", "uuid"),
];

/// How deep references are followed (ours go two deep: an instance's
/// actions and their events).
const MAX_DEPTH: usize = 8;

fn quoted(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

impl Db {
    /// The tables that have a shadow table, by name.
    pub async fn shadowed_tables(&self) -> Result<Vec<String>, NovaError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT t.table_name::text FROM information_schema.tables t
             WHERE t.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
               AND t.table_name NOT LIKE 'shadow\\_%'
               AND EXISTS (SELECT 1 FROM information_schema.tables s
                           WHERE s.table_schema = t.table_schema
                             AND s.table_name = 'shadow_' || t.table_name)
             ORDER BY t.table_name",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(t,)| t).collect())
    }

    /// A table's columns, in their order.
    pub async fn table_columns(&self, table: &str) -> Result<Vec<String>, NovaError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = $1
             ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(c,)| c).collect())
    }

    /// The foreign keys that refer to `table` (one column each, as all of
    /// this schema's).
    async fn references_to(&self, table: &str) -> Result<Vec<Reference>, NovaError> {
        let rows = sqlx::query(
            "SELECT cl.relname::text, a.attname::text, pa.attname::text
             FROM pg_constraint con
             JOIN pg_class cl ON cl.oid = con.conrelid
             JOIN pg_class pcl ON pcl.oid = con.confrelid
             JOIN pg_namespace n ON n.oid = pcl.relnamespace
             JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
             JOIN pg_attribute pa ON pa.attrelid = con.confrelid AND pa.attnum = con.confkey[1]
             WHERE con.contype = 'f' AND n.nspname = current_schema() AND pcl.relname = $1
             ORDER BY 1, 2",
        )
        .bind(table)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                Ok(Reference {
                    child: r.try_get(0).map_err(db_err)?,
                    child_col: r.try_get(1).map_err(db_err)?,
                    parent_col: r.try_get(2).map_err(db_err)?,
                })
            })
            .collect::<Result<Vec<_>, NovaError>>()
            .map(|mut declared| {
                declared.extend(
                    UNDECLARED
                        .iter()
                        .filter(|(_, _, parent, _)| *parent == table)
                        .map(|(child, col, _, pcol)| Reference {
                            child: child.to_string(),
                            child_col: col.to_string(),
                            parent_col: pcol.to_string(),
                        }),
                );
                declared
            })
    }

    /// Move up to `max_rows` soft-deleted rows (deleted before `before`,
    /// when given) from the tables to their shadows, table by table, each
    /// row with those that refer to it; `task_log`'s rows (finished audit
    /// runs, never soft-deleted) only when `task_log` is set.
    pub async fn archive_deleted_rows(
        &self,
        max_rows: i64,
        before: Option<DateTime<Utc>>,
        task_log: bool,
    ) -> Result<Archived, NovaError> {
        let mut done = Archived::default();
        for table in self.shadowed_tables().await? {
            let budget = max_rows - done.total;
            if budget <= 0 {
                break;
            }
            let (moved, uuids) = self.archive_table(&table, budget, before, task_log).await?;
            for (t, n) in moved {
                *done.tables.entry(t).or_default() += n;
                done.total += n;
            }
            done.instance_uuids.extend(uuids);
        }
        done.tables.retain(|_, n| *n > 0);
        Ok(done)
    }

    /// One table's batch: the rows moved per table, and the instances
    /// moved when it is `instances`. A batch a concurrent write made
    /// unmovable (a new row referring to one of it) is left for the next
    /// run, as Nova leaves it.
    async fn archive_table(
        &self,
        table: &str,
        budget: i64,
        before: Option<DateTime<Utc>>,
        task_log: bool,
    ) -> Result<(BTreeMap<String, i64>, Vec<Uuid>), NovaError> {
        let is_task_log = table == "task_log";
        let columns = self.table_columns(table).await?;
        if !columns.iter().any(|c| c == "id") {
            return Ok(Default::default());
        }
        let mut select = format!("SELECT id::bigint FROM {} WHERE ", quoted(table));
        select.push_str(if is_task_log && task_log {
            "TRUE"
        } else {
            "deleted != 0"
        });
        if before.is_some() {
            select.push_str(if is_task_log && task_log {
                " AND updated_at < $2"
            } else {
                " AND deleted_at < $2"
            });
        }
        select.push_str(" ORDER BY id LIMIT $1");
        let mut query = sqlx::query_as(AssertSqlSafe(select)).bind(budget);
        if let Some(b) = before {
            query = query.bind(b);
        }
        let ids: Vec<(i64,)> = query.fetch_all(&self.pool).await.map_err(db_err)?;
        let ids: Vec<i64> = ids.into_iter().map(|(i,)| i).collect();
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let mut plan = Vec::new();
        self.plan_references(&mut tx, table, &ids, 0, &mut plan)
            .await?;
        let uuids = if table == "instances" {
            let rows: Vec<(String,)> =
                sqlx::query_as("SELECT uuid FROM instances WHERE id = ANY($1)")
                    .bind(&ids)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err)?;
            rows.into_iter()
                .filter_map(|(u,)| Uuid::parse_str(&u).ok())
                .collect()
        } else {
            Vec::new()
        };
        plan.push((table.to_string(), ids));
        let mut moved = BTreeMap::new();
        for (t, rows) in &plan {
            match self.move_rows(&mut tx, t, rows).await {
                Ok(n) => *moved.entry(t.clone()).or_insert(0) += n,
                Err(e) if is_foreign_key_violation(&e) => {
                    warn!(%table, "a row refers to one being archived; left for the next run: {e}");
                    return Ok(Default::default());
                }
                Err(e) => return Err(db_err(e)),
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok((moved, uuids))
    }

    /// The rows that refer (directly or further down) to `table`'s rows
    /// `ids`, each table's before the rows they refer to, appended to `plan`.
    async fn plan_references(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        table: &str,
        ids: &[i64],
        depth: usize,
        plan: &mut Vec<(String, Vec<i64>)>,
    ) -> Result<(), NovaError> {
        if depth >= MAX_DEPTH {
            return Err(NovaError::internal(format!(
                "references to {table} go deeper than {MAX_DEPTH} tables"
            )));
        }
        for r in self.references_to(table).await? {
            if r.child == table {
                continue;
            }
            let sql = format!(
                "SELECT c.id::bigint FROM {child} c WHERE c.{col}::text IN \
                 (SELECT p.{pcol}::text FROM {parent} p WHERE p.id = ANY($1)) ORDER BY c.id",
                child = quoted(&r.child),
                col = quoted(&r.child_col),
                pcol = quoted(&r.parent_col),
                parent = quoted(table),
            );
            let rows: Vec<(i64,)> = sqlx::query_as(AssertSqlSafe(sql))
                .bind(ids)
                .fetch_all(&mut **tx)
                .await
                .map_err(db_err)?;
            let child_ids: Vec<i64> = rows.into_iter().map(|(i,)| i).collect();
            if child_ids.is_empty() {
                continue;
            }
            Box::pin(self.plan_references(tx, &r.child, &child_ids, depth + 1, plan)).await?;
            plan.push((r.child, child_ids));
        }
        Ok(())
    }

    /// Copy `table`'s rows `ids` into its shadow and delete them: how many.
    async fn move_rows(
        &self,
        tx: &mut Transaction<'_, Postgres>,
        table: &str,
        ids: &[i64],
    ) -> Result<i64, sqlx::Error> {
        let columns = self
            .table_columns(table)
            .await
            .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
        let cols = columns
            .iter()
            .map(|c| quoted(c))
            .collect::<Vec<_>>()
            .join(", ");
        let insert = format!(
            "INSERT INTO {shadow} ({cols}) SELECT {cols} FROM {t} WHERE id = ANY($1)",
            shadow = quoted(&format!("shadow_{table}")),
            t = quoted(table),
        );
        sqlx::query(AssertSqlSafe(insert))
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        let delete = format!("DELETE FROM {} WHERE id = ANY($1)", quoted(table));
        let done = sqlx::query(AssertSqlSafe(delete))
            .bind(ids)
            .execute(&mut **tx)
            .await?;
        Ok(done.rows_affected() as i64)
    }

    /// Delete the shadow tables' rows (those older than `before`, by the
    /// column Nova's `purge_shadow_tables` judges each by): per table, the
    /// column and how many.
    pub async fn purge_shadow_tables(
        &self,
        before: Option<DateTime<Utc>>,
    ) -> Result<Vec<(String, String, i64)>, NovaError> {
        let mut purged = Vec::new();
        for table in self.shadowed_tables().await? {
            let shadow = format!("shadow_{table}");
            let columns = self.table_columns(&shadow).await?;
            let col = match table.as_str() {
                "instance_actions" | "instance_actions_events" => Some("created_at"),
                "task_log" => Some("updated_at"),
                _ => ["deleted_at", "updated_at", "created_at"]
                    .into_iter()
                    .find(|c| columns.iter().any(|have| have == c)),
            };
            let (sql, col) = match (before, col) {
                (None, _) => (format!("DELETE FROM {}", quoted(&shadow)), "(n/a)"),
                (Some(_), Some(col)) => (
                    format!("DELETE FROM {} WHERE {} < $1", quoted(&shadow), quoted(col)),
                    col,
                ),
                (Some(_), None) => {
                    warn!("Unable to purge table {shadow} because it has no timestamp column");
                    continue;
                }
            };
            let mut query = sqlx::query(AssertSqlSafe(sql));
            if let Some(b) = before {
                query = query.bind(b);
            }
            let done = query.execute(&self.pool).await.map_err(db_err)?;
            let n = done.rows_affected() as i64;
            if n > 0 {
                purged.push((shadow, col.to_string(), n));
            }
        }
        Ok(purged)
    }
}

fn is_foreign_key_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.code().as_deref() == Some("23503"))
}
