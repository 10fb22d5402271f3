// kube-proxy inside the lab runtime: keeps every node's ruleset in step with the Services'
// endpoints. A change rewrites only the Services that changed (iptables partial restore,
// nft update transaction); a periodic full sync repairs drift, as kube-proxy's does.
import { run } from "../kernel/exec.js";
import type { ClusterModel, NodeModel } from "../model/types.js";
import type { ServiceModel } from "../model/services.js";
import { proxyNode, proxySteps } from "../plan/proxy/node.js";
import { diffServices, planProxySync, proxySyncState, type ProxySyncState } from "../plan/proxy/sync.js";
import { ipvsRestoreText, renderIpvs, renderIpvsDiff } from "../plan/proxy/ipvs.js";
import { nftListsTableFirst } from "../plan/proxy/nftables.js";
import { applyStage } from "../kernel/apply.js";
import { NftSession, NftSessionError } from "../kernel/nft-session.js";

interface NodeState {
  services: ServiceModel[];
  /** iptables/nftables: what the last sync left (src/plan/proxy/sync.ts). */
  sync?: ProxySyncState;
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

export function changedServices(prev: ServiceModel[], next: ServiceModel[]): Set<string> {
  return diffServices({ services: prev }, next).changed;
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
      const mode = model.proxy.mode;
      this.nodes.set(n.name, { services: initial, sync: loaded && mode !== "ipvs" ? proxySyncState(mode, pn, initial) : undefined, loaded });
    }
  }

  private cleanup?: NodeJS.Timeout;
  private latest: ServiceModel[] = [];

  /** nftables: delete what a partial sync only flushed, a second later (as kube-proxy does),
   * in a sync of its own (to the latest Services) — off the path of the change. */
  private scheduleCleanup() {
    if (this.cleanup) return;
    this.cleanup = setTimeout(() => {
      this.cleanup = undefined;
      void this.sync(this.latest);
    }, 1000);
    this.cleanup.unref();
  }

  setModel(m: ClusterModel) {
    this.model = m;
  }

  private readonly sessions = new Map<string, NftSession>();
  private nftSession(netns: string): NftSession {
    let s = this.sessions.get(netns);
    if (!s) this.sessions.set(netns, (s = new NftSession(netns)));
    return s;
  }

  /** Ends the nodes' long-running nft processes (nftables mode). */
  async close(): Promise<void> {
    if (this.cleanup) clearTimeout(this.cleanup);
    await Promise.all([...this.sessions.values()].map((s) => s.close()));
    this.sessions.clear();
  }

  /** Sync every node to `services`; `full` rewrites everything. Syncs are serialized. */
  sync(services: ServiceModel[], full = false): Promise<SyncResult[]> {
    this.latest = services;
    const p = this.queue.then(() => Promise.all(this.model.nodes.map((n) => this.syncNode(n, services, full))));
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async syncNode(node: NodeModel, services: ServiceModel[], full: boolean): Promise<SyncResult> {
    const st: NodeState = this.nodes.get(node.name) ?? { services: [], loaded: false };
    this.nodes.set(node.name, st);
    const t0 = Date.now();
    const pn = proxyNode(this.model, node);
    const mode = this.model.proxy.mode;
    const prev = st.loaded ? st.sync : undefined;
    const diff = mode === "ipvs" ? undefined : diffServices(prev, services);
    const changed = diff ? diff.changed : changedServices(st.services, services);
    const pending = prev?.nftPending?.length ?? 0;
    if (!full && st.loaded && changed.size === 0 && pending === 0) return { node: node.name, changed: 0, full, ms: 0 };
    try {
      if (mode !== "ipvs") {
        // The same step the Services bench times (scripts/bench-services.ts).
        const plan = planProxySync(mode, pn, prev, services, full, diff);
        if (plan.input && mode === "nftables" && !plan.full && !nftListsTableFirst(plan.input)) {
          // Small transactions (an endpoint change) through the node's long-running nft
          // (src/kernel/nft-session.ts); those that make nft list the table first (elements,
          // deletions: ~0.25 s at 10k anyway) run `nft -f`, so that nft keeps no big cache.
          await this.nftSession(node.netns).apply(plan.input).catch((e: unknown) => {
            // nft died or hung mid-transaction: whether it went in is unknown, so the next
            // sync of this node is a full one (it replaces the table atomically).
            if (e instanceof NftSessionError && e.ambiguous) st.sync = undefined;
            throw e;
          });
        } else if (plan.input) await run("ip", ["netns", "exec", node.netns, ...plan.argv], { input: plan.input });
        st.sync = plan.next;
        if (plan.next.nftPending?.length) this.scheduleCleanup();
      } else if (!st.loaded) {
        // Never loaded (the lab had no Services at `up`): the plan's own first-load steps.
        await applyStage({ name: "kube-proxy rules", steps: proxySteps(this.model, node, services) });
      } else {
        // IPVS: bind new VIPs, converge the ipsets and iptables rules (whole texts converge),
        // apply the virtual/real server diff, then unbind VIPs no longer used — kube-proxy's order.
        const opts = { scheduler: this.model.proxy.ipvsScheduler };
        const ns = node.netns;
        const next = renderIpvs(pn, services, opts);
        // A full sync diffs against the kernel's own table (`ipvsadm -S -n`), never clears it:
        // ipvsadm-restore empties the table first, and a connection to a VIP meanwhile reaches
        // no virtual server and is refused by the node itself.
        const prev = full
          ? { ...renderIpvs(pn, [], opts), ipvsadm: (await run("ip", ["netns", "exec", ns, "ipvsadm", "-S", "-n"])).stdout }
          : renderIpvs(pn, st.services, opts);
        const d = renderIpvsDiff(prev, next);
        if (d.bind.length) await run("ip", ["-n", ns, "-force", "-batch", "-"], { input: d.bind.map((a) => `addr replace ${a} dev kube-ipvs0`).join("\n") + "\n" });
        await run("ip", ["netns", "exec", ns, "ipset", "restore"], { input: next.ipset });
        await run("ip", ["netns", "exec", ns, "iptables-restore", "--noflush"], { input: ipvsRestoreText(next.iptables) });
        if (d.ipvsadm) await run("ip", ["netns", "exec", ns, "ipvsadm", "-R"], { input: d.ipvsadm });
        if (d.unbind.length) await run("ip", ["-n", ns, "-force", "-batch", "-"], { input: d.unbind.map((a) => `addr del ${a} dev kube-ipvs0`).join("\n") + "\n" });
      }
      st.loaded = true;
      st.services = services;
      const r = { node: node.name, changed: changed.size, full, ms: Date.now() - t0 };
      const what = full ? "full" : changed.size ? `${changed.size} service(s) changed` : `${pending} flushed chain(s)/set(s) deleted`;
      if (changed.size || !full) this.log(`kube-proxy ${this.model.proxy.mode} sync on ${node.name}: ${what} in ${r.ms} ms`);
      return r;
    } catch (e) {
      const error = (e as Error).message;
      this.log(`kube-proxy sync on ${node.name} failed: ${error}`);
      return { node: node.name, changed: changed.size, full, ms: Date.now() - t0, error };
    }
  }
}
