// Parse how a pod runs the agnhost image into one of klab's built-in workloads.
// Kubernetes rules: `command` replaces the image ENTRYPOINT and `args` its CMD; when
// only `command` is set the image CMD is dropped. agnhost's image has
// ENTRYPOINT ["/agnhost"] and CMD ["pause"], so a bare agnhost container pauses.
// Flags follow cobra/pflag: "--flag=value" or "--flag value", ints in Go syntax.

import { goParseIntBase0 } from "./goformat.js";

export const AGNHOST_ENTRYPOINT: readonly string[] = ["/agnhost"];
export const AGNHOST_CMD: readonly string[] = ["pause"];

export type AgnhostInvocation =
  | { ok: true; subcommand: "netexec"; httpPort: number; udpPort: number | null }
  | { ok: true; subcommand: "pause" }
  | { ok: false; error: string };

// The image's /agnhost binary, however a command spells it (WORKDIR is /).
const AGNHOST_BINARY = new Set(["/agnhost", "agnhost", "./agnhost"]);

const SUPPORTED = "netexec or pause";
const NETEXEC_FLAGS = "--http-port, --udp-port";

// Real netexec / agnhost flags we recognise but don't implement, so the error can say
// "not supported" instead of "unknown".
const UNSUPPORTED_FLAGS = new Set([
  "sctp-port", "tls-cert-file", "tls-private-key-file", "http-override", "udp-listen-addresses",
  "delay-shutdown", "help", "version",
  // klog flags agnhost accepts on every subcommand
  "v", "vmodule", "logtostderr", "alsologtostderr", "log_dir", "log_file", "log_file_max_size",
  "stderrthreshold", "skip_headers", "skip_log_headers", "add_dir_header", "one_output",
  "log_backtrace_at",
]);

export function parseAgnhost(command: string[] | undefined, args: string[] | undefined): AgnhostInvocation {
  // An empty list counts as unset, as in the kubelet.
  const hasCommand = !!command && command.length > 0;
  const hasArgs = !!args && args.length > 0;
  const argv = [
    ...(hasCommand ? command! : AGNHOST_ENTRYPOINT),
    ...(hasArgs ? args! : hasCommand ? [] : AGNHOST_CMD),
  ];

  if (!AGNHOST_BINARY.has(argv[0]!)) {
    return {
      ok: false,
      error:
        `command ${JSON.stringify(argv[0])} is not agnhost: klab runs agnhost's ${SUPPORTED} built in, ` +
        `so command must be unset or start with /agnhost (e.g. args: ["netexec", "--http-port=8080"])`,
    };
  }

  const rest = argv.slice(1);
  const sub = rest[0];
  if (sub === undefined) {
    // agnhost with no subcommand prints its help and exits; nothing would serve.
    return { ok: false, error: `agnhost needs a subcommand: ${SUPPORTED}` };
  }
  if (sub.startsWith("-")) {
    return { ok: false, error: `agnhost flag ${sub} is not supported by klab; start with a subcommand: ${SUPPORTED}` };
  }
  if (sub === "pause") {
    if (rest.length > 1) {
      return { ok: false, error: `agnhost pause takes no arguments or flags, got ${JSON.stringify(rest.slice(1))}` };
    }
    return { ok: true, subcommand: "pause" };
  }
  if (sub === "netexec") return parseNetexec(rest.slice(1));
  if (AGNHOST_BINARY.has(sub)) {
    return {
      ok: false,
      error:
        `args run after the image's ENTRYPOINT /agnhost, so ${JSON.stringify(sub)} would be taken as a subcommand; ` +
        `drop it from args (args: ["netexec", ...]) or move it to command`,
    };
  }
  return { ok: false, error: `agnhost subcommand ${JSON.stringify(sub)} is not supported by klab (supported: ${SUPPORTED})` };
}

function parseNetexec(list: string[]): AgnhostInvocation {
  let httpPort = 8080;
  let udpPort: number | null = 8081;
  const positional: string[] = [];

  for (let i = 0; i < list.length; i++) {
    const a = list[i]!;
    if (a === "--") { positional.push(...list.slice(i + 1)); break; }
    if (!a.startsWith("-") || a === "-") { positional.push(a); continue; }
    if (!a.startsWith("--")) {
      // pflag reads "-http-port" as the shorthands h, t, t, p...; say what was meant.
      return { ok: false, error: `netexec flags take two dashes: ${JSON.stringify(a)} should be ${JSON.stringify("-" + a)} (supported: ${NETEXEC_FLAGS})` };
    }
    const eq = a.indexOf("=");
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (name !== "http-port" && name !== "udp-port") {
      if (UNSUPPORTED_FLAGS.has(name)) {
        return { ok: false, error: `netexec flag --${name} is not supported by klab (supported: ${NETEXEC_FLAGS})` };
      }
      return { ok: false, error: `unknown netexec flag --${name} (supported: ${NETEXEC_FLAGS})` };
    }
    let value: string;
    if (eq >= 0) value = a.slice(eq + 1);
    else if (i + 1 < list.length) value = list[++i]!; // pflag takes the next word, even "-1"
    else return { ok: false, error: `flag needs an argument: --${name}` };

    const v = goParseIntBase0(value);
    if (v === null) {
      return { ok: false, error: `invalid argument ${JSON.stringify(value)} for "--${name}" flag: must be an integer` };
    }
    const n = Number(v);
    if (name === "http-port") {
      // Go would bind a random port for 0 and fail at startup for the rest.
      if (n < 1 || n > 65535) return { ok: false, error: `--http-port must be 1-65535, got ${value}` };
      httpPort = n;
    } else {
      if (n === -1) udpPort = null; // agnhost: --udp-port=-1 disables the UDP server
      else if (n < 1 || n > 65535) return { ok: false, error: `--udp-port must be 1-65535, or -1 to disable UDP, got ${value}` };
      else udpPort = n;
    }
  }

  if (positional.length > 0) {
    return { ok: false, error: `netexec takes no arguments, got ${JSON.stringify(positional)} (flags: ${NETEXEC_FLAGS})` };
  }
  return { ok: true, subcommand: "netexec", httpPort, udpPort };
}
