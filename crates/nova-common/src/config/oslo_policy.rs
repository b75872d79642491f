//! `[oslo_policy]`: where nova-api finds policy overrides.

use super::opt::{config_section, string};
use std::path::{Path, PathBuf};

config_section! {
    /// `[oslo_policy]`.
    pub struct PolicySection in "oslo_policy" {
        /// Policy overrides (YAML or JSON), relative to the config file's directory.
        policy_file: String = "policy.yaml", string();
    }
}

impl PolicySection {
    /// A relative `policy_file` is resolved against the directory of the last
    /// config file, as oslo.config's `find_file` does.
    pub(super) fn resolve(mut self, files: &[PathBuf]) -> Self {
        if let (false, Some(last)) = (Path::new(&self.policy_file).is_absolute(), files.last()) {
            if let Some(dir) = last.parent() {
                self.policy_file = dir.join(&self.policy_file).display().to_string();
            }
        }
        self
    }
}
