//! Micro-benchmark (not a test): the work one RPC reply of N instances costs,
//! without the broker. The conductor's side serialises the manager's typed
//! result and wraps it in the oslo envelope; the caller's side unwraps it and
//! decodes the typed result. Run under callgrind for deterministic counts:
//!
//! ```text
//! cargo build --release -p nova-rpc --example reply_codec
//! valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out \
//!     target/release/examples/reply_codec encode 1000
//! ```
//!
//! `encode` / `decode` / `both` (default) select the side; N defaults to 1,000.

use chrono::{TimeZone, Utc};
use nova_common::states::{TaskState, VmState};
use nova_objects::{FixedIpInfo, Flavor, Instance, NetworkRef, SubnetInfo, Vif};
use std::collections::BTreeMap;
use uuid::Uuid;

/// An ACTIVE instance as the conductor returns it to a `servers/detail` listing.
fn instance(i: u32) -> Instance {
    let ts = Utc.with_ymd_and_hms(2026, 12, 4, 10, 0, 0).single();
    let mut system_metadata = BTreeMap::new();
    for (k, v) in [
        (
            "image_base_image_ref",
            "6f2a3c1e-7c4b-4a55-9a5e-0d8d54f0c1aa",
        ),
        ("image_container_format", "bare"),
        ("image_disk_format", "qcow2"),
        ("image_min_disk", "1"),
        ("image_min_ram", "0"),
        ("owner_project_name", "demo"),
        ("owner_user_name", "demo"),
        ("requested_networks", "[]"),
    ] {
        system_metadata.insert(k.to_string(), v.to_string());
    }
    let mut metadata = BTreeMap::new();
    metadata.insert("role".to_string(), format!("web-{i}"));
    let uuid = Uuid::from_u128(0x1234_5678_9abc_def0_0000_0000_0000_0000 + i as u128);
    Instance {
        id: i as i64 + 1,
        uuid,
        user_id: "4c0e1b1f9a8d4f44b3f0f1d1e2c3b4a5".into(),
        project_id: "8e2c7d3a0b1f4c5d9e6f7a8b9c0d1e2f".into(),
        display_name: format!("server-{i}"),
        display_description: Some(format!("server-{i}")),
        hostname: format!("server-{i}"),
        image_ref: "6f2a3c1e-7c4b-4a55-9a5e-0d8d54f0c1aa".into(),
        instance_type_id: 1,
        flavor: Flavor {
            id: 1,
            flavorid: "1".into(),
            name: "m1.tiny".into(),
            memory_mb: 512,
            vcpus: 1,
            root_gb: 1,
            ephemeral_gb: 0,
            swap: 0,
            rxtx_factor: 1.0,
            vcpu_weight: None,
            disabled: false,
            is_public: true,
            extra_specs: BTreeMap::new(),
            created_at: ts,
            updated_at: None,
            description: None,
            projects: vec![],
        },
        memory_mb: 512,
        vcpus: 1,
        root_gb: 1,
        ephemeral_gb: 0,
        vm_state: VmState::Active,
        task_state: None::<TaskState>,
        power_state: 1,
        host: Some("compute-1".into()),
        node: Some("compute-1".into()),
        launched_on: Some("compute-1".into()),
        availability_zone: Some("nova".into()),
        key_name: Some("mykey".into()),
        key_data: Some(
            "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDk3c2VydmVyLWtleS1mb3ItYmVuY2htYXJrcw demo@host"
                .into(),
        ),
        reservation_id: format!("r-{:08x}", i),
        launched_at: ts,
        created_at: ts,
        updated_at: ts,
        metadata,
        system_metadata,
        network_info: vec![Vif {
            id: Uuid::from_u128(0xfeed_0000_0000_0000_0000_0000_0000_0000 + i as u128),
            address: format!("fa:16:3e:00:{:02x}:{:02x}", (i >> 8) & 0xff, i & 0xff),
            network: NetworkRef {
                id: Uuid::from_u128(0xabcd),
                label: "private".into(),
                bridge: "br100".into(),
                bridge_interface: None,
                subnets: vec![SubnetInfo {
                    cidr: "10.0.0.0/20".into(),
                    gateway: Some("10.0.0.1".into()),
                    dns: vec!["8.8.8.8".into()],
                    ips: vec![FixedIpInfo {
                        address: format!("10.0.{}.{}", (i + 2) / 256, (i + 2) % 256),
                        ip_type: "fixed".into(),
                        version: 4,
                        floating_ips: vec![],
                    }],
                }],
                should_create_bridge: true,
            },
            vif_type: "bridge".into(),
            devname: Some(format!("tap{:08x}-00", i)),
        }],
        security_groups: vec!["default".into()],
        ..Default::default()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let side = args.get(1).map(String::as_str).unwrap_or("both");
    let n: u32 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let result: Vec<Instance> = (0..n).map(instance).collect();
    // The conductor's side: the typed result to the bytes it publishes.
    let body = codec::encode(&result);
    let (bytes, ok) = match side {
        "encode" => (body.len(), true),
        "decode" | "both" => {
            let back: Vec<Instance> = codec::decode(&body);
            (body.len(), back == result)
        }
        other => {
            eprintln!("unknown side {other}: encode, decode or both");
            std::process::exit(2);
        }
    };
    println!("instances={n} reply_bytes={bytes} round_trip_equal={ok}");
    if !ok {
        std::process::exit(1);
    }
}

/// The reply path as the crate does it (the only part that changes between
/// versions of this benchmark).
mod codec {
    use nova_objects::Instance;
    use nova_rpc::envelope;

    /// What the generated `dispatch` and the server's reply do.
    #[inline(never)]
    pub fn encode(r: &Vec<Instance>) -> Vec<u8> {
        let text = envelope::to_json_text(r);
        envelope::encode_reply("0123456789abcdef0123456789abcdef", &text)
    }

    /// What the reply consumer and the typed client do.
    #[inline(never)]
    pub fn decode(body: &[u8]) -> Vec<Instance> {
        let (_id, reply) = envelope::decode_reply(body).expect("decodes");
        reply.result().expect("typed")
    }
}
