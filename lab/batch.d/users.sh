# shellcheck shell=bash
# Test users, the bridge user and site storage, identical on the host and in the chroot. Sourced.

where() { if [[ -n "$1" ]]; then echo "in the chroot"; else echo "on the host"; fi; }

home_of() { echo "/lab/gpfs/home/$1"; }

# ensure_group PREFIX NAME GID: PREFIX is "" for the host or "chroot $ROOT" for the chroot.
ensure_group() {
    local name="$2" gid="$3" have
    local -a pre
    read -r -a pre <<<"$1"
    have="$("${pre[@]}" getent group "$name" | cut -d: -f3)" || true
    if [[ -z "$have" ]]; then
        "${pre[@]}" getent group "$gid" >/dev/null &&
            die "gid $gid is taken by group '$("${pre[@]}" getent group "$gid" | cut -d: -f1)' $(where "$1")"
        "${pre[@]}" groupadd -g "$gid" "$name"
    elif [[ "$have" != "$gid" ]]; then
        die "group $name has gid $have $(where "$1"), the lab needs $gid"
    fi
}

ensure_user() {
    local name="$2" uid="$3" gid="$4" home="$5" groups="$6" have
    local -a pre
    read -r -a pre <<<"$1"
    have="$("${pre[@]}" getent passwd "$name" | cut -d: -f3,4)" || true
    if [[ -z "$have" ]]; then
        "${pre[@]}" getent passwd "$uid" >/dev/null &&
            die "uid $uid is taken by user '$("${pre[@]}" getent passwd "$uid" | cut -d: -f1)' $(where "$1")"
        local sys=()
        ((uid >= 1000)) || sys=(-r)  # a system uid: no "outside UID_MIN" warning
        "${pre[@]}" useradd "${sys[@]}" -u "$uid" -g "$gid" ${groups:+-G "$groups"} -d "$home" -M -s /bin/bash "$name"
    elif [[ "$have" != "$uid:$gid" ]]; then
        die "user $name is $have $(where "$1"), the lab needs $uid:$gid"
    elif [[ -n "$groups" ]] && ! "${pre[@]}" id -nG "$name" | tr ' ' '\n' | grep -qx "$groups"; then
        "${pre[@]}" usermod -a -G "$groups" "$name"
    fi
}

ensure_users_in() {
    local where_="$1" entry name uid gid sg sgid bname buid bgid
    IFS=: read -r sg sgid <<<"$SECONDARY_GROUP"
    ensure_group "$where_" "$sg" "$sgid"
    IFS=: read -r bname buid bgid <<<"$BRIDGE_IDS"
    ensure_group "$where_" "$bname" "$bgid"
    ensure_user "$where_" "$bname" "$buid" "$bgid" /nonexistent ""
    for entry in "${TEST_USERS[@]}"; do
        IFS=: read -r name uid gid <<<"$entry"
        ensure_group "$where_" "$name" "$gid"
        ensure_user "$where_" "$name" "$uid" "$gid" "$(home_of "$name")" "$sg"
    done
}

ensure_users() {
    ensure_users_in ""
    ensure_users_in "chroot $ROOT"
    # slurmrestd must run as neither root nor SlurmUser.
    chroot "$ROOT" getent passwd slurmrest >/dev/null ||
        chroot "$ROOT" useradd -r -M -d /nonexistent -s /usr/sbin/nologin slurmrest
}

ensure_storage() {
    local entry name uid gid d
    install -d -m 0755 /lab "${STORAGE_ROOTS[@]}" /lab/pnfs/data /lab/gpfs/home
    for entry in "${TEST_USERS[@]}"; do
        IFS=: read -r name uid gid <<<"$entry"
        for d in "/lab/pnfs/data/$name" "$(home_of "$name")"; do
            install -d -m 0755 -o "$uid" -g "$gid" "$d"
        done
    done
}
