//! Nova's `nova/availability_zones.py`: compute hosts are in
//! `default_availability_zone`, every other service in
//! `internal_service_availability_zone` (no host aggregates yet).

use crate::servicegroup;
use nova_common::NovaConfig;
use nova_objects::Service;
use std::collections::BTreeMap;

/// The zone a service's host is in.
pub fn service_zone(cfg: &NovaConfig, s: &Service) -> String {
    if s.binary == "nova-compute" {
        cfg.default.default_availability_zone.clone()
    } else {
        cfg.default.internal_service_availability_zone.clone()
    }
}

/// The zones users may boot in, with whether any compute host in them is enabled.
pub fn get_availability_zones(cfg: &NovaConfig, services: &[Service]) -> Vec<(String, bool)> {
    let computes: Vec<&Service> = services
        .iter()
        .filter(|s| s.binary == "nova-compute")
        .collect();
    if computes.is_empty() {
        return vec![];
    }
    let available = computes.iter().any(|s| !s.disabled);
    vec![(cfg.default.default_availability_zone.clone(), available)]
}

/// One service as the zone listing shows it.
pub struct ZoneService<'a> {
    pub service: &'a Service,
    pub up: bool,
}

/// One zone: whether any of its services is enabled, and its hosts' services.
pub struct Zone<'a> {
    pub available: bool,
    pub hosts: BTreeMap<String, Vec<ZoneService<'a>>>,
}

/// Every zone with every service, for the admin's detailed listing.
pub fn get_zones_with_hosts<'a>(
    cfg: &NovaConfig,
    services: &'a [Service],
) -> BTreeMap<String, Zone<'a>> {
    let mut zones: BTreeMap<String, Zone<'a>> = BTreeMap::new();
    for s in services {
        let zone = zones.entry(service_zone(cfg, s)).or_insert_with(|| Zone {
            available: false,
            hosts: BTreeMap::new(),
        });
        zone.available |= !s.disabled;
        zone.hosts
            .entry(s.host.clone())
            .or_default()
            .push(ZoneService {
                service: s,
                up: servicegroup::service_is_up(cfg, s),
            });
    }
    zones
}
