//! Weighers (`nova/scheduler/weights/`): the RAMWeigher and the server
//! group soft-(anti-)affinity weighers, each normalised over the candidates
//! and multiplied as `nova/weights.py` does.

use crate::host_manager::HostState;
use nova_objects::InstanceGroup;
use std::cmp::Ordering;

/// The weighers' multipliers (`[filter_scheduler] *_weight_multiplier`).
#[derive(Clone, Copy, Debug)]
pub struct Multipliers {
    /// RAMWeigher: more free RAM is better; negative stacks instead.
    pub ram: f64,
    /// ServerGroupSoftAffinityWeigher: more of a `soft-affinity` group's members is better.
    pub soft_affinity: f64,
    /// ServerGroupSoftAntiAffinityWeigher: fewer of a `soft-anti-affinity` group's members is better.
    pub soft_anti_affinity: f64,
}

impl Multipliers {
    pub fn ram_only(ram: f64) -> Self {
        Multipliers {
            ram,
            soft_affinity: 0.0,
            soft_anti_affinity: 0.0,
        }
    }
}

/// Nova's `normalize`: each weight to [0, 1] over the candidates (all 0
/// when they are equal).
fn normalize(raw: &[f64]) -> impl Iterator<Item = f64> + '_ {
    let (min, max) = raw
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    raw.iter().map(move |v| {
        if max > min {
            (v - min) / (max - min)
        } else {
            0.0
        }
    })
}

/// The `k` best of `candidates` (indices into `hosts`), best first. Each
/// host's weight is the sum over the weighers of `multiplier × normalised
/// weight`: the RAMWeigher's weight is the free RAM, the soft-affinity
/// weigher's the number of the group's members on the host (negated for
/// soft-anti-affinity); a group weigher weighs nothing unless the request's
/// group has its policy. Among equal weights, the host that sorts first
/// (host states are sorted by host and node name). Only the `k` best are
/// kept in order, so choosing among many hosts stays linear in their number.
pub fn weigh_hosts(
    hosts: &[HostState],
    candidates: &[usize],
    m: &Multipliers,
    group: Option<&InstanceGroup>,
    k: usize,
) -> Vec<usize> {
    let k = k.min(candidates.len());
    if k == 0 {
        return Vec::new();
    }
    let soft = group.and_then(|g| match g.policy.as_str() {
        "soft-affinity" if m.soft_affinity != 0.0 => Some((g, 1.0, m.soft_affinity)),
        "soft-anti-affinity" if m.soft_anti_affinity != 0.0 => {
            Some((g, -1.0, m.soft_anti_affinity))
        }
        _ => None,
    });
    if let Some((g, sign, multiplier)) = soft {
        // Two weighers: normalise each over the candidates and add them.
        let ram: Vec<f64> = candidates
            .iter()
            .map(|&i| hosts[i].free.memory_mb)
            .collect();
        let members: Vec<f64> = candidates
            .iter()
            .map(|&i| sign * g.members_on(&hosts[i].host) as f64)
            .collect();
        let weighed: Vec<(f64, usize)> = normalize(&ram)
            .zip(normalize(&members))
            .zip(candidates)
            .map(|((r, n), &i)| (m.ram * r + multiplier * n, i))
            .collect();
        return best_k(weighed, k);
    }
    // With the RAMWeigher alone, normalising `free` to `(free - min) / (max
    // - min)` keeps its order (and makes every weight equal exactly when
    // every `free` is): comparing `free` signed by the multiplier orders the
    // hosts as the normalised weights do, without a pass for min and max.
    let sign = if m.ram > 0.0 {
        1.0
    } else if m.ram < 0.0 {
        -1.0
    } else {
        0.0
    };
    let key = |i: usize| sign * hosts[i].free.memory_mb;
    if k <= FEW {
        // The usual case (the chosen host and its alternates): one pass
        // keeping the best k in order, nothing allocated per candidate.
        let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
        for &i in candidates {
            let e = (key(i), i);
            if best.len() == k && best.last().is_some_and(|w| order(&e, w) != Ordering::Less) {
                continue;
            }
            let at = best.partition_point(|b| order(b, &e) == Ordering::Less);
            best.insert(at, e);
            best.truncate(k);
        }
        return best.into_iter().map(|(_, i)| i).collect();
    }
    best_k(candidates.iter().map(|&i| (key(i), i)).collect(), k)
}

/// Heaviest first; among equals, the earlier host.
fn order(a: &(f64, usize), b: &(f64, usize)) -> Ordering {
    b.0.partial_cmp(&a.0)
        .unwrap_or(Ordering::Equal)
        .then(a.1.cmp(&b.1))
}

/// Select the `k` best (k ≥ 1) and sort only those.
fn best_k(mut weighed: Vec<(f64, usize)>, k: usize) -> Vec<usize> {
    if k < weighed.len() {
        weighed.select_nth_unstable_by(k - 1, order);
        weighed.truncate(k);
    }
    weighed.sort_unstable_by(order);
    weighed.into_iter().map(|(_, i)| i).collect()
}

/// Up to this many best hosts are kept by one pass over the candidates.
const FEW: usize = 16;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host_manager::tests::host;
    use nova_objects::InstanceGroup;

    fn ram(m: f64) -> Multipliers {
        Multipliers::ram_only(m)
    }

    #[test]
    fn ram_weigher_spreads_or_stacks() {
        let hosts = [
            host("small", 100.0, true, false),
            host("big", 900.0, true, false),
            host("mid", 500.0, true, false),
        ];
        let names =
            |v: Vec<usize>| -> Vec<&str> { v.iter().map(|&i| hosts[i].host.as_str()).collect() };
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &ram(1.0), None, 3)),
            ["big", "mid", "small"]
        );
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &ram(-1.0), None, 3)),
            ["small", "mid", "big"]
        );
        // Only the best k, still in order.
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &ram(1.0), None, 2)),
            ["big", "mid"]
        );
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 2], &ram(1.0), None, 5)),
            ["mid", "small"]
        );
        // Equal weights: the earlier host first.
        assert_eq!(
            names(weigh_hosts(&hosts, &[2, 0, 1], &ram(0.0), None, 3)),
            ["small", "big", "mid"]
        );
        assert!(weigh_hosts(&hosts, &[], &ram(1.0), None, 3).is_empty());
        // The one-pass top k and the selection of many agree.
        let many: Vec<HostState> = (0..100)
            .map(|i| host(&format!("h{i:03}"), ((i * 37) % 23) as f64, true, false))
            .collect();
        let all: Vec<usize> = (0..many.len()).collect();
        let top = weigh_hosts(&many, &all, &ram(1.0), None, 60);
        assert_eq!(weigh_hosts(&many, &all, &ram(1.0), None, 5), top[..5]);
        assert_eq!(
            weigh_hosts(&many, &all, &ram(-1.0), None, 5),
            weigh_hosts(&many, &all, &ram(-1.0), None, 60)[..5]
        );
    }

    #[test]
    fn soft_group_weighers_gather_or_spread_the_members() {
        let hosts = [
            host("a", 900.0, true, false),
            host("b", 100.0, true, false),
            host("c", 500.0, true, false),
        ];
        let names =
            |v: Vec<usize>| -> Vec<&str> { v.iter().map(|&i| hosts[i].host.as_str()).collect() };
        let group = |policy: &str, on: &[&str]| InstanceGroup {
            policy: policy.into(),
            hosts: on.iter().map(|h| h.to_string()).collect(),
            ..Default::default()
        };
        let m = Multipliers {
            ram: 1.0,
            soft_affinity: 2.0,
            soft_anti_affinity: 2.0,
        };
        // soft-affinity outweighs the free RAM: b holds the members.
        let g = group("soft-affinity", &["b", "b", "c"]);
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &m, Some(&g), 3)),
            ["b", "c", "a"]
        );
        // soft-anti-affinity: the host without members first, then by RAM.
        let g = group("soft-anti-affinity", &["a", "c"]);
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &m, Some(&g), 3)),
            ["b", "a", "c"]
        );
        // A hard policy, or a zero multiplier, weighs by RAM alone.
        let g = group("anti-affinity", &["a"]);
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &m, Some(&g), 3)),
            ["a", "c", "b"]
        );
        let g = group("soft-affinity", &["b"]);
        let zero = Multipliers {
            soft_affinity: 0.0,
            ..m
        };
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], &zero, Some(&g), 3)),
            ["a", "c", "b"]
        );
    }
}
