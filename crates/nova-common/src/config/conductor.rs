//! `[conductor]`: whom RPC servers trust on the message bus (see [`crate::trust`]).

use super::default::DefaultSection;
use super::opt::{config_section, list};
use super::ConfigError;
use super::Reader;
use crate::trust;

config_section! {
    /// `[conductor]`.
    pub struct ConductorSection in "conductor" {
        /// Broker users (the user part of transport_url) of the control-plane daemons:
        /// nova-api, nova-conductor, nova-scheduler, nova-network and nova-novncproxy.
        /// Messages they publish may call every RPC method. A compute host connects as
        /// its own user, nova-compute.<host> (made by `nova-manage rabbit
        /// create_compute_user`), and is trusted only with its own host's instances and
        /// nodes; any other user is refused. Empty: the user of this host's
        /// transport_url, which must then not be a compute host's. Not in upstream Nova,
        /// which trusts every message on the bus.
        control_plane_rpc_users: Vec<String> = "", list();
    }
}

impl ConductorSection {
    /// Fill in the default (this host's own broker user) and refuse what
    /// would trust a compute host, or trust no one.
    pub(super) fn resolve(
        mut self,
        r: &Reader<'_>,
        default: &DefaultSection,
    ) -> Result<Self, ConfigError> {
        let invalid = |reason: String| r.invalid(Self::OPTS, "control_plane_rpc_users", reason);
        if let Some(u) = self
            .control_plane_rpc_users
            .iter()
            .find(|u| trust::compute_host_of_user(u).is_some())
        {
            return Err(invalid(format!(
                "{u:?} is a compute host's broker user, never the control plane's"
            )));
        }
        if self.control_plane_rpc_users.is_empty() {
            let own = default.transport_user();
            if trust::compute_host_of_user(&own).is_some() {
                return Err(invalid(format!(
                    "must be set: this host connects to the broker as the compute host user {own:?}, \
                     so it cannot default to its own user (`nova-manage rabbit create_compute_user` \
                     prints the line to use)"
                )));
            }
            self.control_plane_rpc_users = vec![own];
        }
        Ok(self)
    }
}
