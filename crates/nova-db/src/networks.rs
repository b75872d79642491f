//! `networks`, `fixed_ips`, `virtual_interfaces`: nova-network's IPAM tables.

use crate::{db_err, is_unique_violation, parse_uuid, Db};
use nova_common::NovaError;
use nova_objects::{FixedIp, Network, NetworkCreate, VirtualInterface};
use sqlx::postgres::PgRow;
use sqlx::Row;
use std::net::Ipv4Addr;
use uuid::Uuid;

/// One address of `nova-manage fixed list`.
#[derive(Clone, Debug, PartialEq)]
pub struct FixedIpListing {
    /// Its network's CIDR.
    pub cidr: String,
    pub address: String,
    pub holder: FixedIpHolder,
}

/// Who holds a listed address.
#[derive(Clone, Debug, PartialEq)]
pub enum FixedIpHolder {
    Nobody,
    Instance {
        hostname: String,
        host: Option<String>,
    },
    /// An instance that no longer exists.
    Missing(Uuid),
}

fn network_from_row(r: &PgRow) -> Result<Network, sqlx::Error> {
    let s = |c: &str| {
        r.try_get::<Option<String>, _>(c)
            .map(Option::unwrap_or_default)
    };
    Ok(Network {
        id: r.try_get::<i32, _>("id")? as i64,
        uuid: parse_uuid(r.try_get("uuid")?),
        label: s("label")?,
        cidr: s("cidr")?,
        netmask: s("netmask")?,
        gateway: s("gateway")?,
        broadcast: s("broadcast")?,
        dhcp_start: s("dhcp_start")?,
        bridge: s("bridge")?,
        bridge_interface: r.try_get("bridge_interface")?,
        dns1: r.try_get("dns1")?,
        dns2: r.try_get("dns2")?,
        multi_host: r.try_get("multi_host")?,
        project_id: r.try_get("project_id")?,
        host: r.try_get("host")?,
        priority: r.try_get("priority")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub(crate) fn fixed_ip_from_row(r: &PgRow) -> Result<FixedIp, sqlx::Error> {
    Ok(FixedIp {
        id: r.try_get::<i32, _>("id")? as i64,
        address: r.try_get("address")?,
        network_id: r
            .try_get::<Option<i32>, _>("network_id")?
            .unwrap_or_default() as i64,
        virtual_interface_id: r
            .try_get::<Option<i32>, _>("virtual_interface_id")?
            .map(i64::from),
        instance_uuid: r
            .try_get::<Option<String>, _>("instance_uuid")?
            .map(|u| parse_uuid(&u)),
        allocated: r.try_get("allocated")?,
        leased: r.try_get("leased")?,
        reserved: r.try_get("reserved")?,
        host: r.try_get("host")?,
    })
}

fn vif_from_row(r: &PgRow) -> Result<VirtualInterface, sqlx::Error> {
    Ok(VirtualInterface {
        id: r.try_get::<i32, _>("id")? as i64,
        uuid: parse_uuid(r.try_get("uuid")?),
        address: r.try_get("address")?,
        network_id: r
            .try_get::<Option<i32>, _>("network_id")?
            .unwrap_or_default() as i64,
        instance_uuid: r
            .try_get::<Option<String>, _>("instance_uuid")?
            .map(|u| parse_uuid(&u))
            .unwrap_or_default(),
        tag: r.try_get("tag")?,
    })
}

/// The addresses of one IPv4 subnet, as nova-network lays it out: the
/// network address, the gateway (first host) and the broadcast are reserved.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkPlan {
    pub cidr: String,
    pub netmask: Ipv4Addr,
    pub gateway: Ipv4Addr,
    pub broadcast: Ipv4Addr,
    pub dhcp_start: Ipv4Addr,
    pub addresses: Vec<(Ipv4Addr, bool)>,
}

impl NetworkPlan {
    /// Plan `cidr` (e.g. `10.0.0.0/24`).
    pub fn new(cidr: &str) -> Result<Self, String> {
        let (addr, prefix) = cidr
            .split_once('/')
            .ok_or_else(|| format!("{cidr:?} is not a CIDR (a.b.c.d/n)"))?;
        let addr: Ipv4Addr = addr
            .parse()
            .map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        let prefix: u32 = prefix
            .parse()
            .map_err(|_| format!("{prefix:?} is not a prefix length"))?;
        if !(8..=30).contains(&prefix) {
            return Err(format!("prefix /{prefix} must be between /8 and /30"));
        }
        let mask = u32::MAX << (32 - prefix);
        let net = u32::from(addr) & mask;
        let bcast = net | !mask;
        let gateway = net + 1;
        let addresses = (net..=bcast)
            .map(|a| (Ipv4Addr::from(a), a == net || a == gateway || a == bcast))
            .collect();
        Ok(NetworkPlan {
            cidr: format!("{}/{prefix}", Ipv4Addr::from(net)),
            netmask: Ipv4Addr::from(mask),
            gateway: Ipv4Addr::from(gateway),
            broadcast: Ipv4Addr::from(bcast),
            dhcp_start: Ipv4Addr::from(gateway + 1),
            addresses,
        })
    }
}

/// An IPv4 address of a create request.
fn ipv4(a: &str) -> Result<u32, NovaError> {
    a.trim()
        .parse::<Ipv4Addr>()
        .map(u32::from)
        .map_err(|_| NovaError::InvalidAddress {
            address: a.to_string(),
        })
}

impl NetworkPlan {
    /// Nova's `_do_create_networks` for one IPv4 subnet: the gateway (given,
    /// else the first address given out), the DHCP range's start after it,
    /// and the fixed IPs, made for `fixed_cidr` (the whole subnet when
    /// absent), reserved below `allowed_start` (else the network address
    /// and the first host), above `allowed_end` (else the broadcast), and
    /// the gateway's.
    pub fn for_create(n: &NetworkCreate) -> Result<Self, NovaError> {
        let mut plan = Self::new(&n.cidr).map_err(|reason| NovaError::InvalidInput { reason })?;
        let net = u32::from(plan.addresses[0].0);
        let bcast = u32::from(plan.broadcast);
        let size = bcast - net + 1;
        let out_of_range = |address: String| NovaError::AddressOutOfRange {
            address,
            cidr: plan.cidr.clone(),
        };
        let index_of = |a: &str| {
            let ip = ipv4(a)?;
            if ip < net || ip > bcast {
                return Err(out_of_range(a.to_string()));
            }
            Ok(ip - net)
        };
        let (mut bottom, mut top) = (2, 1);
        let mut current = net + 1;
        if let Some(start) = &n.allowed_start {
            bottom = index_of(start)?;
            current = net + bottom;
        }
        if let Some(end) = &n.allowed_end {
            top = size - 1 - index_of(end)?;
        }
        let gateway = match &n.gateway {
            Some(g) => ipv4(g)?,
            None => {
                current += 1;
                current - 1
            }
        };
        // The DHCP server is the gateway (nova-network's `dhcp_server`
        // default); the range starts after it.
        let dhcp_start = if current == gateway {
            current + 1
        } else {
            current
        };
        let (fnet, fbcast) = match &n.fixed_cidr {
            None => (net, bcast),
            Some(fc) => {
                let f = Self::new(fc).map_err(|_| NovaError::InvalidCidr { cidr: fc.clone() })?;
                let (fnet, fbcast) = (u32::from(f.addresses[0].0), u32::from(f.broadcast));
                if fnet < net || fbcast > bcast {
                    return Err(out_of_range(f.cidr));
                }
                (fnet, fbcast)
            }
        };
        let count = fbcast - fnet + 1;
        plan.gateway = Ipv4Addr::from(gateway);
        plan.dhcp_start = Ipv4Addr::from(dhcp_start);
        plan.addresses = (0..count)
            .map(|i| {
                let a = fnet + i;
                (
                    Ipv4Addr::from(a),
                    i < bottom || count - i <= top || a == gateway,
                )
            })
            .collect();
        Ok(plan)
    }
}

impl Db {
    /// Create a network and its fixed IP pool (`nova-manage network create`).
    pub async fn network_create_safe(&self, n: &NetworkCreate) -> Result<Network, NovaError> {
        let plan = NetworkPlan::for_create(n)?;
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let overlap: Option<String> = sqlx::query_scalar(
            "SELECT cidr FROM networks WHERE deleted = 0 AND cidr::cidr && $1::cidr LIMIT 1",
        )
        .bind(&plan.cidr)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        if let Some(other) = overlap {
            return Err(NovaError::CidrConflict {
                cidr: plan.cidr.clone(),
                other,
            });
        }
        let row = sqlx::query(
            "INSERT INTO networks (uuid, label, cidr, netmask, gateway, broadcast, dhcp_start, dhcp_server,
                bridge, bridge_interface, dns1, dns2, multi_host, project_id, priority)
             VALUES ($1,$2,$3,$4,$5,$6,$7,$5,$8,$9,$10,$11,$12,$13,$14) RETURNING *",
        )
        .bind(n.uuid.unwrap_or_else(Uuid::new_v4).to_string())
        .bind(&n.label)
        .bind(&plan.cidr)
        .bind(plan.netmask.to_string())
        .bind(plan.gateway.to_string())
        .bind(plan.broadcast.to_string())
        .bind(plan.dhcp_start.to_string())
        .bind(&n.bridge)
        .bind(&n.bridge_interface)
        .bind(&n.dns1)
        .bind(&n.dns2)
        .bind(n.multi_host)
        .bind(&n.project_id)
        .bind(n.priority)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| match (is_unique_violation(&e), n.uuid) {
            (true, Some(uuid)) => NovaError::InvalidInput {
                reason: format!("a network with uuid {uuid} already exists"),
            },
            _ => db_err(e),
        })?;
        let network = network_from_row(&row).map_err(db_err)?;
        let (addrs, reserved): (Vec<String>, Vec<bool>) = plan
            .addresses
            .iter()
            .map(|(a, r)| (a.to_string(), *r))
            .unzip();
        sqlx::query(
            "INSERT INTO fixed_ips (address, network_id, reserved)
             SELECT a, $2, r FROM unnest($1::varchar[], $3::boolean[]) AS t(a, r)",
        )
        .bind(&addrs)
        .bind(network.id as i32)
        .bind(&reserved)
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(network)
    }

    pub async fn network_get_all(&self) -> Result<Vec<Network>, NovaError> {
        let rows = sqlx::query("SELECT * FROM networks WHERE deleted = 0 ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(db_err)?;
        rows.iter()
            .map(|r| network_from_row(r).map_err(db_err))
            .collect()
    }

    pub async fn network_get_by_uuid(&self, uuid: Uuid) -> Result<Network, NovaError> {
        let row = sqlx::query("SELECT * FROM networks WHERE uuid = $1 AND deleted = 0")
            .bind(uuid.to_string())
            .fetch_optional(&self.pool)
            .await
            .map_err(db_err)?;
        match row {
            Some(r) => network_from_row(&r).map_err(db_err),
            None => Err(NovaError::NetworkNotFound {
                network_id: uuid.to_string(),
            }),
        }
    }

    /// `tag`: the device tag its network was requested with (2.32).
    pub async fn virtual_interface_create(
        &self,
        instance_uuid: Uuid,
        network_id: i64,
        address: &str,
        tag: Option<&str>,
    ) -> Result<VirtualInterface, NovaError> {
        let res = sqlx::query(
            "INSERT INTO virtual_interfaces (uuid, address, network_id, instance_uuid, tag) VALUES ($1,$2,$3,$4,$5) RETURNING *",
        )
        .bind(Uuid::new_v4().to_string())
        .bind(address)
        .bind(network_id as i32)
        .bind(instance_uuid.to_string())
        .bind(tag)
        .fetch_one(&self.pool)
        .await;
        match res {
            Ok(r) => vif_from_row(&r).map_err(db_err),
            Err(e) if is_unique_violation(&e) => {
                Err(NovaError::VirtualInterfaceMacAddressException {})
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// Take a free address of the network for the instance. Addresses never
    /// used come first, then the ones released longest ago, so a released
    /// address is not handed out again at once (stale DHCP leases).
    pub async fn fixed_ip_associate_pool(
        &self,
        network_id: i64,
        instance_uuid: Uuid,
        host: Option<&str>,
        vif_id: i64,
    ) -> Result<FixedIp, NovaError> {
        let row = sqlx::query(
            "UPDATE fixed_ips SET instance_uuid = $2, allocated = TRUE, virtual_interface_id = $3,
                host = $4, updated_at = now()
             WHERE id = (SELECT id FROM fixed_ips
                         WHERE network_id = $1 AND reserved = FALSE AND instance_uuid IS NULL AND deleted = 0
                         ORDER BY updated_at ASC NULLS FIRST, id ASC
                         LIMIT 1 FOR UPDATE SKIP LOCKED)
             RETURNING *",
        )
        .bind(network_id as i32)
        .bind(instance_uuid.to_string())
        .bind(vif_id as i32)
        .bind(host)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => fixed_ip_from_row(&r).map_err(db_err),
            None => Err(NovaError::NoMoreFixedIps {
                net: network_id.to_string(),
            }),
        }
    }

    /// Nova's `fixed_ip_associate`: the address asked for, in `network_id`
    /// and not reserved, given to the instance unless another one has it
    /// (compare-and-set on its row). Asked again by the same instance, it
    /// is the same row.
    pub async fn fixed_ip_associate(
        &self,
        address: &str,
        network_id: i64,
        instance_uuid: Uuid,
        host: Option<&str>,
        vif_id: i64,
    ) -> Result<FixedIp, NovaError> {
        let row = sqlx::query(
            "UPDATE fixed_ips SET instance_uuid = $3, allocated = TRUE, virtual_interface_id = $4,
                host = $5, updated_at = now()
             WHERE address = $1 AND network_id = $2 AND reserved = FALSE AND deleted = 0
               AND (instance_uuid IS NULL OR instance_uuid = $3)
             RETURNING *",
        )
        .bind(address)
        .bind(network_id as i32)
        .bind(instance_uuid.to_string())
        .bind(vif_id as i32)
        .bind(host)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        if let Some(r) = row {
            return fixed_ip_from_row(&r).map_err(db_err);
        }
        let found = self.fixed_ip_get_by_address(address).await?;
        match found.instance_uuid {
            Some(other) if found.network_id == network_id => Err(NovaError::FixedIpAlreadyInUse {
                address: address.to_string(),
                instance_uuid: other.to_string(),
            }),
            _ => Err(NovaError::FixedIpNotFoundForNetwork {
                address: address.to_string(),
                network_uuid: network_id.to_string(),
            }),
        }
    }

    pub async fn fixed_ip_get_by_instance(
        &self,
        instance_uuid: Uuid,
    ) -> Result<Vec<FixedIp>, NovaError> {
        let rows = sqlx::query(
            "SELECT * FROM fixed_ips WHERE instance_uuid = $1 AND deleted = 0 ORDER BY id",
        )
        .bind(instance_uuid.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| fixed_ip_from_row(r).map_err(db_err))
            .collect()
    }

    pub async fn virtual_interface_get_by_instance(
        &self,
        instance_uuid: Uuid,
    ) -> Result<Vec<VirtualInterface>, NovaError> {
        let rows = sqlx::query(
            "SELECT * FROM virtual_interfaces WHERE instance_uuid = $1 AND deleted = 0 ORDER BY id",
        )
        .bind(instance_uuid.to_string())
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| vif_from_row(r).map_err(db_err))
            .collect()
    }

    pub async fn fixed_ip_get_by_address(&self, address: &str) -> Result<FixedIp, NovaError> {
        let row = sqlx::query(
            "SELECT * FROM fixed_ips WHERE address = $1 AND deleted = 0 ORDER BY id LIMIT 1",
        )
        .bind(address)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => fixed_ip_from_row(&r).map_err(db_err),
            None => Err(NovaError::FixedIpNotFoundForAddress {
                address: address.to_string(),
            }),
        }
    }

    /// Reserve or unreserve an address (`os-fixed-ips` actions).
    pub async fn fixed_ip_set_reserved(
        &self,
        address: &str,
        reserved: bool,
    ) -> Result<FixedIp, NovaError> {
        let row = sqlx::query(
            "UPDATE fixed_ips SET reserved = $2, updated_at = now()
             WHERE address = $1 AND deleted = 0 RETURNING *",
        )
        .bind(address)
        .bind(reserved)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => fixed_ip_from_row(&r).map_err(db_err),
            None => Err(NovaError::FixedIpNotFoundForAddress {
                address: address.to_string(),
            }),
        }
    }

    /// The addresses of the networks that exist (`nova-manage fixed
    /// list`, Nova's `fixed_ip_get_all`), or with `host` those of the
    /// instances on that host (`fixed_ip_get_by_host`), in the order they
    /// were made, each with its network's CIDR and the instance holding it.
    pub async fn fixed_ip_list(
        &self,
        host: Option<&str>,
    ) -> Result<Vec<FixedIpListing>, NovaError> {
        let rows = sqlx::query(
            "SELECT n.cidr, f.address, f.instance_uuid, i.uuid AS found, i.hostname, i.host
             FROM fixed_ips f
             JOIN networks n ON n.id = f.network_id AND n.deleted = 0
             LEFT JOIN instances i ON i.uuid = f.instance_uuid AND i.deleted = 0
             WHERE f.deleted = 0 AND ($1::text IS NULL OR i.host = $1)
             ORDER BY f.id",
        )
        .bind(host)
        .fetch_all(&self.pool)
        .await
        .map_err(db_err)?;
        rows.iter()
            .map(|r| {
                let holder: Option<String> = r.try_get("instance_uuid")?;
                let found: Option<String> = r.try_get("found")?;
                Ok(FixedIpListing {
                    cidr: r.try_get::<Option<String>, _>("cidr")?.unwrap_or_default(),
                    address: r.try_get("address")?,
                    holder: match (holder, found) {
                        (None, _) => FixedIpHolder::Nobody,
                        (Some(u), None) => FixedIpHolder::Missing(parse_uuid(&u)),
                        (Some(_), Some(_)) => FixedIpHolder::Instance {
                            hostname: r
                                .try_get::<Option<String>, _>("hostname")?
                                .unwrap_or_default(),
                            host: r.try_get("host")?,
                        },
                    },
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(db_err)
    }

    /// Delete a network and its addresses, unless an address is in use
    /// (Nova's `network_delete_safe`).
    pub async fn network_delete_safe(&self, uuid: Uuid) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        let id: Option<i32> = sqlx::query_scalar(
            "SELECT id FROM networks WHERE uuid = $1 AND deleted = 0 FOR UPDATE",
        )
        .bind(uuid.to_string())
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_err)?;
        let Some(id) = id else {
            return Err(NovaError::NetworkNotFound {
                network_id: uuid.to_string(),
            });
        };
        let in_use: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM fixed_ips WHERE network_id = $1 AND deleted = 0 AND allocated",
        )
        .bind(id)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        if in_use > 0 {
            return Err(NovaError::NetworkInUse {
                network_id: uuid.to_string(),
            });
        }
        sqlx::query("UPDATE fixed_ips SET deleted = id, deleted_at = now() WHERE network_id = $1 AND deleted = 0")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        sqlx::query("UPDATE networks SET deleted = id, deleted_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }

    /// Set or clear the network's host (`os-networks` `associate_host` /
    /// `disassociate_host`).
    pub async fn network_set_host(
        &self,
        uuid: Uuid,
        host: Option<&str>,
    ) -> Result<Network, NovaError> {
        let row = sqlx::query(
            "UPDATE networks SET host = $2, updated_at = now()
             WHERE uuid = $1 AND deleted = 0 RETURNING *",
        )
        .bind(uuid.to_string())
        .bind(host)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => network_from_row(&r).map_err(db_err),
            None => Err(NovaError::NetworkNotFound {
                network_id: uuid.to_string(),
            }),
        }
    }

    /// Set or clear the network's project: `os-networks` `add` and the
    /// disassociate actions.
    pub async fn network_set_project(
        &self,
        uuid: Uuid,
        project_id: Option<&str>,
    ) -> Result<Network, NovaError> {
        let row = sqlx::query(
            "UPDATE networks SET project_id = $2, updated_at = now()
             WHERE uuid = $1 AND deleted = 0 RETURNING *",
        )
        .bind(uuid.to_string())
        .bind(project_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_err)?;
        match row {
            Some(r) => network_from_row(&r).map_err(db_err),
            None => Err(NovaError::NetworkNotFound {
                network_id: uuid.to_string(),
            }),
        }
    }

    /// Release the instance's fixed IPs and soft-delete its VIFs.
    /// One of the instance's fixed IPs back to its network's pool (Nova's
    /// `deallocate_fixed_ip` then `disassociate` for FlatDHCP); its VIF
    /// stays. Another instance's address, or one it does not have, is
    /// `FixedIpNotFoundForSpecificInstance`.
    pub async fn fixed_ip_disassociate(
        &self,
        address: &str,
        instance_uuid: Uuid,
    ) -> Result<(), NovaError> {
        let done = sqlx::query(
            "UPDATE fixed_ips SET instance_uuid = NULL, allocated = FALSE, leased = FALSE,
                virtual_interface_id = NULL, host = NULL, updated_at = now()
             WHERE address = $1 AND instance_uuid = $2 AND deleted = 0",
        )
        .bind(address)
        .bind(instance_uuid.to_string())
        .execute(&self.pool)
        .await
        .map_err(db_err)?;
        if done.rows_affected() == 0 {
            return Err(NovaError::FixedIpNotFoundForSpecificInstance {
                instance_uuid: instance_uuid.to_string(),
                ip: address.to_string(),
            });
        }
        Ok(())
    }

    pub async fn network_deallocate_instance(&self, instance_uuid: Uuid) -> Result<(), NovaError> {
        let mut tx = self.pool.begin().await.map_err(db_err)?;
        sqlx::query(
            "UPDATE fixed_ips SET instance_uuid = NULL, allocated = FALSE, leased = FALSE,
                virtual_interface_id = NULL, host = NULL, updated_at = now()
             WHERE instance_uuid = $1 AND deleted = 0",
        )
        .bind(instance_uuid.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        sqlx::query(
            "UPDATE virtual_interfaces SET deleted = id, deleted_at = now() WHERE instance_uuid = $1 AND deleted = 0",
        )
        .bind(instance_uuid.to_string())
        .execute(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_a_slash_29() {
        let p = NetworkPlan::new("10.1.2.9/29").expect("valid");
        assert_eq!(p.cidr, "10.1.2.8/29");
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 2, 9));
        assert_eq!(p.broadcast, Ipv4Addr::new(10, 1, 2, 15));
        assert_eq!(p.addresses.len(), 8);
        assert_eq!(p.addresses.iter().filter(|(_, r)| !r).count(), 5);
        assert!(NetworkPlan::new("10.0.0.0").is_err());
        assert!(NetworkPlan::new("10.0.0.0/31").is_err());
    }

    fn reserved(p: &NetworkPlan) -> Vec<String> {
        p.addresses
            .iter()
            .filter(|(_, r)| *r)
            .map(|(a, _)| a.to_string())
            .collect()
    }

    #[test]
    fn plans_a_create_as_nova() {
        let create = |f: fn(&mut NetworkCreate)| {
            let mut n = NetworkCreate {
                cidr: "10.1.2.0/28".into(),
                ..Default::default()
            };
            f(&mut n);
            NetworkPlan::for_create(&n)
        };
        // Nothing asked: the first host is the gateway, DHCP starts after it.
        let p = create(|_| {}).expect("plain");
        assert_eq!(p, NetworkPlan::new("10.1.2.0/28").expect("same"));
        assert_eq!(p.dhcp_start, Ipv4Addr::new(10, 1, 2, 2));
        // allowed_start/end: reserved outside them; the gateway is the first
        // address given out.
        let p = create(|n| {
            n.allowed_start = Some("10.1.2.5".into());
            n.allowed_end = Some("10.1.2.10".into());
        })
        .expect("allowed");
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 2, 5));
        assert_eq!(p.dhcp_start, Ipv4Addr::new(10, 1, 2, 6));
        let free: Vec<String> = p
            .addresses
            .iter()
            .filter(|(_, r)| !r)
            .map(|(a, _)| a.to_string())
            .collect();
        assert_eq!(
            free,
            ["10.1.2.6", "10.1.2.7", "10.1.2.8", "10.1.2.9", "10.1.2.10"]
        );
        // A gateway given: reserved, wherever it is; the DHCP range starts
        // at the first host.
        let p = create(|n| n.gateway = Some("10.1.2.14".into())).expect("gateway");
        assert_eq!(p.gateway, Ipv4Addr::new(10, 1, 2, 14));
        assert_eq!(p.dhcp_start, Ipv4Addr::new(10, 1, 2, 1));
        assert_eq!(
            reserved(&p),
            ["10.1.2.0", "10.1.2.1", "10.1.2.14", "10.1.2.15"]
        );
        // fixed_cidr: only its addresses are made.
        let p = create(|n| n.fixed_cidr = Some("10.1.2.8/29".into())).expect("fixed_cidr");
        assert_eq!(p.addresses.len(), 8);
        assert_eq!(p.addresses[0].0, Ipv4Addr::new(10, 1, 2, 8));
        assert_eq!(reserved(&p), ["10.1.2.8", "10.1.2.9", "10.1.2.15"]);
        // Out of the subnet, or not an address.
        for (f, msg) in [
            (
                (|n: &mut NetworkCreate| n.allowed_start = Some("10.1.3.1".into()))
                    as fn(&mut NetworkCreate),
                "10.1.3.1 is not within 10.1.2.0/28.",
            ),
            (
                |n| n.fixed_cidr = Some("10.1.0.0/24".into()),
                "10.1.0.0/24 is not within 10.1.2.0/28.",
            ),
            (
                |n| n.gateway = Some("ten".into()),
                "ten is not a valid IP address.",
            ),
        ] {
            assert_eq!(create(f).expect_err(msg).to_string(), msg);
        }
    }
}
