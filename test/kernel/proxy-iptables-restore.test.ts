// The iptables renderer's output, applied for real: in throwaway network namespaces, the
// one-time jumps and the full ruleset of the fixture cluster go in with
// `iptables-restore --noflush` (not just --test), `iptables-save` shows every chain and rule;
// then a partial sync on top leaves exactly what a full render of the new state leaves.
import t from "tap";
import { spawnSync } from "node:child_process";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isRoot } from "../lib/kernel.js";
import { chainsOf, iptablesArgv, renderIptables, renderIptablesPartial, restoreText } from "../../src/plan/proxy/iptables.js";
import { bulkServices, fixtureServices, fixtureServicesNext, NEXT_CHANGED, NODES } from "../lib/proxy-fixture.js";
import { planProxySync } from "../../src/plan/proxy/sync.js";
import { BULK_LOAD_PRELOAD } from "../../src/plan/bulk-load.js";

/** A subtest's `t` (tap exports no plain name for it). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const haveIptables = spawnSync("iptables-restore", ["--version"]).status === 0 && spawnSync("iptables-save", ["--version"]).status === 0;
const skip = !isRoot ? "needs root (network namespaces, iptables-restore)" : !haveIptables ? "iptables-restore/iptables-save not installed" : false;

function run(cmd: string, args: string[], stdinFile?: string) {
  const fd = stdinFile ? openSync(stdinFile, "r") : "ignore";
  try {
    const r = spawnSync(cmd, args, { encoding: "utf8", stdio: [fd, "pipe", "pipe"] });
    return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}` };
  } finally {
    if (typeof fd === "number") closeSync(fd);
  }
}

/** Namespaces made by this file, removed in teardown and, as a last resort, on exit. */
const made = new Set<string>();
function removeAll() {
  for (const ns of made) {
    spawnSync("ip", ["netns", "del", ns]);
    made.delete(ns);
  }
}
process.on("exit", removeAll);

let seq = 0;
function netns(t: TapTest): string {
  const name = `kt-ipt-${process.pid}-${++seq}`;
  const r = run("ip", ["netns", "add", name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  made.add(name);
  t.teardown(() => {
    spawnSync("ip", ["netns", "del", name]);
    made.delete(name);
  });
  return name;
}

const dir = () => {
  const d = mkdtempSync(join(tmpdir(), "klab-ipt-"));
  return { path: (f: string) => join(d, f), done: () => rmSync(d, { recursive: true, force: true }) };
};

function installJumps(t: TapTest, ns: string, jumps: string[]) {
  for (const j of jumps) {
    const r = run("ip", ["netns", "exec", ns, "iptables", ...iptablesArgv(j)]);
    if (r.code !== 0) t.fail(`iptables ${j}: ${r.stderr}`);
  }
}

function restore(t: TapTest, ns: string, file: string, what: string): boolean {
  const r = run("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], file);
  t.equal(r.code, 0, `iptables-restore --noflush accepts ${what}${r.code ? `: ${r.stderr}` : ""}`);
  return r.code === 0;
}

function save(ns: string): string {
  const r = run("ip", ["netns", "exec", ns, "iptables-save"]);
  if (r.code !== 0) throw new Error(`iptables-save in ${ns}: ${r.stderr}`);
  return r.stdout;
}

/** iptables-save without its comment lines and counters. */
const normalize = (text: string) =>
  text
    .split("\n")
    .filter((l) => l && !l.startsWith("#"))
    .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
    .join("\n");

/** table → chain → number of rules, from iptables-save or a restore text. */
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

for (const node of [NODES.node1, NODES.node3]) {
  t.test(`${node.name}: full ruleset applied, then a partial sync equals a full render of the new state`, { skip }, async (t) => {
    const tmp = dir();
    t.teardown(tmp.done);
    const before = renderIptables(node, fixtureServices());
    const after = renderIptables(node, fixtureServicesNext());
    const partial = renderIptablesPartial(node, fixtureServicesNext(), NEXT_CHANGED, chainsOf(before));
    writeFileSync(tmp.path("before"), restoreText(before));
    writeFileSync(tmp.path("after"), restoreText(after));
    writeFileSync(tmp.path("partial"), restoreText(partial));

    // A node as kube-proxy leaves it after its first full sync.
    const a = netns(t);
    installJumps(t, a, before.jumps);
    if (!restore(t, a, tmp.path("before"), "the full ruleset")) return;
    const applied = save(a);
    const got = ruleCounts(applied);
    const want = ruleCounts(restoreText(before));
    for (const table of ["filter", "nat"]) {
      for (const [chain, n] of Object.entries(want[table])) t.equal(got[table]?.[chain], n, `${table} ${chain}: ${n} rule(s) in iptables-save`);
    }
    for (const table of ["mangle", "nat", "filter"]) t.ok(got[table] && "KUBE-PROXY-CANARY" in got[table], `${table} has KUBE-PROXY-CANARY`);
    t.match(applied, /-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
    t.match(applied, /-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
    t.match(applied, /-A POSTROUTING -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING/);
    t.match(applied, /-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD/);
    t.match(applied, /-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully/);
    t.match(applied, /-m recent --rcheck --seconds 600 --reap --name KUBE-SEP-/, "the affinity rules went in");

    // The same full ruleset again changes nothing (a periodic full sync).
    if (!restore(t, a, tmp.path("before"), "the full ruleset a second time")) return;
    t.equal(normalize(save(a)), normalize(applied), "re-applying the full ruleset is a no-op");

    // The partial sync on top...
    if (!restore(t, a, tmp.path("partial"), "the partial sync")) return;
    const patched = normalize(save(a));

    // ...against a fresh node given the new state in full.
    const b = netns(t);
    installJumps(t, b, after.jumps);
    if (!restore(t, b, tmp.path("after"), "the full ruleset of the new state")) return;
    const fresh = normalize(save(b));
    t.equal(patched, fresh, "partial sync on the old state == full sync of the new state (iptables-save, counters and comments stripped)");
    t.notMatch(patched, /shop\/front/, "the deleted Service is gone");
    t.notMatch(patched, /10\.244\.1\.4/, "the removed endpoint is gone");
  });
}

// What KubeProxy runs for a large full sync (src/plan/proxy/sync.ts): the tool under
// `env LD_PRELOAD=libjemalloc.so.2`. ld.so must find the library (it would only warn and run
// with glibc's malloc) and the rules must be the same as without it.
t.test("a bulk load (jemalloc preloaded) loads the same rules, and ld.so finds the library", { skip }, async (t) => {
  const services = bulkServices(300);
  const plan = planProxySync("iptables", NODES.node1, undefined, services, true);
  t.same(plan.argv.slice(0, 2), ["env", `LD_PRELOAD=${BULK_LOAD_PRELOAD}`], "the plan preloads jemalloc");
  const withPreload = netns(t);
  const r = spawnSync("ip", ["netns", "exec", withPreload, ...plan.argv], { input: plan.input, encoding: "utf8" });
  t.equal(r.status, 0, `loaded: ${r.stderr}`);
  t.equal(r.stderr, "", "nothing on stderr (no ld.so warning: libjemalloc.so.2 was found)");
  const plain = netns(t);
  const p = spawnSync("ip", ["netns", "exec", plain, "iptables-restore"], { input: plan.input, encoding: "utf8" });
  t.equal(p.status, 0, p.stderr);
  const got = normalize(save(withPreload));
  t.equal(got, normalize(save(plain)), "iptables-save: the same ruleset as iptables-restore without the preload");
  t.equal((got.match(/^-A KUBE-SEP-/gm) ?? []).length, 300 * 3 * 2, "every endpoint's two rules");

  if (spawnSync("nft", ["--version"]).status !== 0) return;
  const nft = planProxySync("nftables", NODES.node1, undefined, services, true);
  t.same(nft.argv.slice(0, 2), ["env", `LD_PRELOAD=${BULK_LOAD_PRELOAD}`], "nft: preloaded too");
  const n = netns(t);
  const nr = spawnSync("ip", ["netns", "exec", n, ...nft.argv], { input: nft.input, encoding: "utf8" });
  t.equal(nr.status, 0, `nft loaded: ${nr.stderr}`);
  t.equal(nr.stderr, "", "nft: nothing on stderr");
  const listed = spawnSync("ip", ["netns", "exec", n, "nft", "list", "table", "ip", "kube-proxy"], { encoding: "utf8" }).stdout;
  t.equal((listed.match(/chain endpoint-/g) ?? []).length, 300 * 3, "nft: every endpoint's chain");
});

t.test("namespaces are cleaned up", { skip }, async (t) => {
  const left = run("ip", ["netns", "list"]).stdout.split("\n").filter((l) => l.startsWith(`kt-ipt-${process.pid}-`));
  t.same(left, [], "no kt-ipt namespace of this run is left after the tests' teardown");
});

t.teardown(removeAll);
