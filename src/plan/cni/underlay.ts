// The underlay: a fabric namespace with a bridge acting as the physical switch, and eth0 of
// every node and client plugged into it (created from the fabric side, peer placed directly
// in the host's namespace).
import type { ClientModel, ClusterModel, NodeModel } from "../../model/types.js";
import type { Step } from "../types.js";

export function fabricSteps(m: ClusterModel): Step[] {
  const br = m.fabric.bridge;
  const lines = [`link set lo up`, `link add ${br} mtu ${m.mtu} type bridge`, `link set ${br} up`];
  for (const h of [...m.nodes, ...m.clients]) {
    lines.push(
      `link add ${h.fabricPort} mtu ${m.mtu} type veth peer name eth0 mtu ${m.mtu} netns ${h.netns}`,
      `link set ${h.fabricPort} master ${br}`,
      `link set ${h.fabricPort} up`,
    );
  }
  return [{ kind: "ip", netns: m.fabric.netns, lines }];
}

export function underlayAddressLines(m: ClusterModel, h: NodeModel | ClientModel): string[] {
  return [`link set lo up`, `addr add ${h.underlayIP}/${m.underlayPrefix} dev eth0`, `link set eth0 up`];
}

export function clientSteps(m: ClusterModel, c: ClientModel): Step[] {
  return [{ kind: "ip", netns: c.netns, lines: underlayAddressLines(m, c) }];
}
