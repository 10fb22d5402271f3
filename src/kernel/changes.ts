// Changing a running lab (`klab apply`, `scale`, `delete pod`): new pods' namespaces and links
// are created with the same renderers `up` uses, the runtime reloads the model (stops removed
// pods, starts new ones, re-syncs the Services' rules incrementally), then removed pods'
// namespaces are deleted. Nodes, network and proxy mode cannot change in place.
import type { ClusterModel, PodModel } from "../model/types.js";
import { podVethLines } from "../plan/cni/node.js";
import { podSteps } from "../plan/cni/pod.js";
import type { Plan } from "../plan/types.js";
import { ETC_NETNS, hostNetworkAliases, netnsAddLines, resolvConfStage } from "../plan/cluster.js";
import { rmSync } from "node:fs";
import { agentGet } from "./agent-client.js";
import { applyPlan } from "./apply.js";
import { run } from "./exec.js";
import { LabStateError } from "./host.js";
import { killAndWait, pidsInNetns } from "./processes.js";
import { loadState, saveModel, saveState } from "./state.js";

const key = (p: { namespace: string; name: string }) => `${p.namespace}/${p.name}`;

export interface LabChanges {
  added: PodModel[];
  removed: PodModel[];
  /** Same name, node and IP, different spec: containers restart in place. */
  changed: PodModel[];
  services: { created: string[]; configured: string[]; deleted: string[]; unchanged: string[] };
}

/** Pure: what differs between the running model and the new one. */
export function diffModels(old: ClusterModel, next: ClusterModel): LabChanges {
  const fixed = (m: ClusterModel) => JSON.stringify({
    nodes: m.nodes, clients: m.clients, mode: m.mode, podCIDR: m.podCIDR, serviceCIDR: m.serviceCIDR, underlay: m.underlayCIDR, mtu: m.mtu, proxy: m.proxy.mode,
  });
  if (old.lab !== next.lab) throw new LabStateError(`these files describe lab "${next.lab}", not "${old.lab}"`, "apply a lab's own files");
  if (fixed(old) !== fixed(next)) {
    throw new LabStateError("nodes, clients, network or proxy mode changed: these cannot change in a running lab",
      `run \`klab down ${old.lab}\` and \`klab up\` with the new files`);
  }
  const oldPods = new Map(old.pods.map((p) => [key(p), p]));
  const nextPods = new Map(next.pods.map((p) => [key(p), p]));
  const added = next.pods.filter((p) => !oldPods.has(key(p)));
  const removed = old.pods.filter((p) => !nextPods.has(key(p)));
  const changed = next.pods.filter((p) => oldPods.has(key(p)) && JSON.stringify(oldPods.get(key(p))) !== JSON.stringify(p));
  const oldSvc = new Map(old.services.map((s) => [key(s), JSON.stringify(s)]));
  const nextSvc = new Map(next.services.map((s) => [key(s), JSON.stringify(s)]));
  return {
    added,
    removed,
    changed,
    services: {
      created: [...nextSvc.keys()].filter((k) => !oldSvc.has(k)),
      configured: [...nextSvc.keys()].filter((k) => oldSvc.has(k) && oldSvc.get(k) !== nextSvc.get(k)),
      deleted: [...oldSvc.keys()].filter((k) => !nextSvc.has(k)),
      unchanged: [...nextSvc.keys()].filter((k) => oldSvc.get(k) === nextSvc.get(k)),
    },
  };
}

/** The kernel steps that add pods to a running lab: their namespaces, veths on their nodes'
 * cni0, and the pods' own interfaces — the same lines `up` would have used for them. */
export function addPodsPlan(m: ClusterModel, pods: PodModel[]): Plan {
  const byNode = new Map<string, PodModel[]>();
  for (const p of pods) byNode.set(p.node, [...(byNode.get(p.node) ?? []), p]);
  return {
    lab: m.lab,
    stages: [
      { name: "network namespaces", steps: [{ kind: "ip" as const, lines: netnsAddLines(pods) }].filter((st) => st.lines.length) },
      { name: "host-network pods", steps: hostNetworkAliases(m, pods) },
      {
        name: "pod veths on cni0",
        steps: [...byNode].map(([node, ps]) => ({ kind: "ip" as const, netns: m.nodes.find((n) => n.name === node)!.netns, lines: ps.filter((p) => !p.hostNetwork).flatMap((p) => podVethLines(m, p)) })).filter((s) => s.lines.length),
      },
      { name: "pod interfaces", steps: pods.filter((p) => !p.hostNetwork).flatMap((p) => podSteps(m, p)) },
    ].filter((stage) => stage.steps.length).concat([
      ...resolvConfStage(pods),
    ]),
  };
}

export async function applyChanges(old: ClusterModel, next: ClusterModel): Promise<LabChanges> {
  const changes = diffModels(old, next);
  const state = loadState(old.lab);
  if (!state) throw new LabStateError(`lab "${old.lab}" is not up`, "klab up FILE first");
  // Recorded before anything is created, as in `up`.
  state.netns = [...new Set([...state.netns, ...changes.added.map((p) => p.netns)])];
  saveState(state);
  if (changes.added.length) await applyPlan(addPodsPlan(next, changes.added));
  // Pods changed in place may have a new dnsPolicy or dnsConfig: the kubelet rewrites it.
  await applyPlan({ lab: next.lab, stages: resolvConfStage(changes.changed, true) });
  saveModel(next);
  await agentGet(old.lab, "/reload", 60_000, "POST");
  if (changes.removed.length) {
    const gone = changes.removed.map((p) => p.netns);
    // A host-network pod's namespace is its node's: only its own processes (stopped by the
    // runtime already) may go, not everything in the node.
    await killAndWait([...pidsInNetns(changes.removed.filter((p) => !p.hostNetwork).map((p) => p.netns)).values()].flat(), 1000);
    await run("ip", ["-force", "-batch", "-"], { input: gone.map((n) => `netns del ${n}`).join("\n") + "\n", reject: false });
    for (const n of gone) rmSync(`${ETC_NETNS}/${n}`, { recursive: true, force: true });
    state.netns = state.netns.filter((n) => !gone.includes(n));
  }
  saveState(state);
  return changes;
}
