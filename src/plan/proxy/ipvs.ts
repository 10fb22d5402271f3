// kube-proxy's IPVS mode as a pure renderer: Services + endpoints → everything one node's
// kube-proxy (1.29+, --proxy-mode=ipvs) programs, as texts the standard tools take:
//
//   dummyLink  the `kube-ipvs0` dummy interface and the /32 addresses kube-proxy binds there
//              (every ClusterIP, every LoadBalancer IP that is not already a node address), so
//              the kernel treats service VIPs as local and IPVS (hooked at LOCAL_IN) sees them;
//   ipvsadm    one virtual server per ClusterIP:port, LB-IP:port and node-address:nodePort,
//              `-s <scheduler>` (`-p <timeout>` for ClientIP affinity, `-b mh-port` for "mh"),
//              with one masquerading real server per endpoint (`-m -w 1`), in ipvsadm-save's
//              syntax: input for `ipvsadm-restore` (which CLEARS the table first, then
//              `ipvsadm -R`) on a fresh node; renderIpvsDiff gives the `ipvsadm -R` lines that
//              move one state to the next without clearing;
//   ipset      `ipset restore` input for kube-proxy's sets (the 17 of ipsetInfo, same names,
//              types and create options as its `ipset create … -exist`), each created with
//              -exist, its members filled into a scratch set swapped in at once: re-applying
//              it converges;
//   iptables   the few iptables rules IPVS mode still needs (masquerade marks, hairpin SNAT,
//              the KUBE-IPVS-FILTER that closes non-service ports on VIPs), all matching the
//              sets rather than per-service rules: an `iptables-restore --noflush` text per
//              table plus `jumps`, the one-time chain creation and jumps from the built-in
//              chains — the same contract as iptables.ts (see IptablesRuleset.jumps);
//   sysctls, modules   what kube-proxy sets and needs loaded.
//
// Apply order, as kube-proxy's syncProxyRules: modules and sysctls; jumps (once); the dummy
// link and its addresses; ipset; iptables-restore (its rules reference the sets); ipvsadm.
//
// Followed: kubernetes/kubernetes pkg/proxy/ipvs/proxier.go (NewProxier's sysctls,
// iptablesJumpChain, iptablesChains, ipsetInfo, ipsetWithIptablesChain, syncProxyRules,
// writeIptablesRules, acceptIPVSTraffic, syncEndpoint), ipset.go (names, comments) and
// ipset/ipset.go (create options, entry syntax); pkg/proxy/topology.go (CategorizeEndpoints).
//
// Kept from kube-proxy on purpose, because that is what a user of IPVS mode sees:
// - externalTrafficPolicy / internalTrafficPolicy Local with NO local endpoints: kube-proxy's
//   syncEndpoint falls back to the cluster-wide endpoints (PR 97081, "allow access from local
//   pods"); external traffic then reaches a remote pod WITHOUT masquerade (the Local sets make
//   KUBE-NODE-PORT / KUBE-LOAD-BALANCER return before KUBE-MARK-MASQ) and its reply, sourced
//   from the pod IP, does not find its way back. iptables/nftables mode drop instead. With an
//   internalTrafficPolicy Local Service that is not externally reachable, kube-proxy has no
//   cluster endpoints to fall back to: its virtual server has no real servers.
// - A port with no usable endpoint keeps its virtual server with no real servers; IPVS then
//   answers new connections with ICMP port unreachable (ip_vs_leave), like iptables' REJECT.
// - KUBE-LOOP-BACK holds every LOCAL endpoint of a port, ready or not (endpointsMap holds them all).
//
// Adapted, and why:
// - Node addresses: kube-proxy puts NodePort virtual servers on every local non-loopback
//   address not on kube-ipvs0 (eth0, but also cni0's gateway, flannel.1, …); ProxyNode knows
//   only its IP, so the default is [node.ip] — IpvsOptions.nodePortAddresses takes the full list.
// - strictARP (arp_ignore=1, arp_announce=2) is off by default in kube-proxy and on here
//   (IpvsOptions.strictARP): every node binds the same LB IPs on kube-ipvs0, and without it
//   every node would answer ARP for them on the lab's shared segment.
// - The masquerade mark is written 0x4000 (kube-proxy formats %#08x: 0x004000; same value,
//   iptables-save shows 0x4000), as in iptables.ts.
// - Order: kube-proxy walks Go maps and sets (random order); here everything follows the
//   caller's Service order, ports in declaration order, endpoints as given, set members by
//   first appearance — so golden files are stable.
// - ipset: kube-proxy runs `ipset create -exist`, then add/del per entry against `ipset list`;
//   here one restore text fills a scratch set per set and `swap`s it in (no state needed, and
//   atomic: a set emptied and refilled in place made KUBE-IPVS-FILTER reject new connections
//   to VIPs for the length of a restore, at every sync).
// - conn_reuse_mode is not set: kube-proxy leaves it alone on kernels ≥ 5.9 (klab's targets).
// - Graceful termination (weight 0 until connections drain) is not modelled: the diff deletes.
// - Not modelled (no such fields in the model): externalIPs (KUBE-EXTERNAL-IP* stay empty),
//   loadBalancerSourceRanges (KUBE-LOAD-BALANCER-FW/SOURCE-*, KUBE-IPVS-OUT-FILTER rules),
//   healthCheckNodePort, SCTP, IPv6, --masquerade-all, topology hints, terminating endpoints.
import { servicePortInfo } from "./serviceport.js";
import { servicePortName, type EndpointModel, type ProxyNode, type ServiceModel } from "../../model/services.js";
import { endpointString, KUBE_FORWARD, KUBE_MARK_MASQ, KUBE_POSTROUTING, KUBE_PROXY_FIREWALL, KUBE_SERVICES, MASQUERADE_MARK, type IptablesRestore } from "./iptables.js";

// ---- names ---------------------------------------------------------------------------------

export const DUMMY_DEVICE = "kube-ipvs0";
export const DEFAULT_SCHEDULER = "rr";

export const KUBE_NODE_PORT = "KUBE-NODE-PORT";
export const KUBE_LOAD_BALANCER = "KUBE-LOAD-BALANCER";
export const KUBE_SOURCE_RANGES_FIREWALL = "KUBE-SOURCE-RANGES-FIREWALL";
export const KUBE_IPVS_FILTER = "KUBE-IPVS-FILTER";
export const KUBE_IPVS_OUT_FILTER = "KUBE-IPVS-OUT-FILTER";

export type IpsetType = "hash:ip" | "hash:ip,port" | "hash:ip,port,ip" | "hash:ip,port,net" | "bitmap:port";

export interface IpsetInfo {
  name: string;
  type: IpsetType;
  /** kube-proxy's comment for the set (used on the iptables rules that match it). */
  comment: string;
}

/** kube-proxy's ipsetInfo, in its order: every set IPVS mode creates. */
export const IPSETS = {
  loopBack: { name: "KUBE-LOOP-BACK", type: "hash:ip,port,ip", comment: "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" },
  clusterIP: { name: "KUBE-CLUSTER-IP", type: "hash:ip,port", comment: "Kubernetes service cluster ip + port for masquerade purpose" },
  externalIP: { name: "KUBE-EXTERNAL-IP", type: "hash:ip,port", comment: "Kubernetes service external ip + port for masquerade and filter purpose" },
  externalIPLocal: { name: "KUBE-EXTERNAL-IP-LOCAL", type: "hash:ip,port", comment: "Kubernetes service external ip + port with externalTrafficPolicy=local" },
  loadBalancer: { name: "KUBE-LOAD-BALANCER", type: "hash:ip,port", comment: "Kubernetes service lb portal" },
  loadBalancerFW: { name: "KUBE-LOAD-BALANCER-FW", type: "hash:ip,port", comment: "Kubernetes service load balancer ip + port for load balancer with sourceRange" },
  loadBalancerLocal: {
    name: "KUBE-LOAD-BALANCER-LOCAL",
    type: "hash:ip,port",
    comment: "Kubernetes service load balancer ip + port with externalTrafficPolicy=local",
  },
  loadBalancerSourceIP: {
    name: "KUBE-LOAD-BALANCER-SOURCE-IP",
    type: "hash:ip,port,ip",
    comment: "Kubernetes service load balancer ip + port + source IP for packet filter purpose",
  },
  loadBalancerSourceCIDR: {
    name: "KUBE-LOAD-BALANCER-SOURCE-CIDR",
    type: "hash:ip,port,net",
    comment: "Kubernetes service load balancer ip + port + source cidr for packet filter purpose",
  },
  nodePortTCP: { name: "KUBE-NODE-PORT-TCP", type: "bitmap:port", comment: "Kubernetes nodeport TCP port for masquerade purpose" },
  nodePortLocalTCP: { name: "KUBE-NODE-PORT-LOCAL-TCP", type: "bitmap:port", comment: "Kubernetes nodeport TCP port with externalTrafficPolicy=local" },
  nodePortUDP: { name: "KUBE-NODE-PORT-UDP", type: "bitmap:port", comment: "Kubernetes nodeport UDP port for masquerade purpose" },
  nodePortLocalUDP: { name: "KUBE-NODE-PORT-LOCAL-UDP", type: "bitmap:port", comment: "Kubernetes nodeport UDP port with externalTrafficPolicy=local" },
  nodePortSCTP: { name: "KUBE-NODE-PORT-SCTP-HASH", type: "hash:ip,port", comment: "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" },
  nodePortLocalSCTP: {
    name: "KUBE-NODE-PORT-LOCAL-SCTP-HASH",
    type: "hash:ip,port",
    comment: "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'",
  },
  healthCheckNodePort: { name: "KUBE-HEALTH-CHECK-NODE-PORT", type: "bitmap:port", comment: "Kubernetes health check node port" },
  ipvs: { name: "KUBE-IPVS-IPS", type: "hash:ip", comment: "Addresses on the ipvs interface" },
} as const satisfies Record<string, IpsetInfo>;

type SetKey = keyof typeof IPSETS;

/** `ipset create` options as kube-proxy's runner writes them (defaults of setIPSetDefaults). */
function createOptions(type: IpsetType): string {
  return type === "bitmap:port" ? "range 0-65535" : "family inet hashsize 1024 maxelem 65536";
}

// ---- options and result --------------------------------------------------------------------

export interface IpvsOptions {
  /** --ipvs-scheduler: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, mh, … */
  scheduler: string;
  /** Local addresses NodePorts answer on, and that LB IPs are not bound over (default [node.ip]). */
  nodePortAddresses?: string[];
  /** --ipvs-strict-arp: arp_ignore=1 / arp_announce=2 (default true here, see the header). */
  strictARP?: boolean;
  /** MASQUERADE --random-fully (default true, as iptables.ts). */
  randomFully?: boolean;
}

export interface IpvsRuleset {
  /** The dummy link and its addresses, "a.b.c.d/32", in first-use order. */
  dummyLink: { name: typeof DUMMY_DEVICE; addresses: string[] };
  /** ipvsadm-save syntax, one command per line ("" when there is nothing to proxy). */
  ipvsadm: string;
  /** `ipset restore` input: create -exist, flush, add — for every set kube-proxy creates. */
  ipset: string;
  /** iptables-restore --noflush input per table (kube-proxy writes nat, then filter), and the
   * one-time `jumps` (`iptables` argv lines, as IptablesRuleset.jumps; iptablesArgv splits). */
  iptables: IptablesRestore & { jumps: string[] };
  sysctls: [string, string][];
  modules: string[];
}

/** One virtual server with its real servers, as rendered (and as parseIpvsadm reads back). */
export interface IpvsVirtualServer {
  protocol: "tcp" | "udp";
  /** "ip:port" */
  address: string;
  scheduler: string;
  /** Persistence timeout in seconds (ClientIP affinity), if any. */
  persistent?: number;
  /** Scheduler flags (-b), e.g. ["mh-port"]. */
  flags: string[];
  /** Real servers "ip:port", all masqueraded (-m) with weight 1. */
  reals: string[];
}

// ---- rendering -----------------------------------------------------------------------------

/** Insertion-ordered set of strings. */
class OrderedSet {
  private readonly items = new Set<string>();
  add(s: string) {
    this.items.add(s);
  }
  get size() {
    return this.items.size;
  }
  values(): string[] {
    return [...this.items];
  }
}

function proxiedServices(services: readonly ServiceModel[]): ServiceModel[] {
  // Headless (clusterIP None) and ExternalName Services are not proxied (ShouldSkipService).
  return services.filter((s) => s.type !== "ExternalName" && s.clusterIP !== null && s.clusterIP !== "");
}

const vsFlag = (protocol: string) => (protocol === "udp" ? "-u" : "-t");

function vsLine(cmd: "-A" | "-E", vs: IpvsVirtualServer): string {
  const persistent = vs.persistent !== undefined ? ` -p ${vs.persistent}` : "";
  const flags = vs.flags.length ? ` -b ${vs.flags.join(",")}` : "";
  return `${cmd} ${vsFlag(vs.protocol)} ${vs.address} -s ${vs.scheduler}${persistent}${flags}`;
}

const realLine = (cmd: "-a" | "-e", vs: IpvsVirtualServer, real: string) => `${cmd} ${vsFlag(vs.protocol)} ${vs.address} -r ${real} -m -w 1`;

export function ipvsadmText(servers: readonly IpvsVirtualServer[]): string {
  const lines: string[] = [];
  for (const vs of servers) {
    lines.push(vsLine("-A", vs));
    for (const r of vs.reals) lines.push(realLine("-a", vs, r));
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}

/** The full desired IPVS-mode state of one node (what kube-proxy's syncProxyRules converges to). */
export function renderIpvs(node: ProxyNode, services: readonly ServiceModel[], opts: IpvsOptions): IpvsRuleset {
  const scheduler = opts.scheduler || DEFAULT_SCHEDULER;
  if (!/^[a-z]+$/.test(scheduler)) throw new Error(`invalid IPVS scheduler ${JSON.stringify(scheduler)}`);
  const nodeAddresses = opts.nodePortAddresses ?? [node.ip];
  const strictARP = opts.strictARP ?? true;
  const randomFully = opts.randomFully ?? true;

  const entries = Object.fromEntries(Object.keys(IPSETS).map((k) => [k, new OrderedSet()])) as Record<SetKey, OrderedSet>;
  const bound = new OrderedSet();
  const servers: IpvsVirtualServer[] = [];

  for (const svc of proxiedServices(services)) {
    for (const port of svc.ports) {
      const protocol = port.protocol.toLowerCase() as "tcp" | "udp";
      const clusterIP = svc.clusterIP!;
      const { nodePort, lbVIPs, externallyAccessible, externalPolicyLocal, internalPolicyLocal, usesClusterEndpoints, usesLocalEndpoints } = servicePortInfo(svc, port);

      // endpointsMap: every endpoint once (by ip:port), ready or not.
      const seen = new Set<string>();
      const all = (svc.endpoints[port.name] ?? []).filter((ep) => {
        const key = endpointString(ep);
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      // CategorizeEndpoints, without topology and terminating endpoints; publishNotReadyAddresses
      // makes the EndpointSlice controller report every address ready.
      const ready = all.filter((ep) => ep.ready || svc.publishNotReadyAddresses);
      const clusterEndpoints = usesClusterEndpoints ? ready : [];
      const localEndpoints = usesLocalEndpoints ? ready.filter((ep) => ep.node === node.name) : [];
      // syncEndpoint: local endpoints when asked for and there are some, else the cluster's.
      const realsFor = (onlyNodeLocal: boolean): EndpointModel[] => (onlyNodeLocal && localEndpoints.length > 0 ? localEndpoints : clusterEndpoints);

      const virtualServer = (address: string, onlyNodeLocal: boolean): IpvsVirtualServer => ({
        protocol,
        address,
        scheduler,
        ...(svc.sessionAffinity === "ClientIP" ? { persistent: svc.affinityTimeoutSeconds } : {}),
        // kube-proxy sets FlagSourceHash (0x10, IP_VS_SVC_F_SCHED2) for "mh": mh-port.
        flags: scheduler === "mh" ? ["mh-port"] : [],
        reals: realsFor(onlyNodeLocal).map(endpointString),
      });

      // Hairpin: a local endpoint reaching itself through the service is masqueraded.
      for (const ep of all) if (ep.node === node.name) entries.loopBack.add(`${ep.ip},${protocol}:${ep.port},${ep.ip}`);

      // The cluster IP: a set member, a virtual server, an address on kube-ipvs0.
      entries.clusterIP.add(`${clusterIP},${protocol}:${port.port}`);
      servers.push(virtualServer(`${clusterIP}:${port.port}`, internalPolicyLocal));
      bound.add(clusterIP);

      // Load-balancer ingress IPs.
      for (const lbip of lbVIPs) {
        entries.loadBalancer.add(`${lbip},${protocol}:${port.port}`);
        if (externalPolicyLocal) entries.loadBalancerLocal.add(`${lbip},${protocol}:${port.port}`);
        servers.push(virtualServer(`${lbip}:${port.port}`, externalPolicyLocal));
        // Not bound over an address the node already has on another interface.
        if (!nodeAddresses.includes(lbip)) bound.add(lbip);
      }

      // NodePorts: the port in the protocol's bitmap, a virtual server per node address.
      if (nodePort !== 0) {
        (protocol === "udp" ? entries.nodePortUDP : entries.nodePortTCP).add(String(nodePort));
        if (externalPolicyLocal) (protocol === "udp" ? entries.nodePortLocalUDP : entries.nodePortLocalTCP).add(String(nodePort));
        for (const addr of nodeAddresses) servers.push(virtualServer(`${addr}:${nodePort}`, externalPolicyLocal));
      }
    }
  }
  for (const a of bound.values()) entries.ipvs.add(a);

  return {
    dummyLink: { name: DUMMY_DEVICE, addresses: bound.values().map((a) => `${a}/32`) },
    ipvsadm: ipvsadmText(servers),
    ipset: ipsetText(entries),
    iptables: { ...iptablesText(node, entries, randomFully), jumps: ipvsJumps() },
    sysctls: ipvsSysctls(strictARP),
    modules: ["ip_vs", `ip_vs_${scheduler}`, "nf_conntrack"],
  };
}

/** Scratch sets (name + index) a restore fills and swaps in; none outlives the restore. */
export const IPSET_SCRATCH = "klab-swap-";

function ipsetText(entries: Record<SetKey, OrderedSet>): string {
  const lines: string[] = [];
  (Object.entries(IPSETS) as [SetKey, IpsetInfo][]).forEach(([key, set], i) => {
    const scratch = `${IPSET_SCRATCH}${i}`;
    lines.push(`# ${set.comment}`);
    lines.push(`create ${set.name} ${set.type} ${createOptions(set.type)} -exist`);
    lines.push(`create ${scratch} ${set.type} ${createOptions(set.type)} -exist`);
    lines.push(`flush ${scratch}`);
    for (const e of entries[key].values()) lines.push(`add ${scratch} ${e}`);
    lines.push(`swap ${set.name} ${scratch}`, `destroy ${scratch}`);
  });
  return `${lines.join("\n")}\n`;
}

/** NewProxier's sysctls, in its order (conn_reuse_mode: left alone on kernels ≥ 5.9). */
export function ipvsSysctls(strictARP = true): [string, string][] {
  return [
    ["net.ipv4.vs.conntrack", "1"],
    ["net.ipv4.vs.expire_nodest_conn", "1"],
    ["net.ipv4.vs.expire_quiescent_template", "1"],
    ["net.ipv4.ip_forward", "1"],
    ...(strictARP
      ? ([
          ["net.ipv4.conf.all.arp_ignore", "1"],
          ["net.ipv4.conf.all.arp_announce", "2"],
        ] as [string, string][])
      : []),
  ];
}

// ---- iptables ------------------------------------------------------------------------------

/** kube-proxy's iptablesChains: every chain IPVS mode owns, in its order. */
const IPTABLES_CHAINS: { table: "nat" | "filter"; chain: string }[] = [
  { table: "nat", chain: KUBE_SERVICES },
  { table: "nat", chain: KUBE_POSTROUTING },
  { table: "nat", chain: KUBE_NODE_PORT },
  { table: "nat", chain: KUBE_LOAD_BALANCER },
  { table: "nat", chain: KUBE_MARK_MASQ },
  { table: "filter", chain: KUBE_FORWARD },
  { table: "filter", chain: KUBE_NODE_PORT },
  { table: "filter", chain: KUBE_PROXY_FIREWALL },
  { table: "filter", chain: KUBE_SOURCE_RANGES_FIREWALL },
  { table: "filter", chain: KUBE_IPVS_FILTER },
  { table: "filter", chain: KUBE_IPVS_OUT_FILTER },
];

/** kube-proxy's iptablesJumpChain, in its order (each installed with EnsureRule(Prepend)). */
const JUMP_CHAINS: { table: "nat" | "filter"; from: string; to: string; comment: string }[] = [
  { table: "nat", from: "OUTPUT", to: KUBE_SERVICES, comment: "kubernetes service portals" },
  { table: "nat", from: "PREROUTING", to: KUBE_SERVICES, comment: "kubernetes service portals" },
  { table: "nat", from: "POSTROUTING", to: KUBE_POSTROUTING, comment: "kubernetes postrouting rules" },
  { table: "filter", from: "FORWARD", to: KUBE_FORWARD, comment: "kubernetes forwarding rules" },
  { table: "filter", from: "INPUT", to: KUBE_NODE_PORT, comment: "kubernetes health check rules" },
  { table: "filter", from: "INPUT", to: KUBE_PROXY_FIREWALL, comment: "kube-proxy firewall rules" },
  { table: "filter", from: "FORWARD", to: KUBE_PROXY_FIREWALL, comment: "kube-proxy firewall rules" },
  { table: "filter", from: "INPUT", to: KUBE_IPVS_FILTER, comment: "kubernetes ipvs access filter" },
  { table: "filter", from: "OUTPUT", to: KUBE_IPVS_OUT_FILTER, comment: "kubernetes ipvs access filter" },
];

/** createAndLinkKubeChain as one-time `iptables` argv lines: every chain (-N, as EnsureChain),
 * then the jumps (-I, as EnsureRule(Prepend)). Same contract as iptables.ts's jumps: run once on
 * a fresh node, before the first restore. (IPVS mode has no KUBE-PROXY-CANARY chains.) */
export function ipvsJumps(): string[] {
  return [
    ...IPTABLES_CHAINS.map((c) => `-t ${c.table} -N ${c.chain}`),
    ...JUMP_CHAINS.map((j) => `-t ${j.table} -I ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`),
  ];
}

/** writeIptablesRules: which rules depend on which sets being non-empty, in kube-proxy's order. */
const SET_RULES: { set: SetKey; table: "nat" | "filter"; from: string; to: string; match: string; protocol?: string }[] = [
  { set: "loopBack", table: "nat", from: KUBE_POSTROUTING, to: "MASQUERADE", match: "dst,dst,src" },
  { set: "loadBalancer", table: "nat", from: KUBE_SERVICES, to: KUBE_LOAD_BALANCER, match: "dst,dst" },
  { set: "loadBalancerLocal", table: "nat", from: KUBE_LOAD_BALANCER, to: "RETURN", match: "dst,dst" },
  // The Local set must come before the masquerading one, for each protocol.
  { set: "nodePortLocalTCP", table: "nat", from: KUBE_NODE_PORT, to: "RETURN", match: "dst", protocol: "tcp" },
  { set: "nodePortTCP", table: "nat", from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, match: "dst", protocol: "tcp" },
  { set: "nodePortLocalUDP", table: "nat", from: KUBE_NODE_PORT, to: "RETURN", match: "dst", protocol: "udp" },
  { set: "nodePortUDP", table: "nat", from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, match: "dst", protocol: "udp" },
  { set: "nodePortLocalSCTP", table: "nat", from: KUBE_NODE_PORT, to: "RETURN", match: "dst,dst", protocol: "sctp" },
  { set: "nodePortSCTP", table: "nat", from: KUBE_NODE_PORT, to: KUBE_MARK_MASQ, match: "dst,dst", protocol: "sctp" },
  { set: "loadBalancerFW", table: "filter", from: KUBE_PROXY_FIREWALL, to: KUBE_SOURCE_RANGES_FIREWALL, match: "dst,dst" },
  { set: "loadBalancerSourceCIDR", table: "filter", from: KUBE_SOURCE_RANGES_FIREWALL, to: "RETURN", match: "dst,dst,src" },
  { set: "loadBalancerSourceIP", table: "filter", from: KUBE_SOURCE_RANGES_FIREWALL, to: "RETURN", match: "dst,dst,src" },
];

const commentOf = (key: SetKey) => `"${IPSETS[key].comment}"`;

function iptablesText(node: ProxyNode, entries: Record<SetKey, OrderedSet>, randomFully: boolean): IptablesRestore {
  const nat: string[] = [];
  const filter: string[] = [];
  const rules = (table: "nat" | "filter") => (table === "nat" ? nat : filter);
  const nonEmpty = (key: SetKey) => entries[key].size > 0;
  const mark = `${MASQUERADE_MARK}/${MASQUERADE_MARK}`;

  // Connections from localhost are not services (IPVS mode has no localhost NodePorts).
  nat.push(`-A ${KUBE_SERVICES} -s 127.0.0.0/8 -j RETURN`);

  for (const r of SET_RULES) {
    if (!nonEmpty(r.set)) continue;
    const proto = r.protocol ? ` -p ${r.protocol}` : "";
    rules(r.table).push(`-A ${r.from}${proto} -m comment --comment ${commentOf(r.set)} -m set --match-set ${IPSETS[r.set].name} ${r.match} -j ${r.to}`);
  }

  // Off-cluster sources reaching a cluster IP are masqueraded (the local detector: cluster CIDR).
  if (nonEmpty("clusterIP")) {
    nat.push(
      `-A ${KUBE_SERVICES} -m comment --comment ${commentOf("clusterIP")} -m set --match-set ${IPSETS.clusterIP.name} dst,dst ! -s ${node.clusterCIDR} -j ${KUBE_MARK_MASQ}`,
    );
  }

  nat.push(`-A ${KUBE_SERVICES} -m addrtype --dst-type LOCAL -j ${KUBE_NODE_PORT}`);
  // Load-balancer traffic is masqueraded, unless KUBE-LOAD-BALANCER-LOCAL returned first.
  nat.push(`-A ${KUBE_LOAD_BALANCER} -j ${KUBE_MARK_MASQ}`);
  filter.push(`-A ${KUBE_SOURCE_RANGES_FIREWALL} -j DROP`);

  // acceptIPVSTraffic: the end of KUBE-SERVICES, so no later nat rule interferes with IPVS.
  for (const key of ["clusterIP", "loadBalancer"] as const) {
    if (nonEmpty(key)) nat.push(`-A ${KUBE_SERVICES} -m set --match-set ${IPSETS[key].name} dst,dst -j ACCEPT`);
  }

  filter.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark} -j ACCEPT`);
  filter.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  filter.push(`-A ${KUBE_NODE_PORT} -m comment --comment ${commentOf("healthCheckNodePort")} -m set --match-set ${IPSETS.healthCheckNodePort.name} dst -j ACCEPT`);

  // Only service ports answer on the VIPs: anything else NEW to a kube-ipvs0 address is rejected
  // (issue 72236) — without this, every port the node listens on would answer on every VIP.
  for (const key of ["loadBalancer", "clusterIP", "externalIP", "externalIPLocal"] as const) {
    filter.push(`-A ${KUBE_IPVS_FILTER} -m set --match-set ${IPSETS[key].name} dst,dst -j RETURN`);
  }
  filter.push(`-A ${KUBE_IPVS_FILTER} -m set --match-set ${IPSETS.healthCheckNodePort.name} dst -j RETURN`);
  filter.push(`-A ${KUBE_IPVS_FILTER} -m conntrack --ctstate NEW -m set --match-set ${IPSETS.ipvs.name} dst -j REJECT`);

  nat.push(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark} -j RETURN`);
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  nat.push(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${MASQUERADE_MARK}`);
  nat.push(`-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${randomFully ? " --random-fully" : ""}`);
  nat.push(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${MASQUERADE_MARK}`);

  const table = (name: "nat" | "filter", body: string[]) =>
    [`*${name}`, ...IPTABLES_CHAINS.filter((c) => c.table === name).map((c) => `:${c.chain} - [0:0]`), ...body, "COMMIT", ""].join("\n");
  return { nat: table("nat", nat), filter: table("filter", filter) };
}

/** Both tables as one iptables-restore input, nat first (as kube-proxy's IPVS proxier writes). */
export function ipvsRestoreText(r: IptablesRestore): string {
  return r.nat + r.filter;
}

// ---- incremental sync ----------------------------------------------------------------------

/** Read back ipvsadm-save-style lines (-A/-a only, as ipvsadmText writes them). */
export function parseIpvsadm(text: string): IpvsVirtualServer[] {
  const servers = new Map<string, IpvsVirtualServer>();
  for (const line of text.split("\n")) {
    if (!line.trim()) continue;
    const f = line.trim().split(/\s+/);
    const protocol = f[1] === "-u" ? "udp" : f[1] === "-t" ? "tcp" : undefined;
    if (!protocol) throw new Error(`unsupported ipvsadm line: ${line}`);
    const key = `${protocol} ${f[2]}`;
    const opt = (name: string) => {
      const i = f.indexOf(name);
      return i >= 0 ? f[i + 1] : undefined;
    };
    if (f[0] === "-A") {
      const p = opt("-p");
      const b = opt("-b");
      servers.set(key, {
        protocol,
        address: f[2],
        scheduler: opt("-s") ?? "wlc",
        ...(p !== undefined ? { persistent: Number(p) } : {}),
        flags: b ? b.split(",") : [],
        reals: [],
      });
    } else if (f[0] === "-a") {
      const vs = servers.get(key);
      const real = opt("-r");
      if (!vs || !real) throw new Error(`real server before its virtual server: ${line}`);
      vs.reals.push(real);
    } else {
      throw new Error(`unsupported ipvsadm line: ${line}`);
    }
  }
  return [...servers.values()];
}

export interface IpvsDiff {
  /** `ipvsadm -R` input (NOT ipvsadm-restore, which clears the table first): new and edited
   * virtual servers, added and removed real servers, then removed virtual servers — the order
   * of kube-proxy's sync (syncService, syncEndpoint, cleanLegacyService). "" if none. */
  ipvsadm: string;
  /** Addresses ("a.b.c.d/32") to add to kube-ipvs0 (before ipvsadm, as syncService binds) and
   * to remove from it (after, as kube-proxy unbinds superfluous addresses). */
  bind: string[];
  unbind: string[];
}

/**
 * What moves a node from `prev` to `next` without clearing the IPVS table. The ipset and
 * iptables texts need no diff: `next.ipset` and `next.iptables` re-applied whole converge
 * (every set is flushed and refilled, every chain declared and so flushed).
 */
export function renderIpvsDiff(prev: IpvsRuleset, next: IpvsRuleset): IpvsDiff {
  const before = new Map(parseIpvsadm(prev.ipvsadm).map((vs) => [`${vs.protocol} ${vs.address}`, vs]));
  const after = parseIpvsadm(next.ipvsadm);
  const afterKeys = new Set(after.map((vs) => `${vs.protocol} ${vs.address}`));
  const lines: string[] = [];
  for (const vs of after) {
    const old = before.get(`${vs.protocol} ${vs.address}`);
    if (!old) {
      lines.push(vsLine("-A", vs));
      for (const r of vs.reals) lines.push(realLine("-a", vs, r));
      continue;
    }
    if (vsLine("-A", old) !== vsLine("-A", vs)) lines.push(vsLine("-E", vs));
    for (const r of vs.reals) if (!old.reals.includes(r)) lines.push(realLine("-a", vs, r));
    for (const r of old.reals) if (!vs.reals.includes(r)) lines.push(`-d ${vsFlag(vs.protocol)} ${vs.address} -r ${r}`);
  }
  for (const [key, vs] of before) if (!afterKeys.has(key)) lines.push(`-D ${vsFlag(vs.protocol)} ${vs.address}`);
  const prevAddrs = new Set(prev.dummyLink.addresses);
  const nextAddrs = new Set(next.dummyLink.addresses);
  return {
    ipvsadm: lines.length ? `${lines.join("\n")}\n` : "",
    bind: next.dummyLink.addresses.filter((a) => !prevAddrs.has(a)),
    unbind: prev.dummyLink.addresses.filter((a) => !nextAddrs.has(a)),
  };
}
