//! Port of `nova/scheduler/filter_scheduler.py`: for each instance, filter
//! the host states, weigh the survivors, choose among the best
//! (`host_subset_size`) and consume the request there; then give each
//! instance up to `[scheduler] max_attempts` - 1 alternates.

use crate::filters::{build_filters, Filter, FilterContext, FilterOptions, RequestFilters};
use crate::host_manager::{HostManager, HostState, HostStates};
use crate::weights::{weigh_hosts, Multipliers};
use chrono::Utc;
use nova_common::{NovaConfig, NovaError};
use nova_objects::{RequestSpec, ResourceRequest, Selection};
use rand::Rng;
use std::collections::HashSet;
use tracing::{debug, warn};
use uuid::Uuid;

pub struct FilterScheduler {
    filters: Vec<Filter>,
    options: FilterOptions,
    multipliers: Multipliers,
    host_subset_size: usize,
    max_attempts: u32,
    service_down_time: u64,
}

impl FilterScheduler {
    pub fn new(cfg: &NovaConfig) -> Self {
        FilterScheduler {
            filters: build_filters(&cfg.scheduler.enabled_filters),
            options: FilterOptions::of(&cfg.scheduler),
            multipliers: Multipliers {
                ram: cfg.scheduler.ram_weight_multiplier,
                soft_affinity: cfg.scheduler.soft_affinity_weight_multiplier,
                soft_anti_affinity: cfg.scheduler.soft_anti_affinity_weight_multiplier,
            },
            host_subset_size: cfg.scheduler.host_subset_size,
            max_attempts: cfg.scheduler.max_attempts,
            service_down_time: cfg.default.service_down_time,
        }
    }

    /// Choose from `host_manager`'s states: one list per instance, the
    /// selected host first, then its alternates (none unless
    /// `return_alternates`). All instances or none: when one cannot be
    /// placed, the request fails with NoValidHost (and what was consumed
    /// for the others comes back with the next refresh).
    pub fn select_destinations(
        &self,
        host_manager: &HostManager,
        spec: &RequestSpec,
        instance_uuids: &[Uuid],
        return_alternates: bool,
    ) -> Result<Vec<Vec<Selection>>, NovaError> {
        let mut states = host_manager.lock();
        self.schedule(&mut states, spec, instance_uuids, return_alternates)
    }

    fn schedule(
        &self,
        states: &mut HostStates,
        spec: &RequestSpec,
        instance_uuids: &[Uuid],
        return_alternates: bool,
    ) -> Result<Vec<Vec<Selection>>, NovaError> {
        let request = ResourceRequest::for_instance(&spec.flavor, &spec.image.properties)?;
        // An admin's "zone:host" considers that host only.
        let forced =
            |h: &HostState| spec.force_hosts.is_empty() || spec.force_hosts.contains(&h.host);
        let candidates = |hosts: &[HostState]| -> Vec<usize> {
            (0..hosts.len()).filter(|&i| forced(&hosts[i])).collect()
        };
        if !spec.force_hosts.is_empty() && !states.hosts.iter().any(forced) {
            return Err(NovaError::NoValidHost {
                reason: format!("No such host - host: {}", spec.force_hosts.join(", ")),
            });
        }
        let num_alts = if return_alternates {
            self.max_attempts.saturating_sub(1) as usize
        } else {
            0
        };
        let now = states.refreshed_at.unwrap_or_else(Utc::now);
        // The filters whose answer placing instances does not change run
        // once for the request; the others (what fits, the group's hosts)
        // once per instance, over what the first left.
        let ctx = FilterContext::new(
            spec,
            request.clone(),
            now,
            self.service_down_time,
            &self.options,
        );
        let filters = RequestFilters::new(&self.filters, &ctx);
        let eligible = filters.request_pass(
            &states.hosts,
            (0..states.hosts.len()).filter(|&i| forced(&states.hosts[i])),
            &ctx,
        );
        // Each instance placed joins its group's hosts, for the next one's
        // (anti-)affinity (Nova's `_consume_selected_host`).
        let mut spec_now = std::borrow::Cow::Borrowed(spec);
        let mut selected: Vec<usize> = Vec::with_capacity(instance_uuids.len());
        let mut passing = Vec::with_capacity(eligible.len());
        for uuid in instance_uuids {
            let ctx = FilterContext::new(
                &spec_now,
                request.clone(),
                now,
                self.service_down_time,
                &self.options,
            );
            filters
                .instance_pass(&states.hosts, &candidates, &eligible, &ctx, &mut passing)
                .map_err(|reason| {
                    warn!(instance = %uuid, "{reason}");
                    NovaError::NoValidHost { reason }
                })?;
            let best = weigh_hosts(
                &states.hosts,
                &passing,
                &self.multipliers,
                spec_now.instance_group.as_ref(),
                self.host_subset_size,
            );
            // Choose randomly among the best host_subset_size to spread races.
            let chosen = match best.len() {
                0 => None,
                1 => Some(best[0]),
                n => Some(best[rand::rng().random_range(0..n)]),
            };
            let Some(chosen) = chosen else {
                return Err(NovaError::NoValidHost {
                    reason: "There are not enough hosts available.".into(),
                });
            };
            states.hosts[chosen].consume_from_request(&request);
            if spec_now.instance_group.is_some() {
                if let Some(g) = spec_now.to_mut().instance_group.as_mut() {
                    g.hosts.push(states.hosts[chosen].host.clone());
                }
            }
            debug!(instance = %uuid, host = %states.hosts[chosen].host, "selected");
            selected.push(chosen);
        }
        let last_passing = passing;
        // Alternates, from the last instance's candidates: the best hosts not
        // selected for any instance of this request (those have less room now).
        let alternates: Vec<usize> = if num_alts > 0 {
            let taken: HashSet<usize> = selected.iter().copied().collect();
            weigh_hosts(
                &states.hosts,
                &last_passing,
                &self.multipliers,
                spec_now.instance_group.as_ref(),
                num_alts + taken.len(),
            )
            .into_iter()
            .filter(|i| !taken.contains(i))
            .take(num_alts)
            .collect()
        } else {
            Vec::new()
        };
        let selection = |i: usize| {
            let h = &states.hosts[i];
            Selection {
                service_host: h.host.clone(),
                nodename: h.nodename.clone(),
                compute_node_uuid: h.uuid,
                availability_zone: Some(h.availability_zone.clone()),
            }
        };
        Ok(selected
            .into_iter()
            .map(|i| {
                std::iter::once(i)
                    .chain(alternates.iter().copied())
                    .map(selection)
                    .collect()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::{node, service};
    use nova_objects::Flavor;

    fn cfg(extra: &str) -> NovaConfig {
        NovaConfig::parse_text(&format!(
            "[filter_scheduler]\nenabled_filters = RetryFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter\n{extra}"
        ))
        .expect("config")
    }

    fn spec(memory_mb: i64) -> RequestSpec {
        RequestSpec {
            flavor: Flavor {
                memory_mb,
                vcpus: 1,
                root_gb: 1,
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Hosts h0..hn, hi with (i + 1) × 1024 MB free.
    fn manager(n: usize) -> HostManager {
        let hm = HostManager::new("nova");
        let t = Utc::now() - chrono::Duration::seconds(10);
        let nodes: Vec<_> = (0..n)
            .map(|i| node(&format!("h{i}"), (i as i64 + 1) * 1024, 0, t))
            .collect();
        let services: Vec<_> = (0..n).map(|i| service(&format!("h{i}"))).collect();
        hm.update(&nodes, &services);
        hm
    }

    fn hosts(list: &[Selection]) -> Vec<&str> {
        list.iter().map(|s| s.service_host.as_str()).collect()
    }

    fn uuids(n: usize) -> Vec<Uuid> {
        (0..n).map(|_| Uuid::new_v4()).collect()
    }

    #[test]
    fn the_best_host_then_max_attempts_minus_one_alternates() {
        let fs = FilterScheduler::new(&cfg(""));
        let hm = manager(5);
        let got = fs
            .select_destinations(&hm, &spec(512), &uuids(1), true)
            .expect("placed");
        assert_eq!(got.len(), 1);
        assert_eq!(hosts(&got[0]), ["h4", "h3", "h2"]);
        // Without alternates, the selected host alone.
        let got = fs
            .select_destinations(&hm, &spec(512), &uuids(1), false)
            .expect("placed");
        assert_eq!(hosts(&got[0]), ["h4"]);
        // max_attempts = 1: no alternates even when asked.
        let fs1 = FilterScheduler::new(&cfg("[scheduler]\nmax_attempts = 1\n"));
        let got = fs1
            .select_destinations(&hm, &spec(512), &uuids(1), true)
            .expect("placed");
        assert_eq!(got[0].len(), 1);
    }

    #[test]
    fn placements_consume_the_cache_and_alternates_skip_selected_hosts() {
        let fs = FilterScheduler::new(&cfg(""));
        // h0: 1024 MB, h1: 2048 MB, h2: 3072 MB.
        let hm = manager(3);
        // Three 1024 MB instances: h2, then h1 and h2 tie at 2048 (h1 first), then h2.
        let got = fs
            .select_destinations(&hm, &spec(1024), &uuids(3), true)
            .expect("placed");
        let chosen: Vec<&str> = got.iter().map(|l| l[0].service_host.as_str()).collect();
        assert_eq!(chosen, ["h2", "h1", "h2"]);
        // Every instance's alternates: the one host no instance took.
        for l in &got {
            assert_eq!(hosts(&l[1..]), ["h0"]);
        }
        {
            let states = hm.lock();
            let free: Vec<f64> = states.hosts.iter().map(|h| h.free.memory_mb).collect();
            assert_eq!(free, [1024.0, 1024.0, 1024.0]);
            assert_eq!(states.hosts[2].num_instances, 2);
        }
        // What is left: three more fit, a fourth does not.
        fs.select_destinations(&hm, &spec(1024), &uuids(3), true)
            .expect("three more");
        let e = fs
            .select_destinations(&hm, &spec(1024), &uuids(1), true)
            .expect_err("full");
        assert!(
            matches!(&e, NovaError::NoValidHost { reason } if reason.contains("RamFilter")),
            "{e}"
        );
    }

    #[test]
    fn a_request_is_placed_whole_or_not_at_all() {
        let fs = FilterScheduler::new(&cfg(""));
        let hm = manager(2); // 1024 + 2048 MB
        let e = fs
            .select_destinations(&hm, &spec(1024), &uuids(4), true)
            .expect_err("only three fit");
        assert!(matches!(e, NovaError::NoValidHost { .. }), "{e}");
    }

    #[test]
    fn a_multi_create_in_an_anti_affinity_group_spreads_or_fails() {
        let fs = FilterScheduler::new(&cfg(""));
        let hm = manager(3);
        let mut s = spec(512);
        s.instance_group = Some(nova_objects::InstanceGroup {
            policy: "anti-affinity".into(),
            hosts: vec!["h2".into()],
            ..Default::default()
        });
        let got = fs
            .select_destinations(&hm, &s, &uuids(2), true)
            .expect("two hosts left");
        let mut chosen: Vec<&str> = got.iter().map(|l| l[0].service_host.as_str()).collect();
        chosen.sort();
        assert_eq!(chosen, ["h0", "h1"]);
        // Alternates never break the policy either.
        for l in &got {
            assert!(l[1..].iter().all(|a| a.service_host != "h2"), "{l:?}");
        }
        let e = fs
            .select_destinations(&hm, &s, &uuids(3), true)
            .expect_err("only two hosts without a member");
        assert!(
            e.to_string().contains("ServerGroupAntiAffinityFilter"),
            "{e}"
        );
    }

    #[test]
    fn ignored_and_forced_hosts() {
        let fs = FilterScheduler::new(&cfg(""));
        let hm = manager(3);
        let mut s = spec(512);
        s.ignore_hosts = vec!["h2".into(), "h1".into()];
        let got = fs
            .select_destinations(&hm, &s, &uuids(1), true)
            .expect("h0 left");
        assert_eq!(hosts(&got[0]), ["h0"]);
        let mut s = spec(512);
        s.force_hosts = vec!["h1".into()];
        let got = fs
            .select_destinations(&hm, &s, &uuids(1), true)
            .expect("forced");
        assert_eq!(hosts(&got[0]), ["h1"]);
        s.force_hosts = vec!["nowhere".into()];
        let e = fs
            .select_destinations(&hm, &s, &uuids(1), true)
            .expect_err("no such host");
        assert!(
            e.to_string().contains("No such host - host: nowhere"),
            "{e}"
        );
    }

    #[test]
    fn services_are_judged_as_of_the_refresh() {
        let fs = FilterScheduler::new(&cfg("[DEFAULT]\nservice_down_time = 60\n"));
        let hm = HostManager::new("nova");
        // Refreshed 100 s ago, when h0 had checked in 50 s before: up as of
        // the refresh (though its check-in is 150 s old by now).
        let t = Utc::now() - chrono::Duration::seconds(100);
        let mut old = service("h0");
        old.last_seen_up = Some(t - chrono::Duration::seconds(50));
        hm.update(&[node("h0", 4096, 0, t)], &[old]);
        hm.lock().refreshed_at = Some(t);
        assert!(fs
            .select_destinations(&hm, &spec(512), &uuids(1), true)
            .is_ok());
        let empty = HostManager::new("nova");
        let e = fs
            .select_destinations(&empty, &spec(512), &uuids(1), true)
            .expect_err("nothing");
        assert!(
            e.to_string().contains("no compute nodes are registered"),
            "{e}"
        );
    }
}
