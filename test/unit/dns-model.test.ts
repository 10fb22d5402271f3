// Cluster DNS in the model: the kube-dns addon (Deployment + Service) every lab gets, pods'
// resolv.conf by dnsPolicy/dnsConfig as the kubelet forms it, and the dns check probe.
import t from "tap";
import { LabFileError, type SpecError } from "../../src/spec/errors.js";
import { loadText, type LoadedFiles } from "../../src/spec/load.js";
import { buildCluster, type BuildOptions } from "../../src/model/cluster.js";
import { formatResolvConf, parseResolvConf, podResolvConf } from "../../src/model/dns.js";
import { digArgv, judgeDns, parseDig } from "../../src/checks/probes.js";
import { renderPlan, resolvConfStage } from "../../src/plan/cluster.js";
import { planScript } from "../../src/plan/script.js";

function model(yaml: string, opts: BuildOptions = {}) {
  const out: LoadedFiles = { namespaces: [], pods: [], deployments: [], files: ["lab.yaml"] };
  const errors: SpecError[] = [];
  loadText("lab.yaml", yaml, out, errors);
  if (errors.length) throw new LabFileError(errors);
  return buildCluster(out, opts);
}

function errorsOf(yaml: string): SpecError[] {
  try {
    model(yaml);
  } catch (e) {
    if (e instanceof LabFileError) return e.errors;
    throw e;
  }
  return [];
}

const lab = (spec = "", objects = "") => `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: d}
spec:
  nodes: 2
${spec}
${objects}`;

const pod = (name: string, spec = "", ns = "default") => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}, namespace: ${ns}}
spec:
${spec}
  containers: [{name: c, image: agnhost, args: [netexec]}]
`;

t.test("every lab gets kube-system/kube-dns at serviceCIDR's tenth address and a klab-dns pod", async (t) => {
  const m = model(lab("", pod("a") + pod("b")));
  t.same(m.dns, { enabled: true, clusterDomain: "cluster.local", serviceIP: "10.96.0.10", ttl: 5, log: true });
  const svc = m.services.find((s) => s.namespace === "kube-system" && s.name === "kube-dns")!;
  t.equal(svc.clusterIP, "10.96.0.10");
  t.same(svc.ports.map((p) => `${p.name} ${p.port}/${p.protocol}`), ["dns 53/UDP", "dns-tcp 53/TCP"]);
  t.same(svc.selector, { "k8s-app": "kube-dns" });
  const dns = m.pods.filter((p) => p.namespace === "kube-system");
  t.equal(dns.length, 1, "one DNS pod");
  t.match(dns[0].name, /^klab-dns-[a-z0-9]{10}-[a-z0-9]{5}$/, "named like a ReplicaSet's pod");
  t.equal(dns[0].owner, "Deployment/klab-dns");
  t.same(dns[0].containers[0].workload, { kind: "dns" });
  t.equal(dns[0].resolvConf, null, "the DNS pod uses the node's resolv.conf (dnsPolicy Default), not itself");
  t.same(m.pods.map((p) => p.name).slice(0, 2), ["a", "b"], "user pods first: their addresses do not move");
  t.equal(m.pods[0].ip, "10.244.0.2");
  t.equal(m.pods[1].ip, "10.244.1.2");
});

t.test("a dynamic Service never takes .10; serviceCIDR and clusterDomain are honoured", async (t) => {
  const m = model(lab("  network: {serviceCIDR: 10.100.0.0/16}\n  dns: {clusterDomain: lab.example, upstream: 192.168.56.200, ttl: 30, log: false}",
    pod("a") + `---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: x}
  ports: [{port: 80}]
`));
  t.equal(m.dns.serviceIP, "10.100.0.10");
  t.equal(m.dns.upstream, "192.168.56.200");
  t.equal(m.dns.ttl, 30);
  t.equal(m.services.find((s) => s.name === "web")!.clusterIP, "10.100.0.11");
  t.equal(m.pods[0].resolvConf, "search default.svc.lab.example svc.lab.example lab.example\nnameserver 10.100.0.10\noptions ndots:5\n");
});

t.test("spec.dns.enabled: false: no addon, pods see the node's resolv.conf", async (t) => {
  const m = model(lab("  dns: {enabled: false}", pod("a")));
  t.equal(m.dns.enabled, false);
  t.equal(m.dns.serviceIP, null);
  t.equal(m.pods.length, 1);
  t.equal(m.services.length, 0);
  t.equal(m.pods[0].resolvConf, null, "ClusterFirst without cluster DNS falls back to Default, as the kubelet does");
  t.notOk(planScript(renderPlan(m)).includes("resolv.conf"), "the plan writes no resolv.conf");
});

t.test("the user's own kube-dns or klab-dns is an error that names the way out", async (t) => {
  const errs = errorsOf(lab("", `---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 53, protocol: UDP}]
`));
  t.ok(errs.some((e) => e.file === "lab.yaml" && e.line === 10 && /klab's cluster DNS Service/.test(e.message) && /spec.dns.enabled: false/.test(e.hint ?? "")), JSON.stringify(errs));
  const taken = errorsOf(lab("", `---
apiVersion: v1
kind: Service
metadata: {name: mine}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 53}]
`));
  t.ok(taken.some((e) => e.file === "lab.yaml" && /10.96.0.10 is already allocated to kube-system\/kube-dns/.test(e.message)), "a clusterIP clash blames the user's Service: " + JSON.stringify(taken));
  t.same(errorsOf(lab("  dns: {enabled: false}", `---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec:
  clusterIP: 10.96.0.10
  ports: [{port: 53, protocol: UDP}]
`)), [], "with the addon off, the name is the user's");
});

t.test("resolv.conf by dnsPolicy, as the kubelet writes it", async (t) => {
  const base = { namespace: "shop", clusterDomain: "cluster.local", clusterDNS: "10.96.0.10" };
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "ClusterFirst" } }),
    "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "ClusterFirstWithHostNet" } }), podResolvConf({ ...base, spec: { dnsPolicy: "ClusterFirst" } }),
    "ClusterFirstWithHostNet on a pod network pod is ClusterFirst");
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "Default" } }), null, "Default: the node's own file");
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "None", dnsConfig: { nameservers: ["1.1.1.1"], searches: ["corp.example"], options: [{ name: "ndots", value: "2" }, { name: "edns0" }] } } }),
    "search corp.example\nnameserver 1.1.1.1\noptions ndots:2 edns0\n");
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "ClusterFirst", dnsConfig: { nameservers: ["10.96.0.10", "192.168.56.200"], searches: ["svc.cluster.local", "corp.example"], options: [{ name: "ndots", value: "1" }] } } }),
    "search shop.svc.cluster.local svc.cluster.local cluster.local corp.example\nnameserver 10.96.0.10\nnameserver 192.168.56.200\noptions ndots:1\n",
    "dnsConfig is appended without duplicates; an option of the same name replaces");
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "Default", dnsConfig: { searches: ["corp.example"] } }, hostResolvConf: "# host\nnameserver 192.0.2.53\nsearch lan\noptions rotate\n" }),
    "search lan corp.example\nnameserver 192.0.2.53\noptions rotate\n", "Default with dnsConfig merges into the node's file");
  t.equal(podResolvConf({ ...base, spec: { dnsPolicy: "None", dnsConfig: { nameservers: ["1.1.1.1", "1.0.0.1", "8.8.8.8"], searches: ["a"] } } }).split("\n").filter((l) => l.startsWith("nameserver")).length, 3);
  t.same(parseResolvConf("domain x\nsearch a b ; comment\nnameserver 1.2.3.4\noptions ndots:2 ndots:3\n"), { nameservers: ["1.2.3.4"], searches: ["a", "b"], options: [{ name: "ndots", value: "3" }] });
  t.equal(formatResolvConf({ nameservers: [], searches: [], options: [] }), "\n");
});

t.test("dnsPolicy None needs nameservers; the dnsConfig limits are Kubernetes'", async (t) => {
  const errs = errorsOf(lab("", pod("a", "  dnsPolicy: None")));
  t.equal(errs.length, 1);
  t.match(errs[0], { line: 12, path: "spec.dnsPolicy", message: /dnsPolicy None needs dnsConfig.nameservers/ });
  const four = errorsOf(lab("", pod("a", "  dnsPolicy: None\n  dnsConfig: {nameservers: [1.1.1.1, 1.1.1.2, 1.1.1.3, 1.1.1.4]}")));
  t.match(four[0]?.message, /at most 3 nameservers/);
  const bad = errorsOf(lab("", pod("a", "  dnsPolicy: Cluster")));
  t.match(bad[0], { path: "spec.dnsPolicy" });
});

t.test("resolv.conf files in the plan: one mkdir, printf lines, quoting safe", async (t) => {
  const m = model(lab("", pod("a") + pod("b", "  dnsPolicy: Default")));
  const text = planScript(renderPlan(m));
  t.match(text, /# --- stage \d+: pod resolv.conf \(\/etc\/netns\)\nmkdir -p '\/etc\/netns\/klab-d-default-a' &&\nprintf '%s' 'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n' >'\/etc\/netns\/klab-d-default-a\/resolv.conf'\n/);
  t.notOk(text.includes("klab-d-default-b/resolv.conf"), "dnsPolicy Default: no file");
  const stage = resolvConfStage([{ ...m.pods[0], resolvConf: "search it's\n" }, m.pods[1]], true)[0];
  t.same(stage.steps[0], { kind: "files", files: [{ path: "/etc/netns/klab-d-default-a/resolv.conf", content: "search it's\n" }, { path: "/etc/netns/klab-d-default-b/resolv.conf", content: null }] });
  const { stepCommand } = await import("../../src/plan/script.js");
  t.equal(stepCommand(stage.steps[0]), "mkdir -p '/etc/netns/klab-d-default-a' &&\nprintf '%s' 'search it'\\''s\n' >'/etc/netns/klab-d-default-a/resolv.conf' &&\nrm -f '/etc/netns/klab-d-default-b/resolv.conf'");
});

const DIG_OK = `
; <<>> DiG 9.18.33-1~deb12u2-Debian <<>> +search web
;; global options: +cmd
;; Got answer:
;; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 31337
;; flags: qr aa rd; QUERY: 1, ANSWER: 2, AUTHORITY: 0, ADDITIONAL: 1

;; QUESTION SECTION:
;web.default.svc.cluster.local.	IN	A

;; ANSWER SECTION:
web.default.svc.cluster.local. 5 IN	A	10.244.0.2
web.default.svc.cluster.local. 5 IN	A	10.244.1.2

;; Query time: 0 msec
`;

const DIG_NX = `;; ->>HEADER<<- opcode: QUERY, status: NXDOMAIN, id: 1
;; flags: qr aa rd; QUERY: 1, ANSWER: 0, AUTHORITY: 1, ADDITIONAL: 1

;; AUTHORITY SECTION:
cluster.local.		5	IN	SOA	ns.dns.cluster.local. hostmaster.cluster.local. 1 7200 1800 86400 5
`;

t.test("dns probe: dig's output judged against answers, contains and rcode", async (t) => {
  const p = { kind: "dns" as const, name: "web", type: "A", tcp: false, search: true };
  t.same(digArgv({ ...p, tcp: true, server: "10.96.0.10" }, 2000), ["dig", "+search", "+tcp", "+time=2", "+tries=1", "@10.96.0.10", "web", "A"]);
  t.same(parseDig(DIG_OK), { rcode: "NOERROR", records: [
    { name: "web.default.svc.cluster.local.", ttl: 5, type: "A", data: "10.244.0.2" },
    { name: "web.default.svc.cluster.local.", ttl: 5, type: "A", data: "10.244.1.2" },
  ] });
  t.match(judgeDns(p, DIG_OK, 0), { ok: true, observed: "NOERROR: A 10.244.0.2, A 10.244.1.2" });
  t.match(judgeDns({ ...p, answers: ["10.244.1.2", "10.244.0.2"] }, DIG_OK, 0), { ok: true }, "a set: order does not matter");
  t.match(judgeDns({ ...p, answers: ["10.244.0.2"] }, DIG_OK, 0), { ok: false, mismatch: "expected exactly [10.244.0.2], got [10.244.0.2, 10.244.1.2]" });
  t.match(judgeDns({ ...p, contains: ["10.244.1.2"] }, DIG_OK, 0), { ok: true });
  t.match(judgeDns({ ...p, contains: ["10.244.9.9"] }, DIG_OK, 0), { ok: false, mismatch: 'no answer contains "10.244.9.9"' });
  t.match(judgeDns(p, DIG_NX, 0), { ok: false, mismatch: "expected NOERROR, got NXDOMAIN, no answers" });
  t.match(judgeDns({ ...p, rcode: "NXDOMAIN" }, DIG_NX, 0), { ok: true, observed: "NXDOMAIN, no answers" });
  t.match(judgeDns({ ...p, type: "AAAA" }, DIG_OK.replace(/ANSWER: 2/, "ANSWER: 0").replace(/;; ANSWER SECTION:[\s\S]*?\n\n/, ""), 0), { ok: false, mismatch: "no AAAA record in the answer" }, "NODATA is not a pass by default");
  t.match(judgeDns({ ...p, type: "AAAA", answers: [] }, DIG_OK.replace(/;; ANSWER SECTION:[\s\S]*?\n\n/, ""), 0), { ok: true }, "answers: [] asserts NODATA");
  t.match(judgeDns({ ...p, type: "PTR", answers: ["web.default.svc.cluster.local"] },
    ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 2\n\n;; ANSWER SECTION:\n11.0.96.10.in-addr.arpa. 5 IN PTR web.default.svc.cluster.local.\n", 0), { ok: true }, "names compare without the trailing dot, case-insensitively");
  t.match(judgeDns(p, ";; communications error to 10.96.0.10#53: timed out\n;; connection timed out; no servers could be reached\n", 9), { ok: false, observed: "communications error to 10.96.0.10#53: timed out" });
});

t.test("a dns check is validated with positions", async (t) => {
  const errs = errorsOf(lab(`  checks:
    - name: nx
      from: pod/a
      dns: {name: nope, rcode: NXDOMAIN, answers: [1.2.3.4]}`, pod("a")));
  t.match(errs.find((e) => e.path === "spec.checks[0].dns.rcode"), { line: 9, message: /rcode NXDOMAIN comes with no answers/ });
  const typeErrs = errorsOf(lab(`  checks:
    - name: badtype
      from: pod/a
      dns: {name: web, type: MX}`, pod("a")));
  t.match(typeErrs.find((e) => e.path === "spec.checks[0].dns.type"), { line: 9 });
});

t.test("docs/klab.schema.json is what `klab schema` prints (editors see spec.dns, dnsPolicy, dns checks)", async (t) => {
  const { readFileSync } = await import("node:fs");
  const { labFileJsonSchema } = await import("../../src/spec/schema.js");
  t.equal(readFileSync("docs/klab.schema.json", "utf8"), JSON.stringify(labFileJsonSchema(), null, 2) + "\n", "regenerate with: ./bin/klab schema > docs/klab.schema.json");
});

t.test("hostNetwork pods: the node's address and namespace, and the kubelet's DNS rules for them", async (t) => {
  const m = model(lab("", pod("plain", "  hostNetwork: true\n  nodeName: node2") + pod("withdns", "  hostNetwork: true\n  nodeName: node2\n  dnsPolicy: ClusterFirstWithHostNet") + pod("a")));
  const [plain, withdns, a] = ["plain", "withdns", "a"].map((n) => m.pods.find((p) => p.name === n)!);
  t.equal(plain.ip, "192.168.56.12", "the node's address");
  t.equal(plain.hostNetwork, true);
  t.equal(plain.hostname, "node2", "and its hostname");
  t.equal(a.ip, "10.244.0.2", "takes no pod address");
  t.equal(plain.resolvConf, null, "ClusterFirst on the host network is the node's resolver");
  t.match(withdns.resolvConf, /^search default\.svc\.cluster\.local .*\nnameserver 10\.96\.0\.10\n/, "ClusterFirstWithHostNet is cluster DNS");
  const text = planScript(renderPlan(m));
  t.notOk(/netns add klab-d-default-plain\n/.test(text), "no namespace of its own");
  t.match(text, "touch /run/netns/klab-d-default-plain && mount --bind /run/netns/klab-d-node2 /run/netns/klab-d-default-plain", "a second name for the node's");
  t.notOk(text.includes(`peer name eth0 mtu 1500 netns klab-d-default-plain`), "no veth");
  t.match(text, "'/etc/netns/klab-d-default-withdns/resolv.conf'", "its resolv.conf under its own name");
});
