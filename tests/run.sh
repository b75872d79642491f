#!/usr/bin/env bash
# The test command: install what is missing, build, run every test
# (unit, crate tests against real PostgreSQL/RabbitMQ/libvirt test driver,
# end-to-end with the real binaries, Keystone and Glance).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
bash deploy/install.sh
echo "[tests] cargo build --workspace --bins"
cargo build --workspace --bins
echo "[tests] cargo test --workspace"
cargo test --workspace --no-fail-fast -- --test-threads=2
