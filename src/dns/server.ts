// The cluster DNS responder: serves a Zone (src/dns/zone.ts) over UDP and TCP on one port,
// like CoreDNS does for kube-dns. One agent process runs it; the sockets are opened in the
// DNS pod's network namespace by the caller (listen() returns an fd), as for netexec.
//
// Wire format is dns-packet's; this module only reads the 12-byte header itself (to answer
// FORMERR/NOTIMP for messages dns-packet can't decode) and rewrites message IDs of relayed
// messages.
//
// Behaviour, following CoreDNS (core/dnsserver, plugin/log, plugin/forward) and miekg/dns:
// - Message acceptance as miekg/dns's defaultMsgAcceptFunc: responses (QR=1) and messages
//   shorter than a header are dropped; opcodes other than QUERY get NOTIMP; QDCOUNT != 1,
//   ANCOUNT > 1, NSCOUNT > 1 or ARCOUNT > 2 get FORMERR, as do undecodable messages; those
//   replies are header-only.
// - EDNS0 (RFC 6891): the client's UDP payload size is honoured (512 without OPT, at most
//   maxUdpPayload); an OPT goes back when the query had one; version != 0 gets BADVERS.
// - Too big for UDP: additional records go first, then answers, and TC is set (RFC 2181 §9)
//   so the client retries over TCP (RFC 7766: 2-byte length framing, pipelining, replies
//   may come out of order).
// - Names outside the zone are forwarded to `upstream` over UDP (TCP when the reply is
//   truncated) or, without one, answered REFUSED at once.
// - Query log lines in the log plugin's Common Log Format, when queryLog is on.
// - Hostile input never stops the server: every datagram and TCP message is handled on its
//   own inside try/catch; TCP buffers are bounded (one message of <= 64 KiB being read,
//   reads paused while a connection has too much output queued or too many forwards in
//   flight); connections are closed on a length prefix too short to hold a DNS header or
//   after tcpIdleTimeoutMs without traffic; forwards in flight are capped.

import dgram from "node:dgram";
import dns from "node:dns";
import net from "node:net";
import { randomInt } from "node:crypto";
import dnsPacket from "dns-packet";
import type { Answer, DecodedPacket, OptAnswer, Packet, Question } from "dns-packet";
import type { Zone } from "./zone.js";
import { compressMessage } from "./compress.js";

export type ListenTarget = { fd: number } | { host: string; port: number };

/** The native addon's UDP fast path (native/udp_fastpath.c): repeated questions answered from a
 * reply cache in batches, without a JavaScript callback per datagram. */
export interface UdpFastPathNative {
  udpFastOpen(fd: number, maxEntries: number, onMiss: (msg: Buffer, address: string, port: number) => void, onHits: ((records: Buffer, n: number) => void) | null): object;
  udpFastPut(h: object, key: Buffer, reply: Buffer, rcode: number, tag: number): void;
  udpFastClear(h: object): void;
  udpFastSend(h: object, msg: Buffer, address: string, port: number): void;
  udpFastStats(h: object): { port: number; entries: number; hits: number; sendErrors: number; rcodes: number[] };
  udpFastClose(h: object): void;
}

export interface DnsServerOptions {
  /** The current zone; called for every query, so a new zone takes effect at once. */
  zone: () => Zone;
  /** Where to bind. In the agent: {fd} of a socket opened in the DNS pod's namespace. */
  listen(kind: "tcp" | "udp", port: number): ListenTarget;
  /** Default 53. */
  port?: number;
  /** "ip", "ip:port", "[ipv6]:port": where names outside the zone go. Without it they are REFUSED. */
  upstream?: string;
  /** Log lines: query log (when queryLog) and errors, in CoreDNS's "[INFO] ..." / "[ERROR] ..." form. */
  log(line: string): void;
  /** One line per query, like CoreDNS's log plugin. Default false. */
  queryLog?: boolean;
  /** Default 2000 (CoreDNS forward: 2 s read timeout per upstream attempt). */
  upstreamTimeoutMs?: number;
  /** Close TCP connections idle this long; default 10000. */
  tcpIdleTimeoutMs?: number;
  /** Default 256; more are refused at accept. */
  maxTcpConnections?: number;
  /** Upper bound on the client's EDNS0 UDP payload size we honour; default 4096. */
  maxUdpPayload?: number;
  /** UDP payload size we advertise in our OPT; default 1232 (DNS Flag Day 2020). */
  ednsUdpSize?: number;
  /** Forwards in flight (UDP and TCP, all clients); more get SERVFAIL at once. Default 1024. */
  maxPendingForwards?: number;
  /** Distinct queries whose replies are kept, per transport (the oldest goes first); default 20000. */
  replyCacheMax?: number;
  /** An unbound socket (fd) for talking to the upstream, so forwards leave from the DNS pod's
   * network namespace rather than this process's; default: a socket of this process. */
  upstreamSocket?(kind: "udp" | "tcp"): number;
  /** Serve UDP through the native fast path (the agent passes its addon). Used only with an {fd}
   * UDP target and onZoneChange: cached replies never reach JavaScript, so the cache must be
   * emptied when the zone changes rather than when a query notices. */
  udpFastPath?: UdpFastPathNative;
  /** Subscribe to zone changes (called before the next zone() returns the new zone); returns
   * the unsubscribe function. */
  onZoneChange?(listener: () => void): () => void;
}

export interface DnsServerStats {
  queries: { udp: number; tcp: number };
  /** Responses sent, by RCODE name. */
  responses: Record<string, number>;
  /** Messages dropped without an answer (shorter than a header, QR set, internal error). */
  dropped: number;
  truncated: number;
  forwarded: number;
  forwardFailures: number;
  pendingForwards: number;
  /** Replies held in the reply cache (UDP and TCP). */
  cachedReplies: number;
  tcp: { open: number; accepted: number; closedIdle: number; closedGarbage: number };
}

export interface RunningDnsServer {
  /** The bound port (TCP and UDP share it). */
  port: number;
  udpPort: number;
  tcpPort: number;
  stats(): DnsServerStats;
  /** Close sockets and connections, fail pending forwards. Idempotent. */
  stop(): Promise<void>;
}

const DEFAULT_UPSTREAM_TIMEOUT_MS = 2000;
const DEFAULT_TCP_IDLE_MS = 10_000;
const DEFAULT_MAX_TCP = 256;
const DEFAULT_MAX_UDP_PAYLOAD = 4096;
const DEFAULT_EDNS_UDP_SIZE = 1232;
const DEFAULT_MAX_PENDING = 1024;
/** Distinct queries whose replies are kept (the oldest goes first). */
const REPLY_CACHE_MAX = 20_000;
const MIN_UDP = 512;
const MAX_MSG = 65535;
const HEADER = 12;
/** Per TCP connection: stop reading while this much output is queued ... */
const TCP_WRITE_HIGH = 256 * 1024;
/** ... or this many of its queries are being forwarded. */
const TCP_MAX_INFLIGHT = 32;
/** At most this many [ERROR] lines per second (a dead upstream under load must not flood the log). */
const ERROR_LOG_PER_SEC = 20;

const QR = 0x8000;
const AA = dnsPacket.AUTHORITATIVE_ANSWER;
const TC = dnsPacket.TRUNCATED_RESPONSE;
const RD = dnsPacket.RECURSION_DESIRED;
const RA = dnsPacket.RECURSION_AVAILABLE;
const CD = dnsPacket.CHECKING_DISABLED;

const RCODES: Record<string, number> = {
  NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5,
  YXDOMAIN: 6, YXRRSET: 7, NXRRSET: 8, NOTAUTH: 9, NOTZONE: 10, BADVERS: 16,
};
const RCODE_NAMES = Object.fromEntries(Object.entries(RCODES).map(([k, v]) => [v, k])) as Record<number, string>;
const KNOWN_CLASSES = new Set(["IN", "CS", "CH", "HS", "ANY"]);

// dns-packet exports its name codec, but @types/dns-packet doesn't declare it.
const nameCodec = (dnsPacket as unknown as { name: { encode(name: string): Buffer } }).name;

type Proto = "udp" | "tcp";
interface Client { proto: Proto; address: string; port: number }

/** A decoded, accepted query. */
interface Query {
  raw: Buffer;
  id: number;
  flags: number;
  question: Question;
  /** The question can be re-encoded as received (its class is one dns-packet knows). */
  echoQuestion: boolean;
  opt?: OptAnswer;
  /** Largest response we may send (UDP: EDNS0 size or 512; TCP: 65535). */
  limit: number;
  client: Client;
  start: bigint;
}

function parseUpstream(s: string): { host: string; port: number } {
  const t = s.trim();
  let m = /^\[([^\]]+)\](?::(\d+))?$/.exec(t);
  if (m && net.isIPv6(m[1])) return { host: m[1], port: m[2] ? Number(m[2]) : 53 };
  if (net.isIPv6(t)) return { host: t, port: 53 };
  m = /^([^:]+)(?::(\d+))?$/.exec(t);
  if (m && net.isIPv4(m[1])) {
    const port = m[2] ? Number(m[2]) : 53;
    if (port >= 1 && port <= 65535) return { host: m[1], port };
  }
  throw new Error(`invalid upstream ${JSON.stringify(s)}: expected ip[:port]`);
}

/** Go's strconv.FormatFloat(d.Seconds(), 'f', -1, 64) + "s", as the log plugin prints durations. */
function formatDuration(ns: bigint | number): string {
  const s = Number(ns) / 1e9;
  let out = s.toString();
  if (/e/i.test(out)) out = s.toFixed(20).replace(/0+$/, "").replace(/\.$/, "");
  return out + "s";
}

/** miekg/dns's presentation of a name in a log line: lowercased (request.Name()), with a
 * trailing dot, non-printable bytes as \DDD. */
function logName(name: string): string {
  const lower = name.replace(/[A-Z]+/g, (m) => m.toLowerCase());
  if (lower === "." || lower === "") return ".";
  const bytes = Buffer.from(lower, "utf8");
  let out = "";
  for (const b of bytes) {
    if (b === 0x2e) out += ".";
    else if (b <= 0x20 || b >= 0x7f) out += "\\" + String(b).padStart(3, "0");
    else if ('"();\\@$'.includes(String.fromCharCode(b))) out += "\\" + String.fromCharCode(b);
    else out += String.fromCharCode(b);
  }
  return out + ".";
}

const typeName = (t: string) => (t.startsWith("UNKNOWN_") ? `TYPE${t.slice(8)}` : t);
const className = (c: string | undefined) => (c === undefined ? "IN" : c.startsWith("UNKNOWN_") ? `CLASS${c.slice(8)}` : c);

function flagsString(flags: number): string {
  const f: string[] = [];
  if (flags & QR) f.push("qr");
  if (flags & AA) f.push("aa");
  if (flags & TC) f.push("tc");
  if (flags & RD) f.push("rd");
  if (flags & RA) f.push("ra");
  if (flags & 0x40) f.push("z");
  if (flags & dnsPacket.AUTHENTIC_DATA) f.push("ad");
  if (flags & CD) f.push("cd");
  return f.join(",");
}

export async function startDnsServer(opts: DnsServerOptions): Promise<RunningDnsServer> {
  const port = opts.port ?? 53;
  const queryLog = opts.queryLog ?? false;
  const upstreamTimeoutMs = opts.upstreamTimeoutMs ?? DEFAULT_UPSTREAM_TIMEOUT_MS;
  const idleMs = opts.tcpIdleTimeoutMs ?? DEFAULT_TCP_IDLE_MS;
  const maxUdpPayload = Math.max(MIN_UDP, Math.min(MAX_MSG, opts.maxUdpPayload ?? DEFAULT_MAX_UDP_PAYLOAD));
  const ednsUdpSize = opts.ednsUdpSize ?? DEFAULT_EDNS_UDP_SIZE;
  const maxPending = opts.maxPendingForwards ?? DEFAULT_MAX_PENDING;
  const cacheMax = Math.max(1, opts.replyCacheMax ?? REPLY_CACHE_MAX);
  const upstream = opts.upstream ? parseUpstream(opts.upstream) : undefined;

  const stats: DnsServerStats = {
    queries: { udp: 0, tcp: 0 },
    responses: {},
    dropped: 0,
    truncated: 0,
    forwarded: 0,
    forwardFailures: 0,
    pendingForwards: 0,
    cachedReplies: 0,
    tcp: { open: 0, accepted: 0, closedIdle: 0, closedGarbage: 0 },
  };
  let stopped = false;
  /** Replies whose RCODE doesn't fit the header's 4 bits (BADVERS), for the query log. */
  const extendedRcodes = new WeakMap<Buffer, number>();

  let errorBudget = ERROR_LOG_PER_SEC;
  let errorWindow = Date.now();
  function logError(line: string): void {
    const now = Date.now();
    if (now - errorWindow >= 1000) { errorWindow = now; errorBudget = ERROR_LOG_PER_SEC; }
    if (errorBudget <= 0) return;
    errorBudget--;
    try { opts.log(`[ERROR] ${line}`); } catch { /* a failing logger must not stop DNS */ }
  }

  // ---- responses --------------------------------------------------------------------------

  function count(rcode: number): void {
    const name = RCODE_NAMES[rcode] ?? String(rcode);
    stats.responses[name] = (stats.responses[name] ?? 0) + 1;
  }

  /** A reply carrying only a header (miekg/dns's reply to messages it rejects). */
  function headerOnly(id: number, reqFlags: number, rcode: number): Buffer {
    const opcode = (reqFlags >> 11) & 0xf;
    const flags = (opcode << 11) | (opcode === 0 ? reqFlags & (RD | CD) : 0) | rcode;
    count(rcode);
    return dnsPacket.encode({ id, type: "response", flags, questions: [] });
  }

  function optFor(q: Query, extendedRcode = 0): OptAnswer {
    return {
      name: ".",
      type: "OPT",
      udpPayloadSize: ednsUdpSize,
      extendedRcode,
      ednsVersion: 0,
      flags: q.opt?.flag_do ? dnsPacket.DNSSEC_OK : 0,
      flag_do: q.opt?.flag_do ?? false,
      options: [],
    };
  }

  /** A message as dns-packet encodes it, its names then compressed. */
  function encode(p: Packet): Buffer {
    const b = dnsPacket.encode(p);
    try {
      return compressMessage(b);
    } catch {
      return b;
    }
  }

  /** Encode a reply within q.limit: drop additionals, then answers (setting TC). */
  function encodeReply(q: Query, flags: number, rcode: number, answers: Answer[], authorities: Answer[], additionals: Answer[]): Buffer {
    const ext = rcode >> 4;
    const opt: Answer[] = q.opt ? [optFor(q, ext)] : [];
    const packet: Packet = {
      id: q.id,
      type: "response",
      flags: (flags & ~0xf & 0x7fff) | (rcode & 0xf),
      questions: q.echoQuestion ? [q.question] : [],
      answers,
      authorities,
      additionals: [...additionals, ...opt],
    };
    // As miekg/dns's Truncate (CoreDNS): uncompressed when it fits, else compressed, then trimmed.
    let buf = dnsPacket.encode(packet);
    if (buf.length > q.limit) buf = encode(packet);
    if (buf.length > q.limit) {
      packet.additionals = opt;
      buf = encode(packet);
      if (buf.length > q.limit) {
        packet.flags = (packet.flags ?? 0) | TC;
        packet.authorities = [];
        // Keep as many whole answers as fit (miekg/dns Msg.Truncate).
        let lo = 0;
        let hi = answers.length;
        while (lo < hi) {
          const mid = (lo + hi + 1) >> 1;
          packet.answers = answers.slice(0, mid);
          if (encode(packet).length <= q.limit) lo = mid;
          else hi = mid - 1;
        }
        packet.answers = answers.slice(0, lo);
        buf = encode(packet);
        stats.truncated++;
      }
    }
    count(rcode);
    if (rcode > 0xf) extendedRcodes.set(buf, rcode);
    return buf;
  }

  function reply(q: Query, rcode: number, extra: { aa?: boolean; ra?: boolean } = {}, answers: Answer[] = [], authorities: Answer[] = [], additionals: Answer[] = []): Buffer {
    const flags = QR | (extra.aa ? AA : 0) | (q.flags & (RD | CD)) | (extra.ra ? RA : 0);
    return encodeReply(q, flags, rcode, answers, authorities, additionals);
  }

  /** The query-log line's middle part (question, sizes, RCODE, flags): the same for every
   * repeat of a query, so the reply cache keeps it with the reply. */
  function logMiddle(q: Query, resp: Buffer): string {
    const rflags = resp.readUInt16BE(2);
    const rcode = extendedRcodes.get(resp) ?? rflags & 0xf;
    const bufsize = q.client.proto === "tcp" ? MAX_MSG : Math.max(MIN_UDP, q.opt?.udpPayloadSize ?? MIN_UDP);
    return `"${typeName(q.question.type)} ${className(q.question.class)} ${logName(q.question.name)} ` +
      `${q.client.proto} ${q.raw.length} ${q.opt?.flag_do ? "true" : "false"} ${bufsize}" ` +
      `${RCODE_NAMES[rcode] ?? String(rcode)} ${flagsString(rflags)} ${resp.length}`;
  }

  function logLine(c: Client, id: number, middle: string, start: bigint): void {
    logLineTook(c.address, c.port, id, middle, process.hrtime.bigint() - start);
  }

  function logLineTook(address: string, port: number, id: number, middle: string, tookNs: bigint | number): void {
    const remote = address.includes(":") ? `[${address}]` : address;
    try { opts.log(`[INFO] ${remote}:${port} - ${id} ${middle} ${formatDuration(tookNs)}`); } catch { /* ignore */ }
  }

  function logQuery(q: Query, resp: Buffer | null): void {
    if (!queryLog || !resp || resp.length < HEADER) return;
    logLine(q.client, q.id, logMiddle(q, resp), q.start);
  }

  // ---- reply cache ---------------------------------------------------------------------------
  // A reply depends only on the query's bytes after its ID, the transport (size limit) and the
  // zone; repeats (every pod asks the same names) are answered from here with the ID patched
  // in. Emptied whenever the zone changes, so answers are never staler than the zone itself;
  // forwarded answers are never kept (CoreDNS's `cache` plugin would; the upstream's TTLs rule).
  interface Cached { reply: Buffer; rcode: number; log: string }
  // One map per transport (the size limit differs), keyed by the message after its ID: no
  // string concatenation per query.
  const caches: Record<Proto, Map<string, Cached>> = { udp: new Map(), tcp: new Map() };
  let cacheZone: Zone | undefined;
  // The native fast path's copy of the UDP cache; fastLog[tag] is an entry's query-log middle.
  const fastNative = opts.udpFastPath && opts.onZoneChange ? opts.udpFastPath : undefined;
  let fast: object | undefined;
  let fastLog: string[] = [];

  function clearCaches(): void {
    caches.udp.clear();
    caches.tcp.clear();
    if (fast) fastNative!.udpFastClear(fast);
    fastLog = [];
  }
  const unsubscribe = fastNative ? opts.onZoneChange!(() => { clearCaches(); cacheZone = undefined; }) : undefined;

  function fromCache(msg: Buffer, client: Client): { key: string; hit?: Buffer } | null {
    if (msg.length < HEADER || msg.length > 512 || msg[2] & 0x80) return null;
    const zone = opts.zone();
    if (zone !== cacheZone) { clearCaches(); cacheZone = zone; }
    const key = msg.toString("latin1", 2);
    const c = caches[client.proto].get(key);
    if (!c) return { key };
    const start = queryLog ? process.hrtime.bigint() : 0n;
    stats.queries[client.proto]++;
    count(c.rcode);
    const out = Buffer.allocUnsafe(c.reply.length);
    c.reply.copy(out);
    out.writeUInt16BE(msg.readUInt16BE(0), 0);
    if (queryLog) logLine(client, msg.readUInt16BE(0), c.log, start);
    if (fast && client.proto === "udp") putFast(msg, c);
    return { key, hit: out };
  }

  function remember(key: string, q: Query, resp: Buffer): void {
    const cache = caches[q.client.proto];
    if (cache.size >= cacheMax) cache.delete(cache.keys().next().value!);
    // Its own exact-size copy: a slice of Buffer's shared 8 KiB pool would keep the whole slab
    // alive for as long as the entry lives.
    const reply = Buffer.allocUnsafeSlow(resp.length);
    resp.copy(reply);
    const entry: Cached = { reply, rcode: extendedRcodes.get(resp) ?? resp.readUInt16BE(2) & 0xf, log: logMiddle(q, resp) };
    cache.set(key, entry);
    if (fast && q.client.proto === "udp") putFast(q.raw, entry);
  }

  function putFast(msg: Buffer, entry: Cached): void {
    if (fastLog.length >= cacheMax) { fastNative!.udpFastClear(fast!); fastLog = []; }
    fastNative!.udpFastPut(fast!, msg.subarray(2), entry.reply, entry.rcode, fastLog.push(entry.log) - 1);
  }

  // ---- handling ---------------------------------------------------------------------------

  /** Parse and accept a message: a Query, a ready reply (FORMERR, NOTIMP...), or null (drop). */
  function accept(msg: Buffer, client: Client): Query | Buffer | null {
    if (msg.length < HEADER) { stats.dropped++; return null; }
    const id = msg.readUInt16BE(0);
    const flags = msg.readUInt16BE(2);
    if (flags & QR) { stats.dropped++; return null; }
    if (((flags >> 11) & 0xf) !== 0) return headerOnly(id, flags, RCODES.NOTIMP);
    const qd = msg.readUInt16BE(4);
    const an = msg.readUInt16BE(6);
    const ns = msg.readUInt16BE(8);
    const ar = msg.readUInt16BE(10);
    if (qd !== 1 || an > 1 || ns > 1 || ar > 2) return headerOnly(id, flags, RCODES.FORMERR);
    let packet: DecodedPacket;
    try {
      packet = dnsPacket.decode(msg);
    } catch {
      return headerOnly(id, flags, RCODES.FORMERR);
    }
    const question = packet.questions?.[0];
    if (!question || typeof question.name !== "string") return headerOnly(id, flags, RCODES.FORMERR);
    // Labels dns-packet can't give back as received (a "." or invalid UTF-8 inside a label,
    // compression in the question) would be answered for another name: FORMERR instead.
    let encodedName: Buffer;
    try {
      encodedName = nameCodec.encode(question.name);
    } catch {
      return headerOnly(id, flags, RCODES.FORMERR);
    }
    if (!encodedName.equals(msg.subarray(HEADER, HEADER + encodedName.length))) return headerOnly(id, flags, RCODES.FORMERR);
    const opts = (packet.additionals ?? []).filter((a): a is OptAnswer => a.type === "OPT");
    if (opts.length > 1 || (opts[0] && opts[0].name !== ".")) return headerOnly(id, flags, RCODES.FORMERR);
    const opt = opts[0];
    const limit = client.proto === "tcp" ? MAX_MSG : opt ? Math.min(maxUdpPayload, Math.max(MIN_UDP, opt.udpPayloadSize)) : MIN_UDP;
    return {
      raw: msg,
      id,
      flags,
      question: { name: question.name, type: question.type, class: question.class },
      echoQuestion: KNOWN_CLASSES.has(question.class ?? "IN"),
      opt,
      limit,
      client,
      start: process.hrtime.bigint(),
    };
  }

  /** Answer one message. Never throws; async only when it goes upstream. */
  function handle(msg: Buffer, client: Client): Buffer | null | Promise<Buffer | null> {
    let cached: ReturnType<typeof fromCache> = null;
    try {
      cached = fromCache(msg, client);
    } catch { /* answered the long way */ }
    if (cached?.hit) return cached.hit;
    let q: Query | Buffer | null;
    try {
      q = accept(msg, client);
    } catch {
      stats.dropped++;
      return null;
    }
    if (q === null || Buffer.isBuffer(q)) return q;
    const query = q;
    stats.queries[client.proto]++;
    try {
      const r = resolve(query);
      if (r instanceof Promise) {
        return r.then(
          (buf) => { logQuery(query, buf); return buf; },
          () => safeServfail(query),
        );
      }
      if (cached) remember(cached.key, query, r);
      logQuery(query, r);
      return r;
    } catch {
      return safeServfail(query);
    }
  }

  function safeServfail(q: Query): Buffer | null {
    try {
      const r = reply(q, RCODES.SERVFAIL);
      logQuery(q, r);
      return r;
    } catch {
      stats.dropped++;
      return null;
    }
  }

  function resolve(q: Query): Buffer | Promise<Buffer> {
    const { question } = q;
    if (q.opt && q.opt.ednsVersion !== 0) {
      // RFC 6891 §6.1.3 (CoreDNS: edns.Version before any plugin).
      return reply(q, RCODES.BADVERS);
    }
    if (question.type === "OPT") return reply(q, RCODES.FORMERR);
    if (question.type === "AXFR" || question.type === "IXFR") return reply(q, RCODES.REFUSED);
    const cls = question.class ?? "IN";
    const inZoneClass = cls === "IN" || cls === "ANY";
    const zone = opts.zone();
    const ans = inZoneClass ? zone.answer(question.name, question.type) : undefined;
    if (!ans || ans.rcode === "NOT_AUTHORITATIVE") {
      if (!upstream) return reply(q, RCODES.REFUSED);
      return forward(q);
    }
    const rcode = RCODES[ans.rcode];
    const answers = ans.answers as Answer[];
    if (ans.external && upstream) {
      const ext = ans.external;
      return chase(q, ext.name, ext.type).then((more) =>
        reply(q, rcode, { aa: true }, [...answers, ...more], ans.authority as Answer[], ans.additionals as Answer[]),
      );
    }
    return reply(q, rcode, { aa: true }, answers, ans.authority as Answer[], ans.additionals as Answer[]);
  }

  // ---- upstream ---------------------------------------------------------------------------

  interface Pending { resolve(b: Buffer | null): void; timer: NodeJS.Timeout; question: Buffer }
  const pending = new Map<number, Pending>();
  const upstreamSockets = new Set<net.Socket>();
  let upSock: dgram.Socket | null = null;

  if (upstream) {
    upSock = dgram.createSocket(net.isIPv6(upstream.host) ? "udp6" : "udp4");
    upSock.on("error", (e) => logError(`plugin/forward: ${e.message}`));
    upSock.on("message", (m, rinfo) => {
      if (rinfo.address !== upstream.host || rinfo.port !== upstream.port || m.length < HEADER) return;
      const p = pending.get(m.readUInt16BE(0));
      if (!p || !(m.readUInt16BE(2) & QR)) return;
      // The question must come back as sent (RFC 5452 §9.1).
      if (!p.question.equals(m.subarray(HEADER, HEADER + p.question.length))) return;
      p.resolve(Buffer.from(m));
    });
    await new Promise<void>((resolve, reject) => {
      upSock!.once("error", reject);
      const bound = () => { upSock!.off("error", reject); resolve(); };
      if (opts.upstreamSocket) upSock!.bind({ fd: opts.upstreamSocket("udp") }, bound);
      else upSock!.bind(0, bound);
    });
  }

  /** The question section of a query message (name + type + class). */
  function questionBytes(msg: Buffer): Buffer {
    let o = HEADER;
    while (o < msg.length) {
      const l = msg[o];
      if (l === 0) { o++; break; }
      if ((l & 0xc0) === 0xc0) { o += 2; break; }
      o += l + 1;
    }
    return msg.subarray(HEADER, Math.min(msg.length, o + 4));
  }

  /** One exchange with the upstream over UDP, then TCP if the reply is truncated. */
  async function exchange(query: Buffer, tcp: boolean): Promise<Buffer | null> {
    const viaUdp = tcp ? null : await exchangeUdp(query);
    if (viaUdp && !(viaUdp.readUInt16BE(2) & TC)) return viaUdp;
    if (!viaUdp && !tcp) return null;
    return (await exchangeTcp(query)) ?? viaUdp;
  }

  function freeId(): number | null {
    for (let i = 0; i < 64; i++) {
      const id = randomInt(0, 65536);
      if (!pending.has(id)) return id;
    }
    return null;
  }

  function exchangeUdp(query: Buffer): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const id = pending.size < maxPending ? freeId() : null;
      if (id === null || !upSock || stopped) { resolve(null); return; }
      const buf = Buffer.from(query);
      buf.writeUInt16BE(id, 0);
      const finish = (b: Buffer | null) => {
        const p = pending.get(id);
        if (!p) return;
        clearTimeout(p.timer);
        pending.delete(id);
        stats.pendingForwards = pending.size;
        resolve(b);
      };
      const timer = setTimeout(() => {
        logError(`plugin/errors: 2 ${logName(safeQuestionName(query))} ${safeQuestionType(query)}: read udp ${upstream!.host}:${upstream!.port}: i/o timeout`);
        finish(null);
      }, upstreamTimeoutMs);
      pending.set(id, { resolve: finish, timer, question: questionBytes(buf) });
      stats.pendingForwards = pending.size;
      upSock.send(buf, upstream!.port, upstream!.host, (err) => {
        if (err) { logError(`plugin/forward: ${err.message}`); finish(null); }
      });
    });
  }

  function exchangeTcp(query: Buffer): Promise<Buffer | null> {
    return new Promise((resolve) => {
      if (stopped || upstreamSockets.size >= maxPending) { resolve(null); return; }
      const id = randomInt(0, 65536);
      const buf = Buffer.from(query);
      buf.writeUInt16BE(id, 0);
      const len = Buffer.alloc(2);
      len.writeUInt16BE(buf.length);
      const question = questionBytes(buf);
      const sock = opts.upstreamSocket
        ? new net.Socket({ fd: opts.upstreamSocket("tcp"), readable: true, writable: true }).connect(upstream!.port, upstream!.host)
        : net.connect({ host: upstream!.host, port: upstream!.port });
      upstreamSockets.add(sock);
      let chunks: Buffer[] = [];
      let have = 0;
      let done = false;
      const finish = (b: Buffer | null) => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        upstreamSockets.delete(sock);
        sock.destroy();
        resolve(b);
      };
      const timer = setTimeout(() => {
        logError(`plugin/errors: 2 ${logName(safeQuestionName(query))} ${safeQuestionType(query)}: read tcp ${upstream!.host}:${upstream!.port}: i/o timeout`);
        finish(null);
      }, upstreamTimeoutMs);
      sock.on("connect", () => sock.write(Buffer.concat([len, buf])));
      sock.on("error", () => finish(null));
      sock.on("close", () => finish(null));
      sock.on("data", (d) => {
        chunks.push(d);
        have += d.length;
        if (have > 2 + MAX_MSG) { finish(null); return; }
        if (have < 2) return;
        const all = Buffer.concat(chunks, have);
        chunks = [all];
        const n = all.readUInt16BE(0);
        if (have < 2 + n) return;
        const m = all.subarray(2, 2 + n);
        if (m.length < HEADER || m.readUInt16BE(0) !== id || !(m.readUInt16BE(2) & QR) || !question.equals(m.subarray(HEADER, HEADER + question.length))) {
          finish(null);
          return;
        }
        finish(Buffer.from(m));
      });
    });
  }

  function safeQuestionName(msg: Buffer): string {
    try { return dnsPacket.decode(msg).questions?.[0]?.name ?? "."; } catch { return "."; }
  }
  function safeQuestionType(msg: Buffer): string {
    try { return typeName(dnsPacket.decode(msg).questions?.[0]?.type ?? "A"); } catch { return "A"; }
  }

  /** Relay the client's query upstream; the reply goes back with the client's ID. */
  async function forward(q: Query): Promise<Buffer> {
    stats.forwarded++;
    const r = await exchange(q.raw, q.client.proto === "tcp");
    if (!r) {
      stats.forwardFailures++;
      return reply(q, RCODES.SERVFAIL, { ra: true });
    }
    const out = Buffer.from(r);
    out.writeUInt16BE(q.id, 0);
    if (out.length <= q.limit) {
      count(out.readUInt16BE(2) & 0xf);
      return out;
    }
    // Bigger than the client can take over UDP (an upstream ignoring its size): re-encode
    // with TC so it retries over TCP.
    try {
      const d = dnsPacket.decode(out);
      return encodeReply(q, (d.flags ?? 0) | QR, (out.readUInt16BE(2) & 0xf), (d.answers ?? []).filter((a) => a.type !== "OPT"), [], []);
    } catch {
      stats.forwardFailures++;
      return reply(q, RCODES.SERVFAIL, { ra: true });
    }
  }

  /** Resolve a CNAME target outside the zone upstream (CoreDNS: Upstream.Lookup); [] on failure. */
  async function chase(q: Query, name: string, type: string): Promise<Answer[]> {
    let query: Buffer;
    try {
      query = dnsPacket.encode({
        id: 0,
        type: "query",
        flags: RD,
        questions: [{ name, type: type as Question["type"], class: "IN" }],
        additionals: [{ name: ".", type: "OPT", udpPayloadSize: ednsUdpSize, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }],
      });
    } catch {
      return [];
    }
    const r = await exchange(query, q.client.proto === "tcp");
    if (!r) return [];
    try {
      return (dnsPacket.decode(r).answers ?? []).filter((a) => a.type !== "OPT");
    } catch {
      return [];
    }
  }

  // ---- UDP --------------------------------------------------------------------------------

  function bindUdp(target: ListenTarget): Promise<dgram.Socket> {
    const type = "host" in target && net.isIPv6(target.host) ? "udp6" : "udp4";
    const sock = dgram.createSocket({ type, lookup: literalLookup });
    return new Promise((resolve, reject) => {
      sock.once("error", reject);
      const done = () => {
        sock.off("error", reject);
        // Room for bursts; the kernel caps it at net.core.rmem_max.
        try { sock.setRecvBufferSize(4 << 20); } catch { /* keep the default */ }
        resolve(sock);
      };
      if ("fd" in target) sock.bind({ fd: target.fd }, done);
      else sock.bind({ address: target.host, port: target.port }, done);
    });
  }

  /** dgram resolves the address of every send(): with the default lookup (dns.lookup) an IP
   * literal (a client's address always is one) costs a process.nextTick and a deferred send
   * per reply; here it is handed back at once. Names still go to dns.lookup. */
  function literalLookup(address: string, family: unknown, cb: (err: Error | null, address: string, family: number) => void): void {
    const v = net.isIP(address);
    if (v !== 0) { cb(null, address, v); return; }
    dns.lookup(address, family as number, cb as (err: Error | null, address: string, family: number) => void);
  }

  function datagram(msg: Buffer, address: string, port: number, send: (b: Buffer) => void): void {
    if (stopped || port === 0) return;
    const reply = (b: Buffer | null) => {
      if (!b || stopped) return;
      try { send(b); } catch { /* closed */ }
    };
    const r = handle(msg, { proto: "udp", address, port });
    if (r instanceof Promise) void r.then(reply, () => undefined);
    else reply(r);
  }

  function serveUdp(sock: dgram.Socket): void {
    sock.on("error", (e) => logError(`udp: ${e.message}`));
    sock.on("message", (msg, rinfo) => datagram(msg, rinfo.address, rinfo.port, (b) => sock.send(b, rinfo.port, rinfo.address)));
  }

  /** UDP through the native fast path: it answers cache hits itself and hands us the rest. */
  function serveUdpFast(fd: number): number {
    const n = fastNative!;
    const onMiss = (msg: Buffer, address: string, port: number) => {
      try {
        datagram(msg, address, port, (b) => { if (fast) n.udpFastSend(fast, b, address, port); });
      } catch { stats.dropped++; }
    };
    // Hit records (native/udp_fastpath.c): tag u32, id u16 (wire order), port u16, IPv4, ns u32.
    const onHits = (rec: Buffer, count: number) => {
      for (let i = 0, o = 0; i < count; i++, o += 16) {
        const middle = fastLog[rec.readUInt32LE(o)];
        if (middle === undefined) continue;
        logLineTook(`${rec[o + 8]}.${rec[o + 9]}.${rec[o + 10]}.${rec[o + 11]}`, rec.readUInt16LE(o + 6), rec.readUInt16BE(o + 4), middle, rec.readUInt32LE(o + 12));
      }
    };
    fast = n.udpFastOpen(fd, cacheMax, onMiss, queryLog ? onHits : null);
    return n.udpFastStats(fast).port;
  }

  // ---- TCP --------------------------------------------------------------------------------

  const connections = new Set<net.Socket>();

  function serveTcp(sock: net.Socket): void {
    if (stopped) { sock.destroy(); return; }
    connections.add(sock);
    stats.tcp.accepted++;
    stats.tcp.open = connections.size;
    const client: Client = { proto: "tcp", address: sock.remoteAddress ?? "", port: sock.remotePort ?? 0 };
    let chunks: Buffer[] = [];
    let buffered = 0;
    let inflight = 0;
    let closed = false;

    sock.setNoDelay(true);
    sock.setTimeout(idleMs, () => { stats.tcp.closedIdle++; sock.destroy(); });
    sock.on("error", () => { /* reset by peer and the like */ });
    sock.on("close", () => {
      closed = true;
      chunks = [];
      buffered = 0;
      connections.delete(sock);
      stats.tcp.open = connections.size;
    });

    const write = (b: Buffer | null) => {
      if (!b || closed || sock.destroyed) return;
      const len = Buffer.alloc(2);
      len.writeUInt16BE(b.length);
      sock.write(Buffer.concat([len, b]));
    };

    const take = (n: number): Buffer => {
      const all = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, buffered);
      const out = all.subarray(0, n);
      const rest = all.subarray(n);
      chunks = rest.length ? [rest] : [];
      buffered = rest.length;
      return out;
    };

    const pump = () => {
      while (!closed) {
        if (sock.writableLength > TCP_WRITE_HIGH || inflight >= TCP_MAX_INFLIGHT) { sock.pause(); return; }
        if (buffered < 2) break;
        if (chunks[0].length < 2) chunks = [Buffer.concat(chunks, buffered)];
        const n = chunks[0].readUInt16BE(0);
        if (n < HEADER) {
          // Not even a header fits: the stream can't be trusted to be in sync any more.
          stats.tcp.closedGarbage++;
          closed = true;
          sock.destroy();
          return;
        }
        if (buffered < 2 + n) break;
        const msg = Buffer.from(take(2 + n).subarray(2));
        const r = handle(msg, client);
        if (r instanceof Promise) {
          inflight++;
          void r.then(
            (b) => { inflight--; write(b); pump(); },
            () => { inflight--; pump(); },
          );
        } else {
          write(r);
        }
      }
      if (!closed && sock.isPaused()) sock.resume();
    };

    sock.on("data", (d: Buffer) => {
      if (closed) return;
      chunks.push(d);
      buffered += d.length;
      pump();
    });
    sock.on("drain", pump);
  }

  // ---- start ------------------------------------------------------------------------------

  const tcpServer = net.createServer(serveTcp);
  tcpServer.maxConnections = opts.maxTcpConnections ?? DEFAULT_MAX_TCP;
  tcpServer.on("error", (e) => logError(`tcp: ${e.message}`));

  const listenTcp = (target: ListenTarget) =>
    new Promise<number>((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      tcpServer.once("error", onError);
      const done = () => {
        tcpServer.off("error", onError);
        const a = tcpServer.address();
        resolve(a && typeof a === "object" ? a.port : port);
      };
      if ("fd" in target) tcpServer.listen({ fd: target.fd }, done);
      else tcpServer.listen({ host: target.host, port: target.port }, done);
    });

  let udp: dgram.Socket | undefined;
  let tcpPort = 0;
  let udpPort = 0;
  try {
    // An ephemeral port ({host, port: 0}, tests): TCP picks it, UDP takes the same number.
    for (let attempt = 0; ; attempt++) {
      const tcpTarget = opts.listen("tcp", port);
      tcpPort = await listenTcp(tcpTarget);
      let udpTarget = opts.listen("udp", port);
      if (fastNative && "fd" in udpTarget) {
        udpPort = serveUdpFast(udpTarget.fd);
        break;
      }
      if ("host" in udpTarget && udpTarget.port === 0) udpTarget = { host: udpTarget.host, port: tcpPort };
      try {
        udp = await bindUdp(udpTarget);
        break;
      } catch (e) {
        await new Promise<void>((r) => tcpServer.close(() => r()));
        const retry = (e as NodeJS.ErrnoException).code === "EADDRINUSE" && "host" in tcpTarget && tcpTarget.port === 0 && attempt < 10;
        if (!retry) throw e;
      }
    }
    if (udp) {
      udpPort = udp.address().port;
      serveUdp(udp);
    }
  } catch (e) {
    upSock?.close();
    unsubscribe?.();
    throw e;
  }

  let stopping: Promise<void> | null = null;
  const stop = (): Promise<void> => {
    if (stopping) return stopping;
    stopped = true;
    unsubscribe?.();
    if (fast) { fastNative!.udpFastClose(fast); fast = undefined; }
    for (const p of [...pending.values()]) p.resolve(null);
    for (const s of upstreamSockets) s.destroy();
    for (const s of connections) s.destroy();
    const waits: Promise<void>[] = [
      new Promise<void>((r) => tcpServer.close(() => r())),
      new Promise<void>((r) => { if (!udp) { r(); return; } try { udp.close(() => r()); } catch { r(); } }),
    ];
    if (upSock) {
      const u = upSock;
      waits.push(new Promise<void>((r) => { try { u.close(() => r()); } catch { r(); } }));
    }
    stopping = Promise.all(waits).then(() => undefined);
    return stopping;
  };

  return {
    port: udpPort,
    udpPort,
    tcpPort,
    stats: () => {
      const out = { ...stats, queries: { ...stats.queries }, responses: { ...stats.responses }, tcp: { ...stats.tcp }, pendingForwards: pending.size,
        cachedReplies: caches.udp.size + caches.tcp.size };
      if (fast) {
        // Hits answered natively count as the queries and responses they are.
        const f = fastNative!.udpFastStats(fast);
        out.queries.udp += f.hits;
        f.rcodes.forEach((c, rcode) => {
          if (!c) return;
          const name = RCODE_NAMES[rcode] ?? String(rcode);
          out.responses[name] = (out.responses[name] ?? 0) + c;
        });
      }
      return out;
    },
    stop,
  };
}
