//! Version documents.

use crate::openstack::api_version_request::{MAX_VERSION, MIN_VERSION};
use serde_json::{json, Value};

/// `GET /v2.1`.
pub fn v21(base: &str) -> Value {
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

/// `GET /v2` (Nova's legacy v2.0 entry: no microversions).
pub fn v20(base: &str) -> Value {
    json!({
        "id": "v2.0",
        "status": "SUPPORTED",
        "version": "",
        "min_version": "",
        "updated": "2011-01-21T11:33:21Z",
        "links": [
            {"rel": "self", "href": format!("{base}/v2/")},
            {"rel": "describedby", "type": "text/html", "href": "http://docs.openstack.org/"}
        ],
        "media-types": [{
            "base": "application/json",
            "type": "application/vnd.openstack.compute+json;version=2"
        }]
    })
}

/// The entries of `GET /`, v2.0 first as Nova lists them: each version
/// document without its media types and with only the self link.
pub fn root_entries(base: &str) -> Vec<Value> {
    vec![root_entry(v20(base)), root_entry(v21(base))]
}

fn root_entry(mut doc: Value) -> Value {
    if let Some(o) = doc.as_object_mut() {
        o.remove("media-types");
        let self_link: Vec<Value> = o
            .get("links")
            .and_then(Value::as_array)
            .map(|l| l.iter().filter(|l| l["rel"] == "self").cloned().collect())
            .unwrap_or_default();
        o.insert("links".into(), Value::Array(self_link));
    }
    doc
}
