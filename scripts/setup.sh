#!/usr/bin/env bash
# Installs everything bucketmount needs to build, run the demo and run the tests on a fresh
# Debian 12 machine: FUSE, the benchmark peers, Node.js 24 (into .tools/node when the machine's Node is
# older; see scripts/node-runtime.sh), Go tools (MinIO, csi-sanity, helm), npm packages.
# Every tool is pinned to an exact version. Idempotent: already-installed pieces are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
APT_PACKAGES=(fuse3 libfuse3-dev pkg-config make g++ s3fs rclone python3-numpy rsync attr procps util-linux)
missing=()
APT_PACKAGES+=(gcc libasan8 libubsan1)  # the sanitizer run of the fuse3 addon (scripts/test-native-sanitized.sh)
for p in "${APT_PACKAGES[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
GOBIN="$(go env GOPATH)/bin"; export PATH="$GOBIN:$PATH"
go_tool() { # name module@version (exact): installed when missing or built from another version
  if [ ! -x "$GOBIN/$1" ] || [ "$(go version -m "$GOBIN/$1" 2>/dev/null | awk '$1 == "mod" { print $3 }')" != "${2#*@}" ]; then
    echo "setup: go install $2"; go install "$2"
  fi
}
go_tool csi-sanity github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@v5.4.0
# MinIO is pinned to the pseudo-version the module proxy served as newest on 2026-12-06.
go_tool minio github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c
# Area-specific installers (helm/kubeconform for deploy checks, the e2e cluster, ...).
for extra in scripts/setup.d/*.sh; do [ -f "$extra" ] && GOBIN="$GOBIN" bash "$extra"; done
# shellcheck source=scripts/node-runtime.sh
. scripts/node-runtime.sh
# BUCKETMOUNT_PINNED_NODE=1 (set by .ci/run) installs the pinned Node even where the machine's is new enough.
if [ -d "$NODE_RUNTIME_DIR" ] || [ "${BUCKETMOUNT_PINNED_NODE:-0}" = 1 ] || [ "$(node_major)" -lt "$NODE_RUNTIME_MAJOR" ]; then
  install_project_node
fi
use_project_node
# node_modules is (re)installed when missing, older than the lock file, or installed by another Node
# (native modules are built for the Node that runs the install).
abi="$(node -p 'process.version + " abi " + process.versions.modules')"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ] \
   || [ "$(cat node_modules/.bucketmount-node 2>/dev/null)" != "$abi" ]; then
  echo "setup: npm ci (Node $abi)"
  npm ci --no-audit --no-fund
  echo "$abi" >node_modules/.bucketmount-node
fi
# npm ci builds native/fuse3 (package.json "install"); build it when node_modules was already there.
[ -f native/fuse3/build/Release/bucketmount_fuse3.node ] || bash scripts/build-native.sh
echo "setup: done (Node $(node --version) from $(command -v node); tools in $GOBIN)"
