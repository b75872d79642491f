//! Weighers (`nova/scheduler/weights/`): the RAMWeigher, normalised over
//! the candidates as `nova/weights.py` does.

use crate::host_manager::HostState;
use std::cmp::Ordering;

/// The `k` best of `candidates` (indices into `hosts`), best first.
/// RAMWeigher: more free RAM is better; a negative multiplier stacks
/// instead. Each weight is `multiplier × (free − min) / (max − min)` over the
/// candidates; among equal weights, the host that sorts first (host states
/// are sorted by host and node name). Only the `k` best are sorted, so
/// choosing among many hosts stays linear in their number.
pub fn weigh_hosts(
    hosts: &[HostState],
    candidates: &[usize],
    ram_multiplier: f64,
    k: usize,
) -> Vec<usize> {
    // Each host's state is read once; the rest works on this compact list.
    let mut weighed: Vec<(f64, usize)> = candidates
        .iter()
        .map(|&i| (hosts[i].free.memory_mb, i))
        .collect();
    let (min, max) = weighed
        .iter()
        .fold((f64::MAX, f64::MIN), |(lo, hi), &(v, _)| {
            (lo.min(v), hi.max(v))
        });
    for (w, _) in weighed.iter_mut() {
        let norm = if max > min {
            (*w - min) / (max - min)
        } else {
            0.0
        };
        *w = ram_multiplier * norm;
    }
    // Heaviest first; among equals, the earlier host.
    let order = |a: &(f64, usize), b: &(f64, usize)| {
        b.0.partial_cmp(&a.0)
            .unwrap_or(Ordering::Equal)
            .then(a.1.cmp(&b.1))
    };
    let k = k.min(weighed.len());
    if k == 0 {
        return Vec::new();
    }
    if k < weighed.len() {
        weighed.select_nth_unstable_by(k - 1, order);
        weighed.truncate(k);
    }
    weighed.sort_unstable_by(order);
    weighed.into_iter().map(|(_, i)| i).collect()
}

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
    }
}
