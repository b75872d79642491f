//! Tags: an instance's tags are its server metadata.

use super::*;

/// The instances `ResourceId.N` names: only instances can be tagged here.
pub(super) async fn tagged_instances(
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
pub(super) fn tags(p: &Params) -> Result<Vec<(String, Option<String>)>, Ec2Error> {
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

/// RunInstances' `TagSpecification.N` for instances: the new servers' metadata.
pub(super) fn instance_tag_specifications(
    p: &Params,
) -> Result<BTreeMap<String, String>, Ec2Error> {
    let mut out = BTreeMap::new();
    for spec in p.structs("TagSpecification") {
        match spec.get("ResourceType").map(String::as_str) {
            Some("instance") => {}
            other => {
                return Err(Ec2Error::new(
                    "InvalidParameterValue",
                    format!(
                        "TagSpecification for resource type '{}' is not supported: only 'instance'",
                        other.unwrap_or_default()
                    ),
                ))
            }
        }
        let fields: Vec<(String, String)> = spec.into_iter().collect();
        for (k, v) in tags(&Params::from_request(&fields))? {
            out.insert(k, v.unwrap_or_default());
        }
    }
    Ok(out)
}

pub(super) async fn create_tags(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn delete_tags(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn describe_tags(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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
