#!/usr/bin/env bash
# helm, built from the Go module proxy (helm.sh/helm/v3 has no replace directives: `go install` works)
# and cached by version under $BATCH_BRIDGE_CACHE/helm-<version>/bin. Idempotent; prints the binary's
# path on its last line. lab/kube.d/build.sh runs it, so `make setup` has helm on a fresh machine.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=common.sh
. "$HERE/common.sh"
HELM_BIN="$CACHE/helm-$HELM_VERSION/bin"

build_helm() {
  [[ -x "$HELM_BIN/helm" ]] && return 0
  command -v go >/dev/null || die "go not found (needed to build helm $HELM_VERSION)"
  local t0=$SECONDS
  log "building helm $HELM_VERSION (cold: ~2-4 min on 2 cores)"
  # Into a temporary directory first: an interrupted build must not leave a half-written binary cached.
  rm -rf "$HELM_BIN.tmp" && mkdir -p "$HELM_BIN.tmp"
  GOBIN="$HELM_BIN.tmp" go install -trimpath \
    -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" >&2
  rm -rf "$HELM_BIN" && mv "$HELM_BIN.tmp" "$HELM_BIN"
  log "built helm $HELM_VERSION in $((SECONDS - t0))s"
}

mkdir -p "$CACHE"
build_helm
echo "$HELM_BIN/helm"
