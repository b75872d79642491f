//! An instance's security groups, as every API shows them.

use super::API;
use nova_objects::Instance;

impl API {
    /// The names of the security groups `inst` is in. nova-network's
    /// security groups are not stored yet: every instance is in its
    /// project's `default` group, which is what the compute API's server
    /// view shows too (`security_groups: [{"name": "default"}]`); the
    /// metadata service's `security-groups` reads it from here.
    pub fn security_group_names(&self, _inst: &Instance) -> Vec<String> {
        vec!["default".to_string()]
    }
}
