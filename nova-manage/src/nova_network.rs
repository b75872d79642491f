//! nova-network's operator commands besides create and list (Nova 12's
//! `nova-manage fixed`, `network delete`/`modify` and `vm list`), on the
//! database as upstream's, with their output and exit codes: `fixed` prints
//! "error: <reason>" and exits 2 for an address or addresses it cannot
//! find; the others exit 1 on an error.

use clap::Subcommand;
use nova_common::NovaError;
use nova_db::{Db, FixedIpHolder};
use nova_objects::{InstanceAttr, InstanceFilters, Network};

/// `fixed`'s exit code for what it cannot find (Nova's `return(2)`).
const EXIT_NOT_FOUND: u8 = 2;

#[derive(Subcommand)]
pub enum FixedCmd {
    /// List the fixed IPs of every network (with --host, those of the
    /// instances on that host): network, address, instance hostname, host.
    List {
        #[arg(long)]
        host: Option<String>,
    },
    /// Reserve a fixed IP: nova-network stops handing it out.
    Reserve {
        #[arg(long)]
        address: String,
    },
    /// Return a reserved fixed IP to its network's pool.
    Unreserve {
        #[arg(long)]
        address: String,
    },
}

/// `fixed <cmd>`: its exit code.
pub async fn fixed(cmd: FixedCmd, db: &Db) -> Result<u8, String> {
    db.check_schema().await.map_err(|e| e.to_string())?;
    match cmd {
        FixedCmd::List { host } => {
            let ips = db
                .fixed_ip_list(host.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            if ips.is_empty() && host.is_none() {
                // Nova's `fixed_ip_get_all` (NoFixedIpsDefined).
                println!("error: Zero fixed ips could be found.");
                return Ok(EXIT_NOT_FOUND);
            }
            println!(
                "{:<18}\t{:<15}\t{:<15}\thost",
                "network", "IP address", "hostname"
            );
            for ip in &ips {
                // Python's None where there is no value, as upstream prints.
                let (hostname, host) = match &ip.holder {
                    FixedIpHolder::Instance { hostname, host } => {
                        (hostname.clone(), host.clone().unwrap_or("None".into()))
                    }
                    FixedIpHolder::Missing(uuid) => {
                        println!(
                            "WARNING: fixed ip {} allocated to missing instance {uuid}",
                            ip.address
                        );
                        ("None".into(), "None".into())
                    }
                    FixedIpHolder::Nobody => ("None".into(), "None".into()),
                };
                println!(
                    "{:<18}\t{:<15}\t{:<15}\t{}",
                    ip.cidr, ip.address, hostname, host
                );
            }
            if ips.is_empty() {
                println!("No fixed IP found.");
            }
            Ok(0)
        }
        FixedCmd::Reserve { address } => set_reserved(db, &address, true).await,
        FixedCmd::Unreserve { address } => set_reserved(db, &address, false).await,
    }
}

async fn set_reserved(db: &Db, address: &str, reserved: bool) -> Result<u8, String> {
    if address.parse::<std::net::IpAddr>().is_err() {
        return Err(NovaError::FixedIpInvalid {
            address: address.to_string(),
        }
        .to_string());
    }
    match db.fixed_ip_set_reserved(address, reserved).await {
        Ok(_) => Ok(0),
        Err(e @ NovaError::FixedIpNotFoundForAddress { .. }) => {
            println!("error: {e}");
            Ok(EXIT_NOT_FOUND)
        }
        Err(e) => Err(e.to_string()),
    }
}

/// The live network of `cidr` (Nova's `network_get_by_cidr`).
async fn network_by_cidr(db: &Db, cidr: &str) -> Result<Network, String> {
    let nets = db.network_get_all().await.map_err(|e| e.to_string())?;
    nets.into_iter().find(|n| n.cidr == cidr).ok_or_else(|| {
        NovaError::NetworkNotFoundForCidr {
            cidr: cidr.to_string(),
        }
        .to_string()
    })
}

/// `network delete` (nova-network's `delete_network`): by uuid, else by
/// CIDR; a network still given to a project must be disassociated first,
/// and one with addresses allocated is in use.
pub async fn delete_network(
    db: &Db,
    fixed_range: Option<String>,
    uuid: Option<String>,
) -> Result<(), String> {
    db.check_schema().await.map_err(|e| e.to_string())?;
    let net = match (uuid, fixed_range) {
        (Some(u), _) => {
            let id = uuid::Uuid::parse_str(&u).map_err(|_| {
                NovaError::NetworkNotFound {
                    network_id: u.clone(),
                }
                .to_string()
            })?;
            db.network_get_by_uuid(id)
                .await
                .map_err(|e| e.to_string())?
        }
        (None, Some(cidr)) => network_by_cidr(db, &cidr).await?,
        (None, None) => return Err("Please specify either fixed_range or uuid".into()),
    };
    if let Some(project_id) = net.project_id {
        return Err(NovaError::NetworkHasProject { project_id }.to_string());
    }
    db.network_delete_safe(net.uuid)
        .await
        .map_err(|e| e.to_string())?;
    println!("Deleted network {} {} {}", net.uuid, net.label, net.cidr);
    Ok(())
}

/// What `network modify` sets: a value to set, a flag to clear, or
/// neither to leave it.
pub struct Modify {
    pub fixed_range: String,
    pub project: Option<String>,
    pub host: Option<String>,
    pub disassociate_project: bool,
    pub disassociate_host: bool,
}

/// `network modify`: associate the network of a CIDR with a project and/or
/// a host, or disassociate it; clearing and setting at once is refused
/// (exit 1), as upstream's.
pub async fn modify_network(db: &Db, m: Modify) -> Result<u8, String> {
    db.check_schema().await.map_err(|e| e.to_string())?;
    let net = network_by_cidr(db, &m.fixed_range).await?;
    if (m.disassociate_project || m.disassociate_host) && (m.project.is_some() || m.host.is_some())
    {
        println!("ERROR: Unexpected arguments provided. Please use separate commands.");
        return Ok(1);
    }
    let project = if m.disassociate_project {
        Some(None)
    } else {
        m.project.map(Some)
    };
    let host = if m.disassociate_host {
        Some(None)
    } else {
        m.host.map(Some)
    };
    if let Some(p) = project {
        db.network_set_project(net.uuid, p.as_deref())
            .await
            .map_err(|e| e.to_string())?;
    }
    if let Some(h) = host {
        db.network_set_host(net.uuid, h.as_deref())
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(0)
}

/// `vm list`: every live instance (with --host, those on that host), as
/// Nova 12's columns.
pub async fn vm_list(db: &Db, host: Option<String>) -> Result<(), String> {
    db.check_schema().await.map_err(|e| e.to_string())?;
    let instances = db
        .instance_get_all_by_filters(&InstanceFilters {
            host,
            expected_attrs: Some(vec![InstanceAttr::Flavor]),
            ..Default::default()
        })
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{:<10} {:<15} {:<10} {:<10} {:<26} {:<9} {:<9} {:<9}  {:<10} {:<10} {:<10} {:<5}",
        "instance",
        "node",
        "type",
        "state",
        "launched",
        "image",
        "kernel",
        "ramdisk",
        "project",
        "user",
        "zone",
        "index"
    );
    let none = || "None".to_string();
    for i in instances {
        println!(
            "{:<10} {:<15} {:<10} {:<10} {:<26} {:<9} {:<9} {:<9} {:<10} {:<10} {:<10} {:<5}",
            i.display_name,
            i.host.clone().unwrap_or_else(none),
            i.flavor.name,
            i.vm_state.as_str(),
            i.launched_at
                .map(|t| t.format("%Y-%m-%d %H:%M:%S%.6f%:z").to_string())
                .unwrap_or_else(none),
            i.image_ref,
            i.kernel_id,
            i.ramdisk_id,
            i.project_id,
            i.user_id,
            i.availability_zone.clone().unwrap_or_else(none),
            i.launch_index
        );
    }
    Ok(())
}
