//! `/os-server-groups`: create, list (`all_projects` for admins, offset
//! and limit), show, delete. The body per microversion: `policies` and an
//! empty `metadata` before 2.64, `policy` and `rules` from 2.64;
//! `project_id` and `user_id` from 2.13; soft policies from 2.15.

use crate::compute::api::ServerGroupCreate;
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, object_of, param};
use crate::policy::Target;
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use nova_common::{NovaError, RequestContext};
use nova_objects::InstanceGroup;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

type Params = Query<Vec<(String, String)>>;

fn rule(action: &str) -> String {
    format!("os_compute_api:os-server-groups:{action}")
}

fn group_error(e: NovaError) -> ApiError {
    match e {
        NovaError::InstanceGroupNotFound { .. } => ApiError::not_found(e.to_string()),
        NovaError::ServerGroupLimitExceeded {} => ApiError::new(403, e.to_string()),
        NovaError::InvalidInput { reason } => ApiError::bad_request(reason),
        other => other.into(),
    }
}

/// Nova's `_format_server_group`.
pub fn server_group_view(g: &InstanceGroup, v: ApiVersion) -> Value {
    let mut o = Map::new();
    o.insert("id".into(), json!(g.uuid));
    o.insert("name".into(), json!(g.name));
    if v.at_least(64) {
        o.insert("policy".into(), json!(g.policy));
        o.insert("rules".into(), json!(g.rules));
    } else {
        o.insert("policies".into(), json!([g.policy]));
        o.insert("metadata".into(), json!({}));
    }
    o.insert("members".into(), json!(g.members));
    if v.at_least(13) {
        o.insert("project_id".into(), json!(g.project_id));
        o.insert("user_id".into(), json!(g.user_id));
    }
    Value::Object(o)
}

/// The create body, as Nova's schemas per microversion take it.
fn parse_create(body: &Value, v: ApiVersion) -> ApiResult<ServerGroupCreate> {
    let Some(sg) = body.get("server_group") else {
        return Err(invalid(
            "body",
            body,
            "'server_group' is a required property",
        ));
    };
    let allowed: &[&str] = if v.at_least(64) {
        &["name", "policy", "rules"]
    } else {
        &["name", "policies"]
    };
    let obj = object_of("server_group", sg, |k| allowed.contains(&k))?;
    let name = match obj.get("name") {
        None => return Err(invalid("server_group", sg, "'name' is a required property")),
        Some(Value::String(n)) if !n.is_empty() && n.chars().count() <= 255 && n.trim() == n => {
            n.clone()
        }
        Some(other) => {
            return Err(invalid(
                "name",
                other,
                "is not a valid name: 1 to 255 characters, no leading or trailing whitespace",
            ))
        }
    };
    let known: &[&str] = if v.at_least(15) {
        InstanceGroup::POLICIES
    } else {
        &["anti-affinity", "affinity"]
    };
    let one_of = |field: &str, p: &Value| -> ApiResult<String> {
        match p.as_str() {
            Some(s) if known.contains(&s) => Ok(s.to_string()),
            _ => Err(invalid(field, p, &format!("{p} is not one of {known:?}"))),
        }
    };
    if v.at_least(64) {
        let Some(p) = obj.get("policy") else {
            return Err(invalid(
                "server_group",
                sg,
                "'policy' is a required property",
            ));
        };
        let policy = one_of("policy", p)?;
        let mut rules = BTreeMap::new();
        if let Some(r) = obj.get("rules") {
            let Some(r) = r.as_object() else {
                return Err(invalid("rules", r, &format!("{r} is not of type 'object'")));
            };
            for (k, val) in r {
                if k != "max_server_per_host" {
                    return Err(invalid(
                        "rules",
                        &Value::Object(r.clone()),
                        &format!("Additional properties are not allowed ('{k}' was unexpected)"),
                    ));
                }
                // parameter_types.positive_integer: an integer or its string, >= 1.
                let n = match val {
                    Value::Number(n) => n.as_i64(),
                    Value::String(s) => s.parse::<i64>().ok(),
                    _ => None,
                };
                match n {
                    Some(n) if n >= 1 => {
                        rules.insert(k.clone(), n);
                    }
                    _ => {
                        return Err(invalid(
                            "rules/max_server_per_host",
                            val,
                            &format!("{val} is not a positive integer"),
                        ))
                    }
                }
            }
        }
        Ok(ServerGroupCreate {
            name,
            policy,
            rules,
        })
    } else {
        let Some(p) = obj.get("policies") else {
            return Err(invalid(
                "server_group",
                sg,
                "'policies' is a required property",
            ));
        };
        let list = match p.as_array() {
            Some(l) if l.len() == 1 => l,
            _ => {
                return Err(invalid(
                    "policies",
                    p,
                    "must be a list of exactly one policy",
                ))
            }
        };
        Ok(ServerGroupCreate {
            name,
            policy: one_of("policies", &list[0])?,
            rules: BTreeMap::new(),
        })
    }
}

pub async fn create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let body = json_body(&body)?;
    let req = parse_create(&body, v)?;
    state
        .policy
        .authorize(&rule("create"), &ctx, &Target::own(&ctx))?;
    let g = state
        .compute_api
        .create_server_group(&ctx, req)
        .await
        .map_err(group_error)?;
    Ok(Json(json!({"server_group": server_group_view(&g, v)})))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    state
        .policy
        .authorize(&rule("index"), &ctx, &Target::own(&ctx))?;
    // Nova: a non-admin asking for all projects gets their own.
    let all_projects = param(&p, "all_projects").is_some() && ctx.is_admin;
    if all_projects {
        state
            .policy
            .authorize(&rule("index:all_projects"), &ctx, &Target::own(&ctx))?;
    }
    let mut groups = state
        .compute_api
        .get_server_groups(&ctx, all_projects)
        .await
        .map_err(group_error)?;
    // Nova's `common.limited`: offset, then at most min(limit, max_limit).
    let num = |k: &str| -> ApiResult<Option<usize>> {
        param(&p, k)
            .map(|s| {
                s.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("{k} param must be an integer")))
            })
            .transpose()
    };
    let offset = num("offset")?.unwrap_or(0);
    groups.drain(..offset.min(groups.len()));
    let max = state.cfg.api.max_limit;
    // Nova's `common.limited`: a limit of 0 is no limit.
    groups.truncate(num("limit")?.filter(|l| *l > 0).unwrap_or(max).min(max));
    let list: Vec<Value> = groups.iter().map(|g| server_group_view(g, v)).collect();
    Ok(Json(json!({ "server_groups": list })))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let g = state
        .compute_api
        .get_server_group(&ctx, &id)
        .await
        .map_err(group_error)?;
    state
        .policy
        .authorize(&rule("show"), &ctx, &Target::project(&g.project_id))?;
    Ok(Json(json!({"server_group": server_group_view(&g, v)})))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let g = state
        .compute_api
        .get_server_group(&ctx, &id)
        .await
        .map_err(group_error)?;
    state
        .policy
        .authorize(&rule("delete"), &ctx, &Target::project(&g.project_id))?;
    state
        .compute_api
        .delete_server_group(&ctx, &g)
        .await
        .map_err(group_error)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(minor: u32) -> ApiVersion {
        ApiVersion::new(2, minor)
    }

    #[test]
    fn create_bodies_per_microversion() {
        let old = json!({"server_group": {"name": "g", "policies": ["anti-affinity"]}});
        assert_eq!(
            parse_create(&old, v(1)).expect("2.1").policy,
            "anti-affinity"
        );
        let soft = json!({"server_group": {"name": "g", "policies": ["soft-affinity"]}});
        assert!(parse_create(&soft, v(14)).is_err());
        assert_eq!(
            parse_create(&soft, v(15)).expect("2.15").policy,
            "soft-affinity"
        );
        // 2.64: `policy` and `rules`, no `policies`.
        assert!(parse_create(&old, v(64)).is_err());
        let new = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 2}}});
        let req = parse_create(&new, v(64)).expect("2.64");
        assert_eq!(req.rules.get("max_server_per_host"), Some(&2));
        assert!(parse_create(&new, v(63)).is_err());
        let zero = json!({"server_group": {"name": "g", "policy": "anti-affinity",
            "rules": {"max_server_per_host": 0}}});
        assert!(parse_create(&zero, v(64)).is_err());
        let two = json!({"server_group": {"name": "g", "policies": ["affinity", "anti-affinity"]}});
        assert!(parse_create(&two, v(1)).is_err());
        let blank = json!({"server_group": {"name": " g", "policies": ["affinity"]}});
        assert!(parse_create(&blank, v(1)).is_err());
    }

    #[test]
    fn views_per_microversion() {
        let g = InstanceGroup {
            name: Some("g".into()),
            policy: "affinity".into(),
            project_id: "p".into(),
            user_id: "u".into(),
            ..Default::default()
        };
        let old = server_group_view(&g, v(1));
        assert_eq!(old["policies"], json!(["affinity"]));
        assert_eq!(old["metadata"], json!({}));
        assert!(old.get("project_id").is_none());
        assert_eq!(server_group_view(&g, v(13))["user_id"], "u");
        let new = server_group_view(&g, v(64));
        assert_eq!(new["policy"], "affinity");
        assert_eq!(new["rules"], json!({}));
        assert!(new.get("policies").is_none() && new.get("metadata").is_none());
    }
}
