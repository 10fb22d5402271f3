// Running host tools. Every kernel command goes through here so `--verbose` shows it.
import { debugEnabled, log } from "../log.js";

export class CommandError extends Error {
  constructor(
    readonly command: string,
    readonly exitCode: number | undefined,
    readonly stderr: string,
    readonly input?: string,
  ) {
    super(`${command} failed${exitCode !== undefined ? ` (exit ${exitCode})` : ""}: ${stderr.trim() || "no error output"}`);
    this.name = "CommandError";
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

/** Run a command to completion; throws CommandError on a non-zero exit unless `reject: false`. */
export async function run(
  file: string,
  args: string[],
  opts: { input?: string; reject?: boolean; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<RunResult> {
  const shown = [file, ...args].join(" ");
  if (debugEnabled()) log().debug({ cmd: shown, stdin: opts.input }, "exec");
  const { execa } = await import("execa");
  const r = await execa(file, args, {
    input: opts.input ?? "",
    reject: false,
    timeout: opts.timeoutMs,
    env: opts.env,
    stripFinalNewline: false,
  });
  const exitCode = r.exitCode ?? (r.timedOut ? 124 : 1);
  if (opts.reject !== false && exitCode !== 0) {
    throw new CommandError(shown, exitCode, r.stderr || (r.timedOut ? "timed out" : r.message ?? ""), opts.input);
  }
  return { stdout: r.stdout, stderr: r.stderr, exitCode };
}

/** Map over items with at most `limit` promises in flight. */
export async function parallel<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  let failed: unknown;
  const worker = async () => {
    while (next < items.length && failed === undefined) {
      const i = next++;
      try {
        results[i] = await fn(items[i]);
      } catch (e) {
        failed ??= e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed !== undefined) throw failed;
  return results;
}
