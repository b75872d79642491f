//! `/servers`: create, list, detail, show, delete.

use crate::error::{ApiError, ApiResult};
use crate::microversion::ApiVersion;
use crate::middleware::BaseUrl;
use crate::policy::Target;
use crate::services::state_of;
use crate::views::{links, server_detail, server_summary};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use chrono::{DateTime, Utc};
use nova_common::states::{TaskState, VmState};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceCreate, InstanceFilters, InstanceUpdate, RequestSpec};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

type Params = Query<Vec<(String, String)>>;

const CREATE_KEYS: &[&str] = &[
    "name",
    "imageRef",
    "flavorRef",
    "adminPass",
    "metadata",
    "networks",
    "min_count",
    "max_count",
    "return_reservation_id",
    "key_name",
    "user_data",
    "availability_zone",
    "security_groups",
    "block_device_mapping",
    "block_device_mapping_v2",
    "config_drive",
    "accessIPv4",
    "accessIPv6",
    "OS-DCF:diskConfig",
    "personality",
    "description",
    "tags",
];

fn invalid(field: &str, value: &Value, why: &str) -> ApiError {
    ApiError::bad_request(format!(
        "Invalid input for field/attribute {field}. Value: {value}. {why}"
    ))
}

fn not_found(id: &str) -> ApiError {
    ApiError::not_found(format!("Instance {id} could not be found."))
}

/// Look an instance up as the caller may see it: other projects' instances do not exist for non-admins.
pub async fn get_instance(state: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Instance> {
    let uuid = Uuid::parse_str(id).map_err(|_| not_found(id))?;
    let inst = state
        .conductor
        .instance_get_by_uuid(ctx, uuid)
        .await
        .map_err(|e| match e {
            NovaError::InstanceNotFound { .. } => not_found(id),
            other => other.into(),
        })?;
    if !ctx.is_admin && ctx.project_id.as_deref() != Some(inst.project_id.as_str()) {
        return Err(not_found(id));
    }
    Ok(inst)
}

/// Nova's `sanitize_hostname`.
pub fn sanitize_hostname(name: &str) -> String {
    let mut h: String = name
        .to_lowercase()
        .chars()
        .map(|c| if c == ' ' || c == '_' { '-' } else { c })
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '.')
        .collect();
    h = h.trim_matches(|c| c == '-' || c == '.').to_string();
    h.truncate(63);
    h = h.trim_end_matches(['-', '.']).to_string();
    if h.is_empty() {
        "server".into()
    } else {
        h
    }
}

fn uuid_from_ref(r: &str) -> Option<Uuid> {
    // imageRef may be a UUID or a URL ending with one.
    let tail = r.rsplit('/').next().unwrap_or(r);
    Uuid::parse_str(tail).ok().filter(|_| tail.len() == 36)
}

fn generate_password() -> String {
    const CHARS: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The validated `server` body of a create request.
struct CreateRequest {
    name: String,
    image: Option<String>,
    flavor_ref: String,
    metadata: BTreeMap<String, String>,
    networks: Value,
    max_count: i64,
    return_reservation_id: bool,
    user_data: Option<String>,
    availability_zone: Option<String>,
    access_ip_v4: Option<String>,
    access_ip_v6: Option<String>,
    description: Option<String>,
    admin_pass: Option<String>,
    config_drive: bool,
}

fn count(s: &Value, k: &str) -> ApiResult<i64> {
    match s.get(k) {
        None => Ok(1),
        Some(v) => {
            let n = match v {
                Value::Number(n) => n.as_i64(),
                Value::String(t) => t.parse().ok(),
                _ => None,
            };
            match n {
                Some(n) if n >= 1 => Ok(n),
                _ => Err(invalid(k, v, &format!("{v} is not a positive integer"))),
            }
        }
    }
}

fn parse_create(body: &Value, v: ApiVersion) -> ApiResult<CreateRequest> {
    let Some(s) = body.get("server") else {
        return Err(invalid("body", body, "'server' is a required property"));
    };
    let Some(obj) = s.as_object() else {
        return Err(invalid(
            "server",
            s,
            &format!("{s} is not of type 'object'"),
        ));
    };
    if let Some(extra) = obj.keys().find(|k| !CREATE_KEYS.contains(&k.as_str())) {
        return Err(invalid(
            "server",
            s,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let name = match obj.get("name") {
        None => return Err(invalid("server", s, "'name' is a required property")),
        Some(Value::String(n)) if n.is_empty() || n.len() > 255 => {
            return Err(invalid(
                "name",
                &json!(n),
                "name must be 1 to 255 characters long",
            ))
        }
        Some(Value::String(n)) if n.trim() != n => {
            return Err(invalid(
                "name",
                &json!(n),
                "name has leading or trailing whitespace",
            ))
        }
        Some(Value::String(n)) => n.clone(),
        Some(other) => {
            return Err(invalid(
                "name",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
    let flavor_ref = match obj.get("flavorRef") {
        None => return Err(invalid("server", s, "'flavorRef' is a required property")),
        Some(Value::String(f)) if !f.is_empty() => f.rsplit('/').next().unwrap_or(f).to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(other) => {
            return Err(invalid(
                "flavorRef",
                other,
                &format!("{other} is not a valid flavorRef"),
            ))
        }
    };
    // imageRef, or the boot-index-0 image of block_device_mapping_v2 (what OSC sends too).
    let image = match obj.get("imageRef") {
        Some(Value::String(r)) if r.is_empty() => None,
        Some(Value::String(r)) => Some(
            uuid_from_ref(r)
                .ok_or_else(|| {
                    invalid("imageRef", &json!(r), &format!("'{r}' is not a valid UUID"))
                })?
                .to_string(),
        ),
        Some(other) => {
            return Err(invalid(
                "imageRef",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
        None => None,
    };
    let image = match image {
        Some(i) => Some(i),
        None => obj
            .get("block_device_mapping_v2")
            .and_then(Value::as_array)
            .and_then(|bdms| {
                bdms.iter().find(|b| {
                    b.get("source_type").and_then(Value::as_str) == Some("image")
                        && b.get("boot_index")
                            .map(|x| x == &json!(0) || x == &json!("0"))
                            .unwrap_or(false)
                })
            })
            .and_then(|b| b.get("uuid").and_then(Value::as_str))
            .map(str::to_string),
    };
    if image.is_none() {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute imageRef: an image is required (booting from volume needs Cinder, which this cloud does not have).",
        ));
    }
    let mut metadata = BTreeMap::new();
    if let Some(m) = obj.get("metadata") {
        let Some(m) = m.as_object() else {
            return Err(invalid(
                "metadata",
                m,
                &format!("{m} is not of type 'object'"),
            ));
        };
        for (k, val) in m {
            let Some(vs) = val.as_str() else {
                return Err(invalid(
                    &format!("metadata.{k}"),
                    val,
                    "is not of type 'string'",
                ));
            };
            if k.is_empty() || k.len() > 255 || vs.len() > 255 {
                return Err(invalid(
                    "metadata",
                    val,
                    "keys and values must be 1-255 characters",
                ));
            }
            metadata.insert(k.clone(), vs.to_string());
        }
    }
    let networks = match obj.get("networks") {
        None if v.at_least(37) => {
            return Err(invalid("server", s, "'networks' is a required property"))
        }
        None => json!("auto"),
        Some(Value::String(x)) if v.at_least(37) && (x == "auto" || x == "none") => json!(x),
        Some(Value::Array(list)) => {
            let mut ids = Vec::new();
            for n in list {
                if n.get("port").is_some_and(|p| !p.is_null()) {
                    return Err(ApiError::bad_request(
                        "Unknown argument: port (ports need Neutron; this cloud runs nova-network)",
                    ));
                }
                let Some(id) = n.get("uuid").and_then(Value::as_str) else {
                    return Err(ApiError::bad_request(
                        "Bad networks format: network uuid is not in proper format",
                    ));
                };
                let u = Uuid::parse_str(id).map_err(|_| {
                    ApiError::bad_request(format!(
                        "Bad networks format: network uuid is not in proper format ({id})"
                    ))
                })?;
                ids.push(json!(u.to_string()));
            }
            Value::Array(ids)
        }
        Some(other) => {
            return Err(invalid(
                "networks",
                other,
                "is not valid under any of the given schemas",
            ))
        }
    };
    let min_count = count(s, "min_count")?;
    let max_count = count(s, "max_count")?.max(min_count);
    if obj.contains_key("max_count") && count(s, "max_count")? < min_count {
        return Err(ApiError::bad_request("min_count must be <= max_count"));
    }
    let user_data = match obj.get("user_data") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => {
            if u.len() > 65535
                || base64::engine::general_purpose::STANDARD
                    .decode(u.trim())
                    .is_err()
            {
                return Err(ApiError::bad_request(
                    "User data needs to be valid base 64.",
                ));
            }
            Some(u.clone())
        }
        Some(other) => return Err(invalid("user_data", other, "is not of type 'string'")),
    };
    let opt_str = |k: &str| -> ApiResult<Option<String>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(x)) => Ok(Some(x.clone())),
            Some(other) => Err(invalid(k, other, "is not of type 'string'")),
        }
    };
    let access_ip_v4 = opt_str("accessIPv4")?.filter(|x| !x.is_empty());
    if let Some(ip) = &access_ip_v4 {
        if ip.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(invalid("accessIPv4", &json!(ip), "is not a 'ipv4'"));
        }
    }
    let access_ip_v6 = opt_str("accessIPv6")?.filter(|x| !x.is_empty());
    if let Some(ip) = &access_ip_v6 {
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(invalid("accessIPv6", &json!(ip), "is not a 'ipv6'"));
        }
    }
    let description = if obj.contains_key("description") {
        if !v.at_least(19) {
            return Err(invalid(
                "server",
                s,
                "Additional properties are not allowed ('description' was unexpected)",
            ));
        }
        opt_str("description")?
    } else {
        None
    };
    if let Some(d) = obj.get("OS-DCF:diskConfig") {
        if d != "AUTO" && d != "MANUAL" {
            return Err(invalid(
                "OS-DCF:diskConfig",
                d,
                "is not one of ['AUTO', 'MANUAL']",
            ));
        }
    }
    let config_drive = match obj.get("config_drive") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(x)) => matches!(x.to_lowercase().as_str(), "true" | "1" | "yes" | "t"),
        Some(other) => return Err(invalid("config_drive", other, "is not a boolean")),
    };
    Ok(CreateRequest {
        name,
        image,
        flavor_ref,
        metadata,
        networks,
        max_count,
        return_reservation_id: obj
            .get("return_reservation_id")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        user_data,
        availability_zone: opt_str("availability_zone")?.filter(|x| !x.is_empty()),
        access_ip_v4,
        access_ip_v6,
        description,
        admin_pass: opt_str("adminPass")?,
        config_drive,
    })
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Extension(base): Extension<BaseUrl>,
    body: Bytes,
) -> ApiResult<Response> {
    let body: Value = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed request body"))?;
    let req = parse_create(&body, v)?;
    state
        .policy
        .authorize("os_compute_api:servers:create", &ctx, &Target::own(&ctx))?;
    let keypair = match body["server"].get("key_name") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => {
            let user = ctx.user_id.clone().unwrap_or_default();
            match state.conductor.keypair_get(&ctx, user, name.clone()).await {
                Ok(k) => Some(k),
                Err(NovaError::KeypairNotFound { .. }) => {
                    return Err(ApiError::bad_request("Invalid key_name provided."))
                }
                Err(e) => return Err(e.into()),
            }
        }
        Some(other) => return Err(invalid("key_name", other, "is not of type 'string'")),
    };
    if let Some(az) = &req.availability_zone {
        // host:node forcing is an admin feature; plain zone names must exist.
        if az.contains(':') {
            state.policy.authorize(
                "os_compute_api:servers:create:forced_host",
                &ctx,
                &Target::own(&ctx),
            )?;
        }
        let zone = az.split(':').next().unwrap_or(az);
        if zone != state.cfg.default.default_availability_zone {
            return Err(ApiError::bad_request(format!(
                "The requested availability zone is not available: {az}"
            )));
        }
    }
    let flavor = state
        .conductor
        .flavor_get_by_flavor_id(&ctx, req.flavor_ref.clone())
        .await
        .map_err(|e| match e {
            NovaError::FlavorNotFound { .. } => ApiError::bad_request(format!(
                "Invalid flavorRef provided. Flavor {} could not be found.",
                req.flavor_ref
            )),
            other => other.into(),
        })?;
    if flavor.disabled {
        return Err(ApiError::bad_request("Flavor is disabled."));
    }
    let image_id = req.image.clone().unwrap_or_default();
    let image = state
        .glance
        .show(&ctx, &image_id)
        .await
        .map_err(|e| match e {
            NovaError::ImageNotFound { .. } => ApiError::bad_request(format!(
                "Invalid imageRef provided. Image {image_id} could not be found."
            )),
            NovaError::GlanceConnectionFailed { .. } => {
                ApiError::new(503, format!("Image service unavailable: {e}"))
            }
            other => other.into(),
        })?;
    if image.status != "active" {
        return Err(ApiError::bad_request(format!(
            "Invalid imageRef provided. Image {image_id} is not active (status: {}).",
            image.status
        )));
    }
    if image.min_ram > flavor.memory_mb {
        return Err(ApiError::bad_request(
            "Flavor's memory is too small for requested image.",
        ));
    }
    if flavor.root_gb > 0 && image.min_disk > flavor.root_gb {
        return Err(ApiError::bad_request(
            "Flavor's disk is too small for requested image.",
        ));
    }
    if flavor.root_gb > 0 {
        if let Some(size) = image.size {
            if size > flavor.root_gb * 1024 * 1024 * 1024 {
                return Err(ApiError::bad_request(
                    "Flavor's disk is too small for requested image.",
                ));
            }
        }
    }
    let (Some(user), Some(project)) = (ctx.user_id.clone(), ctx.project_id.clone()) else {
        return Err(ApiError::new(403, "The request has no user or project."));
    };
    crate::limits::check_instance_quota(
        &state,
        &ctx,
        &project,
        req.max_count,
        flavor.vcpus,
        flavor.memory_mb,
    )
    .await?;
    let reservation_id = format!("r-{}", &Uuid::new_v4().simple().to_string()[..8]);
    let mut system_metadata = BTreeMap::new();
    system_metadata.insert("requested_networks".to_string(), req.networks.to_string());
    system_metadata.insert(
        "image_disk_format".into(),
        image.disk_format.clone().unwrap_or_default(),
    );
    if let Some(n) = &image.name {
        system_metadata.insert("image_base_image_ref".into(), image.id.clone());
        system_metadata.insert("image_name".into(), n.chars().take(255).collect());
    }
    let admin_pass = req.admin_pass.clone().unwrap_or_else(generate_password);
    let mut created = Vec::new();
    for index in 0..req.max_count {
        let display_name = if req.max_count > 1 {
            format!("{}-{}", req.name, index + 1)
        } else {
            req.name.clone()
        };
        let values = InstanceCreate {
            uuid: Uuid::new_v4(),
            user_id: user.clone(),
            project_id: project.clone(),
            hostname: sanitize_hostname(&display_name),
            display_name,
            display_description: req.description.clone(),
            image_ref: image.id.clone(),
            flavor: flavor.clone(),
            availability_zone: Some(
                req.availability_zone
                    .as_deref()
                    .and_then(|az| az.split(':').next())
                    .filter(|z| !z.is_empty())
                    .unwrap_or(&state.cfg.default.default_availability_zone)
                    .to_string(),
            ),
            key_name: keypair.as_ref().map(|k| k.name.clone()),
            key_data: keypair.as_ref().map(|k| k.public_key.clone()),
            user_data: req.user_data.clone(),
            reservation_id: reservation_id.clone(),
            launch_index: index as i32,
            access_ip_v4: req.access_ip_v4.clone(),
            access_ip_v6: req.access_ip_v6.clone(),
            config_drive: if req.config_drive {
                "True".into()
            } else {
                String::new()
            },
            kernel_id: image
                .properties
                .get("kernel_id")
                .cloned()
                .unwrap_or_default(),
            ramdisk_id: image
                .properties
                .get("ramdisk_id")
                .cloned()
                .unwrap_or_default(),
            metadata: req.metadata.clone(),
            system_metadata: system_metadata.clone(),
            request_id: ctx.request_id.clone(),
        };
        created.push(state.conductor.instance_create(&ctx, values).await?);
    }
    let spec = RequestSpec {
        instance_uuid: created[0].uuid,
        project_id: project,
        user_id: user,
        flavor,
        image,
        num_instances: created.len() as i32,
        availability_zone: req
            .availability_zone
            .clone()
            .map(|az| az.split(':').next().unwrap_or(&az).to_string()),
        ignore_hosts: vec![],
        force_hosts: req
            .availability_zone
            .as_deref()
            .and_then(|az| az.split(':').nth(1))
            .filter(|h| !h.is_empty())
            .map(|h| vec![h.to_string()])
            .unwrap_or_default(),
        num_attempts: 1,
    };
    let uuids: Vec<Uuid> = created.iter().map(|i| i.uuid).collect();
    if let Err(e) = nova_rpc::compute_task::Client::new(state.conductor.transport().clone())
        .schedule_and_build_instances(&ctx, spec, uuids.clone())
        .await
    {
        // Nothing will build them: do not leave them in BUILD.
        for u in &uuids {
            let _ = state
                .conductor
                .instance_update(
                    &ctx,
                    *u,
                    InstanceUpdate {
                        vm_state: Some(VmState::Error),
                        task_state: Some(None),
                        ..Default::default()
                    },
                )
                .await;
        }
        return Err(e.into());
    }
    if req.return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": reservation_id})),
        )
            .into_response());
    }
    let first = &created[0];
    let id = first.uuid.to_string();
    let body = json!({"server": {
        "id": id,
        "links": links(&base.0, "servers", &id),
        "OS-DCF:diskConfig": "MANUAL",
        "security_groups": [{"name": "default"}],
        "adminPass": admin_pass,
    }});
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("{}/v2.1/servers/{id}", base.0)) {
        resp.headers_mut().insert("location", loc);
    }
    Ok(resp)
}

fn status_to_vm_states(status: &str) -> Option<Vec<VmState>> {
    Some(match status.to_uppercase().as_str() {
        "ACTIVE" | "REBOOT" | "HARD_REBOOT" | "PASSWORD" | "REBUILD" | "MIGRATING" | "RESIZE" => {
            vec![VmState::Active]
        }
        "BUILD" => vec![VmState::Building],
        "SHUTOFF" => vec![VmState::Stopped],
        "ERROR" => vec![VmState::Error],
        "PAUSED" => vec![VmState::Paused],
        "SUSPENDED" => vec![VmState::Suspended],
        "RESCUE" => vec![VmState::Rescued],
        "VERIFY_RESIZE" => vec![VmState::Resized],
        "DELETED" => vec![VmState::Deleted],
        "SOFT_DELETED" => vec![VmState::SoftDeleted],
        "SHELVED" => vec![VmState::Shelved],
        "SHELVED_OFFLOADED" => vec![VmState::ShelvedOffloaded],
        _ => return None,
    })
}

fn is_true(v: &str) -> bool {
    matches!(
        v.to_lowercase().as_str(),
        "1" | "true" | "t" | "yes" | "y" | "on"
    )
}

async fn list(
    state: &AppState,
    ctx: &RequestContext,
    p: &[(String, String)],
    action: &str,
) -> ApiResult<(Vec<Instance>, Option<usize>)> {
    let q: HashMap<&str, &str> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut f = InstanceFilters::default();
    state.policy.authorize(
        &format!("os_compute_api:servers:{action}"),
        ctx,
        &Target::own(ctx),
    )?;
    let all_tenants = q
        .get("all_tenants")
        .is_some_and(|v| v.is_empty() || is_true(v));
    if all_tenants {
        state.policy.authorize(
            &format!("os_compute_api:servers:{action}:get_all_tenants"),
            ctx,
            &Target::own(ctx),
        )?;
    }
    if !(ctx.is_admin && all_tenants) {
        f.project_id = ctx.project_id.clone();
    }
    if ctx.is_admin {
        if let Some(pid) = q.get("project_id").or(q.get("tenant_id")) {
            f.project_id = Some(pid.to_string());
        }
        if let Some(h) = q.get("host") {
            f.host = Some(h.to_string());
        }
        if let Some(d) = q.get("deleted") {
            f.deleted = Some(is_true(d));
        }
    }
    if let Some(n) = q.get("name") {
        if regex_is_valid(n) {
            f.name = Some(n.to_string());
        } else {
            return Err(ApiError::bad_request(format!(
                "Invalid regular expression in name filter: {n}"
            )));
        }
    }
    if let Some(s) = q.get("status") {
        match status_to_vm_states(s) {
            Some(states) => f.status_vm_states = Some(states),
            // An unknown status matches nothing, as in Nova.
            None => return Ok((vec![], None)),
        }
    }
    if let Some(i) = q.get("image") {
        f.image_ref = Some(i.rsplit('/').next().unwrap_or(i).to_string());
    }
    if let Some(fl) = q.get("flavor") {
        let id = fl.rsplit('/').next().unwrap_or(fl).to_string();
        match state.conductor.flavor_get_by_flavor_id(ctx, id).await {
            Ok(flavor) => f.flavor_id = Some(flavor.id),
            Err(NovaError::FlavorNotFound { .. }) => return Ok((vec![], None)),
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(cs) = q.get("changes-since") {
        let t: DateTime<Utc> = DateTime::parse_from_rfc3339(cs)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(cs, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc())
            })
            .map_err(|_| invalid("changes-since", &json!(cs), "is not a 'date-time'"))?;
        f.changes_since = Some(t);
        // changes-since also returns deleted instances, as in Nova.
        if f.deleted.is_none() {
            f.deleted = None;
        }
    }
    let max = state.cfg.api.max_limit;
    let limit = match q.get("limit") {
        Some(l) => {
            let n: i64 = l
                .parse()
                .map_err(|_| invalid("limit", &json!(l), "is not of type 'integer'"))?;
            if n < 0 {
                return Err(invalid("limit", &json!(l), "must be >= 0"));
            }
            (n as usize).min(max)
        }
        None => max,
    };
    f.limit = Some(limit as i64);
    if let Some(m) = q.get("marker") {
        let u = Uuid::parse_str(m)
            .map_err(|_| ApiError::bad_request(format!("marker [{m}] not found")))?;
        f.marker = Some(u);
    }
    let instances = state
        .conductor
        .instance_get_all_by_filters(ctx, f)
        .await
        .map_err(|e| match &e {
            NovaError::MarkerNotFound { .. } => ApiError::bad_request(format!(
                "marker [{}] not found",
                q.get("marker").unwrap_or(&"")
            )),
            _ => e.into(),
        })?;
    Ok((instances, Some(limit)))
}

fn regex_is_valid(s: &str) -> bool {
    // PostgreSQL evaluates the pattern; refuse what it would choke on.
    let mut depth = 0i32;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return false;
        }
    }
    depth == 0 && !s.ends_with('\\')
}

fn next_link(
    base: &str,
    path: &str,
    p: &[(String, String)],
    items: &[Instance],
    limit: Option<usize>,
) -> Option<Value> {
    let limit = limit?;
    if limit == 0 || items.len() < limit {
        return None;
    }
    let last = items.last()?;
    let mut qs: Vec<String> = p
        .iter()
        .filter(|(k, _)| k != "marker")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    qs.push(format!("marker={}", last.uuid));
    Some(json!([{"rel": "next", "href": format!("{base}/v2.1/{path}?{}", qs.join("&"))}]))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(base): Extension<BaseUrl>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let (items, limit) = list(&state, &ctx, &p, "index").await?;
    let mut body =
        json!({"servers": items.iter().map(|i| server_summary(&base.0, i)).collect::<Vec<_>>()});
    if let Some(l) = next_link(&base.0, "servers", &p, &items, limit) {
        body["servers_links"] = l;
    }
    Ok(Json(body))
}

async fn host_statuses(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
) -> HashMap<String, &'static str> {
    if !(ctx.is_admin && v.at_least(16)) {
        return HashMap::new();
    }
    let Ok(services) = state.conductor.service_get_all(ctx).await else {
        return HashMap::new();
    };
    services
        .iter()
        .filter(|s| s.binary == "nova-compute")
        .map(|s| {
            let st = if s.forced_down || state_of(&state.cfg, s) == "down" {
                "DOWN"
            } else if s.disabled {
                "MAINTENANCE"
            } else {
                "UP"
            };
            (s.host.clone(), st)
        })
        .collect()
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Extension(base): Extension<BaseUrl>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let (items, limit) = list(&state, &ctx, &p, "detail").await?;
    let hs = host_statuses(&state, &ctx, v).await;
    let tmpl = &state.cfg.default.instance_name_template;
    let servers: Vec<Value> = items
        .iter()
        .map(|i| {
            let h = i
                .host
                .as_ref()
                .map(|h| hs.get(h).copied().unwrap_or("UNKNOWN"))
                .or(Some(""));
            server_detail(&base.0, i, &ctx, v, tmpl, h)
        })
        .collect();
    let mut body = json!({ "servers": servers });
    if let Some(l) = next_link(&base.0, "servers/detail", &p, &items, limit) {
        body["servers_links"] = l;
    }
    Ok(Json(body))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Extension(base): Extension<BaseUrl>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:servers:show",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    let hs = host_statuses(&state, &ctx, v).await;
    let h = inst
        .host
        .as_ref()
        .map(|h| hs.get(h).copied().unwrap_or("UNKNOWN"))
        .or(Some(""));
    Ok(Json(json!({
        "server": server_detail(&base.0, &inst, &ctx, v, &state.cfg.default.instance_name_template, h)
    })))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:servers:delete",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    if inst.locked && !ctx.is_admin {
        return Err(ApiError::conflict(format!(
            "Instance {} is locked",
            inst.uuid
        )));
    }
    let uuid = inst.uuid;
    if let Err(e) = state
        .conductor
        .action_start(
            &ctx,
            uuid,
            nova_objects::instance_actions::DELETE.into(),
            ctx.request_id.clone(),
        )
        .await
    {
        tracing::warn!(instance = %uuid, "cannot record the delete action: {e}");
    }
    // With a live compute host, the host deletes; otherwise the API does (Nova's local delete).
    let compute_up = match &inst.host {
        Some(h) => state
            .conductor
            .service_get_all(&ctx)
            .await?
            .iter()
            .any(|s| &s.host == h && s.binary == "nova-compute" && state_of(&state.cfg, s) == "up"),
        None => false,
    };
    if compute_up {
        let host = inst.host.clone().unwrap_or_default();
        let inst = state
            .conductor
            .instance_update(
                &ctx,
                uuid,
                InstanceUpdate {
                    task_state: Some(Some(TaskState::Deleting)),
                    ..Default::default()
                },
            )
            .await?;
        state
            .compute
            .to_server(&host)
            .terminate_instance(&ctx, inst)
            .await?;
    } else {
        if !inst.network_info.is_empty() {
            state
                .network
                .deallocate_for_instance(&ctx, uuid, inst.host.clone())
                .await?;
        } else {
            // A fixed IP may have been taken without the cache being written yet.
            state
                .conductor
                .network_deallocate_instance(&ctx, uuid)
                .await?;
        }
        state
            .conductor
            .instance_destroy(&ctx, uuid)
            .await
            .map_err(|e| match e {
                NovaError::InstanceNotFound { .. } => not_found(&id),
                other => other.into(),
            })?;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        assert_eq!(sanitize_hostname("My Server_1"), "my-server-1");
        assert_eq!(sanitize_hostname("--"), "server");
    }

    #[test]
    fn create_validation_names_the_field() {
        let v = ApiVersion::new(2, 1);
        let e = parse_create(&json!({"server": {"imageRef": "x", "flavorRef": "1"}}), v)
            .err()
            .map(|e| e.message);
        assert!(e
            .unwrap_or_default()
            .contains("'name' is a required property"));
        let e = parse_create(
            &json!({"server": {"name": "a", "imageRef": "nope", "flavorRef": "1"}}),
            v,
        )
        .err()
        .map(|e| e.message);
        assert!(e.unwrap_or_default().contains("imageRef"));
        let e = parse_create(
            &json!({"server": {"name": "a", "imageRef": Uuid::nil().to_string()}}),
            v,
        )
        .err()
        .map(|e| e.message);
        assert!(e.unwrap_or_default().contains("flavorRef"));
        let e = parse_create(&json!({"server": {"name": "a", "imageRef": Uuid::nil().to_string(), "flavorRef": "1", "bogus": 1}}), v).err().map(|e| e.message);
        assert!(e.unwrap_or_default().contains("'bogus' was unexpected"));
        let e = parse_create(&json!({"server": {"name": "a", "imageRef": Uuid::nil().to_string(), "flavorRef": "1"}}), ApiVersion::new(2, 37)).err().map(|e| e.message);
        assert!(e
            .unwrap_or_default()
            .contains("'networks' is a required property"));
        let ok = parse_create(
            &json!({"server": {"name": "a", "flavorRef": 1, "networks": "auto",
            "block_device_mapping_v2": [{"uuid": Uuid::nil().to_string(), "boot_index": 0, "source_type": "image", "destination_type": "local"}]}}),
            ApiVersion::new(2, 37),
        );
        assert!(ok.is_ok());
    }
}
