// The lab runtime: one process per lab (kubelet for every node), started by `klab up` as
// `node dist/agent/main.js klab-agent LAB`. Runs every pod's containers and answers status
// on /run/klab/LAB/agent.sock. Stops its containers on SIGTERM.
import { createServer } from "node:http";
import { existsSync, rmSync } from "node:fs";
import { hostUtsFile, networkReadyFile, utsFile } from "../plan/cluster.js";
import { agentSocket, loadModel, logDir } from "../kernel/state.js";
import { createUtsFile, PodRuntime } from "./containers.js";

async function main() {
  const i = process.argv.indexOf("klab-agent");
  const lab = process.argv[i + 1];
  const model = lab ? loadModel(lab) : undefined;
  if (!model) {
    console.error(`klab-agent: no model for lab ${lab}`);
    process.exit(2);
  }
  const backoff = process.env.KLAB_BACKOFF_INITIAL_MS ? Number(process.env.KLAB_BACKOFF_INITIAL_MS) : undefined;
  const pods = model.pods.map(
    (pod) => new PodRuntime({ lab, pod, utsFile: utsFile(lab, pod.namespace, pod.name), logDir: logDir(lab), backoffInitialMs: backoff }),
  );
  let started = false;
  const sock = agentSocket(lab);
  rmSync(sock, { force: true });
  const server = createServer((req, res) => {
    if (req.url === "/status") {
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
  console.log(`${new Date().toISOString()} klab-agent: all pods started`);
}

main().catch((e) => {
  console.error("klab-agent:", e);
  process.exit(1);
});
