# Starting and stopping the lab's processes by pid file; sourced by lab/kube.
# shellcheck disable=SC2034  # variables are used by the files that source this one
# shellcheck shell=bash
RUN="$STATE/run"
LOGS="$STATE/log"
# Client QPS (see README): defaults 20/30 made 1,000 Jobs take ~5 min; raised values ~30 s.
KCM_QPS="${KUBE_LAB_KCM_QPS:-500}"
KCM_BURST="${KUBE_LAB_KCM_BURST:-1000}"
JOB_SYNCS="${KUBE_LAB_JOB_SYNCS:-20}"
SCHED_QPS="${KUBE_LAB_SCHED_QPS:-500}"
SCHED_BURST="${KUBE_LAB_SCHED_BURST:-1000}"
COMPONENTS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok)

# The machine is shared: a pid in a pid file may have been recycled by someone else's process.
# A pid file holds "PID STARTTIME" (field 22 of /proc/PID/stat, as lab/batch records it); a
# process is ours only while both match. Files from before start times were recorded hold the
# pid alone: then the command must be the component's own binary.
proc_start() {
  local stat rest fields
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  rest="${stat##*) }"
  read -r -a fields <<<"$rest"
  [[ "${fields[0]}" != Z ]] || return 1
  echo "${fields[19]}"
}

_runs_binary() {  # PID NAME: argv[0] of PID is a file called NAME
  local argv0
  argv0="$(tr '\0' '\n' <"/proc/$1/cmdline" 2>/dev/null | head -n 1)" || return 1
  [[ "${argv0##*/}" == "$2" ]]
}

pid_of() {
  local f="$RUN/$1.pid" pid="" start=""
  [[ -s $f ]] || return 1
  read -r pid start <"$f" || [[ -n $pid ]] || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  if [[ -n $start ]]; then
    [[ "$(proc_start "$pid")" == "$start" ]] || return 1
  else
    { proc_start "$pid" >/dev/null && _runs_binary "$pid" "$1"; } || return 1
  fi
  echo "$pid"
}

# spawn NAME CMD...: start detached in its own session, remember the pid and its start time.
spawn() {
  local name=$1 pid; shift
  pid_of "$name" >/dev/null && return 0
  mkdir -p "$RUN" "$LOGS"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null 9>&- &  # 9: the lab lock, not for daemons
  pid=$!
  echo "$pid $(proc_start "$pid" || echo exited)" >"$RUN/$name.pid"
}

# Every signal goes to the process the pid file names, re-checked just before it is sent.
stop_one() {
  local name=$1 pid i
  pid="$(pid_of "$name")" || { rm -f "$RUN/$name.pid"; return 0; }
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do pid_of "$name" >/dev/null || break; sleep 0.1; done
  if pid_of "$name" >/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -f "$RUN/$name.pid"
}

# wait_for WHAT SECONDS CMD...: poll CMD until it succeeds, or fail with the log tail.
wait_for() {
  local what=$1 secs=$2 log=$3; shift 3
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      [[ -f "$LOGS/$log.log" ]] && tail -n 25 "$LOGS/$log.log" >&2
      die "$what not ready after ${secs}s (log: $LOGS/$log.log)"
    fi
    pid_of "$log" >/dev/null || { tail -n 25 "$LOGS/$log.log" >&2; die "$log exited (log: $LOGS/$log.log)"; }
    sleep 0.1
  done
}

admin_curl() {
  # Not "curl/...": the apiserver pretty-prints for curl, and our greps expect compact JSON.
  curl -sf -A batch-bridge-lab --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" "$@"
}
api() { local p=$1; shift; admin_curl "https://127.0.0.1:$APISERVER_PORT$p" "$@"; }

start_etcd() {
  spawn etcd "$ETCD_ROOT/usr/bin/etcd" --name lab --data-dir "$STATE/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "lab=http://127.0.0.1:$ETCD_PEER_PORT" \
    --unsafe-no-fsync --log-level warn
  # Throwaway lab data: no fsync keeps Job bursts from waiting on the disk.
  wait_for etcd 30 etcd curl -sf "http://127.0.0.1:$ETCD_PORT/health"
}

start_apiserver() {
  local pid
  # An apiserver from before the real node existed cannot reach kubelets (logs): restart it once.
  if pid="$(pid_of kube-apiserver)" && ! tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- --kubelet-client-certificate; then
    log "restarting kube-apiserver with the kubelet client flags"
    stop_one kube-apiserver
  fi
  spawn kube-apiserver "$KUBE_BIN/kube-apiserver" \
    --bind-address=127.0.0.1 --advertise-address=127.0.0.1 --secure-port="$APISERVER_PORT" \
    --etcd-servers="http://127.0.0.1:$ETCD_PORT" \
    --client-ca-file="$PKI/ca.crt" --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --authorization-mode=Node,RBAC --allow-privileged=true \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --service-cluster-ip-range=10.0.0.0/24 --endpoint-reconciler-type=none \
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt" --requestheader-allowed-names=front-proxy-client \
    --requestheader-username-headers=X-Remote-User --requestheader-group-headers=X-Remote-Group \
    --requestheader-extra-headers-prefix=X-Remote-Extra- \
    --proxy-client-cert-file="$PKI/front-proxy-client.crt" --proxy-client-key-file="$PKI/front-proxy-client.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority="$PKI/ca.crt" --kubelet-preferred-address-types=InternalIP,Hostname \
    --profiling=false --v=1
  wait_for "kube-apiserver /readyz" 60 kube-apiserver api /readyz
}

start_controllers() {
  spawn kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
    --kubeconfig="$STATE/kcm.kubeconfig" --authentication-kubeconfig="$STATE/kcm.kubeconfig" \
    --authorization-kubeconfig="$STATE/kcm.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT" --leader-elect=false \
    --controllers='*' --use-service-account-credentials=true \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key" \
    --kube-api-qps="$KCM_QPS" --kube-api-burst="$KCM_BURST" --concurrent-job-syncs="$JOB_SYNCS" \
    --profiling=false --v=1
  cat >"$STATE/scheduler.yaml" <<YAML
apiVersion: kubescheduler.config.k8s.io/v1
kind: KubeSchedulerConfiguration
clientConnection:
  kubeconfig: $STATE/scheduler.kubeconfig
  qps: $SCHED_QPS
  burst: $SCHED_BURST
leaderElection:
  leaderElect: false
YAML
  spawn kube-scheduler "$KUBE_BIN/kube-scheduler" --config="$STATE/scheduler.yaml" \
    --authentication-kubeconfig="$STATE/scheduler.kubeconfig" \
    --authorization-kubeconfig="$STATE/scheduler.kubeconfig" \
    --bind-address=127.0.0.1 --secure-port="$SCHED_PORT" --profiling=false --v=1
  wait_for "kube-controller-manager /healthz" 30 kube-controller-manager \
    curl -skf "https://127.0.0.1:$KCM_PORT/healthz"
  wait_for "kube-scheduler /healthz" 30 kube-scheduler curl -skf "https://127.0.0.1:$SCHED_PORT/healthz"
}

start_kwok() {
  local n
  if ! pid_of kwok >/dev/null; then
    # A new kwok has a new holder identity and would leave pods alone until the previous one's
    # node leases expire (~40 s); the leases are only ours, so drop them.
    for n in $(node_names); do
      api "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$n" -X DELETE >/dev/null || true
    done
  fi
  spawn kwok "$KWOK_BIN/kwok" --kubeconfig="$STATE/kwok.kubeconfig" \
    --config="$KUBE_D/kwok/stages.yaml" \
    --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --node-ip=127.0.0.1 --server-address="127.0.0.1:$KWOK_PORT" --node-lease-duration-seconds=40
}
