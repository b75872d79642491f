//! Images (Glance): describe, create from an instance, deregister, attributes.

use super::*;

/// EC2's `imageState` of a Glance status.
pub(super) fn image_state(status: &str) -> &'static str {
    match status {
        "active" => "available",
        "queued" | "saving" | "importing" | "uploading" => "pending",
        "deleted" | "pending_delete" => "deregistered",
        _ => "failed",
    }
}

pub(super) fn kind_of(img: &GlanceImage) -> &'static str {
    ec2utils::image_kind(
        img.meta.container_format.as_deref(),
        img.meta.disk_format.as_deref(),
    )
}

/// EC2 ids of listed images and of the kernels and ramdisks they name.
pub(super) async fn listed_image_ids(
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

pub(super) fn format_image(img: &GlanceImage, ids: &HashMap<String, String>) -> X {
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

pub(super) async fn describe_images(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn create_image(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn deregister_image(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
    let id = p.required("ImageId")?;
    let uuid = image_uuid_by_ec2_id(state, ctx, id).await?;
    state
        .compute_api
        .delete_image_record(ctx, &uuid)
        .await
        .map_err(|e| Ec2Error::from_nova(e, Some(id)))?;
    Ok(ret_true())
}

pub(super) async fn describe_image_attribute(
    state: &AppState,
    ctx: &RequestContext,
    p: &Params,
) -> R {
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
