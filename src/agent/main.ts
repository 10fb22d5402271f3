// The lab runtime: one process per lab (kubelet for every node), started by `klab up` as
// `node dist/agent/main.js klab-agent LAB`. Runs every pod's containers and answers status
// on /run/klab/LAB/agent.sock. Stops its containers on SIGTERM.
import { createServer } from "node:http";
import { existsSync, rmSync } from "node:fs";
import { hostUtsFile, networkReadyFile, utsFile } from "../plan/cluster.js";
import { agentSocket, loadModel, logDir } from "../kernel/state.js";
import { createUtsFile, PodRuntime } from "./containers.js";
import { KubeProxy } from "./proxy.js";
import { Speaker } from "./speaker.js";
import { run } from "../kernel/exec.js";
import { initialServices } from "../plan/proxy/node.js";
import { resolveServices } from "../model/services.js";
import type { PodModel } from "../model/types.js";
import { buildZone, type Zone } from "../dns/zone.js";
import { clusterZoneInput } from "../dns/cluster.js";

async function main() {
  const i = process.argv.indexOf("klab-agent");
  const lab = process.argv[i + 1];
  const loaded = lab ? loadModel(lab) : undefined;
  if (!loaded) {
    console.error(`klab-agent: no model for lab ${lab}`);
    process.exit(2);
  }
  // Replaced by /reload (klab apply, scale, delete pod).
  let model = loaded;
  const backoff = process.env.KLAB_BACKOFF_INITIAL_MS ? Number(process.env.KLAB_BACKOFF_INITIAL_MS) : undefined;
  let started = false;
  const say = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  // kube-proxy + endpoints controller: any readiness change re-resolves endpoints and syncs.
  const proxy = new KubeProxy(model, initialServices(model), say);
  let syncTimer: NodeJS.Timeout | undefined;
  const byKey = new Map<string, PodRuntime>();
  // A pod is an endpoint while it is ready and its node is Ready (the node lifecycle
  // controller's job, here without its 40 s grace period).
  const podNode = () => new Map(model.pods.map((p) => [`${p.namespace}/${p.name}`, p.node]));
  const currentServices = () => {
    const nodeOf = podNode();
    return resolveServices(model.services, model.pods, (ns, name) => (byKey.get(`${ns}/${name}`)?.ready ?? false) && healthy.has(nodeOf.get(`${ns}/${name}`) ?? ""));
  };
  // Node health (a stopped node's underlay port is down) and the LoadBalancer speaker.
  const healthy = new Set(model.nodes.map((n) => n.name));
  const speaker = new Speaker(model, say);
  const hasLB = () => model.services.some((s) => s.type === "LoadBalancer");
  // The cluster DNS zone, rebuilt on the first query after any change (Services, endpoints,
  // readiness, pods): CoreDNS's kubernetes plugin answers from its informers' cache the same way.
  let zoneCache: Zone | undefined;
  let zoneSerial = 0;
  const zone = () => {
    if (zoneCache) return zoneCache;
    zoneSerial = Math.max(zoneSerial + 1, Math.floor(Date.now() / 1000));
    zoneCache = buildZone(clusterZoneInput(model, currentServices(), zoneSerial));
    return zoneCache;
  };
  // The responder's caches are emptied through these (its native fast path never asks zone()).
  const zoneListeners = new Set<() => void>();
  const onZoneChange = (l: () => void) => { zoneListeners.add(l); return () => { zoneListeners.delete(l); }; };
  // Syncs scheduled or running: status reports rules as settled only when none are.
  let syncsInFlight = 0;
  const scheduleSync = () => {
    zoneCache = undefined;
    for (const l of zoneListeners) l();
    // No Services, no kube-proxy rules: labs about pod networking stay free of them.
    if (syncTimer || !started || model.services.length === 0) return;
    syncsInFlight++;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      const services = currentServices();
      void Promise.all([proxy.sync(services), hasLB() ? speaker.reconcile(services, healthy) : undefined]).finally(() => syncsInFlight--);
    }, 10);
  };
  const setNodeHealth = async (name: string, up: boolean, changeLink: boolean) => {
    const node = model.nodes.find((n) => n.name === name);
    if (!node) throw new Error(`node ${name} not found`);
    if (changeLink) await run("ip", ["-n", model.fabric.netns, "link", "set", node.fabricPort, up ? "up" : "down"]);
    if (up) healthy.add(name);
    else healthy.delete(name);
    say(`node ${name} is ${up ? "Ready" : "NotReady"} (underlay port ${node.fabricPort} ${up ? "up" : "down"})`);
    if (hasLB()) await speaker.reconcile(currentServices(), healthy);
    scheduleSync();
  };
  // Health from the fabric's view, for links changed by hand (ip link set … down).
  const pollHealth = async () => {
    const r = await run("ip", ["-n", model.fabric.netns, "-o", "link", "show"], { reject: false });
    for (const n of model.nodes) {
      const line = r.stdout.split("\n").find((l) => l.includes(` ${n.fabricPort}@`));
      const up = !!line && /<[^>]*\bUP\b[^>]*>/.test(line);
      if (up !== healthy.has(n.name)) await setNodeHealth(n.name, up, false);
    }
  };
  const newRuntime = (pod: PodModel) => {
    const node = model.nodes.find((n) => n.name === pod.node)!;
    const rt = new PodRuntime({
      lab, pod, utsFile: utsFile(lab, pod.namespace, pod.name), logDir: logDir(lab), backoffInitialMs: backoff,
      nodeNetns: node.netns, onChange: scheduleSync,
      dns: { zone, onZoneChange, upstream: model.dns.upstream, log: model.dns.log },
    });
    byKey.set(`${pod.namespace}/${pod.name}`, rt);
    return rt;
  };
  let pods = model.pods.map(newRuntime);
  // The kubelet's side of `klab apply`: stop pods that are gone or changed, start new ones.
  const reload = async () => {
    const next = loadModel(lab);
    if (!next) throw new Error("no model to reload");
    const nextPods = new Map(next.pods.map((p) => [`${p.namespace}/${p.name}`, JSON.stringify(p)]));
    const keep: PodRuntime[] = [];
    const stopped: string[] = [];
    for (const rt of pods) {
      const k = `${rt.ctx.pod.namespace}/${rt.ctx.pod.name}`;
      if (nextPods.get(k) === JSON.stringify(rt.ctx.pod)) keep.push(rt);
      else {
        await rt.stop();
        rt.removeSandbox();
        byKey.delete(k);
        stopped.push(k);
      }
    }
    model = next;
    proxy.setModel(next);
    speaker.setModel(next);
    const kept = new Set(keep.map((rt) => `${rt.ctx.pod.namespace}/${rt.ctx.pod.name}`));
    const fresh = next.pods.filter((p) => !kept.has(`${p.namespace}/${p.name}`)).map(newRuntime);
    for (const rt of fresh) rt.createSandbox();
    pods = [...keep, ...fresh];
    await Promise.all(fresh.map((rt) => rt.start()));
    say(`reload: ${stopped.length} pod(s) stopped, ${fresh.length} started`);
    scheduleSync();
    if (hasLB() && !lbStarted) startLB();
    if (model.services.length && !fullSyncStarted) startFullSync();
    return { stopped, started: fresh.map((rt) => `${rt.ctx.pod.namespace}/${rt.ctx.pod.name}`) };
  };
  let lbStarted = false;
  let fullSyncStarted = false;
  function startLB() {
    lbStarted = true;
    void speaker.reconcile(currentServices(), healthy);
    setInterval(() => void pollHealth(), 1000).unref();
  }
  // A full sync now and then repairs drift (rules changed by hand), as kube-proxy's does.
  function startFullSync() {
    fullSyncStarted = true;
    setInterval(() => void proxy.sync(currentServices(), true), model.proxy.syncPeriodSeconds * 1000).unref();
  }
  const sock = agentSocket(lab);
  rmSync(sock, { force: true });
  const server = createServer((req, res) => {
    const nodeOp = /^\/nodes\/([^/]+)\/(stop|start)$/.exec(req.url ?? "");
    if (nodeOp && req.method === "POST") {
      res.setHeader("content-type", "application/json");
      setNodeHealth(nodeOp[1], nodeOp[2] === "start", true).then(
        () => res.end(JSON.stringify({ node: nodeOp[1], ready: healthy.has(nodeOp[1]), loadBalancers: Object.fromEntries(speaker.holders()) })),
        (e) => {
          res.statusCode = 404;
          res.end(JSON.stringify({ error: (e as Error).message }));
        },
      );
      return;
    }
    if (req.url === "/reload" && req.method === "POST") {
      res.setHeader("content-type", "application/json");
      reload().then(
        (r) => res.end(JSON.stringify(r)),
        (e) => {
          res.statusCode = 500;
          res.end(JSON.stringify({ error: (e as Error).message }));
        },
      );
      return;
    }
    if (req.url === "/services") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ mode: model.proxy.mode, services: currentServices() }));
    } else if (req.url === "/status") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({
        lab, pid: process.pid, started, rssBytes: process.memoryUsage().rss, rulesSettled: syncsInFlight === 0,
        nodes: model.nodes.map((n) => ({ name: n.name, ready: healthy.has(n.name) })),
        loadBalancers: Object.fromEntries(speaker.holders()),
        pods: pods.map((p) => p.status()),
      }));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  server.listen(sock);
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.all([...pods.map((p) => p.stop(true)), proxy.close()]);
    server.close();
    rmSync(sock, { force: true });
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  console.log(`${new Date().toISOString()} klab-agent for lab ${lab}: creating ${pods.length} pod sandboxes`);
  // Nodes and clients get their own hostname too, as machines do.
  for (const h of [...model.nodes, ...model.clients]) createUtsFile(hostUtsFile(lab, h.name), h.name);
  for (const p of pods) p.createSandbox();
  // Started while `up` still applies the network plan: wait for it before opening sockets.
  const ready = networkReadyFile(lab);
  while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 5));
  console.log(`${new Date().toISOString()} klab-agent: network ready, starting containers`);
  await Promise.all(pods.map((p) => p.start()));
  started = true;
  // Readiness so far differs from the plan's assumption wherever a container failed: sync now.
  if (hasLB()) startLB();
  if (model.services.length) {
    await proxy.sync(currentServices());
    startFullSync();
  }
  console.log(`${new Date().toISOString()} klab-agent: all pods started`);
}

main().catch((e) => {
  console.error("klab-agent:", e);
  process.exit(1);
});
