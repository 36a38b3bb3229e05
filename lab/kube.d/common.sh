# Shared settings for lab/kube; sourced, not run.
# shellcheck disable=SC2034  # variables are used by the files that source this one
# shellcheck shell=bash
KUBE_VERSION="${KUBE_VERSION:-v1.36.3}"      # k8s.io/kubernetes release built from the Go module proxy
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"       # sigs.k8s.io/kwok
HELM_VERSION="${HELM_VERSION:-v3.22.0}"      # helm.sh/helm/v3 (the chart's tests)
ETCD_SUITE="${ETCD_SUITE:-trixie}"           # Debian suite whose etcd-server (3.5.x) we unpack

LAB_HOME="${BATCH_BRIDGE_LAB_HOME:-/var/lib/batch-bridge-lab}"
STATE="$LAB_HOME/kube"
CACHE="${BATCH_BRIDGE_CACHE:-/var/cache/batch-bridge}"
KUBE_BIN="$CACHE/kube-$KUBE_VERSION/bin"
KWOK_BIN="$CACHE/kwok-$KWOK_VERSION/bin"
ETCD_ROOT="$CACHE/etcd-$ETCD_SUITE"

# Nodes: KUBE_LAB_NODES per pool, pools "gpu" and "cpu" alternate (default 4 nodes: 2 gpu + 2 cpu).
KUBE_LAB_NODES="${KUBE_LAB_NODES:-4}"

# Ports, all on 127.0.0.1.
ETCD_PORT="${KUBE_LAB_ETCD_PORT:-23790}"
ETCD_PEER_PORT="$((ETCD_PORT + 1))"
APISERVER_PORT="${KUBE_LAB_APISERVER_PORT:-16443}"
KCM_PORT="${KUBE_LAB_KCM_PORT:-10257}"
SCHED_PORT="${KUBE_LAB_SCHED_PORT:-10259}"
KWOK_PORT="${KUBE_LAB_KWOK_PORT:-10247}"

# Go: everything (module cache, build cache) under the cache dir, never the repo or $HOME.
export GOPATH="$CACHE/go/path"
export GOMODCACHE="$CACHE/go/mod"
export GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local   # never fetch a toolchain from the proxy
export CGO_ENABLED=0
export PATH="/usr/local/go/bin:$PATH"

log() { printf '[kube-lab %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
