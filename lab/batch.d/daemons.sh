# shellcheck shell=bash
# Starting, checking and stopping the lab daemons. Sourced.

# Start order; `down` stops in reverse.
DAEMONS=(condor munge mariadb slurmdbd slurmctld slurmd slurmrestd)

# Lab processes left behind by a killed parent (e.g. condor_schedd after kill -9 of the master)
# would hold the ports: end those whose command name matches REGEX.
kill_strays() {
    local re="$1" p comm
    for p in $(chroot_pids); do
        comm="$(cat "/proc/$p/comm" 2>/dev/null)" || continue
        if [[ "$comm" =~ $re ]]; then log "ending stray $comm ($p)"; kill -KILL "$p" 2>/dev/null || true; fi
    done
}

sql() { in_root mariadb --socket=/run/mysqld/mysqld.sock -N -B -e "$1"; }

slurm_node_ok() {
    local st
    st="$(in_root sinfo -h -n "$HOST" -o %T 2>/dev/null | head -1)"
    [[ "$st" =~ ^(idle|mixed|allocated|completing)$ ]]
}

# HTTP status of GET PATH on slurmrestd, as USER with TOKEN (empty: no auth headers).
rest_status() {
    local path="$1" user="${2:-}" token="${3:-}" line
    exec 3<>/dev/tcp/127.0.0.1/6820 || return 1
    {
        printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n' "$path"
        [[ -z "$user" ]] || printf 'X-SLURM-USER-NAME: %s\r\nX-SLURM-USER-TOKEN: %s\r\n' "$user" "$token"
        printf '\r\n'
    } >&3
    IFS= read -r -t 5 line <&3 || { exec 3>&-; return 1; }
    exec 3>&-
    line="${line#* }"; echo "${line%% *}"
}

start_munge() {
    running munge && return 0
    kill_strays '^munged$'
    start_daemon munge /usr/bin/setpriv --reuid=munge --regid=munge --init-groups /usr/sbin/munged -F
    wait_for munge 20 in_root sh -c 'munge -n | unmunge' || die "munged did not start; see $LOGS/munge.out"
}

start_mariadb() {
    if ! running mariadb; then
        kill_strays '^(mariadbd|mysqld)$'
        if [[ ! -d "$ROOT/var/lib/mysql/mysql" ]]; then
            log "initialising the MariaDB data directory"
            in_root mariadb-install-db --user=mysql --datadir=/var/lib/mysql >"$LOGS/mariadb-install.out" 2>&1 ||
                die "mariadb-install-db failed; see $LOGS/mariadb-install.out"
        fi
        # No TCP at all: slurmdbd talks to it over the unix socket.
        start_daemon mariadb /usr/sbin/mariadbd --user=mysql --datadir=/var/lib/mysql \
            --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid --skip-networking \
            --log-error=/var/log/lab/mariadb.log --innodb-buffer-pool-size=32M --innodb-use-native-aio=0 \
            --innodb-lock-wait-timeout=900
    fi
    wait_for mariadb 60 in_root mariadb-admin --socket=/run/mysqld/mysqld.sock ping ||
        die "MariaDB did not start; see $LOGS/mariadb.log"
    sql "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
         ALTER USER 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
         GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';" || die "cannot create the slurm database user"
}

start_slurmdbd() {
    if ! running slurmdbd; then
        kill_strays '^slurmdbd$'
        start_daemon slurmdbd LD_LIBRARY_PATH=/opt/lab/mariadb-compat /usr/sbin/slurmdbd -D
    fi
    wait_for slurmdbd 60 in_root sacctmgr -n list cluster || die "slurmdbd did not answer; see $LOGS/slurmdbd.log"
}

ensure_accounts() {
    local entry name have
    have="$(in_root sacctmgr -n -P list cluster format=cluster)"
    grep -qx "$CLUSTER" <<<"$have" || in_root sacctmgr -i add cluster "$CLUSTER" >/dev/null
    have="$(in_root sacctmgr -n -P list account format=account)"
    grep -qx physics <<<"$have" || in_root sacctmgr -i add account physics Cluster="$CLUSTER" Description=lab Organization=lab >/dev/null
    have="$(in_root sacctmgr -n -P list user format=user)"
    for entry in "${TEST_USERS[@]}" "$BRIDGE_IDS"; do
        name="${entry%%:*}"
        grep -qx "$name" <<<"$have" || in_root sacctmgr -i add user "$name" Account=physics Cluster="$CLUSTER" >/dev/null
    done
    # The bridge administers jobs (AdminComment, release) under its own non-root identity.
    in_root sacctmgr -n -P list user "$BRIDGE_USER" format=adminlevel | grep -qx Administrator ||
        in_root sacctmgr -i modify user "$BRIDGE_USER" set AdminLevel=Administrator >/dev/null
}

start_slurmctld() {
    if running slurmctld && ((SLURM_CHANGED)); then log "slurm config changed: restarting slurmctld"; stop_daemon slurmctld; fi
    if ! running slurmctld; then
        kill_strays '^(slurmctld|slurmscriptd)$'
        start_daemon slurmctld /usr/sbin/slurmctld -D
    fi
    wait_for slurmctld 60 sh -c "chroot '$ROOT' scontrol ping | grep -q UP" ||
        die "slurmctld did not start; see $LOGS/slurmctld.log"
}

# Jobs slurmctld still counts as running although no slurmstepd is left (the lab was stopped
# under them) would stay RUNNING for good: fail them the way a lost node does (NODE_FAIL).
fail_lost_jobs() {
    local p
    for p in $(chroot_pids); do [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == slurmstepd ]] && return 0; done
    [[ -n "$(in_root squeue -h -t RUNNING,COMPLETING -w "$HOST" -o %i)" ]] || return 0
    log "failing jobs that were running when the lab stopped (NODE_FAIL)"
    in_root scontrol update NodeName="$HOST" State=DOWN Reason="lab stopped under running jobs"
    in_root scontrol update NodeName="$HOST" State=RESUME
}

start_slurmd() {
    if running slurmd && ((SLURM_CHANGED)); then stop_daemon slurmd; fi
    if ! running slurmd; then
        kill_strays '^slurmd$'
        start_daemon slurmd /usr/sbin/slurmd -D
        fail_lost_jobs
    fi
    wait_for "node $HOST idle" 60 slurm_node_ok || die "node $HOST is not usable: $(in_root sinfo -h -N -o '%T %E'); see $LOGS/slurmd.log"
}

start_slurmrestd() {
    if running slurmrestd && ((SLURM_CHANGED)); then stop_daemon slurmrestd; fi
    if ! running slurmrestd; then
        kill_strays '^slurmrestd$'
        start_daemon slurmrestd SLURM_JWT=daemon /usr/sbin/slurmrestd -u slurmrest -g slurmrest \
            -a rest_auth/jwt 127.0.0.1:6820
    fi
    local code
    code="$(rest_status_retry "$(slurm_token root)")"
    [[ "$code" == 200 ]] || die "slurmrestd does not answer on 127.0.0.1:6820 (HTTP '$code'); see $LOGS/slurmrestd.out"
}

rest_status_retry() {
    local deadline=$((SECONDS + 30)) code=""
    while ((SECONDS < deadline)); do
        code="$(rest_status /slurm/v0.0.42/ping root "$1" 2>/dev/null)" || code=""
        [[ "$code" == 200 ]] && break
        sleep 0.1
    done
    echo "$code"
}

slurm_token() {
    in_root scontrol token username="$1" lifespan=31536000 | sed -n 's/^SLURM_JWT=//p'
}

start_condor() {
    if running condor && ((CONDOR_CHANGED)); then in_root condor_reconfig >/dev/null || true; fi
    running condor && return 0
    kill_strays '^condor_'
    in_root install -d -m 1777 /run/lock
    in_root install -d -o condor -g condor -m 0755 /run/lock/condor
    start_daemon condor /usr/sbin/condor_master -f
}

condor_ready() {
    [[ -s "$ROOT/etc/condor/passwords.d/POOL" ]] &&
        [[ -n "$(in_root condor_status -schedd -af Name 2>/dev/null)" ]] &&
        [[ -n "$(in_root condor_status -startd -af Name 2>/dev/null)" ]] &&
        in_root condor_q -totals >/dev/null 2>&1
}

wait_condor() {
    wait_for "HTCondor pool" 90 condor_ready || die "HTCondor did not come up; see $LOGS/condor/ and $LOGS/condor.out"
}

no_chroot_pids() { [[ -z "$(chroot_pids)" ]]; }

stop_all() {
    local i p
    for ((i = ${#DAEMONS[@]} - 1; i >= 0; i--)); do stop_daemon "${DAEMONS[i]}" 30; done
    # Whatever still runs in the chroot (job steps, user shells) was started through the lab.
    no_chroot_pids && return 0
    for p in $(chroot_pids); do kill -TERM "$p" 2>/dev/null || true; done
    wait_for "lab processes to end after SIGTERM" 3 no_chroot_pids && return 0
    for p in $(chroot_pids); do kill -KILL "$p" 2>/dev/null || true; done
    wait_for "lab processes to end after SIGKILL" 5 no_chroot_pids ||
        log "still running in the lab: $(for p in $(chroot_pids); do printf '%s(%s) ' "$(cat "/proc/$p/comm")" "$p"; done)"
}
