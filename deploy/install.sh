#!/usr/bin/env bash
# Install (idempotently) what nova-rs needs on a Debian 12 host, as root, and
# make sure PostgreSQL (with nova-rs's own login role) and RabbitMQ run.
# Skips whatever is already there: a second run takes a few seconds. Two runs
# at once are serialised by a lock, so they never corrupt the apt state or
# the shared venv.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
top="$(cd "$here/.." && pwd)"
log() { printf '[install] %s\n' "$*"; }
die() { printf '[install] ERROR: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (a root shell on Debian 12; sudo is not needed and may not exist)"

# --- Rust toolchain first: a clear message instead of a compile error --------
need_rust="$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$top/Cargo.toml" | head -n1)"
command -v cargo >/dev/null 2>&1 && command -v rustc >/dev/null 2>&1 \
    || die "cargo/rustc not found: install Rust $need_rust or newer with rustup (https://rustup.rs), then re-run"
have_rust="$(rustc --version | awk '{print $2}')"
if [ "$(printf '%s\n%s\n' "$need_rust" "$have_rust" | sort -V | head -n1)" != "$need_rust" ]; then
    die "Rust $have_rust is too old: nova-rs needs $need_rust or newer (rustup update stable)"
fi
log "Rust $have_rust (needs $need_rust)"

# --- one install at a time ------------------------------------------------------
lockdir=/run/lock
[ -d "$lockdir" ] || lockdir=/tmp
exec 9>"$lockdir/nova-rs-install.lock"
if ! flock -n 9; then
    log "another install is running; waiting for it"
    flock 9
fi

# --- Debian packages -------------------------------------------------------
# Build: pkg-config, libvirt-dev. Runtime tools the code calls: ssh-keygen
# (keypair generation), ip (bridges), dnsmasq (nova-network's DHCP; the -base
# package starts no system service), dhcp_release (dnsmasq-utils: a released
# address's lease is ended at once, Nova's force_dhcp_release), iptables-save/iptables-restore
# (nova-network's NAT and metadata rules), ps, psql, rabbitmqctl, qemu-img, curl,
# genisoimage (ISO 9660 config drives; isoinfo reads them back in the tests),
# dosfstools and mtools (VFAT config drives).
# Unit verification: systemd-analyze (package systemd). The noVNC web client
# nova-novncproxy serves (/usr/share/novnc): novnc; the browser of the console
# e2e test: chromium (driven by npm playwright-core, tests/browser); the
# certificates of the VeNCrypt/TLS console tests: openssl. The DHCP client of
# the DHCP e2e test (a guest's NIC played from a network namespace): busybox's
# udhcpc (busybox-static).
packages=(pkg-config libvirt-dev libvirt0 libvirt-clients qemu-utils curl ca-certificates
          python3-venv python3-dev gcc openssh-client iproute2 dnsmasq-base dnsmasq-utils iptables procps util-linux
          postgresql postgresql-client rabbitmq-server systemd
          novnc chromium openssl genisoimage dosfstools mtools busybox-static)
need=()
for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || need+=("$pkg")
done
if [ "${#need[@]}" -gt 0 ]; then
    log "apt-get install ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # The package post-install scripts must not try to start services through
    # an init system that is not there (containers): policy-rc.d 101 = "not now".
    if [ ! -e /usr/sbin/policy-rc.d ] && [ "$(ps -p 1 -o comm= 2>/dev/null || true)" != systemd ]; then
        printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
        trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    fi
    apt_get() { apt-get -o DPkg::Lock::Timeout=600 "$@"; }
    # Progress: apt's own "Unpacking"/"Setting up" lines, indented.
    apt_install() {
        apt_get install -y -q --no-install-recommends "${need[@]}" 2>&1 \
            | awk '/^(Get:|Unpacking|Setting up|E:)/ { print "[install]   " $0; fflush() }'
    }
    apt_install || { log "apt-get update"; apt_get update -q >/dev/null && apt_install; } \
        || die "apt-get install ${need[*]} failed"
else
    log "Debian packages present"
fi

# --- PostgreSQL: running, with the nova role ---------------------------------
bash "$here/lib/postgres.sh" ensure

# --- RabbitMQ -----------------------------------------------------------------
amqp_up() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }
if ! amqp_up; then
    log "starting RabbitMQ"
    rabbitmq-server -detached >/dev/null 2>&1 || true
    for _ in $(seq 1 120); do amqp_up && break; sleep 0.5; done
fi
amqp_up || die "RabbitMQ is not reachable on 127.0.0.1:5672"
for _ in $(seq 1 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
log "RabbitMQ is up"

# --- Glance, Keystone (with its PostgreSQL driver), the openstack CLI, boto3,
# the AWS CLI and Tempest (the acceptance suite, tests/tempest/) (PyPI) in a venv
bash "$here/lib/venv.sh" glance keystone osc aws pgdriver tempest
log "done"
