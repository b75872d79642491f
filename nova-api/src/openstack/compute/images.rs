//! The image proxy (Nova's `images.py`, 2.1-2.35, and `image_metadata.py`,
//! 2.1-2.38; 404 after): `/images`, `/images/detail`, `/images/{id}` (show,
//! delete) and `/images/{id}/metadata[/{key}]`, in front of Glance v2 with
//! the caller's token, so Glance decides what the caller may see and change.

use super::floating_ips::{proxy_api, version_not_found};
use super::server_metadata::parse_metadata;
use super::views::images::{basic, detail, status};
use crate::error::{ApiError, ApiResult};
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::{invalid, json_body, BaseUrl};
use crate::AppState;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use nova_clients::glance::GlanceImage;
use nova_common::{NovaError, RequestContext};
use serde_json::{json, Value};
use std::collections::BTreeMap;

type Params = Query<Vec<(String, String)>>;

/// Where the `alternate` links point: the first `[glance] api_servers`.
fn glance_url(state: &AppState) -> String {
    state
        .cfg
        .glance
        .api_servers
        .first()
        .map(|s| s.trim_end_matches('/').to_string())
        .unwrap_or_default()
}

fn image_error(e: NovaError) -> ApiError {
    match e {
        NovaError::ImageNotFound { .. } => ApiError::not_found("Image not found."),
        NovaError::NotAuthorized { .. } => ApiError::new(403, e.to_string()),
        NovaError::MetadataLimitExceeded { .. } | NovaError::QuotaExceeded { .. } => {
            ApiError::new(403, e.to_string())
        }
        other => other.into(),
    }
}

fn int_param(p: &[(String, String)], k: &str) -> ApiResult<Option<i64>> {
    match p.iter().rev().find(|(n, _)| n == k) {
        None => Ok(None),
        Some((_, v)) => v
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("Invalid {k} filter [{v}]"))),
    }
}

/// Nova's filters (`name`, `status`, `changes-since`, `server`, `type`,
/// `minRam`, `minDisk`, `property-<key>`) and `marker`/`limit` paging over
/// Glance's listing (newest first): the page and the limit asked for.
async fn list(
    state: &AppState,
    ctx: &RequestContext,
    p: &[(String, String)],
) -> ApiResult<(Vec<GlanceImage>, Option<usize>)> {
    let get = |k: &str| {
        p.iter()
            .rev()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    };
    let limit = match int_param(p, "limit")? {
        Some(l) if l < 0 => return Err(ApiError::bad_request("limit param must be positive")),
        l => l.map(|l| l as usize),
    };
    let min_ram = int_param(p, "minRam")?;
    let min_disk = int_param(p, "minDisk")?;
    let since = match get("changes-since") {
        None => None,
        Some(t) => Some(
            DateTime::parse_from_rfc3339(t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| ApiError::bad_request(format!("Invalid changes-since value: {t}")))?,
        ),
    };
    // `server` may be the server's URL: its last segment is the uuid.
    let server = get("server").map(|s| s.rsplit('/').next().unwrap_or(s).to_string());
    let props: Vec<(&str, &str)> = p
        .iter()
        .filter_map(|(k, v)| k.strip_prefix("property-").map(|k| (k, v.as_str())))
        .collect();
    let all = state
        .compute_api
        .get_all_images(ctx)
        .await
        .map_err(image_error)?;
    let prop = |i: &GlanceImage, k: &str| i.meta.properties.get(k).cloned();
    let mut out: Vec<GlanceImage> = all
        .into_iter()
        .filter(|i| get("name").is_none_or(|n| i.meta.name.as_deref() == Some(n)))
        .filter(|i| get("status").is_none_or(|s| status(&i.meta.status).eq_ignore_ascii_case(s)))
        .filter(|i| {
            server
                .as_ref()
                .is_none_or(|s| prop(i, "instance_uuid").as_ref() == Some(s))
        })
        .filter(|i| get("type").is_none_or(|t| prop(i, "image_type").as_deref() == Some(t)))
        .filter(|i| min_ram.is_none_or(|r| i.meta.min_ram >= r))
        .filter(|i| min_disk.is_none_or(|d| i.meta.min_disk >= d))
        .filter(|i| props.iter().all(|(k, v)| prop(i, k).as_deref() == Some(*v)))
        .filter(|i| {
            since.is_none_or(|s| {
                i.updated_at
                    .as_deref()
                    .and_then(|u| DateTime::parse_from_rfc3339(u).ok())
                    .is_some_and(|u| u.with_timezone(&Utc) >= s)
            })
        })
        .collect();
    if let Some(m) = get("marker") {
        let pos = out
            .iter()
            .position(|i| i.meta.id == m)
            .ok_or_else(|| ApiError::bad_request(format!("marker [{m}] not found")))?;
        out.drain(..=pos);
    }
    if let Some(l) = limit {
        out.truncate(l);
    }
    Ok((out, limit))
}

pub async fn index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    let (items, limit) = list(&state, &ctx, &p).await?;
    let g = glance_url(&state);
    let mut body = json!({"images": items.iter().map(|i| basic(&base, &g, i)).collect::<Vec<_>>()});
    if let Some(l) = super::views::page_link(&base, "images", &p, limit, items.len(), || {
        items.last().map(|i| i.meta.id.to_string())
    }) {
        body["images_links"] = l;
    }
    Ok(Json(body))
}

pub async fn index_detail(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Query(p): Params,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    let (items, limit) = list(&state, &ctx, &p).await?;
    let g = glance_url(&state);
    let mut body =
        json!({"images": items.iter().map(|i| detail(&base, &g, i)).collect::<Vec<_>>()});
    if let Some(l) = super::views::page_link(&base, "images/detail", &p, limit, items.len(), || {
        items.last().map(|i| i.meta.id.to_string())
    }) {
        body["images_links"] = l;
    }
    Ok(Json(body))
}

async fn image(state: &AppState, ctx: &RequestContext, id: &str) -> ApiResult<GlanceImage> {
    state
        .compute_api
        .get_image_record(ctx, id)
        .await
        .map_err(image_error)
}

pub async fn show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    base: BaseUrl,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    proxy_api(v)?;
    let i = image(&state, &ctx, &id).await?;
    Ok(Json(
        json!({"image": detail(&base, &glance_url(&state), &i)}),
    ))
}

pub async fn delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    proxy_api(v)?;
    state
        .compute_api
        .delete_image_record(&ctx, &id)
        .await
        .map_err(image_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The image metadata proxy lasts three microversions longer than the
/// others (Nova's `MAX_IMAGE_META_PROXY_API_VERSION`, 2.38).
const MAX_IMAGE_META_PROXY_API_VERSION: u32 = 38;

fn image_meta_proxy_api(v: ApiVersion) -> ApiResult<()> {
    if v.at_least(MAX_IMAGE_META_PROXY_API_VERSION + 1) {
        return Err(version_not_found());
    }
    Ok(())
}

/// `{"<wrapper>": {...}}`: the body of a metadata change.
fn items(body: &Bytes, wrapper: &str) -> ApiResult<BTreeMap<String, String>> {
    let body = json_body(body)?;
    let Some(m) = body.get(wrapper) else {
        return Err(ApiError::bad_request("Malformed request body"));
    };
    if !m.is_object() {
        return Err(invalid(wrapper, m, &format!("{m} is not of type 'object'")));
    }
    parse_metadata(wrapper, m, false, 0, None)
}

fn no_item() -> ApiError {
    ApiError::not_found("Image doesn't have a property with key")
}

pub async fn metadata_index(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    image_meta_proxy_api(v)?;
    let i = image(&state, &ctx, &id).await?;
    Ok(Json(json!({"metadata": i.meta.properties})))
}

pub async fn metadata_show(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    image_meta_proxy_api(v)?;
    let i = image(&state, &ctx, &id).await?;
    let value = i.meta.properties.get(&key).ok_or_else(no_item)?;
    Ok(Json(json!({"meta": {key: value}})))
}

/// POST: merge into the image's properties; all of them after.
pub async fn metadata_create(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    image_meta_proxy_api(v)?;
    let new = items(&body, "metadata")?;
    let i = image(&state, &ctx, &id).await?;
    let after = state
        .compute_api
        .update_image_metadata(&ctx, &i, &new, false)
        .await
        .map_err(image_error)?;
    Ok(Json(json!({"metadata": after.meta.properties})))
}

/// PUT: the image's properties become exactly these.
pub async fn metadata_update_all(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    image_meta_proxy_api(v)?;
    let new = items(&body, "metadata")?;
    let i = image(&state, &ctx, &id).await?;
    state
        .compute_api
        .update_image_metadata(&ctx, &i, &new, true)
        .await
        .map_err(image_error)?;
    Ok(Json(json!({ "metadata": new })))
}

/// PUT one item: the body holds exactly that key.
pub async fn metadata_update(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, key)): Path<(String, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    image_meta_proxy_api(v)?;
    let meta = items(&body, "meta")?;
    if meta.len() > 1 {
        return Err(ApiError::bad_request(
            "Request body contains too many items",
        ));
    }
    if !meta.contains_key(&key) {
        return Err(ApiError::bad_request("Request body and URI mismatch"));
    }
    let i = image(&state, &ctx, &id).await?;
    state
        .compute_api
        .update_image_metadata(&ctx, &i, &meta, false)
        .await
        .map_err(image_error)?;
    Ok(Json(json!({ "meta": meta })))
}

pub async fn metadata_delete(
    State(state): State<AppState>,
    Extension(ctx): Extension<RequestContext>,
    Extension(v): Extension<ApiVersion>,
    Path((id, key)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    image_meta_proxy_api(v)?;
    let i = image(&state, &ctx, &id).await?;
    if !i.meta.properties.contains_key(&key) {
        return Err(no_item());
    }
    state
        .compute_api
        .delete_image_metadata_item(&ctx, &id, &key)
        .await
        .map_err(image_error)?;
    Ok(StatusCode::NO_CONTENT)
}
