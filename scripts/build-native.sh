#!/usr/bin/env bash
# Builds the N-API addon in native/ (klab_netns.node) with node-gyp.
#
# node-gyp normally downloads Node's headers. When the running node has its
# headers installed locally (DIR/include/node/node_api.h, where DIR is the
# node binary's prefix, e.g. /usr for /usr/bin/node) we point node-gyp at
# them with --nodedir so no network is needed. Otherwise node-gyp falls back
# to its default download (fine in a VM with internet).
#
# Quiet on success (compiler warnings are still shown); on failure prints
# node-gyp's full output and exits non-zero.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

die() { echo "build-native: $*" >&2; exit 1; }

gyp=node_modules/.bin/node-gyp
[[ -x $gyp ]] || die "$gyp not found — run 'npm ci' (or 'bash scripts/setup.sh') first"
[[ -f native/binding.gyp ]] || die "native/binding.gyp not found"
command -v node >/dev/null || die "node not found on PATH"

args=(rebuild --silent --directory=native)

nodedir=$(node -p 'require("path").dirname(require("path").dirname(process.execPath))')
if [[ -f $nodedir/include/node/node_api.h ]]; then
  args+=("--nodedir=$nodedir")
else
  # No local headers: let node-gyp download them. Drop an inherited nodedir
  # (e.g. from ~/.npmrc via `npm run`) that does not actually hold headers.
  if [[ -n ${npm_config_nodedir:-} && ! -f ${npm_config_nodedir}/include/node/node_api.h ]]; then
    unset npm_config_nodedir
  fi
fi

log=$(mktemp "${TMPDIR:-/tmp}/klab-build-native.XXXXXX")
trap 'rm -f "$log"' EXIT

if ! "$gyp" "${args[@]}" >"$log" 2>&1; then
  cat "$log" >&2
  die "FAILED: node-gyp ${args[*]} (needs make, a C compiler and python3: apt-get install build-essential python3)"
fi

# Surface compiler warnings even on success.
grep -E 'warning:' "$log" >&2 || true

[[ -f native/build/Release/klab_netns.node ]] \
  || die "FAILED: node-gyp succeeded but native/build/Release/klab_netns.node is missing"
