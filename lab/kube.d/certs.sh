# Certificates, keys and kubeconfigs for the lab; sourced by lab/kube.
# shellcheck shell=bash
PKI="$STATE/pki"

# _cert NAME CN ORG SAN_EXT CA: key + cert signed by CA (ORG/SAN may be empty).
_cert() {
  local name=$1 cn=$2 org=$3 san=$4 ca=$5 subj ext
  [[ -s "$PKI/$name.crt" ]] && return 0
  subj="/CN=$cn"; [[ -n "$org" ]] && subj="/O=$org$subj"
  ext="$PKI/$name.ext"
  {
    echo "basicConstraints=CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    if [[ -n "$san" ]]; then echo "extendedKeyUsage=serverAuth,clientAuth"; echo "subjectAltName=$san"
    else echo "extendedKeyUsage=clientAuth"; fi
  } >"$ext"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$PKI/$name.key" -subj "$subj" -out "$PKI/$name.csr" 2>/dev/null
  openssl x509 -req -in "$PKI/$name.csr" -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial \
    -days 3650 -extfile "$ext" -out "$PKI/$name.crt" 2>/dev/null
  rm -f "$PKI/$name.csr" "$ext"
}

_ca() {
  [[ -s "$PKI/$1.crt" ]] && return 0
  openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
    -keyout "$PKI/$1.key" -out "$PKI/$1.crt" -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null
}

# kubeconfig FILE USER CERTNAME: client-cert kubeconfig with everything embedded.
_kubeconfig_cert() {
  local file=$1 user=$2 cert=$3
  _kubeconfig "$file" "$user" \
    "    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")"
}

_kubeconfig() {
  local file=$1 user=$2 creds=$3
  umask 077
  cat >"$file.tmp" <<KC
apiVersion: v1
kind: Config
clusters:
- name: batch-bridge-lab
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
$creds
contexts:
- name: $user@batch-bridge-lab
  context: {cluster: batch-bridge-lab, user: $user}
current-context: $user@batch-bridge-lab
KC
  mv "$file.tmp" "$file"
}

make_pki() {
  mkdir -p "$PKI"; chmod 700 "$PKI"
  (
    umask 077
    _ca ca batch-bridge-lab-ca
    _ca front-proxy-ca batch-bridge-lab-front-proxy-ca
    _cert apiserver kube-apiserver "" \
      "IP:127.0.0.1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local" ca
    _cert admin kubernetes-admin system:masters "" ca
    _cert kcm system:kube-controller-manager "" "" ca
    _cert scheduler system:kube-scheduler "" "" ca
    # kwok plays every kubelet; system:masters keeps it simple in a lab (no Node authorizer identity).
    _cert kwok kwok-controller system:masters "" ca
    _cert front-proxy-client front-proxy-client "" "" front-proxy-ca
    # Real node: the kubelet's identity (Node authorizer), its serving cert, and the apiserver's
    # client cert for the kubelet API (logs, exec).
    _cert "node-$REAL_NODE_NAME" "system:node:$REAL_NODE_NAME" system:nodes "" ca
    _cert kubelet-serving "$REAL_NODE_NAME" "" "IP:127.0.0.1,DNS:$REAL_NODE_NAME,DNS:localhost" ca
    _cert apiserver-kubelet-client kube-apiserver-kubelet-client system:masters "" ca
    [[ -s "$PKI/sa.key" ]] || { openssl genrsa -out "$PKI/sa.key" 2048 2>/dev/null
      openssl rsa -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null; }
  )
  _kubeconfig_cert "$STATE/admin.kubeconfig" kubernetes-admin admin
  _kubeconfig_cert "$STATE/kcm.kubeconfig" system:kube-controller-manager kcm
  _kubeconfig_cert "$STATE/scheduler.kubeconfig" system:kube-scheduler scheduler
  _kubeconfig_cert "$STATE/kwok.kubeconfig" kwok-controller kwok
}
