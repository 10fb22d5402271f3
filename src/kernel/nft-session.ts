// One long-running `nft -i` inside a node's network namespace, for the runtime's small nftables
// transactions (a one-Service change, the deferred cleanup). Each transaction is one input line
// (nft runs a line as one transaction, all or nothing, as `nft -f` runs a file). Against one
// `nft -f` process per change this saves starting the tool and, above all, its exit: closing
// an nftables netlink socket waits for the kernel's deferred clean-up of the last transaction,
// an RCU grace period (6-17 ms here, per `strace -T`). Full syncs still run `nft -f`.
//
// nft -i prints nothing for a transaction that succeeds and "Error: …" for one that fails, and
// goes on reading. After each transaction comes a line holding only a unique token, which nft
// rejects as a syntax error quoting the line: that quote marks the end of the transaction's
// output (stderr merged into stdout, stdout line-buffered by stdbuf, so the order holds).
import { spawn, type ChildProcess } from "node:child_process";
import { debugEnabled, log } from "../log.js";
import { nftTransactionLine } from "../plan/proxy/nftables.js";

export class NftSessionError extends Error {
  constructor(
    message: string,
    /** The transaction may or may not have been committed (the process died or hung). */
    readonly ambiguous: boolean,
  ) {
    super(message);
    this.name = "NftSessionError";
  }
}

const TIMEOUT_MS = 10_000;
let sessions = 0;

export class NftSession {
  private child?: ChildProcess;
  private out = "";
  private seq = 0;
  private readonly id = `${process.pid}-${++sessions}`;
  private waiting?: { child: ChildProcess; token: string; resolve: (output: string) => void; reject: (e: NftSessionError) => void };
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly netns: string) {}

  /** Runs `script` (nft -f syntax) as one transaction; rejects with nft's error output. */
  apply(script: string, timeoutMs = TIMEOUT_MS): Promise<void> {
    const p = this.queue.then(() => this.transaction(nftTransactionLine(script), timeoutMs));
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Ends nft's input and waits (at most 2 s) for it to exit. */
  async close(): Promise<void> {
    const c = this.child;
    this.child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise<void>((res) => c.once("exit", () => res()));
    c.stdin?.end();
    const timer = setTimeout(() => c.kill("SIGKILL"), 2000);
    await exited;
    clearTimeout(timer);
  }

  /** The process id of the running nft, if any (for tests). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(): ChildProcess {
    const c = spawn("sh", ["-c", 'exec ip netns exec "$0" stdbuf -oL nft -i 2>&1', this.netns], { stdio: ["pipe", "pipe", "ignore"] });
    this.out = "";
    c.stdout!.setEncoding("utf8");
    c.stdout!.on("data", (d: string) => {
      this.out += d;
      this.check();
    });
    c.stdin!.on("error", () => undefined); // EPIPE when nft is gone: reported by "exit"
    c.on("error", (e) => this.fail(c, `nft -i in ${this.netns}: ${e.message}`));
    c.on("exit", (code, signal) => this.fail(c, `nft -i in ${this.netns} exited (${signal ?? `status ${code}`})${this.out.trim() ? `: ${this.out.trim()}` : ""}`));
    this.child = c;
    return c;
  }

  private fail(c: ChildProcess, message: string) {
    if (this.child === c) this.child = undefined;
    const w = this.waiting;
    if (w?.child !== c) return;
    this.waiting = undefined;
    w.reject(new NftSessionError(message, true));
  }

  private check() {
    const w = this.waiting;
    if (!w) return;
    // "Error: …\n<token>\n   ^\n": nft's complaint about the token line.
    const at = this.out.indexOf(`\n${w.token}\n`);
    if (at < 0) return;
    const end = this.out.indexOf("\n", at + w.token.length + 2);
    if (end < 0) return;
    const errorLine = this.out.lastIndexOf("Error:", at);
    const output = this.out.slice(0, errorLine < 0 ? at : errorLine);
    this.out = this.out.slice(end + 1);
    this.waiting = undefined;
    w.resolve(output);
  }

  private async transaction(line: string, timeoutMs: number): Promise<void> {
    const c = this.child && this.child.exitCode === null ? this.child : this.start();
    const token = `klab-sync-${this.id}-${++this.seq}`;
    if (debugEnabled()) log().debug({ cmd: `nft -i in ${this.netns}`, stdin: line }, "exec");
    const output = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        if (this.child === c) this.child = undefined;
        c.kill("SIGKILL");
        reject(new NftSessionError(`nft -i in ${this.netns}: no answer within ${timeoutMs} ms`, true));
      }, timeoutMs);
      this.waiting = {
        child: c,
        token,
        resolve: (o) => { clearTimeout(timer); resolve(o); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      c.stdin!.write(`${line}\n${token}\n`);
    });
    if (/^Error:/m.test(output)) throw new NftSessionError(`nft in ${this.netns}: ${output.trim()}`, false);
  }
}
