#!/usr/bin/env bash
# The stock-kernel VM layer (this is what `npm run test:kernel-vm` runs): the kernel tests that
# need what the development/CI kernel lacks (IPVS, dummy links, netem), run as root inside
# Debian's stock kernel under qemu, on this host's own files (scripts/vm-run.ts).
#
#   sudo npm run test:kernel-vm         (= sudo bash scripts/test-kernel-vm.sh)
#
#   1. bash scripts/setup.sh (installs/builds only what is missing), plus ipvsadm if missing;
#   2. bundles each test file with esbuild into dist/vm-tests/ (one .mjs per file, src/ and
#      test/lib inlined, node_modules external, inline source maps): under software emulation
#      tap's TypeScript loader costs about two minutes per file, a bundle starts in seconds;
#   3. boots the VM (scripts/vm-run.ts, which installs the kernel and qemu when missing) and
#      runs the bundles there one after the other, each with plain `node` (a tap test file is
#      its own TAP producer), as one TAP stream in tap's layout: `# Subtest: FILE`, the file's
#      TAP indented, `ok N - FILE`, and a final `# { total: …, pass: …, fail: …, skip: … }`;
#   4. fails if the VM did not boot, if a test failed, or if a test was skipped in the VM for a
#      missing kernel feature or tool (its whole point is that they run there).
#
# Output: the VM's console (the TAP stream) on stdout, then the verdict: the kernel that ran
# the tests, the boot and total times, a last `# { … }` line and, as the very last line,
#   N passed, N failed, N skipped
# Exit status: 0 only when every test that should run in the VM passed there.
# Options: --output-file=F (also write the output to F), --reporter=… (ignored: the stream is
# always raw TAP), both for scripts/test.sh. Environment: KLAB_VM_TIMEOUT (seconds for the whole
# VM run, default 840), KLAB_VM_ARGS (extra scripts/vm-run.ts options, e.g. "--accel tcg").
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root" || exit 1

# The files, in order. A file may have a --grep pattern (tap's, on its top-level test names):
# services.test.ts runs only its ipvs part here, its iptables/nftables parts run on the host.
VM_TESTS=(
  test/kernel/kernel-features.test.ts
  test/kernel/proxy-ipvs-partial.test.ts
  test/kernel/services.test.ts
)
declare -A VM_GREP=(
  [test/kernel/services.test.ts]='ipvs|IPVS'
)
# Skips that must not happen in the VM: a missing kernel feature or tool, root, the build.
FORBIDDEN_SKIP='IPVS|ip_vs|ipvsadm|dummy|netem|ipset|kernel|needs root|not installed|not built|lacks'

BUNDLES=dist/vm-tests

# =================================================================================================
# Inside the VM: bash scripts/test-kernel-vm.sh --in-vm BUNDLE::NAME::GREP…

if [[ ${1:-} == --in-vm ]]; then
  shift
  # What a klab host needs and a modular stock kernel does not load by itself: the node
  # namespaces' net.bridge.bridge-nf-call-iptables (see docs/architecture.md).
  modprobe br_netfilter || echo "# modprobe br_netfilter failed: labs will refuse to start"
  # The per-file timeout tap's runner would apply (package.json "tap": {"timeout": …}).
  export TAP_TIMEOUT=${TAP_TIMEOUT:-600}
  tmp=$(mktemp -d)
  echo "TAP version 14"
  n=0 T=0 P=0 F=0 S=0 TD=0 rc=0
  for spec in "$@"; do
    bundle=${spec%%::*} rest=${spec#*::}
    name=${rest%%::*} grep=${rest#*::}
    n=$((n + 1))
    echo "# Subtest: $name"
    out=$tmp/$n.tap
    start=$(date +%s%N)
    if [[ -n $grep ]]; then
      TAP_GREP=$grep node --enable-source-maps "$bundle" | tee "$out" | sed 's/^/    /'
    else
      node --enable-source-maps "$bundle" | tee "$out" | sed 's/^/    /'
    fi
    code=${PIPESTATUS[0]}
    ms=$((($(date +%s%N) - start) / 1000000))
    summary=$(grep -E '^# \{ *total: *[0-9]+' "$out" | tail -n 1)
    t=0 p=0 f=0 s=0 td=0
    if [[ -n $summary ]]; then
      for k in total:t pass:p fail:f skip:s todo:td; do
        v=$(sed -nE "s/.*[{,] *${k%%:*}: *([0-9]+).*/\1/p" <<<"$summary")
        printf -v "${k#*:}" '%d' "${v:-0}"
      done
    fi
    if [[ -z $summary ]] || (( code != 0 && f == 0 )); then
      echo "    # $name: exit $code without a failing test reported (crashed?): counted as 1 failure"
      t=$((t + 1)) f=$((f + 1))
    fi
    T=$((T + t)) P=$((P + p)) F=$((F + f)) S=$((S + s)) TD=$((TD + td))
    if (( f > 0 || code != 0 )); then
      echo "not ok $n - $name # time=${ms}ms"
      rc=1
    else
      echo "ok $n - $name # time=${ms}ms"
    fi
    echo
  done
  echo "1..$n"
  echo "# { total: $T, pass: $P, fail: $F, skip: $S, todo: $TD }"
  rm -rf "$tmp"
  exit "$rc"
fi

# =================================================================================================
# On the host

say() { echo "klab test-kernel-vm: $*" >&2; }
out_copy=""
for a in "$@"; do
  case $a in
    --output-file=*) out_copy=${a#--output-file=} ;;
    --reporter=* | --reporter) ;;
    -h | --help) sed -n '2,27p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "usage: bash scripts/test-kernel-vm.sh [--output-file=F]" >&2; exit 2 ;;
  esac
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/klab-vm-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
log=$tmp/out
: >"$log"
# Everything that goes to stdout from here on is also kept in $log (and in --output-file).
emit() { tee -a "$log" ${out_copy:+"$out_copy"}; }
[[ -n $out_copy ]] && : >"$out_copy"

verdict() { # pass fail skip todo: the last `# {` line and the summary line, as the last lines
  printf '# { total: %d, pass: %d, fail: %d, skip: %d, todo: %d }\n' $(($1 + $2 + $3 + $4)) "$1" "$2" "$3" "$4" | emit
  echo "$1 passed, $2 failed, $(($3 + $4)) skipped" | emit
}

if (( EUID != 0 )); then
  say "needs root (it boots a VM and installs packages): sudo npm run test:kernel-vm"
  verdict 0 1 0 0
  exit 3
fi

start=$(date +%s)

# --- 1. setup ---------------------------------------------------------------------------------

bash scripts/setup.sh >&2 || { say "setup failed (scripts/setup.sh)"; verdict 0 1 0 0; exit 1; }
if ! command -v ipvsadm >/dev/null 2>&1; then
  say "installing ipvsadm (the IPVS tests drive it)"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get install -y -qq --no-install-recommends ipvsadm || { apt-get update -qq && apt-get install -y -qq --no-install-recommends ipvsadm; }; } >&2 \
    || { say "apt-get install ipvsadm failed"; verdict 0 1 0 0; exit 1; }
fi

# --- 2. bundles -------------------------------------------------------------------------------

specs=()
rm -rf "$BUNDLES"
for f in "${VM_TESTS[@]}"; do
  if [[ ! -f $f ]]; then
    say "$f does not exist (yet): not run"
    continue
  fi
  b=$BUNDLES/${f%.ts}.mjs
  if ! node_modules/.bin/esbuild "$f" --bundle --platform=node --format=esm --target=node20 --packages=external \
      --sourcemap=inline --log-level=warning "--outfile=$b" >&2; then
    say "esbuild could not bundle $f"
    verdict 0 1 0 0
    exit 1
  fi
  specs+=("$b::$f::${VM_GREP[$f]:-}")
done
if (( ${#specs[@]} == 0 )); then
  say "none of the VM's test files exist: ${VM_TESTS[*]}"
  verdict 0 1 0 0
  exit 1
fi
say "bundled ${#specs[@]} test file(s) into $BUNDLES/ ($(( $(date +%s) - start )) s since start)"

# --- 3. the VM ----------------------------------------------------------------------------------

timeout=$(node -p 'require("./package.json").tap?.timeout ?? 30' 2>/dev/null || echo 600)
# shellcheck disable=SC2086 # KLAB_VM_ARGS is a list of options
TS_NODE_TRANSPILE_ONLY=1 node --import @isaacs/ts-node-temp-fork-for-pr-2009/import scripts/vm-run.ts \
  --timeout "${KLAB_VM_TIMEOUT:-840}" --env "TAP_TIMEOUT=$timeout" ${KLAB_VM_ARGS:-} -- bash scripts/test-kernel-vm.sh --in-vm "${specs[@]}" \
  2> >(tee "$tmp/vm-run.err" >&2) | emit
vm_rc=${PIPESTATUS[0]}
wait # for the stderr tee
elapsed=$(( $(date +%s) - start ))

# --- 4. verdict ---------------------------------------------------------------------------------

kernel=$(sed -nE 's/.*KLAB-VM-KERNEL ([^ ]+) .*/\1/p' "$log" | head -n 1)
boot=$(sed -nE 's/^vm-run: kernel .* booted in ([0-9.]+ s) \(guest uptime [^,]*, ([a-z]+),.*/\1 (\2)/p' "$tmp/vm-run.err" | head -n 1)
summary=$(grep -E '^# \{ *total: *[0-9]+' "$log" | tail -n 1)
pass=0 fail=0 skip=0 todo=0
if [[ -n $summary ]]; then
  for k in pass fail skip todo; do
    v=$(sed -nE "s/.*[{,] *$k: *([0-9]+).*/\1/p" <<<"$summary")
    printf -v "$k" '%d' "${v:-0}"
  done
fi

rc=0
if [[ -z $kernel ]]; then
  say "FAILED: the VM did not boot or did not start the tests (scripts/vm-run.ts exit $vm_rc; its reason is above)"
  fail=$((fail + 1)) rc=1
elif [[ -z $summary ]]; then
  say "FAILED: no TAP summary from the VM (scripts/vm-run.ts exit $vm_rc: timed out or crashed; see above)"
  fail=$((fail + 1)) rc=1
else
  # Skips for a missing feature or tool inside the VM count as failures.
  # (`filter: …` skips are the --grep above: those tests run on the host.)
  bad=$(grep -E '^ *ok [0-9]+ .*# SKIP' "$log" | grep -vE '# SKIP filter( out)?:' | grep -E "# SKIP[^#]*($FORBIDDEN_SKIP)" || true)
  if [[ -n $bad ]]; then
    nbad=$(grep -c . <<<"$bad")
    say "FAILED: $nbad test(s) were skipped inside the VM, where they must run:"
    sed 's/^ */  /' <<<"$bad" >&2
    fail=$((fail + nbad)) skip=$((skip > nbad ? skip - nbad : 0)) rc=1
  fi
  if (( vm_rc != 0 )); then
    rc=1
    (( fail == 0 )) && { say "FAILED: scripts/vm-run.ts exited $vm_rc with no failing test reported"; fail=1; }
  fi
  (( fail > 0 )) && rc=1
fi

say "kernel ${kernel:-(none: did not boot)}, boot ${boot:-n/a}, total $((elapsed / 60))m$((elapsed % 60))s; VM suite: $pass passed, $fail failed, $((skip + todo)) skipped"
verdict "$pass" "$fail" "$skip" "$todo"
exit "$rc"
