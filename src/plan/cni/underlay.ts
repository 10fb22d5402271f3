// The underlay: a fabric namespace with a bridge acting as the physical switch, and eth0 of
// every node and client plugged into it (created from the fabric side, peer placed directly
// in the host's namespace).
import type { ClientModel, ClusterModel, NodeModel } from "../../model/types.js";
import type { Step } from "../types.js";

export function fabricSteps(m: ClusterModel): Step[] {
  const br = m.fabric.bridge;
  // The switch also holds the underlay's .1: the default gateway machines on a real network
  // have (it routes nowhere, so traffic to unknown destinations still gets a routing decision,
  // e.g. kube-proxy's REJECT for a Service without endpoints in FORWARD).
  const lines = [`link set lo up`, `link add ${br} mtu ${m.mtu} type bridge`, `addr add ${underlayGateway(m)}/${m.underlayPrefix} dev ${br}`, `link set ${br} up`];
  for (const h of [...m.nodes, ...m.clients]) {
    lines.push(
      `link add ${h.fabricPort} mtu ${m.mtu} type veth peer name eth0 mtu ${m.mtu} netns ${h.netns}`,
      `link set ${h.fabricPort} master ${br}`,
      `link set ${h.fabricPort} up`,
    );
  }
  return [{ kind: "ip", netns: m.fabric.netns, lines }];
}

export function underlayGateway(m: ClusterModel): string {
  return m.underlayCIDR.replace(/\.\d+\/\d+$/, ".1");
}

export function underlayAddressLines(m: ClusterModel, h: NodeModel | ClientModel): string[] {
  return [
    `link set lo up`,
    `addr add ${h.underlayIP}/${m.underlayPrefix} dev eth0`,
    `link set eth0 up`,
    `route add default via ${underlayGateway(m)} dev eth0`,
  ];
}

export function clientSteps(m: ClusterModel, c: ClientModel): Step[] {
  return [{ kind: "ip", netns: c.netns, lines: underlayAddressLines(m, c) }];
}
