#!/usr/bin/env bash
# deploy/lib/guest-image.sh — build the project's tiny test guest from Debian
# packages only (apt-get download; no images from the internet).
#
# Usage: guest-image.sh <out_dir>
#
# Writes into <out_dir>:
#   vmlinuz     Debian's bookworm kernel (the one linux-image-amd64 points to),
#               for direct kernel boot (<kernel>/<initrd>/<cmdline>).
#   initrd.gz   busybox-static initramfs; its /init is the whole guest (below).
#   disk.qcow2  one bootable disk with the same kernel + initrd: syslinux on a
#               partition-less FAT "superfloppy" (mkfs.vfat -C, mcopy,
#               syslinux --install: no loop device, no mount), kernel command
#               line "console=ttyS0 quiet" (no hostname=, so the hostname comes
#               from DHCP), converted to qcow2.  Usable as a backing file.
#   modules.txt the kernel version and the modules /init loads, in order.
# Skips the build when all outputs exist, are newer than this script and
# were built by this very script (its sha256 in <out_dir>/script.sha256;
# GUEST_IMAGE_FORCE=1 rebuilds).  Prints the paths and sizes at the end.
#
# The guest (/init, PID 1), everything on the console (ttyS0 with
# console=ttyS0 on the kernel command line):
#   - mounts proc, sysfs, devtmpfs; insmods virtio (PCI + net + block),
#     evdev, button; the root disk is then /dev/vda (the initramfs is the
#     root file system: the disk is only read by syslinux at boot, so user
#     data may read and write it raw, e.g. with dd past the FAT image's
#     GUEST_DISK_MB, where a disk grown to the flavor's root_gb is free);
#   - sets the hostname from the kernel command line hostname=NAME (else
#     "localhost" until DHCP sends one); serves "hello from <hostname>" with
#     `httpd -p 80`; runs busybox acpid so that the ACPI power button (virsh
#     shutdown) prints GUEST-POWEROFF and does `poweroff -f`;
#   - prints             GUEST-INIT hostname=<hostname>
#     (and on the VGA console, tty1, a prompt; each line typed there is
#     printed as GUEST-TYPED <line>), then for each NIC the PCI address the
#     guest sees it at (what device role tagging names)
#                        GUEST-NIC name=<eth0> mac=<mac> pci=<dddd:bb:ss.f>
#     and for each virtio disk after the root disk (ephemeral, swap)
#                        GUEST-DISK name=<vdb> bytes=<size> sig=<SWAPSPACE2|ephemeral0|none>
#     (acpid and httpd are already up then: a shutdown request is honoured);
#   - when a config drive is attached (an ISO 9660 CD-ROM labelled config-2,
#     /dev/sr0), mounts it read-only on /mnt/config, writes each personality
#     file of its openstack/latest/meta_data.json to its path, as
#     cloud-init would, and prints (in the background, within ~5 s)
#                        GUEST-CONFIGDRIVE uuid=<uuid>
#                        GUEST-PERSONALITY path=<path> content=<its first line>
#     and for each NIC of its `devices` (the tagged ones)
#                        GUEST-CONFIGDRIVE-NIC address=<pci> mac=<mac> tags=<a,b>
#   - runs udhcpc on eth0 (sends hostname= as DHCP option 12 if given); on a
#     lease the hook configures address + default route and prints
#                        GUEST-LEASE ip=<ip>/<prefix> router=<gw|none>
#     and, if the hostname came from DHCP,
#                        GUEST-HOSTNAME hostname=<name>
#     without a lease within ~10 s it prints
#                        GUEST-NOLEASE
#     (udhcpc keeps trying in the background; a later lease still prints
#     GUEST-LEASE);
#   - once leased (within 60 s), reads its metadata from
#     http://169.254.169.254/openstack/latest/meta_data.json (nova-network
#     forwards it to the metadata service) and prints
#                        GUEST-METADATA uuid=<uuid> hostname=<hostname>
#     or, after 5 failed tries,
#                        GUEST-METADATA-FAILED <nc's error or the HTTP status line>
#   - then reads its user data (openstack/latest/user_data); when it is a
#     script (starts with #!) it prints GUEST-USERDATA and runs it in the
#     background, its output on the console (a cloud-init stand-in);
#     then it idles.
#
# Needs root (apt-get) unless the host tools are already installed: dpkg-deb,
# tar, gzip, mtools, dosfstools, syslinux, qemu-utils.  Downloads
# linux-image-<abi>-amd64 (~70 MB) and busybox-static (~1 MB) into a temporary
# directory (GUEST_DEB_CACHE=<dir> keeps them there for the next build).
#
# Environment: GUEST_KERNEL_PKG (default: what linux-image-amd64 depends on),
#   GUEST_MODULES (roots; default "virtio_pci virtio_net virtio_blk evdev
#   button ata_piix sr_mod isofs"; their dependencies are added in load
#   order automatically),
#   GUEST_DISK_MB (32, virtual size of disk.qcow2), GUEST_IMAGE_FORCE, GUEST_DEB_CACHE.
set -euo pipefail

SELF="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)/$(basename "${BASH_SOURCE[0]}")"
GUEST_MODULES="${GUEST_MODULES:-virtio_pci virtio_net virtio_blk evdev button ata_piix sr_mod isofs}"
GUEST_DISK_MB="${GUEST_DISK_MB:-32}"
HOST_PACKAGES=(mtools dosfstools syslinux qemu-utils)

log() { echo "guest-image: $*"; }
die() { echo "guest-image: ERROR: $*" >&2; exit 1; }

[ $# -eq 1 ] || { echo "usage: $0 <out_dir>" >&2; exit 2; }
OUT="$1"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd -P)"
OUTPUTS=(vmlinuz initrd.gz disk.qcow2 modules.txt)

report() {
    local f
    for f in "${OUTPUTS[@]}"; do
        printf 'guest-image: %-40s %10s bytes\n' "$OUT/$f" "$(stat -c %s "$OUT/$f")"
    done
    log "disk.qcow2: $(qemu-img info "$OUT/disk.qcow2" 2>/dev/null | awk -F': ' '/virtual size/ {v=$2} /disk size/ {d=$2} END {print "virtual " v ", on disk " d}')"
    log "$(head -n 1 "$OUT/modules.txt")"
}

SCRIPT_SHA="$(sha256sum "$SELF" | cut -d' ' -f1)"
up_to_date() {
    local f
    [ "${GUEST_IMAGE_FORCE:-0}" = 1 ] && return 1
    [ "$(cat "$OUT/script.sha256" 2>/dev/null)" = "$SCRIPT_SHA" ] || return 1
    for f in "${OUTPUTS[@]}"; do
        [ -s "$OUT/$f" ] && [ "$OUT/$f" -nt "$SELF" ] || return 1
    done
}

if up_to_date; then
    log "up to date in $OUT (newer than $SELF; GUEST_IMAGE_FORCE=1 rebuilds)"
    report
    exit 0
fi

T0=$SECONDS
# ---------------------------------------------------------------- host tools
missing=()
for p in "${HOST_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "need root to install: ${missing[*]}"
    log "installing host tools: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" \
        >/tmp/guest-image-apt.$$.log 2>&1 || { tail -n 20 /tmp/guest-image-apt.$$.log >&2
            die "apt-get install ${missing[*]} failed (log: /tmp/guest-image-apt.$$.log)"; }
    rm -f /tmp/guest-image-apt.$$.log
fi
for t in dpkg-deb tar gzip mkfs.vfat mcopy syslinux qemu-img; do
    command -v "$t" >/dev/null || die "$t not found"
done

WORK="$(mktemp -d /tmp/guest-image.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------------ downloads
DEBS="${GUEST_DEB_CACHE:-$WORK/debs}"
mkdir -p "$DEBS"

if [ -z "${GUEST_KERNEL_PKG:-}" ]; then
    GUEST_KERNEL_PKG="$(apt-cache depends linux-image-amd64 2>/dev/null \
        | awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9].*-amd64$/ {print $2; exit}')"
    [ -n "$GUEST_KERNEL_PKG" ] || die "cannot resolve linux-image-amd64 (apt-get update?)"
fi

# download PKG -> prints the .deb path (reuses one already in $DEBS)
download() {
    local pkg="$1" ver deb
    ver="$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ {print $2; exit}')"
    [ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no candidate for $pkg (apt-get update?)"
    deb="$(ls "$DEBS/${pkg}_"*"${ver#*:}_amd64.deb" 2>/dev/null | head -n 1 || true)"
    if [ -z "$deb" ]; then
        (cd "$DEBS" && apt-get download -q "$pkg=$ver" >/dev/null 2>&1) || die "apt-get download $pkg=$ver failed"
        deb="$(ls "$DEBS/${pkg}_"*"${ver#*:}_amd64.deb" | head -n 1)"
    fi
    echo "$deb"
}
t=$SECONDS
KDEB="$(download "$GUEST_KERNEL_PKG")"
BDEB="$(download busybox-static)"
log "downloaded $(basename "$KDEB") and $(basename "$BDEB") in $((SECONDS - t)) s"

# ------------------------------------------------------ kernel + modules
KX="$WORK/kernel"
mkdir -p "$KX"
# Module names may use '-' or '_' in file names; match both.
mod_glob() { echo "*/kernel/*/$(echo "$1" | sed 's/[-_]/[-_]/g').ko*"; }
extract() { # patterns...
    dpkg-deb --fsys-tarfile "$KDEB" | tar -x -C "$KX" --wildcards --wildcards-match-slash "$@" 2>/dev/null || true
}
t=$SECONDS
pats=('./boot/vmlinuz-*')
for m in $GUEST_MODULES; do pats+=("$(mod_glob "$m")"); done
extract "${pats[@]}"
VMLINUZ="$(ls "$KX"/boot/vmlinuz-* 2>/dev/null | head -n 1)"
[ -n "$VMLINUZ" ] || die "no vmlinuz in $KDEB"
KVER="${VMLINUZ##*/vmlinuz-}"

declare -A MODPATH=() DEPS=()
index_modules() {
    local f n
    while IFS= read -r f; do
        case "$f" in
            *.ko.xz) xz -d -f "$f"; f="${f%.xz}" ;;
            *.ko.zst) zstd -q -d -f --rm "$f"; f="${f%.zst}" ;;
        esac
        n="$(basename "$f" .ko)"; n="${n//-/_}"
        [ -n "${MODPATH[$n]:-}" ] && continue
        MODPATH[$n]="$f"
        # Debian's .deb has no modules.dep; read the depends= field of .modinfo.
        DEPS[$n]="$(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | head -n 1 | tr ',' ' ' | tr '-' '_')"
    done < <(find "$KX" -name '*.ko*' -type f)
}
index_modules
# Fetch missing dependencies (normally none after the first pass).
for _ in 1 2 3 4; do
    need=()
    for n in "${!DEPS[@]}"; do
        for d in ${DEPS[$n]}; do [ -n "${MODPATH[$d]:-}" ] || need+=("$d"); done
    done
    for m in $GUEST_MODULES; do [ -n "${MODPATH[${m//-/_}]:-}" ] || need+=("$m"); done
    [ ${#need[@]} -eq 0 ] && break
    pats=()
    for d in $(printf '%s\n' "${need[@]}" | sort -u); do pats+=("$(mod_glob "$d")"); done
    extract "${pats[@]}"
    index_modules
done

# Load order: dependencies first (depth-first), roots in the order given.
ORDER=()
declare -A SEEN=()
visit() {
    local n="$1" d
    [ -n "${SEEN[$n]:-}" ] && return 0
    SEEN[$n]=1
    [ -n "${MODPATH[$n]:-}" ] || die "module $n not found in $GUEST_KERNEL_PKG"
    for d in ${DEPS[$n]}; do visit "$d"; done
    ORDER+=("$n")
}
for m in $GUEST_MODULES; do visit "${m//-/_}"; done
log "kernel $KVER ($GUEST_KERNEL_PKG), modules: ${ORDER[*]} ($((SECONDS - t)) s)"

# ------------------------------------------------------------------ initramfs
R="$WORK/root"
mkdir -p "$R"/{bin,dev,proc,sys,run,tmp,www,etc/acpi/PWRF,var/log,lib/modules}
ln -s bin "$R/sbin"
mkdir -p "$R/usr"; ln -s ../bin "$R/usr/bin"; ln -s ../bin "$R/usr/sbin"
ln -s ../run "$R/var/run"
dpkg-deb --fsys-tarfile "$BDEB" | tar -x -O ./bin/busybox >"$R/bin/busybox"
chmod 0755 "$R/bin/busybox"
BB="$R/bin/busybox"
for a in $("$BB" --list); do
    [ "$a" = busybox ] || ln -s busybox "$R/bin/$a"
done
for n in "${ORDER[@]}"; do cp "${MODPATH[$n]}" "$R/lib/modules/$n.ko"; done
printf '%s\n' "${ORDER[@]}" >"$R/lib/modules/load-order"

cat >"$R/init" <<'EOF'
#!/bin/sh
# PID 1 of the nova-rs tiny test guest (built by deploy/lib/guest-image.sh).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1

hn=""
for w in $(cat /proc/cmdline); do
    case "$w" in hostname=*) hn="${w#hostname=}" ;; esac
done
if [ -n "$hn" ]; then
    echo "$hn" >/run/hostname.cmdline
else
    hn=localhost
fi
hostname "$hn"
echo "hello from $hn" >/www/index.html

for m in $(cat /lib/modules/load-order); do
    insmod "/lib/modules/$m.ko" || echo "GUEST-WARN insmod $m failed"
done

# acpid dies at once if /dev/input/event0 cannot be opened; wait for evdev's
# nodes (devtmpfs creates them asynchronously).
i=0
while [ ! -e /dev/input/event0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
acpid -c /etc/acpi -l /var/log/acpid.log -p /run/acpid.pid || echo "GUEST-WARN acpid failed"
httpd -p 80 -h /www || echo "GUEST-WARN httpd failed"
ip link set lo up

# The VGA console (tty1, what a VNC viewer shows): a prompt, and each line
# typed there is repeated on the serial console as GUEST-TYPED (the console
# test types through noVNC and reads it back with os-getConsoleOutput).
if [ -c /dev/tty1 ]; then
    (
        while :; do
            printf '%s login-less console, type a line: ' "$hn"
            read -r line || break
            echo "GUEST-TYPED $line" >/dev/console
        done
    ) </dev/tty1 >/dev/tty1 2>&1 &
fi

echo "GUEST-INIT hostname=$hn"
for n in /sys/class/net/eth*; do
    [ -e "$n/device" ] || continue
    # virtio-net: device is the virtio device, a child of the PCI function.
    pci="$(basename "$(dirname "$(readlink -f "$n/device")")")"
    echo "GUEST-NIC name=${n##*/} mac=$(cat "$n/address") pci=$pci"
done
# The disks beyond the root disk (the flavor's ephemeral and swap disks):
# their size and what their first 8 KiB say they are (the swap signature,
# or the file system label Nova gives an ephemeral disk).
for b in /sys/block/vd[b-y]; do
    [ -e "$b/size" ] || continue
    d="${b##*/}"
    # The node and the disk's first read may lag its /sys entry on a slow
    # (emulated, loaded) host: read again for a while before saying none,
    # and say why when a read fails.
    i=0
    sig=""
    while [ $i -lt 40 ]; do
        if [ -b "/dev/$d" ] && head -c 8192 "/dev/$d" >/tmp/disk.head 2>/tmp/disk.err; then
            # Not anchored: in a FAT boot sector the label follows the
            # random volume id, whose last byte may be a letter or digit.
            sig="$(tr -c 'a-zA-Z0-9' '\n' </tmp/disk.head |
                grep -oE 'SWAPSPACE2|ephemeral0|EPHEMERAL0' | head -n 1)"
            [ -n "$sig" ] && break
        fi
        sleep 0.1
        i=$((i + 1))
    done
    [ -n "$sig" ] || echo "GUEST-WARN /dev/$d: node=$([ -b "/dev/$d" ] && echo yes || echo no)" \
        "read=$(wc -c </tmp/disk.head 2>/dev/null) err=$(cat /tmp/disk.err 2>/dev/null)" \
        "head=$(head -c 96 /tmp/disk.head 2>/dev/null | od -An -tx1 | tr -d ' \n')"
    echo "GUEST-DISK name=$d bytes=$(($(cat "$b/size") * 512)) sig=${sig:-none}"
done

# The config drive, if there is one (the CD-ROM appears once ata_piix has
# probed the IDE bus, asynchronously).
(
    i=0
    while [ ! -b /dev/sr0 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    [ -b /dev/sr0 ] || exit 0
    mkdir -p /mnt/config
    if ! mount -t iso9660 -o ro /dev/sr0 /mnt/config 2>/tmp/mount.err; then
        echo "GUEST-CONFIGDRIVE-FAILED $(cat /tmp/mount.err)" >/dev/console
        exit 0
    fi
    md="$(cat /mnt/config/openstack/latest/meta_data.json 2>/dev/null)"
    uuid="$(echo "$md" | sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p')"
    echo "GUEST-CONFIGDRIVE uuid=$uuid" >/dev/console
    # "files": [{"content_path": "/content/0000", "path": "/etc/x"}, ...]
    echo "$md" | grep -o '"content_path": *"[^"]*", *"path": *"[^"]*"' | while read -r f; do
        cp="$(echo "$f" | sed 's/.*"content_path": *"\([^"]*\)".*/\1/')"
        path="$(echo "$f" | sed 's/.*"path": *"\([^"]*\)".*/\1/')"
        mkdir -p "$(dirname "$path")"
        cat "/mnt/config/openstack$cp" >"$path"
        echo "GUEST-PERSONALITY path=$path content=$(head -n 1 "$path")" >/dev/console
    done
    echo "$md" | grep -o '{[^{}]*"type": *"nic"[^{}]*}' | while read -r d; do
        addr="$(echo "$d" | sed -n 's/.*"address": *"\([^"]*\)".*/\1/p')"
        mac="$(echo "$d" | sed -n 's/.*"mac": *"\([^"]*\)".*/\1/p')"
        tags="$(echo "$d" | sed -n 's/.*"tags": *\[\([^]]*\)\].*/\1/p' | tr -d '" ')"
        echo "GUEST-CONFIGDRIVE-NIC address=$addr mac=$mac tags=$tags" >/dev/console
    done
) &

if [ -e /sys/class/net/eth0 ]; then
    set -- -i eth0 -s /etc/udhcpc.sh -t 5 -T 2 -A 10 -b -p /run/udhcpc.pid
    [ -e /run/hostname.cmdline ] && set -- "$@" -x "hostname:$hn"
    # Returns when leased (udhcpc then daemonizes and keeps renewing) or after
    # ~10 s without a lease (udhcpc keeps trying in the background).
    udhcpc "$@" >>/var/log/udhcpc.log 2>&1
    [ -e /run/lease ] || echo "GUEST-NOLEASE"
    # Who am I: the metadata service, once there is a lease.
    (
        i=0
        while [ ! -e /run/lease ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
        [ -e /run/lease ] || exit 0
        n=0
        while :; do
            # busybox nc, not wget: the static busybox's wget looks the
            # "http" port up through glibc's NSS, which crashes in here.
            md="$(printf 'GET /openstack/latest/meta_data.json HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n' \
                | nc -w 5 169.254.169.254 80 2>/tmp/wget.err)"
            echo "$md" | head -n 1 >>/tmp/wget.err
            uuid="$(echo "$md" | sed -n 's/.*"uuid": *"\([^"]*\)".*/\1/p')"
            name="$(echo "$md" | sed -n 's/.*"hostname": *"\([^"]*\)".*/\1/p')"
            if [ -n "$uuid" ]; then
                echo "GUEST-METADATA uuid=$uuid hostname=$name" >/dev/console
                # User data that is a script runs once, as cloud-init would.
                # Retried like the metadata above (a connection can be lost
                # while the host rewrites its rules); 404 means there is none.
                u=0
                while :; do
                    printf 'GET /openstack/latest/user_data HTTP/1.0\r\nHost: 169.254.169.254\r\n\r\n' \
                        | nc -w 5 169.254.169.254 80 2>/dev/null | tr -d '\r' >/tmp/ud.http
                    head -n 1 /tmp/ud.http | grep -qE ' (200|404) ' && break
                    u=$((u + 1))
                    if [ $u -ge 5 ]; then
                        echo "GUEST-USERDATA-FAILED $(head -n 1 /tmp/ud.http)" >/dev/console
                        break
                    fi
                    sleep 2
                done
                if head -n 1 /tmp/ud.http | grep -q ' 200 '; then
                    sed '1,/^$/d' /tmp/ud.http >/run/user-data
                    case "$(sed -n 1p /run/user-data)" in
                        '#!'*)
                            chmod 0755 /run/user-data
                            echo "GUEST-USERDATA" >/dev/console
                            /run/user-data >/dev/console 2>&1 &
                            ;;
                    esac
                fi
                break
            fi
            n=$((n + 1))
            if [ $n -ge 5 ]; then
                echo "GUEST-METADATA-FAILED $(cat /tmp/wget.err 2>/dev/null | tr '\n' ' ')" >/dev/console
                break
            fi
            sleep 2
        done
    ) &
else
    echo "GUEST-NOLEASE"
fi

while :; do sleep 3600; done
EOF

cat >"$R/etc/udhcpc.sh" <<'EOF'
#!/bin/sh
# udhcpc hook: configure eth0 and report the lease on the console.
case "$1" in
    deconfig)
        ip -4 addr flush dev "$interface"
        ip link set "$interface" up
        ;;
    bound|renew)
        new="$ip/${mask:-32}"
        old="$(cat /run/lease 2>/dev/null)"
        [ "$old" = "$new" ] || ip -4 addr flush dev "$interface"
        ip addr replace "$new" dev "$interface" ${broadcast:+broadcast "$broadcast"}
        gw=""
        for r in $router; do gw="$r"; break; done
        [ -z "$gw" ] || ip route replace default via "$gw" dev "$interface"
        : >/etc/resolv.conf
        [ -z "$domain" ] || echo "search $domain" >>/etc/resolv.conf
        for d in $dns; do echo "nameserver $d" >>/etc/resolv.conf; done
        echo "$new" >/run/lease
        if [ "$old" != "$new" ]; then
            echo "GUEST-LEASE ip=$new router=${gw:-none}" >/dev/console
        fi
        if [ -n "$hostname" ] && [ ! -e /run/hostname.cmdline ] && [ "$hostname" != "$(hostname)" ]; then
            hostname "$hostname"
            echo "hello from $hostname" >/www/index.html
            echo "GUEST-HOSTNAME hostname=$hostname" >/dev/console
        fi
        ;;
esac
exit 0
EOF

cat >"$R/etc/acpi/PWRF/00000080" <<'EOF'
#!/bin/sh
# busybox acpid: ACPI power button (virsh shutdown).
echo "GUEST-POWEROFF" >/dev/console
sync
exec poweroff -f
EOF
chmod 0755 "$R/init" "$R/etc/udhcpc.sh" "$R/etc/acpi/PWRF/00000080"

# newc entry without data (device nodes need no mknod/root this way).
# newc_entry NAME MODE_OCTAL INO [RDEV_MAJOR RDEV_MINOR]
newc_entry() {
    local name="$1" mode="$2" ino="$3" maj="${4:-0}" min="${5:-0}" ns pad
    ns=$((${#name} + 1))
    printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
        "$ino" $((8#$mode)) 0 0 1 0 0 0 0 "$maj" "$min" "$ns" 0
    printf '%s\0' "$name"
    pad=$(((4 - (110 + ns) % 4) % 4))
    [ $pad -eq 0 ] || head -c "$pad" /dev/zero
}
(
    cd "$R"
    find . -mindepth 1 | LC_ALL=C sort | "$BB" cpio -o -H newc -R 0:0 2>/dev/null
    # /dev/console must exist in the initramfs, or the kernel starts /init
    # without stdin/stdout ("unable to open an initial console").
    newc_entry dev/console 020600 900001 5 1
    newc_entry TRAILER!!! 0 0
) | gzip -9 -n >"$WORK/initrd.gz"
log "initrd.gz built ($(stat -c %s "$WORK/initrd.gz") bytes)"

# ---------------------------------------------------------------------- disk
IMG="$WORK/disk.img"
mkfs.vfat -C -n GUESTBOOT "$IMG" $((GUEST_DISK_MB * 1024)) >/dev/null
cat >"$WORK/syslinux.cfg" <<'EOF'
DEFAULT guest
PROMPT 0
TIMEOUT 0
LABEL guest
  KERNEL vmlinuz
  INITRD initrd.gz
  APPEND console=ttyS0 quiet
EOF
export MTOOLS_SKIP_CHECK=1
mcopy -i "$IMG" "$VMLINUZ" ::vmlinuz
mcopy -i "$IMG" "$WORK/initrd.gz" ::initrd.gz
mcopy -i "$IMG" "$WORK/syslinux.cfg" ::syslinux.cfg
syslinux --install "$IMG"
qemu-img convert -f raw -O qcow2 "$IMG" "$WORK/disk.qcow2"
rm -f "$IMG"

{
    echo "kernel $KVER ($GUEST_KERNEL_PKG from $(basename "$KDEB")); modules in load order: ${ORDER[*]}"
    for n in "${ORDER[@]}"; do echo "$n depends=${DEPS[$n]}"; done
} >"$WORK/modules.txt"

# ---------------------------------------------------------------- install
cp "$VMLINUZ" "$WORK/vmlinuz"
for f in "${OUTPUTS[@]}"; do
    mv -f "$WORK/$f" "$OUT/$f.tmp.$$"
    mv -f "$OUT/$f.tmp.$$" "$OUT/$f"
done
# Replaced, not rewritten: the output directory may be a hard-linked copy.
echo "$SCRIPT_SHA" >"$OUT/script.sha256.tmp.$$"
mv -f "$OUT/script.sha256.tmp.$$" "$OUT/script.sha256"
log "built in $((SECONDS - T0)) s"
report
