//! Reading the files: `RawConfig` holds every `option = value` with the file
//! and line it came from (later files win); `Reader` turns those into typed
//! values against the declared options, substituting `$var` and naming the
//! file, section and option when a value is bad.

use super::opt::{FromOpt, OptDef};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// Where a bad value came from, and why it is bad.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError {
    pub file: String,
    pub section: String,
    pub option: String,
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: [{}] {}: {}",
            self.file, self.section, self.option, self.reason
        )
    }
}

impl std::error::Error for ConfigError {}

#[derive(Clone, Debug)]
struct RawValue {
    value: String,
    file: String,
    line: usize,
}

/// Values read from the files, later files winning.
#[derive(Clone, Debug, Default)]
pub struct RawConfig {
    values: BTreeMap<(String, String), RawValue>,
    pub files: Vec<PathBuf>,
}

impl RawConfig {
    /// Parse INI text. `[DEFAULT]` is case-sensitive as in oslo; keys are
    /// normalised with `-` → `_`.
    pub fn parse_str(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        let mut section: Option<String> = None;
        let mut last_key: Option<(String, String)> = None;
        for (i, raw_line) in text.lines().enumerate() {
            let line_no = i + 1;
            let trimmed = raw_line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
                last_key = None;
                continue;
            }
            // Continuation line (indented) extends the previous value.
            if raw_line.starts_with([' ', '\t']) {
                if let Some(k) = &last_key {
                    if let Some(v) = self.values.get_mut(k) {
                        v.value.push('\n');
                        v.value.push_str(trimmed);
                        continue;
                    }
                }
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let name = rest.strip_suffix(']').ok_or_else(|| ConfigError {
                    file: file.to_string(),
                    section: section.clone().unwrap_or_default(),
                    option: String::new(),
                    reason: format!("line {line_no}: malformed section header {trimmed:?}"),
                })?;
                section = Some(name.trim().to_string());
                last_key = None;
                continue;
            }
            let (key, value) = match trimmed.split_once(['=', ':']) {
                Some((k, v)) => (k.trim(), v.trim()),
                None => {
                    return Err(ConfigError {
                        file: file.to_string(),
                        section: section.clone().unwrap_or_default(),
                        option: trimmed.to_string(),
                        reason: format!("line {line_no}: expected 'option = value'"),
                    })
                }
            };
            let Some(sec) = section.clone() else {
                return Err(ConfigError {
                    file: file.to_string(),
                    section: String::new(),
                    option: key.to_string(),
                    reason: format!("line {line_no}: option outside of any section"),
                });
            };
            let k = (sec, key.replace('-', "_"));
            self.values.insert(
                k.clone(),
                RawValue {
                    value: unquote(value).to_string(),
                    file: file.to_string(),
                    line: line_no,
                },
            );
            last_key = Some(k);
        }
        Ok(())
    }

    pub fn load_file(&mut self, path: &Path) -> Result<(), ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError {
            file: path.display().to_string(),
            section: String::new(),
            option: String::new(),
            reason: format!("cannot read: {e}"),
        })?;
        self.files.push(path.to_path_buf());
        self.parse_str(&text, &path.display().to_string())
    }

    /// oslo semantics: the files in order, then each directory's `*.conf`
    /// sorted by name. A missing default file is not an error.
    pub fn load(files: &[PathBuf], dirs: &[PathBuf]) -> Result<Self, ConfigError> {
        let mut raw = RawConfig::default();
        for f in files {
            raw.load_file(f)?;
        }
        for d in dirs {
            let entries = std::fs::read_dir(d).map_err(|e| ConfigError {
                file: d.display().to_string(),
                section: String::new(),
                option: String::new(),
                reason: format!("cannot read config dir: {e}"),
            })?;
            let mut confs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "conf"))
                .collect();
            confs.sort();
            for f in confs {
                raw.load_file(&f)?;
            }
        }
        Ok(raw)
    }

    /// Options present in the files that no section declares (foreign
    /// sections aside), and options set in the section they moved from.
    pub fn unknown_options(&self) -> Vec<String> {
        let mut out = vec![];
        for ((s, n), v) in &self.values {
            let here = |o: &&OptDef| o.name == n && o.section == s;
            let moved = |o: &&OptDef| o.name == n && o.deprecated_section == Some(s.as_str());
            if let Some(o) = super::opts()
                .find(moved)
                .filter(|_| !super::opts().any(|o| here(&o)))
            {
                out.push(format!(
                    "{}:{}: option [{s}] {n} is deprecated: use [{}] {}",
                    v.file, v.line, o.section, o.name
                ));
            } else if !super::opts().any(|o| here(&o)) && !is_foreign_section(s) {
                out.push(format!("{}:{}: unknown option [{s}] {n}", v.file, v.line));
            }
        }
        out
    }
}

/// Sections that belong to other services or libraries sharing the file
/// (keystonemiddleware, oslo.policy, ...): not ours to warn about yet.
fn is_foreign_section(s: &str) -> bool {
    matches!(s, "oslo_concurrency" | "placement" | "neutron" | "cinder")
}

fn unquote(v: &str) -> &str {
    if v.len() >= 2
        && ((v.starts_with('"') && v.ends_with('"')) || (v.starts_with('\'') && v.ends_with('\'')))
    {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

/// Typed access over [`RawConfig`], validating against the declared options.
pub(crate) struct Reader<'a> {
    raw: &'a RawConfig,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(raw: &'a RawConfig) -> Self {
        Reader { raw }
    }

    /// The value of option `name` of `opts`, parsed into the field's type.
    pub(crate) fn get<T: FromOpt>(
        &self,
        opts: &'static [OptDef],
        name: &str,
    ) -> Result<T, ConfigError> {
        let def = declared(opts, name);
        let (text, file) = self.text(def);
        T::from_opt(&text, def.kind).map_err(|reason| error(def, file, reason))
    }

    /// A value that parsed but that post-processing rejects, named like a
    /// parse error.
    pub(crate) fn invalid(
        &self,
        opts: &'static [OptDef],
        name: &str,
        reason: String,
    ) -> ConfigError {
        let def = declared(opts, name);
        error(def, self.text(def).1, reason)
    }

    /// The text (file value or default), `$var` substituted, and where it came from.
    fn text(&self, def: &OptDef) -> (String, String) {
        let at = |section: &str| {
            self.raw
                .values
                .get(&(section.to_string(), def.name.to_string()))
        };
        let (v, file) = match at(def.section).or_else(|| def.deprecated_section.and_then(at)) {
            Some(rv) => (rv.value.clone(), rv.file.clone()),
            None => (def.default.to_string(), "<default>".to_string()),
        };
        (self.substitute(def.section, &v), file)
    }

    /// oslo's `$name` / `${name}`: an option of the same section or of `[DEFAULT]`.
    fn substitute(&self, section: &str, v: &str) -> String {
        if !v.contains('$') {
            return v.to_string();
        }
        let mut out = String::new();
        let mut rest = v;
        while let Some(pos) = rest.find('$') {
            out.push_str(&rest[..pos]);
            let after = &rest[pos + 1..];
            let (name, tail) = if let Some(b) = after.strip_prefix('{') {
                match b.find('}') {
                    Some(end) => (&b[..end], &b[end + 1..]),
                    None => (b, ""),
                }
            } else {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], &after[end..])
            };
            if name.is_empty() {
                out.push('$');
            } else {
                let found = [section, "DEFAULT"].iter().find_map(|s| {
                    super::opts()
                        .find(|o| o.section == *s && o.name == name)
                        .map(|o| self.text(o).0)
                });
                out.push_str(&found.unwrap_or_default());
            }
            rest = tail;
        }
        out.push_str(rest);
        out
    }
}

fn declared(opts: &'static [OptDef], name: &str) -> &'static OptDef {
    opts.iter()
        .find(|o| o.name == name)
        .unwrap_or_else(|| panic!("option {name} is not declared"))
}

fn error(def: &OptDef, file: String, reason: String) -> ConfigError {
    ConfigError {
        file,
        section: def.section.to_string(),
        option: def.name.to_string(),
        reason,
    }
}
