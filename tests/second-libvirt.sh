#!/bin/bash
# tests/second-libvirt.sh — a second libvirt QEMU driver on this machine,
# standing for another hypervisor host, so that a guest can live-migrate
# between two real hypervisors (libvirt refuses to migrate a guest to the
# libvirtd it runs on).
#
# Usage: second-libvirt.sh start | stop | status
#
# start: needs the first one (deploy/lib/libvirt.sh start, which installs the
#   packages). Runs `libvirtd2` and `virtlogd2` (symlinks to Debian's
#   daemons, so that deploy/lib/libvirt.sh, which finds its daemons by
#   name, never takes them for its own) in a mount namespace of their own
#   where /run/libvirt, /var/lib/libvirt, /etc/libvirt, /var/log/libvirt and
#   /var/cache/libvirt are directories under $DIR (default
#   /var/tmp/nova-rs-libvirt2): their own sockets, state and domain
#   definitions. The network namespace is the machine's (the same bridges).
#   Its libvirt.conf gives it its own host UUID; its qemu.conf its own VNC
#   (6900-6999) and incoming migration (49500-49599) ports, and no cgroups
#   (the two daemons would name a guest's cgroup alike). Its URI is
#   qemu+unix:///system?socket=$DIR/run/libvirt-sock; inside its namespace
#   the first libvirtd's socket is $DIR/host-run/libvirt-sock (for a
#   migration back). Does nothing when it already answers. Safe to run
#   twice at once (flock).
# stop: TERMs both daemons (guests it runs are left running).
# status: exit 0 when it answers.

set -euo pipefail

DIR="${NOVA_LIBVIRT2_DIR:-/var/tmp/nova-rs-libvirt2}"
URI="qemu+unix:///system?socket=$DIR/run/libvirt-sock"
HOST_UUID="6e0a4c1e-8f3d-4b9a-9c51-2b7d0e4f1a20"

log() { echo "libvirt2: $*"; }
die() { echo "libvirt2: ERROR: $*" >&2; exit 1; }

answers() { timeout 10 virsh -c "$URI" version >/dev/null 2>&1; }

pid_of() { [ -f "$DIR/run/$1.pid" ] && cat "$DIR/run/$1.pid" 2>/dev/null || true; }

lock() {
    exec 9>/run/lock/nova-rs-libvirt2.lock 2>/dev/null || exec 9>/tmp/nova-rs-libvirt2.lock
    flock -w 120 9 || die "lock still held after 120 s"
}

prepare() {
    mkdir -p "$DIR"/{run,lib,log,cache,host-run,bin}
    ln -sf "$(command -v libvirtd)" "$DIR/bin/libvirtd2"
    ln -sf "$(command -v virtlogd)" "$DIR/bin/virtlogd2"
    # Its configuration: the machine's, less its domains and networks.
    rm -rf "$DIR/etc"
    cp -a /etc/libvirt "$DIR/etc"
    rm -f "$DIR"/etc/qemu/*.xml "$DIR"/etc/qemu/networks/autostart/*.xml
    echo "host_uuid = \"$HOST_UUID\"" >> "$DIR/etc/libvirtd.conf"
    cat >> "$DIR/etc/qemu.conf" <<EOF
remote_display_port_min = 6900
remote_display_port_max = 6999
migration_port_min = 49500
migration_port_max = 49599
cgroup_controllers = [ ]
EOF
    mkdir -p "$DIR"/lib/qemu/{channel,checkpoint,dump,nvram,ram,save,snapshot}
    cat > "$DIR/inner.sh" <<EOF
#!/bin/bash
set -e
mount --make-rprivate /
mount --bind /run/libvirt "$DIR/host-run"
mount --bind "$DIR/run" /run/libvirt
mount --bind "$DIR/lib" /var/lib/libvirt
mount --bind "$DIR/etc" /etc/libvirt
mount --bind "$DIR/log" /var/log/libvirt
mount --bind "$DIR/cache" /var/cache/libvirt
"$DIR/bin/virtlogd2" -d -p /run/libvirt/virtlogd.pid
for i in \$(seq 100); do [ -S /run/libvirt/virtlogd-sock ] && break; sleep 0.1; done
"$DIR/bin/libvirtd2" -d -p /run/libvirt/libvirtd.pid
EOF
    chmod +x "$DIR/inner.sh"
}

start() {
    if answers; then
        log "already running (libvirtd pid $(pid_of libvirtd)): $URI"
        return 0
    fi
    command -v libvirtd >/dev/null || die "no libvirtd: run deploy/lib/libvirt.sh start first"
    [ -S /run/libvirt/libvirt-sock ] || die "the first libvirtd is not running: deploy/lib/libvirt.sh start"
    stop quiet
    rm -rf "$DIR/run"
    prepare
    unshare -m "$DIR/inner.sh" 9>&- > "$DIR/start.log" 2>&1 || die "cannot start: $(cat "$DIR/start.log")"
    local deadline=$((SECONDS + 60))
    until answers; do
        [ $SECONDS -lt $deadline ] || die "$URI did not answer within 60 s ($(cat "$DIR/start.log"))"
        sleep 0.2
    done
    log "ready: $URI (host uuid $HOST_UUID)"
}

stop() {
    local p
    for d in libvirtd virtlogd; do
        p="$(pid_of $d)"
        if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
            kill -TERM "$p" 2>/dev/null || true
            for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
            kill -KILL "$p" 2>/dev/null || true
            [ "${1:-}" = quiet ] || log "$d stopped (was pid $p)"
        fi
    done
}

case "${1:-}" in
    start) lock; start ;;
    stop) lock; stop ;;
    status)
        if answers; then log "running: $URI"; else log "not running"; exit 1; fi
        ;;
    *) echo "usage: $0 start | stop | status" >&2; exit 2 ;;
esac
