// Probes are the tools users know — ping, curl, nc — run inside the source's network
// namespace. This module builds their command lines and reads their output (pure); runner.ts
// executes them.
import type { ClusterModel, Endpoint, Probe } from "../model/types.js";

export interface Outcome {
  ok: boolean;
  /** What was observed, in the tool's terms ("200 OK, 5 bytes", "connection refused"). */
  observed: string;
  /** Why it does not meet the probe's own expectations (status, body, header), if it doesn't. */
  mismatch?: string;
}

export function endpointName(e: Endpoint): string {
  switch (e.kind) {
    case "pod": return `pod/${e.namespace}/${e.name}`;
    case "node": return `node/${e.name}`;
    case "client": return `client/${e.name}`;
    case "ip": return e.ip;
    case "svc": return `svc/${e.namespace}/${e.name}`;
    case "lb": return `lb/${e.namespace}/${e.name}`;
  }
}

export function endpointNetns(m: ClusterModel, e: Endpoint): string {
  switch (e.kind) {
    case "pod": return m.pods.find((p) => p.namespace === e.namespace && p.name === e.name)!.netns;
    case "node": return m.nodes.find((n) => n.name === e.name)!.netns;
    case "client": return m.clients.find((c) => c.name === e.name)!.netns;
    default: throw new Error(`${endpointName(e)} is an address, not a place to run a probe from`);
  }
}

export function endpointIP(m: ClusterModel, e: Endpoint): string {
  switch (e.kind) {
    case "pod": return m.pods.find((p) => p.namespace === e.namespace && p.name === e.name)!.ip;
    case "node": return m.nodes.find((n) => n.name === e.name)!.underlayIP;
    case "client": return m.clients.find((c) => c.name === e.name)!.underlayIP;
    case "ip": return e.ip;
    case "svc": return m.services.find((s) => s.namespace === e.namespace && s.name === e.name)!.clusterIP!;
    case "lb": return m.services.find((s) => s.namespace === e.namespace && s.name === e.name)!.loadBalancerIP!;
  }
}

/** `http://{pod/default/web}:8080/` → `http://10.244.1.2:8080/`; `{nodeport/ns/svc}` → its nodePort. */
export function expandUrl(m: ClusterModel, url: string, resolve: (text: string) => Endpoint, nodePort?: (text: string) => number): string {
  return url.replace(/\{([^}]*)\}/g, (_, ref: string) => (ref.startsWith("nodeport/") && nodePort ? String(nodePort(ref)) : endpointIP(m, resolve(ref))));
}

/** N requests on fresh connections (Connection: close), one curl process: the bodies, one per line. */
export function distributionArgv(url: string, requests: number, timeoutMs: number): string[] {
  return ["curl", "-sS", "--max-time", String((timeoutMs / 1000) * Math.min(requests, 10)), "--connect-timeout", String(timeoutMs / 1000),
    "-H", "Connection: close", "-w", "\\n", ...Array.from({ length: requests }, () => url)];
}

export function judgeDistribution(d: { requests: number; atLeast?: number; atMost?: number }, stdout: string, stderr: string, exitCode: number): Outcome {
  const bodies = stdout.split("\n").slice(0, d.requests).map((b) => b.trim()).filter(Boolean);
  const counts = new Map<string, number>();
  for (const b of bodies) counts.set(b, (counts.get(b) ?? 0) + 1);
  const spread = [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([b, n]) => `${shorten(b, 24)}×${n}`).join(", ");
  const observed = `${bodies.length}/${d.requests} answered by ${counts.size} distinct: ${spread || "none"}`;
  if (bodies.length < d.requests) return { ok: false, observed, mismatch: `only ${bodies.length} of ${d.requests} requests answered${exitCode ? ` (${curlError(stderr, exitCode)})` : ""}` };
  if (d.atLeast !== undefined && counts.size < d.atLeast) return { ok: false, observed, mismatch: `expected at least ${d.atLeast} distinct responses, got ${counts.size}` };
  if (d.atMost !== undefined && counts.size > d.atMost) return { ok: false, observed, mismatch: `expected at most ${d.atMost} distinct responses, got ${counts.size}` };
  return { ok: true, observed };
}

export const secs = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

export function pingArgv(ip: string, timeoutMs: number): string[] {
  return ["ping", "-c", "1", "-W", String(secs(timeoutMs)), "-n", ip];
}

export function parsePing(stdout: string, exitCode: number): Outcome {
  const rtt = /time=([\d.]+) ms/.exec(stdout);
  if (exitCode === 0 && rtt) return { ok: true, observed: `reply in ${rtt[1]} ms` };
  const unreach = /From ([\d.]+).*(Destination \w+ Unreachable)/i.exec(stdout);
  if (unreach) return { ok: false, observed: `${unreach[2].toLowerCase()} (from ${unreach[1]})` };
  return { ok: false, observed: "no reply (100% packet loss)" };
}

export function curlArgv(url: string, method: string, timeoutMs: number): string[] {
  return ["curl", "-sS", "-i", "--max-time", String(timeoutMs / 1000), "--connect-timeout", String(timeoutMs / 1000), "-X", method, url];
}

export interface HttpResponse {
  status: number;
  reason: string;
  headers: Record<string, string>;
  body: string;
}

export function parseHttpResponse(raw: string): HttpResponse | null {
  // With -i curl prints every response (e.g. a 100 Continue) — the last one counts.
  const blocks: HttpResponse[] = [];
  let rest = raw;
  while (/^HTTP\/[\d.]+ \d{3}/.test(rest)) {
    const end = rest.search(/\r?\n\r?\n/);
    const head = end < 0 ? rest : rest.slice(0, end);
    rest = end < 0 ? "" : rest.slice(end).replace(/^\r?\n\r?\n/, "");
    const [statusLine, ...lines] = head.split(/\r?\n/);
    const m = /^HTTP\/[\d.]+ (\d{3}) ?(.*)$/.exec(statusLine)!;
    const headers: Record<string, string> = {};
    for (const l of lines) {
      const i = l.indexOf(":");
      if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
    }
    blocks.push({ status: Number(m[1]), reason: m[2], headers, body: "" });
  }
  if (!blocks.length) return null;
  const last = blocks[blocks.length - 1];
  last.body = rest;
  return last;
}

const shorten = (s: string, n = 60) => {
  const one = s.replace(/\s+/g, " ").trim();
  return one.length > n ? `${one.slice(0, n - 1)}…` : one;
};

export function curlError(stderr: string, exitCode: number): string {
  const m = /curl: \((\d+)\) (.*)/.exec(stderr);
  if (!m) return `curl exit ${exitCode}`;
  if (m[1] === "7") return /refused/i.test(m[2]) ? "connection refused" : `cannot connect: ${shorten(m[2])}`;
  if (m[1] === "28") return "timed out";
  return shorten(m[2]);
}

export function judgeHttp(probe: Extract<Probe, { kind: "http" }>, stdout: string, stderr: string, exitCode: number): Outcome {
  if (exitCode !== 0) return { ok: false, observed: curlError(stderr, exitCode) };
  const r = parseHttpResponse(stdout);
  if (!r) return { ok: false, observed: "no HTTP response" };
  const observed = `${r.status}${r.reason ? ` ${r.reason}` : ""}, body ${JSON.stringify(shorten(r.body, 40))}`;
  const want = probe.status;
  if (want !== undefined ? r.status !== want : r.status >= 400) {
    return { ok: false, observed, mismatch: `expected status ${want ?? "2xx/3xx"}, got ${r.status}` };
  }
  if (probe.bodyContains !== undefined && !r.body.includes(probe.bodyContains)) {
    return { ok: false, observed, mismatch: `body does not contain ${JSON.stringify(probe.bodyContains)}` };
  }
  if (probe.bodyMatches !== undefined && !new RegExp(probe.bodyMatches).test(r.body)) {
    return { ok: false, observed, mismatch: `body does not match /${probe.bodyMatches}/` };
  }
  for (const [k, v] of Object.entries(probe.headers ?? {})) {
    const got = r.headers[k.toLowerCase()];
    if (got === undefined) return { ok: false, observed, mismatch: `no ${k} header` };
    if (!got.includes(v)) return { ok: false, observed, mismatch: `header ${k} is ${JSON.stringify(got)}, expected ${JSON.stringify(v)}` };
  }
  return { ok: true, observed };
}

export function tcpArgv(ip: string, port: number, timeoutMs: number): string[] {
  return ["nc", "-z", "-v", "-n", "-w", String(secs(timeoutMs)), ip, String(port)];
}

export function parseTcp(stderr: string, exitCode: number): Outcome {
  if (exitCode === 0) return { ok: true, observed: "connected" };
  if (/refused/i.test(stderr)) return { ok: false, observed: "connection refused" };
  if (/timed out|in progress/i.test(stderr) || stderr.trim() === "") return { ok: false, observed: "timed out" };
  if (/unreachable|no route/i.test(stderr)) return { ok: false, observed: "no route to host" };
  return { ok: false, observed: shorten(stderr.split("\n").find((l) => l.trim()) ?? `nc exit ${exitCode}`) };
}

export function udpArgv(ip: string, port: number, timeoutMs: number): string[] {
  // -W 1: stop after the first reply; -w: give up after the timeout without one.
  return ["nc", "-u", "-n", "-W", "1", "-w", String(secs(timeoutMs)), ip, String(port)];
}

export function parseUdp(probe: Extract<Probe, { kind: "udp" }>, stdout: string, stderr: string): Outcome {
  const reply = stdout.trim();
  if (!reply) return { ok: false, observed: /refused/i.test(stderr) ? "port unreachable (ICMP)" : "no reply" };
  const observed = `reply ${JSON.stringify(shorten(reply, 40))}`;
  if (probe.replyContains !== undefined && !reply.includes(probe.replyContains)) {
    return { ok: false, observed, mismatch: `reply does not contain ${JSON.stringify(probe.replyContains)}` };
  }
  return { ok: true, observed };
}

// ---- dns: dig from inside the source ----------------------------------------------------------

export function digArgv(p: Extract<Probe, { kind: "dns" }>, timeoutMs: number): string[] {
  return [
    "dig", ...(p.search ? ["+search"] : []), ...(p.tcp ? ["+tcp"] : []), `+time=${secs(timeoutMs)}`, "+tries=1",
    ...(p.server ? [`@${p.server}`] : []),
    // An address asked for PTR is its in-addr.arpa name, as `dig -x` forms it.
    ...(p.type === "PTR" && /^\d{1,3}(\.\d{1,3}){3}$/.test(p.name) ? ["-x", p.name] : [p.name, p.type]),
  ];
}

export interface DigAnswer { rcode: string; records: { name: string; ttl: number; type: string; data: string }[] }

/** dig's default output: the status in the HEADER line and the ANSWER SECTION's records. */
export function parseDig(stdout: string): DigAnswer | null {
  const status = /->>HEADER<<- opcode: \w+, status: (\w+)/.exec(stdout);
  if (!status) return null;
  const records: DigAnswer["records"] = [];
  const section = /;; ANSWER SECTION:\n([\s\S]*?)(?:\n\n|$)/.exec(stdout);
  for (const line of section ? section[1].split("\n") : []) {
    const f = /^(\S+)\s+(\d+)\s+IN\s+(\S+)\s+(.*)$/.exec(line.trim());
    if (f) records.push({ name: f[1], ttl: Number(f[2]), type: f[3], data: f[4].trim() });
  }
  return { rcode: status[1], records };
}

const normName = (s: string) => s.trim().toLowerCase().replace(/\.$/, "").replace(/\.(\s|$)/g, "$1");

export function judgeDns(p: Extract<Probe, { kind: "dns" }>, stdout: string, exitCode: number): Outcome {
  const a = parseDig(stdout);
  if (!a) {
    const err = stdout.split("\n").find((l) => /timed out|no servers|couldn't get address|not found/i.test(l));
    return { ok: false, observed: err ? shorten(err.replace(/^;;\s*/, "")) : `dig exit ${exitCode}, no reply` };
  }
  const ofType = a.records.filter((r) => r.type === p.type || p.type === "ANY").map((r) => r.data);
  const all = a.records.map((r) => `${r.type} ${r.data}`);
  const observed = `${a.rcode}${all.length ? `: ${shorten(all.join(", "), 120)}` : ", no answers"}`;
  const want = p.rcode ?? "NOERROR";
  if (a.rcode !== want) return { ok: false, observed, mismatch: `expected ${want}, got ${observed}` };
  if (p.answers) {
    const got = [...new Set(ofType.map(normName))].sort();
    const exp = [...new Set(p.answers.map(normName))].sort();
    if (got.join("|") !== exp.join("|")) return { ok: false, observed, mismatch: `expected exactly [${exp.join(", ")}], got [${got.join(", ")}]` };
  }
  for (const c of p.contains ?? []) {
    if (!a.records.some((r) => normName(r.data).includes(normName(c)))) return { ok: false, observed, mismatch: `no answer contains "${c}"` };
  }
  if (!p.rcode && !p.answers && !p.contains && ofType.length === 0) return { ok: false, observed, mismatch: `no ${p.type} record in the answer` };
  return { ok: true, observed };
}
