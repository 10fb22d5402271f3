// LoadBalancer addresses announced MetalLB layer-2 style: for each address one healthy node
// (chosen by a stable hash, so the choice is the same from every run) holds it on eth0 and
// answers ARP for it; when that node goes down another takes over and sends gratuitous ARP
// so neighbours update their caches at once.
import { createHash } from "node:crypto";
import { run } from "../kernel/exec.js";
import type { ClusterModel } from "../model/types.js";
import type { ServiceModel } from "../model/services.js";

export function announcingNode(ip: string, candidates: string[]): string | undefined {
  const score = (n: string) => createHash("sha256").update(`${n}#${ip}`).digest("hex");
  return [...candidates].sort((a, b) => score(a).localeCompare(score(b)))[0];
}

/** Which node announces which address, given node health and the Services' endpoints. */
export function electSpeakers(m: ClusterModel, services: ServiceModel[], healthy: Set<string>): Map<string, string> {
  const out = new Map<string, string>();
  for (const s of services) {
    if (s.type !== "LoadBalancer" || !s.loadBalancerIP) continue;
    let candidates = m.nodes.map((n) => n.name).filter((n) => healthy.has(n));
    if (s.externalTrafficPolicy === "Local") {
      // Only nodes with a ready local endpoint may announce (MetalLB does the same).
      const local = new Set(Object.values(s.endpoints).flat().filter((e) => e.ready || s.publishNotReadyAddresses).map((e) => e.node));
      candidates = candidates.filter((n) => local.has(n));
    }
    const node = announcingNode(s.loadBalancerIP, candidates);
    if (node) out.set(s.loadBalancerIP, node);
  }
  return out;
}

export class Speaker {
  private current = new Map<string, string>();
  constructor(private model: ClusterModel, private readonly log: (l: string) => void) {}

  setModel(m: ClusterModel) {
    this.model = m;
  }

  holders(): Map<string, string> {
    return new Map(this.current);
  }

  async reconcile(services: ServiceModel[], healthy: Set<string>): Promise<void> {
    const want = electSpeakers(this.model, services, healthy);
    const netns = (node: string) => this.model.nodes.find((n) => n.name === node)?.netns;
    for (const [ip, node] of this.current) {
      if (want.get(ip) === node) continue;
      const ns = netns(node);
      if (ns) await run("ip", ["-n", ns, "addr", "del", `${ip}/32`, "dev", "eth0"], { reject: false });
      this.current.delete(ip);
      this.log(`speaker: ${ip} withdrawn from ${node}`);
    }
    for (const [ip, node] of want) {
      if (this.current.get(ip) === node) continue;
      const ns = netns(node)!;
      const t0 = Date.now();
      await run("ip", ["-n", ns, "addr", "replace", `${ip}/32`, "dev", "eth0"], { reject: false });
      // Gratuitous ARP (unsolicited, -U): neighbours with a cached MAC for the address update it.
      // arping sends at once, then lingers until its deadline: do not wait for it.
      void run("ip", ["netns", "exec", ns, "arping", "-q", "-U", "-c", "1", "-w", "1", "-I", "eth0", ip], { reject: false, timeoutMs: 3000 });
      this.current.set(ip, node);
      this.log(`speaker: ${ip} announced by ${node} (address added and gratuitous ARP sent in ${Date.now() - t0} ms)`);
    }
  }
}
