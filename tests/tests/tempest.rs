//! Tempest 47.0.0's compute API tests (`^tempest\.api\.compute`) against a
//! whole nova-rs cloud: Keystone on PostgreSQL, Glance, every daemon, two
//! fake-driver compute hosts. `tests/tempest/run.sh` writes tempest.conf
//! (dynamic credentials, neutron/cinder/swift off, max_microversion =
//! latest, two distinct images), runs Tempest with 2 workers and fails when a test of
//! `tests/tempest/expected-pass.txt` does not pass; Tempest's response
//! schemas are the contract.
//!
//! `NOVA_TEMPEST_REGEX` runs a subset (only the expected tests it selects
//! count); `NOVA_TEMPEST_UPDATE=1` adds the tests that passed to the list.

#![allow(clippy::unwrap_used)]

use nova_e2e::{run_tempest, start_tempest_cloud, upload_image};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tempest_compute_api() {
    let cloud = start_tempest_cloud().await;
    let ws = cloud.dir.join("tempest");
    // A second image, so the tests that tell two images apart (the server
    // list's image filter) have an `image_ref_alt` distinct from `image_ref`.
    let alt = upload_image(
        &cloud.http,
        &cloud.glance,
        "tempest-image-alt",
        Some(&cloud.admin),
    )
    .await;
    let mut extra = vec!["--image-ref-alt", alt.as_str()];
    let regex = std::env::var("NOVA_TEMPEST_REGEX").unwrap_or_default();
    if !regex.is_empty() {
        extra.extend(["--regex", regex.as_str()]);
    }
    if std::env::var("NOVA_TEMPEST_UPDATE").is_ok_and(|v| v == "1") {
        extra.push("--update");
    }
    let (code, out) = tokio::task::block_in_place(|| run_tempest(&cloud, &ws, &extra));
    println!("{out}");
    assert_eq!(
        code,
        0,
        "Tempest: an expected test did not pass (or the run failed); workspace and cloud logs in {}:\n{out}",
        cloud.dir.display()
    );
}
