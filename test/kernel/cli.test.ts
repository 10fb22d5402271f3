// The kubectl-shaped commands against a live lab, bad input leaving the kernel untouched,
// and `klab plan` being the runnable script of what `up` does.
import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { klab, residue, skipKernel, writeLab, sleep } from "../lib/kernel.js";

const LAB = "kt-cli";
const labText = `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${LAB}}
spec:
  nodes: 2
  clients: 1
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  nodeName: node2
  containers:
    - {name: netexec, image: registry.k8s.io/e2e-test-images/agnhost:2.47, args: [netexec, --http-port=8080]}
    - name: side
      image: busybox
      command: [sh, -c, 'echo "side says $GREETING from $(hostname)"; exec sleep infinity']
      env: [{name: GREETING, value: hello}]
`;

/** This test's lab's namespaces (other labs may come and go on a developer's host). */
const netnsSnapshot = (lab = LAB) => readdirSync("/run/netns").filter((n) => n.startsWith(`klab-${lab}-`)).sort();

t.test("get, describe, exec, logs on a live lab", { skip: skipKernel }, async (t) => {
  t.teardown(() => void klab(["down", LAB]));
  const up = klab(["up", writeLab(labText)]);
  t.equal(up.code, 0, up.stderr);
  t.match(up.stdout, /lab kt-cli is up: 2 node\(s\) \(host-gw\), 2 pod\(s\), 1 client\(s\)/, "shop/web and the cluster DNS pod");

  const pods = JSON.parse(klab(["get", "--lab", LAB, "pods", "-n", "shop", "-o", "json"]).stdout);
  t.equal(pods.kind, "List");
  const web = pods.items[0];
  t.same([web.metadata.name, web.metadata.namespace, web.spec.nodeName, web.status.podIP, web.status.hostIP, web.status.phase],
    ["web", "shop", "node2", "10.244.1.2", "192.168.56.12", "Running"]);
  t.same(web.status.containerStatuses.map((c: { ready: boolean }) => c.ready), [true, true]);

  const wide = klab(["get", "--lab", LAB, "pods", "-A", "-o", "wide"]).stdout;
  t.match(wide, /NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
  t.match(wide, /shop\s+web\s+2\/2\s+Running\s+0\s+\S+\s+10\.244\.1\.2\s+node2/);
  t.match(klab(["get", "--lab", LAB, "pods"]).stdout, /No resources found in default namespace/);
  t.match(klab(["get", "--lab", LAB, "nodes"]).stdout, /node2\s+Ready\s+<none>\s+\S+\s+192\.168\.56\.12\s+10\.244\.1\.0\/24/);
  t.equal(klab(["get", "--lab", LAB, "widgets"]).code, 2, "unknown resource is a usage error");

  const desc = klab(["describe", "--lab", LAB, "pod", "web", "-n", "shop"]).stdout;
  t.match(desc, /Node:\s+node2\/192\.168\.56\.12/);
  t.match(desc, /IP:\s+10\.244\.1\.2/);
  t.match(desc, /GREETING: hello/);

  t.equal(klab(["exec", "--lab", LAB, "web", "-n", "shop", "--", "hostname"]).stdout.trim(), "web", "own UTS namespace");
  t.equal(klab(["exec", "--lab", LAB, "node/node2", "--", "hostname"]).stdout.trim(), "node2", "a node has its own hostname");
  t.equal(klab(["exec", "--lab", LAB, "client/client1", "--", "hostname"]).stdout.trim(), "client1");
  const addr = klab(["exec", "--lab", LAB, "web", "-n", "shop", "--", "ip", "-4", "-o", "addr", "show", "eth0"]).stdout;
  t.match(addr, /inet 10\.244\.1\.2\/24/);
  t.match(klab(["exec", "--lab", LAB, "web", "-n", "shop", "--", "ip", "route"]).stdout, /default via 10\.244\.1\.1 dev eth0/);
  t.equal(klab(["exec", "--lab", LAB, "web", "-n", "shop", "--", "sh", "-c", "exit 7"]).code, 7, "exit status passes through");
  t.match(klab(["exec", "--lab", LAB, "node/node2", "--", "ip", "-o", "link", "show", "master", "cni0"]).stdout, /veth[0-9a-f]{8}@if\d+/, "host veth on cni0");
  t.equal(klab(["exec", "--lab", LAB, "web", "--", "true"]).code, 2, "pod in the wrong namespace");
  t.match(klab(["exec", "--lab", LAB, "web", "--", "true"]).stderr, /it exists in namespace shop: add -n shop/);

  let logs = "";
  for (let i = 0; i < 50 && !logs.includes("side says"); i++) {
    logs = klab(["logs", "--lab", LAB, "web", "-n", "shop", "-c", "side"]).stdout;
    await sleep(100);
  }
  t.equal(logs.trim(), "side says hello from web", "container env and hostname");
  t.match(klab(["logs", "--lab", LAB, "web", "-n", "shop", "-c", "netexec"]).stdout, /Started HTTP server on port 8080/);
  const noC = klab(["logs", "--lab", LAB, "web", "-n", "shop"]);
  t.equal(noC.code, 0, "the first container by default, as kubectl");
  t.match(noC.stderr, /Defaulted container "netexec" out of: netexec, side/);
  t.match(noC.stdout, /Started HTTP server on port 8080/);
  t.equal(klab(["down", LAB]).code, 0);
  t.same(residue(LAB), []);
});

t.test("bad input: exit 2 and no kernel change at all", { skip: skipKernel }, async (t) => {
  const before = netnsSnapshot();
  const bad = writeLab(labText.replace("nodeName: node2", "nodeName: node9"));
  for (const cmd of [["up", bad], ["run", bad], ["validate", bad], ["plan", bad]]) {
    const r = klab(cmd);
    t.equal(r.code, 2, `${cmd[0]} exits 2`);
    t.match(r.stderr, /lab\.yaml:\d+:\d+: error: spec\.nodeName: node "node9" does not exist/);
    t.match(r.stderr, /hint: did you mean "node1"\?|hint: .*nodes: node1, node2/);
  }
  t.same(netnsSnapshot(), before, "no namespace created");
  t.same(before, [], "the lab's namespaces never existed");
  t.same(residue(LAB), []);
  t.equal(klab(["nope"]).code, 2, "unknown command is a usage error");
});

t.test("klab plan is the runnable script of up", { skip: skipKernel }, async (t) => {
  const lab = "kt-plan";
  t.teardown(() => void klab(["cleanup", lab]));
  const file = writeLab(labText.replaceAll(LAB, lab));
  const plan = klab(["plan", file]);
  t.equal(plan.code, 0);
  t.equal(plan.stdout, klab(["plan", file]).stdout, "deterministic");
  const script = writeLab(plan.stdout, "plan.sh");
  const r = spawnSync("bash", [script], { encoding: "utf8" });
  t.equal(r.status, 0, `the plan runs: ${r.stderr}`);
  const names = netnsSnapshot(lab);
  t.same(names.filter((n) => !n.includes("-kube-system-klab-dns-")), [`klab-${lab}-client1`, `klab-${lab}-fabric`, `klab-${lab}-node1`, `klab-${lab}-node2`, `klab-${lab}-shop-web`]);
  t.equal(names.filter((n) => n.includes("-kube-system-klab-dns-")).length, 1, "and the cluster DNS pod's");
  t.equal(readFileSync(`/etc/netns/klab-${lab}-shop-web/resolv.conf`, "utf8"), "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
    "the plan writes the kubelet's resolv.conf where `ip netns exec` binds it");
  const ping = spawnSync("ip", ["netns", "exec", `klab-${lab}-node1`, "ping", "-c1", "-W2", "10.244.1.2"], { encoding: "utf8" });
  t.equal(ping.status, 0, "the plan alone wires node1 to a pod on node2");
  t.notOk(existsSync(`/run/klab/${lab}/uts/shop_web`), "pod sandboxes (UTS) belong to the runtime, not to the plan");
  const c = klab(["cleanup", lab]);
  t.equal(c.code, 0);
  t.same(residue(lab), [], "cleanup removes a lab that has no state");
  writeFileSync(script, "");
});
