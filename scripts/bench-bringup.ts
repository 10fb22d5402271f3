// Bring-up benchmark: klab vs Mininet, 100 HTTP-serving pods vs 100 Mininet hosts.
//
// Run (as root, after `npm run build`), from the repository root:
//
//   npm run bench:bringup -- [--runs N] [--json]
//
// which is exactly:
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @isaacs/ts-node-temp-fork-for-pr-2009/import scripts/bench-bringup.ts [--runs N] [--json]
//
// Node 20 cannot run TypeScript by itself and tsx is not a dependency. The ts-node that is
// installed is the fork tap depends on (@isaacs/ts-node-temp-fork-for-pr-2009, there is no
// plain `ts-node` package in node_modules, so `--loader ts-node/esm` does not resolve); its
// `/import` entry registers the ESM hooks with module.register(), the non-deprecated way on
// Node 20. TS_NODE_TRANSPILE_ONLY=1 skips type checking (about 1 s instead of 6 s of start-up;
// the bench's timings are taken inside the script, so start-up does not count either way).
//
// What one invocation does:
//   1. installs Mininet and bridge-utils with apt-get if `mn` or `brctl` is missing;
//   2. writes a lab file (4 nodes, host-gw, a Deployment of 100 agnhost netexec pods on 8080);
//   3. klab: times `klab up` until every pod answers GET /hostname with its own name (probed
//      from node1's namespace, one `curl --parallel` process per round), samples the RSS of the
//      lab's processes (its klab-agent plus every process in a klab-LAB-* netns), then times
//      `klab down`;
//   4. Mininet: `mn -c`, times `mn --topo single,100 --switch lxbr --controller none --test none`,
//      `mn -c` again;
//   5. repeats 3 and 4 --runs times and prints a table (or --json) with the targets:
//      klab total ≤ 1/5 of Mininet's wall time, ≤ 10 MB RSS per pod.
// Cleanup (klab down, mn -c) always runs: on failure, on Ctrl-C and on SIGTERM.
// Note that `mn -c` is host-wide by design: it runs `killall ping` (and other Mininet process
// names), `rm -f /tmp/*.log /tmp/*.out` and deletes every root-namespace link named *-ethN. This
// script keeps its own files in a private /tmp/klab-bench-* directory. Timings are wall-clock
// and therefore sensitive to other load on the host: the load average is printed with them.
//
// Options:
//   --runs N            runs of each tool (default 1)
//   --json              print the results as JSON on stdout (progress stays on stderr)
//   --pods N            pods / Mininet hosts (default 100)
//   --nodes N           klab nodes (default 4)
//   --serve-timeout S   seconds to wait for every pod to answer after `klab up` (default 120)
//   --verbose           run `klab -v up` / `klab -v down` and show their output
//
// Exit status: 0 when both targets are met, 1 when one is missed, 3 when the bench itself failed
// (klab up/down, a pod that never answered, mn failing: its output tail is printed), 130/143 on
// SIGINT/SIGTERM (after cleanup).
import { $, minimist, which, type ProcessPromise } from "zx";
import { existsSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { performance } from "node:perf_hooks";

// ---------------------------------------------------------------------------------------------
// options

const args = minimist(process.argv.slice(2), {
  boolean: ["json", "verbose", "help"],
  string: ["runs", "pods", "nodes", "serve-timeout"],
  alias: { h: "help" },
  default: { runs: "1", pods: "100", nodes: "4", "serve-timeout": "120" },
});
if (args.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  console.log(text.slice(0, text.findIndex((l) => l.startsWith("import "))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
function intOpt(name: string, min: number, max: number): number {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) {
    console.error(`bench-bringup: --${name} must be an integer from ${min} to ${max}`);
    process.exit(2);
  }
  return v;
}
const RUNS = intOpt("runs", 1, 50);
const PODS = intOpt("pods", 1, 1000);
const NODES = intOpt("nodes", 1, 50);
const SERVE_TIMEOUT_MS = intOpt("serve-timeout", 1, 3600) * 1000;
const JSON_OUT = Boolean(args.json);
const VERBOSE = Boolean(args.verbose);

const TARGET_RATIO = 1 / 5;
const TARGET_RSS_PER_POD_MB = 10;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KLAB = join(repo, "bin", "klab");
const MN_ARGS = ["--topo", `single,${PODS}`, "--switch", "lxbr", "--controller", "none", "--test", "none"];

$.verbose = false;
$.quiet = true; // zx 8 still echoes children's stderr unless quiet (mn logs everything there)
$.cwd = repo;

/** Progress goes to stderr so that --json leaves stdout clean. */
const say = (msg: string) => process.stderr.write(`bench: ${msg}\n`);
const now = () => performance.now();
const secs = (ms: number) => ms / 1000;
const tail = (text: string, n = 30) => text.trimEnd().split("\n").slice(-n).join("\n");

class BenchError extends Error {}

// ---------------------------------------------------------------------------------------------
// cleanup: idempotent, shared by `finally` and the signal handlers

const live = new Set<ProcessPromise>(); // children to stop on a signal
const labsToRemove = new Set<string>(); // labs `klab up` was started for and not yet downed
let mnUsed = false; // `mn` ran (or was about to): run `mn -c` on the way out
let linksBeforeMn: Set<string> | undefined;
let cleaning: Promise<void> | undefined;
let interrupted: NodeJS.Signals | undefined;
let workDir: string | undefined; // temp dir for the lab file and probe output

function track<T extends ProcessPromise>(p: T): T {
  live.add(p);
  void p.finally(() => live.delete(p)).catch(() => undefined);
  return p;
}

async function klabDown(lab: string): Promise<{ ms: number; ok: boolean; out: string }> {
  const t = now();
  const r = await $`${KLAB} ${VERBOSE ? ["-v"] : []} down ${lab}`.nothrow();
  const ms = now() - t;
  if (r.exitCode === 0) labsToRemove.delete(lab);
  return { ms, ok: r.exitCode === 0, out: r.stdout + r.stderr };
}

function labNetns(lab: string): string[] {
  const prefix = `klab-${lab}-`;
  try {
    return readdirSync("/run/netns").filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

async function rootLinks(): Promise<Set<string>> {
  const r = await $`ip -o link show`.nothrow();
  return new Set([...r.stdout.matchAll(/^\d+: ([^:@\s]+)/gm)].map((m) => m[1]));
}

/** `mn -c`, then make sure no Mininet-named link it created in the root namespace survived. */
async function mnClean(): Promise<void> {
  const r = await $`mn -c`.nothrow();
  if (r.exitCode !== 0) say(`warning: mn -c exited ${r.exitCode}:\n${tail(r.stdout + r.stderr, 10)}`);
  if (!linksBeforeMn) return;
  const left = [...(await rootLinks())].filter((l) => !linksBeforeMn!.has(l) && /^(s\d+|h\d+|s\d+-eth\d+|h\d+-eth\d+)$/.test(l));
  for (const l of left) {
    say(`warning: mn -c left link ${l} in the root namespace; deleting it`);
    await $`ip link del ${l}`.nothrow();
  }
}

async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const p of live) await p.kill("SIGTERM").catch(() => undefined);
    for (const lab of [...labsToRemove]) {
      say(`cleanup: klab down ${lab}`);
      const d = await klabDown(lab);
      const left = labNetns(lab);
      if (!d.ok && left.length) say(`cleanup: klab down ${lab} failed:\n${tail(d.out, 10)}`);
      if (!d.ok && !left.length) say(`cleanup: nothing of lab ${lab} is left`);
      if (left.length) say(`cleanup: ${left.length} namespace(s) of lab ${lab} remain (e.g. ${left[0]}); try \`klab down ${lab}\` or \`klab cleanup\``);
    }
    if (mnUsed) {
      say("cleanup: mn -c");
      await mnClean();
      mnUsed = false;
    }
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
const checkInterrupted = () => {
  if (interrupted) throw new BenchError(`interrupted by ${interrupted}`);
};

// ---------------------------------------------------------------------------------------------
// 1. Mininet and bridge-utils

async function ensureMininet(): Promise<string> {
  const missing: string[] = [];
  if (!(await which("mn", { nothrow: true }))) missing.push("mininet");
  if (!(await which("brctl", { nothrow: true }))) missing.push("bridge-utils");
  if (missing.length) {
    say(`installing ${missing.join(" ")} with apt-get`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const install = () => $({ env })`apt-get install -y --no-install-recommends ${missing}`.nothrow();
    // Update the package lists first when they do not know the packages (a fresh image).
    const policy = await $({ env })`apt-cache policy ${missing}`.nothrow();
    const unknown = policy.exitCode !== 0 || /Candidate: \(none\)/.test(policy.stdout) || missing.some((p) => !policy.stdout.includes(`${p}:`));
    let r = unknown ? undefined : await install();
    if (!r || r.exitCode !== 0) {
      const u = await $({ env })`apt-get update`.nothrow();
      if (u.exitCode !== 0) throw new BenchError(`apt-get update failed:\n${tail(u.stdout + u.stderr, 15)}`);
      r = await install();
    }
    if (r.exitCode !== 0) throw new BenchError(`apt-get install ${missing.join(" ")} failed:\n${tail(r.stdout + r.stderr, 15)}`);
  }
  const v = await $`mn --version`.nothrow();
  if (v.exitCode !== 0) throw new BenchError(`mn --version failed:\n${tail(v.stdout + v.stderr, 10)}`);
  return (v.stdout + v.stderr).trim(); // mn prints its version on stderr
}

// ---------------------------------------------------------------------------------------------
// 2. the lab file

function labYaml(lab: string): string {
  return `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${lab}}
spec:
  nodes: ${NODES}
  network: {mode: host-gw}
  dns: {enabled: false}   # Mininet's hosts have no cluster DNS either: the same work on both sides
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${PODS}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: netexec, image: registry.k8s.io/e2e-test-images/agnhost:2.47, args: [netexec, --http-port=8080]}
`;
}

// ---------------------------------------------------------------------------------------------
// 3. klab

interface Pod { name: string; ip: string; node: string }

function podsOf(json: string): Pod[] {
  const list = JSON.parse(json) as { items: { metadata: { name: string }; spec: { nodeName: string }; status: { podIP?: string } }[] };
  return list.items.map((p) => ({ name: p.metadata.name, ip: p.status.podIP ?? "", node: p.spec.nodeName }));
}

/**
 * Probes every pod until each one answers GET /hostname with its own name. One round is one
 * `curl --parallel` process in the probing node's namespace; only pods that have not answered
 * correctly yet are probed again.
 */
async function probeUntilServing(probeNetns: string, pods: Pod[], work: string, deadline: number): Promise<{ rounds: number }> {
  let pending = pods.filter((p) => p.ip);
  const noIP = pods.filter((p) => !p.ip);
  if (noIP.length) throw new BenchError(`${noIP.length} pod(s) have no podIP (e.g. ${noIP[0].name})`);
  let rounds = 0;
  let lastBad = "";
  const outDir = join(work, "probe");
  while (pending.length) {
    checkInterrupted();
    if (now() > deadline) {
      throw new BenchError(`${pending.length} of ${pods.length} pod(s) did not answer /hostname in time (e.g. ${pending[0].name} at ${pending[0].ip}${lastBad ? `: ${lastBad}` : ""})`);
    }
    rounds++;
    rmSync(outDir, { recursive: true, force: true });
    const cfg = join(work, "curl.cfg");
    writeFileSync(cfg, pending.map((p, i) => `url = "http://${p.ip}:8080/hostname"\noutput = "${join(outDir, String(i))}"\n`).join(""));
    await track(
      $`ip netns exec ${probeNetns} curl -sS --no-progress-meter --parallel --parallel-immediate --parallel-max ${Math.min(pending.length, 300)} --create-dirs --connect-timeout 1 --max-time 3 --config ${cfg}`.nothrow(),
    );
    checkInterrupted();
    const still: Pod[] = [];
    pending.forEach((p, i) => {
      let body: string | undefined;
      try {
        body = readFileSync(join(outDir, String(i)), "utf8");
      } catch {
        /* no answer */
      }
      if (body === p.name) return;
      if (body !== undefined) lastBad = `answered ${JSON.stringify(body.slice(0, 80))}`;
      still.push(p);
    });
    pending = still;
    if (pending.length) await new Promise((r) => setTimeout(r, 50));
  }
  return { rounds };
}

interface RssSample { totalMB: number; perPodMB: number; agentMB: number; processes: number; agentPids: number[] }

function vmRssKB(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0; // exited
  }
}

/** The lab's klab-agent (by command line) plus every process in one of the lab's namespaces. */
function sampleRss(lab: string, pods: number): RssSample {
  const inodes = new Set<string>();
  for (const n of labNetns(lab)) {
    try {
      inodes.add(`net:[${statSync(`/run/netns/${n}`).ino}]`);
    } catch {
      /* gone */
    }
  }
  const agents: number[] = [];
  const pids = new Set<number>();
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    if (pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const i = argv.indexOf("klab-agent");
      if (i >= 0 && argv[i + 1] === lab) {
        agents.push(pid);
        pids.add(pid);
        continue;
      }
      if (inodes.has(readlinkSync(`/proc/${pid}/ns/net`))) pids.add(pid);
    } catch {
      /* exited, or a kernel thread */
    }
  }
  if (!agents.length) throw new BenchError(`no klab-agent process found for lab ${lab}`);
  let totalKB = 0;
  for (const pid of pids) totalKB += vmRssKB(pid);
  const agentKB = agents.reduce((s, p) => s + vmRssKB(p), 0);
  return { totalMB: totalKB / 1024, perPodMB: totalKB / 1024 / pods, agentMB: agentKB / 1024, processes: pids.size, agentPids: agents };
}

interface KlabRun {
  upCmdS: number; // `klab up` alone
  getPodsS: number; // reading the pods (names, IPs) from `klab up -o json`
  probeS: number; // from then until every pod answered
  serveS: number; // up + probe: start of `klab up` until every pod answered
  downS: number;
  totalS: number; // serveS + downS
  probeRounds: number;
  rss: RssSample;
}

async function benchKlab(run: number, work: string): Promise<KlabRun> {
  const lab = `bench-${process.pid}-${run}`.slice(0, 20);
  if (labNetns(lab).length) throw new BenchError(`namespaces of a lab named ${lab} already exist; run \`klab down ${lab}\``);
  const file = join(work, `${lab}.yaml`);
  writeFileSync(file, labYaml(lab));
  say(`klab run ${run}: up ${lab} (${NODES} nodes, ${PODS} pods)`);

  labsToRemove.add(lab); // from here on, cleanup downs it (klab records state before creating anything)
  const t0 = now();
  // `up -o json` prints the pods it created (as kubectl apply -o json): no second command.
  const up = await track($`${KLAB} ${VERBOSE ? ["-v"] : []} up -o json ${file}`.nothrow());
  const tUp = now();
  checkInterrupted();
  if (VERBOSE) process.stderr.write(up.stderr);
  if (up.exitCode !== 0) throw new BenchError(`klab up failed (exit ${up.exitCode}):\n${tail(up.stdout + up.stderr)}`);
  const pods = podsOf(up.stdout);
  const tPods = now();
  if (pods.length !== PODS) throw new BenchError(`klab up -o json lists ${pods.length} pods, expected ${PODS}`);
  const probeNode = [...new Set(pods.map((p) => p.node))].sort()[0];
  const { rounds } = await probeUntilServing(`klab-${lab}-${probeNode}`, pods, work, t0 + SERVE_TIMEOUT_MS);
  const tServe = now();
  say(`klab run ${run}: all ${PODS} pods answered /hostname after ${secs(tServe - t0).toFixed(2)} s ` +
    `(klab up exited after ${secs(tUp - t0).toFixed(2)} s, reading its pod list took ${secs(tPods - tUp).toFixed(2)} s, ` +
    `probing ${secs(tServe - tPods).toFixed(2)} s in ${rounds} round(s) from ${probeNode})`);

  const rss = sampleRss(lab, PODS); // between the two timed intervals
  say(`klab run ${run}: RSS ${rss.totalMB.toFixed(1)} MB in ${rss.processes} process(es) (klab-agent ${rss.agentMB.toFixed(1)} MB)`);

  checkInterrupted();
  const down = await klabDown(lab);
  if (VERBOSE) process.stderr.write(down.out);
  if (!down.ok) throw new BenchError(`klab down ${lab} failed:\n${tail(down.out)}`);
  const left = labNetns(lab);
  if (left.length) throw new BenchError(`klab down left ${left.length} namespace(s), e.g. ${left[0]}`);
  say(`klab run ${run}: down in ${secs(down.ms).toFixed(2)} s`);
  const serveS = secs(tServe - t0);
  const downS = secs(down.ms);
  return { upCmdS: secs(tUp - t0), getPodsS: secs(tPods - tUp), probeS: secs(tServe - tPods), serveS, downS, totalS: serveS + downS, probeRounds: rounds, rss };
}

// ---------------------------------------------------------------------------------------------
// 4. Mininet

interface MininetRun { totalS: number; reportedS?: number }

async function benchMininet(run: number): Promise<MininetRun> {
  mnUsed = true;
  linksBeforeMn ??= await rootLinks();
  await mnClean();
  checkInterrupted();
  say(`mininet run ${run}: mn ${MN_ARGS.join(" ")}`);
  const t0 = now();
  const r = await track($`mn ${MN_ARGS}`.nothrow());
  const ms = now() - t0;
  checkInterrupted();
  const out = r.stdout + r.stderr;
  if (r.exitCode !== 0 || !/\*\*\* Done/.test(out)) {
    throw new BenchError(`mn failed (exit ${r.exitCode}); last lines of its output:\n${tail(out)}`);
  }
  await mnClean();
  mnUsed = false; // cleaned; set again by the next run
  const m = /completed in ([\d.]+) seconds/.exec(out);
  say(`mininet run ${run}: ${secs(ms).toFixed(2)} s wall${m ? ` (mn says ${m[1]} s)` : ""}`);
  return { totalS: secs(ms), reportedS: m ? Number(m[1]) : undefined };
}

// ---------------------------------------------------------------------------------------------
// 5. report

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface HostInfo { cpus: number; loadStart: number[]; loadEnd: number[] }

function report(mnVersion: string, host: HostInfo, klab: KlabRun[], mn: MininetRun[]) {
  const ratios = klab.map((k, i) => k.totalS / mn[i].totalS);
  const med = {
    klabUpCmdS: median(klab.map((k) => k.upCmdS)),
    klabServeS: median(klab.map((k) => k.serveS)),
    klabDownS: median(klab.map((k) => k.downS)),
    klabTotalS: median(klab.map((k) => k.totalS)),
    mininetTotalS: median(mn.map((m) => m.totalS)),
    rssTotalMB: median(klab.map((k) => k.rss.totalMB)),
    rssPerPodMB: median(klab.map((k) => k.rss.perPodMB)),
  };
  const ratio = med.klabTotalS / med.mininetTotalS;
  const pass = { ratio: ratio <= TARGET_RATIO, rssPerPod: med.rssPerPodMB <= TARGET_RSS_PER_POD_MB };

  if (JSON_OUT) {
    console.log(JSON.stringify({
      pods: PODS, nodes: NODES, runs: RUNS, host, mininet: { version: mnVersion, command: `mn ${MN_ARGS.join(" ")}` },
      klab: klab, mininetRuns: mn, ratios,
      median: { ...med, ratio },
      targets: { maxRatio: TARGET_RATIO, maxRssPerPodMB: TARGET_RSS_PER_POD_MB },
      pass,
    }, (_k, v) => (typeof v === "number" && !Number.isInteger(v) ? Math.round(v * 1000) / 1000 : v), 2));
    return pass;
  }

  const s = (x: number) => `${x.toFixed(2)} s`;
  const mb = (x: number) => `${x.toFixed(x < 10 ? 2 : 1)} MB`;
  const cols = RUNS > 1 ? [...klab.map((_, i) => `run ${i + 1}`), "median"] : ["value"];
  const row = (label: string, per: number[], m: number, fmt: (x: number) => string, target = "", result = "") =>
    [label, ...(RUNS > 1 ? [...per.map(fmt), fmt(m)] : [fmt(m)]), target, result];
  const rows: string[][] = [
    ["", ...cols, "target", "result"],
    row("klab up (command)", klab.map((k) => k.upCmdS), med.klabUpCmdS, s),
    row("klab up until all serving", klab.map((k) => k.serveS), med.klabServeS, s),
    row("klab down", klab.map((k) => k.downS), med.klabDownS, s),
    row("klab total", klab.map((k) => k.totalS), med.klabTotalS, s),
    row("mininet total", mn.map((m) => m.totalS), med.mininetTotalS, s),
    row("ratio klab/mininet", ratios, ratio, (x) => x.toFixed(3), `≤ ${TARGET_RATIO.toFixed(3)} (1/5)`, pass.ratio ? "PASS" : "MISS"),
    row("RSS total", klab.map((k) => k.rss.totalMB), med.rssTotalMB, mb),
    row("RSS per pod", klab.map((k) => k.rss.perPodMB), med.rssPerPodMB, mb, `≤ ${TARGET_RSS_PER_POD_MB} MB`, pass.rssPerPod ? "PASS" : "MISS"),
  ];
  const width = rows[0].map((_, c) => Math.max(...rows.map((r) => [...r[c]].length)));
  const line = (r: string[]) => r.map((cell, c) => (c === 0 ? cell.padEnd(width[c]) : cell.padStart(width[c]))).join("  ").trimEnd();
  console.log(`\nklab bring-up benchmark: ${PODS} pods on ${NODES} nodes (host-gw, agnhost netexec) vs mn ${MN_ARGS.join(" ")} (${mnVersion}), ${RUNS} run(s) each`);
  console.log(line(rows[0]));
  console.log(width.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows.slice(1)) console.log(line(r));
  const procs = [...new Set(klab.map((k) => k.rss.processes))].join("/");
  console.log(`\nRSS = VmRSS summed over the lab's klab-agent and every process in its klab-LAB-* namespaces (${procs} process(es)).`);
  console.log(`klab total = up-until-every-pod-answers-/hostname + down; mininet total = wall time of the whole mn command.`);
  if (RUNS > 1) console.log(`median column: the median of each row; its ratio is median klab total / median mininet total.`);
  const la = (l: number[]) => l.map((x) => x.toFixed(2)).join(" ");
  console.log(`host: ${host.cpus} CPU(s), load average ${la(host.loadStart)} at start, ${la(host.loadEnd)} at end.`);
  return pass;
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new BenchError("run as root (klab and mn both need it)");
  if (!existsSync(join(repo, "dist", "cli", "klab.js"))) throw new BenchError("klab is not built: run `npm run build` first");
  const mnVersion = await ensureMininet();
  say(`Mininet ${mnVersion}`);
  const work = (workDir = mkdtempSync(join(tmpdir(), "klab-bench-")));
  try {
    const loadStart = loadavg();
    const klab: KlabRun[] = [];
    const mn: MininetRun[] = [];
    for (let run = 1; run <= RUNS; run++) {
      klab.push(await benchKlab(run, work));
      mn.push(await benchMininet(run));
    }
    const pass = report(mnVersion, { cpus: cpus().length, loadStart, loadEnd: loadavg() }, klab, mn);
    return pass.ratio && pass.rssPerPod ? 0 : 1;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  async (e) => {
    await cleanup().catch(() => undefined);
    if (!interrupted) console.error(`bench: ${e instanceof BenchError ? e.message : (e as Error)?.stack ?? e}`);
    // An interrupted run exits from the signal handler once cleanup is done.
    if (!interrupted) process.exit(3);
  },
);
