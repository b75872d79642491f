#!/usr/bin/env bash
# deploy/lib/venv.sh — create/refresh the Python venv holding the upstream
# OpenStack services nova-rs talks to (Glance now; Keystone and the
# openstack CLI later).
#
# Usage (executed):  deploy/lib/venv.sh [COMPONENT...]
#        (sourced):  NOVA_VENV_COMPONENTS="glance" . deploy/lib/venv.sh
#
# COMPONENTs (default: "${NOVA_VENV_COMPONENTS:-glance}"):
#   glance    glance==33.0.0                  (marker: bin/glance-manage)
#   keystone  keystone==30.0.0                (marker: bin/keystone-manage)
#   osc       python-openstackclient==10.5.0  (marker: bin/openstack)
#   aws       boto3==1.44.8 awscli==1.46.2    (marker: bin/aws; the EC2 API's
#             end-to-end tests drive these unmodified clients)
#   pgdriver  psycopg2-binary==2.9.13         (marker: `import psycopg2`; Keystone's
#             PostgreSQL driver, see keystone.sh)
#   tempest   tempest==47.0.0                 (marker: bin/tempest; the acceptance
#             suite, tests/tempest/run.sh)
# uwsgi (marker: bin/uwsgi) is always installed: it serves the WSGI apps.
#
# Environment:
#   NOVA_VENV    venv location (default /opt/nova-rs/venv)
#   NOVA_PYTHON  interpreter used to create the venv (default: /usr/bin/python3
#                if present, else python3 from PATH)
#
# A spec is "<pip requirement>... <marker>": the last word is the marker, an
# executable in $venv/bin, or "py:<module>" for a package without one (the
# venv's python must import it).
# Idempotent: pip runs only when a component's marker executable is missing,
# so a second run just checks a few files.  Sourcing exports NOVA_VENV and
# never changes the caller's shell options.
# Concurrent runs wait on $venv.lock.

nova_venv_spec() {
    case "$1" in
        glance)   echo "glance==33.0.0 glance-manage" ;;
        keystone) echo "keystone==30.0.0 keystone-manage" ;;
        osc)      echo "python-openstackclient==10.5.0 openstack" ;;
        aws)      echo "boto3==1.44.8 awscli==1.46.2 aws" ;;
        pgdriver) echo "psycopg2-binary==2.9.13 py:psycopg2" ;;
        tempest)  echo "tempest==47.0.0 tempest" ;;
        uwsgi)    echo "uwsgi uwsgi" ;;
        *)        return 1 ;;
    esac
}

# Runs in a subshell so `set -e` etc. never leak into a sourcing shell.
# Steps that can fail also return explicitly: bash ignores `set -e` when the
# caller writes `nova_venv_ensure ... || ...` or `. venv.sh && ...`.
# True if the marker of a spec ($2) is present in venv $1.
nova_venv_has() {
    case "$2" in
        py:*) [ -x "$1/bin/python" ] && "$1/bin/python" -c "import ${2#py:}" 2>/dev/null ;;
        *)    [ -x "$1/bin/$2" ] ;;
    esac
}

nova_venv_ensure() (
    set -euo pipefail
    local venv="${NOVA_VENV:-/opt/nova-rs/venv}"
    local py="${NOVA_PYTHON:-}"
    if [ -z "$py" ]; then
        if [ -x /usr/bin/python3 ]; then py=/usr/bin/python3; else py="$(command -v python3)"; fi
    fi
    local comps=("$@")
    [ "${#comps[@]}" -gt 0 ] || comps=(glance)

    # One pip at a time per venv: two concurrent installs corrupt it.
    mkdir -p "$(dirname "$venv")"
    exec 8>"$venv.lock"
    flock -n 8 || { echo "venv: waiting for another install into $venv"; flock 8; }

    # Which packages are still missing?
    local pkgs=() c spec reqs
    for c in uwsgi "${comps[@]}"; do
        spec="$(nova_venv_spec "$c")" || { echo "venv: unknown component '$c' (known: glance keystone osc aws pgdriver tempest)" >&2; return 2; }
        if nova_venv_has "$venv" "${spec##* }"; then
            echo "venv: $c already installed (${spec##* })"
        else
            read -ra reqs <<< "${spec% *}"
            pkgs+=("${reqs[@]}")
        fi
    done
    if [ "${#pkgs[@]}" -eq 0 ]; then
        echo "venv: $venv is up to date"
        return 0
    fi

    # Debian's interpreter needs python3-venv (ensurepip) and, for building
    # uwsgi from its sdist, the headers in python3-dev; install only if absent.
    local apt_pkgs=()
    "$py" -c 'import ensurepip' 2>/dev/null || apt_pkgs+=(python3-venv)
    local inc
    inc="$("$py" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
    [ -f "$inc/Python.h" ] || apt_pkgs+=(python3-dev)
    command -v gcc >/dev/null 2>&1 || apt_pkgs+=(gcc)
    if [ "${#apt_pkgs[@]}" -gt 0 ]; then
        if [ "$py" != /usr/bin/python3 ] && [[ " ${apt_pkgs[*]} " == *python3-* ]]; then
            echo "venv: $py lacks ${apt_pkgs[*]} and is not Debian's python3; set NOVA_PYTHON=/usr/bin/python3" >&2
            return 1
        fi
        echo "venv: apt-get install ${apt_pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${apt_pkgs[@]}" >/dev/null 2>&1 || {
            apt-get update -qq >/dev/null &&
            apt-get install -y -qq --no-install-recommends "${apt_pkgs[@]}" >/dev/null
        } || { echo "venv: apt-get install ${apt_pkgs[*]} failed" >&2; return 1; }
    fi

    if [ ! -x "$venv/bin/python" ]; then
        echo "venv: creating $venv with $py ($("$py" --version 2>&1))"
        mkdir -p "$(dirname "$venv")"
        "$py" -m venv "$venv" || { echo "venv: '$py -m venv $venv' failed" >&2; return 1; }
    else
        echo "venv: $venv exists"
    fi

    echo "venv: pip install ${pkgs[*]}"
    # --no-cache-dir keeps the wheel cache (~hundreds of MB) off the disk.
    # --use-pep517: build sdists (uwsgi) the modern way; Debian's pip 23.0 would
    # otherwise fall back to the deprecated "setup.py install".
    # Progress: one line per package pip fetches (a first install takes minutes).
    "$venv/bin/python" -m pip install --disable-pip-version-check --use-pep517 \
        --no-cache-dir --progress-bar off "${pkgs[@]}" 2>&1 \
        | awk '/^(Collecting|Building wheel for|Successfully installed)/ { print "venv:   " substr($0, 1, 100); fflush() }
               /^ERROR/ { print; fflush() }' \
        || { echo "venv: pip install ${pkgs[*]} failed" >&2; return 1; }

    for c in uwsgi "${comps[@]}"; do
        spec="$(nova_venv_spec "$c")"
        nova_venv_has "$venv" "${spec##* }" || { echo "venv: ${spec##* } missing in $venv after install" >&2; return 1; }
    done
    echo "venv: done (${comps[*]} in $venv)"
)

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
    # Sourced: positional parameters belong to the caller; use the env var.
    # shellcheck disable=SC2086
    if nova_venv_ensure ${NOVA_VENV_COMPONENTS:-glance}; then
        export NOVA_VENV="${NOVA_VENV:-/opt/nova-rs/venv}"
    else
        return 1
    fi
else
    if [ "$#" -gt 0 ]; then
        nova_venv_ensure "$@"
    else
        # shellcheck disable=SC2086
        nova_venv_ensure ${NOVA_VENV_COMPONENTS:-glance}
    fi
fi
