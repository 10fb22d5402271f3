#!/usr/bin/env bash
# klab tests (this is what `npm test` runs).
#
#   sudo bash scripts/test.sh           setup + unit tests + kernel tests (+ vm, see below)
#   bash scripts/test.sh unit           unit tests only
#   sudo bash scripts/test.sh kernel    kernel tests only
#   sudo bash scripts/test.sh vm        stock-kernel VM tests only (scripts/test-kernel-vm.sh)
#
# The vm layer runs the tests that need IPVS, dummy links or netem inside Debian's stock kernel
# under qemu. In `all` it runs when this kernel lacks one of them (probed in a throwaway
# namespace), or always with KLAB_TEST_VM=1 (CI); KLAB_TEST_VM=0 leaves it out.
#
# Runs scripts/setup.sh first (when root), then each layer with tap; a layer
# runs even if an earlier one failed. tap's normal output stays visible. The
# very last line is a plain summary summed over the layers:
#
#   N passed, N failed, N skipped          (skipped includes todo)
#
# Exit status: non-zero if any test failed, if no test ran at all, or if
# setup failed. Counts come from tap's final raw-TAP summary line
# (`# { total: …, pass: …, fail: … }`); a non-zero tap exit with no failure
# counted still counts as one failure (coverage is off in package.json).
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

say() { echo "klab test: $*"; }

mode=${1:-all}
case $mode in
  all | unit | kernel | vm) ;;
  -h | --help) sed -n '2,11p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: bash scripts/test.sh [all|unit|kernel|vm]" >&2; exit 2 ;;
esac

P=0 F=0 S=0

finish() { # print the summary as the very last line and exit
  local rc=0
  if (( F > 0 )); then
    rc=1
  elif (( P + F == 0 )); then
    say "no tests ran"
    rc=1
  fi
  [[ -n ${1:-} ]] && rc=$1
  echo "$P passed, $F failed, $S skipped"
  exit "$rc"
}

# --- setup ----------------------------------------------------------------------

if (( EUID == 0 )); then
  bash scripts/setup.sh
  rc=$?
  if (( rc != 0 )); then
    say "setup failed (scripts/setup.sh exit $rc); no tests run"
    finish "$rc"
  fi
else
  say "not root: skipping scripts/setup.sh and the kernel tests (run with sudo for everything)"
  if [[ ! -x node_modules/.bin/tap ]]; then
    say "node_modules missing; run: sudo bash scripts/setup.sh"
    finish 3
  fi
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klab-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

# --- one layer -----------------------------------------------------------------

# run_layer NAME NPM_SCRIPT PATH...   (PATHs as given to tap in package.json)
run_layer() {
  local name=$1 script=$2
  shift 2

  local present=() p
  for p in "$@"; do [[ -e $p ]] && present+=("$p"); done
  if (( ${#present[@]} == 0 )) ||
     [[ -z $(find "${present[@]}" -type f ! -name '.*' -print -quit 2>/dev/null) ]]; then
    say "$name: no test files in $* (skipped)"
    return 0
  fi

  local out=$tmp/$name.tap rc t0=$SECONDS
  say "$name: npm run $script"
  if [[ -t 1 ]]; then
    # Interactive: tap's usual pretty reporter on the terminal, raw TAP to a file.
    npm run --silent "$script" -- --reporter=base "--output-file=$out"
    rc=$?
  else
    # Piped/CI: raw TAP is the readable output; keep a copy to count from.
    # (--output-file is avoided here: with the tap reporter it doubles stdout.)
    npm run --silent "$script" -- --reporter=tap | tee "$out"
    rc=${PIPESTATUS[0]}
  fi
  [[ -f $out ]] || : >"$out"

  local pass=0 fail=0 skip=0 todo=0 summary
  summary=$(grep -E '^# \{ *total: *[0-9]+' "$out" | tail -n 1)
  if [[ -n $summary ]]; then
    local f v
    for f in pass fail skip todo; do
      v=$(sed -nE "s/.*[{,] *$f: *([0-9]+).*/\1/p" <<<"$summary")
      printf -v "$f" '%d' "${v:-0}"
    done
  else
    # No final summary (tap crashed/bailed out): count the top-level results.
    read -r pass fail skip < <(awk '
      /^(not )?ok([ \t]|$)/ {
        if (toupper($0) ~ /# *(SKIP|TODO)/) s++
        else if ($1 == "not") f++
        else p++
      }
      END { printf "%d %d %d\n", p, f, s }' "$out")
  fi

  if (( pass + fail + skip + todo == 0 )); then
    say "$name: tap produced no test results (exit $rc); counted as 1 failure"
    fail=1
  elif (( rc != 0 && fail == 0 )); then
    say "$name: tap exited $rc although no test reported failure (a crashed test file?); counted as 1 failure"
    fail=1
  fi
  local secs=$((SECONDS - t0))
  say "$name: $pass passed, $fail failed, $((skip + todo)) skipped ($((secs / 60))m$((secs % 60))s)"

  P=$((P + pass)) F=$((F + fail)) S=$((S + skip + todo))
}

# --- layers ----------------------------------------------------------------------

if [[ $mode == all || $mode == unit ]]; then
  run_layer unit test:unit test/unit
fi

if [[ $mode == all || $mode == kernel ]]; then
  if (( EUID == 0 )); then
    run_layer kernel test:kernel test/kernel test/labs.test.ts
  else
    say "kernel: skipped (needs root)"
  fi
fi

# What of IPVS, dummy links and netem this kernel lacks (empty: it has them all).
kernel_lacks() {
  local ns=kt-vmprobe-$$ lacks=()
  ip netns add "$ns" 2>/dev/null || { echo "network namespaces"; return; }
  ip netns exec "$ns" ip link add kt-probe-d type dummy 2>/dev/null || lacks+=(dummy)
  if ip netns exec "$ns" ip link add kt-probe-a type veth peer name kt-probe-b 2>/dev/null; then
    ip netns exec "$ns" tc qdisc add dev kt-probe-a root netem delay 1ms 2>/dev/null || lacks+=(netem)
  fi
  ip netns del "$ns"
  modprobe -q ip_vs 2>/dev/null
  [[ -e /proc/net/ip_vs ]] || lacks+=(IPVS)
  echo "${lacks[*]}"
}

if [[ $mode == vm || ($mode == all && ${KLAB_TEST_VM:-} != 0) ]]; then
  if (( EUID != 0 )); then
    say "vm: skipped (needs root)"
  elif [[ $mode == vm || ${KLAB_TEST_VM:-} == 1 ]]; then
    run_layer vm test:kernel-vm scripts/test-kernel-vm.sh
  else
    lacks=$(kernel_lacks)
    if [[ -n $lacks ]]; then
      say "vm: this kernel lacks $lacks; running those tests in a stock kernel under qemu"
      run_layer vm test:kernel-vm scripts/test-kernel-vm.sh
    else
      say "vm: not needed (this kernel has IPVS, dummy links and netem: the kernel layer ran those tests)"
    fi
  fi
fi

finish
