// One node's kube-proxy sync (iptables and nftables modes) as a pure step: what the last sync
// left plus the Services now → the command to run in the node, its input, and what it leaves.
// src/agent/proxy.ts runs it; scripts/bench-services.ts times exactly this.
//
// Full sync (first load, the periodic resync): the whole ruleset. iptables: filter, nat (and
// mangle's canary) replaced whole by one iptables-restore WITHOUT --noflush, the jumps from the
// built-in chains included — the text `klab up` loads (initialIptablesRestore). klab owns these
// tables in a node (the CNI writes none there, src/plan/cni), so nothing else is lost; kube-proxy
// itself must use --noflush, which iptables-nft 1.8.9 makes quadratic (every chain and jump
// target of the input goes through a sorted-list insert: 10k Services took 11 min).
// Partial sync: only the changed Services (renderIptablesSync, renderNftablesUpdate).
import type { EndpointModel, ProxyNode, ServiceModel, ServicePortModel } from "../../model/services.js";
import { EMPTY_IPTABLES_STATE, renderIptablesSync, restoreText, type IptablesSyncState } from "./iptables.js";
import { renderNftables, renderNftablesSync } from "./nftables.js";
import { initialIptablesRestore } from "./node.js";
import { bulkLoadArgv } from "../bulk-load.js";

export type SyncedProxyMode = "iptables" | "nftables";

/** What a node's last sync left. */
export interface ProxySyncState {
  /** The Services synced (treated as immutable: an object seen again is unchanged). */
  services: readonly ServiceModel[];
  iptables?: IptablesSyncState;
  /** nftables: chains and sets flushed by a partial sync, to delete in a later one
   * (renderNftablesSync); a sync with nothing else to do deletes them. */
  nftPending?: readonly string[];
}

export interface ProxySyncPlan {
  /** Run inside the node's namespace with `input` on stdin; nothing to run when input is "". */
  argv: string[];
  input: string;
  /** The Services ("ns/name") added, removed or changed since the last sync. */
  changed: Set<string>;
  full: boolean;
  next: ProxySyncState;
}

const key = (s: ServiceModel) => `${s.namespace}/${s.name}`;

// Every field of the model, checked by the compiler: a field added there must be listed here,
// and test/unit/proxy-sync.test.ts changes each listed field to prove sameService compares it.
export const SERVICE_FIELDS = Object.keys({
  namespace: 0, name: 0, type: 0, clusterIP: 0, externalName: 0, ports: 0, sessionAffinity: 0, affinityTimeoutSeconds: 0,
  externalTrafficPolicy: 0, internalTrafficPolicy: 0, publishNotReadyAddresses: 0, loadBalancerIP: 0, endpoints: 0,
} satisfies Record<keyof ServiceModel, 0>) as (keyof ServiceModel)[];
export const PORT_FIELDS = Object.keys({ name: 0, protocol: 0, port: 0, nodePort: 0 } satisfies Record<keyof ServicePortModel, 0>) as (keyof ServicePortModel)[];
export const ENDPOINT_FIELDS = Object.keys({ ip: 0, port: 0, node: 0, pod: 0, ready: 0, hostname: 0 } satisfies Record<keyof EndpointModel, 0>) as (keyof EndpointModel)[];

// Written out field by field (not a loop over the lists): every sync compares all Services,
// and fixed property reads are several times faster than a[f] with f varying (10k Services:
// ~2 ms instead of 10-25 ms).
function samePorts(a: readonly ServicePortModel[], b: readonly ServicePortModel[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x.name !== y.name || x.protocol !== y.protocol || x.port !== y.port || x.nodePort !== y.nodePort) return false;
  }
  return true;
}

function sameEndpointList(a: readonly EndpointModel[], b: readonly EndpointModel[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = b[i];
    if (x.ip !== y.ip || x.port !== y.port || x.node !== y.node || x.pod !== y.pod || x.ready !== y.ready || x.hostname !== y.hostname) return false;
  }
  return true;
}

/** Whether two Services render the same (no serializing — the runtime resolves every Service
 * anew for each sync, and JSON.stringify of 10k of them took ~35 ms). */
export function sameService(a: ServiceModel, b: ServiceModel): boolean {
  if (a === b) return true;
  if (
    a.namespace !== b.namespace || a.name !== b.name || a.type !== b.type || a.clusterIP !== b.clusterIP ||
    a.externalName !== b.externalName || a.sessionAffinity !== b.sessionAffinity || a.affinityTimeoutSeconds !== b.affinityTimeoutSeconds ||
    a.externalTrafficPolicy !== b.externalTrafficPolicy || a.internalTrafficPolicy !== b.internalTrafficPolicy ||
    a.publishNotReadyAddresses !== b.publishNotReadyAddresses || a.loadBalancerIP !== b.loadBalancerIP || !samePorts(a.ports, b.ports)
  ) return false;
  let n = 0;
  for (const k in a.endpoints) {
    n++;
    const eb = b.endpoints[k];
    if (eb === undefined || !sameEndpointList(a.endpoints[k], eb)) return false;
  }
  for (const k in b.endpoints) {
    void k;
    n--;
  }
  return n === 0;
}

/** The Services added, removed or changed since `prev`, position by position while the list
 * keeps its order, by "ns/name" otherwise. */
export function diffServices(prev: ProxySyncState | undefined, next: readonly ServiceModel[]): { changed: Set<string> } {
  const changed = new Set<string>();
  const before = prev?.services ?? [];
  if (before.length === next.length && next.every((s, i) => before[i].namespace === s.namespace && before[i].name === s.name)) {
    for (let i = 0; i < next.length; i++) if (!sameService(before[i], next[i])) changed.add(key(next[i]));
    return { changed };
  }
  const old = new Map(before.map((s) => [key(s), s]));
  for (const s of next) {
    const o = old.get(key(s));
    if (!o || !sameService(o, s)) changed.add(key(s));
    old.delete(key(s));
  }
  for (const k of old.keys()) changed.add(k);
  return { changed };
}

/** The state a full sync of `services` leaves (e.g. what `klab up` loaded). */
export function proxySyncState(mode: SyncedProxyMode, node: ProxyNode, services: readonly ServiceModel[]): ProxySyncState {
  return planProxySync(mode, node, undefined, services, true).next;
}

/** The sync of one node to `services`: full when asked or when nothing is known of the node. */
export function planProxySync(
  mode: SyncedProxyMode,
  node: ProxyNode,
  prev: ProxySyncState | undefined,
  services: readonly ServiceModel[],
  full: boolean,
  diff = diffServices(prev, services),
): ProxySyncPlan {
  const { changed } = diff;
  full ||= prev === undefined;
  if (mode === "iptables") {
    if (full) {
      const { restore, state } = renderIptablesSync(node, services, "all", EMPTY_IPTABLES_STATE);
      const input = initialIptablesRestore(restore);
      return { argv: bulkLoadArgv(["iptables-restore"], input), input, changed, full, next: { services, iptables: state } };
    }
    const { restore, state } = renderIptablesSync(node, services, changed, prev!.iptables ?? EMPTY_IPTABLES_STATE);
    return { argv: ["iptables-restore", "--noflush"], input: restoreText(restore), changed, full, next: { services, iptables: state } };
  }
  if (full) {
    const input = renderNftables(node, services);
    return { argv: bulkLoadArgv(["nft", "-f", "-"], input), input, changed, full, next: { services } };
  }
  const pending = prev!.nftPending ?? [];
  if (changed.size === 0 && pending.length === 0) return { argv: ["nft", "-f", "-"], input: "", changed, full, next: { services } };
  // Nothing changed but deletions are pending: this sync is the cleanup.
  const u = renderNftablesSync(node, prev!.services, services, changed, pending, changed.size === 0);
  return { argv: ["nft", "-f", "-"], input: u.text, changed, full, next: { services, nftPending: u.pending } };
}
