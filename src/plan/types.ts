// A Plan is plain data: what `up` will run, printable (`klab plan`), golden-tested, and applied
// stage by stage. Steps within a stage touch different namespaces and run in parallel.

export type Step =
  /** `ip [-n NETNS] -batch -` with these lines on stdin (root namespace only for `netns add`). */
  | { kind: "ip"; netns?: string; lines: string[] }
  /** `bridge -n NETNS -batch -` (FDB entries, which `ip` cannot write). */
  | { kind: "bridge"; netns: string; lines: string[] }
  /** `ip netns exec NETNS sysctl -q -w k=v …`: per-namespace kernel settings. */
  | { kind: "sysctl"; netns: string; values: [string, string][] }
  /** A whole ruleset loaded by one process in the namespace: iptables-restore or nft -f. */
  | { kind: "restore"; netns: string; tool: "iptables-restore" | "nft" | "ipset" | "ipvsadm-restore"; input: string }
  /** Files on the host written (content) or removed (null): /etc/netns/<netns>/resolv.conf,
   * which `ip netns exec` binds over /etc/resolv.conf for everything run in the pod. */
  | { kind: "files"; files: { path: string; content: string | null }[] }
  /** A second name for a namespace (a host-network pod's name for its node's): the same nsfs
   * bind mount `ip netns add` makes, so `ip netns exec NAME` binds /etc/netns/NAME/ files. */
  | { kind: "netns-alias"; name: string; target: string }
  /** Steps that must run in this order (one job; it stops at the first failure). */
  | { kind: "sequence"; netns: string; steps: Step[] };

export interface Stage {
  name: string;
  steps: Step[];
}

export interface Plan {
  lab: string;
  stages: Stage[];
}
