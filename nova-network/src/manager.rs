//! `NetworkManager`: allocate and deallocate fixed IPs and VIFs.

use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_objects::{FixedIpInfo, Network, NetworkInfo, NetworkRef, SubnetInfo, Vif};
use nova_rpc::conductor;
use rand::Rng;
use tracing::info;
use uuid::Uuid;

pub struct NetworkManager {
    conductor: conductor::Client,
    #[allow(dead_code)]
    cfg: NovaConfig,
}

/// Nova's `[DEFAULT] base_mac`: fa:16:3e plus three random bytes.
pub fn generate_mac() -> String {
    let mut rng = rand::rng();
    format!(
        "fa:16:3e:{:02x}:{:02x}:{:02x}",
        rng.random::<u8>(),
        rng.random::<u8>(),
        rng.random::<u8>()
    )
}

fn vif_info(vif_uuid: Uuid, mac: &str, net: &Network, addresses: Vec<String>) -> Vif {
    Vif {
        id: vif_uuid,
        address: mac.to_string(),
        network: NetworkRef {
            id: net.uuid,
            label: net.label.clone(),
            bridge: net.bridge.clone(),
            bridge_interface: net.bridge_interface.clone(),
            should_create_bridge: true,
            subnets: vec![SubnetInfo {
                cidr: net.cidr.clone(),
                gateway: Some(net.gateway.clone()).filter(|g| !g.is_empty()),
                dns: [net.dns1.clone(), net.dns2.clone()]
                    .into_iter()
                    .flatten()
                    .collect(),
                ips: addresses
                    .into_iter()
                    .map(|address| FixedIpInfo {
                        address,
                        ip_type: "fixed".into(),
                        version: 4,
                        floating_ips: vec![],
                    })
                    .collect(),
            }],
        },
        vif_type: "bridge".into(),
        devname: Some(format!("tap{}", &vif_uuid.simple().to_string()[..11])),
    }
}

impl NetworkManager {
    pub fn new(conductor: conductor::Client, cfg: NovaConfig) -> Self {
        NetworkManager { conductor, cfg }
    }

    /// Nova's `init_host` for FlatDHCP: this host serves every network, so
    /// each network's bridge (with its `bridge_interface`) exists and is up.
    /// (The gateway address, dnsmasq and NAT come with DHCP.) A bridge that
    /// cannot be made is logged; compute hosts plug their own as well.
    pub async fn init_host(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        for net in self.conductor.network_get_all(&ctx).await? {
            if net.bridge.is_empty() {
                continue;
            }
            match nova_linux_net::bridge::ensure_bridge(
                &net.bridge,
                net.bridge_interface.as_deref(),
            )
            .await
            {
                Ok(()) => {
                    tracing::info!(network = %net.label, bridge = %net.bridge, "bridge ready")
                }
                Err(e) => tracing::warn!(network = %net.label, "cannot set up the bridge: {e}"),
            }
        }
        Ok(())
    }

    async fn nw_info(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<NetworkInfo, NovaError> {
        let (vifs, ips, nets) = tokio::try_join!(
            self.conductor
                .virtual_interface_get_by_instance(ctx, instance_uuid),
            self.conductor.fixed_ip_get_by_instance(ctx, instance_uuid),
            self.conductor.network_get_all(ctx),
        )?;
        Ok(vifs
            .iter()
            .filter_map(|v| {
                let net = nets.iter().find(|n| n.id == v.network_id)?;
                let addrs = ips
                    .iter()
                    .filter(|ip| ip.virtual_interface_id == Some(v.id))
                    .map(|ip| ip.address.clone())
                    .collect();
                Some(vif_info(v.uuid, &v.address, net, addrs))
            })
            .collect())
    }
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::network::Manager for NetworkManager {
    async fn allocate_for_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        project_id: String,
        host: String,
        requested_networks: Option<Vec<Uuid>>,
    ) -> Result<NetworkInfo, NovaError> {
        // Idempotent: a retried build gets what it was already given.
        let existing = self.nw_info(ctx, instance_uuid).await?;
        if !existing.is_empty() {
            return Ok(existing);
        }
        let all = self.conductor.network_get_all(ctx).await?;
        let networks: Vec<Network> = match &requested_networks {
            Some(req) if !req.is_empty() => {
                let mut v = Vec::new();
                for id in req {
                    let n = all.iter().find(|n| &n.uuid == id).cloned().ok_or_else(|| {
                        NovaError::NetworkNotFound {
                            network_id: id.to_string(),
                        }
                    })?;
                    v.push(n);
                }
                v
            }
            // FlatDHCP: the project's own networks plus the shared ones.
            _ => all
                .into_iter()
                .filter(|n| n.project_id.as_ref().is_none_or(|p| p == &project_id))
                .collect(),
        };
        let mut info = Vec::new();
        for net in &networks {
            let mut vif = None;
            for _ in 0..5 {
                match self
                    .conductor
                    .virtual_interface_create(ctx, instance_uuid, net.id, generate_mac())
                    .await
                {
                    Ok(v) => {
                        vif = Some(v);
                        break;
                    }
                    Err(NovaError::VirtualInterfaceMacAddressException {}) => {}
                    Err(e) => return Err(e),
                }
            }
            let vif = vif.ok_or(NovaError::VirtualInterfaceMacAddressException {})?;
            let ip = match self
                .conductor
                .fixed_ip_associate_pool(ctx, net.id, instance_uuid, Some(host.clone()), vif.id)
                .await
            {
                Ok(ip) => ip,
                Err(e) => {
                    // Give back what this call took before failing.
                    let _ = self
                        .conductor
                        .network_deallocate_instance(ctx, instance_uuid)
                        .await;
                    return Err(e);
                }
            };
            info!(instance = %instance_uuid, address = %ip.address, network = %net.label, "allocated fixed IP");
            info.push(vif_info(vif.uuid, &vif.address, net, vec![ip.address]));
        }
        Ok(info)
    }

    async fn deallocate_for_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        _host: Option<String>,
    ) -> Result<(), NovaError> {
        self.conductor
            .network_deallocate_instance(ctx, instance_uuid)
            .await?;
        info!(instance = %instance_uuid, "deallocated network resources");
        Ok(())
    }

    async fn get_instance_nw_info(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
    ) -> Result<NetworkInfo, NovaError> {
        self.nw_info(ctx, instance_uuid).await
    }

    async fn get_all_networks(&self, ctx: &RequestContext) -> Result<Vec<Network>, NovaError> {
        self.conductor.network_get_all(ctx).await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn macs_use_novas_prefix() {
        let m = super::generate_mac();
        assert!(m.starts_with("fa:16:3e:"), "{m}");
        assert_eq!(m.len(), 17);
    }
}
