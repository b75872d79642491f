#!/usr/bin/env bash
# Operator install: put nova-rs where a packaged Nova would be.
#
#   bash deploy/install-services.sh [BINDIR]
#
# - the binaries (nova-api, nova-conductor, nova-scheduler, nova-compute,
#   nova-network, nova-novncproxy, nova-manage) from BINDIR (default: the
#   workspace's target/debug, or target/release when it is newer) to /usr/bin;
# - the systemd units from deploy/systemd/ to /etc/systemd/system;
# - the `nova` system user and group (home /var/lib/nova, no login shell);
# - /etc/nova (root:nova 0750; nova.conf.sample beside any nova.conf),
#   /var/lib/nova and /var/lib/nova/instances (nova:nova), /var/log/nova
#   (nova:nova 0750), the README under /usr/share/doc/nova-rs.
# Then, when systemd runs this machine, `systemctl daemon-reload` and
# `systemd-analyze verify` of the installed units.
#
# DESTDIR=/some/root installs into that tree instead (packaging, tests): no
# user is created and systemd is not touched. Idempotent: files are replaced
# only when they differ.
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${DESTDIR:-}"
log() { printf '[install-services] %s\n' "$*"; }
die() { printf '[install-services] ERROR: %s\n' "$*" >&2; exit 1; }

binaries=(nova-api nova-conductor nova-scheduler nova-compute nova-network nova-novncproxy nova-manage)
bindir="${1:-}"
if [ -z "$bindir" ]; then
    bindir="$top/target/debug"
    if [ -x "$top/target/release/nova-api" ] && [ "$top/target/release/nova-api" -nt "$bindir/nova-api" ]; then
        bindir="$top/target/release"
    fi
fi
for b in "${binaries[@]}"; do
    [ -x "$bindir/$b" ] || die "$bindir/$b is missing: build first (cargo build --workspace --bins)"
done
[ -n "$dest" ] || [ "$(id -u)" -eq 0 ] || die "run as root (or set DESTDIR)"

if [ -z "$dest" ]; then
    if ! getent group nova >/dev/null; then
        log "creating group nova"
        groupadd --system nova
    fi
    if ! getent passwd nova >/dev/null; then
        log "creating user nova"
        useradd --system --gid nova --home-dir /var/lib/nova --no-create-home \
            --shell /usr/sbin/nologin --comment "OpenStack Compute (nova-rs)" nova
    fi
    owner=nova
else
    owner="$(id -un)"
fi

install -d -m 0755 "$dest/usr/bin" "$dest/etc/systemd/system" "$dest/usr/share/doc/nova-rs"
install -d -m 0750 -o root -g "$owner" "$dest/etc/nova" 2>/dev/null || install -d -m 0750 "$dest/etc/nova"
for d in /var/lib/nova /var/lib/nova/instances; do
    install -d -m 0755 -o "$owner" -g "$owner" "$dest$d" 2>/dev/null || install -d -m 0755 "$dest$d"
done
install -d -m 0750 -o "$owner" -g "$owner" "$dest/var/log/nova" 2>/dev/null || install -d -m 0750 "$dest/var/log/nova"

changed=0
put() { # mode src dst
    if ! cmp -s "$2" "$3"; then
        install -m "$1" "$2" "$3.new.$$" && mv -f "$3.new.$$" "$3"
        changed=1
    fi
}
for b in "${binaries[@]}"; do put 0755 "$bindir/$b" "$dest/usr/bin/$b"; done
units=()
for u in "$top"/deploy/systemd/*.service; do
    put 0644 "$u" "$dest/etc/systemd/system/$(basename "$u")"
    units+=("$dest/etc/systemd/system/$(basename "$u")")
done
put 0644 "$top/deploy/nova.conf.sample" "$dest/etc/nova/nova.conf.sample"
put 0644 "$top/README.md" "$dest/usr/share/doc/nova-rs/README.md"
if [ -f "$dest/etc/nova/nova.conf" ] && [ -z "$dest" ]; then
    chgrp nova "$dest/etc/nova/nova.conf" && chmod 0640 "$dest/etc/nova/nova.conf"
fi
[ "$changed" -eq 1 ] && log "installed ${binaries[*]} and units into ${dest:-/}" || log "binaries and units are current"

if [ -z "$dest" ] && [ "$(ps -p 1 -o comm= 2>/dev/null || true)" = systemd ]; then
    systemctl daemon-reload
    systemd-analyze verify "${units[@]}"
    log "units verified; start them with: systemctl enable --now $(cd "$top/deploy/systemd" && echo *.service)"
fi
