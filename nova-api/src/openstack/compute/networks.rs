//! `/os-networks` (2.1-2.35): list and show for the project's and the
//! shared networks, admin create, delete and the `disassociate` actions;
//! `/os-tenant-networks` (2.1-2.35): the caller's networks, short form.

use super::floating_ips::proxy_api;
use super::views::micro_isotime;
use crate::compute::api::NetworkShape;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Network, NetworkCreate};
use serde_json::{json, Map, Value};

fn own_project(ctx: &RequestContext) -> Target {
    Target::project(ctx.project_id.as_deref().unwrap_or_default())
}

/// Nova's `network_dict`: the fields every user sees, and for an admin the
/// system ones too; `id` is the network's uuid.
pub fn network_dict(ctx: &RequestContext, n: &Network) -> Value {
    let mut m = Map::new();
    let opt = |s: &str| {
        if s.is_empty() {
            Value::Null
        } else {
            json!(s)
        }
    };
    m.insert("id".into(), json!(n.uuid.to_string()));
    m.insert("cidr".into(), opt(&n.cidr));
    m.insert("netmask".into(), opt(&n.netmask));
    m.insert("gateway".into(), opt(&n.gateway));
    m.insert("broadcast".into(), opt(&n.broadcast));
    m.insert("dns1".into(), json!(n.dns1));
    m.insert("dns2".into(), json!(n.dns2));
    m.insert("cidr_v6".into(), Value::Null);
    m.insert("gateway_v6".into(), Value::Null);
    m.insert("label".into(), json!(n.label));
    m.insert("netmask_v6".into(), Value::Null);
    if ctx.is_admin {
        for (k, v) in [
            ("created_at", micro_isotime(n.created_at)),
            ("updated_at", micro_isotime(n.updated_at)),
            ("deleted_at", Value::Null),
            ("deleted", json!(false)),
            ("injected", json!(false)),
            ("bridge", opt(&n.bridge)),
            ("vlan", Value::Null),
            ("vpn_public_address", Value::Null),
            ("vpn_public_port", Value::Null),
            ("vpn_private_address", Value::Null),
            ("dhcp_start", opt(&n.dhcp_start)),
            ("project_id", json!(n.project_id)),
            ("host", json!(n.host)),
            ("bridge_interface", json!(n.bridge_interface)),
            ("multi_host", json!(n.multi_host)),
            ("priority", json!(n.priority)),
            ("rxtx_base", Value::Null),
            ("mtu", Value::Null),
            ("dhcp_server", opt(&n.gateway)),
            ("enable_dhcp", json!(true)),
            ("share_address", json!(false)),
        ] {
            m.insert(k.into(), v);
        }
    }
    Value::Object(m)
}

fn network_not_found(e: NovaError) -> ApiError {
    match e {
        NovaError::NetworkNotFound { .. } => ApiError::not_found("Network not found"),
        other => other.into(),
    }
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state
        .policy
        .authorize("os_compute_api:os-networks:list", &ctx, &own_project(&ctx))?;
    let nets = state.compute_api.get_all_networks(&ctx).await?;
    Ok(Json(json!({
        "networks": nets.iter().map(|n| network_dict(&ctx, n)).collect::<Vec<_>>()
    })))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state
        .policy
        .authorize("os_compute_api:os-networks:view", &ctx, &own_project(&ctx))?;
    let n = state
        .compute_api
        .get_network(&ctx, &id)
        .await
        .map_err(network_not_found)?;
    Ok(Json(json!({"network": network_dict(&ctx, &n)})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-networks:delete",
        &ctx,
        &own_project(&ctx),
    )?;
    state
        .compute_api
        .delete_network(&ctx, &id)
        .await
        .map_err(|e| match e {
            NovaError::NetworkInUse { .. } => ApiError::conflict(e.to_string()),
            other => network_not_found(other),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// A string field of the create body (1-255 characters), if present.
fn string_field(o: &Map<String, Value>, k: &str) -> ApiResult<Option<String>> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if !s.is_empty() && s.len() <= 255 => Ok(Some(s.clone())),
        Some(other) => Err(invalid(k, other, "must be a string of 1-255 characters")),
    }
}

/// Nova's `networks.create` schema: the fields of a network, each of its
/// type, nothing else.
const CREATE_FIELDS: &[&str] = &[
    "label",
    "ipam",
    "cidr",
    "cidr_v6",
    "project_id",
    "multi_host",
    "gateway",
    "gateway_v6",
    "bridge",
    "bridge_interface",
    "dns1",
    "dns2",
    "dhcp_server",
    "fixed_cidr",
    "allowed_start",
    "allowed_end",
    "enable_dhcp",
    "share_address",
    "mtu",
    "vlan",
    "vlan_start",
    "vpn_start",
];

/// An IPv4 address field (`parameter_types.ipv4`), if present.
fn ipv4_field(o: &Map<String, Value>, k: &str) -> ApiResult<Option<String>> {
    match o.get(k) {
        None => Ok(None),
        Some(Value::String(a)) if a.parse::<std::net::Ipv4Addr>().is_ok() => Ok(Some(a.clone())),
        Some(other) => Err(invalid(k, other, &format!("{other} is not a 'ipv4'"))),
    }
}

/// A CIDR field (`parameter_types.cidr`), if present.
fn cidr_field(o: &Map<String, Value>, k: &str) -> ApiResult<Option<String>> {
    match o.get(k) {
        None => Ok(None),
        Some(Value::String(c)) if valid_cidr(c) => Ok(Some(c.clone())),
        Some(other) => Err(invalid(k, other, &format!("{other} is not a 'cidr'"))),
    }
}

/// `POST /os-networks` (admin): one network, as nova-network's
/// `create_networks` lays it out (gateway, DHCP start, reserved addresses).
/// What only nova-network's VlanManager reads (`vlan`, `vlan_start`,
/// `vpn_start`) is accepted and unused, as under Nova's FlatDHCPManager;
/// what this nova-network does not serve (IPv6, an MTU, a DHCP server other
/// than the gateway, a network without DHCP or with a shared DHCP address)
/// is a 400 that says so.
pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-networks:create",
        &ctx,
        &own_project(&ctx),
    )?;
    let body = json_body(&body)?;
    let Some(outer) = body.as_object() else {
        return Err(invalid("body", &body, "is not of type 'object'"));
    };
    if let Some(extra) = outer.keys().find(|k| k.as_str() != "network") {
        return Err(invalid(
            "body",
            &body,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let Some(net) = outer.get("network") else {
        return Err(invalid("body", &body, "'network' is a required property"));
    };
    let Some(o) = net.as_object() else {
        return Err(invalid("network", net, "is not of type 'object'"));
    };
    if let Some(extra) = o.keys().find(|k| !CREATE_FIELDS.contains(&k.as_str())) {
        return Err(invalid(
            "network",
            net,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let Some(label) = string_field(o, "label")? else {
        return Err(invalid("network", net, "'label' is a required property"));
    };
    // The booleans, each parsed once (`ipam` only checked: one network is
    // made either way).
    let mut flags = [None; 4];
    for (i, k) in ["ipam", "multi_host", "enable_dhcp", "share_address"]
        .into_iter()
        .enumerate()
    {
        flags[i] = o
            .get(k)
            .map(|b| crate::openstack::common::parse_boolean(k, b))
            .transpose()?;
    }
    let [ipam, multi_host, enable_dhcp, share_address] = flags;
    let unsupported = |what: &str| {
        Err(ApiError::bad_request(format!(
            "{what} is not supported by this cloud's nova-network"
        )))
    };
    let cidr = cidr_field(o, "cidr")?;
    if cidr_field(o, "cidr_v6")?.is_some() || o.contains_key("gateway_v6") {
        return unsupported("IPv6");
    }
    let Some(cidr) = cidr else {
        return Err(ApiError::bad_request(
            "Invalid input received: Either cidr or cidr_v6 must be given",
        ));
    };
    let gateway = ipv4_field(o, "gateway")?;
    let dns1 = ipv4_field(o, "dns1")?;
    let dns2 = ipv4_field(o, "dns2")?;
    if let Some(server) = ipv4_field(o, "dhcp_server")? {
        if gateway.as_deref() != Some(server.as_str()) {
            return unsupported("A DHCP server other than the gateway");
        }
    }
    let fixed_cidr = cidr_field(o, "fixed_cidr")?;
    let allowed_start = ipv4_field(o, "allowed_start")?;
    let allowed_end = ipv4_field(o, "allowed_end")?;
    if enable_dhcp == Some(false) {
        return unsupported("A network without DHCP");
    }
    if share_address == Some(true) {
        return unsupported("A shared DHCP address");
    }
    for k in ["mtu", "vlan", "vlan_start"] {
        positive_integer(o, k)?;
    }
    if o.get("mtu").is_some_and(|m| m != "") {
        return unsupported("A network MTU");
    }
    if let Some(vpn) = o.get("vpn_start").filter(|v| !v.is_string()) {
        return Err(invalid("vpn_start", vpn, "is not of type 'string'"));
    }
    let values = NetworkCreate {
        label,
        cidr,
        bridge: string_field(o, "bridge")?
            .unwrap_or_else(|| state.cfg.default.flat_network_bridge.clone()),
        bridge_interface: string_field(o, "bridge_interface")?
            .or_else(|| Some(state.cfg.default.flat_interface.clone()).filter(|s| !s.is_empty())),
        dns1: state.cfg.default.network_dns1(dns1),
        dns2,
        multi_host: multi_host.unwrap_or(false),
        project_id: string_field(o, "project_id")?,
        gateway,
        fixed_cidr,
        allowed_start,
        allowed_end,
        ..Default::default()
    };
    let n = state
        .compute_api
        .create_network(
            &ctx,
            values,
            NetworkShape {
                ipam: ipam.unwrap_or(false),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| match e {
            NovaError::InvalidInput { .. }
            | NovaError::InvalidCidr { .. }
            | NovaError::InvalidAddress { .. }
            | NovaError::AddressOutOfRange { .. } => ApiError::bad_request(e.to_string()),
            NovaError::CidrConflict { .. } => ApiError::conflict(e.to_string()),
            other => other.into(),
        })?;
    Ok(Json(json!({"network": network_dict(&ctx, &n)})))
}

/// `POST /os-networks/{id}/action`: `disassociate` (project and host),
/// `disassociate_project`, `disassociate_host`, `associate_host`.
pub async fn action(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Response> {
    proxy_api(v)?;
    let body = json_body(&body)?;
    let (name, arg) = crate::openstack::common::the_action(&body)?;
    let (rule, project, host) = match name {
        "disassociate" => ("os_compute_api:os-networks:disassociate", true, Some(None)),
        "disassociate_project" => (
            "os_compute_api:os-networks-associate:disassociate_project",
            true,
            None,
        ),
        "disassociate_host" => (
            "os_compute_api:os-networks-associate:disassociate_host",
            false,
            Some(None),
        ),
        "associate_host" => match arg {
            Value::String(h) if !h.is_empty() && h.len() <= 255 => (
                "os_compute_api:os-networks-associate:associate_host",
                false,
                Some(Some(h.clone())),
            ),
            other => {
                return Err(invalid(
                    "associate_host",
                    other,
                    "must be a host name of 1-255 characters",
                ))
            }
        },
        other => {
            return Err(ApiError::bad_request(format!(
                "There is no such action: {other}"
            )))
        }
    };
    state.policy.authorize(rule, &ctx, &own_project(&ctx))?;
    let api = &state.compute_api;
    if project {
        api.associate_network_project(&ctx, &id, None)
            .await
            .map_err(network_not_found)?;
    }
    if let Some(host) = host {
        api.associate_network_host(&ctx, &id, host)
            .await
            .map_err(network_not_found)?;
    }
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `POST /os-networks/add`: a network (`id`, or any shared one) to the
/// caller's project.
pub async fn add(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Response> {
    proxy_api(v)?;
    state
        .policy
        .authorize("os_compute_api:os-networks:add", &ctx, &own_project(&ctx))?;
    let body = json_body(&body)?;
    let id = match body.get("id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => return Err(invalid("id", other, "is not of type 'string', 'null'")),
    };
    state
        .compute_api
        .add_network_to_project(&ctx, id.as_deref())
        .await
        .map_err(|e| match e {
            NovaError::NetworkNotFound { network_id } => {
                ApiError::bad_request(format!("Network could not be found for uuid {network_id}"))
            }
            NovaError::InvalidRequest { reason } => ApiError::bad_request(reason),
            other => other.into(),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// `os-tenant-networks`' short form.
fn tenant_network(n: &Network) -> Value {
    json!({"id": n.uuid.to_string(), "cidr": n.cidr, "label": n.label})
}

pub async fn tenant_index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-tenant-networks:list",
        &ctx,
        &own_project(&ctx),
    )?;
    let nets = state.compute_api.get_tenant_networks(&ctx).await?;
    Ok(Json(json!({
        "networks": nets.iter().map(tenant_network).collect::<Vec<_>>()
    })))
}

pub async fn tenant_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-tenant-networks:show",
        &ctx,
        &own_project(&ctx),
    )?;
    let n = state
        .compute_api
        .get_network(&ctx, &id)
        .await
        .map_err(network_not_found)?;
    Ok(Json(json!({"network": tenant_network(&n)})))
}

/// `POST /os-tenant-networks` (Nova's tenant network `create`, schema
/// `tenant_networks.create`): `label` and `cidr` (`cidr_v6` is refused:
/// no IPv6 here), the other fields of the old schema accepted and unused.
pub async fn tenant_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-tenant-networks:create",
        &ctx,
        &own_project(&ctx),
    )?;
    let body = json_body(&body)?;
    let Some(outer) = body.as_object() else {
        return Err(invalid("body", &body, "is not of type 'object'"));
    };
    let Some(net) = outer.get("network") else {
        return Err(invalid("body", &body, "'network' is a required property"));
    };
    if let Some(extra) = outer.keys().find(|k| k.as_str() != "network") {
        return Err(invalid(
            "body",
            &body,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let Some(o) = net.as_object() else {
        return Err(invalid("network", net, "is not of type 'object'"));
    };
    const FIELDS: &[&str] = &[
        "label",
        "ipam",
        "cidr",
        "cidr_v6",
        "vlan_start",
        "network_size",
        "num_networks",
    ];
    if let Some(extra) = o.keys().find(|k| !FIELDS.contains(&k.as_str())) {
        return Err(invalid(
            "network",
            net,
            &format!("Additional properties are not allowed ('{extra}' was unexpected)"),
        ));
    }
    let Some(label) = string_field(o, "label")? else {
        return Err(invalid("network", net, "'label' is a required property"));
    };
    let cidr = match o.get("cidr") {
        Some(Value::String(c)) if valid_cidr(c) => c.clone(),
        Some(other) => {
            return Err(invalid(
                "network/cidr",
                other,
                &format!("{other} is not a 'cidr'"),
            ))
        }
        None if o.contains_key("cidr_v6") => {
            return Err(ApiError::bad_request(
                "IPv6 networks are not supported here",
            ))
        }
        None => {
            return Err(invalid(
                "network",
                net,
                &format!("{net} is not valid under any of the given schemas"),
            ))
        }
    };
    // How the range is cut (`vlan_start` only checked: no VLANs here).
    positive_integer(o, "vlan_start")?;
    let shape = NetworkShape {
        num_networks: positive_integer(o, "num_networks")?,
        network_size: positive_integer(o, "network_size")?,
        ipam: o
            .get("ipam")
            .map(|b| crate::openstack::common::parse_boolean("ipam", b))
            .transpose()?
            .unwrap_or(false),
    };
    let values = NetworkCreate {
        label,
        cidr,
        bridge: state.cfg.default.flat_network_bridge.clone(),
        bridge_interface: Some(state.cfg.default.flat_interface.clone()).filter(|s| !s.is_empty()),
        dns1: state.cfg.default.network_dns1(None),
        dns2: None,
        multi_host: false,
        project_id: None,
        ..Default::default()
    };
    let n = state
        .compute_api
        .create_tenant_network(&ctx, values, shape)
        .await
        .map_err(|e| match e {
            NovaError::InvalidInput { reason } => ApiError::bad_request(reason),
            NovaError::CidrConflict { .. } => ApiError::conflict(e.to_string()),
            other => {
                tracing::error!("Create networks failed: {other}");
                ApiError::new(503, "Create networks failed")
            }
        })?;
    Ok(Json(json!({"network": tenant_network(&n)})))
}

/// Nova's `positive_integer_with_empty_str`: an integer of at least 1, as
/// a number or a string; an empty string is none.
fn positive_integer(o: &Map<String, Value>, k: &str) -> ApiResult<Option<u64>> {
    match o.get(k) {
        None => Ok(None),
        Some(Value::String(e)) if e.is_empty() => Ok(None),
        Some(Value::Number(n)) if n.as_u64().is_some_and(|n| n >= 1) => Ok(n.as_u64()),
        Some(Value::String(n)) if n.parse::<u64>().is_ok_and(|n| n >= 1) => Ok(n.parse().ok()),
        Some(other) => Err(invalid(
            k,
            other,
            &format!("{other} is not a positive integer"),
        )),
    }
}

/// An IPv4 `a.b.c.d/n` (`parameter_types.cidr`).
fn valid_cidr(c: &str) -> bool {
    c.split_once('/').is_some_and(|(a, p)| {
        a.parse::<std::net::Ipv4Addr>().is_ok() && p.parse::<u8>().is_ok_and(|p| p <= 32)
    })
}

/// `DELETE /os-tenant-networks/{id}`: 202; 404 for a network the caller
/// does not own, 409 while it has allocated addresses.
pub async fn tenant_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    proxy_api(v)?;
    state.policy.authorize(
        "os_compute_api:os-tenant-networks:delete",
        &ctx,
        &own_project(&ctx),
    )?;
    state
        .compute_api
        .delete_tenant_network(&ctx, &id)
        .await
        .map_err(|e| match e {
            NovaError::NetworkInUse { .. } => ApiError::conflict(e.to_string()),
            other => network_not_found(other),
        })?;
    Ok(StatusCode::ACCEPTED.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_see_fewer_fields_than_admins() {
        let n = Network {
            label: "private".into(),
            cidr: "10.0.0.0/24".into(),
            bridge: "br100".into(),
            ..Default::default()
        };
        let user = RequestContext::new("u", "p", vec!["member".into()], false);
        let d = network_dict(&user, &n);
        assert_eq!(d["label"], "private");
        assert_eq!(d["cidr"], "10.0.0.0/24");
        assert!(d.get("bridge").is_none());
        assert_eq!(d.as_object().map(|o| o.len()), Some(11));
        let d = network_dict(&RequestContext::admin(), &n);
        assert_eq!(d["bridge"], "br100");
        assert_eq!(d.as_object().map(|o| o.len()), Some(32));
    }
}
