//! The `rebuild` server action: Nova's rebuild schema per microversion
//! (`key_name` 2.54, `user_data` 2.57 which drops `personality`,
//! `trusted_image_certificates` 2.63, accepted and ignored, `hostname` 2.90),
//! then [`compute::api`](crate::compute::api) decides; 202 with the server
//! view (as `PUT /servers/{id}` renders it) and a Location header.

use super::servers::{
    access_ip, generate_password, parse_hostname, parse_personality, parse_trusted_certs,
    server_description, server_groups, server_name, shows_flavor_extra_specs,
};
use super::views::servers::server_update_view;
use crate::compute::api::RebuildRequest;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{
    disk_config, instance_invalid_state, invalid, object_of, parse_boolean, BaseUrl,
};
use crate::policy::Target;
use crate::AppState;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use serde_json::{json, Value};

/// The properties a rebuild body may have at this microversion.
fn allowed(v: ApiVersion) -> Vec<&'static str> {
    let mut a = vec![
        "imageRef",
        "name",
        "adminPass",
        "metadata",
        "preserve_ephemeral",
        "OS-DCF:diskConfig",
        "accessIPv4",
        "accessIPv6",
    ];
    if !v.at_least(57) {
        a.push("personality");
    }
    for (mv, key) in [
        (19, "description"),
        (54, "key_name"),
        (57, "user_data"),
        (63, "trusted_image_certificates"),
        (90, "hostname"),
    ] {
        if v.at_least(mv) {
            a.push(key);
        }
    }
    a
}

fn parse(args: &Value, v: ApiVersion) -> ApiResult<RebuildRequest> {
    let allowed = allowed(v);
    let obj = object_of("rebuild", args, |k| allowed.contains(&k))?;
    let image_href = match obj.get("imageRef") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(invalid("imageRef", other, "is not of type 'string'")),
        None => {
            return Err(invalid(
                "rebuild",
                args,
                "'imageRef' is a required property",
            ))
        }
    };
    let admin_pass = match obj.get("adminPass") {
        None => generate_password(),
        Some(Value::String(p)) => p.clone(),
        Some(other) => return Err(invalid("adminPass", other, "is not of type 'string'")),
    };
    let metadata = obj
        .get("metadata")
        .map(|m| super::server_metadata::parse_metadata("metadata", m, false, 0, None))
        .transpose()?;
    let preserve_ephemeral = obj
        .get("preserve_ephemeral")
        .map(|b| parse_boolean("preserve_ephemeral", b))
        .transpose()?
        .unwrap_or(false);
    let auto_disk_config = disk_config(obj.get("OS-DCF:diskConfig"))?;
    let key_name = match obj.get("key_name") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(k)) if !k.is_empty() && k.chars().count() <= 255 => {
            Some(Some(k.clone()))
        }
        Some(other) => {
            return Err(invalid(
                "key_name",
                other,
                "must be null or a string of 1 to 255 characters",
            ))
        }
    };
    let user_data = match obj.get("user_data") {
        None => None,
        Some(Value::Null) => Some(None),
        Some(Value::String(u)) => {
            let ok = u.len() <= 65535
                && base64::engine::general_purpose::STANDARD
                    .decode(u.trim())
                    .is_ok();
            if !ok {
                return Err(invalid(
                    "user_data",
                    &json!(u),
                    "is not a base64 string of at most 65535 bytes",
                ));
            }
            Some(Some(u.clone()))
        }
        Some(other) => {
            return Err(invalid(
                "user_data",
                other,
                "is not of type 'string', 'null'",
            ))
        }
    };
    // 2.63: given (null included) replaces the ids, as Nova's rebuild.
    let trusted_certs = obj
        .get("trusted_image_certificates")
        .map(parse_trusted_certs)
        .transpose()?;
    Ok(RebuildRequest {
        image_href,
        admin_pass,
        name: obj.get("name").map(server_name).transpose()?,
        description: obj.get("description").map(server_description).transpose()?,
        metadata,
        access_ip_v4: access_ip("accessIPv4", obj.get("accessIPv4"))?,
        access_ip_v6: access_ip("accessIPv6", obj.get("accessIPv6"))?,
        preserve_ephemeral,
        key_name,
        user_data,
        hostname: obj
            .get("hostname")
            .map(|h| parse_hostname(h, v))
            .transpose()?,
        trusted_certs,
        injected_files: obj
            .get("personality")
            .map(parse_personality)
            .transpose()?
            .unwrap_or_default(),
        auto_disk_config,
    })
}

pub async fn rebuild(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    v: ApiVersion,
    base: &BaseUrl,
    args: &Value,
) -> ApiResult<Response> {
    let req = parse(args, v)?;
    let target = Target::project(&inst.project_id);
    state
        .policy
        .authorize("os_compute_api:servers:rebuild", ctx, &target)?;
    let password = req.admin_pass.clone();
    let rebuilt = state
        .compute_api
        .rebuild(ctx, inst, req)
        .await
        .map_err(|e| match e {
            NovaError::ImageNotFound { .. } => {
                ApiError::bad_request("Cannot find image for rebuild")
            }
            NovaError::KeypairNotFound { .. } => {
                ApiError::bad_request("Invalid key_name provided.")
            }
            e @ (NovaError::ImageNotActive { .. }
            | NovaError::FlavorDiskTooSmall { .. }
            | NovaError::FlavorMemoryTooSmall { .. }) => ApiError::bad_request(e.to_string()),
            e @ (NovaError::MetadataLimitExceeded { .. }
            | NovaError::OnsetFileLimitExceeded {}
            | NovaError::OnsetFilePathLimitExceeded { .. }
            | NovaError::OnsetFileContentLimitExceeded { .. }) => ApiError::new(403, e.to_string()),
            other => instance_invalid_state(other, "rebuild"),
        })?;
    let tmpl = &state.cfg.default.instance_name_template;
    let specs = shows_flavor_extra_specs(state, ctx, v, &target);
    let groups = server_groups(state, ctx, v, &rebuilt).await?;
    let mut view = server_update_view(base, &rebuilt, ctx, v, tmpl, specs, &groups);
    // Nova's rebuild body: the key pair from 2.54, the user data from 2.57
    // (below 2.75 the update view shows neither).
    if v.at_least(54) {
        view["key_name"] = json!(rebuilt.key_name);
    }
    if v.at_least(57) {
        view["user_data"] = json!(rebuilt.user_data);
    }
    // The extended attributes (2.75) leave the user data out: it is
    // `user_data` above (Nova's `show_user_data=False`).
    if let Some(obj) = view.as_object_mut() {
        obj.remove("OS-EXT-SRV-ATTR:user_data");
    }
    if state.cfg.api.enable_instance_password {
        view["adminPass"] = json!(password);
    }
    let location = format!("{}/servers/{}", base.versioned, rebuilt.uuid);
    let mut resp = (StatusCode::ACCEPTED, Json(json!({ "server": view }))).into_response();
    if let Ok(loc) = HeaderValue::from_str(&location) {
        resp.headers_mut().insert("location", loc);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openstack::api_version_request::MIN_VERSION;
    use serde_json::json;

    #[test]
    fn metadata_keys_and_booleans_as_nova_schemas() {
        let image = "70a599e0-31e7-49b7-b260-868f441e862b";
        let ok = parse(
            &json!({"imageRef": image, "metadata": {"a b:c": "d"}, "preserve_ephemeral": "yes"}),
            MIN_VERSION,
        )
        .ok();
        assert_eq!(ok.as_ref().map(|r| r.preserve_ephemeral), Some(true));
        for bad in [
            json!({"imageRef": image, "metadata": {"a/b": "c"}}),
            json!({"imageRef": image, "metadata": {"": "c"}}),
            json!({"imageRef": image, "preserve_ephemeral": "maybe"}),
        ] {
            assert_eq!(
                parse(&bad, MIN_VERSION).err().map(|e| e.code),
                Some(400),
                "{bad}"
            );
        }
    }
}
