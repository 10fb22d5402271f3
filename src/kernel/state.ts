// Lab state under /run/klab/<lab>/: what exists (or is about to), recorded BEFORE each kernel
// object is created, so `down` can remove everything even after `up` died halfway.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { join } from "node:path";
import type { ClusterModel } from "../model/types.js";
import { labDir, RUN_DIR } from "../plan/cluster.js";

export interface LabState {
  lab: string;
  files: string[];
  createdAt: string;
  phase: "creating" | "up" | "failed";
  /** Network namespaces that exist or may exist. */
  netns: string[];
  /** UTS namespace files (bind mounts) that exist or may exist. */
  utsFiles: string[];
  /** The lab's runtime (kubelet-like agent), once started. */
  agentPid?: number;
  /** `klab scale`: Deployment replicas that differ from the files ("ns/name" → count). */
  replicas?: Record<string, number>;
  /** `klab delete pod`: Deployment pods replaced under new names ("ns/name"). */
  deletedPods?: string[];
}

export const statePath = (lab: string) => join(labDir(lab), "state.json");
export const modelPath = (lab: string) => join(labDir(lab), "model.json");
export const logDir = (lab: string) => join(labDir(lab), "logs");
export const agentSocket = (lab: string) => join(labDir(lab), "agent.sock");
export const agentLog = (lab: string) => join(labDir(lab), "agent.log");

function writeAtomic(path: string, data: string) {
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, data);
  renameSync(tmp, path);
}

export function saveState(s: LabState): void {
  mkdirSync(labDir(s.lab), { recursive: true });
  writeAtomic(statePath(s.lab), JSON.stringify(s, null, 2));
}

export function loadState(lab: string): LabState | undefined {
  try {
    return JSON.parse(readFileSync(statePath(lab), "utf8")) as LabState;
  } catch {
    return undefined;
  }
}

export function saveModel(m: ClusterModel): void {
  mkdirSync(labDir(m.lab), { recursive: true });
  writeAtomic(modelPath(m.lab), JSON.stringify(m, null, 2));
}

export function loadModel(lab: string): ClusterModel | undefined {
  try {
    return JSON.parse(readFileSync(modelPath(lab), "utf8")) as ClusterModel;
  } catch {
    return undefined;
  }
}

export function listLabs(): string[] {
  if (!existsSync(RUN_DIR)) return [];
  return readdirSync(RUN_DIR).filter((d) => existsSync(statePath(d))).sort();
}

export function containerLogPath(dir: string, pod: { namespace: string; name: string }, container: string): string {
  return join(dir, `${pod.namespace}_${pod.name}_${container}.log`);
}

export function removeLabDir(lab: string): void {
  rmSync(labDir(lab), { recursive: true, force: true });
}
