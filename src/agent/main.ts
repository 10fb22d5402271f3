// The lab runtime: one process per lab (kubelet for every node), started by `klab up` as
// `node dist/agent/main.js klab-agent LAB`. Runs every pod's containers and answers status
// on /run/klab/LAB/agent.sock. Stops its containers on SIGTERM.
import { createServer } from "node:http";
import { existsSync, rmSync } from "node:fs";
import { hostUtsFile, networkReadyFile, utsFile } from "../plan/cluster.js";
import { agentSocket, loadModel, logDir } from "../kernel/state.js";
import { createUtsFile, PodRuntime } from "./containers.js";
import { KubeProxy } from "./proxy.js";
import { initialServices } from "../plan/proxy/node.js";
import { resolveServices } from "../model/services.js";

async function main() {
  const i = process.argv.indexOf("klab-agent");
  const lab = process.argv[i + 1];
  const model = lab ? loadModel(lab) : undefined;
  if (!model) {
    console.error(`klab-agent: no model for lab ${lab}`);
    process.exit(2);
  }
  const backoff = process.env.KLAB_BACKOFF_INITIAL_MS ? Number(process.env.KLAB_BACKOFF_INITIAL_MS) : undefined;
  let started = false;
  const say = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
  // kube-proxy + endpoints controller: any readiness change re-resolves endpoints and syncs.
  const proxy = new KubeProxy(model, initialServices(model), say);
  let syncTimer: NodeJS.Timeout | undefined;
  const byKey = new Map<string, PodRuntime>();
  const currentServices = () => resolveServices(model.services, model.pods, (ns, name) => byKey.get(`${ns}/${name}`)?.ready ?? false);
  const scheduleSync = () => {
    // No Services, no kube-proxy rules: labs about pod networking stay free of them.
    if (syncTimer || !started || model.services.length === 0) return;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      void proxy.sync(currentServices());
    }, 10);
  };
  const pods = model.pods.map((pod) => {
    const node = model.nodes.find((n) => n.name === pod.node)!;
    const rt = new PodRuntime({
      lab, pod, utsFile: utsFile(lab, pod.namespace, pod.name), logDir: logDir(lab), backoffInitialMs: backoff,
      nodeNetns: node.netns, onChange: scheduleSync,
    });
    byKey.set(`${pod.namespace}/${pod.name}`, rt);
    return rt;
  });
  const sock = agentSocket(lab);
  rmSync(sock, { force: true });
  const server = createServer((req, res) => {
    if (req.url === "/services") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ mode: model.proxy.mode, services: currentServices() }));
    } else if (req.url === "/status") {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ lab, pid: process.pid, started, rssBytes: process.memoryUsage().rss, pods: pods.map((p) => p.status()) }));
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
    await Promise.all(pods.map((p) => p.stop(true)));
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
  if (model.services.length) {
    await proxy.sync(currentServices());
    setInterval(() => void proxy.sync(currentServices(), true), model.proxy.syncPeriodSeconds * 1000).unref();
  }
  console.log(`${new Date().toISOString()} klab-agent: all pods started`);
}

main().catch((e) => {
  console.error("klab-agent:", e);
  process.exit(1);
});
