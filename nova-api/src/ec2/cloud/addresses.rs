//! Addresses: nova-network's floating IPs (EC2-Classic's Elastic IPs),
//! through the same network API of [`compute::api`](crate::compute::api) as
//! the compute API's `os-floating-ips`.

use super::*;
use nova_objects::FloatingIp;

fn own(ctx: &RequestContext) -> Target {
    Target::project(ctx.project_id.as_deref().unwrap_or_default())
}

fn not_found(address: &str) -> Ec2Error {
    Ec2Error::new(
        "InvalidAddress.NotFound",
        format!("Address '{address}' not found."),
    )
}

/// The floating IP `address` if it is allocated to the caller's project;
/// any other (free, another project's, unknown) does not exist for them.
async fn own_address(
    state: &AppState,
    ctx: &RequestContext,
    address: &str,
) -> Result<FloatingIp, Ec2Error> {
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("Invalid value '{address}' for PublicIp. It must be an IP address."),
        ));
    }
    match state
        .compute_api
        .get_floating_ip_by_address(ctx, address)
        .await
    {
        Ok(f) if f.project_id.is_some() && f.project_id == ctx.project_id => Ok(f),
        Ok(_)
        | Err(NovaError::Forbidden {})
        | Err(NovaError::FloatingIpNotFoundForAddress { .. }) => Err(not_found(address)),
        Err(e) => Err(Ec2Error::from_nova(e, Some(address))),
    }
}

fn check_domain(p: &Params) -> Result<(), Ec2Error> {
    match p.get("Domain") {
        None | Some("") | Some("standard") => Ok(()),
        Some(d) => Err(Ec2Error::new(
            "InvalidParameterValue",
            format!("Invalid value '{d}' for domain: this cloud has only 'standard' addresses."),
        )),
    }
}

pub(super) async fn allocate_address(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:os-floating-ips:create", ctx, &own(ctx))?;
    check_domain(p)?;
    let fip = state.compute_api.allocate_floating_ip(ctx, None).await?;
    Ok(body(vec![
        ("publicIp", X::text(fip.address)),
        ("domain", X::text("standard")),
    ]))
}

pub(super) async fn describe_addresses(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:os-floating-ips:list", ctx, &own(ctx))?;
    let wanted = id_list(p, "PublicIp")?;
    if let Some(a) = id_list(p, "AllocationId")?.first() {
        return Err(Ec2Error::new(
            "InvalidAllocationID.NotFound",
            format!("The allocation ID '{a}' does not exist"),
        ));
    }
    let filters = p.filters()?;
    let fips = if wanted.is_empty() {
        state.compute_api.get_floating_ips_by_project(ctx).await?
    } else {
        let mut out = vec![];
        for a in &wanted {
            out.push(own_address(state, ctx, a).await?);
        }
        out
    };
    let uuids: Vec<Uuid> = fips.iter().filter_map(|f| f.instance_uuid).collect();
    let ec2_ids = ec2utils::instance_ec2_ids(&state.conductor, ctx, uuids.clone()).await?;
    let by_uuid: HashMap<Uuid, String> = uuids.into_iter().zip(ec2_ids).collect();
    let mut items = vec![];
    'each: for f in &fips {
        let instance = f.instance_uuid.and_then(|u| by_uuid.get(&u).cloned());
        for flt in &filters {
            let keep = match flt.name.as_str() {
                "public-ip" => filter_matches(flt, &f.address),
                "domain" => filter_matches(flt, "standard"),
                "instance-id" => instance.as_deref().is_some_and(|i| filter_matches(flt, i)),
                "private-ip-address" => f
                    .fixed_address
                    .as_deref()
                    .is_some_and(|a| filter_matches(flt, a)),
                _ => return Err(unknown_filter(flt)),
            };
            if !keep {
                continue 'each;
            }
        }
        let mut item = vec![
            ("publicIp", X::text(f.address.clone())),
            ("domain", X::text("standard")),
        ];
        if let Some(i) = instance {
            item.push(("instanceId", X::text(i)));
        }
        if let Some(a) = &f.fixed_address {
            item.push(("privateIpAddress", X::text(a.clone())));
        }
        items.push(X::obj(item));
    }
    Ok(body(vec![("addressesSet", X::Items(items))]))
}

pub(super) async fn associate_address(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    if p.get("AllocationId").is_some_and(|a| !a.is_empty()) {
        return Err(Ec2Error::new(
            "InvalidParameterCombination",
            "AllocationId is for VPC addresses; this cloud has EC2-Classic addresses: give PublicIp.",
        ));
    }
    let id = p.required("InstanceId")?;
    let address = p.required("PublicIp")?;
    let inst = instance_by_ec2_id(state, ctx, id).await?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:add",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    let fip = own_address(state, ctx, address).await?;
    // The first fixed IPv4 address, as Nova's EC2 API took.
    let Some(fixed) = fixed_ip(&inst) else {
        return Err(Ec2Error::new(
            "IncorrectInstanceState",
            format!("The instance '{id}' has no fixed IP address yet."),
        ));
    };
    state
        .compute_api
        .associate_floating_ip(ctx, &inst, &fip.address, &fixed)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(address)))?;
    Ok(ret_true())
}

pub(super) async fn disassociate_address(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let address = p.required("PublicIp")?;
    let fip = own_address(state, ctx, address).await?;
    let Some(uuid) = fip.instance_uuid else {
        return Err(Ec2Error::new(
            "InvalidAssociationID.NotFound",
            format!("The address '{address}' is not associated."),
        ));
    };
    let inst = state
        .compute_api
        .get(ctx, &uuid.to_string())
        .await
        .map_err(|e| Ec2Error::from_nova(e, None))?;
    state.policy.authorize(
        "os_compute_api:os-floating-ips:remove",
        ctx,
        &Target::project(&inst.project_id),
    )?;
    state
        .compute_api
        .disassociate_floating_ip(ctx, &fip.address)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(address)))?;
    Ok(ret_true())
}

/// As EC2-Classic: an associated address is disassociated, then released.
pub(super) async fn release_address(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    state
        .policy
        .authorize("os_compute_api:os-floating-ips:delete", ctx, &own(ctx))?;
    if p.get("AllocationId").is_some_and(|a| !a.is_empty()) {
        return Err(Ec2Error::new(
            "InvalidParameterCombination",
            "AllocationId is for VPC addresses; this cloud has EC2-Classic addresses: give PublicIp.",
        ));
    }
    let address = p.required("PublicIp")?;
    let fip = own_address(state, ctx, address).await?;
    state
        .compute_api
        .disassociate_and_release_floating_ip(ctx, &fip)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(address)))?;
    Ok(ret_true())
}
