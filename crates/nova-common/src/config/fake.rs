//! `[fake]`: knobs of `compute_driver = fake.FakeDriver`, for tests. Not in
//! Nova, whose functional tests stub the fake driver in-process instead.

use super::opt::{boolean, config_section};

config_section! {
    /// `[fake]`.
    pub struct FakeSection in "fake" {
        /// Make every spawn of the fake driver fail (a hypervisor error), so that
        /// builds on this compute host are rescheduled or end in ERROR. For tests.
        fail_spawn: bool = "false", boolean();
    }
}
