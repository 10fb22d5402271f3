// The nftables proxy renderer against the real kernel: the full ruleset loads with `nft -f` in a
// throwaway network namespace, and every partial-sync transaction, applied on top of the
// previous state, leaves exactly the table a fresh full render of the new state gives (compared
// as `nft list table ip kube-proxy` listings — nft prints its own canonical form, so kernel
// listings are compared, never our input text).
import t from "tap";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ProxyNode, ServiceModel } from "../../src/model/services.js";
import { nftablesChainNames, renderNftables, renderNftablesSync, renderNftablesUpdate } from "../../src/plan/proxy/nftables.js";
import { clone, endpoint, find, fixtureServices, node1, node2, serviceCIDRs } from "../lib/nftables-fixture.js";
import { skipUnlessRoot } from "../lib/kernel.js";
import { NftSession, NftSessionError } from "../../src/kernel/nft-session.js";

const hasNft = spawnSync("nft", ["--version"], { encoding: "utf8" }).status === 0;
const skip = skipUnlessRoot || (hasNft ? false : "needs the nft binary (apt-get install nftables)");

const dir = mkdtempSync(join(tmpdir(), "klab-nft-"));
let fileNo = 0;

function nsAdd(name: string) {
  execFileSync("ip", ["netns", "add", name]);
}
function nsDel(name: string) {
  spawnSync("ip", ["netns", "del", name]);
}
/** `nft -f` a script inside the namespace; throws with nft's message on failure. */
function nftApply(ns: string, script: string) {
  const file = join(dir, `${++fileNo}.nft`);
  writeFileSync(file, script);
  const r = spawnSync("ip", ["netns", "exec", ns, "nft", "-f", file], { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`nft -f ${file} in ${ns} failed: ${r.stderr}`);
}
function nftList(ns: string): string {
  return execFileSync("ip", ["netns", "exec", ns, "nft", "list", "table", "ip", "kube-proxy"], { encoding: "utf8" });
}

/** Split on commas outside braces. */
function splitTop(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = "";
  for (const ch of s) {
    if (ch === "{") depth++;
    if (ch === "}") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** Sort the items of every `{ a, b, … }` on a line (set elements, anonymous sets and vmaps). */
function sortBraces(line: string): string {
  return line.replace(/\{ ([^{}]*) \}/g, (_m, inner: string) => `{ ${splitTop(inner).sort().join(", ")} }`);
}

/**
 * A listing in a comparable form: multi-line `elements = { … }` joined, the items of every
 * brace list sorted, and the table's sets/maps/chains sorted by name (the kernel lists them in
 * creation order, which differs between an updated table and a fresh one). Rule order inside a
 * chain is kept: it matters.
 */
function normalizeListing(listing: string): string {
  const lines: string[] = [];
  let pending = "";
  for (const raw of listing.split("\n")) {
    const line = raw.trim();
    if (line === "") continue;
    pending = pending ? `${pending} ${line}` : line;
    const open = (pending.match(/\{/g) ?? []).length;
    const close = (pending.match(/\}/g) ?? []).length;
    // A block header ("chain x {") stays open on purpose; only join continuation lines of
    // brace lists that started on this line.
    if (open > close && !/^(table \S+ \S+|chain \S+|set \S+|map \S+) \{$/.test(pending)) continue;
    lines.push(sortBraces(pending.replace(/\s+/g, " ")));
    pending = "";
  }
  const blocks: string[] = [];
  const head: string[] = [];
  let cur: string[] | null = null;
  for (const line of lines) {
    if (/^(chain|set|map) \S+ \{$/.test(line)) cur = [line];
    else if (cur && line === "}") {
      blocks.push(cur.join("\n") + "\n}");
      cur = null;
    } else if (cur) cur.push(line);
    else head.push(line);
  }
  return [...head, ...blocks.sort()].join("\n");
}

type State = { name: string; services: ServiceModel[] };

function states(): State[] {
  const s0 = fixtureServices();
  const out: State[] = [{ name: "fixture", services: s0 }];
  const step = (name: string, change: (s: ServiceModel[]) => ServiceModel[] | void) => {
    const next = clone(out[out.length - 1].services);
    out.push({ name, services: change(next) ?? next });
  };
  step("web endpoints change", (s) => {
    const web = find(s, "default", "web");
    web.endpoints.http = [endpoint("10.244.1.5", 8080, "node1"), endpoint("10.244.1.9", 8080, "node1")];
    web.endpoints.https = [endpoint("10.244.1.5", 8443, "node1"), endpoint("10.244.1.9", 8443, "node1")];
  });
  step("empty gains an endpoint", (s) => {
    find(s, "default", "empty").endpoints.http = [endpoint("10.244.2.11", 8080, "node2")];
  });
  step("sticky removed, web2 added", (s) => {
    const web2 = { ...clone([find(s, "default", "web")])[0], name: "web2", clusterIP: "10.96.0.30" };
    return [...s.filter((x) => x.name !== "sticky"), web2];
  });
  step("sticky back with a 60s affinity", (s) => {
    const sticky = find(fixtureServices(), "default", "sticky");
    sticky.affinityTimeoutSeconds = 60;
    s.push(sticky);
  });
  step("sticky affinity 60s -> 120s, one endpoint gone", (s) => {
    const sticky = find(s, "default", "sticky");
    sticky.affinityTimeoutSeconds = 120;
    sticky.endpoints[""] = sticky.endpoints[""].slice(0, 1);
  });
  step("local-lb's endpoint moves to node2", (s) => {
    find(s, "default", "local-lb").endpoints.http = [endpoint("10.244.2.20", 8080, "node2")];
  });
  step("sticky gets its endpoints back (the kept one's affinity set stays)", (s) => {
    find(s, "default", "sticky").endpoints[""] = find(fixtureServices(), "default", "sticky").endpoints[""];
    return s;
  });
  step("node-local loses its endpoint, kube-dns goes", (s) => {
    find(s, "default", "node-local").endpoints[""] = [];
    return s.filter((x) => x.name !== "kube-dns");
  });
  out.push({ name: "back to the fixture", services: fixtureServices() });
  return out;
}

for (const node of [node1, node2] as ProxyNode[]) {
  t.test(`nftables ruleset for ${node.name} in a live namespace`, { skip }, async (t) => {
    const nsA = `kt-nft-${process.pid}-${node.name}-a`;
    const nsB = `kt-nft-${process.pid}-${node.name}-b`;
    try {
      nsAdd(nsA);
      nsAdd(nsB);

      const all = states();
      const full = renderNftables(node, all[0].services, { serviceCIDRs });
      nftApply(nsA, full);
      const listing = nftList(nsA);
      for (const c of nftablesChainNames(full)) t.ok(listing.includes(`\tchain ${c} {`), `chain ${c} loaded`);
      for (const m of ["service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports", "firewall-ips"]) {
        t.match(listing, new RegExp(`\\tmap ${m} \\{`), `map ${m} loaded`);
      }
      for (const s of ["cluster-ips", "nodeport-ips"]) t.match(listing, new RegExp(`\\tset ${s} \\{`), `set ${s} loaded`);
      t.match(listing, /type nat hook prerouting priority dstnat; policy accept;/);
      t.match(listing, /elements = \{ [^}]*10\.96\.0\.20 \. tcp \. 80 : goto service-\S+-default\/web\/tcp\/http/);

      // Loading the full ruleset again replaces the table without error or change.
      nftApply(nsA, full);
      t.equal(normalizeListing(nftList(nsA)), normalizeListing(listing), "full render is idempotent");

      for (let i = 1; i < all.length; i++) {
        const before = normalizeListing(nftList(nsA));
        const update = renderNftablesUpdate(node, all[i - 1].services, all[i].services, { serviceCIDRs });
        nftApply(nsA, update);
        nftApply(nsB, renderNftables(node, all[i].services, { serviceCIDRs }));
        const got = normalizeListing(nftList(nsA));
        const want = normalizeListing(nftList(nsB));
        t.not(before, want, `"${all[i].name}" changes the table (the comparison can fail)`);
        t.equal(got, want, `update "${all[i].name}" gives the table of a fresh full render`);
      }
      t.equal(normalizeListing(nftList(nsA)), normalizeListing(listing), "after the round trip the table is the original one");

      // The runtime's form: deletions deferred to a later transaction (the cleanup), each
      // transaction through a long-running `nft -i`, as the runtime sends them.
      const session = new NftSession(nsA);
      t.teardown(() => session.close());
      let pending: string[] = [];
      const key = (x: { namespace: string; name: string }) => `${x.namespace}/${x.name}`;
      for (let i = 1; i < all.length; i++) {
        const a = all[i - 1].services;
        const b = all[i].services;
        const changed = new Set([...a, ...b].map(key).filter((k) => JSON.stringify(a.find((x) => key(x) === k)) !== JSON.stringify(b.find((x) => key(x) === k))));
        const u = renderNftablesSync(node, a, b, changed, pending, false, { serviceCIDRs });
        await session.apply(u.text);
        pending = u.pending;
        nftApply(nsB, renderNftables(node, b, { serviceCIDRs }));
        const want = normalizeListing(nftList(nsB));
        const got = normalizeListing(nftList(nsA));
        if (pending.length === 0) t.equal(got, want, `deferred update "${all[i].name}": the table of a fresh full render`);
        const cleanup = renderNftablesSync(node, b, b, new Set(), pending, true, { serviceCIDRs });
        t.same(cleanup.pending, [], "the cleanup leaves nothing pending");
        if (pending.length) {
          await session.apply(cleanup.text);
          pending = [];
          t.equal(normalizeListing(nftList(nsA)), want, `deferred update "${all[i].name}" + cleanup: the table of a fresh full render`);
        }
      }
      await session.close();
    } finally {
      nsDel(nsA);
      nsDel(nsB);
    }
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" }).stdout;
    t.notMatch(left, new RegExp(`kt-nft-${process.pid}-`), "namespaces removed");
  });
}

t.test("the long-running nft -i: one transaction per line, errors, a hung or killed nft, close", { skip }, async (t) => {
  const ns = `kt-nft-${process.pid}-session`;
  nsAdd(ns);
  const session = new NftSession(ns);
  t.teardown(async () => {
    await session.close();
    nsDel(ns);
  });
  nftApply(ns, renderNftables(node1, fixtureServices(), { serviceCIDRs }));
  const chains = () => nftList(ns).match(/^\tchain \S+/gm) ?? [];

  await session.apply("# a comment line\nadd chain ip kube-proxy klab-test-a\n\nadd chain ip kube-proxy klab-test-b { counter; }\n");
  t.ok(chains().includes("\tchain klab-test-a") && chains().includes("\tchain klab-test-b"), "a two-command script went in");
  const pid = session.pid;
  t.ok(pid, "nft -i is running");

  // nft's own error, and nothing of the failed transaction committed.
  const bad = await session.apply("add chain ip kube-proxy klab-test-c\ndelete chain ip kube-proxy no-such-chain").then(() => undefined, (e: unknown) => e);
  t.ok(bad instanceof NftSessionError, "a failing transaction rejects");
  t.match((bad as Error).message, /No such file or directory/, `with nft's message: ${(bad as Error).message.split("\n")[0]}`);
  t.equal((bad as NftSessionError).ambiguous, false, "not ambiguous: nft said it failed");
  t.notOk(chains().includes("\tchain klab-test-c"), "all or nothing: the first command of the failed line is not there");
  await session.apply("delete chain ip kube-proxy klab-test-a");
  t.notOk(chains().includes("\tchain klab-test-a"), "the same nft goes on after an error");
  t.equal(session.pid, pid, "same process");

  // No answer in time (nft stopped): the process is killed, the outcome unknown; the next
  // transaction starts a new one.
  process.kill(pid!, "SIGSTOP");
  const hung = await session.apply("add chain ip kube-proxy klab-test-d", 300).then(() => undefined, (e: unknown) => e);
  t.ok(hung instanceof NftSessionError && hung.ambiguous, `no answer in time: ambiguous (${(hung as Error).message})`);
  await session.apply("add chain ip kube-proxy klab-test-e");
  t.ok(chains().includes("\tchain klab-test-e"), "a new nft -i takes the next transaction");
  t.not(session.pid, pid, "in a new process");

  // Killed from outside between transactions: the next transaction restarts it.
  process.kill(session.pid!, "SIGKILL");
  await new Promise((r) => setTimeout(r, 100));
  await session.apply("delete chain ip kube-proxy klab-test-e");
  t.notOk(chains().includes("\tchain klab-test-e"), "after a kill, the next transaction goes in");

  const last = session.pid!;
  await session.close();
  t.equal(session.pid, undefined, "closed");
  t.throws(() => process.kill(last, 0), "the nft process is gone");
});

t.teardown(() => rmSync(dir, { recursive: true, force: true }));
