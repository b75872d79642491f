//! Nova's `task_log`: the runs of periodic audit tasks per host.

use crate::{db_err, is_unique_violation, Db};
use nova_common::NovaError;
use nova_objects::{TaskLog, Timestamp};
use sqlx::Row;

impl Db {
    /// The live runs of `task_name` for exactly this period.
    pub async fn task_log_get_all(
        &self,
        task_name: &str,
        period_beginning: Timestamp,
        period_ending: Timestamp,
    ) -> Result<Vec<TaskLog>, NovaError> {
        let rows = sqlx::query(
            "SELECT * FROM task_log
             WHERE deleted = 0 AND task_name = $1 AND period_beginning = $2 AND period_ending = $3
             ORDER BY host",
        )
        .bind(task_name)
        .bind(period_beginning)
        .bind(period_ending)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(task_log_from_row)
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)
    }

    /// Nova's `task_log_get`: the run of `task_name` by `host` for exactly
    /// this period (in `state` when given), if there is one.
    pub async fn task_log_get(
        &self,
        task_name: &str,
        period_beginning: Timestamp,
        period_ending: Timestamp,
        host: &str,
        state: Option<&str>,
    ) -> Result<Option<TaskLog>, NovaError> {
        let row = sqlx::query(
            "SELECT * FROM task_log
             WHERE deleted = 0 AND task_name = $1 AND period_beginning = $2
               AND period_ending = $3 AND host = $4 AND ($5::text IS NULL OR state = $5)",
        )
        .bind(task_name)
        .bind(period_beginning)
        .bind(period_ending)
        .bind(host)
        .bind(state)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        row.as_ref()
            .map(task_log_from_row)
            .transpose()
            .map_err(db_err)
    }

    /// Nova's `task_log_begin_task`: a RUNNING run of `task_name` on `host`
    /// for this period (TaskAlreadyRunning when there is one already).
    #[allow(clippy::too_many_arguments)]
    pub async fn task_log_begin_task(
        &self,
        task_name: &str,
        period_beginning: Timestamp,
        period_ending: Timestamp,
        host: &str,
        task_items: Option<i64>,
        message: Option<&str>,
    ) -> Result<(), NovaError> {
        let r = sqlx::query(
            "INSERT INTO task_log (task_name, state, host, period_beginning, period_ending,
                                   message, task_items)
             VALUES ($1, 'RUNNING', $2, $3, $4, $5, $6)",
        )
        .bind(task_name)
        .bind(host)
        .bind(period_beginning)
        .bind(period_ending)
        .bind(message.unwrap_or_default())
        .bind(task_items.map(|n| n as i32))
        .execute(&self.pool)
        .await;
        match r {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(NovaError::TaskAlreadyRunning {
                task_name: task_name.into(),
                host: host.into(),
            }),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Nova's `task_log_end_task`: the RUNNING run becomes DONE with its
    /// error count and message (TaskNotRunning when there is none).
    #[allow(clippy::too_many_arguments)]
    pub async fn task_log_end_task(
        &self,
        task_name: &str,
        period_beginning: Timestamp,
        period_ending: Timestamp,
        host: &str,
        errors: i64,
        message: &str,
    ) -> Result<(), NovaError> {
        let done = sqlx::query(
            "UPDATE task_log SET state = 'DONE', errors = $5, message = $6, updated_at = now()
             WHERE deleted = 0 AND task_name = $1 AND period_beginning = $2
               AND period_ending = $3 AND host = $4 AND state = 'RUNNING'",
        )
        .bind(task_name)
        .bind(period_beginning)
        .bind(period_ending)
        .bind(host)
        .bind(errors as i32)
        .bind(message)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(NovaError::TaskNotRunning {
                task_name: task_name.into(),
                host: host.into(),
            });
        }
        Ok(())
    }
}

fn task_log_from_row(r: &sqlx::postgres::PgRow) -> Result<TaskLog, sqlx::Error> {
    Ok(TaskLog {
        task_name: r.try_get("task_name")?,
        state: r.try_get("state")?,
        host: r.try_get("host")?,
        period_beginning: r.try_get("period_beginning")?,
        period_ending: r.try_get("period_ending")?,
        message: r.try_get("message")?,
        task_items: r.try_get::<Option<i32>, _>("task_items")?.unwrap_or(0) as i64,
        errors: r.try_get::<Option<i32>, _>("errors")?.unwrap_or(0) as i64,
    })
}
