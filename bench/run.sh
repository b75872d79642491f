#!/usr/bin/env bash
# Benchmark (not a test): release build, then tests/examples/bench.rs against
# real PostgreSQL, RabbitMQ and Glance with FakeDriver. Writes docs/benchmarks.md.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$top"
bash deploy/install.sh
command -v wrk >/dev/null || apt-get install -y --no-install-recommends wrk >/dev/null
cargo build --release --workspace --bins
cargo build --release -p nova-e2e --example bench --example guest_bench --example select_destinations \
  --example console_bench --example ec2_bench --example lease_bench --example rpc_count
cargo build --release -p nova-rpc --example reply_codec
sched=$("$top/target/release/examples/select_destinations")
echo "$sched"
out=$(NOVA_BIN_DIR="$top/target/release" NOVA_E2E_FIXED_RANGE=10.20.0.0/20 RUST_LOG=warn "$top/target/release/examples/bench")
echo "$out"
guest=$(NOVA_BIN_DIR="$top/target/release" RUST_LOG=warn "$top/target/release/examples/guest_bench")
echo "$guest"
lease=$(NOVA_BIN_DIR="$top/target/release" RUST_LOG=warn "$top/target/release/examples/lease_bench")
echo "$lease"
console=$(NOVA_BIN_DIR="$top/target/release" RUST_LOG=warn "$top/target/release/examples/console_bench")
echo "$console"
ec2=$(NOVA_BIN_DIR="$top/target/release" RUST_LOG=warn "$top/target/release/examples/ec2_bench")
echo "$ec2"
rpcs=$(NOVA_BIN_DIR="$top/target/release" "$top/target/release/examples/rpc_count")
echo "$rpcs"
rpc() { echo "$rpcs" | sed -n "s/^rpc_$1_total=//p"; }
# Instructions (callgrind) one side of a 1,000-instance reply costs; "-" without valgrind.
codec_ir() {
  command -v valgrind >/dev/null || { echo "-"; return; }
  valgrind --tool=callgrind --callgrind-out-file=/dev/null --toggle-collect="reply_codec::codec::$1" \
    "$top/target/release/examples/reply_codec" both 1000 2>&1 | sed -n 's/.*Collected : //p'
}
codec_encode=$(codec_ir encode)
codec_decode=$(codec_ir decode)
eval_() { echo "$ec2" | sed -n "s/^$1=//p"; }
cval() { echo "$console" | sed -n "s/^$1=//p"; }
val() { echo "$out" | sed -n "s/^$1=//p"; }
mkdir -p docs
cat > docs/benchmarks.md <<DOC
# Benchmarks

Command: \`bash bench/run.sh\` (release build; FakeDriver; one host running PostgreSQL 15, RabbitMQ 3.10,
Glance 33 and all daemons; $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB; $(date -u +%Y-%m-%d)).

| measure | nova-rs | upstream Nova (same kind of machine) |
| --- | --- | --- |
| 100 servers, 10 concurrent clients: POST → all ACTIVE | $(val boot_100_s) s | 158 s |
| delete those 100 → all gone | $(val delete_100_s) s | 76 s |
| 1,000 servers, 50 concurrent clients (20 each): POST → all ACTIVE (all accepted after) | $(val boot_1000_s) s ($(val accept_1000_s) s) | – |
| one server POST → ACTIVE (median of 5) | $(val single_boot_median_s) s | 0.95 s |
| \`GET /v2.1/servers/detail\`, 0 servers (wrk, 16 connections) | $(val detail_rps_0) req/s | – |
| \`GET /v2.1/servers/detail\`, 100 servers (wrk, 16 connections) | $(val detail_rps_100) req/s | 4.6 req/s |
| idle RSS, api + conductor + scheduler + compute | $(val rss_api_conductor_scheduler_compute_mib) MiB | ~1.2 GiB |

## RPC reply path: one reply of 1,000 instances (callgrind instructions)

\`target/release/examples/reply_codec\` (crates/nova-rpc/examples/reply_codec.rs): the conductor's side serialises a
\`Vec<Instance>\` of 1,000 booted instances and wraps it in the oslo envelope; the caller's side unwraps it and decodes
the typed result. \`valgrind --tool=callgrind --toggle-collect='reply_codec::codec::<side>'\`, deterministic.
"Before" is d0631ad (result → \`serde_json::Value\` tree → cloned → string → escaped; reply → \`Value\` → cloned →
\`from_value\`), measured once on 2026-12-04.

| side | before | now |
| --- | --- | --- |
| conductor: encode the reply | 392,531,347 | $codec_encode |
| caller: decode the reply | 302,981,855 | $codec_decode |

## RPC messages per request

\`target/release/examples/rpc_count\` (tests/examples/rpc_count.rs): messages each daemon handled for one API request
(matched by its request id in the RPC servers' debug lines; casts and calls, not replies), one FakeDriver host.

| request | messages |
| --- | --- |
| boot one server (POST → ACTIVE) | $(rpc boot) |
| \`GET /servers/detail\`, admin at 2.16 (\`host_status\`) | $(rpc detail_admin_2_16) |
| \`GET /servers/{id}\`, admin at 2.16 | $(rpc show_admin_2_16) |
| \`GET /flavors\` | $(rpc flavors) |
| delete one server | $(rpc delete) |

What the profile showed before (callgrind, self cost, top of each side): encode: \`_int_free\` 10 %,
\`format_escaped_str\` 10 %, \`BTreeMap::insert\` 9 % (building the \`Value\` tree), \`String as fmt::Write\` 8 %, memcpy 8 %,
memcmp 5 % (sorted map keys), malloc 5 %; decode: \`skip_to_escape\` 10 % (the outer string), \`malloc_consolidate\` 8 %,
\`_int_free\` 8 %, \`BTreeMap::insert\` 7 %, memcmp, malloc, \`unlink_chunk\` 4 % each: about half of both sides was the
allocator and the \`Value\` trees. Now the conductor serialises the typed result once (\`envelope::to_json_text\`) and
writes the envelope around that text, escaping it once; the caller's reply consumer reads only \`_msg_id\` and hands the
inner text to the waiting call, which decodes its \`failure\` or its typed \`result\` in one pass
(\`ReplyBody::result\`); the outer string is unescaped by a table-driven loop when it is exactly as nova-rs writes it
(serde_json otherwise). What is left on the decode side: that unescaping (a third: the inner text escapes every quote,
so runs are short) and the typed parse itself (strings, timestamps, maps), each allocating what the result keeps. The envelope bytes are unchanged (a unit test compares them with the
\`Value\`-tree encoder's); inside \`result\`, an object's members now come in the type's field order rather than sorted,
as oslo.messaging's own \`json.dumps\` of a dict does.

Round trips: \`servers/detail\` and \`servers/{id}\` for an admin at 2.16 made a second conductor call,
\`service_get_all\`, only for \`host_status\`: 2 messages each before, now 1 (\`instance_get_all_by_filters_with_services\`,
\`instance_get_by_uuid_with_services\`: the services of the listed instances' hosts come with them; nothing is
cached, so a service change shows on the next request, which walking_skeleton checks). A boot asked Glance for the
image on every POST; nova-api now keeps an active image's metadata for \`[glance] image_metadata_cache_time\`
(5 s) per image and project (walking_skeleton checks that a deactivated, then deleted, image is refused within that
bound). A create within quota no longer counts the project's instances when instances, cores and ram are unlimited.

## EC2 API: \`DescribeInstances\` next to \`servers/detail\`

\`target/release/examples/ec2_bench\` (tests/examples/ec2_bench.rs): 16 concurrent clients for 10 s each, noauth2
(Keystone's signature check, one \`/v3/ec2tokens\` call per EC2 request, is not included, as it is not for the
compute API's token either).

| servers | \`GET /v2.1/servers/detail\` | EC2 \`DescribeInstances\` |
| --- | --- | --- |
| 0 | $(eval_ detail_rps_0) req/s | $(eval_ ec2_describe_rps_0) req/s |
| 100 | $(eval_ detail_rps_100) req/s | $(eval_ ec2_describe_rps_100) req/s |

## Real guest boot (QEMU TCG through qemu:///system, the tiny busybox guest from a qcow2 image)

Seconds from the start to the guest printing \`GUEST-INIT\` on its serial console, three runs each:

| path | runs |
| --- | --- |
| \`POST /v2.1/servers\` through nova-rs (run 1 includes the Glance download into \`_base\`) | $(echo "$guest" | sed -n 's/^guest_boot_nova_s=//p') |
| \`virsh create\` of the same domain XML and an overlay on the same base image | $(echo "$guest" | sed -n 's/^guest_boot_raw_s=//p') |

The difference is nova-rs's overhead: API, scheduling, conductor and network RPCs, overlay creation.
KVM is not usable on these machines (PVM), so both run under TCG.

Idle RSS per daemon (KiB):

\`\`\`
$(echo "$out" | sed -n 's/^rss_kib //p')
\`\`\`

## Real guest to its DHCP lease (nova-network's dnsmasq against a dnsmasq of its own)

\`bash bench/guest_lease.sh\` (tests/examples/lease_bench.rs): seconds from the start to the guest printing
\`GUEST-LEASE\` on its serial console, three runs each. Through nova-rs: \`POST /v2.1/servers\` (scheduling,
nova-network's address and lease, the VIF and nwfilter, the domain, the boot, DHCP). Raw: \`virsh create\` of
the same domain XML (without the nwfilter) on a bridge of its own, a dnsmasq already serving its MAC.

| path | runs |
| --- | --- |
| \`POST /v2.1/servers\` through nova-rs (run 1 includes the Glance download into \`_base\`) | $(echo "$lease" | sed -n 's/^guest_lease_nova_s=//p') |
| \`virsh create\` + a dnsmasq with the lease | $(echo "$lease" | sed -n 's/^guest_lease_raw_s=//p') |

## Scheduler: \`select_destinations\` over its host states

\`cargo run --release -p nova-e2e --example select_destinations\`: nova-scheduler's FilterScheduler over its
HostManager cache, without RPC (the cache is what a request reads; the conductor is never called). Default
filters, RAMWeigher, max_attempts - 1 = 2 alternates per instance; every node 64 CPUs, 256 GiB, 2 TB, partly used.
Each placement filters and weighs every node and consumes the chosen one.

| placements | 1,000 compute nodes | 10,000 compute nodes |
| --- | --- | --- |
| 1,000 requests of 1 instance | $(echo "$sched" | sed -n 's/^select_1000_of_1_over_1000_s=//p') s | $(echo "$sched" | sed -n 's/^select_1000_of_1_over_10000_s=//p') s |
| 1 request of 1,000 instances | $(echo "$sched" | sed -n 's/^select_1_of_1000_over_1000_s=//p') s | $(echo "$sched" | sed -n 's/^select_1_of_1000_over_10000_s=//p') s |

## Console: nova-novncproxy against a direct VNC connection

\`NOVA_BIN_DIR=target/release target/release/examples/console_bench\` (tests/examples/console_bench.rs): the tiny
guest under QEMU TCG, its $(cval console_frame) text console. Through nova-novncproxy, a websocket to the console URL's
token (with Nova's RFB security proxy in between); directly, RFB to the QEMU VNC port \`virsh vncdisplay\` gives.
Each of $(cval runs) runs: RFB 3.8, security None, shared ClientInit, 32 bpp, Raw encoding only, one non-incremental
FramebufferUpdateRequest for the whole screen; then $(cval updates_per_run) more, one after the other.

| measure (median of $(cval runs) runs) | through nova-novncproxy | direct to QEMU's VNC server |
| --- | --- | --- |
| connect → first complete framebuffer update | $(cval console_first_update_ms) ms ($(cval console_first_update_runs_ms)) | $(cval direct_first_update_ms) ms ($(cval direct_first_update_runs_ms)) |
| throughput of full Raw updates | $(cval console_mbps) MB/s ($(cval console_mbps_runs)) | $(cval direct_mbps) MB/s ($(cval direct_mbps_runs)) |
| request → complete update (QEMU's refresh timer) | $(cval console_update_round_trip_ms) ms | $(cval direct_update_round_trip_ms) ms |

The first row is what a user waits for after the websocket opens (the TCP connect, the upgrade, the token check and
the proxy's connection to the guest, the RFB handshake, one full screen). Throughput is the updates' bytes over the
time from each update's first byte to its last: QEMU answers a request only on its display refresh timer, so the wait
before the first byte belongs to QEMU, not to the path, and is the third row.
DOC
echo "wrote docs/benchmarks.md"
