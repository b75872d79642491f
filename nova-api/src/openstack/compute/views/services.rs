//! Services (`/os-services`).

use super::micro_isotime;
use crate::availability_zones::service_zone;
use crate::openstack::api_version_request::ApiVersion;
use crate::servicegroup;
use nova_common::NovaConfig;
use nova_objects::{Aggregate, Service};
use serde_json::{json, Value};

pub fn service(cfg: &NovaConfig, aggregates: &[Aggregate], s: &Service, v: ApiVersion) -> Value {
    let mut o = json!({
        "id": if v.at_least(53) { json!(s.uuid.to_string()) } else { json!(s.id) },
        "binary": s.binary,
        "host": s.host,
        "zone": service_zone(cfg, aggregates, s),
        "status": if s.disabled { "disabled" } else { "enabled" },
        "state": servicegroup::state(cfg, s),
        "updated_at": micro_isotime(s.updated_at),
        "disabled_reason": s.disabled_reason,
    });
    if v.at_least(11) {
        o["forced_down"] = json!(s.forced_down);
    }
    o
}
