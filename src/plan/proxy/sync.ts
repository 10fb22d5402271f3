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
import type { ProxyNode, ServiceModel } from "../../model/services.js";
import { EMPTY_IPTABLES_STATE, renderIptablesSync, restoreText, type IptablesSyncState } from "./iptables.js";
import { renderNftables, renderNftablesUpdate } from "./nftables.js";
import { initialIptablesRestore } from "./node.js";

export type SyncedProxyMode = "iptables" | "nftables";

/** What a node's last sync left. */
export interface ProxySyncState {
  /** The Services synced (treated as immutable: an object seen again is unchanged). */
  services: readonly ServiceModel[];
  /** JSON.stringify(services[i]), to tell whether a Service resolved anew changed. */
  json: readonly string[];
  iptables?: IptablesSyncState;
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

/** The Services added, removed or changed since `prev`: an object synced last time is
 * unchanged; another one is compared by its JSON (position by position while the list keeps
 * its order, by "ns/name" otherwise). */
export function diffServices(prev: ProxySyncState | undefined, next: readonly ServiceModel[]): { changed: Set<string>; json: string[] } {
  const json: string[] = new Array(next.length);
  const changed = new Set<string>();
  let aligned = prev !== undefined && prev.services.length === next.length;
  for (let i = 0; i < next.length; i++) {
    const s = next[i];
    const p = aligned ? prev!.services[i] : undefined;
    if (p === s) {
      json[i] = prev!.json[i];
      continue;
    }
    json[i] = JSON.stringify(s);
    if (p && p.namespace === s.namespace && p.name === s.name) {
      if (prev!.json[i] !== json[i]) changed.add(key(s));
    } else aligned = false;
  }
  if (!aligned) {
    changed.clear();
    const before = new Map<string, string>();
    prev?.services.forEach((s, i) => before.set(key(s), prev.json[i]));
    const after = new Set<string>();
    next.forEach((s, i) => {
      const k = key(s);
      after.add(k);
      if (before.get(k) !== json[i]) changed.add(k);
    });
    for (const k of before.keys()) if (!after.has(k)) changed.add(k);
  }
  return { changed, json };
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
  const { changed, json } = diff;
  full ||= prev === undefined;
  if (mode === "iptables") {
    if (full) {
      const { restore, state } = renderIptablesSync(node, services, "all", EMPTY_IPTABLES_STATE);
      return { argv: ["iptables-restore"], input: initialIptablesRestore(restore), changed, full, next: { services, json, iptables: state } };
    }
    const { restore, state } = renderIptablesSync(node, services, changed, prev!.iptables ?? EMPTY_IPTABLES_STATE);
    return { argv: ["iptables-restore", "--noflush"], input: restoreText(restore), changed, full, next: { services, json, iptables: state } };
  }
  const input = full ? renderNftables(node, services) : changed.size ? renderNftablesUpdate(node, prev!.services, services, {}, changed) : "";
  return { argv: ["nft", "-f", "-"], input, changed, full, next: { services, json } };
}
