//! Instances: ids, the instance view, Run/Describe/Terminate/Start/Stop/Reboot, status, attributes, console.

use super::*;

/// The instance an EC2 id names, if the caller may see it.
pub(super) async fn instance_by_ec2_id(
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

pub(super) async fn instance_uuid_by_ec2_id(
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
pub(super) async fn ec2_ids_of(
    state: &AppState,
    ctx: &RequestContext,
    insts: &[Instance],
) -> Result<Vec<String>, Ec2Error> {
    let uuids = insts.iter().map(|i| i.uuid).collect();
    Ok(ec2utils::instance_ec2_ids(&state.conductor, ctx, uuids).await?)
}

/// EC2 ids of Glance images (uuid → `kind-%08x`), made where missing.
pub(super) async fn image_ids_of(
    state: &AppState,
    ctx: &RequestContext,
    images: &[(String, &'static str)],
) -> Result<HashMap<String, String>, Ec2Error> {
    Ok(ec2utils::image_ec2_ids(&state.conductor, ctx, images).await?)
}

/// The image uuid of an `ami-`/`aki-`/`ari-` id.
pub(super) async fn image_uuid_by_ec2_id(
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
pub(super) fn images_of(insts: &[Instance]) -> Vec<(String, &'static str)> {
    let mut out = vec![];
    for i in insts {
        out.push((i.image_ref.clone(), "ami"));
        out.push((i.kernel_id.clone(), "aki"));
        out.push((i.ramdisk_id.clone(), "ari"));
    }
    out
}

pub(super) fn fixed_ip(inst: &Instance) -> Option<String> {
    inst.network_info
        .iter()
        .flat_map(|v| v.network.subnets.iter())
        .flat_map(|s| s.ips.iter())
        .find(|ip| ip.version == 4)
        .map(|ip| ip.address.clone())
}

pub(super) fn floating_ip(inst: &Instance) -> Option<String> {
    inst.network_info
        .iter()
        .flat_map(|v| v.network.subnets.iter())
        .flat_map(|s| s.ips.iter())
        .flat_map(|ip| ip.floating_ips.iter())
        .next()
        .cloned()
}

pub(super) fn state_x((code, name): (i64, &str)) -> X {
    X::obj(vec![("code", X::int(code)), ("name", X::text(name))])
}

pub(super) fn tag_set(metadata: &BTreeMap<String, String>) -> X {
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
pub(super) fn format_instance(
    state: &AppState,
    inst: &Instance,
    ec2_id: &str,
    images: &HashMap<String, String>,
    groups: &HashMap<String, String>,
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
    f.push(("groupSet", group_set(&inst.security_groups, groups)));
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
    f.push(("architecture", X::text(ARCHITECTURE)));
    f.push(("rootDeviceType", X::text(ROOT_DEVICE_TYPE)));
    f.push(("rootDeviceName", X::text(root_device_name(inst))));
    f.push(("blockDeviceMapping", X::Items(vec![])));
    f.push(("virtualizationType", X::text(VIRTUALIZATION_TYPE)));
    if !inst.metadata.is_empty() {
        f.push(("tagSet", tag_set(&inst.metadata)));
    }
    if let Some(t) = inst.system_metadata.get(CLIENT_TOKEN_KEY) {
        f.push(("clientToken", X::text(t.clone())));
    }
    X::obj(f)
}

/// Instances grouped into reservations, in order of first appearance.
/// Instances grouped into reservations, in order of first appearance; a
/// reservation's `groupSet` is its first instance's (they were launched together).
pub(super) fn reservations(
    state: &AppState,
    insts: &[Instance],
    ec2_ids: &[String],
    images: &HashMap<String, String>,
    group_ids: &HashMap<String, String>,
) -> X {
    let mut order: Vec<&str> = vec![];
    let mut by_resv: HashMap<&str, (&Instance, Vec<X>)> = HashMap::new();
    for (inst, id) in insts.iter().zip(ec2_ids) {
        let r = inst.reservation_id.as_str();
        if !by_resv.contains_key(r) {
            order.push(r);
        }
        by_resv
            .entry(r)
            .or_insert_with(|| (inst, vec![]))
            .1
            .push(format_instance(state, inst, id, images, group_ids));
    }
    X::Items(
        order
            .into_iter()
            .filter_map(|r| by_resv.remove(r).map(|g| (r, g)))
            .map(|(r, (first, items))| {
                X::obj(vec![
                    ("reservationId", X::text(r)),
                    ("ownerId", X::text(first.project_id.clone())),
                    ("groupSet", group_set(&first.security_groups, group_ids)),
                    ("instancesSet", X::Items(items)),
                ])
            })
            .collect(),
    )
}

/// The caller's instances, oldest first, with those terminated in the last
/// hour (AWS keeps showing them as `terminated`); only `uuids` if given.
pub(super) async fn list_instances(
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
pub(super) async fn requested_instances(
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

/// What every instance here is, as DescribeInstances shows it (and its
/// filters match): x86_64 guests of QEMU/KVM on local disks.
const ARCHITECTURE: &str = "x86_64";
const ROOT_DEVICE_TYPE: &str = "instance-store";
const VIRTUALIZATION_TYPE: &str = "hvm";

fn root_device_name(inst: &Instance) -> String {
    inst.root_device_name
        .clone()
        .unwrap_or_else(|| "/dev/vda".into())
}

/// Whether an instance passes one DescribeInstances filter.
pub(super) fn instance_filter(
    f: &Filter,
    inst: &Instance,
    ec2_id: &str,
    images: &HashMap<String, String>,
    groups: &HashMap<String, String>,
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
        "dns-name" => any(floating_ip(inst)),
        "instance.group-name" | "group-name" => {
            inst.security_groups.iter().any(|g| filter_matches(f, g))
        }
        "instance.group-id" | "group-id" => inst
            .security_groups
            .iter()
            .any(|g| groups.get(g).is_some_and(|id| filter_matches(f, id))),
        "tag-key" => inst.metadata.keys().any(|k| filter_matches(f, k)),
        "tag-value" => inst.metadata.values().any(|v| filter_matches(f, v)),
        "architecture" => filter_matches(f, ARCHITECTURE),
        "root-device-type" => filter_matches(f, ROOT_DEVICE_TYPE),
        "root-device-name" => filter_matches(f, &root_device_name(inst)),
        "virtualization-type" => filter_matches(f, VIRTUALIZATION_TYPE),
        "kernel-id" => any(images.get(&inst.kernel_id).cloned()),
        "ramdisk-id" => any(images.get(&inst.ramdisk_id).cloned()),
        "launch-time" => any(inst
            .created_at
            .as_ref()
            .map(crate::ec2::apirequest::isotime)),
        "launch-index" | "ami-launch-index" => filter_matches(f, &inst.launch_index.to_string()),
        "owner-id" => filter_matches(f, &inst.project_id),
        "tenancy" | "placement.tenancy" => filter_matches(f, "default"),
        "monitoring-state" => filter_matches(f, "disabled"),
        "client-token" => any(inst.system_metadata.get(CLIENT_TOKEN_KEY).cloned()),
        // EC2-Classic: no instance is in a VPC or a subnet.
        "vpc-id" | "subnet-id" => false,
        n => match n.strip_prefix("tag:") {
            Some(key) => any(inst.metadata.get(key).cloned()),
            None => return Err(unknown_filter(f)),
        },
    })
}

pub(super) async fn describe_instances(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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
    let group_ids = group_ids_by_name(state, ctx).await?;
    let mut kept = vec![];
    'each: for (inst, id) in insts.into_iter().zip(ec2_ids) {
        for f in &filters {
            if !instance_filter(f, &inst, &id, &images, &group_ids)? {
                continue 'each;
            }
        }
        kept.push((inst, id));
    }
    let (page, next) = paginate(kept, limit, offset);
    let (insts, ids): (Vec<Instance>, Vec<String>) = page.into_iter().unzip();
    let mut out = body(vec![(
        "reservationSet",
        reservations(state, &insts, &ids, &images, &group_ids),
    )]);
    if let Some(n) = next {
        out.push(("nextToken".into(), X::text(n)));
    }
    Ok(out)
}

pub(super) async fn describe_instance_status(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
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

pub(super) async fn describe_instance_attribute(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
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
        "groupSet" => group_set(&inst.security_groups, &group_ids_by_name(state, ctx).await?),
        "blockDeviceMapping" | "productCodes" => X::Items(vec![]),
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

/// The system metadata item that records a RunInstances' `ClientToken`
/// (as Nova 12's EC2 API kept it).
const CLIENT_TOKEN_KEY: &str = "EC2_client_token";

/// One lock per (project, token) while a RunInstances with a `ClientToken`
/// looks for its earlier reservation and boots, so that two concurrent
/// retries of this API process cannot both boot.
fn client_token_lock(project: &str, token: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
    use std::sync::{Arc, LazyLock, Mutex, Weak};
    type Locks = Mutex<HashMap<String, Weak<tokio::sync::Mutex<()>>>>;
    static LOCKS: LazyLock<Locks> = LazyLock::new(Default::default);
    let mut locks = LOCKS.lock().unwrap_or_else(|e| e.into_inner());
    locks.retain(|_, w| w.strong_count() > 0);
    let key = format!("{project}\n{token}");
    if let Some(l) = locks.get(&key).and_then(Weak::upgrade) {
        return l;
    }
    let l = Arc::new(tokio::sync::Mutex::new(()));
    locks.insert(key, Arc::downgrade(&l));
    l
}

/// The caller's live instances launched with this `ClientToken`.
async fn instances_by_client_token(
    state: &AppState,
    ctx: &RequestContext,
    token: &str,
) -> Result<Vec<Instance>, Ec2Error> {
    let filters = InstanceFilters {
        project_id: ctx.project_id.clone(),
        deleted: Some(false),
        system_metadata: Some([(CLIENT_TOKEN_KEY.to_string(), token.to_string())].into()),
        ..Default::default()
    };
    let mut found = state.compute_api.get_all(ctx, filters, None).await?;
    found.sort_by_key(|i| i.launch_index);
    Ok(found)
}

/// RunInstances' answer: the reservation of `insts`.
async fn run_response(
    state: &AppState,
    ctx: &RequestContext,
    reservation_id: String,
    insts: &[Instance],
) -> R {
    let ec2_ids = ec2_ids_of(state, ctx, insts).await?;
    let images = image_ids_of(state, ctx, &images_of(insts)).await?;
    let group_ids = group_ids_by_name(state, ctx).await?;
    let items: Vec<X> = insts
        .iter()
        .zip(&ec2_ids)
        .map(|(i, id)| format_instance(state, i, id, &images, &group_ids))
        .collect();
    let names = insts
        .first()
        .map(|i| i.security_groups.clone())
        .unwrap_or_default();
    Ok(body(vec![
        ("reservationId", X::text(reservation_id)),
        (
            "ownerId",
            X::text(ctx.project_id.clone().unwrap_or_default()),
        ),
        ("groupSet", group_set(&names, &group_ids)),
        ("instancesSet", X::Items(items)),
    ]))
}

/// RunInstances. With a `ClientToken` (at most 64 ASCII characters) a
/// retry answers the reservation the token already made instead of booting
/// again, as long as its instances live (Nova's `_resv_id_from_token`).
pub(super) async fn run_instances(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:servers:create", ctx, &Target::own(ctx))?;
    let Some(token) = p.get("ClientToken").filter(|t| !t.is_empty()) else {
        return launch(state, ctx, p, None).await;
    };
    if token.len() > 64 || !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            "Value for parameter clientToken is invalid: at most 64 ASCII characters.",
        ));
    }
    let lock = client_token_lock(ctx.project_id.as_deref().unwrap_or_default(), token);
    let _held = lock.lock().await;
    let earlier = instances_by_client_token(state, ctx, token).await?;
    if let Some(first) = earlier.first() {
        let resv = first.reservation_id.clone();
        let same: Vec<Instance> = earlier
            .into_iter()
            .filter(|i| i.reservation_id == resv)
            .collect();
        return run_response(state, ctx, resv, &same).await;
    }
    launch(state, ctx, p, Some(token)).await
}

/// Boot what RunInstances asks for.
async fn launch(state: &AppState, ctx: &RequestContext, p: &Params, token: Option<&str>) -> R {
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
    // Groups by name (`SecurityGroup.N`) and by id (`SecurityGroupId.N`);
    // none means the project's `default`.
    let mut security_groups = p.list("SecurityGroup");
    for id in p.list("SecurityGroupId") {
        security_groups.push(group_by_ec2_id(state, ctx, &id).await?.name);
    }
    {
        let mut seen = std::collections::HashSet::new();
        security_groups.retain(|g| seen.insert(g.clone()));
    }
    for g in &security_groups {
        if g.is_empty() {
            return Err(Ec2Error::invalid_value("SecurityGroup", g));
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
    let block_devices = requested_block_devices(p)?;
    // `KernelId`, `RamdiskId`: images the caller can see, booted with
    // instead of the image's own (Nova's EC2 `_get_image` of each).
    let mut boot_with = [None, None];
    for (param, slot) in ["KernelId", "RamdiskId"].into_iter().zip(&mut boot_with) {
        if let Some(ec2_id) = p.get(param).filter(|k| !k.is_empty()) {
            let uuid = image_uuid_by_ec2_id(state, ctx, ec2_id).await?;
            let meta = state
                .compute_api
                .get_image(ctx, &uuid)
                .await
                .map_err(|e| Ec2Error::from_nova(e, Some(ec2_id)))?;
            *slot = Some(meta.id);
        }
    }
    let [kernel_id, ramdisk_id] = boot_with;
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
    API::check_block_device_mapping(&flavor, true, &block_devices)?;
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
                metadata: instance_tag_specifications(p)?,
                requested_networks: RequestedNetworks::Auto,
                user_data,
                availability_zone,
                access_ip_v4: None,
                access_ip_v6: None,
                config_drive: false,
                auto_disk_config: None,
                admin_password: None,
                injected_files: Vec::new(),
                security_groups,
                system_metadata: token
                    .map(|t| [(CLIENT_TOKEN_KEY.to_string(), t.to_string())].into())
                    .unwrap_or_default(),
                tags: vec![],
                hostname: None,
                requested_host: None,
                requested_hypervisor_hostname: None,
                scheduler_hints: Default::default(),
                trusted_certs: None,
                kernel_id,
                ramdisk_id,
            },
        )
        .await
        .map_err(|e| match e {
            NovaError::SecurityGroupNotFound { .. } => Ec2Error::from_nova(e, None),
            e => Ec2Error::from_nova(e, Some(image_ec2)),
        })?;
    run_response(state, ctx, made.reservation_id, &made.instances).await
}

/// `BlockDeviceMapping.N`: Nova's EC2 `_parse_block_device_mapping` (an
/// `Ebs.SnapshotId` of `snap-` is a snapshot, of `vol-` a volume; the
/// `Ebs` fields are the mapping's own) into the legacy mapping it is, with
/// AWS's `NoDevice`, given any value, suppressing the device, and an `Ebs`
/// without a snapshot a new volume (which Nova's legacy form could not
/// say).
fn requested_block_devices(p: &Params) -> Result<Vec<BlockDevice>, Ec2Error> {
    let mut out = vec![];
    for (i, m) in p.structs("BlockDeviceMapping").into_iter().enumerate() {
        let name = |field: &str| format!("BlockDeviceMapping.{}.{field}", i + 1);
        let text = |field: &str| m.get(field).map(String::as_str).unwrap_or_default();
        let mut b = BlockDevice {
            no_device: m.contains_key("NoDevice"),
            ..Default::default()
        };
        match text("Ebs.SnapshotId") {
            "" => {}
            id if id.starts_with("snap-") => b.snapshot_id = Some(id.into()),
            id if id.starts_with("vol-") => b.volume_id = Some(id.into()),
            id => {
                return Err(Ec2Error::new(
                    "InvalidSnapshotID.Malformed",
                    format!("Invalid id: \"{id}\" (expecting \"snap-...\")"),
                ))
            }
        }
        if let Some(size) = m.get("Ebs.VolumeSize") {
            match size.trim().parse::<i64>() {
                Ok(n) if n >= 1 => b.volume_size = Some(n),
                _ => return Err(Ec2Error::invalid_value(&name("Ebs.VolumeSize"), size)),
            }
        }
        let ebs = m.keys().any(|k| k.starts_with("Ebs."));
        if ebs
            && text("VirtualName").is_empty()
            && !b.no_device
            && b.snapshot_id.is_none()
            && b.volume_id.is_none()
        {
            // A new, empty EBS volume: a blank source to a volume.
            b.source_type = Some("blank".into());
            b.destination_type = Some("volume".into());
            b.boot_index = Some(-1);
            out.push(b);
            continue;
        }
        out.push(b.from_legacy(text("VirtualName"), text("DeviceName"), true)?);
    }
    Ok(out)
}

#[derive(Clone, Copy, PartialEq)]
pub(super) enum Change {
    Terminate,
    Stop,
    Start,
    Reboot,
}

/// Terminate, Stop, Start, Reboot: every id must name an instance of the
/// caller's before any is acted on.
pub(super) async fn change_instances(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
    change: Change,
) -> R {
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

pub(super) async fn get_console_output(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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
