// kube-proxy's IPVS mode (src/plan/proxy/ipvs.ts): whole-text golden files per node (every
// section: kube-ipvs0 addresses, ipvsadm, ipset, iptables, jumps, sysctls, modules), the
// incremental diff, and checks of what kube-proxy does case by case. UPDATE_GOLDEN=1 rewrites
// the golden files (review the diff); a missing golden file is a failure, never created silently.
import t from "tap";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { iptablesArgv } from "../../src/plan/proxy/iptables.js";
import {
  IPSETS,
  ipvsRestoreText,
  parseIpvsadm,
  renderIpvs,
  renderIpvsDiff,
  type IpvsOptions,
  type IpvsRuleset,
  type IpvsVirtualServer,
} from "../../src/plan/proxy/ipvs.js";
import type { ProxyNode, ServiceModel } from "../../src/model/services.js";
import { ep, fixtureServices, fixtureServicesNext, NODES, svc } from "../lib/proxy-fixture.js";
import { ipsetEntryError, ipvsadmLineError, ipvsExtraServices, parseIpsetRestore } from "../lib/ipvs-fixture.js";

/** A subtest's `t` (tap exports no plain name for it). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

// ---- helpers -------------------------------------------------------------------------------

function golden(t: TapTest, name: string, text: string) {
  const file = `test/golden/${name}`;
  if (process.env.UPDATE_GOLDEN) {
    writeFileSync(file, text);
    t.comment(`wrote ${file}`);
  }
  if (!existsSync(file)) {
    t.fail(`${file} is missing (UPDATE_GOLDEN=1 writes it; review it before committing)`);
    return;
  }
  t.equal(text, readFileSync(file, "utf8"), `matches ${file}`);
}

/** Every section of a ruleset, with headers, as one text. */
function sections(r: IpvsRuleset): string {
  return [
    `### ${r.dummyLink.name} addresses (ip addr add <a> dev ${r.dummyLink.name})`,
    ...r.dummyLink.addresses,
    "### ipvsadm-restore",
    r.ipvsadm.trimEnd(),
    "### ipset restore",
    r.ipset.trimEnd(),
    "### iptables-restore --noflush",
    ipvsRestoreText(r.iptables).trimEnd(),
    "### iptables (one-time jumps)",
    ...r.iptables.jumps,
    "### sysctls",
    ...r.sysctls.map(([k, v]) => `${k}=${v}`),
    "### modules",
    ...r.modules,
    "",
  ].join("\n");
}

const rr: IpvsOptions = { scheduler: "rr" };
const render = (node: ProxyNode, services: ServiceModel[] = fixtureServices(), opts: IpvsOptions = rr) => renderIpvs(node, services, opts);
const lines = (text: string) => text.split("\n").filter(Boolean);
const vs = (r: IpvsRuleset, address: string, protocol: "tcp" | "udp" = "tcp"): IpvsVirtualServer | undefined =>
  parseIpvsadm(r.ipvsadm).find((v) => v.address === address && v.protocol === protocol);
const members = (r: IpvsRuleset, set: string) => parseIpsetRestore(r.ipset).get(set)?.members ?? [];

/** An IPVS table (virtual server → its -A line and real servers), updated as ipvsadm -R would,
 * failing where the kernel would (adding what exists, deleting what does not). */
function applyIpvsadm(table: Map<string, { line: string; reals: Set<string> }>, text: string) {
  const next = new Map([...table].map(([k, v]) => [k, { line: v.line, reals: new Set(v.reals) }]));
  for (const line of lines(text)) {
    const f = line.split(" ");
    const key = `${f[1]} ${f[2]}`;
    const real = f[f.indexOf("-r") + 1];
    switch (f[0]) {
      case "-A":
        if (next.has(key)) throw new Error(`exists: ${line}`);
        next.set(key, { line, reals: new Set() });
        break;
      case "-E":
        if (!next.has(key)) throw new Error(`no such service: ${line}`);
        next.get(key)!.line = `-A${line.slice(2)}`;
        break;
      case "-D":
        if (!next.delete(key)) throw new Error(`no such service: ${line}`);
        break;
      case "-a":
        if (!next.has(key) || next.get(key)!.reals.has(real)) throw new Error(`cannot add: ${line}`);
        next.get(key)!.reals.add(real);
        break;
      case "-d":
        if (!next.get(key)?.reals.delete(real)) throw new Error(`cannot delete: ${line}`);
        break;
      default:
        throw new Error(`unexpected: ${line}`);
    }
  }
  return next;
}
const fresh = (r: IpvsRuleset) => applyIpvsadm(new Map(), r.ipvsadm);

// ---- golden files ----------------------------------------------------------------------------

t.test("golden: node1 (local endpoints for the Local-policy Services)", async (t) => {
  golden(t, "ipvs-node1.txt", sections(render(NODES.node1)));
});

t.test("golden: node3 (no local endpoints for them)", async (t) => {
  golden(t, "ipvs-node3.txt", sections(render(NODES.node3)));
});

t.test("golden: node1, more cases, scheduler lc", async (t) => {
  golden(t, "ipvs-extra-node1.txt", sections(render(NODES.node1, ipvsExtraServices(), { scheduler: "lc" })));
});

t.test("golden: incremental sync on node1 (cart's endpoint moved, front deleted, new added)", async (t) => {
  const d = renderIpvsDiff(render(NODES.node1), render(NODES.node1, fixtureServicesNext()));
  golden(t, "ipvs-diff-node1.txt", ["### ipvsadm -R", d.ipvsadm.trimEnd(), "### bind", ...d.bind, "### unbind", ...d.unbind, ""].join("\n"));
});

// ---- syntax -----------------------------------------------------------------------------------

t.test("every ipvsadm line follows ipvsadm(8)'s grammar", async (t) => {
  const texts = [
    render(NODES.node1).ipvsadm,
    render(NODES.node3).ipvsadm,
    render(NODES.node1, ipvsExtraServices(), { scheduler: "lc" }).ipvsadm,
    render(NODES.node1, [...fixtureServices(), ...ipvsExtraServices()], { scheduler: "mh" }).ipvsadm,
    renderIpvsDiff(render(NODES.node1), render(NODES.node1, fixtureServicesNext())).ipvsadm,
    renderIpvsDiff(render(NODES.node1, fixtureServicesNext()), render(NODES.node1)).ipvsadm,
  ];
  let n = 0;
  for (const text of texts) {
    for (const line of lines(text)) {
      const err = ipvsadmLineError(line);
      if (err) t.fail(`${line}: ${err}`);
      n++;
    }
  }
  t.ok(n > 100, `${n} lines checked`);
  // The checker itself rejects what ipvsadm would.
  for (const bad of ["-A -t 10.0.0.1:80 -s nope", "-a -t 10.0.0.1:80 -m -w 1", "-A -t 10.0.0.1 -s rr", "-A -t 10.0.0.1:80 -s rr -b mh-port", "-a -t 10.0.0.1:80 -r 1.2.3.4:80 -m -g"]) {
    t.ok(ipvsadmLineError(bad), `rejects ${bad}`);
  }
  t.equal(ipvsadmLineError("-A -t 10.0.0.1:80 -s mh -b mh-port"), null);
  t.equal(ipvsadmLineError("-A -t 10.0.0.1:0 -s rr -p"), null, "persistent wildcard port, default timeout");
});

t.test("ipset: kube-proxy's sets, names, types and create options; members in each type's syntax", async (t) => {
  const r = render(NODES.node1, [...fixtureServices(), ...ipvsExtraServices()]);
  const sets = parseIpsetRestore(r.ipset);
  t.same(
    [...sets.keys()],
    [
      "KUBE-LOOP-BACK",
      "KUBE-CLUSTER-IP",
      "KUBE-EXTERNAL-IP",
      "KUBE-EXTERNAL-IP-LOCAL",
      "KUBE-LOAD-BALANCER",
      "KUBE-LOAD-BALANCER-FW",
      "KUBE-LOAD-BALANCER-LOCAL",
      "KUBE-LOAD-BALANCER-SOURCE-IP",
      "KUBE-LOAD-BALANCER-SOURCE-CIDR",
      "KUBE-NODE-PORT-TCP",
      "KUBE-NODE-PORT-LOCAL-TCP",
      "KUBE-NODE-PORT-UDP",
      "KUBE-NODE-PORT-LOCAL-UDP",
      "KUBE-NODE-PORT-SCTP-HASH",
      "KUBE-NODE-PORT-LOCAL-SCTP-HASH",
      "KUBE-HEALTH-CHECK-NODE-PORT",
      "KUBE-IPVS-IPS",
    ],
    "every set of kube-proxy's ipsetInfo, in its order",
  );
  for (const [name, s] of sets) {
    const info = Object.values(IPSETS).find((i) => i.name === name)!;
    t.equal(s.type, info.type, `${name} is ${info.type}`);
    t.equal(s.options, info.type === "bitmap:port" ? "range 0-65535 -exist" : "family inet hashsize 1024 maxelem 65536 -exist");
    t.ok(name.length <= 31, `${name} fits IPSET_MAXNAMELEN`);
    for (const m of s.members) {
      const err = ipsetEntryError(s.type, m);
      if (err) t.fail(`${name}: ${err}`);
    }
    t.equal(new Set(s.members).size, s.members.length, `${name}: no duplicate members`);
    t.match(r.ipset, new RegExp(`create ${name} ${s.type} ${s.options.replace(/[.*+?^$|()[\]\\]/g, "\\$&")}\ncreate (klab-swap-\\d+) [^\n]*\nflush \\1\n(add \\1 [^\n]*\n)*swap ${name} \\1\ndestroy \\1\n`), `${name}: created with -exist, filled into a scratch set that is swapped in at once`);
    t.ok(r.ipset.includes(`# ${info.comment}\ncreate ${name} `), `${name}: kube-proxy's comment above it`);
  }
});

t.test("iptables: chains, set references, jumps", async (t) => {
  const r = render(NODES.node1);
  const setNames = new Set(parseIpsetRestore(r.ipset).keys());
  for (const text of [r.iptables.nat, r.iptables.filter]) {
    const declared = new Set(lines(text).filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0]));
    for (const l of lines(text).filter((l) => l.startsWith("-A "))) {
      t.ok(declared.has(l.split(" ")[1]), `declared: ${l.split(" ")[1]}`);
      const target = / -j (\S+)/.exec(l)![1];
      if (target.startsWith("KUBE-")) t.ok(declared.has(target), `jump target declared in the same table: ${l}`);
      const set = / --match-set (\S+) /.exec(l)?.[1];
      if (set) t.ok(setNames.has(set), `${set} is created by the ipset text`);
    }
  }
  t.ok(r.iptables.nat.startsWith("*nat\n:KUBE-SERVICES - [0:0]\n") && r.iptables.nat.endsWith("COMMIT\n"));
  t.ok(r.iptables.filter.startsWith("*filter\n:KUBE-FORWARD - [0:0]\n") && r.iptables.filter.endsWith("COMMIT\n"));
  const services = lines(r.iptables.nat).filter((l) => l.startsWith("-A KUBE-SERVICES "));
  t.equal(services[0], "-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN", "localhost first");
  t.same(services.slice(-2), ["-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT", "-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT"], "the ACCEPTs last");
  t.match(r.iptables.nat, `--match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`, "off-cluster sources to a cluster IP are masqueraded");
  const nodePort = lines(r.iptables.nat).filter((l) => l.startsWith("-A KUBE-NODE-PORT "));
  t.same(
    nodePort.map((l) => / --match-set (\S+) /.exec(l)![1]),
    ["KUBE-NODE-PORT-LOCAL-TCP", "KUBE-NODE-PORT-TCP"],
    "the Local set returns before the masquerading one",
  );
  t.same(r.iptables.jumps.filter((j) => j.includes(" -I ")).length, 9, "kube-proxy's nine jumps");
  t.same(iptablesArgv(r.iptables.jumps.find((j) => j.includes(" -I INPUT ") && j.endsWith("-j KUBE-IPVS-FILTER"))!), [
    "-t",
    "filter",
    "-I",
    "INPUT",
    "-m",
    "comment",
    "--comment",
    "kubernetes ipvs access filter",
    "-j",
    "KUBE-IPVS-FILTER",
  ]);
  t.notMatch(r.iptables.jumps.join("\n"), /CANARY/, "IPVS mode has no canary chains");

  // Rules that exist only while their set has members.
  const none = render(NODES.node1, []);
  t.notMatch(none.iptables.nat, /KUBE-LOOP-BACK|--match-set KUBE-LOAD-BALANCER|KUBE-NODE-PORT-TCP|--match-set KUBE-CLUSTER-IP/);
  t.match(none.iptables.filter, /-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT/, "the VIP filter is always there");
  t.equal(none.ipvsadm, "");
  t.same(none.dummyLink.addresses, []);
  const udp = render(NODES.node1, ipvsExtraServices());
  t.match(udp.iptables.nat, `-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-UDP dst -j RETURN`);
  t.match(udp.iptables.nat, `-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ`);
  t.match(render(NODES.node1, [], { scheduler: "rr", randomFully: false }).iptables.nat, /-j MASQUERADE\n/);
});

// ---- what kube-proxy does, case by case -------------------------------------------------------

t.test("rendering is deterministic and follows the caller's order", async (t) => {
  const a = render(NODES.node1);
  t.same(render(NODES.node1), a);
  t.same(
    parseIpvsadm(a.ipvsadm)
      .slice(0, 4)
      .map((v) => `${v.protocol} ${v.address}`),
    ["udp 10.96.0.10:53", "tcp 10.96.0.10:53", "tcp 10.96.0.10:9153", "tcp 10.96.0.20:80"],
  );
});

t.test("multi-port Service: one virtual server per port, UDP with -u; unready endpoints left out", async (t) => {
  const r = render(NODES.node1);
  t.same(vs(r, "10.96.0.10:53", "udp")?.reals, ["10.244.0.6:53", "10.244.2.4:53"]);
  t.same(vs(r, "10.96.0.10:53", "tcp")?.reals, ["10.244.0.6:53", "10.244.2.4:53"]);
  t.same(vs(r, "10.96.0.10:9153")?.reals, ["10.244.0.6:9153", "10.244.2.4:9153"]);
  t.ok(lines(r.ipvsadm).includes("-a -u 10.96.0.10:53 -r 10.244.0.6:53 -m -w 1"), "masquerading real server, weight 1");
  t.same(vs(r, "10.96.0.20:80")?.reals, ["10.244.0.2:8080", "10.244.1.2:8080"], "web's unready 10.244.1.3 is not a real server");
  t.same(vs(r, "10.96.0.27:7000")?.reals, ["10.244.2.3:7000"], "publishNotReadyAddresses: used anyway");
  t.same(members(r, "KUBE-CLUSTER-IP").slice(0, 3), ["10.96.0.10,udp:53", "10.96.0.10,tcp:53", "10.96.0.10,tcp:9153"]);
  t.ok(members(r, "KUBE-LOOP-BACK").includes("10.244.0.6,udp:53,10.244.0.6"), "hairpin entry per local endpoint and protocol");
  t.notOk(members(r, "KUBE-LOOP-BACK").some((m) => m.startsWith("10.244.1.") || m.startsWith("10.244.2.")), "only local endpoints in KUBE-LOOP-BACK");
});

t.test("ClientIP affinity: -p <timeoutSeconds> on every virtual server of the port", async (t) => {
  const r = render(NODES.node1);
  t.ok(lines(r.ipvsadm).includes("-A -t 10.96.0.21:80 -s rr -p 600"));
  const x = render(NODES.node1, ipvsExtraServices());
  for (const a of ["10.96.1.11:443", "192.168.56.243:443", "192.168.56.11:30444"]) t.equal(vs(x, a)?.persistent, 300, `${a} persistent 300`);
  t.notOk(vs(r, "10.96.0.20:80")?.persistent, "no affinity: not persistent");
});

t.test("NodePort: a virtual server on the node address, the port in the bitmap set", async (t) => {
  const r = render(NODES.node1);
  t.same(vs(r, "192.168.56.11:30080")?.reals, ["10.244.0.4:8080", "10.244.1.5:8080"]);
  t.same(vs(render(NODES.node3), "192.168.56.13:30080")?.reals, ["10.244.0.4:8080", "10.244.1.5:8080"], "each node its own address");
  t.same(members(r, "KUBE-NODE-PORT-TCP"), ["30080", "30443", "30081", "30082"]);
  t.notOk(r.dummyLink.addresses.includes("192.168.56.11/32"), "node addresses are not bound to kube-ipvs0");
  const two = renderIpvs(NODES.node1, fixtureServices(), { scheduler: "rr", nodePortAddresses: ["192.168.56.11", "10.244.0.1"] });
  t.ok(vs(two, "10.244.0.1:30080") && vs(two, "192.168.56.11:30080"), "nodePortAddresses: one virtual server per address");
  const udp = render(NODES.node1, ipvsExtraServices());
  t.ok(lines(udp.ipvsadm).includes("-A -u 192.168.56.11:30514 -s rr"), "UDP NodePort");
  t.same(members(udp, "KUBE-NODE-PORT-UDP"), ["30514"]);
});

t.test("LoadBalancer: a virtual server on the LB IP, bound to kube-ipvs0, in KUBE-LOAD-BALANCER", async (t) => {
  const r = render(NODES.node1);
  t.same(vs(r, "192.168.56.240:80")?.reals, ["10.244.1.6:8080"]);
  t.ok(r.dummyLink.addresses.includes("192.168.56.240/32"));
  t.same(members(r, "KUBE-LOAD-BALANCER"), ["192.168.56.240,tcp:80", "192.168.56.241,tcp:80", "192.168.56.242,tcp:80"]);
  t.same(members(r, "KUBE-LOAD-BALANCER-LOCAL"), ["192.168.56.241,tcp:80"], "only the Local-policy one");
  t.same(
    members(r, "KUBE-IPVS-IPS"),
    r.dummyLink.addresses.map((a) => a.replace("/32", "")),
    "KUBE-IPVS-IPS is exactly what is on kube-ipvs0",
  );
  t.same(r.dummyLink.addresses.slice(0, 3), ["10.96.0.10/32", "10.96.0.20/32", "10.96.0.21/32"], "every cluster IP, once");
  // An LB IP the node already has (on another interface) is not bound again.
  const own = svc("shop", "own", { type: "LoadBalancer", clusterIP: "10.96.3.1", loadBalancerIP: "192.168.56.11", ports: [{ name: "", protocol: "TCP", port: 8443, nodePort: 30999 }] });
  const o = render(NODES.node1, [own]);
  t.same(o.dummyLink.addresses, ["10.96.3.1/32"]);
  t.ok(vs(o, "192.168.56.11:8443"), "but still has its virtual server");
});

t.test("externalTrafficPolicy Local: node with local endpoints vs without (kube-proxy falls back)", async (t) => {
  const n1 = render(NODES.node1);
  t.same(vs(n1, "192.168.56.241:80")?.reals, ["10.244.0.5:8080"], "node1: LB IP → the local endpoint only");
  t.same(vs(n1, "192.168.56.11:30081")?.reals, ["10.244.0.5:8080"], "node1: NodePort → the local endpoint only");
  t.same(vs(n1, "10.96.0.24:80")?.reals, ["10.244.0.5:8080", "10.244.1.7:8080"], "the cluster IP is not affected");
  t.same(members(n1, "KUBE-NODE-PORT-LOCAL-TCP"), ["30081"]);
  const n3 = render(NODES.node3);
  // kube-proxy's syncEndpoint (PR 97081): no local endpoint → the cluster endpoints, so local
  // pods still reach the Service; external clients lose their replies (no SNAT: the Local sets
  // RETURN before KUBE-MARK-MASQ).
  t.same(vs(n3, "192.168.56.241:80")?.reals, ["10.244.0.5:8080", "10.244.1.7:8080"], "node3: LB IP → cluster endpoints");
  t.same(vs(n3, "192.168.56.13:30081")?.reals, ["10.244.0.5:8080", "10.244.1.7:8080"], "node3: NodePort → cluster endpoints");
  t.same(members(n3, "KUBE-LOAD-BALANCER-LOCAL"), ["192.168.56.241,tcp:80"], "and still no masquerade for it");
  const udp = render(NODES.node3, ipvsExtraServices());
  t.same(vs(udp, "192.168.56.13:30514", "udp")?.reals, ["10.244.0.20:514"]);
});

t.test("internalTrafficPolicy Local: local endpoints on the cluster IP; none to fall back to unless reachable from outside", async (t) => {
  t.same(vs(render(NODES.node1), "10.96.0.28:80")?.reals, ["10.244.0.7:8080"]);
  t.same(vs(render(NODES.node3), "10.96.0.28:80")?.reals, [], "node3: a virtual server without real servers");
  const x = render(NODES.node1, ipvsExtraServices());
  t.same(vs(x, "10.96.1.12:80")?.reals, ["10.244.1.22:8080"], "NodePort Service: the cluster endpoints are the fallback");
  t.same(vs(x, "192.168.56.11:30445")?.reals, ["10.244.1.22:8080"], "its NodePort (externalTrafficPolicy Cluster) uses them too");
});

t.test("no endpoints: virtual servers without real servers, as kube-proxy", async (t) => {
  const r = render(NODES.node1);
  for (const a of ["10.96.0.25:80", "192.168.56.242:80", "192.168.56.11:30082", "10.96.0.26:80"]) t.same(vs(r, a)?.reals, [], `${a}: no real server`);
  t.ok(r.dummyLink.addresses.includes("10.96.0.25/32"), "the VIP is still bound");
  t.ok(members(render(NODES.node3), "KUBE-LOOP-BACK").includes("10.244.2.5,tcp:8080,10.244.2.5"), "an unready local endpoint is still in KUBE-LOOP-BACK (endpointsMap holds it)");
});

t.test("headless and ExternalName Services: nothing at all", async (t) => {
  const r = render(NODES.node1);
  const everything = sections(r);
  t.notMatch(everything, /10\.244\.0\.8/, "headless db's endpoint appears nowhere");
  t.equal(parseIpvsadm(r.ipvsadm).length, 3 + 2 + 1 + 2 + 3 + 3 + 3 + 1 + 1 + 1, "virtual servers only for proxied Services");
  const only = render(NODES.node1, fixtureServices().filter((s) => s.name === "db" || s.name === "ext"));
  t.equal(only.ipvsadm, "");
  t.same(only.dummyLink.addresses, []);
  t.same(parseIpsetRestore(only.ipset).get("KUBE-CLUSTER-IP")?.members, []);
});

t.test("scheduler option: -s on every virtual server, its module; mh gets mh-port", async (t) => {
  const lc = render(NODES.node1, fixtureServices(), { scheduler: "lc" });
  t.ok(parseIpvsadm(lc.ipvsadm).every((v) => v.scheduler === "lc" && v.flags.length === 0));
  t.same(lc.modules, ["ip_vs", "ip_vs_lc", "nf_conntrack"]);
  const mh = render(NODES.node1, fixtureServices(), { scheduler: "mh" });
  t.ok(lines(mh.ipvsadm).includes("-A -t 10.96.0.21:80 -s mh -p 600 -b mh-port"), "FlagSourceHash (IP_VS_SVC_F_SCHED2) is -b mh-port");
  t.same(render(NODES.node1, [], { scheduler: "" }).modules, ["ip_vs", "ip_vs_rr", "nf_conntrack"], "empty: rr, kube-proxy's default");
  t.throws(() => render(NODES.node1, [], { scheduler: "rr; reboot" }));
});

t.test("sysctls as NewProxier sets them; strictARP optional", async (t) => {
  t.same(render(NODES.node1).sysctls, [
    ["net.ipv4.vs.conntrack", "1"],
    ["net.ipv4.vs.expire_nodest_conn", "1"],
    ["net.ipv4.vs.expire_quiescent_template", "1"],
    ["net.ipv4.ip_forward", "1"],
    ["net.ipv4.conf.all.arp_ignore", "1"],
    ["net.ipv4.conf.all.arp_announce", "2"],
  ]);
  t.notMatch(JSON.stringify(renderIpvs(NODES.node1, [], { scheduler: "rr", strictARP: false }).sysctls), /arp_/);
});

// ---- incremental sync ------------------------------------------------------------------------

t.test("diff: applied to the old table it gives the new one; deletes only what went away", async (t) => {
  for (const node of [NODES.node1, NODES.node3]) {
    const before = render(node);
    const after = render(node, fixtureServicesNext());
    const d = renderIpvsDiff(before, after);
    t.same(applyIpvsadm(fresh(before), d.ipvsadm), fresh(after), `${node.name}: old + diff == new`);
    t.same(applyIpvsadm(fresh(after), renderIpvsDiff(after, before).ipvsadm), fresh(before), `${node.name}: and back`);
    t.same(d.bind, ["10.96.0.29/32"]);
    t.same(d.unbind, ["10.96.0.22/32"]);
  }
  const before = render(NODES.node1);
  const after = render(NODES.node1, fixtureServicesNext());
  const d = lines(renderIpvsDiff(before, after).ipvsadm);
  t.ok(d.includes("-a -t 10.96.0.21:80 -r 10.244.1.9:8080 -m -w 1") && d.includes("-d -t 10.96.0.21:80 -r 10.244.1.4:8080"), "cart: one real server swapped");
  t.ok(d.includes("-D -t 10.96.0.22:80") && d.includes("-D -t 192.168.56.11:30080"), "front: its virtual servers deleted");
  t.notOk(d.some((l) => l.startsWith("-d -t 10.96.0.22:80")), "no real-server deletes for a deleted service");
  t.ok(d.indexOf("-D -t 10.96.0.22:80") > d.indexOf("-A -t 10.96.0.29:80 -s rr"), "deletes after adds (cleanLegacyService runs last)");
  t.same(renderIpvsDiff(before, render(NODES.node1)), { ipvsadm: "", bind: [], unbind: [] }, "no change: nothing to do");
  const sched = renderIpvsDiff(before, render(NODES.node1, fixtureServices(), { scheduler: "lc" }));
  t.ok(lines(sched.ipvsadm).every((l) => l.startsWith("-E ")) && lines(sched.ipvsadm).includes("-E -t 10.96.0.21:80 -s lc -p 600"), "scheduler change: -E, real servers untouched");
  const affinity = fixtureServices().map((s) => (s.name === "cart" ? { ...s, sessionAffinity: "None" as const } : s));
  t.same(lines(renderIpvsDiff(before, render(NODES.node1, affinity)).ipvsadm), ["-E -t 10.96.0.21:80 -s rr"], "affinity off: -E without -p");
});

t.test("parseIpvsadm reads back what the renderer writes", async (t) => {
  const r = render(NODES.node1, [...fixtureServices(), ...ipvsExtraServices()], { scheduler: "mh" });
  const parsed = parseIpvsadm(r.ipvsadm);
  t.equal(parsed.length, lines(r.ipvsadm).filter((l) => l.startsWith("-A ")).length);
  t.equal(
    parsed.reduce((n, v) => n + v.reals.length, 0),
    lines(r.ipvsadm).filter((l) => l.startsWith("-a ")).length,
  );
  t.throws(() => parseIpvsadm("-a -t 1.2.3.4:80 -r 10.0.0.1:80 -m -w 1\n"), /before its virtual server/);
  t.same(vs(r, "10.96.1.11:443"), { protocol: "tcp", address: "10.96.1.11:443", scheduler: "mh", persistent: 300, flags: ["mh-port"], reals: ["10.244.0.21:8443", "10.244.2.21:8443"] });
  // ep() is the shared fixture's; a duplicate endpoint is one real server.
  const dup = svc("x", "dup", { clusterIP: "10.96.9.1", ports: [{ name: "", protocol: "TCP", port: 80 }], endpoints: { "": [ep("10.244.0.9:80@node1"), ep("10.244.0.9:80@node1")] } });
  t.same(vs(render(NODES.node1, [dup]), "10.96.9.1:80")?.reals, ["10.244.0.9:80"]);
});
