//! `/flavors`: list, detail, show (read from the conductor, as Nova's
//! controller reads the Flavor objects).

use super::views::collection_links;
use super::views::flavors::{flavor_detail, flavor_summary};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{param, BaseUrl};
use crate::policy::Target;
use crate::AppState;
use axum::extract::{Path, Query, State};
use axum::{Extension, Json};
use nova_common::RequestContext;
use nova_objects::Flavor;
use serde_json::{json, Value};

type Params = Query<Vec<(String, String)>>;

async fn list(
    state: &AppState,
    ctx: &RequestContext,
    v: ApiVersion,
    p: &[(String, String)],
) -> ApiResult<Vec<Flavor>> {
    // Non-admins see public flavors; admins choose with is_public (true/false/None).
    let is_public = match (ctx.is_admin, param(p, "is_public")) {
        (false, _) => Some(true),
        (true, None) => Some(true),
        (true, Some(v)) => match v.to_ascii_lowercase().as_str() {
            "none" | "all" => None,
            "true" | "t" | "1" | "yes" | "y" | "on" => Some(true),
            "false" | "f" | "0" | "no" | "n" | "off" => Some(false),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "Invalid is_public filter [{v}]"
                )))
            }
        },
    };
    let mut flavors = state.compute_api.get_all_flavors(ctx, is_public).await?;
    flavors.retain(|f| !f.disabled);
    // 2.102: `name`, a regular expression found anywhere in the name (as
    // Nova's `~` on PostgreSQL); one that does not parse is a 400.
    if let Some(n) = param(p, "name").filter(|_| v.at_least(102)) {
        let re = name_filter(n)?;
        flavors.retain(|f| re.is_match(&f.name));
    }
    for (key, col) in [("minRam", 0), ("minDisk", 1)] {
        if let Some(v) = param(p, key) {
            let n: i64 = v
                .parse()
                .map_err(|_| ApiError::bad_request(format!("Invalid {key} filter [{v}]")))?;
            flavors.retain(|f| {
                if col == 0 {
                    f.memory_mb >= n
                } else {
                    f.root_gb >= n
                }
            });
        }
    }
    if let Some(m) = param(p, "marker") {
        let pos = flavors
            .iter()
            .position(|f| f.flavorid == m)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
        flavors.drain(..=pos);
    }
    if let Some(l) = param(p, "limit") {
        let n: usize = l
            .parse()
            .map_err(|_| ApiError::bad_request("limit param must be an integer"))?;
        flavors.truncate(n.min(state.cfg.api.max_limit));
    } else {
        flavors.truncate(state.cfg.api.max_limit);
    }
    Ok(flavors)
}

/// The `name` filter's regular expression, its compiled size bounded.
fn name_filter(pattern: &str) -> ApiResult<regex_automata::meta::Regex> {
    let config = regex_automata::meta::Config::new().nfa_size_limit(Some(1 << 20));
    regex_automata::meta::Regex::builder()
        .configure(config)
        .build(pattern)
        .map_err(|e| {
            ApiError::bad_request(format!(
                "Invalid regular expression in name filter: {pattern} ({e})"
            ))
        })
}

/// Whether flavor bodies carry `extra_specs` for this caller (2.61).
pub fn shows_extra_specs(state: &AppState, ctx: &RequestContext, v: ApiVersion) -> bool {
    v.at_least(61)
        && state.policy.allows(
            "os_compute_api:os-flavor-extra-specs:index",
            ctx,
            &Target::own(ctx),
        )
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let flavors = list(&state, &ctx, v, &p).await?;
    let body = json!({"flavors": flavors.iter().map(|f| flavor_summary(&base.0, f, v)).collect::<Vec<_>>()});
    Ok(Json(with_links(
        &state, &base, "flavors", &p, &flavors, body,
    )))
}

/// Nova's `flavors_links`: the next page's link when this one is full.
fn with_links(
    state: &AppState,
    base: &BaseUrl,
    collection: &str,
    p: &[(String, String)],
    flavors: &[Flavor],
    mut body: Value,
) -> Value {
    let last = flavors.last().map(|f| f.flavorid.clone());
    let max = state.cfg.api.max_limit;
    if let Some(l) = collection_links(&base.0, collection, p, max, flavors.len(), last) {
        body["flavors_links"] = l;
    }
    body
}

pub async fn detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    let flavors = list(&state, &ctx, v, &p).await?;
    let specs = shows_extra_specs(&state, &ctx, v);
    let body = json!({"flavors": flavors.iter().map(|f| flavor_detail(&base.0, f, v, specs)).collect::<Vec<_>>()});
    Ok(Json(with_links(
        &state,
        &base,
        "flavors/detail",
        &p,
        &flavors,
        body,
    )))
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let f = state.compute_api.get_flavor(&ctx, &id).await?;
    let specs = shows_extra_specs(&state, &ctx, v);
    Ok(Json(
        json!({"flavor": flavor_detail(&base.0, &f, v, specs)}),
    ))
}

#[cfg(test)]
mod tests {
    use super::name_filter;

    #[test]
    fn the_name_filter_is_a_regular_expression_found_anywhere() {
        let re = name_filter("^m1\\.(tiny|small)$").unwrap();
        assert!(re.is_match("m1.tiny") && re.is_match("m1.small"));
        assert!(!re.is_match("m1.medium") && !re.is_match("m1xtiny"));
        assert!(name_filter("tin").unwrap().is_match("m1.tiny"));
        assert!(name_filter("(unclosed").is_err());
    }
}
