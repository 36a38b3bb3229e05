# The lab's real node: containerd + runc (Debian) and a kubelet of the lab's Kubernetes release,
# next to the kwok nodes. Sourced by lab/kube after common.sh, certs.sh, daemons.sh, bootstrap.sh.
# shellcheck shell=bash
# shellcheck disable=SC2034  # variables are used by the files that source this one
# shellcheck source=kube.d/node/images.sh
. "$KUBE_D/node/images.sh"
# shellcheck source=kube.d/csi/csi.sh
. "$KUBE_D/csi/csi.sh"

REAL_NODE="${KUBE_LAB_REAL_NODE:-1}"              # 0: kwok nodes only
REAL_NODE_NAME="${KUBE_LAB_REAL_NODE_NAME:-real-0}"
NODE_COMPONENTS=()
[[ $REAL_NODE == 1 ]] && NODE_COMPONENTS=(containerd kubelet csi-lab)   # csi-lab: lab/kube.d/csi
REAL_POOL="real"                                  # label batch-bridge.io/pool=real
REAL_TAINT_KEY="batch-bridge.io/real-node"        # taint <key>=true:NoSchedule, tolerate it to run here
KUBELET_PORT="${KUBE_LAB_KUBELET_PORT:-10250}"
KUBELET_HEALTHZ_PORT="${KUBE_LAB_KUBELET_HEALTHZ_PORT:-10248}"
REAL_MAX_PODS="${KUBE_LAB_REAL_MAX_PODS:-110}"
POD_SUBNET="${KUBE_LAB_POD_SUBNET:-10.217.0.0/24}"  # pod addresses on the bridge; never routed
CNI_BRIDGE="bblab0"
NODE_DIR="$STATE/node"
CTR_SOCK="$NODE_DIR/containerd.sock"
ORIG="$NODE_DIR/host-orig"                        # host state recorded before the first start
# Sysctls the kubelet (protectKernelDefaults=false) or CNI may set; restored by down.
NODE_SYSCTLS=(kernel.panic kernel.panic_on_oops vm.overcommit_memory vm.panic_on_oom
  kernel.keys.root_maxkeys kernel.keys.root_maxbytes net.ipv4.ip_forward)
# Host paths the kubelet/containerd/CNI create on their own (not configurable, or hard-coded);
# removed by down only if they did not exist before the first start.
NODE_HOST_PATHS=(/run/containerd /run/netns /var/run/netns /var/lib/cni /var/log/containers /var/log/pods
  /etc/cni /var/lib/kubelet /var/lib/containerd /opt/containerd)
CGROUP_ROOT=/sys/fs/cgroup
# iptables chains the kubelet itself creates (kube-proxy does not run here). down removes only
# these, and only when they did not exist before the first start: other KUBE-* chains on a shared
# host belong to someone else.
KUBELET_CHAINS=(KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT KUBE-MARK-DROP KUBE-MARK-MASQ KUBE-POSTROUTING)

ctr_() { ctr --address "$CTR_SOCK" --namespace k8s.io "$@"; }

# Record the host's original state once (kept until down has reverted it).
record_host() {
  [[ -s "$ORIG/done" ]] && return 0
  mkdir -p "$ORIG"
  local s p
  for s in "${NODE_SYSCTLS[@]}"; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done >"$ORIG/sysctl"
  for p in "${NODE_HOST_PATHS[@]}"; do [[ -e $p || -L $p ]] && echo "$p"; done >"$ORIG/paths"
  { ls -1 /run/netns 2>/dev/null || true; } >"$ORIG/netns"
  { ip -o link show | awk -F': ' '{print $2}' | cut -d@ -f1; } >"$ORIG/links"
  for p in "$CGROUP_ROOT"/*/kubepods; do [[ -d $p ]] && echo "$p"; done >"$ORIG/cgroups" || true
  : >"$ORIG/iptables"
  if command -v iptables-save >/dev/null; then
    for p in iptables ip6tables; do
      "$p-save" 2>/dev/null | sed -n "s/^:\([^ ]*\) .*/$p \1/p" >>"$ORIG/iptables" || true
    done
  fi
  date -u +%FT%TZ >"$ORIG/done"
}

# The sysctl values once the node is up (what the kubelet/CNI set): down restores a recorded
# original only where the value is still the lab's, never over a later change by someone else.
record_lab_sysctls() {
  [[ -s "$ORIG/sysctl-lab" ]] && return 0
  local s
  for s in "${NODE_SYSCTLS[@]}"; do printf '%s=%s\n' "$s" "$(sysctl -n "$s")"; done >"$ORIG/sysctl-lab"
}

# Network namespaces of our pods: those our containerd's processes hold (matched by namespace
# inode) and those its metadata names (a sandbox whose processes are gone). Appended to
# $ORIG/netns-ours, the only ones down removes.
record_our_netns() {
  [[ -d "$ORIG" ]] || return 0
  local shim p ppid inodes=() ns ino db="$NODE_DIR/containerd/root/io.containerd.metadata.v1.bolt/meta.db"
  local shims
  shims=" $(_our_shims | tr '\n' ' ') "
  for p in /proc/[0-9]*; do
    ppid="$(awk '/^PPid:/{print $2}' "$p/status" 2>/dev/null)" || continue
    [[ $shims == *" $ppid "* ]] || continue
    ino="$(readlink "$p/ns/net" 2>/dev/null)" || continue
    inodes+=("${ino//[^0-9]/}")
  done
  {
    for ns in /run/netns/cni-*; do
      [[ -e $ns ]] || continue
      ino="$(stat -L -c %i "$ns" 2>/dev/null)" || continue
      for shim in "${inodes[@]}"; do [[ $shim == "$ino" ]] && echo "${ns##*/}"; done
    done
    [[ -f $db ]] && { grep -a -o 'cni-[0-9a-f]\{8\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{4\}-[0-9a-f]\{12\}' "$db" || true; }
  } | sort -u >>"$ORIG/netns-ours"
}

write_node_config() {
  mkdir -p "$NODE_DIR"/{cni/net.d,cni/ipam,containerd,kubelet,pod-logs}
  cat >"$NODE_DIR/containerd.toml" <<TOML
version = 2
root = "$NODE_DIR/containerd/root"
state = "$NODE_DIR/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CTR_SOCK"
[debug]
  level = "info"   # start_containerd waits for the CRI's "Start streaming server" line
[plugins]
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "$PAUSE_IMAGE"
    # The lab runs without CAP_SYS_RESOURCE: runc could not lower oom_score_adj for any sandbox.
    restrict_oom_score_adj = true
    disable_apparmor = true
    enable_selinux = false
    [plugins."io.containerd.grpc.v1.cri".containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
          SystemdCgroup = false
    [plugins."io.containerd.grpc.v1.cri".cni]
      bin_dir = "/usr/lib/cni"
      conf_dir = "$NODE_DIR/cni/net.d"
      max_conf_num = 1
  [plugins."io.containerd.internal.v1.opt"]
    path = "$NODE_DIR/containerd/opt"
TOML
  # A bridge without an address on the host (isGateway false), no masquerading, no default route:
  # pods reach nothing off their own subnet, and nothing is routed off the machine.
  cat >"$NODE_DIR/cni/net.d/10-batch-bridge-lab.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "batch-bridge-lab", "plugins": [
  {"type": "bridge", "bridge": "$CNI_BRIDGE", "isGateway": false, "isDefaultGateway": false,
   "ipMasq": false, "hairpinMode": false,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_SUBNET"}]], "dataDir": "$NODE_DIR/cni/ipam"}}
]}
JSON
  cat >"$NODE_DIR/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $KUBELET_PORT
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $KUBELET_HEALTHZ_PORT
tlsCertFile: $PKI/kubelet-serving.crt
tlsPrivateKeyFile: $PKI/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$CTR_SOCK
cgroupDriver: cgroupfs
failCgroupV1: false          # this machine has cgroup v1 hierarchies
failSwapOn: false
oomScoreAdj: 0               # no CAP_SYS_RESOURCE: the kubelet cannot lower its own score
maxPods: $REAL_MAX_PODS
podLogsDir: $NODE_DIR/pod-logs
resolvConf: /etc/resolv.conf
registerNode: true
registerWithTaints:
- {key: $REAL_TAINT_KEY, value: "true", effect: NoSchedule}
serializeImagePulls: false
imageGCHighThresholdPercent: 100   # never collect the lab's locally built images
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
nodeStatusUpdateFrequency: 10s
logging: {verbosity: 1}
YAML
  _kubeconfig_cert "$NODE_DIR/kubelet.kubeconfig" "system:node:$REAL_NODE_NAME" "node-$REAL_NODE_NAME"
}

ctr_ready() { ctr --address "$CTR_SOCK" version >/dev/null 2>&1; }

# The CRI service answers "server is not initialized yet" until it has recovered its state, and a
# kubelet started before that exits at once. It logs this line just before it is initialized.
cri_ready() { ctr_ready && tail -c +"$1" "$LOGS/containerd.log" | grep -q 'Start streaming server'; }

start_containerd() {
  pid_of containerd >/dev/null && return 0
  local from
  from=$(($(stat -c %s "$LOGS/containerd.log" 2>/dev/null || echo 0) + 1))
  # umask 022: the lab's kubeconfig writer leaves 077, and snapshot directories made under it are
  # unreadable to the pods' non-root users ("stat /bin/sh: permission denied").
  umask 022
  spawn containerd containerd --config "$NODE_DIR/containerd.toml"
  wait_for "containerd CRI" 60 containerd cri_ready "$from"
}

# Import the locally built images unless containerd already has this build of them.
import_images() {
  local dir=$1 img
  for img in lab-runtime pause; do
    if [[ "$(cat "$NODE_DIR/imported-$img" 2>/dev/null)" == "$dir" ]] && ctr_ images ls -q | grep -qx "$(
      [[ $img == pause ]] && echo "$PAUSE_IMAGE" || echo "$LAB_IMAGE")"; then continue; fi
    ctr_ images import --snapshotter overlayfs "$dir/$img.tar" >/dev/null
    echo "$dir" >"$NODE_DIR/imported-$img"
  done
}

# Ready, as reported by the running kubelet: its /healthz answers and the Ready condition was
# posted after it started (a Node left Ready by a stopped kubelet stays so for ~40 s).
real_node_ready() {
  local pid started hb
  pid="$(pid_of kubelet)" || return 1
  curl -sf "http://127.0.0.1:$KUBELET_HEALTHZ_PORT/healthz" >/dev/null || return 1
  started="$(date -u -d "@$(stat -c %Y "/proc/$pid")" +%FT%TZ)"
  hb="$(api "/api/v1/nodes/$REAL_NODE_NAME" |
    grep -o '"type":"Ready","status":"True","lastHeartbeatTime":"[^"]*"' | cut -d'"' -f12)" || return 1
  [[ -n $hb && ! $hb < $started ]]
}

# The kubelet refuses a loopback --node-ip ("nodeIP can't be loopback address") and then sets no
# address at all, so the apiserver could not reach it for logs/exec. The lab's node address is
# loopback: set it once as admin; the kubelet's failing address setter never overwrites it.
set_node_addresses() {
  api "/api/v1/nodes/$REAL_NODE_NAME" | grep -q '"address":"127.0.0.1"' && return 0
  api "/api/v1/nodes/$REAL_NODE_NAME/status" -X PATCH -H 'Content-Type: application/strategic-merge-patch+json' \
    --data "{\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"127.0.0.1\"},{\"type\":\"Hostname\",\"address\":\"$REAL_NODE_NAME\"}]}}" \
    >/dev/null || die "cannot set the addresses of node $REAL_NODE_NAME"
}

start_kubelet() {
  pid_of kubelet >/dev/null && return 0
  umask 022
  spawn kubelet "$KUBE_BIN/kubelet" --config="$NODE_DIR/kubelet.yaml" \
    --kubeconfig="$NODE_DIR/kubelet.kubeconfig" --root-dir="$NODE_DIR/kubelet" \
    --hostname-override="$REAL_NODE_NAME" --node-ip=127.0.0.1 \
    --node-labels="$POOL_LABEL=$REAL_POOL,type=real"
}

start_real_node() {
  [[ $REAL_NODE == 1 ]] || return 0
  local t0=$SECONDS images
  if ! command -v containerd >/dev/null || ! command -v runc >/dev/null || [[ ! -x /usr/lib/cni/bridge ]]; then
    die "containerd, runc, CNI plugins missing (lab/kube build installs them)"
  fi
  images="$("$KUBE_D/node/image.sh")"
  record_host
  write_node_config
  start_containerd
  import_images "$images"
  start_kubelet
  wait_for "node $REAL_NODE_NAME Ready" 60 kubelet real_node_ready
  record_lab_sysctls
  set_node_addresses
  start_csi_plugin
  log "real node $REAL_NODE_NAME Ready in $((SECONDS - t0))s"
}

# --- stop and revert --------------------------------------------------------------------------------

# Our shims: containerd-shim-runc-v2 processes started with our containerd's socket address.
_our_shims() {
  local p
  for p in /proc/[0-9]*; do
    [[ "$(readlink "$p/exe" 2>/dev/null)" == */containerd-shim-runc-v2 ]] || continue
    tr '\0' ' ' <"$p/cmdline" 2>/dev/null | grep -qF -- "-address $CTR_SOCK" && echo "${p#/proc/}"
  done
  return 0
}

_kill_containers() {
  ctr_ready || return 0
  local i ctr=(ctr --address "$CTR_SOCK" --namespace k8s.io)
  # In parallel: one ctr call per container takes ~0.1 s, and a node may hold 100+ pods.
  { ctr_ tasks ls -q 2>/dev/null || true; } | xargs -r -P 8 -I{} "${ctr[@]}" tasks kill -s SIGKILL {} >/dev/null 2>&1 || true
  for ((i = 0; i < 50; i++)); do
    { ctr_ tasks ls 2>/dev/null || true; } | grep -q RUNNING || break
    sleep 0.1
  done
  { ctr_ tasks ls -q 2>/dev/null || true; } | xargs -r -P 8 -I{} "${ctr[@]}" tasks delete -f {} >/dev/null 2>&1 || true
  { ctr_ containers ls -q 2>/dev/null || true; } | xargs -r -P 8 -I{} "${ctr[@]}" containers delete {} >/dev/null 2>&1 || true
}

_unmount_under() {
  local dir=$1 m
  # Deepest first; lazily, so a busy mount cannot block down.
  awk -v d="$dir/" 'index($5, d) == 1 {print $5}' /proc/self/mountinfo | sort -r | while read -r m; do
    umount -l "$m" 2>/dev/null || true
  done
}

_rm_cgroup_tree() {
  local top=$1 d
  [[ -d $top ]] || return 0
  find "$top" -depth -type d 2>/dev/null | while read -r d; do rmdir "$d" 2>/dev/null || true; done
}

revert_host() {
  [[ -s "$ORIG/done" ]] || return 0
  local line key val p ns
  # Network namespaces our CRI created (record_our_netns), then the bridge (the veths went with
  # their namespaces). Another runtime's cni-* namespaces on this host are left alone.
  while read -r ns; do
    [[ $ns == cni-* && -e "/run/netns/$ns" ]] || continue
    grep -qx "$ns" "$ORIG/netns" && continue
    umount -l "/run/netns/$ns" 2>/dev/null || true
    rm -f "/run/netns/$ns"
  done < <(sort -u "$ORIG/netns-ours" 2>/dev/null || true)
  grep -qx "$CNI_BRIDGE" "$ORIG/links" || ip link del "$CNI_BRIDGE" 2>/dev/null || true
  # cgroups the kubelet created (kubepods tree in every v1 hierarchy).
  for p in "$CGROUP_ROOT"/*/kubepods; do
    [[ -d $p ]] || continue
    grep -qx "$p" "$ORIG/cgroups" || _rm_cgroup_tree "$p"
  done
  # iptables chains the kubelet made (KUBELET_CHAINS), only those that were not there before.
  if command -v iptables-save >/dev/null; then
    for p in iptables ip6tables; do
      local table chain
      for table in filter nat mangle; do
        for chain in $("$p-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
          [[ " ${KUBELET_CHAINS[*]} " == *" $chain "* ]] || continue
          grep -qx "$p $chain" "$ORIG/iptables" && continue
          # Drop jumps into it from built-in chains, then flush and delete it.
          { "$p-save" -t "$table" | grep -- "-j $chain\b" || true; } | sed 's/^-A /-D /' | while read -r line; do
            # shellcheck disable=SC2086  # the rule is a list of arguments
            "$p" -t "$table" $line 2>/dev/null || true
          done
          "$p" -t "$table" -F "$chain" 2>/dev/null || true
        done
        for chain in $("$p-save" -t "$table" 2>/dev/null | sed -n 's/^:\(KUBE-[^ ]*\) .*/\1/p'); do
          [[ " ${KUBELET_CHAINS[*]} " == *" $chain "* ]] || continue
          grep -qx "$p $chain" "$ORIG/iptables" || "$p" -t "$table" -X "$chain" 2>/dev/null || true
        done
      done
    done
  fi
  # A sysctl goes back to its original value only if it still has the value the lab's node left
  # (recorded once it was up); a later change by anyone else stays. Without that record (the
  # node never came up) nothing is restored: what changed it is unknown.
  local now lab
  while IFS='=' read -r key val; do
    now="$(sysctl -n "$key" 2>/dev/null)" || continue
    lab="$(awk -v k="$key" 'index($0, k "=") == 1 {print substr($0, length(k) + 2)}' "$ORIG/sysctl-lab" 2>/dev/null)"
    [[ $now == "$val" ]] && continue
    if [[ -n $lab && $now == "$lab" ]]; then
      sysctl -q -w "$key=$val" >/dev/null
    else
      log "leaving $key=$now (original $val; not the value the lab set, so not the lab's change)"
    fi
  done <"$ORIG/sysctl"
  for p in "${NODE_HOST_PATHS[@]}"; do
    [[ -e $p || -L $p ]] || continue
    grep -qx "$p" "$ORIG/paths" && continue
    _unmount_under "$p"
    rm -rf "$p"
  done
  rm -rf "$ORIG"
}

stop_real_node() {
  stop_one kubelet
  record_our_netns
  _kill_containers
  stop_csi_plugin
  stop_one containerd
  local pid
  for pid in $(_our_shims); do kill -KILL "$pid" 2>/dev/null || true; done
  _unmount_under "$NODE_DIR"
  # Every pod is gone with its network namespace: release their addresses (no CNI DEL ran).
  rm -rf "$NODE_DIR/cni/ipam"
  revert_host
}

real_node_status() {
  [[ $REAL_NODE == 1 ]] || return 0
  local rc=0
  if api /readyz >/dev/null 2>&1 && real_node_ready 2>/dev/null; then
    echo "real node $REAL_NODE_NAME Ready (label $POOL_LABEL=$REAL_POOL, taint $REAL_TAINT_KEY=true:NoSchedule)"
    # namespace/name phase, one per line (no jq on the host).
    api "/api/v1/pods?fieldSelector=spec.nodeName=$REAL_NODE_NAME" | python3 -c '
import json, sys
items = json.load(sys.stdin).get("items", [])
print("pods on the real node:", len(items))
for p in items:
    m = p["metadata"]
    print("  " + m["namespace"] + "/" + m["name"], p["status"].get("phase"))
' || true
  else
    echo "real node $REAL_NODE_NAME not Ready"; rc=1
  fi
  [[ -s "$ORIG/done" ]] && echo "host changes recorded since $(cat "$ORIG/done"): $ORIG"
  return $rc
}
