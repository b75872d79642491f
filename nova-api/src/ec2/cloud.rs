//! The EC2 actions (Nova's `CloudController`): each parses its arguments,
//! checks the same policy rule as the compute API's handler for the same
//! thing, calls [`compute::api`](crate::compute::api) (or the conductor for
//! plain reads) and renders what botocore's EC2 model expects.

use super::apirequest::{filter_matches, Filter, Params, X};
use super::ec2utils::{self, ec2_id_to_id, ec2_image_id, ec2_instance_id, instance_state};
use super::faults::Ec2Error;
use super::Body;
use crate::compute::api::{CreateRequest, RebootType, RequestedNetworks, RequestedZone};
use crate::policy::Target;
use crate::AppState;
use base64::Engine;
use chrono::Utc;
use nova_clients::glance::GlanceImage;
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceFilters};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

type R = Result<Body, Ec2Error>;

/// How long a terminated instance stays visible to DescribeInstances (as AWS).
const TERMINATED_VISIBLE_SECS: i64 = 3600;

fn body<K: Into<String>>(fields: Vec<(K, X)>) -> Body {
    fields.into_iter().map(|(k, v)| (k.into(), v)).collect()
}

fn ret_true() -> Body {
    body(vec![("return", X::bool(true))])
}

/// Run one action.
pub async fn dispatch(state: &AppState, ctx: &RequestContext, action: &str, p: &Params) -> R {
    match action {
        "DescribeRegions" => describe_regions(state, p),
        "DescribeAvailabilityZones" => describe_availability_zones(state, ctx, p).await,
        "DescribeAccountAttributes" => describe_account_attributes(state, ctx, p).await,
        "DescribeInstanceTypes" => describe_instance_types(state, ctx, p).await,
        "RunInstances" => run_instances(state, ctx, p).await,
        "DescribeInstances" => describe_instances(state, ctx, p).await,
        "DescribeInstanceStatus" => describe_instance_status(state, ctx, p).await,
        "DescribeInstanceAttribute" => describe_instance_attribute(state, ctx, p).await,
        "TerminateInstances" => change_instances(state, ctx, p, Change::Terminate).await,
        "StopInstances" => change_instances(state, ctx, p, Change::Stop).await,
        "StartInstances" => change_instances(state, ctx, p, Change::Start).await,
        "RebootInstances" => change_instances(state, ctx, p, Change::Reboot).await,
        "GetConsoleOutput" => get_console_output(state, ctx, p).await,
        "DescribeImages" => describe_images(state, ctx, p).await,
        "CreateImage" => create_image(state, ctx, p).await,
        "DeregisterImage" => deregister_image(state, ctx, p).await,
        "DescribeImageAttribute" => describe_image_attribute(state, ctx, p).await,
        "CreateKeyPair" => create_key_pair(state, ctx, p).await,
        "ImportKeyPair" => import_key_pair(state, ctx, p).await,
        "DescribeKeyPairs" => describe_key_pairs(state, ctx, p).await,
        "DeleteKeyPair" => delete_key_pair(state, ctx, p).await,
        "CreateTags" => create_tags(state, ctx, p).await,
        "DeleteTags" => delete_tags(state, ctx, p).await,
        "DescribeTags" => describe_tags(state, ctx, p).await,
        // In Nova's EC2 API, waiting for nova-network's security groups and
        // floating IPs in this port.
        "DescribeSecurityGroups"
        | "CreateSecurityGroup"
        | "DeleteSecurityGroup"
        | "AuthorizeSecurityGroupIngress"
        | "RevokeSecurityGroupIngress"
        | "AllocateAddress"
        | "AssociateAddress"
        | "DisassociateAddress"
        | "ReleaseAddress"
        | "DescribeAddresses"
        | "DescribeVolumes"
        | "CreateVolume"
        | "DeleteVolume"
        | "AttachVolume"
        | "DetachVolume"
        | "DescribeSnapshots"
        | "CreateSnapshot"
        | "DeleteSnapshot"
        | "RegisterImage"
        | "ModifyImageAttribute"
        | "GetPasswordData" => Err(Ec2Error::unsupported(action)),
        _ => Err(Ec2Error::new(
            "InvalidAction",
            format!("The action {action} is not valid for this web service."),
        )),
    }
}

fn unknown_filter(f: &Filter) -> Ec2Error {
    Ec2Error::new(
        "InvalidParameterValue",
        format!("The filter '{}' is invalid", f.name),
    )
}

/// The most ids one request may name (each is looked up on its own).
const MAX_IDS_PER_REQUEST: usize = 1000;

/// `<name>.N` ids, at most [`MAX_IDS_PER_REQUEST`].
fn id_list(p: &Params, name: &str) -> Result<Vec<String>, Ec2Error> {
    let ids = p.list(name);
    if ids.len() > MAX_IDS_PER_REQUEST {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("At most {MAX_IDS_PER_REQUEST} values of {name} are accepted"),
        ));
    }
    Ok(ids)
}

/// A page of `items` from `offset` (`NextToken`), and the token of the next one.
fn paginate<T>(items: Vec<T>, limit: Option<usize>, offset: usize) -> (Vec<T>, Option<String>) {
    let total = items.len();
    let page: Vec<T> = items
        .into_iter()
        .skip(offset)
        .take(limit.unwrap_or(usize::MAX))
        .collect();
    let end = offset.saturating_add(page.len());
    let next = (limit.is_some() && end < total).then(|| end.to_string());
    (page, next)
}

// ----- regions, zones, account -----

/// `[DEFAULT] region_list` (`name=host`), or this region ("nova") at `ec2_host`.
fn regions(state: &AppState) -> Vec<(String, String)> {
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

fn describe_regions(state: &AppState, p: &Params) -> R {
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

async fn describe_availability_zones(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state.policy.authorize(
        "os_compute_api:os-availability-zone:list",
        ctx,
        &Target::own(ctx),
    )?;
    let services = state.conductor.service_get_all(ctx).await?;
    let zones = crate::availability_zones::get_availability_zones(&state.cfg, &services);
    let names = p.list("ZoneName");
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

async fn describe_account_attributes(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

async fn describe_instance_types(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

// ----- instances -----

/// The instance an EC2 id names, if the caller may see it.
async fn instance_by_ec2_id(
    state: &AppState,
    ctx: &RequestContext,
    ec2_id: &str,
) -> Result<Instance, Ec2Error> {
    let uuid = instance_uuid_by_ec2_id(state, ctx, ec2_id).await?;
    state
        .compute_api
        .get(ctx, &uuid.to_string())
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(ec2_id)))
}

async fn instance_uuid_by_ec2_id(
    state: &AppState,
    ctx: &RequestContext,
    ec2_id: &str,
) -> Result<Uuid, Ec2Error> {
    let not_found = || {
        Ec2Error::from_nova(
            NovaError::InstanceNotFound {
                instance_id: ec2_id.to_string(),
            },
            Some(ec2_id),
        )
    };
    let Some(n) = ec2_id_to_id(ec2_id, &["i"]) else {
        if state.cfg.ec2.ec2_strict_validation {
            return Err(Ec2Error::new(
                "InvalidInstanceID.Malformed",
                format!("Invalid id: \"{ec2_id}\" (expecting \"i-...\")"),
            ));
        }
        return Err(not_found());
    };
    state
        .conductor
        .ec2_instance_get_by_id(ctx, n)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(ec2_id)))
}

/// EC2 ids of instances, made where missing (one conductor call).
async fn ec2_ids_of(
    state: &AppState,
    ctx: &RequestContext,
    insts: &[Instance],
) -> Result<Vec<String>, Ec2Error> {
    if insts.is_empty() {
        return Ok(vec![]);
    }
    let ids = state
        .conductor
        .ec2_instance_create(ctx, insts.iter().map(|i| i.uuid).collect())
        .await?;
    Ok(ids.into_iter().map(ec2_instance_id).collect())
}

/// EC2 ids of Glance images (uuid → `kind-%08x`), made where missing.
async fn image_ids_of(
    state: &AppState,
    ctx: &RequestContext,
    images: &[(String, &'static str)],
) -> Result<HashMap<String, String>, Ec2Error> {
    let mut uuids: Vec<String> = images.iter().map(|(u, _)| u.clone()).collect();
    uuids.sort();
    uuids.dedup();
    uuids.retain(|u| !u.is_empty());
    if uuids.is_empty() {
        return Ok(HashMap::new());
    }
    let ids = state.conductor.s3_image_create(ctx, uuids.clone()).await?;
    let by_uuid: HashMap<String, i64> = uuids.into_iter().zip(ids).collect();
    Ok(images
        .iter()
        .filter_map(|(u, kind)| by_uuid.get(u).map(|n| (u.clone(), ec2_image_id(kind, *n))))
        .collect())
}

/// The image uuid of an `ami-`/`aki-`/`ari-` id.
async fn image_uuid_by_ec2_id(
    state: &AppState,
    ctx: &RequestContext,
    ec2_id: &str,
) -> Result<String, Ec2Error> {
    let Some(n) = ec2_id_to_id(ec2_id, &["ami", "aki", "ari"]) else {
        if state.cfg.ec2.ec2_strict_validation {
            return Err(Ec2Error::new(
                "InvalidAMIID.Malformed",
                format!("Invalid id: \"{ec2_id}\" (expecting \"ami-...\")"),
            ));
        }
        return Err(Ec2Error::from_nova(
            NovaError::ImageNotFound {
                image_id: ec2_id.to_string(),
            },
            Some(ec2_id),
        ));
    };
    state
        .conductor
        .s3_image_get(ctx, n)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(ec2_id)))
}

/// The images an instance refers to, with the kind each is shown as.
fn images_of(insts: &[Instance]) -> Vec<(String, &'static str)> {
    let mut out = vec![];
    for i in insts {
        out.push((i.image_ref.clone(), "ami"));
        out.push((i.kernel_id.clone(), "aki"));
        out.push((i.ramdisk_id.clone(), "ari"));
    }
    out
}

fn fixed_ip(inst: &Instance) -> Option<String> {
    inst.network_info
        .iter()
        .flat_map(|v| v.network.subnets.iter())
        .flat_map(|s| s.ips.iter())
        .find(|ip| ip.version == 4)
        .map(|ip| ip.address.clone())
}

fn floating_ip(inst: &Instance) -> Option<String> {
    inst.network_info
        .iter()
        .flat_map(|v| v.network.subnets.iter())
        .flat_map(|s| s.ips.iter())
        .flat_map(|ip| ip.floating_ips.iter())
        .next()
        .cloned()
}

fn state_x((code, name): (i64, &str)) -> X {
    X::obj(vec![("code", X::int(code)), ("name", X::text(name))])
}

fn tag_set(metadata: &BTreeMap<String, String>) -> X {
    X::Items(
        metadata
            .iter()
            .map(|(k, v)| {
                X::obj(vec![
                    ("key", X::text(k.clone())),
                    ("value", X::text(v.clone())),
                ])
            })
            .collect(),
    )
}

/// One `instancesSet` item (Nova's `_format_instances`).
fn format_instance(
    state: &AppState,
    inst: &Instance,
    ec2_id: &str,
    images: &HashMap<String, String>,
) -> X {
    let fixed = fixed_ip(inst);
    let floating = floating_ip(inst);
    let private_dns = if state.cfg.ec2.ec2_private_dns_show_ip {
        fixed.clone().unwrap_or_default()
    } else {
        inst.hostname.clone()
    };
    let mut f: Vec<(&str, X)> = vec![
        ("instanceId", X::text(ec2_id)),
        (
            "imageId",
            X::text(images.get(&inst.image_ref).cloned().unwrap_or_default()),
        ),
        ("instanceState", state_x(instance_state(inst))),
        ("privateDnsName", X::text(private_dns)),
        ("dnsName", X::text(floating.clone().unwrap_or_default())),
    ];
    if let Some(k) = &inst.key_name {
        f.push(("keyName", X::text(k.clone())));
    }
    f.push(("amiLaunchIndex", X::int(inst.launch_index as i64)));
    f.push(("instanceType", X::text(inst.flavor.name.clone())));
    if let Some(t) = &inst.created_at {
        f.push(("launchTime", X::time(t)));
    }
    f.push((
        "placement",
        X::obj(vec![
            (
                "availabilityZone",
                X::text(inst.availability_zone.clone().unwrap_or_default()),
            ),
            ("tenancy", X::text("default")),
        ]),
    ));
    if let Some(k) = images.get(&inst.kernel_id) {
        f.push(("kernelId", X::text(k.clone())));
    }
    if let Some(r) = images.get(&inst.ramdisk_id) {
        f.push(("ramdiskId", X::text(r.clone())));
    }
    f.push(("monitoring", X::obj(vec![("state", X::text("disabled"))])));
    if let Some(ip) = fixed {
        f.push(("privateIpAddress", X::text(ip)));
    }
    if let Some(ip) = floating {
        f.push(("ipAddress", X::text(ip)));
    }
    f.push(("groupSet", X::Items(vec![])));
    if let Some(fault) = inst
        .fault
        .as_ref()
        .filter(|_| instance_state(inst) == ec2utils::TERMINATED)
    {
        f.push((
            "stateReason",
            X::obj(vec![
                ("code", X::text("Server.InternalError")),
                ("message", X::text(fault.message.clone())),
            ]),
        ));
    }
    f.push(("architecture", X::text("x86_64")));
    f.push(("rootDeviceType", X::text("instance-store")));
    f.push((
        "rootDeviceName",
        X::text(
            inst.root_device_name
                .clone()
                .unwrap_or_else(|| "/dev/vda".into()),
        ),
    ));
    f.push(("blockDeviceMapping", X::Items(vec![])));
    f.push(("virtualizationType", X::text("hvm")));
    if !inst.metadata.is_empty() {
        f.push(("tagSet", tag_set(&inst.metadata)));
    }
    X::obj(f)
}

/// Instances grouped into reservations, in order of first appearance.
fn reservations(
    state: &AppState,
    insts: &[Instance],
    ec2_ids: &[String],
    images: &HashMap<String, String>,
) -> X {
    let mut order: Vec<&str> = vec![];
    let mut groups: HashMap<&str, (String, Vec<X>)> = HashMap::new();
    for (inst, id) in insts.iter().zip(ec2_ids) {
        let r = inst.reservation_id.as_str();
        if !groups.contains_key(r) {
            order.push(r);
        }
        groups
            .entry(r)
            .or_insert_with(|| (inst.project_id.clone(), vec![]))
            .1
            .push(format_instance(state, inst, id, images));
    }
    X::Items(
        order
            .into_iter()
            .filter_map(|r| groups.remove(r).map(|g| (r, g)))
            .map(|(r, (owner, items))| {
                X::obj(vec![
                    ("reservationId", X::text(r)),
                    ("ownerId", X::text(owner)),
                    ("groupSet", X::Items(vec![])),
                    ("instancesSet", X::Items(items)),
                ])
            })
            .collect(),
    )
}

/// The caller's instances, oldest first, with those terminated in the last
/// hour (AWS keeps showing them as `terminated`); only `uuids` if given.
async fn list_instances(
    state: &AppState,
    ctx: &RequestContext,
    uuids: Option<Vec<Uuid>>,
) -> Result<Vec<Instance>, Ec2Error> {
    let project = ctx.project_id.clone();
    let live = InstanceFilters {
        project_id: project.clone(),
        uuids: uuids.clone(),
        deleted: Some(false),
        ..Default::default()
    };
    let gone = InstanceFilters {
        project_id: project,
        uuids,
        deleted: Some(true),
        changes_since: Some(Utc::now() - chrono::Duration::seconds(TERMINATED_VISIBLE_SECS)),
        ..Default::default()
    };
    let mut all = state.compute_api.get_all(ctx, live, None).await?;
    all.extend(state.compute_api.get_all(ctx, gone, None).await?);
    all.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.id.cmp(&b.id)));
    Ok(all)
}

/// The instances `InstanceId.N` names (all must exist), or all of the caller's.
async fn requested_instances(
    state: &AppState,
    ctx: &RequestContext,
    ids: &[String],
) -> Result<Vec<Instance>, Ec2Error> {
    if ids.is_empty() {
        return list_instances(state, ctx, None).await;
    }
    let mut uuids = vec![];
    for id in ids {
        uuids.push(instance_uuid_by_ec2_id(state, ctx, id).await?);
    }
    let found = list_instances(state, ctx, Some(uuids.clone())).await?;
    for (id, u) in ids.iter().zip(&uuids) {
        if !found.iter().any(|i| &i.uuid == u) {
            return Err(Ec2Error::from_nova(
                NovaError::InstanceNotFound {
                    instance_id: id.clone(),
                },
                Some(id),
            ));
        }
    }
    Ok(found)
}

/// Whether an instance passes one DescribeInstances filter.
fn instance_filter(
    f: &Filter,
    inst: &Instance,
    ec2_id: &str,
    images: &HashMap<String, String>,
) -> Result<bool, Ec2Error> {
    let (code, name) = instance_state(inst);
    let any = |v: Option<String>| v.is_some_and(|v| filter_matches(f, &v));
    Ok(match f.name.as_str() {
        "instance-id" => filter_matches(f, ec2_id),
        "instance-state-name" => filter_matches(f, name),
        "instance-state-code" => filter_matches(f, &code.to_string()),
        "instance-type" => filter_matches(f, &inst.flavor.name),
        "image-id" => any(images.get(&inst.image_ref).cloned()),
        "key-name" => any(inst.key_name.clone()),
        "availability-zone" => any(inst.availability_zone.clone()),
        "reservation-id" => filter_matches(f, &inst.reservation_id),
        "private-ip-address" => any(fixed_ip(inst)),
        "ip-address" => any(floating_ip(inst)),
        "private-dns-name" => filter_matches(f, &inst.hostname),
        "tag-key" => inst.metadata.keys().any(|k| filter_matches(f, k)),
        "tag-value" => inst.metadata.values().any(|v| filter_matches(f, v)),
        n => match n.strip_prefix("tag:") {
            Some(key) => any(inst.metadata.get(key).cloned()),
            None => return Err(unknown_filter(f)),
        },
    })
}

async fn describe_instances(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:servers:detail", ctx, &Target::own(ctx))?;
    let ids = id_list(p, "InstanceId")?;
    let (limit, offset) = p.page(5, 1000)?;
    if !ids.is_empty() && limit.is_some() {
        return Err(Ec2Error::new(
            "InvalidParameterCombination",
            "The parameter instancesSet cannot be used with the parameter maxResults",
        ));
    }
    let filters = p.filters()?;
    let insts = requested_instances(state, ctx, &ids).await?;
    let ec2_ids = ec2_ids_of(state, ctx, &insts).await?;
    let images = image_ids_of(state, ctx, &images_of(&insts)).await?;
    let mut kept = vec![];
    'each: for (inst, id) in insts.into_iter().zip(ec2_ids) {
        for f in &filters {
            if !instance_filter(f, &inst, &id, &images)? {
                continue 'each;
            }
        }
        kept.push((inst, id));
    }
    let (page, next) = paginate(kept, limit, offset);
    let (insts, ids): (Vec<Instance>, Vec<String>) = page.into_iter().unzip();
    let mut out = body(vec![(
        "reservationSet",
        reservations(state, &insts, &ids, &images),
    )]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}

async fn describe_instance_status(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:servers:detail", ctx, &Target::own(ctx))?;
    let ids = id_list(p, "InstanceId")?;
    let include_all = p.boolean("IncludeAllInstances")?.unwrap_or(false);
    let (limit, offset) = p.page(5, 1000)?;
    let filters = p.filters()?;
    let insts = requested_instances(state, ctx, &ids).await?;
    let ec2_ids = ec2_ids_of(state, ctx, &insts).await?;
    let mut items = vec![];
    'each: for (inst, id) in insts.iter().zip(ec2_ids) {
        let st = instance_state(inst);
        if !include_all && st != ec2utils::RUNNING {
            continue;
        }
        let zone = inst.availability_zone.clone().unwrap_or_default();
        for f in &filters {
            let keep = match f.name.as_str() {
                "instance-state-name" => filter_matches(f, st.1),
                "instance-state-code" => filter_matches(f, &st.0.to_string()),
                "availability-zone" => filter_matches(f, &zone),
                _ => return Err(unknown_filter(f)),
            };
            if !keep {
                continue 'each;
            }
        }
        let ok = if st == ec2utils::RUNNING {
            "ok"
        } else {
            "not-applicable"
        };
        let summary = |s: &str| {
            X::obj(vec![
                ("status", X::text(s)),
                (
                    "details",
                    X::Items(vec![X::obj(vec![
                        ("name", X::text("reachability")),
                        (
                            "status",
                            X::text(if s == "ok" { "passed" } else { "initializing" }),
                        ),
                    ])]),
                ),
            ])
        };
        items.push(X::obj(vec![
            ("instanceId", X::text(id)),
            ("availabilityZone", X::text(zone)),
            ("instanceState", state_x(st)),
            ("systemStatus", summary(ok)),
            ("instanceStatus", summary(ok)),
            ("eventsSet", X::Items(vec![])),
        ]));
    }
    let (page, next) = paginate(items, limit, offset);
    let mut out = body(vec![("instanceStatusSet", X::Items(page))]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}

async fn describe_instance_attribute(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let id = p.required("InstanceId")?;
    let attribute = p.required("Attribute")?;
    let inst = instance_by_ec2_id(state, ctx, id).await?;
    state.policy.authorize(
        "os_compute_api:servers:show",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    let images = image_ids_of(state, ctx, &images_of(std::slice::from_ref(&inst))).await?;
    let value = match attribute {
        "instanceType" => X::value(X::text(inst.flavor.name.clone())),
        "kernel" => X::value(X::text(
            images.get(&inst.kernel_id).cloned().unwrap_or_default(),
        )),
        "ramdisk" => X::value(X::text(
            images.get(&inst.ramdisk_id).cloned().unwrap_or_default(),
        )),
        "userData" => X::value(X::text(inst.user_data.clone().unwrap_or_default())),
        "disableApiTermination" => X::value(X::bool(false)),
        "disableApiStop" => X::value(X::bool(false)),
        "instanceInitiatedShutdownBehavior" => X::value(X::text("stop")),
        "rootDeviceName" => X::value(X::text(
            inst.root_device_name
                .clone()
                .unwrap_or_else(|| "/dev/vda".into()),
        )),
        "blockDeviceMapping" | "groupSet" | "productCodes" => X::Items(vec![]),
        "sourceDestCheck" | "ebsOptimized" | "enaSupport" => X::value(X::bool(false)),
        other => {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("Value ({other}) for parameter attribute is invalid. Unknown attribute."),
            ))
        }
    };
    Ok(body(vec![("instanceId", X::text(id)), (attribute, value)]))
}

async fn run_instances(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:servers:create", ctx, &Target::own(ctx))?;
    let image_ec2 = p.required("ImageId")?;
    let min = p
        .int("MinCount")?
        .ok_or_else(|| Ec2Error::missing_parameter("MinCount"))?;
    let max = p
        .int("MaxCount")?
        .ok_or_else(|| Ec2Error::missing_parameter("MaxCount"))?;
    if min < 1 {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!(
                "Value ({min}) for parameter minCount is invalid. Expected a positive integer."
            ),
        ));
    }
    if max < min {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("Value ({max}) for parameter maxCount is invalid. Expected at least minCount ({min})."),
        ));
    }
    for g in p
        .list("SecurityGroup")
        .into_iter()
        .chain(p.list("SecurityGroupId"))
    {
        if g != "default" {
            return Err(Ec2Error::new(
                "InvalidGroup.NotFound",
                format!("The security group '{g}' does not exist"),
            ));
        }
    }
    let user_data = match p.get("UserData").filter(|u| !u.is_empty()) {
        Some(u) => {
            base64::engine::general_purpose::STANDARD
                .decode(u)
                .map_err(|_| {
                    Ec2Error::new(
                        "InvalidParameterValue",
                        "Invalid BASE64 encoding of user data",
                    )
                })?;
            Some(u.to_string())
        }
        None => None,
    };
    let availability_zone = match p
        .get("Placement.AvailabilityZone")
        .filter(|z| !z.is_empty())
    {
        Some(z) => {
            let az = RequestedZone::parse(z)?;
            if az.forces_placement() {
                state.policy.authorize(
                    "os_compute_api:servers:create:forced_host",
                    ctx,
                    &Target::own(ctx),
                )?;
            }
            Some(az)
        }
        None => None,
    };
    let image = image_uuid_by_ec2_id(state, ctx, image_ec2).await?;
    let type_name = p
        .get("InstanceType")
        .filter(|t| !t.is_empty())
        .unwrap_or(&state.cfg.ec2.default_flavor)
        .to_string();
    let public = if ctx.is_admin { None } else { Some(true) };
    let flavor = state
        .conductor
        .flavor_get_all(ctx, public)
        .await?
        .into_iter()
        .find(|f| f.name == type_name)
        .ok_or_else(|| {
            Ec2Error::new(
                "InvalidParameterValue",
                format!("Invalid value '{type_name}' for InstanceType."),
            )
        })?;
    let made = state
        .compute_api
        .create(
            ctx,
            CreateRequest {
                display_name: format!("server-{}", &Uuid::new_v4().simple().to_string()[..8]),
                display_description: None,
                image_href: image,
                flavor,
                min_count: min,
                max_count: max,
                key_name: p
                    .get("KeyName")
                    .filter(|k| !k.is_empty())
                    .map(str::to_string),
                metadata: BTreeMap::new(),
                requested_networks: RequestedNetworks::Auto,
                user_data,
                availability_zone,
                access_ip_v4: None,
                access_ip_v6: None,
                config_drive: false,
            },
        )
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(image_ec2)))?;
    let ec2_ids = ec2_ids_of(state, ctx, &made.instances).await?;
    let images = image_ids_of(state, ctx, &images_of(&made.instances)).await?;
    let items: Vec<X> = made
        .instances
        .iter()
        .zip(&ec2_ids)
        .map(|(i, id)| format_instance(state, i, id, &images))
        .collect();
    Ok(body(vec![
        ("reservationId", X::text(made.reservation_id)),
        (
            "ownerId",
            X::text(ctx.project_id.clone().unwrap_or_default()),
        ),
        ("groupSet", X::Items(vec![])),
        ("instancesSet", X::Items(items)),
    ]))
}

#[derive(Clone, Copy, PartialEq)]
enum Change {
    Terminate,
    Stop,
    Start,
    Reboot,
}

/// Terminate, Stop, Start, Reboot: every id must name an instance of the
/// caller's before any is acted on.
async fn change_instances(state: &AppState, ctx: &RequestContext, p: &Params, change: Change) -> R {
    let ids = id_list(p, "InstanceId")?;
    if ids.is_empty() {
        return Err(Ec2Error::missing_parameter("InstanceId"));
    }
    let mut insts = vec![];
    for id in &ids {
        insts.push((id.clone(), instance_by_ec2_id(state, ctx, id).await?));
    }
    let rule = match change {
        Change::Terminate => "os_compute_api:servers:delete",
        Change::Stop => "os_compute_api:servers:stop",
        Change::Start => "os_compute_api:servers:start",
        Change::Reboot => "os_compute_api:servers:reboot",
    };
    for (_, inst) in &insts {
        state
            .policy
            .authorize(rule, ctx, &Target::project(&inst.project_id))?;
    }
    let mut items = vec![];
    for (id, inst) in insts {
        let before = instance_state(&inst);
        let api = &state.compute_api;
        let err = |e: NovaError| Ec2Error::from_nova(e, Some(&id));
        match change {
            Change::Terminate => api.delete(ctx, &inst).await.map_err(err)?,
            // As AWS: stopping a stopped instance (or starting a running one) is no error.
            Change::Stop if before == ec2utils::STOPPED || before == ec2utils::STOPPING => {}
            Change::Stop => api.stop(ctx, &inst).await.map_err(err)?,
            Change::Start if before == ec2utils::RUNNING => {}
            Change::Start => api.start(ctx, &inst).await.map_err(err)?,
            Change::Reboot => api
                .reboot(ctx, &inst, RebootType::Soft)
                .await
                .map_err(err)?,
        }
        if change == Change::Reboot {
            continue;
        }
        let after = match api.get(ctx, &inst.uuid.to_string()).await {
            Ok(i) => instance_state(&i),
            Err(NovaError::InstanceNotFound { .. }) => ec2utils::TERMINATED,
            Err(e) => return Err(err(e)),
        };
        items.push(X::obj(vec![
            ("instanceId", X::text(id)),
            ("currentState", state_x(after)),
            ("previousState", state_x(before)),
        ]));
    }
    if change == Change::Reboot {
        return Ok(ret_true());
    }
    Ok(body(vec![("instancesSet", X::Items(items))]))
}

async fn get_console_output(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let id = p.required("InstanceId")?;
    let inst = instance_by_ec2_id(state, ctx, id).await?;
    state.policy.authorize(
        "os_compute_api:os-console-output",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    let output = match state.compute_api.get_console_output(ctx, &inst, None).await {
        Ok(o) => o,
        // Nothing to show yet (AWS answers with no output, not an error).
        Err(NovaError::InstanceNotReady { .. }) => String::new(),
        Err(e) => return Err(Ec2Error::from_nova(e, Some(id))),
    };
    Ok(body(vec![
        ("instanceId", X::text(id)),
        ("timestamp", X::time(&Utc::now())),
        (
            "output",
            X::text(base64::engine::general_purpose::STANDARD.encode(output.as_bytes())),
        ),
    ]))
}

// ----- images -----

/// EC2's `imageState` of a Glance status.
fn image_state(status: &str) -> &'static str {
    match status {
        "active" => "available",
        "queued" | "saving" | "importing" | "uploading" => "pending",
        "deleted" | "pending_delete" => "deregistered",
        _ => "failed",
    }
}

fn kind_of(img: &GlanceImage) -> &'static str {
    ec2utils::image_kind(
        img.meta.container_format.as_deref(),
        img.meta.disk_format.as_deref(),
    )
}

/// EC2 ids of listed images and of the kernels and ramdisks they name.
async fn listed_image_ids(
    state: &AppState,
    ctx: &RequestContext,
    images: &[GlanceImage],
) -> Result<HashMap<String, String>, Ec2Error> {
    let mut refs: Vec<(String, &'static str)> = vec![];
    for i in images {
        refs.push((i.meta.id.clone(), kind_of(i)));
        for (prop, kind) in [("kernel_id", "aki"), ("ramdisk_id", "ari")] {
            if let Some(u) = i.meta.properties.get(prop) {
                refs.push((u.clone(), kind));
            }
        }
    }
    image_ids_of(state, ctx, &refs).await
}

fn format_image(img: &GlanceImage, ids: &HashMap<String, String>) -> X {
    let m = &img.meta;
    let name = m.name.clone().unwrap_or_default();
    let kind = kind_of(img);
    let mut f: Vec<(&str, X)> = vec![
        (
            "imageId",
            X::text(ids.get(&m.id).cloned().unwrap_or_default()),
        ),
        (
            "imageLocation",
            X::text(
                m.properties
                    .get("image_location")
                    .cloned()
                    .unwrap_or_else(|| name.clone()),
            ),
        ),
        ("imageState", X::text(image_state(&m.status))),
        (
            "imageOwnerId",
            X::text(img.owner.clone().unwrap_or_default()),
        ),
        ("isPublic", X::bool(img.visibility == "public")),
        (
            "architecture",
            X::text(
                m.properties
                    .get("architecture")
                    .cloned()
                    .unwrap_or_else(|| "x86_64".into()),
            ),
        ),
        ("imageType", X::text(ec2utils::image_type_name(kind))),
    ];
    if let Some(k) = m.properties.get("kernel_id").and_then(|u| ids.get(u)) {
        f.push(("kernelId", X::text(k.clone())));
    }
    if let Some(r) = m.properties.get("ramdisk_id").and_then(|u| ids.get(u)) {
        f.push(("ramdiskId", X::text(r.clone())));
    }
    f.push(("name", X::text(name)));
    if let Some(d) = m.properties.get("description") {
        f.push(("description", X::text(d.clone())));
    }
    f.push(("rootDeviceType", X::text("instance-store")));
    f.push((
        "rootDeviceName",
        X::text(
            m.properties
                .get("root_device_name")
                .cloned()
                .unwrap_or_else(|| "/dev/sda1".into()),
        ),
    ));
    f.push(("blockDeviceMapping", X::Items(vec![])));
    f.push(("virtualizationType", X::text("hvm")));
    if let Some(c) = &img.created_at {
        f.push(("creationDate", X::text(c.clone())));
    }
    X::obj(f)
}

async fn describe_images(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let wanted = id_list(p, "ImageId")?;
    let mut wanted_uuids = vec![];
    for id in &wanted {
        wanted_uuids.push((id.clone(), image_uuid_by_ec2_id(state, ctx, id).await?));
    }
    let owners = p.list("Owner");
    let filters = p.filters()?;
    let (limit, offset) = p.page(5, 1000)?;
    let mut images = state.compute_api.get_all_images(ctx).await?;
    for (id, u) in &wanted_uuids {
        if !images.iter().any(|i| &i.meta.id == u) {
            return Err(Ec2Error::from_nova(
                NovaError::ImageNotFound {
                    image_id: id.clone(),
                },
                Some(id),
            ));
        }
    }
    if !wanted_uuids.is_empty() {
        images.retain(|i| wanted_uuids.iter().any(|(_, u)| u == &i.meta.id));
    }
    let project = ctx.project_id.clone().unwrap_or_default();
    if !owners.is_empty() {
        images.retain(|i| {
            let owner = i.owner.clone().unwrap_or_default();
            owners
                .iter()
                .any(|o| (o == "self" && owner == project) || o == &owner)
        });
    }
    images.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.meta.id.cmp(&b.meta.id))
    });
    let ids = listed_image_ids(state, ctx, &images).await?;
    let mut items = vec![];
    'each: for img in &images {
        for f in &filters {
            let m = &img.meta;
            let keep = match f.name.as_str() {
                "image-id" => ids.get(&m.id).is_some_and(|i| filter_matches(f, i)),
                "name" => filter_matches(f, m.name.as_deref().unwrap_or_default()),
                "state" => filter_matches(f, image_state(&m.status)),
                "is-public" => filter_matches(
                    f,
                    if img.visibility == "public" {
                        "true"
                    } else {
                        "false"
                    },
                ),
                "image-type" => filter_matches(f, ec2utils::image_type_name(kind_of(img))),
                "owner-id" => filter_matches(f, img.owner.as_deref().unwrap_or_default()),
                "architecture" => filter_matches(
                    f,
                    m.properties
                        .get("architecture")
                        .map(String::as_str)
                        .unwrap_or("x86_64"),
                ),
                _ => return Err(unknown_filter(f)),
            };
            if !keep {
                continue 'each;
            }
        }
        items.push(format_image(img, &ids));
    }
    let (page, next) = paginate(items, limit, offset);
    let mut out = body(vec![("imagesSet", X::Items(page))]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}

async fn create_image(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let id = p.required("InstanceId")?;
    let name = p.required("Name")?;
    if name.chars().count() > 255 {
        return Err(Ec2Error::invalid_value("Name", name));
    }
    let inst = instance_by_ec2_id(state, ctx, id).await?;
    state.policy.authorize(
        "os_compute_api:servers:create_image",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    // Deliberate deviation: Liberty stopped a running instance around the
    // snapshot unless NoReboot; here the compute host snapshots it as it is
    // (its driver quiesces what it must), whatever NoReboot says.
    let mut props = BTreeMap::new();
    if let Some(d) = p.get("Description").filter(|d| !d.is_empty()) {
        props.insert("description".to_string(), d.to_string());
    }
    let image = state
        .compute_api
        .snapshot(ctx, &inst, name, &props)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(id)))?;
    let ids = image_ids_of(state, ctx, &[(image.id.clone(), "ami")]).await?;
    Ok(body(vec![(
        "imageId",
        X::text(ids.get(&image.id).cloned().unwrap_or_default()),
    )]))
}

async fn deregister_image(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let id = p.required("ImageId")?;
    let uuid = image_uuid_by_ec2_id(state, ctx, id).await?;
    state
        .compute_api
        .delete_image_record(ctx, &uuid)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(id)))?;
    Ok(ret_true())
}

async fn describe_image_attribute(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let id = p.required("ImageId")?;
    let attribute = p.required("Attribute")?;
    let uuid = image_uuid_by_ec2_id(state, ctx, id).await?;
    let images = state.compute_api.get_all_images(ctx).await?;
    let img = images
        .into_iter()
        .find(|i| i.meta.id == uuid)
        .ok_or_else(|| {
            Ec2Error::from_nova(
                NovaError::ImageNotFound {
                    image_id: id.to_string(),
                },
                Some(id),
            )
        })?;
    let ids = listed_image_ids(state, ctx, std::slice::from_ref(&img)).await?;
    let prop_id = |k: &str| {
        img.meta
            .properties
            .get(k)
            .and_then(|u| ids.get(u))
            .cloned()
            .unwrap_or_default()
    };
    let value = match attribute {
        "description" => X::value(X::text(
            img.meta
                .properties
                .get("description")
                .cloned()
                .unwrap_or_default(),
        )),
        "kernel" => X::value(X::text(prop_id("kernel_id"))),
        "ramdisk" => X::value(X::text(prop_id("ramdisk_id"))),
        "launchPermission" => X::Items(if img.visibility == "public" {
            vec![X::obj(vec![("group", X::text("all"))])]
        } else {
            vec![]
        }),
        "blockDeviceMapping" | "productCodes" => X::Items(vec![]),
        other => {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("Value ({other}) for parameter attribute is invalid. Unknown attribute."),
            ))
        }
    };
    Ok(body(vec![("imageId", X::text(id)), (attribute, value)]))
}

// ----- key pairs -----

fn user_of(ctx: &RequestContext) -> String {
    ctx.user_id.clone().unwrap_or_default()
}

fn check_key_name(name: &str) -> Result<(), Ec2Error> {
    if name.chars().count() > 255 {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            "Key pair name must be at most 255 characters",
        ));
    }
    Ok(())
}

async fn create_key_pair(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let name = p.required("KeyName")?;
    check_key_name(name)?;
    let user = user_of(ctx);
    state.policy.authorize(
        "os_compute_api:os-keypairs:create",
        ctx,
        &Target::user(&user),
    )?;
    let (kp, private_key) = state
        .keypair_api
        .create_key_pair(ctx, &user, name, "ssh")
        .await?;
    Ok(body(vec![
        ("keyName", X::text(kp.name)),
        ("keyFingerprint", X::text(kp.fingerprint)),
        ("keyMaterial", X::text(private_key)),
    ]))
}

async fn import_key_pair(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let name = p.required("KeyName")?;
    check_key_name(name)?;
    let material = p.required("PublicKeyMaterial")?;
    let user = user_of(ctx);
    state.policy.authorize(
        "os_compute_api:os-keypairs:create",
        ctx,
        &Target::user(&user),
    )?;
    // botocore sends the key base64-encoded (a blob); Nova decoded it.
    let key = base64::engine::general_purpose::STANDARD
        .decode(material.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Ec2Error::new(
                "InvalidKeyPair.Format",
                "Key is not in valid OpenSSH public key format",
            )
        })?;
    let kp = state
        .keypair_api
        .import_key_pair(ctx, &user, name, &key, "ssh")
        .await?;
    Ok(body(vec![
        ("keyName", X::text(kp.name)),
        ("keyFingerprint", X::text(kp.fingerprint)),
    ]))
}

async fn describe_key_pairs(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let user = user_of(ctx);
    state.policy.authorize(
        "os_compute_api:os-keypairs:index",
        ctx,
        &Target::user(&user),
    )?;
    let names = p.list("KeyName");
    let filters = p.filters()?;
    let kps = state.keypair_api.get_key_pairs(ctx, &user).await?;
    if let Some(missing) = names.iter().find(|n| !kps.iter().any(|k| &k.name == *n)) {
        return Err(Ec2Error::new(
            "InvalidKeyPair.NotFound",
            format!("The key pair '{missing}' does not exist"),
        ));
    }
    let mut items = vec![];
    'each: for k in kps {
        if !names.is_empty() && !names.contains(&k.name) {
            continue;
        }
        for f in &filters {
            let keep = match f.name.as_str() {
                "key-name" => filter_matches(f, &k.name),
                "fingerprint" => filter_matches(f, &k.fingerprint),
                _ => return Err(unknown_filter(f)),
            };
            if !keep {
                continue 'each;
            }
        }
        let mut fields = vec![
            ("keyName", X::text(k.name)),
            ("keyFingerprint", X::text(k.fingerprint)),
            ("keyType", X::text("rsa")),
        ];
        if let Some(t) = &k.created_at {
            fields.push(("createTime", X::time(t)));
        }
        items.push(X::obj(fields));
    }
    Ok(body(vec![("keySet", X::Items(items))]))
}

async fn delete_key_pair(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let name = p.required("KeyName")?;
    let user = user_of(ctx);
    state.policy.authorize(
        "os_compute_api:os-keypairs:delete",
        ctx,
        &Target::user(&user),
    )?;
    match state.keypair_api.delete_key_pair(ctx, &user, name).await {
        // AWS answers true whether or not the key existed (Nova did too).
        Ok(()) | Err(NovaError::KeypairNotFound { .. }) => Ok(ret_true()),
        Err(e) => Err(e.into()),
    }
}

// ----- tags (a server's metadata) -----

/// The instances `ResourceId.N` names: only instances can be tagged here.
async fn tagged_instances(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
    rule: &str,
) -> Result<Vec<Instance>, Ec2Error> {
    let ids = id_list(p, "ResourceId")?;
    if ids.is_empty() {
        return Err(Ec2Error::missing_parameter("ResourceId"));
    }
    let mut out = vec![];
    for id in &ids {
        if !id.starts_with("i-") {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("Tags on '{id}' are not supported: only instances can be tagged"),
            ));
        }
        let inst = instance_by_ec2_id(state, ctx, id).await?;
        state
            .policy
            .authorize(rule, ctx, &Target::project(&inst.project_id))?;
        out.push(inst);
    }
    Ok(out)
}

/// `Tag.N.Key` / `Tag.N.Value`.
fn tags(p: &Params) -> Result<Vec<(String, Option<String>)>, Ec2Error> {
    let mut out = vec![];
    for t in p.structs("Tag") {
        let Some(key) = t.get("Key") else {
            return Err(Ec2Error::missing_parameter("Tag.N.Key"));
        };
        if key.is_empty() || key.chars().count() > 128 {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                format!("Tag key '{key}' must be 1 to 128 characters long"),
            ));
        }
        if key.starts_with("aws:") {
            return Err(Ec2Error::new(
                "InvalidParameterValue",
                "Tag keys starting with 'aws:' are reserved for internal use",
            ));
        }
        out.push((key.clone(), t.get("Value").cloned()));
    }
    Ok(out)
}

async fn create_tags(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let tags = tags(p)?;
    if tags.is_empty() {
        return Err(Ec2Error::missing_parameter("Tag"));
    }
    let insts = tagged_instances(state, ctx, p, "os_compute_api:server-metadata:create").await?;
    let metadata: BTreeMap<String, String> = tags
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect();
    for inst in insts {
        state
            .compute_api
            .update_instance_metadata(ctx, &inst, metadata.clone(), false)
            .await?;
    }
    Ok(ret_true())
}

async fn delete_tags(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let tags = tags(p)?;
    let insts = tagged_instances(state, ctx, p, "os_compute_api:server-metadata:delete").await?;
    for inst in insts {
        if tags.is_empty() {
            // No Tag: every tag of the resource goes.
            state
                .compute_api
                .update_instance_metadata(ctx, &inst, BTreeMap::new(), true)
                .await?;
            continue;
        }
        for (k, v) in &tags {
            let matches = match (inst.metadata.get(k), v) {
                (None, _) => false,
                (Some(_), None) => true,
                (Some(have), Some(want)) => have == want,
            };
            if matches {
                state
                    .compute_api
                    .delete_instance_metadata(ctx, &inst, k)
                    .await?;
            }
        }
    }
    Ok(ret_true())
}

async fn describe_tags(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state.policy.authorize(
        "os_compute_api:server-metadata:index",
        ctx,
        &Target::own(ctx),
    )?;
    let filters = p.filters()?;
    let (limit, offset) = p.page(5, 1000)?;
    let filters_ok = filters.iter().all(|f| {
        matches!(
            f.name.as_str(),
            "resource-id" | "resource-type" | "key" | "value"
        ) || f.name.starts_with("tag:")
    });
    if let Some(bad) = filters.iter().find(|_| !filters_ok) {
        return Err(unknown_filter(bad));
    }
    let insts: Vec<Instance> = list_instances(state, ctx, None)
        .await?
        .into_iter()
        .filter(|i| !i.deleted && !i.metadata.is_empty())
        .collect();
    let ec2_ids = ec2_ids_of(state, ctx, &insts).await?;
    let mut items = vec![];
    for (inst, id) in insts.iter().zip(&ec2_ids) {
        for (k, v) in &inst.metadata {
            let keep = filters.iter().all(|f| match f.name.as_str() {
                "resource-id" => filter_matches(f, id),
                "resource-type" => filter_matches(f, "instance"),
                "key" => filter_matches(f, k),
                "value" => filter_matches(f, v),
                n => n
                    .strip_prefix("tag:")
                    .is_some_and(|want| want == k && filter_matches(f, v)),
            });
            if keep {
                items.push(X::obj(vec![
                    ("resourceId", X::text(id.clone())),
                    ("resourceType", X::text("instance")),
                    ("key", X::text(k.clone())),
                    ("value", X::text(v.clone())),
                ]));
            }
        }
    }
    let (page, next) = paginate(items, limit, offset);
    let mut out = body(vec![("tagSet", X::Items(page))]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        let (p, n) = paginate((0..12).collect::<Vec<_>>(), Some(5), 0);
        assert_eq!((p, n.as_deref()), (vec![0, 1, 2, 3, 4], Some("5")));
        let (p, n) = paginate((0..12).collect::<Vec<_>>(), Some(5), 10);
        assert_eq!((p, n), (vec![10, 11], None));
        let (p, n) = paginate((0..3).collect::<Vec<_>>(), None, 0);
        assert_eq!((p.len(), n), (3, None));
    }
}
