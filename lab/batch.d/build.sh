# shellcheck shell=bash
# Building the cached Debian chroot and the lab's working copy of it. Sourced.

# Bump when build_cache changes what ends up in the chroot.
BUILD_RECIPE=2

cache_key() {
    { echo "$SUITE recipe $BUILD_RECIPE"; grep -v '^#' "$BATCH_D/packages.txt"; } | sha256sum | cut -c1-12
}

cached_root() { echo "$CACHE/chroot-$SUITE-$(cache_key)"; }

ensure_host_tools() {
    local missing=()
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    [[ -e /usr/share/keyrings/debian-archive-keyring.gpg ]] || missing+=(debian-archive-keyring)
    ((${#missing[@]} == 0)) && return 0
    log "installing host packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "${missing[@]}"; } ||
        die "cannot install ${missing[*]} on the host"
}

build_cache() {
    local final tmp pkgs
    final="$(cached_root)"
    [[ -f "$final/.lab-built" ]] && return 0
    ensure_host_tools
    tmp="$final.partial"
    if [[ -e "$tmp" ]]; then
        log "removing an unfinished build at $tmp"
        umount_all_under "$tmp"; rm -rf "$tmp"
    fi
    mkdir -p "$CACHE"
    log "debootstrap $SUITE into $tmp (cold cache; about 2 minutes with packages)"
    debootstrap --variant=minbase "$SUITE" "$tmp" "$MIRROR" >"$CACHE/debootstrap-$SUITE.log" 2>&1 ||
        die "debootstrap failed; see $CACHE/debootstrap-$SUITE.log and $tmp/debootstrap/debootstrap.log"
    # No service may start during package installation.
    printf '#!/bin/sh\nexit 101\n' >"$tmp/usr/sbin/policy-rc.d"; chmod 755 "$tmp/usr/sbin/policy-rc.d"
    echo force-unsafe-io >"$tmp/etc/dpkg/dpkg.cfg.d/lab-unsafe-io"
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$tmp/etc/apt/apt.conf.d/90lab"
    cp /etc/resolv.conf "$tmp/etc/resolv.conf"
    mount -t proc proc "$tmp/proc"
    mapfile -t pkgs < <(grep -v '^#' "$BATCH_D/packages.txt" | grep .)
    log "installing ${#pkgs[@]} packages in the chroot"
    if ! chroot "$tmp" /usr/bin/env -i PATH="$CHROOT_PATH" DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8 \
        sh -c 'apt-get update -q && apt-get install -y -q "$@" && apt-get clean' sh "${pkgs[@]}" \
        >"$CACHE/apt-$SUITE.log" 2>&1; then
        umount_all_under "$tmp"; die "package installation failed; see $CACHE/apt-$SUITE.log"
    fi
    umount_all_under "$tmp"
    add_mariadb_compat "$tmp"
    # shellcheck disable=SC2016 # dpkg-query format, not shell
    chroot "$tmp" dpkg-query -W -f '${Package}=${Version}\n' >"$tmp/.lab-packages"
    date -u +%FT%TZ >"$tmp/.lab-built"
    mv "$tmp" "$final"
    log "cached chroot ready: $final"
}

# trixie's libmariadb3 (11.8.9) makes slurmdbd 24.11.5 die at start ("error 5027 ... exceeds
# maximum allowed number of columns (=0)" on `select @var := concat('')`); bookworm's client
# library (3.3) works with the 11.8 server. slurmdbd runs with it via LD_LIBRARY_PATH.
add_mariadb_compat() {
    local r="$1"
    echo "deb $MIRROR bookworm main" >"$r/etc/apt/sources.list.d/lab-bookworm.list"
    if ! chroot "$r" /usr/bin/env -i PATH="$CHROOT_PATH" LANG=C.UTF-8 sh -ec '
        apt-get update -q; cd /tmp; rm -rf compat; mkdir compat; cd compat
        apt-get download libmariadb3/bookworm; dpkg -x libmariadb3_*.deb x
        install -d /opt/lab/mariadb-compat
        cp -a x/usr/lib/x86_64-linux-gnu/libmariadb.so.3 /opt/lab/mariadb-compat/
        dpkg-deb -f libmariadb3_*.deb Version >/opt/lab/mariadb-compat/VERSION
        cd /tmp; rm -rf compat' >>"$CACHE/apt-$SUITE.log" 2>&1; then
        die "could not fetch bookworm's libmariadb3; see $CACHE/apt-$SUITE.log"
    fi
    rm -f "$r/etc/apt/sources.list.d/lab-bookworm.list" "$r"/var/lib/apt/lists/*bookworm*
    chroot "$r" apt-get clean
}

# The lab runs in its own copy so that the cache stays pristine and reset is a copy.
make_root() {
    local src
    src="$(cached_root)"
    if [[ -f "$ROOT/.lab-built" ]]; then
        [[ "$(cat "$LAB_HOME/root.source" 2>/dev/null)" == "$src" ]] ||
            log "WARNING: $ROOT was built from an older package set; 'lab/batch reset' rebuilds it"
        return 0
    fi
    build_cache
    mkdir -p "$LAB_HOME"
    if [[ -e "$ROOT" ]]; then
        umount_all_under "$ROOT"; rm -rf "$ROOT"
    fi
    log "copying $src to $ROOT"
    rm -rf "$ROOT.partial"
    cp -a "$src" "$ROOT.partial"
    mv "$ROOT.partial" "$ROOT"
    echo "$src" >"$LAB_HOME/root.source"
}
