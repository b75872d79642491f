//! The `createBackup` server action (Nova's `CreateBackupController`):
//! `name`, `backup_type` and `rotation` (a non-negative integer) are
//! required, `metadata` optional, nothing else allowed; 2.45 answers the
//! image id in the body, earlier versions a `Location` header (only when
//! `rotation` is above 0, as Nova).

use super::server_metadata::parse_metadata;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{instance_invalid_state, invalid, object_of, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// A parsed createBackup body.
#[derive(Debug, PartialEq)]
pub struct BackupRequest {
    pub name: String,
    pub backup_type: String,
    pub rotation: i64,
    pub metadata: BTreeMap<String, String>,
}

/// Nova's `create_backup` schema (2.1+).
pub fn parse_create_backup(args: &Value) -> ApiResult<BackupRequest> {
    let obj = object_of("createBackup", args, |k| {
        matches!(k, "name" | "backup_type" | "rotation" | "metadata")
    })?;
    let required = |k: &str| {
        obj.get(k).ok_or_else(|| {
            invalid(
                "createBackup",
                args,
                &format!("'{k}' is a required property"),
            )
        })
    };
    let name = image_name(required("name")?)?;
    let backup_type = match required("backup_type")? {
        Value::String(t) => t.clone(),
        other => {
            return Err(invalid(
                "backup_type",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
    // `parameter_types.non_negative_integer`: an integer, or a string of one.
    let rotation_value = required("rotation")?;
    let rotation = match rotation_value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let rotation = match rotation {
        Some(r) if r >= 0 => r,
        _ => {
            return Err(invalid(
                "rotation",
                rotation_value,
                "must be a non-negative integer",
            ))
        }
    };
    let metadata = match obj.get("metadata") {
        None => BTreeMap::new(),
        Some(m) => parse_metadata("metadata", m, false, 0, None)?,
    };
    Ok(BackupRequest {
        name,
        backup_type,
        rotation,
        metadata,
    })
}

/// Nova's `parameter_types.name` for an image: 1 to 255 characters, no
/// leading or trailing whitespace.
pub fn image_name(v: &Value) -> ApiResult<String> {
    match v {
        Value::String(n) if n.is_empty() || n.chars().count() > 255 => {
            Err(invalid("name", v, "must be 1 to 255 characters long"))
        }
        Value::String(n) if n.trim() != n => {
            Err(invalid("name", v, "has leading or trailing whitespace"))
        }
        Value::String(n) => Ok(n.clone()),
        other => Err(invalid(
            "name",
            other,
            &format!("{other} is not of type 'string'"),
        )),
    }
}

/// Before 2.39 an image's new properties count against the caller's
/// `metadata_items` quota (Nova's `check_img_metadata_properties_quota`).
pub async fn check_image_metadata_quota(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    metadata: &BTreeMap<String, String>,
) -> ApiResult<()> {
    if v.at_least(39) {
        return Ok(());
    }
    let project = ctx.project_id.clone().unwrap_or_default();
    state
        .compute_api
        .check_metadata_quota(ctx, &project, metadata.len())
        .await
        .map_err(|e| match e {
            NovaError::MetadataLimitExceeded { .. } => {
                ApiError::new(403, "Image metadata limit exceeded")
            }
            other => other.into(),
        })
}

pub async fn create_backup(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    base: &BaseUrl,
    args: &Value,
) -> ApiResult<Response> {
    state.policy.authorize(
        "os_compute_api:os-create-backup",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    let req = parse_create_backup(args)?;
    check_image_metadata_quota(state, ctx, v, &req.metadata).await?;
    let image = state
        .compute_api
        .backup(
            ctx,
            inst,
            &req.name,
            &req.backup_type,
            req.rotation,
            &req.metadata,
        )
        .await
        .map_err(|e| match e {
            NovaError::InvalidRequest { .. } => ApiError::bad_request(e.to_string()),
            other => instance_invalid_state(other, "createBackup"),
        })?;
    if v.at_least(45) {
        return Ok((StatusCode::ACCEPTED, Json(json!({"image_id": image.id}))).into_response());
    }
    let mut resp = StatusCode::ACCEPTED.into_response();
    if req.rotation > 0 {
        let url = format!("{}/images/{}", base.versioned, image.id);
        if let Ok(loc) = HeaderValue::from_str(&url) {
            resp.headers_mut().insert("location", loc);
        }
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_backup_bodies() {
        let ok = parse_create_backup(
            &json!({"name": "b", "backup_type": "daily", "rotation": "2", "metadata": {"k": "v"}}),
        )
        .ok();
        assert_eq!(
            ok,
            Some(BackupRequest {
                name: "b".into(),
                backup_type: "daily".into(),
                rotation: 2,
                metadata: BTreeMap::from([("k".into(), "v".into())]),
            })
        );
        for bad in [
            json!({"backup_type": "daily", "rotation": 1}),
            json!({"name": "b", "rotation": 1}),
            json!({"name": "b", "backup_type": "daily"}),
            json!({"name": "b", "backup_type": "daily", "rotation": -1}),
            json!({"name": "b", "backup_type": "daily", "rotation": "x"}),
            json!({"name": "b", "backup_type": "daily", "rotation": 1.5}),
            json!({"name": "", "backup_type": "daily", "rotation": 1}),
            json!({"name": "b", "backup_type": 1, "rotation": 1}),
            json!({"name": "b", "backup_type": "daily", "rotation": 1, "extra": 1}),
            json!({"name": "b", "backup_type": "daily", "rotation": 1, "metadata": {"k": 1}}),
            json!({"name": "b", "backup_type": "daily", "rotation": 1, "metadata": {"a/b": "c"}}),
            json!({"name": "b", "backup_type": "daily", "rotation": 1, "metadata": null}),
            json!({"name": " b", "backup_type": "daily", "rotation": 1}),
            json!(null),
        ] {
            assert_eq!(
                parse_create_backup(&bad).map_err(|e| e.code).err(),
                Some(400),
                "{bad}"
            );
        }
    }
}
