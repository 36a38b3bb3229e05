# shellcheck shell=bash
# Host-side access: tokens, client configs, per-user wrappers and endpoints.json. Sourced.

WRAPPED=(sbatch squeue sacct scontrol scancel sinfo srun condor_submit condor_q condor_history condor_rm condor_qedit condor_hold condor_release condor_status)

all_user_names() { local e; for e in "${TEST_USERS[@]}" "$BRIDGE_IDS"; do echo "${e%%:*}"; done; }

# Slurm JWTs: root and SlurmUser (admins), the bridge user and every test user.
write_slurm_tokens() {
    local u owner
    install -d -m 0755 "$ACCESS/slurm"
    for u in root slurm $(all_user_names); do
        [[ -s "$ACCESS/slurm/$u.jwt" ]] && continue
        (umask 077; slurm_token "$u" >"$ACCESS/slurm/$u.jwt.new")
        [[ -s "$ACCESS/slurm/$u.jwt.new" ]] || die "scontrol token username=$u gave nothing"
        mv "$ACCESS/slurm/$u.jwt.new" "$ACCESS/slurm/$u.jwt"
        owner="$(getent passwd "$u" | cut -d: -f3,4)" || owner=""
        [[ -z "$owner" || "$u" == slurm ]] || chown "$owner" "$ACCESS/slurm/$u.jwt"
    done
}

# One directory per HTCondor identity: its IDTOKEN and a client config naming it. HTCondor
# reads a token only if the reading process owns it: these are root's (copy them for others).
write_condor_access() {
    local u id d owner
    for u in condor $(all_user_names); do
        id="$u@$UID_DOMAIN"; d="$ACCESS/condor/$u"
        install -d -m 0755 "$d"; install -d -m 0700 "$d/tokens.d"
        if [[ ! -s "$d/tokens.d/token" ]]; then
            in_root condor_token_create -identity "$id" >"$d/tokens.d/token.new" ||
                die "condor_token_create -identity $id failed"
            mv "$d/tokens.d/token.new" "$d/tokens.d/token"; chmod 0600 "$d/tokens.d/token"
        fi
        cat >"$d/condor_config" <<CFG
# HTCondor client config for $id (host side). Use: CONDOR_CONFIG=$d/condor_config
COLLECTOR_HOST = 127.0.0.1:9618
SCHEDD_HOST = $HOST
UID_DOMAIN = $UID_DOMAIN
SEC_CLIENT_AUTHENTICATION_METHODS = IDTOKENS
SEC_TOKEN_DIRECTORY = $d/tokens.d
ENABLE_IPV6 = False
LOG = /tmp
CFG
    done
}

# The bridge identity needs a schedd user record ("anonymous user not permitted" otherwise).
# `condor_qusers -add` answers Result=2 and adds nothing in 23.9; a first submit creates the
# record, so submit one held job as that user and remove it (it stays in history, LabBootstrap).
ensure_bridge_queue_user() {
    local id="$BRIDGE_USER@$UID_DOMAIN"
    in_root condor_qusers -af User 2>/dev/null | grep -qx "$id" && return 0
    in_root setpriv --reuid="$BRIDGE_USER" --regid="$BRIDGE_USER" --init-groups sh -ec '
        cd /tmp
        printf "%s\n" "executable = /bin/true" "hold = true" "+LabBootstrap = true" \
            "should_transfer_files = NO" "queue" | condor_submit >/dev/null
        condor_rm -constraint "LabBootstrap =?= true" >/dev/null' ||
        die "could not create the schedd user record for $id"
    in_root condor_qusers -af User | grep -qx "$id" || die "schedd has no user record for $id"
}

write_wrappers() {
    local u c
    for u in $(all_user_names); do
        install -d -m 0755 "$ACCESS/bin/$u"
        for c in "${WRAPPED[@]}"; do
            printf '#!/bin/sh\n# Runs %s as %s inside the batch lab.\nexec %q as %s %s "$@"\n' \
                "$c" "$u" "$REPO/lab/batch" "$u" "$c" >"$ACCESS/bin/$u/$c"
            chmod 0755 "$ACCESS/bin/$u/$c"
        done
    done
}

json_users() {
    local e name uid gid sep="" sg sgid
    IFS=: read -r sg sgid <<<"$SECONDARY_GROUP"
    for e in "${TEST_USERS[@]}"; do
        IFS=: read -r name uid gid <<<"$e"
        printf '%s\n    {"name": "%s", "uid": %s, "gid": %s, "groups": ["%s"], "group_ids": [%s], "home": "%s", "data": "/lab/pnfs/data/%s"}' \
            "$sep" "$name" "$uid" "$gid" "$sg" "$sgid" "$(home_of "$name")" "$name"
        sep=","
    done
}

json_map() { # json_map FORMAT NAMES... -> "name": FORMAT(name)
    local fmt="$1" sep="" n; shift
    for n in "$@"; do
        # shellcheck disable=SC2059
        printf "%s\"%s\": \"$fmt\"" "$sep" "$n" "$n"; sep=", "
    done
}

write_endpoints() {
    local bname buid bgid lua=false names
    IFS=: read -r bname buid bgid <<<"$BRIDGE_IDS"
    [[ -f "$ROOT/etc/slurm/job_submit.lua" ]] && lua=true
    read -r -a names <<<"$(all_user_names | tr '\n' ' ')"
    cat >"$LAB_HOME/endpoints.json.new" <<JSON
{
  "lab": "batch",
  "state_dir": "$LAB_HOME",
  "root": "$ROOT",
  "logs": "$LOGS",
  "cache": "$(cached_root)",
  "hostname": "$HOST",
  "wrapper": "$REPO/lab/batch",
  "bin_dir": "$ACCESS/bin",
  "storage": {"pnfs": "/lab/pnfs", "gpfs": "/lab/gpfs"},
  "users": [$(json_users)
  ],
  "bridge_user": {"name": "$bname", "uid": $buid, "gid": $bgid},
  "slurm": {
    "cluster": "$CLUSTER",
    "rest_url": "http://127.0.0.1:6820",
    "rest_api_versions": ["v0.0.40", "v0.0.41", "v0.0.42"],
    "slurmctld": "127.0.0.1:6817",
    "slurmdbd": "127.0.0.1:6819",
    "node": "$HOST",
    "partitions": ["debug", "k8s"],
    "default_partition": "debug",
    "admin_users": ["root", "slurm", "$BRIDGE_USER"],
    "jwt": {$(json_map "$ACCESS/slurm/%s.jwt" root slurm "${names[@]}")},
    "site_dir": "/etc/slurm/bridge-site",
    "job_submit_lua": $lua
  },
  "condor": {
    "collector": "127.0.0.1:9618",
    "uid_domain": "$UID_DOMAIN",
    "bridge_identity": "$BRIDGE_USER@$UID_DOMAIN",
    "config": {$(json_map "$ACCESS/condor/%s/condor_config" condor "${names[@]}")},
    "token_dir": {$(json_map "$ACCESS/condor/%s/tokens.d" condor "${names[@]}")},
    "site_config_dir": "/etc/condor/config.d"
  }
}
JSON
    mv "$LAB_HOME/endpoints.json.new" "$LAB_HOME/endpoints.json"
}
