#!/usr/bin/env bash
# Runs its arguments with the project's Node.js first on PATH: the pinned Node 24 that scripts/setup.sh
# installs into .tools/node on a machine with an older Node, else the machine's own. The npm scripts that
# run the project's code go through it (`bash scripts/with-node.sh node dist/...`), so `npm run demo`,
# `npm run test:unit`, `npm run bench` work the same when npm itself was started by an older system Node.
set -euo pipefail
# shellcheck source=scripts/node-runtime.sh
. "$(dirname "$0")/node-runtime.sh"
use_project_node
exec "$@"
