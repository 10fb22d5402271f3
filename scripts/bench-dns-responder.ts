// Helper process of scripts/bench-dns.ts: the cluster DNS responder (src/dns/server.ts) serving
// one zone (src/dns/zone.ts), standalone, so that the bench can start it inside a network
// namespace (`ip netns exec NS taskset -c CPU node … scripts/bench-dns-responder.ts …`) and pin
// it to one core. Not meant to be run by hand.
//
//   --zone-input FILE   JSON ZoneInput (what buildZone takes), written by the bench
//   --host ADDR         address to bind (UDP and TCP)
//   --port N            port (default 53)
//
// Prints `ready pid=<pid> port=<port> names=<n>` on stdout once both sockets are bound; on
// SIGTERM/SIGINT, or when stdin closes (the bench went away), stops the server, prints
// `stats <json>` (server.stats()) and exits 0 — a normal exit, so `node --cpu-prof` writes its
// profile. Errors from the server go to stderr.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { buildZone, type ZoneInput } from "../src/dns/zone.js";
import { startDnsServer } from "../src/dns/server.js";

const { values } = parseArgs({
  options: {
    "zone-input": { type: "string" },
    host: { type: "string" },
    port: { type: "string", default: "53" },
  },
});
if (!values["zone-input"] || !values.host) {
  process.stderr.write("bench-dns-responder: --zone-input FILE and --host ADDR are required\n");
  process.exit(2);
}
const host = values.host;
const port = Number(values.port);

const input = JSON.parse(readFileSync(values["zone-input"], "utf8")) as ZoneInput;
const zone = buildZone(input);

const server = await startDnsServer({
  zone: () => zone,
  listen: () => ({ host, port }),
  port,
  log: (line) => process.stderr.write(line + "\n"),
  queryLog: false,
});
process.stdout.write(`ready pid=${process.pid} port=${server.port} services=${input.services.length}\n`);

let stopping = false;
async function shutdown(): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.stop();
  process.stdout.write(`stats ${JSON.stringify(server.stats())}\n`, () => process.exit(0));
}
process.on("SIGTERM", () => void shutdown());
process.on("SIGINT", () => void shutdown());
process.stdin.on("end", () => void shutdown());
process.stdin.on("error", () => void shutdown());
process.stdin.resume();
