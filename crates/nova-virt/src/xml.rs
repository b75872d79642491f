//! Domain XML as Nova's libvirt driver writes it.

use nova_objects::{ImageMeta, Instance, NetworkInfo};
use std::fmt::Write;

/// The configuration the XML depends on.
#[derive(Debug, Clone, Default)]
pub struct DomainConfig {
    pub virt_type: String,
    pub instances_path: String,
    pub instance_name: String,
    pub vnc_enabled: bool,
    pub vnc_listen: String,
    /// Direct kernel boot: kernel, optional initrd, and the kernel command line.
    pub kernel: Option<String>,
    pub ramdisk: Option<String>,
    pub cmdline: Option<String>,
    /// Each interface references its nwfilter (`nova-instance-<name>-<mac>`).
    pub nwfilter: bool,
    /// The compute host that owns the guest (`<nova:host>` in the metadata):
    /// compute hosts sharing one libvirt each see only their own guests.
    pub host: String,
    /// The format of the guest's config drive (`disk.config`), if it has one:
    /// "iso9660" is a CD-ROM on the IDE bus's last slot (hdd), "vfat" a
    /// virtio disk in the last slot (vdz), as Nova's block device mapping
    /// places them.
    pub config_drive: Option<String>,
    /// The instance's NUMA cells as fitted to this host, if it has any.
    pub numa: Option<GuestNuma>,
    /// For a guest without NUMA cells: the host CPUs its vCPUs may run on
    /// (`<vcpu cpuset>`: `[compute] cpu_shared_set` or `vcpu_pin_set`, when set).
    pub vcpu_cpuset: Option<nova_objects::numa::CpuSet>,
}

/// What the guest's NUMA elements are written from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct GuestNuma {
    /// The instance's topology, fitted to this host.
    pub topology: nova_objects::numa::InstanceNumaTopology,
    /// Each host cell's shared CPUs (its `cpuset`), which the guest's
    /// unpinned vCPUs in that cell float over.
    pub host_shared: std::collections::BTreeMap<u32, nova_objects::numa::CpuSet>,
    /// `[compute] cpu_shared_set`, where `hw:emulator_threads_policy=share`
    /// puts the emulator threads.
    pub cpu_shared_set: Option<nova_objects::numa::CpuSet>,
}

/// Nova's `_get_guest_numa_config` and `_get_guest_memory_backing_config`:
/// `<memoryBacking>` (huge pages), `<numatune>` and `<cputune>` for the
/// domain, and the `<numa>` cells of its `<cpu>`.
pub(crate) fn numa_elements(n: &GuestNuma) -> (String, String) {
    use nova_objects::numa::{format_cpu_spec, CpuSet, EmulatorThreadsPolicy};
    let mut domain = String::new();
    let mut cpu = String::from("    <numa>\n");
    let cells = &n.topology.cells;
    let huge: Vec<(usize, i64)> = cells
        .iter()
        .enumerate()
        .filter_map(|(g, c)| c.pagesize.filter(|p| *p > 4).map(|p| (g, p)))
        .collect();
    if !huge.is_empty() {
        domain.push_str("  <memoryBacking>\n    <hugepages>\n");
        for (g, size) in &huge {
            let _ = writeln!(
                domain,
                "      <page size=\"{size}\" unit=\"KiB\" nodeset=\"{g}\"/>"
            );
        }
        domain.push_str("    </hugepages>\n  </memoryBacking>\n");
    }
    let host_nodes: CpuSet = cells.iter().map(|c| c.id).collect();
    domain.push_str("  <numatune>\n");
    let _ = writeln!(
        domain,
        "    <memory mode=\"strict\" nodeset=\"{}\"/>",
        format_cpu_spec(&host_nodes)
    );
    for (g, c) in cells.iter().enumerate() {
        let _ = writeln!(
            domain,
            "    <memnode cellid=\"{g}\" mode=\"strict\" nodeset=\"{}\"/>",
            c.id
        );
    }
    domain.push_str("  </numatune>\n");
    let mut pins: Vec<(u32, CpuSet)> = vec![];
    for (g, c) in cells.iter().enumerate() {
        let vcpus: CpuSet = c.cpuset.union(&c.pcpuset).copied().collect();
        for &v in &vcpus {
            let set = match c.cpu_pinning.get(&v) {
                Some(p) => CpuSet::from([*p]),
                None => n.host_shared.get(&c.id).cloned().unwrap_or_default(),
            };
            pins.push((v, set));
        }
        let shared = c.pagesize.is_some_and(|p| p > 4);
        let _ = writeln!(
            cpu,
            "      <cell id=\"{g}\" cpus=\"{}\" memory=\"{}\"{}/>",
            format_cpu_spec(&vcpus),
            c.memory * 1024,
            if shared { " memAccess=\"shared\"" } else { "" }
        );
    }
    cpu.push_str("    </numa>\n");
    pins.sort();
    let emulator: CpuSet = match (n.topology.emulator_threads_policy, &n.cpu_shared_set) {
        (Some(EmulatorThreadsPolicy::Isolate), _) => cells
            .iter()
            .flat_map(|c| c.cpuset_reserved.iter().copied())
            .collect(),
        (Some(EmulatorThreadsPolicy::Share), Some(shared)) => shared.clone(),
        _ => pins.iter().flat_map(|(_, s)| s.iter().copied()).collect(),
    };
    domain.push_str("  <cputune>\n");
    if !emulator.is_empty() {
        let _ = writeln!(
            domain,
            "    <emulatorpin cpuset=\"{}\"/>",
            format_cpu_spec(&emulator)
        );
    }
    for (v, set) in pins.iter().filter(|(_, s)| !s.is_empty()) {
        let _ = writeln!(
            domain,
            "    <vcpupin vcpu=\"{v}\" cpuset=\"{}\"/>",
            format_cpu_spec(set)
        );
    }
    domain.push_str("  </cputune>\n");
    (domain, cpu)
}

/// The `<nova:host>` element naming the guest's owner.
pub fn owner_tag(host: &str) -> String {
    format!("<nova:host>{}</nova:host>", esc(host))
}

pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The port of the first `<graphics type='vnc'>` of a live domain's XML
/// (libvirt fills `port` in once the guest runs; -1 or none before).
pub fn vnc_port(xml: &str) -> Option<i64> {
    let attr = |tag: &str, name: &str| -> Option<String> {
        let i = tag.find(&format!(" {name}="))? + name.len() + 2;
        let q = tag[i..].chars().next()?;
        let rest = &tag[i + 1..];
        Some(rest[..rest.find(q)?].to_string())
    };
    xml.match_indices("<graphics")
        .filter_map(|(i, _)| {
            let tag = &xml[i..i + xml[i..].find('>')?];
            (attr(tag, "type").as_deref() == Some("vnc")).then_some(tag)
        })
        .find_map(|tag| attr(tag, "port")?.parse::<i64>().ok())
        .filter(|p| *p > 0)
}

/// Nova's `_get_instance_capabilities`: from libvirt's capabilities XML,
/// (architecture, hypervisor type, VM mode) for every domain type of every
/// `<guest>`, in canonical names.
pub fn supported_instances(caps: &str) -> Vec<[String; 3]> {
    use nova_objects::fields::{canonical_arch, canonical_hv_type, canonical_vm_mode};
    let mut out: Vec<[String; 3]> = Vec::new();
    for guest in caps.split("<guest>").skip(1) {
        let guest = guest.split("</guest>").next().unwrap_or_default();
        let os_type = guest
            .split_once("<os_type>")
            .and_then(|(_, rest)| rest.split_once("</os_type>"))
            .map(|(t, _)| t.trim());
        let arch = guest
            .find("<arch ")
            .and_then(|i| attr(&guest[i..i + guest[i..].find('>')?], "name"));
        let (Some(os_type), Some(arch)) = (os_type, arch) else {
            continue;
        };
        for (i, _) in guest.match_indices("<domain ") {
            let Some(end) = guest[i..].find('>') else {
                continue;
            };
            if let Some(hv) = attr(&guest[i..i + end], "type") {
                let kind = [
                    canonical_arch(&arch),
                    canonical_hv_type(&hv),
                    canonical_vm_mode(os_type),
                ];
                if !out.contains(&kind) {
                    out.push(kind);
                }
            }
        }
    }
    out
}

/// The host's NUMA cells from libvirt's capabilities (`<topology><cells>`):
/// CPUs with their siblings, memory (KiB → MiB) and pages by size.
pub fn host_numa_cells(caps: &str) -> Vec<crate::numa::HypervisorCell> {
    use nova_objects::numa::{parse_cpu_spec, CpuSet, MemPage};
    let Some(topology) = caps
        .split_once("<topology>")
        .and_then(|(_, rest)| rest.split_once("</topology>"))
        .map(|(t, _)| t)
    else {
        return vec![];
    };
    elements(topology, "cell")
        .filter_map(|cell| {
            let head = &cell[..cell.find('>')?];
            let id: u32 = attr(head, "id")?.parse().ok()?;
            let memory_kib: i64 = cell
                .split_once("<memory")
                .and_then(|(_, rest)| rest.split_once('>'))
                .and_then(|(_, rest)| rest.split_once('<'))
                .and_then(|(v, _)| v.trim().parse().ok())?;
            let mempages = cell
                .match_indices("<pages ")
                .filter_map(|(i, _)| {
                    let tag = &cell[i..i + cell[i..].find('>')?];
                    let body = &cell[i + tag.len() + 1..];
                    let total = body[..body.find('<')?].trim().parse().ok()?;
                    Some(MemPage {
                        size_kb: attr(tag, "size")?.parse().ok()?,
                        total,
                        ..Default::default()
                    })
                })
                .collect();
            let mut cpus = CpuSet::new();
            let mut siblings: Vec<CpuSet> = vec![];
            for (i, _) in cell.match_indices("<cpu ") {
                let Some(end) = cell[i..].find('>') else {
                    continue;
                };
                let tag = &cell[i..i + end];
                let Some(cpu) = attr(tag, "id").and_then(|v| v.parse::<u32>().ok()) else {
                    continue;
                };
                cpus.insert(cpu);
                let sib = attr(tag, "siblings")
                    .and_then(|s| parse_cpu_spec(&s).ok())
                    .unwrap_or_else(|| CpuSet::from([cpu]));
                if !siblings.contains(&sib) {
                    siblings.push(sib);
                }
            }
            Some(crate::numa::HypervisorCell {
                id,
                cpus,
                siblings,
                memory_mb: memory_kib / 1024,
                mempages,
            })
        })
        .collect()
}

/// The value of attribute `name` in the element text `tag` (`<x a='1'`).
fn attr(tag: &str, name: &str) -> Option<String> {
    let i = tag.find(&format!(" {name}="))? + name.len() + 2;
    let q = tag[i..].chars().next()?;
    let rest = &tag[i + 1..];
    Some(rest[..rest.find(q)?].to_string())
}

/// The bodies of every `<elem ...>...</elem>` in `xml`.
fn elements<'a>(xml: &'a str, elem: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    let open = format!("<{elem} ");
    let close = format!("</{elem}>");
    xml.match_indices(&open)
        .filter_map(move |(i, _)| Some(&xml[i..i + xml[i..].find(&close)?]))
        .collect::<Vec<_>>()
        .into_iter()
}

/// The first `<child .../>` of `body`, as its tag text.
fn child<'a>(body: &'a str, child: &str) -> Option<&'a str> {
    let i = body.find(&format!("<{child} "))?;
    Some(&body[i..i + body[i..].find('>')?])
}

/// Nova's `_get_io_devices`: the guest's disks by target device, and its
/// interfaces as (MAC address, target device if any).
pub fn io_devices(xml: &str) -> (Vec<String>, Vec<(String, Option<String>)>) {
    let disks = elements(xml, "disk")
        .filter_map(|d| attr(child(d, "target")?, "dev"))
        .collect();
    let nics = elements(xml, "interface")
        .filter_map(|n| {
            let mac = attr(child(n, "mac")?, "address")?;
            Some((mac, child(n, "target").and_then(|t| attr(t, "dev"))))
        })
        .collect();
    (disks, nics)
}

/// The guest's interfaces as libvirt placed them (Nova's
/// `_prepare_device_bus` for interfaces): each MAC with its PCI address,
/// `dddd:bb:ss.f` as the guest sees it; no bus for an interface with no
/// PCI address (libvirt assigns one when it defines the domain).
pub fn guest_interfaces(xml: &str) -> Vec<nova_objects::device_metadata::GuestInterface> {
    use nova_objects::device_metadata::{BusKind, DeviceBus, GuestInterface};
    let hex = |tag: &str, name: &str| {
        let v = attr(tag, name)?;
        u32::from_str_radix(v.trim_start_matches("0x"), 16).ok()
    };
    elements(xml, "interface")
        .filter_map(|n| {
            let mac = attr(child(n, "mac")?, "address")?;
            let bus = child(n, "address")
                .filter(|a| attr(a, "type").as_deref() == Some("pci"))
                .and_then(|a| {
                    let address = format!(
                        "{:04x}:{:02x}:{:02x}.{:x}",
                        hex(a, "domain")?,
                        hex(a, "bus")?,
                        hex(a, "slot")?,
                        hex(a, "function")?
                    );
                    Some(DeviceBus {
                        kind: BusKind::Pci,
                        address: Some(address),
                    })
                });
            Some(GuestInterface { mac, bus })
        })
        .collect()
}

/// Build the guest's domain XML from the instance, its image and network info.
pub fn domain_xml(
    cfg: &DomainConfig,
    instance: &Instance,
    image: &ImageMeta,
    network_info: &NetworkInfo,
) -> String {
    guest_xml(cfg, instance, image, network_info, &guest_disks(instance))
}

/// The guest's disks: its root disk, then the flavor's ephemeral and swap
/// disks ([`crate::local_disks`]).
fn guest_disks(instance: &Instance) -> Vec<&'static str> {
    let mut disks = vec!["disk"];
    disks.extend(
        crate::local_disks::local_disks(instance)
            .iter()
            .map(|d| d.file),
    );
    disks
}

/// Nova's rescue domain: the same guest booting from `disk.rescue` (vda),
/// its own disk attached second (vdb). `image` is the rescue image. When
/// the rescue image asks for a stable device rescue ([`stable_rescue`],
/// Nova's `hw_rescue_device`/`hw_rescue_bus`), the guest's own disks keep
/// their places and `disk.rescue` is attached as one more device of that
/// type and bus, booted first (`<boot order="1"/>`).
pub fn rescue_domain_xml(
    cfg: &DomainConfig,
    instance: &Instance,
    image: &ImageMeta,
    network_info: &NetworkInfo,
    stable: Option<&RescueDevice>,
) -> String {
    match stable {
        Some(dev) => guest_xml_with(
            cfg,
            instance,
            image,
            network_info,
            &guest_disks(instance),
            Some(dev),
        ),
        None => guest_xml(cfg, instance, image, network_info, &["disk.rescue", "disk"]),
    }
}

/// The device a stable device rescue attaches `disk.rescue` as.
#[derive(Clone, Debug, PartialEq)]
pub struct RescueDevice {
    /// `disk`, `cdrom` or `floppy`.
    pub device: String,
    /// `virtio`, `ide`, `sata`, `scsi`, `usb` or `fdc`.
    pub bus: String,
}

impl RescueDevice {
    /// The target device name on its bus, after the guest's own
    /// `virtio_disks` (vda, ...).
    fn target(&self, virtio_disks: usize) -> String {
        match self.bus.as_str() {
            "virtio" => format!("vd{}", (b'a' + virtio_disks as u8) as char),
            "ide" => "hda".into(),
            "fdc" => "fda".into(),
            _ => "sda".into(),
        }
    }
}

/// Nova's `check_hw_rescue_props` and the rescue device's defaults: a
/// stable device rescue when the rescue image has `hw_rescue_device`
/// (`disk` (default), `cdrom`, `floppy`) or `hw_rescue_bus` (default:
/// virtio for a disk, ide for a CD-ROM, fdc for a floppy); None for a
/// classic rescue. A device the bus cannot carry is an error.
pub fn stable_rescue(
    props: &std::collections::BTreeMap<String, String>,
) -> Result<Option<RescueDevice>, String> {
    let device = props.get("hw_rescue_device");
    let bus = props.get("hw_rescue_bus");
    if device.is_none() && bus.is_none() {
        return Ok(None);
    }
    let device = device.map(String::as_str).unwrap_or("disk");
    let bus = match (device, bus) {
        (_, Some(b)) => b.as_str(),
        ("cdrom", None) => "ide",
        ("floppy", None) => "fdc",
        _ => "virtio",
    };
    let fits = match device {
        "disk" => ["virtio", "ide", "sata", "scsi", "usb"].contains(&bus),
        "cdrom" => ["ide", "sata", "scsi", "usb"].contains(&bus),
        "floppy" => bus == "fdc",
        other => {
            return Err(format!(
                "hw_rescue_device {other:?} is not disk, cdrom or floppy"
            ))
        }
    };
    if !fits {
        return Err(format!("a rescue {device} cannot be on the {bus} bus"));
    }
    Ok(Some(RescueDevice {
        device: device.into(),
        bus: bus.into(),
    }))
}

/// The domain with these disks (files in the instance directory, qcow2),
/// the first one booted: vda, vdb, ...
fn guest_xml(
    cfg: &DomainConfig,
    instance: &Instance,
    image: &ImageMeta,
    network_info: &NetworkInfo,
    disks: &[&str],
) -> String {
    guest_xml_with(cfg, instance, image, network_info, disks, None)
}

/// [`guest_xml`], with `disk.rescue` attached as `rescue` and booted first.
fn guest_xml_with(
    cfg: &DomainConfig,
    instance: &Instance,
    image: &ImageMeta,
    network_info: &NetworkInfo,
    disks: &[&str],
    rescue: Option<&RescueDevice>,
) -> String {
    let uuid = instance.uuid.to_string();
    let dir = format!("{}/{}", cfg.instances_path.trim_end_matches('/'), uuid);
    let f = &instance.flavor;
    let mut x = String::new();
    let _ = writeln!(x, "<domain type=\"{}\">", esc(&cfg.virt_type));
    let _ = writeln!(x, "  <uuid>{uuid}</uuid>");
    let _ = writeln!(x, "  <name>{}</name>", esc(&cfg.instance_name));
    let _ = writeln!(x, "  <memory>{}</memory>", instance.memory_mb * 1024);
    match cfg.vcpu_cpuset.as_ref().filter(|_| cfg.numa.is_none()) {
        Some(cpus) => {
            let _ = writeln!(
                x,
                "  <vcpu cpuset=\"{}\">{}</vcpu>",
                nova_objects::numa::format_cpu_spec(cpus),
                instance.vcpus
            );
        }
        None => {
            let _ = writeln!(x, "  <vcpu>{}</vcpu>", instance.vcpus);
        }
    }
    let numa = cfg.numa.as_ref().map(numa_elements);
    if let Some((domain, _)) = &numa {
        x.push_str(domain);
    }
    let _ = writeln!(x, "  <metadata>");
    let _ = writeln!(
        x,
        "    <nova:instance xmlns:nova=\"http://openstack.org/xmlns/libvirt/nova/1.1\">"
    );
    let _ = writeln!(
        x,
        "      <nova:package version=\"{}\"/>",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(
        x,
        "      <nova:name>{}</nova:name>",
        esc(&instance.display_name)
    );
    if let Some(c) = instance.created_at {
        let _ = writeln!(
            x,
            "      <nova:creationTime>{}</nova:creationTime>",
            c.format("%Y-%m-%d %H:%M:%S")
        );
    }
    let _ = writeln!(
        x,
        "      <nova:flavor name=\"{}\"><nova:memory>{}</nova:memory><nova:disk>{}</nova:disk><nova:swap>{}</nova:swap><nova:ephemeral>{}</nova:ephemeral><nova:vcpus>{}</nova:vcpus></nova:flavor>",
        esc(&f.name), instance.memory_mb, instance.root_gb, f.swap, instance.ephemeral_gb, instance.vcpus
    );
    let _ = writeln!(
        x,
        "      <nova:owner><nova:user uuid=\"{u}\">{u}</nova:user><nova:project uuid=\"{p}\">{p}</nova:project></nova:owner>",
        u = esc(&instance.user_id),
        p = esc(&instance.project_id)
    );
    let _ = writeln!(
        x,
        "      <nova:root type=\"image\" uuid=\"{}\"/>",
        esc(&image.id)
    );
    if !cfg.host.is_empty() {
        let _ = writeln!(x, "      {}", owner_tag(&cfg.host));
    }
    let _ = writeln!(x, "    </nova:instance>");
    let _ = writeln!(x, "  </metadata>");
    let _ = writeln!(x, "  <sysinfo type=\"smbios\">");
    let _ = writeln!(x, "    <system>");
    let _ = writeln!(
        x,
        "      <entry name=\"manufacturer\">OpenStack Foundation</entry>"
    );
    let _ = writeln!(x, "      <entry name=\"product\">OpenStack Nova</entry>");
    let _ = writeln!(
        x,
        "      <entry name=\"version\">{}</entry>",
        env!("CARGO_PKG_VERSION")
    );
    let _ = writeln!(x, "      <entry name=\"serial\">{uuid}</entry>");
    let _ = writeln!(x, "      <entry name=\"uuid\">{uuid}</entry>");
    let _ = writeln!(x, "      <entry name=\"family\">Virtual Machine</entry>");
    let _ = writeln!(x, "    </system>");
    let _ = writeln!(x, "  </sysinfo>");
    let _ = writeln!(x, "  <os>");
    let _ = writeln!(x, "    <type machine=\"pc\">hvm</type>");
    match &cfg.kernel {
        Some(k) => {
            let _ = writeln!(x, "    <kernel>{}</kernel>", esc(k));
            if let Some(r) = &cfg.ramdisk {
                let _ = writeln!(x, "    <initrd>{}</initrd>", esc(r));
            }
            if let Some(c) = &cfg.cmdline {
                let _ = writeln!(x, "    <cmdline>{}</cmdline>", esc(c));
            }
        }
        // Per-device boot order (a stable rescue) replaces the os's.
        None if rescue.is_some() => {}
        None => {
            let _ = writeln!(x, "    <boot dev=\"hd\"/>");
        }
    }
    let _ = writeln!(x, "    <smbios mode=\"sysinfo\"/>");
    let _ = writeln!(x, "  </os>");
    let _ = writeln!(x, "  <features>\n    <acpi/>\n    <apic/>\n  </features>");
    let _ = writeln!(x, "  <clock offset=\"utc\"/>");
    let cpu_mode = (cfg.virt_type == "kvm").then_some(" mode=\"host-model\" match=\"exact\"");
    match (&numa, cpu_mode) {
        (Some((_, cells)), mode) => {
            let _ = writeln!(x, "  <cpu{}>\n{cells}  </cpu>", mode.unwrap_or_default());
        }
        (None, Some(mode)) => {
            let _ = writeln!(x, "  <cpu{mode}/>");
        }
        (None, None) => {}
    }
    let _ = writeln!(x, "  <devices>");
    // The instance disk is always a qcow2 overlay on the cached base image
    // (a rescue disk a qcow2 copy of the rescue image).
    let disk_format = "qcow2";
    for (i, file) in disks.iter().enumerate() {
        let dev = format!("vd{}", (b'a' + i as u8) as char);
        let _ = writeln!(x, "    <disk type=\"file\" device=\"disk\">");
        let _ = writeln!(
            x,
            "      <driver name=\"qemu\" type=\"{disk_format}\" cache=\"none\"/>"
        );
        let _ = writeln!(x, "      <source file=\"{}/{}\"/>", esc(&dir), esc(file));
        let _ = writeln!(x, "      <target bus=\"virtio\" dev=\"{dev}\"/>");
        let _ = writeln!(x, "    </disk>");
    }
    if let Some(r) = rescue {
        let _ = writeln!(x, "    <disk type=\"file\" device=\"{}\">", esc(&r.device));
        let _ = writeln!(
            x,
            "      <driver name=\"qemu\" type=\"{disk_format}\" cache=\"none\"/>"
        );
        let _ = writeln!(x, "      <source file=\"{}/disk.rescue\"/>", esc(&dir));
        let _ = writeln!(
            x,
            "      <target bus=\"{}\" dev=\"{}\"/>",
            esc(&r.bus),
            r.target(disks.len())
        );
        let _ = writeln!(x, "      <boot order=\"1\"/>");
        let _ = writeln!(x, "    </disk>");
    }
    if let Some(format) = &cfg.config_drive {
        let (device, bus, dev) = if format == "vfat" {
            ("disk", "virtio", "vdz")
        } else {
            ("cdrom", "ide", "hdd")
        };
        let _ = writeln!(x, "    <disk type=\"file\" device=\"{device}\">");
        let _ = writeln!(
            x,
            "      <driver name=\"qemu\" type=\"raw\" cache=\"none\"/>"
        );
        let _ = writeln!(
            x,
            "      <source file=\"{}/{}\"/>",
            esc(&dir),
            crate::configdrive::CONFIG_DRIVE_FILE
        );
        let _ = writeln!(x, "      <target bus=\"{bus}\" dev=\"{dev}\"/>");
        let _ = writeln!(x, "    </disk>");
    }
    for vif in network_info {
        let _ = writeln!(x, "    <interface type=\"bridge\">");
        let _ = writeln!(x, "      <mac address=\"{}\"/>", esc(&vif.address));
        let _ = writeln!(x, "      <model type=\"virtio\"/>");
        let _ = writeln!(x, "      <source bridge=\"{}\"/>", esc(&vif.network.bridge));
        if let Some(dev) = &vif.devname {
            let _ = writeln!(x, "      <target dev=\"{}\"/>", esc(dev));
        }
        if cfg.nwfilter {
            let _ = writeln!(
                x,
                "      <filterref filter=\"{}\"/>",
                esc(&crate::nwfilter::instance_filter_name(
                    &cfg.instance_name,
                    &vif.address
                ))
            );
        }
        let _ = writeln!(x, "    </interface>");
    }
    let _ = writeln!(x, "    <serial type=\"file\">");
    // Appended across reboots, so the console history survives a restart of QEMU.
    let _ = writeln!(
        x,
        "      <source path=\"{}/console.log\" append=\"on\"/>",
        esc(&dir)
    );
    let _ = writeln!(x, "    </serial>");
    let _ = writeln!(x, "    <serial type=\"pty\"/>");
    if crate::qemu_guest_agent(&image.properties) {
        // The agent's virtio-serial port (Nova's `hw_qemu_guest_agent`);
        // libvirt picks the host side's socket path.
        let _ = writeln!(
            x,
            "    <channel type=\"unix\">\n      <source mode=\"bind\"/>\n      <target type=\"virtio\" name=\"org.qemu.guest_agent.0\"/>\n    </channel>"
        );
    }
    let _ = writeln!(x, "    <input type=\"tablet\" bus=\"usb\"/>");
    if cfg.vnc_enabled {
        let _ = writeln!(
            x,
            "    <graphics type=\"vnc\" autoport=\"yes\" listen=\"{}\"/>",
            esc(&cfg.vnc_listen)
        );
    }
    let _ = writeln!(
        x,
        "    <video>\n      <model type=\"cirrus\"/>\n    </video>"
    );
    let _ = writeln!(
        x,
        "    <memballoon model=\"virtio\">\n      <stats period=\"10\"/>\n    </memballoon>"
    );
    let _ = writeln!(x, "  </devices>");
    x.push_str("</domain>\n");
    x
}

#[cfg(test)]
mod tests {
    use super::*;
    use nova_objects::{NetworkRef, Vif};

    #[test]
    fn a_pinned_guest_gets_novas_numa_elements() {
        use nova_objects::numa::{
            numa_fit_instance_to_host, numa_get_constraints, NumaCell, NumaTopology,
        };
        let host = NumaTopology {
            cells: (0..2)
                .map(|i| NumaCell {
                    id: i,
                    cpuset: (i * 4..i * 4 + 2).collect(),
                    pcpuset: (i * 4 + 2..i * 4 + 4).collect(),
                    memory: 4096,
                    ..Default::default()
                })
                .collect(),
        };
        let mut inst = Instance {
            vcpus: 2,
            memory_mb: 2048,
            ..Default::default()
        };
        inst.flavor.vcpus = 2;
        inst.flavor.memory_mb = 2048;
        inst.flavor
            .extra_specs
            .insert("hw:cpu_policy".into(), "dedicated".into());
        let want = numa_get_constraints(&inst.flavor, &Default::default())
            .unwrap()
            .unwrap();
        let fitted = numa_fit_instance_to_host(&host, &want, None).unwrap();
        let cfg = DomainConfig {
            virt_type: "qemu".into(),
            numa: Some(GuestNuma {
                topology: fitted,
                host_shared: host
                    .cells
                    .iter()
                    .map(|c| (c.id, c.cpuset.clone()))
                    .collect(),
                cpu_shared_set: None,
            }),
            ..Default::default()
        };
        let x = domain_xml(&cfg, &inst, &ImageMeta::default(), &vec![]);
        assert!(x.contains("<memory mode=\"strict\" nodeset=\"0\"/>"), "{x}");
        assert!(x.contains("<memnode cellid=\"0\" mode=\"strict\" nodeset=\"0\"/>"));
        assert!(x.contains("<emulatorpin cpuset=\"2-3\"/>"));
        assert!(x.contains("<vcpupin vcpu=\"0\" cpuset=\"2\"/>"));
        assert!(x.contains("<vcpupin vcpu=\"1\" cpuset=\"3\"/>"));
        assert!(
            x.contains("<cpu>\n    <numa>\n      <cell id=\"0\" cpus=\"0-1\" memory=\"2097152\"/>")
        );
        // Unpinned NUMA vCPUs float over their host cell's shared CPUs.
        let mut shared = inst.clone();
        shared.flavor.extra_specs = [("hw:numa_nodes".to_string(), "2".to_string())].into();
        let want = numa_get_constraints(&shared.flavor, &Default::default())
            .unwrap()
            .unwrap();
        let fitted = numa_fit_instance_to_host(&host, &want, None).unwrap();
        let cfg = DomainConfig {
            numa: Some(GuestNuma {
                topology: fitted,
                host_shared: host
                    .cells
                    .iter()
                    .map(|c| (c.id, c.cpuset.clone()))
                    .collect(),
                cpu_shared_set: None,
            }),
            ..cfg
        };
        let x = domain_xml(&cfg, &shared, &ImageMeta::default(), &vec![]);
        assert!(x.contains("<vcpupin vcpu=\"0\" cpuset=\"0-1\"/>"), "{x}");
        assert!(x.contains("<vcpupin vcpu=\"1\" cpuset=\"4-5\"/>"));
        assert!(x.contains("<memory mode=\"strict\" nodeset=\"0-1\"/>"));
        // A guest without cells floats over the shared CPUs when they are set.
        let plain = DomainConfig {
            numa: None,
            vcpu_cpuset: Some([0, 1, 4, 5].into()),
            ..cfg.clone()
        };
        let x = domain_xml(&plain, &inst, &ImageMeta::default(), &vec![]);
        assert!(x.contains("<vcpu cpuset=\"0-1,4-5\">2</vcpu>"), "{x}");
    }

    #[test]
    fn host_numa_cells_from_capabilities() {
        let caps = "<capabilities><host><topology><cells num='2'>
          <cell id='0'><memory unit='KiB'>2097152</memory>
            <pages unit='KiB' size='4'>524288</pages><pages unit='KiB' size='2048'>8</pages>
            <distances><sibling id='0' value='10'/></distances>
            <cpus num='2'><cpu id='0' socket_id='0' die_id='0' core_id='0' siblings='0,2'/>
              <cpu id='2' socket_id='0' die_id='0' core_id='0' siblings='0,2'/></cpus></cell>
          <cell id='1'><memory unit='KiB'>1048576</memory>
            <cpus num='1'><cpu id='1' socket_id='1' core_id='0' siblings='1'/></cpus></cell>
          </cells></topology></host><guest></guest></capabilities>";
        let cells = host_numa_cells(caps);
        assert_eq!(cells.len(), 2);
        assert_eq!(cells[0].cpus, [0, 2].into());
        assert_eq!(cells[0].siblings, vec![[0, 2].into()]);
        assert_eq!(cells[0].memory_mb, 2048);
        assert_eq!(cells[0].mempages.len(), 2);
        assert_eq!(
            (cells[0].mempages[1].size_kb, cells[0].mempages[1].total),
            (2048, 8)
        );
        assert_eq!(cells[1].siblings, vec![[1].into()]);
        assert!(host_numa_cells("<capabilities/>").is_empty());
    }

    #[test]
    fn supported_instances_are_every_guest_arch_and_domain_type() {
        let caps = "<capabilities><host><cpu><arch>x86_64</arch></cpu></host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'>
      <wordsize>64</wordsize>
      <emulator>/usr/bin/qemu-system-x86_64</emulator>
      <domain type='qemu'/>
      <domain type='kvm'>
        <emulator>/usr/bin/kvm</emulator>
      </domain>
    </arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name=\"i686\">
      <domain type=\"qemu\"/>
    </arch>
  </guest>
  <guest><os_type>exe</os_type></guest>
</capabilities>";
        let kind = |a: &str, h: &str, m: &str| [a.to_string(), h.to_string(), m.to_string()];
        assert_eq!(
            supported_instances(caps),
            vec![
                kind("x86_64", "qemu", "hvm"),
                kind("x86_64", "kvm", "hvm"),
                kind("i686", "qemu", "hvm")
            ]
        );
        assert!(supported_instances("<capabilities/>").is_empty());
    }

    #[test]
    fn the_vnc_port_is_read_from_the_live_xml() {
        let live = "<domain><devices><graphics type='spice' port='5901'/>\n<graphics type='vnc' port='5903' autoport='yes' listen='127.0.0.1'>\n<listen type='address'/></graphics></devices></domain>";
        assert_eq!(vnc_port(live), Some(5903));
        assert_eq!(
            vnc_port("<graphics type=\"vnc\" port=\"-1\" autoport=\"yes\"/>"),
            None
        );
        assert_eq!(vnc_port("<domain/>"), None);
    }

    #[test]
    fn xml_carries_flavor_sysinfo_nic_serial_and_vnc() {
        let mut inst = Instance {
            uuid: uuid::Uuid::new_v4(),
            display_name: "web <1>".into(),
            memory_mb: 128,
            vcpus: 2,
            ..Default::default()
        };
        inst.flavor.name = "m1.nano".into();
        let vif = Vif {
            address: "fa:16:3e:00:00:01".into(),
            network: NetworkRef {
                bridge: "br100".into(),
                ..Default::default()
            },
            devname: Some("tap0123".into()),
            ..Default::default()
        };
        let cfg = DomainConfig {
            virt_type: "kvm".into(),
            instances_path: "/var/lib/nova/instances".into(),
            instance_name: "instance-00000001".into(),
            vnc_enabled: true,
            vnc_listen: "127.0.0.1".into(),
            kernel: None,
            ramdisk: None,
            cmdline: None,
            nwfilter: true,
            host: "hv1".into(),
            config_drive: None,
            numa: None,
            vcpu_cpuset: None,
        };
        let x = domain_xml(&cfg, &inst, &ImageMeta::default(), &vec![vif]);
        assert!(x.starts_with("<domain type=\"kvm\">"));
        assert!(x.contains("<memory>131072</memory>"));
        assert!(x.contains("<vcpu>2</vcpu>"));
        assert!(x.contains("<entry name=\"product\">OpenStack Nova</entry>"));
        assert!(x.contains(&format!("<entry name=\"uuid\">{}</entry>", inst.uuid)));
        assert!(x.contains("<source bridge=\"br100\"/>"));
        assert!(x.contains("<filterref filter=\"nova-instance-instance-00000001-"));
        assert!(x.contains("<mac address=\"fa:16:3e:00:00:01\"/>"));
        assert!(x.contains(&format!(
            "/var/lib/nova/instances/{}/console.log",
            inst.uuid
        )));
        assert!(x.contains("<graphics type=\"vnc\" autoport=\"yes\" listen=\"127.0.0.1\"/>"));
        assert!(x.contains("web &lt;1&gt;"));
        assert!(x.contains("host-model"));
        assert!(x.contains("<nova:host>hv1</nova:host>"));
        assert!(!x.contains("org.qemu.guest_agent.0"));
        assert!(!x.contains("disk.config"));
        // A config drive: a CD-ROM in the IDE bus's last slot (ISO 9660),
        // or a virtio disk in the last slot (VFAT).
        for (format, device, target) in [
            ("iso9660", "cdrom", "<target bus=\"ide\" dev=\"hdd\"/>"),
            ("vfat", "disk", "<target bus=\"virtio\" dev=\"vdz\"/>"),
        ] {
            let c = domain_xml(
                &DomainConfig {
                    config_drive: Some(format.into()),
                    numa: None,
                    vcpu_cpuset: None,
                    ..cfg.clone()
                },
                &inst,
                &ImageMeta::default(),
                &vec![],
            );
            let drive = format!(
                "<disk type=\"file\" device=\"{device}\">\n      <driver name=\"qemu\" type=\"raw\" cache=\"none\"/>\n      <source file=\"/var/lib/nova/instances/{}/disk.config\"/>\n      {target}",
                inst.uuid
            );
            assert!(c.contains(&drive), "{c}");
            // After the root disk, which stays the boot disk.
            assert!(c.find("disk.config") > c.find("/disk\""));
        }
        let agent = ImageMeta {
            properties: [("hw_qemu_guest_agent".to_string(), "yes".to_string())].into(),
            ..Default::default()
        };
        let a = domain_xml(&cfg, &inst, &agent, &vec![]);
        assert!(a.contains("<target type=\"virtio\" name=\"org.qemu.guest_agent.0\"/>"));
        let q = domain_xml(
            &DomainConfig {
                virt_type: "qemu".into(),
                ..cfg
            },
            &inst,
            &ImageMeta::default(),
            &vec![],
        );
        assert!(q.starts_with("<domain type=\"qemu\">"));
        assert!(!q.contains("host-model"));
        assert!(q.contains("<boot dev=\"hd\"/>"));
        let k = domain_xml(
            &DomainConfig {
                virt_type: "qemu".into(),
                instances_path: "/i".into(),
                instance_name: "n".into(),
                vnc_enabled: false,
                vnc_listen: String::new(),
                kernel: Some("/i/_base/k".into()),
                ramdisk: Some("/i/_base/r".into()),
                cmdline: Some("root=/dev/vda console=ttyS0".into()),
                nwfilter: false,
                host: String::new(),
                config_drive: None,
                numa: None,
                vcpu_cpuset: None,
            },
            &inst,
            &ImageMeta::default(),
            &vec![],
        );
        assert!(
            k.contains("<kernel>/i/_base/k</kernel>") && k.contains("<initrd>/i/_base/r</initrd>")
        );
        assert!(
            k.contains("<cmdline>root=/dev/vda console=ttyS0</cmdline>")
                && !k.contains("<boot dev")
        );
        assert!(!k.contains("<graphics"));
    }

    #[test]
    fn the_rescue_domain_boots_the_rescue_disk_with_the_own_disk_second() {
        let inst = Instance {
            uuid: uuid::Uuid::new_v4(),
            memory_mb: 64,
            vcpus: 1,
            ..Default::default()
        };
        let cfg = DomainConfig {
            virt_type: "qemu".into(),
            instances_path: "/i".into(),
            instance_name: "instance-00000002".into(),
            vnc_enabled: false,
            vnc_listen: String::new(),
            kernel: None,
            ramdisk: None,
            cmdline: None,
            nwfilter: false,
            host: "hv1".into(),
            config_drive: None,
            numa: None,
            vcpu_cpuset: None,
        };
        let image = ImageMeta::default();
        let x = rescue_domain_xml(&cfg, &inst, &image, &vec![], None);
        let (disks, _) = io_devices(&x);
        assert_eq!(disks, vec!["vda".to_string(), "vdb".to_string()]);
        let rescue = x.find(&format!("/i/{}/disk.rescue\"", inst.uuid)).unwrap();
        let own = x.find(&format!("/i/{}/disk\"", inst.uuid)).unwrap();
        assert!(rescue < own, "{x}");
        assert!(x.contains("<nova:host>hv1</nova:host>"));
        let (disks, _) = io_devices(&domain_xml(&cfg, &inst, &image, &vec![]));
        assert_eq!(disks, vec!["vda".to_string()]);
        assert!(x.contains("<boot dev=\"hd\"/>") && !x.contains("<boot order"));

        // A stable device rescue: the own disk stays vda, disk.rescue is
        // attached as asked and booted first (no os-level boot device).
        for (device, bus, target) in [
            ("disk", "virtio", "vdb"),
            ("cdrom", "ide", "hda"),
            ("disk", "usb", "sda"),
        ] {
            let dev = RescueDevice {
                device: device.into(),
                bus: bus.into(),
            };
            let x = rescue_domain_xml(&cfg, &inst, &image, &vec![], Some(&dev));
            let (disks, _) = io_devices(&x);
            assert_eq!(disks, vec!["vda".to_string(), target.to_string()], "{x}");
            let want = format!(
                "<disk type=\"file\" device=\"{device}\">\n      <driver name=\"qemu\" type=\"qcow2\" cache=\"none\"/>\n      <source file=\"/i/{}/disk.rescue\"/>\n      <target bus=\"{bus}\" dev=\"{target}\"/>\n      <boot order=\"1\"/>\n    </disk>",
                inst.uuid
            );
            assert!(x.contains(&want), "{x}");
            assert!(!x.contains("<boot dev="), "{x}");
        }

        // The flavor's ephemeral and swap disks follow the root disk; a
        // stable virtio rescue disk comes after them.
        let disks_inst = Instance {
            ephemeral_gb: 1,
            flavor: nova_objects::Flavor {
                swap: 64,
                ..Default::default()
            },
            ..inst.clone()
        };
        let x = domain_xml(&cfg, &disks_inst, &image, &vec![]);
        assert_eq!(io_devices(&x).0, ["vda", "vdb", "vdc"], "{x}");
        for (file, dev) in [("disk.local", "vdb"), ("disk.swap", "vdc")] {
            let want = format!(
                "<source file=\"/i/{}/{file}\"/>\n      <target bus=\"virtio\" dev=\"{dev}\"/>",
                inst.uuid
            );
            assert!(x.contains(&want), "{x}");
        }
        let dev = RescueDevice {
            device: "disk".into(),
            bus: "virtio".into(),
        };
        let x = rescue_domain_xml(&cfg, &disks_inst, &image, &vec![], Some(&dev));
        assert_eq!(io_devices(&x).0, ["vda", "vdb", "vdc", "vdd"], "{x}");
        assert!(x.contains(&format!("/i/{}/disk.rescue", inst.uuid)), "{x}");
    }

    #[test]
    fn stable_rescue_from_the_image_properties() {
        let props = |kv: &[(&str, &str)]| -> std::collections::BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let dev = |d: &str, b: &str| {
            Ok(Some(RescueDevice {
                device: d.into(),
                bus: b.into(),
            }))
        };
        assert_eq!(stable_rescue(&props(&[])), Ok(None));
        assert_eq!(
            stable_rescue(&props(&[("hw_rescue_device", "disk")])),
            dev("disk", "virtio")
        );
        assert_eq!(
            stable_rescue(&props(&[("hw_rescue_device", "cdrom")])),
            dev("cdrom", "ide")
        );
        assert_eq!(
            stable_rescue(&props(&[("hw_rescue_device", "floppy")])),
            dev("floppy", "fdc")
        );
        assert_eq!(
            stable_rescue(&props(&[("hw_rescue_bus", "usb")])),
            dev("disk", "usb")
        );
        assert_eq!(
            stable_rescue(&props(&[
                ("hw_rescue_device", "cdrom"),
                ("hw_rescue_bus", "sata")
            ])),
            dev("cdrom", "sata")
        );
        for bad in [
            props(&[("hw_rescue_device", "cdrom"), ("hw_rescue_bus", "virtio")]),
            props(&[("hw_rescue_device", "tape")]),
            props(&[("hw_rescue_device", "floppy"), ("hw_rescue_bus", "ide")]),
        ] {
            assert!(stable_rescue(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn interfaces_with_the_pci_addresses_libvirt_gave_them() {
        // As `virsh dumpxml` shows a defined domain.
        let xml = "<domain type='kvm'><devices>
            <disk type='file' device='disk'><target dev='vda' bus='virtio'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x05' function='0x0'/></disk>
            <interface type='bridge'>
              <mac address='fa:16:3e:00:00:01'/><source bridge='br100'/><model type='virtio'/>
              <address type='pci' domain='0x0000' bus='0x00' slot='0x03' function='0x0'/>
            </interface>
            <interface type='bridge'>
              <mac address='fa:16:3e:00:00:02'/><source bridge='br101'/><model type='virtio'/>
              <address type='pci' domain='0x0000' bus='0x01' slot='0x1f' function='0x2'/>
            </interface>
            <interface type='bridge'><mac address='fa:16:3e:00:00:03'/></interface>
            </devices></domain>";
        let got: Vec<(String, Option<String>)> = guest_interfaces(xml)
            .into_iter()
            .map(|i| (i.mac, i.bus.and_then(|b| b.address)))
            .collect();
        assert_eq!(
            got,
            [
                ("fa:16:3e:00:00:01".into(), Some("0000:00:03.0".into())),
                ("fa:16:3e:00:00:02".into(), Some("0000:01:1f.2".into())),
                ("fa:16:3e:00:00:03".into(), None),
            ]
        );
    }
}
