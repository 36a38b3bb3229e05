#!/usr/bin/env bash
# The daemons' image (images/daemon/Containerfile's recipe) built without a container engine,
# imported into the lab's containerd; prints REPO:TAG on its last stdout line. Run as root.
# Usage: lab/kube.d/node/daemon-image.sh [--build-only | --ref-only] [--source CHECKOUT]
#   --build-only  build (if needed), no import: no lab needed
#   --ref-only    only print the reference the sources would get (no build, no root needed)
#   --source      the package sources of that checkout (default: the one holding this script)
#   base layer  debootstrap minbase of $DAEMON_BASE_SUITE + $DAEMON_BASE_PACKAGES + user bbridge
#               (cached by this recipe: $CACHE/daemon-base-<key>/)
#   app layer   /opt/batch-bridge: a venv with batch-bridge[htcondor], wheels built on the host
#               (its python3 is the base's 3.11) and installed inside the base by chroot
# The tag is <version>-<hash of the recipe, pyproject.toml, README.md and every file under bridge/
# and adapters/>; the image tar is cached as $CACHE/daemon-image-<hash>/daemon.tar. Warm: < 1 s.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KUBE_D="$(cd "$HERE/.." && pwd)"
RECIPE="$(cd "$KUBE_D/../.." && pwd)"
# shellcheck source=SCRIPTDIR/../common.sh
. "$KUBE_D/common.sh"
# shellcheck source=SCRIPTDIR/node.sh
. "$HERE/node.sh"        # CTR_SOCK, ctr_
# shellcheck source=SCRIPTDIR/../../../images/daemon/image.env
. "$RECIPE/images/daemon/image.env"
MIRROR="${KUBE_LAB_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
IMPORT=1
REPO="$RECIPE"
while (($#)); do
  case "$1" in
    --build-only) IMPORT=0 ;;
    --ref-only) IMPORT=-1 ;;
    --source) [[ -f "${2:-}/pyproject.toml" ]] || die "--source: no pyproject.toml in '${2:-}'"; REPO="$(cd "$2" && pwd)"; shift ;;
    *) die "usage: $0 [--build-only | --ref-only] [--source CHECKOUT]" ;;
  esac
  shift
done

# build_base: the runtime's Debian (python3, CA certificates) and the user, as a rootfs and a one-layer OCI layout.
build_base() {
  [[ -s "$BASE/done" ]] && return 0
  local tmp="$BASE.tmp" t0=$SECONDS t
  for t in debootstrap umoci skopeo; do command -v "$t" >/dev/null || die "$t not found (lab/kube build installs it)"; done
  log "building the daemon image's base: debootstrap $DAEMON_BASE_SUITE minbase + $DAEMON_BASE_PACKAGES"
  rm -rf "$tmp" && mkdir -p "$tmp"
  debootstrap --variant=minbase --include="${DAEMON_BASE_PACKAGES// /,}" "$DAEMON_BASE_SUITE" "$tmp/rootfs" "$MIRROR" \
    >"$tmp/debootstrap.log" 2>&1 || { tail -n 20 "$tmp/debootstrap.log" >&2; die "debootstrap failed"; }
  chroot "$tmp/rootfs" groupadd --gid "$DAEMON_UID" "$DAEMON_USER"
  chroot "$tmp/rootfs" useradd --uid "$DAEMON_UID" --gid "$DAEMON_UID" --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin "$DAEMON_USER"
  # As debian:bookworm-slim and the Containerfile's runtime stage: no apt lists or caches, docs, translations.
  rm -rf "$tmp/rootfs"/var/cache/apt/* "$tmp/rootfs"/var/lib/apt/lists/* "$tmp/rootfs"/usr/share/{doc,man,info,locale}
  umoci init --layout "$tmp/oci"
  umoci new --image "$tmp/oci:base"
  umoci insert --image "$tmp/oci:base" "$tmp/rootfs" / >/dev/null
  date -u +%FT%TZ >"$tmp/done"
  rm -rf "$BASE" && mv "$tmp" "$BASE"
  log "base built in $((SECONDS - t0))s: $BASE"
}

# build_wheels DIR: batch-bridge[htcondor] and its dependencies as wheels, plus a pip wheel to install them with.
build_wheels() {
  local dir=$1 src="$1.src" venv="$CACHE/daemon-build-venv-py311"
  [[ -x "$venv/bin/pip" ]] || /usr/bin/python3 -m venv "$venv"
  # A copy of what the package is built from (the Containerfile's COPY lines): the build leaves
  # build/ and *.egg-info behind, which must not land in the checkout.
  mkdir -p "$src" && cp -r "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/bridge" "$REPO/adapters" "$src/"
  find "$src" -name __pycache__ -prune -exec rm -rf {} +
  PIP_CACHE_DIR="$CACHE/pip" "$venv/bin/pip" wheel -q --wheel-dir "$dir" "${src}[htcondor]" >&2
  PIP_CACHE_DIR="$CACHE/pip" "$venv/bin/pip" download -q --no-deps --dest "$dir/installer" pip >&2
  rm -rf "$src"
}

# revision: the checkout's commit, "+modified" when the package's files differ from it (the tag
# is the sources' hash; this label only says where they came from).
revision() {
  local head
  head="$(git -C "$REPO" rev-parse HEAD 2>/dev/null)" || { echo unknown; return 0; }
  if [[ -n "$(git -C "$REPO" status --porcelain -- bridge adapters pyproject.toml README.md 2>/dev/null)" ]]; then
    head+="+modified"
  fi
  echo "$head"
}

# pack_image: the base rootfs + /opt/batch-bridge (venv) as the second layer, configured, saved as a docker-archive.
pack_image() {
  local tmp="$OUT.tmp" root pip t0=$SECONDS label args=()
  rm -rf "$tmp" && mkdir -p "$tmp"
  root="$tmp/rootfs"
  cp -a "$BASE/rootfs" "$root"
  build_wheels "$root/tmp/wheels"
  pip="$(cd "$root" && ls tmp/wheels/installer/pip-*.whl)"
  # A clean environment inside: the host's PIP_* settings name host paths.
  local in=(chroot "$root" /usr/bin/env -i PATH=/usr/bin:/bin LANG=C.UTF-8 HOME=/nonexistent)
  "${in[@]}" /usr/bin/python3 -m venv --without-pip "$DAEMON_PREFIX"
  "${in[@]}" "$DAEMON_PREFIX/bin/python" "/$pip/pip" install -q --no-index --no-cache-dir \
    --find-links /tmp/wheels "batch-bridge[htcondor]==$VERSION" >&2
  "${in[@]}" "$DAEMON_PREFIX/bin/python" "/$pip/pip" list --format=freeze >"$tmp/packages.txt" 2>/dev/null
  cp -a "$BASE/oci" "$tmp/oci"
  umoci insert --image "$tmp/oci:base" "$root$DAEMON_PREFIX" "$DAEMON_PREFIX" >/dev/null
  for label in \
    "org.opencontainers.image.title=batch-bridge" \
    "org.opencontainers.image.description=Slurm and HTCondor adapter daemons: batch jobs as Kubernetes Jobs" \
    "org.opencontainers.image.licenses=Apache-2.0" \
    "org.opencontainers.image.version=$VERSION" \
    "org.opencontainers.image.revision=$(revision)" \
    "org.opencontainers.image.base.name=debian:$DAEMON_BASE_SUITE (debootstrap minbase)"; do
    args+=(--config.label "$label")
  done
  umoci config --image "$tmp/oci:base" --tag img --author batch-bridge-lab --os linux --architecture amd64 \
    --config.user "$DAEMON_UID:$DAEMON_UID" --config.workingdir / \
    --config.env "PATH=$DAEMON_PREFIX/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --config.env PYTHONUNBUFFERED=1 --config.env PYTHONDONTWRITEBYTECODE=1 \
    --config.entrypoint "$DAEMON_ENTRYPOINT" --config.cmd --help "${args[@]}"
  skopeo --insecure-policy copy -q "oci:$tmp/oci:img" "docker-archive:$tmp/daemon.tar:$REF"
  echo "$REF" >"$tmp/ref"
  mkdir -p "$OUT.new" && mv "$tmp/daemon.tar" "$tmp/ref" "$tmp/packages.txt" "$OUT.new/"
  rm -rf "$tmp" "$OUT" && mv "$OUT.new" "$OUT"
  log "daemon image $REF built in $((SECONDS - t0))s ($(du -m "$OUT/daemon.tar" | cut -f1) MB tar): $OUT"
}

hash12() { sha256sum | cut -c1-12; }
# Each cache is keyed by the code that builds it (declare -f) and what goes in.
BASE_KEY="$({ declare -f build_base; cat "$RECIPE/images/daemon/image.env"; } | hash12)"
BASE="$CACHE/daemon-base-$DAEMON_BASE_SUITE-$BASE_KEY"
# Paths and contents, so a renamed or removed file changes the key too.
SRC_KEY="$({ echo "$BASE_KEY"; declare -f build_wheels pack_image; cd "$REPO" && find bridge adapters -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 |
  LC_ALL=C sort -z | xargs -0 sha256sum; sha256sum pyproject.toml README.md; } | hash12)"
VERSION="$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["project"]["version"])' "$REPO/pyproject.toml")"
REF="$DAEMON_IMAGE_REPO:$VERSION-$SRC_KEY"
OUT="$CACHE/daemon-image-$SRC_KEY"

if ((IMPORT < 0)); then echo "$REF"; exit 0; fi
[[ $EUID -eq 0 ]] || die "run as root (debootstrap, chroot, containerd)"

# One build at a time (two test sessions may ask together); the lab lock is the caller's.
mkdir -p "$CACHE"
exec 8>"$CACHE/daemon-image.lock"
flock 8

if [[ ! -s "$OUT/daemon.tar" ]]; then
  build_base
  pack_image
  # Each source change is a new ~300 MB tar: keep the newest four (containerd keeps what it imported).
  find "$CACHE" -maxdepth 1 -name 'daemon-image-*' -type d -printf '%T@ %p\n' | sort -rn | tail -n +5 | cut -d' ' -f2- |
    xargs -r rm -rf
fi
if ((IMPORT)); then
  ctr_ version >/dev/null 2>&1 || die "the lab's containerd is not running ($CTR_SOCK): lab/kube up first"
  if ! ctr_ images ls -q | grep -qxF "$REF"; then
    ctr_ images import --snapshotter overlayfs "$OUT/daemon.tar" >/dev/null
    log "imported $REF into the lab's containerd (namespace k8s.io)"
  fi
fi
echo "$REF"
