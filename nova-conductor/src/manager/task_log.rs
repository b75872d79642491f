//! The runs of periodic audit tasks (`task_log`), as
//! os-instance_usage_audit_log reports them.

use super::{retry_on_disconnect, ConductorManager};
use nova_common::{NovaError, RequestContext};
use nova_objects::{TaskLog, Timestamp};

#[nova_rpc::__private::async_trait]
impl nova_rpc::conductor::TaskLogs for ConductorManager {
    async fn task_log_get_all(
        &self,
        _ctx: &RequestContext,
        task_name: String,
        period_beginning: Timestamp,
        period_ending: Timestamp,
    ) -> Result<Vec<TaskLog>, NovaError> {
        retry_on_disconnect("task_log_get_all", || {
            self.db
                .task_log_get_all(&task_name, period_beginning, period_ending)
        })
        .await
    }

    async fn task_log_get(
        &self,
        _ctx: &RequestContext,
        task_name: String,
        period_beginning: Timestamp,
        period_ending: Timestamp,
        host: String,
        state: Option<String>,
    ) -> Result<Option<TaskLog>, NovaError> {
        retry_on_disconnect("task_log_get", || {
            self.db.task_log_get(
                &task_name,
                period_beginning,
                period_ending,
                &host,
                state.as_deref(),
            )
        })
        .await
    }

    async fn task_log_begin_task(
        &self,
        _ctx: &RequestContext,
        task_name: String,
        period_beginning: Timestamp,
        period_ending: Timestamp,
        host: String,
        task_items: Option<i64>,
        message: Option<String>,
    ) -> Result<(), NovaError> {
        retry_on_disconnect("task_log_begin_task", || {
            self.db.task_log_begin_task(
                &task_name,
                period_beginning,
                period_ending,
                &host,
                task_items,
                message.as_deref(),
            )
        })
        .await
    }

    async fn task_log_end_task(
        &self,
        _ctx: &RequestContext,
        task_name: String,
        period_beginning: Timestamp,
        period_ending: Timestamp,
        host: String,
        errors: i64,
        message: String,
    ) -> Result<(), NovaError> {
        retry_on_disconnect("task_log_end_task", || {
            self.db.task_log_end_task(
                &task_name,
                period_beginning,
                period_ending,
                &host,
                errors,
                &message,
            )
        })
        .await
    }
}
