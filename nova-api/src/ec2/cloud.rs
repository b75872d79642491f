//! The EC2 actions (Nova's `CloudController`): each parses its arguments,
//! checks the same policy rule as the compute API's handler for the same
//! thing, calls [`compute::api`](crate::compute::api) (or the conductor for
//! plain reads) and renders what botocore's EC2 model expects.

use super::apirequest::{filter_matches, Filter, Params, X};
use super::ec2utils::{self, ec2_id_to_id, instance_state};
use super::faults::Ec2Error;
use super::Body;
use crate::compute::api::{
    BlockDevice, CreateRequest, RebootType, RequestedNetworks, RequestedZone, API,
};
use crate::policy::Target;
use crate::AppState;
use base64::Engine;
use chrono::Utc;
use nova_clients::glance::GlanceImage;
use nova_common::{NovaError, RequestContext};
use nova_objects::{Instance, InstanceFilters};
use std::collections::{BTreeMap, HashMap};
use uuid::Uuid;

mod addresses;
mod images;
mod instances;
mod keypairs;
mod regions;
mod security_groups;
mod tags;

use addresses::*;
use images::*;
use instances::*;
use keypairs::*;
use regions::*;
use security_groups::*;
use tags::*;

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
        "DescribeSecurityGroups" => describe_security_groups(state, ctx, p).await,
        "CreateSecurityGroup" => create_security_group(state, ctx, p).await,
        "DeleteSecurityGroup" => delete_security_group(state, ctx, p).await,
        "AuthorizeSecurityGroupIngress" => authorize_security_group_ingress(state, ctx, p).await,
        "RevokeSecurityGroupIngress" => revoke_security_group_ingress(state, ctx, p).await,
        "AllocateAddress" => allocate_address(state, ctx, p).await,
        "DescribeAddresses" => describe_addresses(state, ctx, p).await,
        "AssociateAddress" => associate_address(state, ctx, p).await,
        "DisassociateAddress" => disassociate_address(state, ctx, p).await,
        "ReleaseAddress" => release_address(state, ctx, p).await,
        // In Nova's EC2 API, but Cinder's volumes and snapshots are out of
        // this port's scope; image registration needs S3.
        "DescribeVolumes"
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
