// Containers of one pod, as the kubelet runs them: built-in workloads served from this process
// through sockets opened in the pod's namespace, host binaries as child processes inside the
// pod's network and UTS namespaces. restartPolicy with the kubelet's back-off (10 s doubling
// to 5 min, reset after 10 min of running).
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, closeSync, mkdirSync, openSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { constants as osConstants } from "node:os";
import { nativeAddonPath } from "../paths.js";
import type { ContainerModel, PodModel } from "../model/types.js";
import { startNetexec } from "../workloads/netexec.js";
import { startPause } from "../workloads/pause.js";
import { startDnsServer, type UdpFastPathNative } from "../dns/server.js";
import type { Zone } from "../dns/zone.js";
import { createWriteStream, type WriteStream } from "node:fs";
import { Prober } from "./probes.js";

type RunningWorkload = Awaited<ReturnType<typeof startPause>>;

/** Bytes of query log the DNS pod may have queued for the disk before it drops lines. */
const LOG_BACKLOG_MAX = 16 << 20;

export const BACKOFF_INITIAL_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const BACKOFF_RESET_MS = 600_000;

/** The kubelet's crash-loop back-off before restart number `restarts` (1-based). */
export function backoffMs(restarts: number, initial = BACKOFF_INITIAL_MS): number {
  return Math.min(initial * 2 ** Math.max(0, restarts - 1), BACKOFF_MAX_MS);
}

export function shouldRestart(policy: PodModel["restartPolicy"], exitCode: number): boolean {
  return policy === "Always" || (policy === "OnFailure" && exitCode !== 0);
}

type NativeNetns = UdpFastPathNative & {
  socketInNetns(ns: string, kind: "tcp" | "udp" | "tcp-client", address: string, port: number, backlog?: number): number;
  createUtsNamespace(hostname: string): number;
};
let native: NativeNetns | undefined;
export function nativeNetns(): NativeNetns {
  native ??= createRequire(import.meta.url)(nativeAddonPath()) as NativeNetns;
  return native;
}

export interface ContainerStatus {
  name: string;
  image: string;
  state: "waiting" | "running" | "terminated";
  ready?: boolean;
  /** Whether its readiness probe has a result yet (true when it has no probe). */
  probed?: boolean;
  reason?: string;
  message?: string;
  exitCode?: number;
  restartCount: number;
  startedAt?: string;
  finishedAt?: string;
  pid?: number;
}

export interface PodRuntimeContext {
  lab: string;
  pod: PodModel;
  utsFile: string;
  logDir: string;
  backoffInitialMs?: number;
  /** The pod's node namespace (kubelet probes run from there). */
  nodeNetns?: string;
  /** Called when the pod's readiness may have changed. */
  onChange?: () => void;
  /** For the klab-dns image: the lab's current zone and the Lab's spec.dns settings. */
  dns?: { zone: () => Zone; onZoneChange(listener: () => void): () => void; upstream?: string; log: boolean };
}

export { containerLogPath } from "../kernel/state.js";
import { containerLogPath } from "../kernel/state.js";

export class ContainerRunner {
  status: ContainerStatus;
  private child?: ChildProcess;
  private workload?: RunningWorkload;
  private restartTimer?: NodeJS.Timeout;
  private stopping = false;
  private runningSince = 0;
  private readonly logPath: string;
  /** Resolves the first time the container is running or has failed to start. */
  readonly settled: Promise<void>;
  private settle!: () => void;

  constructor(private readonly ctx: PodRuntimeContext, private readonly spec: ContainerModel) {
    this.status = { name: spec.name, image: spec.image, state: "waiting", reason: "ContainerCreating", restartCount: 0 };
    this.logPath = containerLogPath(ctx.logDir, ctx.pod, spec.name);
    mkdirSync(ctx.logDir, { recursive: true });
    this.settled = new Promise((r) => (this.settle = r));
  }

  private logLine(line: string) {
    try {
      appendFileSync(this.logPath, line.endsWith("\n") ? line : line + "\n");
    } catch {
      /* the lab directory is being removed */
    }
  }

  /** Kubernetes shows these as events, not in the container's log: ours go to agent.log. */
  private event(message: string) {
    console.log(`${new Date().toISOString()} ${message}`);
  }

  async start(): Promise<void> {
    if (this.stopping) return;
    this.status = { ...this.status, state: "waiting", reason: "ContainerCreating", message: undefined, pid: undefined };
    const w = this.spec.workload;
    try {
      if (w.kind === "exec") this.startProcess(w.argv);
      else {
        const netns = `/run/netns/${this.ctx.pod.netns}`;
        this.workload =
          w.kind === "netexec"
            ? await startNetexec({
                podName: this.ctx.pod.hostname,
                httpPort: w.httpPort,
                udpPort: w.udpPort,
                listen: (kind, port) => ({ fd: nativeNetns().socketInNetns(netns, kind, "0.0.0.0", port) }),
                log: (l) => this.logLine(l),
                exit: (code) => void this.exited(code, null),
              })
            : w.kind === "dns"
              ? await this.startDns(netns)
              : await startPause();
        this.running();
      }
    } catch (e) {
      const msg = (e as Error).message;
      this.event(`failed to start container ${this.spec.name} of pod ${this.ctx.pod.namespace}/${this.ctx.pod.name}: ${msg}`);
      this.status = { ...this.status, state: "terminated", reason: "StartError", message: msg, exitCode: 128, finishedAt: new Date().toISOString() };
      this.settle();
      this.scheduleRestart(128);
    }
  }

  /** The cluster DNS responder, its sockets (and its upstream's) opened in the pod's namespace. */
  private async startDns(netns: string): Promise<RunningWorkload> {
    const dns = this.ctx.dns;
    if (!dns) throw new Error("image klab-dns runs only as the lab's cluster DNS (kube-system/kube-dns)");
    // A stream: at thousands of queries a second, one synchronous append per line would stall.
    const out: WriteStream = createWriteStream(this.logPath, { flags: "a" });
    let dropped = 0;
    out.on("error", () => undefined);
    const server = await startDnsServer({
      zone: dns.zone,
      onZoneChange: dns.onZoneChange,
      udpFastPath: nativeNetns(),
      listen: (kind, port) => ({ fd: nativeNetns().socketInNetns(netns, kind, "0.0.0.0", port) }),
      upstreamSocket: (kind) => nativeNetns().socketInNetns(netns, kind === "udp" ? "udp" : "tcp-client", "0.0.0.0", 0),
      upstream: dns.upstream,
      queryLog: dns.log,
      log: (line) => {
        // The stream buffers what the disk hasn't taken yet: under a flood, drop lines (and say
        // how many) rather than grow without bound.
        if (out.writableLength > LOG_BACKLOG_MAX) {
          dropped++;
          return;
        }
        if (dropped) {
          out.write(`[WARNING] klab-dns: query log fell behind, ${dropped} lines dropped\n`);
          dropped = 0;
        }
        out.write(line + "\n");
      },
    });
    out.write(`[INFO] klab-dns: serving ${dns.zone().apexes.join(" ")} on :53 (UDP, TCP)${dns.upstream ? `, forwarding the rest to ${dns.upstream}` : ", refusing the rest (no upstream)"}\n`);
    return { stop: async () => { await server.stop(); out.end(); } };
  }

  /** The container's readiness probe, started while it runs. */
  prober?: Prober;

  private running() {
    this.runningSince = Date.now();
    this.status = { ...this.status, state: "running", reason: undefined, message: undefined, startedAt: new Date().toISOString(), exitCode: undefined };
    this.settle();
    this.prober?.start();
    this.ctx.onChange?.();
  }

  /** Ready: running, and its readiness probe (if any) passes. */
  get ready(): boolean {
    return this.status.state === "running" && (this.prober ? this.prober.ready : true);
  }

  private startProcess(argv: string[]) {
    const out = openSync(this.logPath, "a");
    const env: Record<string, string> = {
      PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
      HOSTNAME: this.ctx.pod.hostname,
      HOME: "/root",
      ...this.spec.env,
    };
    // nsenter joins the pod's UTS namespace; `ip netns exec` joins its network namespace and
    // bind-mounts /etc/netns/<netns>/ files (resolv.conf) as a container runtime would.
    const child = spawn("nsenter", [`--uts=${this.ctx.utsFile}`, "--", "ip", "netns", "exec", this.ctx.pod.netns, ...argv], {
      stdio: ["ignore", out, out],
      env,
      cwd: this.spec.workingDir ?? "/",
      detached: true,
    });
    closeSync(out);
    this.child = child;
    child.once("spawn", () => {
      this.running();
      this.status.pid = child.pid;
    });
    child.once("error", (e) => {
      this.event(`container ${this.spec.name} of pod ${this.ctx.pod.namespace}/${this.ctx.pod.name}: ${e.message}`);
      void this.exited(127, null);
    });
    // A signal death reads as 128 + signal number (143 for SIGTERM), as the kubelet reports it.
    child.once("exit", (code, signal) => void this.exited(code ?? 128 + (signal ? osConstants.signals[signal] ?? 0 : 0), signal));
  }

  private async exited(code: number, signal: NodeJS.Signals | null) {
    if (this.status.state === "terminated") return;
    this.child = undefined;
    this.prober?.stop();
    const w = this.workload;
    this.workload = undefined;
    if (w) await w.stop().catch(() => undefined);
    if (this.stopping) return;
    this.status = {
      ...this.status,
      state: "terminated",
      reason: code === 0 ? "Completed" : "Error",
      message: signal ? `killed by ${signal}` : undefined,
      exitCode: code,
      finishedAt: new Date().toISOString(),
      pid: undefined,
    };
    this.settle();
    this.ctx.onChange?.();
    this.scheduleRestart(code);
  }

  private scheduleRestart(code: number) {
    if (this.stopping || !shouldRestart(this.ctx.pod.restartPolicy, code)) return;
    if (this.runningSince && Date.now() - this.runningSince > BACKOFF_RESET_MS) this.status.restartCount = 0;
    const delay = backoffMs(this.status.restartCount + 1, this.ctx.backoffInitialMs);
    this.status.reason = "CrashLoopBackOff";
    this.status.message = `back-off ${Math.round(delay / 1000)}s restarting failed container=${this.spec.name} pod=${this.ctx.pod.name}`;
    this.event(this.status.message);
    this.restartTimer = setTimeout(() => {
      this.status.restartCount++;
      void this.start();
    }, delay);
  }

  /** Stop the container. With `exiting`, built-in workloads are not closed one by one: the
   * runtime is about to exit and the kernel closes their sockets. */
  async stop(exiting = false): Promise<void> {
    this.stopping = true;
    this.prober?.stop();
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (child?.pid && child.exitCode === null) {
      const gone = new Promise<void>((r) => child.once("exit", () => r()));
      try { process.kill(-child.pid, "SIGTERM"); } catch { /* gone */ }
      const t = setTimeout(() => { try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ } }, 2000);
      await gone;
      clearTimeout(t);
    }
    if (!exiting) await this.workload?.stop().catch(() => undefined);
    this.workload = undefined;
  }
}

export class PodRuntime {
  readonly containers: ContainerRunner[];
  constructor(readonly ctx: PodRuntimeContext) {
    this.containers = ctx.pod.containers.map((c) => new ContainerRunner(ctx, c));
    ctx.pod.containers.forEach((c, i) => {
      if (!c.readinessProbe || !ctx.nodeNetns) return;
      const nodeNs = `/run/netns/${ctx.nodeNetns}`;
      this.containers[i].prober = new Prober(c.readinessProbe, {
        podIP: ctx.pod.ip,
        nodeSocket: () => nativeNetns().socketInNetns(nodeNs, "tcp-client", "0.0.0.0", 0),
        execPrefix: ["nsenter", `--uts=${ctx.utsFile}`, "--", "ip", "netns", "exec", ctx.pod.netns],
      }, (ready) => {
        console.log(`${new Date().toISOString()} readiness of ${ctx.pod.namespace}/${ctx.pod.name} container ${c.name}: ${ready ? "ready" : "not ready"}`);
        ctx.onChange?.();
      });
    });
  }

  get ready(): boolean {
    return this.containers.every((c) => c.ready);
  }
  /** The sandbox's UTS namespace: hostname = pod name, as a container runtime sets it. */
  createSandbox() {
    this.utsFd = createUtsFile(this.ctx.utsFile, this.ctx.pod.hostname);
  }

  private utsFd?: number;

  /** Release the sandbox (the pod is deleted): its UTS namespace goes with the descriptor. */
  removeSandbox() {
    if (this.utsFd !== undefined) closeSync(this.utsFd);
    this.utsFd = undefined;
    rmSync(this.ctx.utsFile, { force: true });
  }
  async start() {
    await Promise.all(this.containers.map((c) => c.start()));
    await Promise.all(this.containers.map((c) => c.settled));
  }
  stop(exiting = false) {
    return Promise.all(this.containers.map((c) => c.stop(exiting)));
  }
  status() {
    const cs = this.containers.map((c) => c.status);
    const allRunning = cs.every((c) => c.state === "running");
    const readyByName = new Map(this.containers.map((c) => [c.status.name, c.ready]));
    const probedByName = new Map(this.containers.map((c) => [c.status.name, c.prober ? c.prober.probed : true]));
    const allDone = cs.every((c) => c.state === "terminated" && !c.reason?.startsWith("CrashLoop"));
    const phase = allRunning ? "Running" : allDone ? (cs.every((c) => c.exitCode === 0) ? "Succeeded" : "Failed") : cs.some((c) => c.state === "running") ? "Running" : "Pending";
    return {
      namespace: this.ctx.pod.namespace,
      name: this.ctx.pod.name,
      phase,
      ready: this.ready,
      containers: cs.map((c) => ({ ...c, ready: readyByName.get(c.name) ?? false, probed: probedByName.get(c.name) ?? true })),
    };
  }
}

/** A UTS namespace with `hostname`, held open by this process; `file` becomes a symlink to
 * /proc/<runtime pid>/fd/<fd>, so nsenter --uts=FILE (klab exec, containers) can join it. It
 * vanishes with the runtime: nothing is mounted, nothing can be left behind. */
export function createUtsFile(file: string, hostname: string): number {
  mkdirSync(dirname(file), { recursive: true });
  const fd = nativeNetns().createUtsNamespace(hostname);
  rmSync(file, { force: true });
  symlinkSync(`/proc/${process.pid}/fd/${fd}`, file);
  return fd;
}

export function writeAgentLog(path: string, line: string) {
  try {
    appendFileSync(path, `${new Date().toISOString()} ${line}\n`);
  } catch {
    /* ignore */
  }
}
