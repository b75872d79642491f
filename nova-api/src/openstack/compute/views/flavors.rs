//! Flavors.

use super::links;
use nova_objects::Flavor;
use serde_json::{json, Value};

pub fn flavor_summary(base: &str, f: &Flavor) -> Value {
    json!({"id": f.flavorid, "name": f.name, "links": links(base, "flavors", &f.flavorid)})
}

pub fn flavor_detail(base: &str, f: &Flavor) -> Value {
    json!({
        "id": f.flavorid,
        "name": f.name,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        "vcpus": f.vcpus,
        "links": links(base, "flavors", &f.flavorid),
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        "OS-FLV-DISABLED:disabled": f.disabled,
        "os-flavor-access:is_public": f.is_public,
        "swap": if f.swap == 0 { json!("") } else { json!(f.swap) },
        "rxtx_factor": f.rxtx_factor,
    })
}
