//! `nova-network`'s RPC API (topic `network`).
//!
//! 1.18: `allocate_for_instance` takes Nova's network requests (a network
//! and an optional fixed address; a bare uuid still reads as one),
//! `validate_networks` checks them for nova-api before a server is created,
//! and `add_fixed_ip_to_instance`/`remove_fixed_ip_from_instance` serve
//! the multinic actions (addFixedIp, removeFixedIp).

use nova_objects::{FloatingIp, Network, NetworkInfo, NetworkRequest};
use uuid::Uuid;

crate::rpc_api! {
    topic: "network", version: "1.18";
    /// Give the instance a fixed IP and a VIF on a network (the address
    /// requested, else one of the pool's); returns its network info.
    call fn allocate_for_instance(instance_uuid: Uuid, project_id: String, host: String, requested_networks: Option<Vec<NetworkRequest>>) -> NetworkInfo;
    /// Nova's `validate_networks`: the networks exist for the caller's
    /// project, and each requested address is in its network and free.
    call fn validate_networks(requested_networks: Vec<NetworkRequest>) -> ();
    /// One more fixed IP for the instance from the network (its uuid or
    /// table id), on the VIF it has there or a new one; its network info.
    call fn add_fixed_ip_to_instance(instance_uuid: Uuid, host: String, network_id: String) -> NetworkInfo;
    /// The instance's fixed IP `address` released; its network info.
    call fn remove_fixed_ip_from_instance(instance_uuid: Uuid, host: String, address: String) -> NetworkInfo;
    /// Release everything allocate_for_instance gave the instance.
    call fn deallocate_for_instance(instance_uuid: Uuid, host: Option<String>) -> ();
    call fn get_instance_nw_info(instance_uuid: Uuid) -> NetworkInfo;
    call fn get_all_networks() -> Vec<Network>;
    /// Give the project an address of `pool` (`[DEFAULT] default_floating_pool` when None),
    /// within its `floating_ips` quota unless auto-assigned.
    call fn allocate_floating_ip(project_id: String, pool: Option<String>, auto_assigned: bool) -> FloatingIp;
    /// Give the address back to its pool (FloatingIpAssociated while associated).
    call fn deallocate_floating_ip(address: String, affect_auto_assigned: bool) -> ();
    /// Forward the floating address to the fixed one (moving it if it forwarded
    /// elsewhere); the instance it was taken from, if any.
    call fn associate_floating_ip(floating_address: String, fixed_address: String, affect_auto_assigned: bool) -> Option<Uuid>;
    call fn disassociate_floating_ip(address: String, affect_auto_assigned: bool) -> ();
}
