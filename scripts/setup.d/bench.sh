#!/usr/bin/env bash
# Installs the optional benchmark peers goofys and geesefs with `go install` (s3fs and rclone come
# from Debian via scripts/setup.sh). Only runs when BUCKETMOUNT_BENCH_PEERS=1 (set it, or run
# `npm run bench`, which calls this script itself when a peer is missing). Idempotent: a tool
# already in $GOBIN is skipped. A peer that does not build is reported and skipped, never fatal.
# Known here (2026-11-30): the Go module proxy this machine uses answers 403 for both modules'
# version lists (and for exact tags such as geesefs v0.43.0); goofys v0.24.0 itself downloads
# but has no go.mod and needs the kahing/fuse fork, which is refused too. The benchmark then
# lists goofys/geesefs as "not measured" with that reason.
set -uo pipefail
if [ "${BUCKETMOUNT_BENCH_PEERS:-0}" != 1 ]; then exit 0; fi
GOBIN="${GOBIN:-$(go env GOPATH)/bin}"; export GOBIN
peer() { # name module@version
  if [ -x "$GOBIN/$1" ]; then return 0; fi
  echo "setup(bench): go install $2"
  if ! go install "$2"; then
    echo "setup(bench): $1 did not build ($2); the benchmark reports it as unavailable" >&2
  fi
}
peer geesefs github.com/yandex-cloud/geesefs@v0.43.0
peer goofys github.com/kahing/goofys@v0.24.0
exit 0
