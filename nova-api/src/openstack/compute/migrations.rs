//! `GET /os-migrations` (admin; Nova's `migrations.py`) and
//! `GET /servers/{id}/migrations` (2.23+; `server_migrations.py`): the rows
//! of the `migrations` table, filtered (2.23 `migration_type`; 2.59 paging,
//! `changes-since`, `uuid`; 2.66 `changes-before`; 2.80 `user_id`,
//! `project_id`). Resize and cold migration write them
//! (`nova-conductor/src/compute_task/migrate.rs`); `/servers/{id}/migrations`
//! lists live migrations in progress only; `GET /servers/{id}/migrations/{mid}`
//! (2.23) shows one, its `force_complete` action (2.22) and `DELETE` (2.24,
//! abort) act on it.

use super::floating_ips::version_not_found;
use super::instance_actions::timestamp;
use super::views::{collection_links, links, micro_isotime};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{json_body, param, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Migration, MigrationFilters};
use serde_json::{json, Value};
use uuid::Uuid;

/// The statuses of a live migration the server migrations API lists and
/// shows (Nova's `migration_get_in_progress_by_instance`: not `accepted`).
const IN_PROGRESS: &[&str] = &["queued", "preparing", "running", "post-migrating"];

fn bad_query(k: &str, val: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for query parameters {k}. Value: {val}. {why}"
    ))
}

fn filters(p: &[(String, String)], v: ApiVersion, max_limit: usize) -> ApiResult<MigrationFilters> {
    let s = |k: &str| param(p, k).map(str::to_string);
    let mut f = MigrationFilters {
        status: s("status"),
        host: s("host"),
        source_compute: s("source_compute"),
        // An id that is no uuid matches nothing, as a string compare would.
        instance_uuid: param(p, "instance_uuid").map(|u| Uuid::parse_str(u).unwrap_or(Uuid::nil())),
        ..Default::default()
    };
    if v.at_least(23) {
        f.migration_type = s("migration_type");
    }
    if v.at_least(59) {
        f.changes_since = param(p, "changes-since")
            .map(|x| timestamp("changes-since", x))
            .transpose()?;
        // Nova's `get_limit_and_marker`: at most `[api] max_limit` a page.
        let limit = param(p, "limit")
            .map(|l| {
                l.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad_query("limit", l, "must be a non-negative integer"))
            })
            .transpose()?;
        let max = i64::try_from(max_limit).unwrap_or(i64::MAX);
        f.limit = Some(limit.map_or(max, |l| l.min(max)));
        f.marker = param(p, "marker")
            .map(|m| {
                Uuid::parse_str(m)
                    .map_err(|_| ApiError::bad_request(format!("Marker {m} could not be found.")))
            })
            .transpose()?;
    }
    if v.at_least(66) {
        f.changes_before = param(p, "changes-before")
            .map(|x| timestamp("changes-before", x))
            .transpose()?;
        if let (Some(a), Some(b)) = (f.changes_since, f.changes_before) {
            if b < a {
                return Err(ApiError::bad_request(
                    "The value of changes-since must be less than or equal to changes-before.",
                ));
            }
        }
    }
    if v.at_least(80) {
        f.user_id = s("user_id");
        f.project_id = s("project_id");
    }
    Ok(f)
}

/// One entry of `/os-migrations` at `v`; from 2.23 a live migration in
/// progress links to its server migration.
fn migration(base: &BaseUrl, m: &Migration, v: ApiVersion) -> Value {
    let mut e = json!({
        "id": m.id,
        "status": m.status,
        "instance_uuid": m.instance_uuid,
        "source_node": m.source_node,
        "dest_node": m.dest_node,
        "source_compute": m.source_compute,
        "dest_compute": m.dest_compute,
        "dest_host": m.dest_host,
        "old_instance_type_id": m.old_instance_type_id,
        "new_instance_type_id": m.new_instance_type_id,
        "created_at": micro_isotime(m.created_at),
        "updated_at": micro_isotime(m.updated_at),
    });
    if v.at_least(23) {
        e["migration_type"] = json!(m.migration_type);
        let in_progress = m.migration_type.as_deref() == Some("live-migration")
            && IN_PROGRESS.contains(&m.status.as_deref().unwrap_or_default());
        if let Some(server) = m.instance_uuid.filter(|_| in_progress) {
            let collection = format!("servers/{server}/migrations");
            e["links"] = links(base, &collection, &m.id.to_string());
        }
    }
    if v.at_least(59) {
        e["uuid"] = json!(m.uuid);
    }
    if v.at_least(80) {
        e["user_id"] = json!(m.user_id);
        e["project_id"] = json!(m.project_id);
    }
    e
}

/// The conductor's list; a marker it does not know is the client's error (400).
async fn list(
    state: &AppState,
    ctx: &RequestContext,
    f: MigrationFilters,
) -> ApiResult<Vec<Migration>> {
    match state.compute_api.migrations(ctx, f).await {
        Err(e @ NovaError::MarkerNotFound { .. }) => Err(ApiError::bad_request(e.to_string())),
        r => Ok(r?),
    }
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Query<Vec<(String, String)>>,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-migrations:index",
        &ctx,
        &Target::default(),
    )?;
    let max_limit = state.cfg.api.max_limit;
    let f = filters(&p, v, max_limit)?;
    let all = list(&state, &ctx, f).await?;
    let out: Vec<Value> = all.iter().map(|m| migration(&base, m, v)).collect();
    let mut body = json!({ "migrations": out });
    if v.at_least(59) {
        let last = all.last().map(|m| m.uuid.to_string());
        if let Some(l) = collection_links(&base, "os-migrations", &p, max_limit, all.len(), last) {
            body["migrations_links"] = l;
        }
    }
    Ok(Json(body))
}

/// The server of a server-migrations call, once the policy
/// `os_compute_api:servers:migrations:<rule>` allows the caller.
async fn server(
    state: &AppState,
    ctx: &RequestContext,
    rule: &str,
    id: &str,
) -> ApiResult<nova_objects::Instance> {
    state.policy.authorize(
        &format!("os_compute_api:servers:migrations:{rule}"),
        ctx,
        &Target::default(),
    )?;
    Ok(state.compute_api.get(ctx, id).await?)
}

/// `GET /servers/{id}/migrations`: the server's live migrations in progress.
pub async fn server_index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    if !v.at_least(23) {
        return Err(version_not_found());
    }
    let inst = server(&state, &ctx, "index", &id).await?;
    let f = MigrationFilters {
        instance_uuid: Some(inst.uuid),
        migration_type: Some("live-migration".into()),
        ..Default::default()
    };
    let all = list(&state, &ctx, f).await?;
    let out: Vec<Value> = all
        .iter()
        .filter(|m| IN_PROGRESS.contains(&m.status.as_deref().unwrap_or_default()))
        .map(|m| live_migration(m, v))
        .collect();
    Ok(Json(json!({ "migrations": out })))
}

/// A live migration as the server migrations API shows it.
fn live_migration(m: &Migration, v: ApiVersion) -> Value {
    let mut e = json!({
        "id": m.id,
        "server_uuid": m.instance_uuid,
        "status": m.status,
        "source_node": m.source_node,
        "dest_node": m.dest_node,
        "source_compute": m.source_compute,
        "dest_compute": m.dest_compute,
        "dest_host": m.dest_host,
        "created_at": micro_isotime(m.created_at),
        "updated_at": micro_isotime(m.updated_at),
        // The source's last report (libvirt's job statistics).
        "memory_total_bytes": m.progress.memory_total,
        "memory_processed_bytes": m.progress.memory_processed,
        "memory_remaining_bytes": m.progress.memory_remaining,
        "disk_total_bytes": m.progress.disk_total,
        "disk_processed_bytes": m.progress.disk_processed,
        "disk_remaining_bytes": m.progress.disk_remaining,
    });
    if v.at_least(59) {
        e["uuid"] = json!(m.uuid);
    }
    if v.at_least(80) {
        e["user_id"] = json!(m.user_id);
        e["project_id"] = json!(m.project_id);
    }
    e
}

/// A migration id in a path: an integer, else 400 as Nova's.
fn migration_id(s: &str) -> ApiResult<i64> {
    s.parse::<i64>()
        .map_err(|_| ApiError::bad_request(format!("Invalid migration id: {s}")))
}

fn migration_error(e: NovaError) -> ApiError {
    match e {
        NovaError::MigrationNotFoundForInstance { .. } | NovaError::MigrationNotFound { .. } => {
            ApiError::not_found(e.to_string())
        }
        NovaError::InvalidMigrationState { .. } => ApiError::bad_request(e.to_string()),
        NovaError::InstanceIsLocked { .. } | NovaError::InstanceInvalidState { .. } => {
            ApiError::conflict(e.to_string())
        }
        other => other.into(),
    }
}

/// `GET /servers/{id}/migrations/{mid}` (2.23): one live migration in progress.
pub async fn server_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, mid)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    if !v.at_least(23) {
        return Err(version_not_found());
    }
    let inst = server(&state, &ctx, "show", &id).await?;
    let mid = migration_id(&mid)?;
    let m = state
        .compute_api
        .migration_of(&ctx, &inst, mid)
        .await
        .map_err(migration_error)?;
    if m.migration_type.as_deref() != Some("live-migration") {
        return Err(ApiError::not_found(format!(
            "Migration {mid} for server {} is not live-migration.",
            inst.uuid
        )));
    }
    if !IN_PROGRESS.contains(&m.status.as_deref().unwrap_or_default()) {
        return Err(ApiError::not_found(format!(
            "Live migration {mid} for server {} is not in progress.",
            inst.uuid
        )));
    }
    Ok(Json(json!({ "migration": live_migration(&m, v) })))
}

/// `POST /servers/{id}/migrations/{mid}/action` `{"force_complete": null}` (2.22).
pub async fn server_action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, mid)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> ApiResult<axum::http::StatusCode> {
    if !v.at_least(22) {
        return Err(version_not_found());
    }
    let body = json_body(&body)?;
    let keys: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    if keys.len() != 1 || keys[0] != "force_complete" || !body["force_complete"].is_null() {
        return Err(ApiError::bad_request(format!(
            "Invalid input for field/attribute force_complete. Value: {body}. \
             The body must be {{\"force_complete\": null}}"
        )));
    }
    let inst = server(&state, &ctx, "force_complete", &id).await?;
    let mid = migration_id(&mid)?;
    state
        .compute_api
        .live_migrate_force_complete(&ctx, &inst, mid)
        .await
        .map_err(migration_error)?;
    Ok(axum::http::StatusCode::ACCEPTED)
}

/// `DELETE /servers/{id}/migrations/{mid}` (2.24): abort the live migration
/// (a queued or preparing one too from 2.65).
pub async fn server_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, mid)): Path<(String, String)>,
) -> ApiResult<axum::http::StatusCode> {
    if !v.at_least(24) {
        return Err(version_not_found());
    }
    let inst = server(&state, &ctx, "delete", &id).await?;
    let mid = migration_id(&mid)?;
    state
        .compute_api
        .live_migrate_abort(&ctx, &inst, mid, v.at_least(65))
        .await
        .map_err(migration_error)?;
    Ok(axum::http::StatusCode::ACCEPTED)
}
