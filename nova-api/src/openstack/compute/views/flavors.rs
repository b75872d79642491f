//! Flavors.

use super::links;
use crate::openstack::api_version_request::ApiVersion;
use crate::openstack::common::BaseUrl;
use nova_objects::Flavor;
use serde_json::{json, Value};

pub fn flavor_summary(base: &BaseUrl, f: &Flavor, v: ApiVersion) -> Value {
    let mut s =
        json!({"id": f.flavorid, "name": f.name, "links": links(base, "flavors", &f.flavorid)});
    if v.at_least(55) {
        s["description"] = json!(f.description);
    }
    s
}

/// The full body; `extra_specs` (2.61) when the caller may read them.
pub fn flavor_detail(base: &BaseUrl, f: &Flavor, v: ApiVersion, extra_specs: bool) -> Value {
    let mut d = json!({
        "id": f.flavorid,
        "name": f.name,
        "ram": f.memory_mb,
        "disk": f.root_gb,
        "vcpus": f.vcpus,
        "links": links(base, "flavors", &f.flavorid),
        "OS-FLV-EXT-DATA:ephemeral": f.ephemeral_gb,
        "os-flavor-access:is_public": f.is_public,
        "swap": if f.swap == 0 && !v.at_least(75) { json!("") } else { json!(f.swap) },
    });
    // 2.102 drops the network-era fields.
    if !v.at_least(102) {
        d["OS-FLV-DISABLED:disabled"] = json!(f.disabled);
        d["rxtx_factor"] = json!(f.rxtx_factor);
    }
    if v.at_least(55) {
        d["description"] = json!(f.description);
    }
    if v.at_least(61) && extra_specs {
        d["extra_specs"] = json!(f.extra_specs);
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn microversions_add_description_and_extra_specs() {
        let mut f = Flavor {
            flavorid: "1".into(),
            description: Some("d".into()),
            ..Default::default()
        };
        f.extra_specs.insert("k".into(), "v".into());
        let old = flavor_detail(
            &BaseUrl::new("http://x", None),
            &f,
            ApiVersion::new(2, 1),
            true,
        );
        assert!(old.get("description").is_none() && old.get("extra_specs").is_none());
        assert_eq!(old["swap"], "");
        let new = flavor_detail(
            &BaseUrl::new("http://x", None),
            &f,
            ApiVersion::new(2, 75),
            true,
        );
        assert_eq!(new["description"], "d");
        assert_eq!(new["extra_specs"]["k"], "v");
        assert_eq!(new["swap"], 0);
        let hidden = flavor_detail(
            &BaseUrl::new("http://x", None),
            &f,
            ApiVersion::new(2, 61),
            false,
        );
        assert!(hidden.get("extra_specs").is_none());
        assert_eq!(
            flavor_summary(&BaseUrl::new("http://x", None), &f, ApiVersion::new(2, 55))
                ["description"],
            "d"
        );
        assert_eq!(new["rxtx_factor"], 0.0);
        assert_eq!(new["OS-FLV-DISABLED:disabled"], false);
        let latest = flavor_detail(
            &BaseUrl::new("http://x", None),
            &f,
            ApiVersion::new(2, 102),
            true,
        );
        assert!(latest.get("rxtx_factor").is_none());
        assert!(latest.get("OS-FLV-DISABLED:disabled").is_none());
    }
}
