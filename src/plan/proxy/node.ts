// A node's kube-proxy in the plan: the rules `up` loads once into a fresh node namespace
// (the runtime keeps them in sync afterwards), and the sysctls the mode needs.
import type { ClusterModel, NodeModel } from "../../model/types.js";
import { resolveServices, type ProxyNode, type ServiceModel } from "../../model/services.js";
import type { Step } from "../types.js";
import { iptablesJumps, renderIptables, type IptablesRuleset } from "./iptables.js";
import { renderNftables } from "./nftables.js";
import { renderIpvs } from "./ipvs.js";

export function proxyNode(m: ClusterModel, node: NodeModel): ProxyNode {
  return { name: node.name, ip: node.underlayIP, clusterCIDR: m.podCIDR };
}

/** Services as kube-proxy sees them when the lab comes up: pods without a readinessProbe count
 * as ready, pods with one start unready (the runtime's probes decide after that). */
export function initialServices(m: ClusterModel): ServiceModel[] {
  const probed = new Set(m.pods.filter((p) => p.containers.some((c) => c.readinessProbe)).map((p) => `${p.namespace}/${p.name}`));
  return resolveServices(m.services, m.pods, (ns, name) => !probed.has(`${ns}/${name}`));
}

/** The jumps from the built-in chains plus the full ruleset, as ONE iptables-restore input
 * for a fresh namespace (built-in chains get `-I` lines, as `iptables -I` would). */
export function initialIptablesRestore(r: Pick<IptablesRuleset, "filter" | "nat">, jumps: string[] = iptablesJumps()): string {
  const jumpsByTable = new Map<string, { chains: string[]; inserts: string[] }>();
  for (const line of jumps) {
    const m = /^-t (\S+) (-N|-I) (.*)$/.exec(line)!;
    const j = jumpsByTable.get(m[1]) ?? { chains: [], inserts: [] };
    if (m[2] === "-N") j.chains.push(m[3]);
    else j.inserts.push(`-I ${m[3]}`);
    jumpsByTable.set(m[1], j);
  }
  // Works on the texts as they are (the nat table of 10k Services is ~100k lines).
  const texts = new Map<string, string>();
  for (const text of [r.filter, r.nat]) if (text) texts.set(/^\*(\S+)/.exec(text)![1], text);
  let out = "";
  for (const t of ["mangle", "filter", "nat"]) {
    const text = texts.get(t) ?? `*${t}\nCOMMIT\n`;
    const j = jumpsByTable.get(t) ?? { chains: [], inserts: [] };
    // the table's chain declarations come first, then its rules, then COMMIT
    const start = text.indexOf("\n") + 1;
    let end = start;
    while (text.startsWith(":", end)) end = text.indexOf("\n", end) + 1;
    const decl = text.slice(start, end);
    const extra = j.chains.filter((c) => !decl.startsWith(`:${c} `) && !decl.includes(`\n:${c} `)).map((c) => `:${c} - [0:0]\n`).join("");
    if (!decl && !extra && !j.inserts.length) continue;
    const commit = text.lastIndexOf("COMMIT");
    out += `*${t}\n${decl}${extra}${text.slice(end, commit)}${j.inserts.map((l) => `${l}\n`).join("")}COMMIT\n`;
  }
  return out;
}

export function proxySysctls(m: ClusterModel): [string, string][] {
  // kube-proxy (iptables mode) sets route_localnet so NodePorts answer on 127.0.0.1.
  return m.proxy.mode === "iptables" ? [["net.ipv4.conf.all.route_localnet", "1"]] : [];
}

export function proxySteps(m: ClusterModel, node: NodeModel, services = initialServices(m)): Step[] {
  const pn = proxyNode(m, node);
  switch (m.proxy.mode) {
    case "iptables":
      return [{ kind: "restore", netns: node.netns, tool: "iptables-restore", input: initialIptablesRestore(renderIptables(pn, services)) }];
    case "nftables":
      return [{ kind: "restore", netns: node.netns, tool: "nft", input: renderNftables(pn, services) }];
    case "ipvs": {
      const r = renderIpvs(pn, services, { scheduler: m.proxy.ipvsScheduler });
      return [{
        kind: "sequence",
        netns: node.netns,
        steps: [
          { kind: "ip", netns: node.netns, lines: [`link add ${r.dummyLink.name} type dummy`, ...r.dummyLink.addresses.map((a) => `addr add ${a} dev ${r.dummyLink.name}`)] },
          { kind: "sysctl", netns: node.netns, values: r.sysctls },
          { kind: "restore", netns: node.netns, tool: "ipset", input: r.ipset },
          { kind: "restore", netns: node.netns, tool: "iptables-restore", input: initialIptablesRestore(r.iptables, r.iptables.jumps) },
          ...(r.ipvsadm ? [{ kind: "restore" as const, netns: node.netns, tool: "ipvsadm-restore" as const, input: r.ipvsadm }] : []),
        ],
      }];
    }
  }
}
