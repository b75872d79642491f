//! The host's NUMA topology as Nova's drivers report it: the hypervisor's
//! cells with `[compute] cpu_shared_set`, `[compute] cpu_dedicated_set` and
//! the deprecated `[DEFAULT] vcpu_pin_set` applied (the libvirt driver's
//! `_get_host_numa_topology`, shared here by both drivers).

use crate::VirtError;
use nova_common::config::NovaConfig;
use nova_objects::numa::{
    format_cpu_spec, parse_cpu_spec, CpuSet, MemPage, NumaCell, NumaTopology,
};

/// One cell as the hypervisor describes it, before the CPU options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HypervisorCell {
    pub id: u32,
    pub cpus: CpuSet,
    /// Hyperthread sibling sets, each CPU in one (alone when it has none).
    pub siblings: Vec<CpuSet>,
    pub memory_mb: i64,
    pub mempages: Vec<MemPage>,
}

/// The CPU options, parsed and checked against each other.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CpuOptions {
    vcpu_pin_set: Option<CpuSet>,
    shared: Option<CpuSet>,
    dedicated: Option<CpuSet>,
}

fn bad_config(msg: String) -> VirtError {
    VirtError::Hypervisor(msg)
}

impl CpuOptions {
    /// Nova's checks at start-up: the two sets disjoint, `vcpu_pin_set`
    /// and `reserved_host_cpus` not mixed with `cpu_dedicated_set`.
    pub fn from_config(cfg: &NovaConfig) -> Result<Self, VirtError> {
        let spec = |name: &str, v: &Option<String>| -> Result<Option<CpuSet>, VirtError> {
            v.as_deref()
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    parse_cpu_spec(s)
                        .map_err(|e| bad_config(format!("Invalid '{name}' config: {e}")))
                })
                .transpose()
        };
        let opts = CpuOptions {
            vcpu_pin_set: spec("vcpu_pin_set", &cfg.default.vcpu_pin_set)?,
            shared: spec("[compute] cpu_shared_set", &cfg.compute.cpu_shared_set)?,
            dedicated: spec(
                "[compute] cpu_dedicated_set",
                &cfg.compute.cpu_dedicated_set,
            )?,
        };
        if let (Some(s), Some(d)) = (&opts.shared, &opts.dedicated) {
            if !s.is_disjoint(d) {
                return Err(bad_config(
                    "The '[compute] cpu_dedicated_set' and '[compute] cpu_shared_set' configuration options must be disjoint.".into(),
                ));
            }
        }
        if opts.dedicated.is_some() && opts.vcpu_pin_set.is_some() {
            return Err(bad_config(
                "The 'vcpu_pin_set' config option has been deprecated and is not compatible with '[compute] cpu_dedicated_set'. Remove 'vcpu_pin_set'.".into(),
            ));
        }
        if opts.dedicated.is_some() && cfg.default.reserved_host_cpus > 0 {
            return Err(bad_config(
                "The 'reserved_host_cpus' config option cannot be defined alongside the '[compute] cpu_dedicated_set' option. Remove 'reserved_host_cpus'.".into(),
            ));
        }
        Ok(opts)
    }

    /// `[compute] cpu_shared_set`, if set.
    pub fn cpu_shared_set(&self) -> Option<&CpuSet> {
        self.shared.as_ref()
    }

    /// The CPUs a guest without NUMA cells is kept on, when configured
    /// (`vcpu_pin_set`, else `cpu_shared_set`; Nova's `<vcpu cpuset>`).
    pub fn floating_cpus(&self) -> Option<&CpuSet> {
        self.vcpu_pin_set.as_ref().or(self.shared.as_ref())
    }

    /// The host's cells with the options applied: each cell's `cpuset`
    /// (CPUs unpinned guests float over: `vcpu_pin_set`, else
    /// `cpu_shared_set`, else none when only `cpu_dedicated_set` is set, else
    /// all) and `pcpuset` (`cpu_dedicated_set`; without it, as before Nova
    /// 20, the same CPUs as `cpuset` unless `cpu_shared_set` alone is set).
    pub fn topology(&self, cells: &[HypervisorCell]) -> Result<NumaTopology, VirtError> {
        let online: CpuSet = cells.iter().flat_map(|c| c.cpus.iter().copied()).collect();
        let check = |name: &str, set: &Option<CpuSet>| -> Result<(), VirtError> {
            match set {
                Some(s) if !s.is_subset(&online) => Err(bad_config(format!(
                    "Invalid '{name}' config: one or more of the configured CPUs is not online. Online cpuset(s): {}, configured cpuset(s): {}",
                    format_cpu_spec(&online),
                    format_cpu_spec(s)
                ))),
                _ => Ok(()),
            }
        };
        check("vcpu_pin_set", &self.vcpu_pin_set)?;
        check("[compute] cpu_shared_set", &self.shared)?;
        check("[compute] cpu_dedicated_set", &self.dedicated)?;
        let shared: CpuSet = match (&self.vcpu_pin_set, &self.shared, &self.dedicated) {
            (Some(pin), _, _) => pin.clone(),
            (None, Some(s), _) => s.clone(),
            (None, None, Some(_)) => CpuSet::new(),
            (None, None, None) => online.clone(),
        };
        let dedicated: CpuSet = match &self.dedicated {
            Some(d) => d.clone(),
            None if self.shared.is_some() && self.vcpu_pin_set.is_none() => CpuSet::new(),
            None => shared.clone(),
        };
        let usable: CpuSet = shared.union(&dedicated).copied().collect();
        Ok(NumaTopology {
            cells: cells
                .iter()
                .map(|c| NumaCell {
                    id: c.id,
                    cpuset: c.cpus.intersection(&shared).copied().collect(),
                    pcpuset: c.cpus.intersection(&dedicated).copied().collect(),
                    memory: c.memory_mb,
                    siblings: c
                        .siblings
                        .iter()
                        .map(|s| s.intersection(&usable).copied().collect::<CpuSet>())
                        .filter(|s| !s.is_empty())
                        .collect(),
                    mempages: c.mempages.clone(),
                    ..Default::default()
                })
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cells() -> Vec<HypervisorCell> {
        (0..2)
            .map(|i| HypervisorCell {
                id: i,
                cpus: (i * 4..i * 4 + 4).collect(),
                siblings: vec![
                    (i * 4..i * 4 + 2).collect(),
                    (i * 4 + 2..i * 4 + 4).collect(),
                ],
                memory_mb: 1024,
                mempages: vec![],
            })
            .collect()
    }

    fn opts(pin: Option<&str>, shared: Option<&str>, dedicated: Option<&str>) -> CpuOptions {
        let p = |s: Option<&str>| s.map(|s| parse_cpu_spec(s).unwrap());
        CpuOptions {
            vcpu_pin_set: p(pin),
            shared: p(shared),
            dedicated: p(dedicated),
        }
    }

    fn sets(t: &NumaTopology) -> Vec<(String, String)> {
        t.cells
            .iter()
            .map(|c| (format_cpu_spec(&c.cpuset), format_cpu_spec(&c.pcpuset)))
            .collect()
    }

    #[test]
    fn the_options_split_each_cell_as_novas_libvirt_driver() {
        let s = |pin, shared, ded| sets(&opts(pin, shared, ded).topology(&cells()).unwrap());
        let pair = |a: &str, b: &str| (a.to_string(), b.to_string());
        // Nothing set: every CPU both shared and dedicated (before Nova 20).
        assert_eq!(
            s(None, None, None),
            [pair("0-3", "0-3"), pair("4-7", "4-7")]
        );
        assert_eq!(
            s(Some("1-3,5"), None, None),
            [pair("1-3", "1-3"), pair("5", "5")]
        );
        assert_eq!(
            s(None, Some("0-1,4-5"), None),
            [pair("0-1", ""), pair("4-5", "")]
        );
        assert_eq!(
            s(None, None, Some("2-3,6-7")),
            [pair("", "2-3"), pair("", "6-7")]
        );
        assert_eq!(
            s(None, Some("0-1,4-5"), Some("2-3,6-7")),
            [pair("0-1", "2-3"), pair("4-5", "6-7")]
        );
        let t = opts(None, Some("0,4"), Some("2-3"))
            .topology(&cells())
            .unwrap();
        assert_eq!(
            t.cells[0].siblings,
            vec![CpuSet::from([0]), CpuSet::from([2, 3])]
        );
        assert!(opts(None, Some("8"), None).topology(&cells()).is_err());
    }
}
