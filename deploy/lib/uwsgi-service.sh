# shellcheck shell=bash
# deploy/lib/uwsgi-service.sh — shared by keystone.sh and glance.sh: the
# life cycle of one uwsgi-served OpenStack API whose state lives in a
# directory (pid file <dir>/<SVC>.pid, log <dir>/<SVC>.log).
# Source it after setting SVC (name), SVC_HOST (listen address) and
# SVC_STOP_TIMEOUT (seconds before SIGKILL); the sourcing script defines
# do_start and then calls svc_main "$@".

usage() { echo "usage: $0 start <state_dir> <port> | stop <state_dir> | status <state_dir>" >&2; exit 2; }

# True if process $1 exists and is not a zombie (an orphaned uwsgi may
# linger as a zombie when PID 1 is slow to reap, and kill -0 succeeds on it).
alive() {
    local stat
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat%% *}" != Z ]
}

# True if any non-zombie process is in process group $1.
group_alive() {
    ps -e -o pgid= -o stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ {f = 1} END {exit !f}'
}

# Prints the pid recorded in the pid file if that process is alive and is uwsgi.
running_pid() {
    local pidfile="$1/$SVC.pid" pid
    [ -f "$pidfile" ] || return 1
    pid="$(cat "$pidfile" 2>/dev/null)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    alive "$pid" || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -qi uwsgi || return 1
    echo "$pid"
}

# HTTP status of GET $1 ("" on no answer); $2, if given, is sent as X-Auth-Token.
http_code() {
    curl -s -o /dev/null -m 5 -w '%{http_code}' ${2:+-H "X-Auth-Token: $2"} "$1" 2>/dev/null || true
}

# bash's /dev/tcp: succeeds if something accepts connections on port $1.
port_busy() {
    (exec 3<>"/dev/tcp/$SVC_HOST/$1") 2>/dev/null
}

do_stop() {
    local dir="$1" pid
    [ -d "$dir" ] || { echo "$SVC: no state dir $dir; not running"; return 0; }
    if ! pid="$(running_pid "$dir")"; then
        echo "$SVC: not running ($dir)"
        rm -f "$dir/$SVC.pid"
        return 0
    fi
    echo "$SVC: stopping pid $pid"
    # Whole process group (master + workers); fall back to the master alone.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    local deadline=$(( SECONDS + SVC_STOP_TIMEOUT ))
    while group_alive "$pid" || alive "$pid"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            echo "$SVC: still alive after ${SVC_STOP_TIMEOUT}s; SIGKILL"
            kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
            break
        fi
        sleep 0.2
    done
    rm -f "$dir/$SVC.pid"
    echo "$SVC: stopped"
}

do_status() {
    local pid
    if pid="$(running_pid "$1")"; then echo "$SVC: running (pid $pid)"; else echo "$SVC: not running"; return 1; fi
}

svc_main() {
    case "${1:-}" in
        start)  [ "$#" -eq 3 ] || usage; do_start "$2" "$3" ;;
        stop)   [ "$#" -eq 2 ] || usage; do_stop "$2" ;;
        status) [ "$#" -eq 2 ] || usage; do_status "$2" ;;
        *)      usage ;;
    esac
}
