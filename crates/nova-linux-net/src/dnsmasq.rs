//! One dnsmasq per network, as Nova's `linux_net.restart_dhcp`: static DHCP
//! leases from a hosts file (`mac,hostname.domain,ip` per line), reloaded with
//! SIGHUP while dnsmasq runs, dnsmasq started when it does not.
//!
//! A library over plain values: the caller (nova-network) says which network
//! and which hosts; the files live under `networks_path` as Nova names them
//! (`nova-<bridge>.conf` for the hosts, `nova-<bridge>.pid`).

use crate::{execute, LinuxNetError};
use std::path::{Path, PathBuf};
use tracing::{info, warn};

/// The network dnsmasq serves (Nova's `network_ref` fields it reads).
#[derive(Clone, Debug, PartialEq)]
pub struct DhcpNetwork {
    pub label: String,
    /// The bridge dnsmasq serves; also names its files.
    pub bridge: String,
    pub cidr: String,
    pub netmask: String,
    /// The address dnsmasq listens on (`dhcp_server`, the gateway in FlatDHCP).
    pub gateway: String,
    pub dhcp_start: String,
}

/// One static lease.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct DhcpHost {
    pub mac: String,
    pub hostname: String,
    pub address: String,
}

/// The deployment's dnsmasq settings (`[DEFAULT]` options).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DnsmasqOptions {
    pub networks_path: PathBuf,
    pub dhcp_lease_time: u64,
    pub dhcp_domain: String,
    pub dnsmasq_config_file: String,
    pub dns_server: Vec<String>,
    /// `--dhcp-script` (Nova's `dhcpbridge`); none by default here.
    pub dhcp_script: Option<String>,
}

impl DnsmasqOptions {
    /// `<networks_path>/nova-<bridge>.<kind>` (Nova's `_dhcp_file`).
    pub fn dhcp_file(&self, bridge: &str, kind: &str) -> PathBuf {
        self.networks_path.join(format!("nova-{bridge}.{kind}"))
    }
}

/// Number of addresses in an IPv4 CIDR (Nova's `--dhcp-lease-max`).
fn cidr_size(cidr: &str) -> u64 {
    cidr.split_once('/')
        .and_then(|(_, p)| p.parse::<u32>().ok())
        .filter(|p| *p <= 32)
        .map(|p| 1u64 << (32 - p))
        .unwrap_or(256)
}

/// The hosts file: one `mac,hostname.domain,ip` line per lease.
pub fn render_hosts(hosts: &[DhcpHost], domain: &str) -> String {
    let mut out = String::new();
    for h in hosts {
        let name = if domain.is_empty() {
            h.hostname.clone()
        } else {
            format!("{}.{}", h.hostname, domain)
        };
        out.push_str(&format!("{},{},{}\n", h.mac, name, h.address));
    }
    out
}

/// dnsmasq's command line for `net` (program first).
pub fn command(net: &DhcpNetwork, opts: &DnsmasqOptions) -> Vec<String> {
    let file = |kind| opts.dhcp_file(&net.bridge, kind).display().to_string();
    let mut cmd = vec![
        "dnsmasq".to_string(),
        "--strict-order".into(),
        "--bind-interfaces".into(),
        format!("--conf-file={}", opts.dnsmasq_config_file),
        format!("--pid-file={}", file("pid")),
        format!("--listen-address={}", net.gateway),
        // Not in Nova's command line: with it dnsmasq binds its DHCP socket to
        // the bridge. Every dnsmasq of the host shares port 67 (SO_REUSEPORT),
        // so a unicast such as dhcp_release's DHCPRELEASE otherwise reaches
        // one of them at random and is lost when there is more than one
        // network (as Neutron's DHCP agent, which passes it too).
        format!("--interface={}", net.bridge),
        "--except-interface=lo".into(),
        format!(
            "--dhcp-range=set:{},{},static,{},{}s",
            net.label, net.dhcp_start, net.netmask, opts.dhcp_lease_time
        ),
        format!("--dhcp-lease-max={}", cidr_size(&net.cidr)),
        format!("--dhcp-hostsfile={}", file("conf")),
    ];
    if let Some(script) = opts.dhcp_script.as_deref().filter(|s| !s.is_empty()) {
        cmd.push(format!("--dhcp-script={script}"));
    }
    cmd.push("--no-hosts".into());
    cmd.push("--leasefile-ro".into());
    if !opts.dhcp_domain.is_empty() {
        cmd.push(format!("--domain={}", opts.dhcp_domain));
    }
    let servers: Vec<&String> = opts.dns_server.iter().filter(|s| !s.is_empty()).collect();
    if !servers.is_empty() {
        cmd.push("--no-resolv".into());
        for s in servers {
            cmd.push(format!("--server={s}"));
        }
    }
    cmd
}

/// Write `path` readable by dnsmasq, which rereads it after dropping to `nobody`.
fn write_world_readable(path: &Path, text: &str) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, text)?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))?;
    std::fs::rename(&tmp, path)
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> LinuxNetError {
    LinuxNetError::Spawn {
        cmd: format!("{what} {}", path.display()),
        source: e,
    }
}

/// Write the network's hosts file (Nova's `update_dhcp_hostfile_with_text`).
pub fn write_hosts(
    bridge: &str,
    hosts: &[DhcpHost],
    opts: &DnsmasqOptions,
) -> Result<(), LinuxNetError> {
    use std::os::unix::fs::PermissionsExt;
    let dir = &opts.networks_path;
    std::fs::create_dir_all(dir).map_err(|e| io_err("mkdir", dir, e))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| io_err("chmod", dir, e))?;
    let path = opts.dhcp_file(bridge, "conf");
    write_world_readable(&path, &render_hosts(hosts, &opts.dhcp_domain))
        .map_err(|e| io_err("write", &path, e))
}

/// The pid of the dnsmasq serving `bridge`, when one runs: the pid file
/// names a live process whose command line carries this network's hosts
/// file (Nova's check against a recycled pid).
pub fn dnsmasq_pid(bridge: &str, opts: &DnsmasqOptions) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(opts.dhcp_file(bridge, "pid"))
        .ok()?
        .trim()
        .parse()
        .ok()?;
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmdline = String::from_utf8_lossy(&cmdline);
    let conf = opts.dhcp_file(bridge, "conf").display().to_string();
    (cmdline.contains("dnsmasq") && cmdline.contains(&conf)).then_some(pid)
}

/// Write the hosts file, then make dnsmasq serve it: SIGHUP when it runs,
/// start it when it does not (Nova's `restart_dhcp`).
pub async fn restart_dhcp(
    net: &DhcpNetwork,
    hosts: &[DhcpHost],
    opts: &DnsmasqOptions,
) -> Result<(), LinuxNetError> {
    write_hosts(&net.bridge, hosts, opts)?;
    if let Some(pid) = dnsmasq_pid(&net.bridge, opts) {
        match execute("kill", ["-HUP", &pid.to_string()]).await {
            Ok(_) => {
                info!(bridge = %net.bridge, pid, "dnsmasq reloaded its hosts");
                return Ok(());
            }
            Err(e) => warn!(bridge = %net.bridge, pid, "cannot reload dnsmasq, starting it: {e}"),
        }
    }
    let cmd = command(net, opts);
    execute(&cmd[0], &cmd[1..]).await?;
    info!(bridge = %net.bridge, network = %net.label, "dnsmasq started");
    Ok(())
}

/// End the lease `mac` holds on `address` at once (Nova's `release_dhcp`):
/// `dhcp_release` (dnsmasq-utils) hands the dnsmasq serving `dev` a
/// DHCPRELEASE as if from the client. Without it dnsmasq keeps the lease
/// until it expires (`dhcp_lease_time`, a day by default) and will not give
/// the address to the next instance's MAC. Nothing to do when the device is
/// gone: no dnsmasq serves it.
pub async fn release_dhcp(dev: &str, address: &str, mac: &str) -> Result<(), LinuxNetError> {
    if !crate::bridge::device_exists(dev) {
        return Ok(());
    }
    execute("dhcp_release", [dev, address, mac]).await?;
    info!(%dev, %address, %mac, "DHCP lease released");
    Ok(())
}

/// Stop the dnsmasq serving `bridge`, if one runs (Nova's `kill_dhcp`).
pub async fn kill_dhcp(bridge: &str, opts: &DnsmasqOptions) -> Result<(), LinuxNetError> {
    if let Some(pid) = dnsmasq_pid(bridge, opts) {
        execute("kill", ["-9", &pid.to_string()]).await?;
        info!(%bridge, pid, "dnsmasq stopped");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net() -> DhcpNetwork {
        DhcpNetwork {
            label: "private".into(),
            bridge: "br100".into(),
            cidr: "10.0.0.0/24".into(),
            netmask: "255.255.255.0".into(),
            gateway: "10.0.0.1".into(),
            dhcp_start: "10.0.0.2".into(),
        }
    }

    fn opts() -> DnsmasqOptions {
        DnsmasqOptions {
            networks_path: "/var/lib/nova/networks".into(),
            dhcp_lease_time: 86400,
            dhcp_domain: "novalocal".into(),
            ..Default::default()
        }
    }

    #[test]
    fn command_line_is_novas() {
        assert_eq!(
            command(&net(), &opts()),
            [
                "dnsmasq",
                "--strict-order",
                "--bind-interfaces",
                "--conf-file=",
                "--pid-file=/var/lib/nova/networks/nova-br100.pid",
                "--listen-address=10.0.0.1",
                "--interface=br100",
                "--except-interface=lo",
                "--dhcp-range=set:private,10.0.0.2,static,255.255.255.0,86400s",
                "--dhcp-lease-max=256",
                "--dhcp-hostsfile=/var/lib/nova/networks/nova-br100.conf",
                "--no-hosts",
                "--leasefile-ro",
                "--domain=novalocal",
            ]
        );
    }

    #[test]
    fn dns_servers_script_and_config_file_are_passed() {
        let o = DnsmasqOptions {
            dnsmasq_config_file: "/etc/nova/dnsmasq.conf".into(),
            dns_server: vec!["8.8.8.8".into(), "1.1.1.1".into()],
            dhcp_script: Some("/usr/bin/nova-dhcpbridge".into()),
            dhcp_domain: String::new(),
            ..opts()
        };
        let n = DhcpNetwork {
            cidr: "10.1.0.0/22".into(),
            ..net()
        };
        let c = command(&n, &o);
        assert!(c.contains(&"--conf-file=/etc/nova/dnsmasq.conf".to_string()));
        assert!(c.contains(&"--dhcp-lease-max=1024".to_string()));
        assert!(c.contains(&"--dhcp-script=/usr/bin/nova-dhcpbridge".to_string()));
        assert!(!c.iter().any(|a| a.starts_with("--domain")));
        assert_eq!(
            &c[c.len() - 3..],
            ["--no-resolv", "--server=8.8.8.8", "--server=1.1.1.1"]
        );
    }

    #[test]
    fn hosts_file_lines() {
        let hosts = [
            DhcpHost {
                mac: "fa:16:3e:00:00:01".into(),
                hostname: "vm-1".into(),
                address: "10.0.0.3".into(),
            },
            DhcpHost {
                mac: "fa:16:3e:00:00:02".into(),
                hostname: "vm-2".into(),
                address: "10.0.0.4".into(),
            },
        ];
        assert_eq!(
            render_hosts(&hosts, "novalocal"),
            "fa:16:3e:00:00:01,vm-1.novalocal,10.0.0.3\nfa:16:3e:00:00:02,vm-2.novalocal,10.0.0.4\n"
        );
        assert_eq!(
            render_hosts(&hosts[..1], ""),
            "fa:16:3e:00:00:01,vm-1,10.0.0.3\n"
        );
        assert_eq!(render_hosts(&[], "novalocal"), "");
    }

    #[test]
    fn hosts_file_is_world_readable_and_no_pid_means_not_running() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("nova-dnsmasq-{}", std::process::id()));
        let o = DnsmasqOptions {
            networks_path: dir.join("networks"),
            ..opts()
        };
        write_hosts("brx", &[], &o).unwrap();
        let meta = std::fs::metadata(o.dhcp_file("brx", "conf")).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o644);
        assert_eq!(dnsmasq_pid("brx", &o), None);
        // A pid file naming a process that is not this network's dnsmasq.
        std::fs::write(o.dhcp_file("brx", "pid"), std::process::id().to_string()).unwrap();
        assert_eq!(dnsmasq_pid("brx", &o), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Starts a real dnsmasq on a throwaway bridge (the tests run as root, as
    /// nova-network does): a second restart reloads the same process, and
    /// kill_dhcp stops it.
    #[tokio::test]
    async fn restart_dhcp_starts_then_reloads_then_kill_stops() {
        if !Path::new("/usr/sbin/dnsmasq").exists() {
            eprintln!("dnsmasq is not installed (deploy/install.sh installs it); skipped");
            return;
        }
        let n = std::process::id() % 100_000;
        let br = format!("nvd{n}");
        let dir = std::env::temp_dir().join(format!("nova-dnsmasq-run-{n}"));
        let o = DnsmasqOptions {
            networks_path: dir.join("networks"),
            ..opts()
        };
        let third = 100 + n % 100;
        let net = DhcpNetwork {
            bridge: br.clone(),
            cidr: format!("10.213.{third}.0/24"),
            gateway: format!("10.213.{third}.1"),
            dhcp_start: format!("10.213.{third}.2"),
            ..net()
        };
        crate::bridge::ensure_bridge(&br, None).await.unwrap();
        crate::bridge::initialize_gateway_device(&br, &net.gateway, &net.netmask, "")
            .await
            .unwrap();
        let host = DhcpHost {
            mac: "fa:16:3e:00:00:01".into(),
            hostname: "vm-1".into(),
            address: format!("10.213.{third}.2"),
        };
        restart_dhcp(&net, std::slice::from_ref(&host), &o)
            .await
            .unwrap();
        let pid = dnsmasq_pid(&br, &o).expect("dnsmasq runs");
        restart_dhcp(&net, &[], &o).await.unwrap();
        assert_eq!(dnsmasq_pid(&br, &o), Some(pid), "reloaded, not restarted");
        assert_eq!(
            std::fs::read_to_string(o.dhcp_file(&br, "conf")).unwrap(),
            ""
        );
        kill_dhcp(&br, &o).await.unwrap();
        for _ in 0..50 {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert!(
            !Path::new(&format!("/proc/{pid}/cmdline")).exists()
                || std::fs::read(format!("/proc/{pid}/cmdline"))
                    .unwrap()
                    .is_empty()
        );
        crate::bridge::delete_bridge(&br).await.unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
