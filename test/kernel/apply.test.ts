// Day 2 on a live lab: apply, scale, delete pod — pods keep their addresses, rules change
// incrementally (other Services' chains untouched), and what cannot change is refused.
import t from "tap";
import { writeFileSync } from "node:fs";
import { klab, residue, skipKernel, writeLab, sleep } from "../lib/kernel.js";

const LAB = "kt-apply";
const lab = (replicas: number, extra = "") => `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${LAB}}
spec: {nodes: 2}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: c, image: agnhost, args: [netexec], ports: [{containerPort: 8080, name: http}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: other, labels: {app: other}}
spec:
  containers: [{name: c, image: agnhost, args: [netexec]}]
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: other}
spec:
  selector: {app: other}
  ports: [{port: 80, targetPort: 8080}]
${extra}`;

type Pods = { items: { metadata: { name: string }; status: { podIP: string } }[] };
const pods = () => (JSON.parse(klab(["get", "pods", "--lab", LAB, "-o", "json"]).stdout) as Pods).items;
const nat = () => klab(["exec", "--lab", LAB, "node/node1", "--", "iptables-save", "-t", "nat"]).stdout;
const chainRules = (text: string, chain: string) => text.split("\n").filter((l) => l.startsWith(`-A ${chain} `));
const svcChain = (text: string, comment: string) => /-A KUBE-SERVICES .*--comment "([^"]+) cluster IP".* -j (KUBE-SVC-\S+)/g;

async function endpointsOf(name: string, want: number) {
  let line = "";
  for (let i = 0; i < 40; i++) {
    line = klab(["get", "endpoints", "--lab", LAB]).stdout.split("\n").find((l) => l.startsWith(`${name} `)) ?? "";
    const n = (line.match(/\d+\.\d+\.\d+\.\d+:\d+/g) ?? []).length + Number(/\+ (\d+) more/.exec(line)?.[1] ?? 0);
    if (n === want) return n;
    await sleep(100);
  }
  return -1;
}

t.test("apply, scale, delete pod on a running lab", { skip: skipKernel }, async (t) => {
  t.teardown(() => void klab(["down", LAB]));
  const file = writeLab(lab(2));
  t.equal(klab(["up", file]).code, 0);
  const before = new Map(pods().map((p) => [p.metadata.name, p.status.podIP]));
  const nat0 = nat();
  const otherChain = [...nat0.matchAll(svcChain(nat0, ""))].find((m) => m[1] === "default/other")![2];
  const otherRules = chainRules(nat0, otherChain);
  t.ok(otherRules.length > 0, "other's KUBE-SVC chain exists");

  const s = klab(["scale", "--lab", LAB, "deploy/web", "--replicas", "4"]);
  t.equal(s.code, 0, s.stderr);
  t.match(s.stdout, /deployment\.apps\/web scaled/);
  t.equal((s.stdout.match(/ created /g) ?? []).length, 2, "two pods created");
  t.equal(await endpointsOf("web", 4), 4, "4 endpoints");
  const after = new Map(pods().map((p) => [p.metadata.name, p.status.podIP]));
  for (const [name, ip] of before) t.equal(after.get(name), ip, `${name} kept ${ip}`);
  const nat1 = nat();
  t.same(chainRules(nat1, otherChain), otherRules, "the other Service's chain is untouched by the partial sync");
  t.equal((nat1.match(/-j DNAT/g) ?? []).length, 7, "4 web + 1 other endpoints + kube-dns (UDP and TCP)");

  const victim = [...after.keys()].find((n) => n.startsWith("web-"))!;
  const d = klab(["delete", "--lab", LAB, "pod", victim]);
  t.equal(d.code, 0, d.stderr);
  t.match(d.stdout, new RegExp(`pod "${victim}" deleted`));
  await sleep(300);
  const names = pods().map((p) => p.metadata.name);
  t.notOk(names.includes(victim), "the pod is gone");
  t.equal(names.filter((n) => n.startsWith("web-")).length, 4, "and replaced: still 4 replicas");
  t.equal(await endpointsOf("web", 4), 4);

  // The files are the desired state again: replicas back to 2 (scale dropped), a new Service.
  writeFileSync(file, lab(2, `---
apiVersion: v1
kind: Service
metadata: {name: added}
spec:
  selector: {app: web}
  ports: [{port: 8080}]
`));
  const a = klab(["apply", file]);
  t.equal(a.code, 0, a.stderr);
  t.match(a.stdout, /service\/added created/);
  t.equal(await endpointsOf("web", 2), 2, "back to the file's 2 replicas");
  t.match(klab(["exec", "--lab", LAB, "other", "--", "curl", "-s", "-m", "2", "http://10.96.0.13:8080/hostname"]).stdout, /^web-/, "the new Service answers");
  t.equal(klab(["apply", file]).stdout.trim(), `lab ${LAB} unchanged`, "applying again changes nothing");

  writeFileSync(file, lab(2).replace("nodes: 2", "nodes: 3"));
  const bad = klab(["apply", file]);
  t.equal(bad.code, 2, "changing nodes is refused");
  t.match(bad.stderr, /cannot change in a running lab/);
  t.equal(klab(["down", LAB]).code, 0);
  t.same(residue(LAB), []);
});
