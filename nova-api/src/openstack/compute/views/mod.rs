//! Response bodies, as Nova's view builders (`nova/api/openstack/compute/views/`) make them.

pub mod availability_zones;
pub mod flavors;
pub mod hypervisors;
pub mod images;
pub mod keypairs;
pub mod limits;
pub mod quota_classes;
pub mod quota_sets;
pub mod security_groups;
pub mod servers;
pub mod services;
pub mod versions;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// `2012-08-20T21:11:09Z`, as servers' `created`/`updated` and faults.
pub fn isotime(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%SZ").to_string()))
        .unwrap_or(Value::Null)
}

/// `2012-08-20T21:11:09.000000`, as `launched_at` and services' `updated_at`.
pub fn micro_isotime(t: Option<DateTime<Utc>>) -> Value {
    t.map(|t| Value::from(t.format("%Y-%m-%dT%H:%M:%S%.6f").to_string()))
        .unwrap_or(Value::Null)
}

pub fn links(base: &str, collection: &str, id: &str) -> Value {
    json!([
        {"rel": "self", "href": format!("{base}/v2.1/{collection}/{id}")},
        {"rel": "bookmark", "href": format!("{base}/{collection}/{id}")},
    ])
}
