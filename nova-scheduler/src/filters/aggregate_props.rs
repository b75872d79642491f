//! The filters that read the host aggregates' metadata (Nova's
//! `utils.aggregate_metadata_get_by_host`: every key of every aggregate of
//! the host, each value split at commas): AggregateInstanceExtraSpecsFilter,
//! AggregateMultiTenancyIsolation, AggregateTypeAffinityFilter and
//! AggregateImagePropertiesIsolation.

use super::extra_specs_ops;
use nova_objects::Aggregate;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// The metadata of a host's aggregates: key → every value.
pub type AggregateMetadata = BTreeMap<String, BTreeSet<String>>;

/// Each host's [`AggregateMetadata`], for the hosts in any aggregate.
pub fn aggregate_metadata_by_host<'a>(
    aggregates: impl IntoIterator<Item = &'a Aggregate>,
) -> HashMap<String, Arc<AggregateMetadata>> {
    let mut by_host: HashMap<String, AggregateMetadata> = HashMap::new();
    for a in aggregates {
        for h in &a.hosts {
            let m = by_host.entry(h.clone()).or_default();
            for (k, v) in &a.metadata {
                m.entry(k.clone())
                    .or_default()
                    .extend(v.split(',').map(|x| x.trim().to_string()));
            }
        }
    }
    by_host.into_iter().map(|(h, m)| (h, Arc::new(m))).collect()
}

/// The flavor's requirements on the aggregates: its extra specs scoped
/// `aggregate_instance_extra_specs:` and the unscoped ones (no `:`), as
/// (metadata key, requirement).
pub fn extra_spec_requirements(extra_specs: &BTreeMap<String, String>) -> Vec<(String, String)> {
    extra_specs
        .iter()
        .filter_map(|(key, req)| match key.split_once(':') {
            None => Some((key.clone(), req.clone())),
            Some(("aggregate_instance_extra_specs", k)) => Some((k.to_string(), req.clone())),
            Some(_) => None,
        })
        .collect()
}

/// Nova's `AggregateInstanceExtraSpecsFilter`: for every requirement, one
/// of the values the host's aggregates give the key matches it (a key they
/// do not give fails the host).
// Out of line: the filter chain inlines each filter into its pass over
// every host, and this one runs only for requests that ask for it.
#[inline(never)]
pub fn extra_specs_pass(metadata: &AggregateMetadata, requirements: &[(String, String)]) -> bool {
    requirements.iter().all(|(key, req)| {
        metadata
            .get(key)
            .is_some_and(|values| values.iter().any(|v| extra_specs_ops::matches(v, req)))
    })
}

/// Nova's `AggregateMultiTenancyIsolation`: a host whose aggregates name
/// projects (`filter_tenant_id`, `filter_tenant_id2`, ... any key that
/// starts so) takes only those projects' instances; the others take any.
// Out of line: the filter chain inlines each filter into its pass over
// every host, and this one runs only for requests that ask for it.
#[inline(never)]
pub fn tenant_passes(metadata: &AggregateMetadata, project_id: &str) -> bool {
    let mut named = metadata
        .iter()
        .filter(|(k, _)| k.starts_with("filter_tenant_id"))
        .flat_map(|(_, v)| v)
        .peekable();
    named.peek().is_none() || named.any(|p| p == project_id)
}

/// Nova's `AggregateTypeAffinityFilter`: a host whose aggregates name
/// flavors (`instance_type`, comma-separated names) takes only those; the
/// others take any.
#[inline(never)]
pub fn type_affinity_passes(metadata: &AggregateMetadata, flavor_name: &str) -> bool {
    metadata
        .get("instance_type")
        .is_none_or(|names| names.is_empty() || names.contains(flavor_name))
}

/// The image's properties as Nova's `ImageMetaProps` holds them: the
/// `hw_*`, `img_*` and `os_*` ones, the legacy names under their current
/// ones (`architecture` → `hw_architecture`, `hypervisor_type` →
/// `img_hv_type`, `vm_mode` → `hw_vm_mode`, `hypervisor_version_requires`
/// → `img_hv_requested_version`; the current name wins), the guest kinds
/// in canonical form. Other properties are not `ImageMetaProps` fields,
/// so AggregateImagePropertiesIsolation never compares them.
pub fn image_meta_props(properties: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    use nova_objects::fields::{canonical_arch, canonical_hv_type, canonical_vm_mode};
    let mut props: BTreeMap<String, String> = properties
        .iter()
        .filter(|(k, _)| ["hw_", "img_", "os_"].iter().any(|p| k.starts_with(p)))
        .map(|(k, v)| (k.clone(), v.trim().to_string()))
        .collect();
    for (legacy, current) in [
        ("architecture", "hw_architecture"),
        ("hypervisor_type", "img_hv_type"),
        ("vm_mode", "hw_vm_mode"),
        ("hypervisor_version_requires", "img_hv_requested_version"),
    ] {
        if let Some(v) = properties.get(legacy) {
            props
                .entry(current.to_string())
                .or_insert_with(|| v.trim().to_string());
        }
    }
    for (key, canonical) in [
        ("hw_architecture", canonical_arch as fn(&str) -> String),
        ("img_hv_type", canonical_hv_type),
        ("hw_vm_mode", canonical_vm_mode),
    ] {
        if let Some(v) = props.get_mut(key) {
            *v = canonical(v);
        }
    }
    props.retain(|_, v| !v.is_empty());
    props
}

/// Nova's `AggregateImagePropertiesIsolation`: for every metadata key of
/// the host's aggregates (only those in `namespace`, when one is set) that
/// the image has as a property, the image's value is one of the
/// aggregates' values.
#[inline(never)]
pub fn image_props_isolation_passes(
    metadata: &AggregateMetadata,
    image_props: &BTreeMap<String, String>,
    namespace: Option<&str>,
    separator: &str,
) -> bool {
    metadata.iter().all(|(key, options)| {
        if let Some(ns) = namespace {
            let in_namespace = key
                .strip_prefix(ns)
                .is_some_and(|rest| rest.starts_with(separator));
            if !in_namespace {
                return true;
            }
        }
        image_props.get(key).is_none_or(|v| options.contains(v))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(items: &[(&str, &[&str])]) -> AggregateMetadata {
        items
            .iter()
            .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
            .collect()
    }

    fn specs(s: &[(&str, &str)]) -> BTreeMap<String, String> {
        s.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn flavors_extra_specs_match_the_aggregates_metadata() {
        let host = metadata(&[("ssd", &["true"]), ("gpus", &["2", "4"])]);
        let pass =
            |s: &[(&str, &str)]| extra_specs_pass(&host, &extra_spec_requirements(&specs(s)));
        assert!(pass(&[]));
        assert!(pass(&[("aggregate_instance_extra_specs:ssd", "true")]));
        assert!(pass(&[("ssd", "true")]));
        assert!(!pass(&[("aggregate_instance_extra_specs:ssd", "false")]));
        assert!(pass(&[("aggregate_instance_extra_specs:gpus", ">= 4")]));
        assert!(!pass(&[("aggregate_instance_extra_specs:gpus", ">= 8")]));
        assert!(pass(&[(
            "aggregate_instance_extra_specs:gpus",
            "<or> 1 <or> 2"
        )]));
        // A key the aggregates do not give fails, scoped or not.
        assert!(!pass(&[("aggregate_instance_extra_specs:nvme", "true")]));
        assert!(!pass(&[("nvme", "true")]));
        // Other scopes are other filters' business.
        assert!(pass(&[
            ("hw:cpu_policy", "dedicated"),
            ("capabilities:hypervisor_type", "kvm")
        ]));
        // A host in no aggregate fails any requirement.
        assert!(!extra_specs_pass(
            &AggregateMetadata::new(),
            &extra_spec_requirements(&specs(&[("ssd", "true")]))
        ));
    }

    #[test]
    fn a_hosts_metadata_gathers_its_aggregates_values() {
        let agg = |hosts: &[&str], items: &[(&str, &str)]| Aggregate {
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            metadata: items
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        };
        let all = [
            agg(
                &["h1", "h2"],
                &[("ssd", "true"), ("filter_tenant_id", "p1, p2")],
            ),
            agg(&["h1"], &[("ssd", "false")]),
        ];
        let by_host = aggregate_metadata_by_host(&all);
        assert_eq!(
            *by_host["h1"],
            metadata(&[
                ("ssd", &["false", "true"]),
                ("filter_tenant_id", &["p1", "p2"])
            ])
        );
        assert_eq!(by_host["h2"]["ssd"], ["true".to_string()].into());
        assert!(!by_host.contains_key("h3"));
    }

    #[test]
    fn hosts_isolated_for_projects_take_only_theirs() {
        assert!(tenant_passes(&AggregateMetadata::new(), "p1"));
        assert!(tenant_passes(&metadata(&[("ssd", &["true"])]), "p1"));
        let isolated = metadata(&[
            ("filter_tenant_id", &["p1", "p2"]),
            ("filter_tenant_id_3", &["p3"]),
        ]);
        assert!(tenant_passes(&isolated, "p1"));
        assert!(tenant_passes(&isolated, "p3"));
        assert!(!tenant_passes(&isolated, "p4"));
    }

    #[test]
    fn flavors_named_by_the_aggregates() {
        let m = metadata(&[("instance_type", &["m1.tiny", "m1.small"])]);
        assert!(type_affinity_passes(&m, "m1.tiny"));
        assert!(!type_affinity_passes(&m, "m1.large"));
        assert!(type_affinity_passes(&AggregateMetadata::new(), "m1.large"));
    }

    #[test]
    fn image_properties_isolation() {
        let props = image_meta_props(&BTreeMap::from([
            ("architecture".to_string(), "x86_64".to_string()),
            ("os_distro".to_string(), "debian".to_string()),
            ("owner_note".to_string(), "x".to_string()),
        ]));
        assert_eq!(
            props,
            BTreeMap::from([
                ("hw_architecture".to_string(), "x86_64".to_string()),
                ("os_distro".to_string(), "debian".to_string()),
            ])
        );
        let m = metadata(&[
            ("os_distro", &["debian", "ubuntu"]),
            ("hw_architecture", &["x86_64"]),
            ("owner_note", &["y"]),
            ("os_type", &["windows"]),
        ]);
        // owner_note is no image property field; the image has no os_type.
        assert!(image_props_isolation_passes(&m, &props, None, "."));
        let arm = metadata(&[("hw_architecture", &["aarch64"])]);
        assert!(!image_props_isolation_passes(&arm, &props, None, "."));
        // Only the namespace's keys count.
        assert!(image_props_isolation_passes(&arm, &props, Some("hw"), "/"));
        assert!(!image_props_isolation_passes(&arm, &props, Some("hw"), "_"));
    }
}
