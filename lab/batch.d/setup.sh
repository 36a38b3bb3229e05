# shellcheck shell=bash
# shellcheck disable=SC2034 # SLURM_CHANGED/CONDOR_CHANGED are read in daemons.sh
# Mounts, configuration and one-time secrets for the lab chroot. Sourced.

SLURM_CHANGED=0
CONDOR_CHANGED=0

mount_all() {
    local s
    if ! is_mounted "$ROOT/proc" || [[ ! -e "$ROOT/proc/self/stat" ]]; then
        umount -l "$ROOT/proc" 2>/dev/null || true
        mount -t proc proc "$ROOT/proc"
    fi
    for s in sys dev; do
        if ! is_mounted "$ROOT/$s"; then
            mount --rbind "/$s" "$ROOT/$s" && mount --make-rslave "$ROOT/$s"
        fi
    done
    [[ -c "$ROOT/dev/null" ]] || die "$ROOT/dev is mounted but has no /dev/null; run 'lab/batch down' and retry"
    # A tmpfs /run: stale sockets and pid files vanish with `down`. Never create
    # anything via $ROOT/var/run: it is a symlink to the host's /run.
    is_mounted "$ROOT/run" || mount -t tmpfs -o mode=0755,size=64m lab-run "$ROOT/run"
    for s in "${STORAGE_ROOTS[@]}"; do
        mkdir -p "$ROOT$s"
        # A bind whose source was replaced on the host is stale: rebind it.
        if is_mounted "$ROOT$s" && [[ "$(stat -c %d:%i "$s")" != "$(stat -c %d:%i "$ROOT$s")" ]]; then
            log "rebinding stale $ROOT$s"; umount -l "$ROOT$s"
        fi
        is_mounted "$ROOT$s" || mount --bind "$s" "$ROOT$s"
    done
    in_root install -d -o munge -g munge -m 0755 /run/munge
    in_root install -d -o mysql -g mysql -m 0755 /run/mysqld
    in_root install -d -o slurm -g slurm -m 0755 /run/slurm
    in_root install -d -o condor -g condor -m 0755 /run/condor
}

# put_file DEST MODE OWNER: write stdin to $ROOT/DEST only when it differs; 0 if changed.
put_file() {
    local dest="$ROOT$1" mode="$2" owner="$3" tmp
    tmp="$(mktemp)"; cat >"$tmp"
    if [[ -f "$dest" ]] && cmp -s "$tmp" "$dest"; then rm -f "$tmp"; return 1; fi
    install -D -m "$mode" "$tmp" "$dest"; rm -f "$tmp"
    in_root chown "$owner" "$1"
}

render() {
    sed -e "s|@HOST@|$HOST|g" -e "s|@NODE@|$HOST|g" -e "s|@CLUSTER@|$CLUSTER|g" \
        -e "s|@UID_DOMAIN@|$UID_DOMAIN|g" -e "s|@BRIDGE_USER@|$BRIDGE_USER|g" \
        -e "s|@DBPASS@|${DBPASS:-}|g" -e "s|@SUBMIT_PLUGINS@|${SUBMIT_PLUGINS:-}|g" "$BATCH_D/conf/$1"
}

make_secrets() {
    install -d -m 0700 "$LAB_HOME/secrets"
    [[ -s "$LAB_HOME/secrets/dbpass" ]] || head -c 18 /dev/urandom | base64 | tr -d '/+=' >"$LAB_HOME/secrets/dbpass"
    chmod 0600 "$LAB_HOME/secrets/dbpass"
    DBPASS="$(cat "$LAB_HOME/secrets/dbpass")"
    if [[ ! -s "$ROOT/etc/munge/munge.key" ]]; then
        head -c 1024 /dev/urandom >"$ROOT/etc/munge/munge.key"
        in_root chown munge:munge /etc/munge/munge.key; chmod 0400 "$ROOT/etc/munge/munge.key"
    fi
    if [[ ! -s "$ROOT/var/lib/slurm/jwt_hs256.key" ]]; then
        install -d -m 0755 "$ROOT/var/lib/slurm"
        head -c 32 /dev/urandom >"$ROOT/var/lib/slurm/jwt_hs256.key"
        in_root chown slurm:slurm /var/lib/slurm /var/lib/slurm/jwt_hs256.key
        chmod 0600 "$ROOT/var/lib/slurm/jwt_hs256.key"
    fi
}

# Site integration files come from the checkout this script lives in, on every `up`.
install_site_files() {
    local sdir="$REPO/adapters/slurm/site" cdir="$REPO/adapters/htcondor/site" f
    SUBMIT_PLUGINS=""
    rm -rf "$ROOT/etc/slurm/bridge-site.new"
    mkdir -p "$ROOT/etc/slurm/bridge-site.new"
    if [[ -d "$sdir" ]]; then cp -a "$sdir/." "$ROOT/etc/slurm/bridge-site.new/"; fi
    if [[ -f "$sdir/site.lua" ]]; then
        # The lab's admins by uid: root, SlurmUser and the bridge (lua has no getpwnam).
        sed -e "s|admin_uids = { 0 }|admin_uids = { 0, $(in_root id -u slurm), $(in_root id -u "$BRIDGE_USER") }|" \
            "$sdir/site.lua" >"$ROOT/etc/slurm/bridge-site.new/site.lua"
    fi
    if [[ -d "$ROOT/etc/slurm/bridge-site" ]] && ! diff -rq "$ROOT/etc/slurm/bridge-site" "$ROOT/etc/slurm/bridge-site.new" >/dev/null; then
        SLURM_CHANGED=1  # job_submit.lua reads site.lua only when slurmctld (re)loads it
    fi
    rm -rf "$ROOT/etc/slurm/bridge-site"; mv "$ROOT/etc/slurm/bridge-site.new" "$ROOT/etc/slurm/bridge-site"
    chmod -R a+rX "$ROOT/etc/slurm/bridge-site"
    if [[ -f "$sdir/job_submit.lua" ]]; then
        SUBMIT_PLUGINS="JobSubmitPlugins=lua"
        put_file /etc/slurm/job_submit.lua 0644 root:root <"$sdir/job_submit.lua" && SLURM_CHANGED=1
    elif [[ -e "$ROOT/etc/slurm/job_submit.lua" ]]; then
        rm -f "$ROOT/etc/slurm/job_submit.lua"; SLURM_CHANGED=1
    fi
    local want=() have=()
    if [[ -d "$cdir" ]]; then
        for f in "$cdir"/*.config; do
            [[ -e "$f" ]] || continue
            want+=("90-site-$(basename "$f")")
            # shellcheck disable=SC2094 # reads the repository file, writes into the chroot
            put_file "/etc/condor/config.d/90-site-$(basename "$f")" 0644 root:root <"$f" && CONDOR_CHANGED=1
        done
    fi
    for f in "$ROOT"/etc/condor/config.d/90-site-*; do
        [[ -e "$f" ]] || continue
        have=("$(basename "$f")")
        if [[ " ${want[*]} " != *" ${have[0]} "* ]]; then rm -f "$f"; CONDOR_CHANGED=1; fi
    done
}

write_configs() {
    local i
    HOST="$(hostname -s)"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    { cat /etc/hosts; grep -qw "$HOST" /etc/hosts || echo "127.0.0.1 $HOST"; } >"$ROOT/etc/hosts"
    make_secrets
    in_root install -d -m 0755 /var/log/lab /var/spool/slurmd /var/lib/lab/gpu
    in_root install -d -o slurm -g slurm -m 0755 /var/lib/slurm/slurmctld
    in_root install -d -o condor -g condor -m 0755 /var/log/lab/condor
    for i in 0 1 2 3 4 5 6 7; do : >>"$ROOT/var/lib/lab/gpu/nvidia$i"; done
    install_site_files
    render slurm.conf.in | put_file /etc/slurm/slurm.conf 0644 root:root && SLURM_CHANGED=1
    put_file /etc/slurm/cgroup.conf 0644 root:root <"$BATCH_D/conf/cgroup.conf" && SLURM_CHANGED=1
    echo "NodeName=$HOST Name=gpu File=/var/lib/lab/gpu/nvidia[0-7]" |
        put_file /etc/slurm/gres.conf 0644 root:root && SLURM_CHANGED=1
    render slurmdbd.conf.in | put_file /etc/slurm/slurmdbd.conf 0600 slurm:slurm || true
    render condor.config.in | put_file /etc/condor/config.d/01-lab.config 0644 root:root && CONDOR_CHANGED=1
    return 0
}
