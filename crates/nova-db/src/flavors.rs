//! `instance_types` and `instance_type_extra_specs`.

use crate::{db_err, is_unique_violation, violated_constraint, Db};
use nova_common::NovaError;
use nova_objects::Flavor;
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::collections::BTreeMap;

pub(crate) fn flavor_from_row(r: &PgRow) -> Result<Flavor, sqlx::Error> {
    let i = |c: &str| r.try_get::<i32, _>(c).map(i64::from);
    Ok(Flavor {
        id: i("id")?,
        flavorid: r.try_get("flavorid")?,
        name: r.try_get("name")?,
        memory_mb: i("memory_mb")?,
        vcpus: i("vcpus")?,
        root_gb: i("root_gb")?,
        ephemeral_gb: i("ephemeral_gb")?,
        swap: i("swap")?,
        rxtx_factor: r.try_get("rxtx_factor")?,
        vcpu_weight: r.try_get::<Option<i32>, _>("vcpu_weight")?.map(i64::from),
        disabled: r.try_get("disabled")?,
        is_public: r.try_get("is_public")?,
        extra_specs: BTreeMap::new(),
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        description: r.try_get("description")?,
        projects: Vec::new(),
    })
}

impl Db {
    async fn load_extra_specs(&self, flavors: &mut [Flavor]) -> Result<(), NovaError> {
        let ids: Vec<i32> = flavors.iter().map(|f| f.id as i32).collect();
        let rows = sqlx::query(
            "SELECT instance_type_id, key, value FROM instance_type_extra_specs
             WHERE instance_type_id = ANY($1) AND deleted = 0",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let id: i32 = r.try_get(0).map_err(db_err)?;
            let k: String = r.try_get(1).map_err(db_err)?;
            let v: Option<String> = r.try_get(2).map_err(db_err)?;
            if let Some(f) = flavors.iter_mut().find(|f| f.id == id as i64) {
                f.extra_specs.insert(k, v.unwrap_or_default());
            }
        }
        let rows = sqlx::query(
            "SELECT instance_type_id, project_id FROM instance_type_projects
             WHERE instance_type_id = ANY($1) AND deleted = 0 ORDER BY id",
        )
        .bind(&ids)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        for r in rows {
            let id: i32 = r.try_get(0).map_err(db_err)?;
            let p: String = r.try_get(1).map_err(db_err)?;
            if let Some(f) = flavors.iter_mut().find(|f| f.id == id as i64) {
                f.projects.push(p);
            }
        }
        Ok(())
    }

    /// The internal id of a live flavor, locked for the rest of `tx`.
    async fn flavor_row_id(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        flavor_id: &str,
    ) -> Result<(i32, bool), NovaError> {
        let row: Option<(i32, bool)> = sqlx::query_as(
            "SELECT id, is_public FROM instance_types WHERE flavorid = $1 AND deleted = 0 FOR UPDATE",
        )
        .bind(flavor_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err)?;
        row.ok_or_else(|| NovaError::FlavorNotFound {
            flavor_id: flavor_id.to_string(),
        })
    }

    /// Add or change extra specs (`flavor_extra_specs_update_or_create`); all of them after.
    pub async fn flavor_extra_specs_update_or_create(
        &self,
        flavor_id: &str,
        specs: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let (id, _) = Self::flavor_row_id(&mut tx, flavor_id).await?;
        for (k, v) in specs {
            let updated = sqlx::query(
                "UPDATE instance_type_extra_specs SET value = $3, updated_at = now()
                 WHERE instance_type_id = $1 AND key = $2 AND deleted = 0",
            )
            .bind(id)
            .bind(k)
            .bind(v)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
            if updated.rows_affected() == 0 {
                sqlx::query(
                    "INSERT INTO instance_type_extra_specs (instance_type_id, key, value) VALUES ($1, $2, $3)",
                )
                .bind(id)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
            }
        }
        tx.commit().await.map_err(db_err)?;
        Ok(self.flavor_get_by_flavor_id(flavor_id).await?.extra_specs)
    }

    /// Remove one extra spec (`flavor_extra_specs_delete`).
    pub async fn flavor_extra_specs_delete(
        &self,
        flavor_id: &str,
        key: &str,
    ) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let (id, _) = Self::flavor_row_id(&mut tx, flavor_id).await?;
        let res = sqlx::query(
            "UPDATE instance_type_extra_specs SET deleted = id, deleted_at = now()
             WHERE instance_type_id = $1 AND key = $2 AND deleted = 0",
        )
        .bind(id)
        .bind(key)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::FlavorExtraSpecsNotFound {
                flavor_id: flavor_id.to_string(),
                extra_specs_key: key.to_string(),
            });
        }
        tx.commit().await.map_err(db_err)
    }

    /// The projects a flavor is shared with (`flavor_access_get_by_flavor_id`).
    pub async fn flavor_access_get_by_flavor_id(
        &self,
        flavor_id: &str,
    ) -> Result<Vec<String>, NovaError> {
        Ok(self.flavor_get_by_flavor_id(flavor_id).await?.projects)
    }

    /// Share a flavor with a project (`flavor_access_add`); the projects after.
    pub async fn flavor_access_add(
        &self,
        flavor_id: &str,
        project_id: &str,
    ) -> Result<Vec<String>, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let (id, _) = Self::flavor_row_id(&mut tx, flavor_id).await?;
        let res = sqlx::query(
            "INSERT INTO instance_type_projects (instance_type_id, project_id) VALUES ($1, $2)",
        )
        .bind(id)
        .bind(project_id)
        .execute(&mut *tx)
        .await;
        match res {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {
                return Err(NovaError::FlavorAccessExists {
                    flavor_id: flavor_id.to_string(),
                    project_id: project_id.to_string(),
                })
            }
            Err(e) => return Err(db_err(e)),
        }
        tx.commit().await.map_err(db_err)?;
        self.flavor_access_get_by_flavor_id(flavor_id).await
    }

    /// Stop sharing a flavor with a project (`flavor_access_remove`); the projects after.
    pub async fn flavor_access_remove(
        &self,
        flavor_id: &str,
        project_id: &str,
    ) -> Result<Vec<String>, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let (id, _) = Self::flavor_row_id(&mut tx, flavor_id).await?;
        let res = sqlx::query(
            "UPDATE instance_type_projects SET deleted = id, deleted_at = now()
             WHERE instance_type_id = $1 AND project_id = $2 AND deleted = 0",
        )
        .bind(id)
        .bind(project_id)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::FlavorAccessNotFound {
                flavor_id: flavor_id.to_string(),
                project_id: project_id.to_string(),
            });
        }
        tx.commit().await.map_err(db_err)?;
        self.flavor_access_get_by_flavor_id(flavor_id).await
    }

    /// Set or clear a flavor's description (microversion 2.55).
    pub async fn flavor_update_description(
        &self,
        flavor_id: &str,
        description: Option<&str>,
    ) -> Result<Flavor, NovaError> {
        let res = sqlx::query(
            "UPDATE instance_types SET description = $2, updated_at = now()
             WHERE flavorid = $1 AND deleted = 0",
        )
        .bind(flavor_id)
        .bind(description)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::FlavorNotFound {
                flavor_id: flavor_id.to_string(),
            });
        }
        self.flavor_get_by_flavor_id(flavor_id).await
    }

    pub async fn flavor_get_by_flavor_id(&self, flavor_id: &str) -> Result<Flavor, NovaError> {
        let row = sqlx::query("SELECT * FROM instance_types WHERE flavorid = $1 AND deleted = 0")
            .bind(flavor_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        let Some(row) = row else {
            return Err(NovaError::FlavorNotFound {
                flavor_id: flavor_id.to_string(),
            });
        };
        let mut f = vec![flavor_from_row(&row).map_err(db_err)?];
        self.load_extra_specs(&mut f).await?;
        Ok(f.remove(0))
    }

    /// Flavors sorted as Nova lists them (by flavorid).
    pub async fn flavor_get_all(&self, is_public: Option<bool>) -> Result<Vec<Flavor>, NovaError> {
        let rows = sqlx::query(
            "SELECT * FROM instance_types WHERE deleted = 0 AND ($1::boolean IS NULL OR is_public = $1)
             ORDER BY flavorid ASC, id ASC",
        )
        .bind(is_public)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        let mut flavors = rows
            .iter()
            .map(|r| flavor_from_row(r).map_err(db_err))
            .collect::<Result<Vec<_>, _>>()?;
        self.load_extra_specs(&mut flavors).await?;
        Ok(flavors)
    }

    pub async fn flavor_create(&self, f: &Flavor) -> Result<Flavor, NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let res = sqlx::query(
            "INSERT INTO instance_types (name, flavorid, memory_mb, vcpus, root_gb, ephemeral_gb,
                swap, rxtx_factor, vcpu_weight, disabled, is_public, description)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12) RETURNING *",
        )
        .bind(&f.name)
        .bind(&f.flavorid)
        .bind(f.memory_mb as i32)
        .bind(f.vcpus as i32)
        .bind(f.root_gb as i32)
        .bind(f.ephemeral_gb as i32)
        .bind(f.swap as i32)
        .bind(f.rxtx_factor)
        .bind(f.vcpu_weight.map(|v| v as i32))
        .bind(f.disabled)
        .bind(f.is_public)
        .bind(&f.description)
        .fetch_one(&mut *tx)
        .await;
        let row = match res {
            Ok(r) => r,
            Err(e) if is_unique_violation(&e) => {
                let by_name = violated_constraint(&e) == Some("uniq_instance_types0name0deleted");
                return Err(if by_name {
                    NovaError::FlavorExists {
                        name: f.name.clone(),
                    }
                } else {
                    NovaError::FlavorIdExists {
                        flavor_id: f.flavorid.clone(),
                    }
                });
            }
            Err(e) => return Err(db_err(e)),
        };
        let mut created = flavor_from_row(&row).map_err(db_err)?;
        for (k, v) in &f.extra_specs {
            sqlx::query("INSERT INTO instance_type_extra_specs (instance_type_id, key, value) VALUES ($1,$2,$3)")
                .bind(created.id as i32)
                .bind(k)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(db_err)?;
        }
        tx.commit().await.map_err(db_err)?;
        created.extra_specs = f.extra_specs.clone();
        Ok(created)
    }

    pub async fn flavor_destroy(&self, flavor_id: &str) -> Result<(), NovaError> {
        let res = sqlx::query(
            "UPDATE instance_types SET deleted = id, deleted_at = now() WHERE flavorid = $1 AND deleted = 0",
        )
        .bind(flavor_id)
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if res.rows_affected() == 0 {
            return Err(NovaError::FlavorNotFound {
                flavor_id: flavor_id.to_string(),
            });
        }
        Ok(())
    }
}
