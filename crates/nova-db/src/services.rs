//! `services` and `compute_nodes`.

use crate::{db_err, parse_uuid, Db};
use nova_common::NovaError;
use nova_objects::numa::{
    numa_fit_instance_to_host, InstanceNumaTopology, NumaLimits, NumaTopology,
};
use nova_objects::{
    ComputeNode, ComputeNodeReport, FreeResources, Resource, ResourceRequest, Service,
};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

fn service_from_row(r: &PgRow) -> Result<Service, sqlx::Error> {
    Ok(Service {
        id: r.try_get::<i32, _>("id")? as i64,
        uuid: parse_uuid(r.try_get("uuid")?),
        host: r.try_get("host")?,
        binary: r.try_get("binary")?,
        topic: r.try_get("topic")?,
        report_count: r.try_get::<i32, _>("report_count")? as i64,
        disabled: r.try_get("disabled")?,
        disabled_reason: r.try_get("disabled_reason")?,
        forced_down: r.try_get("forced_down")?,
        version: r.try_get("version")?,
        last_seen_up: r.try_get("last_seen_up")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn node_from_row(r: &PgRow) -> Result<ComputeNode, sqlx::Error> {
    let i = |c: &str| r.try_get::<i32, _>(c).map(i64::from);
    Ok(ComputeNode {
        id: i("id")?,
        uuid: parse_uuid(r.try_get("uuid")?),
        service_id: r.try_get::<Option<i32>, _>("service_id")?.map(i64::from),
        host: r.try_get("host")?,
        hypervisor_hostname: r.try_get("hypervisor_hostname")?,
        hypervisor_type: r.try_get("hypervisor_type")?,
        hypervisor_version: r.try_get("hypervisor_version")?,
        cpu_info: r.try_get("cpu_info")?,
        host_ip: r
            .try_get::<Option<String>, _>("host_ip")?
            .unwrap_or_default(),
        vcpus: i("vcpus")?,
        memory_mb: i("memory_mb")?,
        local_gb: i("local_gb")?,
        vcpus_used: i("vcpus_used")?,
        memory_mb_used: i("memory_mb_used")?,
        local_gb_used: i("local_gb_used")?,
        free_ram_mb: i("free_ram_mb")?,
        free_disk_gb: i("free_disk_gb")?,
        current_workload: i("current_workload")?,
        running_vms: i("running_vms")?,
        disk_available_least: r
            .try_get::<Option<i32>, _>("disk_available_least")?
            .map(i64::from),
        cpu_allocation_ratio: r.try_get("cpu_allocation_ratio")?,
        ram_allocation_ratio: r.try_get("ram_allocation_ratio")?,
        disk_allocation_ratio: r.try_get("disk_allocation_ratio")?,
        updated_at: r.try_get("updated_at")?,
        reserved_host_cpus: i("reserved_host_cpus")?,
        // Written by `compute_node_update` only, from a typed list; a text
        // that is not one (edited by hand) advertises nothing.
        supported_instances: serde_json::from_str(r.try_get("supported_instances")?)
            .unwrap_or_default(),
        // Written from a typed topology (or NULL); unreadable text reports none.
        numa_topology: r
            .try_get::<Option<String>, _>("numa_topology")?
            .and_then(|t| serde_json::from_str(&t).ok()),
    })
}

/// Recompute a node's used amounts from the live instances assigned to it
/// (the resource tracker's view), inside the caller's transaction. A
/// migration in progress (resize, cold migration, evacuation) holds its new
/// flavor on its destination and its old flavor on its source until it is
/// confirmed or reverted, wherever the instance is at the moment, as Nova's
/// resource tracker counts migrations; such an instance is counted through
/// its migration only.
pub(crate) async fn recompute_usage(
    tx: &mut Transaction<'_, Postgres>,
    host: &str,
    node: &str,
) -> Result<(), sqlx::Error> {
    let finals: Vec<String> = nova_objects::Migration::FINAL_STATUSES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let base = sqlx::query(
        "WITH moving AS (
            SELECT m.source_compute, m.source_node, m.dest_compute, m.dest_node,
                   e.old_flavor::json AS old_f, e.new_flavor::json AS new_f, i.host, i.node, i.uuid
              FROM migrations m
              JOIN instances i ON i.uuid = m.instance_uuid::text AND i.deleted = 0
              JOIN instance_extra e ON e.instance_uuid = i.uuid
             WHERE m.deleted = 0 AND coalesce(m.status, '') <> ALL($3)
               AND ((m.source_compute = $1 AND m.source_node = $2)
                 OR (m.dest_compute = $1 AND m.dest_node = $2))
         ), held AS (
            SELECT vcpus, memory_mb, root_gb + ephemeral_gb AS disk_gb, 1 AS n,
                   (task_state IS NOT NULL)::int AS busy
              FROM instances
             WHERE host = $1 AND node = $2 AND deleted = 0
               AND uuid NOT IN (SELECT uuid FROM moving)
            UNION ALL
            SELECT (new_f->>'vcpus')::int, (new_f->>'memory_mb')::int,
                   (new_f->>'root_gb')::int + (new_f->>'ephemeral_gb')::int,
                   (host = $1 AND node = $2)::int, 1
              FROM moving WHERE dest_compute = $1 AND dest_node = $2 AND new_f IS NOT NULL
            UNION ALL
            SELECT (old_f->>'vcpus')::int, (old_f->>'memory_mb')::int,
                   (old_f->>'root_gb')::int + (old_f->>'ephemeral_gb')::int,
                   (host = $1 AND node = $2 AND NOT (dest_compute = $1 AND dest_node = $2))::int, 1
              FROM moving WHERE source_compute = $1 AND source_node = $2 AND old_f IS NOT NULL
         )
         UPDATE compute_nodes cn SET
            vcpus_used = u.vcpus,
            memory_mb_used = cn.reserved_host_memory_mb + u.memory_mb,
            local_gb_used = (cn.reserved_host_disk_mb + 1023) / 1024 + u.disk_gb,
            running_vms = u.n,
            free_ram_mb = cn.memory_mb - cn.reserved_host_memory_mb - u.memory_mb,
            free_disk_gb = cn.local_gb - (cn.reserved_host_disk_mb + 1023) / 1024 - u.disk_gb,
            current_workload = u.busy,
            updated_at = now()
         FROM (SELECT coalesce(sum(vcpus), 0)::int AS vcpus,
                      coalesce(sum(memory_mb), 0)::int AS memory_mb,
                      coalesce(sum(disk_gb), 0)::int AS disk_gb,
                      coalesce(sum(n), 0)::int AS n,
                      coalesce(sum(busy), 0)::int AS busy
                 FROM held) u
         WHERE cn.host = $1 AND cn.hypervisor_hostname = $2 AND cn.deleted = 0
         RETURNING cn.numa_topology",
    )
    .bind(host)
    .bind(node)
    .bind(finals)
    .fetch_optional(&mut **tx)
    .await?;
    // A node with NUMA cells has their usage recounted too (no statement
    // more for the others).
    match base.and_then(|r| r.try_get::<Option<String>, _>(0).ok().flatten()) {
        Some(base) => recompute_numa_usage(tx, host, node, &base).await,
        None => Ok(()),
    }
}

/// The node's NUMA cells' usage recounted from the fitted topologies its
/// instances hold (for a node that reports a topology): an instance on the
/// move holds its old topology on its source and the one fitted to its
/// destination there (`instance_extra.migration_context`), as its flavors
/// are counted.
async fn recompute_numa_usage(
    tx: &mut Transaction<'_, Postgres>,
    host: &str,
    node: &str,
    base: &str,
) -> Result<(), sqlx::Error> {
    // Written from a typed topology; unreadable text is left as it is.
    let Ok(base) = serde_json::from_str::<NumaTopology>(base) else {
        return Ok(());
    };
    let held: Vec<Option<String>> = sqlx::query_scalar(
        "SELECT e.numa_topology FROM instances i JOIN instance_extra e ON e.instance_uuid = i.uuid
          WHERE i.deleted = 0 AND e.numa_topology IS NOT NULL
            AND ((e.migration_context IS NULL AND i.host = $1 AND i.node = $2)
              OR (e.migration_context::json->>'source_compute' = $1
                  AND e.migration_context::json->>'source_node' = $2))
         UNION ALL
         SELECT e.migration_context::json->>'new_numa_topology'
           FROM instances i JOIN instance_extra e ON e.instance_uuid = i.uuid
          WHERE i.deleted = 0 AND e.migration_context::json->>'dest_compute' = $1
            AND e.migration_context::json->>'dest_node' = $2",
    )
    .bind(host)
    .bind(node)
    .fetch_all(&mut **tx)
    .await?;
    let held: Vec<InstanceNumaTopology> = held
        .into_iter()
        .flatten()
        .filter_map(|t| serde_json::from_str(&t).ok())
        .collect();
    let used = base.with_usage(&held);
    sqlx::query(
        "UPDATE compute_nodes SET numa_topology = $3
          WHERE host = $1 AND hypervisor_hostname = $2 AND deleted = 0",
    )
    .bind(host)
    .bind(node)
    .bind(serde_json::to_string(&used).map_err(|e| sqlx::Error::Encode(Box::new(e)))?)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Db {
    /// Create the service row if needed, and record a check-in.
    pub async fn service_update(
        &self,
        host: &str,
        binary: &str,
        topic: Option<&str>,
    ) -> Result<Service, NovaError> {
        // Update in place; insert only when there is no row, so a check-in
        // never consumes a value of services_id_seq (an upsert's INSERT would).
        let row = sqlx::query(
            "WITH upd AS (
               UPDATE services SET report_count = report_count + 1,
                      last_seen_up = now(), updated_at = now(), topic = coalesce($4, topic)
                WHERE host = $2 AND \"binary\" = $3 AND deleted = 0
               RETURNING *),
             ins AS (
               INSERT INTO services (uuid, host, \"binary\", topic, report_count, last_seen_up, updated_at)
               SELECT $1, $2, $3, $4, 1, now(), now() WHERE NOT EXISTS (SELECT 1 FROM upd)
               ON CONFLICT (host, \"binary\", deleted) DO UPDATE SET
                 report_count = services.report_count + 1,
                 last_seen_up = now(), updated_at = now(),
                 topic = coalesce(EXCLUDED.topic, services.topic)
               RETURNING *)
             SELECT * FROM upd UNION ALL SELECT * FROM ins",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(host)
        .bind(binary)
        .bind(topic)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        service_from_row(&row).map_err(db_err)
    }

    pub async fn service_get_all(&self) -> Result<Vec<Service>, NovaError> {
        let rows = sqlx::query("SELECT * FROM services WHERE deleted = 0 ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| service_from_row(r).map_err(db_err))
            .collect()
    }

    pub async fn service_set_disabled(
        &self,
        host: &str,
        binary: &str,
        disabled: bool,
        reason: Option<&str>,
    ) -> Result<Service, NovaError> {
        let row = sqlx::query(
            "UPDATE services SET disabled = $3, disabled_reason = $4, updated_at = now()
             WHERE host = $1 AND \"binary\" = $2 AND deleted = 0 RETURNING *",
        )
        .bind(host)
        .bind(binary)
        .bind(disabled)
        .bind(if disabled { reason } else { None })
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => service_from_row(&r).map_err(db_err),
            None => Err(NovaError::ServiceNotFound {
                service_id: format!("{binary} on {host}"),
            }),
        }
    }

    pub async fn service_set_forced_down(
        &self,
        host: &str,
        binary: &str,
        forced_down: bool,
    ) -> Result<Service, NovaError> {
        let row = sqlx::query(
            "UPDATE services SET forced_down = $3, updated_at = now()
             WHERE host = $1 AND \"binary\" = $2 AND deleted = 0 RETURNING *",
        )
        .bind(host)
        .bind(binary)
        .bind(forced_down)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => service_from_row(&r).map_err(db_err),
            None => Err(NovaError::ServiceNotFound {
                service_id: format!("{binary} on {host}"),
            }),
        }
    }

    /// Soft-delete a service (and its compute nodes).
    pub async fn service_delete(&self, id: i64) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let host: Option<String> = sqlx::query_scalar(
            "UPDATE services SET deleted = id, deleted_at = now() WHERE id = $1 AND deleted = 0 RETURNING host",
        )
        .bind(id as i32)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(host) = host else {
            return Err(NovaError::ServiceNotFound {
                service_id: id.to_string(),
            });
        };
        sqlx::query("UPDATE compute_nodes SET deleted = id, deleted_at = now() WHERE host = $1 AND service_id = $2 AND deleted = 0")
            .bind(&host)
            .bind(id as i32)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// Store what the hypervisor reports, then recompute usage from instances.
    pub async fn compute_node_update(
        &self,
        report: &ComputeNodeReport,
    ) -> Result<ComputeNode, NovaError> {
        let res = &report.resources;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let service_id: Option<i32> = sqlx::query_scalar(
            "SELECT id FROM services WHERE host = $1 AND \"binary\" = 'nova-compute' AND deleted = 0",
        )
        .bind(&report.host)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "INSERT INTO compute_nodes (uuid, service_id, host, hypervisor_hostname, hypervisor_type,
                hypervisor_version, cpu_info, host_ip, vcpus, memory_mb, local_gb, disk_available_least,
                reserved_host_memory_mb, reserved_host_disk_mb, reserved_host_cpus,
                cpu_allocation_ratio, ram_allocation_ratio, disk_allocation_ratio,
                supported_instances, numa_topology, updated_at)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20, now())
             ON CONFLICT (host, hypervisor_hostname, deleted) DO UPDATE SET
                service_id = EXCLUDED.service_id, hypervisor_type = EXCLUDED.hypervisor_type,
                hypervisor_version = EXCLUDED.hypervisor_version, cpu_info = EXCLUDED.cpu_info,
                host_ip = EXCLUDED.host_ip, vcpus = EXCLUDED.vcpus, memory_mb = EXCLUDED.memory_mb,
                local_gb = EXCLUDED.local_gb, disk_available_least = EXCLUDED.disk_available_least,
                reserved_host_memory_mb = EXCLUDED.reserved_host_memory_mb,
                reserved_host_disk_mb = EXCLUDED.reserved_host_disk_mb,
                reserved_host_cpus = EXCLUDED.reserved_host_cpus,
                cpu_allocation_ratio = EXCLUDED.cpu_allocation_ratio,
                ram_allocation_ratio = EXCLUDED.ram_allocation_ratio,
                disk_allocation_ratio = EXCLUDED.disk_allocation_ratio,
                supported_instances = EXCLUDED.supported_instances,
                numa_topology = EXCLUDED.numa_topology,
                updated_at = now()",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(service_id)
        .bind(&report.host)
        .bind(&res.hypervisor_hostname)
        .bind(&res.hypervisor_type)
        .bind(res.hypervisor_version)
        .bind(&res.cpu_info)
        .bind(&report.host_ip)
        .bind(res.vcpus as i32)
        .bind(res.memory_mb as i32)
        .bind(res.local_gb as i32)
        .bind(res.disk_available_least.map(|v| v as i32))
        .bind(report.reserved_host_memory_mb as i32)
        .bind(report.reserved_host_disk_mb as i32)
        .bind(report.reserved_host_cpus as i32)
        .bind(report.cpu_allocation_ratio)
        .bind(report.ram_allocation_ratio)
        .bind(report.disk_allocation_ratio)
        // A list of strings always serialises.
        .bind(serde_json::to_string(&res.supported_instances).unwrap_or_else(|_| "[]".into()))
        // A typed topology always serialises; its usage is recounted below.
        .bind(
            res.numa_topology
                .as_ref()
                .and_then(|t| serde_json::to_string(t).ok()),
        )
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        recompute_usage(&mut tx, &report.host, &res.hypervisor_hostname)
            .await
            .map_err(db_err)?;
        let row = sqlx::query(
            "SELECT * FROM compute_nodes WHERE host = $1 AND hypervisor_hostname = $2 AND deleted = 0",
        )
        .bind(&report.host)
        .bind(&res.hypervisor_hostname)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        node_from_row(&row).map_err(db_err)
    }

    pub async fn compute_node_get_all(&self) -> Result<Vec<ComputeNode>, NovaError> {
        let rows = sqlx::query("SELECT * FROM compute_nodes WHERE deleted = 0 ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| node_from_row(r).map_err(db_err))
            .collect()
    }

    /// Claim the request's resources on a node for an unassigned instance:
    /// assign the instance to the node, check under the node's row lock that
    /// the request fits (with the allocation ratios, the rule the scheduler's
    /// filters use) and recompute the node's usage, all in one transaction.
    /// An instance already assigned to a host is left alone: another attempt
    /// owns it.
    pub async fn compute_node_claim(
        &self,
        instance_uuid: Uuid,
        host: &str,
        node: &str,
        req: &ResourceRequest,
        availability_zone: &str,
    ) -> Result<Claim, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        // The instance first, then the node: the order instance_update locks them in.
        let assigned = sqlx::query(
            "UPDATE instances SET host = $2, node = $3, launched_on = $2, availability_zone = $4,
                    updated_at = now()
             WHERE uuid = $1 AND deleted = 0 AND host IS NULL",
        )
        .bind(instance_uuid.to_string())
        .bind(host)
        .bind(node)
        .bind(availability_zone)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if assigned.rows_affected() == 0 {
            let current: Option<Option<String>> =
                sqlx::query_scalar("SELECT host FROM instances WHERE uuid = $1 AND deleted = 0")
                    .bind(instance_uuid.to_string())
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err)?;
            return match current {
                Some(h) => Ok(Claim::AlreadyAssigned(h.unwrap_or_default())),
                None => Err(NovaError::InstanceNotFound {
                    instance_id: instance_uuid.to_string(),
                }),
            };
        }
        let row = sqlx::query(
            "SELECT * FROM compute_nodes WHERE host = $1 AND hypervisor_hostname = $2 AND deleted = 0 FOR UPDATE",
        )
        .bind(host)
        .bind(node)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Err(NovaError::ComputeHostNotFound {
                host: host.to_string(),
            });
        };
        let cn = node_from_row(&row).map_err(db_err)?;
        // The scheduler chose from host states it refreshes now and then: a
        // host disabled (or forced down) since is refused here, where it counts.
        let unusable: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM services WHERE host = $1 AND \"binary\" = 'nova-compute'
                 AND deleted = 0 AND (disabled OR forced_down))",
        )
        .bind(host)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if unusable {
            return Ok(Claim::ServiceDisabled);
        }
        if let Err(resource) = FreeResources::of(&cn).fits(req) {
            // Dropping the transaction rolls the assignment back.
            return Ok(Claim::DoesNotFit(resource));
        }
        let Ok(numa) = fit_numa(&cn, req) else {
            return Ok(Claim::DoesNotFit(Resource::NumaTopology));
        };
        if let Some(policy) =
            crate::instance_groups::policy_violation(&mut tx, instance_uuid, host).await?
        {
            return Ok(Claim::GroupPolicy(policy));
        }
        set_numa_topology(&mut tx, instance_uuid, numa.as_ref()).await?;
        recompute_usage(&mut tx, host, node).await.map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Claim::Claimed)
    }
}

/// The request's NUMA topology fitted to the node as its usage stands
/// (under the node's row lock), with the node's allocation ratios as
/// NUMATopologyFilter applies them: `Ok(None)` when it asks for none,
/// `Err(())` when it does not fit (or the node reports no topology).
pub(crate) fn fit_numa(
    cn: &ComputeNode,
    req: &ResourceRequest,
) -> Result<Option<InstanceNumaTopology>, ()> {
    let Some(want) = &req.numa_topology else {
        return Ok(None);
    };
    let host = cn.numa_topology.as_ref().ok_or(())?;
    let limits = NumaLimits {
        cpu_allocation_ratio: cn.cpu_allocation_ratio,
        ram_allocation_ratio: cn.ram_allocation_ratio,
    };
    numa_fit_instance_to_host(host, want, Some(&limits))
        .map(Some)
        .ok_or(())
}

/// Record an instance's fitted NUMA topology (`None` clears it).
pub(crate) async fn set_numa_topology(
    tx: &mut Transaction<'_, Postgres>,
    instance_uuid: Uuid,
    numa: Option<&InstanceNumaTopology>,
) -> Result<(), NovaError> {
    sqlx::query("UPDATE instance_extra SET numa_topology = $2 WHERE instance_uuid = $1")
        .bind(instance_uuid.to_string())
        .bind(numa.map(serde_json::to_string).transpose()?)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// What [`Db::compute_node_claim`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The instance is assigned to the node, its usage counted there.
    Claimed,
    /// The node has no room left: the first resource that does not fit.
    DoesNotFit(Resource),
    /// The instance was already assigned to this host (another attempt claimed it).
    AlreadyAssigned(String),
    /// The host's nova-compute service is disabled or forced down.
    ServiceDisabled,
    /// Its server group's hard policy (`affinity` or `anti-affinity`) does
    /// not allow it on this host, given where the other members are now.
    GroupPolicy(String),
}
