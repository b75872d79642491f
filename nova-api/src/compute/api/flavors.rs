//! Flavors as a caller may see them, and their extra specs and access
//! lists (Nova's `nova/compute/flavors.py` and the Flavor object's
//! `add_access`/`remove_access`/`save_extra_specs`).
//!
//! A private flavor exists only for admins and the projects it is shared
//! with, as Nova's flavor queries filter it.

use super::API;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::Flavor;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Whether the caller may see the flavor.
fn visible(ctx: &RequestContext, f: &Flavor) -> bool {
    f.is_public
        || ctx.is_admin
        || ctx
            .project_id
            .as_ref()
            .is_some_and(|p| f.projects.contains(p))
}

impl API {
    /// Every flavor: from the [`FlavorCache`](super::flavor_cache), else
    /// from the conductor (and kept).
    async fn all_flavors(&self, ctx: &RequestContext) -> NovaResult<Arc<Vec<Flavor>>> {
        let epoch = self.conductor.transport().connection_epoch();
        match self.flavor_cache.get(epoch) {
            Ok(all) => Ok(all),
            Err(generation) => {
                let all = Arc::new(self.conductor.flavor_get_all(ctx, None).await?);
                self.flavor_cache.fill(generation, epoch, all.clone());
                Ok(all)
            }
        }
    }

    /// The flavor, or FlavorNotFound when the caller may not see it. One
    /// the cached flavors lack (made by another nova-api a moment ago) is
    /// asked for.
    pub async fn get_flavor(&self, ctx: &RequestContext, flavor_id: &str) -> NovaResult<Flavor> {
        let cached = self
            .all_flavors(ctx)
            .await?
            .iter()
            .find(|f| f.flavorid == flavor_id)
            .cloned();
        let f = match cached {
            Some(f) => f,
            None => {
                self.conductor
                    .flavor_get_by_flavor_id(ctx, flavor_id.to_string())
                    .await?
            }
        };
        if !visible(ctx, &f) {
            return Err(NovaError::FlavorNotFound {
                flavor_id: flavor_id.to_string(),
            });
        }
        Ok(f)
    }

    /// Flavors by `is_public`: `Some(true)` is the public ones and the
    /// private ones shared with the caller's project, `Some(false)` the
    /// private ones, `None` all (Nova's `_flavor_get_all_from_db`); always
    /// only those the caller may see.
    pub async fn get_all_flavors(
        &self,
        ctx: &RequestContext,
        is_public: Option<bool>,
    ) -> NovaResult<Vec<Flavor>> {
        let all = self.all_flavors(ctx).await?;
        let project = ctx.project_id.as_deref();
        Ok(all
            .iter()
            .filter(|f| match is_public {
                Some(true) => {
                    f.is_public || project.is_some_and(|p| f.projects.iter().any(|x| x == p))
                }
                Some(false) => !f.is_public,
                None => true,
            })
            .filter(|f| visible(ctx, f))
            .cloned()
            .collect())
    }

    /// Forget the cached flavors after a write, whatever its outcome.
    fn flavors_written<T>(&self, r: NovaResult<T>) -> NovaResult<T> {
        self.flavor_cache.drop_all();
        r
    }

    pub async fn create_flavor(&self, ctx: &RequestContext, flavor: Flavor) -> NovaResult<Flavor> {
        let r = self.conductor.flavor_create(ctx, flavor).await;
        self.flavors_written(r)
    }

    pub async fn destroy_flavor(&self, ctx: &RequestContext, flavor_id: &str) -> NovaResult<()> {
        let r = self
            .conductor
            .flavor_destroy(ctx, flavor_id.to_string())
            .await;
        self.flavors_written(r)
    }

    /// Add or change extra specs; all of the flavor's after. With
    /// `validate` (microversion 2.86 on), every spec must pass the known
    /// specs' table first (`extra_specs::validate`), or nothing is saved.
    pub async fn update_flavor_extra_specs(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        specs: BTreeMap<String, String>,
        validate: bool,
    ) -> NovaResult<BTreeMap<String, String>> {
        if validate {
            for (name, value) in &specs {
                super::extra_specs::validate(name, value)?;
            }
        }
        let r = self
            .conductor
            .flavor_extra_specs_update_or_create(ctx, flavor_id.to_string(), specs)
            .await;
        self.flavors_written(r)
    }

    pub async fn delete_flavor_extra_spec(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        key: &str,
    ) -> NovaResult<()> {
        let r = self
            .conductor
            .flavor_extra_specs_delete(ctx, flavor_id.to_string(), key.to_string())
            .await;
        self.flavors_written(r)
    }

    /// Share a private flavor with a project; the projects after.
    pub async fn add_flavor_access(
        &self,
        ctx: &RequestContext,
        flavor: &Flavor,
        project_id: &str,
    ) -> NovaResult<Vec<String>> {
        let r = self
            .conductor
            .flavor_access_add(ctx, flavor.flavorid.clone(), project_id.to_string())
            .await;
        self.flavors_written(r)
    }

    pub async fn remove_flavor_access(
        &self,
        ctx: &RequestContext,
        flavor: &Flavor,
        project_id: &str,
    ) -> NovaResult<Vec<String>> {
        let r = self
            .conductor
            .flavor_access_remove(ctx, flavor.flavorid.clone(), project_id.to_string())
            .await;
        self.flavors_written(r)
    }

    pub async fn update_flavor_description(
        &self,
        ctx: &RequestContext,
        flavor_id: &str,
        description: Option<String>,
    ) -> NovaResult<Flavor> {
        let r = self
            .conductor
            .flavor_update_description(ctx, flavor_id.to_string(), description)
            .await;
        self.flavors_written(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_flavors_are_seen_by_admins_and_their_projects() {
        let mut f = Flavor {
            is_public: false,
            projects: vec!["p1".into()],
            ..Default::default()
        };
        let member = RequestContext::new("u", "p1", vec![], false);
        let other = RequestContext::new("u", "p2", vec![], false);
        assert!(visible(&member, &f));
        assert!(!visible(&other, &f));
        assert!(visible(&RequestContext::admin(), &f));
        f.is_public = true;
        assert!(visible(&other, &f));
    }
}
