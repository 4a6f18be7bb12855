#!/usr/bin/env bash
# Installs what the end-to-end suite (test/e2e) needs for its single-node cluster, each only when missing:
#   Debian: etcd-server, containerd, runc, busybox-static (the busybox and pause images are built from it
#           at test time), pinned in test/e2e/tool-versions.env.
#   kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kubectl $K8S_VERSION, built into
#   $GOBIN: `go install k8s.io/kubernetes/cmd/...` is refused (kubernetes' go.mod has replace directives),
#   so a scratch module under $(go env GOPATH)/e2e-build requires k8s.io/kubernetes and replaces every
#   staging module (the replace block of kubernetes' own go.mod) by its published $K8S_STAGING_VERSION.
#   About 15-25 minutes on 2 cores with a cold cache; binaries are rebuilt only when missing or of another version.
# Idempotent. Honors $GOBIN (set by scripts/setup.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=/dev/null
. test/e2e/tool-versions.env
GOBIN="${GOBIN:-$(go env GOPATH)/bin}"; export GOBIN
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"

# --- Debian packages --------------------------------------------------------------------------------
declare -A pins=([etcd-server]="$APT_ETCD_SERVER" [containerd]="$APT_CONTAINERD" [runc]="$APT_RUNC" [busybox-static]="$APT_BUSYBOX_STATIC")
want=()
for p in "${!pins[@]}"; do
  [ "$(dpkg-query -W -f='${Status} ${Version}' "$p" 2>/dev/null)" = "install ok installed ${pins[$p]}" ] || want+=("$p")
done
if [ ${#want[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  args=()
  for p in "${want[@]}"; do
    if apt-cache madison "$p" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "${pins[$p]}"; then
      args+=("$p=${pins[$p]}")
    else
      echo "setup(e2e): WARNING: $p ${pins[$p]} is no longer on the mirror; installing the candidate" >&2
      args+=("$p")
    fi
  done
  echo "setup(e2e): apt-get install ${args[*]}"
  # The packages ship services (etcd, containerd); the suite runs its own instances, so none is started
  # here: a policy-rc.d that denies starts is put in place for the install when the machine has none.
  policy=/usr/sbin/policy-rc.d; own_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null; $SUDO chmod 755 "$policy"; own_policy=1
  fi
  status=0
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends --allow-downgrades "${args[@]}" >/dev/null || status=$?
  [ -z "$own_policy" ] || $SUDO rm -f "$policy"
  [ "$status" = 0 ] || exit "$status"
fi

# --- Kubernetes binaries ----------------------------------------------------------------------------
cmds=(kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl)
need=""
for c in "${cmds[@]}"; do
  if [ ! -x "$GOBIN/$c" ] || ! go version -m "$GOBIN/$c" 2>/dev/null | grep -q "k8s.io/component-base/version.gitVersion=${K8S_VERSION}"; then need=1; fi
done
if [ -n "$need" ]; then
  mod="$(go env GOPATH)/e2e-build/kubernetes-${K8S_VERSION}"
  echo "setup(e2e): building ${cmds[*]} ${K8S_VERSION} in $mod (15-25 minutes on 2 cores with a cold Go cache)"
  mkdir -p "$mod"
  kgomod="$(cd "$(mktemp -d)" && go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",\{0,1\}$/\1/p')"
  [ -f "$kgomod" ] || { echo "setup(e2e): no go.mod for k8s.io/kubernetes@${K8S_VERSION}" >&2; exit 1; }
  goline="$(grep -m1 '^go ' "$kgomod")"
  {
    echo "module bucketmount.invalid/k8sbuild"
    echo
    echo "$goline"
    echo
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo
    echo "replace ("
    # kubernetes' own replace block maps each staging module to ./staging/src/<module>: use the published release.
    sed -n 's#^[[:space:]]*\(k8s\.io/[A-Za-z0-9._-]*\) => \./staging/src/k8s\.io/.*$#\t\1 => \1 '"${K8S_STAGING_VERSION}"'#p' "$kgomod"
    echo ")"
  } >"$mod/go.mod"
  {
    echo "//go:build tools"
    echo
    echo "// Package tools pins the Kubernetes commands the e2e suite builds."
    echo "package tools"
    echo
    echo "import ("
    for c in "${cmds[@]}"; do echo "	_ \"k8s.io/kubernetes/cmd/$c\""; done
    echo ")"
  } >"$mod/tools.go"
  (cd "$mod" && go mod tidy >/dev/null)
  grep -q "k8s.io/kubernetes ${K8S_VERSION}\$" "$mod/go.mod" || { echo "setup(e2e): go mod tidy moved k8s.io/kubernetes off ${K8S_VERSION}" >&2; exit 1; }
  pkg=k8s.io/component-base/version
  ldflags="-s -w -X $pkg.gitVersion=${K8S_VERSION} -X $pkg.gitMajor=$(echo "${K8S_VERSION#v}" | cut -d. -f1) -X $pkg.gitMinor=$(echo "${K8S_VERSION#v}" | cut -d. -f2) -X $pkg.gitTreeState=clean -X $pkg.buildDate=${K8S_BUILD_DATE} -X k8s.io/client-go/pkg/version.gitVersion=${K8S_VERSION}"
  start=$(date +%s)
  pkgs=(); for c in "${cmds[@]}"; do pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  (cd "$mod" && nice go build -ldflags "$ldflags" -o "$GOBIN/" "${pkgs[@]}")
  echo "setup(e2e): built in $(( $(date +%s) - start ))s"
fi
