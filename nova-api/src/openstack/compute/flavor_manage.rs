//! `/flavors` create and delete, for admins (Nova's `flavor_manage`).

use super::flavors::shows_extra_specs;
use super::views::flavors::flavor_detail;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, parse_boolean, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::Flavor;
use serde_json::{json, Value};

fn int_field(body: &Value, field: &str, min: i64, required: bool, default: i64) -> ApiResult<i64> {
    match body.get(field) {
        None | Some(Value::Null) if !required => Ok(default),
        None => Err(invalid(
            "flavor",
            body,
            &format!("'{field}' is a required property"),
        )),
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse::<i64>().ok(),
                _ => None,
            };
            match n {
                Some(n) if n >= min && n <= i32::MAX as i64 => Ok(n),
                Some(_) => Err(invalid(
                    field,
                    v,
                    &format!("{v} is less than the minimum of {min}"),
                )),
                None => Err(invalid(
                    field,
                    v,
                    &format!("{v} is not of type 'integer', 'string'"),
                )),
            }
        }
    }
}

/// A flavor `description` (2.55): null, or printable text of at most 65535 characters.
fn parse_description(v: &Value) -> ApiResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) if s.chars().count() <= 65535 && !s.chars().any(char::is_control) => {
            Ok(Some(s.clone()))
        }
        other => Err(invalid(
            "description",
            other,
            "must be null or printable text of at most 65535 characters",
        )),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    state.policy.authorize(
        "os_compute_api:os-flavor-manage:create",
        &ctx,
        &Target::own(&ctx),
    )?;
    let body = json_body(&body)?;
    let Some(f) = body.get("flavor").filter(|f| f.is_object()) else {
        return Err(invalid("body", &body, "'flavor' is a required property"));
    };
    let name = match f.get("name") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.len() <= 255 && s.trim() == s => {
            s.clone()
        }
        Some(v) => {
            return Err(invalid(
                "name",
                v,
                "name must be 1-255 characters without leading or trailing whitespace",
            ))
        }
        None => return Err(invalid("flavor", f, "'name' is a required property")),
    };
    let flavorid = match f.get("id") {
        None | Some(Value::Null) => uuid::Uuid::new_v4().to_string(),
        Some(Value::String(s))
            if !s.is_empty()
                && s.len() <= 255
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_. ".contains(c))
                && s.trim() == s =>
        {
            s.clone()
        }
        // Tempest (and the schema) allow an integer id; it is kept as text.
        Some(Value::Number(n)) if n.is_i64() || n.is_u64() => n.to_string(),
        Some(v) => {
            return Err(invalid(
                "id",
                v,
                "id must be 1-255 of letters, digits, '-', '_', '.', ' '",
            ))
        }
    };
    let rxtx = match f.get("rxtx_factor") {
        None => 1.0,
        // 2.102: gone from the create schema.
        Some(_) if v.at_least(102) => {
            return Err(invalid(
                "flavor",
                f,
                "Additional properties are not allowed ('rxtx_factor' was unexpected)",
            ))
        }
        Some(Value::Null) => 1.0,
        Some(v) => v
            .as_f64()
            .filter(|x| *x > 0.0)
            .ok_or_else(|| invalid("rxtx_factor", v, "must be a positive number"))?,
    };
    let is_public = match f.get("os-flavor-access:is_public") {
        None | Some(Value::Null) => true,
        Some(b) => parse_boolean("os-flavor-access:is_public", b)?,
    };
    let description = match f.get("description") {
        None => None,
        Some(d) if v.at_least(55) => parse_description(d)?,
        Some(_) => {
            return Err(invalid(
                "flavor",
                f,
                "Additional properties are not allowed ('description' was unexpected)",
            ))
        }
    };
    let flavor = Flavor {
        flavorid,
        name,
        memory_mb: int_field(f, "ram", 1, true, 0)?,
        vcpus: int_field(f, "vcpus", 1, true, 0)?,
        root_gb: int_field(f, "disk", 0, true, 0)?,
        ephemeral_gb: int_field(f, "OS-FLV-EXT-DATA:ephemeral", 0, false, 0)?,
        swap: int_field(f, "swap", 0, false, 0)?,
        rxtx_factor: rxtx,
        is_public,
        description,
        ..Default::default()
    };
    let created = state
        .compute_api
        .create_flavor(&ctx, flavor)
        .await
        .map_err(|e| match e {
            NovaError::FlavorExists { .. } | NovaError::FlavorIdExists { .. } => {
                ApiError::conflict(e.to_string())
            }
            other => other.into(),
        })?;
    let specs = shows_extra_specs(&state, &ctx, v);
    Ok(Json(
        json!({"flavor": flavor_detail(&base, &created, v, specs)}),
    ))
}

/// `PUT /flavors/{id}` (2.55): the description, the one thing that changes.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    if !v.at_least(55) {
        return Err(ApiError::new(
            405,
            "The method specified is not allowed for this resource.",
        ));
    }
    state.policy.authorize(
        "os_compute_api:os-flavor-manage:update",
        &ctx,
        &Target::own(&ctx),
    )?;
    let body = json_body(&body)?;
    let Some(f) = body.get("flavor").and_then(Value::as_object) else {
        return Err(invalid("body", &body, "'flavor' is a required property"));
    };
    if let Some(extra) = f.keys().find(|k| k.as_str() != "description") {
        return Err(invalid(
            "flavor",
            &body["flavor"],
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let Some(d) = f.get("description") else {
        return Err(invalid(
            "flavor",
            &body["flavor"],
            "'description' is a required property",
        ));
    };
    let description = parse_description(d)?;
    state.compute_api.get_flavor(&ctx, &id).await?;
    let updated = state
        .compute_api
        .update_flavor_description(&ctx, &id, description)
        .await?;
    let specs = shows_extra_specs(&state, &ctx, v);
    Ok(Json(
        json!({"flavor": flavor_detail(&base, &updated, v, specs)}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.policy.authorize(
        "os_compute_api:os-flavor-manage:delete",
        &ctx,
        &Target::own(&ctx),
    )?;
    state.compute_api.destroy_flavor(&ctx, &id).await?;
    Ok(StatusCode::ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_as_nova_spells_them() {
        assert_eq!(
            parse_boolean("b", &json!("True")).map_err(|e| e.code),
            Ok(true)
        );
        assert_eq!(
            parse_boolean("b", &json!("off")).map_err(|e| e.code),
            Ok(false)
        );
        assert_eq!(
            parse_boolean("b", &json!(false)).map_err(|e| e.code),
            Ok(false)
        );
        assert_eq!(
            parse_boolean("b", &json!("maybe")).map_err(|e| e.code),
            Err(400)
        );
        assert_eq!(parse_boolean("b", &json!(1)).map_err(|e| e.code), Err(400));
        assert!(parse_description(&json!("a\u{7}b")).is_err());
        assert_eq!(parse_description(&json!(null)).ok(), Some(None));
    }
}
