// Runs a lab's checks against the live kernel: each probe inside its source namespace, retried
// while it has not yet met a `succeed` expectation; `fail` expectations get a single attempt
// (the isolation must hold on the first try).
import { run, parallel } from "../kernel/exec.js";
import { parseEndpoint, resolveNodePort, selectPods } from "../model/cluster.js";
import type { CheckModel, ClusterModel, Endpoint, PodModel } from "../model/types.js";
import {
  curlArgv,
  digArgv,
  judgeDns,
  distributionArgv,
  judgeDistribution,
  endpointIP,
  endpointName,
  endpointNetns,
  expandUrl,
  judgeHttp,
  parsePing,
  parseTcp,
  parseUdp,
  pingArgv,
  tcpArgv,
  udpArgv,
  type Outcome,
} from "./probes.js";

export interface MatrixResult {
  protocol: "tcp" | "ping";
  port?: number;
  from: string[];
  to: string[];
  /** cells[i][j]: could from[i] reach to[j]? */
  cells: boolean[][];
}

export interface CheckResult {
  name: string;
  from?: string;
  probe: string;
  expect: "succeed" | "fail";
  passed: boolean;
  observed: string;
  reason?: string;
  attempts: number;
  durationMs: number;
  matrix?: MatrixResult;
}

export function describeProbe(m: ClusterModel, c: CheckModel): string {
  const p = c.probe;
  const name = (e: Endpoint) => (e.kind === "ip" ? e.ip : `${endpointName(e)} (${endpointIP(m, e)})`);
  switch (p.kind) {
    case "ping": return `ping ${name(p.target)}`;
    case "tcp": return `tcp ${name(p.target)}:${p.port}`;
    case "udp": return `udp ${name(p.target)}:${p.port} "${p.send}"`;
    case "dns": return `dig ${p.search ? "+search " : ""}${p.tcp ? "+tcp " : ""}${p.server ? `@${p.server} ` : ""}${p.name} ${p.type}`;
    case "http": {
      const what = p.distribution ? `${p.distribution.requests}× ` : "";
      try { return `${what}${p.method} ${expandUrl(m, p.url, resolver(m), nodePorts(m))}`; } catch { return `${what}${p.method} ${p.url}`; }
    }
    case "matrix": return `matrix ${p.protocol}${p.port ? `:${p.port}` : ""}`;
  }
}

async function inNetns(netns: string, argv: string[], input?: string, timeoutMs?: number) {
  return run("ip", ["netns", "exec", netns, ...argv], { reject: false, input, timeoutMs });
}

const nodePorts = (m: ClusterModel) => (text: string): number => {
  const r = resolveNodePort(text, m);
  if (!r.ok) throw new Error(r.error);
  return r.port;
};

const resolver = (m: ClusterModel) => (text: string): Endpoint => {
  const r = parseEndpoint(text, m);
  if (!r.ok) throw new Error(r.error);
  return r.endpoint;
};

async function attempt(m: ClusterModel, c: CheckModel, from: Endpoint): Promise<Outcome> {
  const ns = endpointNetns(m, from);
  const p = c.probe;
  const hard = c.timeoutMs + 3000;
  switch (p.kind) {
    case "ping": {
      const r = await inNetns(ns, pingArgv(endpointIP(m, p.target), c.timeoutMs), undefined, hard);
      return parsePing(r.stdout, r.exitCode);
    }
    case "http": {
      const url = expandUrl(m, p.url, resolver(m), nodePorts(m));
      if (p.distribution) {
        const r = await inNetns(ns, distributionArgv(url, p.distribution.requests, c.timeoutMs), undefined, hard * p.distribution.requests);
        return judgeDistribution(p.distribution, r.stdout, r.stderr, r.exitCode);
      }
      const r = await inNetns(ns, curlArgv(url, p.method, c.timeoutMs), undefined, hard);
      return judgeHttp(p, r.stdout, r.stderr, r.exitCode);
    }
    case "tcp": {
      const r = await inNetns(ns, tcpArgv(endpointIP(m, p.target), p.port, c.timeoutMs), undefined, hard);
      return parseTcp(r.stderr, r.exitCode);
    }
    case "udp": {
      const r = await inNetns(ns, udpArgv(endpointIP(m, p.target), p.port, c.timeoutMs), p.send, hard);
      return parseUdp(p, r.stdout, r.stderr);
    }
    case "dns": {
      const r = await inNetns(ns, digArgv(p, c.timeoutMs), undefined, hard);
      return judgeDns(p, r.stdout, r.exitCode);
    }
    case "matrix":
      throw new Error("matrix is run by runMatrix");
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function runCheck(m: ClusterModel, c: CheckModel): Promise<CheckResult> {
  const t0 = Date.now();
  const base = { name: c.name, from: c.from ? endpointName(c.from) : undefined, probe: describeProbe(m, c), expect: c.expect };
  if (c.probe.kind === "matrix") return { ...base, ...(await runMatrix(m, c)), durationMs: Date.now() - t0 };
  const tries = c.expect === "succeed" ? c.retries + 1 : 1;
  let out: Outcome = { ok: false, observed: "not run" };
  let n = 0;
  while (n < tries) {
    n++;
    out = await attempt(m, c, c.from!);
    if (out.ok) break;
    if (n < tries) await sleep(300);
  }
  const passed = c.expect === "succeed" ? out.ok : !out.ok;
  const reason = passed
    ? undefined
    : c.expect === "succeed"
      ? out.mismatch ?? `expected to succeed: ${out.observed}`
      : `expected to fail, but it succeeded: ${out.observed}`;
  return { ...base, passed, observed: out.observed, reason, attempts: n, durationMs: Date.now() - t0 };
}

const podRef = (p: PodModel) => `${p.namespace}/${p.name}`;

async function runMatrix(m: ClusterModel, c: CheckModel): Promise<Omit<CheckResult, "name" | "from" | "probe" | "expect" | "durationMs">> {
  const p = c.probe as Extract<CheckModel["probe"], { kind: "matrix" }>;
  const from = selectPods(m, p.from);
  const to = selectPods(m, p.to);
  const pairs = from.flatMap((f, i) => to.map((t, j) => ({ f, t, i, j })));
  const cells = from.map(() => to.map(() => false));
  await parallel(pairs, 16, async ({ f, t, i, j }) => {
    const tries = c.expect === "succeed" ? c.retries + 1 : 1;
    for (let n = 0; n < tries && !cells[i][j]; n++) {
      if (p.protocol === "ping") cells[i][j] = parsePing((await inNetns(f.netns, pingArgv(t.ip, c.timeoutMs))).stdout, 0).ok;
      else {
        const r = await inNetns(f.netns, tcpArgv(t.ip, p.port!, c.timeoutMs));
        cells[i][j] = parseTcp(r.stderr, r.exitCode).ok;
      }
    }
  });
  const want = c.expect === "succeed";
  const wrong = pairs.filter(({ i, j }) => cells[i][j] !== want);
  const reachable = cells.flat().filter(Boolean).length;
  return {
    passed: wrong.length === 0,
    observed: `${reachable}/${pairs.length} pairs reachable`,
    reason: wrong.length
      ? `${wrong.length} pair(s) ${want ? "unreachable" : "reachable"}: ${wrong.slice(0, 3).map(({ f, t }) => `${podRef(f)} → ${podRef(t)}`).join(", ")}${wrong.length > 3 ? ", …" : ""}`
      : undefined,
    attempts: 1,
    matrix: { protocol: p.protocol, port: p.port, from: from.map(podRef), to: to.map(podRef), cells },
  };
}

export async function runChecks(m: ClusterModel, checks = m.checks, concurrency = 8): Promise<CheckResult[]> {
  return parallel(checks, concurrency, (c) => runCheck(m, c));
}
