//! The dependency rules of ARCHITECTURE.md §1, checked over `cargo metadata`:
//! only the conductor side touches the database, and no daemon depends on another.

#![allow(clippy::unwrap_used)]

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// The host's target triple: metadata for this platform only, so that
/// `--offline` never needs crates of platforms a Linux build never downloads.
fn host_triple() -> String {
    let out = Command::new(std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into()))
        .arg("-vV")
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV prints the host triple")
        .to_string()
}

fn metadata() -> Value {
    let out = Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .current_dir(nova_e2e::workspace_root())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Each workspace package → its normal (non-dev) dependencies, transitively.
fn closure(meta: &Value) -> BTreeMap<String, BTreeSet<String>> {
    let names: BTreeMap<String, String> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let direct: BTreeMap<String, Vec<String>> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            let deps = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|d| {
                    d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null())
                })
                .map(|d| names[d["pkg"].as_str().unwrap()].clone())
                .collect();
            (names[n["id"].as_str().unwrap()].clone(), deps)
        })
        .collect();
    let members: Vec<String> = meta["workspace_members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| names[m.as_str().unwrap()].clone())
        .collect();
    members
        .into_iter()
        .map(|m| {
            let mut seen = BTreeSet::new();
            let mut stack = vec![m.clone()];
            while let Some(p) = stack.pop() {
                for d in direct.get(&p).into_iter().flatten() {
                    if seen.insert(d.clone()) {
                        stack.push(d.clone());
                    }
                }
            }
            (m, seen)
        })
        .collect()
}

/// ARCHITECTURE.md §1: the internal crates each package may reach (transitively).
const ALLOWED: &[(&str, &[&str])] = &[
    ("nova-common", &[]),
    ("nova-objects", &["nova-common"]),
    ("nova-rpc", &["nova-objects", "nova-common"]),
    ("nova-db", &["nova-objects", "nova-common"]),
    ("nova-virt", &["nova-objects", "nova-common"]),
    ("nova-clients", &["nova-objects", "nova-common"]),
    ("nova-linux-net", &["nova-objects", "nova-common"]),
    // An instance's metadata (Nova's `nova/api/metadata/base.py`), which
    // the metadata service serves and a compute host writes onto a config
    // drive (Nova's `virt/configdrive.py` imports it likewise): a library
    // of its own, since a daemon may not depend on another. Not in
    // ARCHITECTURE.md's table; the reason is in issue 12's note.
    (
        "nova-metadata",
        &["nova-rpc", "nova-objects", "nova-common"],
    ),
    (
        "nova-conductor",
        &[
            "nova-rpc",
            "nova-db",
            "nova-clients",
            "nova-objects",
            "nova-common",
        ],
    ),
    (
        "nova-manage",
        &[
            "nova-rpc",
            "nova-db",
            "nova-clients",
            "nova-objects",
            "nova-common",
        ],
    ),
    (
        "nova-compute",
        &[
            "nova-rpc",
            "nova-virt",
            "nova-clients",
            "nova-linux-net",
            "nova-metadata",
            "nova-objects",
            "nova-common",
        ],
    ),
    (
        "nova-api",
        &[
            "nova-rpc",
            "nova-clients",
            "nova-metadata",
            "nova-objects",
            "nova-common",
        ],
    ),
    (
        "nova-network",
        &["nova-rpc", "nova-linux-net", "nova-objects", "nova-common"],
    ),
    (
        "nova-scheduler",
        &["nova-rpc", "nova-clients", "nova-objects", "nova-common"],
    ),
    (
        "nova-novncproxy",
        &["nova-rpc", "nova-clients", "nova-objects", "nova-common"],
    ),
];

#[test]
fn every_crate_depends_only_on_what_the_architecture_allows() {
    let deps = closure(&metadata());
    for (pkg, d) in &deps {
        if pkg == "nova-e2e" {
            continue; // the test harness may reach anything
        }
        let allowed = ALLOWED
            .iter()
            .find(|(p, _)| p == pkg)
            .unwrap_or_else(|| panic!("{pkg} is not in the layering table of ARCHITECTURE.md"))
            .1;
        for dep in d.iter().filter(|d| d.starts_with("nova-")) {
            assert!(
                allowed.contains(&dep.as_str()),
                "{pkg} depends on {dep}, which ARCHITECTURE.md §1 does not allow"
            );
        }
    }
    assert!(deps["nova-compute"].contains("nova-linux-net"));
    assert!(deps["nova-network"].contains("nova-linux-net"));
}

#[test]
fn only_the_conductor_side_reaches_the_database() {
    let deps = closure(&metadata());
    let allowed = ["nova-conductor", "nova-manage", "nova-db"];
    for (pkg, d) in &deps {
        if allowed.contains(&pkg.as_str()) {
            continue;
        }
        assert!(
            !d.contains("sqlx"),
            "{pkg} depends on sqlx: only the conductor side may touch PostgreSQL"
        );
        assert!(
            !d.contains("nova-db"),
            "{pkg} depends on nova-db: go through a conductor RPC"
        );
    }
    assert!(deps["nova-conductor"].contains("nova-db"));
}

#[test]
fn daemons_do_not_depend_on_each_other_and_heavy_crates_stay_put() {
    let deps = closure(&metadata());
    let daemons = [
        "nova-api",
        "nova-compute",
        "nova-scheduler",
        "nova-conductor",
        "nova-network",
        "nova-novncproxy",
    ];
    for a in daemons {
        for b in daemons {
            assert!(a == b || !deps[a].contains(b), "{a} depends on {b}");
        }
    }
    for (pkg, d) in &deps {
        if d.contains("virt") {
            assert!(
                pkg == "nova-compute" || pkg == "nova-virt",
                "{pkg} pulls in virt"
            );
        }
        if d.contains("lapin") {
            assert!(
                ![
                    "nova-common",
                    "nova-objects",
                    "nova-db",
                    "nova-virt",
                    "nova-manage"
                ]
                .contains(&pkg.as_str()),
                "{pkg} pulls in lapin"
            );
        }
    }
    // No TLS stacks on loopback: the daemons' clients (HTTP, AMQP,
    // PostgreSQL) speak plain TCP. The one exception is user-facing:
    // nova-novncproxy's own port (`[DEFAULT] cert`/`ssl_only`) and VeNCrypt
    // to the guests' VNC servers, both with rustls on ring.
    for (pkg, d) in &deps {
        for tls in ["rustls", "aws-lc-sys", "openssl-sys", "native-tls"] {
            let allowed = tls == "rustls" && pkg == "nova-novncproxy";
            assert!(allowed || !d.contains(tls), "{pkg} pulls in {tls}");
        }
    }
}
