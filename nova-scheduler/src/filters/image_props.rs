//! Nova's `ImagePropertiesFilter`: a host passes when its hypervisor runs
//! the kind of guest the image asks for (`hw_architecture`, `img_hv_type`,
//! `hw_vm_mode`, and the hypervisor version `img_hv_requested_version`;
//! or their legacy names `architecture`, `hypervisor_type`, `vm_mode`,
//! `hypervisor_version_requires`).

use nova_objects::fields::{canonical_arch, canonical_hv_type, canonical_vm_mode, version_to_str};
use nova_objects::ImageMeta;

/// What an image asks of the hypervisor, in canonical names; `None` asks
/// for nothing.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImageRequirements {
    kind: [Option<String>; 3],
    hypervisor_version: Option<String>,
}

impl ImageRequirements {
    pub fn of(image: &ImageMeta) -> Self {
        // The current name wins over the legacy one, as Nova's
        // `ImageMetaProps` reads them.
        let prop = |current: &str, legacy: &str| {
            image
                .properties
                .get(current)
                .or_else(|| image.properties.get(legacy))
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
        };
        ImageRequirements {
            kind: [
                prop("hw_architecture", "architecture").map(canonical_arch),
                prop("img_hv_type", "hypervisor_type").map(canonical_hv_type),
                prop("hw_vm_mode", "vm_mode").map(canonical_vm_mode),
            ],
            hypervisor_version: prop("img_hv_requested_version", "hypervisor_version_requires")
                .map(str::to_string),
        }
    }

    /// Whether the image asks for a kind of guest at all (the filter lets
    /// every host pass otherwise, whatever version it asks for, as Nova's).
    pub fn asks(&self) -> bool {
        self.kind.iter().any(Option::is_some)
    }

    /// Nova's `_instance_supported`: one of the kinds the host supports has
    /// every part the image asks for, and the hypervisor's version meets
    /// the requested one (when both are known).
    // Out of line: the filter chain inlines each filter into its pass over
    // every host, and this one runs only for requests that ask for it.
    #[inline(never)]
    pub fn supported_by(&self, supported: &[[String; 3]], hypervisor_version: i64) -> bool {
        if !self.asks() {
            return true;
        }
        let kind_ok = supported.iter().any(|s| {
            self.kind
                .iter()
                .all(|want| want.as_ref().is_none_or(|w| s.contains(w)))
        });
        kind_ok
            && match (&self.hypervisor_version, hypervisor_version) {
                (Some(req), v) if v != 0 => version_satisfies(&version_to_str(v), req),
                _ => true,
            }
    }
}

/// A distutils `VersionPredicate` (`>=6.0, <6.3`): every comparison holds.
/// A requirement that cannot be read is not met.
fn version_satisfies(version: &str, requirement: &str) -> bool {
    let Some(have) = parse_version(version) else {
        return false;
    };
    requirement.split(',').all(|clause| {
        let clause = clause.trim();
        let ops = ["<=", ">=", "==", "!=", "<", ">"];
        let Some(op) = ops.iter().find(|op| clause.starts_with(**op)) else {
            return false;
        };
        let Some(want) = parse_version(clause[op.len()..].trim()) else {
            return false;
        };
        let ord = have.cmp(&want);
        match *op {
            "<=" => ord.is_le(),
            ">=" => ord.is_ge(),
            "==" => ord.is_eq(),
            "!=" => ord.is_ne(),
            "<" => ord.is_lt(),
            _ => ord.is_gt(),
        }
    })
}

/// `1.2` or `1.2.3` (StrictVersion: a missing third part is 0).
fn parse_version(v: &str) -> Option<[u64; 3]> {
    let parts: Vec<u64> = v
        .split('.')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    match parts[..] {
        [a, b] => Some([a, b, 0]),
        [a, b, c] => Some([a, b, c]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(props: &[(&str, &str)]) -> ImageMeta {
        ImageMeta {
            properties: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Default::default()
        }
    }

    fn kinds(k: &[(&str, &str, &str)]) -> Vec<[String; 3]> {
        k.iter()
            .map(|(a, h, m)| [a.to_string(), h.to_string(), m.to_string()])
            .collect()
    }

    #[test]
    fn images_pass_hosts_that_run_their_kind_of_guest() {
        let qemu = kinds(&[("x86_64", "qemu", "hvm"), ("i686", "qemu", "hvm")]);
        let pass = |props: &[(&str, &str)], host: &[[String; 3]], version: i64| {
            ImageRequirements::of(&image(props)).supported_by(host, version)
        };
        // Nothing asked: every host, even one advertising nothing.
        assert!(pass(&[("os_distro", "cirros")], &[], 0));
        assert!(pass(&[("img_hv_requested_version", ">=9.0")], &qemu, 6000));
        assert!(pass(&[("hw_architecture", "x86_64")], &qemu, 0));
        assert!(pass(&[("architecture", "AMD64")], &qemu, 0));
        assert!(pass(
            &[("hw_architecture", "i386"), ("img_hv_type", "QEMU")],
            &qemu,
            0
        ));
        assert!(!pass(&[("hw_architecture", "aarch64")], &qemu, 0));
        assert!(!pass(&[("img_hv_type", "kvm")], &qemu, 0));
        assert!(!pass(&[("hw_vm_mode", "xen")], &qemu, 0));
        assert!(!pass(&[("hw_architecture", "x86_64")], &[], 0));
        // The parts must be met by one kind, not by several together.
        let mixed = kinds(&[("x86_64", "qemu", "hvm"), ("i686", "kvm", "hvm")]);
        assert!(!pass(
            &[("architecture", "x86_64"), ("hypervisor_type", "kvm")],
            &mixed,
            0
        ));
        // The current name wins over the legacy one.
        assert!(pass(
            &[("hw_architecture", "x86_64"), ("architecture", "ppc64")],
            &qemu,
            0
        ));
        // The version, when the host reports one.
        let v = 6_002_000;
        assert!(pass(
            &[
                ("hw_architecture", "x86_64"),
                ("img_hv_requested_version", ">=6.0, <6.3")
            ],
            &qemu,
            v
        ));
        assert!(!pass(
            &[
                ("hw_architecture", "x86_64"),
                ("img_hv_requested_version", ">=6.3")
            ],
            &qemu,
            v
        ));
        assert!(pass(
            &[
                ("hw_architecture", "x86_64"),
                ("hypervisor_version_requires", "==6.2.0")
            ],
            &qemu,
            v
        ));
        assert!(!pass(
            &[
                ("hw_architecture", "x86_64"),
                ("img_hv_requested_version", "about 6")
            ],
            &qemu,
            v
        ));
        assert!(pass(
            &[
                ("hw_architecture", "x86_64"),
                ("img_hv_requested_version", ">=6.3")
            ],
            &qemu,
            0
        ));
    }
}
