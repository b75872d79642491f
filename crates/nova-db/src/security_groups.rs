//! `security_groups`, `security_group_rules`, `security_group_instance_association`
//! and `security_group_default_rules` (Nova's `security_group_*` DB API).
//!
//! A project's `default` group is made on first use, under a per-project
//! lock, with a copy of the default rules; quota checks (groups per project,
//! rules per group) and the inserts they guard run in one transaction under
//! the project's quota lock.

use crate::{db_err, is_unique_violation, parse_uuid, Db};
use nova_common::NovaError;
use nova_objects::{
    GranteeGroup, Instance, SecurityGroup, SecurityGroupDefaultRule, SecurityGroupRule,
};
use sqlx::postgres::PgRow;
use sqlx::{PgConnection, Postgres, Row};
use std::collections::BTreeMap;
use uuid::Uuid;

const DEFAULT: &str = "default";

fn group_from_row(r: &PgRow) -> Result<SecurityGroup, sqlx::Error> {
    Ok(SecurityGroup {
        id: r.try_get::<i32, _>("id")? as i64,
        name: r.try_get::<Option<String>, _>("name")?.unwrap_or_default(),
        description: r
            .try_get::<Option<String>, _>("description")?
            .unwrap_or_default(),
        user_id: r
            .try_get::<Option<String>, _>("user_id")?
            .unwrap_or_default(),
        project_id: r
            .try_get::<Option<String>, _>("project_id")?
            .unwrap_or_default(),
        rules: vec![],
    })
}

fn int(r: &PgRow, col: &str) -> Result<Option<i64>, sqlx::Error> {
    Ok(r.try_get::<Option<i32>, _>(col)?.map(i64::from))
}

fn rule_from_row(r: &PgRow) -> Result<SecurityGroupRule, sqlx::Error> {
    let group_id = int(r, "group_id")?;
    let grantee_group = match group_id {
        Some(id) => Some(GranteeGroup {
            id,
            name: r
                .try_get::<Option<String>, _>("grantee_name")?
                .unwrap_or_default(),
            project_id: r
                .try_get::<Option<String>, _>("grantee_project_id")?
                .unwrap_or_default(),
            member_ips: vec![],
        }),
        None => None,
    };
    Ok(SecurityGroupRule {
        id: r.try_get::<i32, _>("id")? as i64,
        parent_group_id: int(r, "parent_group_id")?.unwrap_or_default(),
        protocol: r.try_get("protocol")?,
        from_port: int(r, "from_port")?,
        to_port: int(r, "to_port")?,
        cidr: r.try_get("cidr")?,
        group_id,
        grantee_group,
    })
}

fn default_rule_from_row(r: &PgRow) -> Result<SecurityGroupDefaultRule, sqlx::Error> {
    Ok(SecurityGroupDefaultRule {
        id: r.try_get::<i32, _>("id")? as i64,
        protocol: r.try_get("protocol")?,
        from_port: int(r, "from_port")?,
        to_port: int(r, "to_port")?,
        cidr: r.try_get("cidr")?,
    })
}

/// Live rules with their source group's name and project.
const RULES: &str = "SELECT r.*, g.name AS grantee_name, g.project_id AS grantee_project_id
     FROM security_group_rules r LEFT JOIN security_groups g ON g.id = r.group_id AND g.deleted = 0
     WHERE r.deleted = 0";

fn not_found(id: i64) -> NovaError {
    NovaError::SecurityGroupNotFound {
        security_group_id: id.to_string(),
    }
}

/// Lock the project's quota (shared with instance creation) for the transaction.
async fn lock_project(conn: &mut PgConnection, project_id: &str) -> Result<(), NovaError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('nova-quota:' || $1))")
        .bind(project_id)
        .execute(conn)
        .await
        .map_err(db_err)?;
    Ok(())
}

/// The project's `default` group, made (with the default rules) if missing.
/// The caller holds the project's lock.
pub(crate) async fn ensure_default(
    conn: &mut PgConnection,
    project_id: &str,
    user_id: &str,
) -> Result<i64, NovaError> {
    let found = sqlx::query(
        "SELECT id FROM security_groups WHERE project_id = $1 AND name = $2 AND deleted = 0",
    )
    .bind(project_id)
    .bind(DEFAULT)
    .fetch_optional(&mut *conn)
    .await
    .map_err(db_err)?;
    if let Some(r) = found {
        return Ok(r.try_get::<i32, _>(0).map_err(db_err)? as i64);
    }
    let id: i32 = sqlx::query_scalar(
        "INSERT INTO security_groups (name, description, user_id, project_id)
         VALUES ($1, 'default', $2, $3) RETURNING id",
    )
    .bind(DEFAULT)
    .bind(user_id)
    .bind(project_id)
    .fetch_one(&mut *conn)
    .await
    .map_err(db_err)?;
    sqlx::query(
        "INSERT INTO security_group_rules (parent_group_id, protocol, from_port, to_port, cidr)
         SELECT $1, protocol, from_port, to_port, cidr FROM security_group_default_rules
         WHERE deleted = 0 ORDER BY id",
    )
    .bind(id)
    .execute(&mut *conn)
    .await
    .map_err(db_err)?;
    Ok(id as i64)
}

/// Join the instance to the named groups of its project (`default` made if missing).
pub(crate) async fn associate_by_names(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    instance_uuid: &str,
    project_id: &str,
    user_id: &str,
    names: &[String],
) -> Result<(), NovaError> {
    let mut ids = Vec::new();
    for name in names {
        let id = if name == DEFAULT {
            ensure_default(&mut *tx, project_id, user_id).await?
        } else {
            let r = sqlx::query(
                "SELECT id FROM security_groups WHERE project_id = $1 AND name = $2 AND deleted = 0",
            )
            .bind(project_id)
            .bind(name)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err)?
            .ok_or_else(|| NovaError::SecurityGroupNotFoundForProject {
                security_group_id: name.clone(),
                project_id: project_id.to_string(),
            })?;
            r.try_get::<i32, _>(0).map_err(db_err)? as i64
        };
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    for id in ids {
        sqlx::query(
            "INSERT INTO security_group_instance_association (security_group_id, instance_uuid) VALUES ($1, $2)",
        )
        .bind(id as i32)
        .bind(instance_uuid)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    }
    Ok(())
}

impl Db {
    /// Attach each group's live rules.
    async fn with_rules(
        &self,
        mut groups: Vec<SecurityGroup>,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        let ids: Vec<i32> = groups.iter().map(|g| g.id as i32).collect();
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RULES} AND r.parent_group_id = ANY($1) ORDER BY r.id"
        )))
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let rule = rule_from_row(&r).map_err(db_err)?;
            if let Some(g) = groups.iter_mut().find(|g| g.id == rule.parent_group_id) {
                g.rules.push(rule);
            }
        }
        Ok(groups)
    }

    async fn groups_where(
        &self,
        condition: &str,
        bind: Option<&str>,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        let sql = format!(
            "SELECT * FROM security_groups WHERE deleted = 0 {condition} ORDER BY project_id, name, id"
        );
        let q = sqlx::query(sqlx::AssertSqlSafe(sql));
        let q = match bind {
            Some(b) => q.bind(b.to_string()),
            None => q,
        };
        let rows = q.fetch_all(&self.pool).await.map_err(db_err)?;
        let groups = rows
            .iter()
            .map(group_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        self.with_rules(groups).await
    }

    /// Make the project's `default` group if it has none; return it.
    pub async fn security_group_ensure_default(
        &self,
        project_id: &str,
        user_id: &str,
    ) -> Result<SecurityGroup, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_project(&mut tx, project_id).await?;
        let id = ensure_default(&mut tx, project_id, user_id).await?;
        tx.commit().await.map_err(db_err)?;
        self.security_group_get(id).await
    }

    /// Create a group if the project has fewer than `limit` (-1: unlimited).
    pub async fn security_group_create(
        &self,
        values: &SecurityGroup,
        limit: i64,
    ) -> Result<SecurityGroup, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        lock_project(&mut tx, &values.project_id).await?;
        ensure_default(&mut tx, &values.project_id, &values.user_id).await?;
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM security_groups WHERE project_id = $1 AND deleted = 0",
        )
        .bind(&values.project_id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if limit >= 0 && count >= limit {
            return Err(NovaError::SecurityGroupLimitExceeded {});
        }
        let res = sqlx::query_scalar::<_, i32>(
            "INSERT INTO security_groups (name, description, user_id, project_id)
             VALUES ($1, $2, $3, $4) RETURNING id",
        )
        .bind(&values.name)
        .bind(&values.description)
        .bind(&values.user_id)
        .bind(&values.project_id)
        .fetch_one(&mut *tx)
        .await;
        let id = match res {
            Ok(id) => id,
            Err(e) if is_unique_violation(&e) => {
                return Err(NovaError::SecurityGroupExists {
                    security_group_name: values.name.clone(),
                    project_id: values.project_id.clone(),
                })
            }
            Err(e) => return Err(db_err(e)),
        };
        tx.commit().await.map_err(db_err)?;
        self.security_group_get(id as i64).await
    }

    pub async fn security_group_get(&self, id: i64) -> Result<SecurityGroup, NovaError> {
        let row = sqlx::query("SELECT * FROM security_groups WHERE id = $1 AND deleted = 0")
            .bind(id as i32)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| not_found(id))?;
        let g = group_from_row(&row).map_err(db_err)?;
        Ok(self.with_rules(vec![g]).await?.remove(0))
    }

    pub async fn security_group_get_by_name(
        &self,
        project_id: &str,
        name: &str,
    ) -> Result<SecurityGroup, NovaError> {
        let row = sqlx::query(
            "SELECT * FROM security_groups WHERE project_id = $1 AND name = $2 AND deleted = 0",
        )
        .bind(project_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?
        .ok_or_else(|| NovaError::SecurityGroupNotFoundForProject {
            security_group_id: name.to_string(),
            project_id: project_id.to_string(),
        })?;
        let g = group_from_row(&row).map_err(db_err)?;
        Ok(self.with_rules(vec![g]).await?.remove(0))
    }

    pub async fn security_group_get_by_project(
        &self,
        project_id: &str,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        self.groups_where("AND project_id = $1", Some(project_id))
            .await
    }

    pub async fn security_group_get_all(&self) -> Result<Vec<SecurityGroup>, NovaError> {
        self.groups_where("", None).await
    }

    /// The live groups of a live instance.
    pub async fn security_group_get_by_instance(
        &self,
        instance_uuid: Uuid,
    ) -> Result<Vec<SecurityGroup>, NovaError> {
        self.groups_where(
            "AND id IN (SELECT security_group_id FROM security_group_instance_association
                        WHERE instance_uuid = $1 AND deleted = 0)",
            Some(&instance_uuid.to_string()),
        )
        .await
    }

    pub async fn security_group_update(
        &self,
        id: i64,
        name: &str,
        description: &str,
    ) -> Result<SecurityGroup, NovaError> {
        let res = sqlx::query(
            "UPDATE security_groups SET name = $2, description = $3, updated_at = now()
             WHERE id = $1 AND deleted = 0 RETURNING project_id",
        )
        .bind(id as i32)
        .bind(name)
        .bind(description)
        .fetch_optional(&self.pool)
        .await;
        match res {
            Ok(Some(_)) => self.security_group_get(id).await,
            Ok(None) => Err(not_found(id)),
            Err(e) if is_unique_violation(&e) => {
                let project = self
                    .security_group_get(id)
                    .await
                    .map(|g| g.project_id)
                    .unwrap_or_default();
                Err(NovaError::SecurityGroupExists {
                    security_group_name: name.to_string(),
                    project_id: project,
                })
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// Soft-delete a group unused by live instances, with its rules, the rules
    /// that grant from it and its instance associations.
    pub async fn security_group_destroy(&self, id: i64) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let locked =
            sqlx::query("SELECT id FROM security_groups WHERE id = $1 AND deleted = 0 FOR UPDATE")
                .bind(id as i32)
                .fetch_optional(&mut *tx)
                .await
                .map_err(db_err)?;
        if locked.is_none() {
            return Err(not_found(id));
        }
        let in_use: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM security_group_instance_association a
                 JOIN instances i ON i.uuid = a.instance_uuid AND i.deleted = 0
                 WHERE a.security_group_id = $1 AND a.deleted = 0)",
        )
        .bind(id as i32)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if in_use {
            return Err(NovaError::InvalidRequest {
                reason: "Security group is still in use".into(),
            });
        }
        for sql in [
            "UPDATE security_groups SET deleted = id, deleted_at = now() WHERE id = $1",
            "UPDATE security_group_instance_association SET deleted = id, deleted_at = now()
             WHERE security_group_id = $1 AND deleted = 0",
            "UPDATE security_group_rules SET deleted = id, deleted_at = now()
             WHERE (parent_group_id = $1 OR group_id = $1) AND deleted = 0",
        ] {
            sqlx::query(sql)
                .bind(id as i32)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)
    }

    pub async fn instance_add_security_group(
        &self,
        instance_uuid: Uuid,
        security_group_id: i64,
    ) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM security_group_instance_association
                 WHERE instance_uuid = $1 AND security_group_id = $2 AND deleted = 0)",
        )
        .bind(instance_uuid.to_string())
        .bind(security_group_id as i32)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if exists {
            return Err(NovaError::SecurityGroupExistsForInstance {
                security_group_id: security_group_id.to_string(),
                instance_id: instance_uuid.to_string(),
            });
        }
        sqlx::query(
            "INSERT INTO security_group_instance_association (security_group_id, instance_uuid) VALUES ($1, $2)",
        )
        .bind(security_group_id as i32)
        .bind(instance_uuid.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    pub async fn instance_remove_security_group(
        &self,
        instance_uuid: Uuid,
        security_group_id: i64,
    ) -> Result<(), NovaError> {
        let res = sqlx::query(
            "UPDATE security_group_instance_association SET deleted = id, deleted_at = now()
             WHERE instance_uuid = $1 AND security_group_id = $2 AND deleted = 0",
        )
        .bind(instance_uuid.to_string())
        .bind(security_group_id as i32)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::SecurityGroupNotExistsForInstance {
                security_group_id: security_group_id.to_string(),
                instance_id: instance_uuid.to_string(),
            });
        }
        Ok(())
    }

    /// Add a rule if its group has fewer than `limit` rules (-1: unlimited).
    pub async fn security_group_rule_create(
        &self,
        rule: &SecurityGroupRule,
        limit: i64,
    ) -> Result<SecurityGroupRule, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let parent = sqlx::query(
            "SELECT project_id FROM security_groups WHERE id = $1 AND deleted = 0 FOR UPDATE",
        )
        .bind(rule.parent_group_id as i32)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if parent.is_none() {
            return Err(not_found(rule.parent_group_id));
        }
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM security_group_rules WHERE parent_group_id = $1 AND deleted = 0",
        )
        .bind(rule.parent_group_id as i32)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if limit >= 0 && count >= limit {
            return Err(NovaError::SecurityGroupLimitExceeded {});
        }
        let id: i32 = sqlx::query_scalar(
            "INSERT INTO security_group_rules (parent_group_id, protocol, from_port, to_port, cidr, group_id)
             VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        )
        .bind(rule.parent_group_id as i32)
        .bind(&rule.protocol)
        .bind(rule.from_port.map(|p| p as i32))
        .bind(rule.to_port.map(|p| p as i32))
        .bind(&rule.cidr)
        .bind(rule.group_id.map(|g| g as i32))
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        self.security_group_rule_get(id as i64).await
    }

    pub async fn security_group_rule_get(&self, id: i64) -> Result<SecurityGroupRule, NovaError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!("{RULES} AND r.id = $1")))
            .bind(id as i32)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?
            .ok_or_else(|| NovaError::SecurityGroupNotFoundForRule {
                rule_id: id.to_string(),
            })?;
        rule_from_row(&row).map_err(db_err)
    }

    pub async fn security_group_rule_destroy(&self, id: i64) -> Result<(), NovaError> {
        let res = sqlx::query(
            "UPDATE security_group_rules SET deleted = id, deleted_at = now() WHERE id = $1 AND deleted = 0",
        )
        .bind(id as i32)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::SecurityGroupNotFoundForRule {
                rule_id: id.to_string(),
            });
        }
        Ok(())
    }

    /// The rules of every group of the instance; a rule from a source group
    /// carries the fixed IPs of that group's live members (what a compute
    /// host's firewall needs).
    pub async fn security_group_rule_get_by_instance(
        &self,
        instance_uuid: Uuid,
    ) -> Result<Vec<SecurityGroupRule>, NovaError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{RULES} AND r.parent_group_id IN (
                 SELECT a.security_group_id FROM security_group_instance_association a
                 JOIN security_groups s ON s.id = a.security_group_id AND s.deleted = 0
                 WHERE a.instance_uuid = $1 AND a.deleted = 0)
             ORDER BY r.parent_group_id, r.id"
        )))
        .bind(instance_uuid.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut rules = rows
            .iter()
            .map(rule_from_row)
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        let grantees: Vec<i32> = rules
            .iter()
            .filter_map(|r| r.group_id.map(|g| g as i32))
            .collect();
        if grantees.is_empty() {
            return Ok(rules);
        }
        let rows = sqlx::query(
            "SELECT a.security_group_id, f.address FROM security_group_instance_association a
             JOIN instances i ON i.uuid = a.instance_uuid AND i.deleted = 0
             JOIN fixed_ips f ON f.instance_uuid = a.instance_uuid AND f.deleted = 0 AND f.allocated
             WHERE a.security_group_id = ANY($1) AND a.deleted = 0
             ORDER BY f.id",
        )
        .bind(&grantees)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut ips: BTreeMap<i64, Vec<String>> = BTreeMap::new();
        for r in rows {
            let g = r.try_get::<i32, _>(0).map_err(db_err)? as i64;
            ips.entry(g)
                .or_default()
                .push(r.try_get(1).map_err(db_err)?);
        }
        for rule in &mut rules {
            if let Some(g) = rule.grantee_group.as_mut() {
                g.member_ips = ips.get(&g.id).cloned().unwrap_or_default();
            }
        }
        Ok(rules)
    }

    async fn instances_by_uuid_query(
        &self,
        sql: &str,
        bind: &[i32],
    ) -> Result<Vec<Instance>, NovaError> {
        let uuids: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
            .bind(bind)
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        let mut out = Vec::with_capacity(uuids.len());
        for u in uuids {
            match self.instance_get_by_uuid(parse_uuid(&u), false).await {
                Ok(i) => out.push(i),
                Err(NovaError::InstanceNotFound { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Live instances in the group (Nova's `InstanceList.get_by_security_group_id`).
    pub async fn instance_get_all_by_security_group_id(
        &self,
        security_group_id: i64,
    ) -> Result<Vec<Instance>, NovaError> {
        self.instances_by_uuid_query(
            "SELECT DISTINCT a.instance_uuid FROM security_group_instance_association a
             JOIN instances i ON i.uuid = a.instance_uuid AND i.deleted = 0
             WHERE a.security_group_id = ANY($1) AND a.deleted = 0",
            &[security_group_id as i32],
        )
        .await
    }

    /// Live instances in groups with a rule granting from one of `group_ids`
    /// (Nova's `InstanceList.get_by_grantee_security_group_ids`).
    pub async fn instance_get_all_by_grantee_security_group_ids(
        &self,
        group_ids: &[i64],
    ) -> Result<Vec<Instance>, NovaError> {
        let ids: Vec<i32> = group_ids.iter().map(|g| *g as i32).collect();
        self.instances_by_uuid_query(
            "SELECT DISTINCT a.instance_uuid FROM security_group_instance_association a
             JOIN instances i ON i.uuid = a.instance_uuid AND i.deleted = 0
             JOIN security_group_rules r ON r.parent_group_id = a.security_group_id AND r.deleted = 0
             WHERE r.group_id = ANY($1) AND a.deleted = 0",
            &ids,
        )
        .await
    }

    pub async fn security_group_default_rule_create(
        &self,
        rule: &SecurityGroupDefaultRule,
    ) -> Result<SecurityGroupDefaultRule, NovaError> {
        let row = sqlx::query(
            "INSERT INTO security_group_default_rules (protocol, from_port, to_port, cidr)
             VALUES ($1, $2, $3, $4) RETURNING *",
        )
        .bind(&rule.protocol)
        .bind(rule.from_port.map(|p| p as i32))
        .bind(rule.to_port.map(|p| p as i32))
        .bind(&rule.cidr)
        .fetch_one(&self.pool)
        .await
        .map_err(db_err)?;
        default_rule_from_row(&row).map_err(db_err)
    }

    pub async fn security_group_default_rule_list(
        &self,
    ) -> Result<Vec<SecurityGroupDefaultRule>, NovaError> {
        let rows =
            sqlx::query("SELECT * FROM security_group_default_rules WHERE deleted = 0 ORDER BY id")
                .fetch_all(&self.pool)
                .await
                .map_err(db_err)?;
        rows.iter()
            .map(|r| default_rule_from_row(r).map_err(db_err))
            .collect()
    }

    pub async fn security_group_default_rule_get(
        &self,
        id: i64,
    ) -> Result<SecurityGroupDefaultRule, NovaError> {
        let row =
            sqlx::query("SELECT * FROM security_group_default_rules WHERE id = $1 AND deleted = 0")
                .bind(id as i32)
                .fetch_optional(&self.pool)
                .await
                .map_err(db_err)?
                .ok_or_else(|| NovaError::SecurityGroupDefaultRuleNotFound {
                    rule_id: id.to_string(),
                })?;
        default_rule_from_row(&row).map_err(db_err)
    }

    pub async fn security_group_default_rule_destroy(&self, id: i64) -> Result<(), NovaError> {
        let res = sqlx::query(
            "UPDATE security_group_default_rules SET deleted = id, deleted_at = now()
             WHERE id = $1 AND deleted = 0",
        )
        .bind(id as i32)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::SecurityGroupDefaultRuleNotFound {
                rule_id: id.to_string(),
            });
        }
        Ok(())
    }
}
