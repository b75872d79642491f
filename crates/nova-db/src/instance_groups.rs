//! Server groups (`instance_groups`, `instance_group_policy`,
//! `instance_group_member`), as Nova's API database keeps them: a group has
//! one policy row (with 2.64's rules as JSON text) and its members' uuids.
//! A member whose instance is deleted leaves the group (`instance_destroy`);
//! reads still show only members whose instance is not deleted.

use crate::{db_err, Db};
use nova_common::NovaError;
use nova_objects::InstanceGroup;
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

fn not_found(uuid: impl ToString) -> NovaError {
    NovaError::InstanceGroupNotFound {
        group_uuid: uuid.to_string(),
    }
}

fn group_from_row(r: &PgRow) -> Result<InstanceGroup, sqlx::Error> {
    let rules: Option<String> = r.try_get("rules")?;
    let rules: BTreeMap<String, i64> = rules
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    let uuid: String = r.try_get("uuid")?;
    Ok(InstanceGroup {
        id: r.try_get::<i32, _>("id")? as i64,
        uuid: Uuid::parse_str(&uuid).unwrap_or_default(),
        name: r.try_get("name")?,
        user_id: r
            .try_get::<Option<String>, _>("user_id")?
            .unwrap_or_default(),
        project_id: r
            .try_get::<Option<String>, _>("project_id")?
            .unwrap_or_default(),
        policy: r
            .try_get::<Option<String>, _>("policy")?
            .unwrap_or_default(),
        rules,
        members: Vec::new(),
        hosts: Vec::new(),
        created_at: r.try_get("created_at")?,
    })
}

const SELECT_GROUPS: &str = "SELECT g.id, g.uuid, g.name, g.user_id, g.project_id, g.created_at,
        p.policy, p.rules
   FROM instance_groups g LEFT JOIN instance_group_policy p ON p.group_id = g.id";

impl Db {
    /// Record a group with its policy, within the project's `server_groups`
    /// quota (`limit`, -1 unlimited), under the project's quota lock.
    pub async fn instance_group_create(
        &self,
        g: &InstanceGroup,
        limit: i64,
    ) -> Result<InstanceGroup, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtext('nova-quota:' || $1))")
            .bind(&g.project_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        if limit >= 0 {
            let used: i64 =
                sqlx::query_scalar("SELECT count(*) FROM instance_groups WHERE project_id = $1")
                    .bind(&g.project_id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(db_err)?;
            if used >= limit {
                return Err(NovaError::ServerGroupLimitExceeded {});
            }
        }
        let id: i32 = sqlx::query_scalar(
            "INSERT INTO instance_groups (uuid, name, user_id, project_id)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(g.uuid.to_string())
        .bind(&g.name)
        .bind(&g.user_id)
        .bind(&g.project_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let rules = serde_json::to_string(&g.rules).unwrap_or_else(|_| "{}".into());
        sqlx::query(
            "INSERT INTO instance_group_policy (policy, rules, group_id) VALUES ($1, $2, $3)",
        )
        .bind(&g.policy)
        .bind(rules)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.instance_group_get_by_uuid(g.uuid).await
    }

    /// A group with its live members and their hosts.
    pub async fn instance_group_get_by_uuid(&self, uuid: Uuid) -> Result<InstanceGroup, NovaError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_GROUPS} WHERE g.uuid = $1"
        )))
        .bind(uuid.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        let Some(row) = row else {
            return Err(not_found(uuid));
        };
        let mut groups = vec![group_from_row(&row).map_err(db_err)?];
        self.load_members(&mut groups).await?;
        Ok(groups.remove(0))
    }

    /// Every group, or one project's, oldest first.
    pub async fn instance_group_get_all(
        &self,
        project_id: Option<&str>,
    ) -> Result<Vec<InstanceGroup>, NovaError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT_GROUPS} WHERE ($1::text IS NULL OR g.project_id = $1) ORDER BY g.id"
        )))
        .bind(project_id)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut groups = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        self.load_members(&mut groups).await?;
        Ok(groups)
    }

    /// The group an instance is a member of, if any.
    pub async fn instance_group_get_by_instance_uuid(
        &self,
        instance_uuid: Uuid,
    ) -> Result<Option<InstanceGroup>, NovaError> {
        let uuid: Option<String> = sqlx::query_scalar(
            "SELECT g.uuid FROM instance_groups g JOIN instance_group_member m ON m.group_id = g.id
             WHERE m.instance_uuid = $1 ORDER BY g.id LIMIT 1",
        )
        .bind(instance_uuid.to_string())
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match uuid.and_then(|u| Uuid::parse_str(&u).ok()) {
            Some(u) => match self.instance_group_get_by_uuid(u).await {
                Ok(g) => Ok(Some(g)),
                Err(NovaError::InstanceGroupNotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            },
            None => Ok(None),
        }
    }

    /// Delete a group with its policy and members (the instances stay).
    pub async fn instance_group_destroy(&self, uuid: Uuid) -> Result<(), NovaError> {
        let res = sqlx::query("DELETE FROM instance_groups WHERE uuid = $1")
            .bind(uuid.to_string())
            .execute(&self.pool)
            .await
            .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(not_found(uuid));
        }
        Ok(())
    }

    /// Fill in each group's live members (oldest first) and the host of
    /// each member placed on one.
    async fn load_members(&self, groups: &mut [InstanceGroup]) -> Result<(), NovaError> {
        if groups.is_empty() {
            return Ok(());
        }
        let ids: Vec<i32> = groups.iter().map(|g| g.id as i32).collect();
        let rows = sqlx::query(
            "SELECT m.group_id, m.instance_uuid, i.host
               FROM instance_group_member m
               JOIN instances i ON i.uuid = m.instance_uuid AND i.deleted = 0
              WHERE m.group_id = ANY($1)
              ORDER BY m.id",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let gid = r.try_get::<i32, _>(0).map_err(db_err)? as i64;
            let member: String = r.try_get(1).map_err(db_err)?;
            let host: Option<String> = r.try_get(2).map_err(db_err)?;
            if let Some(g) = groups.iter_mut().find(|g| g.id == gid) {
                if let Ok(u) = Uuid::parse_str(&member) {
                    g.members.push(u);
                }
                g.hosts.extend(host);
            }
        }
        Ok(())
    }
}

/// Within an instance create's transaction (the project's quota lock held):
/// lock the group, check its `server_group_members` quota (`limit`, -1
/// unlimited) for `adding` more members; returns the group's id.
pub(crate) async fn lock_for_members(
    conn: &mut PgConnection,
    group: Uuid,
    adding: i64,
    limit: i64,
) -> Result<i32, NovaError> {
    let id: Option<i32> =
        sqlx::query_scalar("SELECT id FROM instance_groups WHERE uuid = $1 FOR UPDATE")
            .bind(group.to_string())
            .fetch_optional(&mut *conn)
            .await
            .map_err(db_err)?;
    let id = id.ok_or_else(|| not_found(group))?;
    if limit >= 0 {
        let members: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM instance_group_member m
               JOIN instances i ON i.uuid = m.instance_uuid AND i.deleted = 0
              WHERE m.group_id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        if members + adding > limit {
            return Err(NovaError::GroupMemberLimitExceeded {});
        }
    }
    Ok(id)
}

pub(crate) async fn add_member(
    conn: &mut PgConnection,
    group_id: i32,
    instance_uuid: Uuid,
) -> Result<(), NovaError> {
    sqlx::query("INSERT INTO instance_group_member (instance_uuid, group_id) VALUES ($1, $2)")
        .bind(instance_uuid.to_string())
        .bind(group_id)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The claim's late check of a hard (anti-)affinity policy (Nova's compute
/// manager `_validate_instance_group_policy`, done here under the group's
/// row lock so two builds of one group cannot both pass): whether
/// `instance_uuid`, already assigned to `host` in this transaction, may stay
/// there. `None` when the instance is in no group with a hard policy.
pub(crate) async fn policy_violation(
    conn: &mut PgConnection,
    instance_uuid: Uuid,
    host: &str,
) -> Result<Option<String>, NovaError> {
    let row = sqlx::query(
        "SELECT g.id, p.policy, p.rules FROM instance_groups g
           JOIN instance_group_member m ON m.group_id = g.id
           LEFT JOIN instance_group_policy p ON p.group_id = g.id
          WHERE m.instance_uuid = $1
          ORDER BY g.id LIMIT 1
          FOR UPDATE OF g",
    )
    .bind(instance_uuid.to_string())
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    let Some(row) = row else {
        return Ok(None);
    };
    let gid: i32 = row.try_get(0).map_err(db_err)?;
    let policy: Option<String> = row.try_get(1).map_err(db_err)?;
    let rules: Option<String> = row.try_get(2).map_err(db_err)?;
    let group = InstanceGroup {
        policy: policy.unwrap_or_default(),
        rules: rules
            .as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or_default(),
        ..Default::default()
    };
    if group.policy != "affinity" && group.policy != "anti-affinity" {
        return Ok(None);
    }
    // The other live members' hosts.
    let hosts: Vec<String> = sqlx::query_scalar(
        "SELECT i.host FROM instance_group_member m
           JOIN instances i ON i.uuid = m.instance_uuid AND i.deleted = 0
          WHERE m.group_id = $1 AND m.instance_uuid != $2 AND i.host IS NOT NULL",
    )
    .bind(gid)
    .bind(instance_uuid.to_string())
    .fetch_all(&mut *conn)
    .await
    .map_err(db_err)?;
    let violated = if group.policy == "anti-affinity" {
        hosts.iter().filter(|h| *h == host).count() >= group.max_server_per_host()
    } else {
        hosts.iter().any(|h| h != host)
    };
    Ok(violated.then_some(group.policy))
}
