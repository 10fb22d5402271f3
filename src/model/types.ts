// The pure cluster model: everything `up` needs, computed from the lab files alone.
import type { ServiceSpecModel } from "./services.js";

export type NetworkMode = "host-gw" | "vxlan";

export interface NodeModel {
  name: string;
  index: number;
  netns: string;
  labels: Record<string, string>;
  /** Underlay address on eth0, and the fabric bridge port that leads to it. */
  underlayIP: string;
  fabricPort: string;
  /** This node's pod subnet (a /24 of podCIDR) and the cni0 gateway in it. */
  podSubnet: string;
  gateway: string;
  /** flannel.1 MAC (vxlan mode), derived from the lab and node so plans are reproducible. */
  vtepMAC: string;
}

export interface ClientModel {
  name: string;
  netns: string;
  underlayIP: string;
  fabricPort: string;
}

export type Workload =
  | { kind: "netexec"; httpPort: number; udpPort: number | null }
  | { kind: "pause" }
  /** The cluster DNS responder (image klab-dns), configured from ClusterModel.dns. */
  | { kind: "dns" }
  | { kind: "exec"; argv: string[] };

export interface ContainerPortModel {
  containerPort: number;
  name?: string;
  protocol: "TCP" | "UDP" | "SCTP";
}

export interface ProbeModel {
  action: { kind: "httpGet"; path: string; port: number } | { kind: "tcpSocket"; port: number } | { kind: "exec"; command: string[] };
  initialDelaySeconds: number;
  periodSeconds: number;
  timeoutSeconds: number;
  successThreshold: number;
  failureThreshold: number;
}

export interface ContainerModel {
  name: string;
  image: string;
  workload: Workload;
  env: Record<string, string>;
  ports: ContainerPortModel[];
  workingDir?: string;
  readinessProbe?: ProbeModel;
}

export interface PodModel {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  /** "Deployment/web" for pods owned through a ReplicaSet, else undefined. */
  owner?: string;
  node: string;
  netns: string;
  /** Host-side veth in the node namespace (vethXXXXXXXX, like the CNI bridge plugin). */
  hostVeth: string;
  ip: string;
  hostname: string;
  /** spec.hostname / spec.subdomain as written: the pod's DNS name in a headless Service. */
  specHostname?: string;
  subdomain?: string;
  dnsPolicy: "ClusterFirst" | "ClusterFirstWithHostNet" | "Default" | "None";
  /** Shares its node's network namespace: `netns` is then a second name for the node's
   * (so /etc/netns/<netns>/resolv.conf is still the pod's own), ip the node's address. */
  hostNetwork?: true;
  /** The resolv.conf the kubelet gives the pod (/etc/netns/<netns>/resolv.conf); null: the
   * node's own (dnsPolicy Default, or no cluster DNS). */
  resolvConf: string | null;
  restartPolicy: "Always" | "OnFailure" | "Never";
  containers: ContainerModel[];
}

export type Endpoint =
  | { kind: "pod"; namespace: string; name: string }
  | { kind: "node"; name: string }
  | { kind: "client"; name: string }
  | { kind: "ip"; ip: string }
  /** A Service's cluster IP (svc/NS/NAME) or LoadBalancer ingress IP (lb/NS/NAME). */
  | { kind: "svc" | "lb"; namespace: string; name: string };

export type Probe =
  | { kind: "ping"; target: Endpoint }
  | {
      kind: "http";
      url: string;
      method: string;
      status?: number;
      bodyContains?: string;
      bodyMatches?: string;
      headers?: Record<string, string>;
      /** Send `requests` requests on fresh connections; count distinct response bodies. */
      distribution?: { requests: number; atLeast?: number; atMost?: number };
    }
  | { kind: "tcp"; target: Endpoint; port: number }
  | { kind: "udp"; target: Endpoint; port: number; send: string; replyContains?: string }
  | {
      kind: "dns";
      name: string;
      type: string;
      tcp: boolean;
      search: boolean;
      server?: string;
      /** Exact set of the asked type's record data; `contains`: substrings of any answer data. */
      answers?: string[];
      contains?: string[];
      /** Expected RCODE; default NOERROR with at least one answer unless answers says []. */
      rcode?: string;
    }
  | {
      kind: "matrix";
      from: PodSelection;
      to: PodSelection;
      port?: number;
      protocol: "tcp" | "ping";
    };

export interface PodSelection {
  namespace?: string;
  matchLabels?: Record<string, string>;
}

export interface CheckModel {
  name: string;
  from?: Endpoint;
  probe: Probe;
  expect: "succeed" | "fail";
  timeoutMs: number;
  retries: number;
}

export interface DnsConfig {
  enabled: boolean;
  clusterDomain: string;
  /** kube-system/kube-dns's ClusterIP (the tenth address of serviceCIDR); null when disabled. */
  serviceIP: string | null;
  upstream?: string;
  ttl: number;
  log: boolean;
}

export interface ProxyConfig {
  mode: "iptables" | "nftables" | "ipvs";
  ipvsScheduler: string;
  syncPeriodSeconds: number;
}

export interface ClusterModel {
  lab: string;
  files: string[];
  mode: NetworkMode;
  podCIDR: string;
  serviceCIDR: string;
  underlayCIDR: string;
  underlayPrefix: number;
  /** Underlay MTU; pods get mtu-50 in vxlan mode (the VXLAN header), as flannel does. */
  mtu: number;
  podMTU: number;
  fabric: { netns: string; bridge: string };
  nodes: NodeModel[];
  clients: ClientModel[];
  namespaces: string[];
  pods: PodModel[];
  proxy: ProxyConfig;
  dns: DnsConfig;
  /** Addresses LoadBalancer Services get their ingress IP from (on the underlay). */
  lbPool: string[];
  services: ServiceSpecModel[];
  checks: CheckModel[];
}
