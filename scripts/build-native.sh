#!/usr/bin/env bash
# Builds bucketmount's own native addon (native/fuse3: libfuse3 low-level binding) with node-gyp
# against the headers of the Node.js that runs it (<prefix>/include/node), never downloading
# headers. Runs from `npm ci` / `npm install` (package.json "install"). Needs libfuse3-dev,
# pkg-config, make and a C compiler. Extra CFLAGS/LDFLAGS pass through (e.g. -fsanitize=address).
# An optional argument builds in that directory instead (a copy of native/fuse3's binding.gyp and
# sources: the sanitizer build of scripts/test-native-sanitized.sh), leaving native/fuse3/build as it is.
set -euo pipefail
cd "${1:-$(dirname "$0")/../native/fuse3}"
prefix="$(node -p 'require("path").resolve(process.execPath, "../..")')"
gyp="${npm_config_node_gyp:-}"
if [ -z "$gyp" ]; then
  for c in "$(dirname "$(command -v npm 2>/dev/null || echo /usr/bin/npm)")/../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js" \
           /usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js \
           /usr/local/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js; do
    [ -f "$c" ] && gyp="$c" && break
  done
fi
[ -n "$gyp" ] || { echo "build-native: node-gyp not found (it ships with npm)" >&2; exit 1; }
exec node "$gyp" rebuild --nodedir="$prefix" --loglevel=warn
