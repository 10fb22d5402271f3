// The pure model: IPAM, scheduling, Deployment pod names, naming limits, check resolution.
import t from "tap";
import { LabFileError } from "../../src/spec/errors.js";
import { loadText, type LoadedFiles } from "../../src/spec/load.js";
import type { SpecError } from "../../src/spec/errors.js";
import { buildCluster, parseDurationMs, selectPods } from "../../src/model/cluster.js";
import { cidrsOverlap, intToIp, ipToInt, nthAddress, parseCidr, subnet } from "../../src/model/ipam.js";
import { podHostVeth, replicaPodName, stableMAC } from "../../src/model/naming.js";

function model(yaml: string) {
  const out: LoadedFiles = { namespaces: [], pods: [], deployments: [], files: ["lab.yaml"] };
  const errors: SpecError[] = [];
  loadText("lab.yaml", yaml, out, errors);
  if (errors.length) throw new LabFileError(errors);
  return buildCluster(out);
}

const lab = (spec: string, objects = "") => `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: m}
spec:
  dns: {enabled: false} # scheduling and IPAM alone (the DNS addon has its own tests)
${spec}
${objects}`;

const pod = (name: string, extra = "", ns = "default") => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:
  ${extra}
  containers: [{name: c, image: agnhost, args: [netexec]}]
`;

t.test("ipam arithmetic", async (t) => {
  t.equal(ipToInt("10.244.1.2"), 0x0af40102);
  t.equal(intToIp(0x0af40102), "10.244.1.2");
  const c = parseCidr("10.244.7.9/16")!;
  t.equal(intToIp(c.base), "10.244.0.0", "host bits are masked");
  t.equal(nthAddress(subnet(c, 24, 3), 1), "10.244.3.1");
  t.ok(cidrsOverlap(parseCidr("10.96.0.0/12")!, parseCidr("10.100.0.0/16")!));
  t.notOk(cidrsOverlap(parseCidr("10.244.0.0/16")!, parseCidr("10.96.0.0/12")!));
  t.equal(parseCidr("10.0.0.0/33"), null);
});

t.test("nodes get a /24 each, gateway .1, underlay from .11", async (t) => {
  const m = model(lab("  nodes: 3\n  clients: 2"));
  t.same(m.nodes.map((n) => [n.name, n.podSubnet, n.gateway, n.underlayIP]), [
    ["node1", "10.244.0.0/24", "10.244.0.1", "192.168.56.11"],
    ["node2", "10.244.1.0/24", "10.244.1.1", "192.168.56.12"],
    ["node3", "10.244.2.0/24", "10.244.2.1", "192.168.56.13"],
  ]);
  t.same(m.clients.map((c) => c.underlayIP), ["192.168.56.101", "192.168.56.102"]);
  t.equal(m.podMTU, 1500, "host-gw keeps the underlay MTU");
  t.equal(model(lab("  nodes: 2\n  network: {mode: vxlan}")).podMTU, 1450, "vxlan takes 50 bytes");
});

t.test("scheduling: pinned first, then least-loaded in node order; IPs in order per node", async (t) => {
  const m = model(lab("  nodes: 2", pod("a") + pod("b", "nodeName: node1") + pod("c") + pod("d")));
  const where = Object.fromEntries(m.pods.map((p) => [p.name, [p.node, p.ip]]));
  t.same(where, {
    a: ["node2", "10.244.1.2"],
    b: ["node1", "10.244.0.2"],
    c: ["node1", "10.244.0.3"],
    d: ["node2", "10.244.1.3"],
  });
  t.equal(where.b[0], "node1");
  const counts = m.nodes.map((n) => m.pods.filter((p) => p.node === n.name).length);
  t.same(counts, [2, 2], "spread evenly");
  const ips = new Set(m.pods.map((p) => p.ip));
  t.equal(ips.size, 4, "unique pod IPs");
  for (const p of m.pods) t.ok(p.ip.startsWith(m.nodes.find((n) => n.name === p.node)!.podSubnet.slice(0, 9)), `${p.name} IP in its node's subnet`);
});

t.test("nodeSelector restricts scheduling", async (t) => {
  const m = model(lab("  nodes:\n    - {name: n1}\n    - {name: n2, labels: {disk: ssd}}", pod("a", "nodeSelector: {disk: ssd}") + pod("b", "nodeSelector: {disk: ssd}")));
  t.same(m.pods.map((p) => p.node), ["n2", "n2"]);
});

t.test("Deployments make ReplicaSet-style pods", async (t) => {
  const m = model(lab("  nodes: 2", `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: agnhost, args: [netexec]}]
`));
  t.equal(m.pods.length, 3);
  for (const p of m.pods) {
    t.match(p.name, /^web-[bcdfghjklmnpqrstvwxz2456789]{10}-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    t.equal(p.labels.app, "web");
    t.equal(p.labels["pod-template-hash"], p.name.split("-")[1]);
    t.equal(p.owner, "Deployment/web");
  }
  t.equal(new Set(m.pods.map((p) => p.name)).size, 3, "names are unique");
  t.equal(replicaPodName("web", "abc", "lab", 0), replicaPodName("web", "abc", "lab", 0), "deterministic");
  t.same(selectPods(m, { matchLabels: { app: "web" } }).length, 3);
});

t.test("kernel names stay within limits and are stable", async (t) => {
  t.match(podHostVeth("lab", "default", "a-very-long-pod-name-indeed"), /^veth[0-9a-f]{8}$/);
  t.equal(stableMAC("x"), stableMAC("x"));
  t.match(stableMAC("x"), /^0e(:[0-9a-f]{2}){5}$/, "locally administered unicast");
});

t.test("workloads resolve from images", async (t) => {
  const m = model(lab("  nodes: 1", `---
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - {name: a, image: registry.k8s.io/e2e-test-images/agnhost:2.47, args: [netexec, --http-port=9000, --udp-port=9001]}
    - {name: b, image: registry.k8s.io/pause:3.9}
    - {name: c, image: busybox, command: [sleep], args: ["60"]}
`));
  t.same(m.pods[0].containers.map((c) => c.workload), [
    { kind: "netexec", httpPort: 9000, udpPort: 9001 },
    { kind: "pause" },
    { kind: "exec", argv: ["sleep", "60"] },
  ]);
});

t.test("durations", async (t) => {
  t.equal(parseDurationMs("500ms", 0), 500);
  t.equal(parseDurationMs("2s", 0), 2000);
  t.equal(parseDurationMs("1m", 0), 60000);
  t.equal(parseDurationMs(3, 0), 3000);
  t.equal(parseDurationMs(undefined, 7), 7);
});

t.test("checks resolve endpoints", async (t) => {
  const m = model(lab(`  nodes: 1
  clients: 1
  checks:
    - {name: a, from: pod/p, ping: node/node1}
    - {name: b, from: client/client1, tcp: "pod/default/p:8080", expect: fail, timeout: 500ms}
    - {name: c, from: node/node1, http: {url: "http://{pod/p}:8080/"}}
    - {name: d, matrix: {from: {}, to: {}, port: 8080}}`, pod("p")));
  t.same(m.checks.map((c) => c.probe.kind), ["ping", "tcp", "http", "matrix"]);
  t.same(m.checks[0].from, { kind: "pod", namespace: "default", name: "p" });
  t.equal(m.checks[1].timeoutMs, 500);
  t.equal(m.checks[1].expect, "fail");
});
