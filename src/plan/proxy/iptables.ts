// kube-proxy's iptables mode as a pure renderer: Services + endpoints → the iptables-restore
// text kube-proxy (1.29+) writes for one node, table by table, so that `iptables-save` inside a
// klab node reads like it does on a real node.
//
// Followed closely: kubernetes/kubernetes pkg/proxy/iptables/proxier.go (syncProxyRules,
// writeServiceToEndpointRules, iptablesJumpChains, the chain-name hashes) and
// pkg/proxy/topology.go (CategorizeEndpoints). The layout is the one kube-proxy writes:
//
//   *filter, then *nat; each table is its chain declarations (`:CHAIN - [0:0]`) followed by the
//   rules, in the order kube-proxy emits them (top-level rules, then service port by service
//   port), ending with the nat KUBE-SERVICES "nodeports" rule, which must be last.
//
// kube-proxy applies it with `iptables-restore --noflush`: declaring a chain flushes (or
// creates) it, chains that are not declared — the built-in ones, other software's — are left
// alone. klab's partial syncs do the same; its full syncs replace the node's tables whole
// (src/plan/proxy/sync.ts says why).
//
// What is not modelled (the model has no such fields): externalIPs, loadBalancerSourceRanges
// (KUBE-FW-* chains), healthCheckNodePort, topology hints, serving/terminating endpoints,
// --masquerade-all, --nodeport-addresses (NodePorts answer on every local address, the
// default), and nfacct counters (kube-proxy adds `-m nfacct` to two rules when the kernel has
// nfnetlink_acct; without it the rules are exactly these).
import { servicePortInfo, usableEndpoints } from "./serviceport.js";
import { createHash } from "node:crypto";
import { servicePortName, servicesNamed, type EndpointModel, type ProxyNode, type ServiceModel } from "../../model/services.js";

// ---- chain names ---------------------------------------------------------------------------

export const KUBE_SERVICES = "KUBE-SERVICES";
export const KUBE_EXTERNAL_SERVICES = "KUBE-EXTERNAL-SERVICES";
export const KUBE_NODEPORTS = "KUBE-NODEPORTS";
export const KUBE_POSTROUTING = "KUBE-POSTROUTING";
export const KUBE_MARK_MASQ = "KUBE-MARK-MASQ";
export const KUBE_FORWARD = "KUBE-FORWARD";
export const KUBE_PROXY_FIREWALL = "KUBE-PROXY-FIREWALL";
export const KUBE_PROXY_CANARY = "KUBE-PROXY-CANARY";
/** kubelet's chain (anti-martian rule for localhost NodePorts); kube-proxy writes a copy. */
export const KUBE_FIREWALL = "KUBE-FIREWALL";

/** The masquerade bit, 1 << 14 (--iptables-masquerade-bit=14), as iptables-save shows it. */
export const MASQUERADE_MARK = "0x4000";

const SERVICE_CHAIN_PREFIXES = ["KUBE-SVC-", "KUBE-SVL-", "KUBE-SEP-", "KUBE-FW-", "KUBE-EXT-"] as const;

/** RFC 4648 base32 (Go's base32.StdEncoding), without the padding we never reach. */
function base32(bytes: Uint8Array): string {
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  let out = "";
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += alphabet[(buffer << (5 - bits)) & 31];
  return out;
}

const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest();

// Chain names are hashes of stable strings: remembered, as kube-proxy caches them per service
// port and endpoint between syncs (hashing dominated rendering at 10k Services).
const hashes = new Map<string, string>();
function hash16(s: string): string {
  let h = hashes.get(s);
  if (h === undefined) {
    if (hashes.size >= 1 << 20) hashes.clear();
    h = base32(sha256(s)).slice(0, 16);
    hashes.set(s, h);
  }
  return h;
}

/** kube-proxy's portProtoHash: first 16 chars of base32(sha256(servicePortName + protocol)).
 * `protocol` is used as given; kube-proxy passes it lowercased ("tcp", "udp"). */
export function portProtoHash(servicePortName: string, protocol: string): string {
  return hash16(servicePortName + protocol);
}

export interface ServiceChainNames {
  /** KUBE-SVC-…: endpoints for "Cluster" traffic policy. */
  svc: string;
  /** KUBE-SVL-…: local endpoints, for internal or external traffic policy "Local". */
  svl: string;
  /** KUBE-EXT-…: where NodePort / load-balancer traffic enters. */
  ext: string;
  /** KUBE-FW-…: loadBalancerSourceRanges (named for completeness; not rendered). */
  fw: string;
}

/** The per-service-port chain names, for a ServicePortName string ("ns/svc:port") and its
 * protocol (any case; lowercased as kube-proxy does). */
export function serviceChainNames(servicePortName: string, protocol: string): ServiceChainNames {
  const h = portProtoHash(servicePortName, protocol.toLowerCase());
  return { svc: `KUBE-SVC-${h}`, svl: `KUBE-SVL-${h}`, ext: `KUBE-EXT-${h}`, fw: `KUBE-FW-${h}` };
}

/** kube-proxy's servicePortEndpointChainName: KUBE-SEP- + base32(sha256(name + protocol +
 * endpoint))[:16], `endpoint` being "ip:port" (net.JoinHostPort). */
export function endpointChainName(servicePortName: string, protocol: string, endpoint: string): string {
  return `KUBE-SEP-${hash16(servicePortName + protocol.toLowerCase() + endpoint)}`;
}

/** "ip:port" as Go's net.JoinHostPort writes it. */
export function endpointString(ep: Pick<EndpointModel, "ip" | "port">): string {
  return ep.ip.includes(":") ? `[${ep.ip}]:${ep.port}` : `${ep.ip}:${ep.port}`;
}

/** Chains kube-proxy owns per service (and deletes when they are no longer used). */
export function isServiceChainName(chain: string): boolean {
  return SERVICE_CHAIN_PREFIXES.some((p) => chain.startsWith(p));
}

// ---- probabilities -------------------------------------------------------------------------

/** Go's fmt.Sprintf("%0.10f", 1.0/float64(n)): the float64 rounded to 10 decimals from its exact
 * binary value, ties to even (Number#toFixed rounds ties up, which differs at n = 2048). */
export function probability(n: number): string {
  let p = probabilities.get(n);
  if (p === undefined) probabilities.set(n, (p = formatProbability(n)));
  return p;
}
const probabilities = new Map<number, string>();

function formatProbability(n: number): string {
  const x = 1 / n;
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const exp = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  if (exp !== 0) mant |= 1n << 52n;
  const e = (exp === 0 ? 1 : exp) - 1075; // x = mant * 2^e
  const scaled = mant * 10n ** 10n;
  let q: bigint;
  if (e >= 0) {
    q = scaled << BigInt(e);
  } else {
    const den = 1n << BigInt(-e);
    q = scaled / den;
    const r2 = (scaled % den) * 2n;
    if (r2 > den || (r2 === den && q % 2n === 1n)) q += 1n;
  }
  const s = q.toString().padStart(11, "0");
  return `${s.slice(0, -10)}.${s.slice(-10)}`;
}

// ---- rendering -----------------------------------------------------------------------------

export interface IptablesOptions {
  /** kube-proxy --iptables-localhost-nodeports (default true): NodePorts also answer on
   * 127.0.0.1, which needs net.ipv4.conf.all.route_localnet=1 and the KUBE-FIREWALL rule. */
  localhostNodePorts?: boolean;
  /** iptables supports MASQUERADE --random-fully (every iptables since 1.6.2; default true). */
  randomFully?: boolean;
}

/** iptables-restore input, one text per table (each `*table` … `COMMIT`). Apply both with
 * `iptables-restore --noflush`, filter then nat (or concatenated: `restoreText`). */
export interface IptablesRestore {
  filter: string;
  nat: string;
}

export interface IptablesRuleset extends IptablesRestore {
  /**
   * One-time node setup, as `iptables` arguments (one command per entry, comments in double
   * quotes; `iptablesArgv` splits them): the KUBE-PROXY-CANARY chains kube-proxy's monitor
   * creates in mangle/nat/filter, then for each jump rule the chain it targets (`-N`, as
   * kube-proxy's EnsureChain) and the rule itself (`-I`, as EnsureRule(Prepend)), in
   * kube-proxy's order — so the built-in chains end up in the order a real node shows.
   *
   * Why not in the restore text: the jumps live in built-in chains (PREROUTING, OUTPUT,
   * POSTROUTING, INPUT, FORWARD) that other software shares; declaring them in a --noflush
   * restore cannot flush them selectively, and appending on every sync would duplicate them.
   * kube-proxy installs them with separate `iptables -I` calls too. Run them once, on a fresh
   * node, BEFORE the first restore (the `-N` lines fail if the chains already exist).
   */
  jumps: string[];
  /** Sysctls the rules rely on (route_localnet for localhost NodePorts), as NODE_SYSCTLS. */
  sysctls: [string, string][];
}

/** What to do with one service port, derived as syncProxyRules does. */
interface Writer {
  filterChains: string[];
  filterRules: string[];
  natChains: string[];
  /** Lines; a service port's chain rules are one entry (its lines joined with "\n"). */
  natRules: string[];
  /** Every nat service chain the current state uses (written or, in a partial sync, skipped). */
  activeNat: Set<string>;
  contributions: Map<string, ServiceContribution>;
  /** The nat rules of the top-level chains, in order (every filter rule is top-level). */
  natTop: string[];
}

/** One Service's part of the top-level chains, and the nat chains it uses. */
export interface ServiceContribution {
  nat: string[];
  filter: string[];
  chains: string[];
}

const TOP_LEVEL_NAT = [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ];
const SERVICE_CHAIN_RULE = new RegExp(`^-A (${SERVICE_CHAIN_PREFIXES.join("|")})`);

const chainLine = (chain: string) => `:${chain} - [0:0]`;

/** kube-proxy counts endpoints over all service ports; above this it drops the per-endpoint
 * comments to keep the ruleset small ("large cluster mode"). */
export const LARGE_CLUSTER_ENDPOINTS_THRESHOLD = 1000;

function proxiedServices(services: readonly ServiceModel[]): ServiceModel[] {
  // Headless (clusterIP None) and ExternalName Services are not proxied (ShouldSkipService).
  return services.filter((s) => s.type !== "ExternalName" && s.clusterIP !== null && s.clusterIP !== "");
}

function countEndpoints(proxied: readonly ServiceModel[]): number {
  let n = 0;
  for (const svc of proxied) for (const port of svc.ports) n += (svc.endpoints[port.name] ?? []).length;
  return n;
}

function render(
  node: ProxyNode,
  services: readonly ServiceModel[],
  opts: IptablesOptions,
  writesChainsOf: (serviceKey: string) => boolean,
  reuse?: ReadonlyMap<string, ServiceContribution>,
  /** Endpoints of all the Services, when `services` is only some of them. */
  allEndpoints?: number,
): Writer & { finish(): void } {
  const localhostNodePorts = opts.localhostNodePorts ?? true;
  const randomFully = opts.randomFully ?? true;
  const w: Writer = { filterChains: [], filterRules: [], natChains: [], natRules: [], natTop: [], activeNat: new Set(), contributions: new Map() };
  const natTop = (l: string) => {
    w.natRules.push(l);
    w.natTop.push(l);
  };
  const mark = `${MASQUERADE_MARK}/${MASQUERADE_MARK}`;

  for (const c of [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_FORWARD, KUBE_NODEPORTS, KUBE_PROXY_FIREWALL]) w.filterChains.push(chainLine(c));
  for (const c of TOP_LEVEL_NAT) w.natChains.push(chainLine(c));

  natTop(`-A ${KUBE_POSTROUTING} -m mark ! --mark ${mark} -j RETURN`);
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  natTop(`-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${MASQUERADE_MARK}`);
  natTop(`-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${randomFully ? " --random-fully" : ""}`);
  natTop(`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${MASQUERADE_MARK}`);

  if (localhostNodePorts) {
    // route_localnet opens 127.0.0.0/8 to the wire (issue 90259); this closes it again.
    w.filterChains.push(chainLine(KUBE_FIREWALL));
    w.filterRules.push(
      `-A ${KUBE_FIREWALL} -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
    );
  }

  const proxied = proxiedServices(services);
  const totalEndpoints = allEndpoints ?? countEndpoints(proxied);
  const largeClusterMode = totalEndpoints > LARGE_CLUSTER_ENDPOINTS_THRESHOLD;
  const withComment = (args: string, comment: string) => (largeClusterMode ? args : `${args} -m comment --comment ${comment}`);

  for (const svc of proxied) {
    const serviceKey = `${svc.namespace}/${svc.name}`;
    const writeChains = writesChainsOf(serviceKey);
    // An unchanged Service contributes what it did last time (its chains are not rewritten).
    const last = writeChains ? undefined : reuse?.get(serviceKey);
    if (last) {
      // (its chains are not added to activeNat: only a changed Service's chains can go stale)
      for (const l of last.nat) natTop(l);
      for (const l of last.filter) w.filterRules.push(l);
      w.contributions.set(serviceKey, last);
      continue;
    }
    const c: ServiceContribution = { nat: [], filter: [], chains: [] };
    w.contributions.set(serviceKey, c);
    for (const port of svc.ports) {
      const natTopBefore = c.nat.length;
      const filterTopBefore = c.filter.length;
      const chainsBefore = c.chains.length;
      const spn = servicePortName(svc, port);
      const protocol = port.protocol.toLowerCase();
      const names = serviceChainNames(spn, protocol);
      const clusterIP = svc.clusterIP!;
      const { nodePort, lbVIPs, externallyAccessible, externalPolicyLocal, internalPolicyLocal, usesClusterEndpoints, usesLocalEndpoints } = servicePortInfo(svc, port);

      // CategorizeEndpoints (pkg/proxy/topology.go), without topology and terminating endpoints.
      const ready = usableEndpoints(svc, port);
      const clusterEndpoints = usesClusterEndpoints ? ready : [];
      const localEndpoints = usesLocalEndpoints ? ready.filter((ep) => ep.node === node.name) : [];
      const hasEndpoints = ready.length > 0;
      // Local endpoints are ready endpoints too, so with both policies the union is `ready`.
      const reachable = usesClusterEndpoints ? clusterEndpoints : localEndpoints;

      const clusterPolicyChain = names.svc;
      const usesClusterPolicyChain = clusterEndpoints.length > 0 && usesClusterEndpoints;
      const localPolicyChain = names.svl;
      const usesLocalPolicyChain = localEndpoints.length > 0 && usesLocalEndpoints;

      let internalTrafficChain = clusterPolicyChain;
      let hasInternalEndpoints = hasEndpoints;
      if (internalPolicyLocal) {
        internalTrafficChain = localPolicyChain;
        if (localEndpoints.length === 0) hasInternalEndpoints = false;
      }
      let externalPolicyChain = clusterPolicyChain;
      let hasExternalEndpoints = hasEndpoints;
      if (externalPolicyLocal) {
        externalPolicyChain = localPolicyChain;
        if (localEndpoints.length === 0) hasExternalEndpoints = false;
      }
      const externalTrafficChain = names.ext;
      // Needed even without external endpoints: the short-circuit rules for local traffic.
      const usesExternalTrafficChain = hasEndpoints && externallyAccessible;

      let internalFilterTarget = "";
      let internalFilterComment = "";
      let externalFilterTarget = "";
      let externalFilterComment = "";
      if (!hasEndpoints) {
        internalFilterTarget = externalFilterTarget = "REJECT";
        internalFilterComment = externalFilterComment = `"${spn} has no endpoints"`;
      } else {
        if (!hasInternalEndpoints) {
          internalFilterTarget = "DROP";
          internalFilterComment = `"${spn} has no local endpoints"`;
        }
        if (!hasExternalEndpoints) {
          externalFilterTarget = "DROP";
          externalFilterComment = `"${spn} has no local endpoints"`;
        }
      }

      const match = `-m ${protocol} -p ${protocol}`;
      const vip = `-d ${clusterIP} --dport ${port.port}`;

      // Capture the clusterIP.
      if (hasInternalEndpoints) {
        c.nat.push(`-A ${KUBE_SERVICES} -m comment --comment "${spn} cluster IP" ${match} ${vip} -j ${internalTrafficChain}`);
      } else {
        c.filter.push(`-A ${KUBE_SERVICES} -m comment --comment ${internalFilterComment} ${match} ${vip} -j ${internalFilterTarget}`);
      }

      // Capture load-balancer ingress.
      for (const lbip of lbVIPs) {
        if (hasEndpoints) {
          c.nat.push(`-A ${KUBE_SERVICES} -m comment --comment "${spn} loadbalancer IP" ${match} -d ${lbip} --dport ${port.port} -j ${externalTrafficChain}`);
        }
      }
      if (!hasExternalEndpoints) {
        for (const lbip of lbVIPs) {
          c.filter.push(`-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} ${match} -d ${lbip} --dport ${port.port} -j ${externalFilterTarget}`);
        }
      }

      // Capture nodeports.
      if (nodePort !== 0) {
        if (hasEndpoints) {
          c.nat.push(`-A ${KUBE_NODEPORTS} -m comment --comment ${spn} ${match} --dport ${nodePort} -j ${externalTrafficChain}`);
        }
        if (!hasExternalEndpoints) {
          c.filter.push(
            `-A ${KUBE_EXTERNAL_SERVICES} -m comment --comment ${externalFilterComment} -m addrtype --dst-type LOCAL ${match} --dport ${nodePort} -j ${externalFilterTarget}`,
          );
        }
      }

      // The per-service chains; in a partial sync, only for services that changed (the others'
      // chains are only counted as in use, which is all the stale-chain cleanup needs).
      for (const l of c.nat.slice(natTopBefore)) natTop(l);
      for (const l of c.filter.slice(filterTopBefore)) w.filterRules.push(l);
      const seps = new Map(reachable.map((ep) => [ep, endpointChainName(spn, protocol, endpointString(ep))]));
      if (usesExternalTrafficChain) c.chains.push(externalTrafficChain);
      if (usesClusterPolicyChain) c.chains.push(clusterPolicyChain);
      if (usesLocalPolicyChain) c.chains.push(localPolicyChain);
      for (const sep of seps.values()) c.chains.push(sep);
      for (const ch of c.chains.slice(chainsBefore)) w.activeNat.add(ch);
      if (!writeChains) continue;
      const natChains = w.natChains;
      // This port's chain rules, joined into one entry at the end: 100k short-lived lines
      // instead of 100k strings kept alive until the table is joined (half the render was GC).
      const natRules: string[] = [];

      // Internal traffic: masquerade off-cluster sources so replies come back through us.
      if (hasInternalEndpoints) {
        natRules.push(`-A ${internalTrafficChain} -m comment --comment "${spn} cluster IP" ${match} ${vip} ! -s ${node.clusterCIDR} -j ${KUBE_MARK_MASQ}`);
      }

      // External traffic (NodePort, load balancer) enters the EXT chain.
      if (usesExternalTrafficChain) {
        natChains.push(chainLine(externalTrafficChain));
        if (!externalPolicyLocal) {
          // Endpoints may be on other nodes: masquerade, replies must come back here.
          natRules.push(`-A ${externalTrafficChain} -m comment --comment "masquerade traffic for ${spn} external destinations" -j ${KUBE_MARK_MASQ}`);
        } else {
          // Pods reaching an external destination are not subject to the traffic policy
          // (as if they went out to the load balancer and back).
          natRules.push(`-A ${externalTrafficChain} -m comment --comment "pod traffic for ${spn} external destinations" -s ${node.clusterCIDR} -j ${clusterPolicyChain}`);
          // The node itself: its source would be the (local) destination address, so masquerade.
          natRules.push(
            `-A ${externalTrafficChain} -m comment --comment "masquerade LOCAL traffic for ${spn} external destinations" -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
          );
          natRules.push(
            `-A ${externalTrafficChain} -m comment --comment "route LOCAL traffic for ${spn} external destinations" -m addrtype --src-type LOCAL -j ${clusterPolicyChain}`,
          );
        }
        if (hasExternalEndpoints) natRules.push(`-A ${externalTrafficChain} -j ${externalPolicyChain}`);
      }

      const writeServiceToEndpointRules = (chain: string, endpoints: EndpointModel[]) => {
        if (svc.sessionAffinity === "ClientIP") {
          for (const ep of endpoints) {
            const sep = seps.get(ep)!;
            natRules.push(
              `${withComment(`-A ${chain}`, `"${spn} -> ${endpointString(ep)}"`)} -m recent --name ${sep} --rcheck --seconds ${svc.affinityTimeoutSeconds} --reap -j ${sep}`,
            );
          }
        }
        endpoints.forEach((ep, i) => {
          const args = withComment(`-A ${chain}`, `"${spn} -> ${endpointString(ep)}"`);
          // Each rule but the last is a coin toss with 1/(remaining); the last always matches.
          const stat = i < endpoints.length - 1 ? ` -m statistic --mode random --probability ${probability(endpoints.length - i)}` : "";
          natRules.push(`${args}${stat} -j ${seps.get(ep)!}`);
        });
      };

      if (usesClusterPolicyChain) {
        natChains.push(chainLine(clusterPolicyChain));
        writeServiceToEndpointRules(clusterPolicyChain, clusterEndpoints);
      }
      if (usesLocalPolicyChain) {
        natChains.push(chainLine(localPolicyChain));
        writeServiceToEndpointRules(localPolicyChain, localEndpoints);
      }

      // One chain per endpoint: hairpin masquerade, affinity bookkeeping, DNAT.
      for (const [ep, sep] of seps) {
        natChains.push(chainLine(sep));
        const args = withComment(`-A ${sep}`, spn);
        natRules.push(`${args} -s ${ep.ip} -j ${KUBE_MARK_MASQ}`);
        const affinity = svc.sessionAffinity === "ClientIP" ? ` -m recent --name ${sep} --set` : "";
        natRules.push(`${args}${affinity} ${match} -j DNAT --to-destination ${endpointString(ep)}`);
      }
      if (natRules.length) w.natRules.push(natRules.join("\n"));
    }
  }

  const finish = () => {
    // The tail-call to KUBE-NODEPORTS must be the last rule of KUBE-SERVICES.
    const destinations = localhostNodePorts ? "-m addrtype --dst-type LOCAL" : "-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8";
    natTop(`-A ${KUBE_SERVICES} -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" ${destinations} -j ${KUBE_NODEPORTS}`);

    // Drop INVALID packets (nf_conntrack_tcp_be_liberal is not set in a node), accept what was
    // marked for masquerade (NodePort traffic) and its replies even if FORWARD's policy is DROP.
    w.filterRules.push(`-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`);
    w.filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark} -j ACCEPT`);
    w.filterRules.push(`-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`);
  };
  return Object.assign(w, { finish });
}

// (No spreading: at 10k Services the nat table is 150k lines.)
const table = (name: string, chains: string[], rules: string[]) =>
  `*${name}\n${chains.length ? chains.join("\n") + "\n" : ""}${rules.length ? rules.join("\n") + "\n" : ""}COMMIT\n`;

/** The full desired ruleset of one node (kube-proxy's full sync, minus the deletion of stale
 * chains, which needs to know what is there: see renderIptablesPartial). */
export function renderIptables(node: ProxyNode, services: readonly ServiceModel[], opts: IptablesOptions = {}): IptablesRuleset {
  const w = render(node, services, opts, () => true);
  w.finish();
  const localhostNodePorts = opts.localhostNodePorts ?? true;
  return {
    filter: table("filter", w.filterChains, w.filterRules),
    nat: table("nat", w.natChains, w.natRules),
    jumps: iptablesJumps(),
    sysctls: localhostNodePorts ? [["net.ipv4.conf.all.route_localnet", "1"]] : [],
  };
}

/**
 * What kube-proxy's partial sync writes (iptables-restore --noflush) after some Services or
 * their endpoints changed. As syncProxyRules does when needFullSync is false:
 *
 * - the filter table is written whole (its chains are all top-level, and small);
 * - in nat, the top-level chains (KUBE-SERVICES, KUBE-NODEPORTS, KUBE-POSTROUTING,
 *   KUBE-MARK-MASQ) are always declared (so flushed) and rewritten in full;
 * - the per-service chains (KUBE-SVC/SVL/EXT/SEP) are declared and written only for the
 *   Services in `changed` ("ns/name"; a Service's endpoints changing counts as it changing);
 *   the chains of unchanged Services are left as they are, still jumped to from KUBE-SERVICES;
 * - every service chain in `previousChains` that the new state no longer uses (a deleted
 *   Service, a removed endpoint, a policy that stopped needing KUBE-SVL) is declared — which
 *   flushes it — and deleted with `-X`, after the rules that stopped jumping to it. kube-proxy
 *   learns `previousChains` from iptables-save; here the caller passes what the last sync left,
 *   which is always `chainsOf(renderIptables(node, servicesOfLastSync))`.
 *
 * `changed: "all"` is a full sync with the stale-chain cleanup (what kube-proxy does at start
 * and every hour). Stale chains are deleted in name order (kube-proxy: set order).
 */
export function renderIptablesPartial(
  node: ProxyNode,
  services: readonly ServiceModel[],
  changed: ReadonlySet<string> | "all",
  previousChains: ReadonlySet<string>,
  opts: IptablesOptions = {},
): IptablesRestore {
  return renderIptablesSync(node, services, changed, { chains: previousChains }, opts).restore;
}

/** What one node's last sync left, as the next partial sync needs it. */
export interface IptablesSyncState {
  /** Every chain of the node's filter and nat tables (kube-proxy reads them from iptables-save). */
  chains: ReadonlySet<string>;
  /** The rules of each top-level chain as last written ("filter KUBE-SERVICES" → lines). When
   * given, a top-level chain whose rules are unchanged is not rewritten. */
  topLevel?: ReadonlyMap<string, string>;
  /** What each Service ("ns/name") contributed; when given, reused for the unchanged ones. */
  services?: ReadonlyMap<string, ServiceContribution>;
}

/** Before the first sync. */
export const EMPTY_IPTABLES_STATE: IptablesSyncState = { chains: new Set(), topLevel: new Map() };

/**
 * renderIptablesPartial, plus the state the sync leaves (for the next one), without re-rendering
 * the Services that did not change. With `previous.topLevel`, klab goes one step further than
 * kube-proxy (which rewrites KUBE-SERVICES and the other top-level chains on every sync): a
 * top-level chain whose rules are the ones it last wrote is neither declared nor rewritten, and
 * a table with nothing to write is left out. The result on the node is the same; but an endpoint
 * change no longer costs 10k KUBE-SERVICES rules (iptables-nft 1.8.9 inserts every jump target
 * of a --noflush restore into a sorted list: ~1.4 s for 10k rules).
 */
export function renderIptablesSync(
  node: ProxyNode,
  services: readonly ServiceModel[],
  changed: ReadonlySet<string> | "all",
  previous: IptablesSyncState,
  opts: IptablesOptions = {},
): { restore: IptablesRestore; state: IptablesSyncState } {
  if (changed !== "all" && previous.services && previous.topLevel) {
    const quick = renderChangedOnly(node, services, changed, previous as Required<IptablesSyncState>, opts);
    if (quick) return quick;
  }
  const w = render(node, services, opts, (key) => changed === "all" || changed.has(key), previous.services);
  // Stale chains: with per-Service bookkeeping only the changed Services' old chains can be.
  const incremental = changed !== "all" && previous.services !== undefined;
  const candidates = incremental ? [...changed].flatMap((k) => previous.services!.get(k)?.chains ?? []) : previous.chains;
  const stale: string[] = [];
  for (const c of candidates) if (isServiceChainName(c) && !w.activeNat.has(c)) stale.push(c);
  stale.sort();
  for (const c of stale) {
    w.natChains.push(chainLine(c));
    w.natRules.push(`-X ${c}`);
  }
  w.finish();

  // Top-level chains: those declared before the first service chain (all of filter's).
  const topLevel = new Map<string, string>();
  const skip = { filter: new Set<string>(), nat: new Set<string>() };
  for (const [t, decl, rules, count] of [
    ["filter", w.filterChains, w.filterRules, w.filterChains.length],
    ["nat", w.natChains, w.natTop, TOP_LEVEL_NAT.length],
  ] as const) {
    const top = decl.slice(0, count).map((l) => l.slice(1, l.indexOf(" ")));
    const prefixes = top.map((c) => `-A ${c} `);
    const byChain: string[][] = top.map(() => []);
    for (const r of rules) {
      const i = prefixes.findIndex((p) => r.startsWith(p));
      if (i >= 0) byChain[i].push(r);
    }
    top.forEach((c, i) => {
      const text = byChain[i].join("\n");
      topLevel.set(`${t} ${c}`, text);
      if (previous.topLevel?.get(`${t} ${c}`) === text) skip[t].add(c);
    });
  }
  const keep = (t: "filter" | "nat", decl: string[], rules: string[]) => {
    if (skip[t].size === 0) return table(t, decl, rules);
    const d = decl.filter((l) => !skip[t].has(l.slice(1, l.indexOf(" "))));
    const r = rules.filter((l) => !(l.startsWith("-A ") && skip[t].has(l.slice(3, l.indexOf(" ", 3)))));
    return d.length || r.length ? table(t, d, r) : "";
  };
  return {
    restore: { filter: keep("filter", w.filterChains, w.filterRules), nat: keep("nat", w.natChains, w.natRules) },
    state: stateOf(topLevel, w.contributions),
  };
}

const sameLines = (a: readonly string[] = [], b: readonly string[] = []) => a.length === b.length && a.every((l, i) => l === b[i]);

/** renderIptablesSync when the changed Services' top-level rules are the ones they had (an
 * endpoint change): renders those Services only; undefined when a top-level chain changes. */
function renderChangedOnly(
  node: ProxyNode,
  services: readonly ServiceModel[],
  changed: ReadonlySet<string>,
  previous: Required<IptablesSyncState>,
  opts: IptablesOptions,
): { restore: IptablesRestore; state: IptablesSyncState } | undefined {
  const proxied = proxiedServices(services);
  const some = servicesNamed(proxied, changed);
  const w = render(node, some, opts, () => true, undefined, countEndpoints(proxied));
  for (const k of changed) {
    const was = previous.services.get(k);
    const now = w.contributions.get(k);
    if (!sameLines(was?.nat, now?.nat) || !sameLines(was?.filter, now?.filter)) return undefined;
  }
  const stale: string[] = [];
  for (const k of changed) for (const c of previous.services.get(k)?.chains ?? []) if (!w.activeNat.has(c)) stale.push(c);
  stale.sort();
  const decl = [...w.natChains.slice(TOP_LEVEL_NAT.length), ...stale.map(chainLine)];
  const rules = [...w.natRules.filter((r) => SERVICE_CHAIN_RULE.test(r)), ...stale.map((c) => `-X ${c}`)];
  const replaced = new Map<string, ServiceContribution | undefined>();
  for (const k of changed) replaced.set(k, w.contributions.get(k));
  return {
    restore: { filter: "", nat: decl.length || rules.length ? table("nat", decl, rules) : "" },
    state: stateOf(previous.topLevel, overlay(previous.services, replaced)),
  };
}

/** `base` with some entries replaced (undefined: removed), in Map-copy order, without copying
 * base: the previous state must stay as it was (the apply may fail), and copying 10k entries
 * was half of a one-Service change's rendering. An overlay of an overlay is one level, over
 * the same base; past 1024 replaced entries it becomes a plain Map again. */
class Overlay<K, V> implements ReadonlyMap<K, V> {
  readonly size: number;
  constructor(readonly base: ReadonlyMap<K, V>, readonly replaced: ReadonlyMap<K, V | undefined>) {
    let size = base.size;
    for (const [k, v] of replaced) size += (v !== undefined ? 1 : 0) - (base.has(k) ? 1 : 0);
    this.size = size;
  }
  get(k: K): V | undefined {
    return this.replaced.has(k) ? this.replaced.get(k) : this.base.get(k);
  }
  has(k: K): boolean {
    return this.replaced.has(k) ? this.replaced.get(k) !== undefined : this.base.has(k);
  }
  *entries(): MapIterator<[K, V]> {
    for (const [k, v] of this.base) {
      if (!this.replaced.has(k)) yield [k, v];
      else if (this.replaced.get(k) !== undefined) yield [k, this.replaced.get(k)!];
    }
    for (const [k, v] of this.replaced) if (v !== undefined && !this.base.has(k)) yield [k, v];
  }
  *keys(): MapIterator<K> {
    for (const [k] of this.entries()) yield k;
  }
  *values(): MapIterator<V> {
    for (const [, v] of this.entries()) yield v;
  }
  [Symbol.iterator](): MapIterator<[K, V]> {
    return this.entries();
  }
  forEach(fn: (value: V, key: K, map: ReadonlyMap<K, V>) => void): void {
    for (const [k, v] of this.entries()) fn(v, k, this);
  }
}

function overlay<K, V>(base: ReadonlyMap<K, V>, replaced: ReadonlyMap<K, V | undefined>): ReadonlyMap<K, V> {
  if (base instanceof Overlay) {
    const merged = new Map<K, V | undefined>(base.replaced as ReadonlyMap<K, V | undefined>);
    for (const [k, v] of replaced) merged.set(k, v);
    return merged.size > 1024 ? new Map(new Overlay(base.base as ReadonlyMap<K, V>, merged)) : new Overlay(base.base as ReadonlyMap<K, V>, merged);
  }
  return new Overlay(base, replaced);
}

/** A sync state whose chain set is derived when asked (from the state itself only: a partial
 * sync of 10k Services need not copy 40k names, nor keep the previous state alive). */
function stateOf(topLevel: ReadonlyMap<string, string>, services: ReadonlyMap<string, ServiceContribution>): IptablesSyncState {
  let chains: Set<string> | undefined;
  return {
    get chains() {
      if (!chains) {
        chains = new Set([...topLevel.keys()].map((k) => k.slice(k.indexOf(" ") + 1)));
        for (const c of services.values()) for (const ch of c.chains) chains.add(ch);
      }
      return chains;
    },
    topLevel,
    services,
  };
}

/** The chains a restore text leaves in place: every declared chain, minus those it deletes.
 * Given a full render, that is the set of chains on the node after a sync of that state. */
export function chainsOf(ruleset: string | Partial<IptablesRestore>): Set<string> {
  const texts = typeof ruleset === "string" ? [ruleset] : [ruleset.nat ?? "", ruleset.filter ?? ""];
  const chains = new Set<string>();
  for (const text of texts) {
    for (const line of text.split("\n")) {
      if (line.startsWith(":")) chains.add(line.slice(1).split(" ")[0]);
      else if (line.startsWith("-X ")) chains.delete(line.slice(3).trim());
    }
  }
  return chains;
}

/** Both tables as one iptables-restore input, filter first (as kube-proxy's RestoreAll). */
export function restoreText(r: IptablesRestore): string {
  return r.filter + r.nat;
}

// ---- one-time jumps from the built-in chains -------------------------------------------------

interface JumpChain {
  table: "filter" | "nat";
  dst: string;
  src: string;
  comment: string;
  extra: string;
}

const NEW = "-m conntrack --ctstate NEW";

/** kube-proxy's iptablesJumpChains, in its order, then kubelet's (iptablesKubeletJumpChains). */
const JUMP_CHAINS: JumpChain[] = [
  { table: "filter", dst: KUBE_EXTERNAL_SERVICES, src: "INPUT", comment: "kubernetes externally-visible service portals", extra: NEW },
  { table: "filter", dst: KUBE_EXTERNAL_SERVICES, src: "FORWARD", comment: "kubernetes externally-visible service portals", extra: NEW },
  { table: "filter", dst: KUBE_NODEPORTS, src: "INPUT", comment: "kubernetes health check service ports", extra: "" },
  { table: "filter", dst: KUBE_SERVICES, src: "FORWARD", comment: "kubernetes service portals", extra: NEW },
  { table: "filter", dst: KUBE_SERVICES, src: "OUTPUT", comment: "kubernetes service portals", extra: NEW },
  { table: "filter", dst: KUBE_FORWARD, src: "FORWARD", comment: "kubernetes forwarding rules", extra: "" },
  { table: "filter", dst: KUBE_PROXY_FIREWALL, src: "INPUT", comment: "kubernetes load balancer firewall", extra: NEW },
  { table: "filter", dst: KUBE_PROXY_FIREWALL, src: "OUTPUT", comment: "kubernetes load balancer firewall", extra: NEW },
  { table: "filter", dst: KUBE_PROXY_FIREWALL, src: "FORWARD", comment: "kubernetes load balancer firewall", extra: NEW },
  { table: "nat", dst: KUBE_SERVICES, src: "OUTPUT", comment: "kubernetes service portals", extra: "" },
  { table: "nat", dst: KUBE_SERVICES, src: "PREROUTING", comment: "kubernetes service portals", extra: "" },
  { table: "nat", dst: KUBE_POSTROUTING, src: "POSTROUTING", comment: "kubernetes postrouting rules", extra: "" },
  { table: "filter", dst: KUBE_FIREWALL, src: "INPUT", comment: "", extra: "" },
  { table: "filter", dst: KUBE_FIREWALL, src: "OUTPUT", comment: "", extra: "" },
];

/** The one-time setup commands (see IptablesRuleset.jumps). */
export function iptablesJumps(): string[] {
  const out = (["mangle", "nat", "filter"] as const).map((t) => `-t ${t} -N ${KUBE_PROXY_CANARY}`);
  const created = new Set<string>();
  for (const j of JUMP_CHAINS) {
    if (!created.has(`${j.table}/${j.dst}`)) {
      created.add(`${j.table}/${j.dst}`);
      out.push(`-t ${j.table} -N ${j.dst}`);
    }
    const args = [j.extra, j.comment ? `-m comment --comment "${j.comment}"` : "", `-j ${j.dst}`].filter(Boolean).join(" ");
    out.push(`-t ${j.table} -I ${j.src} ${args}`);
  }
  return out;
}

/** Split one `jumps` entry into argv for `iptables` (double quotes group words, as in a shell
 * or in iptables-restore input). */
export function iptablesArgv(line: string): string[] {
  const argv: string[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) argv.push(m[1] ?? m[2]);
  return argv;
}
