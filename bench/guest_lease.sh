#!/usr/bin/env bash
# Benchmark (not a test): POST /servers → the tiny guest's GUEST-LEASE on its
# serial console, against a raw `virsh create` of the same domain on a bridge
# with a dnsmasq already serving its lease (tests/examples/lease_bench.rs).
# Release build; QEMU under TCG through qemu:///system. Prints
#   guest_lease_nova_s=a / b / c
#   guest_lease_raw_s=a / b / c
# (seconds, three runs each); bench/run.sh puts them in docs/benchmarks.md.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
# BENCH_PROFILE=debug uses the debug build (the guest's boot under TCG dominates both).
profile="${BENCH_PROFILE:-release}"
flag=(--release); [ "$profile" = debug ] && flag=()
cargo build "${flag[@]}" --bins -p nova-api -p nova-conductor -p nova-scheduler -p nova-compute \
  -p nova-network -p nova-novncproxy -p nova-manage
cargo build "${flag[@]}" -p nova-e2e --example lease_bench
NOVA_BIN_DIR="$top/target/$profile" RUST_LOG=warn "$top/target/$profile/examples/lease_bench"
