//! Shelve, shelve offload, unshelve and createBackup (Nova's `API.shelve`,
//! `shelve_offload`, `unshelve`, `backup`), over the transitions
//! [`SHELVE`](transitions::SHELVE), [`SHELVE_OFFLOAD`](transitions::SHELVE_OFFLOAD),
//! [`UNSHELVE`](transitions::UNSHELVE) and [`BACKUP`](transitions::BACKUP).
//!
//! Shelve and createBackup create their Glance image first (its id is what
//! the compute host uploads into, and what createBackup answers), and delete
//! it again if the action cannot start. Quotas: as Nova's classic quotas,
//! a shelved or offloaded instance keeps counting its instances, cores and
//! RAM (the conductor counts every live instance), so unshelve takes none.

use super::{check_instance_host, check_instance_lock, check_instance_state, API};
use crate::availability_zones;
use nova_common::states::VmState;
use nova_common::transitions;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{ImageMeta, Instance, InstanceUpdate, RequestSpec};
use std::collections::BTreeMap;

/// What an unshelve asks for beyond the instance (microversions 2.77, 2.91).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct UnshelveRequest {
    /// `availability_zone`: absent (None) keeps the instance's pinned zone;
    /// `Some(Some(z))` pins it to `z` (2.77); `Some(None)` unpins it (2.91).
    pub new_az: Option<Option<String>>,
    /// `host` (2.91, admin): unshelve onto this compute host.
    pub host: Option<String>,
}

impl API {
    /// createBackup: a snapshot with `image_type=backup` and `backup_type`,
    /// after which the compute host keeps only the newest `rotation` backups
    /// of this instance and type.
    pub async fn backup(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        name: &str,
        backup_type: &str,
        rotation: i64,
        extra_properties: &BTreeMap<String, String>,
    ) -> NovaResult<ImageMeta> {
        let t = &transitions::BACKUP;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        let mut props = extra_properties.clone();
        props.insert("backup_type".into(), backup_type.to_string());
        let image = self
            .create_snapshot_image(ctx, inst, name, "backup", &props)
            .await?;
        let i = match self.save_task_state(ctx, inst, t).await {
            Ok(i) => i,
            Err(e) => {
                self.delete_image(ctx, &image.id).await;
                return Err(e);
            }
        };
        self.record_action(ctx, inst.uuid, t.action).await;
        let compute = self.compute(inst);
        let cast =
            compute.backup_instance(ctx, i, image.id.clone(), backup_type.to_string(), rotation);
        if let Err(e) = self.cast_or_revert(ctx, inst.uuid, t, cast).await {
            self.delete_image(ctx, &image.id).await;
            return Err(e);
        }
        Ok(image)
    }

    /// shelve: snapshot into `<name>-shelved`, power off, SHELVED (the host
    /// offloads at once when `[DEFAULT] shelved_offload_time` is 0).
    pub async fn shelve(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::SHELVE;
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        check_instance_host(inst, t)?;
        let name = format!("{}-shelved", inst.display_name);
        let image = self
            .create_snapshot_image(ctx, inst, &name, "snapshot", &BTreeMap::new())
            .await?;
        // Nova keeps the image the server was booted from for the unshelve.
        let upd = InstanceUpdate {
            task_state: Some(Some(t.task_state)),
            expected_task_state: t.allowed_task_states.map(<[_]>::to_vec),
            expected_vm_state: t.allowed_vm_states.map(<[_]>::to_vec),
            system_metadata: Some(BTreeMap::from([(
                "image_base_image_ref".to_string(),
                Some(inst.image_ref.clone()),
            )])),
            ..Default::default()
        };
        let i = match self.conductor.instance_update(ctx, inst.uuid, upd).await {
            Ok(i) => i,
            Err(e) => {
                self.delete_image(ctx, &image.id).await;
                return Err(e);
            }
        };
        self.record_action(ctx, inst.uuid, t.action).await;
        let compute = self.compute(inst);
        let cast = compute.shelve_instance(ctx, i, image.id.clone(), true);
        if let Err(e) = self.cast_or_revert(ctx, inst.uuid, t, cast).await {
            self.delete_image(ctx, &image.id).await;
            return Err(e);
        }
        Ok(())
    }

    /// shelveOffload: destroy the shelved guest, free its host.
    pub async fn shelve_offload(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        let t = &transitions::SHELVE_OFFLOAD;
        let i = self.start_action(ctx, inst, t).await?;
        let compute = self.compute(inst);
        let cast = compute.shelve_offload_instance(ctx, i, true);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }

    /// unshelve: the conductor powers a SHELVED instance on where it is, or
    /// schedules a SHELVED_OFFLOADED one (in `new_az`, or the zone it is
    /// pinned to; on `host` when given) and has the host spawn it from the
    /// shelved image. A zone or host needs an offloaded instance; the zone
    /// must be available, the host must exist and be in the zone.
    /// The caller checks `os_compute_api:os-shelve:unshelve_to_host` for `host`.
    pub async fn unshelve(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        req: UnshelveRequest,
    ) -> NovaResult<()> {
        let t = &transitions::UNSHELVE;
        check_instance_lock(ctx, inst)?;
        check_instance_state(inst, t)?;
        let az_passed = req.new_az.is_some();
        if (az_passed || req.host.is_some()) && inst.vm_state != VmState::ShelvedOffloaded {
            return Err(NovaError::UnshelveInstanceInvalidState {
                instance_uuid: inst.uuid.to_string(),
                state: inst.vm_state.as_str().to_string(),
            });
        }
        let (services, aggregates) = if az_passed || req.host.is_some() {
            self.services_and_aggregates(ctx).await?
        } else {
            Default::default()
        };
        if let Some(Some(az)) = &req.new_az {
            if !availability_zones::is_available(&self.cfg, &services, &aggregates, az) {
                return Err(NovaError::InvalidRequest {
                    reason: "The requested availability zone is not available".into(),
                });
            }
        }
        let pinned = inst.pinned_availability_zone().map(str::to_string);
        let expected_az = match &req.new_az {
            Some(az) => az.clone(),
            None => pinned,
        };
        if let Some(host) = &req.host {
            let nodes = self.conductor.compute_node_get_all(ctx).await?;
            if !nodes.iter().any(|n| &n.host == host) {
                return Err(NovaError::ComputeHostNotFound { host: host.clone() });
            }
            if let Some(az) = &expected_az {
                let host_az = services
                    .iter()
                    .find(|s| &s.host == host && s.binary == "nova-compute")
                    .map(|s| availability_zones::service_zone(&self.cfg, &aggregates, s));
                if host_az.as_ref() != Some(az) {
                    return Err(NovaError::UnshelveHostNotInAZ {
                        host: host.clone(),
                        availability_zone: az.clone(),
                    });
                }
            }
        }
        let upd = InstanceUpdate {
            task_state: Some(Some(t.task_state)),
            expected_task_state: t.allowed_task_states.map(<[_]>::to_vec),
            expected_vm_state: t.allowed_vm_states.map(<[_]>::to_vec),
            // The zone the server is pinned to from now on (2.77 / 2.91).
            system_metadata: req
                .new_az
                .clone()
                .map(|az| BTreeMap::from([(nova_objects::PINNED_AZ_KEY.to_string(), az)])),
            ..Default::default()
        };
        let i = self.conductor.instance_update(ctx, inst.uuid, upd).await?;
        self.record_action(ctx, inst.uuid, t.action).await;
        let spec = RequestSpec {
            instance_uuid: inst.uuid,
            project_id: inst.project_id.clone(),
            user_id: inst.user_id.clone(),
            flavor: inst.flavor.clone(),
            image: ImageMeta::default(),
            num_instances: 1,
            availability_zone: expected_az,
            ignore_hosts: vec![],
            force_hosts: req.host.into_iter().collect(),
            num_attempts: 1,
            // The conductor loads the group as it is when it schedules, and
            // the creation's hints.
            ..Default::default()
        };
        let cast = self.compute_task_api.unshelve_instance(ctx, i, spec);
        self.cast_or_revert(ctx, inst.uuid, t, cast).await
    }
}
