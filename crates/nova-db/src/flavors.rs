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
        Ok(())
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
                swap, rxtx_factor, vcpu_weight, disabled, is_public)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11) RETURNING *",
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
