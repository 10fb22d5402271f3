// What a Service port means for a node's proxy, shared by the three modes: kube-proxy's
// ServicePort predicates (pkg/proxy/serviceport.go) and its usable endpoints.
import type { EndpointModel, ServiceModel, ServicePortModel } from "../../model/services.js";

export interface ServicePortInfo {
  nodePort: number;
  lbVIPs: string[];
  externallyAccessible: boolean;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** Whether traffic (internal or external) may go to endpoints on any node / only this node's. */
  usesClusterEndpoints: boolean;
  usesLocalEndpoints: boolean;
}

export function servicePortInfo(svc: ServiceModel, port: ServicePortModel): ServicePortInfo {
  const exposed = svc.type === "NodePort" || svc.type === "LoadBalancer";
  const nodePort = exposed ? (port.nodePort ?? 0) : 0;
  const lbVIPs = svc.type === "LoadBalancer" && svc.loadBalancerIP ? [svc.loadBalancerIP] : [];
  const externallyAccessible = nodePort !== 0 || lbVIPs.length > 0;
  const externalPolicyLocal = exposed && svc.externalTrafficPolicy === "Local";
  const internalPolicyLocal = svc.internalTrafficPolicy === "Local";
  return {
    nodePort,
    lbVIPs,
    externallyAccessible,
    externalPolicyLocal,
    internalPolicyLocal,
    usesClusterEndpoints: !internalPolicyLocal || externallyAccessible,
    usesLocalEndpoints: internalPolicyLocal || (externalPolicyLocal && externallyAccessible),
  };
}

/** Ready endpoints (every one with publishNotReadyAddresses, as the EndpointSlice controller
 * then reports them ready), each ip:port once, in the given order. */
export function usableEndpoints(svc: ServiceModel, port: ServicePortModel): EndpointModel[] {
  const seen = new Set<string>();
  return (svc.endpoints[port.name] ?? []).filter((ep) => {
    const key = `${ep.ip}:${ep.port}`;
    if (seen.has(key) || !(ep.ready || svc.publishNotReadyAddresses)) return false;
    seen.add(key);
    return true;
  });
}
