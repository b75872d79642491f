//! The network API the compute API's handlers use (Nova's
//! `nova/network/api.py` for nova-network): reads from the conductor,
//! floating IP changes by nova-network over RPC, with Nova's rules on who
//! may see which floating IP and network.

use super::API;
use nova_common::{NovaError, NovaResult, RequestContext};
use nova_objects::subnets;
use nova_objects::{FixedIp, FloatingIp, Instance, Network, NetworkCreate, VirtualInterface};
use tracing::debug;
use uuid::Uuid;

/// How a network create asks its range to be cut (the body's
/// `num_networks`, `network_size` and `ipam`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NetworkShape {
    pub num_networks: Option<u64>,
    pub network_size: Option<u64>,
    pub ipam: bool,
}

/// A non-admin may see only their project's floating IPs (and any
/// unallocated one by address): Nova's `authorize_project_context`.
fn authorize_project(ctx: &RequestContext, fip: &FloatingIp) -> NovaResult<()> {
    match &fip.project_id {
        Some(p) if !ctx.is_admin && ctx.project_id.as_deref() != Some(p.as_str()) => {
            Err(NovaError::Forbidden {})
        }
        _ => Ok(()),
    }
}

impl API {
    fn project(ctx: &RequestContext) -> String {
        ctx.project_id.clone().unwrap_or_default()
    }

    // ----- floating IPs -----

    pub async fn get_floating_ip_pools(&self, ctx: &RequestContext) -> NovaResult<Vec<String>> {
        self.conductor.floating_ip_get_pools(ctx).await
    }

    /// By id, as `floating_ip_get` with `project_only`: another project's
    /// floating IP does not exist for a non-admin; a non-integer id is InvalidID.
    pub async fn get_floating_ip(&self, ctx: &RequestContext, id: &str) -> NovaResult<FloatingIp> {
        let n: i64 = id
            .parse()
            .map_err(|_| NovaError::InvalidID { id: id.to_string() })?;
        let fip = self.conductor.floating_ip_get(ctx, n).await?;
        if !ctx.is_admin && fip.project_id != ctx.project_id {
            return Err(NovaError::FloatingIpNotFound { id: id.to_string() });
        }
        Ok(fip)
    }

    pub async fn get_floating_ip_by_address(
        &self,
        ctx: &RequestContext,
        address: &str,
    ) -> NovaResult<FloatingIp> {
        let fip = self
            .conductor
            .floating_ip_get_by_address(ctx, address.to_string())
            .await?;
        authorize_project(ctx, &fip)?;
        Ok(fip)
    }

    pub async fn get_floating_ips_by_project(
        &self,
        ctx: &RequestContext,
    ) -> NovaResult<Vec<FloatingIp>> {
        self.conductor
            .floating_ip_get_all_by_project(ctx, Self::project(ctx))
            .await
    }

    /// The instance the floating address forwards to, if any.
    pub async fn get_instance_id_by_floating_address(
        &self,
        ctx: &RequestContext,
        address: &str,
    ) -> NovaResult<Option<Uuid>> {
        Ok(self
            .get_floating_ip_by_address(ctx, address)
            .await?
            .instance_uuid)
    }

    /// Allocate an address of `pool` (or the default pool) to the caller's project.
    pub async fn allocate_floating_ip(
        &self,
        ctx: &RequestContext,
        pool: Option<String>,
    ) -> NovaResult<FloatingIp> {
        self.network_api
            .allocate_floating_ip(ctx, Self::project(ctx), pool, false)
            .await
    }

    pub async fn associate_floating_ip(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
        floating_address: &str,
        fixed_address: &str,
    ) -> NovaResult<()> {
        let orig = self
            .network_api
            .associate_floating_ip(
                ctx,
                floating_address.to_string(),
                fixed_address.to_string(),
                false,
            )
            .await?;
        if let Some(orig) = orig {
            debug!(instance = %inst.uuid, previous = %orig, address = floating_address, "floating IP re-assigned");
        }
        Ok(())
    }

    pub async fn disassociate_floating_ip(
        &self,
        ctx: &RequestContext,
        address: &str,
    ) -> NovaResult<()> {
        self.network_api
            .disassociate_floating_ip(ctx, address.to_string(), false)
            .await
    }

    /// Disassociate when associated, then give the address back
    /// (Nova's `disassociate_and_release_floating_ip`).
    pub async fn disassociate_and_release_floating_ip(
        &self,
        ctx: &RequestContext,
        fip: &FloatingIp,
    ) -> NovaResult<()> {
        if fip.fixed_ip_id.is_some() {
            match self.disassociate_floating_ip(ctx, &fip.address).await {
                Ok(()) => {}
                Err(NovaError::FloatingIpNotAssociated { .. }) => {
                    debug!(address = %fip.address, "floating IP already disassociated");
                }
                Err(e) => return Err(e),
            }
        }
        self.network_api
            .deallocate_floating_ip(ctx, fip.address.clone(), false)
            .await
    }

    // ----- networks, fixed IPs, VIFs -----

    /// The networks the caller may see: all for an admin, else the
    /// project's own and the shared ones (`project_only='allow_none'`).
    pub async fn get_all_networks(&self, ctx: &RequestContext) -> NovaResult<Vec<Network>> {
        let all = self.conductor.network_get_all(ctx).await?;
        if ctx.is_admin {
            return Ok(all);
        }
        Ok(all
            .into_iter()
            .filter(|n| n.project_id.is_none() || n.project_id == ctx.project_id)
            .collect())
    }

    /// One network by uuid, as the caller may see it.
    pub async fn get_network(&self, ctx: &RequestContext, id: &str) -> NovaResult<Network> {
        let not_found = || NovaError::NetworkNotFound {
            network_id: id.to_string(),
        };
        let uuid = Uuid::parse_str(id).map_err(|_| not_found())?;
        self.get_all_networks(ctx)
            .await?
            .into_iter()
            .find(|n| n.uuid == uuid)
            .ok_or_else(not_found)
    }

    /// The project's own networks only (`os-tenant-networks` for a user;
    /// an admin sees them all, as `get_all` does).
    pub async fn get_tenant_networks(&self, ctx: &RequestContext) -> NovaResult<Vec<Network>> {
        self.get_all_networks(ctx).await
    }

    pub async fn create_network(
        &self,
        ctx: &RequestContext,
        values: NetworkCreate,
        shape: NetworkShape,
    ) -> NovaResult<Network> {
        self.create_networks(ctx, values, shape).await
    }

    /// Nova's `create_networks`: the range cut into networks as
    /// [`subnets::carve`] says (against the networks there are), each made
    /// with its fixed IPs and named `label_N` when there are several; the
    /// first is the answer.
    async fn create_networks(
        &self,
        ctx: &RequestContext,
        values: NetworkCreate,
        shape: NetworkShape,
    ) -> NovaResult<Network> {
        let used: Vec<String> = self
            .conductor
            .network_get_all(ctx)
            .await?
            .into_iter()
            .map(|n| n.cidr)
            .collect();
        let request = subnets::SubnetRequest {
            range: &values.cidr,
            num_networks: shape
                .num_networks
                .unwrap_or(self.cfg.default.num_networks.max(1) as u64),
            network_size: shape.network_size,
            conf_network_size: self.cfg.default.network_size.max(1) as u64,
            ipam: shape.ipam,
        };
        let cut = subnets::carve(&request, &used)?;
        if let Some(bits) = cut.capped_to {
            tracing::warn!(
                "Subnet(s) too large, defaulting to /{bits}.  To override, specify network_size flag."
            );
        }
        let several = cut.cidrs.len() > 1;
        let mut first = None;
        for (i, cidr) in cut.cidrs.into_iter().enumerate() {
            let mut one = values.clone();
            one.cidr = cidr;
            if several {
                one.label = format!("{}_{i}", values.label);
            }
            let made = self.conductor.network_create_safe(ctx, one).await?;
            first.get_or_insert(made);
        }
        first.ok_or_else(|| NovaError::InvalidInput {
            reason: "no network to create".into(),
        })
    }

    /// `os-networks` delete (nova-network's API `delete`): a network still
    /// given to a project is in use (disassociate it first), as is one with
    /// addresses allocated.
    pub async fn delete_network(&self, ctx: &RequestContext, id: &str) -> NovaResult<()> {
        let net = self.get_network(ctx, id).await?;
        if net.project_id.is_some() {
            return Err(NovaError::NetworkInUse {
                network_id: id.to_string(),
            });
        }
        self.conductor.network_delete_safe(ctx, net.uuid).await
    }

    /// `os-tenant-networks` create (Nova's tenant network `create` →
    /// `network_api.create`): a network of the caller's project, which must
    /// hold at least two usable addresses; an overlapping range is a
    /// CidrConflict.
    pub async fn create_tenant_network(
        &self,
        ctx: &RequestContext,
        mut values: NetworkCreate,
        shape: NetworkShape,
    ) -> NovaResult<Network> {
        let size = values
            .cidr
            .split_once('/')
            .and_then(|(_, p)| p.parse::<u32>().ok())
            .filter(|p| *p <= 32)
            .map(|p| 1u64 << (32 - p));
        match size {
            None => {
                return Err(NovaError::InvalidInput {
                    reason: "Address could not be converted.".into(),
                })
            }
            Some(n) if n < 4 => {
                return Err(NovaError::InvalidInput {
                    reason: "Requested network does not contain enough (2+) usable hosts".into(),
                })
            }
            Some(_) => {}
        }
        values.project_id = ctx.project_id.clone();
        self.create_networks(ctx, values, shape).await
    }

    /// `os-tenant-networks` delete (Nova's disassociate, then delete): a
    /// user deletes only a network of its own project (a shared one is not
    /// found); NetworkInUse while addresses are allocated. The row goes
    /// with its project and host, so it is never left disassociated.
    pub async fn delete_tenant_network(&self, ctx: &RequestContext, id: &str) -> NovaResult<()> {
        let net = self.get_network(ctx, id).await?;
        if !ctx.is_admin && net.project_id != ctx.project_id {
            return Err(NovaError::NetworkNotFound {
                network_id: id.to_string(),
            });
        }
        self.conductor.network_delete_safe(ctx, net.uuid).await
    }

    /// Give the network to `project`, or make it shared (None).
    pub async fn associate_network_project(
        &self,
        ctx: &RequestContext,
        id: &str,
        project: Option<String>,
    ) -> NovaResult<Network> {
        let net = self.get_network(ctx, id).await?;
        self.conductor
            .network_set_project(ctx, net.uuid, project)
            .await
    }

    /// Give the network to `host`, or to none.
    pub async fn associate_network_host(
        &self,
        ctx: &RequestContext,
        id: &str,
        host: Option<String>,
    ) -> NovaResult<Network> {
        let net = self.get_network(ctx, id).await?;
        self.conductor.network_set_host(ctx, net.uuid, host).await
    }

    /// `os-networks` `add`: the given network (a shared one, with no id) to
    /// the caller's project (NoMoreNetworks → 400 when none is free).
    pub async fn add_network_to_project(
        &self,
        ctx: &RequestContext,
        id: Option<&str>,
    ) -> NovaResult<Network> {
        let all = self.conductor.network_get_all(ctx).await?;
        let net = match id {
            Some(id) => {
                let uuid = Uuid::parse_str(id).ok();
                all.into_iter()
                    .find(|n| Some(n.uuid) == uuid)
                    .ok_or_else(|| NovaError::NetworkNotFound {
                        network_id: id.to_string(),
                    })?
            }
            None => all
                .into_iter()
                .find(|n| n.project_id.is_none())
                .ok_or_else(|| NovaError::InvalidRequest {
                    reason: "No more available networks.".into(),
                })?,
        };
        self.conductor
            .network_set_project(ctx, net.uuid, ctx.project_id.clone())
            .await
    }

    pub async fn get_fixed_ip_by_address(
        &self,
        ctx: &RequestContext,
        address: &str,
    ) -> NovaResult<FixedIp> {
        if address.parse::<std::net::IpAddr>().is_err() {
            return Err(NovaError::FixedIpInvalid {
                address: address.to_string(),
            });
        }
        self.conductor
            .fixed_ip_get_by_address(ctx, address.to_string())
            .await
    }

    pub async fn set_fixed_ip_reserved(
        &self,
        ctx: &RequestContext,
        address: &str,
        reserved: bool,
    ) -> NovaResult<FixedIp> {
        self.get_fixed_ip_by_address(ctx, address).await?;
        self.conductor
            .fixed_ip_set_reserved(ctx, address.to_string(), reserved)
            .await
    }

    pub async fn get_vifs_by_instance(
        &self,
        ctx: &RequestContext,
        inst: &Instance,
    ) -> NovaResult<Vec<VirtualInterface>> {
        self.conductor
            .virtual_interface_get_by_instance(ctx, inst.uuid)
            .await
    }

    /// The network of `network_id` (the table id), for views.
    pub async fn networks_by_id(
        &self,
        ctx: &RequestContext,
    ) -> NovaResult<std::collections::HashMap<i64, Network>> {
        Ok(self
            .conductor
            .network_get_all(ctx)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect())
    }
}
