#!/usr/bin/env bash
# deploy/lib/libvirt.sh — run libvirt's QEMU driver (qemu:///system) on a
# machine without systemd.
#
# Usage: libvirt.sh start | stop | status
#
# start: installs, with apt-get --no-install-recommends and only if missing,
#   qemu-system-x86 libvirt-daemon-system libvirt-clients qemu-utils
#   (qemu-utils gives qemu-img, which is not on the machine by default),
#   gives /dev/kvm udev's default root:kvm 0660 (see fix_kvm_perms: without
#   it libvirtd re-probes QEMU for ~4 s on every call).  Then starts
#   `virtlogd -d` and afterwards `libvirtd -d` (monolithic daemon; libvirtd
#   in system mode does NOT spawn virtlogd, and without it every
#   domain start fails with "Failed to connect socket to
#   '/run/libvirt/virtlogd-sock'"), each only if not already running, and
#   waits up to LIBVIRT_START_TIMEOUT (60) s for
#   `virsh -c qemu:///system version` to answer.  The first start on a new
#   machine takes ~9 s (QEMU capability probe, cached afterwards), later ones
#   well under a second.  The default libvirt network is left alone (it is
#   defined but inactive; it would run its own dnsmasq on 192.168.122.0/24).
#   Prints one line per step.  Idempotent.
# stop: TERMs libvirtd, then virtlogd (KILL after LIBVIRT_STOP_TIMEOUT, 20 s).
#   Running QEMU guests are not touched (they keep running and libvirtd picks
#   them up again on the next start).  Does nothing if not running.
# status: prints whether each daemon runs; exit 0 if libvirtd answers.
#
# Note: the daemons are reparented to PID 1, which on these machines does not
# reap them, so a stopped daemon may linger as a zombie; this script ignores
# zombies everywhere.
set -euo pipefail

LIBVIRT_URI="qemu:///system"
START_TIMEOUT="${LIBVIRT_START_TIMEOUT:-60}"
STOP_TIMEOUT="${LIBVIRT_STOP_TIMEOUT:-20}"
PACKAGES=(qemu-system-x86 libvirt-daemon-system libvirt-clients qemu-utils)

usage() { echo "usage: $0 start | stop | status" >&2; exit 2; }
log() { echo "libvirt: $*"; }
die() { echo "libvirt: ERROR: $*" >&2; exit 1; }

# Pids of live (non-zombie) processes whose command name is exactly $1.
live_pids() {
    ps -e -o pid= -o stat= -o comm= | awk -v n="$1" '$3 == n && $2 !~ /^Z/ {print $1}'
}

virsh_ok() { timeout 10 virsh -c "$LIBVIRT_URI" version >/dev/null 2>&1; }

install_packages() {
    install_missing
    # Installing one can remove another (a qemu-utils from another suite
    # conflicts with this suite's qemu-system-x86 and is removed): once more.
    install_missing
}

install_missing() {
    local missing=() p
    for p in "${PACKAGES[@]}"; do
        if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
            missing+=("$p")
        fi
    done
    if [ ${#missing[@]} -eq 0 ]; then
        log "packages present: ${PACKAGES[*]}"
        return 0
    fi
    [ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
    log "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" 9>&- >/tmp/libvirt-apt.$$.log 2>&1; then
        log "apt-get install failed; running apt-get update and retrying"
        apt-get update -q 9>&- >>/tmp/libvirt-apt.$$.log 2>&1 || true
        apt-get install -y -q --no-install-recommends "${missing[@]}" 9>&- >>/tmp/libvirt-apt.$$.log 2>&1 || {
            tail -n 30 /tmp/libvirt-apt.$$.log >&2
            die "apt-get install ${missing[*]} failed (log: /tmp/libvirt-apt.$$.log)"
        }
    fi
    rm -f /tmp/libvirt-apt.$$.log
    log "installed: ${missing[*]}"
}

# Without udev nobody applies Debian's rule for /dev/kvm (GROUP="kvm",
# MODE="0660"), so it stays 0600 root:root.  libvirtd then finds KVM usable
# when it probes QEMU's capabilities but not usable for its run user
# libvirt-qemu (group kvm) when it validates the cache, so it throws the
# cache away and re-probes QEMU (~4 s) on EVERY lookup: every `virsh
# version`, every domain start.  Applying the udev default fixes that.
# Guests still run under TCG (domain type 'qemu'); this machine's /dev/kvm is
# KVM-PVM, useless for stock kernels.  LIBVIRT_FIX_KVM_PERMS=0 skips this.
fix_kvm_perms() {
    [ "${LIBVIRT_FIX_KVM_PERMS:-1}" = 1 ] || return 0
    [ -c /dev/kvm ] || return 0
    getent group kvm >/dev/null || return 0
    if [ "$(stat -c '%G %a' /dev/kvm)" != "kvm 660" ]; then
        chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
        log "/dev/kvm set to root:kvm 0660 (udev's default; avoids a QEMU re-probe per call)"
    fi
}

start_virtlogd() {
    if [ -n "$(live_pids virtlogd)" ] && [ -S /run/libvirt/virtlogd-sock ]; then
        log "virtlogd already running (pid $(live_pids virtlogd | tr '\n' ' ' | sed 's/ $//'))"
        return 0
    fi
    # A live virtlogd without its socket is wedged; replace it.
    stop_daemon virtlogd /run/virtlogd.pid quiet
    mkdir -p /run/libvirt
    virtlogd -d 9>&-   # the daemon must not inherit (and so hold) our lock
    local deadline=$((SECONDS + 10))
    until [ -S /run/libvirt/virtlogd-sock ]; do
        [ $SECONDS -lt $deadline ] || die "virtlogd did not create /run/libvirt/virtlogd-sock"
        sleep 0.1
    done
    log "virtlogd started (pid $(live_pids virtlogd | tr '\n' ' ' | sed 's/ $//'))"
}

start_libvirtd() {
    if [ -n "$(live_pids libvirtd)" ]; then
        log "libvirtd already running (pid $(live_pids libvirtd | tr '\n' ' ' | sed 's/ $//'))"
    else
        libvirtd -d 9>&-
        log "libvirtd started (pid $(live_pids libvirtd | tr '\n' ' ' | sed 's/ $//'))"
    fi
    local t0=$SECONDS deadline=$((SECONDS + START_TIMEOUT))
    until virsh_ok; do
        if [ $SECONDS -ge $deadline ]; then
            die "virsh -c $LIBVIRT_URI version did not answer within ${START_TIMEOUT} s"
        fi
        [ -n "$(live_pids libvirtd)" ] || die "libvirtd exited (see /var/log/libvirt/ or run libvirtd in the foreground)"
        sleep 0.2
    done
    log "$LIBVIRT_URI ready after $((SECONDS - t0)) s: $(virsh -c "$LIBVIRT_URI" version 2>/dev/null | awk -F': ' '/Running hypervisor/ {h=$2} /Using library/ {l=$2} END {print l "; hypervisor " h}')"
}

# stop_daemon NAME PIDFILE [quiet]
stop_daemon() {
    local name="$1" pidfile="$2" quiet="${3:-}" pids deadline
    pids="$(live_pids "$name" | tr '\n' ' ')"
    if [ -z "${pids// /}" ]; then
        [ -n "$quiet" ] || log "$name not running"
        rm -f "$pidfile"
        return 0
    fi
    kill -TERM $pids 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while [ -n "$(live_pids "$name")" ]; do
        if [ $SECONDS -ge $deadline ]; then
            kill -KILL $(live_pids "$name") 2>/dev/null || true
            sleep 0.2
            break
        fi
        sleep 0.1
    done
    rm -f "$pidfile"
    [ -n "$quiet" ] || log "$name stopped (was pid ${pids% })"
}

lock() {
    # Serialize concurrent start/stop calls.  Every long-lived child (daemons,
    # apt-get) is started with 9>&- so that it does not inherit the lock.
    exec 9>/run/lock/nova-rs-libvirt.lock 2>/dev/null || exec 9>/tmp/nova-rs-libvirt.lock
    if ! flock -n 9; then
        log "waiting for another libvirt.sh (lock /run/lock/nova-rs-libvirt.lock)"
        flock -w 120 9 || die "lock still held after 120 s (fuser -v /run/lock/nova-rs-libvirt.lock)"
    fi
}

case "${1:-}" in
    start)
        lock
        install_packages
        fix_kvm_perms
        start_virtlogd
        start_libvirtd
        if virsh -c "$LIBVIRT_URI" net-info default 2>/dev/null | grep -q '^Active:.*yes'; then
            log "note: the libvirt network 'default' is active (not started by this script)"
        fi
        ;;
    stop)
        lock
        stop_daemon libvirtd /run/libvirtd.pid
        stop_daemon virtlogd /run/virtlogd.pid
        ;;
    status)
        for d in virtlogd libvirtd; do
            p="$(live_pids $d | tr '\n' ' ')"
            if [ -n "${p// /}" ]; then log "$d running (pid ${p% })"; else log "$d not running"; fi
        done
        if virsh_ok; then log "$LIBVIRT_URI answers"; else log "$LIBVIRT_URI does not answer"; exit 1; fi
        ;;
    *) usage ;;
esac
