#!/usr/bin/env bash
# Bring up a whole nova-rs cloud on this host: dependencies, build, database,
# Keystone (5000) with the admin/demo users and the service catalog, Glance
# (9292) behind Keystone with one image, a fixed-IP network and the six
# daemons (systemd units when systemd is PID 1, else background processes).
# Re-running skips what is done and restarts only daemons whose binary changed.
# Prints how to use the cloud with the openstack CLI.
#
# Environment: NOVA_CONF (/etc/nova/nova.conf), NOVA_STATE (/var/lib/nova under
#   systemd, else /var/lib/nova-rs), NOVA_NO_SYSTEMD (set: never use systemd units),
#   NOVA_LOG_DIR (/var/log/nova), NOVA_COMPUTE_DRIVER (libvirt.LibvirtDriver),
#   NOVA_LIBVIRT_URI (qemu:///system: real QEMU guests under TCG; test:///default
#   for libvirt's in-memory test driver), NOVA_DB (nova), NOVA_FLOATING_RANGE (unset:
#   no floating IPs; a CIDR on the public side, e.g. 172.24.4.0/24, made floating IPs of
#   the default pool `nova` on [DEFAULT] public_interface), NOVA_COMPUTE_HOSTS (1; 2 or
#   more start more nova-compute on this machine, host <hostname>-c<n> with its own
#   instances_path, config $state/compute-c<n>.conf and program name nova-compute-c<n>
#   (its iptables chains), all on the same libvirt and bridge: for resize and migrate).
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
conf="${NOVA_CONF:-/etc/nova/nova.conf}"
clouds="${CLOUDS_YAML:-/etc/openstack/clouds.yaml}"
venv="${NOVA_VENV:-/opt/nova-rs/venv}"
# With systemd as PID 1 the daemons run as units from /usr/bin (the operator
# install, deploy/install-services.sh) in /var/lib/nova; otherwise
# (containers) they run from the build under nohup.
if [ "$(ps -p 1 -o comm= 2>/dev/null || true)" = systemd ] && [ -z "${NOVA_NO_SYSTEMD:-}" ]; then
    use_systemd=1
    state="${NOVA_STATE:-/var/lib/nova}"
else
    use_systemd=0
    state="${NOVA_STATE:-/var/lib/nova-rs}"
fi
logs="${NOVA_LOG_DIR:-/var/log/nova}"
db="${NOVA_DB:-nova}"
bin="$top/target/debug"
log() { printf '[all-in-one] %s\n' "$*"; }

bash "$top/deploy/install.sh"

uri="${NOVA_LIBVIRT_URI:-qemu:///system}"
if [ "$uri" = "qemu:///system" ]; then
    bash "$top/deploy/lib/libvirt.sh" start
fi
bash "$top/deploy/lib/guest-image.sh" "$state/guest"

log "building (cargo build --workspace --bins)"
(cd "$top" && cargo build --workspace --bins)

if [ "$use_systemd" = 1 ]; then
    bash "$top/deploy/install-services.sh"
    bin=/usr/bin
fi

mkdir -p "$(dirname "$conf")" "$state" "$logs"
pg() { bash "$top/deploy/lib/postgres.sh" psql "$@"; }
pg -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 \
    || { log "creating database $db"; pg -d postgres -qc "CREATE DATABASE $db"; }

# Keystone, then the catalog and users, then Glance behind Keystone.
bash "$top/deploy/lib/keystone.sh" start "$state/keystone" 5000
# The catalog and users once per Keystone database (a re-run skips it).
stamp="$state/keystone/cloud-setup.done"
if [ -f "$stamp" ] && [ -f "$clouds" ] && [ "$stamp" -nt "$state/keystone/keystone.initialized" ] \
    && [ "$stamp" -nt "$top/deploy/lib/cloud-setup.sh" ]; then
    log "Keystone users and catalog already set up ($clouds)"
else
    CLOUDS_YAML="$clouds" bash "$top/deploy/lib/cloud-setup.sh" \
        http://127.0.0.1:5000/v3 http://127.0.0.1:8774/v2.1 http://127.0.0.1:9292
    touch "$stamp"
fi
# A Glance already running behind Keystone stays; one started without auth
# (glance.sh's default) is restarted in Keystone mode.
if ! grep -qx 'flavor = keystone' "$state/glance/glance-api.conf" 2>/dev/null; then
    bash "$top/deploy/lib/glance.sh" stop "$state/glance"
fi
GLANCE_KEYSTONE_URL=http://127.0.0.1:5000/v3 bash "$top/deploy/lib/glance.sh" start "$state/glance" 9292

if [ ! -f "$conf" ]; then
    log "writing $conf"
    (umask 027 && cat > "$conf") <<CONF
[DEFAULT]
host = $(hostname)
state_path = $state
compute_driver = ${NOVA_COMPUTE_DRIVER:-libvirt.LibvirtDriver}
transport_url = rabbit://guest:guest@127.0.0.1:5672/
osapi_compute_listen = 0.0.0.0
enabled_apis = osapi_compute,metadata,ec2
ec2_listen = 0.0.0.0

[database]
connection = $(bash "$top/deploy/lib/postgres.sh" url "$db")

[api]
auth_strategy = keystone

[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000/v3
auth_url = http://127.0.0.1:5000/v3
auth_type = password
username = nova
password = ${NOVA_SERVICE_PASSWORD:-nova}
project_name = service
user_domain_name = Default
project_domain_name = Default

[glance]
api_servers = http://127.0.0.1:9292

[libvirt]
virt_type = qemu
connection_uri = $uri
CONF
else
    log "keeping existing $conf"
fi

"$bin/nova-manage" --config-file "$conf" db sync
if ! "$bin/nova-manage" --config-file "$conf" network list | grep -qF 10.0.0.0/24; then
    "$bin/nova-manage" --config-file "$conf" network create --label private --fixed_range_v4 10.0.0.0/24
fi
if ! grep -Eq '^enabled_apis *=.*metadata' "$conf"; then
    log "note: $conf has no metadata in enabled_apis: guests get no metadata (169.254.169.254)"
fi
# The advertised floating range (pool [DEFAULT] default_floating_pool, on
# public_interface): created unless its addresses already exist.
if [ -n "${NOVA_FLOATING_RANGE:-}" ]; then
    if out="$("$bin/nova-manage" --config-file "$conf" floating create --ip_range "$NOVA_FLOATING_RANGE" 2>&1)"; then
        log "$out"
    elif echo "$out" | grep -q 'already exists'; then
        log "floating IPs of $NOVA_FLOATING_RANGE already exist"
    else
        echo "$out" >&2
        log "cannot create the floating IPs $NOVA_FLOATING_RANGE"
        exit 1
    fi
fi

export OS_CLIENT_CONFIG_FILE="$clouds"
# The project's tiny busybox guest, as a disk image and as AKI/ARI/AMI.
osc_admin() { OS_CLOUD=admin "$venv/bin/openstack" "$@"; }
# One listing of Glance's images (name → id), refreshed after each upload.
images=""
list_images() { images="$(osc_admin image list -f value -c Name -c ID)"; }
image_of() { awk -v n="$1" '$2 == n { print $1; exit }' <<<"$images"; }
list_images
upload() { # name disk_format container_format file [properties...]
    local name=$1 df=$2 cf=$3 file=$4; shift 4
    [ -n "$(image_of "$name")" ] && return 0
    log "uploading image '$name' ($(du -h "$file" | cut -f1)) to Glance"
    osc_admin image create --progress --public --disk-format "$df" --container-format "$cf" --file "$file" "$@" "$name" >/dev/null
    list_images
}
upload tiny qcow2 bare "$state/guest/disk.qcow2"
upload tiny-aki aki aki "$state/guest/vmlinuz"
upload tiny-ari ari ari "$state/guest/initrd.gz"
head -c 1048576 /dev/zero > "$state/tiny-ami.img"
upload tiny-ami ami ami "$state/tiny-ami.img" --property kernel_id="$(image_of tiny-aki)" --property ramdisk_id="$(image_of tiny-ari)"

[ "$use_systemd" = 1 ] && [ -n "$(getent group nova)" ] && chgrp nova "$conf" && chmod 0640 "$conf"
for d in nova-conductor nova-scheduler nova-network nova-compute nova-api nova-novncproxy; do
    if [ "$use_systemd" = 1 ]; then
        # restart only what the install changed or what is not running
        if systemctl is-active -q "$d" && [ "$bin/$d" -ot "/run/nova-rs-$d.started" ]; then
            log "$d is running"
        else
            systemctl enable -q "$d" && systemctl restart "$d" && touch "/run/nova-rs-$d.started"
            log "started $d (systemctl status $d; journalctl -u $d)"
        fi
        continue
    fi
    pidf="$state/$d.pid"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        if [ "$bin/$d" -ot "$pidf" ]; then
            log "$d is running (pid $(cat "$pidf"))"
            continue
        fi
        kill -TERM "$(cat "$pidf")" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
    fi
    nohup "$bin/$d" --config-file "$conf" >>"$logs/$d.log" 2>&1 &
    echo $! > "$pidf"
    log "started $d (pid $!, log $logs/$d.log)"
done

# More compute hosts on this machine (NOVA_COMPUTE_HOSTS): each its own host
# name, instances_path and program name (iptables chains are named after the
# program); they share libvirt, each seeing only the domains it owns.
for n in $(seq 2 "${NOVA_COMPUTE_HOSTS:-1}"); do
    d="nova-compute-c$n"
    extra="$state/compute-c$n.conf"
    if [ ! -f "$extra" ]; then
        printf '[DEFAULT]\nhost = %s-c%s\ninstances_path = %s/instances-c%s\n' \
            "$(hostname)" "$n" "$state" "$n" > "$extra"
        log "writing $extra"
    fi
    mkdir -p "$state/bin"
    ln -sf "$bin/nova-compute" "$state/bin/$d"
    if [ "$use_systemd" = 1 ]; then
        if systemctl is-active -q "$d"; then
            log "$d is running"
        else
            systemd-run -q --unit "$d" "$state/bin/$d" --config-file "$conf" --config-file "$extra"
            log "started $d (systemctl status $d)"
        fi
        continue
    fi
    pidf="$state/$d.pid"
    if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
        if [ "$bin/nova-compute" -ot "$pidf" ]; then
            log "$d is running (pid $(cat "$pidf"))"
            continue
        fi
        kill -TERM "$(cat "$pidf")" 2>/dev/null || true
        for _ in $(seq 1 100); do kill -0 "$(cat "$pidf")" 2>/dev/null || break; sleep 0.1; done
    fi
    nohup "$state/bin/$d" --config-file "$conf" --config-file "$extra" >>"$logs/$d.log" 2>&1 &
    echo $! > "$pidf"
    log "started $d (pid $!, log $logs/$d.log)"
done

for _ in $(seq 1 100); do
    curl -sf -o /dev/null http://127.0.0.1:8774/ && break; sleep 0.2
done
# A flavor the 128 MiB test guest fits (the API must be up; services need a moment to check in).
for _ in $(seq 1 30); do
    osc_admin flavor list -f value -c Name 2>/dev/null | grep -qx m1.nano && break
    osc_admin flavor create --ram 128 --disk 1 --vcpus 1 --id 42 m1.nano >/dev/null 2>&1 && break
    sleep 1
done

cat <<USAGE

nova-rs is running. Compute API: http://127.0.0.1:8774/v2.1  (config: $conf)
Keystone: http://127.0.0.1:5000/v3   Glance: http://127.0.0.1:9292
Credentials for the openstack CLI are in $clouds (clouds: admin, demo, alt_demo),
or source one of $(dirname "$clouds")/openrc-{admin,demo,alt_demo}.

  export OS_CLIENT_CONFIG_FILE=$clouds OS_CLOUD=demo PATH=$venv/bin:\$PATH
  openstack flavor list
  openstack keypair create mykey > mykey.pem
  openstack server create --image tiny --flavor m1.nano --key-name mykey --wait vm1
  openstack console log show vm1 | grep GUEST-     # the guest's boot markers (QEMU under TCG):
      # GUEST-LEASE ip=10.0.0.x/24 (its fixed IP from nova-network's dnsmasq),
      # GUEST-METADATA uuid=... (read from http://169.254.169.254, nova-network's forward to 8775)
  openstack console url show --novnc vm1          # open the URL in a browser: the guest's console (noVNC)
  openstack server list
  openstack server resize --flavor m1.small vm1    # with NOVA_COMPUTE_HOSTS=2: to the other host
  openstack server resize confirm vm1              # (or: openstack server resize revert vm1)
  OS_CLOUD=admin openstack server migrate vm1      # cold migration (admin)
  openstack server delete --wait vm1
  OS_CLOUD=admin openstack compute service list

EC2 API (boto3, the aws CLI in $venv/bin): http://127.0.0.1:8773
  openstack ec2 credentials create                 # its access and secret go in ~/.aws/credentials
  aws --endpoint-url http://127.0.0.1:8773 --region nova ec2 describe-instances

With curl:  T=\$(openstack token issue -f value -c id)
  curl -s -H "X-Auth-Token: \$T" http://127.0.0.1:8774/v2.1/servers/detail

Floating IPs (NOVA_FLOATING_RANGE; the compute API's nova-network proxies, microversion <= 2.35):
  H=(-H "X-Auth-Token: \$T" -H "OpenStack-API-Version: compute 2.1" -H "Content-Type: application/json")
  curl -s "\${H[@]}" -d '{}' http://127.0.0.1:8774/v2.1/os-floating-ips        # allocate: floating_ip.ip
  curl -s "\${H[@]}" -d '{"addFloatingIp": {"address": "<ip>"}}' \\
      http://127.0.0.1:8774/v2.1/servers/\$(openstack server show vm1 -f value -c id)/action
  curl -s "\${H[@]}" http://127.0.0.1:8774/v2.1/os-security-groups          # the id of "default"
  curl -s "\${H[@]}" -d '{"security_group_rule": {"parent_group_id": "<id>", "ip_protocol": "tcp",
      "from_port": 80, "to_port": 80, "cidr": "0.0.0.0/0"}}' http://127.0.0.1:8774/v2.1/os-security-group-rules
  curl -s <ip>/                                    # the guest's httpd: "hello from vm1" (through the DNAT)

Operator tool:  $bin/nova-manage --config-file $conf service list
Stop everything: for p in $state/*.pid; do kill \$(cat \$p); done   (or systemctl stop 'nova-*' under systemd)
                 bash $top/deploy/lib/glance.sh stop $state/glance; bash $top/deploy/lib/keystone.sh stop $state/keystone
USAGE
