//! Nova's `task_log`: the runs of periodic audit tasks per host.

use crate::{db_err, Db};
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
            .map(|r| {
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
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)
    }
}
