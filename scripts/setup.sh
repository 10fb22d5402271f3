#!/usr/bin/env bash
# klab setup: everything klab needs on a Debian/Ubuntu host, idempotently.
#
#   sudo bash scripts/setup.sh        (from any directory)
#
# 1. must be root, node >= 20
# 2. system packages (apt-get only if something is missing)
# 3. npm dependencies (npm ci only if package-lock.json changed)
# 4. build (native addon + TypeScript) only if sources changed since the last build
#
# A second run with nothing to do takes about a second.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

say() { echo "klab setup: $*"; }
die() { local code=$1; shift; echo "klab setup: ERROR: $*" >&2; exit "$code"; }

# --- 1. root + node -----------------------------------------------------------

if (( EUID != 0 )); then
  die 3 "must run as root (klab creates network namespaces, veths, iptables rules): sudo bash scripts/setup.sh"
fi

node_help="install Node.js 20 (as root):
    curl -fsSL https://deb.nodesource.com/setup_20.x | bash - && apt-get install -y nodejs
  or use a version manager (nvm install 20) and make sure root's PATH finds it."
if ! command -v node >/dev/null 2>&1; then
  die 3 "node not found on PATH; $node_help"
fi
node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
if [[ ! $node_major =~ ^[0-9]+$ ]] || (( node_major < 20 )); then
  die 3 "node >= 20 required, found $(node -v 2>/dev/null || echo unknown); $node_help"
fi
command -v npm >/dev/null 2>&1 || die 3 "npm not found on PATH (it ships with Node.js); $node_help"

# --- 2. system packages -------------------------------------------------------

packages=(iproute2 iptables nftables conntrack iperf3 dnsutils curl tcpdump iputils-ping iputils-arping
          netcat-openbsd ipset util-linux procps kmod libjemalloc2)
missing=()
for p in "${packages[@]}"; do
  if [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true) != "install ok installed" ]]; then
    missing+=("$p")
  fi
done
# node-gyp (native addon) needs make, a C/C++ compiler and python3; checked by
# command so a toolchain installed some other way is accepted.
for c in make cc c++ python3; do
  if ! command -v "$c" >/dev/null 2>&1; then
    missing+=(build-essential python3)
    break
  fi
done

if (( ${#missing[@]} )); then
  command -v apt-get >/dev/null 2>&1 || die 1 "missing packages (${missing[*]}) and no apt-get: klab supports Debian/Ubuntu"
  say "installing apt packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die 1 "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die 1 "apt-get install ${missing[*]} failed"
fi

# --- 3. npm dependencies ------------------------------------------------------

[[ -f package-lock.json ]] || die 1 "package-lock.json missing in $root"
lock_hash=$(sha256sum package-lock.json | cut -d' ' -f1)
deps_stamp=node_modules/.klab-lock-sha256
need_ci=""
if [[ ! -d node_modules ]]; then
  need_ci="node_modules missing"
elif [[ ! -f node_modules/.package-lock.json ]]; then
  need_ci="node_modules incomplete"
elif [[ package-lock.json -nt node_modules/.package-lock.json ]]; then
  need_ci="package-lock.json is newer than node_modules"
elif [[ -f $deps_stamp && $(<"$deps_stamp") != "$lock_hash" ]]; then
  need_ci="package-lock.json changed"
fi

built_deps=""
if [[ -n $need_ci ]]; then
  say "installing npm dependencies ($need_ci): npm ci"
  npm ci --no-audit --no-fund --loglevel=error || die 1 "npm ci failed"
  built_deps=1
fi
# (Re)write the stamp: after npm ci, or the first time an up-to-date node_modules is seen.
[[ -f $deps_stamp && $(<"$deps_stamp") == "$lock_hash" ]] || echo "$lock_hash" >"$deps_stamp"

# --- kernel module: br_netfilter ---------------------------------------------------
# Kubernetes needs bridged pod traffic to pass iptables (net.bridge.bridge-nf-call-iptables
# in each node namespace); stock kernels ship br_netfilter as a module that is not loaded.
# Loading it switches bridge-nf-call-* on in the host's own namespace too: set those back to
# 0 so the host's bridges behave as before (labs turn it on inside their node namespaces).
if [[ ! -e /proc/sys/net/bridge/bridge-nf-call-iptables ]] && command -v modprobe >/dev/null; then
  if modprobe br_netfilter 2>/dev/null; then
    sysctl -q -w net.bridge.bridge-nf-call-iptables=0 net.bridge.bridge-nf-call-ip6tables=0 net.bridge.bridge-nf-call-arptables=0 || true
    say "loaded br_netfilter (off for the host's own bridges; labs enable it in their nodes)"
  fi
fi

# --- 4. build -----------------------------------------------------------------

build_stamp=dist/.build-stamp
need_build=""
if [[ -n $built_deps ]]; then
  need_build="dependencies reinstalled"
elif [[ ! -f $build_stamp ]]; then
  need_build="no previous build"
elif [[ ! -f native/build/Release/klab_netns.node ]]; then
  need_build="native addon missing"
elif [[ ! -f dist/bundle/cli/klab.js ]]; then
  need_build="bundle missing"
else
  shopt -s nullglob
  inputs=(src native/binding.gyp native/*.c native/*.h package.json tsconfig.json scripts/bundle.sh scripts/build-native.sh)
  shopt -u nullglob
  changed=$(find "${inputs[@]}" -newer "$build_stamp" -print -quit 2>/dev/null || true)
  [[ -z $changed ]] || need_build="sources changed: $changed"
fi

if [[ -n $need_build ]]; then
  mkdir -p dist
  touch "$build_stamp.new"   # taken before building: edits made during the build trigger the next one
  if [[ -n $(find src -name '*.ts' -print -quit 2>/dev/null) ]]; then
    say "building ($need_build): npm run build"
    npm run --silent build || { rm -f "$build_stamp.new"; die 1 "build failed (npm run build)"; }
  else
    say "building native addon ($need_build); no TypeScript sources in src/ yet, skipping tsc"
    bash scripts/build-native.sh || { rm -f "$build_stamp.new"; die 1 "native build failed (scripts/build-native.sh)"; }
  fi
  mv -f "$build_stamp.new" "$build_stamp"
fi

say "ready (node $(node -v), $(uname -r))"
