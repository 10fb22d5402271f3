// One pino logger, loaded only when something is logged (startup time matters for a CLI that
// is run many times). Human-readable (pino-pretty) on a TTY, JSON lines otherwise; `--verbose`
// turns on debug, which logs every kernel command.
import { createRequire } from "node:module";
import type { Logger } from "pino";

let logger: Logger | undefined;
let verbose = false;

export function initLog(opts: { verbose?: boolean } = {}): void {
  verbose = Boolean(opts.verbose);
  logger = undefined;
}

export const debugEnabled = () => verbose || process.env.KLAB_LOG_LEVEL === "debug";

export function log(): Logger {
  if (logger) return logger;
  const { pino } = createRequire(import.meta.url)("pino") as typeof import("pino");
  const level = verbose ? "debug" : process.env.KLAB_LOG_LEVEL ?? "warn";
  logger = process.stderr.isTTY
    ? pino({ level, transport: { target: "pino-pretty", options: { destination: 2, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" } } })
    : pino({ level }, pino.destination({ dest: 2, sync: true }));
  return logger;
}
