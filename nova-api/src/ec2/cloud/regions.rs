//! Regions, zones, the account, instance types.

use super::*;

/// `[DEFAULT] region_list` (`name=host`), or this region ("nova") at `ec2_host`.
pub(super) fn regions(state: &AppState) -> Vec<(String, String)> {
    let c = &state.cfg.ec2;
    let endpoint = |host: &str| format!("{}://{}:{}{}", c.ec2_scheme, host, c.ec2_port, c.ec2_path);
    if c.region_list.is_empty() {
        return vec![("nova".into(), endpoint(&c.ec2_host))];
    }
    c.region_list
        .iter()
        .map(|r| match r.split_once('=') {
            Some((name, host)) => (name.trim().to_string(), endpoint(host.trim())),
            None => (r.trim().to_string(), endpoint(&c.ec2_host)),
        })
        .collect()
}

pub(super) fn describe_regions(state: &AppState, p: &Params) -> R {
    let names = p.list("RegionName");
    let filters = p.filters()?;
    let mut items = vec![];
    for (name, endpoint) in regions(state) {
        if !names.is_empty() && !names.contains(&name) {
            continue;
        }
        let mut keep = true;
        for f in &filters {
            keep &= match f.name.as_str() {
                "region-name" => filter_matches(f, &name),
                "endpoint" => filter_matches(f, &endpoint),
                _ => return Err(unknown_filter(f)),
            };
        }
        if keep {
            items.push(X::obj(vec![
                ("regionName", X::text(name)),
                ("regionEndpoint", X::text(endpoint)),
                ("optInStatus", X::text("opt-in-not-required")),
            ]));
        }
    }
    Ok(body(vec![("regionInfo", X::Items(items))]))
}

pub(super) async fn describe_availability_zones(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
    state.policy.authorize(
        "os_compute_api:os-availability-zone:list",
        ctx,
        &Target::own(ctx),
    )?;
    let (services, aggregates) = state.compute_api.services_and_aggregates(ctx).await?;
    let names = p.list("ZoneName");
    if ctx.is_admin && names.iter().any(|n| n == "verbose") {
        let zones =
            crate::availability_zones::get_zones_with_hosts(&state.cfg, &services, &aggregates);
        return Ok(body(vec![("availabilityZoneInfo", verbose_zones(&zones))]));
    }
    let zones =
        crate::availability_zones::get_availability_zones(&state.cfg, &services, &aggregates);
    let filters = p.filters()?;
    let region = regions(state)
        .into_iter()
        .next()
        .map(|r| r.0)
        .unwrap_or_default();
    let mut items = vec![];
    for (zone, available) in zones {
        if !names.is_empty() && !names.contains(&zone) {
            continue;
        }
        let zstate = if available {
            "available"
        } else {
            "unavailable"
        };
        let mut keep = true;
        for f in &filters {
            keep &= match f.name.as_str() {
                "zone-name" => filter_matches(f, &zone),
                "state" => filter_matches(f, zstate),
                "region-name" => filter_matches(f, &region),
                _ => return Err(unknown_filter(f)),
            };
        }
        if keep {
            items.push(X::obj(vec![
                ("zoneName", X::text(zone)),
                ("zoneState", X::text(zstate)),
                ("regionName", X::text(region.clone())),
                ("zoneType", X::text("availability-zone")),
                ("messageSet", X::Items(vec![])),
            ]));
        }
    }
    Ok(body(vec![("availabilityZoneInfo", X::Items(items))]))
}

/// Nova's admin listing of `DescribeAvailabilityZones` with the zone name
/// `verbose` (euca2ools' `euca-describe-availability-zones verbose`): each
/// available zone (the internal one too), then each host of its enabled
/// services as `|- host`, and each such service as `| |- binary` with
/// `enabled :-) <updated_at>` (`XXX` for a service that is down); then the
/// zones of only disabled services.
fn verbose_zones(zones: &BTreeMap<String, crate::availability_zones::Zone<'_>>) -> X {
    let item = |name: String, state: String| {
        X::obj(vec![
            ("zoneName", X::text(name)),
            ("zoneState", X::text(state)),
        ])
    };
    let mut items = vec![];
    for (name, zone) in zones.iter().filter(|(_, z)| z.available) {
        items.push(item(name.clone(), "available".into()));
        for (host, services) in &zone.hosts {
            let enabled: Vec<_> = services.iter().filter(|z| !z.service.disabled).collect();
            if enabled.is_empty() {
                continue;
            }
            items.push(item(format!("|- {host}"), String::new()));
            for zs in enabled {
                let updated = zs
                    .service
                    .updated_at
                    .map_or_else(|| "None".to_string(), |t| python_datetime(&t));
                let art = if zs.up { ":-)" } else { "XXX" };
                items.push(item(
                    format!("| |- {}", zs.service.binary),
                    format!("enabled {art} {updated}"),
                ));
            }
        }
    }
    for (name, _) in zones.iter().filter(|(_, z)| !z.available) {
        items.push(item(name.clone(), "unavailable".into()));
    }
    X::Items(items)
}

/// A time as Python's `str()` of an aware UTC datetime writes it.
fn python_datetime(t: &chrono::DateTime<chrono::Utc>) -> String {
    if t.timestamp_subsec_micros() == 0 {
        t.format("%Y-%m-%d %H:%M:%S+00:00").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string()
    }
}

pub(super) async fn describe_account_attributes(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
    let project = ctx.project_id.clone().unwrap_or_default();
    let limits = state.compute_api.get_project_quotas(ctx, &project).await?;
    let quota = |k: &str| limits.get(k).copied().unwrap_or(-1).to_string();
    let all: Vec<(&str, Vec<String>)> = vec![
        ("supported-platforms", vec!["EC2".into()]),
        ("default-vpc", vec!["none".into()]),
        ("max-instances", vec![quota("instances")]),
        ("max-elastic-ips", vec![quota("floating_ips")]),
        ("vpc-max-security-groups-per-interface", vec!["0".into()]),
        ("vpc-max-elastic-ips", vec!["0".into()]),
    ];
    let wanted = p.list("AttributeName");
    if let Some(bad) = wanted.iter().find(|w| !all.iter().any(|(n, _)| n == w)) {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("The attribute name '{bad}' is not valid"),
        ));
    }
    let items = all
        .into_iter()
        .filter(|(n, _)| wanted.is_empty() || wanted.iter().any(|w| w == n))
        .map(|(n, values)| {
            X::obj(vec![
                ("attributeName", X::text(n)),
                (
                    "attributeValueSet",
                    X::Items(
                        values
                            .into_iter()
                            .map(|v| X::obj(vec![("attributeValue", X::text(v))]))
                            .collect(),
                    ),
                ),
            ])
        })
        .collect();
    Ok(body(vec![("accountAttributeSet", X::Items(items))]))
}

pub(super) async fn describe_instance_types(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
    let public = if ctx.is_admin { None } else { Some(true) };
    let flavors = state.conductor.flavor_get_all(ctx, public).await?;
    let names = p.list("InstanceType");
    let missing: Vec<&String> = names
        .iter()
        .filter(|n| !flavors.iter().any(|f| &f.name == *n))
        .collect();
    if !missing.is_empty() {
        return Err(Ec2Error::new(
            "InvalidInstanceType",
            format!(
                "The following supplied instance types do not exist: [{}]",
                missing
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let filters = p.filters()?;
    let (limit, offset) = p.page(5, 100)?;
    let mut items = vec![];
    for f in flavors {
        if f.disabled || (!names.is_empty() && !names.contains(&f.name)) {
            continue;
        }
        let mut keep = true;
        for flt in &filters {
            keep &= match flt.name.as_str() {
                "instance-type" => filter_matches(flt, &f.name),
                "vcpu-info.default-vcpus" => filter_matches(flt, &f.vcpus.to_string()),
                "memory-info.size-in-mib" => filter_matches(flt, &f.memory_mb.to_string()),
                _ => return Err(unknown_filter(flt)),
            };
        }
        if !keep {
            continue;
        }
        let disk = f.root_gb + f.ephemeral_gb;
        let mut fields = vec![
            ("instanceType", X::text(f.name.clone())),
            ("currentGeneration", X::bool(true)),
            ("bareMetal", X::bool(false)),
            (
                "supportedRootDeviceTypes",
                X::Items(vec![X::text("instance-store")]),
            ),
            (
                "supportedVirtualizationTypes",
                X::Items(vec![X::text("hvm")]),
            ),
            ("vCpuInfo", X::obj(vec![("defaultVCpus", X::int(f.vcpus))])),
            (
                "memoryInfo",
                X::obj(vec![("sizeInMiB", X::int(f.memory_mb))]),
            ),
            ("instanceStorageSupported", X::bool(disk > 0)),
        ];
        if disk > 0 {
            fields.push((
                "instanceStorageInfo",
                X::obj(vec![("totalSizeInGB", X::int(disk))]),
            ));
        }
        items.push(X::obj(fields));
    }
    let (page, next) = paginate(items, limit, offset);
    let mut out = body(vec![("instanceTypeSet", X::Items(page))]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}
