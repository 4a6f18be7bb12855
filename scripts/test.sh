#!/usr/bin/env bash
# The whole test suite: installs what is missing, lint, type-check, build, then every test file under test/ with node's
# test runner against real MinIO and real FUSE mounts (one file at a time: they mount things).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh   # idempotent: installs only what is missing (a second on a set-up machine)
export PATH="$(go env GOPATH 2>/dev/null)/bin:$PATH"
npm run lint --silent
npm run typecheck --silent
rm -rf dist          # no stale compiled tests from renamed or deleted files
npm run build --silent
shopt -s globstar nullglob
files=(dist/test/**/*.test.js)
node --test --test-concurrency=1 --test-timeout=900000 "${files[@]}"
