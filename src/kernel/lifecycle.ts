// `up`: check the host, record state, apply the plan, start the lab runtime and wait for the
// pods. A failure undoes everything that was created.
import { spawn } from "node:child_process";
import { closeSync, mkdirSync, openSync, readFileSync } from "node:fs";
import { agentEntry } from "../paths.js";
import type { ClusterModel } from "../model/types.js";
import { writeFileSync } from "node:fs";
import { hostUtsFile, labDir, labNetnsNames, networkReadyFile, renderPlan, utsFile } from "../plan/cluster.js";
import { agentStatus, type AgentStatus } from "./agent-client.js";
import { applyStage } from "./apply.js";
import { HostError, LabStateError, probeKernel, requireRoot, requireTools } from "./host.js";
import { isAlive, listNetns } from "./processes.js";
import { debugEnabled, log } from "../log.js";
import { agentLog, loadState, saveModel, saveState, type LabState } from "./state.js";
import { teardownLab } from "./teardown.js";



export async function preflight(model: ClusterModel): Promise<void> {
  requireRoot();
  requireTools(["ip", "bridge", "unshare", "nsenter", "sysctl", "umount"]);
  if (loadState(model.lab)) {
    throw new LabStateError(`lab "${model.lab}" is already up`, `run \`klab down ${model.lab}\` first`);
  }
  const existing = new Set(listNetns());
  const clash = labNetnsNames(model).filter((n) => existing.has(n));
  if (clash.length) {
    throw new HostError(`network namespace ${clash[0]} already exists${clash.length > 1 ? ` (and ${clash.length - 1} more)` : ""}`,
      "another lab uses these names, or one was left behind: `klab ls`, then `klab down LAB` or `klab cleanup`");
  }
  await probeKernel(model);
}

export interface UpOptions {
  /** listr2 renderer: "default" on a TTY, "simple" lines otherwise, "silent" for none. */
  renderer?: "default" | "simple" | "silent";
  waitTimeoutMs?: number;
}

export async function up(model: ClusterModel, opts: UpOptions = {}): Promise<AgentStatus> {
  await preflight(model);
  const plan = renderPlan(model);
  const state: LabState = {
    lab: model.lab,
    files: model.files,
    createdAt: new Date().toISOString(),
    phase: "creating",
    netns: labNetnsNames(model),
    utsFiles: [
      ...[...model.nodes, ...model.clients].map((h) => hostUtsFile(model.lab, h.name)),
      ...model.pods.map((p) => utsFile(model.lab, p.namespace, p.name)),
    ],
  };
  // Recorded before anything exists, so `down` after a crash knows what to remove.
  saveState(state);
  saveModel(model);
  // The runtime starts now, loading and creating pod sandboxes while the network is wired.
  state.agentPid = startAgent(model.lab);
  saveState(state);
  let status: AgentStatus | undefined;
  const { Listr } = await import("listr2");
  const tasks = new Listr(
    [
      ...plan.stages.map((stage) => ({
        title: `${stage.name} (${stage.steps.length} batch${stage.steps.length === 1 ? "" : "es"})`,
        task: async () => {
          const t0 = Date.now();
          await applyStage(stage);
          if (debugEnabled()) log().debug({ stage: stage.name, steps: stage.steps.length, ms: Date.now() - t0 }, "stage applied");
        },
      })),
      {
        title: `pods: starting ${model.pods.reduce((n, p) => n + p.containers.length, 0)} containers`,
        task: async () => {
          writeFileSync(networkReadyFile(model.lab), new Date().toISOString());
          const t0 = Date.now();
          status = await waitForPods(model.lab, state.agentPid!, opts.waitTimeoutMs ?? 30_000 + model.pods.length * 200);
          if (debugEnabled()) log().debug({ pods: model.pods.length, ms: Date.now() - t0 }, "pods started");
        },
      },
    ],
    { renderer: opts.renderer ?? (process.stdout.isTTY ? "default" : "simple"), exitOnError: true, rendererOptions: {} },
  );
  try {
    await tasks.run();
    if (!status) throw new Error("up did not finish");
  } catch (e) {
    await teardownLab(model.lab).catch(() => undefined);
    throw e;
  }
  state.phase = "up";
  saveState(state);
  return status!;
}

function startAgent(lab: string): number {
  mkdirSync(labDir(lab), { recursive: true });
  const out = openSync(agentLog(lab), "a");
  const child = spawn(process.execPath, [agentEntry(), "klab-agent", lab], { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  child.unref();
  if (!child.pid) throw new Error("could not start the lab runtime (klab-agent)");
  return child.pid;
}

/** The end of a log, quoted into an error: a failed `up` removes the lab directory. */
function logTail(path: string, lines = 15): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).map((l) => `  | ${l}`).join("\n");
  } catch {
    return "  (no log)";
  }
}

async function waitForPods(lab: string, pid: number, timeoutMs: number): Promise<AgentStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    if (!isAlive(pid)) throw new Error(`the lab runtime (klab-agent, pid ${pid}) exited:\n${logTail(agentLog(lab))}`);
    try {
      const s = await agentStatus(lab, 1000);
      if (s.started) return s;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`pods did not start within ${Math.round(timeoutMs / 1000)}s (${(last as Error)?.message ?? "still starting"}); the runtime's log:\n${logTail(agentLog(lab))}`);
}
