# shellcheck shell=bash
# The project's Node.js runtime, sourced by scripts/setup.sh, scripts/test.sh and scripts/with-node.sh.
# The project runs on Node.js 24 LTS (the image is node:24-bookworm-slim). On a machine whose own `node`
# is older than 24, setup installs the pinned release below into .tools/node (gitignored) from the npm
# registry's `node-linux-<arch>` package (official binaries plus include/node headers), checked against
# the pinned sha512. `use_project_node` puts it first on PATH (npm itself is `#!/usr/bin/env node`, so
# npm, its install scripts and node-gyp then run on it too) and points node-gyp at its headers.
NODE_RUNTIME_VERSION=24.22.3
NODE_RUNTIME_MAJOR=${NODE_RUNTIME_VERSION%%.*}
# dist.integrity of node-linux-<arch>@$NODE_RUNTIME_VERSION on registry.npmjs.org.
declare -A NODE_RUNTIME_INTEGRITY=(
  [x64]=sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA==
  [arm64]=sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw==
)
NODE_RUNTIME_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/.tools/node"

# Major version of the first `node` on PATH (0 when there is none).
node_major() { command -v node >/dev/null 2>&1 && node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Installs the pinned Node into $NODE_RUNTIME_DIR unless that exact version is already there.
install_project_node() {
  if [ -x "$NODE_RUNTIME_DIR/bin/node" ] && [ "$("$NODE_RUNTIME_DIR/bin/node" --version)" = "v$NODE_RUNTIME_VERSION" ]; then return 0; fi
  local arch
  case "$(uname -m)" in x86_64) arch=x64 ;; aarch64) arch=arm64 ;; *) echo "setup: no pinned Node.js for $(uname -m); install Node.js $NODE_RUNTIME_MAJOR yourself" >&2; return 1 ;; esac
  local pkg="node-linux-$arch@$NODE_RUNTIME_VERSION" tmp
  echo "setup: installing $pkg into .tools/node (this machine's Node.js: $(node --version 2>/dev/null || echo none))"
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack "$pkg" --silent >/dev/null) || { rm -rf "$tmp"; echo "setup: npm pack $pkg failed" >&2; return 1; }
  local tgz="$tmp/node-linux-$arch-$NODE_RUNTIME_VERSION.tgz" got
  got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
  if [ "$got" != "${NODE_RUNTIME_INTEGRITY[$arch]}" ]; then
    rm -rf "$tmp"; echo "setup: $pkg does not match its pinned sha512 (got $got)" >&2; return 1
  fi
  mkdir -p "$tmp/node" && tar -xzf "$tgz" -C "$tmp/node" --strip-components=1
  "$tmp/node/bin/node" --version >/dev/null || { rm -rf "$tmp"; echo "setup: the unpacked $pkg does not run here" >&2; return 1; }
  mkdir -p "$(dirname "$NODE_RUNTIME_DIR")" && rm -rf "$NODE_RUNTIME_DIR" && mv "$tmp/node" "$NODE_RUNTIME_DIR"
  rm -rf "$tmp"
}

# Puts the project's Node first on PATH when setup installed one (otherwise the machine's own Node is used).
use_project_node() {
  if [ -x "$NODE_RUNTIME_DIR/bin/node" ]; then
    case ":$PATH:" in *":$NODE_RUNTIME_DIR/bin:"*) ;; *) PATH="$NODE_RUNTIME_DIR/bin:$PATH" ;; esac
    export PATH
    # node-gyp builds native addons against this Node's own headers (no download).
    export npm_config_nodedir="$NODE_RUNTIME_DIR"
  fi
}
