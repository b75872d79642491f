//! `instances` and what hangs off them: extra (flavor), info cache,
//! metadata, system metadata, faults, actions and their events.

use crate::services::recompute_usage;
use crate::{db_err, is_unique_violation, parse_uuid, Db};
use nova_common::states::{TaskState, VmState};
use nova_common::NovaError;
use nova_objects::sort::{SortDir, SortKey, SERVER_SORT_KEYS};
use nova_objects::{
    allowed_instances, Instance, InstanceAction, InstanceActionEvent, InstanceAttr, InstanceCreate,
    InstanceFault, InstanceFilters, InstanceUpdate, NetworkInfo, QuotaUsage,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

/// How every instance read begins ([`select_instances`]): the instance's
/// own columns and, in the same statement, what hangs off it (flavors and
/// trusted certificates from `instance_extra`, the info cache's network
/// info, metadata and system metadata as JSON objects, security group
/// names, tags, the latest fault). One round trip for one instance or a
/// page of them, where a query per joined table cost six more. The joined
/// columns are named `j_*`, so the caller's `WHERE`/`ORDER BY` on the bare
/// column names of `instances` stays unambiguous. Each is a subquery
/// PostgreSQL cannot turn into a join (scalar subqueries, and
/// `OFFSET 0`/`LIMIT` where there is a `FROM` of its own): every one is an
/// index lookup by the instance's uuid, whatever the planner's statistics
/// say. Without statistics (a new database, or autovacuum off) joins were
/// planned as nested loops over whole tables, a cost that grew with the
/// square of the page.
///
/// Each joined column: the attribute that asks for it, the subquery, and
/// the typed `NULL` that stands for it when it is not read.
const JOINED: [(InstanceAttr, &str, &str); 6] = [
    (
        InstanceAttr::Flavor,
        "(SELECT ARRAY[e.flavor, e.old_flavor, e.new_flavor, e.trusted_certs,
            CASE WHEN e.migration_context::json->>'dest_compute' = instances.host
                 THEN e.migration_context::json->>'new_numa_topology' ELSE e.numa_topology END,
            e.device_metadata]
     FROM instance_extra e WHERE e.instance_uuid = instances.uuid) AS j_extra",
        "NULL::text[] AS j_extra",
    ),
    (
        InstanceAttr::InfoCache,
        "(SELECT c.network_info FROM instance_info_caches c
     WHERE c.instance_uuid = instances.uuid) AS j_network_info",
        "NULL::text AS j_network_info",
    ),
    (
        InstanceAttr::Metadata,
        "(SELECT json_object_agg(m.key, m.value)::text FROM instance_metadata m
     WHERE m.instance_uuid = instances.uuid AND m.deleted = 0) AS j_metadata",
        "NULL::text AS j_metadata",
    ),
    (
        InstanceAttr::SystemMetadata,
        "(SELECT json_object_agg(m.key, m.value)::text FROM instance_system_metadata m
     WHERE m.instance_uuid = instances.uuid AND m.deleted = 0) AS j_system_metadata",
        "NULL::text AS j_system_metadata",
    ),
    (
        InstanceAttr::SecurityGroups,
        "(SELECT array_agg(coalesce(g.name, '') ORDER BY a.id)
     FROM (SELECT id, security_group_id FROM security_group_instance_association
           WHERE instance_uuid = instances.uuid AND deleted = 0 OFFSET 0) a
     JOIN security_groups g ON g.id = a.security_group_id AND g.deleted = 0) AS j_security_groups",
        "NULL::text[] AS j_security_groups",
    ),
    (
        InstanceAttr::Tags,
        "(SELECT array_agg(t.tag ORDER BY t.tag) FROM tags t WHERE t.resource_id = instances.uuid) AS j_tags",
        "NULL::text[] AS j_tags",
    ),
];

/// The latest fault, joined when `fault` is read.
const LATEST_FAULT: &str = " FROM instances
 LEFT JOIN LATERAL (SELECT f.code AS j_fault_code, f.message AS j_fault_message, f.details AS j_fault_details,
     f.host AS j_fault_host, f.created_at AS j_fault_created_at
   FROM instance_faults f WHERE f.instance_uuid = instances.uuid AND f.deleted = 0
   ORDER BY f.created_at DESC, f.id DESC LIMIT 1) j_f ON TRUE";

/// ... and the columns that stand for it when it is not.
const NO_FAULT: &str = ", NULL::integer AS j_fault_code, NULL::text AS j_fault_message,
   NULL::text AS j_fault_details, NULL::text AS j_fault_host, NULL::timestamptz AS j_fault_created_at
 FROM instances";

/// The `SELECT ... FROM instances` of an instance read that brings the
/// `attrs` hanging off it (all of them when `None`); a `WHERE` follows.
fn select_instances(attrs: Option<&[InstanceAttr]>) -> String {
    let wanted = |a: InstanceAttr| {
        attrs.is_none_or(|list| {
            list.contains(&a)
                || (a == InstanceAttr::Flavor && list.contains(&InstanceAttr::TrustedCerts))
        })
    };
    let fault = wanted(InstanceAttr::Fault);
    let mut sql = String::with_capacity(2048);
    sql.push_str(if fault {
        "SELECT instances.*, j_f.*"
    } else {
        "SELECT instances.*"
    });
    for (attr, read, null) in JOINED {
        sql.push_str(",\n   ");
        sql.push_str(if wanted(attr) { read } else { null });
    }
    sql.push_str(if fault { LATEST_FAULT } else { NO_FAULT });
    sql
}

/// Reads the columns of a result's rows by position: the first row finds
/// each column by its name (and checks its type), in the order
/// [`instance_from_row`] reads them; the rows after it reuse those
/// positions, without sqlx's per-column name lookup and type check (half
/// of decoding a row, by callgrind). Every row of one result has the same
/// columns, and `instance_from_row` reads the same ones in the same order
/// for each.
#[derive(Default)]
struct ColumnPositions {
    positions: Vec<usize>,
    learnt: bool,
}

/// One row being read through [`ColumnPositions`].
struct RowCursor<'r, 'p> {
    row: &'r PgRow,
    at: &'p mut ColumnPositions,
    next: usize,
}

impl<'r> RowCursor<'r, '_> {
    fn get<T>(&mut self, name: &str) -> Result<T, sqlx::Error>
    where
        T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>,
    {
        let k = self.next;
        self.next += 1;
        if self.at.learnt {
            let i = self.at.positions[k];
            debug_assert_eq!(sqlx::Column::name(&self.row.columns()[i]), name);
            return self.row.try_get_unchecked(i);
        }
        let i = sqlx::Column::ordinal(self.row.try_column(name)?);
        self.at.positions.push(i);
        self.row.try_get(i)
    }

    /// A JSON column parsed as `T` ([`parse_json`]).
    fn json<T: serde::de::DeserializeOwned>(&mut self, c: &str) -> Result<Option<T>, sqlx::Error> {
        Ok(parse_json(self.get::<Option<&str>>(c)?))
    }

    /// A key/value table aggregated by `json_object_agg` (NULL values read as "").
    fn items(&mut self, c: &str) -> Result<BTreeMap<String, String>, sqlx::Error> {
        Ok(self
            .json::<BTreeMap<String, Option<String>>>(c)?
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.unwrap_or_default()))
            .collect())
    }

    /// `instance_extra`'s JSON columns, in `j_extra`'s order: the flavor,
    /// the old and new flavors of a resize, the trusted certificates, the
    /// NUMA topology, the device metadata.
    fn extra(&mut self) -> Result<[Option<String>; 6], sqlx::Error> {
        let mut out: [Option<String>; 6] = Default::default();
        let values: Option<Vec<Option<String>>> = self.get("j_extra")?;
        for (slot, v) in out.iter_mut().zip(values.into_iter().flatten()) {
            *slot = v;
        }
        Ok(out)
    }
}

impl Drop for RowCursor<'_, '_> {
    fn drop(&mut self) {
        self.at.learnt = true;
    }
}

/// JSON text parsed as `T`, absent when NULL or not parseable (as the stored
/// blobs of `instance_extra` and the info cache always were read).
fn parse_json<T: serde::de::DeserializeOwned>(text: Option<&str>) -> Option<T> {
    text.and_then(|t| serde_json::from_str(t).ok())
}

/// The instances of the rows of an instance read ([`select_instances`]).
fn instances_from_rows(rows: &[PgRow]) -> Result<Vec<Instance>, NovaError> {
    let mut at = ColumnPositions::default();
    rows.iter()
        .map(|row| instance_from_row(row, &mut at).map_err(db_err))
        .collect()
}

/// An instance from a row of an instance read ([`select_instances`]).
fn instance_from_row(row: &PgRow, at: &mut ColumnPositions) -> Result<Instance, sqlx::Error> {
    let mut r = RowCursor { row, at, next: 0 };
    let [flavor, old_flavor, new_flavor, trusted_certs, numa_topology, device_metadata] =
        r.extra()?;
    let mut i = |c: &str| r.get::<i32>(c).map(i64::from);
    let id = i("id")?;
    let instance_type_id = i("instance_type_id")?;
    let memory_mb = i("memory_mb")?;
    let vcpus = i("vcpus")?;
    let root_gb = i("root_gb")?;
    let ephemeral_gb = i("ephemeral_gb")?;
    let uuid = parse_uuid(r.get("uuid")?);
    let vm_state: &str = r.get("vm_state")?;
    let task_state: Option<&str> = r.get("task_state")?;
    let fault_code: Option<i32> = r.get("j_fault_code")?;
    let fault_message: Option<String> = r.get("j_fault_message")?;
    let fault_details: Option<String> = r.get("j_fault_details")?;
    let fault_host: Option<String> = r.get("j_fault_host")?;
    let fault_created_at = r.get("j_fault_created_at")?;
    Ok(Instance {
        id,
        uuid,
        user_id: r.get("user_id")?,
        project_id: r.get("project_id")?,
        display_name: r.get("display_name")?,
        display_description: r.get("display_description")?,
        hostname: r.get("hostname")?,
        image_ref: r.get("image_ref")?,
        instance_type_id,
        flavor: parse_json(flavor.as_deref()).unwrap_or_default(),
        memory_mb,
        vcpus,
        root_gb,
        ephemeral_gb,
        vm_state: vm_state.parse().unwrap_or(VmState::Error),
        task_state: task_state.and_then(|t| t.parse().ok()),
        power_state: r.get("power_state")?,
        host: r.get("host")?,
        node: r.get("node")?,
        launched_on: r.get("launched_on")?,
        availability_zone: r.get("availability_zone")?,
        key_name: r.get("key_name")?,
        key_data: r.get("key_data")?,
        user_data: r.get("user_data")?,
        reservation_id: r.get("reservation_id")?,
        launch_index: r.get("launch_index")?,
        access_ip_v4: r.get("access_ip_v4")?,
        access_ip_v6: r.get("access_ip_v6")?,
        config_drive: r.get("config_drive")?,
        auto_disk_config: r.get::<Option<bool>>("auto_disk_config")?.unwrap_or(false),
        locked: r.get("locked")?,
        locked_by: r.get("locked_by")?,
        kernel_id: r.get("kernel_id")?,
        ramdisk_id: r.get("ramdisk_id")?,
        root_device_name: r.get("root_device_name")?,
        default_ephemeral_device: r.get("default_ephemeral_device")?,
        default_swap_device: r.get("default_swap_device")?,
        progress: r.get("progress")?,
        launched_at: r.get("launched_at")?,
        terminated_at: r.get("terminated_at")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
        deleted_at: r.get("deleted_at")?,
        deleted: r.get::<i32>("deleted")? != 0,
        metadata: r.items("j_metadata")?,
        system_metadata: r.items("j_system_metadata")?,
        network_info: r.json::<NetworkInfo>("j_network_info")?.unwrap_or_default(),
        fault: fault_code.map(|code| InstanceFault {
            instance_uuid: uuid,
            code,
            message: fault_message.unwrap_or_default(),
            details: fault_details.unwrap_or_default(),
            host: fault_host,
            created_at: fault_created_at,
        }),
        security_groups: r
            .get::<Option<Vec<String>>>("j_security_groups")?
            .unwrap_or_default(),
        tags: r.get::<Option<Vec<String>>>("j_tags")?.unwrap_or_default(),
        old_flavor: parse_json(old_flavor.as_deref()),
        new_flavor: parse_json(new_flavor.as_deref()),
        trusted_certs: parse_json(trusted_certs.as_deref()),
        numa_topology: parse_json(numa_topology.as_deref()),
        device_metadata: parse_json(device_metadata.as_deref()),
    })
}

/// An instance's owner, host and deletion state ([`Db::instance_owner`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct InstanceOwner {
    pub host: Option<String>,
    pub deleted: bool,
    pub task_state: Option<TaskState>,
    pub user_id: String,
    pub project_id: String,
}

impl From<&Instance> for InstanceOwner {
    fn from(i: &Instance) -> Self {
        InstanceOwner {
            host: i.host.clone(),
            deleted: i.deleted,
            task_state: i.task_state,
            user_id: i.user_id.clone(),
            project_id: i.project_id.clone(),
        }
    }
}

/// Whether an update can change what its node's usage counts (see
/// `recompute_usage`: the flavor's resources, the instances there, and
/// `current_workload`, the instances with a task state). A task state that
/// goes from one task to another, as its compare-and-set proves (every
/// expected state is a task), leaves the workload as it was: a build's
/// NETWORKING and SPAWNING steps do not rescan every instance of the host.
fn moves_usage(u: &InstanceUpdate) -> bool {
    let task_to_task = match (&u.task_state, &u.expected_task_state) {
        (None, _) => true,
        (Some(Some(_)), Some(expected)) => {
            !expected.is_empty() && expected.iter().all(Option::is_some)
        }
        _ => false,
    };
    !task_to_task
        || u.host.is_some()
        || u.node.is_some()
        || u.flavor.is_some()
        || u.old_flavor.is_some()
        || u.new_flavor.is_some()
}

fn not_found(uuid: Uuid) -> NovaError {
    NovaError::InstanceNotFound {
        instance_id: uuid.to_string(),
    }
}

fn task_str(t: Option<TaskState>) -> String {
    t.map(|t| t.as_str().to_string())
        .unwrap_or_else(|| "None".into())
}

impl Db {
    /// Create an instance with its flavor, metadata and the `create` action.
    pub async fn instance_create(&self, v: &InstanceCreate) -> Result<Instance, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        insert_instance(&mut tx, v).await?;
        tx.commit().await.map_err(db_err)?;
        self.instance_get_by_uuid(v.uuid, false).await
    }

    /// Create as many of `values` as the project's quota allows, at least
    /// `min_count` (Nova's `_check_num_instances_quota`: a request for
    /// min..max instances gets max when it fits, else the most that fits),
    /// or none: QuotaExceeded naming the first resource over its limit.
    /// Checking and inserting happen in one transaction under a per-project
    /// lock, so concurrent requests can never overrun the quota together.
    /// `defaults` are the `[quota]` limits; the project's overrides win.
    pub async fn instance_create_within_quota(
        &self,
        values: &[InstanceCreate],
        min_count: usize,
        defaults: &BTreeMap<String, i64>,
    ) -> Result<Vec<Instance>, NovaError> {
        let Some(first) = values.first() else {
            return Ok(vec![]);
        };
        let project = &first.project_id;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('nova-quota:' || $1))")
            .bind(project)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        let mut limits = defaults.clone();
        let rows = sqlx::query("SELECT resource, hard_limit FROM quotas WHERE project_id = $1")
            .bind(project)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err)?;
        for r in &rows {
            limits.insert(
                r.try_get::<String, _>(0).map_err(db_err)?,
                r.try_get::<i32, _>(1).map_err(db_err)? as i64,
            );
        }
        // Unlimited instances, cores and ram: nothing to count (a project
        // with many instances would pay for a scan that decides nothing).
        let unlimited = ["instances", "cores", "ram"]
            .iter()
            .all(|r| limits.get(*r).copied().unwrap_or(-1) < 0);
        let used = if unlimited {
            QuotaUsage::default()
        } else {
            let used = sqlx::query(
                "SELECT count(*)::bigint, coalesce(sum(vcpus), 0)::bigint, coalesce(sum(memory_mb), 0)::bigint
                 FROM instances WHERE project_id = $1 AND deleted = 0",
            )
            .bind(project)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err)?;
            QuotaUsage {
                instances: used.try_get(0).map_err(db_err)?,
                cores: used.try_get(1).map_err(db_err)?,
                ram: used.try_get(2).map_err(db_err)?,
                ..Default::default()
            }
        };
        let count = allowed_instances(
            &limits,
            &used,
            &first.flavor,
            min_count as i64,
            values.len() as i64,
        )?;
        // Joining a server group: within its `server_group_members` quota.
        let group = match first.instance_group {
            Some(g) => {
                let limit = limits.get("server_group_members").copied().unwrap_or(-1);
                Some(crate::instance_groups::lock_for_members(&mut tx, g, count, limit).await?)
            }
            None => None,
        };
        for v in &values[..count as usize] {
            insert_instance(&mut tx, v).await?;
            if let Some(gid) = group {
                crate::instance_groups::add_member(&mut tx, gid, v.uuid).await?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        let mut out = Vec::with_capacity(count as usize);
        for v in &values[..count as usize] {
            out.push(self.instance_get_by_uuid(v.uuid, false).await?);
        }
        Ok(out)
    }

    pub async fn instance_get_by_uuid(
        &self,
        uuid: Uuid,
        read_deleted: bool,
    ) -> Result<Instance, NovaError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{} WHERE uuid = $1 AND ($2 OR deleted = 0)",
            select_instances(None)
        )))
        .bind(uuid.to_string())
        .bind(read_deleted)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Err(not_found(uuid));
        };
        instance_from_row(&row, &mut ColumnPositions::default()).map_err(db_err)
    }

    /// Who an instance belongs to and where it is, deleted or not: what the
    /// conductor's policy checks a compute host's request against, read
    /// without the joined data a full [`Db::instance_get_by_uuid`] brings.
    pub async fn instance_owner(&self, uuid: Uuid) -> Result<InstanceOwner, NovaError> {
        let row = sqlx::query(
            "SELECT host, deleted, task_state, user_id, project_id FROM instances WHERE uuid = $1",
        )
        .bind(uuid.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| not_found(uuid))?;
        let task_state: Option<String> = row.try_get(2).map_err(db_err)?;
        Ok(InstanceOwner {
            host: row.try_get(0).map_err(db_err)?,
            deleted: row.try_get::<i32, _>(1).map_err(db_err)? != 0,
            task_state: task_state.and_then(|t| t.parse().ok()),
            user_id: row.try_get(3).map_err(db_err)?,
            project_id: row.try_get(4).map_err(db_err)?,
        })
    }

    /// The host of each of these instances that is on one and not deleted
    /// (for the scheduler's `same_host`/`different_host` hints).
    pub async fn instance_hosts_by_uuids(
        &self,
        uuids: &[Uuid],
    ) -> Result<BTreeMap<Uuid, String>, NovaError> {
        if uuids.is_empty() {
            return Ok(BTreeMap::new());
        }
        let uuids: Vec<String> = uuids.iter().map(Uuid::to_string).collect();
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT uuid, host FROM instances WHERE uuid = ANY($1) AND deleted = 0 AND host IS NOT NULL",
        )
        .bind(&uuids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|(u, h)| (parse_uuid(&u), h)).collect())
    }

    /// List instances, newest first, with Nova's marker/limit paging.
    pub async fn instance_get_all_by_filters(
        &self,
        f: &InstanceFilters,
    ) -> Result<Vec<Instance>, NovaError> {
        let mut q = self
            .listing(select_instances(f.expected_attrs.as_deref()), f)
            .await?;
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        instances_from_rows(&rows)
    }

    /// The instances `f` lists, in its order, each as its uuid, its
    /// generation (migration 0015: it changes whenever the instance or
    /// anything a server body shows of it does) and its host: what a caller
    /// holding some of them needs in order to read only the others.
    pub async fn instance_generations_by_filters(
        &self,
        f: &InstanceFilters,
    ) -> Result<Vec<(Uuid, i64, Option<String>)>, NovaError> {
        let mut q = self
            .listing(
                "SELECT uuid, generation, host FROM instances".to_string(),
                f,
            )
            .await?;
        let rows = q.build().fetch_all(&self.pool).await.map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let uuid: String = r.try_get(0).map_err(db_err)?;
                let uuid = Uuid::parse_str(&uuid)
                    .map_err(|e| NovaError::internal(format!("instance uuid {uuid}: {e}")))?;
                Ok((
                    uuid,
                    r.try_get(1).map_err(db_err)?,
                    r.try_get(2).map_err(db_err)?,
                ))
            })
            .collect()
    }

    /// The statement of a listing: `select` (`SELECT ... FROM instances`,
    /// whose columns the caller reads) with the filters' conditions, the
    /// listing's order (newest first), marker and limit.
    async fn listing(
        &self,
        select: String,
        f: &InstanceFilters,
    ) -> Result<QueryBuilder<Postgres>, NovaError> {
        // The filters' regular expressions are compiled first: once
        // PostgreSQL runs the listing's prepared statement with its generic
        // plan, it compiles them only against a row, and a bad one must be
        // the caller's error (400) even where no row is.
        let patterns: Vec<String> = f
            .name
            .iter()
            .chain(f.regex.values())
            .cloned()
            .chain(
                f.ip.iter()
                    .chain(f.ip6.iter())
                    .map(|re| format!("^(?:{re})")),
            )
            .collect();
        if !patterns.is_empty() {
            sqlx::query("SELECT bool_and('' ~ p) FROM unnest($1::text[]) p")
                .bind(&patterns)
                .execute(&self.pool)
                .await
                .map_err(db_err)?;
        }
        let mut q: QueryBuilder<Postgres> = QueryBuilder::new(select);
        q.push(" WHERE TRUE");
        match (f.deleted, f.read_deleted) {
            (Some(true), _) => q.push(" AND deleted != 0"),
            (Some(false), _) | (None, false) => q.push(" AND deleted = 0"),
            (None, true) => &mut q,
        };
        if let Some(p) = &f.project_id {
            q.push(" AND project_id = ").push_bind(p.clone());
        }
        if let Some(h) = &f.host {
            q.push(" AND host = ").push_bind(h.clone());
        }
        if let Some(n) = &f.name {
            // Nova treats `name` as a regular expression.
            q.push(" AND display_name ~ ").push_bind(n.clone());
        }
        // Nova's `ip`/`ip6` filters: a regular expression that must match
        // one of the instance's fixed addresses from its start (Python's
        // `re.match`).
        for (re, v6) in [(&f.ip, false), (&f.ip6, true)] {
            if let Some(re) = re {
                q.push(
                    " AND EXISTS (SELECT 1 FROM fixed_ips fi \
                     WHERE fi.instance_uuid = instances.uuid AND fi.deleted = 0 AND ",
                )
                .push(if v6 {
                    "strpos(fi.address, ':') > 0"
                } else {
                    "strpos(fi.address, ':') = 0"
                })
                .push(" AND fi.address ~ ('^(?:' || ")
                .push_bind(re.clone())
                .push(" || ')'))");
            }
        }
        if let Some(states) = &f.status_vm_states {
            let s: Vec<String> = states.iter().map(|s| s.as_str().to_string()).collect();
            q.push(" AND vm_state = ANY(").push_bind(s).push(")");
        }
        if let Some(i) = &f.image_ref {
            q.push(" AND image_ref = ").push_bind(i.clone());
        }
        if let Some(fl) = f.flavor_id {
            q.push(" AND instance_type_id = ").push_bind(fl as i32);
        }
        if let Some(u) = &f.uuids {
            let s: Vec<String> = u.iter().map(|u| u.to_string()).collect();
            q.push(" AND uuid = ANY(").push_bind(s).push(")");
        }
        if let Some(t) = f.changes_since {
            q.push(" AND updated_at >= ").push_bind(t);
        }
        if let Some(t) = f.changes_before {
            q.push(" AND updated_at <= ").push_bind(t);
        }
        if let Some(l) = f.locked {
            q.push(" AND locked = ").push_bind(l);
        }
        // Tag filters (Nova's `_tag_filters`): all of, any of, not all of, none of.
        let has_tags = "(SELECT count(DISTINCT t.tag) FROM tags t WHERE t.resource_id = instances.uuid AND t.tag = ANY(";
        if let Some(t) = f.tags.as_ref().filter(|t| !t.is_empty()) {
            q.push(" AND ")
                .push(has_tags)
                .push_bind(t.clone())
                .push(")) = ")
                .push_bind(distinct_count(t));
        }
        if let Some(t) = f.tags_any.as_ref().filter(|t| !t.is_empty()) {
            q.push(" AND ")
                .push(has_tags)
                .push_bind(t.clone())
                .push(")) > 0");
        }
        if let Some(t) = f.not_tags.as_ref().filter(|t| !t.is_empty()) {
            q.push(" AND ")
                .push(has_tags)
                .push_bind(t.clone())
                .push(")) < ")
                .push_bind(distinct_count(t));
        }
        if let Some(t) = f.not_tags_any.as_ref().filter(|t| !t.is_empty()) {
            q.push(" AND ")
                .push(has_tags)
                .push_bind(t.clone())
                .push(")) = 0");
        }
        for (k, v) in f.system_metadata.iter().flatten() {
            q.push(
                " AND EXISTS (SELECT 1 FROM instance_system_metadata m \
                 WHERE m.instance_uuid = instances.uuid AND m.deleted = 0 AND m.key = ",
            )
            .push_bind(k.clone())
            .push(" AND m.value = ")
            .push_bind(v.clone())
            .push(")");
        }
        // Nova's exact-match and regular-expression column filters; the
        // column names come from the lists below, never from the caller.
        for (col, values) in &f.exact {
            let col = EXACT_FILTER_COLUMNS
                .iter()
                .find(|c| **c == col.as_str())
                .ok_or_else(|| NovaError::InvalidInput {
                    reason: format!("no exact filter on '{col}'"),
                })?;
            q.push(format!(" AND {col} = ANY("))
                .push_bind(values.clone())
                .push(")");
        }
        for (col, re) in &f.regex {
            let expr = regex_filter_column(col).ok_or_else(|| NovaError::InvalidInput {
                reason: format!("no regular-expression filter on '{col}'"),
            })?;
            q.push(format!(" AND {expr} ~ ")).push_bind(re.clone());
        }
        let order = listing_order(f.sort.as_deref())?;
        let newest_first = order == [("created_at", SortDir::Desc), ("id", SortDir::Desc)];
        if let Some(m) = f.marker {
            // The marker must be one of the instances the filters could list:
            // another project's server is as unknown as a random id.
            let row = sqlx::query(
                "SELECT created_at, id FROM instances WHERE uuid = $1 AND ($2::text IS NULL OR project_id = $2)",
            )
                .bind(m.to_string())
                .bind(f.project_id.clone())
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?;
            let Some(row) = row else {
                return Err(NovaError::MarkerNotFound {
                    marker: m.to_string(),
                });
            };
            let created: chrono::DateTime<chrono::Utc> = row.try_get(0).map_err(db_err)?;
            let id: i32 = row.try_get(1).map_err(db_err)?;
            if newest_first {
                // The common page, as one row comparison its index serves.
                q.push(" AND (created_at, id) < (")
                    .push_bind(created)
                    .push(", ")
                    .push_bind(id)
                    .push(")");
            } else {
                push_after_marker(&mut q, &order, id);
            }
        }
        q.push(" ORDER BY ");
        for (n, (col, dir)) in order.iter().enumerate() {
            if n > 0 {
                q.push(", ");
            }
            q.push(format!("{col} {}", dir.as_str().to_uppercase()));
        }
        if let Some(l) = f.limit {
            q.push(" LIMIT ").push_bind(l);
        }
        Ok(q)
    }

    /// Update an instance, optionally compare-and-set on task_state / vm_state.
    /// Set each listed instance's power state, in one statement, where the
    /// instance is on `host` and its power state differs; how many changed.
    pub async fn instance_sync_power_states(
        &self,
        host: &str,
        power_states: &[(Uuid, i32)],
    ) -> Result<i64, NovaError> {
        if power_states.is_empty() {
            return Ok(0);
        }
        let uuids: Vec<String> = power_states.iter().map(|(u, _)| u.to_string()).collect();
        let states: Vec<i32> = power_states.iter().map(|(_, p)| *p).collect();
        let done = sqlx::query(
            "UPDATE instances AS i SET power_state = s.power_state, updated_at = now()
             FROM unnest($2::text[], $3::int[]) AS s(uuid, power_state)
             WHERE i.uuid = s.uuid AND i.host = $1 AND i.deleted = 0
               AND i.power_state IS DISTINCT FROM s.power_state",
        )
        .bind(host)
        .bind(uuids)
        .bind(states)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected() as i64)
    }

    /// The zone of the host a move takes the instance to (Nova's conductor
    /// sets `instance.availability_zone` when it chooses the host).
    pub async fn instance_set_availability_zone(
        &self,
        uuid: Uuid,
        zone: &str,
    ) -> Result<(), NovaError> {
        sqlx::query(
            "UPDATE instances SET availability_zone = $2, updated_at = now()
             WHERE uuid = $1 AND deleted = 0 AND availability_zone IS DISTINCT FROM $2",
        )
        .bind(uuid.to_string())
        .bind(zone)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The zone of every instance on `host` (not deleted), after the host
    /// joined or left a zone's aggregate: a server shows the zone of the
    /// host it is on, as Nova's `get_instance_availability_zone`. The
    /// number of instances changed.
    pub async fn instance_set_availability_zone_by_host(
        &self,
        host: &str,
        zone: &str,
    ) -> Result<u64, NovaError> {
        let done = sqlx::query(
            "UPDATE instances SET availability_zone = $2, updated_at = now()
             WHERE host = $1 AND deleted = 0 AND availability_zone IS DISTINCT FROM $2",
        )
        .bind(host)
        .bind(zone)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(done.rows_affected())
    }

    pub async fn instance_update(
        &self,
        uuid: Uuid,
        u: &InstanceUpdate,
    ) -> Result<Instance, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // Moving the instance off its node (a reschedule releasing its claim)
        // frees what it used there: remember where it was.
        let before: Option<(Option<String>, Option<String>)> =
            if u.host.is_some() || u.node.is_some() {
                sqlx::query_as(
                    "SELECT host, node FROM instances WHERE uuid = $1 AND deleted = 0 FOR UPDATE",
                )
                .bind(uuid.to_string())
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?
            } else {
                None
            };
        let mut q: QueryBuilder<Postgres> =
            QueryBuilder::new("UPDATE instances SET updated_at = now()");
        if let Some(v) = u.vm_state {
            q.push(", vm_state = ").push_bind(v.as_str());
        }
        if let Some(t) = u.task_state {
            q.push(", task_state = ").push_bind(t.map(|t| t.as_str()));
        }
        if let Some(p) = u.power_state {
            q.push(", power_state = ").push_bind(p);
        }
        if let Some(h) = &u.host {
            q.push(", host = ").push_bind(h.clone());
        }
        if let Some(n) = &u.node {
            q.push(", node = ").push_bind(n.clone());
        }
        if let Some(l) = &u.launched_on {
            q.push(", launched_on = ").push_bind(l.clone());
        }
        if let Some(t) = u.launched_at {
            q.push(", launched_at = ").push_bind(t);
        }
        if let Some(t) = u.terminated_at {
            q.push(", terminated_at = ").push_bind(t);
        }
        if let Some(p) = u.progress {
            q.push(", progress = ").push_bind(p);
        }
        if let Some(r) = &u.root_device_name {
            q.push(", root_device_name = ").push_bind(r.clone());
        }
        if let Some(d) = &u.default_ephemeral_device {
            q.push(", default_ephemeral_device = ").push_bind(d.clone());
        }
        if let Some(d) = &u.default_swap_device {
            q.push(", default_swap_device = ").push_bind(d.clone());
        }
        if let Some(l) = u.locked {
            q.push(", locked = ").push_bind(l);
        }
        if let Some(l) = &u.locked_by {
            q.push(", locked_by = ").push_bind(l.clone());
        }
        if let Some(c) = &u.config_drive {
            q.push(", config_drive = ").push_bind(c.clone());
        }
        if let Some(a) = u.auto_disk_config {
            q.push(", auto_disk_config = ").push_bind(a);
        }
        if let Some(n) = &u.display_name {
            q.push(", display_name = ").push_bind(n.clone());
        }
        if let Some(h) = &u.hostname {
            q.push(", hostname = ").push_bind(h.clone());
        }
        if let Some(d) = &u.display_description {
            q.push(", display_description = ").push_bind(d.clone());
        }
        if let Some(a) = &u.access_ip_v4 {
            q.push(", access_ip_v4 = ").push_bind(a.clone());
        }
        if let Some(a) = &u.access_ip_v6 {
            q.push(", access_ip_v6 = ").push_bind(a.clone());
        }
        if let Some(f) = &u.flavor {
            q.push(", instance_type_id = ").push_bind(f.id as i32);
            q.push(", memory_mb = ").push_bind(f.memory_mb as i32);
            q.push(", vcpus = ").push_bind(f.vcpus as i32);
            q.push(", root_gb = ").push_bind(f.root_gb as i32);
            q.push(", ephemeral_gb = ").push_bind(f.ephemeral_gb as i32);
        }
        if let Some(i) = &u.image_ref {
            q.push(", image_ref = ").push_bind(i.clone());
        }
        if let Some(k) = &u.kernel_id {
            q.push(", kernel_id = ").push_bind(k.clone());
        }
        if let Some(r) = &u.ramdisk_id {
            q.push(", ramdisk_id = ").push_bind(r.clone());
        }
        if let Some(k) = &u.key_name {
            q.push(", key_name = ").push_bind(k.clone());
        }
        if let Some(k) = &u.key_data {
            q.push(", key_data = ").push_bind(k.clone());
        }
        if let Some(d) = &u.user_data {
            q.push(", user_data = ").push_bind(d.clone());
        }
        q.push(" WHERE uuid = ").push_bind(uuid.to_string());
        q.push(" AND deleted = 0");
        if let Some(expected) = &u.expected_task_state {
            let vals: Vec<String> = expected
                .iter()
                .flatten()
                .map(|t| t.as_str().to_string())
                .collect();
            let allow_null = expected.iter().any(Option::is_none);
            q.push(" AND (task_state = ANY(")
                .push_bind(vals)
                .push(") OR (task_state IS NULL AND ")
                .push_bind(allow_null)
                .push("))");
        }
        if let Some(expected) = &u.expected_vm_state {
            let vals: Vec<String> = expected.iter().map(|v| v.as_str().to_string()).collect();
            q.push(" AND vm_state = ANY(").push_bind(vals).push(")");
        }
        q.push(" RETURNING host, node");
        let row = q.build().fetch_optional(&mut *tx).await.map_err(db_err)?;
        let Some(row) = row else {
            drop(tx);
            let current = self.instance_get_by_uuid(uuid, false).await?;
            if let Some(expected) = &u.expected_task_state {
                return Err(NovaError::UnexpectedTaskStateError {
                    instance_uuid: uuid.to_string(),
                    expected: expected
                        .iter()
                        .map(|t| task_str(*t))
                        .collect::<Vec<_>>()
                        .join(", "),
                    actual: task_str(current.task_state),
                });
            }
            return Err(NovaError::InstanceInvalidState {
                attr: "vm_state".into(),
                instance_uuid: uuid.to_string(),
                state: current.vm_state.to_string(),
                method: "update".into(),
            });
        };
        if let Some(nw) = &u.network_info {
            sqlx::query("UPDATE instance_info_caches SET network_info = $2, updated_at = now() WHERE instance_uuid = $1")
                .bind(uuid.to_string())
                .bind(serde_json::to_string(nw)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        // `instance_extra`'s JSON columns the update sets (to NULL for
        // `Some(None)`).
        fn text<T: serde::Serialize>(
            v: Option<Option<&T>>,
        ) -> Result<Option<Option<String>>, NovaError> {
            v.map(|v| v.map(serde_json::to_string).transpose())
                .transpose()
                .map_err(NovaError::from)
        }
        for (column, value) in [
            ("flavor", text(u.flavor.as_ref().map(Some))?),
            (
                "old_flavor",
                text(u.old_flavor.as_ref().map(Option::as_ref))?,
            ),
            (
                "new_flavor",
                text(u.new_flavor.as_ref().map(Option::as_ref))?,
            ),
            (
                "trusted_certs",
                text(u.trusted_certs.as_ref().map(Option::as_ref))?,
            ),
            (
                "device_metadata",
                text(u.device_metadata.as_ref().map(Option::as_ref))?,
            ),
        ] {
            if let Some(v) = value {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "UPDATE instance_extra SET {column} = $2 WHERE instance_uuid = $1"
                )))
                .bind(uuid.to_string())
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        if let Some(sm) = &u.system_metadata {
            for (k, val) in sm {
                sqlx::query(
                    "UPDATE instance_system_metadata SET deleted = id, deleted_at = now()
                     WHERE instance_uuid = $1 AND key = $2 AND deleted = 0",
                )
                .bind(uuid.to_string())
                .bind(k)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
                if let Some(val) = val {
                    sqlx::query(
                        "INSERT INTO instance_system_metadata (instance_uuid, key, value) VALUES ($1, $2, $3)",
                    )
                    .bind(uuid.to_string())
                    .bind(k)
                    .bind(val)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err)?;
                }
            }
        }
        // Task state changes move `current_workload`; keep the node's view current.
        let host: Option<String> = row.try_get(0).map_err(db_err)?;
        let node: Option<String> = row.try_get(1).map_err(db_err)?;
        if let Some((Some(h), Some(n))) = &before {
            if (Some(h), Some(n)) != (host.as_ref(), node.as_ref()) {
                recompute_usage(&mut tx, h, n).await.map_err(db_err)?;
            }
        }
        if let (Some(h), Some(n), true) = (host, node, moves_usage(u)) {
            recompute_usage(&mut tx, &h, &n).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_get_by_uuid(uuid, false).await
    }

    /// Soft-delete an instance and its satellites; frees its node's usage.
    pub async fn instance_destroy(&self, uuid: Uuid) -> Result<Instance, NovaError> {
        let before = self.instance_get_by_uuid(uuid, false).await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let res = sqlx::query(
            "UPDATE instances SET deleted = id, deleted_at = now(), updated_at = now(),
                vm_state = 'deleted', task_state = NULL, power_state = 0, terminated_at = now()
             WHERE uuid = $1 AND deleted = 0",
        )
        .bind(uuid.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(not_found(uuid));
        }
        for table in [
            "instance_metadata",
            "instance_system_metadata",
            "instance_info_caches",
            "instance_extra",
            "security_group_instance_association",
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET deleted = id, deleted_at = now() WHERE instance_uuid = $1 AND deleted = 0"
            )))
            .bind(uuid.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        // Its tags and console tokens go (Nova deletes both: neither
        // table has a `deleted` column).
        for (table, column) in [
            ("tags", "resource_id"),
            ("console_auth_tokens", "instance_uuid"),
        ] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DELETE FROM {table} WHERE {column} = $1"
            )))
            .bind(uuid.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        // It leaves its server group.
        sqlx::query("DELETE FROM instance_group_member WHERE instance_uuid = $1")
            .bind(uuid.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if let (Some(h), Some(n)) = (&before.host, &before.node) {
            recompute_usage(&mut tx, h, n).await.map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        self.instance_get_by_uuid(uuid, true).await
    }

    pub async fn instance_fault_create(&self, f: &InstanceFault) -> Result<(), NovaError> {
        // `message` is VARCHAR(255) as in Nova; the whole text stays in `details`.
        let message: String = f.message.chars().take(255).collect();
        sqlx::query(
            "INSERT INTO instance_faults (instance_uuid, code, message, details, host) VALUES ($1,$2,$3,$4,$5)",
        )
        .bind(f.instance_uuid.to_string())
        .bind(f.code)
        .bind(message)
        .bind(&f.details)
        .bind(&f.host)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub async fn action_start(
        &self,
        uuid: Uuid,
        action: &str,
        request_id: &str,
        user_id: Option<&str>,
        project_id: Option<&str>,
    ) -> Result<(), NovaError> {
        sqlx::query(
            "INSERT INTO instance_actions (action, instance_uuid, request_id, user_id, project_id, start_time)
             VALUES ($1, $2, $3, $4, $5, now())",
        )
        .bind(action)
        .bind(uuid.to_string())
        .bind(request_id)
        .bind(user_id)
        .bind(project_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    async fn action_id(&self, uuid: Uuid, request_id: &str) -> Result<i32, NovaError> {
        let id: Option<i32> = sqlx::query_scalar(
            "SELECT id FROM instance_actions WHERE instance_uuid = $1 AND request_id = $2 AND deleted = 0
             ORDER BY id DESC LIMIT 1",
        )
        .bind(uuid.to_string())
        .bind(request_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        id.ok_or_else(|| NovaError::InstanceActionNotFound {
            request_id: request_id.to_string(),
            instance_uuid: uuid.to_string(),
        })
    }

    pub async fn action_event_start(
        &self,
        uuid: Uuid,
        request_id: &str,
        event: &str,
        host: &str,
    ) -> Result<(), NovaError> {
        let action_id = self.action_id(uuid, request_id).await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // A host that starts again the event it started and never finished
        // is handling the same message again (redelivered after it died):
        // the event goes on, it is not a second one.
        sqlx::query(
            "INSERT INTO instance_actions_events (event, action_id, start_time, host)
             SELECT $1, $2, now(), $3
             WHERE NOT EXISTS (
                 SELECT 1 FROM (SELECT finish_time, host FROM instance_actions_events
                                WHERE action_id = $2 AND event = $1 AND deleted = 0
                                ORDER BY id DESC LIMIT 1) latest
                 WHERE latest.finish_time IS NULL AND latest.host = $3)",
        )
        .bind(event)
        .bind(action_id)
        .bind(host)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        Self::action_touched(&mut tx, action_id, false).await?;
        tx.commit().await.map_err(db_err)
    }

    /// An event of the action started or finished: the action's
    /// `updated_at` is then (Nova's `action_event_start`/`_finish`), and
    /// an event that failed marks the action `Error`.
    async fn action_touched(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        action_id: i32,
        failed: bool,
    ) -> Result<(), NovaError> {
        sqlx::query(
            "UPDATE instance_actions SET updated_at = now(),
                 message = CASE WHEN $2 THEN 'Error' ELSE message END
             WHERE id = $1",
        )
        .bind(action_id)
        .bind(failed)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub async fn action_event_finish(
        &self,
        uuid: Uuid,
        request_id: &str,
        event: &str,
        result: &str,
        traceback: Option<&str>,
    ) -> Result<(), NovaError> {
        let action_id = self.action_id(uuid, request_id).await?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let res = sqlx::query(
            "UPDATE instance_actions_events SET finish_time = now(), result = $3, traceback = $4, updated_at = now()
             WHERE id = (SELECT id FROM instance_actions_events WHERE action_id = $1 AND event = $2
                         ORDER BY id DESC LIMIT 1)",
        )
        .bind(action_id)
        .bind(event)
        .bind(result)
        .bind(traceback)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            sqlx::query(
                "INSERT INTO instance_actions_events (event, action_id, start_time, finish_time, result, traceback)
                 VALUES ($1, $2, now(), now(), $3, $4)",
            )
            .bind(event)
            .bind(action_id)
            .bind(result)
            .bind(traceback)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        Self::action_touched(&mut tx, action_id, result == "Error").await?;
        tx.commit().await.map_err(db_err)
    }

    pub async fn actions_get(&self, uuid: Uuid) -> Result<Vec<InstanceAction>, NovaError> {
        let rows = sqlx::query(
            "SELECT * FROM instance_actions WHERE instance_uuid = $1 AND deleted = 0 ORDER BY created_at DESC, id DESC",
        )
        .bind(uuid.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut actions = Vec::new();
        for r in rows {
            let id: i32 = r.try_get("id").map_err(db_err)?;
            let events = sqlx::query(
                "SELECT * FROM instance_actions_events WHERE action_id = $1 AND deleted = 0 ORDER BY id",
            )
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?
            .iter()
            .map(|e| {
                Ok(InstanceActionEvent {
                    event: e.try_get::<Option<String>, _>("event")?.unwrap_or_default(),
                    start_time: e.try_get("start_time")?,
                    finish_time: e.try_get("finish_time")?,
                    result: e.try_get("result")?,
                    traceback: e.try_get("traceback")?,
                    host: e.try_get("host")?,
                    details: e.try_get("details")?,
                })
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()
            .map_err(db_err)?;
            actions.push(InstanceAction {
                id: id as i64,
                action: r
                    .try_get::<Option<String>, _>("action")
                    .map_err(db_err)?
                    .unwrap_or_default(),
                instance_uuid: uuid,
                request_id: r
                    .try_get::<Option<String>, _>("request_id")
                    .map_err(db_err)?
                    .unwrap_or_default(),
                user_id: r.try_get("user_id").map_err(db_err)?,
                project_id: r.try_get("project_id").map_err(db_err)?,
                start_time: r.try_get("start_time").map_err(db_err)?,
                finish_time: r.try_get("finish_time").map_err(db_err)?,
                message: r.try_get("message").map_err(db_err)?,
                updated_at: r.try_get("updated_at").map_err(db_err)?,
                events,
            });
        }
        Ok(actions)
    }
}

/// How many different tags a filter names.
fn distinct_count(tags: &[String]) -> i64 {
    tags.iter().collect::<std::collections::BTreeSet<_>>().len() as i64
}

/// Lock a live instance's row for the rest of `tx`, or InstanceNotFound.
async fn lock_instance(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    uuid: Uuid,
) -> Result<(), NovaError> {
    let found: Option<i32> =
        sqlx::query_scalar("SELECT id FROM instances WHERE uuid = $1 AND deleted = 0 FOR UPDATE")
            .bind(uuid.to_string())
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?;
    found.map(|_| ()).ok_or_else(|| not_found(uuid))
}

impl Db {
    /// Nova's `instance_get_active_by_window_joined`: the instances, deleted
    /// or not, that ran between `begin` and `end` (launched before `end`, not
    /// terminated before `begin`; one never launched, as a build that failed
    /// or was deleted first, did not run), of one project or all.
    pub async fn instance_get_active_by_window_joined(
        &self,
        begin: chrono::DateTime<chrono::Utc>,
        end: chrono::DateTime<chrono::Utc>,
        project_id: Option<&str>,
        host: Option<&str>,
    ) -> Result<Vec<Instance>, NovaError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{}
             WHERE (terminated_at IS NULL OR terminated_at > $1)
               AND launched_at < $2
               AND ($3::text IS NULL OR project_id = $3)
               AND ($4::text IS NULL OR host = $4)
             ORDER BY created_at, id",
            select_instances(None)
        )))
        .bind(begin)
        .bind(end)
        .bind(project_id)
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        instances_from_rows(&rows)
    }

    /// Nova's `instance_metadata_update`: set these items, and with `delete`
    /// remove every other one. The metadata after.
    pub async fn instance_metadata_update(
        &self,
        uuid: Uuid,
        metadata: &BTreeMap<String, String>,
        delete: bool,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        self.metadata_items_update("instance_metadata", uuid, metadata, delete)
            .await?;
        Ok(self.instance_get_by_uuid(uuid, false).await?.metadata)
    }

    /// Nova's `instance_system_metadata_update` (the metadata service's
    /// `password_N` items): as [`Self::instance_metadata_update`] on the
    /// system metadata. The system metadata after.
    pub async fn instance_system_metadata_update(
        &self,
        uuid: Uuid,
        metadata: &BTreeMap<String, String>,
        delete: bool,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        self.metadata_items_update("instance_system_metadata", uuid, metadata, delete)
            .await?;
        Ok(self
            .instance_get_by_uuid(uuid, false)
            .await?
            .system_metadata)
    }

    /// Set key/value items of `table` (`instance_metadata` or
    /// `instance_system_metadata`) for an instance, under its row lock.
    async fn metadata_items_update(
        &self,
        table: &'static str,
        uuid: Uuid,
        metadata: &BTreeMap<String, String>,
        delete: bool,
    ) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_instance(&mut tx, uuid).await?;
        if delete {
            let keep: Vec<String> = metadata.keys().cloned().collect();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET deleted = id, deleted_at = now()
                 WHERE instance_uuid = $1 AND deleted = 0 AND NOT (key = ANY($2))"
            )))
            .bind(uuid.to_string())
            .bind(&keep)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        }
        for (k, v) in metadata {
            let res = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE {table} SET value = $3, updated_at = now()
                 WHERE instance_uuid = $1 AND key = $2 AND deleted = 0"
            )))
            .bind(uuid.to_string())
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if res.rows_affected() == 0 {
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO {table} (instance_uuid, key, value) VALUES ($1, $2, $3)"
                )))
                .bind(uuid.to_string())
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        sqlx::query("UPDATE instances SET updated_at = now() WHERE uuid = $1")
            .bind(uuid.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }

    /// Nova's `instance_metadata_delete`: remove one item; false when there was none.
    pub async fn instance_metadata_delete(&self, uuid: Uuid, key: &str) -> Result<bool, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_instance(&mut tx, uuid).await?;
        let res = sqlx::query(
            "UPDATE instance_metadata SET deleted = id, deleted_at = now()
             WHERE instance_uuid = $1 AND key = $2 AND deleted = 0",
        )
        .bind(uuid.to_string())
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(res.rows_affected() > 0)
    }

    /// The instance's tags, sorted (`instance_tag_get_by_instance_uuid`).
    pub async fn instance_tag_get_by_instance_uuid(
        &self,
        uuid: Uuid,
    ) -> Result<Vec<String>, NovaError> {
        sqlx::query_scalar("SELECT tag FROM tags WHERE resource_id = $1 ORDER BY tag")
            .bind(uuid.to_string())
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)
    }

    /// Replace the instance's tags (`instance_tag_set`); the tags after.
    pub async fn instance_tag_set(
        &self,
        uuid: Uuid,
        tags: &[String],
    ) -> Result<Vec<String>, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_instance(&mut tx, uuid).await?;
        sqlx::query("DELETE FROM tags WHERE resource_id = $1")
            .bind(uuid.to_string())
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO tags (resource_id, tag) SELECT $1, t FROM unnest($2::text[]) AS t
             ON CONFLICT DO NOTHING",
        )
        .bind(uuid.to_string())
        .bind(tags)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.instance_tag_get_by_instance_uuid(uuid).await
    }

    /// Add one tag (`instance_tag_add`); adding one it has changes nothing.
    pub async fn instance_tag_add(&self, uuid: Uuid, tag: &str) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_instance(&mut tx, uuid).await?;
        sqlx::query("INSERT INTO tags (resource_id, tag) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(uuid.to_string())
            .bind(tag)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// Remove one tag (`instance_tag_delete`), or InstanceTagNotFound.
    pub async fn instance_tag_delete(&self, uuid: Uuid, tag: &str) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_instance(&mut tx, uuid).await?;
        let res = sqlx::query("DELETE FROM tags WHERE resource_id = $1 AND tag = $2")
            .bind(uuid.to_string())
            .bind(tag)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::InstanceTagNotFound {
                instance_id: uuid.to_string(),
                tag: tag.to_string(),
            });
        }
        tx.commit().await.map_err(db_err)
    }
}

/// Insert one instance with its extra, info cache, metadata and `create` action.
async fn insert_instance(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    v: &InstanceCreate,
) -> Result<(), NovaError> {
    let uuid = v.uuid.to_string();
    let f = &v.flavor;
    sqlx::query(
        "INSERT INTO instances (uuid, user_id, project_id, display_name, display_description,
                hostname, image_ref, instance_type_id, memory_mb, vcpus, root_gb, ephemeral_gb,
                vm_state, task_state, power_state, availability_zone, key_name, key_data, user_data,
                reservation_id, launch_index, access_ip_v4, access_ip_v6, config_drive,
                kernel_id, ramdisk_id, auto_disk_config, updated_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,'building','scheduling',0,
                     $13,$14,$15,$16,$17,$18,$19,$20,$21,$22,$23,$24, now())",
    )
    .bind(&uuid)
    .bind(&v.user_id)
    .bind(&v.project_id)
    .bind(&v.display_name)
    .bind(&v.display_description)
    .bind(&v.hostname)
    .bind(&v.image_ref)
    .bind(f.id as i32)
    .bind(f.memory_mb as i32)
    .bind(f.vcpus as i32)
    .bind(f.root_gb as i32)
    .bind(f.ephemeral_gb as i32)
    .bind(&v.availability_zone)
    .bind(&v.key_name)
    .bind(&v.key_data)
    .bind(&v.user_data)
    .bind(&v.reservation_id)
    .bind(v.launch_index)
    .bind(&v.access_ip_v4)
    .bind(&v.access_ip_v6)
    .bind(&v.config_drive)
    .bind(&v.kernel_id)
    .bind(&v.ramdisk_id)
    .bind(v.auto_disk_config)
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if is_unique_violation(&e) {
            NovaError::InstanceExists {
                instance_name: uuid.clone(),
            }
        } else {
            db_err(e)
        }
    })?;
    let certs = match &v.trusted_certs {
        Some(c) => Some(serde_json::to_string(c)?),
        None => None,
    };
    sqlx::query(
        "INSERT INTO instance_extra (instance_uuid, flavor, trusted_certs) VALUES ($1, $2, $3)",
    )
    .bind(&uuid)
    .bind(serde_json::to_string(f)?)
    .bind(certs)
    .execute(&mut **tx)
    .await
    .map_err(db_err)?;
    sqlx::query("INSERT INTO instance_info_caches (instance_uuid, network_info) VALUES ($1, '[]')")
        .bind(&uuid)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    for (table, m) in [
        ("instance_metadata", &v.metadata),
        ("instance_system_metadata", &v.system_metadata),
    ] {
        for (k, val) in m {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO {table} (instance_uuid, key, value) VALUES ($1, $2, $3)"
            )))
            .bind(&uuid)
            .bind(k)
            .bind(val)
            .execute(&mut **tx)
            .await
            .map_err(db_err)?;
        }
    }
    crate::security_groups::associate_by_names(
        tx,
        &uuid,
        &v.project_id,
        &v.user_id,
        &v.security_groups,
    )
    .await?;
    sqlx::query(
            "INSERT INTO instance_actions (action, instance_uuid, request_id, user_id, project_id, start_time)
             VALUES ('create', $1, $2, $3, $4, now())",
        )
        .bind(&uuid)
        .bind(&v.request_id)
        .bind(&v.user_id)
        .bind(&v.project_id)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The instance columns Nova filters by exact match beyond the typed
/// filters (`exact_match_filter_names`): a value list means any of them.
pub const EXACT_FILTER_COLUMNS: &[&str] = &["user_id", "vm_state", "task_state"];

/// The instance column of a sort key: Nova's server sort keys, 2.73's
/// `locked`, and `id`, the last key of every order.
fn sort_column(key: &str) -> Option<&'static str> {
    SERVER_SORT_KEYS
        .iter()
        .chain(&["locked", "id"])
        .find(|c| **c == key)
        .copied()
}

/// A listing's order as columns: newest first when none is asked, and
/// always ending on `id` (so a marker names one place in it). A key that
/// is no column is Nova's `InvalidSortKey`.
fn listing_order(sort: Option<&[SortKey]>) -> Result<Vec<(&'static str, SortDir)>, NovaError> {
    let Some(sort) = sort.filter(|s| !s.is_empty()) else {
        return Ok(vec![("created_at", SortDir::Desc), ("id", SortDir::Desc)]);
    };
    let mut order = sort
        .iter()
        .map(|k| {
            sort_column(&k.key)
                .map(|c| (c, k.dir))
                .ok_or(NovaError::InvalidSortKey {})
        })
        .collect::<Result<Vec<_>, _>>()?;
    if !order.iter().any(|(c, _)| *c == "id") {
        order.push(("id", sort[0].dir));
    }
    Ok(order)
}

/// The rows after the marker (the instance whose `id` is `marker_id`) in
/// `order`: those that differ from it first on a key where they come
/// after it (oslo.db's `paginate_query`). PostgreSQL sorts a NULL after
/// every value, ascending, and before every value, descending; the
/// comparisons follow it so that a page starts where the last one ended.
fn push_after_marker(
    q: &mut QueryBuilder<Postgres>,
    order: &[(&'static str, SortDir)],
    marker_id: i32,
) {
    let marker = |q: &mut QueryBuilder<Postgres>, col: &str| {
        q.push(format!("(SELECT {col} FROM instances mk WHERE mk.id = "))
            .push_bind(marker_id)
            .push(")");
    };
    q.push(" AND (FALSE");
    for (i, (col, dir)) in order.iter().enumerate() {
        q.push(" OR (TRUE");
        for (earlier, _) in &order[..i] {
            q.push(format!(" AND {earlier} IS NOT DISTINCT FROM "));
            marker(q, earlier);
        }
        match dir {
            SortDir::Asc => {
                q.push(format!(" AND ({col} > "));
                marker(q, col);
                q.push(format!(" OR ({col} IS NULL AND "));
                marker(q, col);
                q.push(" IS NOT NULL))");
            }
            SortDir::Desc => {
                q.push(format!(" AND ({col} < "));
                marker(q, col);
                q.push(format!(" OR ({col} IS NOT NULL AND "));
                marker(q, col);
                q.push(" IS NULL))");
            }
        }
        q.push(")");
    }
    q.push(")");
}

/// The instance columns Nova filters by regular expression
/// (`_regex_instance_filter`), with the SQL text each is matched as: text
/// columns as they are, numbers as their decimal text, timestamps as
/// `YYYY-MM-DD HH:MM:SS` in UTC (how MySQL, Nova's usual database, shows
/// a DATETIME to REGEXP).
pub fn regex_filter_column(col: &str) -> Option<String> {
    const TEXT: &[&str] = &[
        "reservation_id",
        "key_name",
        "availability_zone",
        "config_drive",
        "hostname",
        "node",
        "kernel_id",
        "ramdisk_id",
        "access_ip_v4",
        "access_ip_v6",
        "locked_by",
    ];
    const NUMBER: &[&str] = &["power_state", "progress", "launch_index"];
    const TIME: &[&str] = &["created_at", "launched_at", "terminated_at"];
    if TEXT.contains(&col) {
        Some(col.to_string())
    } else if NUMBER.contains(&col) {
        Some(format!("{col}::text"))
    } else if TIME.contains(&col) {
        Some(format!(
            "to_char({col} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')"
        ))
    } else {
        None
    }
}
