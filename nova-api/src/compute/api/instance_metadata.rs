//! A server's user metadata (Nova's `update_instance_metadata` and
//! `delete_instance_metadata`), which the EC2 API shows as tags.

use super::{check_instance_lock, API};
use nova_common::states::VmState;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::Instance;
use std::collections::BTreeMap;

/// `@check_instance_state(vm_state=[ACTIVE, PAUSED, SUSPENDED, STOPPED], task_state=None)`.
const METADATA_VM_STATES: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
];

impl API {
    fn check_metadata_state(&self, inst: &Instance, method: &str) -> NovaResult<()> {
        let invalid = |attr: &str, state: &str| NovaError::InstanceInvalidState {
            attr: attr.into(),
            instance_uuid: inst.uuid.to_string(),
            state: state.into(),
            method: method.into(),
        };
        if !METADATA_VM_STATES.contains(&inst.vm_state) {
            return Err(invalid("vm_state", inst.vm_state.as_str()));
        }
        if let Some(t) = inst.task_state {
            return Err(invalid("task_state", t.as_str()));
        }
        Ok(())
    }

    /// Nova's `_check_metadata_properties_quota`: keys and values of 1..255
    /// and 0..255 characters, no more items than `[quota] metadata_items`.
    fn check_metadata_properties_quota(
        &self,
        metadata: &BTreeMap<String, String>,
    ) -> NovaResult<()> {
        let limit = self.cfg.quota.get("metadata_items").copied().unwrap_or(-1);
        if limit >= 0 && metadata.len() as i64 > limit {
            return Err(NovaError::QuotaExceeded {
                overs: "metadata_items".into(),
                req: metadata.len().to_string(),
                used: "0".into(),
                allowed: limit.to_string(),
            });
        }
        for (k, v) in metadata {
            if k.is_empty() {
                return Err(NovaError::InvalidRequest {
                    reason: "Metadata property key blank.".into(),
                });
            }
            if k.chars().count() > 255 {
                return Err(NovaError::InvalidRequest {
                    reason: "Metadata property key greater than 255 characters.".into(),
                });
            }
            if v.chars().count() > 255 {
                return Err(NovaError::InvalidRequest {
                    reason: "Metadata property value greater than 255 characters.".into(),
                });
            }
        }
        Ok(())
    }

    /// Set these metadata keys (with `delete`, they replace all others).
    /// The metadata afterwards.
    pub async fn update_instance_metadata(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        metadata: BTreeMap<String, String>,
        delete: bool,
    ) -> NovaResult<BTreeMap<String, String>> {
        check_instance_lock(ctx, inst)?;
        self.check_metadata_state(inst, "update_instance_metadata")?;
        let mut after = if delete {
            BTreeMap::new()
        } else {
            inst.metadata.clone()
        };
        after.extend(metadata.clone());
        self.check_metadata_properties_quota(&after)?;
        self.conductor
            .instance_metadata_update(ctx, inst.uuid, metadata, delete)
            .await
    }

    /// Remove one metadata key.
    pub async fn delete_instance_metadata(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        key: &str,
    ) -> NovaResult<()> {
        check_instance_lock(ctx, inst)?;
        self.check_metadata_state(inst, "delete_instance_metadata")?;
        self.conductor
            .instance_metadata_delete(ctx, inst.uuid, key.to_string())
            .await
    }
}
