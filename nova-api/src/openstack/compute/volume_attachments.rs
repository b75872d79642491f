//! `/servers/{id}/os-volume_attachments` (Nova's `VolumeAttachmentController`):
//! a server's volumes. Volumes are Cinder's, which this cloud does not have,
//! so a server lists none (`openstack server volume list` shows an empty
//! table), a given one is not attached (404), and attaching, swapping or
//! detaching one finds no volume (404 "Volume ... could not be found.",
//! what Nova answers for a volume Cinder does not know). Each request is
//! checked as Nova checks it first: the body's schema (400), the server
//! (404) and the policy (403).

use super::server_tags::tag_error;
use super::servers::authorized_instance as authorized;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::RequestContext;
use serde_json::{json, Map, Value};

/// `GET /servers/{id}/os-volume_attachments`.
pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let inst = authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-volumes-attachments:index",
    )
    .await?;
    let attachments: Vec<Value> = state
        .compute_api
        .volume_attachments(&inst)
        .into_iter()
        .map(|volume| json!({"id": volume, "volumeId": volume, "serverId": inst.uuid}))
        .collect();
    Ok(Json(json!({ "volumeAttachments": attachments })).into_response())
}

/// `GET /servers/{id}/os-volume_attachments/{volume_id}`.
pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, volume)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-volumes-attachments:show",
    )
    .await?;
    Err(not_attached(&id, &volume))
}

fn not_attached(server: &str, volume: &str) -> ApiError {
    ApiError::not_found(format!(
        "Instance {server} is not attached to volume {volume}"
    ))
}

/// `POST /servers/{id}/os-volume_attachments`: `{"volumeAttachment":
/// {"volumeId", "device", "tag" (2.49), "delete_on_termination" (2.79)}}`.
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut allowed = vec!["volumeId", "device"];
    if v.at_least(49) {
        allowed.push("tag");
    }
    if v.at_least(79) {
        allowed.push("delete_on_termination");
    }
    let att = check_body(&json_body(&body)?, &allowed)?;
    if let Some(device) = att.get("device").filter(|d| !d.is_null()) {
        if !device.as_str().is_some_and(device_path_ok) {
            return Err(invalid(
                "device",
                device,
                &format!(
                    "{device} does not match '(^/dev/x{{0,1}}[a-z]{{0,1}}d{{0,1}})([a-z]+)[0-9]*$'"
                ),
            ));
        }
    }
    if let Some(tag) = att.get("tag") {
        let why = match tag.as_str() {
            Some(t) => tag_error(t).map(|w| format!("{tag} {w}")),
            None => Some(format!("{tag} is not of type 'string'")),
        };
        if let Some(why) = why {
            return Err(invalid("tag", tag, &why));
        }
    }
    if let Some(d) = att.get("delete_on_termination") {
        if !d.is_boolean() {
            return Err(invalid(
                "delete_on_termination",
                d,
                &format!("{d} is not of type 'boolean'"),
            ));
        }
    }
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-volumes-attachments:create",
    )
    .await?;
    match state.compute_api.volume_get(volume_id(&att))? {}
}

/// `PUT /servers/{id}/os-volume_attachments/{volume_id}` (swap volume):
/// `{"volumeAttachment": {"volumeId"}}`.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, old)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Response> {
    let mut allowed = vec!["volumeId"];
    if v.at_least(85) {
        allowed.extend(["device", "tag", "delete_on_termination", "id", "serverId"]);
    }
    check_body(&json_body(&body)?, &allowed)?;
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-volumes-attachments:update",
    )
    .await?;
    match state.compute_api.volume_get(&old)? {}
}

/// `DELETE /servers/{id}/os-volume_attachments/{volume_id}`.
pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path((id, volume)): Path<(String, String)>,
) -> ApiResult<Response> {
    authorized(
        &state,
        &ctx,
        &id,
        "os_compute_api:os-volumes-attachments:delete",
    )
    .await?;
    match state.compute_api.volume_get(&volume)? {}
}

/// The `volumeAttachment` of a body, with a `volumeId` that is a UUID and
/// nothing but `allowed` keys.
fn check_body(body: &Value, allowed: &[&str]) -> ApiResult<Map<String, Value>> {
    let Some(top) = body.as_object() else {
        return Err(invalid(
            "body",
            body,
            &format!("{body} is not of type 'object'"),
        ));
    };
    if let Some(k) = top.keys().find(|k| *k != "volumeAttachment") {
        return Err(invalid(
            "body",
            body,
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    let Some(att) = top.get("volumeAttachment") else {
        return Err(invalid(
            "body",
            body,
            "'volumeAttachment' is a required property",
        ));
    };
    let Some(att) = att.as_object() else {
        return Err(invalid(
            "volumeAttachment",
            att,
            &format!("{att} is not of type 'object'"),
        ));
    };
    if let Some(k) = att.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(invalid(
            "volumeAttachment",
            &Value::Object(att.clone()),
            &format!("Additional properties are not allowed ('{k}' was unexpected)"),
        ));
    }
    match att.get("volumeId") {
        None => Err(invalid(
            "volumeAttachment",
            &Value::Object(att.clone()),
            "'volumeId' is a required property",
        )),
        Some(id)
            if id
                .as_str()
                .and_then(|s| uuid::Uuid::parse_str(s).ok())
                .is_none() =>
        {
            Err(invalid("volumeId", id, &format!("{id} is not a 'uuid'")))
        }
        Some(_) => Ok(att.clone()),
    }
}

fn volume_id(att: &Map<String, Value>) -> &str {
    att.get("volumeId")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Nova's device path pattern: `/dev/` then an optional `x`, `[a-z]` and
/// `d`, a letter run, digits (`/dev/vdb`, `/dev/xvdc`, `/dev/sda1`).
fn device_path_ok(d: &str) -> bool {
    let Some(rest) = d.strip_prefix("/dev/") else {
        return false;
    };
    let letters = rest.trim_end_matches(|c: char| c.is_ascii_digit());
    !letters.is_empty() && letters.chars().all(|c| c.is_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_paths_as_novas_pattern() {
        for ok in ["/dev/vdb", "/dev/xvdc", "/dev/sda1", "/dev/hdb"] {
            assert!(device_path_ok(ok), "{ok}");
        }
        for bad in ["vdb", "/dev/", "/dev/VDB", "/dev/vd-b", "/dev/1"] {
            assert!(!device_path_ok(bad), "{bad}");
        }
    }

    #[test]
    fn bodies_are_checked_as_novas_schema() {
        let id = "0f8d2bd2-0000-4000-8000-000000000001";
        assert!(check_body(
            &json!({"volumeAttachment": {"volumeId": id}}),
            &["volumeId"]
        )
        .is_ok());
        for bad in [
            json!({}),
            json!({"volumeAttachment": {}}),
            json!({"volumeAttachment": {"volumeId": "nope"}}),
            json!({"volumeAttachment": {"volumeId": id, "tag": "t"}}),
            json!({"volumeAttachment": {"volumeId": id}, "other": 1}),
            json!({"volumeAttachment": []}),
        ] {
            let e = check_body(&bad, &["volumeId"]).expect_err("refused");
            assert_eq!(e.code, 400, "{bad}");
        }
    }
}
