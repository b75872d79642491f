//! `[DEFAULT]`: the node, messaging, service life cycle, the API listeners,
//! compute resources and nova-network.

use super::opt::{
    at_least, boolean, choice, config_section, float, int, list, optional_string, port, string,
};
use super::{ConfigError, Reader};

config_section! {
    /// `[DEFAULT]`.
    pub struct DefaultSection in "DEFAULT" {
        /// Name of this node, used as the RPC server name and in the services table. Defaults to the machine's hostname.
        host: String = "", string();
        /// IP address of this host. Defaults to the address of the interface with the default route.
        my_ip: String = "", string();
        /// Top-level directory for maintaining Nova's state.
        state_path: String = "/var/lib/nova", string();
        /// Where instances are stored on disk.
        instances_path: String = "$state_path/instances", string();
        /// The messaging server URL: rabbit://user:pass@host:port/vhost.
        transport_url: String = "rabbit://guest:guest@127.0.0.1:5672/", string();
        /// The topic exchange RPC messages are sent to.
        control_exchange: String = "nova", string();
        /// Seconds to wait for a response from a call.
        rpc_response_timeout: u64 = "60", int(1, 86400);
        /// Seconds to wait for long-running calls (select_destinations).
        long_rpc_timeout: u64 = "1800", int(1, 86400);
        /// Seconds between nodes reporting state to the datastore.
        report_interval: u64 = "10", at_least(1);
        /// Maximum seconds since the last check-in for a service to be considered up.
        service_down_time: u64 = "60", at_least(1);
        /// Seconds to wait for in-flight work to finish on SIGTERM.
        graceful_shutdown_timeout: u64 = "60", at_least(0);
        /// Driver used by nova-compute to control the hypervisor.
        compute_driver: String = "libvirt.LibvirtDriver", choice(&["libvirt.LibvirtDriver", "fake.FakeDriver"]);
        /// Log at debug level.
        debug: bool = "false", boolean();
        /// Log to this file instead of standard error.
        log_file: Option<String> = "", optional_string();
        /// Address nova-api listens on for the compute API.
        osapi_compute_listen: String = "0.0.0.0", string();
        /// Port of the compute API.
        osapi_compute_listen_port: u16 = "8774", port();
        /// The APIs nova-api serves, each on its own address and port.
        enabled_apis: Vec<String> = "osapi_compute,metadata", list();
        /// Address nova-api listens on for the metadata API.
        metadata_listen: String = "0.0.0.0", string();
        /// Port of the metadata API.
        metadata_listen_port: u16 = "8775", port();
        /// Address nova-api listens on for the EC2 API.
        ec2_listen: String = "0.0.0.0", string();
        /// Port of the EC2 API.
        ec2_listen_port: u16 = "8773", port();
        /// Memory (MB) reserved for the host.
        reserved_host_memory_mb: i64 = "512", at_least(0);
        /// Disk (MB) reserved for the host.
        reserved_host_disk_mb: i64 = "0", at_least(0);
        /// Host CPUs reserved for the host.
        reserved_host_cpus: i64 = "0", at_least(0);
        /// Host CPUs guests may use, as a CPU spec (`0-3,^2`); deprecated in
        /// Nova 20 for `[compute] cpu_shared_set` and `cpu_dedicated_set`,
        /// which may not be set with it. Unset: every host CPU.
        vcpu_pin_set: Option<String> = "", optional_string();
        /// Virtual RAM to physical RAM allocation ratio.
        ram_allocation_ratio: f64 = "1.5", float(0.0);
        /// Virtual CPU to physical CPU allocation ratio.
        cpu_allocation_ratio: f64 = "16.0", float(0.0);
        /// Virtual disk to physical disk allocation ratio.
        disk_allocation_ratio: f64 = "1.0", float(0.0);
        /// Availability zone of compute hosts.
        default_availability_zone: String = "nova", string();
        /// Availability zone of new instances whose creation names none: they
        /// are scheduled into it and kept there for their lifetime, as if
        /// the user had asked for it. Unset: any zone.
        default_schedule_zone: Option<String> = "", optional_string();
        /// Availability zone of the non-compute services.
        internal_service_availability_zone: String = "internal", string();
        /// Template for instance names on the hypervisor.
        instance_name_template: String = "instance-%08x", string();
        /// Run the instance usage audit on compute hosts: once per completed
        /// audit period each host records how many instances were active on
        /// it (`os-instance_usage_audit_log`).
        instance_usage_audit: bool = "false", boolean();
        /// The period of instance usage audits (`os-instance_usage_audit_log`
        /// reports the last completed one): `hour`, `day`, `month` or `year`,
        /// with an optional offset (`day@18`: days start at 18:00 UTC,
        /// `month@15` on the 15th, `year@3` on March 1st).
        instance_usage_audit_period: String = "month", string();
        /// Give every instance a config drive, whether its request asked for one or not.
        force_config_drive: bool = "false", boolean();
        /// The config drive's file system: an ISO 9660 image (made with
        /// `mkisofs_cmd`) or a 64 MiB VFAT image labelled `config-2`.
        config_drive_format: String = "iso9660", choice(&["iso9660", "vfat"]);
        /// The command that makes ISO 9660 config drives (genisoimage or mkisofs).
        mkisofs_cmd: String = "genisoimage", string();
        /// Seconds between resource usage reports of nova-compute; 0 means the
        /// default periodic interval (60 seconds).
        update_resources_interval: u64 = "0", at_least(0);
        /// Seconds to wait for a guest to shut down cleanly before powering it off.
        shutdown_timeout: u64 = "60", at_least(0);
        /// Seconds between syncs of power states with the hypervisor (-1 disables).
        sync_power_state_interval: i64 = "600", at_least(-1);
        /// Seconds a shelved instance stays on its host before it is offloaded: 0 offloads at once after the shelve, -1 never.
        shelved_offload_time: i64 = "0", at_least(-1);
        /// Seconds between polls for shelved instances to offload (-1 disables, 0 runs at the default rate of 60 seconds).
        shelved_poll_interval: i64 = "3600", at_least(-1);
        /// Seconds between runs of the network info cache heal: each run
        /// rebuilds one instance's cache (the addresses a server shows) from
        /// nova-network, the host's instances in turn; 0 or less disables it.
        heal_instance_info_cache_interval: i64 = "60", at_least(i64::MIN);
        /// Seconds a deleted instance is kept SOFT_DELETED (restorable) before nova-compute reclaims it; 0 deletes at once.
        reclaim_instance_interval: i64 = "0", at_least(0);
        /// Seconds after which an instance stuck in BUILD goes to ERROR; 0 disables it.
        instance_build_timeout: u64 = "0", at_least(0);
        /// Whether the scheduler may choose the instance's own host as a resize destination.
        allow_resize_to_same_host: bool = "false", boolean();
        /// Seconds after which a resize waiting for confirmation (VERIFY_RESIZE) is confirmed by the source host; 0 disables it.
        resize_confirm_window: u64 = "0", at_least(0);
        /// Destinations a live migration tries when the scheduler's choice fails its checks (-1: no limit, 0: only the first).
        migrate_max_retries: i64 = "-1", at_least(-1);
        /// The nova-network manager class.
        network_manager: String = "nova.network.manager.FlatDHCPManager", choice(&["nova.network.manager.FlatDHCPManager"]);
        /// Number of addresses in each private subnet (nova-manage network create).
        network_size: i64 = "256", at_least(1);
        /// Number of networks to support (nova-manage network create).
        num_networks: i64 = "1", at_least(1);
        /// Bridge for simple network interfaces.
        flat_network_bridge: String = "br100", string();
        /// Physical interface added to the flat bridge.
        flat_interface: String = "", string();
        /// The DNS server a new network names when its creator gives none (`dns1`; empty: none).
        flat_network_dns: String = "8.8.4.4", string();
        /// Where nova-network keeps its dnsmasq files (hosts file, pid file) per network bridge.
        networks_path: String = "$state_path/networks", string();
        /// Lifetime of a DHCP lease, in seconds.
        dhcp_lease_time: u64 = "86400", at_least(1);
        /// When an instance's address is released, end its DHCP lease in dnsmasq at
        /// once (`dhcp_release`), so the address can be leased to another instance.
        force_dhcp_release: bool = "true", boolean();
        /// An extra dnsmasq configuration file (`--conf-file`); empty means none.
        dnsmasq_config_file: String = "", string();
        /// Upstream DNS servers dnsmasq forwards to (`--server`), tried in order.
        dns_server: Vec<String> = "", list();
        /// Directory nova-novncproxy serves the noVNC web client from.
        web: String = "/usr/share/novnc", string();
        /// nova-novncproxy: refuse connections that are not TLS.
        ssl_only: bool = "false", boolean();
        /// nova-novncproxy: the TLS certificate (PEM; may also hold the key). When
        /// the file exists, the proxy answers TLS as well as plain connections on
        /// its port.
        cert: String = "self.pem", string();
        /// nova-novncproxy: the TLS private key (PEM), when not in `cert`.
        key: Option<String> = "", optional_string();
        /// Seconds between the conductor's purges of expired console tokens
        /// (Nova runs its cleanup with the deleted-instance periodic task).
        instance_delete_interval: u64 = "300", at_least(0);
        /// Public IP of the network host: the source of the fixed ranges' SNAT. Defaults to `my_ip`.
        routing_source_ip: String = "$my_ip", string();
        /// Interface the fixed ranges are SNATed out of (and floating IPs live on).
        public_interface: String = "eth0", string();
        /// Destinations the fixed ranges reach without SNAT.
        dmz_cidr: Vec<String> = "", list();
        /// Address of the metadata service that 169.254.169.254:80 is forwarded to. Defaults to `my_ip`.
        metadata_host: String = "$my_ip", string();
        /// Port of the metadata service that 169.254.169.254:80 is forwarded to.
        metadata_port: u16 = "8775", port();
        /// Interfaces a network bridge may forward to (`all`: any).
        forward_bridge_interface: Vec<String> = "all", list();
        /// What the network bridges' filtering rules do with traffic they do not accept.
        iptables_drop_action: String = "DROP", string();
        /// Pool of floating IPs a request without a pool allocates from.
        default_floating_pool: String = "nova", string();
        /// Give every new instance a floating IP from the default pool.
        auto_assign_floating_ip: bool = "false", boolean();
        /// How nova-compute enforces security groups on a hypervisor with host networking:
        /// per-instance iptables chains, or nothing.
        firewall_driver: String = "nova.virt.libvirt.firewall.IptablesFirewallDriver", choice(&["nova.virt.libvirt.firewall.IptablesFirewallDriver", "nova.virt.firewall.NoopFirewallDriver"]);
        /// Whether instances accept all traffic from their own networks (the fixed range).
        allow_same_net_traffic: bool = "true", boolean();
    }
}

/// Seconds between runs of a periodic task that has no spacing of its own
/// (oslo.service's default).
const DEFAULT_PERIODIC_INTERVAL: u64 = 60;

impl DefaultSection {
    /// A new network's `dns1`: the one asked for, else `flat_network_dns`
    /// (Nova's `create_networks`).
    pub fn network_dns1(&self, asked: Option<String>) -> Option<String> {
        asked.or_else(|| Some(self.flat_network_dns.clone()).filter(|s| !s.is_empty()))
    }

    /// What Nova derives when the file leaves it empty or 0, and the transport
    /// URL check the option's kind cannot express.
    pub(super) fn resolve(mut self, r: &Reader<'_>) -> Result<Self, ConfigError> {
        if self.update_resources_interval == 0 {
            self.update_resources_interval = DEFAULT_PERIODIC_INTERVAL;
        }
        if self.host.is_empty() {
            self.host = system_hostname();
        }
        if self.my_ip.is_empty() {
            self.my_ip = detect_my_ip();
        }
        if self.routing_source_ip.is_empty() {
            self.routing_source_ip = self.my_ip.clone();
        }
        if self.metadata_host.is_empty() {
            self.metadata_host = self.my_ip.clone();
        }
        parse_transport_url(&self.transport_url)
            .map_err(|reason| r.invalid(Self::OPTS, "transport_url", reason))?;
        Ok(self)
    }

    /// The broker user this host connects as (percent-decoded): what
    /// RabbitMQ vouches for in the `user_id` of the messages it publishes.
    pub fn transport_user(&self) -> String {
        parse_transport_url(&self.transport_url)
            .map(|t| t.username())
            .unwrap_or_default()
    }
}

/// The parts of `rabbit://user:pass@host:port/vhost`.
#[derive(Clone, Debug, PartialEq)]
pub struct TransportUrl {
    pub user: String,
    pub password: String,
    pub host: String,
    pub port: u16,
    pub vhost: String,
}

impl TransportUrl {
    /// The user name, percent-decoded as it is sent to the broker.
    pub fn username(&self) -> String {
        percent_decode(&self.user)
    }

    /// The virtual host's name, percent-decoded (`/` when the URL has none).
    pub fn vhost_name(&self) -> String {
        percent_decode(&self.vhost)
    }
}

/// `%XX` escapes of a URL's user info, decoded (invalid escapes are kept as written).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub fn parse_transport_url(url: &str) -> Result<TransportUrl, String> {
    let rest = url
        .strip_prefix("rabbit://")
        .or_else(|| url.strip_prefix("amqp://"))
        .ok_or_else(|| format!("{url:?}: only rabbit:// (or amqp://) URLs are supported"))?;
    // Only the first host of a comma-separated list is used.
    let (authority, vhost) = match rest.split_once('/') {
        Some((a, v)) => (a, v.split('?').next().unwrap_or("").to_string()),
        None => (rest, String::new()),
    };
    let authority = authority.split(',').next().unwrap_or("");
    let (creds, hostport) = match authority.rsplit_once('@') {
        Some((c, h)) => (c, h),
        None => ("guest:guest", authority),
    };
    let (user, password) = creds.split_once(':').unwrap_or((creds, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (
            h.to_string(),
            p.parse::<u16>()
                .map_err(|_| format!("{url:?}: bad port {p:?}"))?,
        ),
        None => (hostport.to_string(), 5672),
    };
    if host.is_empty() {
        return Err(format!("{url:?}: no host"));
    }
    Ok(TransportUrl {
        user: user.to_string(),
        password: password.to_string(),
        host,
        port,
        vhost: if vhost.is_empty() { "/".into() } else { vhost },
    })
}

pub fn system_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The source address the kernel would use for an outbound route (no packet is sent).
pub fn detect_my_ip() -> String {
    std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| {
            s.connect("8.8.8.8:80")?;
            s.local_addr()
        })
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|_| "127.0.0.1".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transport_urls() {
        let t = parse_transport_url("rabbit://u:p@10.0.0.1:5673/nova").expect("url");
        assert_eq!(
            (t.user.as_str(), t.port, t.vhost.as_str()),
            ("u", 5673, "nova")
        );
        let t = parse_transport_url("rabbit://guest:guest@localhost:5672/").expect("url");
        assert_eq!(t.vhost, "/");
        let t = parse_transport_url("rabbit://nova-compute.h%2E1:p@h/v").expect("url");
        assert_eq!(t.username(), "nova-compute.h.1");
        assert_eq!(percent_decode("a%zzb%4"), "a%zzb%4");
    }
}
