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

/** "ns/name:port" as kube-proxy names a service port (ServicePortName.String()). */
export function servicePortName(svc: Pick<ServiceModel, "namespace" | "name">, port: Pick<ServicePortModel, "name">): string {
  return `${svc.namespace}/${svc.name}${port.name ? `:${port.name}` : ""}`;
}
