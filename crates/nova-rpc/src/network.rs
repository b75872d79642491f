//! `nova-network`'s RPC API (topic `network`).

use nova_objects::{Network, NetworkInfo};
use uuid::Uuid;

crate::rpc_api! {
    topic: "network", version: "1.17";
    /// Give the instance a fixed IP and a VIF on a network; returns its network info.
    call fn allocate_for_instance(instance_uuid: Uuid, project_id: String, host: String, requested_networks: Option<Vec<Uuid>>) -> NetworkInfo;
    /// Release everything allocate_for_instance gave the instance.
    call fn deallocate_for_instance(instance_uuid: Uuid, host: Option<String>) -> ();
    call fn get_instance_nw_info(instance_uuid: Uuid) -> NetworkInfo;
    call fn get_all_networks() -> Vec<Network>;
}
