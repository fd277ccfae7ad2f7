#!/usr/bin/env bash
# Prints the directory holding a Node 24+ binary. Uses the machine's node when it is new enough;
# otherwise installs the npm registry's `node` package (a prebuilt binary shipped inside the
# package) under .tools/node, so nothing is fetched from outside the registries.
set -euo pipefail
NODE_VERSION="${NODE_VERSION:-24.21.0}"
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools/node"

if command -v node >/dev/null 2>&1; then
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
  if [ "$major" -ge 24 ]; then dirname "$(command -v node)"; exit 0; fi
fi

bin="$tools/node_modules/node/bin"
if [ ! -x "$bin/node" ] || [ "$("$bin/node" --version)" != "v$NODE_VERSION" ]; then
  echo "provisioning Node $NODE_VERSION from the npm registry into .tools/node" >&2
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-save --no-package-lock --loglevel=error "node@$NODE_VERSION" >&2
fi
echo "$bin"
