#!/usr/bin/env bash
# deploy/lib/postgres.sh — nova-rs's own access to PostgreSQL, whatever the
# cluster's pg_hba.conf says (Debian's default: peer on the socket,
# scram-sha-256 on 127.0.0.1; a hand-made cluster may use trust).
#
# Usage: postgres.sh ensure        start the local cluster if it is down, and make
#                                  sure the login role exists with the stored password
#        postgres.sh url [DB]      print postgresql://ROLE:PASSWORD@HOST:PORT/DB (DB: postgres)
#        postgres.sh psql ARGS...  run psql as the role against 127.0.0.1 (PGPASSWORD set)
#
# The role (NOVA_DB_USER, default nova) has LOGIN and CREATEDB: nova-manage
# db sync and the tests create their own databases with it. Its password is
# generated once and kept in NOVA_DB_PASSWORD_FILE (default
# /etc/nova-rs/db-password, mode 0600); `ensure` (re)sets it on the role, so
# the file and the role always agree. The superuser is reached only as the
# `postgres` OS user over the local socket (peer), the way Debian intends.
set -euo pipefail

ROLE="${NOVA_DB_USER:-nova}"
HOST="${NOVA_DB_HOST:-127.0.0.1}"
PORT="${NOVA_DB_PORT:-5432}"
PWFILE="${NOVA_DB_PASSWORD_FILE:-/etc/nova-rs/db-password}"

log() { printf '[postgres] %s\n' "$*"; }
die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

password() {
    [ -s "$PWFILE" ] || die "$PWFILE is missing: run 'bash deploy/lib/postgres.sh ensure' (deploy/install.sh does)"
    cat "$PWFILE"
}

# psql as the cluster's superuser: the postgres OS user over the socket.
as_superuser() {
    if [ "$(id -un)" = postgres ]; then
        psql -X -q -v ON_ERROR_STOP=1 "$@"
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 "$@")
    else
        (cd / && su postgres -s /bin/sh -c "psql -X -q -v ON_ERROR_STOP=1 $(printf '%q ' "$@")")
    fi
}

ensure() {
    if ! pg_isready -h "$HOST" -p "$PORT" -q 2>/dev/null; then
        log "starting PostgreSQL"
        for v in $(ls /etc/postgresql 2>/dev/null); do
            pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
        done
        for _ in $(seq 1 60); do pg_isready -h "$HOST" -p "$PORT" -q && break; sleep 0.5; done
    fi
    pg_isready -h "$HOST" -p "$PORT" -q || die "PostgreSQL is not reachable on $HOST:$PORT"

    if [ ! -s "$PWFILE" ]; then
        mkdir -p "$(dirname "$PWFILE")"
        (umask 077 && head -c 18 /dev/urandom | base64 | tr -d '/+=\n' > "$PWFILE.tmp.$$" && mv "$PWFILE.tmp.$$" "$PWFILE")
        log "generated the password of role $ROLE in $PWFILE"
    fi
    local pw
    pw="$(password)"
    # Does the role already log in with the stored password? Then nothing to do.
    if PGPASSWORD="$pw" PGCONNECT_TIMEOUT=5 psql -X -h "$HOST" -p "$PORT" -U "$ROLE" -d postgres -tAc 'SELECT 1' >/dev/null 2>&1 \
        && PGPASSWORD="$pw" psql -X -h "$HOST" -p "$PORT" -U "$ROLE" -d postgres -tAc \
            "SELECT rolcreatedb FROM pg_roles WHERE rolname = current_user" 2>/dev/null | grep -qx t; then
        log "role $ROLE can log in"
        return 0
    fi
    log "creating/updating role $ROLE (LOGIN CREATEDB)"
    as_superuser -d postgres -v role="$ROLE" -v pw="$pw" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN CREATEDB', :'role')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') \gexec
SELECT format('ALTER ROLE %I LOGIN CREATEDB PASSWORD %L', :'role', :'pw') \gexec
SQL
    PGPASSWORD="$pw" PGCONNECT_TIMEOUT=5 psql -X -h "$HOST" -p "$PORT" -U "$ROLE" -d postgres -tAc 'SELECT 1' >/dev/null \
        || die "role $ROLE still cannot log in on $HOST:$PORT with a password: does pg_hba.conf allow 'host all all $HOST/32 scram-sha-256'?"
}

case "${1:-}" in
    ensure) ensure ;;
    url) printf 'postgresql://%s:%s@%s:%s/%s\n' "$ROLE" "$(password)" "$HOST" "$PORT" "${2:-postgres}" ;;
    psql) shift; PGPASSWORD="$(password)" exec psql -X -h "$HOST" -p "$PORT" -U "$ROLE" "$@" ;;
    *) echo "usage: $0 ensure | url [DB] | psql ARGS..." >&2; exit 2 ;;
esac
