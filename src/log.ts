// One pino logger. Human-readable (pino-pretty) on a TTY, JSON lines otherwise; `--verbose`
// turns on debug, which logs every kernel command.
import { pino, type Logger } from "pino";

let logger: Logger | undefined;

export function initLog(opts: { verbose?: boolean; destination?: number | string } = {}): Logger {
  const level = opts.verbose ? "debug" : process.env.KLAB_LOG_LEVEL ?? "warn";
  const dest = opts.destination ?? 2;
  if (dest === 2 && process.stderr.isTTY) {
    logger = pino({
      level,
      transport: { target: "pino-pretty", options: { destination: 2, ignore: "pid,hostname", translateTime: "HH:MM:ss.l" } },
    });
  } else {
    logger = pino({ level, base: { pid: process.pid } }, pino.destination({ dest, sync: true }));
  }
  return logger;
}

export function log(): Logger {
  return logger ?? initLog();
}
