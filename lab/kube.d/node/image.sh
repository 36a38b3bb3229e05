#!/usr/bin/env bash
# Build the lab's container images without any registry, into the cache (keyed by this recipe):
#   localhost/batch-bridge/lab-runtime:2  Debian minbase of the login node's release (the batch lab's
#                                         chroot: trixie) + bash, python3 (debootstrap)
#   localhost/batch-bridge/pause:lab      a static pause binary built from pause/main.go
# Rootfs -> OCI layout (umoci insert) -> docker-archive tar (skopeo), imported later by `ctr`.
# Prints the directory holding lab-runtime.tar and pause.tar.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=SCRIPTDIR/../common.sh
. "$HERE/../common.sh"
# shellcheck source=SCRIPTDIR/images.sh
. "$HERE/images.sh"

# Worker images mirror the login nodes (docs/admin/slurm.md): tools that run the submitting
# interpreter by its absolute path (submitit's sys.executable, a venv on site storage) find it.
IMAGE_SUITE="${KUBE_LAB_IMAGE_SUITE:-trixie}"
IMAGE_PACKAGES="bash,coreutils,procps,python3"
MIRROR="${KUBE_LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"

key="$(cat "$HERE/image.sh" "$HERE/images.sh" "$HERE/pause/main.go" "$HERE/pause/go.mod" \
  <(echo "$IMAGE_SUITE $IMAGE_PACKAGES") | sha256sum | cut -c1-12)"
OUT="$CACHE/lab-images-$key"
if [[ -s "$OUT/lab-runtime.tar" && -s "$OUT/pause.tar" ]]; then echo "$OUT"; exit 0; fi
for t in debootstrap umoci skopeo; do command -v "$t" >/dev/null || die "$t not found (apt-get install $t)"; done

tmp="$CACHE/lab-images-$key.tmp"
rm -rf "$tmp" && mkdir -p "$tmp"
t0=$SECONDS

# oci_pack DIR REF OUT ENTRYPOINT|CMD ARGV...: one-layer image from DIR (as /), saved as $tmp/OUT.tar.
oci_pack() {
  local dir=$1 ref=$2 out=$3 kind=$4; shift 4
  local args=() a
  for a in "$@"; do args+=("--config.$kind" "$a"); done
  umoci init --layout "$tmp/oci-$out"
  umoci new --image "$tmp/oci-$out:img"
  umoci insert --image "$tmp/oci-$out:img" "$dir" /
  umoci config --image "$tmp/oci-$out:img" --author batch-bridge-lab --os linux --architecture amd64 \
    --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "${args[@]}"
  skopeo --insecure-policy copy -q "oci:$tmp/oci-$out:img" "docker-archive:$tmp/$out.tar:$ref"
}

log "building lab image $LAB_IMAGE (debootstrap $IMAGE_SUITE minbase + $IMAGE_PACKAGES)"
debootstrap --variant=minbase --include="$IMAGE_PACKAGES" "$IMAGE_SUITE" "$tmp/rootfs" "$MIRROR" \
  >"$tmp/debootstrap.log" 2>&1 || { tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
# Nothing of apt's caches or docs in the image; /scratch is where the bridge mounts an emptyDir.
rm -rf "$tmp/rootfs"/var/cache/apt/* "$tmp/rootfs"/var/lib/apt/lists/* "$tmp/rootfs"/usr/share/{doc,man,info}
mkdir -p "$tmp/rootfs/scratch"
oci_pack "$tmp/rootfs" "$LAB_IMAGE" lab-runtime cmd /bin/bash

log "building $PAUSE_IMAGE"
mkdir -p "$tmp/pause-root"
(cd "$HERE/pause" && go build -trimpath -ldflags "-s -w" -o "$tmp/pause-root/pause" .)
oci_pack "$tmp/pause-root" "$PAUSE_IMAGE" pause entrypoint /pause

rm -rf "$OUT" && mkdir -p "$OUT"
mv "$tmp/lab-runtime.tar" "$tmp/pause.tar" "$OUT/"
rm -rf "$tmp"
log "images built in $((SECONDS - t0))s: $OUT"
echo "$OUT"
