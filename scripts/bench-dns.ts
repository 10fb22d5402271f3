// Cluster DNS benchmark: the lab's responder (src/dns/server.ts serving src/dns/zone.ts, running
// inside the klab-agent of a lab with 1,000 Services) against unbound serving the very same
// records as local-data, both driven by dnsperf, each pinned to the same single core, in the same
// invocation. Reports qps, latency and the ratio responder/unbound (target ≥ 0.50; CoreDNS does
// ~17k qps per core on small machines).
//
// Run (as root), from the repository root:
//
//   npm run bench:dns -- [--duration 10] [--rounds 3] [--clients 8] [--outstanding 200] [--json]
//
// which is exactly:
//
//   TS_NODE_TRANSPILE_ONLY=1 node --import @isaacs/ts-node-temp-fork-for-pr-2009/import scripts/bench-dns.ts [options]
//
// Missing tools are installed with apt-get (dnsperf, unbound, util-linux for taskset,
// bind9-dnsutils for dig, iproute2); when this installs unbound, the unbound system service the
// package enables is stopped and disabled (only then, and only where systemd runs).
//
// What one invocation does (default: lab mode):
//   1. `npm run build` when dist/bundle is missing or older than a file under src/ (bin/klab runs
//      the bundle; --skip-build to use it as it is);
//   2. writes a lab file to a temp directory and runs `./bin/klab validate` and `./bin/klab up` on
//      it: Lab `bench-dns` (refused if a lab of that name exists already), 1 node, spec.dns
//      {log: false} (no query log: unbound logs nothing either; --query-log turns it on), spec.proxy.syncPeriodSeconds
//      3600 (no periodic full resync during the measurement); Namespace `bench`; in it a
//      Deployment `web` of 3 agnhost netexec pods (app: web, port http 8080) and 1000 Services
//      svc-0001 … svc-1000 selecting them, port {name: http, port: 80, targetPort: http}, every
//      50th headless (clusterIP None). `./bin/klab down bench-dns` runs on exit, on failure and on
//      SIGINT/SIGTERM/SIGHUP;
//   3. from /run/klab/bench-dns/model.json: the DNS pod kube-system/klab-dns-… (its IP and network
//      namespace), node1's namespace (where dnsperf and dig run), and the zone the responder
//      serves, rebuilt with the repo's own functions: resolveServices(model.services, model.pods,
//      every pod ready) then buildZone(clusterZoneInput(model, services, serial)), serial read from
//      the responder's SOA (the agent stamps its zone with the time it built it). Its records()
//      (A, SRV, PTR, TXT, SOA, NS) become unbound local-data, under `local-zone: "<apex>." static`
//      for cluster.local and each reverse apex: unbound answers exactly the same names,
//      NXDOMAIN/NODATA with the SOA elsewhere in those zones, from memory;
//   4. the responder: it runs in the lab's runtime process, the klab-agent (pid from
//      /run/klab/bench-dns/state.json), which also runs the lab's kubelet/kube-proxy loop (idle
//      during the run: its CPU at rest is measured and printed). All its threads are pinned with
//      `taskset -a -p -c <server-cpu> PID` and reniced (--nice). Its RSS and CPU are the whole
//      agent's. unbound: `ip netns exec <DNS pod netns> nice taskset -c <server-cpu> unbound -d`
//      on <pod IP>:5353, num-threads 1, so-reuseport no, no cache prefetch, no validator
//      (module-config "iterator"), no remote-control, no chroot, no user switch, no logging. Pods
//      normally reach kube-dns through the Service IP 10.96.0.10 (kube-proxy DNATs it to the DNS
//      pod); the bench asks <pod IP>:53 and <pod IP>:5353 so both servers are reached over the same
//      path (node1 → cbr0 → the pod's veth), and prints one dig through 10.96.0.10 to show that
//      path answers too. unbound is started for the answer check and for each of its measurements
//      and stopped after; the responder stays up (idle while unbound is measured);
//   5. before the first measurement both are asked the same sample of names with dig (A of
//      ClusterIP and headless Services and of an endpoint name, SRV _http._tcp and plain, PTR of
//      ClusterIPs, AAAA NODATA, NXDOMAIN search-path expansions, TXT dns-version, SOA, NS);
//      rcode and answer section (owner, TTL, type, data; order ignored) must agree, otherwise the
//      differences are printed and the bench exits 4. Additional sections differ on purpose (the
//      responder adds the A records of SRV targets, as CoreDNS does);
//   6. the query file (--queries lines, default 20000, seeded shuffle, dnsperf loops over it) is
//      the mix a pod with the default `ndots:5` resolv.conf (search bench.svc.cluster.local
//      svc.cluster.local cluster.local) produces:
//        55 % A     svc-NNNN.bench.svc.cluster.local
//        10 % AAAA  svc-NNNN.bench.svc.cluster.local (NODATA: glibc asks A and AAAA together)
//        10 % SRV   _http._tcp.svc-NNNN.bench.svc.cluster.local (5 % of them plain SRV)
//        10 % PTR   ClusterIPs (8 %) and endpoint pod IPs (2 %). An IP that is an endpoint of
//             more than 8 Services is asked as a ClusterIP PTR instead: in the lab every Service
//             selects the same 3 pods, so a pod IP's PTR answer is 1000 names (~65 KB in full),
//             which no real cluster asks at this rate (over UDP both servers answer it TC)
//        15 % NXDOMAIN search-path expansions, e.g. svc-0001.bench.svc.cluster.local.bench.svc.
//             cluster.local, svc-0001.bench.bench.svc.cluster.local, svc-0001.svc.cluster.local
//   7. dnsperf runs in node1's namespace pinned with `taskset -c <client-cpu>` (one thread, -T 1):
//      `dnsperf -s <pod IP> -p {53|5353} -d FILE -l DURATION -c CLIENTS -q OUTSTANDING -T 1` (no
//      -Q: no qps limit), after a --warmup-second run of the same against the same server. The
//      server's CPU time over the run is measured from /proc (every thread) and printed: ~100 %
//      means it was saturated; below, dnsperf or the host's other load set the pace, and the
//      qps per CPU-second (queries completed / server CPU seconds) is the fairer comparison;
//   8. prints server | qps | avg latency | latency stddev | lost | server CPU | qps per
//      CPU-second, the ratios responder/unbound of qps (against the target) and of qps per
//      CPU-second, the responder's RSS (the agent's VmRSS) before the warm-up and after the
//      measurement and its peak (VmHWM). --json prints the same as JSON. With --rounds > 1 each
//      server is measured that many times, order alternating; medians are reported.
//
// --standalone: the former mode, no lab. The zone is generated (--services, default 1000, ClusterIPs
// 10.96.0.11 upwards, 3 distinct endpoint pod IPs each, every 50th headless); two namespaces
// bdns-<pid>-cli (192.0.2.1) and bdns-<pid>-srv (192.0.2.2) joined by a veth pair; the responder
// is scripts/bench-dns-responder.ts bundled with esbuild and run by plain node in bdns-<pid>-srv
// (`ip netns exec … nice taskset -c <server-cpu> node …`, 192.0.2.2:53), unbound next to it on
// :5353, each started, checked, warmed up, measured and stopped in turn. Only there can the
// responder be profiled (--profile). Everything it created is removed on exit.
//
// Options:
//   --duration S        measured seconds per server and round (default 10)
//   --warmup S          warm-up seconds per server and round (default 2; 0 skips)
//   --clients N         dnsperf -c (default 8)
//   --outstanding N     dnsperf -q, queries in flight (default 200)
//   --services N        number of Services (--standalone only; the lab has 1000)
//   --queries N         lines in the query file (default 20000)
//   --rounds N          measure each server N times, order alternating; medians reported (default 1)
//   --server-cpu N      the core both servers (the whole klab-agent, unbound) are pinned to (default 1)
//   --client-cpu N      the core dnsperf is pinned to (default 0)
//   --nice N            niceness of both servers and dnsperf (default -10)
//   --query-log         lab mode: spec.dns.log true, the lab's default (a CoreDNS log line per
//                       query in the DNS pod's log; unbound still logs nothing)
//   --standalone        no lab: the responder in its own process and namespaces (see above)
//   --skip-build        do not run `npm run build` even when dist/bundle is older than src/
//   --profile DIR       (--standalone) run the responder under `node --cpu-prof --cpu-prof-dir DIR` and print its
//                       top self-time functions (the .cpuprofile stays in DIR; the qps of a
//                       profiled run are lower than without)
//   --json              print the results as JSON on stdout (progress stays on stderr)
//
// Exit status: 0 when the ratio target is met, 1 when it is missed, 2 on bad options, 3 when the
// bench itself failed, 4 when the two servers' answers differ, 130/143 on SIGINT/SIGTERM.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, release, tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { clusterZoneInput } from "../src/dns/cluster.js";
import { buildZone, type DnsRecord, type Zone, type ZoneInput } from "../src/dns/zone.js";
import { resolveServices, type EndpointModel, type ServiceModel } from "../src/model/services.js";
import type { ClusterModel } from "../src/model/types.js";

// ---------------------------------------------------------------------------------------------
// options

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "2" },
    clients: { type: "string", default: "8" },
    outstanding: { type: "string", default: "200" },
    services: { type: "string", default: "1000" },
    queries: { type: "string", default: "20000" },
    rounds: { type: "string", default: "1" },
    "server-cpu": { type: "string", default: "1" },
    "client-cpu": { type: "string", default: "0" },
    nice: { type: "string", default: "-10" },
    profile: { type: "string" },
    standalone: { type: "boolean", default: false },
    "query-log": { type: "boolean", default: false },
    "skip-build": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  const text = readFileSync(fileURLToPath(import.meta.url), "utf8").split("\n");
  console.log(text.slice(0, text.findIndex((l) => l.startsWith("import "))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n"));
  process.exit(0);
}
function fail(msg: string): never {
  console.error(`bench-dns: ${msg}`);
  process.exit(2);
}
function intOpt(name: keyof typeof args, min: number, max: number): number {
  const v = Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) fail(`--${name} must be an integer from ${min} to ${max}`);
  return v;
}
const DURATION = intOpt("duration", 1, 3600);
const WARMUP = intOpt("warmup", 0, 600);
const CLIENTS = intOpt("clients", 1, 256);
const OUTSTANDING = intOpt("outstanding", 1, 65535);
const SERVICES = intOpt("services", 1, 50_000);
const QUERIES = intOpt("queries", 100, 1_000_000);
const ROUNDS = intOpt("rounds", 1, 20);
const SERVER_CPU = intOpt("server-cpu", 0, 1023);
const CLIENT_CPU = intOpt("client-cpu", 0, 1023);
const NICE = intOpt("nice", -20, 19);
/** `nice -n N taskset -c CPU`: pinned, and ahead of whatever else the host runs on that core. */
const pin = (cpu: number) => [...(NICE ? ["nice", "-n", String(NICE)] : []), "taskset", "-c", String(cpu)];
const PROFILE_DIR = args.profile ? resolve(args.profile) : undefined;
const JSON_OUT = Boolean(args.json);
const STANDALONE = Boolean(args.standalone);
if (PROFILE_DIR && !STANDALONE) fail("--profile needs --standalone (the lab's responder runs inside the klab-agent, started by klab up)");
if (!STANDALONE && args.services !== "1000") fail("--services is for --standalone; the lab has 1000 Services");
const TARGET_RATIO = 0.5;
/** A server using less of its core than this was not the bottleneck (dnsperf or the host was). */
const SATURATED_PERCENT = 90;

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const KLAB = join(repo, "bin/klab");
const say = (msg: string) => process.stderr.write(`bench-dns: ${msg}\n`);
const tail = (text: string, n = 20) => text.trimEnd().split("\n").slice(-n).join("\n");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
class BenchError extends Error {}
class MismatchError extends Error {}

// ---------------------------------------------------------------------------------------------
// processes and namespaces, with cleanup

const live = new Set<ChildProcess>();
const namespaces = new Set<string>();
let workDir: string | undefined;
/** `klab up` was run: `klab down` on the way out. */
let labStarted = false;
const LAB_NAME = "bench-dns";
let cleaning: Promise<void> | undefined;
let interrupted: NodeJS.Signals | undefined;

interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Runs one command to completion (own process group, so it and its children can be stopped). */
function run(cmd: string, argv: string[], input?: string): Promise<RunResult> {
  return new Promise((res, rej) => {
    const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"], detached: true, cwd: repo });
    live.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on("data", (b: Buffer) => out.push(b));
    child.stderr!.on("data", (b: Buffer) => err.push(b));
    child.stdin!.on("error", () => undefined);
    child.on("error", (e) => { live.delete(child); rej(e); });
    child.on("close", (code, signal) => {
      live.delete(child);
      res({ code, signal, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() });
    });
    child.stdin!.end(input ?? "");
  });
}

function checkInterrupted(): void {
  if (interrupted) throw new BenchError(`interrupted by ${interrupted}`);
}

async function must(cmd: string, argv: string[], what: string, input?: string): Promise<RunResult> {
  const r = await run(cmd, argv, input);
  checkInterrupted();
  if (r.code !== 0) throw new BenchError(`${what} failed (exit ${r.code ?? r.signal}): ${cmd} ${argv.join(" ")}\n${tail(r.stderr + r.stdout)}`);
  return r;
}

function stopChild(child: ChildProcess, sig: NodeJS.Signals = "SIGTERM"): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try { process.kill(-child.pid, sig); } catch { /* already gone */ }
}

async function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  for (let t = 0; t < ms; t += 25) {
    if (child.exitCode !== null || child.signalCode !== null) return true;
    await sleep(25);
  }
  return child.exitCode !== null || child.signalCode !== null;
}

async function addNetns(name: string): Promise<void> {
  namespaces.add(name); // before creating it: cleanup tolerates a namespace that does not exist
  await must("ip", ["netns", "add", name], "creating a namespace");
  await must("ip", ["-n", name, "link", "set", "lo", "up"], "bringing lo up");
}

async function delNetns(name: string): Promise<void> {
  const r = await run("ip", ["netns", "del", name]);
  if (r.code === 0 || /No such file/.test(r.stderr)) namespaces.delete(name);
  else say(`warning: ip netns del ${name}: ${r.stderr.trim()}`);
}

async function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const c of live) stopChild(c);
    for (let i = 0; i < 40 && [...live].some((c) => c.exitCode === null && c.signalCode === null); i++) await sleep(50);
    for (const c of live) stopChild(c, "SIGKILL");
    if (labStarted) {
      say(`klab down ${LAB_NAME}`);
      const r = await run(KLAB, ["down", LAB_NAME]);
      if (r.code !== 0) say(`warning: klab down ${LAB_NAME} failed (exit ${r.code ?? r.signal}): ${tail(r.stderr + r.stdout, 5)}`);
    }
    for (const ns of [...namespaces]) await delNetns(ns);
    if (namespaces.size) say(`cleanup: namespace(s) left: ${[...namespaces].join(" ")} (ip netns del NAME)`);
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  })();
  return cleaning;
}

for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  process.on(sig, () => {
    if (interrupted) { say(`${sig} again: still cleaning up, please wait`); return; }
    interrupted = sig;
    say(`${sig}: stopping and cleaning up`);
    cleanup().finally(() => process.exit(sig === "SIGINT" ? 130 : 143));
  });
}

// ---------------------------------------------------------------------------------------------
// tools

async function which(cmd: string): Promise<boolean> {
  return (await run("sh", ["-c", `command -v ${cmd}`])).code === 0;
}

async function ensureTools(): Promise<Record<string, string>> {
  const wanted: [string, string][] = [["dnsperf", "dnsperf"], ["unbound", "unbound"], ["taskset", "util-linux"], ["dig", "bind9-dnsutils"], ["ip", "iproute2"]];
  const missing: string[] = [];
  for (const [cmd, pkg] of wanted) if (!(await which(cmd)) && !missing.includes(pkg)) missing.push(pkg);
  if (missing.length) {
    say(`installing ${missing.join(" ")} (apt-get)`);
    const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
    const apt = (argv: string[]) =>
      new Promise<number | null>((res) => {
        const c = spawn("apt-get", argv, { stdio: ["ignore", "ignore", "inherit"], env });
        live.add(c);
        c.on("close", (code) => { live.delete(c); res(code); });
        c.on("error", () => { live.delete(c); res(127); });
      });
    if ((await apt(["install", "-y", "--no-install-recommends", ...missing])) !== 0) {
      if ((await apt(["update"])) !== 0 || (await apt(["install", "-y", "--no-install-recommends", ...missing])) !== 0) {
        throw new BenchError(`apt-get install ${missing.join(" ")} failed`);
      }
    }
    checkInterrupted();
    // The package enables and starts a system unbound (on :53 of the host's namespace). It does not
    // get in the way of ours (we listen in our own namespace), but a benchmark has no business
    // leaving a resolver running: stop and disable it — only the one we just installed.
    if (missing.includes("unbound") && existsSync("/run/systemd/system")) {
      await run("systemctl", ["disable", "--now", "unbound.service", "unbound-resolvconf.service"]);
    }
  }
  const version = async (cmd: string, argv: string[], re: RegExp) => {
    const r = await run(cmd, argv);
    return re.exec(r.stdout + r.stderr)?.[1] ?? "?";
  };
  return {
    dnsperf: await version("dnsperf", ["-h"], /Version (\S+)/),
    unbound: await version("unbound", ["-V"], /Version (\S+)/),
    node: process.version,
  };
}

// ---------------------------------------------------------------------------------------------
// the Services and the zone

const NAMESPACE = "bench";
const DOMAIN = "cluster.local";
const DNS_IP = "10.96.0.10";
const HEADLESS_EVERY = 50;

function ipv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
}
const svcName = (i: number) => `svc-${String(i + 1).padStart(4, "0")}`;
/** ClusterIP of Service i: 10.96.0.11 upwards. */
const clusterIPOf = (i: number) => ipv4(((10 << 24) | (96 << 16)) + 11 + i);
const isHeadless = (i: number) => i % HEADLESS_EVERY === HEADLESS_EVERY - 1;
/** Pod IP g: 10.244.(g / 250).(g % 250 + 2), all distinct (room for 64k). */
const podIPOf = (g: number) => `10.244.${Math.floor(g / 250)}.${(g % 250) + 2}`;

function endpoint(g: number): EndpointModel {
  const node = `node${(g % 20) + 1}`;
  return { ip: podIPOf(g), port: 8080, node, pod: `${NAMESPACE}/pod-${g}`, ready: true };
}

function generateServices(n: number): ServiceModel[] {
  const out: ServiceModel[] = [];
  for (let i = 0; i < n; i++) {
    out.push({
      namespace: NAMESPACE,
      name: svcName(i),
      type: "ClusterIP",
      clusterIP: isHeadless(i) ? null : clusterIPOf(i),
      ports: [{ name: "http", protocol: "TCP", port: 80 }],
      sessionAffinity: "None",
      affinityTimeoutSeconds: 10800,
      externalTrafficPolicy: "Cluster",
      internalTrafficPolicy: "Cluster",
      publishNotReadyAddresses: false,
      endpoints: { http: [0, 1, 2].map((j) => endpoint(3 * i + j)) },
    });
  }
  return out;
}

/** What the query file and the answer check need of a Service: its name, ClusterIP (null:
 * headless) and endpoint IPs. */
interface BenchSvc { name: string; clusterIP: string | null; endpointIPs: string[]; ptrEndpointIPs: string[] }

/** An IP that is an endpoint of more Services than this has a PTR answer of that many names
 * (in the lab, every Service selects the same 3 pods: 1000 names). No cluster asks that at
 * this rate, and over UDP both servers can only answer it truncated: those PTR questions are
 * replaced with PTRs of ClusterIPs. */
const MAX_PTR_NAMES = 8;

function benchSvcs(services: ServiceModel[]): BenchSvc[] {
  const uses = new Map<string, number>();
  for (const s of services) {
    for (const ip of new Set(Object.values(s.endpoints).flat().map((e) => e.ip))) uses.set(ip, (uses.get(ip) ?? 0) + 1);
  }
  return services
    .filter((s) => s.namespace === NAMESPACE)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((s) => ({
      name: s.name,
      clusterIP: s.clusterIP && s.clusterIP !== "None" ? s.clusterIP : null,
      endpointIPs: [...new Set(Object.values(s.endpoints).flat().filter((e) => e.ready).map((e) => e.ip))],
    }))
    .map((s) => ({ ...s, ptrEndpointIPs: s.endpointIPs.filter((ip) => (uses.get(ip) ?? 0) <= MAX_PTR_NAMES) }));
}

function zoneInput(n: number): ZoneInput {
  return {
    clusterDomain: DOMAIN,
    services: generateServices(n),
    pods: [],
    namespaces: ["default", "kube-system", NAMESPACE],
    reverseCIDRs: ["10.96.0.0/12", "10.244.0.0/16"],
    nameserverIP: DNS_IP,
    serial: 1,
  };
}

// ---------------------------------------------------------------------------------------------
// unbound

const fq = (name: string) => (name.endsWith(".") ? name : `${name}.`);

function rdataText(r: DnsRecord): string {
  switch (r.type) {
    case "SRV": return `${r.data.priority} ${r.data.weight} ${r.data.port} ${fq(r.data.target)}`;
    case "SOA": {
      const d = r.data;
      return `${fq(d.mname)} ${fq(d.rname)} ${d.serial} ${d.refresh} ${d.retry} ${d.expire} ${d.minimum}`;
    }
    case "TXT": return r.data.map((s) => `"${s.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(" ");
    case "A": case "AAAA": return r.data;
    default: return fq(r.data);
  }
}

function unboundConf(zone: Zone, dir: string, host: string, port: number): string {
  const lines = [
    "server:",
    `  interface: ${host}@${port}`,
    `  port: ${port}`,
    "  do-ip4: yes",
    "  do-ip6: no",
    "  do-udp: yes",
    "  do-tcp: yes",
    "  num-threads: 1",
    "  so-reuseport: no",
    `  directory: "${dir}"`,
    '  chroot: ""',
    '  username: ""',
    '  pidfile: ""',
    "  do-daemonize: no",
    "  use-syslog: no",
    '  logfile: ""',
    "  verbosity: 0",
    "  log-queries: no",
    "  log-replies: no",
    "  statistics-interval: 0",
    "  extended-statistics: no",
    "  prefetch: no",
    "  prefetch-key: no",
    '  module-config: "iterator"',
    // It listens inside a network namespace of its own (standalone) or the DNS pod's (lab).
    "  access-control: 0.0.0.0/0 allow",
  ];
  for (const apex of zone.apexes) lines.push(`  local-zone: "${fq(apex)}" static`);
  for (const r of zone.records()) lines.push(`  local-data: '${fq(r.name)} ${r.ttl} IN ${r.type} ${rdataText(r)}'`);
  lines.push("remote-control:", "  control-enable: no", "");
  return lines.join("\n");
}

// ---------------------------------------------------------------------------------------------
// network

const CLI_IP = "192.0.2.1";
const SRV_IP = "192.0.2.2";
const NS_CLI = `bdns-${process.pid}-cli`;
const NS_SRV = `bdns-${process.pid}-srv`;

/** Where dnsperf and dig run, where the servers run, and the servers' address. */
let clientNs = NS_CLI;
let serverNs = NS_SRV;
let serverIP = SRV_IP;

async function setupNetwork(): Promise<void> {
  await addNetns(NS_CLI);
  await addNetns(NS_SRV);
  await must("ip", ["-n", NS_CLI, "link", "add", "veth0", "type", "veth", "peer", "name", "veth0", "netns", NS_SRV], "creating the veth pair");
  await must("ip", ["-n", NS_CLI, "addr", "add", `${CLI_IP}/24`, "dev", "veth0"], "addressing the client side");
  await must("ip", ["-n", NS_SRV, "addr", "add", `${SRV_IP}/24`, "dev", "veth0"], "addressing the server side");
  await must("ip", ["-n", NS_CLI, "link", "set", "veth0", "up"], "bringing the client side up");
  await must("ip", ["-n", NS_SRV, "link", "set", "veth0", "up"], "bringing the server side up");
}

// ---------------------------------------------------------------------------------------------
// the lab (default mode)

/** The lab: 1 node, kube-dns (the responder, in the klab-agent), 3 netexec pods and `n`
 * Services selecting them in namespace bench. No query log (unless --query-log), no periodic
 * kube-proxy resync. */
function labYaml(n: number): string {
  const docs = [
    `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${LAB_NAME}}
spec:
  nodes: 1
  dns: {log: ${args["query-log"] ? "true" : "false"}}
  proxy: {syncPeriodSeconds: 3600}`,
    `apiVersion: v1
kind: Namespace
metadata: {name: ${NAMESPACE}}`,
    `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: ${NAMESPACE}}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: registry.k8s.io/e2e-test-images/agnhost:2.47
          args: ["netexec", "--http-port=8080"]
          ports: [{name: http, containerPort: 8080}]`,
  ];
  for (let i = 0; i < n; i++) {
    docs.push(`apiVersion: v1
kind: Service
metadata: {name: ${svcName(i)}, namespace: ${NAMESPACE}}
spec:
${isHeadless(i) ? "  clusterIP: None\n" : ""}  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]`);
  }
  return docs.join("\n---\n") + "\n";
}

/** `npm run build` when the bundle is missing or older than a source file (bin/klab runs dist/bundle). */
async function ensureBuilt(): Promise<void> {
  const outputs = ["dist/bundle/cli/klab.js", "dist/bundle/agent/main.js", "native/build/Release/klab_netns.node"].map((f) => join(repo, f));
  let why = outputs.some((f) => !existsSync(f)) ? "not built" : "";
  if (!why) {
    const built = Math.min(...outputs.map((f) => statSync(f).mtimeMs));
    const newer = (readdirSync(join(repo, "src"), { recursive: true }) as string[])
      .find((f) => f.endsWith(".ts") && statSync(join(repo, "src", f)).mtimeMs > built);
    if (newer) why = `src/${newer} is newer than the bundle`;
  }
  if (!why) return;
  if (args["skip-build"]) { say(`warning: ${why}; not building (--skip-build)`); return; }
  say(`building (${why}): npm run build`);
  await must("npm", ["run", "--silent", "build"], "npm run build");
}

interface Lab {
  model: ClusterModel;
  agentPid: number;
  nodeNetns: string;
  dnsPod: { name: string; ip: string; netns: string; node: string };
  services: ServiceModel[];
}

async function labUp(file: string): Promise<Lab> {
  if (existsSync(`/run/klab/${LAB_NAME}`)) {
    throw new BenchError(`a lab named ${LAB_NAME} exists already (/run/klab/${LAB_NAME}): not touching it; ./bin/klab down ${LAB_NAME} first`);
  }
  await must(KLAB, ["validate", file], "klab validate");
  labStarted = true; // before `up`: `down` removes whatever a failed `up` left
  const t0 = Date.now();
  await must(KLAB, ["up", file], "klab up");
  say(`lab ${LAB_NAME} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  const model = JSON.parse(readFileSync(`/run/klab/${LAB_NAME}/model.json`, "utf8")) as ClusterModel;
  const state = JSON.parse(readFileSync(`/run/klab/${LAB_NAME}/state.json`, "utf8")) as { agentPid?: number };
  if (!state.agentPid) throw new BenchError(`no agentPid in /run/klab/${LAB_NAME}/state.json`);
  const dns = model.pods.find((p) => p.namespace === "kube-system" && p.name.startsWith("klab-dns-"));
  if (!dns) throw new BenchError(`no kube-system/klab-dns-… pod in the lab's model`);
  return {
    model,
    agentPid: state.agentPid,
    nodeNetns: model.nodes[0].netns,
    dnsPod: { name: `${dns.namespace}/${dns.name}`, ip: dns.ip, netns: dns.netns, node: dns.node },
    // Every pod is ready (no readiness probes): the endpoints the agent's zone has.
    services: resolveServices(model.services, model.pods, () => true),
  };
}

/** The SOA serial the lab's responder uses (the agent stamps its zone with the time it was
 * built), so that unbound serves the same SOA. Waits for the responder to answer. */
async function labSerial(ip: string): Promise<number> {
  for (let i = 0; ; i++) {
    const r = await run("ip", ["netns", "exec", clientNs, "dig", `@${ip}`, "+tries=1", "+time=1", "+short", DOMAIN, "SOA"]);
    checkInterrupted();
    const m = /^\S+ \S+ (\d+) /m.exec(r.stdout);
    if (r.code === 0 && m) return Number(m[1]);
    if (i > 60) throw new BenchError(`the lab's DNS pod (${ip}:53) does not answer: ${tail(r.stdout + r.stderr, 5)}`);
    await sleep(500);
  }
}

/** Pins every thread of the klab-agent to the server core and renices them (nice is per thread). */
async function pinAgent(pid: number): Promise<void> {
  await must("taskset", ["-a", "-p", "-c", String(SERVER_CPU), String(pid)], "taskset (klab-agent)");
  if (NICE) {
    const tids = readdirSync(`/proc/${pid}/task`);
    await must("renice", ["-n", String(NICE), "-p", ...tids], "renice (klab-agent)");
  }
}

/** The lab's responder: it runs in the klab-agent already (started by `klab up`); nothing to start or stop. */
function labResponder(lab: Lab): RunningServer {
  return { name: "responder", target: { host: lab.dnsPod.ip, port: 53 }, pid: lab.agentPid, async stop() { /* the lab's */ } };
}

// ---------------------------------------------------------------------------------------------
// servers

interface Target { host: string; port: number }
interface RunningServer {
  name: string;
  target: Target;
  /** pid of the process serving DNS (for /proc/<pid>/{status,stat}). */
  pid: number;
  stop(): Promise<void>;
}

/** Reads a long-running child's stdout line by line until `re` matches (or it exits / times out). */
function waitLine(child: ChildProcess, re: RegExp, ms: number, what: string, errOut: () => string): Promise<RegExpExecArray> {
  return new Promise((res, rej) => {
    let buf = "";
    const timer = setTimeout(() => finish(new BenchError(`${what}: not ready after ${ms} ms\n${tail(errOut())}`)), ms);
    const onData = (b: Buffer) => {
      buf += b.toString();
      const m = re.exec(buf);
      if (m) finish(undefined, m);
    };
    const onClose = (code: number | null, signal: NodeJS.Signals | null) => finish(new BenchError(`${what} exited (${code ?? signal}) before it was ready\n${tail(errOut())}`));
    const finish = (e?: Error, m?: RegExpExecArray) => {
      clearTimeout(timer);
      child.stdout!.off("data", onData);
      child.off("close", onClose);
      if (e) rej(e); else res(m!);
    };
    child.stdout!.on("data", onData);
    child.on("close", onClose);
  });
}

function spawnLong(cmd: string, argv: string[], env?: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string; stdout: () => string } {
  const child = spawn(cmd, argv, { stdio: ["pipe", "pipe", "pipe"], detached: true, cwd: repo, env: env ?? process.env });
  live.add(child);
  let out = "";
  let err = "";
  child.stdout!.on("data", (b: Buffer) => { out += b.toString(); if (out.length > 1 << 20) out = out.slice(-65536); });
  child.stderr!.on("data", (b: Buffer) => { err += b.toString(); if (err.length > 1 << 20) err = err.slice(-65536); });
  child.stdin!.on("error", () => undefined);
  child.on("close", () => live.delete(child));
  return { child, stderr: () => err, stdout: () => out };
}

let responderStats: unknown;

/** scripts/bench-dns-responder.ts and src/dns/* bundled into one ESM file, run by plain node as
 * the lab's agent is (scripts/bundle.sh): no TypeScript loader in the measured process. */
async function bundleResponder(outfile: string): Promise<string> {
  await must(join(repo, "node_modules/.bin/esbuild"), [
    join(repo, "scripts/bench-dns-responder.ts"), "--bundle", "--platform=node", "--format=esm", "--target=node20",
    `--outfile=${outfile}`, "--log-level=warning",
    "--banner:js=import { createRequire as __klabCreateRequire } from 'node:module'; const require = __klabCreateRequire(import.meta.url);",
  ], "bundling the responder (esbuild)");
  return outfile;
}

/**
 * The responder under test, serving `input`, reachable from the client namespace at the returned
 * target. This is the one function to replace for the lab version (a lab with these Services,
 * its agent's responder behind kube-dns 10.96.0.10:53, the agent's pid for RSS/CPU).
 */
async function startResponder(inputFile: string, bundle: string): Promise<RunningServer> {
  const node = [process.execPath];
  if (PROFILE_DIR) node.push("--cpu-prof", "--cpu-prof-dir", PROFILE_DIR);
  const argv = [
    "netns", "exec", NS_SRV, ...pin(SERVER_CPU),
    ...node, bundle, "--zone-input", inputFile, "--host", SRV_IP, "--port", "53",
  ];
  const p = spawnLong("ip", argv);
  const m = await waitLine(p.child, /ready pid=(\d+) port=(\d+)/, 60_000, "the responder", p.stderr);
  checkInterrupted();
  return {
    name: "responder",
    target: { host: SRV_IP, port: Number(m[2]) },
    pid: Number(m[1]),
    async stop() {
      stopChild(p.child);
      if (!(await waitExit(p.child, 10_000))) { stopChild(p.child, "SIGKILL"); await waitExit(p.child, 2000); }
      const s = /^stats (.*)$/m.exec(p.stdout());
      if (s) { try { responderStats = JSON.parse(s[1]); } catch { /* ignore */ } }
      const errs = p.stderr().trim();
      if (errs) say(`responder stderr:\n${tail(errs, 10)}`);
    },
  };
}

async function startUnbound(conf: string): Promise<RunningServer> {
  const port = 5353;
  const p = spawnLong("ip", ["netns", "exec", serverNs, ...pin(SERVER_CPU), "unbound", "-d", "-p", "-c", conf]);
  // unbound -d prints nothing when it is up (verbosity 0): poll with dig until it answers.
  for (let i = 0; ; i++) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) throw new BenchError(`unbound exited (${p.child.exitCode ?? p.child.signalCode})\n${tail(p.stderr() + p.stdout())}`);
    const r = await run("ip", ["netns", "exec", clientNs, "dig", `@${serverIP}`, "-p", String(port), "+tries=1", "+time=1", "+short", `dns-version.${DOMAIN}`, "TXT"]);
    checkInterrupted();
    if (r.code === 0 && r.stdout.includes("1.1.0")) break;
    if (i > 100) throw new BenchError(`unbound does not answer\n${tail(p.stderr())}`);
    await sleep(100);
  }
  return {
    name: "unbound",
    target: { host: serverIP, port },
    pid: p.child.pid!, // ip netns exec, nice and taskset exec in place: this is unbound itself
    async stop() {
      stopChild(p.child);
      if (!(await waitExit(p.child, 10_000))) { stopChild(p.child, "SIGKILL"); await waitExit(p.child, 2000); }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// /proc

function procStatusKB(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** utime + stime of the process, every thread included, in clock ticks. */
function cpuTicks(pid: number): number {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    return Number(f[11]) + Number(f[12]); // fields 14 and 15
  } catch {
    return NaN;
  }
}
const CLK_TCK = 100;

// ---------------------------------------------------------------------------------------------
// queries

/** mulberry32 */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const fqdnOf = (s: BenchSvc) => `${s.name}.${NAMESPACE}.svc.${DOMAIN}`;
const reverse = (ip: string) => `${ip.split(".").reverse().join(".")}.in-addr.arpa`;

function queryFile(svcs: BenchSvc[], lines: number): { text: string; mix: Record<string, number> } {
  const r = rng(53);
  const n = svcs.length;
  const pick = () => Math.floor(r() * n);
  const pickClusterIP = () => { for (;;) { const s = svcs[pick()]; if (s.clusterIP) return s.clusterIP; } };
  const fqdn = (i: number) => fqdnOf(svcs[i]);
  const svcName = (i: number) => svcs[i].name;
  const podIP = (i: number) => { const e = svcs[i].ptrEndpointIPs; return e[Math.floor(r() * e.length)]; };
  const out: string[] = [];
  const mix: Record<string, number> = {};
  const add = (kind: string, line: string) => { out.push(line); mix[kind] = (mix[kind] ?? 0) + 1; };
  for (let k = 0; k < lines; k++) {
    const x = r();
    const i = pick();
    if (x < 0.55) add("A", `${fqdn(i)} A`);
    else if (x < 0.65) add("AAAA (NODATA)", `${fqdn(i)} AAAA`);
    else if (x < 0.7) add("SRV", `${fqdn(i)} SRV`);
    else if (x < 0.75) add("SRV", `_http._tcp.${fqdn(i)} SRV`);
    else if (x < 0.83) add("PTR", `${reverse(pickClusterIP())} PTR`);
    else if (x < 0.85 && svcs[i].ptrEndpointIPs.length) add("PTR", `${reverse(podIP(i))} PTR`);
    else if (x < 0.85) add("PTR", `${reverse(pickClusterIP())} PTR`);
    else {
      // What ndots:5 makes of names with fewer than 5 dots, before the name that exists.
      const y = r();
      const name =
        y < 0.4 ? `${fqdn(i)}.${NAMESPACE}.svc.${DOMAIN}`
        : y < 0.6 ? `${fqdn(i)}.svc.${DOMAIN}`
        : y < 0.7 ? `${fqdn(i)}.${DOMAIN}`
        : y < 0.9 ? `${svcName(i)}.${NAMESPACE}.${NAMESPACE}.svc.${DOMAIN}`
        : `${svcName(i)}.svc.${DOMAIN}`;
      add("NXDOMAIN", `${name} ${r() < 0.5 ? "A" : "AAAA"}`);
    }
  }
  return { text: out.join("\n") + "\n", mix };
}

// ---------------------------------------------------------------------------------------------
// answer check

interface DigAnswer { status: string; rrs: string[] }

async function digBatch(target: Target, questions: string[], file: string): Promise<DigAnswer[]> {
  writeFileSync(file, questions.join("\n") + "\n");
  const r = await must("ip", ["netns", "exec", clientNs, "dig", `@${target.host}`, "-p", String(target.port), "-f", file,
    "+noall", "+comments", "+answer", "+tries=2", "+time=2", "+nocookie"], "dig");
  const parts = r.stdout.split(/^;; ->>HEADER<<- /m).slice(1);
  if (parts.length !== questions.length) throw new BenchError(`dig: ${parts.length} answers for ${questions.length} questions\n${tail(r.stdout + r.stderr)}`);
  return parts.map((p) => {
    const status = /status: (\w+)/.exec(p)?.[1] ?? "?";
    const rrs = p.split("\n")
      .filter((l) => l.trim() && !l.startsWith(";") && !l.startsWith("opcode"))
      .map((l) => {
        const [owner, ttl, cls, type, ...data] = l.trim().split(/\s+/);
        return [owner.toLowerCase(), ttl, cls, type, data.join(" ").toLowerCase()].join(" ");
      })
      .sort();
    return { status, rrs };
  });
}

function sampleQuestions(svcs: BenchSvc[]): string[] {
  const n = svcs.length;
  const idx = [...new Set([0, 1, Math.floor(n / 2), n - 1])];
  const headless = [...Array(n).keys()].filter((i) => !svcs[i].clusterIP).slice(0, 2);
  const q: string[] = [];
  for (const i of [...idx, ...headless]) {
    const s = svcs[i];
    const fqdn = fqdnOf(s);
    q.push(`${fqdn} A`, `${fqdn} SRV`, `_http._tcp.${fqdn} SRV`, `${fqdn} AAAA`);
    if (s.endpointIPs.length) q.push(`${s.endpointIPs[0].replaceAll(".", "-")}.${fqdn} A`);
    if (s.ptrEndpointIPs.length) q.push(`${reverse(s.ptrEndpointIPs[s.ptrEndpointIPs.length > 1 ? 1 : 0])} PTR`);
    q.push(`${fqdn}.${NAMESPACE}.svc.${DOMAIN} A`, `${s.name}.${NAMESPACE}.${NAMESPACE}.svc.${DOMAIN} AAAA`);
  }
  for (const i of idx) if (svcs[i].clusterIP) q.push(`${reverse(svcs[i].clusterIP!)} PTR`);
  q.push(`dns-version.${DOMAIN} TXT`, `${DOMAIN} SOA`, `${DOMAIN} NS`, `nope.${DOMAIN} A`, `${reverse("10.96.255.254")} PTR`, `${reverse("10.244.250.250")} PTR`);
  return q;
}

async function compareAnswers(a: RunningServer, b: RunningServer, dir: string, svcs: BenchSvc[]): Promise<number> {
  const questions = sampleQuestions(svcs);
  const ra = await digBatch(a.target, questions, join(dir, "dig.txt"));
  const rb = await digBatch(b.target, questions, join(dir, "dig.txt"));
  // The comparison means something only if answers were read at all.
  const first = ra[0];
  if (first.status !== "NOERROR" || !first.rrs.some((l) => l.endsWith(` A ${svcs[0].clusterIP ?? svcs[0].endpointIPs[0]}`))) {
    throw new BenchError(`${a.name}: unexpected answer to ${questions[0]}: ${first.status} ${first.rrs.join("; ")}`);
  }
  const diffs: string[] = [];
  questions.forEach((q, k) => {
    const x = ra[k];
    const y = rb[k];
    if (x.status === y.status && x.rrs.join("\n") === y.rrs.join("\n")) return;
    const show = (rrs: string[]) => [...rrs.slice(0, 8).map((l) => `      ${l}`), ...(rrs.length > 8 ? [`      … ${rrs.length} records`] : [])].join("\n");
    diffs.push(`  ${q}\n    ${a.name}: ${x.status}\n${show(x.rrs)}\n    ${b.name}: ${y.status}\n${show(y.rrs)}`);
  });
  if (diffs.length) throw new MismatchError(`${diffs.length} of ${questions.length} answers differ:\n${diffs.join("\n")}`);
  return questions.length;
}

// ---------------------------------------------------------------------------------------------
// dnsperf

interface PerfResult {
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  avgLatencyMs: number;
  minLatencyMs: number;
  maxLatencyMs: number;
  stddevLatencyMs: number;
  rcodes: Record<string, number>;
  runSeconds: number;
  /** Server CPU time / wall time over the run, in % of one core. */
  serverCpuPercent: number;
  /** Queries completed per second of server CPU time: what one fully busy core would answer. */
  qpsPerCpuSecond: number;
}

function parseDnsperf(out: string): Omit<PerfResult, "serverCpuPercent" | "qpsPerCpuSecond"> {
  const num = (re: RegExp) => {
    const m = re.exec(out);
    if (!m) throw new BenchError(`cannot parse dnsperf output (${re}):\n${tail(out)}`);
    return Number(m[1]);
  };
  const rcodes: Record<string, number> = {};
  const rc = /Response codes:\s+(.*)/.exec(out)?.[1] ?? "";
  for (const m of rc.matchAll(/(\w+) (\d+) \(/g)) rcodes[m[1]] = Number(m[2]);
  return {
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    minLatencyMs: num(/Average Latency \(s\):.*min ([\d.]+)/) * 1000,
    maxLatencyMs: num(/Average Latency \(s\):.*max ([\d.]+)/) * 1000,
    stddevLatencyMs: num(/Latency StdDev \(s\):\s+([\d.]+)/) * 1000,
    rcodes,
    runSeconds: num(/Run time \(s\):\s+([\d.]+)/),
  };
}

async function dnsperf(server: RunningServer, file: string, seconds: number): Promise<PerfResult> {
  const argv = ["netns", "exec", clientNs, ...pin(CLIENT_CPU), "dnsperf",
    "-s", server.target.host, "-p", String(server.target.port), "-d", file, "-l", String(seconds),
    "-c", String(CLIENTS), "-q", String(OUTSTANDING), "-T", "1"];
  const t0 = process.hrtime.bigint();
  const c0 = cpuTicks(server.pid);
  const r = await must("ip", argv, `dnsperf against ${server.name}`);
  const c1 = cpuTicks(server.pid);
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const p = parseDnsperf(r.stdout);
  // dnsperf waits up to its timeout for the last answers: the CPU share is over its run time.
  const cpuSeconds = (c1 - c0) / CLK_TCK;
  return {
    ...p,
    serverCpuPercent: (cpuSeconds / Math.max(p.runSeconds, Math.min(wall, p.runSeconds + 5))) * 100,
    qpsPerCpuSecond: cpuSeconds > 0 ? p.completed / cpuSeconds : NaN,
  };
}

// ---------------------------------------------------------------------------------------------
// profile summary

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[];
  samples?: number[];
  startTime: number;
  endTime: number;
}

interface Hot { fn: string; where: string; percent: number }

/** esbuild precedes each bundled module with a `// path/of/module.ts` line: bundle line → module. */
function bundleModules(bundle: string): (line: number) => string {
  const marks: [number, string][] = [];
  readFileSync(bundle, "utf8").split("\n").forEach((l, i) => {
    const m = /^\/\/ ((?:\.\.\/)*[\w@./-]+\.[cm]?[jt]s)$/.exec(l);
    if (m) marks.push([i, m[1].replace(/^(\.\.\/)+/, "")]);
  });
  return (line) => {
    let lo = 0;
    let hi = marks.length - 1;
    let found = "";
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (marks[mid][0] <= line) { found = marks[mid][1]; lo = mid + 1; } else hi = mid - 1;
    }
    return found;
  };
}

function summarizeProfile(file: string, bundle: string): { top: Hot[]; byFile: Hot[] } {
  const prof = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const moduleOf = bundleModules(bundle);
  const bundleUrl = `file://${bundle}`;
  const total = prof.nodes.reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const idleHits = prof.nodes.filter((n) => n.callFrame.functionName === "(idle)").reduce((s, n) => s + (n.hitCount ?? 0), 0);
  const busy = Math.max(1, total - idleHits);
  const fnMap = new Map<string, Hot>();
  const fileMap = new Map<string, Hot>();
  const short = (url: string) => {
    if (!url) return "";
    const u = url.replace(/^file:\/\//, "");
    const nm = u.lastIndexOf("node_modules/");
    if (nm >= 0) return u.slice(nm + "node_modules/".length);
    return u.startsWith(repo) ? u.slice(repo.length + 1) : u;
  };
  for (const n of prof.nodes) {
    if (!n.hitCount || n.callFrame.functionName === "(idle)") continue;
    const inBundle = n.callFrame.url === bundleUrl;
    const mod = inBundle ? moduleOf(n.callFrame.lineNumber) : short(n.callFrame.url);
    const where = n.callFrame.url ? (inBundle ? `${mod} (bundle line ${n.callFrame.lineNumber + 1})` : `${mod}:${n.callFrame.lineNumber + 1}`) : "";
    const fn = n.callFrame.functionName || "(anonymous)";
    const key = `${fn} ${where}`;
    const h = fnMap.get(key) ?? { fn, where, percent: 0 };
    h.percent += (n.hitCount / busy) * 100;
    fnMap.set(key, h);
    const f = n.callFrame.url ? mod || short(n.callFrame.url) : fn;
    const g = fileMap.get(f) ?? { fn: f, where: "", percent: 0 };
    g.percent += (n.hitCount / busy) * 100;
    fileMap.set(f, g);
  }
  const sort = (m: Map<string, Hot>) => [...m.values()].sort((a, b) => b.percent - a.percent);
  return { top: sort(fnMap).slice(0, 25), byFile: sort(fileMap).slice(0, 15) };
}

// ---------------------------------------------------------------------------------------------
// main

interface Measured { server: string; round: number; warmup?: PerfResult; run: PerfResult; rssBeforeKB?: number; rssAfterKB?: number; hwmKB?: number }

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) throw new BenchError("must run as root (network namespaces)");
  const versions = await ensureTools();
  workDir = mkdtempSync(join(tmpdir(), "bdns-"));
  if (PROFILE_DIR) mkdirSync(PROFILE_DIR, { recursive: true });
  const profilesBefore = new Set(PROFILE_DIR ? readdirSync(PROFILE_DIR) : []);

  const conf = join(workDir, "unbound.conf");
  let zone: Zone;
  let svcs: BenchSvc[];
  let lab: Lab | undefined;
  let startResp: () => Promise<RunningServer>;
  let bundle = "";
  if (STANDALONE) {
    say(`zone: ${SERVICES} Services`);
    const input = zoneInput(SERVICES);
    zone = buildZone(input);
    svcs = benchSvcs(input.services);
    const inputFile = join(workDir, "zone-input.json");
    writeFileSync(inputFile, JSON.stringify(input));
    bundle = await bundleResponder(join(PROFILE_DIR ?? workDir, "bench-dns-responder.mjs"));
    say(`namespaces ${NS_CLI}, ${NS_SRV}`);
    await setupNetwork();
    startResp = () => startResponder(inputFile, bundle);
  } else {
    await ensureBuilt();
    const file = join(workDir, `${LAB_NAME}.yaml`);
    writeFileSync(file, labYaml(SERVICES));
    say(`klab up ${file} (${SERVICES} Services in namespace ${NAMESPACE}, 3 netexec pods, 1 node)`);
    const l = (lab = await labUp(file));
    clientNs = l.nodeNetns;
    serverNs = l.dnsPod.netns;
    serverIP = l.dnsPod.ip;
    svcs = benchSvcs(l.services);
    if (svcs.length !== SERVICES) throw new BenchError(`the lab has ${svcs.length} Services in namespace ${NAMESPACE}, expected ${SERVICES}`);
    const serial = await labSerial(serverIP);
    // The zone the agent serves, built by the same functions from the lab's model.
    zone = buildZone(clusterZoneInput(l.model, l.services, serial));
    say(`DNS pod ${l.dnsPod.name} ${l.dnsPod.ip} (netns ${l.dnsPod.netns}); klab-agent pid ${l.agentPid}; dnsperf in ${l.nodeNetns}`);
    await pinAgent(l.agentPid);
    startResp = async () => labResponder(l);
  }
  const records = zone.records();
  writeFileSync(conf, unboundConf(zone, workDir, serverIP, 5353));
  await must("unbound-checkconf", [conf], "unbound-checkconf");
  const qf = queryFile(svcs, QUERIES);
  const qfile = join(workDir, "queries.txt");
  writeFileSync(qfile, qf.text);

  const starters: Record<string, () => Promise<RunningServer>> = {
    responder: startResp,
    unbound: () => startUnbound(conf),
  };

  // What pods do: ask kube-dns's ClusterIP (kube-proxy DNATs it to the DNS pod).
  let viaServiceIP: string | undefined;
  if (lab) {
    const q = `${svcs[0].name}.${NAMESPACE}.svc.${DOMAIN}`;
    const r = await run("ip", ["netns", "exec", clientNs, "dig", `@${DNS_IP}`, "+tries=2", "+time=2", "+short", q, "A"]);
    viaServiceIP = `dig @${DNS_IP} ${q} A → ${r.stdout.trim().split("\n").join(" ") || `(no answer, exit ${r.code})`}`;
    say(viaServiceIP);
  }

  // Answer check: both up for a moment (idle), the same questions to each.
  say("checking that both servers give the same answers");
  let checked: number;
  {
    const r = await starters.responder();
    let u: RunningServer | undefined;
    try {
      u = await starters.unbound();
      checked = await compareAnswers(r, u, workDir, svcs);
    } finally {
      await u?.stop();
      await r.stop();
    }
  }
  say(`${checked} answers identical`);

  let agentIdlePercent: number | undefined;
  if (lab) {
    const c0 = cpuTicks(lab.agentPid);
    await sleep(2000);
    agentIdlePercent = ((cpuTicks(lab.agentPid) - c0) / CLK_TCK / 2) * 100;
    say(`klab-agent at rest: ${agentIdlePercent.toFixed(1)} % CPU`);
  }

  const measured: Measured[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? ["responder", "unbound"] : ["unbound", "responder"];
    for (const name of order) {
      checkInterrupted();
      const s = await starters[name]();
      try {
        const m: Measured = { server: name, round, run: undefined as unknown as PerfResult };
        m.rssBeforeKB = procStatusKB(s.pid, "VmRSS");
        if (WARMUP > 0) {
          say(`${name}: warm-up ${WARMUP} s`);
          m.warmup = await dnsperf(s, qfile, WARMUP);
        }
        say(`${name}: ${DURATION} s (round ${round + 1}/${ROUNDS})`);
        m.run = await dnsperf(s, qfile, DURATION);
        m.rssAfterKB = procStatusKB(s.pid, "VmRSS");
        m.hwmKB = procStatusKB(s.pid, "VmHWM");
        say(`${name}: ${m.run.qps.toFixed(0)} qps, avg ${m.run.avgLatencyMs.toFixed(3)} ms, lost ${m.run.lost}, server CPU ${m.run.serverCpuPercent.toFixed(0)} %`);
        measured.push(m);
      } finally {
        await s.stop();
      }
    }
  }

  const summary = (name: string) => {
    const ms = measured.filter((m) => m.server === name);
    const pick = (f: (r: PerfResult) => number) => median(ms.map((m) => f(m.run)));
    return {
      server: name,
      qps: pick((r) => r.qps),
      avgLatencyMs: pick((r) => r.avgLatencyMs),
      stddevLatencyMs: pick((r) => r.stddevLatencyMs),
      maxLatencyMs: pick((r) => r.maxLatencyMs),
      lost: ms.reduce((s, m) => s + m.run.lost, 0),
      sent: ms.reduce((s, m) => s + m.run.sent, 0),
      serverCpuPercent: pick((r) => r.serverCpuPercent),
      qpsPerCpuSecond: pick((r) => r.qpsPerCpuSecond),
      rcodes: ms[0].run.rcodes,
      rssBeforeKB: ms[0].rssBeforeKB,
      rssAfterKB: ms[ms.length - 1].rssAfterKB,
      hwmKB: Math.max(...ms.map((m) => m.hwmKB ?? 0)),
    };
  };
  const resp = summary("responder");
  const unb = summary("unbound");
  const ratio = resp.qps / unb.qps;
  const cpuRatio = resp.qpsPerCpuSecond / unb.qpsPerCpuSecond;
  const saturated = (s: { serverCpuPercent: number }) => s.serverCpuPercent >= SATURATED_PERCENT;

  let profile: ReturnType<typeof summarizeProfile> & { files: string[] } | undefined;
  if (PROFILE_DIR && bundle) {
    const files = readdirSync(PROFILE_DIR).filter((f) => f.endsWith(".cpuprofile") && !profilesBefore.has(f)).map((f) => join(PROFILE_DIR, f));
    // The biggest one is a measured run (the answer check's run is short).
    files.sort((a, b) => statSync(b).size - statSync(a).size);
    if (files.length) profile = { ...summarizeProfile(files[0], bundle), files };
  }

  const R = {
    host: { kernel: release(), cpus: cpus().length, cpu: cpus()[0]?.model, ...versions },
    settings: {
      services: SERVICES, records: records.length, queries: QUERIES, mix: qf.mix, duration: DURATION, warmup: WARMUP, rounds: ROUNDS,
      dnsperf: `dnsperf -s ${serverIP} -p {53|5353} -d queries.txt -l ${DURATION} -c ${CLIENTS} -q ${OUTSTANDING} -T 1`,
      serverCpu: SERVER_CPU, clientCpu: CLIENT_CPU, nice: NICE, profiled: Boolean(PROFILE_DIR),
    },
    mode: lab ? "lab" : "standalone",
    lab: lab
      ? { name: LAB_NAME, dnsPod: lab.dnsPod, agentPid: lab.agentPid, clientNetns: clientNs, agentIdleCpuPercent: agentIdlePercent, viaServiceIP }
      : undefined,
    checkedAnswers: checked,
    responder: resp,
    unbound: unb,
    ratio,
    cpuRatio,
    saturated: { responder: saturated(resp), unbound: saturated(unb) },
    target: { ratio: TARGET_RATIO, pass: ratio >= TARGET_RATIO },
    rounds: measured,
    responderStats,
    profile,
  };
  if (JSON_OUT) {
    console.log(JSON.stringify(R, (_k, x) => (typeof x === "number" && !Number.isInteger(x) ? Math.round(x * 1000) / 1000 : x), 2));
  } else {
    const mb = (kb?: number) => (kb === undefined ? "?" : (kb / 1024).toFixed(1));
    if (lab) {
      console.log(`\nlab ${LAB_NAME}: the responder is the klab-agent (pid ${lab.agentPid}), which also runs the lab's kubelet/kube-proxy loop ` +
        `(idle during the run: ${agentIdlePercent?.toFixed(1)} % CPU at rest), serving ${lab.dnsPod.name} on ${lab.dnsPod.ip}:53; ` +
        `unbound in the same pod's network namespace on ${lab.dnsPod.ip}:5353; dnsperf in node ${lab.dnsPod.node}'s namespace (${clientNs}). ` +
        `Pods ask kube-dns's Service IP ${DNS_IP} (kube-proxy DNATs it to the pod); the bench asks the pod IP so that both servers are reached the same way. ` +
        `${viaServiceIP}` + (args["query-log"] ? ` The responder writes its query log (--query-log); unbound logs nothing.` : ""));
    } else {
      console.log(`\nstandalone: the responder in its own node process (scripts/bench-dns-responder.ts) and unbound, both in namespace ${NS_SRV} on ${SRV_IP}; dnsperf in ${NS_CLI}`);
    }
    console.log(`Cluster DNS: ${SERVICES} Services (${records.length} records), ${DURATION} s per server${ROUNDS > 1 ? `, median of ${ROUNDS} rounds` : ""}; ` +
      `dnsperf -c ${CLIENTS} -q ${OUTSTANDING} -T 1 on CPU ${CLIENT_CPU}, servers on CPU ${SERVER_CPU}, nice ${NICE}` +
      `${PROFILE_DIR ? " (responder under --cpu-prof)" : ""}`);
    console.log(`host: ${R.host.cpu}, ${R.host.cpus} CPUs, Linux ${R.host.kernel}, node ${versions.node}, unbound ${versions.unbound}, dnsperf ${versions.dnsperf}`);
    console.log(`query mix: ${Object.entries(qf.mix).map(([k, v]) => `${k} ${((v / QUERIES) * 100).toFixed(0)} %`).join(", ")}\n`);
    console.log("| server    |     qps | avg latency ms | stddev ms |  max ms | lost | server CPU | qps per CPU-second |");
    console.log("|-----------|--------:|---------------:|----------:|--------:|-----:|-----------:|-------------------:|");
    for (const s of [resp, unb]) {
      console.log(`| ${s.server.padEnd(9)} | ${s.qps.toFixed(0).padStart(7)} | ${s.avgLatencyMs.toFixed(3).padStart(14)} | ${s.stddevLatencyMs.toFixed(3).padStart(9)} | ` +
        `${s.maxLatencyMs.toFixed(2).padStart(7)} | ${String(s.lost).padStart(4)} | ${(s.serverCpuPercent.toFixed(0) + " %").padStart(10)} | ${s.qpsPerCpuSecond.toFixed(0).padStart(18)} |`);
    }
    console.log(`\nratio responder/unbound qps: ${ratio.toFixed(2)} (target ≥ ${TARGET_RATIO.toFixed(2)}): ${ratio >= TARGET_RATIO ? "PASS" : "MISS"}`);
    console.log(`ratio responder/unbound qps per CPU-second: ${cpuRatio.toFixed(2)}`);
    for (const s of [resp, unb]) {
      if (!saturated(s)) {
        console.log(`note: ${s.server} got ${s.serverCpuPercent.toFixed(0)} % of its core (dnsperf's pace, other load on the host or wake-up latency limited it): ` +
          `its qps understate one core's capacity; the per-CPU-second figures compare the servers' efficiency regardless`);
      }
    }
    console.log(`responder${lab ? " (the whole klab-agent)" : ""} RSS: ${mb(resp.rssBeforeKB)} MiB before the warm-up, ${mb(resp.rssAfterKB)} MiB after the run (peak ${mb(resp.hwmKB)} MiB); ` +
      `unbound RSS ${mb(unb.rssAfterKB)} MiB`);
    const rc = (x: Record<string, number>) => Object.entries(x).map(([k, v]) => `${k} ${v}`).join(", ");
    console.log(`response codes: responder ${rc(resp.rcodes)}; unbound ${rc(unb.rcodes)}`);
    if (profile) {
      console.log(`\nresponder profile (${basename(profile.files[0])} in ${PROFILE_DIR}), self time, % of non-idle samples:`);
      for (const h of profile.byFile) console.log(`  ${h.percent.toFixed(1).padStart(5)} %  ${h.fn}`);
      console.log("  top functions:");
      for (const h of profile.top) console.log(`  ${h.percent.toFixed(1).padStart(5)} %  ${h.fn}  ${h.where}`);
    }
  }
  return ratio >= TARGET_RATIO ? 0 : 1;
}

main().then(
  async (code) => { await cleanup(); process.exit(code); },
  async (e) => {
    await cleanup().catch(() => undefined);
    if (interrupted) return;
    if (e instanceof MismatchError) { console.error(`bench-dns: the responder and unbound disagree: ${e.message}`); process.exit(4); }
    console.error(`bench-dns: ${e instanceof BenchError ? e.message : (e as Error)?.stack ?? e}`);
    process.exit(3);
  },
);
