// klab's command line: kubectl-shaped, thin over the layers below.
// Exit status: 0 ok, 1 checks failed, 2 bad input or usage, 3 host not able, 4 a kernel step failed.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, statSync, watch } from "node:fs";
import { Command, CommanderError, Option } from "commander";
// Heavy modules (zod, yaml, listr2, execa, the checks) are imported inside the commands that
// use them, so `klab down` or `klab get` start fast.
import { initLog } from "../log.js";
import { LabFileError } from "../spec/errors.js";
import { hostUtsFile, utsFile } from "../plan/cluster.js";
import { agentGet, agentServices, agentStatus, type AgentStatus } from "../kernel/agent-client.js";
import type { ServiceModel } from "../model/services.js";
import { HostError, LabStateError, requireRoot, requireTools } from "../kernel/host.js";
import { listNetns } from "../kernel/processes.js";
import { containerLogPath, listLabs, loadModel, loadState, logDir } from "../kernel/state.js";
import { PlanStepError } from "../kernel/apply.js";
import type { CheckResult } from "../checks/runner.js";
import type { ClusterModel, PodModel } from "../model/types.js";
import { EXIT, findPod, modelFromFiles, runningLab, UsageError } from "./labs.js";

const up = async (...a: Parameters<typeof import("../kernel/lifecycle.js").up>) => (await import("../kernel/lifecycle.js")).up(...a);
const teardownLab = async (lab: string) => (await import("../kernel/teardown.js")).teardownLab(lab);
const runChecks = async (m: ClusterModel) => (await import("../checks/runner.js")).runChecks(m);
const views = () => import("./views.js");

type ReportFormat = "table" | "json" | "junit";
const out = (s: string) => process.stdout.write(s);

async function report(results: CheckResult[], lab: string, format: ReportFormat) {
  const { jsonReport, junitReport, tableReport } = await import("../checks/report.js");
  out(format === "json" ? jsonReport(results, lab) : format === "junit" ? junitReport(results, lab) : tableReport(results, lab));
}

/** Like `kubectl wait`: until every running container's readiness probe has a first result and
 * kube-proxy has written the rules for it, so checks see settled endpoints (a pod that never
 * gets ready does not hold this up). */
async function waitForReadiness(lab: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const st = await statusOf(lab);
    if (!st || (st.rulesSettled !== false && st.pods.every((p) => p.containers.every((c) => c.state !== "running" || c.probed !== false)))) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function statusOf(lab: string): Promise<AgentStatus | undefined> {
  try {
    return await agentStatus(lab);
  } catch {
    return undefined;
  }
}

function upSummary(m: ClusterModel, st: AgentStatus): string {
  // Pods whose containers are not running (not-yet-ready pods are normal: probes decide).
  const notReady = st.pods.filter((p) => p.containers.some((c) => c.state !== "running"));
  const lines = [
    `lab ${m.lab} is up: ${m.nodes.length} node(s) (${m.mode}), ${m.pods.length} pod(s)${m.clients.length ? `, ${m.clients.length} client(s)` : ""}`,
  ];
  for (const p of notReady) {
    const c = p.containers.find((x) => x.state !== "running");
    lines.push(`  warning: pod ${p.namespace}/${p.name} is not running: ${c?.reason ?? p.phase}${c?.message ? ` — ${c.message}` : ""} (klab logs ${p.name}${p.namespace !== "default" ? ` -n ${p.namespace}` : ""})`);
  }
  return lines.join("\n") + "\n";
}

const formatOpt = () => new Option("-o, --output <format>", "report format").choices(["table", "json", "junit"]).default("table");

export function buildProgram(): Command {
  const program = new Command("klab")
    .description("Kubernetes networking, built for real in Linux network namespaces")
    .option("-v, --verbose", "log every kernel command")
    .showHelpAfterError("(run `klab help` for usage)")
    .exitOverride();
  program.hook("preAction", (cmd) => {
    initLog({ verbose: Boolean(cmd.opts().verbose) });
  });

  program
    .command("up")
    .description("create a lab's nodes, pods and network in the kernel")
    .argument("<files...>", "lab files (multi-document YAML)")
    .addOption(new Option("-o, --output <format>", "print the lab's pods as a List (as kubectl apply -o)").choices(["json", "yaml"]))
    .action(async (files: string[], o: { output?: "json" | "yaml" }) => {
      const m = await modelFromFiles(files);
      const st = await up(m, { renderer: o.output ? "silent" : undefined });
      await waitForReadiness(m.lab);
      if (!o.output) return void out(upSummary(m, st));
      const { listOutput, podObject, statusByPod } = await views();
      const byPod = statusByPod(st);
      out(listOutput(m.pods.map((p) => podObject(m, p, byPod.get(`${p.namespace}/${p.name}`), loadState(m.lab)?.createdAt)), o.output));
    });

  program
    .command("down")
    .description("remove a lab and everything it created")
    .argument("[lab]", "lab name (default: the only lab that is up)")
    .option("--all", "remove every lab that is up")
    .action(async (lab: string | undefined, o: { all?: boolean }) => {
      requireRoot();
      const labs = o.all ? listLabs() : [lab ?? runningLab().lab];
      for (const l of labs) {
        if (!o.all && !loadState(l)) throw new UsageError(`lab "${l}" is not up`, `labs up: ${listLabs().join(", ") || "none"}`);
        const r = await teardownLab(l);
        out(`lab ${l} is down: ${r.netnsDeleted} namespaces removed\n`);
      }
      if (o.all && labs.length === 0) out("no lab is up\n");
    });

  /** Rebuild a running lab from its files with state overrides, apply, print what changed. */
  const changeLab = async (old: ClusterModel, files: string[], edit: (s: import("../kernel/state.js").LabState) => void, verb?: string) => {
    requireRoot();
    const state = loadState(old.lab)!;
    edit(state);
    const next = await modelFromFiles(files, { previous: old, replicas: state.replicas, deletedPods: state.deletedPods });
    const { applyChanges } = await import("../kernel/changes.js");
    const { saveState } = await import("../kernel/state.js");
    const c = await applyChanges(old, next);
    const s = loadState(old.lab)!;
    s.files = files;
    s.replicas = state.replicas;
    s.deletedPods = state.deletedPods;
    saveState(s);
    if (verb) out(verb);
    for (const p of c.removed) out(`pod/${p.name}${p.namespace !== "default" ? ` -n ${p.namespace}` : ""} deleted\n`);
    for (const p of c.added) out(`pod/${p.name}${p.namespace !== "default" ? ` -n ${p.namespace}` : ""} created (${p.ip} on ${p.node})\n`);
    for (const p of c.changed) out(`pod/${p.name}${p.namespace !== "default" ? ` -n ${p.namespace}` : ""} configured (containers restarted)\n`);
    for (const [what, list] of Object.entries(c.services)) for (const k of list) if (what !== "unchanged") out(`service/${k.replace(/^default\//, "")} ${what}\n`);
    if (!c.added.length && !c.removed.length && !c.changed.length && !c.services.created.length && !c.services.configured.length && !c.services.deleted.length) {
      if (!verb) out(`lab ${old.lab} unchanged\n`);
    }
  };

  program
    .command("apply")
    .description("change a running lab to match its files (pods, Deployments, Services, checks)")
    .argument("<files...>", "lab files")
    .action(async (files: string[]) => {
      const peek = await modelFromFiles(files);
      const old = loadModel(peek.lab);
      if (!old || !loadState(peek.lab)) throw new UsageError(`lab "${peek.lab}" is not up`, `klab up ${files.join(" ")}`);
      // The files are the desired state again: `klab scale` counts are dropped, as kubectl apply does.
      await changeLab(old, files, (s) => {
        s.replicas = {};
        // A Pod deleted by hand comes back when its file is applied; a Deployment's replacement stays.
        s.deletedPods = (s.deletedPods ?? []).filter((k) => !peek.pods.some((p) => !p.owner && `${p.namespace}/${p.name}` === k));
      });
    });

  program
    .command("scale")
    .description("set a Deployment's replicas in a running lab")
    .argument("<deployment>", "deploy/NAME")
    .requiredOption("--replicas <n>", "replica count", (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 0 || n > 1000) throw new UsageError(`--replicas must be a whole number 0-1000, got "${v}"`);
      return n;
    })
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("--lab <lab>", "lab name")
    .action(async (ref: string, o: { replicas: number; namespace: string; lab?: string }) => {
      const m = runningLab(o.lab);
      const name = ref.replace(/^(deploy|deployment|deployments|deployment\.apps)\//, "");
      if (!m.pods.some((p) => p.owner === `Deployment/${name}` && p.namespace === o.namespace) && !(await deploymentExists(loadState(m.lab)!.files, o.namespace, name))) {
        throw new UsageError(`deployment "${name}" not found in namespace "${o.namespace}"`);
      }
      await changeLab(m, loadState(m.lab)!.files, (s) => {
        s.replicas = { ...(s.replicas ?? {}), [`${o.namespace}/${name}`]: o.replicas };
      }, `deployment.apps/${name} scaled\n`);
    });

  program
    .command("delete")
    .description("delete a pod (a Deployment replaces it under a new name)")
    .argument("<resource>", "pod")
    .argument("<name>", "pod name")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("--lab <lab>", "lab name")
    .action(async (resource: string, name: string, o: { namespace: string; lab?: string }) => {
      if (!["pod", "pods", "po"].includes(resource)) throw new UsageError(`cannot delete "${resource}"`, "klab delete pod NAME (change the files and klab apply for other objects)");
      const m = runningLab(o.lab);
      const pod = findPod(m, name, o.namespace);
      await changeLab(m, loadState(m.lab)!.files, (s) => {
        s.deletedPods = [...(s.deletedPods ?? []), `${pod.namespace}/${pod.name}`];
      }, `pod "${pod.name}" deleted\n`);
    });

  program
    .command("run")
    .description("up, run the checks, report, down; the exit status is the checks'")
    .argument("<files...>", "lab files")
    .addOption(formatOpt())
    .option("--keep", "leave the lab up afterwards")
    .action(async (files: string[], o: { output: ReportFormat; keep?: boolean }) => {
      const m = await modelFromFiles(files);
      const st = await up(m, { renderer: o.output === "table" ? undefined : "silent" });
      let results: CheckResult[] = [];
      try {
        if (o.output === "table") out(upSummary(m, st));
        await waitForReadiness(m.lab);
        results = await runChecks(m);
        await report(results, m.lab, o.output);
      } finally {
        if (!o.keep) {
          await teardownLab(m.lab);
          if (o.output === "table") out(`lab ${m.lab} is down\n`);
        }
      }
      if (results.some((r) => !r.passed)) process.exitCode = EXIT.checksFailed;
    });

  program
    .command("check")
    .description("run a running lab's checks")
    .argument("[lab]", "lab name (default: the only lab that is up)")
    .addOption(formatOpt())
    .action(async (lab: string | undefined, o: { output: ReportFormat }) => {
      requireRoot();
      const m = runningLab(lab);
      const results = await runChecks(m);
      await report(results, m.lab, o.output);
      if (results.some((r) => !r.passed)) process.exitCode = EXIT.checksFailed;
    });

  program
    .command("plan")
    .description("print, as a runnable script, exactly the kernel steps `up` would apply")
    .argument("<files...>", "lab files")
    .action(async (files: string[]) => {
      const m = await modelFromFiles(files);
      const containers = m.pods.reduce((n, p) => n + p.containers.length, 0);
      const [{ renderPlan }, { planScript }] = await Promise.all([import("../plan/cluster.js"), import("../plan/script.js")]);
      out(planScript(renderPlan(m), [`from: ${files.join(" ")}`], [
        `\`klab up\` records state in /run/klab/${m.lab}/ first and starts the lab runtime (klab-agent ${m.lab}).`,
        `The runtime creates each node's and pod's UTS namespace (hostname = its name; joinable with`,
        `nsenter --uts=/run/klab/${m.lab}/uts/NAMESPACE_POD), and once these steps are applied runs`,
        `${containers} container(s) of ${m.pods.length} pod(s) inside their namespaces.`,
      ]));
    });

  program
    .command("validate")
    .description("check lab files without touching the kernel")
    .argument("<files...>", "lab files")
    .action(async (files: string[]) => {
      const m = await modelFromFiles(files);
      out(`${files.join(", ")}: valid — lab ${m.lab}: ${m.nodes.length} node(s), ${m.pods.length} pod(s), ${m.checks.length} check(s)\n`);
    });

  program
    .command("schema")
    .description("print the JSON Schema of lab file documents (for yaml-language-server)")
    .action(async () => {
      const { labFileJsonSchema } = await import("../spec/schema.js");
      out(JSON.stringify(labFileJsonSchema(), null, 2) + "\n");
    });

  program
    .command("ls")
    .description("list labs that are up")
    .action(async () => {
      const rows = [["LAB", "STATUS", "NODES", "PODS", "NETWORK", "FILES"]];
      for (const l of listLabs()) {
        const s = loadState(l)!;
        const m = loadModel(l);
        const st = await statusOf(l);
        const running = st ? st.pods.filter((p) => p.ready).length : 0;
        rows.push([l, s.phase === "up" ? (st ? "up" : "up (runtime not answering)") : s.phase, String(m?.nodes.length ?? "?"), `${running}/${m?.pods.length ?? "?"}`, m?.mode ?? "?", s.files.join(",")]);
      }
      if (rows.length === 1) out("no lab is up\n");
      else out((await views()).table(rows));
    });

  program
    .command("get")
    .description("list nodes, pods, services or endpoints of a running lab")
    .argument("<resource>", "nodes | pods | svc | endpoints | endpointslices, or several: svc,endpoints")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("-A, --all-namespaces", "pods of every namespace")
    .addOption(new Option("-o, --output <format>", "output format").choices(["wide", "json", "yaml"]))
    .option("--lab <lab>", "lab name (default: the only lab that is up)")
    .action(async (resource: string, o: { namespace: string; allNamespaces?: boolean; output?: string; lab?: string }) => {
      const m = runningLab(o.lab);
      const state = loadState(m.lab);
      const st = await statusOf(m.lab);
      const { listOutput, nodeObject, nodesTable, podObject, podsTable, statusByPod, servicesTable, endpointsTable, endpointSlicesTable, serviceObject, endpointSliceObjects } = await views();
      const kinds = resource.toLowerCase().split(",");
      const many = kinds.length > 1;
      for (const kind of kinds) {
      if (many && kind !== kinds[0]) out("\n");
      if (["services", "service", "svc", "endpoints", "endpoint", "ep", "endpointslices", "endpointslice"].includes(kind)) {
        let services: ServiceModel[];
        try {
          services = (await agentServices(m.lab)).services;
        } catch {
          services = (await import("../plan/proxy/node.js")).initialServices(m);
          process.stderr.write(`warning: the lab runtime is not answering; showing endpoints as planned, not live\n`);
        }
        services = services.filter((s) => o.allNamespaces || s.namespace === o.namespace).sort(byNamespaceName);
        const isSvc = kind.startsWith("s");
        const isSlice = kind.startsWith("endpointslice");
        if (o.output === "json" || o.output === "yaml") {
          const items = isSvc ? services.map((s) => serviceObject(s, m.services.find((x) => x.namespace === s.namespace && x.name === s.name)))
            : isSlice ? services.flatMap(endpointSliceObjects)
            : services.map((s) => {
                const ips = (ready: boolean) => [...new Set(s.ports.flatMap((p) => (s.endpoints[p.name] ?? []).filter((e) => e.ready === ready).map((e) => e.ip)))].map((ip) => ({ ip }));
                const notReady = ips(false);
                return { apiVersion: "v1", kind: "Endpoints", metadata: { name: s.name, namespace: s.namespace }, subsets: [{ addresses: ips(true), ...(notReady.length ? { notReadyAddresses: notReady } : {}), ports: s.ports.map((p) => ({ name: p.name || undefined, port: s.endpoints[p.name]?.[0]?.port, protocol: p.protocol })) }] };
              });
          out(listOutput(items, o.output));
        } else if (!services.length) out(`No resources found in ${o.namespace} namespace.\n`);
        else out(isSvc ? servicesTable(services, m.services, { wide: o.output === "wide", allNamespaces: o.allNamespaces, createdAt: state?.createdAt })
          : isSlice ? endpointSlicesTable(services, { allNamespaces: o.allNamespaces, createdAt: state?.createdAt })
          : endpointsTable(services, { wide: o.output === "wide", allNamespaces: o.allNamespaces, createdAt: state?.createdAt }));
      } else if (["nodes", "node", "no"].includes(kind)) {
        const existing = new Set(listNetns());
        const live = new Map((st?.nodes ?? []).map((n) => [n.name, n.ready]));
        const ready = new Set(m.nodes.filter((n) => existing.has(n.netns) && live.get(n.name) !== false).map((n) => n.name));
        if (o.output === "json" || o.output === "yaml") out(listOutput(m.nodes.map((n) => nodeObject(m, n, ready.has(n.name))), o.output));
        else out(nodesTable(m, ready, { wide: o.output === "wide", createdAt: state?.createdAt }));
      } else if (["pods", "pod", "po"].includes(kind)) {
        const byPod = statusByPod(st);
        const pods = m.pods.filter((p) => o.allNamespaces || p.namespace === o.namespace).sort(byNamespaceName);
        if (o.output === "json" || o.output === "yaml") {
          out(listOutput(pods.map((p) => podObject(m, p, byPod.get(`${p.namespace}/${p.name}`), state?.createdAt)), o.output));
        } else if (!pods.length) {
          out(`No resources found in ${o.namespace} namespace.\n`);
        } else {
          out(podsTable(pods.map((pod) => ({ pod, status: byPod.get(`${pod.namespace}/${pod.name}`) })), { wide: o.output === "wide", allNamespaces: o.allNamespaces, createdAt: state?.createdAt }));
        }
        if (!st) process.stderr.write(`warning: the lab runtime is not answering; container states unknown (see /run/klab/${m.lab}/agent.log)\n`);
      } else {
        throw new UsageError(`unknown resource type "${kind}"`, "klab get nodes | pods | svc | endpoints | endpointslices (comma-separated for several)");
      }
      }
    });

  program
    .command("describe")
    .description("show details of a pod or a Service")
    .argument("<resource>", "pod | svc")
    .argument("<name>", "name")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("--lab <lab>", "lab name")
    .action(async (resource: string, name: string, o: { namespace: string; lab?: string }) => {
      if (["svc", "service", "services"].includes(resource)) {
        const m = runningLab(o.lab);
        const ref = name.replace(/^(svc|service)\//, "");
        let services: ServiceModel[];
        try { services = (await agentServices(m.lab)).services; } catch { services = (await import("../plan/proxy/node.js")).initialServices(m); }
        const s = services.find((x) => x.namespace === o.namespace && x.name === ref);
        if (!s) throw new UsageError(`service "${ref}" not found in namespace "${o.namespace}"`, `services: ${services.filter((x) => x.namespace === o.namespace).map((x) => x.name).join(", ") || "none"}`);
        const holder = s.loadBalancerIP ? (await statusOf(m.lab))?.loadBalancers?.[s.loadBalancerIP] : undefined;
        out((await views()).describeService(s, m.services.find((x) => x.namespace === s.namespace && x.name === s.name), holder));
        return;
      }
      if (!["pod", "pods", "po"].includes(resource)) throw new UsageError(`cannot describe "${resource}"`, "klab describe pod NAME | svc NAME");
      const m = runningLab(o.lab);
      const pod = findPod(m, name, o.namespace);
      const { describePod, statusByPod } = await views();
      const st = statusByPod(await statusOf(m.lab)).get(`${pod.namespace}/${pod.name}`);
      out(describePod(m, pod, st, loadState(m.lab)?.createdAt));
    });

  program
    .command("exec")
    .description("run a command inside a pod's namespaces (or node/NAME, client/NAME)")
    .argument("<target>", "POD, node/NAME or client/NAME")
    .argument("<command...>", "command and arguments (after --)")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("-c, --container <name>", "container")
    .option("--lab <lab>", "lab name")
    .action(async (target: string, command: string[], o: { namespace: string; container?: string; lab?: string }) => {
      requireRoot();
      requireTools(["ip", "nsenter"]);
      const m = runningLab(o.lab);
      let argv: string[];
      let env = { ...process.env };
      const host = /^(node|client)\/(.+)$/.exec(target);
      if (host) {
        const list = host[1] === "node" ? m.nodes : m.clients;
        const h = list.find((x) => x.name === host[2]);
        if (!h) throw new UsageError(`${host[1]} "${host[2]}" not found`, `${host[1]}s: ${list.map((x) => x.name).join(", ")}`);
        argv = ["nsenter", `--uts=${hostUtsFile(m.lab, h.name)}`, "--", "ip", "netns", "exec", h.netns, ...command];
      } else {
        const pod = findPod(m, target, o.namespace);
        const c = o.container ? pod.containers.find((x) => x.name === o.container) : pod.containers[0];
        if (!c) throw new UsageError(`container "${o.container}" not found in pod ${pod.name}`, `containers: ${pod.containers.map((x) => x.name).join(", ")}`);
        env = { ...env, ...c.env, HOSTNAME: pod.hostname };
        argv = ["nsenter", `--uts=${utsFile(m.lab, pod.namespace, pod.name)}`, "--", "ip", "netns", "exec", pod.netns, ...command];
      }
      const child = spawn(argv[0], argv.slice(1), { stdio: "inherit", env });
      const code = await new Promise<number>((resolve) => {
        child.on("exit", (c, s) => resolve(c ?? (s ? 128 + 9 : 1)));
        child.on("error", () => resolve(127));
      });
      process.exitCode = code;
    });

  program
    .command("dns")
    .description("look a name up with dig from inside a pod (its resolv.conf: search path, ndots, kube-dns)")
    .argument("<name>", "name to look up: web, web.other, web.default.svc.cluster.local, an IP for PTR")
    .argument("[type]", "record type (A, AAAA, SRV, PTR, TXT, CNAME, SOA, NS, ANY)", "A")
    .option("--from <pod>", "pod/NAMESPACE/NAME or pod/NAME to ask from (default: the first pod outside kube-system)")
    .option("--tcp", "query over TCP")
    .option("--short", "answers only (dig +short)")
    .option("--no-search", "do not apply the pod's search list (dig without +search)")
    .option("--lab <lab>", "lab name")
    .action(async (name: string, type: string, o: { from?: string; tcp?: boolean; short?: boolean; search: boolean; lab?: string }) => {
      requireRoot();
      requireTools(["ip", "nsenter", "dig"]);
      const m = runningLab(o.lab);
      let pod: PodModel | undefined;
      if (o.from) {
        const ref = /^(?:pods?|po)\/(?:([^/]+)\/)?([^/]+)$/.exec(o.from);
        if (!ref) throw new UsageError(`--from ${o.from}: expected pod/NAMESPACE/NAME or pod/NAME`, "e.g. --from pod/default/client");
        pod = findPod(m, ref[2], ref[1] ?? "default");
      } else {
        pod = m.pods.find((p) => p.namespace !== "kube-system");
        if (!pod) throw new UsageError("the lab has no pod to ask from outside kube-system", "name one with --from pod/NAMESPACE/NAME");
      }
      const qtype = type.toUpperCase();
      // An address asks for its PTR record, as `dig -x` does.
      const query = /^\d{1,3}(\.\d{1,3}){3}$/.test(name) && (qtype === "A" || qtype === "PTR") ? ["-x", name] : [name, qtype];
      const flags = [...(o.search ? ["+search"] : []), ...(o.tcp ? ["+tcp"] : []), ...(o.short ? ["+short"] : [])];
      process.stderr.write(`# dig ${[...flags, ...query].join(" ")}  (from pod ${pod.namespace}/${pod.name}${pod.resolvConf ? "" : ", which uses the node's resolv.conf"})\n`);
      const argv = ["nsenter", `--uts=${utsFile(m.lab, pod.namespace, pod.name)}`, "--", "ip", "netns", "exec", pod.netns, "dig", ...flags, ...query];
      const child = spawn(argv[0], argv.slice(1), { stdio: "inherit" });
      process.exitCode = await new Promise<number>((resolve) => {
        child.on("exit", (c) => resolve(c ?? 1));
        child.on("error", () => resolve(127));
      });
    });

  program
    .command("logs")
    .description("print a container's output")
    .argument("<pod>", "pod name")
    .option("-n, --namespace <ns>", "namespace", "default")
    .option("-c, --container <name>", "container (default: the pod's only/first container)")
    .option("-f, --follow", "keep printing new output")
    .option("--lab <lab>", "lab name")
    .action(async (name: string, o: { namespace: string; container?: string; follow?: boolean; lab?: string }) => {
      const m = runningLab(o.lab);
      const pod = findPod(m, name, o.namespace);
      if (!o.container && pod.containers.length > 1) {
        // As kubectl: the first container, with a notice on stderr.
        process.stderr.write(`Defaulted container "${pod.containers[0].name}" out of: ${pod.containers.map((c) => c.name).join(", ")}\n`);
      }
      const c = o.container ? pod.containers.find((x) => x.name === o.container) : pod.containers[0];
      if (!c) throw new UsageError(`container "${o.container}" is not valid for pod ${pod.name}`, `containers: ${pod.containers.map((x) => x.name).join(", ")}`);
      const path = containerLogPath(logDir(m.lab), pod, c.name);
      let offset = 0;
      const dump = () => {
        if (!existsSync(path)) return;
        const buf = readFileSync(path);
        if (buf.length > offset) out(buf.subarray(offset).toString());
        offset = buf.length;
      };
      dump();
      if (o.follow) {
        await new Promise<void>((resolve) => {
          const timer = setInterval(() => {
            dump();
            if (!existsSync(path) || (existsSync(path) && statSync(path).size < offset)) { clearInterval(timer); resolve(); }
          }, 250);
          try { watch(path, () => dump()); } catch { /* polling covers it */ }
          process.on("SIGINT", () => { clearInterval(timer); resolve(); });
        });
      }
    });

  program
    .command("rules")
    .description("print a node's kube-proxy ruleset in the lab's proxy mode")
    .argument("<node>", "node name")
    .option("--lab <lab>", "lab name")
    .action(async (name: string, o: { lab?: string }) => {
      requireRoot();
      const m = runningLab(o.lab);
      const n = m.nodes.find((x) => x.name === name.replace(/^node\//, ""));
      if (!n) throw new UsageError(`node "${name}" not found`, `nodes: ${m.nodes.map((x) => x.name).join(", ")}`);
      const { run } = await import("../kernel/exec.js");
      const inNode = (...argv: string[]) => run("ip", ["netns", "exec", n.netns, ...argv], { reject: false });
      const section = (title: string, text: string) => out(`# ${title}\n${text.trimEnd() || "(empty)"}\n`);
      if (m.proxy.mode === "nftables") section(`nft list table ip kube-proxy (${n.name})`, (await inNode("nft", "list", "table", "ip", "kube-proxy")).stdout);
      else {
        if (m.proxy.mode === "ipvs") {
          section(`ipvsadm-save -n (${n.name})`, (await inNode("ipvsadm-save", "-n")).stdout);
          section(`ipset list (${n.name})`, (await inNode("ipset", "list")).stdout);
        }
        section(`iptables-save (${n.name})`, (await inNode("iptables-save")).stdout);
      }
    });

  const node = program.command("node").description("stop or start a node (its underlay link goes down/up)");
  for (const op of ["stop", "start"] as const) {
    node
      .command(op)
      .description(op === "stop" ? "take a node's underlay link down: it drops off the network, LoadBalancer addresses move" : "bring a stopped node back")
      .argument("<node>", "node name")
      .option("--lab <lab>", "lab name")
      .action(async (name: string, o: { lab?: string }) => {
        requireRoot();
        const m = runningLab(o.lab);
        if (!m.nodes.some((n) => n.name === name)) throw new UsageError(`node "${name}" not found`, `nodes: ${m.nodes.map((n) => n.name).join(", ")}`);
        const r = await agentGet<{ ready: boolean; loadBalancers: Record<string, string> }>(m.lab, `/nodes/${name}/${op}`, 10_000, "POST");
        out(`node/${name} ${op === "stop" ? "stopped" : "started"}${Object.keys(r.loadBalancers).length ? `; LoadBalancer addresses: ${Object.entries(r.loadBalancers).map(([ip, n]) => `${ip} on ${n}`).join(", ")}` : ""}\n`);
      });
  }

  program
    .command("cleanup")
    .description("remove every klab object on this host (or of one lab), even without state")
    .argument("[lab]", "only this lab's objects")
    .action(async (lab: string | undefined) => {
      requireRoot();
      const r = await (await import("../kernel/teardown.js")).cleanup(lab);
      out(`cleanup${lab ? ` of lab ${lab}` : ""}: ${r.labs.length} lab(s) down, ${r.netns.length} stray namespace(s) removed, ${r.processes} process(es) stopped\n`);
    });

  return program;
}

async function deploymentExists(files: string[], ns: string, name: string): Promise<boolean> {
  const { loadLabFiles } = await import("../spec/load.js");
  return loadLabFiles(files).deployments.some((d) => (d.value.metadata.namespace ?? "default") === ns && d.value.metadata.name === name);
}

/** kubectl's order: by namespace, then name. */
const byNamespaceName = (a: { namespace: string; name: string }, b: { namespace: string; name: string }) =>
  a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name);

export async function main(argv = process.argv): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === "number" ? process.exitCode : EXIT.ok;
  } catch (e) {
    return reportError(e);
  }
}

function reportError(e: unknown): number {
  const err = (s: string) => process.stderr.write(s.endsWith("\n") ? s : s + "\n");
  if (e instanceof CommanderError) {
    if (e.code === "commander.helpDisplayed" || e.code === "commander.version" || e.code === "commander.help") return EXIT.ok;
    return EXIT.usage;
  }
  if (e instanceof LabFileError) {
    err(e.message);
    err(`${e.errors.length} error(s); nothing was changed`);
    return EXIT.usage;
  }
  if (e instanceof UsageError || e instanceof LabStateError) {
    err(`error: ${e.message}${e.hint ? `\n  hint: ${e.hint}` : ""}`);
    return EXIT.usage;
  }
  if (e instanceof HostError) {
    err(`error: this host cannot run the lab: ${e.message}\n  fix: ${e.fix}`);
    return EXIT.host;
  }
  if (e instanceof PlanStepError) {
    err(`error: a kernel step failed: ${e.message}\n  everything this run created was removed; rerun with --verbose to see each command`);
    return EXIT.kernel;
  }
  err(`error: ${(e as Error)?.message ?? String(e)}`);
  if (process.env.KLAB_DEBUG) err((e as Error)?.stack ?? "");
  return EXIT.kernel;
}
