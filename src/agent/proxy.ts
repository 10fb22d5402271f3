// kube-proxy inside the lab runtime: keeps every node's ruleset in step with the Services'
// endpoints. A change rewrites only the Services that changed (iptables partial restore,
// nft update transaction); a periodic full sync repairs drift, as kube-proxy's does.
import { run } from "../kernel/exec.js";
import type { ClusterModel, NodeModel } from "../model/types.js";
import type { ServiceModel } from "../model/services.js";
import { chainsOf, renderIptables, renderIptablesPartial, restoreText } from "../plan/proxy/iptables.js";
import { renderNftables, renderNftablesUpdate } from "../plan/proxy/nftables.js";
import { proxyNode, proxySteps } from "../plan/proxy/node.js";
import { ipvsRestoreText, renderIpvs, renderIpvsDiff } from "../plan/proxy/ipvs.js";
import { applyStage } from "../kernel/apply.js";

interface NodeState {
  services: ServiceModel[];
  chains: Set<string>;
  /** Rules are loaded (up loads them when the lab has Services; else the first sync does). */
  loaded: boolean;
}

export interface SyncResult {
  node: string;
  changed: number;
  full: boolean;
  ms: number;
  error?: string;
}

const key = (s: ServiceModel) => `${s.namespace}/${s.name}`;

export function changedServices(prev: ServiceModel[], next: ServiceModel[]): Set<string> {
  const before = new Map(prev.map((s) => [key(s), JSON.stringify(s)]));
  const after = new Map(next.map((s) => [key(s), JSON.stringify(s)]));
  const changed = new Set<string>();
  for (const [k, v] of after) if (before.get(k) !== v) changed.add(k);
  for (const k of before.keys()) if (!after.has(k)) changed.add(k);
  return changed;
}

export class KubeProxy {
  private readonly nodes = new Map<string, NodeState>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private model: ClusterModel,
    initial: ServiceModel[],
    private readonly log: (line: string) => void,
  ) {
    const loaded = model.services.length > 0;
    for (const n of model.nodes) {
      const pn = proxyNode(model, n);
      this.nodes.set(n.name, {
        services: initial,
        chains: model.proxy.mode === "iptables" && loaded ? chainsOf(renderIptables(pn, initial)) : new Set(),
        loaded,
      });
    }
  }

  setModel(m: ClusterModel) {
    this.model = m;
  }

  /** Sync every node to `services`; `full` rewrites everything. Syncs are serialized. */
  sync(services: ServiceModel[], full = false): Promise<SyncResult[]> {
    const p = this.queue.then(() => Promise.all(this.model.nodes.map((n) => this.syncNode(n, services, full))));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async syncNode(node: NodeModel, services: ServiceModel[], full: boolean): Promise<SyncResult> {
    const st = this.nodes.get(node.name) ?? { services: [], chains: new Set<string>(), loaded: false };
    this.nodes.set(node.name, st);
    const t0 = Date.now();
    const pn = proxyNode(this.model, node);
    const changed = changedServices(st.services, services);
    if (!full && st.loaded && changed.size === 0) return { node: node.name, changed: 0, full, ms: 0 };
    try {
      if (!st.loaded) {
        // Never loaded (the lab had no Services at `up`): the plan's own first-load steps.
        await applyStage({ name: "kube-proxy rules", steps: proxySteps(this.model, node, services) });
        if (this.model.proxy.mode === "iptables") st.chains = chainsOf(renderIptables(pn, services));
      } else if (this.model.proxy.mode === "iptables") {
        const text = restoreText(renderIptablesPartial(pn, services, full ? "all" : changed, st.chains));
        await run("ip", ["netns", "exec", node.netns, "iptables-restore", "--noflush"], { input: text });
        st.chains = chainsOf(renderIptables(pn, services));
      } else if (this.model.proxy.mode === "nftables") {
        const text = full ? renderNftables(pn, services) : renderNftablesUpdate(pn, st.services, services);
        await run("ip", ["netns", "exec", node.netns, "nft", "-f", "-"], { input: text });
      } else {
        // IPVS: bind new VIPs, converge the ipsets and iptables rules (whole texts converge),
        // apply the virtual/real server diff, then unbind VIPs no longer used — kube-proxy's order.
        const opts = { scheduler: this.model.proxy.ipvsScheduler };
        const prev = renderIpvs(pn, full ? [] : st.services, opts);
        const next = renderIpvs(pn, services, opts);
        const d = renderIpvsDiff(prev, next);
        const ns = node.netns;
        if (d.bind.length) await run("ip", ["-n", ns, "-force", "-batch", "-"], { input: d.bind.map((a) => `addr replace ${a} dev kube-ipvs0`).join("\n") + "\n" });
        await run("ip", ["netns", "exec", ns, "ipset", "restore"], { input: next.ipset });
        await run("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], { input: ipvsRestoreText(next.iptables) });
        if (full) await run("ip", ["netns", "exec", ns, "ipvsadm-restore"], { input: next.ipvsadm });
        else if (d.ipvsadm) await run("ip", ["netns", "exec", ns, "ipvsadm", "-R"], { input: d.ipvsadm });
        if (d.unbind.length) await run("ip", ["-n", ns, "-force", "-batch", "-"], { input: d.unbind.map((a) => `addr del ${a} dev kube-ipvs0`).join("\n") + "\n" });
      }
      st.loaded = true;
      st.services = services;
      const r = { node: node.name, changed: changed.size, full, ms: Date.now() - t0 };
      if (changed.size || !full) this.log(`kube-proxy ${this.model.proxy.mode} sync on ${node.name}: ${full ? "full" : `${changed.size} service(s) changed`} in ${r.ms} ms`);
      return r;
    } catch (e) {
      const error = (e as Error).message;
      this.log(`kube-proxy sync on ${node.name} failed: ${error}`);
      return { node: node.name, changed: changed.size, full, ms: Date.now() - t0, error };
    }
  }
}
