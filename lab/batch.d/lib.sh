# shellcheck shell=bash
# Common settings and helpers for lab/batch. Sourced, never executed.
# shellcheck disable=SC2034 # the settings are used by the other batch.d files

BATCH_D="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$BATCH_D/../.." && pwd)"
SUITE="trixie"
MIRROR="${BATCH_BRIDGE_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
LAB_HOME="${BATCH_BRIDGE_LAB_HOME:-/var/lib/batch-bridge-lab}/batch"
CACHE="${BATCH_BRIDGE_CACHE:-/var/cache/batch-bridge}"
ROOT="$LAB_HOME/root"
PIDS="$LAB_HOME/pids"
ACCESS="$LAB_HOME/access"
LOGS="$ROOT/var/log/lab"
STORAGE_ROOTS=(/lab/pnfs /lab/gpfs)
CLUSTER="lab"
UID_DOMAIN="batch-bridge.lab"
BRIDGE_USER="bbridge"
# name:uid:gid -- ordinary test users, all in the secondary group physics (3000).
TEST_USERS=(alice:2001:2001 bob:2002:2002)
SECONDARY_GROUP="physics:3000"
BRIDGE_IDS="bbridge:990:990"
CHROOT_PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

log() { printf '[lab/batch %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[lab/batch] ERROR: %s\n' "$*" >&2; exit 1; }

need_root() { [[ $(id -u) -eq 0 ]] || die "must run as root (the lab uses chroot and mounts)"; }

# Run a command inside the chroot with a clean environment, as root.
in_root() {
    chroot "$ROOT" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 "$@"
}

# Poll CMD every 0.1 s until it succeeds or SECONDS_MAX pass.
wait_for() {
    local what="$1" max="$2"; shift 2
    local deadline=$((SECONDS + max))
    until "$@" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "timed out after ${max}s waiting for $what"; return 1
        fi
        sleep 0.1
    done
}

# --- mounts -------------------------------------------------------------------
is_mounted() { awk -v m="$1" '$5 == m {f=1} END {exit !f}' /proc/self/mountinfo; }

# Every mount point at or below DIR, deepest first.
mounts_under() {
    awk -v d="$1" '$5 == d || index($5, d "/") == 1 {print $5}' /proc/self/mountinfo | sort -r -u
}

umount_all_under() {
    local dir="$1" m
    for m in $(mounts_under "$dir"); do
        umount "$m" 2>/dev/null || umount -R "$m" 2>/dev/null || true
    done
    for m in $(mounts_under "$dir"); do
        log "lazy-unmounting busy $m"; umount -l "$m" || true
    done
    [[ -z "$(mounts_under "$dir")" ]] || die "could not unmount: $(mounts_under "$dir" | tr '\n' ' ')"
}

# --- pids ------------------------------------------------------------------------
# Field 22 of /proc/PID/stat (start time) guards against pid reuse.
proc_start() {
    local stat rest
    stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
    rest="${stat##*) }"
    read -r -a f <<<"$rest"
    [[ "${f[0]}" != Z ]] || return 1
    echo "${f[19]}"
}

pid_of() {
    local file="$PIDS/$1.pid" pid start now
    [[ -f "$file" ]] || return 1
    read -r pid start <"$file" || return 1
    now="$(proc_start "$pid")" || return 1
    [[ "$now" == "$start" ]] || return 1
    echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# start_daemon NAME [VAR=value ...] CMD... : run CMD in the chroot, detached, logging to LOGS.
start_daemon() {
    local name="$1"; shift
    local envs=()
    while [[ "${1:-}" == *=* ]]; do envs+=("$1"); shift; done
    mkdir -p "$PIDS" "$LOGS"
    setsid chroot "$ROOT" /usr/bin/env -i PATH="$CHROOT_PATH" HOME=/root LANG=C.UTF-8 \
        "${envs[@]}" "$@" </dev/null >>"$LOGS/$name.out" 2>&1 9>&- &
    local pid=$!
    echo "$pid $(proc_start "$pid")" >"$PIDS/$name.pid"
}

stop_daemon() {
    local name="$1" grace="${2:-15}" pid deadline
    if pid="$(pid_of "$name")"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + grace))
        while running "$name" && ((SECONDS < deadline)); do sleep 0.1; done
        if running "$name"; then log "$name ($pid) ignored SIGTERM; killing"; kill -KILL "$pid" || true; fi
        while running "$name"; do sleep 0.05; done
    fi
    rm -f "$PIDS/$name.pid"
}

# Processes whose root directory is the chroot: all of them were started by the lab.
chroot_pids() {
    local p r
    for p in /proc/[0-9]*; do
        r="$(readlink "$p/root" 2>/dev/null)" || continue
        [[ "$r" == "$ROOT" ]] && echo "${p#/proc/}"
    done
    return 0
}
