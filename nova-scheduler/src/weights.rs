//! Weighers (`nova/scheduler/weights/`): the RAMWeigher, normalised over
//! the candidates as `nova/weights.py` does.

use crate::host_manager::HostState;
use std::cmp::Ordering;

/// The `k` best of `candidates` (indices into `hosts`), best first.
/// RAMWeigher: more free RAM is better; a negative multiplier stacks
/// instead. Each weight is `multiplier × (free − min) / (max − min)` over the
/// candidates; among equal weights, the host that sorts first (host states
/// are sorted by host and node name). Only the `k` best are kept in order,
/// so choosing among many hosts stays linear in their number.
pub fn weigh_hosts(
    hosts: &[HostState],
    candidates: &[usize],
    ram_multiplier: f64,
    k: usize,
) -> Vec<usize> {
    let k = k.min(candidates.len());
    if k == 0 {
        return Vec::new();
    }
    // With one weigher, normalising `free` to `(free - min) / (max - min)`
    // keeps its order (and makes every weight equal exactly when every
    // `free` is): comparing `free` signed by the multiplier orders the
    // hosts as the normalised weights do, without a pass for min and max.
    let sign = if ram_multiplier > 0.0 {
        1.0
    } else if ram_multiplier < 0.0 {
        -1.0
    } else {
        0.0
    };
    let key = |i: usize| sign * hosts[i].free.memory_mb;
    // Heaviest first; among equals, the earlier host.
    let order = |a: &(f64, usize), b: &(f64, usize)| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
    };
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
    // Many (alternates of a large request): select the k best, sort only those.
    let mut weighed: Vec<(f64, usize)> = candidates.iter().map(|&i| (key(i), i)).collect();
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
            names(weigh_hosts(&hosts, &[0, 1, 2], 1.0, 3)),
            ["big", "mid", "small"]
        );
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], -1.0, 3)),
            ["small", "mid", "big"]
        );
        // Only the best k, still in order.
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 1, 2], 1.0, 2)),
            ["big", "mid"]
        );
        assert_eq!(
            names(weigh_hosts(&hosts, &[0, 2], 1.0, 5)),
            ["mid", "small"]
        );
        // Equal weights: the earlier host first.
        assert_eq!(
            names(weigh_hosts(&hosts, &[2, 0, 1], 0.0, 3)),
            ["small", "big", "mid"]
        );
        assert!(weigh_hosts(&hosts, &[], 1.0, 3).is_empty());
        // The one-pass top k and the selection of many agree.
        let many: Vec<HostState> = (0..100)
            .map(|i| host(&format!("h{i:03}"), ((i * 37) % 23) as f64, true, false))
            .collect();
        let all: Vec<usize> = (0..many.len()).collect();
        let top = weigh_hosts(&many, &all, 1.0, 60);
        assert_eq!(weigh_hosts(&many, &all, 1.0, 5), top[..5]);
        assert_eq!(
            weigh_hosts(&many, &all, -1.0, 5),
            weigh_hosts(&many, &all, -1.0, 60)[..5]
        );
    }
}
