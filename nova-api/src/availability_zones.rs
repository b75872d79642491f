//! Nova's `nova/availability_zones.py`: a compute host is in the zone its
//! host aggregates name (`availability_zone` metadata;
//! [`nova_objects::host_availability_zone`]), else in
//! `default_availability_zone`; every other service is in
//! `internal_service_availability_zone`.

use crate::servicegroup;
use nova_common::NovaConfig;
use nova_objects::{host_availability_zone, Aggregate, Service};
use std::collections::BTreeMap;

/// The zone a service's host is in.
pub fn service_zone(cfg: &NovaConfig, aggregates: &[Aggregate], s: &Service) -> String {
    if s.binary == "nova-compute" {
        host_availability_zone(aggregates, &s.host, &cfg.default.default_availability_zone)
    } else {
        cfg.default.internal_service_availability_zone.clone()
    }
}

/// The zones users may boot in (those of the compute hosts), each with
/// whether any compute service in it is enabled.
pub fn get_availability_zones(
    cfg: &NovaConfig,
    services: &[Service],
    aggregates: &[Aggregate],
) -> Vec<(String, bool)> {
    let mut zones: BTreeMap<String, bool> = BTreeMap::new();
    for s in services.iter().filter(|s| s.binary == "nova-compute") {
        *zones.entry(service_zone(cfg, aggregates, s)).or_default() |= !s.disabled;
    }
    zones.into_iter().collect()
}

/// Whether `zone` is one users may boot in now: a zone of an enabled
/// compute service (Nova's `get_only_available`).
pub fn is_available(
    cfg: &NovaConfig,
    services: &[Service],
    aggregates: &[Aggregate],
    zone: &str,
) -> bool {
    get_availability_zones(cfg, services, aggregates)
        .iter()
        .any(|(z, up)| *up && z == zone)
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
    aggregates: &[Aggregate],
) -> BTreeMap<String, Zone<'a>> {
    let mut zones: BTreeMap<String, Zone<'a>> = BTreeMap::new();
    for s in services {
        let zone = zones
            .entry(service_zone(cfg, aggregates, s))
            .or_insert_with(|| Zone {
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
