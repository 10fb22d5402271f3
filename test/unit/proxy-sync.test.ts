// One node's kube-proxy sync step (src/plan/proxy/sync.ts): which Services changed, and the
// command and input each mode runs for a full and a partial sync.
import t from "tap";
import { diffServices, ENDPOINT_FIELDS, planProxySync, PORT_FIELDS, sameService, SERVICE_FIELDS } from "../../src/plan/proxy/sync.js";
import { renderIptables } from "../../src/plan/proxy/iptables.js";
import { renderNftables, renderNftablesUpdate } from "../../src/plan/proxy/nftables.js";
import { initialIptablesRestore } from "../../src/plan/proxy/node.js";
import { bulkServices, ep, fixtureServices, NODES } from "../lib/proxy-fixture.js";
import { BULK_LOAD_MIN_BYTES, BULK_LOAD_PRELOAD } from "../../src/plan/bulk-load.js";
import { stepCommand } from "../../src/plan/script.js";

const node = NODES.node1;
const fresh = () => fixtureServices();

t.test("diffServices: same objects or equal copies are unchanged; edits, additions, removals are not", async (t) => {
  const a = fresh();
  const st = planProxySync("nftables", node, undefined, a, true).next;
  t.same([...diffServices(st, a).changed], [], "the same objects");
  t.same([...diffServices(st, fresh()).changed], [], "resolved anew, equal");
  const b = fresh();
  b.find((s) => s.name === "cart")!.endpoints[""].push(ep("10.244.2.50:8080@node3"));
  t.same([...diffServices(st, b).changed], ["shop/cart"], "one endpoint more");
  const c = fresh().filter((s) => s.name !== "web").reverse();
  t.same([...diffServices(st, c).changed], ["shop/web"], "removed (the others reordered, unchanged)");
  t.same([...diffServices(undefined, a).changed].length, a.length, "from nothing: all");
});

t.test("iptables: a full sync replaces the tables (no --noflush), a partial one does not", async (t) => {
  const a = fresh();
  const full = planProxySync("iptables", node, undefined, a, false);
  t.ok(full.full, "nothing known of the node: full");
  t.same(full.argv, ["iptables-restore"]);
  t.equal(full.input, initialIptablesRestore(renderIptables(node, a)), "what `up` loads");

  const b = fresh();
  b.find((s) => s.name === "cart")!.endpoints[""].pop();
  const partial = planProxySync("iptables", node, full.next, b, false);
  t.same(partial.argv, ["iptables-restore", "--noflush"]);
  t.same([...partial.changed], ["shop/cart"]);
  t.notMatch(partial.input, /^\*filter/m, "filter unchanged");
  t.match(partial.input, /^-X KUBE-SEP-/m, "the gone endpoint's chain is deleted");

  const resync = planProxySync("iptables", node, partial.next, b, true);
  t.same(resync.argv, ["iptables-restore"]);
  t.equal(resync.input, initialIptablesRestore(renderIptables(node, b)));
  t.equal(planProxySync("iptables", node, partial.next, fresh().map((s) => (s.name === "cart" ? b.find((x) => x.name === "cart")! : s)), false).input, "", "no change: nothing to run");
});

t.test("large full syncs run with jemalloc preloaded; small ones and changes as they are", async (t) => {
  const many = bulkServices(300);
  for (const mode of ["iptables", "nftables"] as const) {
    const tool = mode === "iptables" ? ["iptables-restore"] : ["nft", "-f", "-"];
    const big = planProxySync(mode, node, undefined, many, true);
    t.ok(big.input.length >= BULK_LOAD_MIN_BYTES, `${mode}: ${big.input.length} bytes`);
    t.same(big.argv, ["env", `LD_PRELOAD=${BULK_LOAD_PRELOAD}`, ...tool], `${mode}: a large full sync preloads jemalloc`);
    const small = planProxySync(mode, node, undefined, fresh(), true);
    t.same(small.argv, tool, `${mode}: a small one runs the tool as it is`);
    const changed = many.map((s, i) => (i === 7 ? { ...s, endpoints: { [s.ports[0].name]: s.endpoints[s.ports[0].name].slice(1) } } : s));
    const change = planProxySync(mode, node, big.next, changed, false);
    t.notOk(change.argv.includes("env"), `${mode}: a one-Service change runs the tool as it is: ${change.argv.join(" ")}`);
  }
  const step = { kind: "restore" as const, netns: "kt-n1", tool: "iptables-restore" as const, input: "x".repeat(BULK_LOAD_MIN_BYTES) };
  t.match(stepCommand(step), /^ip netns exec kt-n1 env LD_PRELOAD=libjemalloc\.so\.2 iptables-restore <<'EOF'\n/, "klab plan prints the same command up runs");
  t.match(stepCommand({ ...step, input: "*nat\nCOMMIT\n" }), /^ip netns exec kt-n1 iptables-restore <<'EOF'\n/);
});

t.test("nftables: full = renderNftables, partial = renderNftablesUpdate of the changed Services", async (t) => {
  const a = fresh();
  const full = planProxySync("nftables", node, undefined, a, true);
  t.same(full.argv, ["nft", "-f", "-"]);
  t.equal(full.input, renderNftables(node, a));
  const b = fresh();
  b.find((s) => s.name === "cart")!.endpoints[""].pop();
  const partial = planProxySync("nftables", node, full.next, b, false);
  t.notMatch(partial.input, /^(delete|add rule) /m, "no delete and no add rule: nft 1.0.6 would list every chain first");
  t.match(partial.input, /^add chain ip kube-proxy service-\S+-shop\/cart\/tcp\/ \{ .*; \}$/m, "the Service's chain refilled in one add chain");
  const gone = partial.next.nftPending ?? [];
  t.same(gone.map((p) => p.replace(/-[A-Z0-9]{8}-/, "-…-")), ["chain endpoint-…-shop/cart/tcp/__10.244.2.2/8080", "set affinity-…-shop/cart/tcp/__10.244.2.2/8080"], "the gone endpoint's chain and affinity set are left for later");
  const cleanup = planProxySync("nftables", node, partial.next, b, false);
  t.same(
    cleanup.input.split("\n").filter((l) => l.startsWith("delete ")),
    gone.map((p) => `delete ${p.replace(" ", " ip kube-proxy ")}`),
    "a sync with nothing else to do deletes them",
  );
  t.same(cleanup.next.nftPending, []);
  t.equal(planProxySync("nftables", node, cleanup.next, b, false).input, "", "then nothing to run");
  // The endpoint comes back before the cleanup: its chain is in use again, not deleted.
  const back = planProxySync("nftables", node, partial.next, a, false);
  t.same(back.next.nftPending, [], "a name in use again is not pending");
  t.equal(renderNftablesUpdate(node, a, b).includes("delete chain"), true, "(renderNftablesUpdate still deletes in the same transaction)");
});

t.test("sameService: every field counts, absent equals undefined", async (t) => {
  const base = () => fresh().find((s) => s.name === "cart")!;
  t.ok(sameService(base(), base()));
  const edits: Array<[string, (s: ReturnType<typeof base>) => void]> = [
    ["type", (s) => (s.type = "NodePort")],
    ["affinity timeout", (s) => (s.affinityTimeoutSeconds += 1)],
    ["a nodePort", (s) => (s.ports[0].nodePort = 30999)],
    ["an endpoint's readiness", (s) => (s.endpoints[""][0].ready = !s.endpoints[""][0].ready)],
    ["an endpoint's node", (s) => (s.endpoints[""][0].node = "node9")],
    ["another port's endpoint list", (s) => (s.endpoints.other = [])],
    ["loadBalancerIP", (s) => (s.loadBalancerIP = "192.168.56.250")],
  ];
  for (const [what, edit] of edits) {
    const b = base();
    edit(b);
    t.notOk(sameService(base(), b), what);
  }
  const u = base();
  u.externalName = undefined;
  t.ok(sameService(base(), u), "externalName undefined = absent");
});

t.test("sameService compares every field of the model (the lists are checked by the compiler)", async (t) => {
  const base = () => fresh().find((s) => s.name === "cart")!;
  const other = (v: unknown): unknown => (typeof v === "number" ? v + 1 : typeof v === "boolean" ? !v : v === undefined || v === null ? "x" : typeof v === "string" ? v + "x" : v);
  for (const f of SERVICE_FIELDS) {
    const b = base() as unknown as Record<string, unknown>;
    if (f === "ports") (b.ports as unknown[]).push({ name: "p", protocol: "TCP", port: 1 });
    else if (f === "endpoints") (b.endpoints as Record<string, unknown[]>).extra = [];
    else b[f] = other(b[f]);
    t.notOk(sameService(base(), b as never), `service field ${f}`);
  }
  for (const f of PORT_FIELDS) {
    const b = base();
    const p = b.ports[0] as unknown as Record<string, unknown>;
    p[f] = other(p[f]);
    t.notOk(sameService(base(), b), `port field ${f}`);
  }
  for (const f of ENDPOINT_FIELDS) {
    const b = base();
    const e = b.endpoints[""][0] as unknown as Record<string, unknown>;
    e[f] = other(e[f]);
    t.notOk(sameService(base(), b), `endpoint field ${f}`);
  }
  const fewer = base();
  delete (fewer.endpoints as Record<string, unknown>)[""];
  t.notOk(sameService(base(), fewer), "an endpoint list gone");
  t.notOk(sameService(fewer, base()), "an endpoint list added");
});
