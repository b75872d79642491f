#!/usr/bin/env bash
# tests/tempest/run.sh — run Tempest 47.0.0's compute API tests against a
# running nova-rs cloud and compare the result with the expected-pass list.
#
# Usage: tests/tempest/run.sh --auth-url URL [options]
#   --auth-url URL        Keystone v3 (http://127.0.0.1:5000/v3); the catalog
#                         must list compute (nova-rs) and image (Glance)
#   --admin-password PW   Keystone's admin user, project admin (default admin)
#   --workspace DIR       where tempest.conf, .stestr/ and logs go
#                         (default: a new temporary directory, kept)
#   --image-ref ID        Glance image the tests boot (default: the first
#   --image-ref-alt ID    active image(s) in Glance; alt = ref if only one)
#   --flavor-ref ID       (1)   --flavor-ref-alt ID   (2)
#   --network-name LABEL  nova-network label for [compute] fixed_network_name
#                         (default private)
#   --scheduler-filters L the cloud's [filter_scheduler] enabled_filters
#                         (default: nova-rs's default chain); Tempest skips
#                         the tests of filters not listed
#   --regex RE            which tests (default '^tempest\.api\.compute')
#   --concurrency N       Tempest workers (2)
#   --expected FILE       the expected-pass list (tests/tempest/expected-pass.txt)
#   --update              add every test that passed to that list (it only grows)
#
# What it does: makes sure the venv has Tempest (deploy/lib/venv.sh tempest),
# writes <workspace>/etc/tempest.conf (Keystone v3 with dynamic credentials:
# Tempest creates a project and users per test class as admin; Glance v2;
# neutron, cinder and swift off; max_microversion = the cloud's advertised
# maximum, read from its compute endpoint), runs the tests RE selects
# (`tempest run --load-list`, N workers) in two groups (below), reruns
# once (serially) the expected tests that did not pass, and prints the
# failures, the passing tests missing from the list, the regressions, the
# wall time and "N passed, N failed, N skipped".
#
# The two groups: with nova-network Tempest finds [compute]
# fixed_network_name through `GET /os-networks` at the test class's
# microversion, and that API answers 404 above 2.35 (as upstream Nova's
# proxy APIs do). So the classes whose minimum microversion is above 2.35
# run with etc/tempest-no-network.conf (fixed_network_name empty: servers
# boot on the project's default network, as Nova picks it), every other
# class with etc/tempest.conf (the network named, for the tests that read
# it: os-networks, the ip filters).
# Exit 0 when every expected test passed, 1 otherwise (2: bad usage or setup).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/../.." && pwd)"
NOVA_VENV="${NOVA_VENV:-/opt/nova-rs/venv}"

log() { printf 'tempest: %s\n' "$*"; }
die() { printf 'tempest: ERROR: %s\n' "$*" >&2; exit 2; }

auth_url="" admin_pw="${KEYSTONE_ADMIN_PASSWORD:-admin}" ws="" image="" image_alt=""
flavor=1 flavor_alt=2 network=private regex='^tempest\.api\.compute' conc=2
expected="$here/expected-pass.txt" update=""
filters=RetryFilter,AvailabilityZoneFilter,ComputeFilter,RamFilter,CoreFilter,DiskFilter,ComputeCapabilitiesFilter,ImagePropertiesFilter,ServerGroupAntiAffinityFilter,ServerGroupAffinityFilter
while [ "$#" -gt 0 ]; do
    case "$1" in
        --auth-url) auth_url="$2"; shift 2 ;;
        --admin-password) admin_pw="$2"; shift 2 ;;
        --workspace) ws="$2"; shift 2 ;;
        --image-ref) image="$2"; shift 2 ;;
        --image-ref-alt) image_alt="$2"; shift 2 ;;
        --flavor-ref) flavor="$2"; shift 2 ;;
        --flavor-ref-alt) flavor_alt="$2"; shift 2 ;;
        --network-name) network="$2"; shift 2 ;;
        --regex) regex="$2"; shift 2 ;;
        --scheduler-filters) filters="$2"; shift 2 ;;
        --concurrency) conc="$2"; shift 2 ;;
        --expected) expected="$2"; shift 2 ;;
        --update) update=--update; shift ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
done
[ -n "$auth_url" ] || die "--auth-url is required (see --help)"
auth_url="${auth_url%/}"
case "$auth_url" in */v3) ;; *) auth_url="$auth_url/v3" ;; esac
[ -n "$ws" ] || ws="$(mktemp -d /tmp/nova-tempest.XXXXXX)"
mkdir -p "$ws/etc" "$ws/locks"
ws="$(cd "$ws" && pwd)"
expected="$(cd "$(dirname "$expected")" && pwd)/$(basename "$expected")"

NOVA_VENV="$NOVA_VENV" bash "$top/deploy/lib/venv.sh" tempest >/dev/null \
    || die "deploy/lib/venv.sh tempest failed"

# ---- from the cloud: its compute max microversion, Glance's images --------------
# Printed as "max <version>" and "image <id>" lines (keystoneauth, as admin).
info="$(OS_AUTH_URL="$auth_url" OS_PASSWORD="$admin_pw" "$NOVA_VENV/bin/python" - <<'PY'
import os
from keystoneauth1 import session
from keystoneauth1.identity import v3
auth = v3.Password(auth_url=os.environ["OS_AUTH_URL"], username="admin",
                   password=os.environ["OS_PASSWORD"], project_name="admin",
                   user_domain_name="Default", project_domain_name="Default")
s = session.Session(auth=auth)
compute = s.get_endpoint(service_type="compute", interface="public")
print("max", s.get(compute, authenticated=False).json()["version"]["version"])
image = s.get_endpoint(service_type="image", interface="public")
images = s.get(image.rstrip("/") + "/v2/images?status=active&sort=created_at:asc").json()["images"]
for i in images:
    print("image", i["id"])
PY
)" || die "cannot read the cloud's compute version or Glance's images as admin at $auth_url"
max_mv="$(awk '$1 == "max" {print $2}' <<< "$info")"
[ -n "$max_mv" ] || die "the compute endpoint advertises no maximum microversion"
if [ -z "$image" ]; then
    mapfile -t images < <(awk '$1 == "image" {print $2}' <<< "$info")
    [ "${#images[@]}" -gt 0 ] || die "Glance has no active image; give --image-ref"
    image="${images[0]}"
    [ -n "$image_alt" ] || image_alt="${images[1]:-$image}"
fi
[ -n "$image_alt" ] || image_alt="$image"

# ---- workspace: .stestr.conf (what `tempest init` writes) and tempest.conf -------
site="$("$NOVA_VENV/bin/python" -c 'import os, tempest; print(os.path.dirname(os.path.dirname(tempest.__file__)))')"
printf '[DEFAULT]\ntest_path=%s\ntop_dir=%s\ngroup_regex=([^\\.]*\\.)*\n' \
    "$site/tempest/test_discover" "$site" > "$ws/.stestr.conf"
conf="$ws/etc/tempest.conf"
cat > "$conf" <<EOF
# Written by tests/tempest/run.sh for the nova-rs cloud at $auth_url
[DEFAULT]
log_file = $ws/tempest.log
use_stderr = false

[oslo_concurrency]
lock_path = $ws/locks

[auth]
# Dynamic credentials: a project and users per test class, made as admin.
use_dynamic_credentials = true
create_isolated_networks = false
admin_username = admin
admin_password = $admin_pw
admin_project_name = admin
admin_domain_name = Default

[identity]
uri_v3 = $auth_url
auth_version = v3
region = RegionOne
v3_endpoint_type = public

[identity-feature-enabled]
api_v3 = true

[service_available]
nova = true
glance = true
neutron = false
cinder = false
swift = false
horizon = false

[image-feature-enabled]
api_v2 = true

[compute]
region = RegionOne
endpoint_type = publicURL
image_ref = $image
image_ref_alt = $image_alt
flavor_ref = $flavor
flavor_ref_alt = $flavor_alt
fixed_network_name = $network
# 2.63's trusted_image_certificates: the ids are recorded and shown; as in
# Nova with [glance] verify_glance_signatures off (its default), nothing
# verifies an image's signature against them, so the test image stands in
# for a signed one (the test checks the bodies of show, update, rebuild
# and list).
certified_image_ref = $image
certified_image_trusted_certs = 0b5d2c72-12cc-4ba6-a8d7-3ff5cc1d8cb8,674736e3-f25c-405c-8362-bbf991e0ce0a
# What the cloud advertises (GET on its compute endpoint): classes whose
# range starts above it skip; 'latest' would run them all into 406s.
max_microversion = $max_mv
# The fake driver builds in about a second; a test that waits for a state
# that never comes (an action this cloud lacks) costs this much.
build_timeout = 60
build_interval = 1
min_compute_nodes = 2

[compute-feature-enabled]
# The filters the cloud's nova-scheduler runs ([filter_scheduler]
# enabled_filters, --scheduler-filters): Tempest skips the tests of filters
# it lacks.
scheduler_enabled_filters = $filters
console_output = true
vnc_console = true
pause = true
suspend = true
snapshot = true
resize = true
cold_migration = true
shelve = true
rescue = true
stable_rescue = true
metadata_service = true
interface_attach = false
change_password = true
# Between two hosts of different hypervisors (the e2e cloud's two fake
# hosts; libvirt refuses to migrate a guest to the libvirt it runs on).
live_migration = true
block_migration_for_live_migration = true
personality = true
config_drive = true

[validation]
run_validation = false
EOF

# The same settings without the network's name (see the header).
sed 's/^fixed_network_name = .*/fixed_network_name =/' "$conf" > "$ws/etc/tempest-no-network.conf"

# ---- run ---------------------------------------------------------------------
cd "$ws"
rm -rf .stestr
"$NOVA_VENV/bin/stestr" init >/dev/null
log "workspace $ws; compute max microversion $max_mv; images $image / $image_alt; flavors $flavor / $flavor_alt"
start=$SECONDS
"$NOVA_VENV/bin/tempest" run --config-file "$conf" --list-tests --regex "$regex" 2>/dev/null \
    | grep -E '^tempest\.' > "$ws/listed.txt" || die "tempest run --list-tests --regex '$regex' selected nothing"
# Split a list of test ids into <prefix>-network.txt and
# <prefix>-no-network.txt by their class's min_microversion (> 2.35: no
# network name).
split_by_microversion() {
    "$NOVA_VENV/bin/python" - "$1" "$2" <<'PY'
import importlib, sys
from tempest.lib.common.api_version_request import APIVersionRequest
src, prefix = sys.argv[1], sys.argv[2]
groups = {"network": [], "no-network": []}
for line in open(src):
    test = line.strip()
    if not test:
        continue
    module, cls, _ = test.split("[")[0].rsplit(".", 2)
    try:
        mv = getattr(getattr(importlib.import_module(module), cls), "min_microversion", None)
    except (ImportError, AttributeError):
        mv = None
    above = mv is not None and APIVersionRequest(mv) > APIVersionRequest("2.35")
    groups["no-network" if above else "network"].append(test)
for name, tests in groups.items():
    with open("%s-%s.txt" % (prefix, name), "w") as f:
        f.writelines(t + "\n" for t in tests)
PY
}
# Run one group's list (if not empty) with its config; its results go to
# <out>.csv, Tempest's output to <out>.log. Extra arguments go to tempest run.
run_group() {
    local list="$1" config="$2" out="$3"; shift 3
    [ -s "$list" ] || return 0
    local grc=0
    "$NOVA_VENV/bin/tempest" run --config-file "$config" --load-list "$list" "$@" \
        > "$out.log" 2>&1 || grc=$?
    # (stestr last and subunit2csv exit 1 when the run had failures: only
    # the CSV's rows count.)
    { "$NOVA_VENV/bin/stestr" last --subunit 2>/dev/null || true; } \
        | { "$NOVA_VENV/bin/subunit2csv" --no-passthrough || true; } > "$out.csv"
    csvs+=("$out.csv")
    return "$grc"
}
split_by_microversion "$ws/listed.txt" "$ws/listed"
log "tempest run --regex '$regex' --concurrency $conc ($(wc -l < "$ws/listed.txt") tests:" \
    "$(wc -l < "$ws/listed-network.txt") with the network named," \
    "$(wc -l < "$ws/listed-no-network.txt") above 2.35 without)"
csvs=()
rc=0
run_group "$ws/listed-network.txt" "$conf" "$ws/run" --concurrency "$conc" || rc=$?
run_group "$ws/listed-no-network.txt" "$ws/etc/tempest-no-network.conf" "$ws/run-no-network" \
    --concurrency "$conc" || rc=$?
wall=$(( SECONDS - start ))
[ "$(cat "${csvs[@]}" /dev/null | wc -l)" -gt 1 ] \
    || die "tempest ran no test (exit $rc); see $ws/run.log: $(tail -n 20 "$ws/run.log")"
for l in "$ws/run.log" "$ws/run-no-network.log"; do
    [ -f "$l" ] || continue
    log "$(basename "$l"):"
    grep -E '^(Totals|=+|Ran|OK|FAILED| - )' "$l" | tail -n 8 | sed 's/^/tempest:   /' || true
done

# Expected tests that did not pass: once more, serially (a flaky test is
# reported, not hidden: it is listed as failed in the first run).
if ! "$NOVA_VENV/bin/python" "$here/results.py" "${csvs[@]}" --expected "$expected" \
        --listed "$ws/listed.txt" --retry-out "$ws/retry.txt"; then
    log "rerunning $(wc -l < "$ws/retry.txt") expected test(s) that did not pass, serially"
    split_by_microversion "$ws/retry.txt" "$ws/retry"
    run_group "$ws/retry-network.txt" "$conf" "$ws/retry" --serial || true
    run_group "$ws/retry-no-network.txt" "$ws/etc/tempest-no-network.conf" \
        "$ws/retry-no-network" --serial || true
    wall=$(( SECONDS - start ))
fi

verdict=0
"$NOVA_VENV/bin/python" "$here/results.py" "${csvs[@]}" --expected "$expected" \
    --listed "$ws/listed.txt" $update || verdict=$?
log "wall time ${wall}s (tempest run --regex '$regex' --concurrency $conc); logs in $ws (run.log, tempest.log)"
exit "$verdict"
