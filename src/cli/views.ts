// kubectl-shaped views of a running lab: tables, -o wide, -o json/yaml objects, describe.
import { stringify } from "yaml";
import type { ClusterModel, NodeModel, PodModel } from "../model/types.js";
import type { AgentStatus, PodStatus } from "../kernel/agent-client.js";
import type { ServiceModel, ServiceSpecModel } from "../model/services.js";

export function table(rows: string[][]): string {
  if (!rows.length) return "";
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join("   ").trimEnd()).join("\n") + "\n";
}

export function age(since: string | undefined, now = Date.now()): string {
  if (!since) return "<unknown>";
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86400)}d`;
}

export function podStatusText(st: PodStatus | undefined): string {
  if (!st) return "Unknown";
  const waiting = st.containers.find((c) => c.state !== "running" && c.reason);
  if (waiting?.reason && st.phase !== "Succeeded") return waiting.reason;
  return st.phase;
}

export interface PodRow {
  pod: PodModel;
  status?: PodStatus;
}

export function podsTable(rows: PodRow[], opts: { wide?: boolean; allNamespaces?: boolean; createdAt?: string }): string {
  const head = [...(opts.allNamespaces ? ["NAMESPACE"] : []), "NAME", "READY", "STATUS", "RESTARTS", "AGE", ...(opts.wide ? ["IP", "NODE", "NETNS"] : [])];
  const body = rows.map(({ pod, status }) => {
    const cs = status?.containers ?? [];
    const ready = cs.filter((c) => c.ready ?? c.state === "running").length;
    const restarts = cs.reduce((n, c) => n + c.restartCount, 0);
    return [
      ...(opts.allNamespaces ? [pod.namespace] : []),
      pod.name,
      `${ready}/${pod.containers.length}`,
      podStatusText(status),
      String(restarts),
      age(opts.createdAt),
      ...(opts.wide ? [pod.ip, pod.node, pod.netns] : []),
    ];
  });
  return table([head, ...body]);
}

export function nodesTable(m: ClusterModel, ready: Set<string>, opts: { wide?: boolean; createdAt?: string }): string {
  const head = ["NAME", "STATUS", "ROLES", "AGE", "INTERNAL-IP", "POD-CIDR", ...(opts.wide ? ["PODS", "NETNS", "NETWORK"] : [])];
  const body = m.nodes.map((n) => [
    n.name,
    ready.has(n.name) ? "Ready" : "NotReady",
    "<none>",
    age(opts.createdAt),
    n.underlayIP,
    n.podSubnet,
    ...(opts.wide ? [String(m.pods.filter((p) => p.node === n.name).length), n.netns, m.mode] : []),
  ]);
  return table([head, ...body]);
}

export function podObject(m: ClusterModel, pod: PodModel, status: PodStatus | undefined, createdAt?: string) {
  const node = m.nodes.find((n) => n.name === pod.node)!;
  return {
    apiVersion: "v1",
    kind: "Pod",
    metadata: {
      name: pod.name,
      namespace: pod.namespace,
      uid: pod.uid,
      labels: pod.labels,
      creationTimestamp: createdAt,
      ...(pod.owner ? { ownerReferences: [{ kind: pod.owner.split("/")[0] === "Deployment" ? "ReplicaSet" : pod.owner.split("/")[0], name: pod.owner.split("/")[1] }] } : {}),
      annotations: { "klab.dev/netns": pod.netns, "klab.dev/host-veth": pod.hostVeth },
    },
    spec: {
      nodeName: pod.node,
      hostname: pod.hostname !== pod.name ? pod.hostname : undefined,
      restartPolicy: pod.restartPolicy,
      containers: pod.containers.map((c) => ({
        name: c.name,
        image: c.image,
        ...(c.workload.kind === "exec" ? { command: c.workload.argv } : {}),
        ...(c.ports.length ? { ports: c.ports } : {}),
        ...(Object.keys(c.env).length ? { env: Object.entries(c.env).map(([name, value]) => ({ name, value })) } : {}),
      })),
    },
    status: {
      phase: status?.phase ?? "Unknown",
      hostIP: node.underlayIP,
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      containerStatuses: (status?.containers ?? []).map((c) => ({
        name: c.name,
        image: c.image,
        ready: c.ready ?? c.state === "running",
        restartCount: c.restartCount,
        started: c.state === "running",
        state:
          c.state === "running"
            ? { running: { startedAt: c.startedAt } }
            : c.state === "terminated"
              ? { terminated: { exitCode: c.exitCode, reason: c.reason, message: c.message, finishedAt: c.finishedAt } }
              : { waiting: { reason: c.reason, message: c.message } },
      })),
    },
  };
}

export function nodeObject(m: ClusterModel, n: NodeModel, isReady: boolean) {
  return {
    apiVersion: "v1",
    kind: "Node",
    metadata: { name: n.name, labels: n.labels, annotations: { "klab.dev/netns": n.netns, ...(m.mode === "vxlan" ? { "flannel.alpha.coreos.com/backend-data": JSON.stringify({ VNI: 1, VtepMAC: n.vtepMAC }), "flannel.alpha.coreos.com/backend-type": "vxlan" } : {}) } },
    spec: { podCIDR: n.podSubnet, podCIDRs: [n.podSubnet] },
    status: {
      addresses: [{ type: "InternalIP", address: n.underlayIP }, { type: "Hostname", address: n.name }],
      conditions: [{ type: "Ready", status: isReady ? "True" : "False" }],
    },
  };
}

export function listOutput(items: unknown[], format: "json" | "yaml"): string {
  const list = { apiVersion: "v1", kind: "List", items };
  return format === "json" ? JSON.stringify(list, null, 4) + "\n" : stringify(list);
}

export function describePod(m: ClusterModel, pod: PodModel, st: PodStatus | undefined, createdAt?: string): string {
  const node = m.nodes.find((n) => n.name === pod.node)!;
  const kv = (k: string, v: string, indent = "") => `${indent}${(k + ":").padEnd(20 - indent.length)}${v}`;
  const lines = [
    kv("Name", pod.name),
    kv("Namespace", pod.namespace),
    kv("Node", `${pod.node}/${node.underlayIP}`),
    kv("Start Time", createdAt ?? "<unknown>"),
    kv("Labels", Object.entries(pod.labels).map(([k, v]) => `${k}=${v}`).join("\n" + " ".repeat(20)) || "<none>"),
    kv("Status", st?.phase ?? "Unknown"),
    kv("IP", pod.ip),
    kv("Controlled By", pod.owner ?? "<none>"),
    kv("Network NS", `${pod.netns} (eth0 ↔ ${pod.hostVeth} on ${pod.node}'s cni0, gateway ${node.gateway})`),
    "Containers:",
  ];
  for (const c of pod.containers) {
    const cs = st?.containers.find((x) => x.name === c.name);
    lines.push(`  ${c.name}:`);
    lines.push(kv("Image", c.image, "    "));
    if (c.workload.kind === "exec") lines.push(kv("Command", c.workload.argv.join(" "), "    "));
    if (c.workload.kind === "netexec") lines.push(kv("Serves", `agnhost netexec: HTTP ${c.workload.httpPort}${c.workload.udpPort ? `, UDP ${c.workload.udpPort}` : ""}`, "    "));
    for (const p of c.ports) lines.push(kv("Port", `${p.containerPort}/${p.protocol}${p.name ? ` (${p.name})` : ""}`, "    "));
    lines.push(kv("State", cs ? `${cs.state[0].toUpperCase()}${cs.state.slice(1)}${cs.reason ? ` (${cs.reason})` : ""}` : "Unknown", "    "));
    if (cs?.startedAt) lines.push(kv("Started", cs.startedAt, "    "));
    if (cs?.exitCode !== undefined) lines.push(kv("Exit Code", String(cs.exitCode), "    "));
    if (cs?.message) lines.push(kv("Message", cs.message, "    "));
    lines.push(kv("Ready", String(cs?.ready ?? cs?.state === "running"), "    "));
    if (c.readinessProbe) {
      const p = c.readinessProbe;
      const a = p.action.kind === "httpGet" ? `http-get http://:${p.action.port}${p.action.path}` : p.action.kind === "tcpSocket" ? `tcp-socket :${p.action.port}` : `exec [${p.action.command.join(" ")}]`;
      lines.push(kv("Readiness", `${a} delay=${p.initialDelaySeconds}s timeout=${p.timeoutSeconds}s period=${p.periodSeconds}s #success=${p.successThreshold} #failure=${p.failureThreshold}`, "    "));
    }
    lines.push(kv("Restart Count", String(cs?.restartCount ?? 0), "    "));
    if (Object.keys(c.env).length) lines.push("    Environment:", ...Object.entries(c.env).map(([k, v]) => `      ${k}: ${v}`));
  }
  return lines.join("\n") + "\n";
}

export function servicePorts(s: ServiceModel): string {
  return s.ports.map((p) => `${p.port}${p.nodePort ? `:${p.nodePort}` : ""}/${p.protocol}`).join(",") || "<none>";
}

export function servicesTable(services: ServiceModel[], specs: ServiceSpecModel[], opts: { wide?: boolean; allNamespaces?: boolean; createdAt?: string }): string {
  const head = [...(opts.allNamespaces ? ["NAMESPACE"] : []), "NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE", ...(opts.wide ? ["SELECTOR"] : [])];
  const rows = services.map((s) => {
    const spec = specs.find((x) => x.namespace === s.namespace && x.name === s.name);
    const ext = s.type === "ExternalName" ? s.externalName ?? "" : s.type === "LoadBalancer" ? s.loadBalancerIP ?? "<pending>" : "<none>";
    const sel = spec?.selector ? Object.entries(spec.selector).map(([k, v]) => `${k}=${v}`).join(",") : "<none>";
    return [...(opts.allNamespaces ? [s.namespace] : []), s.name, s.type, s.clusterIP ?? (s.type === "ExternalName" ? "<none>" : "None"), ext, servicePorts(s), age(opts.createdAt), ...(opts.wide ? [sel] : [])];
  });
  return table([head, ...rows]);
}

/** Ready endpoints as kubectl prints them: ip:port, at most three, then "+ N more...". */
export function endpointsText(s: ServiceModel): string {
  const all = [...new Set(s.ports.flatMap((p) => (s.endpoints[p.name] ?? []).filter((e) => e.ready).map((e) => `${e.ip}:${e.port}`)))];
  if (!all.length) return "<none>";
  return all.slice(0, 3).join(",") + (all.length > 3 ? ` + ${all.length - 3} more...` : "");
}

export function endpointsTable(services: ServiceModel[], opts: { wide?: boolean; allNamespaces?: boolean; createdAt?: string }): string {
  const head = [...(opts.allNamespaces ? ["NAMESPACE"] : []), "NAME", "ENDPOINTS", "AGE", ...(opts.wide ? ["NOT-READY"] : [])];
  const rows = services.filter((s) => s.type !== "ExternalName").map((s) => {
    const notReady = [...new Set(s.ports.flatMap((p) => (s.endpoints[p.name] ?? []).filter((e) => !e.ready).map((e) => `${e.ip}:${e.port}`)))];
    return [...(opts.allNamespaces ? [s.namespace] : []), s.name, opts.wide ? [...new Set(s.ports.flatMap((p) => (s.endpoints[p.name] ?? []).filter((e) => e.ready).map((e) => `${e.ip}:${e.port}`)))].join(",") || "<none>" : endpointsText(s), age(opts.createdAt), ...(opts.wide ? [notReady.join(",") || "<none>"] : [])];
  });
  return table([head, ...rows]);
}

/** As kubectl: NAME ADDRESSTYPE PORTS ENDPOINTS AGE (ready addresses). */
export function endpointSlicesTable(services: ServiceModel[], opts: { allNamespaces?: boolean; createdAt?: string }): string {
  const head = [...(opts.allNamespaces ? ["NAMESPACE"] : []), "NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"];
  const rows = services.filter((s) => s.ports.length).map((s) => {
    const ports = [...new Set(s.ports.map((p) => String(s.endpoints[p.name]?.[0]?.port ?? "<unset>")))].join(",");
    const ips = [...new Set(s.ports.flatMap((p) => (s.endpoints[p.name] ?? []).filter((e) => e.ready).map((e) => e.ip)))];
    const shown = ips.length ? ips.slice(0, 3).join(",") + (ips.length > 3 ? ` + ${ips.length - 3} more...` : "") : "<unset>";
    return [...(opts.allNamespaces ? [s.namespace] : []), `${s.name}-klab`, "IPv4", ports, shown, age(opts.createdAt)];
  });
  return table([head, ...rows]);
}

export function serviceObject(s: ServiceModel, spec: ServiceSpecModel | undefined) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: { name: s.name, namespace: s.namespace },
    spec: {
      type: s.type,
      clusterIP: s.clusterIP ?? "None",
      ...(s.clusterIP ? { clusterIPs: [s.clusterIP] } : {}),
      ...(spec?.selector ? { selector: spec.selector } : {}),
      ports: (spec?.ports ?? []).map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: p.port, targetPort: p.targetPort, ...(p.nodePort ? { nodePort: p.nodePort } : {}) })),
      sessionAffinity: s.sessionAffinity,
      ...(s.type === "NodePort" || s.type === "LoadBalancer" ? { externalTrafficPolicy: s.externalTrafficPolicy } : {}),
      internalTrafficPolicy: s.internalTrafficPolicy,
      ...(s.externalName ? { externalName: s.externalName } : {}),
    },
    status: { loadBalancer: s.loadBalancerIP ? { ingress: [{ ip: s.loadBalancerIP, ipMode: "VIP" }] } : {} },
  };
}

export function endpointSliceObjects(s: ServiceModel) {
  return s.ports.length === 0 ? [] : [{
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    metadata: { name: `${s.name}-klab`, namespace: s.namespace, labels: { "kubernetes.io/service-name": s.name } },
    addressType: "IPv4",
    endpoints: [...new Map(s.ports.flatMap((p) => s.endpoints[p.name] ?? []).map((e) => [e.ip, e])).values()].map((e) => ({
      addresses: [e.ip],
      conditions: { ready: e.ready, serving: e.ready, terminating: false },
      ...(e.node ? { nodeName: e.node } : {}),
      ...(e.pod ? { targetRef: { kind: "Pod", namespace: e.pod.split("/")[0], name: e.pod.split("/")[1] } } : {}),
    })),
    ports: s.ports.map((p) => ({ ...(p.name ? { name: p.name } : {}), protocol: p.protocol, port: s.endpoints[p.name]?.[0]?.port ?? 0 })),
  }];
}

export function describeService(s: ServiceModel, spec: ServiceSpecModel | undefined, holder?: string): string {
  const kv = (k: string, v: string) => `${(k + ":").padEnd(26)}${v}`;
  const lines = [
    kv("Name", s.name),
    kv("Namespace", s.namespace),
    kv("Selector", spec?.selector ? Object.entries(spec.selector).map(([k, v]) => `${k}=${v}`).join(",") : "<none>"),
    kv("Type", s.type),
    kv("IP", s.clusterIP ?? "None"),
  ];
  if (s.externalName) lines.push(kv("External Name", s.externalName));
  if (s.loadBalancerIP) lines.push(kv("LoadBalancer Ingress", `${s.loadBalancerIP}${holder ? ` (announced by ${holder})` : ""}`));
  for (const p of spec?.ports ?? []) {
    const eps = (s.endpoints[p.name] ?? []).filter((e) => e.ready || s.publishNotReadyAddresses).map((e) => `${e.ip}:${e.port}`);
    lines.push(kv("Port", `${p.name || "<unset>"}  ${p.port}/${p.protocol}`));
    lines.push(kv("TargetPort", `${p.targetPort}/${p.protocol}`));
    if (p.nodePort) lines.push(kv("NodePort", `${p.name || "<unset>"}  ${p.nodePort}/${p.protocol}`));
    lines.push(kv("Endpoints", eps.join(",") || "<none>"));
    const notReady = (s.endpoints[p.name] ?? []).filter((e) => !e.ready).map((e) => `${e.ip}:${e.port}`);
    if (notReady.length) lines.push(kv("Not Ready", notReady.join(",")));
  }
  lines.push(kv("Session Affinity", s.sessionAffinity + (s.sessionAffinity === "ClientIP" ? ` (timeout ${s.affinityTimeoutSeconds}s)` : "")));
  if (s.type === "NodePort" || s.type === "LoadBalancer") lines.push(kv("External Traffic Policy", s.externalTrafficPolicy));
  lines.push(kv("Internal Traffic Policy", s.internalTrafficPolicy));
  return lines.join("\n") + "\n";
}

export function statusByPod(status: AgentStatus | undefined): Map<string, PodStatus> {
  return new Map((status?.pods ?? []).map((p) => [`${p.namespace}/${p.name}`, p]));
}
