// Service objects → ServiceSpecModel: validation with positions and address allocation
// (ClusterIPs from serviceCIDR, NodePorts from 30000-32767, LoadBalancer IPs from the pool).
// Allocation is deterministic — explicit values first, then declaration order — so plans and
// golden files are stable.
import type { SpecError } from "../spec/errors.js";
import type { LoadedFiles, Path } from "../spec/load.js";
import { cidrContains, cidrToString, intToIp, ipToInt, isValidIPv4, nthAddress, parseCidr, type Cidr } from "./ipam.js";
import type { ManualEndpoint, Protocol, ServiceSpecModel, ServiceSpecPort } from "./services.js";

export const NODEPORT_MIN = 30000;
export const NODEPORT_MAX = 32767;
/** serviceCIDR's first address is the `kubernetes` Service, the tenth kube-dns (as kubeadm). */
export const RESERVED_SERVICE_HOSTS = [1, 10];
const FIRST_DYNAMIC_SERVICE_HOST = 11;
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;

/** The LoadBalancer pool: IPs, "a-b" ranges and CIDRs; default the top of the underlay (.240-.250). */
export function loadBalancerPool(addresses: string[] | undefined, underlay: Cidr): { pool: string[]; bad: { index: number; message: string }[] } {
  if (!addresses) {
    const top = 2 ** (32 - underlay.prefix);
    const out: string[] = [];
    for (let h = top - 16; h <= top - 6; h++) out.push(nthAddress(underlay, h));
    return { pool: out, bad: [] };
  }
  const pool: string[] = [];
  const bad: { index: number; message: string }[] = [];
  addresses.forEach((a, index) => {
    if (a.includes("/")) {
      const c = parseCidr(a);
      if (!c) return bad.push({ index, message: `"${a}" is not a valid CIDR` });
      for (let h = c.prefix >= 31 ? 0 : 1; h < 2 ** (32 - c.prefix) - (c.prefix >= 31 ? 0 : 1); h++) pool.push(nthAddress(c, h));
    } else if (a.includes("-")) {
      const [from, to] = a.split("-").map((x) => x.trim());
      if (!isValidIPv4(from) || !isValidIPv4(to) || ipToInt(to) < ipToInt(from)) return bad.push({ index, message: `"${a}" is not a range like 192.168.56.240-192.168.56.250` });
      for (let n = ipToInt(from); n <= ipToInt(to); n++) pool.push(intToIp(n));
    } else if (isValidIPv4(a)) pool.push(a);
    else bad.push({ index, message: `"${a}" is not an IPv4 address, range or CIDR` });
  });
  for (const ip of pool) if (!cidrContains(underlay, ip)) bad.push({ index: -1, message: `${ip} is not on the underlay ${cidrToString(underlay)}` });
  return { pool, bad };
}

export interface ServiceBuildContext {
  serviceCIDR: Cidr | null;
  underlay: Cidr | null;
  namespaces: Set<string>;
  lbPool: string[];
  /** Underlay addresses already used by nodes and clients. */
  usedUnderlay: Map<string, string>;
  /** Services of the running lab: they keep their addresses (`klab apply`). */
  previous?: ServiceSpecModel[];
}

export function buildServiceSpecs(loaded: LoadedFiles, ctx: ServiceBuildContext, errors: SpecError[]): ServiceSpecModel[] {
  const out: ServiceSpecModel[] = [];
  const seen = new Map<string, number>();
  const usedIPs = new Map<string, string>();
  const usedNodePorts = new Map<number, string>();
  const usedLB = new Map<string, string>();
  const services = loaded.services ?? [];
  const explicitIP = new Map<number, string>();

  // Pass 1: validate, collect explicit addresses.
  services.forEach((sv, i) => {
    const s = sv.value;
    const src = sv.src;
    const ns = s.metadata.namespace ?? "default";
    const key = `${ns}/${s.metadata.name}`;
    const err = (path: Path, message: string, hint?: string, key = false) => errors.push(src.error(path, message, hint, { key }));
    if (!DNS1035_LABEL.test(s.metadata.name) || s.metadata.name.length > 63) {
      err(["metadata", "name"], `a Service name must be a DNS-1035 label (start with a letter; lowercase letters, digits, '-'), got "${s.metadata.name}"`, "e.g. web-svc");
    }
    if (seen.has(key)) err(["metadata", "name"], `duplicate Service "${key}"`, "remove one of them");
    seen.set(key, i);
    if (!ctx.namespaces.has(ns)) err(["metadata", "namespace"], `namespace "${ns}" not found`, `add a Namespace object named ${ns}`);
    const spec = s.spec;
    if (spec.type === "ExternalName") {
      if (!spec.externalName) err(["spec"], "an ExternalName Service needs spec.externalName", "e.g. externalName: example.com");
      return;
    }
    if (spec.ports.length === 0) err(["spec", "ports"], "a Service needs at least one port", "e.g. ports: [{port: 80, targetPort: 8080}]");
    const names = new Set<string>();
    const portKeys = new Set<string>();
    spec.ports.forEach((p, pi) => {
      const pp: Path = ["spec", "ports", pi];
      if (spec.ports.length > 1 && !p.name) err(pp, "a Service with several ports must name each one", "give every port a distinct name, e.g. name: http and name: metrics (Kubernetes requires it too)");
      if (p.name && names.has(p.name)) err([...pp, "name"], `duplicate port name "${p.name}"`);
      if (p.name) names.add(p.name);
      const k = `${p.protocol}/${p.port}`;
      if (portKeys.has(k)) err([...pp, "port"], `port ${k} is listed twice`);
      portKeys.add(k);
      if (p.protocol === "SCTP") err([...pp, "protocol"], "SCTP is not supported by klab", "use TCP or UDP");
      if (typeof p.targetPort === "string" && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(p.targetPort)) {
        err([...pp, "targetPort"], `targetPort "${p.targetPort}" is neither a port number nor a port name`, "a number 1-65535 or a containerPort name");
      }
      if (p.nodePort !== undefined) {
        if (spec.type === "ClusterIP") err([...pp, "nodePort"], "nodePort is set on a ClusterIP Service", "use type: NodePort or LoadBalancer, or remove nodePort");
        else if (p.nodePort < NODEPORT_MIN || p.nodePort > NODEPORT_MAX) {
          err([...pp, "nodePort"], `nodePort ${p.nodePort} is outside the range ${NODEPORT_MIN}-${NODEPORT_MAX}`, "leave it out to have one allocated");
        } else if (usedNodePorts.has(p.nodePort)) err([...pp, "nodePort"], `nodePort ${p.nodePort} is already used by ${usedNodePorts.get(p.nodePort)}`, "each nodePort can be used once per cluster");
        else usedNodePorts.set(p.nodePort, `${key}${p.name ? `:${p.name}` : ""}`);
      }
    });
    const ip = spec.clusterIP ?? spec.clusterIPs?.[0];
    if (ip !== undefined && ip !== "None" && ip !== "") {
      if (!isValidIPv4(ip)) err(["spec", "clusterIP"], `"${ip}" is not an IPv4 address`, `e.g. an address in ${ctx.serviceCIDR ? cidrToString(ctx.serviceCIDR) : "serviceCIDR"}, or None for a headless Service`);
      else if (ctx.serviceCIDR && !cidrContains(ctx.serviceCIDR, ip)) err(["spec", "clusterIP"], `clusterIP ${ip} is not inside serviceCIDR ${cidrToString(ctx.serviceCIDR)}`, "pick an address in serviceCIDR, or leave clusterIP out");
      else if (usedIPs.has(ip)) err(["spec", "clusterIP"], `clusterIP ${ip} is already allocated to ${usedIPs.get(ip)}`, "leave clusterIP out to have a free one allocated");
      else {
        usedIPs.set(ip, key);
        explicitIP.set(i, ip);
      }
    }
    if (ip === "None" && spec.type !== "ClusterIP") err(["spec", "clusterIP"], `a headless Service (clusterIP: None) cannot be type ${spec.type}`, "use type: ClusterIP, or give it a cluster IP");
    if (spec.type !== "LoadBalancer" && spec.loadBalancerIP) err(["spec", "loadBalancerIP"], "loadBalancerIP is only for type LoadBalancer");
    if (spec.externalTrafficPolicy && spec.type !== "NodePort" && spec.type !== "LoadBalancer") {
      err(["spec", "externalTrafficPolicy"], `externalTrafficPolicy applies to NodePort and LoadBalancer Services, not ${spec.type}`, "remove it (Kubernetes rejects it too)");
    }
    if (spec.sessionAffinityConfig && spec.sessionAffinity !== "ClientIP") err(["spec", "sessionAffinityConfig"], "sessionAffinityConfig needs sessionAffinity: ClientIP");
    if (spec.type === "LoadBalancer" && spec.loadBalancerIP) {
      const lb = spec.loadBalancerIP;
      if (!ctx.lbPool.includes(lb)) err(["spec", "loadBalancerIP"], `loadBalancerIP ${lb} is not in the LoadBalancer pool`, `the pool (spec.loadBalancer.addresses) holds ${ctx.lbPool.length} address(es) from ${ctx.lbPool[0]} to ${ctx.lbPool[ctx.lbPool.length - 1]}; pick one of them, or leave loadBalancerIP out`);
      else if (usedLB.has(lb)) err(["spec", "loadBalancerIP"], `loadBalancerIP ${lb} is already used by ${usedLB.get(lb)}`);
      else usedLB.set(lb, key);
    }
  });
  for (const ep of [...(loaded.endpoints ?? []), ...(loaded.endpointSlices ?? [])]) {
    const ns = ep.value.metadata.namespace ?? "default";
    const svcName = ep.value.kind === "EndpointSlice" ? ep.value.metadata.labels?.["kubernetes.io/service-name"] : ep.value.metadata.name;
    if (!svcName) {
      errors.push(ep.src.error(["metadata", "labels"], "an EndpointSlice needs the label kubernetes.io/service-name", "labels: {kubernetes.io/service-name: my-svc}"));
      continue;
    }
    const svc = services.find((s) => (s.value.metadata.namespace ?? "default") === ns && s.value.metadata.name === svcName);
    if (!svc) errors.push(ep.src.error(["metadata", "name"], `no Service ${ns}/${svcName} for these endpoints`, "add the Service (without a selector)"));
    else if (svc.value.spec.selector) errors.push(ep.src.error(["metadata", "name"], `Service ${ns}/${svcName} has a selector: its endpoints come from pods`, "remove the Service's selector to use hand-written endpoints"));
  }

  // Running Services keep what they were given, unless the file now sets something else.
  const prev = new Map((ctx.previous ?? []).map((p) => [`${p.namespace}/${p.name}`, p]));
  services.forEach((sv, i) => {
    const key = `${sv.value.metadata.namespace ?? "default"}/${sv.value.metadata.name}`;
    const p = prev.get(key);
    if (!p || seen.get(key) !== i) return;
    const spec = sv.value.spec;
    const want = spec.clusterIP ?? spec.clusterIPs?.[0];
    if (want === undefined && p.clusterIP && !usedIPs.has(p.clusterIP)) {
      usedIPs.set(p.clusterIP, key);
      explicitIP.set(i, p.clusterIP);
    }
    spec.ports.forEach((port) => {
      const old = p.ports.find((x) => x.name === (port.name ?? "") && x.protocol === port.protocol);
      if (port.nodePort === undefined && old?.nodePort && !usedNodePorts.has(old.nodePort) && (spec.type === "NodePort" || spec.type === "LoadBalancer")) {
        port.nodePort = old.nodePort;
        usedNodePorts.set(old.nodePort, key);
      }
    });
    if (spec.type === "LoadBalancer" && !spec.loadBalancerIP && p.loadBalancerIP && !usedLB.has(p.loadBalancerIP)) {
      spec.loadBalancerIP = p.loadBalancerIP;
      usedLB.set(p.loadBalancerIP, key);
    }
  });

  // Pass 2: allocate and build.
  let nextHost = FIRST_DYNAMIC_SERVICE_HOST;
  let nextNodePort = NODEPORT_MIN;
  const lbFree = ctx.lbPool.filter((ip) => !usedLB.has(ip) && !ctx.usedUnderlay.has(ip));
  services.forEach((sv, i) => {
    const s = sv.value;
    const spec = s.spec;
    const ns = s.metadata.namespace ?? "default";
    const key = `${ns}/${s.metadata.name}`;
    if (seen.get(key) !== i) return;
    let clusterIP: string | null = null;
    const wantIP = spec.clusterIP ?? spec.clusterIPs?.[0];
    if (spec.type !== "ExternalName" && wantIP !== "None") {
      clusterIP = explicitIP.get(i) ?? null;
      if (!clusterIP && ctx.serviceCIDR) {
        const size = 2 ** (32 - ctx.serviceCIDR.prefix);
        while (nextHost < size - 1 && (RESERVED_SERVICE_HOSTS.includes(nextHost) || usedIPs.has(nthAddress(ctx.serviceCIDR, nextHost)))) nextHost++;
        if (nextHost >= size - 1) errors.push(sv.src.error(["metadata", "name"], `serviceCIDR ${cidrToString(ctx.serviceCIDR)} is full`, "use a larger serviceCIDR"));
        else clusterIP = nthAddress(ctx.serviceCIDR, nextHost++);
      }
    }
    const ports: ServiceSpecPort[] = spec.ports.map((p) => {
      let nodePort = p.nodePort;
      if ((spec.type === "NodePort" || spec.type === "LoadBalancer") && nodePort === undefined) {
        while (usedNodePorts.has(nextNodePort)) nextNodePort++;
        nodePort = nextNodePort++;
        usedNodePorts.set(nodePort, key);
      }
      return { name: p.name ?? "", protocol: p.protocol as Protocol, port: p.port, targetPort: p.targetPort ?? p.port, nodePort };
    });
    let loadBalancerIP: string | undefined;
    if (spec.type === "LoadBalancer") {
      loadBalancerIP = spec.loadBalancerIP && ctx.lbPool.includes(spec.loadBalancerIP) ? spec.loadBalancerIP : lbFree.find((ip) => !usedLB.has(ip));
      if (loadBalancerIP) usedLB.set(loadBalancerIP, key);
      if (!loadBalancerIP) errors.push(sv.src.error(["spec", "type"], "the LoadBalancer address pool is exhausted", "add addresses to spec.loadBalancer.addresses in the Lab"));
    }
    out.push({
      namespace: ns,
      name: s.metadata.name,
      type: spec.type,
      clusterIP,
      externalName: spec.externalName,
      selector: spec.selector,
      ports: spec.type === "ExternalName" ? [] : ports,
      sessionAffinity: spec.sessionAffinity,
      affinityTimeoutSeconds: spec.sessionAffinityConfig?.clientIP.timeoutSeconds ?? 10800,
      externalTrafficPolicy: spec.externalTrafficPolicy ?? "Cluster",
      internalTrafficPolicy: spec.internalTrafficPolicy,
      publishNotReadyAddresses: spec.publishNotReadyAddresses,
      loadBalancerIP,
      manualEndpoints: spec.selector ? undefined : manualEndpointsFor(loaded, ns, s.metadata.name),
    });
  });
  return out;
}

function manualEndpointsFor(loaded: LoadedFiles, ns: string, name: string): ManualEndpoint[] {
  const out: ManualEndpoint[] = [];
  for (const e of loaded.endpoints ?? []) {
    if ((e.value.metadata.namespace ?? "default") !== ns || e.value.metadata.name !== name) continue;
    for (const subset of e.value.subsets) {
      const ports = Object.fromEntries(subset.ports.map((p) => [p.name ?? "", { port: p.port, protocol: p.protocol as Protocol }]));
      for (const a of subset.addresses) out.push({ ip: a.ip, nodeName: a.nodeName, hostname: a.hostname, ready: true, ports });
      for (const a of subset.notReadyAddresses) out.push({ ip: a.ip, nodeName: a.nodeName, hostname: a.hostname, ready: false, ports });
    }
  }
  for (const sl of loaded.endpointSlices ?? []) {
    const v = sl.value;
    if ((v.metadata.namespace ?? "default") !== ns || v.metadata.labels?.["kubernetes.io/service-name"] !== name) continue;
    const ports = Object.fromEntries(v.ports.map((p) => [p.name ?? "", { port: p.port, protocol: p.protocol as Protocol }]));
    for (const ep of v.endpoints) for (const ip of ep.addresses) out.push({ ip, nodeName: ep.nodeName, hostname: ep.hostname, ready: ep.conditions.ready ?? true, ports });
  }
  return out;
}
