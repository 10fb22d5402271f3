// Talking to a lab's runtime over its unix socket.
import { request } from "node:http";
import { agentSocket } from "./state.js";
import type { ContainerStatus } from "../agent/containers.js";
import type { ServiceModel } from "../model/services.js";

export interface PodStatus {
  namespace: string;
  name: string;
  phase: "Pending" | "Running" | "Succeeded" | "Failed";
  ready: boolean;
  containers: ContainerStatus[];
}

export interface AgentStatus {
  lab: string;
  nodes?: { name: string; ready: boolean }[];
  /** No kube-proxy sync is scheduled or running: the rules match the endpoints. */
  rulesSettled?: boolean;
  /** LoadBalancer address → the node announcing it. */
  loadBalancers?: Record<string, string>;
  pid: number;
  started: boolean;
  rssBytes: number;
  pods: PodStatus[];
}

export function agentStatus(lab: string, timeoutMs = 2000): Promise<AgentStatus> {
  return agentGet<AgentStatus>(lab, "/status", timeoutMs);
}

export function agentServices(lab: string, timeoutMs = 2000): Promise<{ mode: string; services: ServiceModel[] }> {
  return agentGet(lab, "/services", timeoutMs);
}

export function agentGet<T>(lab: string, path: string, timeoutMs = 2000, method = "GET"): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: agentSocket(lab), path, method, timeout: timeoutMs }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (body += c));
      res.on("end", () => {
        try {
          if ((res.statusCode ?? 500) >= 400) reject(new Error(JSON.parse(body).error ?? `runtime answered ${res.statusCode}`));
          else resolve(JSON.parse(body) as T);
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
