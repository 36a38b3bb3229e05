# The lab's CSI node plugin (lab/kube.d/csi/main.go): build, start next to the running kubelet,
# stop, and unmount what it mounted. Sourced by build.sh (paths + build) and node/node.sh.
# It stands in for a site's CSI driver (csi-driver-nfs, IBM Storage Scale): docs/admin/storage.md.
# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the files that source this one
CSI_SRC="$KUBE_D/csi"
CSI_DRIVER="${KUBE_LAB_CSI_DRIVER:-lab.csi.batch-bridge.io}"
CSI_PLUGIN_VERSION=1                                   # bump with behaviour changes of main.go
CSI_ROOTS="${KUBE_LAB_CSI_ROOTS:-/lab}"                 # volumes may bind only from under these
# Cached like the other lab binaries, keyed by version and a hash of the sources.
_csi_key() { cat "$CSI_SRC/go.mod" "$CSI_SRC/go.sum" "$CSI_SRC/main.go" | sha256sum | cut -c1-12; }
CSI_BIN="$CACHE/lab-csi-v$CSI_PLUGIN_VERSION-$(_csi_key)/bin/batch-bridge-lab-csi"

build_csi() {
  [[ -x $CSI_BIN ]] && return 0
  command -v go >/dev/null || die "go not found (the lab CSI plugin is built with the lab's Go)"
  log "building the lab CSI plugin ($CSI_BIN)"
  mkdir -p "$(dirname "$CSI_BIN")"
  (cd "$CSI_SRC" && GOFLAGS=-mod=mod go build -trimpath \
    -ldflags "-s -w -X main.Version=v$CSI_PLUGIN_VERSION-$(_csi_key)" -o "$CSI_BIN.tmp" .)
  mv "$CSI_BIN.tmp" "$CSI_BIN"
}

# Paths inside the real node's kubelet root dir (--root-dir=$NODE_DIR/kubelet).
_csi_paths() {
  CSI_SOCK="$NODE_DIR/kubelet/plugins/$CSI_DRIVER/csi.sock"
  CSI_REG_SOCK="$NODE_DIR/kubelet/plugins_registry/$CSI_DRIVER-reg.sock"
  CSI_STATE="$NODE_DIR/csi/published"
}

# The driver is registered when the running kubelet lists it in the node's CSINode object.
csi_registered() {
  pid_of csi-lab >/dev/null || return 1
  api "/apis/storage.k8s.io/v1/csinodes/$REAL_NODE_NAME" | grep -q "\"name\":\"$CSI_DRIVER\""
}

# CSIDriver: no attacher (attachRequired false) and no provisioner (static volumes), fsGroupPolicy
# None (the kubelet never chowns site storage), persistent volumes only.
ensure_csi_driver_object() {
  api "/apis/storage.k8s.io/v1/csidrivers/$CSI_DRIVER" >/dev/null 2>&1 && return 0
  api /apis/storage.k8s.io/v1/csidrivers -X POST -H 'Content-Type: application/json' --data "{
    \"apiVersion\": \"storage.k8s.io/v1\", \"kind\": \"CSIDriver\",
    \"metadata\": {\"name\": \"$CSI_DRIVER\", \"labels\": {\"app.kubernetes.io/part-of\": \"batch-bridge-lab\"}},
    \"spec\": {\"attachRequired\": false, \"podInfoOnMount\": false, \"fsGroupPolicy\": \"None\",
              \"requiresRepublish\": false, \"volumeLifecycleModes\": [\"Persistent\"]}}" >/dev/null ||
    api "/apis/storage.k8s.io/v1/csidrivers/$CSI_DRIVER" >/dev/null || die "cannot create CSIDriver $CSI_DRIVER"
}

# Start the plugin next to a running kubelet (no kubelet restart: it watches plugins_registry).
start_csi_plugin() {
  [[ $REAL_NODE == 1 ]] || return 0
  _csi_paths
  [[ -x $CSI_BIN ]] || die "lab CSI plugin not built ($CSI_BIN; lab/kube build builds it)"
  ensure_csi_driver_object
  if pid_of csi-lab >/dev/null; then
    # A plugin from an older build keeps running until down; say so rather than restart under pods.
    local pid; pid="$(pid_of csi-lab)"
    [[ "$(readlink "/proc/$pid/exe")" == "$CSI_BIN" ]] || log "note: csi-lab pid $pid runs an older build; down+up replaces it"
  else
    mkdir -p "$CSI_STATE"
    spawn csi-lab "$CSI_BIN" --driver-name="$CSI_DRIVER" --node-id="$REAL_NODE_NAME" \
      --csi-socket="$CSI_SOCK" --registration-socket="$CSI_REG_SOCK" --roots="$CSI_ROOTS" --state-dir="$CSI_STATE"
  fi
  wait_for "CSI driver $CSI_DRIVER registered on $REAL_NODE_NAME" 30 csi-lab csi_registered
}

# Stop the plugin (pid file, checked to be our binary) and unmount every target it recorded.
stop_csi_plugin() {
  _csi_paths
  local pid t f
  if pid="$(pid_of csi-lab)"; then
    if [[ "$(readlink "/proc/$pid/exe")" == */batch-bridge-lab-csi ]]; then stop_one csi-lab
    else log "csi-lab pid file names pid $pid, which is not the plugin: not signalled"; rm -f "$RUN/csi-lab.pid"; fi
  else rm -f "$RUN/csi-lab.pid"; fi
  [[ -d $CSI_STATE ]] || return 0
  for f in "$CSI_STATE"/*; do
    [[ -f $f ]] || continue
    t="$(cat "$f")"
    # Only targets under the kubelet's pod directories: a record never unmounts anything else.
    if [[ $t == "$NODE_DIR/kubelet/pods/"* ]] && awk -v t="$t" '$5 == t {f = 1} END {exit !f}' /proc/self/mountinfo; then
      umount -l "$t" 2>/dev/null || true
    fi
    rm -f "$f"
  done
  rm -f "$CSI_SOCK" "$CSI_REG_SOCK"
}

csi_status() {
  [[ $REAL_NODE == 1 ]] || return 0
  _csi_paths
  local n=0
  [[ -d $CSI_STATE ]] && n="$(find "$CSI_STATE" -type f | wc -l)"
  if api /readyz >/dev/null 2>&1 && csi_registered 2>/dev/null; then
    echo "CSI driver $CSI_DRIVER registered on $REAL_NODE_NAME (lab stand-in; roots $CSI_ROOTS; volumes published: $n)"
  else
    echo "CSI driver $CSI_DRIVER not registered on $REAL_NODE_NAME"; return 1
  fi
}
