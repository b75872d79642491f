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

/// One entry of `GET /`.
pub fn root_entry(base: &str) -> Value {
    let mut doc = v21(base);
    if let Some(o) = doc.as_object_mut() {
        o.remove("media-types");
        o.insert(
            "links".into(),
            json!([{"rel": "self", "href": format!("{base}/v2.1/")}]),
        );
    }
    doc
}
