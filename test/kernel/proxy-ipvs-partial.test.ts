// The IPVS renderer's output, applied for real as far as the running kernel allows. Each stage
// runs in a throwaway network namespace and is skipped, with the reason, when the kernel or
// the host lacks what it needs (probed first, in a namespace of its own):
//   ipset      `ipset restore` of every set (needs the set types: hash:ip, hash:ip,port,
//              hash:ip,port,ip, hash:ip,port,net, bitmap:port); `ipset list` shows exactly the
//              rendered sets and members; re-applying converges; the next state replaces it;
//   iptables   the jumps, then `iptables-restore --noflush` (needs the `set` match, xt_set);
//              iptables-save shows every chain and rule; re-applying is a no-op;
//   kube-ipvs0 the dummy link with its /32 addresses and their local routes (needs dummy);
//   ipvsadm    sysctls, `ipvsadm-restore`, `ipvsadm-save -n` equal to the rendered lines, then
//              the incremental diff with `ipvsadm -R` (needs ip_vs and the scheduler module).
// Without ip_vs (e.g. a kernel built without it), every ipvsadm line is still checked against
// ipvsadm(8)'s grammar: ipvsadm itself refuses to start without the module, so it cannot.
import t from "tap";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "../lib/kernel.js";
import { iptablesArgv } from "../../src/plan/proxy/iptables.js";
import { IPSETS, ipvsRestoreText, renderIpvs, renderIpvsDiff, type IpvsRuleset } from "../../src/plan/proxy/ipvs.js";
import type { ProxyNode } from "../../src/model/services.js";
import { fixtureServices, fixtureServicesNext, NODES } from "../lib/proxy-fixture.js";
import { ipvsadmLineError, ipvsExtraServices, parseIpsetRestore } from "../lib/ipvs-fixture.js";

/** A subtest's `t` (tap exports no plain name for it). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function run(cmd: string, args: string[], stdinFile?: string) {
  const fd = stdinFile ? openSync(stdinFile, "r") : "ignore";
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8", stdio: [fd, "pipe", "pipe"] });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim() };
  } finally {
    if (typeof fd === "number") closeSync(fd);
  }
}
const inNs = (ns: string, cmd: string, args: string[], stdinFile?: string) => run("ip", ["netns", "exec", ns, cmd, ...args], stdinFile);
const have = (cmd: string) => run("sh", ["-c", `command -v ${cmd}`]).code === 0;

// ---- namespaces: kt-ipset-<pid>-<n>, always deleted ------------------------------------------

const made = new Set<string>();
function removeAll() {
  for (const ns of made) {
    spawnSync("ip", ["netns", "del", ns]);
    made.delete(ns);
  }
}
process.on("exit", removeAll);

let seq = 0;
function addNetns(): string {
  const name = `kt-ipset-${process.pid}-${++seq}`;
  const r = run("ip", ["netns", "add", name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  made.add(name);
  // lo up, as in a node's namespace: with lo down the namespace has no local routing table, and
  // IPVS refuses every real server (`ipvsadm -a` → EINVAL: inet_addr_type() is not unicast).
  const lo = run("ip", ["netns", "exec", name, "ip", "link", "set", "lo", "up"]);
  if (lo.code !== 0) throw new Error(`ip link set lo up in ${name}: ${lo.stderr}`);
  return name;
}
function delNetns(name: string) {
  spawnSync("ip", ["netns", "del", name]);
  made.delete(name);
}
function netns(t: TapTest): string {
  const name = addNetns();
  t.teardown(() => delNetns(name));
  return name;
}

const tmp = mkdtempSync(join(tmpdir(), "klab-ipvs-"));
t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
let fileSeq = 0;
function file(text: string): string {
  const f = join(tmp, `in-${++fileSeq}`);
  writeFileSync(f, text);
  return f;
}

// ---- what this host can do (probed once, in a namespace of its own) --------------------------

interface Capabilities {
  ipset: string | false;
  setMatch: string | false;
  dummy: string | false;
  ipvs: string | false;
}

function probe(): Capabilities {
  const baseline = !isRoot ? "needs root (network namespaces)" : !have("ipset") ? "ipset is not installed" : false;
  if (baseline) return { ipset: baseline, setMatch: baseline, dummy: baseline, ipvs: baseline };
  const ns = addNetns();
  try {
    const types = [...new Set(Object.values(IPSETS).map((s) => s.type))];
    const missing = types.filter((type, i) => {
      const opts = type === "bitmap:port" ? ["range", "0-65535"] : ["family", "inet"];
      return inNs(ns, "ipset", ["create", `kt-probe-${i}`, type, ...opts]).code !== 0;
    });
    const ipset = missing.length ? `this kernel lacks ipset type(s) ${missing.join(", ")}` : false;

    let setMatch: string | false = ipset ? "needs the ipsets" : !have("iptables-restore") ? "iptables-restore is not installed" : false;
    if (!setMatch) {
      const r = inNs(ns, "iptables", ["-t", "filter", "-A", "OUTPUT", "-m", "set", "--match-set", "kt-probe-0", "dst", "-j", "ACCEPT"]);
      if (r.code !== 0) setMatch = `iptables -m set does not work here: ${r.stderr}`;
    }

    const d = inNs(ns, "ip", ["link", "add", "kt-dummy0", "type", "dummy"]);
    const dummy = d.code === 0 ? false : `no dummy link type in this kernel: ${d.stderr}`;

    let ipvs: string | false = !have("ipvsadm") ? "ipvsadm is not installed" : false;
    if (!ipvs) {
      const r = inNs(ns, "ipvsadm", ["-Ln"]);
      if (r.code !== 0) ipvs = `no IPVS in this kernel (ipvsadm -Ln: ${r.stderr.split("\n").at(-1)})`;
    }
    return { ipset, setMatch, dummy, ipvs };
  } finally {
    delNetns(ns);
  }
}

const can = probe();
t.comment(
  `capabilities: ${Object.entries(can)
    .map(([k, v]) => `${k}=${v === false ? "yes" : `no (${v})`}`)
    .join("; ")}`,
);

// ---- stages ------------------------------------------------------------------------------------

/** `ipset list` parsed: name → { type, header, members }. */
function listSets(ns: string): Map<string, { type: string; header: string; members: string[] }> {
  const r = inNs(ns, "ipset", ["list"]);
  if (r.code !== 0) throw new Error(`ipset list: ${r.stderr}`);
  const out = new Map<string, { type: string; header: string; members: string[] }>();
  let cur: { type: string; header: string; members: string[] } | undefined;
  let inMembers = false;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith("Name: ")) {
      cur = { type: "", header: "", members: [] };
      out.set(line.slice(6), cur);
      inMembers = false;
    } else if (!cur) continue;
    else if (line.startsWith("Type: ")) cur.type = line.slice(6);
    else if (line.startsWith("Header: ")) cur.header = line.slice(8);
    else if (line === "Members:") inMembers = true;
    else if (inMembers && line) cur.members.push(line);
  }
  return out;
}

function applyIpset(t: TapTest, ns: string, r: IpvsRuleset, what: string): boolean {
  const res = inNs(ns, "ipset", ["restore"], file(r.ipset));
  t.equal(res.code, 0, `ipset restore accepts ${what}${res.code ? `: ${res.stderr}` : ""}`);
  return res.code === 0;
}

function checkSets(t: TapTest, ns: string, r: IpvsRuleset, what: string) {
  const want = parseIpsetRestore(r.ipset);
  const names = inNs(ns, "ipset", ["list", "-n"]).stdout.split("\n").filter(Boolean);
  t.same([...names].sort(), [...want.keys()].sort(), `${what}: ipset list -n shows exactly kube-proxy's sets`);
  const got = listSets(ns);
  for (const [name, s] of want) {
    const g = got.get(name);
    if (!g) continue;
    t.equal(g.type, s.type, `${name}: ${s.type}`);
    t.match(g.header, s.type === "bitmap:port" ? /range 0-65535/ : /family inet hashsize 1024 maxelem 65536/, `${name}: kube-proxy's create options`);
    t.same([...g.members].sort(), [...s.members].sort(), `${what}: ${name} holds the rendered members (${s.members.length})`);
  }
}

function iptablesSave(ns: string): string {
  const r = inNs(ns, "iptables-save", []);
  if (r.code !== 0) throw new Error(`iptables-save: ${r.stderr}`);
  return r.stdout
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
    .join("\n");
}

/** table → chain → rule count, from iptables-save or a restore text. */
function ruleCounts(text: string): Record<string, Record<string, number>> {
  const out: Record<string, Record<string, number>> = {};
  let table = "";
  for (const l of text.split("\n")) {
    if (l.startsWith("*")) out[(table = l.slice(1))] ??= {};
    else if (l.startsWith(":")) out[table][l.slice(1).split(" ")[0]] ??= 0;
    else if (l.startsWith("-A ")) {
      const chain = l.split(" ")[1];
      out[table][chain] = (out[table][chain] ?? 0) + 1;
    }
  }
  return out;
}

function applyIptables(t: TapTest, ns: string, r: IpvsRuleset) {
  for (const j of r.iptables.jumps) {
    const res = inNs(ns, "iptables", iptablesArgv(j));
    if (res.code !== 0) t.fail(`iptables ${j}: ${res.stderr}`);
  }
  const restore = file(ipvsRestoreText(r.iptables));
  const res = inNs(ns, "iptables-restore", ["--noflush"], restore);
  t.equal(res.code, 0, `iptables-restore --noflush accepts the nat and filter rules${res.code ? `: ${res.stderr}` : ""}`);
  if (res.code) return;
  const saved = iptablesSave(ns);
  const got = ruleCounts(saved);
  const want = ruleCounts(ipvsRestoreText(r.iptables));
  for (const table of ["nat", "filter"]) {
    for (const [chain, n] of Object.entries(want[table])) t.equal(got[table]?.[chain], n, `${table} ${chain}: ${n} rule(s) in iptables-save`);
  }
  t.match(saved, /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
  t.match(saved, /-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER\n-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL\n-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT/, "INPUT jumps in kube-proxy's (prepended) order");
  t.match(saved, /-m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ/, "the set matches went in");
  t.match(saved, /-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE/);
  const again = inNs(ns, "iptables-restore", ["--noflush"], restore);
  t.equal(again.code, 0, "re-applied");
  t.equal(iptablesSave(ns), saved, "re-applying the rules is a no-op (iptables-save, counters stripped)");
}

function applyDummy(t: TapTest, ns: string, r: IpvsRuleset) {
  const batch = [`link add ${r.dummyLink.name} type dummy`, ...r.dummyLink.addresses.map((a) => `addr add ${a} dev ${r.dummyLink.name}`)].join("\n") + "\n";
  const res = inNs(ns, "ip", ["-batch", file(batch)]);
  t.equal(res.code, 0, `ip -batch creates ${r.dummyLink.name} with ${r.dummyLink.addresses.length} addresses${res.code ? `: ${res.stderr}` : ""}`);
  const addrs = inNs(ns, "ip", ["-4", "-o", "addr", "show", "dev", r.dummyLink.name])
    .stdout.split("\n")
    .filter(Boolean)
    .map((l) => l.split(/\s+/)[3]);
  t.same([...addrs].sort(), [...r.dummyLink.addresses].sort(), "every VIP is on kube-ipvs0 as /32");
  // kube-proxy leaves kube-ipvs0 down: the addresses still get local routes, so VIPs are local.
  const local = inNs(ns, "ip", ["-4", "route", "show", "table", "local", "type", "local", "dev", r.dummyLink.name]).stdout;
  for (const a of r.dummyLink.addresses) t.match(local, new RegExp(`(^|\\n)(local )?${a.replace("/32", "").replaceAll(".", "\\.")} `), `local route for ${a}`);
}

/** ipvsadm-save -n, as a sorted list of lines (its order is the kernel's hash order). */
function ipvsSave(ns: string): string[] {
  const r = inNs(ns, "ipvsadm-save", ["-n"]);
  if (r.code !== 0) throw new Error(`ipvsadm-save: ${r.stderr}`);
  return r.stdout.split("\n").filter(Boolean).sort();
}
const sortedLines = (text: string) => text.split("\n").filter(Boolean).sort();

function applyIpvs(t: TapTest, ns: string, node: ProxyNode, r: IpvsRuleset, next: IpvsRuleset) {
  for (const [k, v] of r.sysctls) {
    const res = inNs(ns, "sysctl", ["-q", "-w", `${k}=${v}`]);
    t.equal(res.code, 0, `sysctl ${k}=${v}${res.code ? `: ${res.stderr}` : ""}`);
    t.equal(inNs(ns, "sysctl", ["-n", k]).stdout.trim(), v, `${k} reads back ${v}`);
  }
  const res = inNs(ns, "ipvsadm-restore", [], file(r.ipvsadm));
  t.equal(res.code, 0, `ipvsadm-restore accepts ${node.name}'s virtual servers${res.code ? `: ${res.stderr}` : ""}`);
  t.same(ipvsSave(ns), sortedLines(r.ipvsadm), "ipvsadm-save -n shows exactly the rendered lines");
  const d = renderIpvsDiff(r, next);
  const diff = inNs(ns, "ipvsadm", ["-R"], file(d.ipvsadm));
  t.equal(diff.code, 0, `ipvsadm -R accepts the incremental diff${diff.code ? `: ${diff.stderr}` : ""}`);
  t.same(ipvsSave(ns), sortedLines(next.ipvsadm), "after the diff: exactly the next state's lines");
}

// ---- the tests -----------------------------------------------------------------------------------

t.test("every ipvsadm line parses against ipvsadm(8)'s grammar (no ip_vs needed)", async (t) => {
  let n = 0;
  for (const node of [NODES.node1, NODES.node3]) {
    for (const scheduler of ["rr", "lc", "mh"]) {
      const r = renderIpvs(node, [...fixtureServices(), ...ipvsExtraServices()], { scheduler });
      const next = renderIpvs(node, fixtureServicesNext(), { scheduler });
      for (const text of [r.ipvsadm, next.ipvsadm, renderIpvsDiff(r, next).ipvsadm]) {
        for (const line of text.split("\n").filter(Boolean)) {
          const err = ipvsadmLineError(line);
          if (err) t.fail(`${line}: ${err}`);
          n++;
        }
      }
    }
  }
  t.ok(n > 300, `${n} lines checked`);
});

for (const node of [NODES.node1, NODES.node3]) {
  const services = [...fixtureServices(), ...ipvsExtraServices()];
  const r = renderIpvs(node, services, { scheduler: "rr" });
  const next = renderIpvs(node, fixtureServicesNext(), { scheduler: "rr" });

  t.test(`${node.name}: ipset restore, re-applied, then the next state`, { skip: can.ipset }, async (t) => {
    const ns = netns(t);
    if (!applyIpset(t, ns, r, "the sets")) return;
    checkSets(t, ns, r, "first apply");
    if (!applyIpset(t, ns, r, "the same text again")) return;
    checkSets(t, ns, r, "re-applied");
    if (!applyIpset(t, ns, next, "the next state")) return;
    checkSets(t, ns, next, "next state");
  });

  t.test(`${node.name}: iptables jumps and restore (-m set)`, { skip: can.setMatch }, async (t) => {
    const ns = netns(t);
    if (!applyIpset(t, ns, r, "the sets (referenced by the rules)")) return;
    applyIptables(t, ns, r);
  });

  t.test(`${node.name}: kube-ipvs0 with every VIP`, { skip: can.dummy }, async (t) => {
    applyDummy(t, netns(t), r);
  });

  t.test(`${node.name}: IPVS virtual servers, restored and then diffed`, { skip: can.ipvs }, async (t) => {
    applyIpvs(t, netns(t), node, r, next);
  });
}

t.test("namespaces are cleaned up", { skip: isRoot ? false : "needs root" }, async (t) => {
  const left = run("ip", ["netns", "list"]).stdout.split("\n").filter((l) => l.startsWith(`kt-ipset-${process.pid}-`));
  t.same(left, [], "no kt-ipset namespace of this run is left after the tests' teardown");
});

t.teardown(removeAll);
