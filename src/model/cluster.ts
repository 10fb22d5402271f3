// Lab files → ClusterModel: semantic validation (with positions), IPAM, scheduling, pod
// naming for Deployments, and check resolution. Pure: no I/O, same input → same model.
import { didYouMean, LabFileError, type SpecError } from "../spec/errors.js";
import type { LoadedFiles, Path, Sourced } from "../spec/load.js";
import type { CheckSpec, PodSpec } from "../spec/schema.js";
import { resolveWorkload } from "./images.js";
import { DNS_ADDON_FILE, DNS_DEPLOYMENT, DNS_SERVICE, dnsAddonYaml, podResolvConf } from "./dns.js";
import { loadText } from "../spec/load.js";
import { buildServiceSpecs, loadBalancerPool } from "./service-build.js";
import type { ProbeSpec } from "../spec/schema.js";
import {
  CLIENT_UNDERLAY_OFFSET,
  cidrContains,
  cidrSize,
  cidrToString,
  cidrsOverlap,
  isValidIPv4,
  NODE_SUBNET_PREFIX,
  NODE_UNDERLAY_OFFSET,
  nthAddress,
  parseCidr,
  POD_HOST_OFFSET,
  ipToInt,
  PODS_PER_NODE,
  subnet,
  type Cidr,
} from "./ipam.js";
import {
  clientNetns,
  fabricNetns,
  fabricPort,
  IFNAMSIZ,
  nodeNetns,
  podHostVeth,
  podNetns,
  podUID,
  replicaPodName,
  safeEncode,
  stableMAC,
} from "./naming.js";
import type {
  CheckModel,
  ClientModel,
  ClusterModel,
  ContainerModel,
  Endpoint,
  NodeModel,
  PodModel,
  PodSelection,
  Probe,
  ProbeModel,
} from "./types.js";

export const BUILTIN_NAMESPACES = ["default", "kube-system"];
const RESERVED_NAMES = ["fabric"];

interface PendingPod {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  owner?: string;
  spec: PodSpec;
  /** Where to point errors about this pod, and the path prefix of its pod spec. */
  at: Sourced<unknown>;
  specPath: Path;
  metaPath: Path;
}

/** What a running lab adds to its files: earlier placements and addresses (so `apply` keeps
 * pods where they are and Services on their IPs), `klab scale` replica counts and pods
 * removed with `klab delete pod`. */
export interface BuildOptions {
  previous?: ClusterModel;
  replicas?: Record<string, number>;
  deletedPods?: string[];
  /** The node's resolv.conf (the host's), for pods with dnsPolicy Default and a dnsConfig. */
  hostResolvConf?: string;
}

export function buildCluster(files: LoadedFiles, opts: BuildOptions = {}): ClusterModel {
  const prevPods = new Map((opts.previous?.pods ?? []).map((p) => [`${p.namespace}/${p.name}`, p]));
  const deleted = new Set(opts.deletedPods ?? []);
  const errors: SpecError[] = [];
  const labSrc = files.lab;
  if (!labSrc) {
    const file = files.files[0] ?? "<input>";
    throw new LabFileError([
      {
        file, line: 1, col: 1, path: "",
        message: "no `kind: Lab` object found",
        hint: "add a document with apiVersion: klab/v1alpha1, kind: Lab, metadata.name and spec.nodes",
      },
    ]);
  }
  const lab = labSrc.value;
  const src = labSrc.src;
  const labName = lab.metadata.name;
  const net = lab.spec.network;

  // ---- CIDRs ----
  const cidrOf = (field: "podCIDR" | "serviceCIDR" | "underlay"): Cidr | null => {
    const c = parseCidr(net[field]);
    if (!c) errors.push(src.error(["spec", "network", field], `"${net[field]}" is not a valid IPv4 CIDR: ${cidrProblem(net[field])}`, 'e.g. "10.244.0.0/16"'));
    return c;
  };
  const podCIDR = cidrOf("podCIDR");
  const serviceCIDR = cidrOf("serviceCIDR");
  const underlay = cidrOf("underlay");
  const pairs: [string, Cidr | null, string, Cidr | null][] = [
    ["podCIDR", podCIDR, "serviceCIDR", serviceCIDR],
    ["podCIDR", podCIDR, "underlay", underlay],
    ["serviceCIDR", serviceCIDR, "underlay", underlay],
  ];
  for (const [an, a, bn, b] of pairs) {
    if (a && b && cidrsOverlap(a, b)) {
      // Blame the field the user wrote; a default they never saw is no place to point at.
      const [blame, blameC, other, otherC] = src.has(["spec", "network", bn]) ? [bn, b, an, a] : [an, a, bn, b];
      const dflt = src.has(["spec", "network", other]) ? "" : "the default ";
      errors.push(src.error(["spec", "network", blame], `${blame} ${cidrToString(blameC)} overlaps ${dflt}${other} ${cidrToString(otherC)}`,
        `move ${blame}, or set spec.network.${other} elsewhere (defaults: podCIDR 10.244.0.0/16, serviceCIDR 10.96.0.0/12, underlay 192.168.56.0/24)`));
    }
  }
  if (podCIDR && podCIDR.prefix > NODE_SUBNET_PREFIX - 1) {
    errors.push(src.error(["spec", "network", "podCIDR"], `podCIDR must be /23 or larger to hold a /24 per node, got /${podCIDR.prefix}`,
      'e.g. "10.244.0.0/16"'));
  }
  // ---- Cluster DNS: the kube-dns addon joins the user's objects ----
  const dnsSpec = lab.spec.dns;
  const dnsIP = dnsSpec.enabled && serviceCIDR ? nthAddress(serviceCIDR, 10) : null;
  let loaded = files;
  if (dnsIP) {
    const isAddon = (o: { metadata: { name: string; namespace?: string } }, name: string) => o.metadata.name === name && o.metadata.namespace === "kube-system";
    const hint = "rename it, or set spec.dns.enabled: false in the Lab to run your own";
    const userDep = files.deployments.find((d) => isAddon(d.value, DNS_DEPLOYMENT));
    const userSvc = (files.services ?? []).find((sv) => isAddon(sv.value, DNS_SERVICE));
    if (userDep) errors.push(userDep.src.error(["metadata", "name"], `kube-system/${DNS_DEPLOYMENT} is klab's cluster DNS Deployment`, hint));
    if (userSvc) errors.push(userSvc.src.error(["metadata", "name"], `kube-system/${DNS_SERVICE} is klab's cluster DNS Service`, hint));
    const addon: LoadedFiles = { namespaces: [], pods: [], deployments: [], files: [] };
    loadText(DNS_ADDON_FILE, dnsAddonYaml(dnsIP), addon, errors);
    // Only the clash itself is reported, not the duplicates it would cause.
    if (userDep) addon.deployments = [];
    if (userSvc) addon.services = [];
    // The DNS pod comes after the user's pods (their addresses do not shift); its Service
    // first, so a user's Service asking for the same clusterIP is the one blamed.
    loaded = { ...files, deployments: [...files.deployments, ...addon.deployments], services: [...(addon.services ?? []), ...(files.services ?? [])] };
  }

  if (underlay && underlay.prefix > 24) {
    errors.push(src.error(["spec", "network", "underlay"], `underlay must be /24 or larger, got /${underlay.prefix}`,
      'e.g. "192.168.56.0/24"'));
  }

  // ---- Nodes and clients ----
  const nodeEntries = typeof lab.spec.nodes === "number"
    ? Array.from({ length: lab.spec.nodes }, (_, i) => ({ name: `node${i + 1}`, labels: {} as Record<string, string>, path: ["spec", "nodes"] as Path }))
    : lab.spec.nodes.map((n, i) => ({ name: n.name, labels: n.labels ?? {}, path: ["spec", "nodes", i, "name"] as Path }));
  const clientSpec = lab.spec.clients ?? 0;
  const clientEntries = typeof clientSpec === "number"
    ? Array.from({ length: clientSpec }, (_, i) => ({ name: `client${i + 1}`, address: undefined as string | undefined, path: ["spec", "clients"] as Path, addrPath: ["spec", "clients"] as Path }))
    : clientSpec.map((c, i) => ({ name: c.name, address: c.address, path: ["spec", "clients", i, "name"] as Path, addrPath: ["spec", "clients", i, "address"] as Path }));

  const hostNames = new Map<string, Path>();
  for (const e of [...nodeEntries, ...clientEntries]) {
    if (hostNames.has(e.name)) {
      const first = src.pos(hostNames.get(e.name)!);
      errors.push(src.error(e.path, `duplicate name "${e.name}"`, `nodes and clients need unique names; first used at line ${first.line}`));
    }
    hostNames.set(e.name, e.path);
    if (RESERVED_NAMES.includes(e.name)) errors.push(src.error(e.path, `"${e.name}" is reserved for the lab's underlay switch`, "choose another name"));
    const port = fabricPort(e.name);
    if (port.length > IFNAMSIZ) {
      errors.push(src.error(e.path, `name "${e.name}" is too long: its fabric port "${port}" would be ${port.length} characters, over the kernel's ${IFNAMSIZ}`,
        `use a name of at most ${IFNAMSIZ - fabricPort("").length} characters`));
    }
  }
  if (podCIDR && nodeEntries.length > 2 ** (NODE_SUBNET_PREFIX - podCIDR.prefix)) {
    errors.push(src.error(["spec", "nodes"], `podCIDR ${cidrToString(podCIDR)} has room for ${2 ** (NODE_SUBNET_PREFIX - podCIDR.prefix)} node subnets (/24), not ${nodeEntries.length}`,
      "use a larger podCIDR or fewer nodes"));
  }

  const nodes: NodeModel[] = nodeEntries.map((e, i) => {
    const sub = podCIDR ? subnet(podCIDR, NODE_SUBNET_PREFIX, i) : { base: 0, prefix: 24 };
    return {
      name: e.name,
      index: i,
      netns: nodeNetns(labName, e.name),
      labels: { "kubernetes.io/hostname": e.name, ...e.labels },
      underlayIP: underlay ? nthAddress(underlay, NODE_UNDERLAY_OFFSET + i) : "0.0.0.0",
      fabricPort: fabricPort(e.name),
      podSubnet: cidrToString(sub),
      gateway: nthAddress(sub, 1),
      vtepMAC: stableMAC(`${labName}/${e.name}/flannel.1`),
    };
  });
  const usedUnderlay = new Map<string, string>(nodes.map((n) => [n.underlayIP, `node ${n.name}`]));
  const clients: ClientModel[] = clientEntries.map((e, i) => {
    let ip = underlay ? nthAddress(underlay, CLIENT_UNDERLAY_OFFSET + i) : "0.0.0.0";
    if (e.address !== undefined) {
      if (!isValidIPv4(e.address) || (underlay && !cidrContains(underlay, e.address))) {
        errors.push(src.error(e.addrPath, `client address ${e.address} is not inside the underlay ${net.underlay}`, "pick an address in the underlay subnet"));
      } else if (usedUnderlay.has(e.address)) {
        errors.push(src.error(e.addrPath, `client address ${e.address} is already used by ${usedUnderlay.get(e.address)}`,
          `nodes use the underlay from .${NODE_UNDERLAY_OFFSET} up`));
      }
      ip = e.address;
    }
    usedUnderlay.set(ip, `client ${e.name}`);
    return { name: e.name, netns: clientNetns(labName, e.name), underlayIP: ip, fabricPort: fabricPort(e.name) };
  });
  if (underlay && NODE_UNDERLAY_OFFSET + nodes.length >= CLIENT_UNDERLAY_OFFSET) {
    errors.push(src.error(["spec", "nodes"], `too many nodes for the underlay layout (nodes use .${NODE_UNDERLAY_OFFSET} to .${CLIENT_UNDERLAY_OFFSET - 1})`, "use at most 64 nodes"));
  }

  // ---- Namespaces ----
  const namespaces = new Set(BUILTIN_NAMESPACES);
  for (const ns of loaded.namespaces) {
    if (namespaces.has(ns.value.metadata.name) && !BUILTIN_NAMESPACES.includes(ns.value.metadata.name)) {
      errors.push(ns.src.error(["metadata", "name"], `duplicate Namespace "${ns.value.metadata.name}"`, "remove one of them"));
    }
    namespaces.add(ns.value.metadata.name);
  }

  // ---- Pods (from Pod and Deployment objects) ----
  const pending: PendingPod[] = [];
  for (const p of loaded.pods) {
    if (deleted.has(`${p.value.metadata.namespace ?? "default"}/${p.value.metadata.name}`)) continue;
    pending.push({
      namespace: p.value.metadata.namespace ?? "default",
      name: p.value.metadata.name,
      labels: p.value.metadata.labels ?? {},
      spec: p.value.spec,
      at: p,
      specPath: ["spec"],
      metaPath: ["metadata"],
    });
  }
  for (const d of loaded.deployments) {
    const dep = d.value;
    const ns = dep.metadata.namespace ?? "default";
    const tmplLabels = dep.spec.template.metadata.labels ?? {};
    for (const [k, v] of Object.entries(dep.spec.selector.matchLabels)) {
      if (tmplLabels[k] !== v) {
        errors.push(d.src.error(["spec", "selector", "matchLabels", k], `selector ${k}=${v} does not match the template labels (template has ${k in tmplLabels ? `${k}=${tmplLabels[k]}` : Object.entries(tmplLabels).map(([a, b]) => `${a}=${b}`).join(", ") || "no labels"})`,
          "`selector` must match `template.metadata.labels` (Kubernetes rejects this Deployment too)"));
      }
    }
    const templateHash = safeEncode(JSON.stringify(dep.spec.template), 10);
    const replicas = opts.replicas?.[`${ns}/${dep.metadata.name}`] ?? dep.spec.replicas;
    // Like a ReplicaSet: a deleted pod is replaced by one with a new name.
    const names: string[] = [];
    for (let i = 0; names.length < replicas && i < replicas + deleted.size + 1000; i++) {
      const name = replicaPodName(dep.metadata.name, templateHash, labName, i);
      if (!deleted.has(`${ns}/${name}`)) names.push(name);
    }
    for (const name of names) {
      pending.push({
        namespace: ns,
        name,
        labels: { ...tmplLabels, "pod-template-hash": templateHash },
        owner: `Deployment/${dep.metadata.name}`,
        spec: dep.spec.template.spec,
        at: d,
        specPath: ["spec", "template", "spec"],
        metaPath: ["metadata"],
      });
    }
  }

  const seenPods = new Map<string, PendingPod>();
  for (const p of pending) {
    const key = `${p.namespace}/${p.name}`;
    const perr = (path: Path, message: string, hint?: string, key = false) => errors.push(p.at.src.error(path, message, hint, { key }));
    if (seenPods.has(key)) {
      const first = seenPods.get(key)!.at.src.pos(seenPods.get(key)!.metaPath);
      perr([...p.metaPath, "name"], `duplicate pod "${key}"`, `first defined at ${first.file}:${first.line}`);
    }
    seenPods.set(key, p);
    if (!namespaces.has(p.namespace)) {
      perr([...p.metaPath, "namespace"], `namespace "${p.namespace}" not found`,
        `add a Namespace object (apiVersion: v1, kind: Namespace, metadata.name: ${p.namespace})`);
    }
    if (p.spec.nodeName !== undefined && !nodes.some((n) => n.name === p.spec.nodeName)) {
      const near = didYouMean(p.spec.nodeName, nodes.map((n) => n.name));
      perr([...p.specPath, "nodeName"], `node "${p.spec.nodeName}" does not exist`,
        (near ? `did you mean "${near}"? ` : "") + `nodes: ${nodes.map((n) => n.name).join(", ")}`);
    }
    const cnames = new Set<string>();
    const ports = new Map<string, string>();
    p.spec.containers.forEach((c, ci) => {
      const cpath = [...p.specPath, "containers", ci];
      if (cnames.has(c.name)) perr([...cpath, "name"], `duplicate container name "${c.name}" in pod ${p.name}`, "container names must be unique within a pod");
      cnames.add(c.name);
      const r = resolveWorkload(c.image, c.command, c.args);
      if (!r.ok) perr([...cpath, r.field ?? "image"], r.error, r.hint);
      (c.ports ?? []).forEach((port, pi) => {
        const k = `${port.protocol}/${port.containerPort}`;
        if (port.protocol === "SCTP") perr([...cpath, "ports", pi, "protocol"], "SCTP is not supported by klab", "use TCP or UDP");
        if (port.name && ports.has(`name/${port.name}`)) perr([...cpath, "ports", pi, "name"], `duplicate port name "${port.name}" in pod ${p.name}`);
        if (ports.has(k)) {
          perr([...cpath, "ports", pi, "containerPort"], `port ${k} is already declared by container "${ports.get(k)}" in pod ${p.name}`,
            "containers of a pod share one network namespace; change one containerPort");
        }
        ports.set(k, c.name);
        if (port.name) ports.set(`name/${port.name}`, c.name);
      });
    });
    if (p.spec.dnsPolicy === "None" && !p.spec.dnsConfig?.nameservers?.length) {
      perr([...p.specPath, "dnsPolicy"], "dnsPolicy None needs dnsConfig.nameservers (at least one)", 'add dnsConfig: {nameservers: ["10.96.0.10"]}, or use dnsPolicy ClusterFirst');
    }
    const ns = podNetns(labName, p.namespace, p.name);
    if (ns.length > 200) perr([...p.metaPath, "name"], "pod name too long for a namespace file name", "use a shorter name");
  }

  // ---- Scheduling: pinned pods first, then spread to the least-loaded eligible node ----
  const load = new Map(nodes.map((n) => [n.name, 0]));
  const placement = new Map<PendingPod, string>();
  for (const p of pending) {
    // A running pod stays on its node (pods do not move); then pinned pods.
    const prev = prevPods.get(`${p.namespace}/${p.name}`);
    const node = prev && load.has(prev.node) ? prev.node : p.spec.nodeName && load.has(p.spec.nodeName) ? p.spec.nodeName : undefined;
    if (!node) continue;
    placement.set(p, node);
    load.set(node, load.get(node)! + 1);
  }
  for (const p of pending) {
    if (placement.has(p) || p.spec.nodeName) continue;
    const sel = p.spec.nodeSelector ?? {};
    const eligible = nodes.filter((n) => Object.entries(sel).every(([k, v]) => n.labels[k] === v));
    if (eligible.length === 0) {
      errors.push(p.at.src.error([...p.specPath, "nodeSelector"], `no node matches nodeSelector ${JSON.stringify(sel)} for pod ${p.name}`,
        `node labels: ${nodes.map((n) => `${n.name} ${Object.entries(n.labels).filter(([k]) => k !== "kubernetes.io/hostname").map(([k, v]) => `${k}=${v}`).join(",") || "(none)"}`).join("; ")} — label a node in spec.nodes or change the selector`));
      continue;
    }
    let best = eligible[0];
    for (const n of eligible) if (load.get(n.name)! < load.get(best.name)!) best = n;
    placement.set(p, best.name);
    load.set(best.name, load.get(best.name)! + 1);
  }
  for (const n of nodes) {
    if (load.get(n.name)! > PODS_PER_NODE) {
      errors.push(src.error(["spec", "nodes"], `node ${n.name} would hold ${load.get(n.name)} pods, more than its /24 allows (${PODS_PER_NODE})`,
        "add nodes or spread pods"));
    }
  }

  // ---- IPAM: in declaration order per node, like host-local handing out addresses ----
  const nextHost = new Map(nodes.map((n) => [n.name, POD_HOST_OFFSET]));
  // Addresses of running pods that stay are taken; new pods get the lowest free one.
  const keptIPs = new Set<string>();
  for (const p of pending) {
    const prev = prevPods.get(`${p.namespace}/${p.name}`);
    if (prev && placement.get(p) === prev.node) keptIPs.add(prev.ip);
  }
  // Like host-local, a just-released address is not handed out again at once: new pods skip
  // every address of the running lab (a pod being deleted may still hold its own).
  const takenIPs = new Set([...keptIPs, ...(opts.previous?.pods ?? []).map((p) => p.ip)]);
  const pods: PodModel[] = [];
  for (const p of pending) {
    const nodeName = placement.get(p);
    if (!nodeName) continue;
    const node = nodes.find((n) => n.name === nodeName)!;
    const sub = parseCidr(node.podSubnet)!;
    const prev = prevPods.get(`${p.namespace}/${p.name}`);
    let host: number;
    if (p.spec.hostNetwork) host = 0; // the node's address: no pod address taken
    else if (prev && prev.node === nodeName && keptIPs.has(prev.ip)) host = ipToInt(prev.ip) - sub.base;
    else {
      host = nextHost.get(nodeName)!;
      while (takenIPs.has(nthAddress(sub, host))) host++;
      nextHost.set(nodeName, host + 1);
    }
    const containers: ContainerModel[] = [];
    const podPorts = p.spec.containers.flatMap((c) => c.ports ?? []);
    for (const [ci, c] of p.spec.containers.entries()) {
      const r = resolveWorkload(c.image, c.command, c.args);
      if (!r.ok) continue;
      containers.push({
        name: c.name,
        image: c.image,
        workload: r.workload,
        env: Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ""])),
        ports: (c.ports ?? []).map((port) => ({ containerPort: port.containerPort, name: port.name, protocol: port.protocol })),
        workingDir: c.workingDir,
        readinessProbe: c.readinessProbe ? probeModel(c.readinessProbe, podPorts, (path, msg, hint) => errors.push(p.at.src.error([...p.specPath, "containers", ci, "readinessProbe", ...path], msg, hint))) : undefined,
      });
    }
    pods.push({
      namespace: p.namespace,
      name: p.name,
      uid: podUID(labName, p.namespace, p.name),
      labels: p.labels,
      owner: p.owner,
      node: nodeName,
      netns: podNetns(labName, p.namespace, p.name),
      hostVeth: podHostVeth(labName, p.namespace, p.name),
      ip: p.spec.hostNetwork ? node.underlayIP : nthAddress(sub, Math.min(host, cidrSize(sub) - 2)),
      // A host-network pod sees the node's hostname, as in Kubernetes.
      hostname: p.spec.hostNetwork ? node.name : p.spec.hostname ?? p.name,
      ...(p.spec.hostNetwork ? { hostNetwork: true as const } : {}),
      ...(p.spec.hostname ? { specHostname: p.spec.hostname } : {}),
      ...(p.spec.subdomain ? { subdomain: p.spec.subdomain } : {}),
      dnsPolicy: p.spec.dnsPolicy,
      resolvConf: podResolvConf({ namespace: p.namespace, spec: p.spec, clusterDomain: dnsSpec.clusterDomain, clusterDNS: dnsIP, hostResolvConf: opts.hostResolvConf }),
      restartPolicy: p.spec.restartPolicy,
      containers,
    });
  }

  // Every netns name must be unique (a node called "default-web" would shadow pod default/web).
  const netnsOwners = new Map<string, string>();
  const claim = (ns: string, what: string, path: Path, s = src) => {
    if (netnsOwners.get(ns) === what) return; // a plain duplicate, reported above
    if (netnsOwners.has(ns)) errors.push(s.error(path, `${what} would share the network namespace name ${ns} with ${netnsOwners.get(ns)}`, "rename one of them"));
    else netnsOwners.set(ns, what);
  };
  claim(fabricNetns(labName), "the fabric", ["metadata", "name"]);
  nodeEntries.forEach((e) => claim(nodeNetns(labName, e.name), `node ${e.name}`, e.path));
  clientEntries.forEach((e) => claim(clientNetns(labName, e.name), `client ${e.name}`, e.path));
  for (const p of pending) claim(podNetns(labName, p.namespace, p.name), `pod ${p.namespace}/${p.name}`, [...p.metaPath, "name"], p.at.src);

  // ---- Services ----
  const lbDef = underlay ? loadBalancerPool(lab.spec.loadBalancer.addresses, underlay) : { pool: [], bad: [] };
  for (const b of lbDef.bad) errors.push(src.error(["spec", "loadBalancer", "addresses", ...(b.index >= 0 ? [b.index] : [])], b.message, "e.g. addresses: [192.168.56.240-192.168.56.250]"));
  for (const ip of lbDef.pool) if (usedUnderlay.has(ip)) errors.push(src.error(["spec", "loadBalancer", "addresses"], `LoadBalancer address ${ip} is already used by ${usedUnderlay.get(ip)}`, "pick addresses nodes and clients do not use"));
  const services = buildServiceSpecs(loaded, { serviceCIDR, underlay, namespaces, lbPool: lbDef.pool, usedUnderlay, previous: opts.previous?.services }, errors);

  const model: ClusterModel = {
    lab: labName,
    files: loaded.files,
    mode: net.mode,
    podCIDR: net.podCIDR,
    serviceCIDR: net.serviceCIDR,
    underlayCIDR: underlay ? cidrToString(underlay) : net.underlay,
    underlayPrefix: underlay?.prefix ?? 24,
    mtu: net.mtu,
    podMTU: net.mode === "vxlan" ? net.mtu - 50 : net.mtu,
    fabric: { netns: fabricNetns(labName), bridge: "br0" },
    nodes,
    clients,
    namespaces: [...namespaces].sort(),
    pods,
    proxy: { mode: lab.spec.proxy.mode, ipvsScheduler: lab.spec.proxy.ipvs.scheduler, syncPeriodSeconds: lab.spec.proxy.syncPeriodSeconds },
    dns: { enabled: dnsIP !== null, clusterDomain: dnsSpec.clusterDomain, serviceIP: dnsIP, ...(dnsSpec.upstream ? { upstream: dnsSpec.upstream } : {}), ttl: dnsSpec.ttl, log: dnsSpec.log },
    lbPool: lbDef.pool,
    services,
    checks: [],
  };

  // ---- Checks ----
  const names = new Set<string>();
  lab.spec.checks.forEach((c, i) => {
    const path: Path = ["spec", "checks", i];
    if (names.has(c.name)) errors.push(src.error([...path, "name"], `duplicate check name "${c.name}"`, "check names must be unique"));
    names.add(c.name);
    const r = resolveCheck(c, model, (p, m, h) => errors.push(src.error([...path, ...p], m, h)));
    if (r) model.checks.push(r);
  });

  if (errors.length) throw new LabFileError(dedupe(errors));
  return model;
}

function probeModel(p: ProbeSpec, ports: { containerPort: number; name?: string }[], report: (path: Path, msg: string, hint?: string) => void): ProbeModel | undefined {
  const actions = (["httpGet", "tcpSocket", "exec"] as const).filter((k) => p[k] !== undefined);
  if (actions.length !== 1) {
    report([], actions.length ? `a probe has exactly one handler, got ${actions.join(" and ")}` : "a probe needs a handler", "use one of httpGet, tcpSocket, exec");
    return undefined;
  }
  const port = (v: number | string, path: Path): number | undefined => {
    if (typeof v === "number") return v;
    const found = ports.find((cp) => cp.name === v);
    if (!found) report(path, `port name "${v}" is not a containerPort of this pod`, `containerPort names in this pod: ${ports.filter((cp) => cp.name).map((cp) => cp.name).join(", ") || "none (give the port a name, or use its number)"}`);
    return found?.containerPort;
  };
  let action: ProbeModel["action"] | undefined;
  if (p.httpGet) {
    const n = port(p.httpGet.port, ["httpGet", "port"]);
    if (n) action = { kind: "httpGet", path: p.httpGet.path, port: n };
  } else if (p.tcpSocket) {
    const n = port(p.tcpSocket.port, ["tcpSocket", "port"]);
    if (n) action = { kind: "tcpSocket", port: n };
  } else if (p.exec) action = { kind: "exec", command: p.exec.command };
  if (!action) return undefined;
  return {
    action,
    initialDelaySeconds: p.initialDelaySeconds,
    periodSeconds: p.periodSeconds,
    timeoutSeconds: p.timeoutSeconds,
    successThreshold: p.successThreshold,
    failureThreshold: p.failureThreshold,
  };
}

function dedupe(errors: SpecError[]): SpecError[] {
  const seen = new Set<string>();
  return errors
    .filter((e) => {
      const k = `${e.file}:${e.line}:${e.col}:${e.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line || a.col - b.col);
}

function cidrProblem(text: string): string {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)\/(\d+)$/.exec(text);
  if (!m) return "expected four octets and a prefix, like 10.244.0.0/16";
  const big = m.slice(1, 5).find((o) => Number(o) > 255);
  if (big) return `octet ${big} is over 255`;
  return `prefix /${m[5]} is over 32`;
}

export function parseDurationMs(d: number | string | undefined, fallback: number): number {
  if (d === undefined) return fallback;
  if (typeof d === "number") return d * 1000;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(d)!;
  const n = Number(m[1]);
  return m[2] === "ms" ? n : m[2] === "s" ? n * 1000 : n * 60000;
}

type Report = (path: Path, message: string, hint?: string) => void;

const SOURCE_FORMS = "pod/NAMESPACE/NAME, pod/NAME (namespace default), node/NAME or client/NAME";
const ENDPOINT_FORMS = `${SOURCE_FORMS.replace(" or ", ", ")}, svc/NAMESPACE/NAME (cluster IP), lb/NAMESPACE/NAME (LoadBalancer IP) or an IPv4 address`;

export function parseEndpoint(text: string, model: ClusterModel): { ok: true; endpoint: Endpoint } | { ok: false; error: string; hint: string } {
  const parts = text.split("/");
  const bad = (error: string, hint = `expected ${ENDPOINT_FORMS}`) => ({ ok: false as const, error, hint });
  if (parts.length === 1) {
    if (isValidIPv4(text)) return { ok: true, endpoint: { kind: "ip", ip: text } };
    return bad(`"${text}" is not an endpoint`);
  }
  const [kind, ...rest] = parts;
  if (kind === "pod") {
    const [ns, name] = rest.length === 1 ? ["default", rest[0]] : rest;
    if (rest.length > 2 || !name) return bad(`"${text}" is not a pod reference`);
    if (!model.pods.some((p) => p.namespace === ns && p.name === name)) {
      const near = didYouMean(`${ns}/${name}`, model.pods.map((p) => `${p.namespace}/${p.name}`));
      return bad(`pod ${ns}/${name} does not exist`, near ? `did you mean pod/${near}?` : `pods: ${model.pods.map((p) => `${p.namespace}/${p.name}`).join(", ") || "none"}`);
    }
    return { ok: true, endpoint: { kind: "pod", namespace: ns, name } };
  }
  if (kind === "node" || kind === "client") {
    const list = kind === "node" ? model.nodes : model.clients;
    if (rest.length !== 1) return bad(`"${text}" is not a ${kind} reference`);
    if (!list.some((x) => x.name === rest[0])) {
      const near = didYouMean(rest[0], list.map((x) => x.name));
      return bad(`${kind} ${rest[0]} does not exist`, near ? `did you mean ${kind}/${near}?` : `${kind}s: ${list.map((x) => x.name).join(", ") || "none"}`);
    }
    return { ok: true, endpoint: { kind, name: rest[0] } };
  }
  if (kind === "svc" || kind === "lb" || kind === "nodeport") {
    const [ns, name] = rest.length === 1 ? ["default", rest[0]] : rest;
    if (rest.length > 2 || !name) return bad(`"${text}" is not a Service reference`, `e.g. ${kind}/default/web`);
    const svc = model.services.find((s) => s.namespace === ns && s.name === name);
    if (!svc) {
      const near = didYouMean(`${ns}/${name}`, model.services.map((s) => `${s.namespace}/${s.name}`));
      return bad(`Service ${ns}/${name} does not exist`, near ? `did you mean ${kind}/${near}?` : `Services: ${model.services.map((s) => `${s.namespace}/${s.name}`).join(", ") || "none"}`);
    }
    if (kind === "svc" && !svc.clusterIP) return bad(`Service ${ns}/${name} has no cluster IP (headless or ExternalName)`, "target its pods instead");
    if (kind === "lb" && !svc.loadBalancerIP) return bad(`Service ${ns}/${name} is not a LoadBalancer with an address`, "use type: LoadBalancer");
    if (kind === "nodeport") return bad(`nodeport/${ns}/${name} is a port, not an address`, "use it as {nodeport/NS/NAME} in an http url, or write NODE:PORT");
    return { ok: true, endpoint: { kind, namespace: ns, name } };
  }
  return bad(`unknown endpoint kind "${kind}"`);
}

/** The nodePort of a Service's port (`nodeport/NS/NAME[:portname]`), for http URLs. */
export function resolveNodePort(text: string, model: ClusterModel): { ok: true; port: number } | { ok: false; error: string; hint: string } {
  const m = /^nodeport\/(?:([^/:]+)\/)?([^/:]+)(?::(.+))?$/.exec(text);
  if (!m) return { ok: false, error: `"${text}" is not a nodePort reference`, hint: "e.g. {nodeport/default/web} or {nodeport/default/web:http}" };
  const [, ns = "default", name, portName] = m;
  const svc = model.services.find((s) => s.namespace === ns && s.name === name);
  const port = svc?.ports.find((p) => (portName ? p.name === portName || String(p.port) === portName : true));
  if (!svc || !port?.nodePort) return { ok: false, error: `no nodePort for ${text.slice(9)}`, hint: "the Service must be type NodePort or LoadBalancer" };
  return { ok: true, port: port.nodePort };
}

function parseHostPort(text: string, model: ClusterModel): { ok: true; endpoint: Endpoint; port: number } | { ok: false; error: string; hint: string } {
  const i = text.lastIndexOf(":");
  if (i < 0) return { ok: false, error: `"${text}" has no port`, hint: `write TARGET:PORT, e.g. pod/default/web:8080` };
  const ep = parseEndpoint(text.slice(0, i), model);
  if (!ep.ok) return ep;
  let port = Number(text.slice(i + 1));
  const e = ep.endpoint;
  if (!Number.isInteger(port) && (e.kind === "svc" || e.kind === "lb")) {
    // A Service port by name, as kubectl port-forward svc/web :http would take it.
    const svc = model.services.find((s) => s.namespace === e.namespace && s.name === e.name)!;
    port = svc.ports.find((p) => p.name === text.slice(i + 1))?.port ?? NaN;
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) return { ok: false, error: `"${text.slice(i + 1)}" is not a port (1-65535) or a port name of the Service`, hint: "e.g. pod/default/web:8080 or svc/default/web:http" };
  return { ok: true, endpoint: ep.endpoint, port };
}

function resolveCheck(c: CheckSpec, model: ClusterModel, report: Report): CheckModel | null {
  const probes = (["ping", "http", "tcp", "udp", "dns", "matrix"] as const).filter((k) => c[k] !== undefined);
  if (probes.length !== 1) {
    if (probes.length) report([probes[1]], `a check has exactly one probe, got ${probes.join(" and ")}`, "split it into checks of one probe each");
    else report(["name"], "a check needs a probe", "add one of: ping, http, tcp, udp, dns, matrix");
    return null;
  }
  let ok = true;
  let from: Endpoint | undefined;
  if (probes[0] !== "matrix") {
    if (!c.from) {
      report(["name"], "a check needs `from` (where the probe runs)", `e.g. from: pod/default/web; one of ${SOURCE_FORMS}`);
      return null;
    }
    const f = parseEndpoint(c.from, model);
    if (!f.ok) { report(["from"], f.error, f.hint); ok = false; }
    else if (f.endpoint.kind === "ip" || f.endpoint.kind === "svc" || f.endpoint.kind === "lb") { report(["from"], "a probe runs from a pod, node or client, not an address", SOURCE_FORMS); ok = false; }
    else from = f.endpoint;
  } else if (c.from) {
    report(["from"], "a matrix check takes its sources from matrix.from", "remove `from`");
    ok = false;
  }
  let probe: Probe | null = null;
  if (c.ping !== undefined) {
    const t = parseEndpoint(c.ping, model);
    if (t.ok) probe = { kind: "ping", target: t.endpoint };
    else report(["ping"], t.error, t.hint);
  } else if (c.tcp !== undefined) {
    const t = parseHostPort(c.tcp, model);
    if (t.ok) probe = { kind: "tcp", target: t.endpoint, port: t.port };
    else report(["tcp"], t.error, t.hint);
  } else if (c.udp !== undefined) {
    const t = parseHostPort(c.udp.target, model);
    if (t.ok) probe = { kind: "udp", target: t.endpoint, port: t.port, send: c.udp.send, replyContains: c.udp.replyContains };
    else report(["udp", "target"], t.error, t.hint);
  } else if (c.dns !== undefined) {
    const d = c.dns;
    if (d.rcode && d.rcode !== "NOERROR" && (d.answers?.length || d.contains?.length)) {
      report(["dns", "rcode"], `rcode ${d.rcode} comes with no answers, yet answers/contains are given`, "keep rcode, or the expected answers");
    } else {
      probe = { kind: "dns", name: d.name, type: d.type, tcp: d.tcp, search: d.search, server: d.server, answers: d.answers, contains: d.contains, rcode: d.rcode };
    }
  } else if (c.http !== undefined) {
    const h = c.http;
    let urlOk = true;
    for (const m of h.url.matchAll(/\{([^}]*)\}/g)) {
      const t = m[1].startsWith("nodeport/") ? resolveNodePort(m[1], model) : parseEndpoint(m[1], model);
      if (!t.ok) { report(["http", "url"], `in {${m[1]}}: ${t.error}`, t.hint); urlOk = false; }
    }
    const probeUrl = h.url.replace(/\{([^}]*)\}/g, (_, ref: string) => (ref.startsWith("nodeport/") ? "30000" : "placeholder"));
    try {
      const u = new URL(probeUrl);
      if (u.protocol !== "http:" && u.protocol !== "https:") throw new Error();
    } catch {
      report(["http", "url"], `"${h.url}" is not an http(s) URL`, "e.g. http://{pod/default/web}:8080/hostname");
      urlOk = false;
    }
    if (h.bodyMatches !== undefined) {
      try { new RegExp(h.bodyMatches); } catch (e) { report(["http", "bodyMatches"], `invalid regular expression: ${(e as Error).message}`); urlOk = false; }
    }
    if (h.distribution && h.distribution.atLeast === undefined && h.distribution.atMost === undefined) {
      report(["http", "distribution"], "a distribution needs atLeast and/or atMost (distinct responses)", "e.g. distribution: {requests: 30, atLeast: 3}");
      urlOk = false;
    }
    if (urlOk) probe = { kind: "http", url: h.url, method: h.method ?? "GET", status: h.status, bodyContains: h.bodyContains, bodyMatches: h.bodyMatches, headers: h.headers, distribution: h.distribution };
  } else if (c.matrix !== undefined) {
    const m = c.matrix;
    const sel = (s: typeof m.from, side: "from" | "to"): PodSelection | null => {
      if (s.namespace && !model.namespaces.includes(s.namespace)) {
        report(["matrix", side, "namespace"], `namespace "${s.namespace}" not found`, `namespaces: ${model.namespaces.join(", ")}`);
        return null;
      }
      const selection = { namespace: s.namespace, matchLabels: s.podSelector?.matchLabels };
      if (selectPods(model, selection).length === 0) {
        report(["matrix", side], "selects no pods", "check the namespace and podSelector.matchLabels");
        return null;
      }
      return selection;
    };
    const f = sel(m.from, "from");
    const t = sel(m.to, "to");
    const protocol = m.protocol ?? (m.port ? "tcp" : "ping");
    if (protocol === "tcp" && !m.port) { report(["matrix"], "a tcp matrix needs a port", "add port: 8080, or protocol: ping"); ok = false; }
    if (f && t) probe = { kind: "matrix", from: f, to: t, port: m.port, protocol };
  }
  if (!probe || !ok) return null;
  return {
    name: c.name,
    from,
    probe,
    expect: c.expect,
    timeoutMs: parseDurationMs(c.timeout, 2000),
    retries: c.retries ?? 2,
  };
}

export function selectPods(model: ClusterModel, s: PodSelection): PodModel[] {
  return model.pods.filter(
    (p) => (!s.namespace || p.namespace === s.namespace) && Object.entries(s.matchLabels ?? {}).every(([k, v]) => p.labels[k] === v),
  );
}
