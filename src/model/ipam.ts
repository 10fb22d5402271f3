// Address management: pod subnets per node (like the node IPAM controller handing out
// podCIDRs), pod addresses in a node's subnet (like host-local), underlay addresses.
import ipaddr from "ipaddr.js";

export interface Cidr {
  base: number; // network address as uint32
  prefix: number;
}

export function parseCidr(s: string): Cidr | null {
  try {
    const [addr, prefix] = ipaddr.IPv4.parseCIDR(s);
    const base = ipToInt(addr.toString()) & maskOf(prefix);
    return { base: base >>> 0, prefix };
  } catch {
    return null;
  }
}

export function isValidIPv4(s: string): boolean {
  return ipaddr.IPv4.isValidFourPartDecimal(s);
}

export const maskOf = (prefix: number) => (prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0);

export function ipToInt(ip: string): number {
  return ipaddr.IPv4.parse(ip).octets.reduce((acc, o) => ((acc << 8) | o) >>> 0, 0);
}

export function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => (n >>> s) & 0xff).join(".");
}

export const cidrToString = (c: Cidr) => `${intToIp(c.base)}/${c.prefix}`;
export const cidrSize = (c: Cidr) => 2 ** (32 - c.prefix);

export function cidrContains(c: Cidr, ip: string): boolean {
  return ((ipToInt(ip) & maskOf(c.prefix)) >>> 0) === c.base;
}

export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(p)) >>> 0) === ((b.base & maskOf(p)) >>> 0);
}

/** The i-th subnet of size /newPrefix inside c. */
export function subnet(c: Cidr, newPrefix: number, i: number): Cidr {
  return { base: (c.base + i * 2 ** (32 - newPrefix)) >>> 0, prefix: newPrefix };
}

/** The n-th address of a CIDR (0 = network address). */
export const nthAddress = (c: Cidr, n: number) => intToIp((c.base + n) >>> 0);

export const NODE_SUBNET_PREFIX = 24;
/** Pods get .2 to .254 of a node's /24; .1 is the cni0 gateway. */
export const POD_HOST_OFFSET = 2;
export const PODS_PER_NODE = 253;
/** Underlay: nodes from .11, clients from .101 (room for a LoadBalancer pool at the top). */
export const NODE_UNDERLAY_OFFSET = 11;
export const CLIENT_UNDERLAY_OFFSET = 101;
