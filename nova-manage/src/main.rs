//! nova-manage: the operator's tool on the controller. Like upstream it
//! talks to the database directly (the one binary besides the conductor
//! that may). `rabbit` makes compute hosts' broker users (see `rabbit.rs`).

mod archive;
mod nova_network;
mod rabbit;

use chrono::Utc;
use clap::{Parser, Subcommand};
use nova_common::service::{CommonArgs, EXIT_CONFIG};
use nova_common::NovaConfig;
use nova_db::Db;
use nova_objects::{FloatingIpCreate, NetworkCreate};
use std::process::ExitCode;

#[derive(Parser)]
#[command(name = "nova-manage", version, about = "Nova operator commands")]
struct Args {
    #[command(flatten)]
    common: CommonArgs,
    #[command(subcommand)]
    category: Category,
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum Category {
    /// Database schema.
    #[command(subcommand)]
    Db(DbCmd),
    /// Nova's API database: here the one database holds the API's tables
    /// too, so these are `db sync` and `db version`.
    #[command(subcommand, name = "api_db", alias = "api-db")]
    ApiDb(ApiDbCmd),
    /// Nova's cells v2 setup, which this cloud does not need (one database,
    /// no cell or host mappings): the commands deployment tools run say so
    /// and succeed; `discover_hosts` tells which compute hosts are known.
    #[command(subcommand, name = "cell_v2", alias = "cell-v2")]
    CellV2(CellV2Cmd),
    /// nova-network networks.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// nova-network fixed IPs.
    #[command(subcommand)]
    Fixed(nova_network::FixedCmd),
    /// Instances.
    #[command(subcommand)]
    Vm(VmCmd),
    /// nova-network floating IPs.
    #[command(subcommand)]
    Floating(FloatingCmd),
    /// Services.
    #[command(subcommand)]
    Service(ServiceCmd),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCmd),
    /// RabbitMQ users of compute hosts (runs rabbitmqctl).
    #[command(subcommand)]
    Rabbit(RabbitCmd),
}

#[derive(Subcommand)]
enum RabbitCmd {
    /// Create (or reset) compute host HOST's own broker user, nova-compute.HOST,
    /// confined to that host's queues in the vhost of [DEFAULT] transport_url,
    /// and print the lines of that host's nova.conf. Run again, it sets the
    /// same permissions and a new password.
    #[command(name = "create_compute_user", alias = "create-compute-user")]
    CreateComputeUser {
        /// The compute host's name ([DEFAULT] host in its nova.conf).
        host: String,
        /// Use this password instead of a new random one.
        #[arg(long)]
        password: Option<String>,
    },
    /// Delete compute host HOST's broker user (done if it does not exist).
    #[command(name = "delete_compute_user", alias = "delete-compute-user")]
    DeleteComputeUser { host: String },
}

#[derive(Subcommand)]
enum DbCmd {
    /// Apply the schema migrations (all, or up to VERSION).
    Sync {
        /// The schema version to migrate up to (default: the latest).
        version: Option<i64>,
        /// Nova's: sync only the local cell, not cell0. There is one
        /// database here, so this is what a sync always does.
        #[arg(long = "local_cell", alias = "local-cell")]
        local_cell: bool,
    },
    /// Print the schema version (0 before the first sync).
    Version,
    /// Move soft-deleted rows (with the rows that refer to them) to the shadow tables.
    #[command(name = "archive_deleted_rows", alias = "archive-deleted-rows")]
    ArchiveDeletedRows(archive::ArchiveArgs),
    /// Delete rows from the shadow tables.
    Purge(archive::PurgeArgs),
}

#[derive(Subcommand)]
enum ApiDbCmd {
    /// `db sync`: the schema migrations, all or up to VERSION.
    Sync { version: Option<i64> },
    /// `db version`.
    Version,
}

#[derive(Subcommand)]
enum CellV2Cmd {
    /// Nova maps compute hosts to their cell; here a host is known as soon
    /// as its nova-compute checks in. With --verbose, lists them; with
    /// --strict, fails when none is known yet.
    #[command(name = "discover_hosts", alias = "discover-hosts")]
    DiscoverHosts {
        #[arg(long)]
        verbose: bool,
        #[arg(long)]
        strict: bool,
        #[arg(long = "by-service", alias = "by_service")]
        by_service: bool,
        #[arg(long = "cell_uuid", alias = "cell-uuid")]
        cell_uuid: Option<String>,
    },
    /// Nova's cell0 (where instances that fail scheduling go): here they
    /// stay in the one database, in ERROR. Nothing to map.
    #[command(name = "map_cell0", alias = "map-cell0")]
    MapCell0 {
        #[arg(long = "database_connection", alias = "database-connection")]
        database_connection: Option<String>,
    },
    /// Nova's cell0 and cell1 setup: nothing to set up here.
    #[command(name = "simple_cell_setup", alias = "simple-cell-setup")]
    SimpleCellSetup {
        #[arg(long = "transport-url", alias = "transport_url")]
        transport_url: Option<String>,
    },
}

#[derive(Subcommand)]
#[allow(clippy::large_enum_variant)]
enum NetworkCmd {
    /// Create a fixed-IP network (FlatDHCPManager).
    Create {
        /// Label for the network (e.g. private).
        #[arg(long)]
        label: String,
        /// IPv4 subnet (e.g. 10.0.0.0/24).
        #[arg(long = "fixed_range_v4", alias = "fixed-range-v4")]
        fixed_range_v4: String,
        /// Bridge the guests attach to (default: [DEFAULT] flat_network_bridge).
        #[arg(long)]
        bridge: Option<String>,
        /// Physical interface added to the bridge (default: [DEFAULT] flat_interface).
        #[arg(long = "bridge_interface", alias = "bridge-interface")]
        bridge_interface: Option<String>,
        /// Number of networks to create (default: [DEFAULT] num_networks).
        #[arg(long = "num_networks", alias = "num-networks")]
        num_networks: Option<i64>,
        /// Addresses per network (default: [DEFAULT] network_size).
        #[arg(long = "network_size", alias = "network-size")]
        network_size: Option<i64>,
        #[arg(long)]
        dns1: Option<String>,
        #[arg(long)]
        dns2: Option<String>,
        /// Project the network belongs to (default: shared).
        #[arg(long = "project_id", alias = "project-id")]
        project_id: Option<String>,
        #[arg(long = "multi_host", alias = "multi-host", default_value = "F")]
        multi_host: String,
        /// The guests' gateway (default: the first address given out).
        #[arg(long)]
        gateway: Option<String>,
        /// Make fixed IPs only for this part of the range.
        #[arg(long = "fixed_cidr", alias = "fixed-cidr")]
        fixed_cidr: Option<String>,
        /// The first address given out (those below are reserved).
        #[arg(long = "allowed_start", alias = "allowed-start")]
        allowed_start: Option<String>,
        /// The last address given out (those above are reserved).
        #[arg(long = "allowed_end", alias = "allowed-end")]
        allowed_end: Option<String>,
        /// The network's uuid (default: a new one).
        #[arg(long)]
        uuid: Option<uuid::Uuid>,
        /// The order of a server's interfaces on several networks.
        #[arg(long)]
        priority: Option<i32>,
    },
    /// List networks.
    List,
    /// Delete a network (by --uuid, else --fixed_range): one still given to
    /// a project, or with addresses in use, is refused.
    Delete {
        /// The network's CIDR.
        #[arg(long = "fixed_range", alias = "fixed-range")]
        fixed_range: Option<String>,
        #[arg(long)]
        uuid: Option<String>,
    },
    /// Associate the network of a CIDR with a project and/or a host, or
    /// disassociate it from them (one or the other per command).
    Modify {
        /// The network's CIDR.
        #[arg(long = "fixed_range", alias = "fixed-range")]
        fixed_range: String,
        #[arg(long)]
        project: Option<String>,
        #[arg(long)]
        host: Option<String>,
        #[arg(long = "disassociate-project", alias = "disassociate_project")]
        disassociate_project: bool,
        #[arg(long = "disassociate-host", alias = "disassociate_host")]
        disassociate_host: bool,
    },
}

#[derive(Subcommand)]
enum VmCmd {
    /// List instances (with --host, those on that host).
    List {
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Subcommand)]
enum FloatingCmd {
    /// Create floating IPs: every host address of a CIDR, or one address.
    Create {
        /// A CIDR (e.g. 172.24.4.0/24) or a single address.
        #[arg(long = "ip_range", alias = "ip-range")]
        ip_range: String,
        /// Pool the addresses belong to (default: [DEFAULT] default_floating_pool).
        #[arg(long)]
        pool: Option<String>,
        /// Interface they are bound to (default: [DEFAULT] public_interface).
        #[arg(long)]
        interface: Option<String>,
    },
    /// Delete floating IPs: every host address of a CIDR, or one address.
    Delete {
        #[arg(long = "ip_range", alias = "ip-range")]
        ip_range: String,
    },
    /// List floating IPs (project, address, instance, pool, interface);
    /// with --host only those associated on that network host.
    List {
        #[arg(long)]
        host: Option<String>,
    },
}

#[derive(Subcommand)]
enum ServiceCmd {
    /// List services and whether they are up.
    List {
        #[arg(long)]
        host: Option<String>,
    },
    /// Disable a service: the scheduler stops using it.
    Disable {
        host: String,
        binary: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Enable a service.
    Enable { host: String, binary: String },
}

#[derive(Subcommand)]
enum ConfigCmd {
    /// Print a sample nova.conf with every option and its default.
    Sample,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Category::Config(ConfigCmd::Sample) = args.category {
        print!("{}", nova_common::config::render_sample());
        return ExitCode::SUCCESS;
    }
    let cfg = match args.common.load() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("nova-manage: configuration error: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("nova-manage: {e}");
            return ExitCode::from(EXIT_UNEXPECTED);
        }
    };
    let outcome = match args.category {
        Category::Rabbit(cmd) => run_rabbit(cmd, &cfg).map(|()| 0),
        Category::Db(DbCmd::ArchiveDeletedRows(a)) => {
            rt.block_on(async { archive::archive_deleted_rows(&connect(&cfg).await?, a).await })
        }
        Category::Db(DbCmd::Purge(p)) => {
            rt.block_on(async { archive::purge(&connect(&cfg).await?, p).await })
        }
        Category::Fixed(cmd) => {
            rt.block_on(async { nova_network::fixed(cmd, &connect(&cfg).await?).await })
        }
        other => rt.block_on(run(other, cfg)),
    };
    match outcome {
        Ok(code) => ExitCode::from(code),
        // What Nova's nova-manage reports as "An error has occurred".
        Err(e) => {
            eprintln!("nova-manage: {e}");
            ExitCode::from(EXIT_UNEXPECTED)
        }
    }
}

/// Nova's exit code for a command that failed with an error (an exception
/// in upstream's nova-manage), as opposed to one the command chose.
const EXIT_UNEXPECTED: u8 = 255;

/// The broker commands need no database.
fn run_rabbit(cmd: RabbitCmd, cfg: &NovaConfig) -> Result<(), String> {
    match cmd {
        RabbitCmd::CreateComputeUser { host, password } => {
            rabbit::create_compute_user(cfg, &host, password)
        }
        RabbitCmd::DeleteComputeUser { host } => rabbit::delete_compute_user(&host),
    }
}

/// The database of `[database] connection`, its schema checked.
async fn connect(cfg: &NovaConfig) -> Result<Db, String> {
    let url = cfg.require_database().map_err(|e| e.to_string())?;
    let db = Db::connect(url, 2)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    db.check_schema().await.map_err(|e| e.to_string())?;
    Ok(db)
}

async fn run(cmd: Category, cfg: NovaConfig) -> Result<u8, String> {
    let url = cfg.require_database().map_err(|e| e.to_string())?;
    let db = Db::connect(url, 2)
        .await
        .map_err(|e| format!("cannot connect to the database: {e}"))?;
    match cmd {
        Category::Config(_)
        | Category::Rabbit(_)
        | Category::Fixed(_)
        | Category::Db(DbCmd::ArchiveDeletedRows(_) | DbCmd::Purge(_)) => Ok(0),
        Category::Db(DbCmd::Sync { version, .. }) | Category::ApiDb(ApiDbCmd::Sync { version }) => {
            db.sync(version).await.map_err(|e| e.to_string())?;
            println!(
                "Database schema is at version {}",
                db.version().await.map_err(|e| e.to_string())?
            );
            Ok(0)
        }
        Category::Db(DbCmd::Version) | Category::ApiDb(ApiDbCmd::Version) => {
            println!("{}", db.version().await.map_err(|e| e.to_string())?);
            Ok(0)
        }
        Category::Network(NetworkCmd::Create {
            label,
            fixed_range_v4,
            bridge,
            bridge_interface,
            num_networks,
            network_size,
            dns1,
            dns2,
            project_id,
            multi_host,
            gateway,
            fixed_cidr,
            allowed_start,
            allowed_end,
            uuid,
            priority,
        }) => {
            db.check_schema().await.map_err(|e| e.to_string())?;
            let num = num_networks.unwrap_or(cfg.default.num_networks);
            let used: Vec<String> = db
                .network_get_all()
                .await
                .map_err(|e| e.to_string())?
                .into_iter()
                .map(|n| n.cidr)
                .collect();
            let request = nova_objects::subnets::SubnetRequest {
                range: &fixed_range_v4,
                num_networks: num.max(1) as u64,
                network_size: network_size.map(|s| s.max(1) as u64),
                conf_network_size: cfg.default.network_size.max(1) as u64,
                ipam: false,
            };
            let subnets =
                nova_objects::subnets::carve(&request, &used).map_err(|e| e.to_string())?;
            if let Some(bits) = subnets.capped_to {
                eprintln!(
                    "Subnet(s) too large, defaulting to /{bits}.  To override, specify network_size flag."
                );
            }
            for (i, cidr) in subnets.cidrs.iter().enumerate() {
                let label = if num > 1 {
                    format!("{label}_{i}")
                } else {
                    label.clone()
                };
                let n = db
                    .network_create_safe(&NetworkCreate {
                        label,
                        cidr: cidr.clone(),
                        bridge: bridge
                            .clone()
                            .unwrap_or_else(|| cfg.default.flat_network_bridge.clone()),
                        bridge_interface: bridge_interface.clone().or_else(|| {
                            Some(cfg.default.flat_interface.clone()).filter(|s| !s.is_empty())
                        }),
                        dns1: cfg.default.network_dns1(dns1.clone()),
                        dns2: dns2.clone(),
                        multi_host: nova_common::bool_from_string(&multi_host),
                        project_id: project_id.clone(),
                        uuid,
                        gateway: gateway.clone(),
                        fixed_cidr: fixed_cidr.clone(),
                        allowed_start: allowed_start.clone(),
                        allowed_end: allowed_end.clone(),
                        priority,
                    })
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "Created network {} {} {} bridge {}",
                    n.uuid, n.label, n.cidr, n.bridge
                );
            }
            Ok(0)
        }
        Category::Network(NetworkCmd::List) => {
            let nets = db.network_get_all().await.map_err(|e| e.to_string())?;
            print!("{}", network_list(&nets));
            Ok(0)
        }
        Category::Network(NetworkCmd::Delete { fixed_range, uuid }) => {
            nova_network::delete_network(&db, fixed_range, uuid)
                .await
                .map(|()| 0)
        }
        Category::Network(NetworkCmd::Modify {
            fixed_range,
            project,
            host,
            disassociate_project,
            disassociate_host,
        }) => {
            let m = nova_network::Modify {
                fixed_range,
                project,
                host,
                disassociate_project,
                disassociate_host,
            };
            nova_network::modify_network(&db, m).await
        }
        Category::Vm(VmCmd::List { host }) => nova_network::vm_list(&db, host).await.map(|()| 0),
        Category::CellV2(CellV2Cmd::DiscoverHosts {
            verbose, strict, ..
        }) => {
            db.check_schema().await.map_err(|e| e.to_string())?;
            let services = db.service_get_all().await.map_err(|e| e.to_string())?;
            let computes: Vec<_> = services
                .iter()
                .filter(|s| s.binary == "nova-compute")
                .collect();
            if verbose {
                println!(
                    "This cloud has no cell mappings: a compute host is known once its nova-compute checks in."
                );
                for s in &computes {
                    println!("Compute host '{}' is known.", s.host);
                }
                println!("Found {} compute hosts.", computes.len());
            }
            // --strict: 1 when no host was found, as Nova's.
            if strict && computes.is_empty() {
                return Ok(1);
            }
            Ok(0)
        }
        Category::CellV2(CellV2Cmd::MapCell0 { .. } | CellV2Cmd::SimpleCellSetup { .. }) => {
            println!(
                "This cloud does not use cells v2: one database holds every instance; nothing to set up."
            );
            Ok(0)
        }
        Category::Floating(cmd) => floating(cmd, &db, &cfg).await.map(|()| 0),
        Category::Service(ServiceCmd::List { host }) => {
            let services = db.service_get_all().await.map_err(|e| e.to_string())?;
            let now = Utc::now();
            println!(
                "{:<20} {:<24} {:<10} {:<8} {:<6} Updated_At",
                "Binary", "Host", "Zone", "Status", "State"
            );
            for s in services
                .iter()
                .filter(|s| host.as_ref().is_none_or(|h| h == &s.host))
            {
                let zone = if s.binary == "nova-compute" {
                    &cfg.default.default_availability_zone
                } else {
                    &cfg.default.internal_service_availability_zone
                };
                println!(
                    "{:<20} {:<24} {:<10} {:<8} {:<6} {}",
                    s.binary,
                    s.host,
                    zone,
                    if s.disabled { "disabled" } else { "enabled" },
                    if s.is_up(now, cfg.default.service_down_time) {
                        ":-)"
                    } else {
                        "XXX"
                    },
                    s.last_seen_up
                        .or(s.updated_at)
                        .map(|t| t.to_rfc3339())
                        .unwrap_or_default()
                );
            }
            Ok(0)
        }
        Category::Service(ServiceCmd::Disable {
            host,
            binary,
            reason,
        }) => {
            db.service_set_disabled(&host, &binary, true, reason.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!("Service {binary} on host {host} disabled.");
            Ok(0)
        }
        Category::Service(ServiceCmd::Enable { host, binary }) => {
            db.service_set_disabled(&host, &binary, false, None)
                .await
                .map_err(|e| e.to_string())?;
            println!("Service {binary} on host {host} enabled.");
            Ok(0)
        }
    }
}

/// `nova-manage floating ...` (Nova's `FloatingIpCommands`).
async fn floating(cmd: FloatingCmd, db: &Db, cfg: &NovaConfig) -> Result<(), String> {
    db.check_schema().await.map_err(|e| e.to_string())?;
    match cmd {
        FloatingCmd::Create {
            ip_range,
            pool,
            interface,
        } => {
            let pool = pool.unwrap_or_else(|| cfg.default.default_floating_pool.clone());
            let interface = interface.unwrap_or_else(|| cfg.default.public_interface.clone());
            let ips: Vec<FloatingIpCreate> = address_to_hosts(&ip_range)?
                .into_iter()
                .map(|a| FloatingIpCreate {
                    address: a.to_string(),
                    pool: pool.clone(),
                    interface: interface.clone(),
                })
                .collect();
            db.floating_ip_bulk_create(&ips)
                .await
                .map_err(|e| format!("error: {e}"))?;
            println!(
                "Created {} floating IPs in pool {pool} on interface {interface}",
                ips.len()
            );
            Ok(())
        }
        FloatingCmd::Delete { ip_range } => {
            let addrs: Vec<String> = address_to_hosts(&ip_range)?
                .into_iter()
                .map(|a| a.to_string())
                .collect();
            let n = db
                .floating_ip_bulk_destroy(&addrs)
                .await
                .map_err(|e| e.to_string())?;
            println!("Deleted {n} floating IPs");
            Ok(())
        }
        FloatingCmd::List { host } => {
            let fips = match &host {
                Some(h) => db.floating_ip_get_all_by_host(h).await,
                None => db.floating_ip_get_all().await,
            }
            .map_err(|e| e.to_string())?;
            if fips.is_empty() {
                println!("No floating IP addresses have been defined.");
                return Ok(());
            }
            let none = || "None".to_string();
            for f in fips {
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    f.project_id.unwrap_or_else(none),
                    f.address,
                    f.instance_uuid.map(|u| u.to_string()).unwrap_or_else(none),
                    f.pool.unwrap_or_else(none),
                    f.interface.unwrap_or_else(none),
                );
            }
            Ok(())
        }
    }
}

/// The addresses of `range` (Nova's `address_to_hosts`): one address, or
/// the host addresses of a CIDR (without its network and broadcast
/// addresses); a CIDR of fewer than 4 addresses or a million or more is refused.
fn address_to_hosts(range: &str) -> Result<Vec<std::net::Ipv4Addr>, String> {
    use std::net::Ipv4Addr;
    if let Ok(a) = range.parse::<Ipv4Addr>() {
        return Ok(vec![a]);
    }
    let invalid = |reason: String| format!("Invalid input received: {reason}");
    let (addr, prefix) = range
        .split_once('/')
        .ok_or_else(|| invalid(format!("{range:?} is not an address or a CIDR")))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| invalid(format!("{addr:?} is not an IPv4 address")))?;
    let prefix: u32 = prefix
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| invalid(format!("{prefix:?} is not a prefix length")))?;
    let size: u64 = 1 << (32 - prefix);
    if size < 4 {
        return Err(invalid(format!(
            "/{prefix} should be specified as single address(es) not in cidr format"
        )));
    }
    if size >= 1_000_000 {
        return Err(invalid(format!(
            "Too many IP addresses will be generated.  Please increase /{prefix} to reduce the number generated."
        )));
    }
    let mask = u32::MAX << (32 - prefix);
    let net = u32::from(addr) & mask;
    Ok((net + 1..net | !mask).map(Ipv4Addr::from).collect())
}

/// `network list` as Nova's: tab-separated columns padded as its format
/// (`%-5s\t%-18s\t%-15s...`), Python's `None` for what a network lacks
/// (nova-network's IPv6 and VLANs are not served here), or "No networks
/// found".
fn network_list(nets: &[nova_objects::Network]) -> String {
    let row = |cols: [&str; 9]| {
        let mut line = format!("{:<5}\t{:<18}", cols[0], cols[1]);
        for c in &cols[2..] {
            line.push_str(&format!("\t{c:<15}"));
        }
        line + "\n"
    };
    let mut out = row([
        "id",
        "IPv4",
        "IPv6",
        "start address",
        "DNS1",
        "DNS2",
        "VlanID",
        "project",
        "uuid",
    ]);
    if nets.is_empty() {
        out.push_str("No networks found\n");
    }
    for n in nets {
        let id = n.id.to_string();
        let uuid = n.uuid.to_string();
        out.push_str(&row([
            &id,
            &n.cidr,
            "None",
            &n.dhcp_start,
            n.dns1.as_deref().unwrap_or("None"),
            n.dns2.as_deref().unwrap_or("None"),
            "None",
            n.project_id.as_deref().unwrap_or("None"),
            &uuid,
        ]));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn floating_ranges_are_novas() {
        let hosts = super::address_to_hosts("172.24.4.0/29").expect("cidr");
        assert_eq!(hosts.len(), 6);
        assert_eq!(hosts[0].to_string(), "172.24.4.1");
        assert_eq!(hosts[5].to_string(), "172.24.4.6");
        assert_eq!(super::address_to_hosts("172.24.4.9").expect("one").len(), 1);
        assert!(super::address_to_hosts("172.24.4.0/31").is_err());
        assert!(super::address_to_hosts("10.0.0.0/8").is_err());
        assert!(super::address_to_hosts("nonsense").is_err());
    }

    #[test]
    fn network_list_is_novas_table() {
        assert_eq!(
            super::network_list(&[]),
            "id   \tIPv4              \tIPv6           \tstart address  \tDNS1           \t\
             DNS2           \tVlanID         \tproject        \tuuid           \n\
             No networks found\n"
        );
        let n = nova_objects::Network {
            id: 1,
            cidr: "10.0.0.0/24".into(),
            dhcp_start: "10.0.0.2".into(),
            dns1: Some("8.8.4.4".into()),
            ..Default::default()
        };
        let out = super::network_list(std::slice::from_ref(&n));
        let row: Vec<&str> = out.lines().nth(1).expect("a row").split('\t').collect();
        assert_eq!(
            row.iter().map(|c| c.trim_end()).collect::<Vec<_>>(),
            [
                "1",
                "10.0.0.0/24",
                "None",
                "10.0.0.2",
                "8.8.4.4",
                "None",
                "None",
                "None",
                &n.uuid.to_string()
            ]
        );
        assert_eq!(row[0], "1    ");
        assert_eq!(row[1].len(), 18);
    }
}
