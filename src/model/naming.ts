// Kernel object names. Everything carries the lab name so two labs never collide.
import { createHash } from "node:crypto";

export const IFNAMSIZ = 15; // usable characters in a Linux interface name

export function shortHash(input: string, hexChars = 8): string {
  return createHash("sha256").update(input).digest("hex").slice(0, hexChars);
}

export const netnsPrefix = (lab: string) => `klab-${lab}-`;
export const nodeNetns = (lab: string, node: string) => `klab-${lab}-${node}`;
export const clientNetns = (lab: string, client: string) => `klab-${lab}-${client}`;
export const fabricNetns = (lab: string) => `klab-${lab}-fabric`;
export const podNetns = (lab: string, ns: string, pod: string) => `klab-${lab}-${ns}-${pod}`;

/** Fabric bridge port leading to a node or client: readable in `bridge link`. */
export const fabricPort = (name: string) => `eth-${name}`;

/** Host-side pod veth, named like the CNI bridge plugin's vethXXXXXXXX. */
export const podHostVeth = (lab: string, ns: string, pod: string) => `veth${shortHash(`${lab}/${ns}/${pod}`)}`;

/** A locally administered unicast MAC derived from a seed. */
export function stableMAC(seed: string): string {
  const h = createHash("sha256").update(seed).digest();
  const bytes = [0x0e, h[0], h[1], h[2], h[3], h[4]];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}

// Kubernetes' rand.SafeEncodeString alphabet: no vowels, no confusable characters.
const SAFE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

export function safeEncode(seed: string, length: number): string {
  const h = createHash("sha256").update(seed).digest();
  let out = "";
  for (let i = 0; i < length; i++) out += SAFE_ALPHABET[h[i] % SAFE_ALPHABET.length];
  return out;
}

/** ReplicaSet-style pod name: <deployment>-<pod-template-hash>-<5 chars>. */
export function replicaPodName(deployment: string, templateHash: string, lab: string, index: number): string {
  return `${deployment}-${templateHash}-${safeEncode(`${lab}/${deployment}/${templateHash}/${index}`, 5)}`;
}

export function podUID(lab: string, ns: string, pod: string): string {
  const h = shortHash(`uid/${lab}/${ns}/${pod}`, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
