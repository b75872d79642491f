//! The `createBackup` server action (Nova's `CreateBackupController`):
//! `name`, `backup_type` and `rotation` (a non-negative integer) are
//! required, `metadata` optional, nothing else allowed; 2.45 answers the
//! image id in the body, earlier versions a `Location` header (only when
//! `rotation` is above 0, as Nova).

use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{instance_invalid_state, invalid, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Map, Value};
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
    let Some(obj) = args.as_object() else {
        return Err(invalid(
            "createBackup",
            args,
            &format!("{args} is not of type 'object'"),
        ));
    };
    const KNOWN: &[&str] = &["name", "backup_type", "rotation", "metadata"];
    if let Some(k) = obj.keys().find(|k| !KNOWN.contains(&k.as_str())) {
        return Err(invalid(
            "createBackup",
            args,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    let required = |k: &str| {
        obj.get(k).ok_or_else(|| {
            invalid(
                "createBackup",
                args,
                &format!("'{k}' is a required property"),
            )
        })
    };
    let name = match required("name")? {
        Value::String(n) if n.is_empty() || n.chars().count() > 255 => {
            return Err(invalid(
                "name",
                &json!(n),
                "must be 1 to 255 characters long",
            ))
        }
        Value::String(n) if n.trim() != n => {
            return Err(invalid(
                "name",
                &json!(n),
                "has leading or trailing whitespace",
            ))
        }
        Value::String(n) => n.clone(),
        other => {
            return Err(invalid(
                "name",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
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
        Some(Value::Object(m)) => metadata(m)?,
        Some(other) => {
            return Err(invalid(
                "metadata",
                other,
                &format!("{other} is not of type 'object'"),
            ))
        }
    };
    Ok(BackupRequest {
        name,
        backup_type,
        rotation,
        metadata,
    })
}

/// `parameter_types.metadata`: keys of 1 to 255 characters, string values
/// of at most 255.
fn metadata(m: &Map<String, Value>) -> ApiResult<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        if k.is_empty() || k.chars().count() > 255 {
            return Err(invalid(
                "metadata",
                &Value::Object(m.clone()),
                &format!("'{k}' does not match any of the regexes: '^[a-zA-Z0-9-_:. ]{{1,255}}$'"),
            ));
        }
        match v {
            Value::String(s) if s.chars().count() <= 255 => {
                out.insert(k.clone(), s.clone());
            }
            other => {
                return Err(invalid(
                    &format!("metadata.{k}"),
                    other,
                    "must be a string of at most 255 characters",
                ))
            }
        }
    }
    Ok(out)
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
