# Cluster objects the lab creates once the apiserver is up; sourced by lab/kube.
# shellcheck shell=bash
POOL_LABEL="batch-bridge.io/pool"
BRIDGE_NS="batch-bridge"
BRIDGE_SA="batch-bridge"

# create PATH JSON: POST, accepting "already exists".
create() {
  local code
  code="$(admin_curl -o "$STATE/run/last-create.json" -w '%{http_code}' -X POST \
    -H 'Content-Type: application/json' --data-binary "$2" "https://127.0.0.1:$APISERVER_PORT$1")" || true
  [[ $code == 201 || $code == 409 ]] || { cat "$STATE/run/last-create.json" >&2; die "POST $1 -> $code"; }
}

node_names() {
  local i pool
  for ((i = 0; i < KUBE_LAB_NODES; i++)); do
    pool=gpu; ((i % 2)) && pool=cpu
    echo "kwok-$pool-$((i / 2))"
  done
}

node_json() {
  local name=$1 pool=${1#kwok-} res
  pool=${pool%-*}
  res='"cpu":"64","memory":"256Gi","pods":"250","ephemeral-storage":"1Ti"'
  [[ $pool == gpu ]] && res="$res,\"nvidia.com/gpu\":\"8\""
  cat <<JSON
{"apiVersion":"v1","kind":"Node","metadata":{"name":"$name",
 "annotations":{"kwok.x-k8s.io/node":"fake","node.alpha.kubernetes.io/ttl":"0"},
 "labels":{"type":"kwok","kubernetes.io/hostname":"$name","kubernetes.io/os":"linux",
  "kubernetes.io/arch":"amd64","$POOL_LABEL":"$pool"}},
 "status":{"capacity":{$res},"allocatable":{$res}}}
JSON
}

create_nodes() {
  local n
  for n in $(node_names); do create /api/v1/nodes "$(node_json "$n")"; done
}

nodes_ready() {
  local n body
  for n in $(node_names); do
    body="$(api "/api/v1/nodes/$n")" || return 1
    grep -q '"type":"Ready","status":"True"' <<<"$body" || return 1
    # kwok holds a node's lease only while it manages the node's pods.
    api "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/$n" >/dev/null || return 1
  done
}

# The bridge's ServiceAccount: no RBAC at all here, the chart must grant what it needs.
create_bridge_identity() {
  create /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$BRIDGE_NS\"}}"
  create "/api/v1/namespaces/$BRIDGE_NS/serviceaccounts" \
    "{\"apiVersion\":\"v1\",\"kind\":\"ServiceAccount\",\"metadata\":{\"name\":\"$BRIDGE_SA\"}}"
  create "/api/v1/namespaces/$BRIDGE_NS/secrets" "{\"apiVersion\":\"v1\",\"kind\":\"Secret\",
    \"type\":\"kubernetes.io/service-account-token\",\"metadata\":{\"name\":\"$BRIDGE_SA-token\",
    \"annotations\":{\"kubernetes.io/service-account.name\":\"$BRIDGE_SA\"}}}"
}

bridge_token() {
  api "/api/v1/namespaces/$BRIDGE_NS/secrets/$BRIDGE_SA-token" | grep -o '"token":"[^"]*"' | cut -d'"' -f4 | base64 -d
}

write_bridge_kubeconfig() {
  local token
  wait_for "token for ServiceAccount $BRIDGE_NS/$BRIDGE_SA" 30 kube-controller-manager bridge_token
  token="$(bridge_token)"
  _kubeconfig "$STATE/batch-bridge.kubeconfig" "$BRIDGE_SA" "    token: $token"
  # Namespace in the context, so clients default to it.
  sed -i "s|context: {cluster: batch-bridge-lab, user: $BRIDGE_SA}|context: {cluster: batch-bridge-lab, user: $BRIDGE_SA, namespace: $BRIDGE_NS}|" \
    "$STATE/batch-bridge.kubeconfig"
}

write_endpoints() {
  local nodes gpu cpu real=null
  nodes="$(node_names | sed 's/.*/"&"/' | paste -sd, -)"
  gpu="$(node_names | grep -- -gpu- | sed 's/.*/"&"/' | paste -sd, -)"
  cpu="$(node_names | grep -- -cpu- | sed 's/.*/"&"/' | paste -sd, -)"
  if [[ $REAL_NODE == 1 ]]; then
    real="{\"name\": \"$REAL_NODE_NAME\", \"node_selector\": {\"$POOL_LABEL\": \"$REAL_POOL\"},
    \"tolerations\": [{\"key\": \"$REAL_TAINT_KEY\", \"operator\": \"Equal\", \"value\": \"true\", \"effect\": \"NoSchedule\"}],
    \"image\": \"$LAB_IMAGE\", \"pause_image\": \"$PAUSE_IMAGE\", \"kubelet\": \"https://127.0.0.1:$KUBELET_PORT\",
    \"containerd_socket\": \"$CTR_SOCK\", \"pod_subnet\": \"$POD_SUBNET\", \"host_changes\": \"$ORIG\"}"
  fi
  cat >"$STATE/endpoints.json.tmp" <<JSON
{
  "lab": "kube",
  "kubernetes_version": "$KUBE_VERSION",
  "kwok_version": "$KWOK_VERSION",
  "apiserver": "https://127.0.0.1:$APISERVER_PORT",
  "ca_file": "$PKI/ca.crt",
  "admin_kubeconfig": "$STATE/admin.kubeconfig",
  "bridge_kubeconfig": "$STATE/batch-bridge.kubeconfig",
  "bridge_namespace": "$BRIDGE_NS",
  "bridge_service_account": "$BRIDGE_SA",
  "etcd": "http://127.0.0.1:$ETCD_PORT",
  "nodes": [$nodes],
  "pools": {"gpu": [$gpu], "cpu": [$cpu]},
  "pool_label": "$POOL_LABEL",
  "stage_annotation_prefix": "lab.batch-bridge.io/",
  "logs": "$LOGS",
  "real_node": $real
}
JSON
  mv "$STATE/endpoints.json.tmp" "$STATE/endpoints.json"
}
