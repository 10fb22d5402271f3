// Services benchmark: kube-proxy's iptables and nftables modes (src/plan/proxy/*) programmed for
// real into one node's network namespace, at 1k, 5k and 10k ClusterIP Services × 3 endpoints.
//
// Run (as root), from the repository root:
//
//   npm run bench:services -- [--sizes 1000,5000,10000] [--json]
//
// which is exactly:
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @isaacs/ts-node-temp-fork-for-pr-2009/import scripts/bench-services.ts [options]
//
// (see scripts/bench-bringup.ts for why this runner). Nothing needs to be built: the renderers
// are imported from src/ directly.
//
// What one invocation does, for each size N and each mode (iptables, nft):
//   1. generates N ClusterIP Services "bench/svc-NNNNN" (ClusterIPs from 10.96.0.0/12, one TCP
//      port 80 → 3 endpoints on pod IPs 10.244.K.H:8080 spread over 20 nodes, node1 included) for
//      node1 (192.168.56.11, clusterCIDR 10.244.0.0/16). The last Service, "bench/zz-probe", has
//      a single endpoint, the probe pod of step 5: last in KUBE-SERVICES, so the first packet
//      to it walks every other Service's rule in iptables mode;
//   2. full sync, --reps times, each in a fresh namespace `<prefix>-<pid>-<mode>-<N>-<rep>`
//      (kept until the size and mode are done: deleting a namespace with 150k rules keeps a
//      kernel worker busy for seconds, and every measurement first waits for the host to be
//      quiet, ≤ 10 % busy over 300 ms),
//      exactly as KubeProxy (src/agent/proxy.ts) syncs a node: planProxySync(mode, node, no
//      previous state, Services, full) (src/plan/proxy/sync.ts; timed: render), then its command
//      `ip netns exec NS …` with the input on stdin (timed: apply) — iptables: `iptables-restore`
//      without --noflush, the jumps from the built-in chains included (the text `klab up`
//      loads); nft: `nft -f -` with the whole table. The rule / chain counts are checked
//      afterwards (untimed);
//   3. one-Service change, --reps times, in the last namespace of step 2: the endpoints of the
//      Service in the middle of the list change (one endpoint replaced by a new pod IP; every
//      Service passed as a new object, as the runtime resolves them anew): planProxySync with the
//      state the previous sync left (render), its command (apply: `iptables-restore --noflush`;
//      nft: the transaction as one line to the namespace's long-running `nft -i`, as KubeProxy
//      sends it, timed from the write to nft's answer — the first rep also starts that nft);
//      nft leaves the gone endpoint's chain for a later transaction, which is then run and
//      timed apart ("later cleanup": `nft -f -`, as KubeProxy runs a transaction that makes
//      nft list the table first). Then one more full sync of the loaded namespace
//      (the periodic resync).
//      Every size is measured; the target is at 10k;
//   4. naive reference, at --naive-size (default 1000) in iptables mode only: the full ruleset
//      as one `iptables -t TABLE -N/-A …` process per chain / rule (a shell script run inside
//      the namespace, so `ip netns exec` is paid once), timed against iptables-restore's apply;
//   5. first-packet latency, at --latency-sizes (default: 1000 and 10000 when measured, else
//      the smallest and largest size), in the namespace of step 3: a pod namespace
//      `<prefix>-<pid>-pod-<mode>-<N>` joined to the node by a veth (node 10.244.255.1/24, pod
//      10.244.255.10/24) runs a small Node.js TCP server on :8080; one long-running Node.js
//      client in the node namespace opens --latency-samples fresh TCP connections (after 20
//      warm-up ones) to the probe Service's ClusterIP:80 one after the other, timing each
//      connect() → 'connect' with process.hrtime (the SYN is DNAT-ed by the rules, the SYN-ACK
//      comes back: a new conntrack entry per connection, each from a new source port). The same
//      client against the pod IP in a pair of namespaces without any rule is the baseline.
// Then prints markdown tables (or --json) with medians over --reps and PASS/MISS against the
// targets: 10k full sync ≤ 3 s in both modes, one-Service change at 10k ≤ 100 ms; the nft
// first-packet latency should stay flat from the smallest to the largest latency size
// (reported as "flat" when its median grows by at most 25 % + 20 µs; informational).
//
// Timings are wall-clock: render = planProxySync producing the text (chain-name hashes are
// remembered between syncs, as kube-proxy's are, so the first rep of a size pays them), apply =
// spawn of `ip netns exec … iptables-restore|nft` until it exits (large loads under
// `env LD_PRELOAD=libjemalloc.so.2`, as KubeProxy runs them; ~2-5 ms of process start-up
// included). Duration: 5–10 min on 2 CPUs, most of it the naive reference and the latency runs;
// use --reps 1 or --sizes for a shorter run.
// All traffic stays inside the bench's namespaces; every namespace and process it created is
// removed on exit, on failure and on SIGINT/SIGTERM/SIGHUP.
//
// Options:
//   --sizes LIST            Service counts (default 1000,5000,10000)
//   --modes LIST            iptables,nft (default both)
//   --reps N                repetitions of each timed operation, median reported (default 3)
//   --naive-size N          size of the naive one-process-per-rule reference (default 1000;
//                           0 skips it; skipped too when N is not among --sizes)
//   --naive-reps N          repetitions of the naive reference (default 1: thousands of processes)
//   --latency-sizes LIST    sizes to measure first-packet latency at (see 5; "none" skips)
//   --latency-samples N     timed connects per measurement (default 200)
//   --json                  print the results as JSON on stdout (progress stays on stderr)
//   --ns-prefix NAME        prefix of the namespaces it creates (default kt-bsvc)
//
// Exit status: 0 when every target that was measured is met, 1 when one is missed, 3 when the
// bench itself failed, 130/143 on SIGINT/SIGTERM (after cleanup).
import { $, minimist } from "zx";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, release, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";
import { endpointChainName, endpointString, iptablesArgv, iptablesJumps, renderIptables, restoreText, serviceChainNames } from "../src/plan/proxy/iptables.js";
import { endpointChainNameBase, nftablesChainNames, nftListsTableFirst, renderNftables } from "../src/plan/proxy/nftables.js";
import { planProxySync, type ProxySyncState } from "../src/plan/proxy/sync.js";
import { NftSession } from "../src/kernel/nft-session.js";
import { servicePortName, type EndpointModel, type ProxyNode, type ServiceModel } from "../src/model/services.js";

// ---------------------------------------------------------------------------------------------
// options

const args = minimist(process.argv.slice(2), {
  boolean: ["json", "help"],
  string: ["sizes", "modes", "reps", "naive-size", "naive-reps", "latency-sizes", "latency-samples", "ns-prefix"],
  alias: { h: "help" },
  default: { sizes: "1000,5000,10000", modes: "iptables,nft", reps: "3", "naive-size": "1000", "naive-reps": "1", "latency-samples": "200", "ns-prefix": "kt-bsvc" },
});
if (args.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  console.log(text.slice(0, text.findIndex((l) => l.startsWith("import "))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
function fail(msg: string): never {
  console.error(`bench-services: ${msg}`);
  process.exit(2);
}
function intOpt(name: string, min: number, max: number): number {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) fail(`--${name} must be an integer from ${min} to ${max}`);
  return v;
}
function intList(name: string, value: string, min: number, max: number): number[] {
  const xs = value.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  if (!xs.length || xs.some((x) => !Number.isInteger(x) || x < min || x > max)) fail(`--${name} must be a comma-separated list of integers from ${min} to ${max}`);
  return [...new Set(xs)].sort((a, b) => a - b);
}

type Mode = "iptables" | "nft";
const SIZES = intList("sizes", String(args.sizes), 2, 100_000);
const MODES = String(args.modes).split(",").map((s) => s.trim()).filter(Boolean) as Mode[];
if (!MODES.length || MODES.some((m) => m !== "iptables" && m !== "nft")) fail("--modes must be iptables, nft or iptables,nft");
const REPS = intOpt("reps", 1, 20);
const NAIVE_SIZE = intOpt("naive-size", 0, 100_000);
const NAIVE_REPS = intOpt("naive-reps", 1, 10);
const LATENCY_SAMPLES = intOpt("latency-samples", 10, 100_000);
const LATENCY_WARMUP = 20;
const LATENCY_SIZES: number[] = (() => {
  const v = args["latency-sizes"] === undefined ? undefined : String(args["latency-sizes"]);
  if (v === "none") return [];
  if (v !== undefined) {
    const xs = intList("latency-sizes", v, 2, 100_000);
    const missing = xs.filter((x) => !SIZES.includes(x));
    if (missing.length) fail(`--latency-sizes ${missing.join(",")} not among --sizes`);
    return xs;
  }
  const def = [1000, 10000].filter((x) => SIZES.includes(x));
  return def.length === 2 ? def : [...new Set([SIZES[0], SIZES[SIZES.length - 1]])];
})();
const JSON_OUT = Boolean(args.json);
const NS_PREFIX = String(args["ns-prefix"]);
if (!/^[a-z][a-z0-9-]{0,15}$/.test(NS_PREFIX)) fail("--ns-prefix must be a short lowercase name");

const TARGET_FULL_MS = 3000;
const TARGET_CHANGE_MS = 100;
const TARGET_AT = 10_000;
const FLAT_FACTOR = 1.25;
const FLAT_SLACK_US = 20;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
$.verbose = false;
$.quiet = true;
$.cwd = repo;

const say = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const now = () => performance.now();
const tail = (text: string, n = 20) => text.trimEnd().split("\n").slice(-n).join("\n");
class BenchError extends Error {}

// ---------------------------------------------------------------------------------------------
// the Services

const NODE: ProxyNode = { name: "node1", ip: "192.168.56.11", clusterCIDR: "10.244.0.0/16" };
const NAMESPACE = "bench";
const PEER_NODES = 20; // endpoints spread over node1..node20, pods of nodeK in 10.244.(K-1).0/24
const PODS_PER_NODE = 250;
const PROBE_POD_IP = "10.244.255.10";
const PROBE_NODE_IP = "10.244.255.1"; // node side of the probe pod's veth
const PROBE_PORT = 8080;

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}
/** ClusterIP of Service i: 10.96.0.16 + i (10.96.0.0/12 has room for a million). */
const clusterIPOf = (i: number) => ipv4(((10 << 24) | (96 << 16)) + 16 + i);

/** Endpoint number g (Service i has 3i, 3i+1, 3i+2: three different nodes). */
function endpointOf(g: number): EndpointModel {
  const k = g % PEER_NODES;
  const host = 2 + (Math.floor(g / PEER_NODES) % PODS_PER_NODE);
  return { ip: `10.244.${k}.${host}`, port: 8080, node: `node${k + 1}`, pod: `${NAMESPACE}/pod-${k}-${host}`, ready: true };
}

function service(name: string, clusterIP: string, endpoints: EndpointModel[]): ServiceModel {
  return {
    namespace: NAMESPACE,
    name,
    type: "ClusterIP",
    clusterIP,
    ports: [{ name: "", protocol: "TCP", port: 80 }],
    sessionAffinity: "None",
    affinityTimeoutSeconds: 10800,
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    publishNotReadyAddresses: false,
    endpoints: { "": endpoints },
  };
}

/** N Services; the last one is the probe Service (one endpoint: the probe pod). */
function generateServices(n: number): ServiceModel[] {
  const out: ServiceModel[] = [];
  for (let i = 0; i < n - 1; i++) out.push(service(`svc-${String(i).padStart(5, "0")}`, clusterIPOf(i), [0, 1, 2].map((j) => endpointOf(3 * i + j))));
  out.push(service("zz-probe", clusterIPOf(n - 1), [{ ip: PROBE_POD_IP, port: PROBE_PORT, node: NODE.name, pod: `${NAMESPACE}/probe`, ready: true }]));
  return out;
}

const changedIndex = (n: number) => Math.floor((n - 1) / 2);
/** The state after change number r (1-based): Service changedIndex(n) has its third endpoint
 * replaced by a new pod IP 10.244.254.(9 + r). Every Service is a new object, as klab's runtime
 * resolves them anew for each sync (src/agent/main.ts): KubeProxy has to compare them all. */
function changeService(services: ServiceModel[], n: number, r: number): { next: ServiceModel[]; key: string; newEndpoint: EndpointModel } {
  const i = changedIndex(n);
  const old = services[i];
  const newEndpoint: EndpointModel = { ip: `10.244.254.${9 + r}`, port: 8080, node: "node2", pod: `${NAMESPACE}/moved-${r}`, ready: true };
  const eps = old.endpoints[""];
  const next = JSON.parse(JSON.stringify(services)) as ServiceModel[];
  next[i] = { ...next[i], endpoints: { "": [eps[0], eps[1], newEndpoint] } };
  return { next, key: `${old.namespace}/${old.name}`, newEndpoint };
}

// ---------------------------------------------------------------------------------------------
// processes and namespaces, with cleanup

const live = new Set<ChildProcess>();
const namespaces = new Set<string>();
let workDir: string | undefined;
let cleaning: Promise<void> | undefined;
let interrupted: NodeJS.Signals | undefined;

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number }

/** Spawns one command (own process group, so that it and its children can be stopped by its id),
 * feeds `input` on stdin, times spawn → exit. */
function run(cmd: string, argv: string[], input?: string): Promise<RunResult> {
  return new Promise((res, rej) => {
    const t0 = now();
    const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"], detached: true });
    live.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    child.stdin!.on("error", () => undefined); // EPIPE if the command dies early: its exit code says why
    child.on("error", (e) => {
      live.delete(child);
      rej(e);
    });
    child.on("close", (code, signal) => {
      const ms = now() - t0;
      live.delete(child);
      res({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString(), ms });
    });
    child.stdin!.end(input ?? "");
  });
}

function stop(child: ChildProcess) {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, "SIGTERM"); // its process group: the child and what it started
  } catch {
    /* already gone */
  }
}

async function must(cmd: string, argv: string[], what: string, input?: string): Promise<RunResult> {
  const r = await run(cmd, argv, input);
  checkInterrupted();
  if (r.code !== 0) throw new BenchError(`${what} failed (exit ${r.code ?? r.signal}): ${cmd} ${argv.join(" ")}\n${tail(r.stderr + r.stdout)}`);
  return r;
}

async function addNetns(name: string): Promise<string> {
  namespaces.add(name); // before creating it: cleanup tolerates a namespace that does not exist
  await must("ip", ["netns", "add", name], "creating a namespace");
  await must("ip", ["-n", name, "link", "set", "lo", "up"], "bringing lo up");
  return name;
}

/** nft mode: each node namespace's long-running `nft -i`, as KubeProxy keeps one per node for
 * its small transactions (src/kernel/nft-session.ts). */
const nftSessions = new Map<string, NftSession>();

async function delNetns(name: string): Promise<void> {
  await nftSessions.get(name)?.close();
  nftSessions.delete(name);
  const r = await run("ip", ["netns", "del", name]);
  if (r.code === 0 || /No such file/.test(r.stderr)) namespaces.delete(name);
  else say(`warning: ip netns del ${name}: ${r.stderr.trim()}`);
}

/** CPU time (user+system+irq, all CPUs) and total, from /proc/stat. */
function cpuTimes(): { busy: number; total: number } {
  const f = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/** Waits until the host is quiet (≤ 10 % busy over 300 ms; at most 20 s): deleting a namespace
 * that holds 150k rules hands the kernel seconds of cleanup work (cleanup_net, in a kworker),
 * which would otherwise be measured as part of the next sync. */
async function settle(): Promise<void> {
  const t0 = now();
  for (;;) {
    const a = cpuTimes();
    await new Promise((r) => setTimeout(r, 300));
    const b = cpuTimes();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy <= 0.1) return;
    if (now() - t0 > 20_000) {
      say(`warning: the host stayed ${(busy * 100).toFixed(0)} % busy: timings include other work`);
      return;
    }
  }
}

async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of live) stop(c);
    // give them a moment to exit before their namespaces go
    for (let i = 0; i < 20 && [...live].some((c) => c.exitCode === null && c.signalCode === null); i++) await new Promise((r) => setTimeout(r, 50));
    for (const ns of [...namespaces]) await delNetns(ns);
    if (namespaces.size) say(`cleanup: namespace(s) left: ${[...namespaces].join(" ")} (ip netns del NAME)`);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (interrupted) {
      say(`${sig} again: still cleaning up, please wait`);
      return;
    }
    interrupted = sig;
    say(`${sig}: stopping and cleaning up`);
    cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  });
}
function checkInterrupted() {
  if (interrupted) throw new BenchError(`interrupted by ${interrupted}`);
}

const nsName = (...parts: (string | number)[]) => [NS_PREFIX, process.pid, ...parts].join("-");
const inNs = (ns: string, cmd: string, ...argv: string[]): [string, string[]] => ["ip", ["netns", "exec", ns, cmd, ...argv]];

// ---------------------------------------------------------------------------------------------
// iptables: the one-time jumps

/** iptablesJumps() as one iptables-restore --noflush input: the `-N` entries become chain
 * declarations (on a fresh node they create the chain), the `-I` entries stay as they are, in
 * order, per table (each -I prepends, exactly as the separate commands do). */
function jumpsRestoreText(jumps: string[]): string {
  const tables = new Map<string, { chains: string[]; rules: string[] }>();
  for (const line of jumps) {
    const m = /^-t (\S+) (-[NI]) (.*)$/.exec(line);
    if (!m) throw new BenchError(`unexpected jumps entry: ${line}`);
    const [, t, op, rest] = m;
    if (!tables.has(t)) tables.set(t, { chains: [], rules: [] });
    if (op === "-N") tables.get(t)!.chains.push(`:${rest.trim()} - [0:0]`);
    else tables.get(t)!.rules.push(`-I ${rest}`);
  }
  return [...tables].map(([t, { chains, rules }]) => [`*${t}`, ...chains, ...rules, "COMMIT", ""].join("\n")).join("");
}

let jumpsBatched: boolean | undefined; // learnt on the first namespace

async function installJumps(ns: string): Promise<{ ms: number; batched: boolean }> {
  const jumps = iptablesJumps();
  if (jumpsBatched !== false) {
    const r = await run(...inNs(ns, "iptables-restore", "--noflush"), jumpsRestoreText(jumps));
    checkInterrupted();
    if (r.code === 0) {
      jumpsBatched = true;
      return { ms: r.ms, batched: true };
    }
    if (jumpsBatched === true) throw new BenchError(`iptables-restore of the jumps failed in ${ns}:\n${tail(r.stderr)}`);
    say(`batched jumps refused by iptables-restore (${r.stderr.trim().split("\n")[0]}); falling back to one iptables per entry`);
    jumpsBatched = false;
    // a failed restore commits nothing: the namespace is still fresh
  }
  const t0 = now();
  for (const j of jumps) await must(...inNs(ns, "iptables", ...iptablesArgv(j)), `iptables ${j}`);
  return { ms: now() - t0, batched: false };
}

// ---------------------------------------------------------------------------------------------
// checks (untimed)

const countLines = (text: string, re: RegExp) => text.split("\n").reduce((n, l) => n + (re.test(l) ? 1 : 0), 0);

/** The nat and filter rules iptables-save shows must be those of the restore text + jumps. */
async function checkIptables(ns: string, expectedRestore: string, what: string) {
  const r = await must(...inNs(ns, "iptables-save"), "iptables-save");
  const got = { chains: 0, rules: 0 };
  const want = { chains: 0, rules: 0 };
  for (const table of ["nat", "filter"]) {
    const section = (text: string) => {
      const i = text.indexOf(`*${table}\n`);
      return i < 0 ? "" : text.slice(i, text.indexOf("\nCOMMIT", i));
    };
    const saved = section(r.stdout);
    got.chains += countLines(saved, /^:KUBE-/);
    got.rules += countLines(saved, /^-A KUBE-/);
    const exp = section(expectedRestore);
    want.chains += countLines(exp, /^:KUBE-/);
    want.rules += countLines(exp, /^-A KUBE-/);
  }
  // the jumps add KUBE-PROXY-CANARY to nat and filter (a full sync's text declares it itself)
  for (const table of ["nat", "filter"]) {
    const i = expectedRestore.indexOf(`*${table}\n`);
    const body = i < 0 ? "" : expectedRestore.slice(i, expectedRestore.indexOf("\nCOMMIT", i));
    if (!/^:KUBE-PROXY-CANARY /m.test(body)) want.chains += 1;
  }
  if (got.chains !== want.chains || got.rules !== want.rules) {
    throw new BenchError(`${what}: iptables-save in ${ns} shows ${got.chains} KUBE chains / ${got.rules} KUBE rules, expected ${want.chains} / ${want.rules}`);
  }
  return got;
}

async function checkNft(ns: string, services: ServiceModel[], what: string) {
  // (the namespace holds only the kube-proxy table; `nft list chains` takes a family, not a table)
  const r = await must(...inNs(ns, "nft", "list", "chains", "ip"), "nft list chains");
  const chains = countLines(r.stdout, /^\s*chain /);
  const want = nftablesChainNames(renderNftables(NODE, services)).length;
  if (chains !== want) throw new BenchError(`${what}: nft lists ${chains} chains in ${ns}, expected ${want}`);
  return { chains };
}

// ---------------------------------------------------------------------------------------------
// measurements

interface Timing { renderMs: number; applyMs: number; totalMs: number }
interface FullSync extends Timing { bytes: number; lines: number }
interface Change extends Timing { bytes: number; lines: number; cleanupMs?: number }
interface Latency { samples: number; p50Us: number; p90Us: number; p99Us: number; meanUs: number; minUs: number; maxUs: number }
interface SizeModeResult {
  n: number;
  mode: Mode;
  fullSync: { reps: FullSync[]; median: Timing; bytes: number; lines: number; check: Record<string, number> };
  /** One full sync more, on the node as the changes left it (the periodic resync). */
  resync: Timing;
  change: { reps: Change[]; median: Timing; bytes: number; lines: number };
  latency?: Latency;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const medianTiming = (xs: Timing[]): Timing => ({
  renderMs: median(xs.map((x) => x.renderMs)),
  applyMs: median(xs.map((x) => x.applyMs)),
  totalMs: median(xs.map((x) => x.totalMs)),
});
const lineCount = (s: string) => countLines(s, /./);

const planMode = (mode: Mode) => (mode === "iptables" ? "iptables" : "nftables");

/** One sync exactly as KubeProxy (src/agent/proxy.ts) does it: planProxySync (timed: render),
 * then its command in the namespace (timed: apply). */
async function syncRep(mode: Mode, ns: string, prev: ProxySyncState | undefined, services: ServiceModel[], full: boolean, what: string) {
  const t0 = now();
  const plan = planProxySync(planMode(mode), NODE, prev, services, full);
  const renderMs = now() - t0;
  let r: { ms: number };
  if (plan.input && mode === "nft" && !plan.full && !nftListsTableFirst(plan.input)) {
    // As KubeProxy applies a partial sync in nftables mode: one line to the node's nft -i.
    let session = nftSessions.get(ns);
    if (!session) nftSessions.set(ns, (session = new NftSession(ns)));
    const t1 = now();
    await session.apply(plan.input).catch((e: Error) => { throw new BenchError(`${what} in ${ns}: ${e.message}`); });
    r = { ms: now() - t1 };
  } else r = plan.input ? await must(...inNs(ns, plan.argv[0], ...plan.argv.slice(1)), what, plan.input) : { ms: 0 };
  return { plan, t: { renderMs, applyMs: r.ms, totalMs: renderMs + r.ms, bytes: Buffer.byteLength(plan.input), lines: lineCount(plan.input) } };
}

async function fullSyncRep(mode: Mode, services: ServiceModel[], ns: string): Promise<{ t: FullSync; text: string; state: ProxySyncState }> {
  const { plan, t } = await syncRep(mode, ns, undefined, services, true, `${mode} full sync`);
  return { t, text: plan.input, state: plan.next };
}

async function changeRep(mode: Mode, n: number, ns: string, prev: ProxySyncState, r: number): Promise<{ t: Change; next: ProxySyncState }> {
  const { next, newEndpoint } = changeService(prev.services as ServiceModel[], n, r);
  const { plan, t } = await syncRep(mode, ns, prev, next, false, `${mode} one-Service change`);

  // check: the new endpoint's chain DNATs to it (untimed)
  const svc = next[changedIndex(n)];
  const port = svc.ports[0];
  if (mode === "iptables") {
    const sep = endpointChainName(servicePortName(svc, port), "tcp", endpointString(newEndpoint));
    const s = await must(...inNs(ns, "iptables", "-t", "nat", "-S", sep), "iptables -S of the new endpoint chain");
    if (!s.stdout.includes(`--to-destination ${endpointString(newEndpoint)}`)) throw new BenchError(`after the change, ${sep} does not DNAT to ${endpointString(newEndpoint)}:\n${s.stdout}`);
    const svcChain = serviceChainNames(servicePortName(svc, port), "tcp").svc;
    const sc = await must(...inNs(ns, "iptables", "-t", "nat", "-S", svcChain), "iptables -S of the changed service chain");
    if (!sc.stdout.includes(sep)) throw new BenchError(`after the change, ${svcChain} does not jump to ${sep}`);
  } else {
    const chain = `endpoint-${endpointChainNameBase(svc, port, newEndpoint)}`;
    const s = await must(...inNs(ns, "nft", "list", "chain", "ip", "kube-proxy", chain), "nft list chain of the new endpoint");
    if (!s.stdout.includes(`dnat to ${newEndpoint.ip}:${newEndpoint.port}`)) throw new BenchError(`after the change, ${chain} does not DNAT to ${newEndpoint.ip}`);
  }
  // What the change left for later (nft: the gone endpoint's chain), as KubeProxy runs it a
  // second later: timed apart, it is not on the change's path.
  if (plan.next.nftPending?.length) {
    const c = await syncRep(mode, ns, plan.next, next, false, `${mode} deferred cleanup`);
    return { t: { ...t, cleanupMs: c.t.totalMs }, next: c.plan.next };
  }
  return { t, next: plan.next };
}

// ---- first-packet latency ------------------------------------------------------------------

const SERVER_JS = `
const net = require("net");
const srv = net.createServer((s) => { s.on("error", () => {}); s.on("end", () => s.destroy()); s.resume(); });
srv.listen(${PROBE_PORT}, "0.0.0.0", () => process.stdout.write("ready\\n"));
`;

const CLIENT_JS = `
const net = require("net");
const host = process.env.BSVC_HOST, port = Number(process.env.BSVC_PORT);
const warm = Number(process.env.BSVC_WARMUP), n = Number(process.env.BSVC_SAMPLES);
const out = [];
function one(i) {
  if (i >= warm + n) { process.stdout.write(JSON.stringify(out)); return; }
  const t0 = process.hrtime.bigint();
  const s = net.connect({ host, port });
  s.setTimeout(3000, () => { process.stderr.write("connect timed out\\n"); process.exit(3); });
  s.once("error", (e) => { process.stderr.write("connect failed: " + e.message + "\\n"); process.exit(2); });
  s.once("connect", () => {
    const us = Number(process.hrtime.bigint() - t0) / 1000;
    if (i >= warm) out.push(us);
    s.setTimeout(0);
    s.destroy();
    setImmediate(() => one(i + 1));
  });
}
one(0);
`;

let vethCounter = 0;

/** A pod namespace on a veth from `nodeNs`, running the TCP server; returns the server. */
async function attachProbePod(nodeNs: string, podNs: string): Promise<ChildProcess> {
  await addNetns(podNs);
  const id = ++vethCounter;
  const nodeIf = `bsvc${id}n`;
  await must("ip", ["-n", nodeNs, "link", "add", nodeIf, "type", "veth", "peer", "name", "eth0", "netns", podNs], "creating the probe veth");
  await must("ip", ["-n", nodeNs, "addr", "add", `${PROBE_NODE_IP}/24`, "dev", nodeIf], "node veth address");
  await must("ip", ["-n", nodeNs, "link", "set", nodeIf, "up"], "node veth up");
  await must("ip", ["-n", nodeNs, "addr", "add", `${NODE.ip}/32`, "dev", "lo"], "node IP");
  // ClusterIPs are routed towards the pods (they are DNAT-ed in OUTPUT before they leave)
  await must("ip", ["-n", nodeNs, "route", "add", "10.96.0.0/12", "dev", nodeIf], "service CIDR route");
  await must("ip", ["-n", podNs, "addr", "add", `${PROBE_POD_IP}/24`, "dev", "eth0"], "pod address");
  await must("ip", ["-n", podNs, "link", "set", "eth0", "up"], "pod veth up");
  await must("ip", ["-n", podNs, "route", "add", "default", "via", PROBE_NODE_IP], "pod default route");

  const server = spawn("ip", ["netns", "exec", podNs, process.execPath, "-e", SERVER_JS], { stdio: ["ignore", "pipe", "pipe"], detached: true });
  live.add(server);
  server.on("close", () => live.delete(server));
  await new Promise<void>((res, rej) => {
    let err = "";
    const timer = setTimeout(() => rej(new BenchError(`probe server in ${podNs} did not start: ${err}`)), 10_000);
    server.stderr!.on("data", (b: Buffer) => (err += b.toString()));
    server.stdout!.on("data", (b: Buffer) => {
      if (b.toString().includes("ready")) {
        clearTimeout(timer);
        res();
      }
    });
    server.on("close", (code) => {
      clearTimeout(timer);
      rej(new BenchError(`probe server in ${podNs} exited (${code}): ${err}`));
    });
  });
  return server;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];

async function measureConnects(nodeNs: string, host: string, port: number): Promise<Latency> {
  const env = { ...process.env, BSVC_HOST: host, BSVC_PORT: String(port), BSVC_WARMUP: String(LATENCY_WARMUP), BSVC_SAMPLES: String(LATENCY_SAMPLES) };
  const r = await new Promise<RunResult>((res, rej) => {
    const t0 = now();
    const child = spawn("ip", ["netns", "exec", nodeNs, process.execPath, "-e", CLIENT_JS], { stdio: ["ignore", "pipe", "pipe"], detached: true, env });
    live.add(child);
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (b: Buffer) => (stdout += b.toString()));
    child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
    child.on("error", rej);
    child.on("close", (code, signal) => {
      live.delete(child);
      res({ code, signal, stdout, stderr, ms: now() - t0 });
    });
  });
  checkInterrupted();
  if (r.code !== 0) throw new BenchError(`connect client in ${nodeNs} to ${host}:${port} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim()}`);
  const xs = (JSON.parse(r.stdout) as number[]).sort((a, b) => a - b);
  return {
    samples: xs.length,
    p50Us: median(xs),
    p90Us: quantile(xs, 0.9),
    p99Us: quantile(xs, 0.99),
    meanUs: xs.reduce((a, b) => a + b, 0) / xs.length,
    minUs: xs[0],
    maxUs: xs[xs.length - 1],
  };
}

async function latencyAt(mode: Mode, n: number, nodeNs: string, services: ServiceModel[]): Promise<Latency> {
  const podNs = nsName("pod", mode, n);
  const server = await attachProbePod(nodeNs, podNs);
  try {
    const probe = services[services.length - 1];
    const l = await measureConnects(nodeNs, probe.clusterIP!, probe.ports[0].port);
    say(`${mode} ${n}: first-packet latency to ${probe.clusterIP}:80 (→ ${PROBE_POD_IP}:${PROBE_PORT}): median ${l.p50Us.toFixed(0)} µs, p99 ${l.p99Us.toFixed(0)} µs`);
    return l;
  } finally {
    stop(server);
    await delNetns(podNs);
  }
}

async function baselineLatency(): Promise<Latency> {
  const nodeNs = await addNetns(nsName("base"));
  const podNs = nsName("pod", "base");
  const server = await attachProbePod(nodeNs, podNs);
  try {
    const l = await measureConnects(nodeNs, PROBE_POD_IP, PROBE_PORT);
    say(`baseline (no rules, straight to the pod IP): median ${l.p50Us.toFixed(0)} µs, p99 ${l.p99Us.toFixed(0)} µs`);
    return l;
  } finally {
    stop(server);
    await delNetns(podNs);
    await delNetns(nodeNs);
  }
}

// ---- naive reference -----------------------------------------------------------------------

const shQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

/** The restore text as separate iptables commands: `-N` for each declared chain the jumps have
 * not created (those exist, empty, on a fresh node), then every `-A` rule in order. */
function naiveCommands(restore: string): string[] {
  const existing = new Set(iptablesJumps().flatMap((j) => {
    const m = /^-t (\S+) -N (\S+)/.exec(j);
    return m ? [`${m[1]}/${m[2]}`] : [];
  }));
  const cmds: string[] = [];
  let table = "";
  for (const line of restore.split("\n")) {
    if (line.startsWith("*")) table = line.slice(1);
    else if (line.startsWith(":")) {
      const chain = line.slice(1).split(" ")[0];
      if (!existing.has(`${table}/${chain}`)) cmds.push(["iptables", "-w", "-t", table, "-N", chain].join(" "));
    } else if (line.startsWith("-")) cmds.push(["iptables", "-w", "-t", table, ...iptablesArgv(line)].map(shQuote).join(" "));
  }
  return cmds;
}

interface Naive { n: number; commands: number; reps: number[]; medianMs: number; restoreApplyMs: number; restoreTotalMs: number; ratio: number }

async function naiveReference(n: number, services: ServiceModel[], restoreApplyMs: number, restoreTotalMs: number): Promise<Naive> {
  const text = restoreText(renderIptables(NODE, services));
  const cmds = naiveCommands(text);
  const work = (workDir ??= mkdtempSync(join(tmpdir(), "klab-bench-services-")));
  const script = join(work, `naive-${n}.sh`);
  writeFileSync(script, `set -e\n${cmds.join("\n")}\n`);
  const reps: number[] = [];
  for (let r = 1; r <= NAIVE_REPS; r++) {
    const ns = await addNetns(nsName("naive", n, r));
    await installJumps(ns);
    say(`naive ${n}, run ${r}/${NAIVE_REPS}: ${cmds.length} iptables processes in ${ns} (this takes a while)`);
    const res = await must(...inNs(ns, "sh", script), "the naive one-iptables-per-rule script");
    await checkIptables(ns, text, `naive ${n}`);
    say(`naive ${n}, run ${r}: ${(res.ms / 1000).toFixed(1)} s (${(res.ms / cmds.length).toFixed(2)} ms per process)`);
    reps.push(res.ms);
    await delNetns(ns);
  }
  const medianMs = median(reps);
  return { n, commands: cmds.length, reps, medianMs, restoreApplyMs, restoreTotalMs, ratio: medianMs / restoreApplyMs };
}

// ---------------------------------------------------------------------------------------------
// report

interface Host { kernel: string; cpus: number; iptables: string; nft: string; node: string; loadStart: number[]; loadEnd: number[] }
interface Results {
  host: Host;
  sizes: number[];
  modes: Mode[];
  reps: number;
  results: SizeModeResult[];
  naive?: Naive;
  baseline?: Latency;
  latencySizes: number[];
  targets: Record<string, { target: string; value: number | null; pass: boolean | null }>;
}

function evaluate(res: SizeModeResult[], baseline: Latency | undefined): Results["targets"] {
  const t: Results["targets"] = {};
  for (const mode of MODES) {
    const r = res.find((x) => x.n === TARGET_AT && x.mode === mode);
    t[`fullSync10k_${mode}`] = { target: `${mode} full sync at 10k ≤ ${TARGET_FULL_MS} ms`, value: r ? r.fullSync.median.totalMs : null, pass: r ? r.fullSync.median.totalMs <= TARGET_FULL_MS : null };
    t[`change10k_${mode}`] = { target: `${mode} one-Service change at 10k ≤ ${TARGET_CHANGE_MS} ms`, value: r ? r.change.median.totalMs : null, pass: r ? r.change.median.totalMs <= TARGET_CHANGE_MS : null };
  }
  if (LATENCY_SIZES.length >= 2 && MODES.includes("nft")) {
    const lo = res.find((x) => x.mode === "nft" && x.n === LATENCY_SIZES[0])?.latency;
    const hi = res.find((x) => x.mode === "nft" && x.n === LATENCY_SIZES[LATENCY_SIZES.length - 1])?.latency;
    if (lo && hi) {
      t.nftFlat = {
        target: `nft first-packet median at ${LATENCY_SIZES[LATENCY_SIZES.length - 1]} ≤ ${FLAT_FACTOR} × at ${LATENCY_SIZES[0]} + ${FLAT_SLACK_US} µs (informational)`,
        value: hi.p50Us / lo.p50Us,
        pass: hi.p50Us <= FLAT_FACTOR * lo.p50Us + FLAT_SLACK_US,
      };
    }
  }
  void baseline;
  return t;
}

function table(rows: string[][]): string {
  const width = rows[0].map((_, c) => Math.max(3, ...rows.map((r) => [...r[c]].length)));
  const right = rows[0].map((_, c) => rows.slice(1).every((r) => /^[-\d.,×%µ ]|^—$/.test(r[c]) || r[c] === ""));
  const fmt = (r: string[]) => `| ${r.map((cell, c) => (right[c] ? cell.padStart(width[c]) : cell.padEnd(width[c]))).join(" | ")} |`;
  return [fmt(rows[0]), `|${width.map((w, c) => (right[c] ? `${"-".repeat(w + 1)}:` : `${"-".repeat(w + 2)}`)).join("|")}|`, ...rows.slice(1).map(fmt)].join("\n");
}

function printReport(R: Results) {
  const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2));
  const us = (x: number) => x.toFixed(0);
  const kb = (b: number) => (b >= 1 << 20 ? `${(b / (1 << 20)).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`);
  const verdict = (ok: boolean | null) => (ok === null ? "—" : ok ? "PASS" : "MISS");
  const modeName = (m: Mode) => (m === "iptables" ? "iptables-restore" : "nft -f");

  console.log(`\n### Services benchmark (klab, one node namespace, N ClusterIP Services × 3 endpoints)\n`);
  console.log(`Medians of ${R.reps} run(s); times in ms. Host: ${R.host.cpus} CPU(s), kernel ${R.host.kernel}, ${R.host.iptables}, ${R.host.nft}, Node ${R.host.node}.\n`);

  console.log(`**Full sync** (fresh namespace; resync = one more full sync on the loaded node, as the periodic one)\n`);
  console.log(table([
    ["Services", "mode", "render", "apply", "total", "resync total", "input", "target", "result"],
    ...R.results.map((r) => [
      String(r.n), modeName(r.mode), ms(r.fullSync.median.renderMs), ms(r.fullSync.median.applyMs), ms(r.fullSync.median.totalMs), ms(r.resync.totalMs),
      `${kb(r.fullSync.bytes)}, ${r.fullSync.lines} lines`,
      r.n === TARGET_AT ? `≤ ${TARGET_FULL_MS}` : "", r.n === TARGET_AT ? verdict(r.fullSync.median.totalMs <= TARGET_FULL_MS) : "",
    ]),
  ]));

  console.log(`\n**One-Service change** (one endpoint of one Service replaced; iptables: partial restore, nft: update transaction as one line to the node's nft -i; later cleanup: nft deletes the gone endpoint's chain in a transaction of its own, as KubeProxy does a second later)\n`);
  const cleanup = (r: SizeModeResult) => {
    const xs = r.change.reps.map((x) => x.cleanupMs).filter((x): x is number => x !== undefined);
    return xs.length ? ms(median(xs)) : "—";
  };
  console.log(table([
    ["Services", "mode", "render", "apply", "total", "later cleanup", "input", "target", "result"],
    ...R.results.map((r) => [
      String(r.n), r.mode === "iptables" ? "iptables-restore" : "nft -i", ms(r.change.median.renderMs), ms(r.change.median.applyMs), ms(r.change.median.totalMs), cleanup(r),
      `${kb(r.change.bytes)}, ${r.change.lines} lines`,
      r.n === TARGET_AT ? `≤ ${TARGET_CHANGE_MS}` : "", r.n === TARGET_AT ? verdict(r.change.median.totalMs <= TARGET_CHANGE_MS) : "",
    ]),
  ]));

  if (R.naive) {
    const nv = R.naive;
    console.log(`\n**Naive reference** (iptables mode, one \`iptables -N/-A\` process per chain/rule, ${nv.reps.length} run(s))\n`);
    console.log(table([
      ["Services", "processes", "naive", "iptables-restore apply", "ratio naive / restore"],
      [String(nv.n), String(nv.commands), ms(nv.medianMs), ms(nv.restoreApplyMs), `${nv.ratio.toFixed(0)}×`],
    ]));
  }

  const lat = R.results.filter((r) => r.latency);
  if (lat.length || R.baseline) {
    console.log(`\n**First-packet latency** (fresh TCP connect to the last Service's ClusterIP:80, DNAT-ed to a pod on a veth; ${LATENCY_SAMPLES} connects after ${LATENCY_WARMUP} warm-up; µs)\n`);
    const rows: string[][] = [["Services", "mode", "median", "p90", "p99", "min", "median − baseline"]];
    if (R.baseline) {
      const b = R.baseline;
      rows.push(["—", "no rules (baseline, pod IP)", us(b.p50Us), us(b.p90Us), us(b.p99Us), us(b.minUs), "0"]);
    }
    for (const mode of R.modes) {
      for (const r of lat.filter((x) => x.mode === mode)) {
        const l = r.latency!;
        rows.push([String(r.n), mode, us(l.p50Us), us(l.p90Us), us(l.p99Us), us(l.minUs), R.baseline ? us(l.p50Us - R.baseline.p50Us) : ""]);
      }
    }
    console.log(table(rows));
    if (R.latencySizes.length >= 2) {
      const [lo, hi] = [R.latencySizes[0], R.latencySizes[R.latencySizes.length - 1]];
      for (const mode of R.modes) {
        const a = lat.find((x) => x.mode === mode && x.n === lo)?.latency;
        const b = lat.find((x) => x.mode === mode && x.n === hi)?.latency;
        if (a && b) console.log(`\n${mode}: median ${us(a.p50Us)} µs at ${lo} → ${us(b.p50Us)} µs at ${hi} (×${(b.p50Us / a.p50Us).toFixed(2)}, ${b.p50Us - a.p50Us >= 0 ? "+" : ""}${us(b.p50Us - a.p50Us)} µs)`);
      }
    }
  }

  console.log(`\n**Targets**\n`);
  console.log(table([["target", "value", "result"], ...Object.values(R.targets).map((t) => [t.target, t.value === null ? "not measured" : t.value.toFixed(t.value < 10 ? 2 : 0), verdict(t.pass)])]));
  console.log(`\nrender = planProxySync (src/plan/proxy/sync.ts: what KubeProxy runs, name hashes remembered from earlier syncs of the same Services); apply = \`ip netns exec NS [env LD_PRELOAD=libjemalloc.so.2] iptables-restore [--noflush]\` / \`nft -f -\` from spawn to exit (the preload for loads of 256 KiB or more: src/plan/bulk-load.ts); nft changes: one line to the node's \`nft -i\` until it answers (src/kernel/nft-session.ts).`);
  console.log(`Full sync: iptables-restore without --noflush (filter, nat and the jumps replaced whole; klab owns these tables in a node); change: --noflush, only the changed Service's chains.`);
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  console.log(`Load average ${la(R.host.loadStart)} at start, ${la(R.host.loadEnd)} at end.`);
}

// ---------------------------------------------------------------------------------------------

async function versions(): Promise<{ iptables: string; nft: string }> {
  const ipt = await $`iptables --version`.nothrow();
  const nft = await $`nft --version`.nothrow();
  return { iptables: (ipt.stdout || ipt.stderr).trim(), nft: (nft.stdout || nft.stderr).trim() };
}

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new BenchError("run as root (network namespaces, iptables, nft)");
  const v = await versions();
  if (MODES.includes("iptables") && !/^iptables v/.test(v.iptables)) throw new BenchError(`iptables not usable: ${v.iptables}`);
  if (MODES.includes("nft") && !/^nftables v/.test(v.nft)) throw new BenchError(`nft not usable: ${v.nft}`);
  const loadStart = loadavg();
  say(`sizes ${SIZES.join(", ")}; modes ${MODES.join(", ")}; ${REPS} rep(s); latency at ${LATENCY_SIZES.join(", ") || "none"}; naive at ${SIZES.includes(NAIVE_SIZE) && MODES.includes("iptables") ? NAIVE_SIZE : "none"}`);
  try {
    const results: SizeModeResult[] = [];
    let naive: Naive | undefined;
    const baseline = LATENCY_SIZES.length ? await baselineLatency() : undefined;
    for (const n of SIZES) {
      const services = generateServices(n);
      for (const mode of MODES) {
        // full sync, each rep in a fresh namespace; the last one is kept for the rest
        const reps: FullSync[] = [];
        let ns = "";
        let text = "";
        let synced: ProxySyncState | undefined;
        const spent: string[] = []; // deleted after this size and mode: see settle()
        for (let r = 1; r <= REPS; r++) {
          if (ns) spent.push(ns);
          ns = await addNetns(nsName(mode === "iptables" ? "ipt" : "nft", n, r));
          await settle();
          const rep = await fullSyncRep(mode, services, ns);
          reps.push(rep.t);
          text = rep.text;
          synced = rep.state;
          say(`${mode} ${n}: full sync ${r}/${REPS}: render ${rep.t.renderMs.toFixed(1)} ms + apply ${rep.t.applyMs.toFixed(1)} ms = ${rep.t.totalMs.toFixed(1)} ms`);
        }
        const check = mode === "iptables" ? await checkIptables(ns, text, `${mode} ${n} full sync`) : await checkNft(ns, services, `${mode} ${n} full sync`);

        // one-Service change
        const changes: Change[] = [];
        for (let r = 1; r <= REPS; r++) {
          await settle();
          const c = await changeRep(mode, n, ns, synced!, r);
          synced = c.next;
          changes.push(c.t);
          say(`${mode} ${n}: one-Service change ${r}/${REPS}: render ${c.t.renderMs.toFixed(1)} ms + apply ${c.t.applyMs.toFixed(1)} ms = ${c.t.totalMs.toFixed(1)} ms`);
        }
        const state = synced!.services as ServiceModel[];
        if (mode === "iptables") await checkIptables(ns, restoreText(renderIptables(NODE, state)), `${mode} ${n} after the changes`);
        else await checkNft(ns, state, `${mode} ${n} after the changes`);

        // the periodic full resync, on the node as it is now
        await settle();
        const resync = await syncRep(mode, ns, synced, state, true, `${mode} full resync`);
        say(`${mode} ${n}: full resync of the loaded node: render ${resync.t.renderMs.toFixed(1)} ms + apply ${resync.t.applyMs.toFixed(1)} ms = ${resync.t.totalMs.toFixed(1)} ms`);
        if (mode === "iptables") await checkIptables(ns, restoreText(renderIptables(NODE, state)), `${mode} ${n} after the resync`);
        else await checkNft(ns, state, `${mode} ${n} after the resync`);

        const result: SizeModeResult = {
          n,
          mode,
          fullSync: { reps, median: medianTiming(reps), bytes: reps[0].bytes, lines: reps[0].lines, check },
          change: { reps: changes, median: medianTiming(changes), bytes: changes[0].bytes, lines: changes[0].lines },
          resync: resync.t,
        };
        if (LATENCY_SIZES.includes(n)) result.latency = await latencyAt(mode, n, ns, state);
        for (const old of [...spent, ns]) await delNetns(old);
        results.push(result);

        if (mode === "iptables" && n === NAIVE_SIZE) {
          naive = await naiveReference(n, services, result.fullSync.median.applyMs, result.fullSync.median.totalMs);
        }
      }
    }
    const R: Results = {
      host: { kernel: release(), cpus: cpus().length, ...v, node: process.version, loadStart, loadEnd: loadavg() },
      sizes: SIZES,
      modes: MODES,
      reps: REPS,
      results,
      naive,
      baseline,
      latencySizes: LATENCY_SIZES,
      targets: evaluate(results, baseline),
    };
    if (JSON_OUT) {
      console.log(JSON.stringify(R, (_k, x) => (typeof x === "number" && !Number.isInteger(x) ? Math.round(x * 1000) / 1000 : x), 2));
    } else {
      printReport(R);
    }
    return Object.entries(R.targets).some(([k, t]) => t.pass === false && k !== "nftFlat") ? 1 : 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    await cleanup().catch(() => undefined);
    if (!interrupted) console.error(`bench: ${e instanceof BenchError ? e.message : (e as Error)?.stack ?? e}`);
    if (!interrupted) process.exit(3);
  },
);
