// A node: underlay eth0, the cni0 bridge with the node's pod gateway, one veth per pod
// (host side vethXXXXXXXX on cni0, peer created directly as eth0 in the pod), and the
// cross-node routes of the network mode (host-gw routes or a flannel-style VXLAN).
import type { ClusterModel, NodeModel, PodModel } from "../../model/types.js";
import type { Step } from "../types.js";
import { underlayAddressLines } from "./underlay.js";
import { proxySysctls } from "../proxy/node.js";

export const NODE_SYSCTLS: [string, string][] = [
  ["net.ipv4.ip_forward", "1"],
  // Bridged pod traffic passes iptables, as kube-proxy and NetworkPolicy need.
  ["net.bridge.bridge-nf-call-iptables", "1"],
];

export function nodeSteps(m: ClusterModel, node: NodeModel): Step[] {
  const prefix = node.podSubnet.split("/")[1];
  const lines = [
    ...underlayAddressLines(m, node),
    `link add cni0 mtu ${m.podMTU} type bridge`,
    `addr add ${node.gateway}/${prefix} dev cni0`,
    `link set cni0 up`,
  ];
  for (const pod of m.pods.filter((p) => p.node === node.name && !p.hostNetwork)) lines.push(...podVethLines(m, pod));
  const steps: Step[] = [{ kind: "sysctl", netns: node.netns, values: [...NODE_SYSCTLS, ...proxySysctls(m)] }];
  const peers = m.nodes.filter((n) => n.name !== node.name);
  if (m.mode === "host-gw") {
    for (const peer of peers) lines.push(`route add ${peer.podSubnet} via ${peer.underlayIP} dev eth0`);
    steps.push({ kind: "ip", netns: node.netns, lines });
  } else {
    lines.push(...vxlanLines(m, node, peers));
    steps.push({ kind: "ip", netns: node.netns, lines });
  }
  return steps;
}

/** FDB entries need flannel.1 to exist: a later stage than nodeSteps. */
export function nodeFdbSteps(m: ClusterModel, node: NodeModel): Step[] {
  const peers = m.nodes.filter((n) => n.name !== node.name);
  return m.mode === "vxlan" && peers.length ? [{ kind: "bridge", netns: node.netns, lines: vxlanFdbLines(peers) }] : [];
}

export function podVethLines(m: ClusterModel, pod: PodModel): string[] {
  return [
    `link add ${pod.hostVeth} mtu ${m.podMTU} type veth peer name eth0 mtu ${m.podMTU} netns ${pod.netns}`,
    `link set ${pod.hostVeth} master cni0`,
    // hairpin: a pod reaching itself through its Service comes back out the port it went in
    `link set ${pod.hostVeth} type bridge_slave hairpin on`,
    `link set ${pod.hostVeth} up`,
  ];
}

/** flannel's vxlan backend: flannel.1 (VNI 1, UDP 8472, no learning) holding the node
 * subnet's .0/32; per remote node a permanent neighbour (remote VTEP MAC), an FDB entry
 * (that MAC lives behind the remote underlay IP) and an onlink route to its subnet. */
export function vxlanLines(m: ClusterModel, node: NodeModel, peers: NodeModel[]): string[] {
  const network = node.podSubnet.split("/")[0];
  const lines = [
    `link add flannel.1 address ${node.vtepMAC} mtu ${m.mtu - 50} type vxlan id 1 local ${node.underlayIP} dev eth0 dstport 8472 nolearning`,
    `addr add ${network}/32 dev flannel.1`,
    `link set flannel.1 up`,
  ];
  for (const peer of peers) {
    const peerNet = peer.podSubnet.split("/")[0];
    lines.push(
      `neigh add ${peerNet} lladdr ${peer.vtepMAC} dev flannel.1 nud permanent`,
      `route add ${peer.podSubnet} via ${peerNet} dev flannel.1 onlink`,
    );
  }
  return lines;
}

export function vxlanFdbLines(peers: NodeModel[]): string[] {
  return peers.map((p) => `fdb append ${p.vtepMAC} dev flannel.1 dst ${p.underlayIP} self permanent`);
}
