#!/usr/bin/env bash
# The whole test suite: installs what is missing, lint, type-check, build, then every test file under test/ with node's
# test runner against real MinIO and real FUSE mounts (one file at a time: they mount things).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh   # idempotent: installs only what is missing (a second on a set-up machine)
export PATH="$(go env GOPATH 2>/dev/null)/bin:$PATH"
# shellcheck source=scripts/node-runtime.sh
. scripts/node-runtime.sh
use_project_node        # Node 24: .tools/node when setup installed it there, else the machine's own
echo "test: Node $(node --version) ($(command -v node))"
node -e 'const [want, have] = [/^>=(\d+)(?:\.(\d+))?/.exec(require("./package.json").engines.node).slice(1).map(Number), process.versions.node.split(".").map(Number)];
  if (have[0] < want[0] || (have[0] === want[0] && have[1] < (want[1] || 0))) { console.error(`test: Node ${process.version} is older than package.json engines; run scripts/setup.sh`); process.exit(1); }'
npm run lint --silent
npm run typecheck --silent
rm -rf dist          # no stale compiled tests from renamed or deleted files
npm run build --silent
shopt -s globstar nullglob
files=(dist/test/**/*.test.js)
node --test --test-concurrency=1 --test-timeout=900000 "${files[@]}"
bash scripts/test-native-sanitized.sh  # the fuse3 addon under ASan/UBSan/LSan: docs/fuse3.md "Sanitizer run"
