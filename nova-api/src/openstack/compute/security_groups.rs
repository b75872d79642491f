//! nova-network's security groups: `/os-security-groups` (CRUD),
//! `/os-security-group-rules` (create, delete), `/servers/{id}/os-security-groups`,
//! the `addSecurityGroup`/`removeSecurityGroup` server actions, and
//! `/os-security-group-default-rules` (admin). The proxy resources answer up
//! to microversion 2.35 and 404 above, as upstream.
//!
//! Handlers parse and render; the rules live in
//! [`SecurityGroupAPI`](crate::compute::api::SecurityGroupAPI).

use super::servers::get_instance;
use super::views::security_groups as views;
use crate::compute::api::security_groups::{
    check_cidr_prefix, new_ingress_rule, parse_cidr, validate_id, validate_property, Arg, Grantee,
};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{json_body, param};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, SecurityGroupDefaultRule};
use serde_json::{json, Value};

type Params = Query<Vec<(String, String)>>;

const POLICY: &str = "os_compute_api:os-security-groups";
const DEFAULT_RULES_POLICY: &str = "os_compute_api:os-security-group-default-rules";

/// The last microversion of nova-network's proxy APIs.
const MAX_PROXY_API_SUPPORT_VERSION: u32 = 35;

fn proxy_version(v: ApiVersion) -> ApiResult<()> {
    if v.at_least(MAX_PROXY_API_SUPPORT_VERSION + 1) {
        return Err(super::floating_ips::version_not_found());
    }
    Ok(())
}

fn authorize(state: &AppState, ctx: &RequestContext) -> ApiResult<()> {
    let project = ctx.project_id.clone().unwrap_or_default();
    state
        .policy
        .authorize(POLICY, ctx, &Target::project(&project))
}

/// The faults of SecurityGroupAPI, as Nova's controllers map them.
fn sg_error(e: NovaError) -> ApiError {
    match e {
        NovaError::SecurityGroupLimitExceeded {} => ApiError::new(403, e.to_string()),
        NovaError::SecurityGroupNotFound { .. }
        | NovaError::SecurityGroupNotFoundForProject { .. }
        | NovaError::SecurityGroupNotFoundForRule { .. }
        | NovaError::SecurityGroupDefaultRuleNotFound { .. }
        | NovaError::InstanceNotFound { .. } => ApiError::not_found(e.to_string()),
        other => other.into(),
    }
}

/// Nova's `_from_body`.
fn from_body<'a>(body: &'a Value, key: &str) -> ApiResult<&'a Value> {
    if body.is_null() || body.as_object().is_some_and(|o| o.is_empty()) {
        return Err(ApiError::bad_request("The request body can't be empty"));
    }
    match body.get(key) {
        None | Some(Value::Null) => Err(ApiError::bad_request(format!("Missing parameter {key}"))),
        Some(v) => Ok(v),
    }
}

fn id_arg(id: &str) -> Arg {
    Arg::Text(id.to_string())
}

// ----- /os-security-groups -----

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let all_tenants = param(&p, "all_tenants").is_some();
    let mut groups = state
        .security_group_api
        .list(&ctx, all_tenants)
        .await
        .map_err(sg_error)?;
    // Nova's `index_query` (non-negative integers) and `common.limited`:
    // no limit, or 0, is `[api] max_limit`, as is anything above it.
    let num = |k: &str| -> ApiResult<Option<usize>> {
        param(&p, k)
            .map(|s| {
                s.parse::<usize>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit())).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters {k}. Value: {s}. '{s}' does not match '^[0-9]*$'"
                    ))
                })
            })
            .transpose()
    };
    let offset = num("offset")?.unwrap_or(0);
    let max = state.cfg.api.max_limit;
    let limit = num("limit")?.filter(|l| *l > 0).unwrap_or(max).min(max);
    groups.drain(..offset.min(groups.len()));
    groups.truncate(limit);
    Ok(Json(json!({"security_groups": views::groups(&groups)})))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let id = validate_id(&id_arg(&id))?;
    let g = state
        .security_group_api
        .get(&ctx, id)
        .await
        .map_err(sg_error)?;
    Ok(Json(json!({"security_group": views::group(&g)})))
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let body = json_body(&body)?;
    let sg = from_body(&body, "security_group")?;
    let name = validate_property(sg.get("name"), "name")?;
    let description = validate_property(sg.get("description"), "description")?;
    let g = state
        .security_group_api
        .create_security_group(&ctx, &name, &description)
        .await
        .map_err(|e| match e {
            NovaError::SecurityGroupLimitExceeded {} => {
                ApiError::new(403, "Quota exceeded, too many security groups.")
            }
            NovaError::SecurityGroupExists { .. } => {
                ApiError::bad_request(format!("Security group {name} already exists"))
            }
            other => sg_error(other),
        })?;
    Ok(Json(json!({"security_group": views::group(&g)})))
}

pub async fn update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let id = validate_id(&id_arg(&id))?;
    let api = &state.security_group_api;
    let g = api.get(&ctx, id).await.map_err(sg_error)?;
    let body = json_body(&body)?;
    let sg = from_body(&body, "security_group")?;
    let name = validate_property(sg.get("name"), "name")?;
    let description = validate_property(sg.get("description"), "description")?;
    let g = api
        .update_security_group(&ctx, &g, &name, &description)
        .await
        .map_err(sg_error)?;
    Ok(Json(json!({"security_group": views::group(&g)})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let id = validate_id(&id_arg(&id))?;
    let api = &state.security_group_api;
    let g = api.get(&ctx, id).await.map_err(sg_error)?;
    api.destroy(&ctx, &g).await.map_err(sg_error)?;
    Ok(StatusCode::ACCEPTED)
}

// ----- /os-security-group-rules -----

pub async fn create_rule(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let body = json_body(&body)?;
    let r = from_body(&body, "security_group_rule")?;
    let api = &state.security_group_api;
    let parent_id = validate_id(&Arg::from_json(r.get("parent_group_id")))?;
    let parent = api.get(&ctx, parent_id).await.map_err(sg_error)?;
    let group_id = Arg::from_json(r.get("group_id"));
    let grantee = if group_id.is_missing() {
        Grantee::Cidr(parse_cidr(&Arg::from_json(r.get("cidr")))?)
    } else {
        let gid = validate_id(&group_id)?;
        api.get(&ctx, gid).await.map_err(sg_error)?;
        Grantee::Group(gid)
    };
    let rule = new_ingress_rule(
        grantee,
        &Arg::from_json(r.get("ip_protocol")),
        &Arg::from_json(r.get("from_port")),
        &Arg::from_json(r.get("to_port")),
    )?
    .ok_or_else(|| ApiError::bad_request("Not enough parameters to build a valid rule."))?;
    if let Some(c) = &rule.cidr {
        check_cidr_prefix(c)?;
    }
    let created = api
        .create_security_group_rule(&ctx, &parent, rule)
        .await
        .map_err(|e| match e {
            NovaError::SecurityGroupLimitExceeded {} => {
                ApiError::new(403, "Quota exceeded, too many security group rules.")
            }
            NovaError::SecurityGroupRuleExists { .. } => {
                ApiError::bad_request(format!("This rule already exists in group {}", parent.id))
            }
            other => sg_error(other),
        })?;
    // The source group's name and project, as the request named it.
    let created = match created.group_id {
        Some(gid) if created.grantee_group.is_none() => {
            let g = api.get(&ctx, gid).await.map_err(sg_error)?;
            nova_objects::SecurityGroupRule {
                grantee_group: Some(nova_objects::GranteeGroup {
                    id: g.id,
                    name: g.name,
                    project_id: g.project_id,
                    member_ips: vec![],
                }),
                ..created
            }
        }
        _ => created,
    };
    Ok(Json(json!({"security_group_rule": views::rule(&created)})))
}

pub async fn delete_rule(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    proxy_version(v)?;
    authorize(&state, &ctx)?;
    let id = validate_id(&id_arg(&id))?;
    let api = &state.security_group_api;
    let rule = api.get_rule(&ctx, id).await.map_err(|e| match e {
        NovaError::SecurityGroupNotFoundForRule { .. } => {
            ApiError::not_found(format!("Rule ({id}) not found"))
        }
        other => sg_error(other),
    })?;
    let group = api
        .get(&ctx, rule.parent_group_id)
        .await
        .map_err(sg_error)?;
    api.remove_rules(&ctx, &group, &[rule.id])
        .await
        .map_err(sg_error)?;
    Ok(StatusCode::ACCEPTED)
}

// ----- /servers/{id}/os-security-groups and the server actions -----

pub async fn server_index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(server_id): Path<String>,
) -> ApiResult<Json<Value>> {
    authorize(&state, &ctx)?;
    let api = &state.security_group_api;
    api.ensure_default(&ctx).await.map_err(sg_error)?;
    let inst = get_instance(&state, &ctx, &server_id).await?;
    let groups = api
        .get_instance_security_groups(&ctx, &inst)
        .await
        .map_err(sg_error)?;
    Ok(Json(json!({"security_groups": views::groups(&groups)})))
}

/// The group name of an `addSecurityGroup`/`removeSecurityGroup` body.
fn action_group_name(args: &Value) -> ApiResult<String> {
    let Some(obj) = args.as_object() else {
        return Err(ApiError::bad_request("Missing parameter dict"));
    };
    let name = match obj.get("name") {
        None => return Err(ApiError::bad_request("Security group not specified")),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) => String::new(),
        Some(other) => other.to_string(),
    };
    if name.trim().is_empty() {
        return Err(ApiError::bad_request("Security group name cannot be empty"));
    }
    Ok(name)
}

/// `addSecurityGroup` (`add` = true) or `removeSecurityGroup`: 202.
pub async fn server_action(
    state: &AppState,
    ctx: &RequestContext,
    inst: &Instance,
    args: &Value,
    add: bool,
) -> ApiResult<Response> {
    authorize(state, ctx)?;
    let name = action_group_name(args)?;
    let api = &state.security_group_api;
    let res = if add {
        api.add_to_instance(ctx, inst, &name).await
    } else {
        api.remove_from_instance(ctx, inst, &name).await
    };
    res.map_err(sg_error)?;
    Ok(StatusCode::ACCEPTED.into_response())
}

// ----- /os-security-group-default-rules (admin) -----

fn authorize_default_rules(state: &AppState, ctx: &RequestContext) -> ApiResult<()> {
    let project = ctx.project_id.clone().unwrap_or_default();
    state
        .policy
        .authorize(DEFAULT_RULES_POLICY, ctx, &Target::project(&project))
}

pub async fn default_rules_index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize_default_rules(&state, &ctx)?;
    let rules = state
        .security_group_api
        .get_all_default_rules(&ctx)
        .await
        .map_err(sg_error)?;
    Ok(Json(
        json!({"security_group_default_rules": rules.iter().map(views::default_rule).collect::<Vec<_>>()}),
    ))
}

pub async fn default_rules_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize_default_rules(&state, &ctx)?;
    let id = validate_id(&id_arg(&id))?;
    let rule = state
        .security_group_api
        .get_default_rule(&ctx, id)
        .await
        .map_err(sg_error)?;
    Ok(Json(
        json!({"security_group_default_rule": views::default_rule(&rule)}),
    ))
}

pub async fn default_rules_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    proxy_version(v)?;
    authorize_default_rules(&state, &ctx)?;
    let body = json_body(&body)?;
    let r = from_body(&body, "security_group_default_rule")?;
    let cidr = parse_cidr(&Arg::from_json(r.get("cidr")))?;
    let rule = new_ingress_rule(
        Grantee::Cidr(cidr),
        &Arg::from_json(r.get("ip_protocol")),
        &Arg::from_json(r.get("from_port")),
        &Arg::from_json(r.get("to_port")),
    )?
    .ok_or_else(|| ApiError::bad_request("Not enough parameters to build a valid rule."))?;
    let rule = SecurityGroupDefaultRule {
        id: 0,
        protocol: rule.protocol,
        from_port: rule.from_port,
        to_port: rule.to_port,
        cidr: rule.cidr,
    };
    let api = &state.security_group_api;
    if api
        .default_rule_exists(&ctx, &rule)
        .await
        .map_err(sg_error)?
    {
        return Err(ApiError::conflict("This default rule already exists."));
    }
    let created = api.add_default_rule(&ctx, rule).await.map_err(sg_error)?;
    Ok(Json(
        json!({"security_group_default_rule": views::default_rule(&created)}),
    ))
}

pub async fn default_rules_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    proxy_version(v)?;
    authorize_default_rules(&state, &ctx)?;
    let id = validate_id(&id_arg(&id))?;
    state
        .security_group_api
        .remove_default_rule(&ctx, id)
        .await
        .map_err(sg_error)?;
    Ok(StatusCode::NO_CONTENT)
}
