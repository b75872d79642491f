//! `NetworkManager`: allocate and deallocate fixed IPs and VIFs.

use nova_common::{NovaConfig, NovaError, RequestContext};
use nova_linux_net::dnsmasq::{self, DhcpHost, DhcpNetwork, DnsmasqOptions};
use nova_linux_net::iptables::{self, IptablesManager};
use nova_objects::{
    FixedIpInfo, FloatingIp, InstanceFilters, Network, NetworkInfo, NetworkRef, NetworkRequest,
    SubnetInfo, Vif, VirtualInterface,
};
use nova_rpc::conductor;
use rand::Rng;
use std::collections::BTreeMap;
use tracing::{info, warn};
use uuid::Uuid;

/// The static leases of one network: address → (instance, lease).
type Leases = BTreeMap<String, (Uuid, DhcpHost)>;

pub struct NetworkManager {
    pub(crate) conductor: conductor::Client,
    /// To ask compute hosts for firewall refreshes when members of security groups come and go.
    compute_rpcapi: nova_rpc::compute::Client,
    cfg: NovaConfig,
    /// `[DEFAULT] host`: the network host floating IPs are associated on.
    pub(crate) host: String,
    pub(crate) public_interface: String,
    pub(crate) default_floating_pool: String,
    auto_assign_floating_ip: bool,
    /// Orders floating IP (dis)associations (Nova synchronizes them per address).
    pub(crate) floating_lock: tokio::sync::Mutex<()>,
    dnsmasq: DnsmasqOptions,
    /// nova-network's iptables rules (Nova's `linux_net.iptables_manager`
    /// in this process; chains named after the binary, see
    /// [`iptables::binary_name`]). Whoever changes them (the networks'
    /// NAT and metadata rules here, floating IPs) holds the lock while
    /// adding or removing rules and applying: see [`Self::iptables`].
    iptables: tokio::sync::Mutex<IptablesManager>,
    /// Per network id, the leases its dnsmasq hands out: rebuilt from the
    /// database at start, then kept by allocate and deallocate. The lock
    /// also orders the hosts file writes and the SIGHUPs.
    leases: tokio::sync::Mutex<BTreeMap<i64, Leases>>,
}

fn dhcp_network(net: &Network) -> DhcpNetwork {
    DhcpNetwork {
        label: net.label.clone(),
        bridge: net.bridge.clone(),
        cidr: net.cidr.clone(),
        netmask: net.netmask.clone(),
        gateway: net.gateway.clone(),
        dhcp_start: net.dhcp_start.clone(),
    }
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
        let d = &cfg.default;
        let dnsmasq = DnsmasqOptions {
            networks_path: d.networks_path.clone().into(),
            dhcp_lease_time: d.dhcp_lease_time,
            dhcp_domain: cfg.api.dhcp_domain.clone(),
            dnsmasq_config_file: d.dnsmasq_config_file.clone(),
            dns_server: d.dns_server.clone(),
            dhcp_script: None,
        };
        NetworkManager {
            compute_rpcapi: nova_rpc::compute::Client::new(conductor.transport().clone()),
            conductor,
            host: d.host.clone(),
            public_interface: d.public_interface.clone(),
            default_floating_pool: d.default_floating_pool.clone(),
            auto_assign_floating_ip: d.auto_assign_floating_ip,
            floating_lock: Default::default(),
            iptables: tokio::sync::Mutex::new(IptablesManager::new(&iptables::binary_name())),
            cfg,
            dnsmasq,
            leases: Default::default(),
        }
    }

    /// The iptables manager: lock it, add or remove rules, then `apply()`
    /// (all of the binary's rules are rewritten atomically).
    pub fn iptables(&self) -> &tokio::sync::Mutex<IptablesManager> {
        &self.iptables
    }

    /// Add a network's rules (Nova's `LinuxNetL3.initialize_network`,
    /// `metadata_forward` and the bridge's filtering and dnsmasq rules) to
    /// `m`: SNAT of its range to `routing_source_ip` out of
    /// `public_interface`, the metadata host, `dmz_cidr` and in-range
    /// exceptions, the 169.254.169.254 forward for guests on its bridge,
    /// the bridge's FORWARD accepts and DHCP/DNS to its dnsmasq.
    fn network_rules(&self, m: &mut IptablesManager, net: &Network) {
        let d = &self.cfg.default;
        if net.cidr.is_empty() {
            return;
        }
        if !d.routing_source_ip.is_empty() {
            iptables::add_snat_rule(
                m,
                &net.cidr,
                &d.routing_source_ip,
                Some(d.public_interface.as_str()),
            );
        }
        iptables::init_host_rules(m, &net.cidr, &d.metadata_host, &d.dmz_cidr);
        if !net.bridge.is_empty() {
            iptables::metadata_forward(m, &d.metadata_host, d.metadata_port, Some(&net.bridge));
            iptables::gateway_rules(
                m,
                &net.bridge,
                &d.forward_bridge_interface,
                &d.iptables_drop_action,
            );
            iptables::dnsmasq_rules(m, &net.bridge);
        }
    }

    /// Make sure `nets`' rules are in place; applies only when something
    /// was missing (a network created since the start).
    async fn ensure_network_rules(&self, nets: &[&Network]) {
        let mut m = self.iptables.lock().await;
        let before = m.clone();
        for net in nets {
            self.network_rules(&mut m, net);
        }
        if *m != before {
            if let Err(e) = m.apply().await {
                warn!("cannot apply the iptables rules: {e}");
            }
        }
    }

    /// Every network's rules and the metadata accept, applied at start
    /// (what a restarted nova-network puts back).
    async fn init_iptables(&self, nets: &[Network]) {
        let d = &self.cfg.default;
        let mut m = self.iptables.lock().await;
        for net in nets {
            self.network_rules(&mut m, net);
        }
        iptables::metadata_accept(&mut m, &d.metadata_host, d.metadata_port);
        match m.apply().await {
            Ok(()) => info!(binary = %m.binary(), "iptables rules applied"),
            Err(e) => warn!("cannot apply the iptables rules: {e}"),
        }
    }

    /// Nova's `init_host` for FlatDHCP: IPv4 forwarding on and the metadata
    /// address on `lo` (each written only when missing); this host serves every network, so
    /// each network's bridge (with its `bridge_interface`) exists, is up and
    /// has the gateway address, and its dnsmasq serves the leases the
    /// database holds (started, or reloaded when it survived a restart).
    /// What cannot be set up is logged: the API and the addresses work
    /// without it, only the guests' DHCP does not.
    pub async fn init_host(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let nets = self.conductor.network_get_all(&ctx).await?;
        let leases = self.leases_from_db(&ctx, &nets).await?;
        // The host routes its guests' traffic and answers 169.254.169.254
        // (Nova's `_enable_ipv4_forwarding` and `ensure_metadata_ip`).
        if let Err(e) = nova_linux_net::host::enable_ipv4_forwarding() {
            warn!("cannot enable IPv4 forwarding: {e}");
        }
        if let Err(e) = nova_linux_net::host::ensure_metadata_ip().await {
            warn!("cannot add the metadata address to lo: {e}");
        }
        self.init_iptables(&nets).await;
        let mut all = self.leases.lock().await;
        *all = leases;
        for net in &nets {
            if net.bridge.is_empty() {
                continue;
            }
            if let Err(e) = self.set_up_network(net, all.get(&net.id)).await {
                warn!(network = %net.label, bridge = %net.bridge, "cannot set up the network on this host: {e}");
            }
        }
        drop(all);
        if let Err(e) = self.init_host_floating_ips().await {
            warn!("cannot restore the floating IPs on this host: {e}");
        }
        Ok(())
    }

    async fn set_up_network(
        &self,
        net: &Network,
        leases: Option<&Leases>,
    ) -> Result<(), nova_linux_net::LinuxNetError> {
        use nova_linux_net::bridge;
        bridge::ensure_bridge(&net.bridge, net.bridge_interface.as_deref()).await?;
        if !net.gateway.is_empty() {
            bridge::initialize_gateway_device(
                &net.bridge,
                &net.gateway,
                &net.netmask,
                &net.broadcast,
            )
            .await?;
        }
        info!(network = %net.label, bridge = %net.bridge, "bridge ready");
        self.restart_dhcp(net, leases).await
    }

    async fn restart_dhcp(
        &self,
        net: &Network,
        leases: Option<&Leases>,
    ) -> Result<(), nova_linux_net::LinuxNetError> {
        if net.bridge.is_empty() || net.gateway.is_empty() {
            return Ok(());
        }
        let hosts: Vec<DhcpHost> = leases
            .map(|l| l.values().map(|(_, h)| h.clone()).collect())
            .unwrap_or_default();
        dnsmasq::restart_dhcp(&dhcp_network(net), &hosts, &self.dnsmasq).await
    }

    /// Every network's leases, from the instances' VIFs and fixed IPs.
    async fn leases_from_db(
        &self,
        ctx: &RequestContext,
        nets: &[Network],
    ) -> Result<BTreeMap<i64, Leases>, NovaError> {
        let mut out: BTreeMap<i64, Leases> = BTreeMap::new();
        let instances = self
            .conductor
            .instance_get_all_by_filters(ctx, InstanceFilters::default())
            .await?;
        for inst in instances {
            let (vifs, ips) = tokio::try_join!(
                self.conductor
                    .virtual_interface_get_by_instance(ctx, inst.uuid),
                self.conductor.fixed_ip_get_by_instance(ctx, inst.uuid),
            )?;
            for ip in ips {
                let Some(vif) = vifs.iter().find(|v| Some(v.id) == ip.virtual_interface_id) else {
                    continue;
                };
                if !nets.iter().any(|n| n.id == ip.network_id) {
                    continue;
                }
                out.entry(ip.network_id).or_default().insert(
                    ip.address.clone(),
                    (
                        inst.uuid,
                        DhcpHost {
                            mac: vif.address.clone(),
                            hostname: inst.hostname.clone(),
                            address: ip.address,
                        },
                    ),
                );
            }
        }
        Ok(out)
    }

    /// Record leases for `instance_uuid` and reload the networks' dnsmasq
    /// (Nova's `update_dhcp` after an allocation). A failure to reload is
    /// logged: the address is allocated either way.
    async fn add_leases(&self, nets: &[&Network], instance_uuid: Uuid, new: Vec<(i64, DhcpHost)>) {
        let mut all = self.leases.lock().await;
        for (net_id, host) in new {
            all.entry(net_id)
                .or_default()
                .insert(host.address.clone(), (instance_uuid, host));
        }
        for net in nets {
            if let Err(e) = self.restart_dhcp(net, all.get(&net.id)).await {
                warn!(network = %net.label, "cannot update DHCP: {e}");
            }
        }
    }

    /// Take the instance's leases out of its networks' hosts files (dnsmasq
    /// reloaded) and, with `force_dhcp_release`, end the leases dnsmasq gave
    /// (Nova's `_teardown_network_on_host` and `release_dhcp`). A failure is
    /// logged: the address is released either way.
    /// A new VIF of the instance on the network, with a MAC no other VIF
    /// has (a few tries, as Nova's `_add_virtual_interface`).
    async fn create_vif(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        network_id: i64,
        tag: Option<String>,
    ) -> Result<VirtualInterface, NovaError> {
        for _ in 0..5 {
            match self
                .conductor
                .virtual_interface_create(
                    ctx,
                    instance_uuid,
                    network_id,
                    generate_mac(),
                    tag.clone(),
                )
                .await
            {
                Err(NovaError::VirtualInterfaceMacAddressException {}) => {}
                other => return other,
            }
        }
        Err(NovaError::VirtualInterfaceMacAddressException {})
    }

    /// With `only`, just the lease of that address.
    async fn remove_leases(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        only: Option<&str>,
    ) -> Result<(), NovaError> {
        let mut all = self.leases.lock().await;
        let goes = |uuid: &Uuid, host: &DhcpHost| {
            *uuid == instance_uuid && only.is_none_or(|a| a == host.address)
        };
        if !all
            .values()
            .any(|l| l.values().any(|(uuid, host)| goes(uuid, host)))
        {
            return Ok(());
        }
        let nets = self.conductor.network_get_all(ctx).await?;
        let mut removed: BTreeMap<i64, Vec<DhcpHost>> = BTreeMap::new();
        for (net_id, leases) in all.iter_mut() {
            leases.retain(|_, (uuid, host)| {
                let keep = !goes(uuid, host);
                if !keep {
                    removed.entry(*net_id).or_default().push(host.clone());
                }
                keep
            });
        }
        for net in nets.iter().filter(|n| removed.contains_key(&n.id)) {
            if let Err(e) = self.restart_dhcp(net, all.get(&net.id)).await {
                warn!(network = %net.label, "cannot update DHCP: {e}");
            }
            if !self.cfg.default.force_dhcp_release || net.bridge.is_empty() {
                continue;
            }
            for host in &removed[&net.id] {
                if let Err(e) = dnsmasq::release_dhcp(&net.bridge, &host.address, &host.mac).await {
                    warn!(network = %net.label, address = %host.address, "cannot release the DHCP lease: {e}");
                }
            }
        }
        Ok(())
    }

    pub(crate) async fn nw_info(
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
        let info = vifs
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
            .collect::<NetworkInfo>();
        // Each fixed IP's floating IPs.
        let mut info = info;
        for ip in &ips {
            let floating = self
                .conductor
                .floating_ip_get_by_fixed_ip_id(ctx, ip.id)
                .await?;
            if floating.is_empty() {
                continue;
            }
            for vif in info.iter_mut() {
                for subnet in vif.network.subnets.iter_mut() {
                    for fixed in subnet.ips.iter_mut().filter(|f| f.address == ip.address) {
                        fixed.floating_ips = floating.iter().map(|f| f.address.clone()).collect();
                    }
                }
            }
        }
        Ok(info)
    }
}

impl NetworkManager {
    /// Nova's `_do_trigger_security_group_members_refresh_for_instance`:
    /// the instance's addresses came or went, so every instance with a rule
    /// granting from one of its security groups gets its firewall refreshed
    /// on its host. Failures are logged: the allocation stands.
    /// It runs after the allocation or deallocation has answered (its
    /// reads and casts are off the build's and the delete's critical path).
    fn trigger_security_group_members_refresh(&self, ctx: &RequestContext, instance_uuid: Uuid) {
        let conductor = self.conductor.clone();
        let compute_rpcapi = self.compute_rpcapi.clone();
        let ctx = ctx.clone();
        tokio::spawn(async move {
            refresh_security_group_members(&conductor, &compute_rpcapi, &ctx, instance_uuid).await;
        });
    }
}

/// See [`NetworkManager::trigger_security_group_members_refresh`].
async fn refresh_security_group_members(
    conductor: &conductor::Client,
    compute_rpcapi: &nova_rpc::compute::Client,
    ctx: &RequestContext,
    instance_uuid: Uuid,
) {
    let groups = match conductor
        .security_group_get_by_instance(ctx, instance_uuid)
        .await
    {
        Ok(g) if !g.is_empty() => g,
        Ok(_) => return,
        Err(e) => {
            warn!(instance = %instance_uuid, "cannot read the instance's security groups: {e}");
            return;
        }
    };
    let ids = groups.iter().map(|g| g.id).collect();
    let granting = match conductor
        .instance_get_all_by_grantee_security_group_ids(ctx, ids)
        .await
    {
        Ok(i) => i,
        Err(e) => {
            warn!(instance = %instance_uuid, "cannot list the instances granting from its groups: {e}");
            return;
        }
    };
    for inst in granting {
        let Some(host) = inst.host.clone().filter(|h| !h.is_empty()) else {
            continue;
        };
        let uuid = inst.uuid;
        let compute = compute_rpcapi.to_server(&host);
        if let Err(e) = compute.refresh_instance_security_rules(ctx, inst).await {
            warn!(instance = %uuid, %host, "cannot ask for a firewall refresh: {e}");
        }
    }
}

/// Whether the project may put an instance on the network: its own and the
/// shared ones (Nova's `project_only="allow_none"`); for a request that
/// names it, an admin any.
fn usable_by(n: &Network, project_id: &str, named_by_admin: bool) -> bool {
    named_by_admin || n.project_id.as_deref().is_none_or(|p| p == project_id)
}

/// A network an instance gets, with the address asked for in it and the
/// device tag of its interface there.
struct WantedNetwork {
    network: Network,
    address: Option<String>,
    tag: Option<String>,
}

/// The networks an instance gets: those requested, in order, where the project may use them (its own and
/// the shared ones; an admin any), else (FlatDHCP) all of the project's own
/// and the shared ones (Nova's `_get_networks_for_instance`).
fn requested_or_project_networks(
    ctx: &RequestContext,
    all: Vec<Network>,
    project_id: &str,
    requested: &[NetworkRequest],
) -> Result<Vec<WantedNetwork>, NovaError> {
    if requested.is_empty() {
        return Ok(all
            .into_iter()
            .filter(|n| usable_by(n, project_id, false))
            .map(|network| WantedNetwork {
                network,
                address: None,
                tag: None,
            })
            .collect());
    }
    requested
        .iter()
        .map(|r| {
            all.iter()
                .find(|n| n.uuid == r.network_id && usable_by(n, project_id, ctx.is_admin))
                .map(|n| WantedNetwork {
                    network: n.clone(),
                    address: r.address.clone(),
                    tag: r.tag.clone(),
                })
                .ok_or_else(|| NovaError::NetworkNotFound {
                    network_id: r.network_id.to_string(),
                })
        })
        .collect()
}

#[nova_rpc::__private::async_trait]
impl nova_rpc::network::Manager for NetworkManager {
    async fn allocate_for_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        project_id: String,
        host: String,
        requested_networks: Option<Vec<NetworkRequest>>,
    ) -> Result<NetworkInfo, NovaError> {
        // Idempotent: a retried build gets what it was already given. A
        // first allocation (no VIF yet) needs the networks and the
        // instance's hostname: read all three at once, each once.
        let (vifs, all, inst) = tokio::try_join!(
            self.conductor
                .virtual_interface_get_by_instance(ctx, instance_uuid),
            self.conductor.network_get_all(ctx),
            async {
                // Only for the hostname: its absence is not an error here.
                Ok::<_, NovaError>(
                    self.conductor
                        .instance_get_by_uuid(ctx, instance_uuid)
                        .await
                        .ok(),
                )
            },
        )?;
        if !vifs.is_empty() {
            let existing = self.nw_info(ctx, instance_uuid).await?;
            if !existing.is_empty() {
                return Ok(existing);
            }
        }
        let requested = requested_networks.unwrap_or_default();
        let networks = requested_or_project_networks(ctx, all, &project_id, &requested)?;
        let hostname = match inst {
            Some(inst) if !inst.hostname.is_empty() => inst.hostname,
            _ => format!("instance-{}", instance_uuid.simple()),
        };
        let mut new_leases = Vec::new();
        let mut info = Vec::new();
        for WantedNetwork {
            network: net,
            address,
            tag,
        } in &networks
        {
            let vif = self
                .create_vif(ctx, instance_uuid, net.id, tag.clone())
                .await?;
            let associated = match address {
                Some(a) => {
                    self.conductor
                        .fixed_ip_associate(
                            ctx,
                            a.clone(),
                            net.id,
                            instance_uuid,
                            Some(host.clone()),
                            vif.id,
                        )
                        .await
                }
                None => {
                    self.conductor
                        .fixed_ip_associate_pool(
                            ctx,
                            net.id,
                            instance_uuid,
                            Some(host.clone()),
                            vif.id,
                        )
                        .await
                }
            };
            let ip = match associated {
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
            new_leases.push((
                net.id,
                DhcpHost {
                    mac: vif.address.clone(),
                    hostname: hostname.clone(),
                    address: ip.address.clone(),
                },
            ));
            info.push(vif_info(vif.uuid, &vif.address, net, vec![ip.address]));
        }
        let served: Vec<&Network> = networks.iter().map(|w| &w.network).collect();
        let first_fixed = new_leases.first().map(|(_, h)| h.address.clone());
        self.ensure_network_rules(&served).await;
        self.add_leases(&served, instance_uuid, new_leases).await;
        self.trigger_security_group_members_refresh(ctx, instance_uuid);
        if let (true, Some(fixed)) = (self.auto_assign_floating_ip, first_fixed) {
            self.auto_assign_floating_ip(instance_uuid, &project_id, &fixed)
                .await?;
            return self.nw_info(ctx, instance_uuid).await;
        }
        Ok(info)
    }

    /// Nova's `add_fixed_ip_to_instance` (addFixedIp): an address from the
    /// network's pool, on the instance's VIF there (a new one if it has
    /// none), leased and firewalled as at boot.
    async fn add_fixed_ip_to_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        host: String,
        network_id: String,
    ) -> Result<NetworkInfo, NovaError> {
        let (all, inst, vifs) = tokio::try_join!(
            self.conductor.network_get_all(ctx),
            self.conductor.instance_get_by_uuid(ctx, instance_uuid),
            self.conductor
                .virtual_interface_get_by_instance(ctx, instance_uuid),
        )?;
        let net = all
            .into_iter()
            .find(|n| {
                (n.uuid.to_string() == network_id || n.id.to_string() == network_id)
                    && usable_by(n, &inst.project_id, ctx.is_admin)
            })
            .ok_or_else(|| NovaError::NetworkNotFound {
                network_id: network_id.clone(),
            })?;
        let vif = match vifs.into_iter().find(|v| v.network_id == net.id) {
            Some(v) => v,
            None => self.create_vif(ctx, instance_uuid, net.id, None).await?,
        };
        let ip = self
            .conductor
            .fixed_ip_associate_pool(ctx, net.id, instance_uuid, Some(host), vif.id)
            .await?;
        info!(instance = %instance_uuid, address = %ip.address, network = %net.label, "added fixed IP");
        let lease = DhcpHost {
            mac: vif.address.clone(),
            hostname: inst.hostname.clone(),
            address: ip.address.clone(),
        };
        self.ensure_network_rules(&[&net]).await;
        self.add_leases(&[&net], instance_uuid, vec![(net.id, lease)])
            .await;
        self.trigger_security_group_members_refresh(ctx, instance_uuid);
        self.nw_info(ctx, instance_uuid).await
    }

    /// Nova's `remove_fixed_ip_from_instance` (removeFixedIp): the lease
    /// ended, the address back to its pool; the VIF stays.
    async fn remove_fixed_ip_from_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        _host: String,
        address: String,
    ) -> Result<NetworkInfo, NovaError> {
        let ips = self
            .conductor
            .fixed_ip_get_by_instance(ctx, instance_uuid)
            .await?;
        if !ips.iter().any(|ip| ip.address == address) {
            return Err(NovaError::FixedIpNotFoundForSpecificInstance {
                instance_uuid: instance_uuid.to_string(),
                ip: address,
            });
        }
        self.remove_leases(ctx, instance_uuid, Some(&address))
            .await?;
        self.conductor
            .fixed_ip_disassociate(ctx, address.clone(), instance_uuid)
            .await?;
        info!(instance = %instance_uuid, %address, "removed fixed IP");
        self.trigger_security_group_members_refresh(ctx, instance_uuid);
        self.nw_info(ctx, instance_uuid).await
    }

    /// Nova's `validate_networks`: each requested network exists for the
    /// caller's project, and each requested address is one of its network's
    /// fixed IPs that no instance has.
    async fn validate_networks(
        &self,
        ctx: &RequestContext,
        requested_networks: Vec<NetworkRequest>,
    ) -> Result<(), NovaError> {
        let all = self.conductor.network_get_all(ctx).await?;
        let project = ctx.project_id.clone().unwrap_or_default();
        let networks = requested_or_project_networks(ctx, all, &project, &requested_networks)?;
        for WantedNetwork {
            network: net,
            address,
            ..
        } in networks
        {
            let Some(address) = address else { continue };
            if address.parse::<std::net::IpAddr>().is_err() {
                return Err(NovaError::FixedIpInvalid { address });
            }
            let ip = self
                .conductor
                .fixed_ip_get_by_address(ctx, address.clone())
                .await?;
            if ip.network_id != net.id {
                return Err(NovaError::FixedIpNotFoundForNetwork {
                    address,
                    network_uuid: net.uuid.to_string(),
                });
            }
            if let Some(other) = ip.instance_uuid {
                return Err(NovaError::FixedIpAlreadyInUse {
                    address,
                    instance_uuid: other.to_string(),
                });
            }
        }
        Ok(())
    }

    /// Nova's `deallocate_for_instance` with `force_dhcp_release`: the
    /// instance's leases leave the hosts file first (dnsmasq reloaded), then
    /// dnsmasq is told to end them (so the address cannot be leased again in
    /// between), then the addresses go back to the pool. Idempotent: a retry
    /// finds no leases left and releases the addresses.
    async fn deallocate_for_instance(
        &self,
        ctx: &RequestContext,
        instance_uuid: Uuid,
        _host: Option<String>,
    ) -> Result<(), NovaError> {
        self.release_instance_floating_ips(instance_uuid).await?;
        self.remove_leases(ctx, instance_uuid, None).await?;
        self.conductor
            .network_deallocate_instance(ctx, instance_uuid)
            .await?;
        info!(instance = %instance_uuid, "deallocated network resources");
        self.trigger_security_group_members_refresh(ctx, instance_uuid);
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

    async fn allocate_floating_ip(
        &self,
        ctx: &RequestContext,
        project_id: String,
        pool: Option<String>,
        auto_assigned: bool,
    ) -> Result<FloatingIp, NovaError> {
        self.do_allocate_floating_ip(ctx, project_id, pool, auto_assigned)
            .await
    }

    async fn deallocate_floating_ip(
        &self,
        ctx: &RequestContext,
        address: String,
        affect_auto_assigned: bool,
    ) -> Result<(), NovaError> {
        self.do_deallocate_floating_ip(ctx, address, affect_auto_assigned)
            .await
    }

    async fn associate_floating_ip(
        &self,
        ctx: &RequestContext,
        floating_address: String,
        fixed_address: String,
        affect_auto_assigned: bool,
    ) -> Result<Option<Uuid>, NovaError> {
        self.do_associate_floating_ip(ctx, floating_address, fixed_address, affect_auto_assigned)
            .await
    }

    async fn disassociate_floating_ip(
        &self,
        ctx: &RequestContext,
        address: String,
        affect_auto_assigned: bool,
    ) -> Result<(), NovaError> {
        self.do_disassociate_floating_ip(ctx, address, affect_auto_assigned)
            .await
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
