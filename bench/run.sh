#!/usr/bin/env bash
# Benchmark (not a test): release build, then tests/examples/bench.rs and the other benchmark examples
# against real PostgreSQL, RabbitMQ and Glance with FakeDriver. Updates docs/benchmarks.md: each
# generated block sits between `<!-- bench:NAME -->` and `<!-- /bench:NAME -->`, and only the blocks of
# what ran are replaced (the prose around them, and blocks of benchmarks not run, stay as they are).
#
#   BENCH_GUESTS=0   skip the real-guest benchmarks (QEMU TCG: guest boot, DHCP lease, console)
#
# Builds go through the shared build lock (/tmp/nova-build.lock), as every cargo build on this machine does.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
guests="${BENCH_GUESTS:-1}"
bash deploy/install.sh
command -v wrk >/dev/null || apt-get install -y --no-install-recommends wrk >/dev/null
lock=/tmp/nova-build.lock
flock "$lock" cargo build --release --workspace --bins
flock "$lock" cargo build --release -p nova-e2e --example bench --example guest_bench --example select_destinations \
  --example console_bench --example ec2_bench --example lease_bench --example rpc_count --example restart_bench \
  --example resize_bench
flock "$lock" cargo build --release -p nova-rpc --example reply_codec --example echo_floor
rel="$top/target/release"
gen="$(mktemp -d)"
trap 'rm -rf "$gen"' EXIT
load() { awk '{print $1", "$2", "$3}' /proc/loadavg; }
when() { echo "$(date -u +%Y-%m-%d), load average before the run $1"; }
commas() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta'; }

# --- the scheduler alone (no daemons) ---
load0=$(load)
sched=$("$rel/examples/select_destinations")
echo "$sched"
sv() { echo "$sched" | sed -n "s/^$1=//p"; }
# Instructions (callgrind) of 1,000 one-instance placements over 10,000 nodes; "-" without valgrind.
sched_ir="-"
if command -v valgrind >/dev/null; then
  sched_ir=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null \
    --toggle-collect='select_destinations::one_by_one' "$rel/examples/select_destinations" 10000 2>&1 |
    sed -n 's/.*Collected : //p' | commas)
fi
cat > "$gen/scheduler" <<DOC
| placements ($(when "$load0")) | 1,000 compute nodes | 10,000 compute nodes |
| --- | --- | --- |
| 1,000 requests of 1 instance | $(sv select_1000_of_1_over_1000_s) s | $(sv select_1000_of_1_over_10000_s) s ($sched_ir instructions) |
| 1 request of 1,000 instances | $(sv select_1_of_1000_over_1000_s) s | $(sv select_1_of_1000_over_10000_s) s |
DOC

# --- the RPC reply codec (callgrind) ---
codec_ir() {
  command -v valgrind >/dev/null || { echo "-"; return; }
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="reply_codec::codec::$1" \
    "$rel/examples/reply_codec" both 1000 2>&1 | sed -n 's/.*Collected : //p' | commas
}
cat > "$gen/codec" <<DOC
| side | before | now |
| --- | --- | --- |
| conductor: encode the reply | 392,531,347 | $(codec_ir encode) |
| caller: decode the reply | 302,981,855 | $(codec_ir decode) |
DOC

# --- the floor: an RPC call that only answers (two processes, the real RabbitMQ) ---
floor=$("$rel/examples/echo_floor" 10)
echo "$floor"
fv() { echo "$floor" | sed -n "s/^$1=//p"; }

# --- a cloud: boots, deletes, lists, RSS, CPU per request ---
load0=$(load)
out=$(NOVA_BIN_DIR="$rel" NOVA_E2E_FIXED_RANGE=10.20.0.0/20 RUST_LOG=warn "$rel/examples/bench")
echo "$out"
val() { echo "$out" | sed -n "s/^$1=//p"; }
pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f %%", 100 * a / b; else print "-" }'; }
cat > "$gen/main" <<DOC
Figures of $(when "$load0") ($(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; release build; FakeDriver;
noauth2; PostgreSQL, RabbitMQ, Glance and every daemon on the same host).

| measure | nova-rs | upstream Nova 34 (issue 14, a quiet machine) |
| --- | --- | --- |
| RPC echo call, the floor (16 in flight, \`crates/nova-rpc/examples/echo_floor.rs\`) | $(fv echo_rps_c16) calls/s (one at a time: $(fv echo_rps_c1)) | – |
| \`GET /v2.1/servers/detail\`, 0 servers (wrk, 16 connections) | $(val detail_rps_0) req/s ($(pct "$(val detail_rps_0)" "$(fv echo_rps_c16)") of the floor) | 96.4 req/s |
| \`GET /v2.1/servers/detail?status=ACTIVE\`, 0 servers (the same empty answer, asked of the conductor) | $(val detail_rps_0_asked) req/s ($(pct "$(val detail_rps_0_asked)" "$(fv echo_rps_c16)") of the floor) | – |
| \`GET /v2.1/servers/detail\`, 100 servers | $(val detail_rps_100) req/s | 7.3 req/s |
| \`GET /v2.1/servers/detail\`, another project's 100 servers beside the admin's 1,000 | $(val detail_rps_100_beside_1000) req/s | – |
| \`GET /v2.1/servers/detail?limit=1000\`, 1,000 servers | $(val detail_rps_1000) req/s | – |
| \`GET /v2.1/flavors\` | $(val flavors_rps) req/s ($(pct "$(val flavors_rps)" "$(fv echo_rps_c16)") of the floor) | 274 req/s |
| one server POST → ACTIVE (median of 5) | $(val single_boot_median_s) s | 0.709 s |
| 100 servers, 10 concurrent clients: POST → all ACTIVE | $(val boot_100_s) s | 94.4 s |
| 200 servers, 10 concurrent clients: POST → all ACTIVE | $(val boot_200_s) s | 449 s |
| delete 100 → all gone | $(val delete_100_s) s | – |
| 1,000 servers, 50 concurrent clients (20 each): POST → all ACTIVE (all accepted after) | $(val boot_1000_s) s ($(val accept_1000_s) s) | – |
| idle RSS, api + conductor + scheduler + compute | $(val rss_api_conductor_scheduler_compute_mib) MiB | 1,165 MiB |
| nova-api RSS after the 1,000-server lists | $(val api_rss_after_1000_lists_mib) MiB | – |

Idle RSS per daemon (KiB):

\`\`\`
$(echo "$out" | sed -n 's/^rss_kib //p')
\`\`\`

CPU time per request (ms, utime + stime from \`/proc/<pid>/stat\` over the phase, divided by its requests;
a boot's includes its build, a list phase is wrk's 10 s):

| phase | $(echo "$out" | sed -n 's/^cpu_ms_per_request detail_0 \([^=]*\)=.*/\1/p' | paste -sd'|' | sed 's/|/ | /g') |
| --- | $(echo "$out" | sed -n 's/^cpu_ms_per_request detail_0 .*/---/p' | paste -sd'|' | sed 's/|/ | /g') |
$(for p in detail_0 detail_0_asked flavors detail_100 detail_1000 detail_100_beside_1000 boot_100 boot_200 boot_1000 delete_100; do
  echo "| $p | $(echo "$out" | sed -n "s/^cpu_ms_per_request $p [^=]*=//p" | paste -sd'|' | sed 's/|/ | /g') |"
done)
DOC

# --- nova-compute restart with 1,000 instances ---
load0=$(load)
restart=$(NOVA_BIN_DIR="$rel" NOVA_E2E_FIXED_RANGE=10.21.0.0/20 RUST_LOG=warn "$rel/examples/restart_bench")
echo "$restart"
rv() { echo "$restart" | sed -n "s/^$1=//p"; }
cat > "$gen/restart" <<DOC
| measure ($(when "$load0")) | value |
| --- | --- |
| nova-compute start → \`init_host\` done, 1,000 instances on the host | $(rv restart_1000_s) s |
| messages nova-conductor handled meanwhile (\`instance_sync_power_states\`) | $(rv restart_1000_conductor_messages) ($(echo "$restart" | sed -n 's/^restart_1000_conductor instance_sync_power_states=//p')) |
DOC

# --- messages per request ---
rpcs=$(NOVA_BIN_DIR="$rel" "$rel/examples/rpc_count")
echo "$rpcs"
rpc() { echo "$rpcs" | sed -n "s/^rpc_$1_total=//p"; }
cat > "$gen/rpc" <<DOC
| request | messages |
| --- | --- |
| boot one server (POST → ACTIVE) | $(rpc boot) |
| \`GET /servers/detail\`, admin at 2.16 (\`host_status\`) | $(rpc detail_admin_2_16) |
| \`GET /servers/{id}\`, admin at 2.16 | $(rpc show_admin_2_16) |
| \`GET /flavors\` | $(rpc flavors) |
| delete one server | $(rpc delete) |
DOC

# --- EC2 ---
ec2=$(NOVA_BIN_DIR="$rel" RUST_LOG=warn "$rel/examples/ec2_bench")
echo "$ec2"
eval_() { echo "$ec2" | sed -n "s/^$1=//p"; }
cat > "$gen/ec2" <<DOC
| servers | \`GET /v2.1/servers/detail\` | EC2 \`DescribeInstances\` |
| --- | --- | --- |
| 0 | $(eval_ detail_rps_0) req/s | $(eval_ ec2_describe_rps_0) req/s |
| 100 | $(eval_ detail_rps_100) req/s | $(eval_ ec2_describe_rps_100) req/s |
DOC

if [ "$guests" != 0 ]; then
  guest=$(NOVA_BIN_DIR="$rel" RUST_LOG=warn "$rel/examples/guest_bench")
  echo "$guest"
  lease=$(NOVA_BIN_DIR="$rel" RUST_LOG=warn "$rel/examples/lease_bench")
  echo "$lease"
  load0=$(load)
  resize=$(NOVA_BIN_DIR="$rel" RUST_LOG=warn "$rel/examples/resize_bench")
  echo "$resize"
  zv() { echo "$resize" | sed -n "s/^$1=//p"; }
  cat > "$gen/resize" <<DOC
| step ($(when "$load0")) | runs (s) |
| --- | --- |
| resize: \`POST resize\` → \`VERIFY_RESIZE\` (the other host, a disk 1 GB bigger) | $(zv resize_verify_s) |
| resize: \`POST resize\` → \`GUEST-INIT\` on the destination's console | $(zv resize_guest_init_s) |
| resize: \`confirmResize\` → \`ACTIVE\` | $(zv resize_confirm_s) |
| cold migrate: \`POST migrate\` → \`VERIFY_RESIZE\` | $(zv migrate_verify_s) |
| cold migrate: \`POST migrate\` → \`GUEST-INIT\` on the destination's console | $(zv migrate_guest_init_s) |
| cold migrate: \`confirmResize\` → \`ACTIVE\` | $(zv migrate_confirm_s) |
| raw: \`virsh shutdown\` → shut off | $(zv raw_shutdown_s) |
| raw: \`qemu-img convert\` + \`qemu-img resize\` | $(zv raw_copy_s) |
| raw: \`virsh define\` + \`virsh start\` → \`GUEST-INIT\` | $(zv raw_start_guest_init_s) |
| raw: all three (compare with POST → \`GUEST-INIT\`) | $(zv raw_move_guest_init_s) |
DOC
  console=$(NOVA_BIN_DIR="$rel" RUST_LOG=warn "$rel/examples/console_bench")
  echo "$console"
  cval() { echo "$console" | sed -n "s/^$1=//p"; }
  cat > "$gen/guest" <<DOC
| path | runs |
| --- | --- |
| \`POST /v2.1/servers\` through nova-rs (run 1 includes the Glance download into \`_base\`) | $(echo "$guest" | sed -n 's/^guest_boot_nova_s=//p') |
| \`virsh create\` of the same domain XML and an overlay on the same base image | $(echo "$guest" | sed -n 's/^guest_boot_raw_s=//p') |
DOC
  cat > "$gen/lease" <<DOC
| path | runs |
| --- | --- |
| \`POST /v2.1/servers\` through nova-rs (run 1 includes the Glance download into \`_base\`) | $(echo "$lease" | sed -n 's/^guest_lease_nova_s=//p') |
| \`virsh create\` + a dnsmasq with the lease | $(echo "$lease" | sed -n 's/^guest_lease_raw_s=//p') |
DOC
  cat > "$gen/console" <<DOC
| measure (median of $(cval runs) runs, $(cval console_frame) console) | through nova-novncproxy | direct to QEMU's VNC server |
| --- | --- | --- |
| connect → first complete framebuffer update | $(cval console_first_update_ms) ms ($(cval console_first_update_runs_ms)) | $(cval direct_first_update_ms) ms ($(cval direct_first_update_runs_ms)) |
| throughput of full Raw updates | $(cval console_mbps) MB/s ($(cval console_mbps_runs)) | $(cval direct_mbps) MB/s ($(cval direct_mbps_runs)) |
| request → complete update (QEMU's refresh timer) | $(cval console_update_round_trip_ms) ms | $(cval direct_update_round_trip_ms) ms |
DOC
fi

# Replace each generated block in docs/benchmarks.md.
python3 - "$gen" docs/benchmarks.md <<'PY'
import os, re, sys
gen, doc = sys.argv[1], sys.argv[2]
text = open(doc).read()
for name in sorted(os.listdir(gen)):
    body = open(os.path.join(gen, name)).read().rstrip("\n")
    pat = re.compile(r"(<!-- bench:%s -->\n).*?(\n<!-- /bench:%s -->)" % (re.escape(name), re.escape(name)), re.S)
    if not pat.search(text):
        sys.exit("docs/benchmarks.md has no block bench:%s" % name)
    text = pat.sub(lambda m: m.group(1) + body + m.group(2), text)
open(doc, "w").write(text)
PY
echo "updated docs/benchmarks.md"
