// Inside a pod: loopback, eth0 with the pod IP, default route via the node's cni0.
import type { ClusterModel, PodModel } from "../../model/types.js";
import type { Step } from "../types.js";

export function podSteps(m: ClusterModel, pod: PodModel): Step[] {
  const node = m.nodes.find((n) => n.name === pod.node)!;
  const prefix = node.podSubnet.split("/")[1];
  return [
    {
      kind: "ip",
      netns: pod.netns,
      lines: [
        `link set lo up`,
        `addr add ${pod.ip}/${prefix} dev eth0`,
        `link set eth0 up`,
        `route add default via ${node.gateway} dev eth0`,
      ],
    },
  ];
}
