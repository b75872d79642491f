//! `[compute]`: nova-compute's placement of guests on the host's CPUs.

use super::opt::{config_section, optional_string};

config_section! {
    /// `[compute]`.
    pub struct ComputeSection in "compute" {
        /// Host CPUs unpinned guests float over (and the emulator threads of
        /// pinned guests with `hw:emulator_threads_policy=share`), as a CPU
        /// spec (`0-3,^2`). Unset: every host CPU (or `[DEFAULT] vcpu_pin_set`).
        cpu_shared_set: Option<String> = "", optional_string();
        /// Host CPUs pinned guests (`hw:cpu_policy=dedicated`) are pinned to,
        /// as a CPU spec. Unset: pinned guests use the shared CPUs, as before
        /// Nova 20 (pinned and unpinned guests may then share a CPU).
        cpu_dedicated_set: Option<String> = "", optional_string();
    }
}
