#!/usr/bin/env bash
# Bring up a whole nova-rs cloud on this host: dependencies, build, database,
# Glance with one image, a fixed-IP network and the six daemons. Re-running
# restarts the daemons on the fresh build. Prints how to use the cloud.
#
# Environment: NOVA_CONF (/etc/nova/nova.conf), NOVA_STATE (/var/lib/nova-rs),
#   NOVA_LOG_DIR (/var/log/nova), NOVA_COMPUTE_DRIVER (libvirt.LibvirtDriver),
#   NOVA_LIBVIRT_URI (test:///default), NOVA_DB (nova).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conf="${NOVA_CONF:-/etc/nova/nova.conf}"
state="${NOVA_STATE:-/var/lib/nova-rs}"
logs="${NOVA_LOG_DIR:-/var/log/nova}"
db="${NOVA_DB:-nova}"
bin="$top/target/debug"
log() { printf '[all-in-one] %s\n' "$*"; }

bash "$top/deploy/install.sh"

log "building (cargo build --workspace --bins)"
(cd "$top" && cargo build --workspace --bins -q)

mkdir -p "$(dirname "$conf")" "$state" "$logs"
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
    || { log "creating database $db"; psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $db"; }

if [ ! -f "$conf" ]; then
    log "writing $conf"
    cat > "$conf" <<CONF
[DEFAULT]
host = $(hostname)
state_path = $state
compute_driver = ${NOVA_COMPUTE_DRIVER:-libvirt.LibvirtDriver}
transport_url = rabbit://guest:guest@127.0.0.1:5672/
osapi_compute_listen = 0.0.0.0

[database]
connection = postgresql://postgres@127.0.0.1/$db

[api]
# Keystone comes next; until then tokens are "user:project" (admin when user is admin).
auth_strategy = noauth2

[glance]
api_servers = http://127.0.0.1:9292

[libvirt]
virt_type = qemu
connection_uri = ${NOVA_LIBVIRT_URI:-test:///default}
CONF
else
    log "keeping existing $conf"
fi

"$bin/nova-manage" --config-file "$conf" db sync
if ! "$bin/nova-manage" --config-file "$conf" network list | grep -q private; then
    "$bin/nova-manage" --config-file "$conf" network create --label private --fixed_range_v4 10.0.0.0/24
fi

bash "$top/deploy/lib/glance.sh" start "$state/glance" 9292
image_id=$(curl -sf http://127.0.0.1:9292/v2/images?name=tiny | python3 -c 'import json,sys; i=json.load(sys.stdin)["images"]; print(i[0]["id"] if i else "")')
if [ -z "$image_id" ]; then
    log "uploading image 'tiny' to Glance"
    image_id=$(curl -sf -X POST http://127.0.0.1:9292/v2/images -H 'Content-Type: application/json' \
        -d '{"name": "tiny", "disk_format": "raw", "container_format": "bare", "visibility": "public"}' \
        | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
    head -c 1048576 /dev/zero > "$state/tiny.img"
    curl -sf -X PUT "http://127.0.0.1:9292/v2/images/$image_id/file" \
        -H 'Content-Type: application/octet-stream' --data-binary @"$state/tiny.img"
fi

for d in nova-conductor nova-scheduler nova-network nova-compute nova-api nova-novncproxy; do
    pidf="$state/$d.pid"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        kill -TERM "$(cat "$pidf")" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
    fi
    nohup "$bin/$d" --config-file "$conf" >>"$logs/$d.log" 2>&1 &
    echo $! > "$pidf"
    log "started $d (pid $!, log $logs/$d.log)"
done

for _ in $(seq 1 100); do
    curl -sf -o /dev/null http://127.0.0.1:8774/ && break; sleep 0.2
done

cat <<USAGE

nova-rs is running. Compute API: http://127.0.0.1:8774/v2.1  (config: $conf)
Authentication is noauth2 for now: send  X-Auth-Token: <user>:<project>  (user "admin" is an admin).

  T='X-Auth-Token: admin:admin'
  curl -s -H "\$T" http://127.0.0.1:8774/v2.1/flavors
  curl -s -H "\$T" -H 'Content-Type: application/json' http://127.0.0.1:8774/v2.1/servers \\
       -d '{"server": {"name": "vm1", "imageRef": "$image_id", "flavorRef": "1"}}'
  curl -s -H "\$T" http://127.0.0.1:8774/v2.1/servers/detail
  curl -s -H "\$T" http://127.0.0.1:8774/v2.1/os-services
  curl -s -H "\$T" -X DELETE http://127.0.0.1:8774/v2.1/servers/<id>

Operator tool:  $bin/nova-manage --config-file $conf service list
Stop everything: for p in $state/*.pid; do kill \$(cat \$p); done; bash $top/deploy/lib/glance.sh stop $state/glance
USAGE
