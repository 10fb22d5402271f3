// IPVS-mode test helpers, beside the shared proxy fixture (test/lib/proxy-fixture.ts, which
// they extend, never change): a few more Services for the cases the shared fixture has no
// example of, and checkers for the texts the IPVS renderer writes — ipvsadm lines against
// ipvsadm(8)'s grammar (this kernel has no ip_vs, so ipvsadm itself cannot parse them: it
// refuses to start without the module), ipset entries against their set type's syntax.
import type { ServiceModel, ServicePortModel } from "../../src/model/services.js";
import { ep, svc } from "./proxy-fixture.js";

const port = (protocol: "TCP" | "UDP", p: number, nodePort?: number, name = ""): ServicePortModel => ({ name, protocol, port: p, ...(nodePort ? { nodePort } : {}) });

/** Cases the shared fixture lacks: a UDP NodePort with externalTrafficPolicy Local, affinity
 * on NodePort and load-balancer virtual servers, internalTrafficPolicy Local on a Service that
 * is also reachable from outside (so it has cluster endpoints to fall back to). */
export function ipvsExtraServices(): ServiceModel[] {
  return [
    svc("infra", "syslog", {
      type: "NodePort",
      clusterIP: "10.96.1.10",
      externalTrafficPolicy: "Local",
      ports: [port("UDP", 514, 30514)],
      endpoints: { "": [ep("10.244.0.20:514@node1")] },
    }),
    svc("shop", "sticky", {
      type: "LoadBalancer",
      clusterIP: "10.96.1.11",
      loadBalancerIP: "192.168.56.243",
      sessionAffinity: "ClientIP",
      affinityTimeoutSeconds: 300,
      ports: [port("TCP", 443, 30444, "https")],
      endpoints: { https: [ep("10.244.0.21:8443@node1"), ep("10.244.2.21:8443@node3")] },
    }),
    svc("shop", "itp-nodeport", {
      type: "NodePort",
      clusterIP: "10.96.1.12",
      internalTrafficPolicy: "Local",
      ports: [port("TCP", 80, 30445)],
      endpoints: { "": [ep("10.244.1.22:8080@node2")] },
    }),
  ];
}

// ---- ipvsadm(8) grammar --------------------------------------------------------------------

const SCHEDULERS = new Set(["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh", "twos"]);
const SCHED_FLAGS: Record<string, string[]> = { sh: ["sh-fallback", "sh-port"], mh: ["mh-fallback", "mh-port"] };
const OTHER_SCHED_FLAGS = ["flag-1", "flag-2", "flag-3"];

const isUint = (s: string | undefined, max: number) => s !== undefined && /^\d+$/.test(s) && Number(s) <= max;
function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255 && String(Number(p)) === p);
}
/** host[:port], host an IPv4 address (klab renders numeric addresses only). */
function address(s: string | undefined): { ok: boolean; port?: number } {
  if (!s) return { ok: false };
  const [host, p, ...rest] = s.split(":");
  if (rest.length || !isIPv4(host)) return { ok: false };
  if (p === undefined) return { ok: true };
  return isUint(p, 65535) ? { ok: true, port: Number(p) } : { ok: false };
}

/**
 * One `ipvsadm -R` / ipvsadm-restore line against ipvsadm(8):
 *   -A|-E virtual-service [-s scheduler] [-p [timeout]] [-M netmask] [--pe engine] [-b sched-flags]
 *   -D virtual-service
 *   -a|-e virtual-service -r server-address [-g|-i|-m] [-w weight] [-x upper] [-y lower]
 *   -d virtual-service -r server-address
 * virtual-service: -t|-u|--sctp-service host[:port] (port 0 only when persistent) | -f mark.
 * Returns the problem, or null when the line is well-formed.
 */
export function ipvsadmLineError(line: string): string | null {
  const f = line.trim().split(/\s+/);
  if (f[0] === "ipvsadm") f.shift();
  const long: Record<string, string> = {
    "--add-service": "-A",
    "--edit-service": "-E",
    "--delete-service": "-D",
    "--add-server": "-a",
    "--edit-server": "-e",
    "--delete-server": "-d",
  };
  const cmd = long[f[0]] ?? f[0];
  if (!["-A", "-E", "-D", "-a", "-e", "-d"].includes(cmd)) return `unknown command ${f[0]}`;
  const allowed: Record<string, string[]> = {
    "-A": ["-s", "-p", "-M", "--pe", "-b"],
    "-E": ["-s", "-p", "-M", "--pe", "-b"],
    "-D": [],
    "-a": ["-r", "-g", "-i", "-m", "-w", "-x", "-y"],
    "-e": ["-r", "-g", "-i", "-m", "-w", "-x", "-y"],
    "-d": ["-r"],
  };
  const seen = new Map<string, string | undefined>();
  let service: string | undefined;
  let serviceKind: string | undefined;
  for (let i = 1; i < f.length; i++) {
    const o = f[i];
    if (["-t", "-u", "--sctp-service", "-f", "--tcp-service", "--udp-service", "--fwmark-service"].includes(o)) {
      if (service !== undefined) return "two virtual services";
      serviceKind = o;
      service = f[++i];
      if (service === undefined) return `${o} needs an argument`;
      continue;
    }
    if (!allowed[cmd].includes(o)) return `option ${o} not valid with ${cmd}`;
    if (seen.has(o)) return `option ${o} given twice`;
    if (["-g", "-i", "-m"].includes(o)) {
      if (["-g", "-i", "-m"].some((m) => seen.has(m))) return "two packet-forwarding methods";
      seen.set(o, undefined);
    } else if (o === "-p") {
      // The timeout is optional: take the next word only if it is a number.
      const next = f[i + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        if (Number(next) < 1) return "persistence timeout must be ≥ 1";
        seen.set(o, next);
        i++;
      } else seen.set(o, undefined);
    } else {
      const v = f[++i];
      if (v === undefined || v.startsWith("-")) return `${o} needs an argument`;
      seen.set(o, v);
    }
  }
  if (service === undefined) return "no virtual service (-t|-u|--sctp-service|-f)";
  if (serviceKind === "-f" || serviceKind === "--fwmark-service") {
    if (!isUint(service, 0xffffffff) || Number(service) === 0) return `bad firewall mark ${service}`;
  } else {
    const a = address(service);
    if (!a.ok) return `bad service address ${service}`;
    if ((a.port ?? 0) === 0 && !seen.has("-p")) return "port 0 (or none) is only valid for a persistent service";
  }
  const sched = seen.get("-s");
  if (sched !== undefined && !SCHEDULERS.has(sched)) return `unknown scheduler ${sched}`;
  const flags = seen.get("-b");
  if (flags !== undefined) {
    const valid = SCHED_FLAGS[sched ?? "wlc"] ?? OTHER_SCHED_FLAGS;
    for (const fl of flags.split(",")) if (!valid.includes(fl)) return `scheduler flag ${fl} not valid for ${sched ?? "wlc"}`;
  }
  if (cmd === "-a" || cmd === "-e" || cmd === "-d") {
    if (!seen.has("-r")) return `${cmd} needs -r server-address`;
    if (!address(seen.get("-r")).ok) return `bad server address ${seen.get("-r")}`;
  }
  const w = seen.get("-w");
  if (w !== undefined && !isUint(w, 65535)) return `bad weight ${w}`;
  for (const t of ["-x", "-y"]) if (seen.has(t) && !isUint(seen.get(t), 0xffffffff)) return `bad threshold ${seen.get(t)}`;
  return null;
}

// ---- ipset entry syntax ----------------------------------------------------------------------

const PROTO_PORT = /^(tcp|udp|sctp):(\d+)$/;

/** An `ipset add` element for a set type (the forms kube-proxy's Entry.String writes). */
export function ipsetEntryError(type: string, entry: string): string | null {
  const parts = entry.split(",");
  const pp = (s: string | undefined) => {
    const m = s !== undefined ? PROTO_PORT.exec(s) : null;
    return m !== null && Number(m[2]) <= 65535;
  };
  switch (type) {
    case "hash:ip":
      return parts.length === 1 && isIPv4(parts[0]) ? null : `not an IP: ${entry}`;
    case "hash:ip,port":
      return parts.length === 2 && isIPv4(parts[0]) && pp(parts[1]) ? null : `not ip,proto:port: ${entry}`;
    case "hash:ip,port,ip":
      return parts.length === 3 && isIPv4(parts[0]) && pp(parts[1]) && isIPv4(parts[2]) ? null : `not ip,proto:port,ip: ${entry}`;
    case "hash:ip,port,net": {
      const [net, len] = (parts[2] ?? "").split("/");
      return parts.length === 3 && isIPv4(parts[0]) && pp(parts[1]) && isIPv4(net) && isUint(len, 32) ? null : `not ip,proto:port,net: ${entry}`;
    }
    case "bitmap:port":
      return isUint(entry, 65535) ? null : `not a port: ${entry}`;
    default:
      return `unknown set type ${type}`;
  }
}

/** `ipset restore` text → set name → { type, members }, checking the line forms as it goes. */
export function parseIpsetRestore(text: string): Map<string, { type: string; options: string; members: string[] }> {
  const sets = new Map<string, { type: string; options: string; members: string[] }>();
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const f = line.split(" ");
    if (f[0] === "create") sets.set(f[1], { type: f[2], options: f.slice(3).join(" "), members: [] });
    else if (f[0] === "flush") {
      const s = sets.get(f[1]);
      if (!s) throw new Error(`flush before create: ${line}`);
      s.members = [];
    } else if (f[0] === "swap") {
      const a = sets.get(f[1]);
      const b = sets.get(f[2]);
      if (!a || !b) throw new Error(`swap of a set not created: ${line}`);
      if (a.type !== b.type) throw new Error(`swap of different types: ${line}`);
      sets.set(f[1], b);
      sets.set(f[2], a);
    } else if (f[0] === "destroy") {
      if (!sets.delete(f[1])) throw new Error(`destroy of a set not created: ${line}`);
    } else if (f[0] === "add") {
      const s = sets.get(f[1]);
      if (!s) throw new Error(`add before create: ${line}`);
      if (f.length !== 3) throw new Error(`unexpected add line: ${line}`);
      s.members.push(f[2]);
    } else throw new Error(`unexpected ipset line: ${line}`);
  }
  return sets;
}
