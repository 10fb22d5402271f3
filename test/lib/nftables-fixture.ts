// A small cluster's Services as kube-proxy sees them, for the nftables proxy renderer's golden
// and kernel tests. Two nodes; pods of node1 are 10.244.1.x, of node2 10.244.2.x.
import type { EndpointModel, ProxyNode, ServiceModel } from "../../src/model/services.js";

export const node1: ProxyNode = { name: "node1", ip: "192.168.56.11", clusterCIDR: "10.244.0.0/16" };
export const node2: ProxyNode = { name: "node2", ip: "192.168.56.12", clusterCIDR: "10.244.0.0/16" };
export const serviceCIDRs = ["10.96.0.0/16"];

const ep = (ip: string, port: number, node: string, ready = true): EndpointModel => ({ ip, port, node, pod: `pod-${ip.replaceAll(".", "-")}`, ready });

function svc(namespace: string, name: string, over: Partial<ServiceModel>): ServiceModel {
  return {
    namespace,
    name,
    type: "ClusterIP",
    clusterIP: null,
    ports: [],
    sessionAffinity: "None",
    affinityTimeoutSeconds: 10800,
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    publishNotReadyAddresses: false,
    endpoints: {},
    ...over,
  };
}

export function fixtureServices(): ServiceModel[] {
  return [
    // Multi-port, named ports, target ports differ; one endpoint not ready (left out).
    svc("default", "web", {
      clusterIP: "10.96.0.20",
      ports: [
        { name: "http", protocol: "TCP", port: 80 },
        { name: "https", protocol: "TCP", port: 443 },
      ],
      endpoints: {
        http: [ep("10.244.1.5", 8080, "node1"), ep("10.244.2.7", 8080, "node2"), ep("10.244.2.9", 8080, "node2", false)],
        https: [ep("10.244.1.5", 8443, "node1"), ep("10.244.2.7", 8443, "node2"), ep("10.244.2.9", 8443, "node2", false)],
      },
    }),
    // ClientIP session affinity, single unnamed port.
    svc("default", "sticky", {
      clusterIP: "10.96.0.21",
      sessionAffinity: "ClientIP",
      affinityTimeoutSeconds: 600,
      ports: [{ name: "", protocol: "TCP", port: 80 }],
      endpoints: { "": [ep("10.244.1.6", 8080, "node1"), ep("10.244.2.8", 8080, "node2")] },
    }),
    // NodePort.
    svc("default", "nodeport", {
      type: "NodePort",
      clusterIP: "10.96.0.22",
      ports: [{ name: "", protocol: "TCP", port: 80, nodePort: 30080 }],
      endpoints: { "": [ep("10.244.1.5", 8080, "node1"), ep("10.244.2.7", 8080, "node2")] },
    }),
    // LoadBalancer with an ingress IP, externalTrafficPolicy Cluster.
    svc("default", "lb", {
      type: "LoadBalancer",
      clusterIP: "10.96.0.23",
      loadBalancerIP: "192.168.56.200",
      ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30081 }],
      endpoints: { http: [ep("10.244.1.5", 8080, "node1"), ep("10.244.2.7", 8080, "node2")] },
    }),
    // LoadBalancer, externalTrafficPolicy Local: its only endpoint is on node1.
    svc("default", "local-lb", {
      type: "LoadBalancer",
      clusterIP: "10.96.0.24",
      loadBalancerIP: "192.168.56.201",
      externalTrafficPolicy: "Local",
      ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30082 }],
      endpoints: { http: [ep("10.244.1.8", 8080, "node1")] },
    }),
    // No endpoints at all: ClusterIP and NodePort are rejected.
    svc("default", "empty", {
      type: "NodePort",
      clusterIP: "10.96.0.25",
      ports: [{ name: "http", protocol: "TCP", port: 80, nodePort: 30083 }],
      endpoints: { http: [ep("10.244.2.11", 8080, "node2", false)] },
    }),
    // internalTrafficPolicy Local: the only endpoint is on node2.
    svc("default", "node-local", {
      clusterIP: "10.96.0.26",
      internalTrafficPolicy: "Local",
      ports: [{ name: "", protocol: "TCP", port: 80 }],
      endpoints: { "": [ep("10.244.2.10", 8080, "node2")] },
    }),
    // publishNotReadyAddresses: the not-ready endpoint is used.
    svc("default", "peers", {
      clusterIP: "10.96.0.27",
      publishNotReadyAddresses: true,
      ports: [{ name: "peer", protocol: "TCP", port: 7000 }],
      endpoints: { peer: [ep("10.244.1.12", 7000, "node1", false)] },
    }),
    // Headless: nothing.
    svc("default", "headless", {
      clusterIP: null,
      ports: [{ name: "", protocol: "TCP", port: 80 }],
      endpoints: { "": [ep("10.244.1.5", 8080, "node1")] },
    }),
    // ExternalName: nothing.
    svc("default", "external", { type: "ExternalName", externalName: "example.com", clusterIP: null, ports: [] }),
    // UDP (and TCP) DNS on the same port number.
    svc("kube-system", "kube-dns", {
      clusterIP: "10.96.0.10",
      ports: [
        { name: "dns", protocol: "UDP", port: 53 },
        { name: "dns-tcp", protocol: "TCP", port: 53 },
      ],
      endpoints: { dns: [ep("10.244.1.3", 53, "node1")], "dns-tcp": [ep("10.244.1.3", 53, "node1")] },
    }),
  ];
}

/** A deep copy, to derive a changed state without touching the original. */
export const clone = (s: ServiceModel[]): ServiceModel[] => structuredClone(s);

export const find = (s: ServiceModel[], ns: string, name: string): ServiceModel => {
  const x = s.find((v) => v.namespace === ns && v.name === name);
  if (!x) throw new Error(`no service ${ns}/${name}`);
  return x;
};

export { ep as endpoint };
