// kube-proxy's nftables mode, as one node's kube-proxy would program it (the layout of
// Kubernetes 1.33, pkg/proxy/nftables/proxier.go): everything lives in `table ip kube-proxy`;
// ClusterIPs, LoadBalancer IPs and NodePorts are dispatched by verdict maps (`service-ips`,
// `service-nodeports`) to per-service-port chains `service-<HASH>-ns/name/proto/port`, which
// pick an endpoint with `numgen random` and go to per-endpoint chains
// `endpoint-<HASH>-ns/name/proto/port__ip/port` that DNAT. Services without usable endpoints
// go in `no-endpoint-services` / `no-endpoint-nodeports` (reject, or drop for a Local traffic
// policy with no local endpoints), checked from the filter hooks.
//
// Pure: ServiceModel[] → text for `nft -f`. Two renderers:
//   renderNftables        the whole table, replaced atomically (add + delete + define, one
//                         transaction), like kube-proxy's first (full) sync;
//   renderNftablesUpdate  only what differs between two states, like kube-proxy's partial
//                         syncs: map/set elements added/deleted, the chains of changed services
//                         flushed and refilled, the chains and affinity sets of gone endpoints
//                         and services flushed and deleted;
//   renderNftablesSync    the same, as klab's runtime applies it: what is gone is flushed now
//                         and deleted by a later transaction (as kube-proxy does), chains are
//                         refilled with `add chain X { … }` — nft 1.0.6 lists the whole table's
//                         chains before an `add rule` or a `delete`, not before these.
//
// Where this differs from kube-proxy 1.33, and why:
// - The endpoint choice: kube-proxy writes one `numgen random mod N vmap { 0 : goto …, … }`
//   rule; here it is N-1 rules `numgen random mod K 0 goto …` (K = N, N-1, … 2) and a final
//   `goto`, the same uniform choice. Each anonymous vmap makes the kernel walk the whole
//   transaction when the rule binds it, so one transaction of 10k Services took 86 s (kube-proxy
//   meets this too: kubernetes#139328); without sets it takes ~2 s.
// - Base-chain priorities: kube-proxy writes `priority dstnat-10` / `dstnat+10` / `dstnat` on
//   every base chain. nft 1.0.6 (Debian 12) only accepts the `dstnat` name on the prerouting
//   hook ("invalid priority expression value in this context" on input/forward/output), so
//   there we write the same values as numbers (-110, -90, -100); the names stay where 1.0.6
//   takes them (filter-prerouting `dstnat - 10`, nat-prerouting, nat-postrouting). The
//   kernel holds the same priorities either way.
// - The masquerade mark is written `0x4000` (kube-proxy formats `%#08x`: `0x004000`; nft
//   lists both as `0x00004000`).
// - `--nodeport-addresses` is kube-proxy's nftables default ("primary"): the node's own IP, so
//   the `nodeport-ips` set holds ProxyNode.ip and NodePorts match `ip daddr @nodeport-ips`.
// - renderNftablesUpdate deletes stale chains in the same transaction that drops their last
//   reference. kube-proxy flushes them and deletes them a second later, because kernels before
//   6.2 released chain references from deleted map elements/anonymous vmaps asynchronously (the
//   fix is in every kernel klab targets); renderNftablesSync defers them too, for speed.
// - `cluster-ips-check`'s "drop traffic to unallocated ClusterIPs" rule needs the service
//   CIDRs (kube-proxy learns them from ServiceCIDR objects and omits the rule without them):
//   pass them in NftablesOptions.serviceCIDRs; ProxyNode does not carry them.
// - Not modelled (so never rendered): externalIPs, loadBalancerSourceRanges (the
//   `firewall-ips` map and `firewall-check` chain exist but stay empty, as in kube-proxy for
//   a cluster without source ranges), --masquerade-all, topology hints, terminating
//   endpoints, IPv6.
import { createHash } from "node:crypto";
import { servicePortInfo, usableEndpoints } from "./serviceport.js";
import type { EndpointModel, ProxyNode, ServiceModel, ServicePortModel } from "../../model/services.js";
import { servicePortName, servicesNamed } from "../../model/services.js";

export const NFT_FAMILY = "ip";
export const NFT_TABLE = "kube-proxy";
/** kube-proxy's default --masquerade-bit 14. */
export const MASQUERADE_MARK = "0x4000";

export interface NftablesOptions {
  /** Service CIDRs: traffic to an unallocated ClusterIP in them is dropped (cluster-ips-check). */
  serviceCIDRs?: string[];
}

// ---- names -------------------------------------------------------------------------------

// knftables.NameLengthMax (256) minus kube-proxy's longest chain-name prefix allowance (16).
const CHAIN_NAME_BASE_MAX = 256 - 16;

function base32(buf: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of buf) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** kube-proxy's hashAndTruncate: "<8 chars of base32(sha256(name))>-<name>", truncated with "...". */
export function hashAndTruncate(name: string): string {
  let out = hashed.get(name);
  if (out === undefined) {
    // Remembered between syncs: hashing dominated rendering at 10k Services.
    if (hashed.size >= 1 << 20) hashed.clear();
    const h = `${base32(createHash("sha256").update(name).digest()).slice(0, 8)}-${name}`;
    out = h.length > CHAIN_NAME_BASE_MAX ? `${h.slice(0, CHAIN_NAME_BASE_MAX - 3)}...` : h;
    hashed.set(name, out);
  }
  return out;
}
const hashed = new Map<string, string>();

/** "HASH-ns/name/proto/portName", e.g. "ULMVA6XW-ns1/svc1/tcp/p80". */
export function servicePortChainNameBase(svc: Pick<ServiceModel, "namespace" | "name">, port: Pick<ServicePortModel, "name" | "protocol">): string {
  return hashAndTruncate(`${svc.namespace}/${svc.name}/${port.protocol.toLowerCase()}/${port.name}`);
}

/** "HASH-ns/name/proto/portName__ip/port", e.g. "5OJB2KTY-ns1/svc1/tcp/p80__10.180.0.1/80". */
export function endpointChainNameBase(
  svc: Pick<ServiceModel, "namespace" | "name">,
  port: Pick<ServicePortModel, "name" | "protocol">,
  ep: Pick<EndpointModel, "ip" | "port">,
): string {
  return hashAndTruncate(`${svc.namespace}/${svc.name}/${port.protocol.toLowerCase()}/${port.name}__${ep.ip.replaceAll(":", ".")}/${ep.port}`);
}

// ---- the ruleset as data -----------------------------------------------------------------

interface BaseHook {
  type: "filter" | "nat";
  hook: "prerouting" | "input" | "forward" | "output" | "postrouting";
  priority: string;
}

interface Chain {
  name: string;
  base?: BaseHook;
  comment?: string;
  rules: string[];
}

interface Container {
  kind: "set" | "map";
  name: string;
  type: string;
  flags?: string[];
  timeout?: string;
  comment?: string;
}

interface Element {
  key: string;
  value?: string;
  comment?: string;
}

/** Everything one Service contributes (all its ports): the unit of a partial sync. */
interface ServiceFragment {
  /** "ns/name" */
  owner: string;
  /** One header comment per service port, in order. */
  ports: string[];
  sets: Container[];
  chains: Chain[];
  elements: Array<{ container: string; element: Element }>;
}

interface Ruleset {
  containers: Container[];
  /** Elements of the fixed containers that do not come from services (nodeport-ips). */
  fixedElements: Array<{ container: string; element: Element }>;
  chains: Chain[];
  services: ServiceFragment[];
}

// Fixed object names (proxier.go constants).
const C = {
  filterPrerouting: "filter-prerouting",
  filterInput: "filter-input",
  filterForward: "filter-forward",
  filterOutput: "filter-output",
  filterOutputPostDNAT: "filter-output-post-dnat",
  natPrerouting: "nat-prerouting",
  natOutput: "nat-output",
  natPostrouting: "nat-postrouting",
  services: "services",
  serviceIPs: "service-ips",
  serviceNodePorts: "service-nodeports",
  nodePortIPs: "nodeport-ips",
  clusterIPs: "cluster-ips",
  serviceEndpointsCheck: "service-endpoints-check",
  nodePortEndpointsCheck: "nodeport-endpoints-check",
  noEndpointServices: "no-endpoint-services",
  noEndpointNodePorts: "no-endpoint-nodeports",
  rejectChain: "reject-chain",
  clusterIPsCheck: "cluster-ips-check",
  firewallIPs: "firewall-ips",
  firewallCheck: "firewall-check",
  markMasq: "mark-for-masquerade",
  masquerading: "masquerading",
} as const;

// kube-proxy: DNATPriority-10 for the filter chains (filter on pre-DNAT addresses),
// DNATPriority+10 for filter-output-post-dnat, DNATPriority / SNATPriority for nat.
// Numbers where nft 1.0.6 refuses the `dstnat` name on that hook (see the header).
const BASE_CHAINS: Array<{ name: string; base: BaseHook }> = [
  { name: C.filterPrerouting, base: { type: "filter", hook: "prerouting", priority: "dstnat - 10" } },
  { name: C.filterInput, base: { type: "filter", hook: "input", priority: "-110" } },
  { name: C.filterForward, base: { type: "filter", hook: "forward", priority: "-110" } },
  { name: C.filterOutput, base: { type: "filter", hook: "output", priority: "-110" } },
  { name: C.filterOutputPostDNAT, base: { type: "filter", hook: "output", priority: "-90" } },
  { name: C.natPrerouting, base: { type: "nat", hook: "prerouting", priority: "dstnat" } },
  { name: C.natOutput, base: { type: "nat", hook: "output", priority: "-100" } },
  { name: C.natPostrouting, base: { type: "nat", hook: "postrouting", priority: "srcnat" } },
];

// proxier.go nftablesJumpChains, in order: [destination, source, match].
const JUMP_CHAINS: Array<[string, string, string]> = [
  [C.nodePortEndpointsCheck, C.filterInput, "ct state new"],
  [C.serviceEndpointsCheck, C.filterInput, "ct state new"],
  [C.serviceEndpointsCheck, C.filterForward, "ct state new"],
  [C.serviceEndpointsCheck, C.filterOutput, "ct state new"],
  [C.firewallCheck, C.filterPrerouting, "ct state new"],
  [C.firewallCheck, C.filterOutput, "ct state new"],
  [C.services, C.natOutput, ""],
  [C.services, C.natPrerouting, ""],
  [C.masquerading, C.natPostrouting, ""],
  [C.clusterIPsCheck, C.filterForward, "ct state new"],
  [C.clusterIPsCheck, C.filterOutputPostDNAT, "ct state new"],
];

const ADDR = "ipv4_addr";
const SERVICE_MAP_TYPE = `${ADDR} . inet_proto . inet_service : verdict`;
const NODEPORT_MAP_TYPE = "inet_proto . inet_service : verdict";

/** The sets and maps that hold service elements, in the order they are declared. */
const CONTAINERS: Container[] = [
  { kind: "set", name: C.clusterIPs, type: ADDR, comment: "Active ClusterIPs" },
  { kind: "set", name: C.nodePortIPs, type: ADDR, comment: "IPs that accept NodePort traffic" },
  { kind: "map", name: C.noEndpointServices, type: SERVICE_MAP_TYPE, comment: "vmap to drop or reject packets to services with no endpoints" },
  { kind: "map", name: C.noEndpointNodePorts, type: NODEPORT_MAP_TYPE, comment: "vmap to drop or reject packets to service nodeports with no endpoints" },
  { kind: "map", name: C.firewallIPs, type: SERVICE_MAP_TYPE, comment: "destinations that are subject to LoadBalancerSourceRanges" },
  { kind: "map", name: C.serviceIPs, type: SERVICE_MAP_TYPE, comment: "ClusterIP, ExternalIP and LoadBalancer IP traffic" },
  { kind: "map", name: C.serviceNodePorts, type: NODEPORT_MAP_TYPE, comment: "NodePort traffic" },
];

function nodeIPs(node: ProxyNode): string[] {
  return node.ip.split(/[\s,]+/).filter((ip) => ip !== "" && !ip.startsWith("127."));
}

function fixedChains(opts: NftablesOptions): Chain[] {
  const chains = new Map<string, Chain>();
  const ensure = (name: string, extra: Partial<Chain> = {}) => {
    let c = chains.get(name);
    if (!c) chains.set(name, (c = { name, rules: [], ...extra }));
    return c;
  };
  for (const b of BASE_CHAINS) ensure(b.name, { base: b.base });
  for (const [dst, src, match] of JUMP_CHAINS) {
    ensure(dst);
    ensure(src).rules.push(`${match ? `${match} ` : ""}jump ${dst}`);
  }
  for (const name of [C.services, C.clusterIPsCheck, C.masquerading, C.markMasq]) ensure(name);

  ensure(C.markMasq).rules.push(`mark set mark or ${MASQUERADE_MARK}`);
  ensure(C.masquerading).rules.push(`mark and ${MASQUERADE_MARK} == 0 return`, `mark set mark xor ${MASQUERADE_MARK}`, "masquerade fully-random");

  ensure(C.clusterIPsCheck).rules.push(`ip daddr @${C.clusterIPs} reject comment "Reject traffic to invalid ports of ClusterIPs"`);
  const cidrs = opts.serviceCIDRs ?? [];
  if (cidrs.length > 0) ensure(C.clusterIPsCheck).rules.push(`ip daddr { ${cidrs.join(", ")} } drop comment "Drop traffic to unallocated ClusterIPs"`);

  ensure(C.rejectChain, { comment: "helper for @no-endpoint-services / @no-endpoint-nodeports" }).rules.push("reject");
  ensure(C.serviceEndpointsCheck).rules.push(`ip daddr . meta l4proto . th dport vmap @${C.noEndpointServices}`);
  ensure(C.nodePortEndpointsCheck).rules.push(`ip daddr @${C.nodePortIPs} meta l4proto . th dport vmap @${C.noEndpointNodePorts}`);
  ensure(C.firewallCheck).rules.push(`ip daddr . meta l4proto . th dport vmap @${C.firewallIPs}`);
  ensure(C.services).rules.push(
    `ip daddr . meta l4proto . th dport vmap @${C.serviceIPs}`,
    `ip daddr @${C.nodePortIPs} meta l4proto . th dport vmap @${C.serviceNodePorts}`,
  );
  return [...chains.values()];
}

function compareEndpoints(a: EndpointModel, b: EndpointModel): number {
  // kube-proxy sorts a service port's endpoints by their "ip:port" string.
  const x = `${a.ip}:${a.port}`;
  const y = `${b.ip}:${b.port}`;
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The Services kube-proxy programs: not ExternalName, not headless. */
function proxied(services: readonly ServiceModel[]): ServiceModel[] {
  return services
    .filter((s) => s.type !== "ExternalName" && s.clusterIP !== null && s.clusterIP !== "" && s.clusterIP !== "None")
    .sort((a, b) => (a.namespace === b.namespace ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.namespace < b.namespace ? -1 : 1));
}

function renderService(node: ProxyNode, svc: ServiceModel): ServiceFragment {
  const frag: ServiceFragment = { owner: `${svc.namespace}/${svc.name}`, ports: [], sets: [], chains: [], elements: [] };
  const clusterIP = svc.clusterIP as string;
  const localDetector = node.clusterCIDR !== "";
  // apiservice.ExternallyAccessible / ExternalPolicyLocal (no externalIPs in the model).
  const serviceExternallyAccessible = svc.type === "NodePort" || svc.type === "LoadBalancer";
  const externalPolicyLocal = serviceExternallyAccessible && svc.externalTrafficPolicy === "Local";
  const internalPolicyLocal = svc.internalTrafficPolicy === "Local";
  const affinity = svc.sessionAffinity === "ClientIP";
  const lbVIPs = svc.type === "LoadBalancer" && svc.loadBalancerIP ? [svc.loadBalancerIP] : [];
  const elem = (container: string, key: string, value?: string, comment?: string) =>
    frag.elements.push({ container, element: { key, value, comment } });

  for (const port of svc.ports) {
    const proto = port.protocol.toLowerCase();
    const spn = servicePortName(svc, port);
    frag.ports.push(`${spn} ${proto}/${port.port}`);
    const base = servicePortChainNameBase(svc, port);
    const clusterPolicyChain = `service-${base}`;
    const localPolicyChain = `local-${base}`;
    const externalChain = `external-${base}`;
    const { nodePort, externallyAccessible, usesClusterEndpoints, usesLocalEndpoints } = servicePortInfo(svc, port);
    const endpoints = usableEndpoints(svc, port).sort(compareEndpoints);
    const epBase = new Map(endpoints.map((ep) => [ep, endpointChainNameBase(svc, port, ep)]));
    const epChain = (ep: EndpointModel) => `endpoint-${epBase.get(ep)!}`;
    const epAffinitySet = (ep: EndpointModel) => `affinity-${epBase.get(ep)!}`;

    // proxy.CategorizeEndpoints without topology or terminating endpoints.
    let clusterEndpoints: EndpointModel[] = [];
    let localEndpoints: EndpointModel[] = [];
    let hasEndpoints = false;
    if (usesClusterEndpoints) {
      clusterEndpoints = endpoints;
      hasEndpoints = endpoints.length > 0;
    }
    let reachable = clusterEndpoints;
    if (usesLocalEndpoints) {
      if (endpoints.length > 0) hasEndpoints = true;
      localEndpoints = endpoints.filter((ep) => ep.node === node.name);
      if (!usesClusterEndpoints) reachable = localEndpoints;
    }

    const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints;
    const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints;
    const internalTrafficChain = internalPolicyLocal ? localPolicyChain : clusterPolicyChain;
    const hasInternalEndpoints = hasEndpoints && !(internalPolicyLocal && localEndpoints.length === 0);
    const externalPolicyChain = externalPolicyLocal ? localPolicyChain : clusterPolicyChain;
    const hasExternalEndpoints = hasEndpoints && !(externalPolicyLocal && localEndpoints.length === 0);
    const usesExternalTrafficChain = hasEndpoints && externallyAccessible;

    let internalVerdict = "";
    let externalVerdict = "";
    if (!hasEndpoints) {
      internalVerdict = externalVerdict = `goto ${C.rejectChain}`;
    } else {
      if (!hasInternalEndpoints) internalVerdict = "drop";
      if (!hasExternalEndpoints) externalVerdict = "drop";
    }

    // Elements, in kube-proxy's order: ClusterIP, LoadBalancer IPs, NodePort.
    const svcKey = (ip: string) => `${ip} . ${proto} . ${port.port}`;
    elem(C.clusterIPs, clusterIP);
    if (hasInternalEndpoints) elem(C.serviceIPs, svcKey(clusterIP), `goto ${internalTrafficChain}`);
    else elem(C.noEndpointServices, svcKey(clusterIP), internalVerdict, spn);
    for (const lbip of lbVIPs) if (hasEndpoints) elem(C.serviceIPs, svcKey(lbip), `goto ${externalChain}`);
    if (!hasExternalEndpoints) for (const lbip of lbVIPs) elem(C.noEndpointServices, svcKey(lbip), externalVerdict, spn);
    if (nodePort !== 0) {
      if (hasEndpoints) elem(C.serviceNodePorts, `${proto} . ${nodePort}`, `goto ${externalChain}`);
      if (!hasExternalEndpoints) elem(C.noEndpointNodePorts, `${proto} . ${nodePort}`, externalVerdict, spn);
    }

    // Chains.
    const chains = new Map<string, Chain>();
    const chain = (name: string) => {
      let c = chains.get(name);
      if (!c) chains.set(name, (c = { name, rules: [] }));
      return c;
    };
    if (usesClusterPolicyChain) chain(clusterPolicyChain);
    if (usesLocalPolicyChain) chain(localPolicyChain);
    if (usesExternalTrafficChain) chain(externalChain);

    // Masquerade off-cluster traffic to the ClusterIP (kube-proxy 1.33 still matches the
    // protocol and port here; 1.34 dropped that as redundant).
    if (hasInternalEndpoints && localDetector) {
      chain(internalTrafficChain).rules.push(`ip daddr ${clusterIP} ${proto} dport ${port.port} ip saddr != ${node.clusterCIDR} jump ${C.markMasq}`);
    }

    if (usesExternalTrafficChain) {
      const ext = chain(externalChain);
      if (!externalPolicyLocal) {
        // Endpoints may be on other nodes: masquerade so replies come back through us.
        ext.rules.push(`jump ${C.markMasq}`);
      } else {
        if (localDetector) ext.rules.push(`ip saddr ${node.clusterCIDR} goto ${clusterPolicyChain} comment "short-circuit pod traffic"`);
        ext.rules.push(`fib saddr type local jump ${C.markMasq} comment "masquerade local traffic"`);
        ext.rules.push(`fib saddr type local goto ${clusterPolicyChain} comment "short-circuit local traffic"`);
      }
      if (hasExternalEndpoints) ext.rules.push(`goto ${externalPolicyChain}`);
    }

    if (affinity) {
      for (const ep of reachable) {
        frag.sets.push({ kind: "set", name: epAffinitySet(ep), type: ADDR, flags: ["dynamic", "timeout"], timeout: `${svc.affinityTimeoutSeconds}s` });
      }
    }

    const writeServiceToEndpointRules = (svcChain: string, eps: EndpointModel[]) => {
      const c = chain(svcChain);
      if (affinity) for (const ep of eps) c.rules.push(`ip saddr @${epAffinitySet(ep)} goto ${epChain(ep)}`);
      // kube-proxy writes one `numgen random mod N vmap { 0 : goto …, … }`; its anonymous map
      // costs the kernel a walk of the whole transaction when the rule binds it
      // (__nft_set_trans_bind), so a full sync of 10k Services took 86 s. The same uniform
      // choice as a chain of coin tosses, 1/N then 1/(N-1) … (the iptables mode's statistic
      // rules), binds no set.
      eps.forEach((ep, i) => c.rules.push(i < eps.length - 1 ? `numgen random mod ${eps.length - i} 0 goto ${epChain(ep)}` : `goto ${epChain(ep)}`));
    };
    if (usesClusterPolicyChain) writeServiceToEndpointRules(clusterPolicyChain, clusterEndpoints);
    if (usesLocalPolicyChain) writeServiceToEndpointRules(localPolicyChain, localEndpoints);

    for (const ep of reachable) {
      const c = chain(epChain(ep));
      c.rules.push(`ip saddr ${ep.ip} jump ${C.markMasq}`); // hairpin: a pod reaching itself
      if (affinity) c.rules.push(`update @${epAffinitySet(ep)} { ip saddr }`);
      c.rules.push(`meta l4proto ${proto} dnat to ${ep.ip}:${ep.port}`);
    }
    frag.chains.push(...chains.values());
  }
  return frag;
}

function buildRuleset(node: ProxyNode, services: readonly ServiceModel[], opts: NftablesOptions): Ruleset {
  return {
    containers: CONTAINERS,
    fixedElements: nodeIPs(node).map((ip) => ({ container: C.nodePortIPs, element: { key: ip } })),
    chains: fixedChains(opts),
    services: proxied(services).map((svc) => renderService(node, svc)),
  };
}

// ---- text --------------------------------------------------------------------------------

const T = `${NFT_FAMILY} ${NFT_TABLE}`;

function elementText(e: Element): string {
  return `${e.key}${e.comment !== undefined ? ` comment ${JSON.stringify(e.comment)}` : ""}${e.value !== undefined ? ` : ${e.value}` : ""}`;
}

function containerBody(c: Container): string[] {
  const lines = [`type ${c.type}`];
  if (c.flags?.length) lines.push(`flags ${c.flags.join(",")}`);
  if (c.timeout) lines.push(`timeout ${c.timeout}`);
  if (c.comment) lines.push(`comment ${JSON.stringify(c.comment)}`);
  return lines;
}

function chainHeader(c: Chain): string[] {
  const lines: string[] = [];
  if (c.base) lines.push(`type ${c.base.type} hook ${c.base.hook} priority ${c.base.priority}; policy accept;`);
  if (c.comment) lines.push(`comment ${JSON.stringify(c.comment)}`);
  return lines;
}

/** Elements of every container, deduplicated by (container, key), in first-seen order. */
function collectElements(rs: Ruleset): Map<string, Map<string, Element>> {
  const out = new Map<string, Map<string, Element>>(rs.containers.map((c) => [c.name, new Map()]));
  const all = [...rs.fixedElements, ...rs.services.flatMap((s) => s.elements)];
  for (const { container, element } of all) {
    const m = out.get(container)!;
    if (!m.has(element.key)) m.set(element.key, element);
  }
  return out;
}

function header(node: ProxyNode, what: string): string[] {
  return [
    `# kube-proxy nftables mode (Kubernetes 1.33 layout), node ${node.name}: ${what}.`,
    "# Rendered by klab (src/plan/proxy/nftables.ts); apply with: nft -f FILE",
  ];
}

/**
 * The whole `ip kube-proxy` table for one node, as one `nft -f` transaction that replaces
 * the table atomically (`add table` so that `delete table` cannot fail, then the definition).
 */
export function renderNftables(node: ProxyNode, services: readonly ServiceModel[], opts: NftablesOptions = {}): string {
  const i1 = "\t";
  const i2 = "\t\t";
  const i3 = "\t\t\t";
  const containerLines = (out: string[], c: Container, elems: Element[]) => {
    out.push("", `${i1}${c.kind} ${c.name} {`, ...containerBody(c).map((l) => i2 + l));
    if (elems.length > 0) {
      out.push(`${i2}elements = {`);
      elems.forEach((e, i) => out.push(`${i3}${elementText(e)}${i < elems.length - 1 ? "," : ""}`));
      out.push(`${i2}}`);
    }
    out.push(`${i1}}`);
  };
  const chainLines = (out: string[], c: Chain) => {
    out.push("", `${i1}chain ${c.name} {`, ...chainHeader(c).map((l) => i2 + l), ...c.rules.map((r) => i2 + r), `${i1}}`);
  };

  // Each Service is rendered and turned into its text block at once, its elements kept for
  // the maps at the top: at 10k Services, keeping 200k rule strings alive until the end made
  // garbage collection half of the rendering.
  const elements = new Map<string, Map<string, Element>>(CONTAINERS.map((c) => [c.name, new Map()]));
  const addElement = ({ container, element }: { container: string; element: Element }) => {
    const m = elements.get(container)!;
    if (!m.has(element.key)) m.set(element.key, element);
  };
  nodeIPs(node).forEach((ip) => addElement({ container: C.nodePortIPs, element: { key: ip } }));
  const blocks: string[] = [];
  for (const svc of proxied(services)) {
    const s = renderService(node, svc);
    s.elements.forEach(addElement);
    if (s.sets.length === 0 && s.chains.length === 0) {
      blocks.push(`\n${i1}# ${s.owner}: no chains (${s.ports.join("; ")})`);
      continue;
    }
    const lines = ["", `${i1}# ${s.owner} (${s.ports.join("; ")})`];
    for (const set of s.sets) containerLines(lines, set, []);
    for (const c of s.chains) chainLines(lines, c);
    blocks.push(lines.join("\n"));
  }

  const out: string[] = [...header(node, "full ruleset, replaces the table atomically"), "", `add table ${T}`, `delete table ${T}`, "", `table ${T} {`];
  out.push(`${i1}comment "rules for kube-proxy"`);
  for (const c of CONTAINERS) containerLines(out, c, [...elements.get(c.name)!.values()]);
  for (const c of fixedChains(opts)) chainLines(out, c);
  for (const b of blocks) out.push(b);
  out.push("}", "");
  return out.join("\n");
}

/** Whether nft 1.0.6 lists every chain of the table before running `script` (it does before any
 * `add element`, `delete …` or `add rule`; not before `add chain`, `flush chain` or `add set`):
 * at 10k Services that listing is ~0.25 s and ~25 MB that a long-running nft would keep. */
export function nftListsTableFirst(script: string): boolean {
  return /^(add element|delete |add rule)/m.test(script);
}

/** An `nft -f` script as one line for `nft -i`, which runs a line as one transaction: the
 * commands joined with "; ", comment and blank lines left out. Every command klab writes for a
 * transaction fits on one line (sets and chains with their bodies in braces). */
export function nftTransactionLine(script: string): string {
  return script
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .join("; ");
}

function fragmentKey(f: ServiceFragment | undefined): string {
  return f === undefined ? "" : JSON.stringify([f.sets, f.chains, f.elements]);
}

/**
 * An incremental `nft -f` transaction taking a node's table from `prev` to `next` (which must
 * be what is loaded now, e.g. from renderNftables(node, prev)), touching only what differs —
 * kube-proxy's partial sync. Map and set elements are diffed one by one (a changed value is
 * deleted and re-added); the chains of a Service whose rendering changed are flushed and
 * refilled; chains and affinity sets that no longer exist are flushed and deleted (after the
 * elements and rules that referenced them). Unchanged Services are not mentioned at all, so
 * their affinity sets keep their entries. Returns only comments when nothing differs.
 * `changed`, when given, must include every Service that differs between `prev` and `next`.
 */
export function renderNftablesUpdate(
  node: ProxyNode,
  prev: readonly ServiceModel[],
  next: readonly ServiceModel[],
  opts: NftablesOptions = {},
  changedServices?: ReadonlySet<string>,
): string {
  return update(node, prev, next, opts, changedServices).text;
}

/**
 * The update klab's runtime applies (src/plan/proxy/sync.ts): renderNftablesUpdate, except
 * that chains and affinity sets that are gone are flushed or left, not deleted — they are
 * returned as `pending` ("chain NAME", "set NAME") and deleted by a later transaction, as
 * kube-proxy does — and that chains are refilled as `add chain X { rule; … }`. Both because
 * nft 1.0.6 lists every chain of the table (40k chains at 10k Services: ~0.2 s) before any
 * `add rule` or `delete`, but not before `add chain` or `flush chain`. `deleteNow` deletes the
 * pending ones of earlier syncs in this transaction (a cleanup); otherwise they carry over. A
 * name in use again is never pending.
 */
export function renderNftablesSync(
  node: ProxyNode,
  prev: readonly ServiceModel[],
  next: readonly ServiceModel[],
  changedServices: ReadonlySet<string>,
  pending: readonly string[],
  deleteNow: boolean,
  opts: NftablesOptions = {},
): { text: string; pending: string[] } {
  return update(node, prev, next, opts, changedServices, { pending, deleteNow });
}

function update(
  node: ProxyNode,
  prev: readonly ServiceModel[],
  next: readonly ServiceModel[],
  opts: NftablesOptions,
  changedServices?: ReadonlySet<string>,
  defer?: { pending: readonly string[]; deleteNow: boolean },
): { text: string; pending: string[] } {
  // Told which Services changed ("ns/name"), render only those: the others add nothing to the
  // diff (no two Services share a map key), and rendering all 10k twice cost seconds.
  const only = (ss: readonly ServiceModel[]) => (changedServices ? servicesNamed(ss, changedServices) : ss);
  const a = buildRuleset(node, only(prev), opts);
  const b = buildRuleset(node, only(next), opts);
  const out: string[] = [...header(node, "partial sync")];

  // Which Services changed (added, removed or rendered differently).
  const aBy = new Map(a.services.map((s) => [s.owner, s]));
  const bBy = new Map(b.services.map((s) => [s.owner, s]));
  const owners = [...new Set([...aBy.keys(), ...bBy.keys()])].sort();
  const changed = owners.filter((o) => fragmentKey(aBy.get(o)) !== fragmentKey(bBy.get(o)));
  if (changed.length > 0) out.push(`# changed services: ${changed.join(", ")}`);

  const aChains = new Map(a.services.flatMap((s) => s.chains).map((c) => [c.name, c]));
  const bChains = new Map(b.services.flatMap((s) => s.chains).map((c) => [c.name, c]));
  const aSets = new Map(a.services.flatMap((s) => s.sets).map((c) => [c.name, c]));
  const bSets = new Map(b.services.flatMap((s) => s.sets).map((c) => [c.name, c]));
  const sameSet = (x: Container, y: Container) => JSON.stringify(x) === JSON.stringify(y);

  const aElems = collectElements(a);
  const bElems = collectElements(b);
  const gone: string[] = [];
  const inUse = new Set<string>();
  const lines = {
    deleteElements: [] as string[],
    flush: [] as string[],
    deleteChains: [] as string[],
    deleteSets: [] as string[],
    addSets: [] as string[],
    addChains: [] as string[],
    rules: [] as string[],
    addElements: [] as string[],
  };

  for (const c of b.containers) {
    const before = aElems.get(c.name)!;
    const after = bElems.get(c.name)!;
    for (const [key, e] of before) {
      const now = after.get(key);
      if (now === undefined || elementText(now) !== elementText(e)) lines.deleteElements.push(`delete element ${T} ${c.name} { ${key} }`);
    }
    for (const [key, e] of after) {
      const was = before.get(key);
      if (was === undefined || elementText(was) !== elementText(e)) lines.addElements.push(`add element ${T} ${c.name} { ${elementText(e)} }`);
    }
  }

  for (const owner of changed) {
    const before = aBy.get(owner);
    const after = bBy.get(owner);
    for (const c of before?.chains ?? []) {
      lines.flush.push(`flush chain ${T} ${c.name}`);
      if (bChains.has(c.name)) continue;
      if (defer) gone.push(`chain ${c.name}`);
      else lines.deleteChains.push(`delete chain ${T} ${c.name}`);
    }
    for (const s of before?.sets ?? []) {
      const keep = bSets.get(s.name);
      // (a set whose type or timeout changed cannot wait: it is deleted and added again)
      if (keep === undefined && defer) gone.push(`set ${s.name}`);
      else if (keep === undefined || !sameSet(keep, s)) lines.deleteSets.push(`delete set ${T} ${s.name}`);
    }
    for (const s of after?.sets ?? []) {
      inUse.add(`set ${s.name}`);
      const had = aSets.get(s.name);
      // Deferred form: declared again even when unchanged (a no-op that keeps its entries), so
      // that nft knows the `@set` the refilled chains name without listing the table.
      if (had === undefined || !sameSet(had, s) || defer) lines.addSets.push(`add set ${T} ${s.name} { ${containerBody(s).join(" ; ")} ; }`);
    }
    for (const c of after?.chains ?? []) {
      inUse.add(`chain ${c.name}`);
      // (created first, empty: the refilled chains may go to one created in the same transaction)
      if (!aChains.has(c.name)) lines.addChains.push(`add chain ${T} ${c.name}`);
      if (defer) {
        if (c.rules.length) lines.rules.push(`add chain ${T} ${c.name} { ${c.rules.join("; ")}; }`);
      } else for (const r of c.rules) lines.rules.push(`add rule ${T} ${c.name} ${r}`);
    }
  }

  // Deferred deletions: the earlier ones now (a cleanup) or later, with this sync's.
  let pending: string[] = [];
  if (defer) {
    const earlier = defer.pending.filter((p) => !inUse.has(p));
    if (defer.deleteNow) {
      for (const p of earlier) (p.startsWith("chain ") ? lines.deleteChains : lines.deleteSets).push(`delete ${p.replace(" ", ` ${T} `)}`);
    } else pending = earlier;
    pending = [...new Set([...pending, ...gone.filter((p) => !inUse.has(p))])];
  }

  const section = (title: string, ls: string[]) => {
    if (ls.length > 0) out.push("", `# ${title}`, ...ls);
  };
  section("1. drop elements that are gone or change value", lines.deleteElements);
  section("2. flush the chains of changed services (drops their references)", lines.flush);
  section(defer ? "3. delete chains and affinity sets left by earlier syncs" : "3. delete chains and affinity sets that are gone", [...lines.deleteChains, ...lines.deleteSets]);
  section("4. create new affinity sets and chains", [...lines.addSets, ...lines.addChains]);
  section("5. refill the chains of changed services", lines.rules);
  section("6. add new and changed elements", lines.addElements);
  if (defer && pending.length) out.push("", `# left for a later transaction: ${pending.length} chain(s)/set(s), flushed and unreferenced`);
  out.push("");
  return { text: out.join("\n"), pending };
}

/** Names of the chains a rendered script defines or adds (`chain X {` / `add chain ip kube-proxy X`). */
export function nftablesChainNames(script: string): string[] {
  const names: string[] = [];
  for (const line of script.split("\n")) {
    const m = /^\s*chain (\S+) \{/.exec(line) ?? /^add chain \S+ \S+ (\S+)/.exec(line);
    if (m) names.push(m[1]);
  }
  return names;
}
