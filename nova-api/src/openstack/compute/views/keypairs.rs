//! Key pairs.

use super::micro_isotime;
use crate::openstack::api_version_request::ApiVersion;
use nova_objects::KeyPair;
use serde_json::{json, Value};

/// A key pair in listings; the type from 2.2.
pub fn keypair(k: &KeyPair, v: ApiVersion) -> Value {
    let mut o = json!({"name": k.name, "public_key": k.public_key, "fingerprint": k.fingerprint});
    if v.at_least(2) {
        o["type"] = json!(k.key_type);
    }
    o
}

/// A key pair just created; a generated one carries its private key.
pub fn created(k: &KeyPair, private_key: Option<&str>, v: ApiVersion) -> Value {
    let mut out = keypair(k, v);
    out["user_id"] = json!(k.user_id);
    if let Some(pk) = private_key {
        out["private_key"] = json!(pk);
    }
    out
}

/// `GET /os-keypairs/{name}`: the record's bookkeeping too.
pub fn show(k: &KeyPair, v: ApiVersion) -> Value {
    let mut out = keypair(k, v);
    for (key, val) in [
        ("user_id", json!(k.user_id)),
        ("id", json!(k.id)),
        ("created_at", micro_isotime(k.created_at)),
        ("updated_at", Value::Null),
        ("deleted_at", Value::Null),
        ("deleted", json!(false)),
    ] {
        out[key] = val;
    }
    out
}
