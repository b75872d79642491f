//! NUMA topologies and CPU pinning (Nova's `nova.objects.numa` and the NUMA
//! half of `nova.virt.hardware`).
//!
//! - [`NumaTopology`]: a host's cells (`compute_nodes.numa_topology`): the
//!   CPUs guests may float on (`cpuset`) and be pinned to (`pcpuset`), the
//!   memory and its page sizes, and what the instances there use of them.
//! - [`InstanceNumaTopology`]: what an instance asks for
//!   ([`numa_get_constraints`], from its flavor and image), and once fitted
//!   to a host, which host cell each guest cell is on and which host CPU each
//!   pinned vCPU runs on (`instance_extra.numa_topology`).
//! - [`numa_fit_instance_to_host`]: the one "does it fit" rule for NUMA, which
//!   the scheduler's NUMATopologyFilter and the conductor's claims both ask;
//!   [`NumaTopology::with_usage`] is how a host's usage is counted from the
//!   instances it holds.

use crate::Flavor;
use nova_common::NovaError;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// A set of CPU numbers.
pub type CpuSet = BTreeSet<u32>;

nova_common::string_enum!(
    /// `hw:cpu_policy` (`nova.objects.fields.CPUAllocationPolicy`).
    CpuPolicy {
        Shared => "shared",
        Dedicated => "dedicated",
        Mixed => "mixed",
    }
);

nova_common::string_enum!(
    /// `hw:cpu_thread_policy` (`nova.objects.fields.CPUThreadAllocationPolicy`).
    CpuThreadPolicy {
        Prefer => "prefer",
        Isolate => "isolate",
        Require => "require",
    }
);

nova_common::string_enum!(
    /// `hw:emulator_threads_policy` (`nova.objects.fields.CPUEmulatorThreadsPolicy`).
    EmulatorThreadsPolicy {
        Share => "share",
        Isolate => "isolate",
    }
);

/// `hw:mem_page_size` as an instance cell keeps it before it is fitted
/// (Nova's `MEMPAGES_SMALL`, `MEMPAGES_LARGE`, `MEMPAGES_ANY`); a positive
/// value is a size in KiB.
pub const MEMPAGES_SMALL: i64 = -1;
pub const MEMPAGES_LARGE: i64 = -2;
pub const MEMPAGES_ANY: i64 = -3;

/// One page size of a host cell (`NUMAPagesTopology`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemPage {
    pub size_kb: i64,
    pub total: i64,
    #[serde(default)]
    pub used: i64,
    #[serde(default)]
    pub reserved: i64,
}

impl MemPage {
    fn free(&self) -> i64 {
        self.total - self.used - self.reserved
    }
}

/// One host NUMA cell (`NUMACell`). Memory in MiB.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumaCell {
    pub id: u32,
    /// CPUs for unpinned guests (`[compute] cpu_shared_set`).
    pub cpuset: CpuSet,
    /// CPUs for pinned guests (`[compute] cpu_dedicated_set`).
    pub pcpuset: CpuSet,
    pub memory: i64,
    /// Unpinned vCPUs placed on this cell.
    #[serde(default)]
    pub cpu_usage: i64,
    #[serde(default)]
    pub memory_usage: i64,
    #[serde(default)]
    pub pinned_cpus: CpuSet,
    /// The hyperthread sibling sets (cores with more than one thread).
    #[serde(default)]
    pub siblings: Vec<CpuSet>,
    #[serde(default)]
    pub mempages: Vec<MemPage>,
}

impl NumaCell {
    /// The host CPUs of `cpu`'s core (itself alone when it has no siblings).
    fn core_of(&self, cpu: u32) -> CpuSet {
        self.siblings
            .iter()
            .find(|s| s.contains(&cpu))
            .cloned()
            .unwrap_or_else(|| CpuSet::from([cpu]))
    }
}

/// A host's NUMA topology (`NUMATopology`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NumaTopology {
    pub cells: Vec<NumaCell>,
}

/// One guest NUMA cell (`InstanceNUMACell`). Memory in MiB.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceNumaCell {
    /// The guest cell's index in a request; the host cell's id once fitted.
    pub id: u32,
    /// The guest's unpinned vCPUs in this cell.
    #[serde(default)]
    pub cpuset: CpuSet,
    /// The guest's pinned vCPUs in this cell.
    #[serde(default)]
    pub pcpuset: CpuSet,
    pub memory: i64,
    /// Requested: one of the `MEMPAGES_*` or a size in KiB; fitted: the size in KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pagesize: Option<i64>,
    /// Fitted: the host CPU each pinned vCPU runs on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub cpu_pinning: BTreeMap<u32, u32>,
    /// Fitted: the host CPUs kept for the emulator threads (`isolate`).
    #[serde(default, skip_serializing_if = "CpuSet::is_empty")]
    pub cpuset_reserved: CpuSet,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_policy: Option<CpuPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_thread_policy: Option<CpuThreadPolicy>,
}

/// An instance's NUMA topology (`InstanceNUMATopology`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct InstanceNumaTopology {
    pub cells: Vec<InstanceNumaCell>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emulator_threads_policy: Option<EmulatorThreadsPolicy>,
}

impl InstanceNumaTopology {
    /// Whether any vCPU is pinned.
    pub fn cpu_pinning_requested(&self) -> bool {
        self.cells.iter().any(|c| !c.pcpuset.is_empty())
    }

    /// Whether this topology has been fitted to a host.
    pub fn is_fitted(&self) -> bool {
        self.cells
            .iter()
            .all(|c| c.pcpuset.len() == c.cpu_pinning.len() && c.pagesize.is_none_or(|p| p > 0))
    }

    /// Every host CPU the guest's vCPUs are pinned to, with the emulator's.
    pub fn pinned_host_cpus(&self) -> CpuSet {
        self.cells
            .iter()
            .flat_map(|c| c.cpu_pinning.values().chain(&c.cpuset_reserved))
            .copied()
            .collect()
    }
}

/// The allocation ratios NUMATopologyFilter applies (`NUMATopologyLimits`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NumaLimits {
    pub cpu_allocation_ratio: f64,
    pub ram_allocation_ratio: f64,
}

// ---------------------------------------------------------------------------
// CPU specs ("0-3,^2,8")
// ---------------------------------------------------------------------------

/// Nova's `parse_cpu_spec`: comma-separated CPUs and ranges, `^N` excluding.
pub fn parse_cpu_spec(spec: &str) -> Result<CpuSet, NovaError> {
    let bad = || NovaError::Invalid {
        reason: format!("Invalid range expression {spec:?}"),
    };
    let num = |s: &str| s.trim().parse::<u32>().map_err(|_| bad());
    let (mut with, mut without) = (CpuSet::new(), CpuSet::new());
    for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (set, item) = match item.strip_prefix('^') {
            Some(rest) => (&mut without, rest),
            None => (&mut with, item),
        };
        match item.split_once('-') {
            Some((a, b)) => {
                let (a, b) = (num(a)?, num(b)?);
                if a > b {
                    return Err(bad());
                }
                set.extend(a..=b);
            }
            None => {
                set.insert(num(item)?);
            }
        }
    }
    Ok(with.difference(&without).copied().collect())
}

/// Nova's `format_cpu_spec`: ranges where CPUs follow each other.
pub fn format_cpu_spec(cpus: &CpuSet) -> String {
    let mut parts: Vec<String> = vec![];
    let mut iter = cpus.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
    }
    parts.join(",")
}

// ---------------------------------------------------------------------------
// What a flavor and image ask for
// ---------------------------------------------------------------------------

/// A flavor extra spec or, when the flavor does not set it, the image's
/// property: `(flavor's, image's)`.
fn both<'a>(
    flavor: &'a Flavor,
    image: &'a BTreeMap<String, String>,
    key: &str,
) -> (Option<&'a str>, Option<&'a str>) {
    let image_key = key.replace(':', "_");
    (
        flavor.extra_specs.get(key).map(String::as_str),
        image.get(&image_key).map(String::as_str),
    )
}

fn parse_policy<T: std::str::FromStr>(
    v: Option<&str>,
    err: impl Fn(&str) -> NovaError,
) -> Result<Option<T>, NovaError> {
    v.map(|s| s.parse::<T>().map_err(|_| err(s))).transpose()
}

/// Nova's `get_cpu_policy_constraint`.
fn cpu_policy(
    flavor: &Flavor,
    image: &BTreeMap<String, String>,
) -> Result<Option<CpuPolicy>, NovaError> {
    let (f, i) = both(flavor, image, "hw:cpu_policy");
    let invalid = |s: &str| NovaError::InvalidCPUAllocationPolicy {
        policy_source: "flavor extra specs".into(),
        requested: s.to_string(),
        available: "('dedicated', 'shared', 'mixed')".into(),
    };
    let f: Option<CpuPolicy> = parse_policy(f, invalid)?;
    let invalid = |s: &str| NovaError::InvalidCPUAllocationPolicy {
        policy_source: "image properties".into(),
        requested: s.to_string(),
        available: "('dedicated', 'shared', 'mixed')".into(),
    };
    let i: Option<CpuPolicy> = parse_policy(i, invalid)?;
    Ok(match (f, i) {
        (Some(CpuPolicy::Dedicated), _) => Some(CpuPolicy::Dedicated),
        (Some(CpuPolicy::Mixed), Some(CpuPolicy::Dedicated)) => {
            return Err(NovaError::ImageCPUPinningForbidden {})
        }
        (Some(CpuPolicy::Mixed), _) => Some(CpuPolicy::Mixed),
        (Some(CpuPolicy::Shared), Some(CpuPolicy::Dedicated | CpuPolicy::Mixed)) => {
            return Err(NovaError::ImageCPUPinningForbidden {})
        }
        (Some(CpuPolicy::Shared), _) => Some(CpuPolicy::Shared),
        (None, i) => i,
    })
}

/// Nova's `get_cpu_thread_policy_constraint`.
fn cpu_thread_policy(
    flavor: &Flavor,
    image: &BTreeMap<String, String>,
) -> Result<Option<CpuThreadPolicy>, NovaError> {
    let (f, i) = both(flavor, image, "hw:cpu_thread_policy");
    let invalid = |source: &'static str| {
        move |s: &str| NovaError::InvalidCPUThreadAllocationPolicy {
            policy_source: source.into(),
            requested: s.to_string(),
            available: "('prefer', 'isolate', 'require')".into(),
        }
    };
    let f: Option<CpuThreadPolicy> = parse_policy(f, invalid("flavor extra specs"))?;
    let i: Option<CpuThreadPolicy> = parse_policy(i, invalid("image properties"))?;
    match (f, i) {
        (None, i) => Ok(i),
        (Some(CpuThreadPolicy::Prefer), _) => Ok(f),
        (Some(f), Some(i)) if f != i => Err(NovaError::ImageCPUThreadPolicyForbidden {}),
        (f, _) => Ok(f),
    }
}

/// Nova's `get_emulator_thread_policy_constraint` (a flavor's only).
fn emulator_threads_policy(flavor: &Flavor) -> Result<Option<EmulatorThreadsPolicy>, NovaError> {
    parse_policy(
        flavor
            .extra_specs
            .get("hw:emulator_threads_policy")
            .map(String::as_str),
        |s| NovaError::InvalidEmulatorThreadsPolicy {
            requested: s.to_string(),
            available: "('share', 'isolate')".into(),
        },
    )
}

/// Nova's `_numa_get_pagesize_constraints`: `hw:mem_page_size`, which an
/// image may set only where the flavor allows it (`large` or `any`).
fn pagesize(flavor: &Flavor, image: &BTreeMap<String, String>) -> Result<Option<i64>, NovaError> {
    fn parse(s: &str) -> Result<i64, NovaError> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "small" => MEMPAGES_SMALL,
            "large" => MEMPAGES_LARGE,
            "any" => MEMPAGES_ANY,
            other => {
                let (digits, unit) = other
                    .find(|c: char| !c.is_ascii_digit())
                    .map_or((other, ""), |i| other.split_at(i));
                let n: i64 = digits
                    .parse()
                    .map_err(|_| NovaError::MemoryPageSizeInvalid {
                        pagesize: s.to_string(),
                    })?;
                let kib = match unit.trim_end_matches("ib").trim_end_matches('b') {
                    "" | "k" => n,
                    "m" => n * 1024,
                    "g" => n * 1024 * 1024,
                    _ => {
                        return Err(NovaError::MemoryPageSizeInvalid {
                            pagesize: s.to_string(),
                        })
                    }
                };
                if kib <= 0 {
                    return Err(NovaError::MemoryPageSizeInvalid {
                        pagesize: s.to_string(),
                    });
                }
                kib
            }
        })
    }
    let (f, i) = both(flavor, image, "hw:mem_page_size");
    let f = f.map(parse).transpose()?;
    let i = i.map(parse).transpose()?;
    match (f, i) {
        (f, None) => Ok(f),
        (Some(MEMPAGES_LARGE | MEMPAGES_ANY), Some(i)) => Ok(Some(i)),
        (f, Some(i)) => Err(NovaError::MemoryPageSizeForbidden {
            pagesize: i.to_string(),
            against: f.map_or("<empty>".to_string(), |f| match f {
                MEMPAGES_SMALL => "small".into(),
                n => n.to_string(),
            }),
        }),
    }
}

/// `hw:numa_cpus.N` or `hw:numa_mem.N` for N = 0, 1, ... up to the first
/// missing (the flavor's; else the image's `hw_numa_cpus.N`...), as Nova
/// folds them into lists; an image may not give what the flavor gives.
fn numa_list<'a>(
    flavor: &'a Flavor,
    image: &'a BTreeMap<String, String>,
    key: &str,
) -> Result<Option<Vec<&'a str>>, NovaError> {
    let read = |get: &dyn Fn(u32) -> Option<&'a str>| -> Option<Vec<&'a str>> {
        let list: Vec<&str> = (0..).map_while(get).collect();
        (!list.is_empty()).then_some(list)
    };
    let f = read(&|n| {
        flavor
            .extra_specs
            .get(&format!("hw:{key}.{n}"))
            .map(String::as_str)
    });
    let i = read(&|n| image.get(&format!("hw_{key}.{n}")).map(String::as_str));
    match (f, i) {
        (Some(_), Some(_)) => Err(NovaError::ImageNUMATopologyForbidden {
            name: format!("hw_{key}"),
        }),
        (f, i) => Ok(f.or(i)),
    }
}

/// Nova's `numa_get_constraints`: the NUMA topology a flavor and image ask
/// for, `None` when they ask for none (no `hw:numa_nodes`, no pinning, no
/// page size). Checked in Nova's order, so the first error is Nova's; each
/// is a 400 on create, resize and rebuild.
pub fn numa_get_constraints(
    flavor: &Flavor,
    image: &BTreeMap<String, String>,
) -> Result<Option<InstanceNumaTopology>, NovaError> {
    let vcpus = u32::try_from(flavor.vcpus).unwrap_or(0);
    let memory = flavor.memory_mb;
    let policy = cpu_policy(flavor, image)?;
    let thread_policy = cpu_thread_policy(flavor, image)?;
    // Which vCPUs a mixed instance pins (hw:cpu_dedicated_mask, the flavor's only).
    let mask = match flavor.extra_specs.get("hw:cpu_dedicated_mask") {
        None => None,
        Some(mask) => {
            let all: CpuSet = (0..vcpus).collect();
            let set: CpuSet = match mask.trim().strip_prefix('^') {
                Some(excluded) => all
                    .difference(&parse_cpu_spec(excluded)?)
                    .copied()
                    .collect(),
                None => parse_cpu_spec(mask)?,
            };
            if set.is_empty() || !set.is_subset(&all) || set.len() == all.len() {
                return Err(NovaError::InvalidMixedInstanceDedicatedMask {});
            }
            Some(set)
        }
    };
    let emulator = emulator_threads_policy(flavor)?;
    match policy {
        None | Some(CpuPolicy::Shared) => {
            if thread_policy.is_some() {
                return Err(NovaError::CPUThreadPolicyConfigurationInvalid {});
            }
            if emulator == Some(EmulatorThreadsPolicy::Isolate) {
                return Err(NovaError::BadRequirementEmulatorThreadsPolicy {});
            }
            if mask.is_some() {
                return Err(NovaError::RequiredMixedInstancePolicy {});
            }
        }
        Some(CpuPolicy::Dedicated) if mask.is_some() => {
            return Err(NovaError::RequiredMixedInstancePolicy {});
        }
        Some(CpuPolicy::Mixed) if mask.is_none() => {
            return Err(NovaError::RequiredMixedOrRealtimeCPUMask {});
        }
        _ => {}
    }
    let (f_nodes, i_nodes) = both(flavor, image, "hw:numa_nodes");
    if f_nodes.is_some() && i_nodes.is_some() {
        return Err(NovaError::ImageNUMATopologyForbidden {
            name: "hw_numa_nodes".into(),
        });
    }
    let nodes = f_nodes
        .or(i_nodes)
        .map(|s| match s.trim().parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(NovaError::InvalidNUMANodesNumber {
                nodes: s.to_string(),
            }),
        })
        .transpose()?;
    let pagesize = pagesize(flavor, image)?;
    let pinned = matches!(policy, Some(CpuPolicy::Dedicated | CpuPolicy::Mixed));
    if nodes.is_none() && !pinned && pagesize.is_none() {
        return Ok(None);
    }
    let nodes = nodes.unwrap_or(1);
    let cpu_lists = numa_list(flavor, image, "numa_cpus")?;
    let mem_lists = numa_list(flavor, image, "numa_mem")?;
    let mut cells: Vec<(CpuSet, i64)> = vec![];
    match (cpu_lists, mem_lists) {
        (None, None) => {
            if vcpus % nodes != 0 || memory % i64::from(nodes) != 0 {
                return Err(NovaError::ImageNUMATopologyAsymmetric {});
            }
            let per = vcpus / nodes;
            for n in 0..nodes {
                cells.push((
                    (n * per..(n + 1) * per).collect(),
                    memory / i64::from(nodes),
                ));
            }
        }
        (Some(cpu_list), Some(mem_list))
            if cpu_list.len() == nodes as usize && mem_list.len() == nodes as usize =>
        {
            let mut seen = CpuSet::new();
            let mut total_mem = 0;
            for (n, (cpus, mem)) in cpu_list.into_iter().zip(mem_list).enumerate() {
                let cpus = parse_cpu_spec(cpus)?;
                for &cpu in &cpus {
                    if cpu >= vcpus {
                        return Err(NovaError::ImageNUMATopologyCPUOutOfRange {
                            cpunum: cpu.to_string(),
                            cpumax: vcpus.saturating_sub(1).to_string(),
                        });
                    }
                    if !seen.insert(cpu) {
                        return Err(NovaError::ImageNUMATopologyCPUDuplicates {
                            cpunum: cpu.to_string(),
                        });
                    }
                }
                let mem: i64 = mem.trim().parse().map_err(|_| NovaError::Invalid {
                    reason: format!("Invalid hw:numa_mem.{n} {mem:?}"),
                })?;
                total_mem += mem;
                cells.push((cpus, mem));
            }
            let missing: Vec<String> = (0..vcpus)
                .filter(|c| !seen.contains(c))
                .map(|c| c.to_string())
                .collect();
            if !missing.is_empty() {
                return Err(NovaError::ImageNUMATopologyCPUsUnassigned {
                    cpuset: format!("{{{}}}", missing.join(", ")),
                });
            }
            if total_mem != memory {
                return Err(NovaError::ImageNUMATopologyMemoryOutOfRange {
                    memsize: total_mem.to_string(),
                    memtotal: memory.to_string(),
                });
            }
        }
        _ => return Err(NovaError::ImageNUMATopologyIncomplete {}),
    }
    let dedicated: CpuSet = match policy {
        Some(CpuPolicy::Dedicated) => (0..vcpus).collect(),
        Some(CpuPolicy::Mixed) => mask.unwrap_or_default(),
        _ => CpuSet::new(),
    };
    let cells = cells
        .into_iter()
        .enumerate()
        .map(|(i, (cpus, mem))| InstanceNumaCell {
            id: i as u32,
            pcpuset: cpus.intersection(&dedicated).copied().collect(),
            cpuset: cpus.difference(&dedicated).copied().collect(),
            memory: mem,
            pagesize,
            cpu_pinning: BTreeMap::new(),
            cpuset_reserved: CpuSet::new(),
            cpu_policy: policy,
            cpu_thread_policy: thread_policy,
        })
        .collect();
    Ok(Some(InstanceNumaTopology {
        cells,
        emulator_threads_policy: emulator,
    }))
}

// ---------------------------------------------------------------------------
// Does it fit
// ---------------------------------------------------------------------------

/// The page size an instance cell gets on a host cell, if its memory fits
/// in that size's free pages (Nova's `_numa_cell_supports_pagesize_request`).
fn fit_pagesize(host: &NumaCell, requested: i64, memory_mb: i64) -> Option<i64> {
    let mut sizes: Vec<&MemPage> = host.mempages.iter().collect();
    sizes.sort_by_key(|p| std::cmp::Reverse(p.size_kb));
    let smallest = sizes.last().map(|p| p.size_kb);
    let candidates: Vec<&MemPage> = match requested {
        MEMPAGES_SMALL => sizes
            .into_iter()
            .filter(|p| Some(p.size_kb) == smallest)
            .collect(),
        MEMPAGES_LARGE => sizes
            .into_iter()
            .filter(|p| Some(p.size_kb) != smallest)
            .collect(),
        MEMPAGES_ANY => sizes,
        kib => sizes.into_iter().filter(|p| p.size_kb == kib).collect(),
    };
    let kib = memory_mb * 1024;
    candidates
        .into_iter()
        .find(|p| kib % p.size_kb == 0 && p.free() * p.size_kb >= kib)
        .map(|p| p.size_kb)
}

impl NumaCell {
    fn smallest_page(&self) -> Option<&MemPage> {
        self.mempages.iter().min_by_key(|p| p.size_kb)
    }

    /// The cell's CPUs grouped by core (each CPU alone where the host
    /// reports no siblings), in host order.
    fn cores(&self) -> Vec<CpuSet> {
        let mut seen = CpuSet::new();
        let mut cores = vec![];
        for &cpu in &self.pcpuset {
            if seen.insert(cpu) {
                let core: CpuSet = self
                    .core_of(cpu)
                    .intersection(&self.pcpuset)
                    .copied()
                    .collect();
                seen.extend(&core);
                cores.push(core);
            }
        }
        cores
    }
}

/// Pin `vcpus` (sorted) onto the first `threads` free CPUs of each group
/// that has that many (Nova's `_get_pinning`).
fn pinning(threads: usize, groups: &[CpuSet], vcpus: &CpuSet) -> Option<Vec<(u32, u32)>> {
    let usable: Vec<&CpuSet> = groups.iter().filter(|g| g.len() >= threads).collect();
    if threads * usable.len() < vcpus.len() {
        return None;
    }
    let pcpus = usable.iter().flat_map(|g| g.iter().take(threads).copied());
    Some(vcpus.iter().copied().zip(pcpus).collect())
}

/// Choose the host CPUs of a cell's pinned vCPUs and of its emulator
/// threads (Nova's `_pack_instance_onto_cores`): `prefer` packs onto the
/// cores with the most free threads it can fill, `require` onto whole
/// hyperthreaded cores only, `isolate` one thread of each wholly free core
/// (the siblings stay unused). `None` when the cell cannot.
fn pack_onto_cores(
    host: &NumaCell,
    cell: &InstanceNumaCell,
    reserved: usize,
) -> Option<(BTreeMap<u32, u32>, CpuSet)> {
    let free: CpuSet = host
        .pcpuset
        .difference(&host.pinned_cpus)
        .copied()
        .collect();
    let cores = host.cores();
    let threads_per_core = cores.iter().map(CpuSet::len).max().unwrap_or(1).max(1);
    let free_groups: Vec<CpuSet> = cores
        .iter()
        .map(|c| c.intersection(&free).copied().collect::<CpuSet>())
        .filter(|g| !g.is_empty())
        .collect();
    let policy = cell.cpu_thread_policy.unwrap_or(CpuThreadPolicy::Prefer);
    let pins: Vec<(u32, u32)> = match policy {
        CpuThreadPolicy::Prefer => (1..=threads_per_core)
            .rev()
            .find_map(|t| pinning(t, &free_groups, &cell.pcpuset))?,
        CpuThreadPolicy::Require => {
            if threads_per_core <= 1 {
                return None;
            }
            (2..=threads_per_core)
                .rev()
                .find_map(|t| pinning(t, &free_groups, &cell.pcpuset))?
        }
        CpuThreadPolicy::Isolate => {
            let whole: Vec<CpuSet> = cores
                .iter()
                .filter(|c| c.is_subset(&free))
                .cloned()
                .collect();
            pinning(1, &whole, &cell.pcpuset)?
        }
    };
    let mut used: CpuSet = pins.iter().map(|(_, p)| *p).collect();
    if policy == CpuThreadPolicy::Isolate {
        used = used.iter().flat_map(|p| host.core_of(*p)).collect();
    }
    let cpuset_reserved: CpuSet = free.difference(&used).copied().take(reserved).collect();
    if cpuset_reserved.len() < reserved {
        return None;
    }
    Some((pins.into_iter().collect(), cpuset_reserved))
}

/// Nova's `_numa_fit_instance_cell`: the instance cell fitted to this host
/// cell, or `None`.
fn fit_cell(
    host: &NumaCell,
    cell: &InstanceNumaCell,
    limits: Option<&NumaLimits>,
    reserved: usize,
) -> Option<InstanceNumaCell> {
    let pinned = matches!(
        cell.cpu_policy,
        Some(CpuPolicy::Dedicated | CpuPolicy::Mixed)
    );
    let mut fitted = cell.clone();
    fitted.id = host.id;
    // Memory: in free pages of the size asked for; else in the cell's small
    // pages (free ones for a pinned guest, any for the others, which the
    // RAM allocation ratio may overcommit below).
    let kib = cell.memory * 1024;
    match (cell.pagesize, host.smallest_page()) {
        (Some(requested), _) => fitted.pagesize = Some(fit_pagesize(host, requested, cell.memory)?),
        (None, Some(small)) => {
            let pages = if pinned { small.free() } else { small.total };
            if kib % small.size_kb != 0 || pages * small.size_kb < kib {
                return None;
            }
        }
        (None, None) => {
            let avail = if pinned {
                host.memory - host.memory_usage
            } else {
                host.memory
            };
            if avail < cell.memory {
                return None;
            }
        }
    }
    if pinned && cell.pcpuset.len() + reserved > host.pcpuset.len() {
        return None;
    }
    if cell.cpuset.len() > host.cpuset.len() {
        return None;
    }
    if pinned {
        let free = host.pcpuset.difference(&host.pinned_cpus).count();
        if cell.pcpuset.len() + reserved > free {
            return None;
        }
        let (pins, cpuset_reserved) = pack_onto_cores(host, cell, reserved)?;
        fitted.cpu_pinning = pins;
        fitted.cpuset_reserved = cpuset_reserved;
    }
    // Floating vCPUs and memory overcommitted by the allocation ratios.
    if cell.cpu_policy != Some(CpuPolicy::Dedicated) {
        if let Some(l) = limits {
            if (host.cpu_usage + cell.cpuset.len() as i64) as f64
                > host.cpuset.len() as f64 * l.cpu_allocation_ratio
                || (host.memory_usage + cell.memory) as f64
                    > host.memory as f64 * l.ram_allocation_ratio
            {
                return None;
            }
        }
    }
    Some(fitted)
}

/// Every ordered choice of `k` of `n` host cells, in order (Nova's
/// `itertools.permutations` over the host cells); stops at the first
/// `visit` that returns true.
fn permutations(n: usize, k: usize, mut visit: impl FnMut(&[usize]) -> bool) -> bool {
    fn go(
        n: usize,
        k: usize,
        chosen: &mut Vec<usize>,
        used: &mut [bool],
        visit: &mut dyn FnMut(&[usize]) -> bool,
    ) -> bool {
        if chosen.len() == k {
            return visit(chosen);
        }
        for i in 0..n {
            if used[i] {
                continue;
            }
            used[i] = true;
            chosen.push(i);
            if go(n, k, chosen, used, visit) {
                return true;
            }
            chosen.pop();
            used[i] = false;
        }
        false
    }
    go(
        n,
        k,
        &mut Vec::with_capacity(k),
        &mut vec![false; n],
        &mut visit,
    )
}

/// Nova's `numa_fit_instance_to_host`: the instance's topology fitted to
/// the host (each guest cell on its own host cell, pinned vCPUs given host
/// CPUs, page sizes chosen), given what the host's instances already use;
/// `None` when it does not fit. Where the host has more cells than the
/// guest, the least used are tried first (Nova's default spreading: most
/// free CPUs, then most free memory).
pub fn numa_fit_instance_to_host(
    host: &NumaTopology,
    instance: &InstanceNumaTopology,
    limits: Option<&NumaLimits>,
) -> Option<InstanceNumaTopology> {
    if instance.cells.len() > host.cells.len() {
        return None;
    }
    let mut order: Vec<&NumaCell> = host.cells.iter().collect();
    if host.cells.len() > instance.cells.len() {
        let pinned = instance.cpu_pinning_requested();
        order.sort_by_key(|c| {
            let cpus = if pinned {
                -(c.pcpuset.difference(&c.pinned_cpus).count() as i64)
            } else {
                c.cpu_usage
            };
            (cpus, -(c.memory - c.memory_usage))
        });
    }
    let emulator =
        usize::from(instance.emulator_threads_policy == Some(EmulatorThreadsPolicy::Isolate));
    let mut result = None;
    permutations(order.len(), instance.cells.len(), |choice| {
        let fitted: Option<Vec<InstanceNumaCell>> = choice
            .iter()
            .zip(&instance.cells)
            .enumerate()
            .map(|(i, (&h, cell))| {
                fit_cell(order[h], cell, limits, if i == 0 { emulator } else { 0 })
            })
            .collect();
        match fitted {
            Some(cells) => {
                result = Some(InstanceNumaTopology {
                    cells,
                    emulator_threads_policy: instance.emulator_threads_policy,
                });
                true
            }
            None => false,
        }
    });
    result
}

impl NumaTopology {
    /// The host's cells with the usage of `instances` (fitted topologies of
    /// the instances it holds) counted afresh (Nova's `numa_usage_from_instance_numa`):
    /// unpinned vCPUs and memory per cell, pinned host CPUs (with their
    /// siblings for `isolate`), pages by size.
    pub fn with_usage<'a>(
        &self,
        instances: impl IntoIterator<Item = &'a InstanceNumaTopology>,
    ) -> NumaTopology {
        let mut out = self.clone();
        for cell in &mut out.cells {
            cell.cpu_usage = 0;
            cell.memory_usage = 0;
            cell.pinned_cpus.clear();
            for p in &mut cell.mempages {
                p.used = 0;
            }
        }
        for inst in instances {
            out.add(inst);
        }
        out
    }

    /// Count one more instance's fitted topology (the scheduler's
    /// `consume_from_request`).
    pub fn add(&mut self, inst: &InstanceNumaTopology) {
        for icell in &inst.cells {
            let Some(cell) = self.cells.iter_mut().find(|c| c.id == icell.id) else {
                continue;
            };
            cell.cpu_usage += icell.cpuset.len() as i64;
            cell.memory_usage += icell.memory;
            for &pcpu in icell.cpu_pinning.values().chain(&icell.cpuset_reserved) {
                if icell.cpu_thread_policy == Some(CpuThreadPolicy::Isolate) {
                    let core = cell.core_of(pcpu);
                    cell.pinned_cpus.extend(core.intersection(&cell.pcpuset));
                } else {
                    cell.pinned_cpus.insert(pcpu);
                }
            }
            // Pages of the size it got, or the small ones.
            let size = icell
                .pagesize
                .filter(|s| *s > 0)
                .or_else(|| cell.smallest_page().map(|p| p.size_kb));
            if let Some(p) = cell.mempages.iter_mut().find(|p| Some(p.size_kb) == size) {
                p.used += icell.memory * 1024 / p.size_kb;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flavor(vcpus: i64, memory_mb: i64, specs: &[(&str, &str)]) -> Flavor {
        Flavor {
            vcpus,
            memory_mb,
            extra_specs: specs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn image(props: &[(&str, &str)]) -> BTreeMap<String, String> {
        props
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn cpus(s: &str) -> CpuSet {
        parse_cpu_spec(s).unwrap()
    }

    /// A host of `cells` cells of `per` CPUs each (both shared and
    /// dedicated, as with no cpu_*_set), 4 GiB each in 4 KiB pages and
    /// eight 2 MiB pages.
    fn host(cells: u32, per: u32, smt: bool) -> NumaTopology {
        NumaTopology {
            cells: (0..cells)
                .map(|i| {
                    let all: CpuSet = (i * per..(i + 1) * per).collect();
                    let siblings = if smt {
                        all.iter()
                            .collect::<Vec<_>>()
                            .chunks(2)
                            .map(|c| c.iter().map(|x| **x).collect())
                            .collect()
                    } else {
                        vec![]
                    };
                    NumaCell {
                        id: i,
                        cpuset: all.clone(),
                        pcpuset: all,
                        memory: 4096,
                        siblings,
                        mempages: vec![
                            MemPage {
                                size_kb: 4,
                                total: 4096 * 256 - 8 * 512,
                                ..Default::default()
                            },
                            MemPage {
                                size_kb: 2048,
                                total: 8,
                                ..Default::default()
                            },
                        ],
                        ..Default::default()
                    }
                })
                .collect(),
        }
    }

    #[test]
    fn cpu_specs_parse_and_format_as_nova() {
        assert_eq!(cpus("0-3,^2, 8"), CpuSet::from([0, 1, 3, 8]));
        assert_eq!(
            format_cpu_spec(&CpuSet::from([0, 1, 3, 8, 9, 10])),
            "0-1,3,8-10"
        );
        assert!(parse_cpu_spec("3-1").is_err());
        assert!(parse_cpu_spec("a").is_err());
    }

    #[test]
    fn no_numa_asked_is_none() {
        assert_eq!(
            numa_get_constraints(&flavor(2, 512, &[]), &image(&[])).unwrap(),
            None
        );
        assert_eq!(
            numa_get_constraints(&flavor(2, 512, &[("hw:cpu_policy", "shared")]), &image(&[]))
                .unwrap(),
            None
        );
    }

    #[test]
    fn nodes_split_evenly_or_as_given() {
        let t = numa_get_constraints(&flavor(4, 2048, &[("hw:numa_nodes", "2")]), &image(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(t.cells.len(), 2);
        assert_eq!(
            (t.cells[0].cpuset.clone(), t.cells[0].memory),
            (cpus("0-1"), 1024)
        );
        assert_eq!(
            (t.cells[1].cpuset.clone(), t.cells[1].memory),
            (cpus("2-3"), 1024)
        );
        let t = numa_get_constraints(
            &flavor(
                4,
                2048,
                &[
                    ("hw:numa_nodes", "2"),
                    ("hw:numa_cpus.0", "0"),
                    ("hw:numa_mem.0", "512"),
                    ("hw:numa_cpus.1", "1-3"),
                    ("hw:numa_mem.1", "1536"),
                ],
            ),
            &image(&[]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.cells[1].cpuset, cpus("1-3"));
        assert_eq!(t.cells[1].memory, 1536);
        // From the image when the flavor says nothing.
        let t = numa_get_constraints(&flavor(2, 1024, &[]), &image(&[("hw_numa_nodes", "2")]))
            .unwrap()
            .unwrap();
        assert_eq!(t.cells.len(), 2);
    }

    #[test]
    fn bad_topologies_are_novas_errors() {
        let err = |specs: &[(&str, &str)], img: &[(&str, &str)]| {
            numa_get_constraints(&flavor(4, 2048, specs), &image(img))
                .unwrap_err()
                .class()
                .to_string()
        };
        assert_eq!(
            err(&[("hw:numa_nodes", "3")], &[]),
            "ImageNUMATopologyAsymmetric"
        );
        assert_eq!(
            err(
                &[
                    ("hw:numa_nodes", "2"),
                    ("hw:numa_cpus.0", "0-1"),
                    ("hw:numa_mem.0", "1024")
                ],
                &[]
            ),
            "ImageNUMATopologyIncomplete"
        );
        let two = |c0: &str, m0: &str, c1: &str, m1: &str| {
            err(
                &[
                    ("hw:numa_nodes", "2"),
                    ("hw:numa_cpus.0", c0),
                    ("hw:numa_mem.0", m0),
                    ("hw:numa_cpus.1", c1),
                    ("hw:numa_mem.1", m1),
                ],
                &[],
            )
        };
        assert_eq!(
            two("0-1", "1024", "2-4", "1024"),
            "ImageNUMATopologyCPUOutOfRange"
        );
        assert_eq!(
            two("0-2", "1024", "2-3", "1024"),
            "ImageNUMATopologyCPUDuplicates"
        );
        assert_eq!(
            two("0", "1024", "2-3", "1024"),
            "ImageNUMATopologyCPUsUnassigned"
        );
        assert_eq!(
            two("0-1", "1024", "2-3", "512"),
            "ImageNUMATopologyMemoryOutOfRange"
        );
        assert_eq!(
            err(&[("hw:numa_nodes", "2")], &[("hw_numa_nodes", "1")]),
            "ImageNUMATopologyForbidden"
        );
        assert_eq!(
            err(
                &[("hw:cpu_policy", "shared")],
                &[("hw_cpu_policy", "dedicated")]
            ),
            "ImageCPUPinningForbidden"
        );
        assert_eq!(
            err(
                &[
                    ("hw:cpu_policy", "dedicated"),
                    ("hw:cpu_thread_policy", "isolate")
                ],
                &[("hw_cpu_thread_policy", "require")]
            ),
            "ImageCPUThreadPolicyForbidden"
        );
        assert_eq!(
            err(&[("hw:cpu_thread_policy", "isolate")], &[]),
            "CPUThreadPolicyConfigurationInvalid"
        );
        assert_eq!(
            err(&[("hw:cpu_policy", "bogus")], &[]),
            "InvalidCPUAllocationPolicy"
        );
        assert_eq!(
            err(&[("hw:mem_page_size", "huge")], &[]),
            "MemoryPageSizeInvalid"
        );
        assert_eq!(
            err(
                &[("hw:mem_page_size", "small")],
                &[("hw_mem_page_size", "large")]
            ),
            "MemoryPageSizeForbidden"
        );
        assert_eq!(
            err(&[("hw:cpu_policy", "mixed")], &[]),
            "RequiredMixedOrRealtimeCPUMask"
        );
        assert_eq!(
            err(&[("hw:cpu_dedicated_mask", "0")], &[]),
            "RequiredMixedInstancePolicy"
        );
        assert_eq!(
            err(
                &[("hw:cpu_policy", "mixed"), ("hw:cpu_dedicated_mask", "0-3")],
                &[]
            ),
            "InvalidMixedInstanceDedicatedMask"
        );
    }

    #[test]
    fn dedicated_is_one_pinned_cell() {
        let t = numa_get_constraints(
            &flavor(2, 512, &[("hw:cpu_policy", "dedicated")]),
            &image(&[]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.cells.len(), 1);
        assert_eq!(t.cells[0].pcpuset, cpus("0-1"));
        assert!(t.cells[0].cpuset.is_empty());
        // An image may ask for pinning when the flavor says nothing.
        let t = numa_get_constraints(
            &flavor(2, 512, &[]),
            &image(&[("hw_cpu_policy", "dedicated")]),
        )
        .unwrap()
        .unwrap();
        assert!(t.cpu_pinning_requested());
        // Mixed: the mask's vCPUs pinned, the others floating.
        let t = numa_get_constraints(
            &flavor(
                4,
                512,
                &[("hw:cpu_policy", "mixed"), ("hw:cpu_dedicated_mask", "^0")],
            ),
            &image(&[]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (t.cells[0].cpuset.clone(), t.cells[0].pcpuset.clone()),
            (cpus("0"), cpus("1-3"))
        );
    }

    #[test]
    fn pinned_instances_take_distinct_cpus_until_none_is_left() {
        let host = host(2, 2, false);
        let req = numa_get_constraints(
            &flavor(2, 512, &[("hw:cpu_policy", "dedicated")]),
            &image(&[]),
        )
        .unwrap()
        .unwrap();
        let a = numa_fit_instance_to_host(&host, &req, None).unwrap();
        assert!(a.is_fitted());
        let used = host.with_usage([&a]);
        let b = numa_fit_instance_to_host(&used, &req, None).unwrap();
        assert_ne!(
            a.cells[0].id, b.cells[0].id,
            "the second goes to the other cell"
        );
        assert!(a.pinned_host_cpus().is_disjoint(&b.pinned_host_cpus()));
        let full = host.with_usage([&a, &b]);
        assert_eq!(numa_fit_instance_to_host(&full, &req, None), None);
        // Freed by leaving the usage out.
        assert!(numa_fit_instance_to_host(&host.with_usage([&a]), &req, None).is_some());
    }

    #[test]
    fn two_cells_need_two_host_cells_and_memory_per_cell() {
        let req = numa_get_constraints(&flavor(2, 2048, &[("hw:numa_nodes", "2")]), &image(&[]))
            .unwrap()
            .unwrap();
        assert_eq!(
            numa_fit_instance_to_host(&host(1, 4, false), &req, None),
            None
        );
        let fitted = numa_fit_instance_to_host(&host(2, 2, false), &req, None).unwrap();
        assert_eq!(
            fitted.cells.iter().map(|c| c.id).collect::<Vec<_>>(),
            vec![0, 1]
        );
        // 5 GiB in one cell of 4 GiB does not fit; with a RAM ratio it still does not
        // (no guest cell is bigger than its host cell).
        let big = numa_get_constraints(&flavor(2, 5120, &[("hw:numa_nodes", "1")]), &image(&[]))
            .unwrap()
            .unwrap();
        let limits = NumaLimits {
            cpu_allocation_ratio: 16.0,
            ram_allocation_ratio: 1.5,
        };
        assert_eq!(
            numa_fit_instance_to_host(&host(2, 2, false), &big, Some(&limits)),
            None
        );
    }

    #[test]
    fn shared_cells_overcommit_by_the_ratios() {
        let req = numa_get_constraints(&flavor(2, 1024, &[("hw:numa_nodes", "1")]), &image(&[]))
            .unwrap()
            .unwrap();
        let limits = NumaLimits {
            cpu_allocation_ratio: 2.0,
            ram_allocation_ratio: 1.0,
        };
        let host = host(1, 2, false);
        let mut placed = vec![];
        while let Some(f) =
            numa_fit_instance_to_host(&host.with_usage(&placed), &req, Some(&limits))
        {
            placed.push(f);
        }
        // 2 CPUs × 2.0 = 4 vCPUs: two instances; memory (4 GiB) would allow four.
        assert_eq!(placed.len(), 2);
    }

    #[test]
    fn thread_policies_on_a_host_with_siblings() {
        let host = host(1, 4, true); // cores {0,1} {2,3}
        let ask = |policy: &str, vcpus: i64| {
            numa_get_constraints(
                &flavor(
                    vcpus,
                    512,
                    &[
                        ("hw:cpu_policy", "dedicated"),
                        ("hw:cpu_thread_policy", policy),
                    ],
                ),
                &image(&[]),
            )
            .unwrap()
            .unwrap()
        };
        let iso = numa_fit_instance_to_host(&host, &ask("isolate", 1), None).unwrap();
        let used = host.with_usage([&iso]);
        assert_eq!(
            used.cells[0].pinned_cpus.len(),
            2,
            "isolate keeps the sibling unused"
        );
        let iso2 = numa_fit_instance_to_host(&used, &ask("isolate", 1), None).unwrap();
        assert_eq!(
            numa_fit_instance_to_host(&host.with_usage([&iso, &iso2]), &ask("isolate", 1), None),
            None
        );
        let req = numa_fit_instance_to_host(&host, &ask("require", 2), None).unwrap();
        assert_eq!(req.pinned_host_cpus().len(), 2);
        assert_eq!(
            numa_fit_instance_to_host(&self::host(1, 4, false), &ask("require", 2), None),
            None
        );
    }

    #[test]
    fn pages_are_counted_and_never_overcommitted() {
        let req =
            numa_get_constraints(&flavor(1, 8, &[("hw:mem_page_size", "large")]), &image(&[]))
                .unwrap()
                .unwrap();
        let host = host(1, 2, false);
        let a = numa_fit_instance_to_host(&host, &req, None).unwrap();
        assert_eq!(a.cells[0].pagesize, Some(2048));
        let used = host.with_usage([&a]);
        assert_eq!(used.cells[0].mempages[1].used, 4);
        let b = numa_fit_instance_to_host(&used, &req, None).unwrap();
        assert_eq!(
            numa_fit_instance_to_host(&host.with_usage([&a, &b]), &req, None),
            None
        );
        let small =
            numa_get_constraints(&flavor(1, 8, &[("hw:mem_page_size", "small")]), &image(&[]))
                .unwrap()
                .unwrap();
        assert_eq!(
            numa_fit_instance_to_host(&host, &small, None)
                .unwrap()
                .cells[0]
                .pagesize,
            Some(4)
        );
    }

    #[test]
    fn emulator_threads_isolate_takes_one_more_cpu() {
        let req = numa_get_constraints(
            &flavor(
                1,
                512,
                &[
                    ("hw:cpu_policy", "dedicated"),
                    ("hw:emulator_threads_policy", "isolate"),
                ],
            ),
            &image(&[]),
        )
        .unwrap()
        .unwrap();
        let host = host(1, 2, false);
        let a = numa_fit_instance_to_host(&host, &req, None).unwrap();
        assert_eq!(a.pinned_host_cpus().len(), 2);
        assert_eq!(
            numa_fit_instance_to_host(&host.with_usage([&a]), &req, None),
            None
        );
    }
}
