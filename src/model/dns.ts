// Cluster DNS in the model: the kube-dns addon every lab gets (a Deployment of the built-in
// klab-dns image in kube-system behind Service kube-dns at serviceCIDR's tenth address, as
// kubeadm deploys CoreDNS) and each pod's resolv.conf, written the way the kubelet forms it
// (pkg/kubelet/network/dns: dnsPolicy → nameservers, searches, options; dnsConfig appended).
import type { PodSpec } from "../spec/schema.js";

export const DNS_ADDON_FILE = "<klab cluster DNS addon>";
export const DNS_DEPLOYMENT = "klab-dns";
export const DNS_SERVICE = "kube-dns";
export const DNS_IMAGE = "klab-dns";
/** kubelet: ndots 5, so "web" and "web.other" are tried under the search domains first. */
export const CLUSTER_FIRST_NDOTS = 5;

/** The addon's objects as a lab file would declare them (so they are validated, scheduled and
 * addressed by the same code as the user's). dnsPolicy Default: the DNS pod must not ask itself. */
export function dnsAddonYaml(serviceIP: string): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${DNS_DEPLOYMENT}
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  replicas: 1
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata:
      labels: {k8s-app: kube-dns}
    spec:
      dnsPolicy: Default
      containers:
        - name: dns
          image: ${DNS_IMAGE}
          ports:
            - {name: dns, containerPort: 53, protocol: UDP}
            - {name: dns-tcp, containerPort: 53, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata:
  name: ${DNS_SERVICE}
  namespace: kube-system
  labels: {k8s-app: kube-dns}
spec:
  clusterIP: ${serviceIP}
  selector: {k8s-app: kube-dns}
  ports:
    - {name: dns, port: 53, protocol: UDP, targetPort: 53}
    - {name: dns-tcp, port: 53, protocol: TCP, targetPort: 53}
`;
}

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: { name: string; value?: string }[];
}

/** Parse resolv.conf text (the node's own, for dnsPolicy Default with dnsConfig). */
export function parseResolvConf(text: string): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const raw of text.split("\n")) {
    const [key, ...fields] = raw.replace(/[#;].*$/, "").trim().split(/\s+/);
    if (key === "nameserver" && fields[0]) out.nameservers.push(fields[0]);
    // The last search (or domain) line wins, as in glibc.
    else if (key === "search" || key === "domain") out.searches = fields;
    else if (key === "options") out.options = mergeOptions(out.options, fields.map(parseOption));
  }
  return out;
}

const parseOption = (o: string) => {
  const i = o.indexOf(":");
  return i < 0 ? { name: o } : { name: o.slice(0, i), value: o.slice(i + 1) };
};

const unique = (xs: string[]) => [...new Set(xs)];

/** kubelet's mergeDNSOptions: a later option replaces an earlier one of the same name. */
function mergeOptions(a: ResolvConf["options"], b: ResolvConf["options"]): ResolvConf["options"] {
  const out = new Map<string, string | undefined>();
  for (const o of [...a, ...b]) out.set(o.name, o.value);
  return [...out].map(([name, value]) => (value === undefined ? { name } : { name, value }));
}

export function formatResolvConf(c: ResolvConf): string {
  const lines: string[] = [];
  if (c.searches.length) lines.push(`search ${c.searches.join(" ")}`);
  for (const n of c.nameservers) lines.push(`nameserver ${n}`);
  if (c.options.length) lines.push(`options ${c.options.map((o) => (o.value === undefined ? o.name : `${o.name}:${o.value}`)).join(" ")}`);
  return lines.join("\n") + "\n";
}

export interface PodDnsInput {
  namespace: string;
  spec: Pick<PodSpec, "dnsPolicy" | "dnsConfig"> & { hostNetwork?: boolean };
  clusterDomain: string;
  /** kube-dns's address; null when the lab runs no cluster DNS. */
  clusterDNS: string | null;
  /** The node's resolv.conf, merged for dnsPolicy Default when the pod has a dnsConfig. */
  hostResolvConf?: string;
}

/** The pod's resolv.conf, or null when it simply sees the node's (dnsPolicy Default without
 * dnsConfig, or ClusterFirst in a lab without cluster DNS: the kubelet falls back to Default). */
export function podResolvConf(p: PodDnsInput): string | null {
  let policy = p.spec.dnsPolicy;
  // kubelet: ClusterFirst on the host network means the node's resolver (Default); pods that
  // want cluster DNS there say ClusterFirstWithHostNet.
  if (policy === "ClusterFirst" && p.spec.hostNetwork) policy = "Default";
  if (policy === "ClusterFirstWithHostNet") policy = "ClusterFirst";
  if (policy === "ClusterFirst" && !p.clusterDNS) policy = "Default";
  let base: ResolvConf;
  if (policy === "ClusterFirst") {
    const d = p.clusterDomain;
    base = { nameservers: [p.clusterDNS!], searches: [`${p.namespace}.svc.${d}`, `svc.${d}`, d], options: [{ name: "ndots", value: String(CLUSTER_FIRST_NDOTS) }] };
  } else if (policy === "None") base = { nameservers: [], searches: [], options: [] };
  else {
    if (!p.spec.dnsConfig) return null;
    base = parseResolvConf(p.hostResolvConf ?? "");
  }
  const extra = p.spec.dnsConfig;
  if (extra) {
    base = {
      nameservers: unique([...base.nameservers, ...(extra.nameservers ?? [])]),
      searches: unique([...base.searches, ...(extra.searches ?? [])]),
      options: mergeOptions(base.options, extra.options ?? []),
    };
  }
  // The kubelet keeps the first 3 nameservers and 32 search domains (glibc's and its limits).
  return formatResolvConf({ ...base, nameservers: base.nameservers.slice(0, 3), searches: base.searches.slice(0, 32) });
}
