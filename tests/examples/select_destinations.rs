//! Benchmark (not a test): nova-scheduler's `select_destinations` over its
//! in-memory host states (the HostManager cache), without RPC: 1,000
//! placements of one instance each, with alternates, over 1,000 and over
//! 10,000 compute nodes, and one request of 1,000 instances. Every
//! placement filters all nodes (the default filters), weighs them and
//! consumes the chosen one. Run through `bench/run.sh`, or alone:
//! `cargo run --release -p nova-e2e --example select_destinations`.
//! `select_destinations 10000` measures 10,000 nodes only; under callgrind,
//! `--toggle-collect='select_destinations::one_by_one'` (or `one_request`)
//! counts the placements alone, without building the host states.

#![allow(clippy::unwrap_used)]

use chrono::Utc;
use nova_common::NovaConfig;
use nova_objects::Selection;
use nova_objects::{ComputeNode, Flavor, RequestSpec, Service};
use nova_scheduler::{FilterScheduler, HostManager};
use std::time::Instant;
use uuid::Uuid;

const PLACEMENTS: usize = 1_000;

/// `n` nodes of 64 CPUs, 256 GiB and 2 TB, each already partly used (so
/// that their weights differ), every one with its nova-compute service up.
fn cloud(n: usize) -> HostManager {
    let now = Utc::now();
    let nodes: Vec<ComputeNode> = (0..n)
        .map(|i| ComputeNode {
            uuid: Uuid::new_v4(),
            host: format!("compute-{i:05}"),
            hypervisor_hostname: format!("compute-{i:05}"),
            vcpus: 64,
            memory_mb: 262_144,
            local_gb: 2_000,
            memory_mb_used: 512 + ((i * 7_919) % 131_072) as i64,
            vcpus_used: (i % 32) as i64,
            local_gb_used: (i % 500) as i64,
            cpu_allocation_ratio: 16.0,
            ram_allocation_ratio: 1.5,
            disk_allocation_ratio: 1.0,
            updated_at: Some(now),
            ..Default::default()
        })
        .collect();
    let services: Vec<Service> = nodes
        .iter()
        .map(|n| Service {
            host: n.host.clone(),
            binary: "nova-compute".into(),
            last_seen_up: Some(now),
            ..Default::default()
        })
        .collect();
    let hm = HostManager::new("nova");
    hm.update(&nodes, &services);
    hm
}

/// `PLACEMENTS` requests of one instance each.
#[inline(never)]
fn one_by_one(scheduler: &FilterScheduler, hm: &HostManager, spec: &RequestSpec) -> usize {
    let mut alternates = 0;
    for _ in 0..PLACEMENTS {
        let lists = scheduler
            .select_destinations(hm, spec, &[Uuid::new_v4()], true)
            .unwrap();
        alternates += lists[0].len();
    }
    alternates
}

/// One request of `PLACEMENTS` instances.
#[inline(never)]
fn one_request(
    scheduler: &FilterScheduler,
    hm: &HostManager,
    spec: &RequestSpec,
    uuids: &[Uuid],
) -> Vec<Vec<Selection>> {
    scheduler
        .select_destinations(hm, spec, uuids, true)
        .unwrap()
}

fn main() {
    let sizes: Vec<usize> = match std::env::args().nth(1) {
        Some(n) => vec![n.parse().unwrap()],
        None => vec![1_000, 10_000],
    };
    let cfg = NovaConfig::parse_text("").unwrap();
    let scheduler = FilterScheduler::new(&cfg);
    let spec = RequestSpec {
        flavor: Flavor {
            name: "m1.small".into(),
            memory_mb: 2_048,
            vcpus: 1,
            root_gb: 20,
            ..Default::default()
        },
        num_instances: 1,
        ..Default::default()
    };
    for hosts in sizes {
        let hm = cloud(hosts);
        let started = Instant::now();
        let listed = one_by_one(&scheduler, &hm, &spec);
        let one_by_one = started.elapsed().as_secs_f64();
        assert_eq!(listed, PLACEMENTS * cfg.scheduler.max_attempts as usize);

        let hm = cloud(hosts);
        let uuids: Vec<Uuid> = (0..PLACEMENTS).map(|_| Uuid::new_v4()).collect();
        let mut many = spec.clone();
        many.num_instances = PLACEMENTS as i32;
        let started = Instant::now();
        let lists = one_request(&scheduler, &hm, &many, &uuids);
        let one_request = started.elapsed().as_secs_f64();
        assert_eq!(lists.len(), PLACEMENTS);

        println!("select_{PLACEMENTS}_of_1_over_{hosts}_s={one_by_one:.3}");
        println!("select_1_of_{PLACEMENTS}_over_{hosts}_s={one_request:.3}");
    }
}
