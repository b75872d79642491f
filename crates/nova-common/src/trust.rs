//! Who is on the other end of a message: the trust boundary of the message bus.
//!
//! Upstream Nova trusts every message on the bus. Here each compute host
//! connects to RabbitMQ as a broker user of its own, `nova-compute.<host>`,
//! and every message carries the AMQP `user_id` property, which RabbitMQ
//! checks against the connection's user: a publisher cannot claim another
//! identity. A server reads that property (never a field of the body) and
//! knows its caller as a [`Caller`]:
//!
//! - the control plane (the users of `[conductor] control_plane_rpc_users`):
//!   nova-api, nova-conductor, nova-scheduler, nova-network, nova-novncproxy;
//! - one compute host, by its broker user;
//! - anyone else (another user, or no `user_id` at all), trusted with nothing.
//!
//! What each may call is the servers' business (the conductor's table is in
//! nova-conductor's `policy`); what the broker lets a compute host's user do
//! at all is [`compute_permissions`], applied by `nova-manage rabbit
//! create_compute_user`.

use std::collections::BTreeSet;
use std::fmt;

/// Compute hosts' broker users are this prefix and the host name (`[DEFAULT] host`).
///
/// The service's binary and its host, as Nova names a service: readable in
/// `rabbitmqctl list_users` and `list_connections`, and never mistaken for
/// a control-plane user.
pub const COMPUTE_USER_PREFIX: &str = "nova-compute.";

/// The broker user of the compute host `host`.
pub fn compute_user(host: &str) -> String {
    format!("{COMPUTE_USER_PREFIX}{host}")
}

/// The host whose compute user `user` is, if it is one.
pub fn compute_host_of_user(user: &str) -> Option<&str> {
    user.strip_prefix(COMPUTE_USER_PREFIX)
        .filter(|h| !h.is_empty())
}

/// A host name a compute user can be made for: what a hostname may hold
/// (letters, digits, `-`, `.`, `_`), so that it needs no quoting in broker
/// user names, permission patterns or URLs.
pub fn check_host_name(host: &str) -> Result<(), String> {
    if host.is_empty() || host.len() > 255 {
        return Err(format!("{host:?}: a host name has 1 to 255 characters"));
    }
    match host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
    {
        Some(c) => Err(format!("{host:?}: {c:?} is not allowed in a host name")),
        None => Ok(()),
    }
}

/// Who published a message, as the broker vouches for it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A control-plane daemon: may call everything.
    ControlPlane { user: String },
    /// The nova-compute of `host`: only what concerns that host.
    ComputeHost { user: String, host: String },
    /// Any other user, or a message without `user_id`: nothing.
    Unknown { user: Option<String> },
}

impl Caller {
    pub fn is_control_plane(&self) -> bool {
        matches!(self, Caller::ControlPlane { .. })
    }

    /// The compute host this caller is, if it is one.
    pub fn compute_host(&self) -> Option<&str> {
        match self {
            Caller::ComputeHost { host, .. } => Some(host),
            _ => None,
        }
    }
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Caller::ControlPlane { user } | Caller::ComputeHost { user, .. } => f.write_str(user),
            Caller::Unknown { user: Some(u) } => write!(f, "{u} (not a Nova service)"),
            Caller::Unknown { user: None } => f.write_str("an unidentified sender (no user_id)"),
        }
    }
}

/// Which broker users are the control plane; everyone else is sorted by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustPolicy {
    control_plane: BTreeSet<String>,
}

impl TrustPolicy {
    pub fn new(control_plane: impl IntoIterator<Item = String>) -> Self {
        TrustPolicy {
            control_plane: control_plane
                .into_iter()
                .filter(|u| compute_host_of_user(u).is_none())
                .collect(),
        }
    }

    /// From `[conductor] control_plane_rpc_users` (already resolved to this
    /// host's own user when empty).
    pub fn from_config(cfg: &crate::NovaConfig) -> Self {
        TrustPolicy::new(cfg.conductor.control_plane_rpc_users.iter().cloned())
    }

    /// The caller behind a message's `user_id` property.
    pub fn identify(&self, user: Option<&str>) -> Caller {
        match user {
            None | Some("") => Caller::Unknown { user: None },
            Some(u) => {
                if let Some(host) = compute_host_of_user(u) {
                    Caller::ComputeHost {
                        user: u.to_string(),
                        host: host.to_string(),
                    }
                } else if self.control_plane.contains(u) {
                    Caller::ControlPlane {
                        user: u.to_string(),
                    }
                } else {
                    Caller::Unknown {
                        user: Some(u.to_string()),
                    }
                }
            }
        }
    }

    pub fn control_plane_users(&self) -> impl Iterator<Item = &str> {
        self.control_plane.iter().map(String::as_str)
    }
}

/// What RabbitMQ lets a compute host's user do in the vhost: the three
/// resource patterns of `rabbitmqctl set_permissions` and the two routing-key
/// patterns of `set_topic_permissions` on the control exchange.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerPermissions {
    pub configure: String,
    pub write: String,
    pub read: String,
    /// The topic exchange the topic patterns apply to (`[DEFAULT] control_exchange`).
    pub exchange: String,
    /// Routing keys it may publish with on `exchange`.
    pub topic_write: String,
    /// Routing keys it may bind its queues with on `exchange`.
    pub topic_read: String,
}

/// The topics a compute host sends to: the conductor (its database proxy),
/// the conductor's `compute_task` queue (a build it hands back for
/// rescheduling) and nova-network.
pub const COMPUTE_SENDS_TO: &[&str] = &["conductor", "conductor_compute_task", "network"];

/// The narrowest permissions a compute host's nova-compute works with.
///
/// - It declares (configure), binds (write on the queue, read on the
///   exchange) and consumes (read) only its own queues: `compute.<host>`,
///   its fanout queue and its reply queue (exclusive, so no one else can
///   read or delete it), and declares the `compute_fanout` exchange. The
///   control exchange it only checks for (a passive declare needs no
///   permission), so it cannot delete it, nor any other service's queue.
/// - It publishes only to the control exchange (write), never to the
///   default exchange, which would reach any queue by name; there, only
///   with the routing keys of [`COMPUTE_SENDS_TO`] and of the control
///   plane's reply queues (its replies to calls such as
///   `get_console_output`), never `compute.<another host>`.
/// - It may bind only `compute.<host>`: it cannot copy another topic's
///   messages (the conductor's, another host's) into a queue of its own.
pub fn compute_permissions(host: &str, exchange: &str) -> Result<BrokerPermissions, String> {
    check_host_name(host)?;
    let h = regex_escape(host);
    let x = regex_escape(exchange);
    let hex32 = "[0-9a-f]{32}";
    let own_queues = format!("compute\\.{h}|compute_fanout_{hex32}|reply_{hex32}");
    let sends: Vec<String> = COMPUTE_SENDS_TO.iter().map(|t| regex_escape(t)).collect();
    Ok(BrokerPermissions {
        configure: format!("^(compute_fanout|{own_queues})$"),
        write: format!("^({x}|compute\\.{h}|compute_fanout_{hex32})$"),
        read: format!("^({x}|compute_fanout|{own_queues})$"),
        exchange: exchange.to_string(),
        topic_write: format!("^({}|reply_{hex32})$", sends.join("|")),
        topic_read: format!("^compute\\.{h}$"),
    })
}

/// `s` with the characters that mean something in a regular expression escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callers_are_sorted_by_their_broker_user() {
        let p = TrustPolicy::new(["nova".to_string(), "nova-compute.sneaky".to_string()]);
        assert_eq!(
            p.identify(Some("nova")),
            Caller::ControlPlane {
                user: "nova".into()
            }
        );
        // A compute user is a compute host even if listed as the control plane.
        assert_eq!(
            p.identify(Some("nova-compute.sneaky")).compute_host(),
            Some("sneaky")
        );
        assert_eq!(
            p.identify(Some("nova-compute.h1.example.org")),
            Caller::ComputeHost {
                user: "nova-compute.h1.example.org".into(),
                host: "h1.example.org".into()
            }
        );
        assert_eq!(
            p.identify(Some("nova-compute.")),
            Caller::Unknown {
                user: Some("nova-compute.".into())
            }
        );
        assert_eq!(p.identify(None), Caller::Unknown { user: None });
        assert_eq!(p.identify(Some("")), Caller::Unknown { user: None });
        assert!(!p.identify(Some("guest")).is_control_plane());
        assert_eq!(p.control_plane_users().collect::<Vec<_>>(), ["nova"]);
    }

    #[test]
    fn host_names() {
        assert!(check_host_name("compute-1.example.org").is_ok());
        assert!(check_host_name("c_1").is_ok());
        assert!(check_host_name("").is_err());
        assert!(check_host_name("a b").is_err());
        assert!(check_host_name("a|.*").is_err());
        assert!(compute_permissions("a$", "nova").is_err());
    }

    #[test]
    fn compute_permissions_name_only_the_hosts_own_resources() {
        let p = compute_permissions("h1.example", "nova").expect("valid host");
        assert_eq!(
            p.configure,
            r"^(compute_fanout|compute\.h1\.example|compute_fanout_[0-9a-f]{32}|reply_[0-9a-f]{32})$"
        );
        assert_eq!(
            p.write,
            r"^(nova|compute\.h1\.example|compute_fanout_[0-9a-f]{32})$"
        );
        assert_eq!(
            p.read,
            r"^(nova|compute_fanout|compute\.h1\.example|compute_fanout_[0-9a-f]{32}|reply_[0-9a-f]{32})$"
        );
        assert_eq!(
            p.topic_write,
            r"^(conductor|conductor_compute_task|network|reply_[0-9a-f]{32})$"
        );
        assert_eq!(p.topic_read, r"^compute\.h1\.example$");
        assert!(!p.write.contains("amq.default"));
    }
}
