#!/usr/bin/env bash
# Build (or reuse cached) kube-apiserver/controller-manager/scheduler/kubelet, kwok, helm, and unpack etcd;
# for the real node (KUBE_LAB_REAL_NODE=1, the default) install containerd, runc and the CNI plugins
# from Debian, build the lab's images (node/image.sh) and the lab CSI node plugin (csi/csi.sh).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
KUBE_D="$HERE"
# shellcheck source=csi/csi.sh
. "$HERE/csi/csi.sh"

build_kube() {
  local want=(kube-apiserver kube-controller-manager kube-scheduler kubelet) b missing=0
  for b in "${want[@]}"; do [[ -x "$KUBE_BIN/$b" ]] || missing=1; done
  ((missing)) || return 0
  command -v go >/dev/null || die "go not found (need Go >= 1.26 for Kubernetes $KUBE_VERSION)"
  local src="$CACHE/kube-$KUBE_VERSION/src" minor="v0.${KUBE_VERSION#v1.}" t0=$SECONDS
  mkdir -p "$src" "$KUBE_BIN"
  log "building Kubernetes $KUBE_VERSION (cold: ~6-7 min on 2 cores)"
  # go install pkg@version refuses k8s.io/kubernetes (it has replace directives), so a wrapper
  # module requires it and replaces each staging module with its published v0.X.Y.
  local gomod
  gomod="$(go mod download -json "k8s.io/kubernetes@$KUBE_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "$gomod" ]] || die "cannot fetch k8s.io/kubernetes@$KUBE_VERSION go.mod"
  {
    echo "module batchbridge.lab/kubebuild"
    echo
    echo "go $(sed -n 's/^go //p' "$gomod")"
    echo
    echo "require k8s.io/kubernetes $KUBE_VERSION"
    echo
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/src/.*#\1#p' "$gomod" | while read -r m; do
      echo "	$m => $m $minor"
    done
    echo ")"
  } >"$src/go.mod"
  local pkg=k8s.io/component-base/version
  local ldflags="-s -w -X $pkg.gitVersion=$KUBE_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=${minor#v0.} -X $pkg.gitTreeState=clean"
  (cd "$src" && GOFLAGS=-mod=mod go build -trimpath -ldflags "$ldflags" -o "$KUBE_BIN/" \
    k8s.io/kubernetes/cmd/kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler \
    k8s.io/kubernetes/cmd/kubelet)
  log "built Kubernetes $KUBE_VERSION in $((SECONDS - t0))s"
}

build_kwok() {
  [[ -x "$KWOK_BIN/kwok" ]] && return 0
  mkdir -p "$KWOK_BIN"
  log "building kwok $KWOK_VERSION"
  GOBIN="$KWOK_BIN" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
}

fetch_etcd() {
  [[ -x "$ETCD_ROOT/usr/bin/etcd" ]] && return 0
  log "fetching etcd-server from Debian $ETCD_SUITE"
  # A private apt config, so the host's sources and lists stay untouched.
  local apt="$CACHE/apt-$ETCD_SUITE" debs
  mkdir -p "$apt/lists/partial" "$apt/archives/partial" "$apt/debs"
  echo "deb http://deb.debian.org/debian $ETCD_SUITE main" >"$apt/sources.list"
  local opts=(-o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=-"
    -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache::Archives=$apt/archives"
    -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Architecture=amd64"
    -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false")
  apt-get -q "${opts[@]}" update >&2
  (cd "$apt/debs" && apt-get -q "${opts[@]}" download etcd-server >&2)
  debs=("$apt/debs"/etcd-server_*.deb)
  mkdir -p "$ETCD_ROOT.tmp"
  dpkg -x "${debs[0]}" "$ETCD_ROOT.tmp"
  rm -rf "$ETCD_ROOT" && mv "$ETCD_ROOT.tmp" "$ETCD_ROOT"
  "$ETCD_ROOT/usr/bin/etcd" --version >&2
}

# Debian packages of the real node, on the host (its own apt sources; nothing else is changed).
NODE_PACKAGES=(containerd runc containernetworking-plugins iptables debootstrap umoci skopeo)
PRC=/usr/sbin/policy-rc.d
PRC_MARK="# written by batch-bridge lab/kube.d/build.sh; removed when its apt-get ends"
remove_policy_rc() { if [[ -f $PRC ]] && grep -qxF "$PRC_MARK" "$PRC"; then rm -f "$PRC"; fi; }
install_node_packages() {
  local p missing=()
  for p in "${NODE_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (Debian packages for the real node)"
  # policy-rc.d: the package must not start a system containerd; the lab runs its own. The file is
  # host-wide (it stops every package from starting its service), so it goes away however this
  # ends: a failed apt-get exits the script (set -e), hence the trap; only our own file is removed.
  local rc=0
  if [[ ! -e $PRC ]]; then
    printf '#!/bin/sh\n%s\nexit 101\n' "$PRC_MARK" >"$PRC"; chmod +x "$PRC"
    trap remove_policy_rc EXIT
    trap 'remove_policy_rc; exit 130' INT TERM HUP
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
    { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; } ||
    rc=$?
  remove_policy_rc
  trap - EXIT INT TERM HUP
  return "$rc"
}

main() {
  mkdir -p "$CACHE"
  fetch_etcd
  build_kube
  build_kwok
  "$HERE/helm.sh" >/dev/null
  if [[ ${KUBE_LAB_REAL_NODE:-1} == 1 ]]; then
    install_node_packages
    "$HERE/node/image.sh" >/dev/null
    build_csi
  fi
}
main "$@"
