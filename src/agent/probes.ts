// Readiness probes, as the kubelet runs them: httpGet and tcpSocket from the node's network
// namespace (sockets opened there by the native addon), exec inside the pod. Results pass
// successThreshold/failureThreshold before the pod's readiness flips.
import { spawn } from "node:child_process";
import { request } from "node:http";
import { Socket } from "node:net";
import type { ProbeModel } from "../model/types.js";

export type SocketFactory = () => number;

export interface ProbeTarget {
  podIP: string;
  /** Opens an unbound TCP socket in the node's namespace. */
  nodeSocket: SocketFactory;
  /** argv prefix that enters the pod (nsenter … ip netns exec POD). */
  execPrefix: string[];
}

function connect(t: ProbeTarget, port: number): Socket {
  const s = new Socket({ fd: t.nodeSocket(), readable: true, writable: true });
  s.connect(port, t.podIP);
  return s;
}

/** One probe attempt: resolves true on success (HTTP 200-399, TCP connect, exit 0). */
export function runProbe(p: ProbeModel, t: ProbeTarget): Promise<boolean> {
  const timeoutMs = p.timeoutSeconds * 1000;
  const a = p.action;
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean) => {
      if (!done) {
        done = true;
        clearTimeout(timer);
        resolve(ok);
      }
    };
    const timer = setTimeout(() => {
      finish(false);
      cleanup();
    }, timeoutMs);
    let cleanup = () => {};
    try {
      if (a.kind === "httpGet") {
        const req = request(
          { host: t.podIP, port: a.port, path: a.path, headers: { "user-agent": "kube-probe/1.33" }, createConnection: () => connect(t, a.port) },
          (res) => {
            res.resume();
            finish((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 400);
          },
        );
        req.on("error", () => finish(false));
        req.end();
        cleanup = () => req.destroy();
      } else if (a.kind === "tcpSocket") {
        const s = connect(t, a.port);
        s.once("connect", () => {
          finish(true);
          s.destroy();
        });
        s.once("error", () => finish(false));
        cleanup = () => s.destroy();
      } else {
        const child = spawn(t.execPrefix[0], [...t.execPrefix.slice(1), ...a.command], { stdio: "ignore" });
        child.once("exit", (code) => finish(code === 0));
        child.once("error", () => finish(false));
        cleanup = () => child.kill("SIGKILL");
      }
    } catch {
      finish(false);
    }
  });
}

/** A probe loop with the kubelet's thresholds. `ready` starts false (as readiness does). */
export class Prober {
  ready = false;
  /** At least one result since the container started: readiness is known, not assumed. */
  probed = false;
  private successes = 0;
  private failures = 0;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(
    private readonly probe: ProbeModel,
    private readonly target: ProbeTarget,
    private readonly onChange: (ready: boolean) => void,
  ) {}

  start(): void {
    this.stopped = false;
    this.timer = setTimeout(() => void this.tick(), this.probe.initialDelaySeconds * 1000);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    const ok = await runProbe(this.probe, this.target);
    if (this.stopped) return;
    this.probed = true;
    if (ok) {
      this.successes++;
      this.failures = 0;
      if (!this.ready && this.successes >= this.probe.successThreshold) this.set(true);
    } else {
      this.failures++;
      this.successes = 0;
      if (this.ready && this.failures >= this.probe.failureThreshold) this.set(false);
    }
    this.timer = setTimeout(() => void this.tick(), this.probe.periodSeconds * 1000);
  }

  private set(ready: boolean) {
    this.ready = ready;
    this.onChange(ready);
  }

  stop(): void {
    this.stopped = true;
    this.probed = false;
    clearTimeout(this.timer);
    if (this.ready) this.set(false);
    this.successes = this.failures = 0;
  }
}
