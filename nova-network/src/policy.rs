//! Who may call what of nova-network.
//!
//! The control plane may call everything. A compute host (see
//! [`nova_common::trust`]) may have addresses given to, taken from and shown
//! for the instances assigned to it, for their own project, and list the
//! networks; nothing else. nova-network reaches the conductor as the control
//! plane, so without this check it would be a compute host's way around the
//! conductor's table. Anyone else may call nothing.

use async_trait::async_trait;
use nova_common::context::ReadDeleted;
use nova_common::trust::Caller;
use nova_common::{NovaError, RequestContext};
use nova_objects::Instance;
use nova_rpc::server::{not_authorized, Policy};
use nova_rpc::{conductor, network};
use uuid::Uuid;

/// How the policy finds out where an instance is.
#[async_trait]
pub trait Lookup: Send + Sync + 'static {
    /// The instance, deleted or not.
    async fn instance(&self, ctx: &RequestContext, uuid: Uuid) -> Result<Instance, NovaError>;
}

#[async_trait]
impl Lookup for conductor::Client {
    async fn instance(&self, ctx: &RequestContext, uuid: Uuid) -> Result<Instance, NovaError> {
        let mut ctx = ctx.clone();
        ctx.read_deleted = ReadDeleted::Yes;
        self.instance_get_by_uuid(&ctx, uuid).await
    }
}

pub struct NetworkPolicy<L = conductor::Client> {
    lookup: L,
}

impl<L: Lookup> NetworkPolicy<L> {
    pub fn new(lookup: L) -> Self {
        NetworkPolicy { lookup }
    }
}

#[async_trait]
impl<L: Lookup> Policy<network::Request> for NetworkPolicy<L> {
    async fn authorize(
        &self,
        caller: &Caller,
        mut ctx: RequestContext,
        req: &network::Request,
    ) -> Result<RequestContext, NovaError> {
        use network::Request as R;
        let host = match caller {
            Caller::ControlPlane { .. } => return Ok(ctx),
            Caller::Unknown { .. } => return Err(not_authorized(caller, "not a Nova service")),
            Caller::ComputeHost { host, .. } => host.as_str(),
        };
        ctx.is_admin = false;
        ctx.roles.clear();
        let (uuid, named_host, project) = match req {
            R::get_all_networks {} => return Ok(ctx),
            R::allocate_for_instance {
                instance_uuid,
                project_id,
                host,
                ..
            } => (*instance_uuid, Some(host.as_str()), Some(project_id)),
            R::deallocate_for_instance {
                instance_uuid,
                host,
            } => (*instance_uuid, host.as_deref(), None),
            R::get_instance_nw_info { instance_uuid } => (*instance_uuid, None, None),
            R::add_fixed_ip_to_instance {
                instance_uuid,
                host,
                ..
            }
            | R::remove_fixed_ip_from_instance {
                instance_uuid,
                host,
                ..
            } => (*instance_uuid, Some(host.as_str()), None),
            R::validate_networks { .. } => {
                return Err(not_authorized(
                    caller,
                    "requested networks are the API's to validate",
                ))
            }
            R::allocate_floating_ip { .. }
            | R::deallocate_floating_ip { .. }
            | R::associate_floating_ip { .. }
            | R::disassociate_floating_ip { .. } => {
                return Err(not_authorized(
                    caller,
                    "floating IPs are the API's to allocate and associate",
                ))
            }
        };
        if named_host.is_some_and(|h| h != host) {
            return Err(not_authorized(
                caller,
                "a compute host asks for addresses on its own host only",
            ));
        }
        let inst = self.lookup.instance(&ctx, uuid).await?;
        if inst.host.as_deref() != Some(host) {
            return Err(not_authorized(
                caller,
                format!("instance {uuid} is not on host {host}"),
            ));
        }
        if project.is_some_and(|p| p != &inst.project_id) {
            return Err(not_authorized(
                caller,
                format!("instance {uuid} belongs to another project"),
            ));
        }
        Ok(ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fake;

    #[async_trait]
    impl Lookup for Fake {
        async fn instance(&self, _: &RequestContext, uuid: Uuid) -> Result<Instance, NovaError> {
            match uuid.as_u128() {
                1 => Ok(Instance {
                    uuid,
                    host: Some("h1".into()),
                    project_id: "p1".into(),
                    ..Default::default()
                }),
                _ => Err(NovaError::InstanceNotFound {
                    instance_id: uuid.to_string(),
                }),
            }
        }
    }

    fn compute(host: &str) -> Caller {
        Caller::ComputeHost {
            user: format!("nova-compute.{host}"),
            host: host.into(),
        }
    }

    async fn allowed(caller: &Caller, req: network::Request) -> bool {
        match NetworkPolicy::new(Fake)
            .authorize(caller, RequestContext::admin(), &req)
            .await
        {
            Ok(ctx) => {
                assert!(caller.is_control_plane() || !ctx.is_admin);
                true
            }
            Err(NovaError::PolicyNotAuthorized { .. }) => false,
            Err(e) => panic!("{e:?}"),
        }
    }

    #[tokio::test]
    async fn a_compute_host_gets_addresses_for_its_own_instances_only() {
        use network::Request as R;
        let own = Uuid::from_u128(1);
        let alloc = |host: &str, project: &str| R::allocate_for_instance {
            instance_uuid: own,
            project_id: project.into(),
            host: host.into(),
            requested_networks: None,
        };
        let dealloc = |host: Option<&str>| R::deallocate_for_instance {
            instance_uuid: own,
            host: host.map(str::to_string),
        };
        let info = R::get_instance_nw_info { instance_uuid: own };
        let nets = R::get_all_networks {};
        let (h1, h2) = (compute("h1"), compute("h2"));
        let control = Caller::ControlPlane {
            user: "nova".into(),
        };
        let nobody = Caller::Unknown { user: None };
        for req in [
            alloc("h1", "p1"),
            dealloc(Some("h1")),
            info.clone(),
            nets.clone(),
        ] {
            assert!(allowed(&control, req.clone()).await);
            assert!(allowed(&h1, req.clone()).await, "{req:?}");
            assert!(!allowed(&nobody, req.clone()).await);
        }
        for req in [alloc("h1", "p1"), dealloc(None), info] {
            assert!(!allowed(&h2, req.clone()).await, "{req:?}");
        }
        assert!(allowed(&h2, nets).await);
        // Not for another host's name, nor from another project's networks.
        assert!(!allowed(&h1, alloc("h2", "p1")).await);
        assert!(!allowed(&h1, alloc("h1", "p2")).await);
        assert!(!allowed(&h1, dealloc(Some("h2"))).await);
        // Floating IPs are the API's (the control plane's) only.
        for req in [
            R::allocate_floating_ip {
                project_id: "p1".into(),
                pool: None,
                auto_assigned: false,
            },
            R::deallocate_floating_ip {
                address: "172.24.4.1".into(),
                affect_auto_assigned: false,
            },
            R::associate_floating_ip {
                floating_address: "172.24.4.1".into(),
                fixed_address: "10.0.0.3".into(),
                affect_auto_assigned: false,
            },
            R::disassociate_floating_ip {
                address: "172.24.4.1".into(),
                affect_auto_assigned: false,
            },
        ] {
            assert!(allowed(&control, req.clone()).await);
            assert!(!allowed(&h1, req.clone()).await, "{req:?}");
            assert!(!allowed(&nobody, req).await);
        }
    }
}
