// Services and their endpoints, as kube-proxy sees them: the input of the proxy renderers
// (src/plan/proxy/*). Pure data.

export type Protocol = "TCP" | "UDP";
export type ServiceType = "ClusterIP" | "NodePort" | "LoadBalancer" | "ExternalName";
export type ProxyMode = "iptables" | "nftables" | "ipvs";

export interface ServicePortModel {
  /** The port's name in the Service ("" when the Service has a single unnamed port). */
  name: string;
  protocol: Protocol;
  port: number;
  /** Allocated (or explicit) nodePort for NodePort/LoadBalancer Services. */
  nodePort?: number;
}

export interface EndpointModel {
  /** Pod IP and the resolved target port of this service port. */
  ip: string;
  port: number;
  /** Node the pod runs on (for externalTrafficPolicy/internalTrafficPolicy Local). */
  node: string;
  /** Pod reference, "" for endpoints from a user-written Endpoints/EndpointSlice. */
  pod: string;
  ready: boolean;
  /** Hand-written endpoints may name themselves for DNS (<hostname>.<svc>.<ns>.svc). */
  hostname?: string;
  /** EndpointSlice "serving"/"terminating" are not modelled: ready is what counts. */
}

export interface ServiceModel {
  namespace: string;
  name: string;
  type: ServiceType;
  /** Virtual IP; null for headless (clusterIP: None) and ExternalName Services. */
  clusterIP: string | null;
  externalName?: string;
  ports: ServicePortModel[];
  sessionAffinity: "None" | "ClientIP";
  /** sessionAffinityConfig.clientIP.timeoutSeconds, default 10800. */
  affinityTimeoutSeconds: number;
  externalTrafficPolicy: "Cluster" | "Local";
  internalTrafficPolicy: "Cluster" | "Local";
  publishNotReadyAddresses: boolean;
  /** LoadBalancer ingress address (status.loadBalancer.ingress[0].ip), when assigned. */
  loadBalancerIP?: string;
  /** Endpoints per service port name (the same key as ServicePortModel.name). */
  endpoints: Record<string, EndpointModel[]>;
}

/** What one node's kube-proxy needs to render its ruleset. */
export interface ProxyNode {
  name: string;
  /** The node's own addresses (NodePorts answer on them; `--nodeport-addresses` default). */
  ip: string;
  /** The cluster's pod CIDR: traffic from outside it to a ClusterIP is masqueraded
   * (kube-proxy's --cluster-cidr), as kube-proxy does to keep replies symmetric. */
  clusterCIDR: string;
}

/** The Services whose "ns/name" is in `keys`, in order — without building a key string per
 * Service (a one-Service change at 10k Services would build 10k of them, twice). */
export function servicesNamed<T extends Pick<ServiceModel, "namespace" | "name">>(services: readonly T[], keys: ReadonlySet<string>): T[] {
  const namespacesByName = new Map<string, Set<string>>();
  for (const k of keys) {
    const i = k.indexOf("/");
    const name = k.slice(i + 1);
    let ns = namespacesByName.get(name);
    if (!ns) namespacesByName.set(name, (ns = new Set()));
    ns.add(k.slice(0, i));
  }
  return services.filter((s) => namespacesByName.get(s.name)?.has(s.namespace) === true);
}

/** "ns/name:port" as kube-proxy names a service port (ServicePortName.String()). */
export function servicePortName(svc: Pick<ServiceModel, "namespace" | "name">, port: Pick<ServicePortModel, "name">): string {
  return `${svc.namespace}/${svc.name}${port.name ? `:${port.name}` : ""}`;
}

// ---- The static side: Services as declared, with addresses allocated ------------------------

export interface ServiceSpecPort {
  name: string;
  protocol: Protocol;
  port: number;
  /** A number, or a container port name resolved per pod. */
  targetPort: number | string;
  nodePort?: number;
}

export interface ManualEndpoint {
  ip: string;
  nodeName?: string;
  ready: boolean;
  /** The address's DNS hostname (Endpoints/EndpointSlice `hostname`). */
  hostname?: string;
  /** port name → port */
  ports: Record<string, { port: number; protocol: Protocol }>;
}

/** A Service as declared (addresses allocated), before endpoints are resolved. */
export interface ServiceSpecModel extends Omit<ServiceModel, "ports" | "endpoints"> {
  selector?: Record<string, string>;
  ports: ServiceSpecPort[];
  /** From Endpoints/EndpointSlice objects, for Services without a selector. */
  manualEndpoints?: ManualEndpoint[];
}

export interface PodForEndpoints {
  namespace: string;
  name: string;
  ip: string;
  node: string;
  labels: Record<string, string>;
  containers: { ports: { containerPort: number; name?: string; protocol: string }[] }[];
}

/** The endpoints controller + kube-proxy's view: Services with their endpoints, given which
 * pods are ready (and which are gone: terminated pods are not in `pods`). */
export function resolveServices(
  specs: ServiceSpecModel[],
  pods: PodForEndpoints[],
  isReady: (namespace: string, name: string) => boolean,
): ServiceModel[] {
  return specs.map((s) => {
    const endpoints: Record<string, EndpointModel[]> = {};
    for (const port of s.ports) {
      const list: EndpointModel[] = [];
      if (s.selector) {
        for (const pod of pods) {
          if (pod.namespace !== s.namespace || !Object.entries(s.selector).every(([k, v]) => pod.labels[k] === v)) continue;
          const target = resolveTargetPort(port, pod);
          if (target === undefined) continue;
          list.push({ ip: pod.ip, port: target, node: pod.node, pod: `${pod.namespace}/${pod.name}`, ready: isReady(pod.namespace, pod.name) });
        }
      } else {
        for (const e of s.manualEndpoints ?? []) {
          const p = e.ports[port.name] ?? (s.ports.length === 1 ? Object.values(e.ports)[0] : undefined);
          if (p && p.protocol === port.protocol) list.push({ ip: e.ip, port: p.port, node: e.nodeName ?? "", pod: "", ready: e.ready, ...(e.hostname ? { hostname: e.hostname } : {}) });
        }
      }
      endpoints[port.name] = list;
    }
    return {
      namespace: s.namespace,
      name: s.name,
      type: s.type,
      clusterIP: s.clusterIP,
      externalName: s.externalName,
      ports: s.ports.map((p) => ({ name: p.name, protocol: p.protocol, port: p.port, nodePort: p.nodePort })),
      sessionAffinity: s.sessionAffinity,
      affinityTimeoutSeconds: s.affinityTimeoutSeconds,
      externalTrafficPolicy: s.externalTrafficPolicy,
      internalTrafficPolicy: s.internalTrafficPolicy,
      publishNotReadyAddresses: s.publishNotReadyAddresses,
      loadBalancerIP: s.loadBalancerIP,
      endpoints,
    };
  });
}

/** targetPort → the pod's port: a number as is; a name via the pod's container ports. */
export function resolveTargetPort(port: ServiceSpecPort, pod: PodForEndpoints): number | undefined {
  if (typeof port.targetPort === "number") return port.targetPort;
  for (const c of pod.containers) {
    const cp = c.ports.find((p) => p.name === port.targetPort && p.protocol === port.protocol);
    if (cp) return cp.containerPort;
  }
  return undefined;
}
