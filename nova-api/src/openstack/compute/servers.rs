//! `/servers`: create, list, detail, show, delete.

use super::block_device_mapping;
use super::rendered_servers::Kind;
use super::views::servers::{
    created, detail_expected_attrs, server_detail, server_summary, server_update_view,
    DetailOptions, RenderedServer, ServerDetail,
};
use crate::compute::api::{BlockDevice, CreateRequest, RequestedNetworks, RequestedZone, API};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{disk_config, invalid, json_body, object_of, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use chrono::{DateTime, Utc};
use nova_common::states::VmState;
use nova_common::{NovaError, RequestContext};
use nova_objects::sort::SERVER_SORT_KEYS as SORT_KEYS;
use nova_objects::{Instance, InstanceFilters, InstanceUpdate, NetworkRequest};
use rand::Rng;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
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
    "description",
];

/// The create keys of later microversions: (key, first, last).
const VERSIONED_CREATE_KEYS: &[(&str, u32, u32)] = &[
    ("personality", 1, 56),
    ("tags", 52, u32::MAX),
    ("host", 74, u32::MAX),
    ("hypervisor_hostname", 74, u32::MAX),
    ("trusted_image_certificates", 63, u32::MAX),
    ("hostname", 90, u32::MAX),
];

/// `trusted_image_certificates` (2.63, create and rebuild): null, or 1 to
/// 50 distinct non-empty strings (Nova's `trusted_certs` schema). `None`
/// for null.
pub(crate) fn parse_trusted_certs(val: &Value) -> ApiResult<Option<Vec<String>>> {
    const FIELD: &str = "trusted_image_certificates";
    let items = match val {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        other => {
            return Err(invalid(
                FIELD,
                other,
                &format!("{other} is not of type 'array', 'null'"),
            ))
        }
    };
    if items.is_empty() {
        return Err(invalid(FIELD, val, &format!("{val} is too short")));
    }
    if items.len() > 50 {
        return Err(invalid(FIELD, val, &format!("{val} is too long")));
    }
    let mut ids: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(s) if !s.is_empty() => {
                if ids.contains(s) {
                    return Err(invalid(
                        FIELD,
                        val,
                        &format!("{val} has non-unique elements"),
                    ));
                }
                ids.push(s.clone());
            }
            Value::String(_) => return Err(invalid(FIELD, item, &format!("{item} is too short"))),
            other => {
                return Err(invalid(
                    FIELD,
                    other,
                    &format!("{other} is not of type 'string'"),
                ))
            }
        }
    }
    Ok(Some(ids))
}

/// `host` / `hypervisor_hostname` (2.74): Nova's `fqdn` schema.
fn parse_fqdn(field: &str, val: &Value) -> ApiResult<String> {
    match val {
        Value::String(h)
            if !h.is_empty()
                && h.len() <= 255
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')) =>
        {
            Ok(h.clone())
        }
        other => Err(invalid(
            field,
            other,
            &format!("{other} is not a valid host name"),
        )),
    }
}

fn create_key_allowed(k: &str, v: ApiVersion) -> bool {
    CREATE_KEYS.contains(&k)
        || VERSIONED_CREATE_KEYS.iter().any(|(key, first, last)| {
            *key == k && v.at_least(*first) && !v.at_least(last.saturating_add(1))
        })
}

/// `hostname` (2.90): an RFC 952 name, or (2.94) an FQDN.
pub(crate) fn parse_hostname(val: &Value, v: ApiVersion) -> ApiResult<String> {
    let Value::String(h) = val else {
        return Err(invalid(
            "hostname",
            val,
            &format!("{val} is not of type 'string'"),
        ));
    };
    let ok = if v.at_least(94) {
        !h.is_empty()
            && h.len() <= 255
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    } else {
        let b = h.as_bytes();
        (2..=63).contains(&h.len())
            && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && b[0].is_ascii_alphanumeric()
            && b[b.len() - 1].is_ascii_alphanumeric()
    };
    if !ok {
        return Err(invalid(
            "hostname",
            val,
            &format!("'{h}' is not a valid hostname"),
        ));
    }
    Ok(h.clone())
}

/// `tags` (2.52): at most 50 valid tags.
fn parse_tags(val: &Value) -> ApiResult<Vec<String>> {
    let Value::Array(items) = val else {
        return Err(invalid(
            "tags",
            val,
            &format!("{val} is not of type 'array'"),
        ));
    };
    if items.len() > crate::compute::api::MAX_TAG_COUNT {
        return Err(invalid("tags", val, "is too long"));
    }
    let mut tags = Vec::with_capacity(items.len());
    for t in items {
        let Some(tag) = t.as_str() else {
            return Err(invalid("tags", t, &format!("{t} is not of type 'string'")));
        };
        if let Some(why) = super::server_tags::tag_error(tag) {
            return Err(invalid("tags", t, why));
        }
        if !tags.iter().any(|x: &String| x == tag) {
            tags.push(tag.to_string());
        }
    }
    Ok(tags)
}

/// An instance as the caller may see it (Nova's `common.get_instance`).
pub async fn get_instance(state: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<Instance> {
    Ok(state.compute_api.get(ctx, id).await?)
}

/// The server named (404), once the policy `rule` allows it on the server.
pub async fn authorized_instance(
    state: &AppState,
    ctx: &RequestContext,
    id: &str,
    rule: &str,
) -> ApiResult<Instance> {
    let inst = get_instance(state, ctx, id).await?;
    state
        .policy
        .authorize(rule, ctx, &Target::project(&inst.project_id))?;
    Ok(inst)
}

fn uuid_from_ref(r: &str) -> Option<Uuid> {
    // imageRef may be a UUID or a URL ending with one.
    let tail = r.rsplit('/').next().unwrap_or(r);
    Uuid::parse_str(tail).ok().filter(|_| tail.len() == 36)
}

/// Nova's `utils.generate_password`.
pub(crate) fn generate_password() -> String {
    const CHARS: &[u8] = b"23456789abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    (0..12)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// The validated `server` body of a create request.
struct ServerCreate {
    name: String,
    /// `imageRef`, or the image of an `image` → `local` mapping at boot
    /// index 0 (None: a boot from a volume or snapshot).
    image: Option<String>,
    /// `block_device_mapping_v2` (or the legacy mapping), parsed.
    block_devices: Vec<BlockDevice>,
    flavor_ref: String,
    metadata: BTreeMap<String, String>,
    networks: RequestedNetworks,
    min_count: i64,
    max_count: i64,
    return_reservation_id: bool,
    key_name: Option<String>,
    user_data: Option<String>,
    availability_zone: Option<String>,
    auto_disk_config: Option<bool>,
    access_ip_v4: Option<String>,
    access_ip_v6: Option<String>,
    description: Option<String>,
    admin_pass: Option<String>,
    config_drive: bool,
    /// Names from `security_groups` (None: not given).
    security_groups: Option<Vec<String>>,
    tags: Vec<String>,
    hostname: Option<String>,
    requested_host: Option<String>,
    requested_hypervisor_hostname: Option<String>,
    scheduler_hints: serde_json::Map<String, Value>,
    /// 2.63.
    trusted_certs: Option<Vec<String>>,
    /// `personality` (before 2.57).
    injected_files: Vec<(String, String)>,
}

/// `personality` (create and rebuild before 2.57): a list of `{"path":
/// <string>, "contents": <base64>}` (Nova's schema and
/// `_get_injected_files`), as `(path, contents)` pairs.
pub(crate) fn parse_personality(p: &Value) -> ApiResult<Vec<(String, String)>> {
    let Some(items) = p.as_array() else {
        return Err(invalid(
            "personality",
            p,
            &format!("{p} is not of type 'array'"),
        ));
    };
    let mut files = Vec::with_capacity(items.len());
    for item in items {
        let obj = object_of("personality", item, |k| k == "path" || k == "contents")?;
        let field = |k: &str| -> ApiResult<String> {
            match obj.get(k) {
                Some(Value::String(s)) => Ok(s.clone()),
                Some(other) => Err(invalid(
                    k,
                    other,
                    &format!("{other} is not of type 'string'"),
                )),
                None => Err(ApiError::bad_request(format!(
                    "Bad personality format: missing {k}"
                ))),
            }
        };
        let (path, contents) = (field("path")?, field("contents")?);
        if base64::engine::general_purpose::STANDARD
            .decode(&contents)
            .is_err()
        {
            return Err(invalid(
                "contents",
                &Value::String(contents),
                "is not a 'base64'",
            ));
        }
        files.push((path, contents));
    }
    Ok(files)
}

/// `os:scheduler_hints` (or `OS-SCH-HNT:scheduler_hints`), beside `server`:
/// an object whose `group` is a server group's uuid and whose
/// `different_host`/`same_host` are a server's uuid or a list of them,
/// `build_near_host_ip` an IP address, `cidr` a `/prefix`, `query` a JSON
/// text (Nova's schema); other hints pass.
fn parse_scheduler_hints(body: &Value) -> ApiResult<serde_json::Map<String, Value>> {
    let Some(h) = body
        .get("os:scheduler_hints")
        .or_else(|| body.get("OS-SCH-HNT:scheduler_hints"))
    else {
        return Ok(Default::default());
    };
    let Some(hints) = h.as_object() else {
        return Err(invalid(
            "os:scheduler_hints",
            h,
            &format!("{h} is not of type 'object'"),
        ));
    };
    // Nova's schema: a server's uuid, or a list of them.
    for hint in ["different_host", "same_host"] {
        let is_uuid = |v: &Value| {
            v.as_str()
                .is_some_and(|s| s.len() == 36 && Uuid::parse_str(s).is_ok())
        };
        match hints.get(hint) {
            None => {}
            Some(Value::Array(list)) if list.iter().all(is_uuid) => {}
            Some(v) if is_uuid(v) => {}
            Some(v) => {
                return Err(invalid(
                    &format!("os:scheduler_hints/{hint}"),
                    v,
                    &format!("{v} is not valid under any of the given schemas"),
                ))
            }
        }
    }
    if let Some(ip) = hints.get("build_near_host_ip") {
        let ok = ip
            .as_str()
            .is_some_and(|s| s.parse::<std::net::IpAddr>().is_ok());
        if !ok {
            return Err(invalid(
                "os:scheduler_hints/build_near_host_ip",
                ip,
                &format!("{ip} is not valid under any of the given schemas"),
            ));
        }
    }
    if let Some(cidr) = hints.get("cidr") {
        let ok = cidr.as_str().is_some_and(|s| {
            s.strip_prefix('/').is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_digit() || matches!(c, 'a'..='f' | '.' | ':'))
            })
        });
        if !ok {
            return Err(invalid(
                "os:scheduler_hints/cidr",
                cidr,
                &format!("{cidr} does not match '^/[0-9a-f.:]+$'"),
            ));
        }
    }
    if let Some(q) = hints.get("query") {
        if !(q.is_string() || q.is_object()) {
            return Err(invalid(
                "os:scheduler_hints/query",
                q,
                &format!("{q} is not of type 'string', 'object'"),
            ));
        }
    }
    if let Some(g) = hints.get("group") {
        let ok = g
            .as_str()
            .is_some_and(|g| g.len() == 36 && Uuid::parse_str(g).is_ok());
        if !ok {
            return Err(invalid(
                "os:scheduler_hints/group",
                g,
                &format!("{g} is not a 'uuid'"),
            ));
        }
    }
    Ok(hints.clone())
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

/// `accessIPv4` / `accessIPv6`: absent (None), empty or null (Some(None):
/// none), or an address, kept in its canonical form as Nova stores it
/// (`0000:0000:0000:0000:0000:babe:220.12.22.2` is `::babe:dc0c:1602`).
pub(crate) fn access_ip(field: &str, v: Option<&Value>) -> ApiResult<Option<Option<String>>> {
    let six = field == "accessIPv6";
    match v {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(s)) if s.is_empty() => Ok(Some(None)),
        Some(Value::String(s)) => {
            let canonical = if six {
                s.parse::<std::net::Ipv6Addr>().map(|a| a.to_string()).ok()
            } else {
                s.parse::<std::net::Ipv4Addr>().map(|a| a.to_string()).ok()
            };
            match canonical {
                Some(c) => Ok(Some(Some(c))),
                None => Err(invalid(
                    field,
                    &json!(s),
                    &format!("'{s}' is not a '{}'", if six { "ipv6" } else { "ipv4" }),
                )),
            }
        }
        Some(other) => Err(invalid(
            field,
            other,
            &format!("{other} is not of type 'string'"),
        )),
    }
}

/// A server `name` (`parameter_types.name`).
pub(crate) fn server_name(v: &Value) -> ApiResult<String> {
    match v {
        Value::String(n) if n.is_empty() || n.chars().count() > 255 => {
            Err(invalid("name", v, "name must be 1 to 255 characters long"))
        }
        Value::String(n) if n.trim() != n => Err(invalid(
            "name",
            v,
            "name has leading or trailing whitespace",
        )),
        Value::String(n) => Ok(n.clone()),
        other => Err(invalid(
            "name",
            other,
            &format!("{other} is not of type 'string'"),
        )),
    }
}

/// A server `description` (2.19): null or at most 255 printable characters.
pub(crate) fn server_description(v: &Value) -> ApiResult<Option<String>> {
    match v {
        Value::Null => Ok(None),
        Value::String(d) if d.chars().count() <= 255 && !d.chars().any(char::is_control) => {
            Ok(Some(d.clone()))
        }
        other => Err(invalid(
            "description",
            other,
            "must be null or at most 255 printable characters",
        )),
    }
}

fn parse_create(body: &Value, v: ApiVersion) -> ApiResult<ServerCreate> {
    let Some(s) = body.get("server") else {
        return Err(invalid("body", body, "'server' is a required property"));
    };
    let obj = object_of("server", s, |k| create_key_allowed(k, v))?;
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
    let block_devices = block_device_mapping::parse(obj, v)?;
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
    let image = image.or_else(|| {
        block_devices
            .iter()
            .find(|b| {
                b.source_type.as_deref() == Some("image")
                    && b.destination_type.as_deref() == Some("local")
                    && b.boot_index == Some(0)
            })
            .and_then(|b| b.image_id.clone())
    });
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
        None => RequestedNetworks::Auto,
        Some(Value::String(x)) if v.at_least(37) && x == "auto" => RequestedNetworks::Auto,
        Some(Value::String(x)) if v.at_least(37) && x == "none" => RequestedNetworks::None,
        Some(Value::Array(list)) => {
            let reqs = list
                .iter()
                .map(|n| network_request(n, v))
                .collect::<ApiResult<Vec<_>>>()?;
            // nova-network gives a server one interface per network.
            for (i, r) in reqs.iter().enumerate() {
                if reqs[..i].iter().any(|p| p.network_id == r.network_id) {
                    return Err(ApiError::bad_request(format!(
                        "Duplicate networks ({}) are not allowed",
                        r.network_id
                    )));
                }
            }
            RequestedNetworks::Networks(reqs)
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
    let key_name = opt_str("key_name")?;
    let access_ip_v4 = access_ip("accessIPv4", obj.get("accessIPv4"))?.flatten();
    let access_ip_v6 = access_ip("accessIPv6", obj.get("accessIPv6"))?.flatten();
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
    let auto_disk_config = disk_config(obj.get("OS-DCF:diskConfig"))?;
    let config_drive = match obj.get("config_drive") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::String(x)) => matches!(x.to_lowercase().as_str(), "true" | "1" | "yes" | "t"),
        Some(other) => return Err(invalid("config_drive", other, "is not a boolean")),
    };
    let security_groups = match obj.get("security_groups") {
        None => None,
        Some(Value::Array(items)) => {
            let mut names: Vec<String> = Vec::new();
            for item in items {
                let o = object_of("security_groups", item, |k| k == "name")?;
                match o.get("name") {
                    None => {}
                    Some(Value::String(n)) if !n.is_empty() && n.chars().count() <= 255 => {
                        names.push(n.clone());
                    }
                    Some(other) => {
                        return Err(invalid("name", other, "is not a valid security group name"))
                    }
                }
            }
            names.sort();
            names.dedup();
            Some(names)
        }
        Some(other) => return Err(invalid("security_groups", other, "is not of type 'array'")),
    };
    Ok(ServerCreate {
        name,
        image,
        block_devices,
        flavor_ref,
        metadata,
        networks,
        min_count,
        max_count,
        return_reservation_id: obj
            .get("return_reservation_id")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        key_name,
        user_data,
        availability_zone: opt_str("availability_zone")?.filter(|x| !x.is_empty()),
        auto_disk_config,
        access_ip_v4,
        access_ip_v6,
        description,
        admin_pass: opt_str("adminPass")?,
        config_drive,
        security_groups,
        tags: obj
            .get("tags")
            .map(parse_tags)
            .transpose()?
            .unwrap_or_default(),
        hostname: obj
            .get("hostname")
            .map(|h| parse_hostname(h, v))
            .transpose()?,
        requested_host: obj.get("host").map(|h| parse_fqdn("host", h)).transpose()?,
        requested_hypervisor_hostname: obj
            .get("hypervisor_hostname")
            .map(|h| parse_fqdn("hypervisor_hostname", h))
            .transpose()?,
        scheduler_hints: parse_scheduler_hints(body)?,
        trusted_certs: match obj.get("trusted_image_certificates") {
            Some(c) => parse_trusted_certs(c)?,
            None => None,
        },
        injected_files: obj
            .get("personality")
            .map(parse_personality)
            .transpose()?
            .unwrap_or_default(),
    })
}

/// The create handler's faults, as Nova's `ServersController.create` maps them.
/// One entry of `networks` (Nova's schema and `_get_requested_networks`
/// for nova-network): `uuid`, an optional `fixed_ip`, a `port` only if
/// null, a device `tag` at 2.32–2.36 and from 2.42.
fn network_request(n: &Value, v: ApiVersion) -> ApiResult<NetworkRequest> {
    let tags = (v.at_least(32) && !v.at_least(37)) || v.at_least(42);
    let o = object_of("networks", n, |k| {
        matches!(k, "uuid" | "fixed_ip" | "port") || (tags && k == "tag")
    })?;
    let address = match o.get("fixed_ip") {
        None => None,
        Some(Value::String(a)) if a.parse::<std::net::IpAddr>().is_ok() => Some(a.clone()),
        Some(other) => {
            return Err(invalid(
                "fixed_ip",
                other,
                &format!("{other} is not valid under any of the given schemas"),
            ))
        }
    };
    let tag = match o.get("tag") {
        None => None,
        Some(Value::String(t)) if t.chars().count() <= 60 && !t.contains([',', '/']) => {
            Some(t.clone())
        }
        Some(t) => return Err(invalid("tag", t, &format!("{t} is not a valid device tag"))),
    };
    if o.get("port").is_some_and(|p| !p.is_null()) {
        return Err(ApiError::bad_request("Unknown argument: port"));
    }
    let id = match o.get("uuid") {
        None => return Err(ApiError::bad_request("Bad network format: missing 'uuid'")),
        Some(Value::String(id)) => id,
        Some(other) => {
            return Err(invalid(
                "uuid",
                other,
                &format!("{other} is not of type 'string'"),
            ))
        }
    };
    // Nova still takes Folsom's `br-<uuid>` form.
    let bare = id.split_once('-').map_or(id.as_str(), |(_, rest)| rest);
    let network_id = Uuid::parse_str(id)
        .or_else(|_| Uuid::parse_str(bare))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "Bad networks format: network uuid is not in proper format ({id})"
            ))
        })?;
    Ok(NetworkRequest {
        network_id,
        address,
        tag,
    })
}

fn create_error(e: NovaError, req: &ServerCreate) -> ApiError {
    match e {
        // The kernel or ramdisk the image names: the message names it.
        NovaError::ImageNotFound { ref image_id }
            if req.image.as_deref().is_some_and(|i| i != image_id) =>
        {
            ApiError::bad_request(e.to_string())
        }
        NovaError::ImageNotFound { .. } => ApiError::bad_request(format!(
            "Invalid imageRef provided. Image {} could not be found.",
            req.image.as_deref().unwrap_or_default()
        )),
        NovaError::ImageNotActive { .. } => {
            ApiError::bad_request(format!("Invalid imageRef provided. {e}"))
        }
        NovaError::GlanceConnectionFailed { .. } => {
            ApiError::new(503, format!("Image service unavailable: {e}"))
        }
        NovaError::KeypairNotFound { .. } => ApiError::bad_request("Invalid key_name provided."),
        NovaError::SecurityGroupNotFound { .. } => ApiError::bad_request(e.to_string()),
        NovaError::MetadataLimitExceeded { .. }
        | NovaError::GroupMemberLimitExceeded {}
        | NovaError::OnsetFileLimitExceeded {}
        | NovaError::OnsetFilePathLimitExceeded { .. }
        | NovaError::OnsetFileContentLimitExceeded { .. } => ApiError::new(403, e.to_string()),
        NovaError::InstanceGroupNotFound { .. }
        | NovaError::NetworkNotFound { .. }
        | NovaError::FixedIpInvalid { .. }
        | NovaError::FixedIpNotFoundForAddress { .. }
        | NovaError::FixedIpNotFoundForNetwork { .. }
        | NovaError::FixedIpAlreadyInUse { .. }
        | NovaError::InvalidFixedIpAndMaxCountRequest { .. } => {
            ApiError::bad_request(e.to_string())
        }
        NovaError::InvalidRequest { .. }
        | NovaError::ComputeHostNotFound { .. }
        | NovaError::AmbiguousHostnameForMultipleInstances {}
        | NovaError::InvalidInput { .. }
        | NovaError::FlavorDiskTooSmall { .. }
        | NovaError::FlavorMemoryTooSmall { .. } => ApiError::bad_request(e.to_string()),
        other => other.into(),
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    body: Bytes,
) -> ApiResult<Response> {
    let body = json_body(&body)?;
    let req = parse_create(&body, v)?;
    state
        .policy
        .authorize("os_compute_api:servers:create", &ctx, &Target::own(&ctx))?;
    let availability_zone = match &req.availability_zone {
        Some(az) => {
            let az = RequestedZone::parse(az).map_err(|e| create_error(e, &req))?;
            if az.forces_placement() {
                state.policy.authorize(
                    "os_compute_api:servers:create:forced_host",
                    &ctx,
                    &Target::own(&ctx),
                )?;
            }
            Some(az)
        }
        None => None,
    };
    // 2.74: a requested destination, the admin's, not with "zone:host:node".
    if req.requested_host.is_some() || req.requested_hypervisor_hostname.is_some() {
        state.policy.authorize(
            "compute:servers:create:requested_destination",
            &ctx,
            &Target::own(&ctx),
        )?;
        if availability_zone
            .as_ref()
            .is_some_and(|az| az.forces_placement())
        {
            return Err(ApiError::bad_request(
                "One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are mutually exclusive.",
            ));
        }
    }
    let flavor = state
        .compute_api
        .get_flavor(&ctx, &req.flavor_ref)
        .await
        .map_err(|e| match e {
            NovaError::FlavorNotFound { .. } => ApiError::bad_request(format!(
                "Invalid flavorRef provided. Flavor {} could not be found.",
                req.flavor_ref
            )),
            other => other.into(),
        })?;
    API::check_block_device_mapping(&flavor, req.image.is_some(), &req.block_devices)?;
    let Some(image) = req.image.clone() else {
        return Err(ApiError::bad_request(
            "Invalid input for field/attribute imageRef: an image is required (booting from volume needs Cinder, which this cloud does not have).",
        ));
    };
    let admin_pass = req.admin_pass.clone().unwrap_or_else(generate_password);
    let made = state
        .compute_api
        .create(
            &ctx,
            CreateRequest {
                display_name: req.name.clone(),
                display_description: req.description.clone(),
                image_href: image,
                flavor,
                min_count: req.min_count,
                max_count: req.max_count,
                key_name: req.key_name.clone(),
                metadata: req.metadata.clone(),
                requested_networks: req.networks.clone(),
                user_data: req.user_data.clone(),
                availability_zone,
                access_ip_v4: req.access_ip_v4.clone(),
                access_ip_v6: req.access_ip_v6.clone(),
                config_drive: req.config_drive,
                auto_disk_config: req.auto_disk_config,
                security_groups: req.security_groups.clone().unwrap_or_default(),
                system_metadata: Default::default(),
                tags: req.tags.clone(),
                hostname: req.hostname.clone(),
                requested_host: req.requested_host.clone(),
                requested_hypervisor_hostname: req.requested_hypervisor_hostname.clone(),
                scheduler_hints: req.scheduler_hints.clone(),
                trusted_certs: req.trusted_certs.clone(),
                admin_password: Some(admin_pass.clone()),
                injected_files: req.injected_files.clone(),
                kernel_id: None,
                ramdisk_id: None,
            },
        )
        .await
        .map_err(|e| create_error(e, &req))?;
    if req.return_reservation_id {
        return Ok((
            StatusCode::ACCEPTED,
            Json(json!({"reservation_id": made.reservation_id})),
        )
            .into_response());
    }
    let Some(first) = made.instances.first() else {
        return Err(
            ApiError::new(500, crate::error::UNEXPECTED).with_cause("create returned no instance")
        );
    };
    let mut body = created(&base, first, &admin_pass);
    if !state.cfg.api.enable_instance_password {
        if let Some(s) = body["server"].as_object_mut() {
            s.remove("adminPass");
        }
    }
    let mut resp = (StatusCode::ACCEPTED, Json(body)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("{}/servers/{}", base.versioned, first.uuid)) {
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

/// Nova's column filters of a server listing: `reservation_id` for
/// everyone; from 2.83 also `availability_zone`, `config_drive`,
/// `key_name`, `created_at`, `launched_at`, `terminated_at`,
/// `power_state`, `task_state`, `vm_state`, `progress`, `user_id`; from 2.90
/// `hostname`; the rest (`node`, `kernel_id`, ...) with `allow_all_filters`
/// only. `user_id`, `vm_state` and `task_state` match exactly (each value
/// given counts), the others as regular expressions (the last value given).
/// `vm_state` gives way to `status`, as in Nova.
fn column_filters(f: &mut InstanceFilters, p: &[(String, String)], v: ApiVersion, all: bool) {
    const SINCE_2_83: &[&str] = &[
        "availability_zone",
        "config_drive",
        "key_name",
        "created_at",
        "launched_at",
        "terminated_at",
        "power_state",
        "progress",
    ];
    const ALL_FILTERS_ONLY: &[&str] = &[
        "node",
        "kernel_id",
        "ramdisk_id",
        "launch_index",
        "access_ip_v4",
        "access_ip_v6",
        "locked_by",
    ];
    let has_status = p.iter().any(|(k, _)| k == "status");
    for (k, val) in p {
        let k = k.as_str();
        let allowed = |since: u32| all || v.at_least(since);
        match k {
            "user_id" | "task_state" if allowed(83) => {
                f.exact.entry(k.into()).or_default().push(val.clone());
            }
            "vm_state" if allowed(83) && !has_status => {
                f.exact.entry(k.into()).or_default().push(val.clone());
            }
            "reservation_id" => {
                f.regex.insert(k.into(), val.clone());
            }
            "hostname" if allowed(90) => {
                f.regex.insert(k.into(), val.clone());
            }
            _ if SINCE_2_83.contains(&k) && allowed(83) => {
                f.regex.insert(k.into(), val.clone());
            }
            _ if ALL_FILTERS_ONLY.contains(&k) && all => {
                f.regex.insert(k.into(), val.clone());
            }
            _ => {}
        }
    }
}

/// Keys the schema took before 2.75 but a listing is not sorted by
/// (`SERVER_LIST_IGNORE_SORT_KEY`): dropped with their direction. From
/// 2.73 `locked` is a sort key; from 2.75 the others are a 400.
const IGNORED_SORT_KEYS: &[&str] = &[
    "architecture",
    "cell_name",
    "cleaned",
    "default_ephemeral_device",
    "default_swap_device",
    "deleted",
    "deleted_at",
    "disable_terminate",
    "ephemeral_gb",
    "ephemeral_key_uuid",
    "id",
    "key_data",
    "launched_on",
    "locked",
    "memory_mb",
    "os_type",
    "reservation_id",
    "root_gb",
    "shutdown_terminate",
    "user_data",
    "vcpus",
    "vm_mode",
];

/// A listing's order from its `sort_key`/`sort_dir` parameters (each may
/// repeat), as Nova's servers API and instance list take them: no key is
/// `created_at`, no direction `desc`; an ignored key goes with the
/// direction at its place; `host` and `node` are for admins (403); `uuid`
/// ascending breaks ties before the defaults `created_at` and `id`.
/// `None` (newest first) when neither parameter is given.
fn server_sort(
    ctx: &RequestContext,
    v: ApiVersion,
    p: &[(String, String)],
) -> ApiResult<Option<Vec<nova_objects::sort::SortKey>>> {
    use nova_objects::sort::{process_sort_params, SortDir};
    let given = |name: &str| -> Vec<String> {
        p.iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_string())
            .collect()
    };
    let (mut keys, mut dirs) = (given("sort_key"), given("sort_dir"));
    if keys.is_empty() && dirs.is_empty() {
        return Ok(None);
    }
    let ignored = |k: &str| IGNORED_SORT_KEYS.contains(&k) && !(k == "locked" && v.at_least(73));
    for k in &keys {
        let valid = SORT_KEYS.contains(&k.as_str())
            || (k == "locked" && v.at_least(73))
            || (ignored(k) && !v.at_least(75));
        if !valid {
            let mut allowed: Vec<&str> = SORT_KEYS.to_vec();
            if v.at_least(73) {
                allowed.push("locked");
            }
            if !v.at_least(75) {
                allowed.extend(IGNORED_SORT_KEYS.iter().filter(|k| ignored(k)));
            }
            return Err(ApiError::bad_request(format!(
                "Invalid input for query parameters sort_key. Value: {k}. '{k}' is not one of {allowed:?}"
            )));
        }
    }
    if keys.is_empty() {
        keys.push("created_at".into());
    }
    if dirs.is_empty() {
        dirs.push("desc".into());
    }
    let mut n = 0;
    while n < keys.len() {
        if ignored(&keys[n]) {
            if dirs.len() > n {
                dirs.remove(n);
            }
            keys.remove(n);
            continue;
        }
        if matches!(keys[n].as_str(), "host" | "node") && !ctx.is_admin {
            return Err(ApiError::new(
                403,
                format!("Only administrators can sort servers by {}", keys[n]),
            ));
        }
        n += 1;
    }
    if !keys.is_empty() && !keys.iter().any(|k| k == "uuid") {
        keys.push("uuid".into());
        if dirs.len() >= keys.len() - 1 {
            dirs.push("asc".into());
        }
    }
    Ok(Some(process_sort_params(
        &keys,
        &dirs,
        &["created_at", "id"],
        SortDir::Desc,
    )?))
}

async fn list(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    p: &[(String, String)],
    action: &str,
) -> ApiResult<(Vec<Arc<Instance>>, HostStatuses, Option<usize>)> {
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
    // Nova: without all_tenants a listing is the caller's project, whatever
    // project_id/tenant_id say; with it (admins) they narrow it to one project.
    if !(ctx.is_admin && all_tenants) {
        f.project_id = ctx.project_id.clone();
    } else if let Some(pid) = q.get("project_id").or(q.get("tenant_id")) {
        f.project_id = Some(pid.to_string());
    }
    // Nova's `remove_invalid_options`: with `allow_all_filters` (admins)
    // every filter counts; without it only those of
    // `_get_server_search_options` at this microversion, the others are
    // ignored.
    let all_filters = state.policy.allows(
        "os_compute_api:servers:allow_all_filters",
        ctx,
        &Target::own(ctx),
    );
    if all_filters {
        if let Some(h) = q.get("host") {
            f.host = Some(h.to_string());
        }
        if let Some(d) = q.get("deleted") {
            f.deleted = Some(is_true(d));
        }
        if let Some(u) = q.get("uuid") {
            // An id that is no uuid matches nothing.
            match Uuid::parse_str(u) {
                Ok(u) => f.uuids = Some(vec![u]),
                Err(_) => return Ok((vec![], HashMap::new(), None)),
            }
        }
    }
    column_filters(&mut f, p, v, all_filters);
    // A regular expression PostgreSQL evaluates; one it refuses is a 400.
    if let Some(n) = q.get("name") {
        f.name = Some(n.to_string());
    }
    if let Some(ip) = q.get("ip") {
        f.ip = Some(ip.to_string());
    }
    if let Some(ip6) = q.get("ip6").filter(|_| v.at_least(5) || all_filters) {
        f.ip6 = Some(ip6.to_string());
    }
    if let Some(s) = q.get("status") {
        match status_to_vm_states(s) {
            // Deleted servers are listed for admins only.
            Some(states) if states == [VmState::Deleted] => {
                if !ctx.is_admin {
                    return Err(ApiError::new(
                        403,
                        "Only administrators may list deleted instances",
                    ));
                }
                f.deleted = Some(true);
                f.status_vm_states = Some(states);
            }
            Some(states) => f.status_vm_states = Some(states),
            // An unknown status is a 400 from 2.38; before, it matches nothing.
            None if v.at_least(38) => return Err(ApiError::bad_request("Invalid status value")),
            None => return Ok((vec![], HashMap::new(), None)),
        }
    }
    // Tag filters (2.26): comma-separated lists.
    if v.at_least(26) {
        let tags = |k: &str| {
            q.get(k).map(|t| {
                t.split(',')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
        };
        f.tags = tags("tags");
        f.tags_any = tags("tags-any");
        f.not_tags = tags("not-tags");
        f.not_tags_any = tags("not-tags-any");
    }
    if let Some(i) = q.get("image") {
        f.image_ref = Some(i.rsplit('/').next().unwrap_or(i).to_string());
    }
    let flavor = q
        .get("flavor")
        .map(|fl| fl.rsplit('/').next().unwrap_or(fl).to_string());
    let timestamp = |k: &str, cs: &str| -> ApiResult<DateTime<Utc>> {
        DateTime::parse_from_rfc3339(cs)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| {
                chrono::NaiveDateTime::parse_from_str(cs, "%Y-%m-%dT%H:%M:%S").map(|n| n.and_utc())
            })
            .map_err(|_| invalid(k, &json!(cs), "is not a 'date-time'"))
    };
    // changes-since, and from 2.66 changes-before (on updated_at).
    if let Some(cs) = q.get("changes-since") {
        f.changes_since = Some(timestamp("changes-since", cs)?);
    }
    if let Some(cb) = q.get("changes-before").filter(|_| v.at_least(66)) {
        let before = timestamp("changes-before", cb)?;
        if f.changes_since.is_some_and(|since| before < since) {
            return Err(ApiError::bad_request(
                "The value of changes-since must be less than or equal to changes-before.",
            ));
        }
        f.changes_before = Some(before);
    }
    // Nova lists what was deleted since too, unless `deleted` says otherwise.
    f.read_deleted = f.changes_since.is_some() || f.changes_before.is_some();
    // 2.73: `locked`, a strict boolean.
    if let Some(l) = q.get("locked").filter(|_| v.at_least(73)) {
        f.locked = Some(match l.to_ascii_lowercase().as_str() {
            "1" | "t" | "true" | "on" | "y" | "yes" => true,
            "0" | "f" | "false" | "off" | "n" | "no" => false,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Unrecognized value '{l}', acceptable values are: '0', '1', 'f', 'false', 'n', 'no', 'off', 'on', 't', 'true', 'y', 'yes'"
                )))
            }
        });
    }
    f.sort = server_sort(ctx, v, p)?;
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
    // Only what the view shows is read with each instance: a summary
    // shows none of what hangs off it.
    f.expected_attrs = Some(if action == "detail" {
        detail_expected_attrs(v)
    } else {
        vec![]
    });
    // `host_status` (admins, 2.16) comes with the instances, in the same
    // conductor round trip.
    // `servers/detail` is what clients poll: nova-api keeps its servers
    // and the conductor sends only those that changed since.
    let listed = if action == "detail" {
        state
            .compute_api
            .get_all_known(ctx, f, flavor, wants_host_status(ctx, v))
            .await
    } else {
        state
            .compute_api
            .get_all(ctx, f, flavor)
            .await
            .map(|i| (i.into_iter().map(Arc::new).collect(), HashMap::new()))
    };
    let (instances, hs) = listed.map_err(|e| match &e {
        NovaError::MarkerNotFound { .. } => ApiError::bad_request(format!(
            "marker [{}] not found",
            q.get("marker").unwrap_or(&"")
        )),
        NovaError::InvalidInput { reason } if q.contains_key("name") => {
            ApiError::bad_request(format!(
                "Invalid regular expression in name filter {:?}: {reason}",
                q.get("name").unwrap_or(&"")
            ))
        }
        NovaError::InvalidInput { reason } if q.contains_key("ip") || q.contains_key("ip6") => {
            ApiError::bad_request(format!("Invalid regular expression in ip filter: {reason}"))
        }
        _ => e.into(),
    })?;
    Ok((instances, hs, Some(limit)))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let (items, _, limit) = list(&state, &ctx, v, &p, "index").await?;
    let mut body =
        json!({"servers": items.iter().map(|i| server_summary(&base, i)).collect::<Vec<_>>()});
    if let Some(l) = super::views::page_link(&base, "servers", &p, limit, items.len(), || {
        items.last().map(|i| i.uuid.to_string())
    }) {
        body["servers_links"] = l;
    }
    Ok(Json(body))
}

/// `host_status` per compute host.
type HostStatuses = HashMap<String, &'static str>;

/// Whether a server body shows `host_status`: for admins from 2.16.
fn wants_host_status(ctx: &RequestContext, v: ApiVersion) -> bool {
    ctx.is_admin && v.at_least(16)
}

/// Whether the embedded flavor (2.47) carries its extra specs for this caller.
pub(crate) fn shows_flavor_extra_specs(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    target: &Target,
) -> bool {
    v.at_least(47)
        && state.policy.allows(
            "os_compute_api:servers:show:flavor-extra-specs",
            ctx,
            target,
        )
}

fn host_status<'a>(hs: &HashMap<String, &'a str>, i: &Instance) -> Option<&'a str> {
    i.host
        .as_ref()
        .map(|h| hs.get(h).copied().unwrap_or("UNKNOWN"))
        .or(Some(""))
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Response> {
    let (items, hs, limit) = list(&state, &ctx, v, &p, "detail").await?;
    let tmpl = &state.cfg.default.instance_name_template;
    let specs = shows_flavor_extra_specs(&state, &ctx, v, &Target::own(&ctx));
    let page = DetailPage {
        base: &base,
        ctx: &ctx,
        v,
        name_template: tmpl,
        host_statuses: &hs,
        flavor_extra_specs: specs,
    };
    // Each server's body as written for an earlier listing of the same
    // copy by the same kind of caller (see `rendered_servers`), or now.
    let kind = Kind {
        base: base.clone(),
        admin: ctx.is_admin,
        v,
        flavor_extra_specs: specs,
    };
    let bodies = state
        .rendered_servers
        .page(&kind, &items, |i| RenderedServer::new(&page.view(i)))
        .map_err(|e| NovaError::internal(format!("servers/detail: {e}")))?;
    let links = super::views::page_link(&base, "servers/detail", &p, limit, items.len(), || {
        items.last().map(|i| i.uuid.to_string())
    });
    // `{"servers": [...], "servers_links": [...]}`: the bytes serde_json
    // writes for the tree, "servers" before "servers_links" as it sorts them.
    let size: usize = bodies.iter().map(|b| b.size() + 32).sum();
    let mut body = Vec::with_capacity(size + 256);
    body.extend_from_slice(b"{\"servers\":[");
    for (n, (b, i)) in bodies.iter().zip(&items).enumerate() {
        if n > 0 {
            body.push(b',');
        }
        b.write(&mut body, page.view(i).host_status());
    }
    body.push(b']');
    if let Some(l) = links {
        body.extend_from_slice(b",\"servers_links\":");
        serde_json::to_writer(&mut body, &l)
            .map_err(|e| NovaError::internal(format!("servers/detail: {e}")))?;
    }
    body.push(b'}');
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response())
}

/// What every server body of a `servers/detail` page is written with.
struct DetailPage<'a> {
    base: &'a BaseUrl,
    ctx: &'a RequestContext,
    v: ApiVersion,
    name_template: &'a str,
    host_statuses: &'a HostStatuses,
    flavor_extra_specs: bool,
}

impl<'a> DetailPage<'a> {
    fn view(&self, i: &'a Instance) -> ServerDetail<'a> {
        ServerDetail {
            base: self.base,
            inst: i,
            ctx: self.ctx,
            v: self.v,
            opts: DetailOptions {
                name_template: self.name_template,
                host_status: host_status(self.host_statuses, i),
                flavor_extra_specs: self.flavor_extra_specs,
                server_groups: None,
            },
        }
    }
}

/// 2.71's `server_groups` of show, update and rebuild (none before, and
/// no lookup).
pub async fn server_groups(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    inst: &Instance,
) -> ApiResult<Vec<Uuid>> {
    if !v.at_least(71) {
        return Ok(Vec::new());
    }
    Ok(state.compute_api.server_groups_of(ctx, inst.uuid).await?)
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    // `host_status` (admins, 2.16) comes with the instance, in the same
    // conductor round trip.
    let (inst, hs) = if wants_host_status(&ctx, v) {
        state.compute_api.get_with_host_statuses(&ctx, &id).await?
    } else {
        (get_instance(&state, &ctx, &id).await?, HashMap::new())
    };
    state.policy.authorize(
        "os_compute_api:servers:show",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    let groups = server_groups(&state, &ctx, v, &inst).await?;
    let opts = DetailOptions {
        name_template: &state.cfg.default.instance_name_template,
        host_status: host_status(&hs, &inst),
        flavor_extra_specs: shows_flavor_extra_specs(
            &state,
            &ctx,
            v,
            &Target::project(&inst.project_id),
        ),
        server_groups: Some(&groups),
    };
    Ok(Json(json!({
        "server": server_detail(&base, &inst, &ctx, v, opts)
    })))
}

/// `PUT /servers/{id}`: name, description (2.19), access addresses.
pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let Some(s) = body.get("server") else {
        return Err(invalid("body", &body, "'server' is a required property"));
    };
    let mut allowed = vec!["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"];
    if v.at_least(19) {
        allowed.push("description");
    }
    if v.at_least(90) {
        allowed.push("hostname");
    }
    let obj = object_of("server", s, |k| allowed.contains(&k))?;
    let auto_disk_config = disk_config(obj.get("OS-DCF:diskConfig"))?;
    let updates = InstanceUpdate {
        display_name: obj.get("name").map(server_name).transpose()?,
        display_description: obj.get("description").map(server_description).transpose()?,
        hostname: obj
            .get("hostname")
            .map(|h| parse_hostname(h, v))
            .transpose()?,
        access_ip_v4: access_ip("accessIPv4", obj.get("accessIPv4"))?,
        access_ip_v6: access_ip("accessIPv6", obj.get("accessIPv6"))?,
        auto_disk_config,
        ..Default::default()
    };
    let inst = get_instance(&state, &ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:servers:update",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    let updated = state
        .compute_api
        .update_instance(&ctx, &inst, updates)
        .await?;
    let tmpl = &state.cfg.default.instance_name_template;
    let specs = shows_flavor_extra_specs(&state, &ctx, v, &Target::project(&inst.project_id));
    let groups = server_groups(&state, &ctx, v, &updated).await?;
    Ok(Json(json!({
        "server": server_update_view(&base, &updated, &ctx, v, tmpl, specs, &groups)
    })))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    // The instance and its host's service in one round trip (is the host up?).
    let (inst, services) = state.compute_api.get_with_services(&ctx, &id).await?;
    state.policy.authorize(
        "os_compute_api:servers:delete",
        &ctx,
        &Target::project(&inst.project_id),
    )?;
    state
        .compute_api
        .delete_with(&ctx, &inst, services.as_deref())
        .await
        .map_err(|e| match e {
            NovaError::InstanceNotFound { .. } => {
                ApiError::from(NovaError::InstanceNotFound { instance_id: id })
            }
            other => ApiError::from(other),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn personality_is_validated_and_gone_in_2_57() {
        let body = |p: Value| json!({"server": {"name": "a", "imageRef": "70a599e0-31e7-49b7-b260-868f441e862b", "flavorRef": "1", "networks": "none", "personality": p}});
        let ok = parse_create(
            &body(json!([{"path": "/etc/motd", "contents": "aGVsbG8="}])),
            ApiVersion::new(2, 56),
        )
        .map(|c| c.injected_files)
        .map_err(|e| e.message);
        assert_eq!(
            ok,
            Ok(vec![("/etc/motd".to_string(), "aGVsbG8=".to_string())])
        );
        for (bad, says) in [
            (json!({"path": "x"}), "is not of type 'array'"),
            (json!(["x"]), "is not of type 'object'"),
            (
                json!([{"path": "/a", "contents": "not base64!"}]),
                "is not a 'base64'",
            ),
            (
                json!([{"path": "/a"}]),
                "Bad personality format: missing contents",
            ),
            (
                json!([{"path": 1, "contents": ""}]),
                "is not of type 'string'",
            ),
            (
                json!([{"path": "/a", "contents": "", "mode": 1}]),
                "('mode' was unexpected)",
            ),
        ] {
            let e = parse_create(&body(bad.clone()), ApiVersion::new(2, 56)).err();
            let e = e.map(|e| (e.code, e.message)).unwrap_or_default();
            assert_eq!(e.0, 400, "{bad}");
            assert!(e.1.contains(says), "{bad}: {}", e.1);
        }
        let e = parse_create(&body(json!([])), ApiVersion::new(2, 57)).err();
        assert!(e.is_some_and(|e| e.message.contains("'personality' was unexpected")));
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
        let e = parse_create(&json!({"server": {"name": "a", "imageRef": Uuid::nil().to_string(), "flavorRef": "1", "key_name": 3}}), v).err().map(|e| e.message);
        assert!(e.unwrap_or_default().contains("key_name"));
    }

    #[test]
    fn create_faults_are_novas() {
        let req = parse_create(
            &json!({"server": {"name": "a", "imageRef": Uuid::nil().to_string(), "flavorRef": "1"}}),
            ApiVersion::new(2, 1),
        )
        .map_err(|e| e.message)
        .expect("valid");
        let e = create_error(
            NovaError::ImageNotFound {
                image_id: Uuid::nil().to_string(),
            },
            &req,
        );
        assert_eq!(e.code, 400);
        assert_eq!(
            e.message,
            format!(
                "Invalid imageRef provided. Image {} could not be found.",
                Uuid::nil()
            )
        );
        // The kernel the image names is not found: named.
        let e = create_error(
            NovaError::ImageNotFound {
                image_id: "k".into(),
            },
            &req,
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "Image k could not be found.")
        );
        let e = create_error(
            NovaError::KeypairNotFound {
                user_id: "u".into(),
                name: "k".into(),
            },
            &req,
        );
        assert_eq!(
            (e.code, e.message.as_str()),
            (400, "Invalid key_name provided.")
        );
        let e = create_error(
            NovaError::QuotaExceeded {
                overs: "ram".into(),
                req: "1".into(),
                used: "0".into(),
                allowed: "0".into(),
            },
            &req,
        );
        assert_eq!(e.code, 403);
        assert!(e.message.starts_with("Quota exceeded for ram"));
    }
}
