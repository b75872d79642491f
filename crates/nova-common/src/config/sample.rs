//! `deploy/nova.conf.sample`, written as oslo-config-generator writes one:
//! every declared option, commented out, with its help, kind and default.

use super::opt::{OptDef, OptKind};
use super::opts;

/// The sample file text, as oslo-config-generator writes it: every option commented out with its default.
pub fn render_sample() -> String {
    let mut out = String::from(
        "# nova.conf sample: every option nova-rs reads, with its default.\n\
         # Generated from the config_section! declarations in crates/nova-common/src/config/;\n\
         # `cargo test -p nova-common` checks it is current.\n",
    );
    let mut sections: Vec<&str> = Vec::new();
    for o in opts() {
        if !sections.contains(&o.section) {
            sections.push(o.section);
        }
    }
    for s in sections {
        out.push_str(&format!("\n[{s}]\n"));
        for o in opts().filter(|o| o.section == s) {
            out.push_str(&format!("\n# {} ({})\n", o.help.trim(), kind_label(o)));
            if let Some(old) = o.deprecated_section {
                out.push_str(&format!("# Deprecated group/name - [{old}]/{}\n", o.name));
            }
            out.push_str(&format!("#{} = {}\n", o.name, o.default));
        }
    }
    out
}

fn kind_label(o: &OptDef) -> String {
    match o.kind {
        OptKind::Str => "string value".to_string(),
        OptKind::Int { .. } => "integer value".to_string(),
        OptKind::Float { .. } => "floating point value".to_string(),
        OptKind::Bool => "boolean value".to_string(),
        OptKind::List => "list value".to_string(),
        OptKind::Choice(c) => format!("string value, one of: {}", c.join(", ")),
        OptKind::ListOf(c) => format!("list value, each one of: {}", c.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::{NovaConfig, RawConfig};
    use super::*;
    use std::path::Path;

    #[test]
    fn sample_file_is_current_and_parses() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/nova.conf.sample");
        let text = std::fs::read_to_string(&path).expect("deploy/nova.conf.sample exists");
        assert_eq!(
            text,
            render_sample(),
            "deploy/nova.conf.sample is stale: regenerate with `nova-manage config sample > deploy/nova.conf.sample`"
        );
        // Uncommented, the sample is a valid configuration with every default.
        let uncommented: String = text
            .lines()
            .map(|l| {
                if l.starts_with('#') && !l.starts_with("# ") && l.contains(" = ") {
                    &l[1..]
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut raw = RawConfig::default();
        raw.parse_str(&uncommented, "nova.conf.sample")
            .expect("sample parses");
        assert!(raw.unknown_options().is_empty());
        NovaConfig::from_raw(&raw).expect("sample values are valid");
    }

    #[test]
    fn every_declared_option_is_in_the_sample_under_its_section() {
        let sample = render_sample();
        let mut listed = Vec::new();
        let mut section = "";
        for line in sample.lines() {
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = s;
            } else if let Some((name, _)) = line.strip_prefix('#').and_then(|l| l.split_once(" = "))
            {
                if !name.starts_with(' ') {
                    listed.push((section, name));
                }
            }
        }
        let declared: Vec<_> = opts().map(|o| (o.section, o.name)).collect();
        assert_eq!(listed, declared);
    }
}
