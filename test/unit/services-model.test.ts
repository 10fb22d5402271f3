// Services in the pure model: allocation (ClusterIP, NodePort, LoadBalancer), endpoints from
// selectors, named target ports and readiness, manual Endpoints, and sticky addresses on apply.
import t from "tap";
import { LabFileError, type SpecError } from "../../src/spec/errors.js";
import { loadText, type LoadedFiles } from "../../src/spec/load.js";
import { buildCluster, type BuildOptions } from "../../src/model/cluster.js";
import { resolveServices } from "../../src/model/services.js";
import { loadBalancerPool } from "../../src/model/service-build.js";
import { parseCidr } from "../../src/model/ipam.js";
import { diffModels } from "../../src/kernel/changes.js";

function model(yaml: string, opts: BuildOptions = {}) {
  const out: LoadedFiles = { namespaces: [], pods: [], deployments: [], files: ["lab.yaml"] };
  const errors: SpecError[] = [];
  loadText("lab.yaml", yaml, out, errors);
  if (errors.length) throw new LabFileError(errors);
  return buildCluster(out, opts);
}

const head = `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: svc}
spec:
  nodes: 2
  dns: {enabled: false} # the user's Services alone (kube-dns has its own tests)
`;
const deploy = (replicas: number) => `---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: c
          image: agnhost
          args: [netexec]
          ports: [{containerPort: 8080, name: http}, {containerPort: 8081, name: echo, protocol: UDP}]
`;
const svc = (name: string, spec: string) => `---
apiVersion: v1
kind: Service
metadata: {name: ${name}}
spec:
${spec}
`;

t.test("allocation: ClusterIPs from .11 (.1 and .10 reserved), NodePorts from 30000, LB from the pool", async (t) => {
  const m = model(head + deploy(2)
    + svc("a", "  selector: {app: web}\n  ports: [{port: 80, targetPort: http}]")
    + svc("b", "  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]")
    + svc("c", "  type: LoadBalancer\n  clusterIP: 10.96.0.11\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080, nodePort: 30000}]")
    + svc("d", "  clusterIP: None\n  selector: {app: web}\n  ports: [{port: 80}]"));
  const by = Object.fromEntries(m.services.map((s) => [s.name, s]));
  t.equal(by.c.clusterIP, "10.96.0.11", "explicit clusterIP honoured");
  t.equal(by.a.clusterIP, "10.96.0.12", "dynamic ones skip explicit ones");
  t.equal(by.b.clusterIP, "10.96.0.13");
  t.equal(by.d.clusterIP, null, "headless");
  t.equal(by.c.ports[0].nodePort, 30000, "explicit nodePort");
  t.equal(by.b.ports[0].nodePort, 30001, "allocated nodePort skips explicit ones");
  t.equal(by.c.loadBalancerIP, "192.168.56.240", "default pool: top of the underlay");
  t.same(loadBalancerPool(undefined, parseCidr("192.168.56.0/24")!).pool.slice(0, 2), ["192.168.56.240", "192.168.56.241"]);
  t.same(loadBalancerPool(["10.0.0.1-10.0.0.3", "10.0.0.8/31"], parseCidr("10.0.0.0/24")!).pool, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.8", "10.0.0.9"]);
});

t.test("endpoints: selector, named target ports, readiness, publishNotReadyAddresses", async (t) => {
  const m = model(head + deploy(3)
    + svc("web", "  selector: {app: web}\n  ports: [{name: http, port: 80, targetPort: http}, {name: echo, port: 81, targetPort: echo, protocol: UDP}]")
    + svc("all", "  publishNotReadyAddresses: true\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]"));
  const first = m.pods[0];
  const services = resolveServices(m.services, m.pods, (ns, name) => name !== first.name);
  const web = services.find((s) => s.name === "web")!;
  t.equal(web.endpoints.http.length, 3);
  t.same(web.endpoints.http.map((e) => e.port), [8080, 8080, 8080], "named port http → 8080");
  t.same(web.endpoints.echo.map((e) => e.port), [8081, 8081, 8081], "named UDP port echo → 8081");
  t.equal(web.endpoints.http.filter((e) => !e.ready).length, 1, "the unready pod is listed not-ready");
  t.equal(web.endpoints.http.find((e) => !e.ready)!.ip, first.ip);
  t.ok(services.find((s) => s.name === "all")!.publishNotReadyAddresses);
});

t.test("a Service without selector takes hand-written Endpoints and EndpointSlices", async (t) => {
  const m = model(head + svc("ext", "  ports: [{name: http, port: 80}]") + `---
apiVersion: v1
kind: Endpoints
metadata: {name: ext}
subsets:
  - addresses: [{ip: 192.168.56.101}]
    notReadyAddresses: [{ip: 192.168.56.102}]
    ports: [{name: http, port: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: ext-1, labels: {kubernetes.io/service-name: ext}}
addressType: IPv4
endpoints: [{addresses: [192.168.56.103], conditions: {ready: true}}]
ports: [{name: http, port: 8080}]
`);
  const [ext] = resolveServices(m.services, m.pods, () => true);
  t.same(ext.endpoints.http.map((e) => [e.ip, e.port, e.ready]), [["192.168.56.101", 8080, true], ["192.168.56.102", 8080, false], ["192.168.56.103", 8080, true]]);
});

t.test("invalid Services are rejected with positions", async (t) => {
  const bad = (spec: string) => {
    try {
      model(head + deploy(1) + svc("x", spec));
    } catch (e) {
      return (e as LabFileError).errors.map((x) => `${x.line}:${x.col} ${x.path}: ${x.message}`);
    }
    return [];
  };
  t.match(bad("  clusterIP: 10.1.0.1\n  ports: [{port: 80}]"), [/spec\.clusterIP: clusterIP 10\.1\.0\.1 is not inside serviceCIDR 10\.96\.0\.0\/12/]);
  t.match(bad("  type: NodePort\n  ports: [{port: 80, nodePort: 40000}]"), [/nodePort 40000 is outside the range 30000-32767/]);
  t.match(bad("  ports: [{port: 80}, {port: 81}]"), [/must name each one/, /must name each one/]);
  t.match(bad("  type: NodePort\n  clusterIP: None\n  ports: [{port: 80}]"), [/headless Service \(clusterIP: None\) cannot be type NodePort/]);
  t.match(bad("  type: LoadBalancer\n  loadBalancerIP: 192.168.56.5\n  ports: [{port: 80}]"), [/not in the LoadBalancer pool/]);
});

t.test("apply keeps running pods and Services where they are", async (t) => {
  const files = head + deploy(2) + svc("web", "  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]");
  const before = model(files);
  // A Service declared before web now takes the first dynamic IP — unless web keeps its own.
  const after = model(head + deploy(4) + svc("first", "  selector: {app: web}\n  ports: [{port: 80}]") + svc("web", "  type: NodePort\n  selector: {app: web}\n  ports: [{port: 80, targetPort: 8080}]"), { previous: before });
  const ip = (m: typeof before, n: string) => m.services.find((s) => s.name === n)!;
  t.equal(ip(after, "web").clusterIP, ip(before, "web").clusterIP, "web keeps its cluster IP");
  t.equal(ip(after, "web").ports[0].nodePort, ip(before, "web").ports[0].nodePort, "and its nodePort");
  t.not(ip(after, "first").clusterIP, ip(before, "web").clusterIP);
  for (const p of before.pods) {
    const q = after.pods.find((x) => x.name === p.name)!;
    t.same([q.node, q.ip], [p.node, p.ip], `${p.name} stays on ${p.node} with ${p.ip}`);
  }
  const d = diffModels(before, after);
  t.equal(d.added.length, 2);
  t.equal(d.removed.length, 0);
  t.same(d.services.created, ["default/first"]);
  const oldIPs = new Set(before.pods.map((p) => p.ip));
  for (const p of d.added) t.notOk(oldIPs.has(p.ip), `new pod ${p.name} gets a fresh address`);
  t.throws(() => diffModels(before, model(files.replace("nodes: 2", "nodes: 3"))), /cannot change in a running lab/);
});

t.test("scale and delete overrides", async (t) => {
  const files = head + deploy(3);
  const m = model(files);
  const scaled = model(files, { previous: m, replicas: { "default/web": 1 } });
  t.equal(scaled.pods.length, 1);
  const gone = m.pods[0];
  const replaced = model(files, { previous: m, deletedPods: [`default/${gone.name}`] });
  t.equal(replaced.pods.length, 3, "the Deployment still has 3 replicas");
  t.notOk(replaced.pods.some((p) => p.name === gone.name), "under a new name");
});
