//! Floating IPs, Nova's `nova/network/floating_ips.py` (the `FloatingIP`
//! mixin of the network manager): allocate from a pool within the
//! project's quota, associate with a fixed IP (the nat rules and the
//! address on the public interface, through [`nova_linux_net::floating`]),
//! disassociate, release; the instance's info cache is refreshed after each
//! change so the API shows the floating address.

use crate::manager::NetworkManager;
use nova_common::{NovaError, RequestContext};
use nova_linux_net::floating as l3;
use nova_objects::{FloatingIp, InstanceUpdate};
use tracing::{info, warn};
use uuid::Uuid;

/// Nova's `_floating_ip_owned_by_project`: an admin may act on any
/// floating IP, anyone else on their project's only.
fn owned_by_project(ctx: &RequestContext, fip: &FloatingIp) -> Result<(), NovaError> {
    if ctx.is_admin {
        return Ok(());
    }
    if fip.project_id.is_none() || fip.project_id != ctx.project_id {
        warn!(address = %fip.address, project = ?ctx.project_id, "floating IP is not allocated to the project");
        return Err(NovaError::Forbidden {});
    }
    Ok(())
}

impl NetworkManager {
    /// The interface a floating IP lives on: its own, else `public_interface`.
    fn interface_of(&self, fip: &FloatingIp) -> String {
        fip.interface
            .clone()
            .filter(|i| !i.is_empty())
            .unwrap_or_else(|| self.public_interface.clone())
    }

    /// Nova's `LinuxNetL3.add_floating_ip`: nat rules, then the address.
    async fn add_floating_ip(
        &self,
        floating: &str,
        fixed: &str,
        interface: &str,
    ) -> Result<(), NovaError> {
        let mut m = self.iptables().lock().await;
        l3::ensure_floating_forward(&mut m, floating, fixed, Some(interface));
        let applied = match m.apply().await {
            Ok(()) => l3::bind_floating_ip(floating, interface).await,
            Err(e) => Err(e),
        };
        if let Err(e) = applied {
            l3::remove_floating_forward(&mut m, floating, fixed, Some(interface));
            if let Err(e) = m.apply().await {
                warn!(floating, "cannot remove the floating IP's rules: {e}");
            }
            return Err(if l3::is_missing_device(&e) {
                NovaError::NoFloatingIpInterface {
                    interface: interface.to_string(),
                }
            } else {
                e.into()
            });
        }
        info!(floating, fixed, interface, "floating IP forwarded");
        Ok(())
    }

    /// Nova's `LinuxNetL3.remove_floating_ip`: the address, the rules, the
    /// conntrack entries. Failures are logged: the association is gone.
    async fn remove_floating_ip(&self, floating: &str, fixed: &str, interface: &str) {
        if let Err(e) = l3::unbind_floating_ip(floating, interface).await {
            warn!(floating, interface, "cannot unbind the floating IP: {e}");
        }
        let mut m = self.iptables().lock().await;
        l3::remove_floating_forward(&mut m, floating, fixed, Some(interface));
        if let Err(e) = m.apply().await {
            warn!(floating, "cannot remove the floating IP's rules: {e}");
        }
        drop(m);
        l3::clean_conntrack(fixed).await;
        info!(
            floating,
            fixed, interface, "floating IP no longer forwarded"
        );
    }

    /// Nova's `init_host_floating_ips`: the floating IPs associated on this
    /// host get their rules and addresses back.
    pub(crate) async fn init_host_floating_ips(&self) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let fips = self
            .conductor
            .floating_ip_get_all_by_host(&ctx, self.host.clone())
            .await?;
        let mut bound = Vec::new();
        {
            let mut m = self.iptables().lock().await;
            for fip in &fips {
                let Some(fixed) = &fip.fixed_address else {
                    continue;
                };
                let interface = if self.public_interface.is_empty() {
                    self.interface_of(fip)
                } else {
                    self.public_interface.clone()
                };
                l3::ensure_floating_forward(&mut m, &fip.address, fixed, Some(&interface));
                bound.push((fip.address.clone(), interface));
            }
            if !bound.is_empty() {
                m.apply().await?;
            }
        }
        for (address, interface) in bound {
            if let Err(e) = l3::bind_floating_ip(&address, &interface).await {
                warn!(%address, %interface, "cannot bind the floating IP: {e}");
            }
        }
        Ok(())
    }

    /// Write the instance's network info (with its floating IPs) to its
    /// info cache, as Nova's `refresh_cache` does after a change.
    pub(crate) async fn refresh_cache(&self, instance_uuid: Uuid) {
        let ctx = RequestContext::admin();
        let res = match self.nw_info(&ctx, instance_uuid).await {
            Ok(nw) => self
                .conductor
                .instance_update(
                    &ctx,
                    instance_uuid,
                    InstanceUpdate {
                        network_info: Some(nw),
                        ..Default::default()
                    },
                )
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = res {
            warn!(instance = %instance_uuid, "cannot refresh the network info cache: {e}");
        }
    }

    /// The project's `floating_ips` limit: its own, else the `default`
    /// quota class's, else `[quota] floating_ips` (-1: unlimited).
    async fn floating_ips_quota(
        &self,
        ctx: &RequestContext,
        project_id: &str,
    ) -> Result<i64, NovaError> {
        let own = self
            .conductor
            .quota_get_all_by_project(ctx, project_id.to_string())
            .await?;
        if let Some(limit) = own.get("floating_ips") {
            return Ok(*limit);
        }
        let defaults = self.conductor.quota_get_defaults(ctx).await?;
        Ok(defaults.get("floating_ips").copied().unwrap_or(-1))
    }

    pub(crate) async fn do_allocate_floating_ip(
        &self,
        ctx: &RequestContext,
        project_id: String,
        pool: Option<String>,
        auto_assigned: bool,
    ) -> Result<FloatingIp, NovaError> {
        let pool = pool
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.default_floating_pool.clone());
        let pools = self.conductor.floating_ip_get_pools(ctx).await?;
        if !pools.contains(&pool) {
            return Err(NovaError::FloatingIpPoolNotFound {});
        }
        let limit = if auto_assigned {
            None
        } else {
            Some(self.floating_ips_quota(ctx, &project_id).await?)
        };
        let fip = self
            .conductor
            .floating_ip_allocate_address(ctx, project_id.clone(), pool, auto_assigned, limit)
            .await
            .inspect_err(|e| {
                if matches!(e, NovaError::FloatingIpLimitExceeded {}) {
                    warn!(project = %project_id, "quota exceeded, tried to allocate floating IP");
                }
            })?;
        info!(address = %fip.address, project = %project_id, pool = ?fip.pool, "floating IP allocated");
        Ok(fip)
    }

    pub(crate) async fn do_deallocate_floating_ip(
        &self,
        ctx: &RequestContext,
        address: String,
        affect_auto_assigned: bool,
    ) -> Result<(), NovaError> {
        let fip = self
            .conductor
            .floating_ip_get_by_address(ctx, address.clone())
            .await?;
        if !affect_auto_assigned && fip.auto_assigned {
            return Ok(());
        }
        owned_by_project(ctx, &fip)?;
        if fip.fixed_ip_id.is_some() {
            return Err(NovaError::FloatingIpAssociated { address });
        }
        self.conductor
            .floating_ip_deallocate(ctx, address.clone())
            .await?;
        info!(%address, "floating IP released");
        Ok(())
    }

    pub(crate) async fn do_associate_floating_ip(
        &self,
        ctx: &RequestContext,
        floating_address: String,
        fixed_address: String,
        affect_auto_assigned: bool,
    ) -> Result<Option<Uuid>, NovaError> {
        let _one_at_a_time = self.floating_lock.lock().await;
        let fip = self
            .conductor
            .floating_ip_get_by_address(ctx, floating_address.clone())
            .await?;
        if !affect_auto_assigned && fip.auto_assigned {
            return Ok(None);
        }
        owned_by_project(ctx, &fip)?;
        let mut orig_instance = None;
        if fip.fixed_ip_id.is_some() {
            if fip.fixed_address.as_deref() == Some(fixed_address.as_str()) {
                return Ok(None);
            }
            orig_instance = fip.instance_uuid;
            self.disassociate_locked(ctx, &fip).await?;
        }
        let Some(fixed) = self
            .conductor
            .floating_ip_fixed_ip_associate(
                ctx,
                floating_address.clone(),
                fixed_address.clone(),
                self.host.clone(),
            )
            .await?
        else {
            return Ok(orig_instance);
        };
        let interface = self.interface_of(&fip);
        if let Err(e) = self
            .add_floating_ip(&floating_address, &fixed.address, &interface)
            .await
        {
            if let Err(e2) = self
                .conductor
                .floating_ip_disassociate(ctx, floating_address.clone())
                .await
            {
                warn!(floating = %floating_address, "cannot undo the association: {e2}");
            }
            return Err(e);
        }
        if let Some(uuid) = fixed.instance_uuid {
            self.refresh_cache(uuid).await;
        }
        if let Some(orig) = orig_instance {
            info!(address = %floating_address, instance = %orig, "re-assigned floating IP from instance");
            if Some(orig) != fixed.instance_uuid {
                self.refresh_cache(orig).await;
            }
        }
        Ok(orig_instance)
    }

    pub(crate) async fn do_disassociate_floating_ip(
        &self,
        ctx: &RequestContext,
        address: String,
        affect_auto_assigned: bool,
    ) -> Result<(), NovaError> {
        let _one_at_a_time = self.floating_lock.lock().await;
        let fip = self
            .conductor
            .floating_ip_get_by_address(ctx, address.clone())
            .await?;
        if !affect_auto_assigned && fip.auto_assigned {
            return Err(NovaError::CannotDisassociateAutoAssignedFloatingIP {});
        }
        owned_by_project(ctx, &fip)?;
        if fip.fixed_ip_id.is_none() {
            return Err(NovaError::FloatingIpNotAssociated { address });
        }
        self.disassociate_locked(ctx, &fip).await
    }

    /// Disassociate an associated floating IP (the caller holds the lock
    /// and has checked ownership).
    async fn disassociate_locked(
        &self,
        ctx: &RequestContext,
        fip: &FloatingIp,
    ) -> Result<(), NovaError> {
        let fixed = self
            .conductor
            .floating_ip_disassociate(ctx, fip.address.clone())
            .await?;
        if let Some(fixed) = fixed {
            let interface = self.interface_of(fip);
            self.remove_floating_ip(&fip.address, &fixed.address, &interface)
                .await;
            if let Some(uuid) = fixed.instance_uuid {
                self.refresh_cache(uuid).await;
            }
        }
        Ok(())
    }

    /// Nova's `FloatingIP.deallocate_for_instance`: every floating IP of the
    /// instance's fixed IPs is disassociated, and released when it was
    /// auto-assigned. Runs before the fixed IPs are released.
    pub(crate) async fn release_instance_floating_ips(
        &self,
        instance_uuid: Uuid,
    ) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let fixed = self
            .conductor
            .fixed_ip_get_by_instance(&ctx, instance_uuid)
            .await?;
        for ip in fixed {
            let fips = self
                .conductor
                .floating_ip_get_by_fixed_ip_id(&ctx, ip.id)
                .await?;
            for fip in fips {
                match self
                    .do_disassociate_floating_ip(&ctx, fip.address.clone(), true)
                    .await
                {
                    Ok(()) | Err(NovaError::FloatingIpNotAssociated { .. }) => {}
                    Err(e) => return Err(e),
                }
                if fip.auto_assigned {
                    self.do_deallocate_floating_ip(&ctx, fip.address.clone(), true)
                        .await?;
                }
            }
        }
        Ok(())
    }

    /// `auto_assign_floating_ip`: a floating IP from the default pool for
    /// the instance's first fixed address.
    pub(crate) async fn auto_assign_floating_ip(
        &self,
        instance_uuid: Uuid,
        project_id: &str,
        fixed_address: &str,
    ) -> Result<(), NovaError> {
        let ctx = RequestContext::admin();
        let fip = self
            .do_allocate_floating_ip(&ctx, project_id.to_string(), None, true)
            .await?;
        info!(instance = %instance_uuid, address = %fip.address, "auto-assigning floating IP");
        self.do_associate_floating_ip(&ctx, fip.address, fixed_address.to_string(), true)
            .await?;
        Ok(())
    }
}
