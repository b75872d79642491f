//! What hangs off a server and is changed through the API alone: its name,
//! description and access addresses (`update_instance`), its metadata (with
//! the `metadata_items` quota), its tags, and the record of its actions.

use super::{check_instance_lock, API};
use nova_common::states::VmState;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::{Instance, InstanceAction, InstanceUpdate};
use std::collections::BTreeMap;

/// The most tags a server may have (Nova's `MAX_TAG_COUNT`).
pub const MAX_TAG_COUNT: usize = 50;

/// The states in which metadata may change (`@check_instance_state` of
/// Nova's `update_instance_metadata`/`delete_instance_metadata`).
const METADATA_VM_STATES: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
];

/// The states in which tags may change (Nova's `_check_instance_in_valid_state`).
const TAG_VM_STATES: &[VmState] = &[
    VmState::Active,
    VmState::Paused,
    VmState::Suspended,
    VmState::Stopped,
    VmState::Shelved,
    VmState::ShelvedOffloaded,
];

fn check_state(inst: &Instance, vm_states: &[VmState], method: &str) -> NovaResult<()> {
    let invalid = |attr: &str, state: &str| NovaError::InstanceInvalidState {
        attr: attr.into(),
        instance_uuid: inst.uuid.to_string(),
        state: state.into(),
        method: method.into(),
    };
    if !vm_states.contains(&inst.vm_state) {
        return Err(invalid("vm_state", inst.vm_state.as_str()));
    }
    Ok(())
}

/// Nova's `_check_metadata_properties_quota`: no more than `limit` items
/// (-1: unlimited).
pub fn check_metadata_count(count: usize, limit: i64) -> NovaResult<()> {
    if limit >= 0 && count as i64 > limit {
        return Err(NovaError::MetadataLimitExceeded {
            allowed: limit.to_string(),
        });
    }
    Ok(())
}

/// Nova's `_check_injected_file_quota`: at most `injected_files` files,
/// each path at most `injected_file_path_length` characters and each
/// file's decoded contents at most `injected_file_content_bytes` (-1:
/// unlimited). `files` are `(path, base64 contents)`, validated base64.
pub fn check_injected_files(
    files: &[(String, String)],
    quotas: &BTreeMap<String, i64>,
) -> NovaResult<()> {
    let limit = |name: &str| quotas.get(name).copied().unwrap_or(-1);
    let over = |n: usize, limit: i64| limit >= 0 && n as i64 > limit;
    if over(files.len(), limit("injected_files")) {
        return Err(NovaError::OnsetFileLimitExceeded {});
    }
    let (path_limit, content_limit) = (
        limit("injected_file_path_length"),
        limit("injected_file_content_bytes"),
    );
    for (path, contents) in files {
        if over(path.chars().count(), path_limit) {
            return Err(NovaError::OnsetFilePathLimitExceeded {
                allowed: path_limit.to_string(),
            });
        }
        let decoded = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, contents)
            .map(|b| b.len())
            .map_err(|_| {
                NovaError::invalid_input(format!("the contents of {path} are not base64"))
            })?;
        if over(decoded, content_limit) {
            return Err(NovaError::OnsetFileContentLimitExceeded {
                allowed: content_limit.to_string(),
            });
        }
    }
    Ok(())
}

impl API {
    /// The personality files' quota check ([`check_injected_files`]).
    pub async fn check_injected_file_quota(
        &self,
        ctx: &RequestContext,
        project: &str,
        files: &[(String, String)],
    ) -> NovaResult<()> {
        if files.is_empty() {
            return Ok(());
        }
        check_injected_files(files, &self.get_project_quotas(ctx, project).await?)
    }

    /// `PUT /servers/{id}`: name, description, access addresses.
    pub async fn update_instance(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        updates: InstanceUpdate,
    ) -> NovaResult<Instance> {
        self.conductor
            .instance_update(ctx, inst.uuid, updates)
            .await
    }

    /// The project's `metadata_items` limit.
    async fn metadata_items_limit(&self, ctx: &RequestContext, project: &str) -> NovaResult<i64> {
        Ok(self
            .get_project_quotas(ctx, project)
            .await?
            .get("metadata_items")
            .copied()
            .unwrap_or(-1))
    }

    /// The quota check of a new server's metadata.
    pub async fn check_metadata_quota(
        &self,
        ctx: &RequestContext,
        project: &str,
        count: usize,
    ) -> NovaResult<()> {
        if count == 0 {
            return Ok(());
        }
        check_metadata_count(count, self.metadata_items_limit(ctx, project).await?)
    }

    /// Nova's `update_instance_metadata`: merge `metadata` into the
    /// server's, or with `delete` replace it; within the quota. The
    /// metadata after.
    pub async fn update_instance_metadata(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        metadata: BTreeMap<String, String>,
        delete: bool,
    ) -> NovaResult<BTreeMap<String, String>> {
        check_instance_lock(ctx, inst)?;
        check_state(inst, METADATA_VM_STATES, "update_instance_metadata")?;
        let count = if delete {
            metadata.len()
        } else {
            let mut merged = inst.metadata.clone();
            merged.extend(metadata.clone());
            merged.len()
        };
        check_metadata_count(
            count,
            self.metadata_items_limit(ctx, &inst.project_id).await?,
        )?;
        self.conductor
            .instance_metadata_update(ctx, inst.uuid, metadata, delete)
            .await
    }

    /// Nova's `delete_instance_metadata`: whether there was such an item.
    pub async fn delete_instance_metadata(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        key: &str,
    ) -> NovaResult<bool> {
        check_instance_lock(ctx, inst)?;
        check_state(inst, METADATA_VM_STATES, "delete_instance_metadata")?;
        self.conductor
            .instance_metadata_delete(ctx, inst.uuid, key.to_string())
            .await
    }

    pub async fn get_tags(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<Vec<String>> {
        self.conductor
            .instance_tag_get_by_instance_uuid(ctx, inst.uuid)
            .await
    }

    /// Replace the server's tags (at most [`MAX_TAG_COUNT`], the caller validated each).
    pub async fn set_tags(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        tags: Vec<String>,
    ) -> NovaResult<Vec<String>> {
        check_state(inst, TAG_VM_STATES, "update tags")?;
        if tags.len() > MAX_TAG_COUNT {
            return Err(too_many_tags());
        }
        self.conductor.instance_tag_set(ctx, inst.uuid, tags).await
    }

    /// Add a tag: false when the server had it already.
    pub async fn add_tag(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        tag: &str,
    ) -> NovaResult<bool> {
        check_state(inst, TAG_VM_STATES, "update tag")?;
        let tags = self.get_tags(ctx, inst).await?;
        if tags.iter().any(|t| t == tag) {
            return Ok(false);
        }
        if tags.len() >= MAX_TAG_COUNT {
            return Err(too_many_tags());
        }
        self.conductor
            .instance_tag_add(ctx, inst.uuid, tag.to_string())
            .await?;
        Ok(true)
    }

    pub async fn delete_tag(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        tag: &str,
    ) -> NovaResult<()> {
        check_state(inst, TAG_VM_STATES, "delete tag")?;
        self.conductor
            .instance_tag_delete(ctx, inst.uuid, tag.to_string())
            .await
    }

    pub async fn delete_all_tags(&self, ctx: &RequestContext, inst: &Instance) -> NovaResult<()> {
        check_state(inst, TAG_VM_STATES, "delete tags")?;
        self.conductor
            .instance_tag_set(ctx, inst.uuid, vec![])
            .await
            .map(|_| ())
    }

    /// The server's actions, newest first, with their events.
    pub async fn get_actions(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<Vec<InstanceAction>> {
        self.conductor.actions_get(ctx, inst.uuid).await
    }
}

pub(crate) fn too_many_tags() -> NovaError {
    NovaError::InvalidRequest {
        reason: format!("The number of tags exceeded the per-server limit {MAX_TAG_COUNT}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_quota() {
        assert!(check_metadata_count(128, 128).is_ok());
        let e = check_metadata_count(129, 128).expect_err("over");
        assert_eq!(
            e.to_string(),
            "Maximum number of metadata items exceeds 128"
        );
        assert!(check_metadata_count(10_000, -1).is_ok());
    }

    #[test]
    fn injected_file_quota() {
        let quotas: BTreeMap<String, i64> = [
            ("injected_files".to_string(), 2),
            ("injected_file_path_length".to_string(), 8),
            ("injected_file_content_bytes".to_string(), 5),
        ]
        .into();
        let f = |p: &str, c: &str| (p.to_string(), c.to_string());
        // "aGVsbG8=" is 5 bytes, "aGVsbG8h" 6.
        assert!(check_injected_files(&[f("/a", "aGVsbG8="), f("/1234567", "")], &quotas).is_ok());
        let e = |files: &[(String, String)]| {
            check_injected_files(files, &quotas).map_err(|e| e.to_string())
        };
        assert_eq!(
            e(&[f("/a", ""), f("/b", ""), f("/c", "")]),
            Err("Personality file limit exceeded".into())
        );
        assert_eq!(
            e(&[f("/123456789", "")]),
            Err("Personality file path exceeds maximum 8".into())
        );
        assert_eq!(
            e(&[f("/a", "aGVsbG8h")]),
            Err("Personality file content exceeds maximum 5".into())
        );
        let unlimited: BTreeMap<String, i64> = [("injected_files".to_string(), -1)].into();
        assert!(check_injected_files(&vec![f("/a", ""); 50], &unlimited).is_ok());
    }

    #[test]
    fn tags_change_only_in_settled_states() {
        let mut inst = Instance {
            vm_state: VmState::Building,
            ..Default::default()
        };
        assert!(check_state(&inst, TAG_VM_STATES, "update tag").is_err());
        inst.vm_state = VmState::ShelvedOffloaded;
        assert!(check_state(&inst, TAG_VM_STATES, "update tag").is_ok());
        assert!(check_state(&inst, METADATA_VM_STATES, "m").is_err());
    }
}
