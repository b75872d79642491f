//! Version documents (`GET /`, `GET /v2.1`), served without authentication.

use super::views;
use crate::openstack::common::BaseUrl;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

pub async fn root(base: BaseUrl) -> (StatusCode, Json<Value>) {
    (
        StatusCode::OK,
        Json(json!({ "versions": views::versions::root_entries(&base.root) })),
    )
}

pub async fn v20(base: BaseUrl) -> Json<Value> {
    Json(json!({ "version": views::versions::v20(&base.root) }))
}

pub async fn v21(base: BaseUrl) -> Json<Value> {
    Json(json!({ "version": views::versions::v21(&base.root) }))
}
