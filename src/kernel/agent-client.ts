// Talking to a lab's runtime over its unix socket.
import { request } from "node:http";
import { agentSocket } from "./state.js";
import type { ContainerStatus } from "../agent/containers.js";

export interface PodStatus {
  namespace: string;
  name: string;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  ready: boolean;
  containers: ContainerStatus[];
}

export interface AgentStatus {
  lab: string;
  pid: number;
  started: boolean;
  rssBytes: number;
  pods: PodStatus[];
}

export function agentStatus(lab: string, timeoutMs = 2000): Promise<AgentStatus> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: agentSocket(lab), path: "/status", timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        try {
          resolve(JSON.parse(body) as AgentStatus);
        } catch (e) {
          reject(e);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error("agent did not answer")));
    req.on("error", reject);
    req.end();
  });
}
