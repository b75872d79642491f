//! Not a test: start the cloud Tempest runs against
//! (`nova_e2e::start_tempest_cloud`), print how to run
//! `tests/tempest/run.sh` against it, and keep it until stdin closes or a
//! line is read; then tear it down. For working on Tempest failures without
//! starting a cloud per run:
//!
//! ```text
//! cargo run -p nova-e2e --example tempest_cloud
//! ```

#![allow(clippy::unwrap_used)]

use nova_e2e::start_tempest_cloud;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let cloud = start_tempest_cloud().await;
    println!(
        "cloud {} up: Keystone {}  nova {}  Glance {}  image {}\nlogs in {}\n\
         run: bash tests/tempest/run.sh --auth-url {} --image-ref {} --scheduler-filters {} [--regex RE]\n\
         press Enter (or close stdin) to tear it down",
        cloud.id,
        cloud.keystone.as_deref().unwrap_or_default(),
        cloud.api,
        cloud.glance,
        cloud.image_id,
        cloud.dir.display(),
        cloud.keystone.as_deref().unwrap_or_default(),
        cloud.image_id,
        nova_e2e::E2E_ENABLED_FILTERS,
    );
    let mut line = String::new();
    let _ = tokio::task::spawn_blocking(move || std::io::stdin().read_line(&mut line)).await;
}
