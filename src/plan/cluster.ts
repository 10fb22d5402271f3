// ClusterModel → Plan: the whole kernel state of a lab, in stages whose steps can run in
// parallel (each step touches one namespace).
import type { ClusterModel } from "../model/types.js";
import { nodeFdbSteps, nodeSteps } from "./cni/node.js";
import { podSteps } from "./cni/pod.js";
import { initialServices, proxySteps } from "./proxy/node.js";
import { clientSteps, fabricSteps } from "./cni/underlay.js";
import type { PodModel } from "../model/types.js";
import type { Plan, Stage, Step } from "./types.js";

export const RUN_DIR = "/run/klab";
export const labDir = (lab: string) => `${RUN_DIR}/${lab}`;
/** A pod sandbox's UTS namespace: a symlink to the runtime's descriptor of it (the runtime
 * creates it, not the plan). */
export const utsFile = (lab: string, ns: string, pod: string) => `${labDir(lab)}/uts/${ns}_${pod}`;
/** A node's or client's UTS namespace (hostname = its name), also made by the runtime. */
export const hostUtsFile = (lab: string, host: string) => `${labDir(lab)}/uts/hosts/${host}`;
/** Written by `up` once the plan is applied: the runtime may then open pods' sockets. */
export const networkReadyFile = (lab: string) => `${labDir(lab)}/network-ready`;

/** `ip netns exec NS` bind-mounts /etc/netns/NS/* over /etc/*: a pod's resolv.conf lives there. */
export const ETC_NETNS = "/etc/netns";
export const resolvConfPath = (netns: string) => `${ETC_NETNS}/${netns}/resolv.conf`;

/** The kubelet's resolv.conf for each pod: written where the pod has its own, removed where it
 * sees the node's (only matters when a running pod's dnsPolicy changes). */
export function resolvConfStage(pods: PodModel[], removeOthers = false): Stage[] {
  const files = pods
    .filter((p) => p.resolvConf !== null || removeOthers)
    .map((p) => ({ path: resolvConfPath(p.netns), content: p.resolvConf }));
  return files.length ? [{ name: "pod resolv.conf (/etc/netns)", steps: [{ kind: "files", files }] }] : [];
}

/** `netns add` for the hosts and every pod with a network of its own. */
export function netnsAddLines(pods: PodModel[], hosts: string[] = []): string[] {
  return [...hosts, ...pods.filter((p) => !p.hostNetwork).map((p) => p.netns)].map((ns) => `netns add ${ns}`);
}

/** Host-network pods: their namespace name is a second name for their node's. */
export function hostNetworkAliases(m: ClusterModel, pods: PodModel[]): Step[] {
  return pods.filter((p) => p.hostNetwork).map((p) => ({ kind: "netns-alias", name: p.netns, target: m.nodes.find((n) => n.name === p.node)!.netns }));
}

/** Every network namespace of the lab, in creation order. */
export function labNetnsNames(m: ClusterModel): string[] {
  return [m.fabric.netns, ...m.nodes.map((n) => n.netns), ...m.clients.map((c) => c.netns), ...m.pods.map((p) => p.netns)];
}

export function renderPlan(m: ClusterModel): Plan {
  const services = initialServices(m);
  return {
    lab: m.lab,
    stages: [
      {
        name: "network namespaces",
        steps: [{ kind: "ip", lines: netnsAddLines(m.pods, [m.fabric.netns, ...m.nodes.map((n) => n.netns), ...m.clients.map((c) => c.netns)]) }],
      },
      { name: "underlay switch", steps: fabricSteps(m) },
      {
        name: "nodes and clients",
        steps: [...m.nodes.flatMap((n) => nodeSteps(m, n)), ...m.clients.flatMap((c) => clientSteps(m, c)), ...hostNetworkAliases(m, m.pods)],
      },
      ...(m.services.length
        ? [{ name: `kube-proxy rules (${m.proxy.mode})`, steps: m.nodes.flatMap((n) => proxySteps(m, n, services)) }]
        : []),
      {
        name: m.mode === "vxlan" ? "pod interfaces and VXLAN forwarding entries" : "pod interfaces",
        steps: [...m.nodes.flatMap((n) => nodeFdbSteps(m, n)), ...m.pods.filter((p) => !p.hostNetwork).flatMap((p) => podSteps(m, p))],
      },
      ...resolvConfStage(m.pods),
    ],
  };
}
