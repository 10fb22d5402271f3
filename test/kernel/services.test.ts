// Services end to end on live labs: kube-proxy's rules doing real work, measured from the
// outside. iptables mode gets the full set (spread, ClientIP affinity, NodePort on every node,
// the LoadBalancer address and its failover, externalTrafficPolicy Local, hairpin, REJECT for a
// Service without endpoints, UDP, readiness flips); nftables gets the core (spread, NodePort,
// REJECT); ipvs either refuses cleanly (exit 3, nothing created) on a kernel without ip_vs or
// dummy links, or runs the same core when the kernel has them.
//
// Timing figures (failover, readiness flips, REJECT) are printed as TAP comments.
import t from "tap";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { klab, residue, skipKernel, sleep, writeLab } from "../lib/kernel.js";

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const AGNHOST = "registry.k8s.io/e2e-test-images/agnhost:2.47";
/** Unique per run: the readiness flag files live in the host's /tmp. */
const UNIQ = `${process.pid}-${Date.now().toString(36)}`;
// Under qemu's TCG emulation (the stock-kernel VM layer) everything runs several times slower.
const SLOW = process.env.KLAB_VM_ACCEL === "tcg" ? 5 : 1;
const flagFile = (pod: string) => `/tmp/klab-unready-${UNIQ}-${pod}`;

// ---- helpers ------------------------------------------------------------------------------

const now = () => Number(process.hrtime.bigint() / 1_000_000n);

interface Exec {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

/** A command inside a network namespace, timed. */
function inNetns(netns: string, argv: string[], opts: { input?: string; timeoutMs?: number } = {}): Exec {
  const t0 = now();
  const r = spawnSync("ip", ["netns", "exec", netns, ...argv], { encoding: "utf8", input: opts.input, timeout: opts.timeoutMs ?? 30_000 });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: r.stderr ?? "", ms: now() - t0 };
}

/** Poll `fn` every `everyMs` until it returns a truthy value or `ms` pass; the value or undefined. */
async function waitFor<T>(fn: () => T | undefined | false, ms: number, everyMs = 50): Promise<T | undefined> {
  const end = now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (now() > end) return undefined;
    await sleep(everyMs);
  }
}

interface SvcJson {
  metadata: { name: string };
  spec: { clusterIP: string; ports: { name?: string; port: number; nodePort?: number }[] };
  status?: { loadBalancer?: { ingress?: { ip: string }[] } };
}
interface EpJson {
  metadata: { name: string };
  subsets?: { addresses?: { ip: string }[] }[];
}
interface PodJson {
  metadata: { name: string };
  spec: { nodeName: string };
  status: { podIP: string };
}

const getJson = <T>(lab: string, what: string): T[] => {
  const r = klab(["get", what, "--lab", lab, "-o", "json"]);
  if (r.code !== 0) throw new Error(`klab get ${what}: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { items: T[] }).items;
};
const services = (lab: string) => Object.fromEntries(getJson<SvcJson>(lab, "svc").map((s) => [s.metadata.name, s]));
const pods = (lab: string) => getJson<PodJson>(lab, "pods");
const readyAddresses = (lab: string, svc: string): string[] =>
  (getJson<EpJson>(lab, "endpoints").find((e) => e.metadata.name === svc)?.subsets ?? []).flatMap((s) => (s.addresses ?? []).map((a) => a.ip));

const nodeNs = (lab: string, node: string) => `klab-${lab}-${node}`;
const podNs = (lab: string, pod: string) => `klab-${lab}-default-${pod}`;
const natRules = (lab: string, node: string) => inNetns(nodeNs(lab, node), ["iptables-save", "-t", "nat"]).stdout;
const nftTable = (lab: string, node: string) => inNetns(nodeNs(lab, node), ["nft", "list", "table", "ip", "kube-proxy"]).stdout;

/** One curl with `n` URLs, one connection each: the bodies (pod names of /hostname). */
function hostnames(lab: string, fromPod: string, url: string, n: number): string[] & { errors?: string } {
  const r = klab(["exec", "--lab", lab, fromPod, "--", "curl", "-sS", "-m", String(2 * SLOW), "-H", "Connection: close", "-w", "\\n", ...Array(n).fill(url)], { timeoutMs: 120_000 });
  return Object.assign(r.stdout.split("\n").filter((l) => l !== ""), { errors: r.stderr.trim() });
}
function tally(names: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of names) out[n] = (out[n] ?? 0) + 1;
  return out;
}

/** The spread check: `requests` new connections, exactly the expected endpoints, each 15%-55%. */
function checkSpread(t: TapTest, lab: string, fromPod: string, url: string, expected: string[], requests = 300) {
  const t0 = now();
  const names = hostnames(lab, fromPod, url, requests);
  const counts = tally(names);
  t.equal(names.length, requests, `all ${requests} requests answered (${now() - t0} ms)${names.errors ? `; curl: ${names.errors.split("\n").slice(0, 5).join(" | ")}` : ""}`);
  t.same(Object.keys(counts).sort(), [...expected].sort(), `answered by exactly the ${expected.length} endpoints: ${JSON.stringify(counts)}`);
  for (const [pod, n] of Object.entries(counts)) {
    t.ok(n >= 0.15 * requests && n <= 0.55 * requests, `${pod}: ${n}/${requests} = ${((100 * n) / requests).toFixed(1)}% (15%-55%)`);
  }
}

/** A Service without endpoints: refused by the node's REJECT at once, never a timeout. Run it
 * from a pod that has not drawn ICMP errors before: the node rate-limits the ICMP errors it
 * sends to one address (net.ipv4.icmp_ratelimit: a burst of 6, then 1/s). */
function checkRefused(t: TapTest, lab: string, fromPod: string, ip: string, port: number) {
  const r = inNetns(podNs(lab, fromPod), ["nc", "-z", "-v", "-n", "-w", String(3 * SLOW), ip, String(port)]);
  t.not(r.code, 0, "the connection fails");
  t.match(r.stderr, /refused/i, `connection refused, not a timeout: ${r.stderr.trim()}`);
  t.ok(r.ms < 500 * SLOW, `refused in ${r.ms} ms (< ${500 * SLOW} ms, far below the ${3 * SLOW} s connect timeout)`);
  t.comment(`REJECT of ${ip}:${port} seen by ${fromPod} after ${r.ms} ms`);
}

/** NodePort from a client on every node. */
function checkNodePorts(t: TapTest, lab: string, client: string, nodeIPs: string[], port: number) {
  for (const ip of nodeIPs) {
    const r = inNetns(`klab-${lab}-${client}`, ["curl", "-s", "-m", "2", `http://${ip}:${port}/hostname`]);
    t.equal(r.code, 0, `NodePort ${ip}:${port} answers ${client}`);
    t.match(r.stdout, /^web-/, `… from a web pod (${r.stdout})`);
  }
}

/** Wait until `svc` has `n` ready endpoints and the node's rules DNAT to each of them. */
async function waitEndpoints(lab: string, svc: string, n: number, rules: () => string, dnat: (ip: string) => string): Promise<string[] | undefined> {
  return waitFor(() => {
    const ips = readyAddresses(lab, svc);
    if (ips.length !== n) return undefined;
    const text = rules();
    return ips.every((ip) => text.includes(dnat(ip))) ? ips : undefined;
  }, 10_000, 100);
}

// ---- iptables mode: the full set ----------------------------------------------------------

const IPT = "kt-svc-ipt";
const iptLab = `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${IPT}}
spec:
  nodes: 3
  clients: [{name: laptop}]
  proxy: {mode: iptables}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: netexec
          image: ${AGNHOST}
          args: ["netexec", "--http-port=8080", "--udp-port=8081"]
          ports:
            - {containerPort: 8080, name: http}
            - {containerPort: 8081, name: udp, protocol: UDP}
          readinessProbe:
            exec: {command: ["sh", "-c", "test ! -e /tmp/klab-unready-${UNIQ}-$(hostname)"]}
            periodSeconds: 0.5
            failureThreshold: 1
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports:
    - {name: http, port: 80, targetPort: http}
    - {name: udp, port: 81, targetPort: udp, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: sticky}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: web-lb}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30000}]
---
apiVersion: v1
kind: Service
metadata: {name: local}
spec:
  type: NodePort
  externalTrafficPolicy: Local
  selector: {app: local}
  ports: [{port: 80, targetPort: 8080, nodePort: 30001}]
---
apiVersion: v1
kind: Service
metadata: {name: solo}
spec:
  selector: {app: solo}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: local-only, labels: {app: local}}
spec:
  nodeName: node2
  containers: [{name: netexec, image: ${AGNHOST}, args: ["netexec", "--http-port=8080"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: solo, labels: {app: solo}}
spec:
  nodeName: node3
  containers: [{name: netexec, image: ${AGNHOST}, args: ["netexec", "--http-port=8080"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node1
  containers: [{name: shell, image: busybox, command: ["sleep", "infinity"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: prober}
spec:
  nodeName: node2
  containers: [{name: shell, image: busybox, command: ["sleep", "infinity"]}]
`;

t.test("Services in iptables mode", { skip: skipKernel }, async (t) => {
  const lab = IPT;
  t.teardown(() => {
    klab(["down", lab]);
    for (const f of readdirSync("/tmp")) if (f.startsWith(`klab-unready-${UNIQ}-`)) rmSync(`/tmp/${f}`, { force: true });
  });
  const up = klab(["up", writeLab(iptLab)]);
  t.equal(up.code, 0, `up: ${up.stderr}`);
  if (up.code !== 0) return;

  const svc = services(lab);
  const webIP = svc.web.spec.clusterIP;
  const webPods = pods(lab).filter((p) => p.metadata.name.startsWith("web-"));
  t.equal(webPods.length, 3, "3 web pods");
  const podByIP = new Map(webPods.map((p) => [p.status.podIP, p]));
  const dnatHttp = (ip: string) => `--to-destination ${ip}:8080`;
  const ready = await waitEndpoints(lab, "web", 3, () => natRules(lab, "node1"), dnatHttp);
  t.ok(ready, "the 3 web pods become ready endpoints, DNAT rules in place on node1");
  if (!ready) return;
  const nodeIPs = ["192.168.56.11", "192.168.56.12", "192.168.56.13"];

  t.test("spread over 3 endpoints (300 new connections)", async (t) => {
    checkSpread(t, lab, "client", `http://${webIP}/hostname`, webPods.map((p) => p.metadata.name));
  });

  t.test("ClientIP affinity sticks to one endpoint", async (t) => {
    const names = hostnames(lab, "client", `http://${svc.sticky.spec.clusterIP}/hostname`, 30);
    t.equal(names.length, 30, "30 answers");
    t.equal(new Set(names).size, 1, `one distinct endpoint: ${JSON.stringify(tally(names))}`);
  });

  t.test("UDP port of the Service", async (t) => {
    const r = inNetns(podNs(lab, "client"), ["nc", "-u", "-n", "-W", "1", "-w", "2", webIP, "81"], { input: "echo udp-through-the-service" });
    t.match(r.stdout, /udp-through-the-service/, `UDP echo through ${webIP}:81 (${r.ms} ms)`);
  });

  t.test("hairpin: a pod reaches itself through its own Service", async (t) => {
    const r = inNetns(podNs(lab, "solo"), ["curl", "-s", "-m", "2", `http://${svc.solo.spec.clusterIP}/hostname`]);
    t.equal(r.stdout, "solo", "answered by itself");
    const ip = inNetns(podNs(lab, "solo"), ["curl", "-s", "-m", "2", `http://${svc.solo.spec.clusterIP}/clientip`]).stdout;
    t.match(ip, /^10\.244\.2\.1:/, `masqueraded to node3's cni0 address (KUBE-MARK-MASQ): ${ip}`);
  });

  t.test("a Service without endpoints is refused at once", async (t) => {
    checkRefused(t, lab, "prober", svc.nobody.spec.clusterIP, 80);
    t.match(inNetns(nodeNs(lab, "node2"), ["iptables-save", "-t", "filter"]).stdout, /default\/nobody has no endpoints.* -j REJECT/, "the REJECT rule in the filter table");
  });

  t.test("NodePort from the client on every node", async (t) => {
    checkNodePorts(t, lab, "laptop", nodeIPs, 30000);
  });

  t.test("externalTrafficPolicy Local", async (t) => {
    const r = inNetns(`klab-${lab}-laptop`, ["curl", "-s", "-m", "2", "http://192.168.56.12:30001/clientip"]);
    t.match(r.stdout, /^192\.168\.56\.101:/, `node2 (local endpoint) keeps the client's address: ${r.stdout}`);
    for (const ip of ["192.168.56.11", "192.168.56.13"]) {
      const n = inNetns(`klab-${lab}-laptop`, ["curl", "-s", "-m", "1", `http://${ip}:30001/clientip`]);
      t.equal(n.code, 28, `${ip} (no local endpoint) does not answer: curl exit 28, timeout (${n.ms} ms)`);
    }
  });

  t.test("readiness flip removes and restores an endpoint within 2 s", async (t) => {
    const victim = webPods[0];
    const ip = victim.status.podIP;
    const rule = dnatHttp(ip);
    t.ok(natRules(lab, "node1").includes(rule), `DNAT to ${ip}:8080 present before`);
    const t0 = now();
    writeFileSync(flagFile(victim.metadata.name), "");
    const gone = await waitFor(() => !natRules(lab, "node1").includes(rule), 5000, 20);
    const offMs = now() - t0;
    t.ok(gone, "DNAT removed from node1's iptables-save");
    t.ok(offMs < 2000, `not ready → DNAT gone in ${offMs} ms (< 2 s)`);
    t.notOk(readyAddresses(lab, "web").includes(ip), "no longer a ready endpoint");
    const t1 = now();
    rmSync(flagFile(victim.metadata.name));
    const back = await waitFor(() => natRules(lab, "node1").includes(rule), 5000, 20);
    const onMs = now() - t1;
    t.ok(back, "DNAT back");
    t.ok(onMs < 2000, `ready again → DNAT back in ${onMs} ms (< 2 s)`);
    t.comment(`readiness flip: endpoint removed after ${offMs} ms, restored after ${onMs} ms`);
  });

  t.test("LoadBalancer address from the client, failover and restore", async (t) => {
    const vip = svc["web-lb"].status?.loadBalancer?.ingress?.[0]?.ip;
    t.ok(vip, `web-lb has an EXTERNAL-IP (${vip})`);
    if (!vip) return;
    const laptop = `klab-${lab}-laptop`;
    const holderOf = () => ["node1", "node2", "node3"].find((n) => inNetns(nodeNs(lab, n), ["ip", "-4", "-o", "addr", "show", "dev", "eth0"]).stdout.includes(` ${vip}/32 `));
    const holder = holderOf();
    t.ok(holder, `one node holds ${vip} on eth0 (${holder})`);
    if (!holder) return;
    const first = inNetns(laptop, ["curl", "-s", "-m", "2", `http://${vip}/hostname`]);
    t.match(first.stdout, /^web-/, `the LoadBalancer address answers the laptop (${first.stdout})`);

    const log = `/run/klab/${lab}/agent.log`;
    const logBefore = readFileSync(log, "utf8").length;
    const t0 = now();
    const stop = klab(["node", "stop", "--lab", lab, holder]);
    const stopMs = now() - t0;
    t.equal(stop.code, 0, `klab node stop ${holder} (${stopMs} ms): ${stop.stdout.trim()} ${stop.stderr.trim()}`);
    let answer = "";
    const answered = await waitFor(() => {
      const r = inNetns(laptop, ["curl", "-s", "-m", "0.2", "-H", "Connection: close", `http://${vip}/hostname`]);
      answer = r.stdout;
      return r.code === 0;
    }, 5000, 10);
    const failoverMs = now() - t0;
    const answeredAt = Date.now();
    t.ok(answered, "answered again after the announcing node stopped");
    t.ok(failoverMs < 2000, `answered again ${failoverMs} ms after \`klab node stop\` began (< 2 s)`);
    const answeringPod = webPods.find((p) => p.metadata.name === answer);
    t.ok(answeringPod && answeringPod.spec.nodeName !== holder, `by a pod on a running node (${answer} on ${answeringPod?.spec.nodeName})`);
    const newHolder = holderOf();
    t.ok(newHolder && newHolder !== holder, `the address moved: ${holder} → ${newHolder}`);
    // The runtime's own view: node down → address announced elsewhere.
    const lines = readFileSync(log, "utf8").slice(logBefore).split("\n");
    const ts = (re: RegExp) => {
      const l = lines.find((x) => re.test(x));
      return l ? Date.parse(l.split(" ")[0]) : NaN;
    };
    const downAt = ts(new RegExp(`node ${holder} is NotReady`));
    const announcedAt = ts(new RegExp(`speaker: ${vip.replace(/\./g, "\\.")} announced by`));
    t.ok(announcedAt - downAt >= 0 && announcedAt - downAt < 1000, `agent: NotReady → announced elsewhere in ${announcedAt - downAt} ms`);
    t.comment(`LB failover: ${failoverMs} ms from \`klab node stop ${holder}\` to the next answer (the CLI took ${stopMs} ms); ` +
      `runtime: link down → announced by ${newHolder} in ${announcedAt - downAt} ms; link down → answered ${answeredAt - downAt} ms`);
    const ipsDown = readyAddresses(lab, "web");
    t.same(ipsDown.filter((ip) => podByIP.get(ip)?.spec.nodeName === holder), [], `the stopped node's pods left the endpoints (${ipsDown.join(",")})`);
    t.match(klab(["get", "nodes", "--lab", lab]).stdout, new RegExp(`${holder}\\s+NotReady`), `${holder} is NotReady`);

    const start = klab(["node", "start", "--lab", lab, holder]);
    t.equal(start.code, 0, `klab node start ${holder}: ${start.stdout.trim()}`);
    const restored = await waitFor(() => holderOf() === holder && readyAddresses(lab, "web").length === 3, 5000, 50);
    t.ok(restored, `after node start ${holder} holds ${vip} again and all 3 endpoints are ready`);
    const again = await waitFor(() => inNetns(laptop, ["curl", "-s", "-m", "1", `http://${vip}/hostname`]).code === 0, 3000, 50);
    t.ok(again, "the LoadBalancer address answers after the restore");
    t.match(klab(["get", "nodes", "--lab", lab]).stdout, new RegExp(`${holder}\\s+Ready`), `${holder} is Ready`);
  });

  t.test("down leaves nothing", async (t) => {
    t.equal(klab(["down", lab]).code, 0);
    t.same(residue(lab), []);
  });
});

// ---- the core set, for nftables (and ipvs where the kernel has it) ------------------------

const coreLab = (name: string, mode: string) => `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${name}}
spec:
  nodes: 2
  clients: [{name: laptop}]
  proxy: {mode: ${mode}, syncPeriodSeconds: 1}   # full resyncs all through the traffic: they must never disturb it
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: netexec
          image: ${AGNHOST}
          args: ["netexec", "--http-port=8080"]
          ports: [{containerPort: 8080, name: http}]
          readinessProbe:
            httpGet: {path: /hostname, port: http}
            periodSeconds: 0.5
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: web-np}
spec:
  type: NodePort
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: http, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: nobody}
spec:
  selector: {app: nobody}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  nodeName: node1
  containers: [{name: shell, image: busybox, command: ["sleep", "infinity"]}]
---
apiVersion: v1
kind: Pod
metadata: {name: prober}
spec:
  nodeName: node2
  containers: [{name: shell, image: busybox, command: ["sleep", "infinity"]}]
`;

/** How each mode's ruleset on a node names a DNAT to a pod's :8080. */
const coreRules: Record<string, { rules: (lab: string) => string; dnat: (ip: string) => string }> = {
  nftables: { rules: (lab) => nftTable(lab, "node1"), dnat: (ip) => `dnat to ${ip}:8080` },
  ipvs: { rules: (lab) => inNetns(nodeNs(lab, "node1"), ["ipvsadm", "-Ln"]).stdout, dnat: (ip) => `-> ${ip}:8080` },
};

async function coreChecks(t: TapTest, lab: string, mode: "nftables" | "ipvs") {
  t.teardown(() => void klab(["down", lab]));
  const up = klab(["up", writeLab(coreLab(lab, mode))]);
  t.equal(up.code, 0, `up: ${up.stderr}`);
  if (up.code !== 0) return;
  const svc = services(lab);
  const webPods = pods(lab).filter((p) => p.metadata.name.startsWith("web-"));
  const { rules, dnat } = coreRules[mode];
  const ready = await waitEndpoints(lab, "web", 3, () => rules(lab), dnat);
  t.ok(ready, `the 3 web pods become ready endpoints, in node1's ${mode} rules`);
  if (!ready) return;
  if (mode === "nftables") {
    const table = nftTable(lab, "node1");
    t.match(table, /numgen random mod 3 0 goto endpoint-\S+\n\s*numgen random mod 2 0 goto endpoint-\S+\n\s*goto endpoint-/, "nft: numgen coin tosses pick the endpoint");
    t.notMatch(inNetns(nodeNs(lab, "node1"), ["iptables-save", "-t", "nat"]).stdout, /KUBE-SERVICES/, "no iptables KUBE-SERVICES chain in nftables mode");
  }
  t.test(`${mode}: spread over 3 endpoints (300 new connections)`, async (t) => {
    checkSpread(t, lab, "client", `http://${svc.web.spec.clusterIP}/hostname`, webPods.map((p) => p.metadata.name));
  });
  t.test(`${mode}: NodePort from the client on every node`, async (t) => {
    checkNodePorts(t, lab, "laptop", ["192.168.56.11", "192.168.56.12"], 30080);
  });
  t.test(`${mode}: a Service without endpoints is refused at once`, async (t) => {
    checkRefused(t, lab, "prober", svc.nobody.spec.clusterIP, 80);
  });
  t.test(`${mode}: down leaves nothing`, async (t) => {
    t.equal(klab(["down", lab]).code, 0);
    t.same(residue(lab), []);
  });
}

t.test("Services in nftables mode: spread, NodePort, REJECT", { skip: skipKernel }, async (t) => {
  await coreChecks(t, "kt-svc-nft", "nftables");
});

// ---- ipvs: refused cleanly without kernel support, the core set with it ---------------------

/** IPVS (after `modprobe -q ip_vs`) and dummy links (tried in a throwaway namespace). */
function kernelHasIpvs(): { ipvs: boolean; dummy: boolean } {
  spawnSync("modprobe", ["-q", "ip_vs"]);
  const ipvs = existsSync("/proc/net/ip_vs");
  const dummy = spawnSync("unshare", ["--net", "ip", "link", "add", "kt-svc-dummy", "type", "dummy"]).status === 0;
  return { ipvs, dummy };
}

t.test("Services in ipvs mode", { skip: skipKernel }, async (t) => {
  const lab = "kt-svc-ipvs";
  const k = kernelHasIpvs();
  t.comment(`kernel ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}: ip_vs ${k.ipvs ? "yes" : "no"}, dummy links ${k.dummy ? "yes" : "no"}`);
  if (k.ipvs && k.dummy) {
    await coreChecks(t, lab, "ipvs");
    return;
  }
  t.teardown(() => void klab(["down", lab]));
  const up = klab(["up", writeLab(coreLab(lab, "ipvs"))]);
  t.equal(up.code, 3, "exit status 3: this host cannot run it");
  t.match(up.stderr, k.dummy ? /ip_vs|IPVS/ : /dummy/, `the message names what is missing: ${up.stderr.trim().split("\n")[0]}`);
  t.match(up.stderr, /fix:|hint:/, "and says what to do");
  t.same(readdirSync("/run/netns").filter((n) => n.startsWith(`klab-${lab}-`)), [], "no namespace was created");
  t.notOk(existsSync(`/run/klab/${lab}`), "no state directory");
  t.same(residue(lab), []);
});
