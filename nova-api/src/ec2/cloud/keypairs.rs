//! Key pairs (`compute::api::KeypairAPI`).

use super::*;

pub(super) fn user_of(ctx: &RequestContext) -> String {
    ctx.user_id.clone().unwrap_or_default()
}

pub(super) fn check_key_name(name: &str) -> Result<(), Ec2Error> {
    if name.chars().count() > 255 {
        return Err(Ec2Error::new(
            "InvalidParameterValue",
            "Key pair name must be at most 255 characters",
        ));
    }
    Ok(())
}

pub(super) async fn create_key_pair(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn import_key_pair(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn describe_key_pairs(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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

pub(super) async fn delete_key_pair(state: &AppState, ctx: &RequestContext, p: &Params) -> R {
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
