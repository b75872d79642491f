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
use nova_objects::sort::SortDir;
use nova_objects::Flavor;
use serde_json::{json, Value};
use std::cmp::Ordering;

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
    // The marker is one of the flavors the caller may list, whatever the
    // filters below.
    let marker = match param(p, "marker") {
        Some(m) => Some(
            flavors
                .iter()
                .find(|f| f.flavorid == m)
                .cloned()
                .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?,
        ),
        None => None,
    };
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
    // Ordered by `sort_key` then `id`, both in `sort_dir` (Nova's
    // defaults: flavorid, ascending, the order the flavors come in); the
    // marker starts the page after it.
    let (key, dir) = flavor_sort(p, v)?;
    let order = |a: &Flavor, b: &Flavor| {
        let o = sort_value(a, key)
            .partial_cmp(&sort_value(b, key))
            .unwrap_or(Ordering::Equal)
            .then(a.id.cmp(&b.id));
        match dir {
            SortDir::Asc => o,
            SortDir::Desc => o.reverse(),
        }
    };
    if (key, dir) != ("flavorid", SortDir::Asc) {
        flavors.sort_by(order);
    }
    if let Some(marker) = &marker {
        flavors.retain(|f| order(f, marker) == Ordering::Greater);
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

/// Nova's flavor sort keys (`rxtx_factor` until 2.102).
const SORT_KEYS: &[&str] = &[
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
];

/// The listing's `sort_key` and `sort_dir` (the last of each given, every
/// one checked as Nova's schema checks them).
fn flavor_sort(p: &[(String, String)], v: ApiVersion) -> ApiResult<(&str, SortDir)> {
    let mut key = "flavorid";
    let mut dir = SortDir::Asc;
    for (k, val) in p {
        match k.as_str() {
            "sort_key" => {
                let keys = SORT_KEYS
                    .iter()
                    .filter(|k| !(**k == "rxtx_factor" && v.at_least(102)));
                if !keys.clone().any(|k| k == val) {
                    let allowed: Vec<&&str> = keys.collect();
                    return Err(ApiError::bad_request(format!(
                        "Invalid input for query parameters sort_key. Value: {val}. '{val}' is not one of {allowed:?}"
                    )));
                }
                key = val;
            }
            "sort_dir" => {
                dir = val.parse().map_err(|_| {
                    ApiError::bad_request(format!(
                        "Invalid input for query parameters sort_dir. Value: {val}. '{val}' is not one of ['asc', 'desc']"
                    ))
                })?;
            }
            _ => {}
        }
    }
    Ok((key, dir))
}

/// A flavor's value of a sort key, ordered as PostgreSQL orders the
/// column (a NULL after every value; text bytewise, as the `C.UTF-8`
/// collation of Nova's database).
#[derive(PartialEq, PartialOrd)]
enum SortValue<'a> {
    Int(i64),
    Float(f64),
    Bool(bool),
    Text(&'a str),
    Time(nova_objects::Timestamp),
    Null,
}

fn sort_value<'a>(f: &'a Flavor, key: &str) -> SortValue<'a> {
    use SortValue::*;
    let or_null = |v: Option<SortValue<'a>>| v.unwrap_or(Null);
    match key {
        "created_at" => or_null(f.created_at.map(Time)),
        "updated_at" => or_null(f.updated_at.map(Time)),
        "description" => or_null(f.description.as_deref().map(Text)),
        "disabled" => Bool(f.disabled),
        "is_public" => Bool(f.is_public),
        "ephemeral_gb" => Int(f.ephemeral_gb),
        "id" => Int(f.id),
        "memory_mb" => Int(f.memory_mb),
        "root_gb" => Int(f.root_gb),
        "swap" => Int(f.swap),
        "vcpus" => Int(f.vcpus),
        "vcpu_weight" => or_null(f.vcpu_weight.map(Int)),
        "rxtx_factor" => Float(f.rxtx_factor),
        "name" => Text(&f.name),
        _ => Text(&f.flavorid),
    }
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
    let body =
        json!({"flavors": flavors.iter().map(|f| flavor_summary(&base, f, v)).collect::<Vec<_>>()});
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
    if let Some(l) = collection_links(base, collection, p, max, flavors.len(), last) {
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
    let body = json!({"flavors": flavors.iter().map(|f| flavor_detail(&base, f, v, specs)).collect::<Vec<_>>()});
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
    Ok(Json(json!({"flavor": flavor_detail(&base, &f, v, specs)})))
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
