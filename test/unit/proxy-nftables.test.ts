// kube-proxy nftables mode renderer: whole rulesets compared as text against golden files (as
// kube-proxy's own proxier_test.go does), plus the partial-sync transaction.
// UPDATE_GOLDEN=1 rewrites the golden files (review the diff); a missing golden file fails.
import t from "tap";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import {
  endpointChainNameBase,
  nftablesChainNames,
  nftListsTableFirst,
  nftTransactionLine,
  renderNftables,
  renderNftablesSync,
  renderNftablesUpdate,
  servicePortChainNameBase,
} from "../../src/plan/proxy/nftables.js";
import { clone, endpoint, find, fixtureServices, node1, node2, serviceCIDRs } from "../lib/nftables-fixture.js";

interface Asserts {
  comment(...args: unknown[]): void;
  fail(message: string): boolean;
  equal(found: unknown, wanted: unknown, message: string): boolean;
}

function golden(t: Asserts, name: string, text: string) {
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

/** The command lines of a script (no comments, no blank lines). */
const commands = (script: string) => script.split("\n").filter((l) => l.trim() !== "" && !l.trim().startsWith("#"));

/** The body of one chain in a full render. */
function chainBody(script: string, name: string): string[] | undefined {
  const lines = script.split("\n");
  const start = lines.indexOf(`\tchain ${name} {`);
  if (start < 0) return undefined;
  const end = lines.indexOf("\t}", start);
  return lines.slice(start + 1, end).map((l) => l.trim());
}

/** Elements of one set/map in a full render, as written. */
function elements(script: string, name: string): string[] {
  const lines = script.split("\n");
  const start = lines.findIndex((l) => l === `\tset ${name} {` || l === `\tmap ${name} {`);
  if (start < 0) return [];
  const end = lines.indexOf("\t}", start);
  const body = lines.slice(start + 1, end);
  const e = body.indexOf("\t\telements = {");
  if (e < 0) return [];
  return body.slice(e + 1, body.indexOf("\t\t}", e)).map((l) => l.trim().replace(/,$/, ""));
}

t.test("chain names hash like kube-proxy's (its own test vectors)", async (t) => {
  t.equal(servicePortChainNameBase({ namespace: "ns1", name: "svc1" }, { name: "p80", protocol: "TCP" }), "ULMVA6XW-ns1/svc1/tcp/p80");
  t.equal(servicePortChainNameBase({ namespace: "ns2", name: "svc2" }, { name: "p80", protocol: "TCP" }), "42NFTM6N-ns2/svc2/tcp/p80");
  t.equal(
    endpointChainNameBase({ namespace: "ns1", name: "svc1" }, { name: "p80", protocol: "TCP" }, { ip: "10.180.0.1", port: 80 }),
    "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80",
  );
  t.equal(
    endpointChainNameBase({ namespace: "ns5", name: "svc5" }, { name: "p80", protocol: "TCP" }, { ip: "10.180.0.3", port: 80 }),
    "GTK6MW7G-ns5/svc5/tcp/p80__10.180.0.3/80",
  );
});

t.test("golden: full ruleset per node", async (t) => {
  for (const node of [node1, node2]) {
    golden(t, `nftables-${node.name}.nft`, renderNftables(node, fixtureServices(), { serviceCIDRs }));
  }
});

t.test("a full render is an atomic table replacement and deterministic", async (t) => {
  const a = renderNftables(node1, fixtureServices(), { serviceCIDRs });
  const cmds = commands(a);
  t.same(cmds.slice(0, 3), ["add table ip kube-proxy", "delete table ip kube-proxy", "table ip kube-proxy {"]);
  t.equal(renderNftables(node1, fixtureServices().reverse(), { serviceCIDRs }), a, "input order does not matter");
  t.notMatch(renderNftables(node1, fixtureServices()), /unallocated ClusterIPs/, "no service CIDRs: no drop rule (as kube-proxy)");
});

t.test("every jump/goto target and @set is defined", async (t) => {
  for (const node of [node1, node2]) {
    const s = renderNftables(node, fixtureServices(), { serviceCIDRs });
    const chains = new Set(nftablesChainNames(s));
    const sets = new Set([...s.matchAll(/^\t(?:set|map) (\S+) \{/gm)].map((m) => m[1]));
    const targets = new Set([...s.matchAll(/(?:goto|jump) ([^\s,}]+)/g)].map((m) => m[1]));
    for (const c of targets) t.ok(chains.has(c), `${node.name}: chain ${c} exists`);
    for (const m of s.matchAll(/@([^\s,}"]+)/g)) t.ok(sets.has(m[1]), `${node.name}: set ${m[1]} exists`);
    t.equal(new Set(nftablesChainNames(s)).size, nftablesChainNames(s).length, "chain names are unique");
  }
});

t.test("the kube-proxy base layout", async (t) => {
  const s = renderNftables(node1, fixtureServices(), { serviceCIDRs });
  const names = nftablesChainNames(s);
  for (const c of [
    "filter-prerouting",
    "filter-input",
    "filter-forward",
    "filter-output",
    "filter-output-post-dnat",
    "nat-prerouting",
    "nat-output",
    "nat-postrouting",
    "services",
    "service-endpoints-check",
    "nodeport-endpoints-check",
    "cluster-ips-check",
    "firewall-check",
    "reject-chain",
    "mark-for-masquerade",
    "masquerading",
  ]) {
    t.ok(names.includes(c), `chain ${c}`);
  }
  t.same(chainBody(s, "nat-prerouting"), ["type nat hook prerouting priority dstnat; policy accept;", "jump services"]);
  t.same(chainBody(s, "nat-postrouting"), ["type nat hook postrouting priority srcnat; policy accept;", "jump masquerading"]);
  t.same(chainBody(s, "services"), [
    "ip daddr . meta l4proto . th dport vmap @service-ips",
    "ip daddr @nodeport-ips meta l4proto . th dport vmap @service-nodeports",
  ]);
  t.same(chainBody(s, "masquerading"), ["mark and 0x4000 == 0 return", "mark set mark xor 0x4000", "masquerade fully-random"]);
  t.same(elements(s, "nodeport-ips"), ["192.168.56.11"], "NodePorts answer on the node IP (--nodeport-addresses primary)");
  t.match(s, /map service-ips \{\n\t\ttype ipv4_addr \. inet_proto \. inet_service : verdict\n/);
  t.match(s, /map service-nodeports \{\n\t\ttype inet_proto \. inet_service : verdict\n/);
});

t.test("what each fixture service renders to", async (t) => {
  const s1 = renderNftables(node1, fixtureServices(), { serviceCIDRs });
  const s2 = renderNftables(node2, fixtureServices(), { serviceCIDRs });
  const svcIPs = elements(s1, "service-ips");
  const web = servicePortChainNameBase({ namespace: "default", name: "web" }, { name: "http", protocol: "TCP" });

  t.test("multi-port web: one chain per port, not-ready endpoint left out", async (t) => {
    t.ok(svcIPs.includes(`10.96.0.20 . tcp . 80 : goto service-${web}`));
    t.ok(svcIPs.some((e) => e.startsWith("10.96.0.20 . tcp . 443 : goto service-") && e.endsWith("-default/web/tcp/https")));
    const body = chainBody(s1, `service-${web}`)!;
    t.equal(body[0], "ip daddr 10.96.0.20 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade", "off-cluster traffic is masqueraded");
    t.match(body[1], /^numgen random mod 2 0 goto endpoint-\S+__10\.244\.1\.5\/8080$/, "a coin toss for the first endpoint");
    t.match(body[2], /^goto endpoint-\S+__10\.244\.2\.7\/8080$/, "the last endpoint otherwise");
    t.equal(body.length, 3);
    t.notMatch(s1, /10\.244\.2\.9/, "not-ready endpoint excluded");
    const ep = `endpoint-${endpointChainNameBase({ namespace: "default", name: "web" }, { name: "http", protocol: "TCP" }, { ip: "10.244.1.5", port: 8080 })}`;
    t.same(chainBody(s1, ep), ["ip saddr 10.244.1.5 jump mark-for-masquerade", "meta l4proto tcp dnat to 10.244.1.5:8080"]);
  });

  t.test("ClientIP affinity: a dynamic timeout set per endpoint", async (t) => {
    t.match(s1, /\tset affinity-\S+-default\/sticky\/tcp\/__10\.244\.1\.6\/8080 \{\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 600s\n\t\}/);
    t.match(s1, /ip saddr @affinity-(\S+)-default\/sticky\/tcp\/__10\.244\.1\.6\/8080 goto endpoint-\1-default\/sticky\/tcp\/__10\.244\.1\.6\/8080/);
    t.match(s1, /update @affinity-\S+-default\/sticky\/tcp\/__10\.244\.2\.8\/8080 \{ ip saddr \}/);
  });

  t.test("NodePort and LoadBalancer go through external-… chains that masquerade", async (t) => {
    const np = elements(s1, "service-nodeports");
    t.ok(np.some((e) => /^tcp \. 30080 : goto external-\S+-default\/nodeport\/tcp\/$/.test(e)));
    t.ok(np.some((e) => /^tcp \. 30081 : goto external-\S+-default\/lb\/tcp\/http$/.test(e)));
    t.ok(svcIPs.some((e) => /^192\.168\.56\.200 \. tcp \. 80 : goto external-\S+-default\/lb\/tcp\/http$/.test(e)), "LB ingress IP in service-ips");
    const lb = servicePortChainNameBase({ namespace: "default", name: "lb" }, { name: "http", protocol: "TCP" });
    t.same(chainBody(s1, `external-${lb}`), ["jump mark-for-masquerade", `goto service-${lb}`]);
  });

  t.test("externalTrafficPolicy Local: node with and node without a local endpoint", async (t) => {
    const b = servicePortChainNameBase({ namespace: "default", name: "local-lb" }, { name: "http", protocol: "TCP" });
    const shortCircuit = [
      `ip saddr 10.244.0.0/16 goto service-${b} comment "short-circuit pod traffic"`,
      `fib saddr type local jump mark-for-masquerade comment "masquerade local traffic"`,
      `fib saddr type local goto service-${b} comment "short-circuit local traffic"`,
    ];
    t.same(chainBody(s1, `external-${b}`), [...shortCircuit, `goto local-${b}`], "node1 sends external traffic to its local endpoint");
    t.match(chainBody(s1, `local-${b}`)!.join("\n"), /(^|\n)goto endpoint-\S+__10\.244\.1\.8\/8080$/, "one local endpoint: no numgen");
    t.same(chainBody(s2, `external-${b}`), shortCircuit, "node2: no local endpoint, only the short-circuits");
    t.equal(chainBody(s2, `local-${b}`), undefined, "node2 has no local-… chain");
    t.ok(chainBody(s2, `service-${b}`), "node2 keeps the cluster chain for pod/host traffic");
    t.ok(elements(s2, "no-endpoint-services").includes(`192.168.56.201 . tcp . 80 comment "default/local-lb:http" : drop`));
    t.ok(elements(s2, "no-endpoint-nodeports").includes(`tcp . 30082 comment "default/local-lb:http" : drop`));
    t.notOk(elements(s1, "no-endpoint-nodeports").some((e) => e.includes("30082")));
  });

  t.test("no endpoints: rejected on ClusterIP and NodePort", async (t) => {
    t.ok(elements(s1, "no-endpoint-services").includes(`10.96.0.25 . tcp . 80 comment "default/empty:http" : goto reject-chain`));
    t.ok(elements(s1, "no-endpoint-nodeports").includes(`tcp . 30083 comment "default/empty:http" : goto reject-chain`));
    t.ok(elements(s1, "cluster-ips").includes("10.96.0.25"));
    t.notMatch(s1, /chain \S+-default\/empty\//, "no chains");
  });

  t.test("UDP", async (t) => {
    t.ok(svcIPs.some((e) => /^10\.96\.0\.10 \. udp \. 53 : goto service-\S+-kube-system\/kube-dns\/udp\/dns$/.test(e)));
    t.match(s1, /meta l4proto udp dnat to 10\.244\.1\.3:53/);
  });

  t.test("headless and ExternalName: nothing", async (t) => {
    t.notMatch(s1, /headless|external\/|example\.com/);
    const only = fixtureServices().filter((s) => s.name === "headless" || s.name === "external");
    t.equal(renderNftables(node1, only), renderNftables(node1, []));
  });

  t.test("internalTrafficPolicy Local", async (t) => {
    t.ok(elements(s1, "no-endpoint-services").includes(`10.96.0.26 . tcp . 80 comment "default/node-local" : drop`), "node1: dropped");
    const b = servicePortChainNameBase({ namespace: "default", name: "node-local" }, { name: "", protocol: "TCP" });
    t.ok(elements(s2, "service-ips").includes(`10.96.0.26 . tcp . 80 : goto local-${b}`), "node2: to its local chain");
    t.equal(chainBody(s2, `service-${b}`), undefined, "no cluster chain");
  });

  t.test("publishNotReadyAddresses uses not-ready endpoints", async (t) => {
    t.match(s1, /dnat to 10\.244\.1\.12:7000/);
  });
});

// ---- partial sync -------------------------------------------------------------------------

t.test("update: no change, no commands", async (t) => {
  t.same(commands(renderNftablesUpdate(node1, fixtureServices(), fixtureServices(), { serviceCIDRs })), []);
});

t.test("update: one service's endpoints change", async (t) => {
  const prev = fixtureServices();
  const next = clone(prev);
  const web = find(next, "default", "web");
  for (const [port, target] of [["http", 8080], ["https", 8443]] as const) {
    web.endpoints[port] = [endpoint("10.244.1.5", target, "node1"), endpoint("10.244.1.9", target, "node1")];
  }
  const u = renderNftablesUpdate(node1, prev, next, { serviceCIDRs });
  golden(t, "nftables-update-node1.nft", u);
  const cmds = commands(u);
  t.ok(cmds.length > 0);
  for (const c of cmds) t.match(c, /-default\/web\/tcp\/https?(__|\s|$)/, `only web's chains: ${c}`);
  t.notOk(cmds.some((c) => / element /.test(c)), "no map element changes (service-ips still points at the same chains)");
  t.ok(cmds.some((c) => /^delete chain ip kube-proxy endpoint-\S+-default\/web\/tcp\/http__10\.244\.2\.7\/8080$/.test(c)), "gone endpoint's chain deleted");
  t.ok(cmds.some((c) => /^add chain ip kube-proxy endpoint-\S+-default\/web\/tcp\/http__10\.244\.1\.9\/8080$/.test(c)), "new endpoint's chain added");
  t.ok(cmds.some((c) => /^flush chain ip kube-proxy service-\S+-default\/web\/tcp\/http$/.test(c)), "service chain flushed");
  t.notMatch(u, /sticky|kube-dns|nodeport|local-lb/, "other services untouched");
  // Order: references go before the chains they point at.
  const idx = (re: RegExp) => cmds.findIndex((c) => re.test(c));
  t.ok(idx(/^flush chain .*service-.*web\/tcp\/http$/) < idx(/^delete chain .*__10\.244\.2\.7\/8080$/));
  t.ok(idx(/^add chain .*__10\.244\.1\.9\/8080$/) < idx(/^add rule .*service-.*web\/tcp\/http (numgen .* )?goto \S+__10\.244\.1\.9\/8080$/));
});

t.test("update: a service gains endpoints (elements move between maps)", async (t) => {
  const prev = fixtureServices();
  const next = clone(prev);
  find(next, "default", "empty").endpoints.http = [endpoint("10.244.2.11", 8080, "node2")];
  const cmds = commands(renderNftablesUpdate(node1, prev, next, { serviceCIDRs }));
  t.same(
    cmds.filter((c) => / element /.test(c)),
    [
      "delete element ip kube-proxy no-endpoint-services { 10.96.0.25 . tcp . 80 }",
      "delete element ip kube-proxy no-endpoint-nodeports { tcp . 30083 }",
      `add element ip kube-proxy service-ips { 10.96.0.25 . tcp . 80 : goto service-${servicePortChainNameBase({ namespace: "default", name: "empty" }, { name: "http", protocol: "TCP" })} }`,
      `add element ip kube-proxy service-nodeports { tcp . 30083 : goto external-${servicePortChainNameBase({ namespace: "default", name: "empty" }, { name: "http", protocol: "TCP" })} }`,
    ],
  );
  for (const c of cmds.filter((c) => !/ element /.test(c))) t.match(c, /-default\/empty\//);
});

t.test("update: a service is removed, another added", async (t) => {
  const prev = fixtureServices();
  const next = clone(prev).filter((s) => s.name !== "sticky");
  next.push({ ...clone([find(prev, "default", "web")])[0], name: "web2", clusterIP: "10.96.0.30" });
  const u = renderNftablesUpdate(node1, prev, next, { serviceCIDRs });
  const cmds = commands(u);
  t.ok(cmds.includes("delete element ip kube-proxy cluster-ips { 10.96.0.21 }"));
  t.ok(cmds.includes("delete element ip kube-proxy service-ips { 10.96.0.21 . tcp . 80 }"));
  t.equal(cmds.filter((c) => /^delete set ip kube-proxy affinity-\S+-default\/sticky\//.test(c)).length, 2, "affinity sets deleted");
  t.equal(cmds.filter((c) => /^delete chain ip kube-proxy \S+-default\/sticky\//.test(c)).length, 3, "service + 2 endpoint chains deleted");
  t.ok(cmds.includes("add element ip kube-proxy cluster-ips { 10.96.0.30 }"));
  t.equal(cmds.filter((c) => /^add chain ip kube-proxy \S+-default\/web2\//.test(c)).length, 6, "web2: 2 service + 4 endpoint chains");
  for (const c of cmds) t.match(c, /default\/(sticky|web2)\/|10\.96\.0\.(21|30) /, `only sticky and web2: ${c}`);
});

t.test("update: affinity timeout change recreates the sets", async (t) => {
  const prev = fixtureServices();
  const next = clone(prev);
  find(next, "default", "sticky").affinityTimeoutSeconds = 60;
  const cmds = commands(renderNftablesUpdate(node1, prev, next, { serviceCIDRs }));
  t.equal(cmds.filter((c) => c.startsWith("delete set ")).length, 2);
  t.equal(cmds.filter((c) => c.startsWith("add set ") && c.endsWith("{ type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }")).length, 2);
  t.notOk(cmds.some((c) => c.startsWith("delete chain")), "chains are kept, flushed and refilled");
});

t.test("nftTransactionLine: a transaction script as one nft -i line, command for command", async (t) => {
  const prev = fixtureServices();
  const next = clone(prev);
  find(next, "default", "web").endpoints.http = [endpoint("10.244.1.5", 8080, "node1")];
  const u = renderNftablesUpdate(node1, prev, next, { serviceCIDRs });
  const line = nftTransactionLine(u);
  t.notMatch(line, /\n/, "one line");
  t.notMatch(line, /#/, "no comments");
  t.ok(line.length > 0);
  // Every command of the script is on the line, in order, joined by "; ".
  t.equal(line, commands(u).join("; "));
  t.equal(nftTransactionLine("# only comments\n\n"), "", "nothing to run");
});

t.test("nftListsTableFirst: an endpoint change does not make nft list the table; elements and deletions do", async (t) => {
  const prev = fixtureServices();
  const moved = clone(prev);
  find(moved, "default", "web").endpoints.http = [endpoint("10.244.1.5", 8080, "node1"), endpoint("10.244.1.9", 8080, "node1")];
  const changed = new Set(["default/web"]);
  const change = renderNftablesSync(node1, prev, moved, changed, [], false, { serviceCIDRs });
  t.notOk(nftListsTableFirst(change.text), "endpoints replaced: flush chain / add chain only");
  t.ok(change.pending.length > 0, "the gone endpoint's chain is left for later");
  const cleanup = renderNftablesSync(node1, moved, moved, new Set(), change.pending, true, { serviceCIDRs });
  t.ok(nftListsTableFirst(cleanup.text), "the cleanup deletes: nft lists the table first");
  const fewer = prev.filter((s) => s.name !== "web");
  const gone = renderNftablesSync(node1, prev, fewer, changed, [], false, { serviceCIDRs });
  t.ok(nftListsTableFirst(gone.text), "a Service removed: its map elements go");
});
