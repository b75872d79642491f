//! `/flavors` create and delete, for admins (Nova's `flavor_manage`).

use super::views::flavors::flavor_detail;
use crate::error::{ApiError, ApiResult};
use crate::openstack::common::{invalid, json_body, BaseUrl};
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

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
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
        Some(v) => {
            return Err(invalid(
                "id",
                v,
                "id must be 1-255 of letters, digits, '-', '_', '.', ' '",
            ))
        }
    };
    let rxtx = match f.get("rxtx_factor") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v
            .as_f64()
            .filter(|x| *x > 0.0)
            .ok_or_else(|| invalid("rxtx_factor", v, "must be a positive number"))?,
    };
    let is_public = match f.get("os-flavor-access:is_public") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => {
            return Err(invalid(
                "os-flavor-access:is_public",
                v,
                "is not of type 'boolean'",
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
        ..Default::default()
    };
    let created = state
        .conductor
        .flavor_create(&ctx, flavor)
        .await
        .map_err(|e| match e {
            NovaError::FlavorExists { .. } | NovaError::FlavorIdExists { .. } => {
                ApiError::conflict(e.to_string())
            }
            other => other.into(),
        })?;
    Ok(Json(json!({"flavor": flavor_detail(&base.0, &created)})))
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
    state.conductor.flavor_destroy(&ctx, id).await?;
    Ok(StatusCode::ACCEPTED)
}
