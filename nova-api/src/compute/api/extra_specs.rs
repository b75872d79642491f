//! The flavor extra specs Nova knows (its `nova/api/validation/extra_specs`
//! package), as one table: from microversion 2.86 a spec whose name falls
//! in a known namespace must be one of these rows, and its value must fit
//! the row. Names outside every known namespace (`foo:bar`, or no
//! namespace at all) pass, as upstream.
//!
//! A row's name may hold placeholders (`{num}`, `{group}`, ...), each
//! matching the characters its [`Param`] allows. Deviation: upstream knows
//! every standard trait of `os-traits`; here any upper-case trait name is
//! taken as one (the value is still checked).

use nova_common::{NovaError, NovaResult};

/// What a placeholder in a row's name matches.
#[derive(Clone, Copy, Debug)]
enum Param {
    /// one or more digits (a NUMA node number)
    Digits,
    /// one or more characters of any kind
    Any,
    /// zero or more `:word` pieces (a path into a compute node's field)
    Filter,
    /// a request group suffix: up to 64 of `[A-Za-z0-9_-]`, maybe none
    Group,
    /// one or more of `[A-Z0-9_]` (a custom resource class or trait)
    Upper,
}

impl Param {
    fn accepts(self, s: &str) -> bool {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
        match self {
            Param::Digits => !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()),
            Param::Any => !s.is_empty(),
            Param::Filter => {
                s.is_empty()
                    || (s.starts_with(':')
                        && s[1..]
                            .split(':')
                            .all(|p| !p.is_empty() && p.chars().all(word)))
            }
            Param::Group => {
                s.len() <= 64
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            }
            Param::Upper => {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            }
        }
    }
}

/// Value formats no enum or range describes.
#[derive(Clone, Copy, Debug)]
enum Format {
    /// CPU numbers and ranges, `^` excluding one: `0-3,^2`
    CpuSet,
    /// `small`, `large`, `any` or a size (`2048`, `1GB`, `2MiB`)
    PageSize,
    /// comma-separated persistent memory namespace labels
    PmemLabels,
    /// `alias:count` pairs separated by commas
    PciAliases,
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    /// anything
    Str,
    /// a boolean-like word (oslo's strict `bool_from_string`)
    Bool,
    /// an integer, optionally bounded (both ends included)
    Int {
        min: Option<i64>,
        max: Option<i64>,
    },
    /// one of these words
    Enum(&'static [&'static str]),
    Format(Format),
}

/// One known extra spec.
#[derive(Debug)]
pub struct Spec {
    /// the name, with `{placeholder}`s
    pub name: &'static str,
    params: &'static [(&'static str, Param)],
    kind: Kind,
    /// what the spec asks for
    pub description: &'static str,
}

const fn s(name: &'static str, kind: Kind, description: &'static str) -> Spec {
    Spec {
        name,
        params: &[],
        kind,
        description,
    }
}

const fn p(
    name: &'static str,
    params: &'static [(&'static str, Param)],
    kind: Kind,
    description: &'static str,
) -> Spec {
    Spec {
        name,
        params,
        kind,
        description,
    }
}

const BOOL: Kind = Kind::Bool;
const STR: Kind = Kind::Str;
const INT: Kind = Kind::Int {
    min: None,
    max: None,
};
const fn min(m: i64) -> Kind {
    Kind::Int {
        min: Some(m),
        max: None,
    }
}
const SHARES_LEVEL: Kind = Kind::Enum(&["custom", "high", "normal", "low"]);
const FILTER: &[(&str, Param)] = &[("filter", Param::Filter)];
const GROUP: &[(&str, Param)] = &[("group", Param::Group)];

/// Every known extra spec; looked up by exact name first, then in order.
pub static SPECS: &[Spec] = &[
    // --- accel
    s(
        "accel:device_profile",
        STR,
        "Cyborg device profile whose accelerators the instance gets",
    ),
    // --- aggregate_instance_extra_specs (AggregateInstanceExtraSpecsFilter)
    p(
        "aggregate_instance_extra_specs:{key}",
        &[("key", Param::Any)],
        STR,
        "host aggregate metadata the host's aggregates must hold (the filter's operators allowed)",
    ),
    // --- capabilities (ComputeCapabilitiesFilter): compute node fields
    s("capabilities:id", STR, "compute node field to match"),
    s("capabilities:uuid", STR, "compute node field to match"),
    s(
        "capabilities:service_id",
        STR,
        "compute node field to match",
    ),
    s("capabilities:host", STR, "compute node field to match"),
    s("capabilities:vcpus", STR, "compute node field to match"),
    s("capabilities:memory_mb", STR, "compute node field to match"),
    s("capabilities:local_gb", STR, "compute node field to match"),
    s(
        "capabilities:vcpus_used",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:memory_mb_used",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:local_gb_used",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:hypervisor_type",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:hypervisor_version",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:hypervisor_hostname",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:free_ram_mb",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:free_disk_gb",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:current_workload",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:running_vms",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:disk_available_least",
        STR,
        "compute node field to match",
    ),
    s("capabilities:host_ip", STR, "compute node field to match"),
    s("capabilities:mapped", STR, "compute node field to match"),
    s(
        "capabilities:cpu_allocation_ratio",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:ram_allocation_ratio",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:disk_allocation_ratio",
        STR,
        "compute node field to match",
    ),
    s(
        "capabilities:total_usable_ram_mb",
        STR,
        "host state field to match",
    ),
    s(
        "capabilities:total_usable_disk_gb",
        STR,
        "host state field to match",
    ),
    s(
        "capabilities:disk_mb_used",
        STR,
        "host state field to match",
    ),
    s(
        "capabilities:free_disk_mb",
        STR,
        "host state field to match",
    ),
    s("capabilities:vcpus_total", STR, "host state field to match"),
    s(
        "capabilities:num_instances",
        STR,
        "host state field to match",
    ),
    s("capabilities:num_io_ops", STR, "host state field to match"),
    s(
        "capabilities:failed_builds",
        STR,
        "host state field to match",
    ),
    s("capabilities:aggregates", STR, "host state field to match"),
    s("capabilities:cell_uuid", STR, "host state field to match"),
    s("capabilities:updated", STR, "host state field to match"),
    p(
        "capabilities:cpu_info{filter}",
        FILTER,
        STR,
        "nested compute node field to match",
    ),
    p(
        "capabilities:metrics{filter}",
        FILTER,
        STR,
        "nested compute node field to match",
    ),
    p(
        "capabilities:stats{filter}",
        FILTER,
        STR,
        "nested compute node field to match",
    ),
    p(
        "capabilities:numa_topology{filter}",
        FILTER,
        STR,
        "nested compute node field to match",
    ),
    p(
        "capabilities:supported_hv_specs{filter}",
        FILTER,
        STR,
        "nested compute node field to match",
    ),
    p(
        "capabilities:pci_device_pools{filter}",
        FILTER,
        STR,
        "nested compute node field to match",
    ),
    p(
        "capabilities:nodename{filter}",
        FILTER,
        STR,
        "nested host state field to match",
    ),
    p(
        "capabilities:pci_stats{filter}",
        FILTER,
        STR,
        "nested host state field to match",
    ),
    p(
        "capabilities:supported_instances{filter}",
        FILTER,
        STR,
        "nested host state field to match",
    ),
    p(
        "capabilities:limits{filter}",
        FILTER,
        STR,
        "nested host state field to match",
    ),
    p(
        "capabilities:instances{filter}",
        FILTER,
        STR,
        "nested host state field to match",
    ),
    // --- hw (libvirt, most of them)
    s(
        "hw:cpu_realtime",
        BOOL,
        "give the guest's vCPUs a realtime scheduling priority",
    ),
    s(
        "hw:cpu_realtime_mask",
        Kind::Format(Format::CpuSet),
        "vCPUs left out of realtime scheduling",
    ),
    s(
        "hw:hide_hypervisor_id",
        BOOL,
        "hide the hypervisor's signature from the guest",
    ),
    s(
        "hw:cpu_policy",
        Kind::Enum(&["dedicated", "shared", "mixed"]),
        "whether vCPUs are pinned to host cores (dedicated), float (shared) or both (mixed)",
    ),
    s(
        "hw:cpu_thread_policy",
        Kind::Enum(&["prefer", "isolate", "require"]),
        "how pinned vCPUs use host hyperthread siblings",
    ),
    s(
        "hw:emulator_threads_policy",
        Kind::Enum(&["isolate", "share"]),
        "where the emulator's own threads run",
    ),
    s(
        "hw:cpu_dedicated_mask",
        Kind::Format(Format::CpuSet),
        "vCPUs pinned under the mixed policy",
    ),
    s(
        "hw:mem_page_size",
        Kind::Format(Format::PageSize),
        "page size backing guest memory",
    ),
    s(
        "hw:locked_memory",
        BOOL,
        "keep guest memory from being swapped out",
    ),
    s("hw:numa_nodes", min(1), "number of guest NUMA nodes"),
    p(
        "hw:numa_cpus.{num}",
        &[("num", Param::Digits)],
        Kind::Format(Format::CpuSet),
        "vCPUs of one guest NUMA node",
    ),
    p(
        "hw:numa_mem.{num}",
        &[("num", Param::Digits)],
        min(1),
        "MiB of memory of one guest NUMA node",
    ),
    s(
        "hw:pci_numa_affinity_policy",
        Kind::Enum(&["required", "preferred", "legacy", "socket"]),
        "how strictly PCI devices must share the guest's NUMA node",
    ),
    s("hw:cpu_sockets", min(1), "guest CPU sockets"),
    s("hw:cpu_cores", min(1), "guest cores per socket"),
    s("hw:cpu_threads", min(1), "guest threads per core"),
    s(
        "hw:cpu_max_sockets",
        min(1),
        "upper bound an image may ask for sockets",
    ),
    s(
        "hw:cpu_max_cores",
        min(1),
        "upper bound an image may ask for cores",
    ),
    s(
        "hw:cpu_max_threads",
        min(1),
        "upper bound an image may ask for threads",
    ),
    s("hw:boot_menu", BOOL, "show the BIOS boot menu"),
    s(
        "hw:vif_multiqueue_enabled",
        BOOL,
        "one virtio-net queue per vCPU",
    ),
    s("hw:mem_encryption", BOOL, "encrypt guest memory (AMD SEV)"),
    s(
        "hw:mem_encryption_model",
        Kind::Enum(&["amd-sev", "amd-sev-es", "amd-sev-snp"]),
        "which memory encryption technology",
    ),
    s(
        "hw:pmem",
        Kind::Format(Format::PmemLabels),
        "persistent memory namespaces to attach",
    ),
    s(
        "hw:pmu",
        BOOL,
        "expose a virtual performance monitoring unit",
    ),
    s("hw:serial_port_count", min(0), "number of serial ports"),
    s(
        "hw:tpm_model",
        Kind::Enum(&["tpm-tis", "tpm-crb"]),
        "emulated TPM device model",
    ),
    s(
        "hw:tpm_version",
        Kind::Enum(&["1.2", "2.0"]),
        "emulated TPM version",
    ),
    s(
        "hw:tpm_secret_security",
        Kind::Enum(&["user", "host", "deployment"]),
        "who owns the emulated TPM's secret",
    ),
    s(
        "hw:watchdog_action",
        Kind::Enum(&["none", "pause", "poweroff", "reset", "disabled"]),
        "what the guest watchdog does when it fires",
    ),
    s(
        "hw:viommu_model",
        Kind::Enum(&["intel", "smmuv3", "virtio", "auto"]),
        "virtual IOMMU model",
    ),
    s("hw:virtio_packed_ring", BOOL, "use packed virtqueues"),
    s(
        "hw:sound_model",
        Kind::Enum(&[
            "sb16", "es1370", "pcspk", "ac97", "ich6", "ich9", "usb", "virtio",
        ]),
        "emulated sound device",
    ),
    s(
        "hw:usb_model",
        Kind::Enum(&["none", "nec-xhci", "qemu-xhci"]),
        "USB controller model",
    ),
    s(
        "hw:redirected_usb_ports",
        Kind::Int {
            min: Some(0),
            max: Some(15),
        },
        "USB ports redirected from a SPICE client",
    ),
    s(
        "hw:ephemeral_encryption",
        BOOL,
        "encrypt the instance's local disks",
    ),
    s(
        "hw:ephemeral_encryption_format",
        Kind::Enum(&["plain", "luks", "luksv2"]),
        "format of encrypted local disks",
    ),
    // --- hw_rng, hw_video
    s(
        "hw_rng:allowed",
        BOOL,
        "let images ask for a random number generator device",
    ),
    s(
        "hw_rng:rate_bytes",
        min(0),
        "bytes the RNG device may give per period",
    ),
    s(
        "hw_rng:rate_period",
        min(0),
        "the RNG device's period in milliseconds",
    ),
    s(
        "hw_video:ram_max_mb",
        min(0),
        "most video RAM an image may ask for, in MiB",
    ),
    // --- no namespace
    s(
        "hide_hypervisor_id",
        BOOL,
        "old name of hw:hide_hypervisor_id (deprecated)",
    ),
    s(
        "group_policy",
        Kind::Enum(&["isolate", "none"]),
        "whether numbered request groups must come from different providers",
    ),
    // --- os
    s(
        "os:secure_boot",
        Kind::Enum(&["disabled", "required"]),
        "UEFI secure boot",
    ),
    // --- pci_passthrough
    s(
        "pci_passthrough:alias",
        Kind::Format(Format::PciAliases),
        "PCI devices by alias and count",
    ),
    // --- quota (libvirt tuning and VMware limits)
    s("quota:cpu_limit", min(0), "VMware: CPU limit in MHz"),
    s(
        "quota:cpu_reservation",
        INT,
        "VMware: guaranteed CPU in MHz",
    ),
    s(
        "quota:cpu_shares_level",
        SHARES_LEVEL,
        "VMware: CPU shares level",
    ),
    s(
        "quota:cpu_shares_share",
        min(0),
        "VMware: CPU shares under the custom level",
    ),
    s("quota:memory_limit", min(0), "VMware: memory limit in MiB"),
    s(
        "quota:memory_reservation",
        INT,
        "VMware: guaranteed memory in MiB",
    ),
    s(
        "quota:memory_shares_level",
        SHARES_LEVEL,
        "VMware: memory shares level",
    ),
    s(
        "quota:memory_shares_share",
        min(0),
        "VMware: memory shares under the custom level",
    ),
    s("quota:disk_io_limit", min(0), "VMware: disk IOPS limit"),
    s(
        "quota:disk_io_reservation",
        INT,
        "VMware: guaranteed disk IOPS",
    ),
    s(
        "quota:disk_io_shares_level",
        SHARES_LEVEL,
        "VMware: disk I/O shares level",
    ),
    s(
        "quota:disk_io_shares_share",
        min(0),
        "VMware: disk I/O shares under the custom level",
    ),
    s(
        "quota:vif_limit",
        min(0),
        "VMware: network bandwidth limit in Mbps",
    ),
    s(
        "quota:vif_reservation",
        INT,
        "VMware: guaranteed network bandwidth in Mbps",
    ),
    s(
        "quota:vif_shares_level",
        SHARES_LEVEL,
        "VMware: network shares level",
    ),
    s(
        "quota:vif_shares_share",
        min(0),
        "VMware: network shares under the custom level",
    ),
    s("quota:cpu_shares", min(0), "libvirt: relative CPU weight"),
    s(
        "quota:cpu_period",
        min(0),
        "libvirt: CPU enforcement period in microseconds",
    ),
    s(
        "quota:cpu_quota",
        INT,
        "libvirt: CPU time per period in microseconds (negative: none)",
    ),
    s(
        "quota:disk_read_bytes_sec",
        min(0),
        "libvirt: disk read bytes per second",
    ),
    s(
        "quota:disk_read_iops_sec",
        min(0),
        "libvirt: disk read operations per second",
    ),
    s(
        "quota:disk_write_bytes_sec",
        min(0),
        "libvirt: disk write bytes per second",
    ),
    s(
        "quota:disk_write_iops_sec",
        min(0),
        "libvirt: disk write operations per second",
    ),
    s(
        "quota:disk_total_bytes_sec",
        min(0),
        "libvirt: disk bytes per second, both ways",
    ),
    s(
        "quota:disk_total_iops_sec",
        min(0),
        "libvirt: disk operations per second, both ways",
    ),
    s(
        "quota:vif_inbound_average",
        min(0),
        "libvirt: average inbound KB/s",
    ),
    s(
        "quota:vif_inbound_peak",
        min(0),
        "libvirt: peak inbound KB/s",
    ),
    s(
        "quota:vif_inbound_burst",
        min(0),
        "libvirt: inbound burst in KB",
    ),
    s(
        "quota:vif_outbound_average",
        min(0),
        "libvirt: average outbound KB/s",
    ),
    s(
        "quota:vif_outbound_peak",
        min(0),
        "libvirt: peak outbound KB/s",
    ),
    s(
        "quota:vif_outbound_burst",
        min(0),
        "libvirt: outbound burst in KB",
    ),
    // --- resources (placement): the standard classes, then custom ones
    p(
        "resources{group}:VCPU",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:MEMORY_MB",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:DISK_GB",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:PCPU",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:PCI_DEVICE",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:SRIOV_NET_VF",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NUMA_SOCKET",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NUMA_CORE",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NUMA_THREAD",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NUMA_MEMORY_MB",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:IPV4_ADDRESS",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:VGPU",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:VGPU_DISPLAY_HEAD",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NET_BW_EGR_KILOBIT_PER_SEC",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NET_BW_IGR_KILOBIT_PER_SEC",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NET_PACKET_RATE_KILOPACKET_PER_SEC",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NET_PACKET_RATE_EGR_KILOPACKET_PER_SEC",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:NET_PACKET_RATE_IGR_KILOPACKET_PER_SEC",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:MEM_ENCRYPTION_CONTEXT",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:FPGA",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:PGPU",
        GROUP,
        INT,
        "amount of a resource class to request",
    ),
    p(
        "resources{group}:CUSTOM_{resource}",
        &[("group", Param::Group), ("resource", Param::Upper)],
        INT,
        "amount of a custom resource class to request",
    ),
    // --- trait (placement)
    p(
        "trait{group}:{trait}",
        &[("group", Param::Group), ("trait", Param::Upper)],
        Kind::Enum(&["required", "forbidden"]),
        "a trait the host's providers must (required) or must not (forbidden) have",
    ),
    // --- vmware
    s(
        "vmware:hw_version",
        STR,
        "VMware hardware version of the guest",
    ),
    s(
        "vmware:storage_policy",
        STR,
        "VMware storage policy for the guest's disks",
    ),
];

/// Does `name` fit `template` (placeholders as `params` say)?
fn fits(template: &str, params: &[(&str, Param)], name: &str) -> bool {
    let Some(open) = template.find('{') else {
        return template == name;
    };
    let Some(name_prefix) = name.get(..open) else {
        return false;
    };
    if name_prefix != &template[..open] {
        return false;
    }
    let Some(close) = template[open..].find('}').map(|c| open + c) else {
        return false;
    };
    let Some(&(_, param)) = params
        .iter()
        .find(|(n, _)| *n == &template[open + 1..close])
    else {
        return false;
    };
    let rest_t = &template[close + 1..];
    let rest_n = &name[open..];
    // every split of what is left of the name between this placeholder and the rest
    (0..=rest_n.len())
        .filter(|&i| rest_n.is_char_boundary(i))
        .any(|i| param.accepts(&rest_n[..i]) && fits(rest_t, params, &rest_n[i..]))
}

fn is_cpu_set(v: &str) -> bool {
    // ^?N then any of -N / ,^?N
    fn digits(s: &str) -> usize {
        s.bytes().take_while(u8::is_ascii_digit).count()
    }
    let mut rest = v.strip_prefix('^').unwrap_or(v);
    let n = digits(rest);
    if n == 0 {
        return false;
    }
    rest = &rest[n..];
    while !rest.is_empty() {
        rest = if let Some(r) = rest.strip_prefix('-') {
            r
        } else if let Some(r) = rest.strip_prefix(',') {
            r.strip_prefix('^').unwrap_or(r)
        } else {
            return false;
        };
        let n = digits(rest);
        if n == 0 {
            return false;
        }
        rest = &rest[n..];
    }
    true
}

fn is_page_size(v: &str) -> bool {
    if matches!(v, "large" | "small" | "any") {
        return true;
    }
    let n = v.bytes().take_while(u8::is_ascii_digit).count();
    if n == 0 {
        return false;
    }
    let mut rest = &v[n..];
    if let Some(r) = rest.strip_prefix(['k', 'K', 'M', 'G', 'T']) {
        rest = r.strip_prefix('i').unwrap_or(r);
    }
    matches!(rest, "" | "b" | "bit" | "B")
}

fn is_pmem_labels(v: &str) -> bool {
    let word = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    let v = v.strip_suffix(',').unwrap_or(v);
    v.split(',').all(word)
}

fn is_pci_aliases(v: &str) -> bool {
    // name:count(, name:count)*; a name holds anything but ':'
    let parts: Vec<&str> = v.split(':').collect();
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if parts.len() < 2 || parts[0].is_empty() || !all_digits(parts[parts.len() - 1]) {
        return false;
    }
    parts[1..parts.len() - 1].iter().all(|mid| {
        let n = mid.bytes().take_while(u8::is_ascii_digit).count();
        n > 0
            && mid[n..]
                .trim_start()
                .strip_prefix(',')
                .is_some_and(|name| !name.is_empty())
    })
}

/// oslo's strict `bool_from_string`.
fn is_bool(v: &str) -> bool {
    matches!(
        v.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "on" | "y" | "yes" | "0" | "f" | "false" | "off" | "n" | "no"
    )
}

fn fail(detail: String) -> NovaError {
    NovaError::ValidationError { detail }
}

impl Spec {
    fn matches(&self, name: &str) -> bool {
        fits(self.name, self.params, name)
    }

    /// The namespace part of the name (before the first ':'), if any.
    fn namespace(&self) -> Option<&'static str> {
        self.name.split_once(':').map(|(ns, _)| ns)
    }

    fn check_value(&self, value: &str) -> NovaResult<()> {
        match self.kind {
            Kind::Str => Ok(()),
            Kind::Bool if is_bool(value) => Ok(()),
            Kind::Bool => Err(fail(format!(
                "Validation failed; '{value}' is not a valid boolean-like value."
            ))),
            Kind::Int { min, max } => {
                let Ok(n) = value.trim().parse::<i64>() else {
                    return Err(fail(format!(
                        "Validation failed; '{value}' is not a valid integer value."
                    )));
                };
                if let Some(m) = max.filter(|m| n > *m) {
                    return Err(fail(format!(
                        "Validation failed; '{value}' is greater than the max value of '{m}'."
                    )));
                }
                if let Some(m) = min.filter(|m| n < *m) {
                    return Err(fail(format!(
                        "Validation failed; '{value}' is less than the min value of '{m}'."
                    )));
                }
                Ok(())
            }
            Kind::Enum(words) if words.contains(&value) => Ok(()),
            Kind::Enum(words) => Err(fail(format!(
                "Validation failed; '{value}' is not one of: {}.",
                words.join(", ")
            ))),
            Kind::Format(f) => {
                let (ok, what) = match f {
                    Format::CpuSet => (is_cpu_set(value), "a CPU list such as 0-3,^2"),
                    Format::PageSize => (is_page_size(value), "small, large, any or a size"),
                    Format::PmemLabels => (is_pmem_labels(value), "comma-separated labels"),
                    Format::PciAliases => (is_pci_aliases(value), "alias:count[,alias:count...]"),
                };
                if ok {
                    Ok(())
                } else {
                    Err(fail(format!(
                        "Validation failed; '{value}' is not of the format {what}."
                    )))
                }
            }
        }
    }
}

/// The row `name` falls under: its exact name first, else the first
/// whose placeholders fit.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    SPECS
        .iter()
        .find(|s| s.params.is_empty() && s.name == name)
        .or_else(|| SPECS.iter().find(|s| s.matches(name)))
}

/// Check one extra spec as Nova does from microversion 2.86.
pub fn validate(name: &str, value: &str) -> NovaResult<()> {
    if let Some(spec) = lookup(name) {
        // upstream's message, then which spec and what it is for
        return spec
            .check_value(value)
            .map_err(|e| fail(format!("{e} ({name}: {})", spec.description)));
    }
    let Some((ns, _)) = name.split_once(':') else {
        return Ok(()); // no namespace: nothing to check against
    };
    let known = SPECS.iter().any(|s| {
        s.namespace()
            .is_some_and(|template| fits(template, s.params, ns))
    });
    if known {
        return Err(fail(format!(
            "Validation failed; extra spec '{name}' does not appear to be a valid extra spec."
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(n: &str, v: &str) -> bool {
        validate(n, v).is_ok()
    }

    #[test]
    fn enums_refuse_words_outside_them() {
        assert!(ok("hw:cpu_policy", "dedicated"));
        assert!(ok("hw:cpu_policy", "mixed"));
        let e = validate("hw:cpu_policy", "bogus").unwrap_err();
        assert_eq!(e.http_code(), 400);
        assert!(
            e.to_string()
                .contains("'bogus' is not one of: dedicated, shared, mixed"),
            "{e}"
        );
        assert!(ok("group_policy", "isolate"));
        assert!(!ok("group_policy", "separate"));
        assert!(ok("hw:sound_model", "ich9"));
        assert!(!ok("os:secure_boot", "optional"));
    }

    #[test]
    fn unknown_names_in_known_namespaces_are_refused_others_pass() {
        let e = validate("hw:cpu_polcy", "dedicated").unwrap_err();
        assert!(
            e.to_string().contains("'hw:cpu_polcy' does not appear"),
            "{e}"
        );
        assert!(!ok("quota:nonsense", "1"));
        assert!(!ok("resources:VCPUS", "1"));
        assert!(!ok("resources1:NOT_A_CLASS", "1"));
        assert!(ok("foo:bar", "anything"));
        assert!(ok("no_namespace_at_all", "x"));
        assert!(ok("hw_foo:bar", "x")); // hw_foo is not hw
    }

    #[test]
    fn integers_and_ranges() {
        assert!(ok("hw:numa_nodes", "2"));
        assert!(!ok("hw:numa_nodes", "0"));
        assert!(!ok("hw:numa_nodes", "two"));
        assert!(ok("hw:redirected_usb_ports", "15"));
        let e = validate("hw:redirected_usb_ports", "16").unwrap_err();
        assert!(
            e.to_string().contains("greater than the max value of '15'"),
            "{e}"
        );
        assert!(ok("quota:cpu_quota", "-1"));
        assert!(!ok("quota:cpu_period", "-1"));
    }

    #[test]
    fn booleans_are_olso_strict() {
        for v in ["true", "False", "1", "no", "YES", "on"] {
            assert!(ok("hw:cpu_realtime", v), "{v}");
        }
        assert!(!ok("hw:cpu_realtime", "maybe"));
        assert!(!ok("hw_rng:allowed", ""));
    }

    #[test]
    fn placeholders() {
        assert!(ok("hw:numa_cpus.0", "0-3,^2"));
        assert!(ok("hw:numa_mem.12", "1024"));
        assert!(!ok("hw:numa_mem.x", "1024"));
        assert!(!ok("hw:numa_cpus.", "0"));
        assert!(ok("resources:VCPU", "2"));
        assert!(ok("resources_gpu-1:VGPU", "1"));
        assert!(ok("resources2:CUSTOM_MAGIC", "1"));
        assert!(!ok("resources2:CUSTOM_magic", "1"));
        assert!(!ok("resources:VCPU", "lots"));
        assert!(ok("trait:HW_CPU_X86_AVX2", "required"));
        assert!(ok("trait1:CUSTOM_FOO", "forbidden"));
        assert!(!ok("trait:CUSTOM_FOO", "preferred"));
        assert!(ok("aggregate_instance_extra_specs:ssd", "<in> true"));
        assert!(ok("capabilities:cpu_info:arch", "x86_64"));
        assert!(ok("capabilities:stats", "x"));
        assert!(!ok("capabilities:nope", "x"));
        let long = format!("resources{}:VCPU", "a".repeat(65));
        // too long a group: not the resources namespace at all, so it passes
        assert!(lookup(&long).is_none());
        assert!(ok(&long, "1"));
    }

    #[test]
    fn formats() {
        for v in ["0", "0-3", "^1", "0-3,^2", "1,2,3"] {
            assert!(is_cpu_set(v), "{v}");
        }
        for v in ["", "a", "0-", ",1", "0,,1", "0-^1"] {
            assert!(!is_cpu_set(v), "{v}");
        }
        for v in [
            "small", "large", "any", "2048", "1GB", "2MiB", "4k", "1Gbit",
        ] {
            assert!(is_page_size(v), "{v}");
        }
        for v in ["huge", "MB", "1X", "1GiBB"] {
            assert!(!is_page_size(v), "{v}");
        }
        assert!(is_pmem_labels("small,medium"));
        assert!(is_pmem_labels("small,"));
        assert!(!is_pmem_labels(",small"));
        assert!(!is_pmem_labels("a,,b"));
        assert!(is_pci_aliases("a1:2"));
        assert!(is_pci_aliases("a1:2, b-2:1"));
        assert!(!is_pci_aliases("a1"));
        assert!(!is_pci_aliases("a1:x"));
        assert!(!is_pci_aliases("a1:2,"));
        assert!(!ok("hw:mem_page_size", "huge"));
    }

    #[test]
    fn every_row_accepts_a_name_of_its_own_form() {
        for spec in SPECS {
            let mut name = spec.name.to_string();
            for (p, kind) in spec.params {
                let sample = match kind {
                    Param::Digits => "1",
                    Param::Any => "x",
                    Param::Filter => ":a",
                    Param::Group => "",
                    Param::Upper => "X1",
                };
                name = name.replace(&format!("{{{p}}}"), sample);
            }
            assert!(lookup(&name).is_some(), "{}", spec.name);
        }
    }
}
