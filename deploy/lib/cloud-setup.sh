#!/usr/bin/env bash
# deploy/lib/cloud-setup.sh — register nova-rs and Glance in a running
# Keystone (deploy/lib/keystone.sh) and write client credentials.
#
# Usage: cloud-setup.sh <keystone_url> <nova_url> <glance_url>
#   e.g. cloud-setup.sh http://127.0.0.1:15000/v3 http://127.0.0.1:8774/v2.1 \
#                       http://127.0.0.1:19293
#   (<keystone_url> may omit the trailing /v3.)
#
# Creates, as Keystone's bootstrap admin (the venv's `openstack` CLI):
#   projects  service, demo, alt_demo                 (domain Default)
#   roles     member, reader, service  (keystone-manage bootstrap already made
#             them, plus admin and manager; admin => manager => member =>
#             reader are implied roles, so a member's token lists reader too)
#   users     nova, glance  with admin and service on project service
#             demo          with member and reader on project demo
#             alt_demo      with member and reader on project alt_demo
#   services  nova (compute) and glance (image), each with public, internal
#             and admin endpoints in the region at the given URLs (an
#             existing endpoint with another URL is updated); the same for
#             keystone (identity, made by bootstrap) and <keystone_url>, so
#             the catalog follows Keystone to a new port.
# A user whose password does not work (tried with a token request) gets it
# set, so changing one in the environment and re-running takes effect.  Then
# it checks the result (role assignments, endpoints, and a project-scoped
# password token for every user) and writes
#   $CLOUDS_YAML (default /etc/openstack/clouds.yaml, mode 600): clouds
#     admin, demo, alt_demo, and nova, glance (the service users),
#   openrc-admin, openrc-demo, openrc-alt_demo next to it (export OS_*).
# Idempotent: re-running on a set-up Keystone changes nothing and succeeds.
# Takes ~10-15 s (two `openstack` runs in batch mode plus a few token
# requests), most of it Python start-up and bcrypt password checks.
#
# Environment: NOVA_VENV (/opt/nova-rs/venv), KEYSTONE_ADMIN_PASSWORD (admin),
#   NOVA_SERVICE_PASSWORD (nova), GLANCE_SERVICE_PASSWORD (glance),
#   DEMO_PASSWORD (demo), ALT_DEMO_PASSWORD (alt_demo),
#   KEYSTONE_REGION (RegionOne), CLOUDS_YAML.
# Passwords may use only [A-Za-z0-9._@%+=:,/-]: the CLI runs in batch mode
# (commands on stdin), which cannot quote.
set -euo pipefail

NOVA_VENV="${NOVA_VENV:-/opt/nova-rs/venv}"
REGION="${KEYSTONE_REGION:-RegionOne}"
CLOUDS_YAML="${CLOUDS_YAML:-/etc/openstack/clouds.yaml}"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"

usage() { echo "usage: $0 <keystone_url> <nova_url> <glance_url>" >&2; exit 2; }
[ "$#" -eq 3 ] || usage
KS_URL="${1%/}"; NOVA_URL="${2%/}"; GLANCE_URL="${3%/}"
case "$KS_URL" in */v3) ;; *) KS_URL="$KS_URL/v3" ;; esac

ADMIN_PW="${KEYSTONE_ADMIN_PASSWORD:-admin}"
NOVA_PW="${NOVA_SERVICE_PASSWORD:-nova}"
GLANCE_PW="${GLANCE_SERVICE_PASSWORD:-glance}"
DEMO_PW="${DEMO_PASSWORD:-demo}"
ALT_PW="${ALT_DEMO_PASSWORD:-alt_demo}"
for pw in "$ADMIN_PW" "$NOVA_PW" "$GLANCE_PW" "$DEMO_PW" "$ALT_PW"; do
    [[ "$pw" =~ ^[A-Za-z0-9._@%+=:,/-]+$ ]] ||
        { echo "cloud-setup: passwords may only use [A-Za-z0-9._@%+=:,/-]" >&2; exit 2; }
done

if [ ! -x "$NOVA_VENV/bin/openstack" ]; then
    NOVA_VENV="$NOVA_VENV" bash "$HERE/venv.sh" osc ||
        { echo "cloud-setup: venv.sh osc failed" >&2; exit 1; }
fi

code="$(curl -s -o /dev/null -m 10 -w '%{http_code}' "$KS_URL" 2>/dev/null || true)"
[ "$code" = 200 ] || { echo "cloud-setup: GET $KS_URL answered '${code:-nothing}', not 200; is Keystone running?" >&2; exit 1; }

# POST /v3/auth/tokens with a password; prints the HTTP status (201 = ok).
# No scope argument: unscoped token.
token_code() {   # <user> <password> [<project>]
    local scope=""
    [ -z "${3:-}" ] || scope=", \"scope\": {\"project\": {\"name\": \"$3\", \"domain\": {\"name\": \"Default\"}}}"
    curl -s -o /dev/null -m 20 -w '%{http_code}' -X POST "$KS_URL/auth/tokens?nocatalog" \
        -H 'Content-Type: application/json' -d @- <<EOF 2>/dev/null || true
{"auth": {"identity": {"methods": ["password"], "password": {"user": {"name": "$1",
 "domain": {"name": "Default"}, "password": "$2"}}}$scope}}
EOF
}

code="$(token_code admin "$ADMIN_PW" admin)"
[ "$code" = 201 ] || { echo "cloud-setup: admin cannot get a token for project admin (HTTP ${code:-none}); wrong KEYSTONE_ADMIN_PASSWORD?" >&2; exit 1; }

# Only our admin credentials: an inherited OS_CLOUD/OS_TOKEN/... would win.
while read -r v; do unset "$v"; done < <(compgen -e | grep '^OS_' || true)
export OS_AUTH_URL="$KS_URL" OS_IDENTITY_API_VERSION=3 OS_AUTH_TYPE=password \
    OS_USERNAME=admin OS_PASSWORD="$ADMIN_PW" OS_PROJECT_NAME=admin \
    OS_USER_DOMAIN_NAME=Default OS_PROJECT_DOMAIN_NAME=Default \
    OS_REGION_NAME="$REGION" OS_INTERFACE=public

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# Runs the commands on stdin in one `openstack` process (interactive mode fed
# by a pipe: one Python start-up and one admin token for the lot instead of
# ~3 s per command).  That mode always exits 1 and cannot stop at the first
# failure, so failures are found by checking the result afterwards; whatever
# the CLI wrote to stderr is shown for diagnosis.  stdout goes to file $1.
osc_batch() {
    local out="$1" err="$WORK/stderr"
    "$NOVA_VENV/bin/openstack" > "$out" 2> "$err" || true
    if [ -s "$err" ]; then
        sed 's/^/cloud-setup:   openstack: /' "$err" >&2
    fi
}

# ---- 1. projects, roles, users (create or look up); list what exists ------
echo "cloud-setup: projects service/demo/alt_demo, roles, users nova/glance/demo/alt_demo"
# -f shell --prefix K_ prints K_id="<id>": tagged, so a failed command cannot
# shift the others' ids.
{
    for p in service demo alt_demo; do
        echo "project create --or-show --domain default -f shell -c id --prefix project_${p}_ $p"
    done
    for r in admin member reader service; do
        echo "role create --or-show -f shell -c id --prefix role_${r}_ $r"
    done
    # The password only applies to a new user; step 2 fixes existing ones.
    for spec in "nova $NOVA_PW" "glance $GLANCE_PW" "demo $DEMO_PW" "alt_demo $ALT_PW"; do
        read -r user pw <<< "$spec"
        echo "user create --or-show --domain default --password $pw -f shell -c id --prefix user_${user}_ $user"
    done
    echo "service list -f value"
    echo "endpoint list -f value"
    echo "role assignment list -f value"
} | osc_batch "$WORK/out1"

id_of() {   # <kind_name> -> the id printed as <kind_name>_id="..."
    sed -n "s/^$1_id=\"\([0-9a-f]*\)\"\$/\1/p" "$WORK/out1" | head -n 1
}
fail=0
for k in project_service project_demo project_alt_demo role_admin role_member \
         role_reader role_service user_nova user_glance user_demo user_alt_demo; do
    [ -n "$(id_of "$k")" ] || { echo "cloud-setup: could not create or find ${k/_/ }" >&2; fail=1; }
done
if [ "$fail" -ne 0 ]; then
    echo "cloud-setup: FAILED; openstack output:" >&2; cat "$WORK/out1" >&2; exit 1
fi

# service list -f value:  ID Name Type                               (3 fields)
# endpoint list -f value: ID Region Service_Name Service_Type Enabled
#                         Interface URL                               (7 fields)
# role assignment list -f value: Role User Group Project Domain System
#                         Inherited (empty columns leave extra spaces)
svc_id() {   # <type> -> id of the first service of that type, if any
    awk -v t="$1" 'NF == 3 && $3 == t {print $1; exit}' "$WORK/out1"
}

# ---- 2. passwords, role assignments, services, endpoints: what is missing ---
{
    for spec in "nova $NOVA_PW" "glance $GLANCE_PW" "demo $DEMO_PW" "alt_demo $ALT_PW"; do
        read -r user pw <<< "$spec"
        if [ "$(token_code "$user" "$pw")" != 201 ]; then
            echo "cloud-setup: setting the password of user $user" >&2
            echo "user set --password $pw $(id_of "user_$user")"
        fi
    done
    for a in "admin nova service" "service nova service" "admin glance service" \
             "service glance service" "member demo demo" "reader demo demo" \
             "member alt_demo alt_demo" "reader alt_demo alt_demo"; do
        read -r role user project <<< "$a"
        rid="$(id_of "role_$role")"; uid="$(id_of "user_$user")"; pid="$(id_of "project_$project")"
        if ! grep -Eq "^$rid $uid +$pid " "$WORK/out1"; then
            echo "cloud-setup: granting $role on project $project to $user" >&2
            echo "role add --project $pid --user $uid $rid"
        fi
    done
    for spec in "keystone identity $KS_URL" "nova compute $NOVA_URL" "glance image $GLANCE_URL"; do
        read -r name type url <<< "$spec"
        svc="$(svc_id "$type")"
        if [ -z "$svc" ]; then
            echo "cloud-setup: creating service $name ($type)" >&2
            echo "service create --name $name -f value -c id $type"
            svc="$name"
        fi
        for iface in public internal admin; do
            ep_id=""; ep_url=""
            read -r ep_id ep_url < <(awk -v t="$type" -v i="$iface" -v r="$REGION" \
                'NF == 7 && $4 == t && $6 == i && $2 == r {print $1, $7; exit}' "$WORK/out1") || true
            if [ -z "$ep_id" ]; then
                echo "cloud-setup: creating $iface endpoint $url for $type" >&2
                echo "endpoint create --region $REGION -f value -c id $svc $iface $url"
            elif [ "$ep_url" != "$url" ]; then
                echo "cloud-setup: updating $iface endpoint for $type: $ep_url -> $url" >&2
                echo "endpoint set --url $url $ep_id"
            fi
        done
    done
    echo "role assignment list --names -f value"
    echo "endpoint list -f value"
} > "$WORK/batch2"
osc_batch "$WORK/out2" < "$WORK/batch2"

# ---- 3. check the result ---------------------------------------------------
# role assignment list --names -f value: Role User Group Project Domain System
# Inherited; empty columns leave extra spaces.
for a in "admin nova service" "service nova service" "admin glance service" \
         "service glance service" "member demo demo" "reader demo demo" \
         "member alt_demo alt_demo" "reader alt_demo alt_demo"; do
    read -r role user project <<< "$a"
    grep -Eq "^$role $user@Default +$project@Default " "$WORK/out2" ||
        { echo "cloud-setup: missing role assignment: $role for $user on $project" >&2; fail=1; }
done
for spec in "identity $KS_URL" "compute $NOVA_URL" "image $GLANCE_URL"; do
    read -r type url <<< "$spec"
    for iface in public internal admin; do
        awk -v t="$type" -v i="$iface" -v r="$REGION" -v u="$url" \
            'NF == 7 && $4 == t && $6 == i && $2 == r && $7 == u {f = 1} END {exit !f}' "$WORK/out2" ||
            { echo "cloud-setup: missing $iface endpoint $url for $type in $REGION" >&2; fail=1; }
    done
done
# A project-scoped password token for every user proves name, password and
# role assignment together.
for spec in "admin $ADMIN_PW admin" "nova $NOVA_PW service" "glance $GLANCE_PW service" \
            "demo $DEMO_PW demo" "alt_demo $ALT_PW alt_demo"; do
    read -r user pw project <<< "$spec"
    code="$(token_code "$user" "$pw" "$project")"
    [ "$code" = 201 ] ||
        { echo "cloud-setup: $user cannot get a token for project $project (HTTP ${code:-none})" >&2; fail=1; }
done
if [ "$fail" -ne 0 ]; then
    echo "cloud-setup: FAILED (openstack output in order:)" >&2
    cat "$WORK/out1" "$WORK/out2" >&2
    exit 1
fi

# ---- 4. clouds.yaml and openrc files ----------------------------------------
dir="$(dirname "$CLOUDS_YAML")"
mkdir -p "$dir"
cloud_entry() {   # <cloud> <user> <password> <project>
    cat <<EOF
  $1:
    auth:
      auth_url: '$KS_URL'
      username: '$2'
      password: '$3'
      project_name: '$4'
      user_domain_name: Default
      project_domain_name: Default
    region_name: '$REGION'
    identity_api_version: 3
    interface: public
EOF
}
(
    umask 077
    {
        echo "# Generated by deploy/lib/cloud-setup.sh"
        echo "clouds:"
        cloud_entry admin admin "$ADMIN_PW" admin
        cloud_entry demo demo "$DEMO_PW" demo
        cloud_entry alt_demo alt_demo "$ALT_PW" alt_demo
        cloud_entry nova nova "$NOVA_PW" service
        cloud_entry glance glance "$GLANCE_PW" service
    } > "$CLOUDS_YAML.tmp"
    mv -f "$CLOUDS_YAML.tmp" "$CLOUDS_YAML"
    for spec in "admin admin $ADMIN_PW admin" "demo demo $DEMO_PW demo" \
                "alt_demo alt_demo $ALT_PW alt_demo"; do
        read -r name user pw project <<< "$spec"
        cat > "$dir/openrc-$name" <<EOF
# Generated by deploy/lib/cloud-setup.sh: . $dir/openrc-$name
unset OS_CLOUD OS_TOKEN OS_PROJECT_ID OS_USER_ID OS_DOMAIN_NAME OS_DOMAIN_ID OS_SYSTEM_SCOPE
export OS_AUTH_URL='$KS_URL'
export OS_AUTH_TYPE=password
export OS_IDENTITY_API_VERSION=3
export OS_USERNAME='$user'
export OS_PASSWORD='$pw'
export OS_PROJECT_NAME='$project'
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
export OS_REGION_NAME='$REGION'
export OS_INTERFACE=public
EOF
    done
)
echo "cloud-setup: done; wrote $CLOUDS_YAML and $dir/openrc-{admin,demo,alt_demo}"
