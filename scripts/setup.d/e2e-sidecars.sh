#!/usr/bin/env bash
# Builds the CSI sidecars the e2e suite (test/e2e) runs next to the plugin, each only when missing:
#   csi-provisioner  github.com/kubernetes-csi/external-provisioner/v6/cmd/csi-provisioner@$CSI_PROVISIONER_VERSION
# `go install pkg@version` refuses modules whose go.mod has replace directives, so it is built in a
# scratch module (under $(go env GOPATH)/src/bucketmount-e2e/, never in the repo) that requires the
# pinned version and copies the module's own replace directives; go.sum is filled from the checksum DB.
# Idempotent (rebuilt only when missing or reporting another version). Honors $GOBIN (set by
# scripts/setup.sh). Builds at nice 10: about 4 minutes on a busy 2-core machine, downloads included.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=/dev/null
. test/e2e/tool-versions.env
GOBIN="${GOBIN:-$(go env GOPATH)/bin}"; export GOBIN
mod=github.com/kubernetes-csi/external-provisioner/v6
if [ ! -x "$GOBIN/csi-provisioner" ] || ! "$GOBIN/csi-provisioner" --version 2>/dev/null | grep -qF "$CSI_PROVISIONER_VERSION"; then
  echo "setup(e2e): building csi-provisioner ${CSI_PROVISIONER_VERSION} from the Go module proxy (about 4 minutes on 2 cores)"
  dir="$(go env GOPATH)/src/bucketmount-e2e/csi-provisioner-${CSI_PROVISIONER_VERSION}"
  mkdir -p "$dir"
  upstream_mod="$(cd "$dir" && GOFLAGS=-mod=mod go mod download -json "${mod}@${CSI_PROVISIONER_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$upstream_mod" ] || { echo "setup(e2e): go.mod of ${mod}@${CSI_PROVISIONER_VERSION} not found" >&2; exit 1; }
  {
    echo "module bucketmount.invalid/e2e-csi-provisioner"
    echo
    sed -n 's/^go \(.*\)$/go \1/p' "$upstream_mod"
    echo
    echo "require ${mod} ${CSI_PROVISIONER_VERSION}"
    echo
    # The upstream replace directives (single-line form), verbatim.
    grep -E '^replace [^(]' "$upstream_mod" || true
  } > "$dir/go.mod"
  if grep -qE '^replace \($' "$upstream_mod"; then
    echo "setup(e2e): ${mod} go.mod has a replace block; extend this script" >&2; exit 1
  fi
  printf '//go:build tools\n\npackage tools\n\nimport _ "%s/cmd/csi-provisioner"\n' "$mod" > "$dir/tools.go"
  (
    cd "$dir"
    GOFLAGS=-mod=mod go mod tidy
    nice -n 10 go build -trimpath -o "$GOBIN/csi-provisioner" \
      -ldflags "-X main.version=${CSI_PROVISIONER_VERSION}" "${mod}/cmd/csi-provisioner"
  )
fi
"$GOBIN/csi-provisioner" --version >/dev/null
