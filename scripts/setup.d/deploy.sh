#!/usr/bin/env bash
# Installs what the deploy checks (test/deploy) need, each only when missing:
#   helm         go install helm.sh/helm/v3/cmd/helm@$HELM_VERSION         (helm lint / helm template)
#   kubeconform  go install github.com/yannh/kubeconform/cmd/kubeconform@… (schema validation)
#   kustomize    go install sigs.k8s.io/kustomize/kustomize/v5@…          (kustomize build deploy/, as kubectl apply -k)
#   Kubernetes OpenAPI spec: the k8s.io/kubernetes module from the Go module proxy
#     (`go mod download`), which carries api/openapi-spec/swagger.json. The test converts it into
#     per-kind strict JSON schemas in a temp dir, so validation runs fully offline.
# Idempotent. Honors $GOBIN (set by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=/dev/null
. test/deploy/tool-versions.env
GOBIN="${GOBIN:-$(go env GOPATH)/bin}"; export GOBIN
# Helm's own release build stamps the Kubernetes version that `helm template` assumes (from the
# client-go it is built with); a plain `go install` leaves it at v1.20, which the chart's
# kubeVersion refuses. Stamp it the same way, and rebuild a helm that was built without it.
helm_ldflags="-X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=${HELM_K8S_VERSION%%.*} -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=${HELM_K8S_VERSION#*.} -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=${HELM_K8S_VERSION%%.*} -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=${HELM_K8S_VERSION#*.}"
if [ ! -x "$GOBIN/helm" ] || ! go version -m "$GOBIN/helm" | grep -q "chartutil.k8sVersionMinor=${HELM_K8S_VERSION#*.}"; then
  echo "setup(deploy): go install helm.sh/helm/v3/cmd/helm@${HELM_VERSION} (a few minutes on 2 cores)"
  go install -ldflags "$helm_ldflags" "helm.sh/helm/v3/cmd/helm@${HELM_VERSION}"
fi
if [ ! -x "$GOBIN/kubeconform" ]; then
  echo "setup(deploy): go install github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
  go install "github.com/yannh/kubeconform/cmd/kubeconform@${KUBECONFORM_VERSION}"
fi
if [ ! -x "$GOBIN/kustomize" ]; then
  echo "setup(deploy): go install sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
  go install "sigs.k8s.io/kustomize/kustomize/v5@${KUSTOMIZE_VERSION}"
fi
spec="$(go env GOMODCACHE)/k8s.io/kubernetes@${K8S_SCHEMA_VERSION}/api/openapi-spec/swagger.json"
if [ ! -f "$spec" ]; then
  echo "setup(deploy): go mod download k8s.io/kubernetes@${K8S_SCHEMA_VERSION} (OpenAPI spec for offline schema validation)"
  (cd "$(mktemp -d)" && go mod download -json "k8s.io/kubernetes@${K8S_SCHEMA_VERSION}" >/dev/null)
fi
[ -f "$spec" ] || { echo "setup(deploy): $spec missing after download" >&2; exit 1; }
