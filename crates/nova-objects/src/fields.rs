//! The canonical names of a guest's kind (Nova's `objects/fields.py`
//! `Architecture`, `HVType` and `VMMode`): what a hypervisor advertises in
//! `supported_instances` and what an image asks for are compared in these.

/// `Architecture.canonicalize`: lower case, the x86 aliases folded
/// (`i386`..`i586` and Xen's `x86_32` are `i686`, `amd64` is `x86_64`).
pub fn canonical_arch(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "i386" | "i486" | "i586" | "x86_32" | "x86_32p" => "i686".into(),
        "amd64" => "x86_64".into(),
        _ => name,
    }
}

/// `HVType.canonicalize`: lower case, XenAPI's `xapi` is `xen`.
pub fn canonical_hv_type(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    if name == "xapi" {
        "xen".into()
    } else {
        name
    }
}

/// `VMMode.canonicalize`: lower case, the pre-Folsom names folded (`pv` is
/// `xen`; `hv` and `baremetal` are `hvm`).
pub fn canonical_vm_mode(name: &str) -> String {
    let name = name.to_ascii_lowercase();
    match name.as_str() {
        "pv" => "xen".into(),
        "hv" | "baremetal" => "hvm".into(),
        _ => name,
    }
}

/// `versionutils.convert_version_to_str`: a hypervisor version as an
/// integer (1000 per component) in dotted form (8002000 is `8.2.0`).
pub fn version_to_str(mut version: i64) -> String {
    let mut parts = Vec::new();
    while version > 0 {
        parts.push((version % 1000).to_string());
        version /= 1000;
    }
    parts.reverse();
    parts.join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_folded_as_novas_fields_fold_them() {
        assert_eq!(canonical_arch("AMD64"), "x86_64");
        assert_eq!(canonical_arch("i386"), "i686");
        assert_eq!(canonical_arch("aarch64"), "aarch64");
        assert_eq!(canonical_hv_type("QEMU"), "qemu");
        assert_eq!(canonical_hv_type("xapi"), "xen");
        assert_eq!(canonical_vm_mode("HV"), "hvm");
        assert_eq!(canonical_vm_mode("pv"), "xen");
        assert_eq!(canonical_vm_mode("exe"), "exe");
        assert_eq!(version_to_str(8_002_000), "8.2.0");
        assert_eq!(version_to_str(1000), "1.0");
        assert_eq!(version_to_str(0), "");
    }
}
