// Cluster DNS, live: the klab-dns pod behind kube-dns answers pods over UDP and TCP through
// kube-proxy's rules; search paths (the query log shows ndots:5 at work); cross-namespace
// names; answers that follow readiness and `klab apply` within a second; forwarding to
// spec.dns.upstream from the DNS pod's own namespace; and a 100k-packet hostile run after
// which it still answers and its memory has not run away.
import t from "tap";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { downOnTeardown, klab, residue, skipKernel, sleep, writeLab } from "../lib/kernel.js";

const LAB = "kt-dns";
const UPSTREAM = "192.168.56.200";
const UNREADY = (pod: string) => `/tmp/${LAB}-unready-${pod}`;

const lab = (extra = "") => `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${LAB}}
spec:
  nodes: 2
  clients: [{name: corp, address: ${UPSTREAM}}]
  dns: {upstream: "${UPSTREAM}:5353"}
---
apiVersion: v1
kind: Namespace
metadata: {name: other}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: agnhost
          args: ["netexec", "--http-port=8080"]
          ports: [{name: http, containerPort: 8080}]
          readinessProbe:
            exec: {command: ["sh", "-c", "test ! -e /tmp/${LAB}-unready-$(hostname)"]}
            periodSeconds: 0.2
            failureThreshold: 1
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
metadata: {name: web-headless}
spec:
  clusterIP: None
  selector: {app: web}
  ports: [{name: http, port: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: other}
spec:
  selector: {app: nothing}
  ports: [{port: 443}]
---
apiVersion: v1
kind: Pod
metadata: {name: client}
spec:
  containers: [{name: c, image: agnhost, args: [pause]}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet}
spec:
  hostNetwork: true
  nodeName: node2
  containers: [{name: c, image: agnhost, args: [pause]}]
---
apiVersion: v1
kind: Pod
metadata: {name: hostnet-dns}
spec:
  hostNetwork: true
  nodeName: node2
  dnsPolicy: ClusterFirstWithHostNet
  containers: [{name: c, image: agnhost, args: [pause]}]
${extra}`;

const late = `---
apiVersion: v1
kind: Service
metadata: {name: late}
spec:
  selector: {app: web}
  ports: [{port: 81, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: newcomer}
spec:
  dnsPolicy: None
  dnsConfig: {nameservers: [10.96.0.10], searches: [other.svc.cluster.local], options: [{name: ndots, value: "2"}]}
  containers: [{name: c, image: agnhost, args: [pause]}]
`;

/** dig inside the client pod (its resolv.conf: kube-dns, search path, ndots:5). */
function dig(...args: string[]): string {
  const r = klab(["exec", "--lab", LAB, "client", "--", "dig", "+time=2", "+tries=1", ...args]);
  return r.stdout;
}
const short = (...args: string[]) => dig("+short", ...args).trim().split("\n").filter(Boolean).sort();
const status = (...args: string[]) => /status: (\w+)/.exec(dig(...args))?.[1];

/** Poll until `ok` (at most `ms`); returns how long it took, or -1. */
async function within(ms: number, ok: () => boolean): Promise<number> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (ok()) return Date.now() - t0;
    await sleep(50);
  }
  return -1;
}

function model() {
  return JSON.parse(readFileSync(`/run/klab/${LAB}/model.json`, "utf8")) as {
    pods: { namespace: string; name: string; ip: string; netns: string }[];
    nodes: { name: string; underlayIP: string; netns: string }[];
    clients: { name: string; netns: string }[];
  };
}

const dnsLog = () => {
  const m = model();
  const dnsPod = m.pods.find((p) => p.namespace === "kube-system")!;
  return klab(["logs", "--lab", LAB, "-n", "kube-system", dnsPod.name]).stdout;
};

function agentRssKB(): number {
  const pid = JSON.parse(readFileSync(`/run/klab/${LAB}/state.json`, "utf8")).agentPid as number;
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
}

t.test("cluster DNS in a live lab", { skip: skipKernel }, async (t) => {
  downOnTeardown(t, LAB);
  t.teardown(() => { for (const f of readdirSync("/tmp")) if (f.startsWith(`${LAB}-unready-`)) rmSync(`/tmp/${f}`, { force: true }); });
  const file = writeLab(lab());
  const up = klab(["up", file]);
  t.equal(up.code, 0, up.stderr);
  const m = model();
  const webIPs = m.pods.filter((p) => p.name.startsWith("web-")).map((p) => p.ip).sort();
  t.equal(webIPs.length, 2);

  t.test("the pod's resolv.conf is the kubelet's", async (t) => {
    const r = klab(["exec", "--lab", LAB, "client", "--", "cat", "/etc/resolv.conf"]);
    t.equal(r.stdout, "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n");
  });

  t.test("hostNetwork pods: the node's network; ClusterFirst means the node's resolver there", async (t) => {
    const hostConf = readFileSync("/etc/resolv.conf", "utf8");
    t.equal(klab(["exec", "--lab", LAB, "hostnet", "--", "cat", "/etc/resolv.conf"]).stdout, hostConf, "ClusterFirst + hostNetwork: the node's (the host's) resolv.conf");
    t.match(klab(["exec", "--lab", LAB, "hostnet", "--", "ip", "-4", "-o", "addr", "show", "eth0"]).stdout, /inet 192\.168\.56\.12\//, "it is in node2's network namespace");
    t.equal(klab(["exec", "--lab", LAB, "hostnet", "--", "hostname"]).stdout.trim(), "node2", "with the node's hostname");
    const r = klab(["exec", "--lab", LAB, "hostnet-dns", "--", "dig", "+short", "+search", "+time=2", "web"]);
    t.equal(r.stdout.trim(), "10.96.0.11", "ClusterFirstWithHostNet: cluster DNS, reached through the node's own kube-proxy rules");
  });

  t.test("UDP and TCP, ClusterIP and headless, SRV and PTR, across namespaces", async (t) => {
    t.same(short("web.default.svc.cluster.local"), ["10.96.0.11"], "A over UDP");
    t.same(short("+tcp", "web.default.svc.cluster.local"), ["10.96.0.11"], "A over TCP");
    t.same(short("+search", "web"), ["10.96.0.11"], "the search path finds web.default.svc.cluster.local");
    t.same(short("+search", "web-headless"), webIPs, "headless: every ready endpoint");
    t.same(short("+search", "api.other"), ["10.96.0.12"], "another namespace");
    t.same(short("_http._tcp.web.default.svc.cluster.local", "SRV"), ["0 100 80 web.default.svc.cluster.local."]);
    t.same(short("-x", "10.96.0.11"), ["web.default.svc.cluster.local."]);
    t.same(short("cluster.local", "SOA").length, 1);
    t.equal(status("nope.default.svc.cluster.local"), "NXDOMAIN");
    t.equal(status("web.default.svc.cluster.local", "AAAA"), "NOERROR", "NODATA: the name exists");
    const r = klab(["dns", "--lab", LAB, "web", "--short"]);
    t.equal(r.code, 0, r.stderr);
    t.equal(r.stdout.trim(), "10.96.0.11", "klab dns asks from a pod with dig +search");
    t.match(r.stderr, /from pod default\/client/);
  });

  t.test("the search path in the responder's log: what ndots:5 costs", async (t) => {
    const before = dnsLog().length;
    // getent asks as applications do (glibc): "ext.example" has 1 dot < 5, so the search list first.
    klab(["exec", "--lab", LAB, "client", "--", "getent", "ahostsv4", "ext.example"]);
    const asked = [...dnsLog().slice(before).matchAll(/"A IN (\S+) udp/g)].map((x) => x[1]);
    // (glibc may repeat the last one: with no upstream listening yet it gets SERVFAIL and retries.)
    t.same([...new Set(asked)], ["ext.example.default.svc.cluster.local.", "ext.example.svc.cluster.local.", "ext.example.cluster.local.", "ext.example."],
      "three search domains, then the name itself: four queries for one lookup");
  });

  t.test("readiness changes the headless answer within a second", async (t) => {
    const victim = m.pods.find((p) => p.ip === webIPs[0])!;
    writeFileSync(UNREADY(victim.name), "");
    const gone = await within(5000, () => short("+search", "web-headless").join() === webIPs[1]);
    t.ok(gone >= 0, `${victim.name} left the answer (${gone} ms after its readiness probe started failing)`);
    rmSync(UNREADY(victim.name));
    const back = await within(5000, () => short("+search", "web-headless").join() === webIPs.join());
    t.ok(back >= 0, `and came back (${back} ms)`);
  });

  t.test("klab apply: a new Service resolves, a removed one stops", async (t) => {
    const withLate = writeLab(lab(late));
    t.equal(klab(["apply", withLate]).code, 0);
    const added = await within(5000, () => short("late.default.svc.cluster.local").length === 1);
    t.ok(added >= 0, `late resolves ${added} ms after apply returned`);
    t.equal(klab(["exec", "--lab", LAB, "newcomer", "--", "cat", "/etc/resolv.conf"]).stdout, "search other.svc.cluster.local\nnameserver 10.96.0.10\noptions ndots:2\n",
      "a pod added by apply gets its resolv.conf");
    t.equal(klab(["apply", file]).code, 0);
    const removed = await within(5000, () => status("late.default.svc.cluster.local") === "NXDOMAIN");
    t.ok(removed >= 0, `and is NXDOMAIN ${removed} ms after it was removed`);
    t.notOk(existsSync(`/etc/netns/klab-${LAB}-default-newcomer`), "a removed pod's /etc/netns entry goes with it");
  });

  t.test("names outside the cluster go to spec.dns.upstream, from the DNS pod's namespace", async (t) => {
    const corp = m.clients.find((c) => c.name === "corp")!;
    // The upstream on the underlay needs a way back to the pod network (a real cluster masquerades).
    spawnSync("ip", ["-n", corp.netns, "route", "add", "10.244.0.0/16", "via", m.nodes[0].underlayIP]);
    const upstream = spawn("ip", ["netns", "exec", corp.netns, process.execPath, "--input-type=module", "-e", `
      import dgram from "node:dgram";
      import dnsPacket from "dns-packet";
      const s = dgram.createSocket("udp4");
      s.on("message", (m, r) => {
        const q = dnsPacket.decode(m);
        const answers = q.questions[0].name === "ext.example" ? [{ type: "A", name: "ext.example", ttl: 60, data: "203.0.113.7" }] : [];
        s.send(dnsPacket.encode({ id: q.id, type: "response", flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: q.questions, answers, ...(answers.length ? {} : { rcode: "NXDOMAIN" }) }), r.port, r.address);
        console.log("asked from " + r.address + ": " + q.questions[0].name);
      });
      s.bind(5353, "${UPSTREAM}", () => console.log("listening"));`], { cwd: process.cwd(), stdio: ["ignore", "pipe", "inherit"] });
    t.teardown(() => void upstream.kill());
    let heard = "";
    upstream.stdout.on("data", (d) => (heard += d));
    await within(5000, () => heard.includes("listening"));
    t.same(short("ext.example."), ["203.0.113.7"], "forwarded and answered");
    await within(2000, () => heard.includes("asked"));
    const dnsPod = m.pods.find((p) => p.namespace === "kube-system")!;
    t.match(heard, new RegExp(`asked from ${dnsPod.ip.replace(/\./g, "\\.")}: ext.example`), "the query left from the DNS pod's address");
    upstream.kill();
    await new Promise((r) => upstream.once("exit", r));
    const t0 = Date.now();
    t.equal(status("+time=5", "ext.example."), "SERVFAIL", "an upstream that does not answer is SERVFAIL");
    t.ok(Date.now() - t0 < 4500, "answered by the responder's own 2 s forward timeout, not left to the client's");
  });

  t.test("100k hostile packets: it keeps answering and its memory stays bounded", async (t) => {
    const client = m.pods.find((p) => p.name === "client")!;
    const rss0 = agentRssKB();
    const r = spawnSync("ip", ["netns", "exec", client.netns, process.execPath, "--input-type=module", "-e", `
      import dgram from "node:dgram";
      import net from "node:net";
      import dnsPacket from "dns-packet";
      const base = dnsPacket.encode({ type: "query", id: 1, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: "A", name: "web.default.svc.cluster.local" }] });
      let seed = 42;
      const rnd = (n) => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
      const s = dgram.createSocket("udp4");
      s.on("error", () => {});
      const N = 100000;
      let sent = 0;
      const batch = () => {
        for (let i = 0; i < 500 && sent < N; i++, sent++) {
          let p;
          switch (sent % 4) {
            case 0: p = Buffer.from(Array.from({ length: rnd(600) }, () => rnd(256))); break;           // random
            case 1: p = Buffer.from(base); for (let k = 0; k < 1 + rnd(4); k++) p[rnd(p.length)] = rnd(256); break; // mutated
            case 2: p = base.subarray(0, rnd(base.length)); break;                                      // truncated
            default: p = Buffer.concat([base, Buffer.alloc(rnd(3000), rnd(256))]);                     // trailing junk
          }
          s.send(p, 53, "10.96.0.10");
        }
        if (sent < N) setImmediate(batch); else setTimeout(tcp, 200);
      };
      // TCP: garbage, a huge length prefix, and half-open connections.
      const tcp = () => {
        let open = 0;
        for (let i = 0; i < 50; i++) {
          open++;
          const c = net.connect(53, "10.96.0.10", () => { c.write(i % 2 ? Buffer.from([0xff, 0xff, 1, 2, 3]) : Buffer.from(Array.from({ length: 200 }, () => rnd(256)))); if (i % 3) c.end(); });
          c.on("error", () => {}); c.on("close", () => { if (--open === 0) { console.log("sent " + sent); process.exit(0); } });
          c.setTimeout(3000, () => c.destroy());
        }
      };
      batch();`], { cwd: process.cwd(), encoding: "utf8", timeout: 120_000 });
    t.match(r.stdout, /sent 100000/, r.stderr);
    t.same(short("web.default.svc.cluster.local"), ["10.96.0.11"], "still answers over UDP");
    t.same(short("+tcp", "web.default.svc.cluster.local"), ["10.96.0.11"], "and over TCP");
    await sleep(1000);
    const rss1 = agentRssKB();
    t.ok(rss1 - rss0 < 64 * 1024, `runtime RSS ${Math.round(rss0 / 1024)} MB → ${Math.round(rss1 / 1024)} MB`);
  });

  t.test("down removes the pods' /etc/netns entries with everything else", async (t) => {
    t.equal(klab(["down", LAB]).code, 0);
    t.same(residue(LAB), []);
  });
});
