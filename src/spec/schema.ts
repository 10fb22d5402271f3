// Zod schemas for lab files: one `kind: Lab` object plus Kubernetes objects with Kubernetes
// field names. Objects are strict (unknown fields are errors, as with `kubectl apply`), but
// common Kubernetes fields klab does not act on are accepted and ignored so real manifests load.
import { z } from "zod";

export const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const dnsLabel = (what: string) =>
  z
    .string()
    .max(63, { error: `${what} must be at most 63 characters (a DNS-1123 label)` })
    .regex(DNS1123_LABEL, {
      error: `${what} must be a DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit`,
    });

const dnsSubdomain = (what: string) =>
  z
    .string()
    .max(253, { error: `${what} must be at most 253 characters` })
    .regex(DNS1123_SUBDOMAIN, {
      error: `${what} must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'`,
    });

/** "2s", "500ms", "1m", or a number of seconds. */
export const duration = z.union([
  z.number().positive(),
  z.string().regex(/^\d+(\.\d+)?(ms|s|m)$/, { error: 'expected a duration such as "500ms", "2s" or "1m"' }),
]);

const cidr = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/, {
  error: 'expected an IPv4 CIDR such as "10.244.0.0/16"',
});
const ipv4 = z.string().regex(/^\d{1,3}(\.\d{1,3}){3}$/, { error: 'expected an IPv4 address such as "10.0.0.1"' });

const labels = z.record(z.string(), z.string());
const annotations = z.record(z.string(), z.string());

export const objectMeta = z.strictObject({
  name: dnsSubdomain("metadata.name"),
  namespace: dnsLabel("metadata.namespace").optional(),
  labels: labels.optional(),
  annotations: annotations.optional(),
  uid: z.string().optional(),
});

const labMeta = z.strictObject({
  name: dnsLabel("the lab name").max(20, {
    error: "the lab name must be at most 20 characters (it prefixes every kernel object)",
  }),
  labels: labels.optional(),
  annotations: annotations.optional(),
});

// ---- Lab ----------------------------------------------------------------------------------

const nodeEntry = z.strictObject({
  name: dnsLabel("a node name"),
  labels: labels.optional(),
});

const clientEntry = z.strictObject({
  name: dnsLabel("a client name"),
  address: ipv4.optional(),
});

export const selectorSchema = z.strictObject({
  matchLabels: labels.optional(),
});

const matrixSide = z.strictObject({
  namespace: dnsLabel("namespace").optional(),
  podSelector: selectorSchema.optional(),
});

const httpProbe = z.strictObject({
  url: z.string().min(1),
  method: z.enum(["GET", "HEAD", "POST", "PUT", "DELETE"]).optional(),
  status: z.number().int().min(100).max(599).optional(),
  bodyContains: z.string().optional(),
  bodyMatches: z.string().optional(),
  headers: z.record(z.string(), z.string()).optional(),
  distribution: z.strictObject({
    requests: z.number().int().min(2).max(1000),
    atLeast: z.number().int().min(1).optional(),
    atMost: z.number().int().min(1).optional(),
  }).optional(),
});

const udpProbe = z.strictObject({
  target: z.string().min(1),
  send: z.string().default("hostname"),
  replyContains: z.string().optional(),
});

const matrixProbe = z.strictObject({
  from: matrixSide,
  to: matrixSide,
  port: z.number().int().min(1).max(65535).optional(),
  protocol: z.enum(["tcp", "ping"]).optional(),
});

const dnsTypes = ["A", "AAAA", "CNAME", "PTR", "SRV", "TXT", "SOA", "NS", "ANY"] as const;
const dnsProbe = z.strictObject({
  /** As an application would ask: relative names go through the pod's search list. */
  name: z.string().min(1).max(253),
  type: z.enum(dnsTypes).default("A"),
  tcp: z.boolean().default(false),
  /** Apply the pod's search list (dig +search); default true. */
  search: z.boolean().default(true),
  /** Ask this server instead of the pod's resolv.conf nameserver. */
  server: ipv4.optional(),
  /** The answer's records of the asked type, as a set (A: addresses; SRV: "prio weight port target"). */
  answers: z.array(z.string()).optional(),
  /** Strings the answer section's data must include (any record type, e.g. a CNAME target). */
  contains: z.array(z.string()).optional(),
  rcode: z.enum(["NOERROR", "NXDOMAIN", "SERVFAIL", "REFUSED", "FORMERR", "NOTIMP"]).optional(),
});

export const checkSchema = z.strictObject({
  name: z.string().min(1),
  from: z.string().min(1).optional(),
  ping: z.string().min(1).optional(),
  http: httpProbe.optional(),
  tcp: z.string().min(1).optional(),
  udp: udpProbe.optional(),
  dns: dnsProbe.optional(),
  matrix: matrixProbe.optional(),
  expect: z.enum(["succeed", "fail"]).default("succeed"),
  timeout: duration.optional(),
  retries: z.number().int().min(0).max(20).optional(),
});

export const labSchema = z.strictObject({
  apiVersion: z.literal("klab/v1alpha1", { error: 'expected apiVersion "klab/v1alpha1" for kind Lab' }),
  kind: z.literal("Lab"),
  metadata: labMeta,
  spec: z
    .strictObject({
      nodes: z.union([
        z.number().int().min(1, { error: "a lab needs at least 1 node" }).max(64, { error: "at most 64 nodes" }),
        z.array(nodeEntry).min(1, { error: "a lab needs at least 1 node" }).max(64, { error: "at most 64 nodes" }),
      ], {
        error: "expected a node count (1-64) or a list of nodes like [{name: node1}]",
      }),
      network: z
        .strictObject({
          mode: z.enum(["host-gw", "vxlan"]).default("host-gw"),
          podCIDR: cidr.default("10.244.0.0/16"),
          serviceCIDR: cidr.default("10.96.0.0/12"),
          underlay: cidr.default("192.168.56.0/24"),
          mtu: z.number().int().min(1280).max(9000).default(1500),
        })
        .prefault({}),
      proxy: z
        .strictObject({
          mode: z.enum(["iptables", "nftables", "ipvs"]).default("iptables"),
          ipvs: z.strictObject({ scheduler: z.enum(["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "mh"]).default("rr") }).prefault({}),
          /** Seconds between full resyncs that repair drift (kube-proxy's --iptables-sync-period). */
          syncPeriodSeconds: z.number().int().min(1).max(3600).default(30),
        })
        .prefault({}),
      loadBalancer: z
        .strictObject({
          /** Addresses for LoadBalancer Services: IPs, "a.b.c.d-e.f.g.h" ranges or CIDRs on the underlay. */
          addresses: z.array(z.string().min(1)).min(1).optional(),
        })
        .prefault({}),
      dns: z
        .strictObject({
          /** Run the cluster DNS pod and the kube-dns Service (CoreDNS's place in a real cluster). */
          enabled: z.boolean().default(true),
          clusterDomain: dnsSubdomain("spec.dns.clusterDomain").default("cluster.local"),
          /** Where names outside the cluster go ("ip" or "ip:port"); without it they are REFUSED. */
          upstream: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?$/, { error: 'expected an upstream resolver "IP" or "IP:PORT", e.g. "192.168.56.200:53"' }).optional(),
          ttl: z.number().int().min(0).max(3600).default(5),
          /** One line per query in the DNS pod's log (CoreDNS's `log` plugin). */
          log: z.boolean().default(true),
        })
        .prefault({}),
      clients: z
        .union([z.number().int().min(0).max(16), z.array(clientEntry).max(16)], {
          error: "expected a client count (0-16) or a list of clients like [{name: client1}]",
        })
        .optional(),
      checks: z.array(checkSchema).default([]),
    }),
});

// ---- Kubernetes objects -----------------------------------------------------------------------

const containerPort = z.strictObject({
  containerPort: z.number().int().min(1).max(65535),
  name: z
    .string()
    .max(15, { error: "a port name must be at most 15 characters (IANA_SVC_NAME)" })
    .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: "a port name must be lowercase alphanumerics and '-'" })
    .optional(),
  protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
  hostPort: z.number().int().optional(),
  hostIP: z.string().optional(),
});

const envVar = z.strictObject({
  name: z.string().min(1),
  value: z.string().optional(),
  valueFrom: z.unknown().optional(),
});

const ignored = z.unknown().optional();

const intOrString = z.union([z.number().int().min(1).max(65535), z.string().min(1)]);

export const probeSchema = z.strictObject({
  httpGet: z.strictObject({ path: z.string().default("/"), port: intOrString, host: z.string().optional(), scheme: z.enum(["HTTP"]).default("HTTP"), httpHeaders: ignored }).optional(),
  tcpSocket: z.strictObject({ port: intOrString, host: z.string().optional() }).optional(),
  exec: z.strictObject({ command: z.array(z.string()).min(1) }).optional(),
  initialDelaySeconds: z.number().int().min(0).default(0),
  periodSeconds: z.number().min(0.1).default(10),
  timeoutSeconds: z.number().min(0.1).default(1),
  successThreshold: z.number().int().min(1).default(1),
  failureThreshold: z.number().int().min(1).default(3),
  terminationGracePeriodSeconds: ignored,
});

export const containerSchema = z.strictObject({
  name: dnsLabel("a container name"),
  image: z.string().min(1),
  command: z.array(z.string()).optional(),
  args: z.array(z.string()).optional(),
  ports: z.array(containerPort).optional(),
  env: z.array(envVar).optional(),
  workingDir: z.string().optional(),
  // Accepted for real manifests; klab does not act on them (yet).
  imagePullPolicy: ignored,
  resources: ignored,
  securityContext: ignored,
  readinessProbe: probeSchema.optional(),
  livenessProbe: ignored,
  startupProbe: ignored,
  volumeMounts: ignored,
  terminationMessagePath: ignored,
  terminationMessagePolicy: ignored,
  stdin: ignored,
  tty: ignored,
});

export const podSpecSchema = z.strictObject({
  containers: z.array(containerSchema).min(1, { error: "a pod needs at least one container" }),
  nodeName: z.string().optional(),
  restartPolicy: z.enum(["Always", "OnFailure", "Never"]).default("Always"),
  hostname: dnsLabel("spec.hostname").optional(),
  subdomain: dnsLabel("spec.subdomain").optional(),
  initContainers: ignored,
  terminationGracePeriodSeconds: ignored,
  volumes: ignored,
  nodeSelector: z.record(z.string(), z.string()).optional(),
  /** Run in the node's network namespace (the pod's IP is the node's). */
  hostNetwork: z.boolean().optional(),
  dnsPolicy: z.enum(["ClusterFirst", "ClusterFirstWithHostNet", "Default", "None"]).default("ClusterFirst"),
  dnsConfig: z.strictObject({
    nameservers: z.array(ipv4).max(3, { error: "at most 3 nameservers (Kubernetes' limit)" }).optional(),
    searches: z.array(z.string().min(1).max(253)).max(32, { error: "at most 32 search domains (Kubernetes' limit)" }).optional(),
    options: z.array(z.strictObject({ name: z.string().min(1), value: z.string().optional() })).optional(),
  }).optional(),
  securityContext: ignored,
  serviceAccountName: ignored,
  automountServiceAccountToken: ignored,
  tolerations: ignored,
  affinity: ignored,
  enableServiceLinks: ignored,
});

export const podSchema = z.strictObject({
  apiVersion: z.literal("v1", { error: 'expected apiVersion "v1" for kind Pod' }),
  kind: z.literal("Pod"),
  metadata: objectMeta,
  spec: podSpecSchema,
});

export const deploymentSchema = z.strictObject({
  apiVersion: z.literal("apps/v1", { error: 'expected apiVersion "apps/v1" for kind Deployment' }),
  kind: z.literal("Deployment"),
  metadata: objectMeta,
  spec: z.strictObject({
    replicas: z.number().int().min(0).max(1000).default(1),
    selector: z.strictObject({
      matchLabels: labels,
      matchExpressions: ignored,
    }),
    template: z.strictObject({
      metadata: z
        .strictObject({ labels: labels.optional(), annotations: annotations.optional() })
        .prefault({}),
      spec: podSpecSchema,
    }),
    strategy: ignored,
    minReadySeconds: ignored,
    revisionHistoryLimit: ignored,
    progressDeadlineSeconds: ignored,
  }),
});

export const namespaceSchema = z.strictObject({
  apiVersion: z.literal("v1", { error: 'expected apiVersion "v1" for kind Namespace' }),
  kind: z.literal("Namespace"),
  metadata: z.strictObject({
    name: dnsLabel("a namespace name"),
    labels: labels.optional(),
    annotations: annotations.optional(),
  }),
});

const servicePort = z.strictObject({
  name: z.string().max(15).regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, { error: "a port name must be lowercase alphanumerics and '-' (at most 15)" }).optional(),
  protocol: z.enum(["TCP", "UDP", "SCTP"]).default("TCP"),
  port: z.number().int().min(1).max(65535),
  targetPort: intOrString.optional(),
  nodePort: z.number().int().optional(),
  appProtocol: ignored,
});

export const serviceSchema = z.strictObject({
  apiVersion: z.literal("v1", { error: 'expected apiVersion "v1" for kind Service' }),
  kind: z.literal("Service"),
  metadata: objectMeta,
  spec: z.strictObject({
    type: z.enum(["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]).default("ClusterIP"),
    selector: labels.optional(),
    ports: z.array(servicePort).default([]),
    clusterIP: z.string().optional(),
    clusterIPs: z.array(z.string()).optional(),
    externalName: z.string().optional(),
    sessionAffinity: z.enum(["None", "ClientIP"]).default("None"),
    sessionAffinityConfig: z.strictObject({ clientIP: z.strictObject({ timeoutSeconds: z.number().int().min(1).max(86400).default(10800) }).prefault({}) }).optional(),
    externalTrafficPolicy: z.enum(["Cluster", "Local"]).optional(),
    internalTrafficPolicy: z.enum(["Cluster", "Local"]).default("Cluster"),
    publishNotReadyAddresses: z.boolean().default(false),
    loadBalancerIP: z.string().optional(),
    ipFamilies: ignored,
    ipFamilyPolicy: ignored,
    allocateLoadBalancerNodePorts: ignored,
    loadBalancerClass: ignored,
  }),
});

/** A port of hand-written Endpoints or an EndpointSlice (the same fields in both). */
const endpointPort = z.strictObject({ name: z.string().optional(), port: z.number().int().min(1).max(65535), protocol: z.enum(["TCP", "UDP"]).default("TCP"), appProtocol: ignored });
const endpointAddress = z.strictObject({ ip: z.string(), hostname: z.string().optional(), nodeName: z.string().optional(), targetRef: ignored });
export const endpointsSchema = z.strictObject({
  apiVersion: z.literal("v1", { error: 'expected apiVersion "v1" for kind Endpoints' }),
  kind: z.literal("Endpoints"),
  metadata: objectMeta,
  subsets: z.array(z.strictObject({
    addresses: z.array(endpointAddress).default([]),
    notReadyAddresses: z.array(endpointAddress).default([]),
    ports: z.array(endpointPort).default([]),
  })).default([]),
});

export const endpointSliceSchema = z.strictObject({
  apiVersion: z.literal("discovery.k8s.io/v1", { error: 'expected apiVersion "discovery.k8s.io/v1" for kind EndpointSlice' }),
  kind: z.literal("EndpointSlice"),
  metadata: objectMeta,
  addressType: z.enum(["IPv4"]),
  endpoints: z.array(z.strictObject({
    addresses: z.array(z.string()).min(1),
    conditions: z.strictObject({ ready: z.boolean().optional(), serving: z.boolean().optional(), terminating: z.boolean().optional() }).prefault({}),
    nodeName: z.string().optional(),
    hostname: z.string().optional(),
    targetRef: ignored,
    zone: ignored,
  })).default([]),
  ports: z.array(endpointPort).default([]),
});

/** The kinds a lab file may hold, keyed by `kind`. */
export const kindSchemas = {
  Lab: labSchema,
  Namespace: namespaceSchema,
  Pod: podSchema,
  Deployment: deploymentSchema,
  Service: serviceSchema,
  Endpoints: endpointsSchema,
  EndpointSlice: endpointSliceSchema,
} as const;
export type KnownKind = keyof typeof kindSchemas;

export type LabObject = z.output<typeof labSchema>;
export type PodObject = z.output<typeof podSchema>;
export type DeploymentObject = z.output<typeof deploymentSchema>;
export type NamespaceObject = z.output<typeof namespaceSchema>;
export type ContainerSpec = z.output<typeof containerSchema>;
export type PodSpec = z.output<typeof podSpecSchema>;
export type CheckSpec = z.output<typeof checkSchema>;
export type ServiceObject = z.output<typeof serviceSchema>;
export type EndpointsObject = z.output<typeof endpointsSchema>;
export type EndpointSliceObject = z.output<typeof endpointSliceSchema>;
export type ProbeSpec = z.output<typeof probeSchema>;

/** JSON Schema for editors (yaml-language-server), one branch per kind. */
export function labFileJsonSchema(): Record<string, unknown> {
  const branches = Object.entries(kindSchemas).map(([kind, schema]) => ({
    if: { properties: { kind: { const: kind } }, required: ["kind"] },
    then: z.toJSONSchema(schema, { io: "input", unrepresentable: "any" }),
  }));
  return {
    $schema: "https://json-schema.org/draft/2020-12/schema",
    title: "klab lab file document",
    description: "One document of a klab lab file: a Lab object or a Kubernetes object.",
    type: "object",
    required: ["kind"],
    properties: { kind: { enum: Object.keys(kindSchemas) } },
    allOf: branches,
  };
}
