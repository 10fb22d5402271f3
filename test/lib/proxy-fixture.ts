// A small cluster's Services as kube-proxy sees them, shared by the proxy renderer tests
// (test/unit/proxy-*.test.ts) and the kernel test that applies their output for real.
//
// Three nodes; pods on node1 are 10.244.0.x, node2 10.244.1.x, node3 10.244.2.x.
import type { EndpointModel, ProxyNode, ServiceModel, ServicePortModel } from "../../src/model/services.js";

export const CLUSTER_CIDR = "10.244.0.0/16";

export const NODES: Record<"node1" | "node2" | "node3", ProxyNode> = {
  node1: { name: "node1", ip: "192.168.56.11", clusterCIDR: CLUSTER_CIDR },
  node2: { name: "node2", ip: "192.168.56.12", clusterCIDR: CLUSTER_CIDR },
  node3: { name: "node3", ip: "192.168.56.13", clusterCIDR: CLUSTER_CIDR },
};

/** An endpoint "ip:port@node", ready unless `ready: false`. */
export function ep(spec: string, ready = true): EndpointModel {
  const m = /^([\d.]+):(\d+)@([\w-]+)$/.exec(spec);
  if (!m) throw new Error(`bad endpoint spec ${spec}`);
  return { ip: m[1], port: Number(m[2]), node: m[3], pod: "", ready };
}

export function svc(ns: string, name: string, fields: Partial<ServiceModel> & { ports: ServicePortModel[] }): ServiceModel {
  return {
    namespace: ns,
    name,
    type: "ClusterIP",
    clusterIP: null,
    sessionAffinity: "None",
    affinityTimeoutSeconds: 10800,
    externalTrafficPolicy: "Cluster",
    internalTrafficPolicy: "Cluster",
    publishNotReadyAddresses: false,
    endpoints: {},
    ...fields,
  };
}

const tcp = (name: string, port: number, nodePort?: number): ServicePortModel => ({ name, protocol: "TCP", port, ...(nodePort ? { nodePort } : {}) });
const udp = (name: string, port: number): ServicePortModel => ({ name, protocol: "UDP", port });

/** Every case the iptables renderer distinguishes, in one cluster. */
export function fixtureServices(): ServiceModel[] {
  return [
    // UDP + TCP on one port number, three named ports.
    svc("kube-system", "kube-dns", {
      clusterIP: "10.96.0.10",
      ports: [udp("dns", 53), tcp("dns-tcp", 53), tcp("metrics", 9153)],
      endpoints: {
        dns: [ep("10.244.0.6:53@node1"), ep("10.244.2.4:53@node3")],
        "dns-tcp": [ep("10.244.0.6:53@node1"), ep("10.244.2.4:53@node3")],
        metrics: [ep("10.244.0.6:9153@node1"), ep("10.244.2.4:9153@node3")],
      },
    }),
    // Multi-port, named ports; one endpoint not ready (left out).
    svc("shop", "web", {
      clusterIP: "10.96.0.20",
      ports: [tcp("http", 80), tcp("metrics", 9090)],
      endpoints: {
        http: [ep("10.244.0.2:8080@node1"), ep("10.244.1.2:8080@node2"), ep("10.244.1.3:8080@node2", false)],
        metrics: [ep("10.244.0.2:9090@node1"), ep("10.244.1.2:9090@node2"), ep("10.244.1.3:9090@node2", false)],
      },
    }),
    // Session affinity ClientIP, three endpoints.
    svc("shop", "cart", {
      clusterIP: "10.96.0.21",
      sessionAffinity: "ClientIP",
      affinityTimeoutSeconds: 600,
      ports: [tcp("", 80)],
      endpoints: { "": [ep("10.244.0.3:8080@node1"), ep("10.244.1.4:8080@node2"), ep("10.244.2.2:8080@node3")] },
    }),
    // NodePort.
    svc("shop", "front", {
      type: "NodePort",
      clusterIP: "10.96.0.22",
      ports: [tcp("", 80, 30080)],
      endpoints: { "": [ep("10.244.0.4:8080@node1"), ep("10.244.1.5:8080@node2")] },
    }),
    // LoadBalancer with an ingress IP, externalTrafficPolicy Cluster.
    svc("shop", "lb", {
      type: "LoadBalancer",
      clusterIP: "10.96.0.23",
      loadBalancerIP: "192.168.56.240",
      ports: [tcp("http", 80, 30443)],
      endpoints: { http: [ep("10.244.1.6:8080@node2")] },
    }),
    // LoadBalancer, externalTrafficPolicy Local, endpoints on node1 and node2 (none on node3).
    svc("shop", "local", {
      type: "LoadBalancer",
      clusterIP: "10.96.0.24",
      loadBalancerIP: "192.168.56.241",
      externalTrafficPolicy: "Local",
      ports: [tcp("", 80, 30081)],
      endpoints: { "": [ep("10.244.0.5:8080@node1"), ep("10.244.1.7:8080@node2")] },
    }),
    // No endpoints at all: REJECT on the cluster IP, the NodePort and the load-balancer IP.
    svc("shop", "empty", {
      type: "LoadBalancer",
      clusterIP: "10.96.0.25",
      loadBalancerIP: "192.168.56.242",
      ports: [tcp("", 80, 30082)],
    }),
    // Only an unready endpoint: REJECT too.
    svc("shop", "unready", {
      clusterIP: "10.96.0.26",
      ports: [tcp("", 80)],
      endpoints: { "": [ep("10.244.2.5:8080@node3", false)] },
    }),
    // publishNotReadyAddresses: the unready endpoint is used.
    svc("shop", "peers", {
      clusterIP: "10.96.0.27",
      publishNotReadyAddresses: true,
      ports: [tcp("", 7000)],
      endpoints: { "": [ep("10.244.2.3:7000@node3", false)] },
    }),
    // internalTrafficPolicy Local, endpoint only on node1.
    svc("shop", "node-cache", {
      clusterIP: "10.96.0.28",
      internalTrafficPolicy: "Local",
      ports: [tcp("", 80)],
      endpoints: { "": [ep("10.244.0.7:8080@node1")] },
    }),
    // Headless and ExternalName: no rules at all.
    svc("shop", "db", {
      clusterIP: null,
      ports: [tcp("", 5432)],
      endpoints: { "": [ep("10.244.0.8:5432@node1")] },
    }),
    svc("shop", "ext", { type: "ExternalName", clusterIP: null, externalName: "example.com", ports: [] }),
  ];
}

/** The fixture after some changes: cart's endpoint on node2 moved, front deleted, a new
 * Service added; everything else identical. */
export const NEXT_CHANGED = new Set(["shop/cart", "shop/front", "shop/new"]);

export function fixtureServicesNext(): ServiceModel[] {
  const out = fixtureServices().filter((s) => s.name !== "front");
  const cart = out.find((s) => s.name === "cart")!;
  cart.endpoints[""] = [ep("10.244.0.3:8080@node1"), ep("10.244.1.9:8080@node2"), ep("10.244.2.2:8080@node3")];
  out.push(
    svc("shop", "new", {
      type: "NodePort",
      clusterIP: "10.96.0.29",
      ports: [tcp("", 80, 30090)],
      endpoints: { "": [ep("10.244.0.9:8080@node1")] },
    }),
  );
  return out;
}

/** `n` ClusterIP Services "bulk/sNNN" × 3 endpoints on node1..node3: a ruleset large enough
 * (n = 300: ~500 KiB of iptables-restore text) to be loaded as a bulk load (src/plan/bulk-load.ts). */
export function bulkServices(n: number): ServiceModel[] {
  return Array.from({ length: n }, (_, i) =>
    svc("bulk", `s${String(i).padStart(3, "0")}`, {
      clusterIP: `10.96.${10 + Math.floor(i / 200)}.${(i % 200) + 1}`,
      ports: [tcp("http", 80)],
      endpoints: { http: [0, 1, 2].map((k) => ep(`10.244.${k}.${(i % 200) + 2}:8080@node${k + 1}`)) },
    }));
}
