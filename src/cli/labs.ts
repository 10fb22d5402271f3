// Shared CLI plumbing: loading lab files into a model, finding the running lab a command is
// about, exit statuses.
import type { ClusterModel, PodModel } from "../model/types.js";
import { listLabs, loadModel } from "../kernel/state.js";
import { readFileSync } from "node:fs";

export const EXIT = { ok: 0, checksFailed: 1, usage: 2, host: 3, kernel: 4 } as const;

export class UsageError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Parse and validate lab files (loaded on demand: zod and yaml cost startup time). */
export async function modelFromFiles(files: string[], opts: import("../model/cluster.js").BuildOptions = {}): Promise<ClusterModel> {
  const [{ loadLabFiles }, { buildCluster }] = await Promise.all([import("../spec/load.js"), import("../model/cluster.js")]);
  return buildCluster(loadLabFiles(files), { hostResolvConf: hostResolvConf(), ...opts });
}

/** The node's resolv.conf is the host's (nodes share its filesystem). */
function hostResolvConf(): string {
  try {
    return readFileSync("/etc/resolv.conf", "utf8");
  } catch {
    return "";
  }
}

/** The running lab a command is about: --lab, or the only one that is up. */
export function runningLab(lab?: string): ClusterModel {
  const labs = listLabs();
  if (lab) {
    const m = loadModel(lab);
    if (!m) throw new UsageError(`lab "${lab}" is not up`, labs.length ? `labs up: ${labs.join(", ")}` : "start one with `klab up FILE`");
    return m;
  }
  if (labs.length === 0) throw new UsageError("no lab is up", "start one with `klab up FILE`");
  if (labs.length > 1) throw new UsageError(`several labs are up (${labs.join(", ")})`, "name one with --lab LAB");
  return loadModel(labs[0])!;
}

export function findPod(m: ClusterModel, name: string, namespace: string): PodModel {
  const ref = name.replace(/^(pod|pods|po)\//, "");
  const pod = m.pods.find((p) => p.namespace === namespace && p.name === ref);
  if (!pod) {
    const others = m.pods.filter((p) => p.name === ref).map((p) => p.namespace);
    throw new UsageError(`pod "${ref}" not found in namespace "${namespace}"`,
      others.length ? `it exists in namespace ${others.join(", ")}: add -n ${others[0]}` : `pods: ${m.pods.filter((p) => p.namespace === namespace).map((p) => p.name).join(", ") || "none"}`);
  }
  return pod;
}
