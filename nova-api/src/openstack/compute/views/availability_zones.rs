//! Availability zones (`/os-availability-zone`).

use super::micro_isotime;
use crate::availability_zones::Zone;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

pub fn zones(zones: &[(String, bool)]) -> Value {
    let info: Vec<Value> = zones
        .iter()
        .map(|(name, available)| json!({"zoneName": name, "zoneState": {"available": available}, "hosts": null}))
        .collect();
    json!({"availabilityZoneInfo": info})
}

pub fn detail(zones: &BTreeMap<String, Zone<'_>>) -> Value {
    let info: Vec<Value> = zones
        .iter()
        .map(|(name, zone)| {
            // Nova's: a zone of only disabled services has no hosts shown
            // (`null`); the others show their enabled services' hosts.
            if !zone.available {
                return json!({"zoneName": name, "zoneState": {"available": false}, "hosts": null});
            }
            let mut hosts = Map::new();
            for (host, services) in &zone.hosts {
                let mut h = Map::new();
                for zs in services.iter().filter(|zs| !zs.service.disabled) {
                    let s = zs.service;
                    h.insert(
                        s.binary.clone(),
                        json!({"available": zs.up && !s.disabled, "active": !s.disabled, "updated_at": micro_isotime(s.updated_at)}),
                    );
                }
                if !h.is_empty() {
                    hosts.insert(host.clone(), Value::Object(h));
                }
            }
            json!({"zoneName": name, "zoneState": {"available": zone.available}, "hosts": hosts})
        })
        .collect();
    json!({"availabilityZoneInfo": info})
}
