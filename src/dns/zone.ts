// The cluster DNS zone: the records of the Kubernetes DNS-Based Service Discovery
// specification (kubernetes/dns docs/specification.md, schema 1.1.0), answered the way
// CoreDNS's kubernetes plugin answers them (plugin/kubernetes/{kubernetes,parse,reverse}.go,
// plugin/backend_lookup.go). Pure: built from the model, no I/O; src/dns/server.ts speaks
// the wire protocol.
//
// What is reproduced (CoreDNS as configured by kubeadm: `kubernetes cluster.local
// in-addr.arpa ip6.arpa { pods insecure }`, plugin default `ttl 5`):
//   <svc>.<ns>.svc.<zone>            A  ClusterIP | every ready endpoint (headless)
//                                    CNAME externalName (ExternalName; an IP there gives no record)
//                                    SRV one per port, target the service / endpoint name
//   _<port>._<proto>.<svc>.<ns>...   SRV named ports only; ClusterIP: service port, target
//                                    the service; headless: endpoint port, target the endpoint
//   <ep>.<svc>.<ns>.svc.<zone>       A  endpoint (ready, or all with publishNotReadyAddresses),
//                                    for ClusterIP and headless Services alike (CoreDNS's
//                                    "endpoint query"); <ep> = endpoint hostname (pod
//                                    spec.hostname when spec.subdomain is the Service's name)
//                                    else the dashed IP (endpoint_pod_names off)
//   <a-b-c-d>.<ns>.pod.<zone>        A  any dashed IP in an existing namespace (pods insecure)
//   d.c.b.a.in-addr.arpa             PTR the Service of a ClusterIP, else every endpoint name
//   dns-version.<zone>               TXT "1.1.0" (TTL 28800 as in CoreDNS)
//   <zone>                           SOA (ns.dns.<zone>, hostmaster.<zone>, 7200 1800 86400 ttl)
//                                    NS ns.dns.<zone> (when the DNS Service IP is known)
// Negative answers carry the zone's SOA in the authority section; a name that exists
// (with other types, or as an empty non-terminal) is NOERROR/NODATA, otherwise NXDOMAIN.
// Where CoreDNS is looser than RFC 1034/2308 we follow the RFCs (and say so below).

import net from "node:net";
import type { EndpointModel, ServiceModel } from "../model/services.js";

export const DNS_SCHEMA_VERSION = "1.1.0";
/** CoreDNS kubernetes plugin's defaultTTL (kubeadm's Corefile sets `ttl 30`). */
export const DEFAULT_TTL = 5;
/** CoreDNS answers dns-version with a fixed 28800 s TTL. */
export const DNS_VERSION_TTL = 28800;
/** CNAME chains are followed at most this deep (CoreDNS: len(previousRecords) > 7). */
const MAX_CNAME_CHAIN = 8;

export type RecordType = "A" | "AAAA" | "CNAME" | "PTR" | "NS" | "SRV" | "TXT" | "SOA";

interface RecordBase { name: string; class: "IN"; ttl: number }
/** A resource record, in the shape dns-packet encodes. */
export type DnsRecord =
  | (RecordBase & { type: "A" | "AAAA" | "CNAME" | "PTR" | "NS"; data: string })
  | (RecordBase & { type: "SRV"; data: { priority: number; weight: number; port: number; target: string } })
  | (RecordBase & { type: "TXT"; data: string[] })
  | (RecordBase & {
      type: "SOA";
      data: { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number };
    });

export interface ZonePod {
  namespace: string;
  name: string;
  ip: string;
  /** The pod's spec.hostname as written (not defaulted to the pod name). */
  hostname?: string;
  /** The pod's spec.subdomain. With hostname, names the pod's endpoint in the Service of that name. */
  subdomain?: string;
}

/** An endpoint may carry an explicit hostname (Endpoints/EndpointSlice `hostname`). */
export type ZoneEndpoint = EndpointModel & { hostname?: string };

export interface ZoneInput {
  /** e.g. "cluster.local" */
  clusterDomain: string;
  services: ServiceModel[];
  pods: ZonePod[];
  /** Existing namespaces (those of services and pods are added). */
  namespaces: string[];
  /** TTL of every record but dns-version; default 5 (CoreDNS's plugin default). */
  ttl?: number;
  /** CIDRs (service CIDR, pod CIDR) whose in-addr.arpa zones this server is authoritative for:
   * misses there are NXDOMAIN, not forwarded. PTR records of known IPs are answered anyway. */
  reverseCIDRs?: string[];
  /** CoreDNS `pods` option; kubeadm configures "insecure". */
  podMode?: "insecure" | "verified" | "disabled";
  /** The DNS Service's ClusterIP, for `NS <zone>` and `ns.dns.<zone> A`; default: kube-system/kube-dns's. */
  nameserverIP?: string | null;
  /** SOA serial (CoreDNS: unix time of the last change seen); default 1. */
  serial?: number;
}

export type ZoneRcode = "NOERROR" | "NXDOMAIN" | "NOT_AUTHORITATIVE";

export interface ZoneAnswer {
  /** NOT_AUTHORITATIVE: the name is outside the cluster domain and the reverse zones:
   * the server forwards it (or refuses it); nothing else in the answer is set. */
  rcode: ZoneRcode;
  answers: DnsRecord[];
  /** The zone's SOA on negative answers (NXDOMAIN, NODATA). */
  authority: DnsRecord[];
  /** A/AAAA of SRV targets, glue of NS. */
  additionals: DnsRecord[];
  /** The CNAME chain in `answers` leaves the zone at this name: a recursive server resolves
   * (name, type) upstream and appends what it finds (CoreDNS: Upstream.Lookup). */
  external?: { name: string; type: string };
}

export interface Zone {
  readonly clusterDomain: string;
  readonly ttl: number;
  readonly serial: number;
  /** The apexes this zone answers for: the cluster domain, then the reverse zones. */
  readonly apexes: readonly string[];
  /** qname as received (any case, trailing dot or not); qtype a type mnemonic ("A", "SRV",
   * "UNKNOWN_65280" as dns-packet names unknown types). Owner names keep the question's case. */
  answer(qname: string, qtype: string): ZoneAnswer;
  /** Whether the name is one this zone answers (rather than forwards). */
  isAuthoritative(qname: string): boolean;
  /** Every static record, sorted (pod names under <ns>.pod are synthesized on query, not listed). */
  records(): DnsRecord[];
}

// ---- internal ----------------------------------------------------------------------------

/** An address behind a name: A/AAAA from ip, SRV from port (-1: none) and target. */
interface Addr { ip: string; port: number; target: string }

interface Node {
  addrs: Addr[];
  cname?: string;
  txt?: { text: string[]; ttl: number };
  ptr: string[];
  /** Zone apex (lowercase) the name belongs to, for SOA. */
  apex: string;
  isApex: boolean;
}

const HAS_UPPER = /[A-Z]/;
/** ASCII-only lowercasing (DNS names compare case-insensitively in ASCII only); names almost
 * always arrive lowercase, so the common case is one regex test and no new string. */
const asciiLower = (s: string) => (HAS_UPPER.test(s) ? s.replace(/[A-Z]+/g, (m) => m.toLowerCase()) : s);
const trimDot = (s: string) => (s.length > 1 && s.endsWith(".") ? s.slice(0, -1) : s === "." ? "" : s);

/** The in-addr.arpa zones covering an IPv4 CIDR, split on octet boundaries the way CoreDNS
 * turns `kubernetes cluster.local 10.96.0.0/12` into 96.10.in-addr.arpa ... 111.10.in-addr.arpa. */
export function reverseZonesOf(cidr: string): string[] {
  const m = /^(\d+\.\d+\.\d+\.\d+)\/(\d+)$/.exec(cidr.trim());
  if (!m || !net.isIPv4(m[1]) || Number(m[2]) > 32) throw new Error(`invalid IPv4 CIDR ${JSON.stringify(cidr)}`);
  const prefix = Number(m[2]);
  const addr = m[1].split(".").reduce((a, o) => a * 256 + Number(o), 0);
  const octets = Math.ceil(prefix / 8);
  const count = 2 ** (octets * 8 - prefix);
  const network = prefix === 0 ? 0 : addr - (addr % 2 ** (32 - prefix));
  const zones: string[] = [];
  for (let i = 0; i < count; i++) {
    const a = network + i * 2 ** (32 - octets * 8);
    const bytes = [24, 16, 8, 0].map((s) => Math.floor(a / 2 ** s) % 256).slice(0, octets);
    zones.push([...bytes.reverse(), "in-addr", "arpa"].join("."));
  }
  return zones;
}

/** d.c.b.a.in-addr.arpa for a.b.c.d */
export function reverseName(ip: string): string {
  return ip.split(".").reverse().join(".") + ".in-addr.arpa";
}

/** CoreDNS findPods: "1-2-3-4" (exactly three dashes, none doubled) is IPv4, anything else
 * has its dashes read as colons (IPv6). */
function podNameToIP(label: string): { ip: string; v6: boolean } | null {
  const dashes = label.split("-").length - 1;
  if (dashes === 3 && !label.includes("--")) {
    const ip = label.replaceAll("-", ".");
    return net.isIPv4(ip) ? { ip, v6: false } : null;
  }
  const ip = label.replaceAll("-", ":");
  return net.isIPv6(ip) ? { ip, v6: true } : null;
}

export function buildZone(input: ZoneInput): Zone {
  const domain = asciiLower(trimDot(input.clusterDomain));
  if (!domain) throw new Error("clusterDomain must not be empty");
  const ttl = input.ttl ?? DEFAULT_TTL;
  const serial = input.serial ?? 1;
  const podMode = input.podMode ?? "insecure";

  const reverseApexes = [...new Set((input.reverseCIDRs ?? []).flatMap(reverseZonesOf))];
  const apexes = [domain, ...reverseApexes];
  const apexSet = new Set(apexes);

  const nodes = new Map<string, Node>();
  const ents = new Set<string>();
  /** The most specific apex at or above a (lowercase) name. */
  const apexOf = (name: string): string | undefined => {
    if (apexSet.has(name)) return name;
    for (let i = name.indexOf("."); i >= 0; i = name.indexOf(".", i + 1)) {
      const rest = name.slice(i + 1);
      if (apexSet.has(rest)) return rest;
    }
    return undefined;
  };
  const node = (name: string, apex?: string): Node => {
    let n = nodes.get(name);
    if (!n) {
      const a = apex ?? apexOf(name) ?? "in-addr.arpa";
      nodes.set(name, (n = { addrs: [], ptr: [], apex: a, isApex: name === a }));
    }
    return n;
  };

  const namespaces = new Set<string>();
  for (const ns of input.namespaces) namespaces.add(asciiLower(ns));
  for (const s of input.services) namespaces.add(asciiLower(s.namespace));
  for (const p of input.pods) namespaces.add(asciiLower(p.namespace));

  // Apex, svc and pod subtrees, namespaces.
  node(domain).isApex = true;
  for (const a of reverseApexes) node(a, a).isApex = true;
  ents.add(`svc.${domain}`);
  ents.add(`pod.${domain}`);
  for (const ns of namespaces) {
    ents.add(`${ns}.svc.${domain}`);
    if (podMode !== "disabled") ents.add(`${ns}.pod.${domain}`);
  }
  node(`dns-version.${domain}`).txt = { text: [DNS_SCHEMA_VERSION], ttl: DNS_VERSION_TTL };

  const nsIP =
    input.nameserverIP === undefined
      ? input.services.find((s) => s.namespace === "kube-system" && s.name === "kube-dns" && s.clusterIP)?.clusterIP ?? null
      : input.nameserverIP;
  const nsName = `ns.dns.${domain}`;
  if (nsIP) node(nsName).addrs.push({ ip: nsIP, port: -1, target: nsName });

  const podsByRef = new Map<string, ZonePod>();
  for (const p of input.pods) podsByRef.set(`${p.namespace}/${p.name}`, p);

  // Reverse: ClusterIPs answer with their Service only; other IPs with every endpoint name.
  const ptrService = new Map<string, string>();
  const ptrEndpoints = new Map<string, string[]>();

  for (const svc of input.services) {
    const base = asciiLower(`${svc.name}.${svc.namespace}.svc.${domain}`);
    if (svc.type === "ExternalName") {
      const target = trimDot(svc.externalName ?? "");
      // CoreDNS only makes a CNAME when the externalName is a name (HostType() == CNAME).
      if (target && !net.isIP(target)) node(base).cname = target;
      continue;
    }
    const headless = svc.clusterIP === null || svc.clusterIP === "None" || svc.clusterIP === "";
    if (!headless) {
      const ip = svc.clusterIP as string;
      const ports = svc.ports.length ? svc.ports : [{ name: "", protocol: "TCP" as const, port: -1 }];
      for (const p of ports) {
        node(base).addrs.push({ ip, port: p.port, target: base });
        if (p.name) node(asciiLower(`_${p.name}._${p.protocol}.${base}`)).addrs.push({ ip, port: p.port, target: base });
      }
      if (!ptrService.has(ip)) ptrService.set(ip, base);
    }
    for (const p of svc.ports) {
      for (const ep of (svc.endpoints[p.name] ?? []) as ZoneEndpoint[]) {
        if (!ep.ready && !svc.publishNotReadyAddresses) continue;
        const epName = asciiLower(`${endpointHostname(ep, svc, podsByRef)}.${base}`);
        node(epName).addrs.push({ ip: ep.ip, port: ep.port, target: epName });
        if (headless) {
          node(base).addrs.push({ ip: ep.ip, port: ep.port, target: epName });
          if (p.name) node(asciiLower(`_${p.name}._${p.protocol}.${base}`)).addrs.push({ ip: ep.ip, port: ep.port, target: epName });
        }
        const list = ptrEndpoints.get(ep.ip) ?? [];
        if (!list.includes(epName)) list.push(epName);
        ptrEndpoints.set(ep.ip, list);
      }
    }
  }
  for (const [ip, name] of ptrService) if (net.isIPv4(ip)) node(reverseName(ip)).ptr.push(name);
  for (const [ip, names] of ptrEndpoints) {
    if (ptrService.has(ip) || !net.isIPv4(ip)) continue;
    node(reverseName(ip)).ptr.push(...names);
  }

  // Empty non-terminals: every ancestor of an owner name, down to its apex.
  for (const [name, n] of nodes) {
    if (!apexSet.has(n.apex)) continue; // a PTR outside the configured reverse zones
    for (let i = name.indexOf("."); i >= 0 && name.length - i - 1 > n.apex.length; i = name.indexOf(".", i + 1)) {
      const rest = name.slice(i + 1);
      if (!nodes.has(rest)) ents.add(rest);
    }
  }

  const podIPs = new Set(input.pods.map((p) => `${asciiLower(p.namespace)}/${p.ip}`));
  const podSuffix = `.pod.${domain}`;

  /** A name under <ns>.pod.<zone>: synthesized (pods insecure) or checked (verified). */
  function podNode(name: string): Node | undefined {
    if (podMode === "disabled" || !name.endsWith(podSuffix)) return undefined;
    const labels = name.slice(0, -podSuffix.length).split(".");
    if (labels.length !== 2 || !namespaces.has(labels[1])) return undefined;
    const parsed = podNameToIP(labels[0]);
    if (!parsed) return undefined;
    if (podMode === "verified" && !podIPs.has(`${labels[1]}/${parsed.ip}`)) return undefined;
    return { addrs: [{ ip: parsed.ip, port: -1, target: name }], ptr: [], apex: domain, isApex: false };
  }

  const soa = (apexCased: string): DnsRecord => {
    const apex = asciiLower(apexCased);
    return {
      name: apexCased,
      type: "SOA",
      class: "IN",
      // plugin.SOA: the record's TTL is min(300, ttl); minimum (negative caching) is ttl.
      ttl: Math.min(300, ttl),
      data: { mname: `ns.dns.${apex}`, rname: `hostmaster.${apex}`, serial, refresh: 7200, retry: 1800, expire: 86400, minimum: ttl },
    };
  };

  function recordsFor(n: Node, owner: string, qtype: string): { answers: DnsRecord[]; additionals: DnsRecord[] } {
    const answers: DnsRecord[] = [];
    const additionals: DnsRecord[] = [];
    switch (qtype) {
      case "A":
      case "AAAA": {
        const seen = new Set<string>();
        for (const a of n.addrs) {
          if (seen.has(a.ip) || (qtype === "A" ? !net.isIPv4(a.ip) : !net.isIPv6(a.ip))) continue;
          seen.add(a.ip);
          answers.push({ name: owner, type: qtype, class: "IN", ttl, data: a.ip });
        }
        break;
      }
      case "SRV": {
        // plugin.SRV: priority 0; weights share 100 between all entries (at least 1);
        // duplicates (target, port) dropped; the targets' addresses go to the additional section.
        const weight = Math.max(1, Math.floor((100 / (100 * n.addrs.length)) * 100));
        const srvSeen = new Set<string>();
        const addrSeen = new Set<string>();
        for (const a of n.addrs) {
          if (a.port < 0) continue;
          const key = `${a.target} ${a.port}`;
          if (!srvSeen.has(key)) {
            srvSeen.add(key);
            answers.push({ name: owner, type: "SRV", class: "IN", ttl, data: { priority: 0, weight, port: a.port, target: a.target } });
          }
          const akey = `${a.target} ${a.ip}`;
          if (!addrSeen.has(akey)) {
            addrSeen.add(akey);
            additionals.push({ name: a.target, type: net.isIPv6(a.ip) ? "AAAA" : "A", class: "IN", ttl, data: a.ip });
          }
        }
        break;
      }
      case "TXT":
        if (n.txt) answers.push({ name: owner, type: "TXT", class: "IN", ttl: n.txt.ttl, data: [...n.txt.text] });
        break;
      case "PTR":
        for (const target of new Set(n.ptr)) answers.push({ name: owner, type: "PTR", class: "IN", ttl, data: target });
        break;
      case "CNAME":
        if (n.cname) answers.push({ name: owner, type: "CNAME", class: "IN", ttl, data: n.cname });
        break;
      case "SOA":
        if (n.isApex) answers.push(soa(owner));
        break;
      case "NS":
        if (n.isApex && nsIP) {
          answers.push({ name: owner, type: "NS", class: "IN", ttl, data: nsName });
          additionals.push({ name: nsName, type: net.isIPv6(nsIP) ? "AAAA" : "A", class: "IN", ttl, data: nsIP });
        }
        break;
      // ANY and every other type: NODATA, as CoreDNS's kubernetes plugin answers them.
    }
    return { answers, additionals };
  }

  function isAuthoritative(qname: string): boolean {
    const lower = asciiLower(trimDot(qname));
    return apexOf(lower) !== undefined || nodes.has(lower);
  }

  function answer(qname: string, qtype: string): ZoneAnswer {
    const type = qtype.toUpperCase();
    const asked = trimDot(qname);
    const lower = asciiLower(asked);
    if (!isAuthoritative(lower)) return { rcode: "NOT_AUTHORITATIVE", answers: [], authority: [], additionals: [] };

    const chain: DnsRecord[] = [];
    const visited = new Set<string>();
    let owner = asked;
    let name = lower;
    for (;;) {
      const apex = apexOf(name) ?? "in-addr.arpa";
      // The SOA keeps the case the zone was asked in (CoreDNS: "maintain case of original query").
      const apexCased = owner.length >= apex.length && asciiLower(owner.slice(owner.length - apex.length)) === apex
        ? owner.slice(owner.length - apex.length)
        : apex;
      const n = nodes.get(name) ?? podNode(name);
      if (!n) {
        if (ents.has(name)) return { rcode: "NOERROR", answers: chain, authority: [soa(apexCased)], additionals: [] };
        return { rcode: "NXDOMAIN", answers: chain, authority: [soa(apexCased)], additionals: [] };
      }
      if (n.cname && type !== "CNAME") {
        // RFC 1034 §3.6.2: a CNAME answers every type; follow it while it stays in our zones.
        chain.push({ name: owner, type: "CNAME", class: "IN", ttl, data: n.cname });
        visited.add(name);
        const next = asciiLower(n.cname);
        if (visited.has(next) || chain.length >= MAX_CNAME_CHAIN) return { rcode: "NOERROR", answers: chain, authority: [], additionals: [] };
        if (!isAuthoritative(next)) return { rcode: "NOERROR", answers: chain, authority: [], additionals: [], external: { name: n.cname, type } };
        owner = n.cname;
        name = next;
        continue;
      }
      const { answers, additionals } = recordsFor(n, owner, type);
      if (answers.length === 0) return { rcode: "NOERROR", answers: chain, authority: [soa(apexCased)], additionals: [] };
      return { rcode: "NOERROR", answers: [...chain, ...answers], authority: [], additionals };
    }
  }

  function records(): DnsRecord[] {
    const out: DnsRecord[] = [];
    for (const name of [...nodes.keys()].sort()) {
      const n = nodes.get(name)!;
      for (const t of ["SOA", "NS", "CNAME", "A", "AAAA", "SRV", "TXT", "PTR"]) out.push(...recordsFor(n, name, t).answers);
    }
    return out;
  }

  return { clusterDomain: domain, ttl, serial, apexes, answer, isAuthoritative, records };
}

/** The endpoint's name label: explicit hostname, else the pod's spec.hostname when its
 * spec.subdomain names this Service (the EndpointSlice controller's rule), else the dashed IP
 * (CoreDNS endpointHostname with endpoint_pod_names off, the default). */
function endpointHostname(ep: ZoneEndpoint, svc: ServiceModel, pods: Map<string, ZonePod>): string {
  if (ep.hostname) return ep.hostname;
  const pod = ep.pod ? pods.get(ep.pod) : undefined;
  if (pod?.hostname && pod.subdomain === svc.name && pod.namespace === svc.namespace) return pod.hostname;
  return ep.ip.includes(".") ? ep.ip.replaceAll(".", "-") : ep.ip.replaceAll(":", "-");
}
