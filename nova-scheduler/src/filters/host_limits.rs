//! The filters that cap what one host takes on (Nova's
//! `NumInstancesFilter` and `IoOpsFilter`, each with its `Aggregate*`
//! variant, where the host's aggregates may set the cap), and the one that
//! keeps some hosts for some images (`IsolatedHostsFilter`).

use super::AggregateMetadata;
use crate::host_manager::HostState;

/// Nova's `validate_num_values(..., cast_to=int, based_on=min)` over the
/// values the host's aggregates give `key`: the smallest, or `default` when
/// they give none or one is not an integer (Nova logs and falls back).
pub fn aggregate_limit(metadata: &AggregateMetadata, key: &str, default: i64) -> i64 {
    let Some(values) = metadata.get(key).filter(|v| !v.is_empty()) else {
        return default;
    };
    values
        .iter()
        .map(|v| v.trim().parse::<i64>())
        .collect::<Result<Vec<i64>, _>>()
        .ok()
        .and_then(|v| v.into_iter().min())
        .unwrap_or(default)
}

/// NumInstancesFilter: fewer instances than the cap.
pub fn num_instances_passes(host: &HostState, max_instances_per_host: i64) -> bool {
    host.num_instances < max_instances_per_host
}

/// IoOpsFilter: fewer instances in an I/O-heavy task than the cap.
pub fn io_ops_passes(host: &HostState, max_io_ops_per_host: i64) -> bool {
    host.num_io_ops < max_io_ops_per_host
}

/// Nova's `IsolatedHostsFilter`: with `restrict` (the default), isolated
/// images run only on isolated hosts and isolated hosts run only isolated
/// images; without it, isolated images still run only on isolated hosts,
/// which take other images too. No isolated image listed: with `restrict`
/// the isolated hosts take nothing, without it every host passes.
pub fn isolated_hosts_pass(
    host: &str,
    image_isolated: bool,
    isolated_images_listed: bool,
    isolated_hosts: &[String],
    restrict: bool,
) -> bool {
    let host_isolated = isolated_hosts.iter().any(|h| h == host);
    if !isolated_images_listed {
        return !restrict || !host_isolated;
    }
    if restrict {
        image_isolated == host_isolated
    } else {
        !image_isolated || host_isolated
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::host;
    use std::collections::BTreeSet;

    fn metadata(key: &str, values: &[&str]) -> AggregateMetadata {
        AggregateMetadata::from([(
            key.to_string(),
            values
                .iter()
                .map(|v| v.to_string())
                .collect::<BTreeSet<_>>(),
        )])
    }

    #[test]
    fn the_aggregates_smallest_cap_wins_and_a_bad_one_falls_back() {
        let none = AggregateMetadata::new();
        assert_eq!(aggregate_limit(&none, "max_instances_per_host", 50), 50);
        let two = metadata("max_instances_per_host", &["7", "3"]);
        assert_eq!(aggregate_limit(&two, "max_instances_per_host", 50), 3);
        let bad = metadata("max_instances_per_host", &["3", "many"]);
        assert_eq!(aggregate_limit(&bad, "max_instances_per_host", 50), 50);
        assert_eq!(aggregate_limit(&two, "max_io_ops_per_host", 8), 8);
    }

    #[test]
    fn caps_count_what_the_host_runs_and_does() {
        let mut h = host("h", 1024.0, true, false);
        h.num_instances = 2;
        h.num_io_ops = 1;
        assert!(num_instances_passes(&h, 3));
        assert!(!num_instances_passes(&h, 2));
        assert!(io_ops_passes(&h, 2));
        assert!(!io_ops_passes(&h, 1));
        assert!(!io_ops_passes(&h, 0));
    }

    #[test]
    fn isolated_hosts_as_nova() {
        let iso = vec!["iso".to_string()];
        // (host, image isolated, restrict) -> passes
        for (h, img, restrict, want) in [
            ("iso", true, true, true),
            ("iso", false, true, false),
            ("other", true, true, false),
            ("other", false, true, true),
            ("iso", true, false, true),
            ("iso", false, false, true),
            ("other", true, false, false),
            ("other", false, false, true),
        ] {
            assert_eq!(
                isolated_hosts_pass(h, img, true, &iso, restrict),
                want,
                "{h} image isolated {img} restrict {restrict}"
            );
        }
        // No isolated image listed.
        assert!(!isolated_hosts_pass("iso", false, false, &iso, true));
        assert!(isolated_hosts_pass("other", false, false, &iso, true));
        assert!(isolated_hosts_pass("iso", false, false, &iso, false));
    }
}
