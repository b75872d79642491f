//! What the libvirt driver's live migration computes without a hypervisor
//! (Nova's `libvirt/migration.py`): the destination's domain XML, the disks
//! a block migration copies, the URIs, the host's identity.

/// The libvirt URI of the destination a live migration connects to (Nova's
/// `_live_migration_uri`): `[libvirt] live_migration_uri` with `%s` the
/// destination's address, else `qemu+<live_migration_scheme or tcp>://<address>/system`.
pub fn migration_uri(template: &str, scheme: &str, dest_addr: &str) -> String {
    if !template.is_empty() {
        return template.replace("%s", dest_addr);
    }
    let scheme = if scheme.is_empty() { "tcp" } else { scheme };
    format!("qemu+{scheme}://{dest_addr}/system")
}

/// Where a migrating guest goes: the destination's host name,
/// `instances_path`, VNC listen address, and the tap devices it has already.
pub struct Destination<'a> {
    pub host: &'a str,
    pub instances_path: &'a str,
    pub vnc_listen: Option<&'a str>,
    pub taps_in_use: &'a [String],
    /// The guest's NUMA cells and pinned CPUs on the destination, if it has cells.
    pub numa: Option<&'a crate::xml::GuestNuma>,
}

/// `xml` without its `<elem>...</elem>` (or `<elem .../>`) elements.
fn without(xml: &str, elem: &str) -> String {
    let mut out = xml.to_string();
    let close = format!("</{elem}>");
    for open in [format!("<{elem}>"), format!("<{elem} ")] {
        while let Some(i) = out.find(&open) {
            let tag_end = match out[i..].find('>') {
                Some(e) => i + e,
                None => break,
            };
            let end = if out[..=tag_end].ends_with("/>") {
                tag_end + 1
            } else {
                match out[i..].find(&close) {
                    Some(e) => i + e + close.len(),
                    None => break,
                }
            };
            // The line it was on goes with it when it stood alone.
            let start = out[..i]
                .rfind('\n')
                .filter(|l| out[l + 1..i].trim().is_empty())
                .unwrap_or(i);
            out.replace_range(start..end, "");
        }
    }
    out
}

/// The guest's NUMA elements rewritten for the destination's cells and
/// CPUs: `<memoryBacking>`, `<numatune>` and `<cputune>` anew after
/// `<vcpu>`, the `<numa>` cells of `<cpu>` anew.
fn with_numa(xml: &str, numa: &crate::xml::GuestNuma) -> String {
    let (domain, cells) = crate::xml::numa_elements(numa);
    let mut xml = without(xml, "numa");
    for elem in ["memoryBacking", "numatune", "cputune"] {
        xml = without(&xml, elem);
    }
    if let Some(i) = xml.find("</vcpu>") {
        let at = i + "</vcpu>".len();
        let at = if xml[at..].starts_with('\n') {
            at + 1
        } else {
            at
        };
        xml.insert_str(at, &domain);
    }
    if let Some(i) = xml.find("</cpu>") {
        xml.insert_str(i, &cells);
    } else if let Some(i) = xml.find("<cpu ").or_else(|| xml.find("<cpu/>")) {
        // A `<cpu .../>` without children gets the cells inside.
        if let Some(e) = xml[i..].find("/>") {
            let head = xml[i..i + e].to_string();
            xml.replace_range(i..i + e + 2, &format!("{head}>\n{cells}  </cpu>"));
        }
    } else if let Some(i) = xml.find("<devices>") {
        xml.insert_str(i, &format!("<cpu>\n{cells}  </cpu>\n  "));
    }
    xml
}

/// The destination's definition of a migrating guest, from the source's
/// migratable XML: its files under the destination's `instances_path`,
/// owned by the destination host (`<nova:host>`), its VNC server on the
/// destination's listen address, and its interfaces left for the
/// destination to name where their tap devices exist there already.
pub fn destination_xml(
    source_xml: &str,
    source_instances_path: &str,
    source_host: &str,
    source_vnc_listen: &str,
    dest: &Destination<'_>,
) -> String {
    let src = format!("{}/", source_instances_path.trim_end_matches('/'));
    let dst = format!("{}/", dest.instances_path.trim_end_matches('/'));
    let (dest_host, dest_vnc_listen) = (dest.host, dest.vnc_listen);
    let mut xml = source_xml.replace(&src, &dst);
    for tap in dest.taps_in_use {
        for q in ['\'', '"'] {
            xml = xml.replace(&format!("<target dev={q}{tap}{q}/>"), "");
        }
    }
    xml = xml.replace(
        &crate::xml::owner_tag(source_host),
        &crate::xml::owner_tag(dest_host),
    );
    if let Some(listen) = dest_vnc_listen.filter(|l| *l != source_vnc_listen) {
        for q in ['\'', '"'] {
            xml = xml.replace(
                &format!("listen={q}{source_vnc_listen}{q}"),
                &format!("listen={q}{listen}{q}"),
            );
            xml = xml.replace(
                &format!("address={q}{source_vnc_listen}{q}"),
                &format!("address={q}{listen}{q}"),
            );
        }
    }
    match dest.numa {
        Some(numa) => with_numa(&xml, numa),
        None => xml,
    }
}

/// The target names (`vda`, ...) of the guest's writable disks: what a
/// block migration copies (read-only drives such as a config drive are not).
pub fn local_disks(xml: &str) -> Vec<String> {
    let mut out = vec![];
    for chunk in xml.split("<disk ").skip(1) {
        let end = chunk.find("</disk>").unwrap_or(chunk.len());
        let disk = &chunk[..end];
        let head = disk.split('>').next().unwrap_or_default();
        let is_disk = head.contains("device='disk'") || head.contains("device=\"disk\"");
        if !is_disk || disk.contains("<readonly") {
            continue;
        }
        if let Some(dev) = attr(disk, "<target ", "dev") {
            out.push(dev);
        }
    }
    out
}

/// Whether the guest has a read-only drive (a config drive), which a block
/// migration would not bring along.
pub fn has_readonly_drive(xml: &str) -> bool {
    xml.split("<disk ")
        .skip(1)
        .any(|d| d[..d.find("</disk>").unwrap_or(d.len())].contains("<readonly"))
}

/// The host UUID in libvirt's capabilities XML (`<host><uuid>`).
pub fn host_uuid(capabilities: &str) -> Option<String> {
    let host = &capabilities[capabilities.find("<host>")?..];
    let start = host.find("<uuid>")? + "<uuid>".len();
    let end = host[start..].find("</uuid>")? + start;
    Some(host[start..end].trim().to_string())
}

/// The value of attribute `name` of the first element starting with `tag` in `xml`.
fn attr(xml: &str, tag: &str, name: &str) -> Option<String> {
    let el = &xml[xml.find(tag)?..];
    let el = &el[..el.find('>')?];
    for q in ['\'', '"'] {
        let key = format!("{name}={q}");
        if let Some(i) = el.find(&key) {
            let v = &el[i + key.len()..];
            return Some(v[..v.find(q)?].to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &str = "<domain type='qemu'>
  <name>instance-00000001</name>
  <metadata><nova:instance xmlns:nova='http://openstack.org/xmlns/libvirt/nova/1.1'><nova:host>cmp1</nova:host></nova:instance></metadata>
  <os><kernel>/srv/i1/_base/abc.kernel</kernel></os>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/srv/i1/8f0c/disk'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <disk type='file' device='cdrom'>
      <source file='/srv/i1/8f0c/disk.config'/>
      <target dev='hdd' bus='ide'/>
      <readonly/>
    </disk>
    <interface type='bridge'>
      <mac address='fa:16:3e:00:00:01'/>
      <source bridge='br100'/>
      <target dev='tapaa0d8b22770'/>
    </interface>
    <serial type='file'><source path='/srv/i1/8f0c/console.log'/></serial>
    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1'>
      <listen type='address' address='127.0.0.1'/>
    </graphics>
  </devices>
</domain>";

    #[test]
    fn the_destination_gets_its_own_paths_owner_and_listen_address() {
        let taps = vec!["tapaa0d8b22770".to_string()];
        let dest = Destination {
            host: "cmp2",
            instances_path: "/srv/i2",
            vnc_listen: Some("10.0.0.2"),
            taps_in_use: &taps,
            numa: None,
        };
        let x = destination_xml(LIVE, "/srv/i1/", "cmp1", "127.0.0.1", &dest);
        assert!(x.contains("<source file='/srv/i2/8f0c/disk'/>"), "{x}");
        assert!(x.contains("<kernel>/srv/i2/_base/abc.kernel</kernel>"));
        assert!(x.contains("<source path='/srv/i2/8f0c/console.log'/>"));
        assert!(x.contains("<nova:host>cmp2</nova:host>"));
        assert!(!x.contains("/srv/i1/"));
        assert!(x.contains("listen='10.0.0.2'") && x.contains("address='10.0.0.2'"));
        assert!(
            !x.contains("tapaa0d8b22770"),
            "the destination names its tap: {x}"
        );
        assert!(x.contains("<interface type='bridge'>"));
        // Same listen address, taps free: untouched.
        let dest = Destination {
            vnc_listen: None,
            taps_in_use: &[],
            ..dest
        };
        let same = destination_xml(LIVE, "/srv/i1", "cmp1", "127.0.0.1", &dest);
        assert!(same.contains("<target dev='tapaa0d8b22770'/>"));
        assert!(same.contains("listen='127.0.0.1'"));
    }

    #[test]
    fn a_guest_with_cells_gets_the_destinations_pinning() {
        use nova_objects::numa::{InstanceNumaCell, InstanceNumaTopology};
        let source = "<domain type='qemu'>
  <name>instance-1</name>
  <memory unit='KiB'>131072</memory>
  <vcpu placement='static'>1</vcpu>
  <cputune>
    <vcpupin vcpu='0' cpuset='1'/>
    <emulatorpin cpuset='1'/>
  </cputune>
  <numatune>
    <memory mode='strict' nodeset='0'/>
    <memnode cellid='0' mode='strict' nodeset='0'/>
  </numatune>
  <cpu mode='custom' match='exact' check='none'>
    <model fallback='forbid'>qemu64</model>
    <numa>
      <cell id='0' cpus='0' memory='131072' unit='KiB'/>
    </numa>
  </cpu>
  <devices>
  </devices>
</domain>";
        let numa = crate::xml::GuestNuma {
            topology: InstanceNumaTopology {
                cells: vec![InstanceNumaCell {
                    id: 0,
                    pcpuset: [0].into(),
                    memory: 128,
                    cpu_pinning: [(0, 0)].into(),
                    ..Default::default()
                }],
                emulator_threads_policy: None,
            },
            host_shared: [(0, [1].into())].into(),
            cpu_shared_set: Some([1].into()),
        };
        let dest = Destination {
            host: "cmp2",
            instances_path: "/srv/i2",
            vnc_listen: None,
            taps_in_use: &[],
            numa: Some(&numa),
        };
        let x = destination_xml(source, "/srv/i1", "cmp1", "127.0.0.1", &dest);
        assert!(x.contains("<vcpupin vcpu=\"0\" cpuset=\"0\"/>"), "{x}");
        assert!(x.contains("<emulatorpin cpuset=\"0\"/>"), "{x}");
        assert!(!x.contains("cpuset='1'"), "{x}");
        assert_eq!(x.matches("<numatune>").count(), 1, "{x}");
        assert_eq!(x.matches("<cputune>").count(), 1, "{x}");
        assert_eq!(x.matches("<numa>").count(), 1, "{x}");
        assert!(x.contains("<model fallback='forbid'>qemu64</model>"), "{x}");
        assert!(
            x.contains("<cell id=\"0\" cpus=\"0\" memory=\"131072\"/>"),
            "{x}"
        );
        let cpu = &x[x.find("<cpu ").unwrap()..x.find("</cpu>").unwrap()];
        assert!(cpu.contains("<numa>"), "the cells stay in <cpu>: {x}");
    }

    #[test]
    fn a_block_migration_copies_the_writable_disks_only() {
        assert_eq!(local_disks(LIVE), vec!["vda".to_string()]);
        assert!(has_readonly_drive(LIVE));
        let no_cd = LIVE.replace("<readonly/>", "");
        assert!(!has_readonly_drive(&no_cd));
        assert_eq!(
            local_disks(&no_cd),
            vec!["vda".to_string()],
            "a cdrom is no disk"
        );
    }

    #[test]
    fn uris_as_novas() {
        assert_eq!(migration_uri("", "", "cmp2"), "qemu+tcp://cmp2/system");
        assert_eq!(migration_uri("", "ssh", "cmp2"), "qemu+ssh://cmp2/system");
        assert_eq!(
            migration_uri("qemu+tls://%s/system", "ssh", "10.0.0.2"),
            "qemu+tls://10.0.0.2/system"
        );
        assert_eq!(
            migration_uri(
                "qemu+unix:///system?socket=/run/l2/libvirt-sock",
                "",
                "cmp2"
            ),
            "qemu+unix:///system?socket=/run/l2/libvirt-sock"
        );
    }

    #[test]
    fn the_host_uuid_is_the_capabilities_host_uuid() {
        let caps = "<capabilities>\n  <host>\n    <uuid>4c4c4544-0037-4a10-8044-b4c04f564d32</uuid>\n    <cpu/>\n  </host>\n  <guest><uuid>no</uuid></guest>\n</capabilities>";
        assert_eq!(
            host_uuid(caps).as_deref(),
            Some("4c4c4544-0037-4a10-8044-b4c04f564d32")
        );
        assert_eq!(host_uuid("<capabilities/>"), None);
    }
}
