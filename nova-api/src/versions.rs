//! Version documents (`GET /`, `GET /v2.1`), served without authentication.

use crate::microversion::{MAX_VERSION, MIN_VERSION};
use crate::middleware::BaseUrl;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde_json::{json, Value};

fn v21_doc(base: &str) -> Value {
    json!({
        "id": "v2.1",
        "status": "CURRENT",
        "version": MAX_VERSION.to_string(),
        "min_version": MIN_VERSION.to_string(),
        "updated": "2013-07-23T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{base}/v2.1/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2.1"
        }]
    })
}

pub async fn root(Extension(base): Extension<BaseUrl>) -> (StatusCode, Json<Value>) {
    let mut doc = v21_doc(&base.0);
    if let Some(o) = doc.as_object_mut() {
        o.remove("media-types");
        o.insert(
            "links".into(),
            json!([{"rel": "self", "href": format!("{}/v2.1/", base.0)}]),
        );
    }
    (StatusCode::OK, Json(json!({ "versions": [doc] })))
}

pub async fn v21(Extension(base): Extension<BaseUrl>) -> Json<Value> {
    Json(json!({ "version": v21_doc(&base.0) }))
}
