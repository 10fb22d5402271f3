// klab's built-in `agnhost netexec` (registry.k8s.io/e2e-test-images/agnhost).
// One agent process serves the netexec "containers" of every pod: the sockets are
// opened inside each pod's network namespace by the caller (listen() returns an fd),
// and this module only speaks the protocol. Behaviour, bodies and log lines follow
// test/images/agnhost/netexec/netexec.go so output can be compared with real agnhost.
//
// Not served: /dial, /shell and /upload need outbound sockets, a shell or a
// filesystem inside the pod, which the agent doesn't have; they answer 501 instead of
// pretending. TLS, --http-override and SCTP are not supported either.

import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import path from "node:path/posix";
import {
  bytesOf,
  canonicalHeaderKey,
  detectContentType,
  formatGoDuration,
  goAtoi,
  goJSONHeader,
  goLogPrefix,
  goQuote,
  goTimeString,
  goTrimLower,
  parseGoDuration,
  textOf,
} from "./goformat.js";

export type ListenTarget = { fd: number } | { host: string; port: number };

export interface NetexecOptions {
  /** Returned by /hostname and the UDP "hostname" command (the pod's hostname). */
  podName: string;
  /** --http-port; agnhost's default is 8080. */
  httpPort: number;
  /** --udp-port; agnhost's default is 8081. null or 0 = no UDP server (agnhost: --udp-port=-1). */
  udpPort: number | null;
  /** Where to bind. In the agent this returns {fd} from the native addon (an AF_INET socket). */
  listen(kind: "tcp" | "udp", port: number): ListenTarget;
  /** One line of container output (agnhost logs with Go's log package; we keep its prefix). */
  log(line: string): void;
  /** The container process exited with this code (os.Exit / log.Fatal in agnhost). */
  exit(code: number): void;
}

export interface RunningWorkload {
  httpAddress?: { port: number };
  udpAddress?: { port: number };
  /** Close all sockets and open connections; resolves when closed. Idempotent. */
  stop(): Promise<void>;
}

// Form values, like Go's r.FormValue: body (urlencoded POST/PUT/PATCH) first, then query.
type Form = Map<string, string[]>;

const NS_PER_MS = 1_000_000n;
// setTimeout's limit; longer waits just never fire before stop(), like a long sleep.
const MAX_TIMER_MS = 2 ** 31 - 1;
// Go's ParseForm reads at most 10 MB of urlencoded body.
const MAX_FORM_BYTES = 10 << 20;

/**
 * Start netexec. Like agnhost, a bind failure is not an exception: it's logged
 * (log.Fatal) and the container exits with code 1 via exit(), after this resolves.
 */
export async function startNetexec(o: NetexecOptions): Promise<RunningWorkload> {
  const startHr = process.hrtime.bigint();
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let udp: dgram.Socket | null = null;
  let udpReady = false; // agnhost's serverReady: /healthz is 200 only once UDP is up
  let draining = false; // /exit?timeout=...: graceful shutdown in progress
  let exited = false; // the "process" is gone (exit() called or about to be)
  let stopping: Promise<void> | null = null;

  const log = (msg: string) => {
    // log.Printf adds one newline; a message containing newlines prints as several lines.
    const lines = msg.replace(/\n$/, "").split("\n");
    lines[0] = goLogPrefix(new Date()) + lines[0];
    for (const l of lines) o.log(l);
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => { timers.delete(t); resolve(); }, Math.min(ms, MAX_TIMER_MS));
      timers.add(t);
    });

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      // A client that went away mid-body, or stop(), is not worth a log line; anything
      // else is a bug, logged the way Go's server reports a recovered handler panic.
      if (!exited && !req.socket.destroyed && !req.destroyed) {
        log(`http: panic serving ${remoteAddr(req.socket)}: ${String(err)}`);
      }
      req.socket.destroy();
    });
  });
  // Go's http.Server has no idle timeout by default; keep-alive connections stay open
  // (visible in conntrack / kube-proxy demos) until the client or stop() closes them.
  server.keepAliveTimeout = 0;
  server.on("connection", (s: net.Socket) => {
    if (exited) { s.destroy(); return; }
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  function closeAll(): Promise<void> {
    if (stopping) return stopping;
    exited = true;
    for (const t of timers) clearTimeout(t);
    timers.clear();
    const waits: Promise<void>[] = [];
    waits.push(new Promise<void>((resolve) => {
      if (!server.listening) { resolve(); return; }
      server.close(() => resolve());
    }));
    server.closeAllConnections();
    for (const s of sockets) s.destroy();
    if (udp) {
      const u = udp;
      udp = null;
      waits.push(new Promise<void>((resolve) => {
        try { u.close(() => resolve()); } catch { resolve(); }
      }));
    }
    stopping = Promise.all(waits).then(() => undefined);
    return stopping;
  }

  // os.Exit: everything dies at once, then the agent hears about the exit code.
  function processExit(code: number): void {
    if (exited) return;
    void closeAll().then(() => setImmediate(() => o.exit(code)));
  }

  function fatal(msg: string): void {
    log(msg);
    processExit(1);
  }

  const hostname = () => {
    log(`hostname: ${o.podName}`);
    return o.podName;
  };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    if (exited) { req.socket.destroy(); return; }
    if (draining) res.shouldKeepAlive = false; // Go's Shutdown: "Connection: close"

    const target = req.url ?? "/";
    if (target === "*") {
      res.shouldKeepAlive = false;
      send(res, 400);
      return;
    }
    const parsed = splitTarget(target);
    if (!parsed) {
      // Go rejects an unparsable request-target before any handler runs.
      res.shouldKeepAlive = false;
      send(res, 400, "400 Bad Request", "text/plain; charset=utf-8");
      return;
    }
    const { path: urlPath, rawPath, rawQuery } = parsed;

    // ServeMux redirects unclean paths ("//hostname", "/a/../echo") to the clean one.
    if (req.method !== "CONNECT") {
      const clean = cleanPath(urlPath);
      if (clean !== urlPath) {
        const escaped = cleanPath(rawPath);
        redirect(req, res, escaped + (rawQuery ? "?" + rawQuery : ""), 301, urlPath);
        return;
      }
    }

    const form = await readForm(req, rawQuery);
    const fv = (k: string) => form.get(k)?.[0] ?? "";

    switch (urlPath) {
      case "/clientip":
        log("GET /clientip");
        write(res, remoteAddr(req.socket));
        return;

      case "/header": {
        const key = fv("key");
        const headers = goHeader(req);
        if (key !== "") {
          log(`GET /header?key=${textOf(key)}`);
          write(res, headers.get(canonicalHeaderKey(key))?.[0] ?? "");
        } else {
          log("GET /header");
          write(res, goJSONHeader(headers));
        }
        return;
      }

      case "/echo": {
        const msg = fv("msg");
        const codeString = fv("code");
        log(`GET /echo?msg=${textOf(msg)}&code=${textOf(codeString)}`);
        let status = 200;
        if (codeString !== "") {
          const code = goAtoi(codeString);
          if (code === null) {
            write(res, `argument 'code' must be an integer or empty, got ${goQuote(codeString)}\n`);
            return;
          }
          status = writeHeaderCode(req, code);
          if (status < 0) return;
        }
        write(res, msg, status);
        return;
      }

      case "/exit":
        await exitHandler(req, res, fv("code"), fv("timeout"), fv("wait"));
        return;

      case "/healthz":
        log("GET /healthz");
        // With --udp-port=-1 this stays 412, exactly as in agnhost (no UDP server ever
        // becomes ready).
        send(res, udpReady ? 200 : 412);
        return;

      case "/readyz":
        log("GET /readyz");
        if (udpReady) write(res, "ok");
        else send(res, 412);
        return;

      case "/hostname":
        log("GET /hostname");
        write(res, hostname());
        return;

      case "/hostName":
        log("GET /hostName");
        write(res, hostname());
        return;

      case "/redirect": {
        const location = fv("location");
        const codeString = fv("code");
        log(`${req.method} /redirect?msg=${textOf(location)}&code=${textOf(codeString)}`);
        let code = 302;
        if (codeString !== "") {
          const c = goAtoi(codeString);
          if (c === null) {
            write(res, `argument 'code' must be an integer or empty, got ${goQuote(codeString)}\n`);
            return;
          }
          code = writeHeaderCode(req, c);
          if (code < 0) return;
        }
        redirect(req, res, location, code, urlPath);
        return;
      }

      case "/shutdown":
        log("GET /shutdown");
        processExit(0); // os.Exit(0) before any response is written
        return;

      case "/dial":
      case "/shell":
      case "/upload":
        log(`GET ${urlPath}: not supported by klab's built-in netexec`);
        send(
          res,
          501,
          `klab: ${urlPath} is not supported by the built-in agnhost netexec ` +
            `(it would need outbound sockets, a shell or a filesystem inside the pod)\n`,
          "text/plain; charset=utf-8",
        );
        return;

      default:
        // ServeMux's "/" pattern matches every path not registered above, so agnhost
        // answers unknown paths with the timestamp (200), not 404.
        log("GET /");
        write(res, "NOW: " + goTimeString(nowNs(), process.hrtime.bigint() - startHr));
        return;
    }
  }

  async function exitHandler(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    codeString: string,
    timeoutString: string,
    waitString: string,
  ): Promise<void> {
    log(`GET /exit?code=${textOf(codeString)}&timeout=${textOf(timeoutString)}&wait=${textOf(waitString)}`);
    const timeout = timeoutString === "" ? 0n : parseGoDuration(timeoutString);
    if (timeout === null) {
      write(res, `argument 'timeout' must be a valid golang duration or empty, got ${goQuote(timeoutString)}\n`);
      return;
    }
    const wait = waitString === "" ? 0n : parseGoDuration(waitString);
    if (wait === null) {
      write(res, `argument 'wait' must be a valid golang duration or empty, got ${goQuote(waitString)}\n`);
      return;
    }
    const code = codeString === "" ? 0n : goAtoi(codeString);
    if (code === null) {
      write(res, `argument 'code' must be an integer [0-127] or empty, got ${goQuote(codeString)}\n`);
      return;
    }
    log(
      `Will begin shutdown in ${formatGoDuration(wait)}, allowing ${formatGoDuration(timeout)} ` +
        `for connections to close, then will exit with ${code}`,
    );
    if (wait > 0n) await sleep(Number(wait / NS_PER_MS));
    if (exited) return;
    // The kernel keeps the low 8 bits of the exit status (os.Exit(256) exits 0).
    const status = Number(BigInt.asUintN(8, code));
    if (timeout <= 0n) {
      // os.Exit inside the handler: the client gets no response at all.
      processExit(status);
      return;
    }
    if (draining) return; // a second /exit blocks forever on agnhost's unbuffered channel
    // Graceful: stop accepting, answer this request (200, empty), let open
    // connections finish for up to `timeout`, then exit.
    draining = true;
    server.close();
    server.closeIdleConnections();
    res.shouldKeepAlive = false;
    send(res, 200);
    const deadline = Date.now() + Number(timeout / NS_PER_MS);
    let result = "<nil>";
    for (;;) {
      server.closeIdleConnections();
      if (sockets.size === 0 || exited) break;
      if (Date.now() >= deadline) { result = "context deadline exceeded"; break; }
      await sleep(Math.max(1, Math.min(50, deadline - Date.now())));
    }
    if (exited) return;
    log(`Graceful shutdown completed with: ${result}`);
    processExit(status);
  }

  // Go's ResponseWriter.WriteHeader panics on codes outside 100-999; the server then
  // drops the connection. 1xx codes are sent as informational responses in Go and the
  // real status becomes 200 — we skip the informational part.
  function writeHeaderCode(req: http.IncomingMessage, code: bigint): number {
    if (code < 100n || code > 999n) {
      log(`http: panic serving ${remoteAddr(req.socket)}: invalid WriteHeader code ${code}`);
      req.socket.destroy();
      return -1;
    }
    return code < 200n ? 200 : Number(code);
  }

  // ---- UDP server: "hostname", "echo <msg>", "clientip" (case-insensitive, trimmed).

  function onUdpMessage(sock: dgram.Socket, raw: Buffer, rinfo: dgram.RemoteInfo): void {
    const client = hostPort(rinfo.address, rinfo.port);
    const text = goTrimLower(raw.subarray(0, 2048)); // agnhost reads into a 2048-byte buffer
    const reply = (data: Buffer, what: string) =>
      sock.send(data, rinfo.port, rinfo.address, (err) => {
        // agnhost's assertNoError: a failed write is log.Fatalf, exit 1.
        if (err && !exited) fatal(`Error occurred: failed to ${what} UDP client ${client}:write udp ${client}: ${goErr(err)}`);
      });
    const s = text.toString("latin1");
    if (s === "hostname") {
      log("Sending udp hostName response");
      reply(Buffer.from(hostname(), "utf8"), "write hostname to");
    } else if (s.startsWith("echo ")) {
      const resp = text.subarray(5);
      log(`Echoing ${resp.toString("utf8")} to UDP client ${client}`);
      reply(resp, "echo to");
    } else if (s === "clientip") {
      log(`Sending clientip back to UDP client ${client}`);
      reply(Buffer.from(client, "utf8"), "write clientip to");
    } else if (text.length > 0) {
      log(`Unknown UDP command received from ${client}: ${text.toString("utf8")}`);
    }
  }

  // ---- start: HTTP first (agnhost logs "Started HTTP server" before ListenAndServe).

  const result: RunningWorkload = { stop: () => closeAll() };

  log(`Started HTTP server on port ${o.httpPort}`);
  try {
    const target = o.listen("tcp", o.httpPort);
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      const done = () => { server.off("error", reject); resolve(); };
      if ("fd" in target) server.listen({ fd: target.fd }, done);
      else server.listen({ host: target.host, port: target.port }, done);
    });
    const a = server.address();
    if (a && typeof a === "object") result.httpAddress = { port: a.port };
    // Serve() failing later (e.g. accept: too many open files) is log.Fatal in agnhost;
    // without a listener it would also crash the agent, which serves every pod.
    server.on("error", (err) => { if (!exited) fatal(`accept tcp :${o.httpPort}: ${goErr(err)}`); });
  } catch (err) {
    fatal(`listen tcp :${o.httpPort}: ${goErr(err)}`); // log.Fatal(err)
    return result;
  }

  if (o.udpPort) {
    const port = o.udpPort;
    try {
      const target = o.listen("udp", port);
      // The agent's native addon only makes AF_INET sockets, so an fd is always udp4.
      const type = "host" in target && net.isIPv6(target.host) ? "udp6" : "udp4";
      const sock = dgram.createSocket(type);
      udp = sock;
      await new Promise<void>((resolve, reject) => {
        sock.once("error", reject);
        const done = () => { sock.off("error", reject); resolve(); };
        if ("fd" in target) sock.bind({ fd: target.fd }, done);
        else sock.bind({ address: target.host, port: target.port }, done);
      });
      sock.on("message", (msg, rinfo) => { if (!exited) onUdpMessage(sock, msg, rinfo); });
      sock.on("error", (err) => { if (!exited) fatal(`Error occurred: failed accepting UDP connections:${goErr(err)}`); });
      result.udpAddress = { port: sock.address().port };
      log(`Started UDP server on port  ${port}`); // "%s %d" with an empty bind address: two spaces
      udpReady = true;
    } catch (err) {
      fatal(`Error occurred: failed to create listener for UDP address :${port}:listen udp :${port}: ${goErr(err)}`);
      return result;
    }
  }

  return result;
}

// ---------------------------------------------------------------------------
// helpers

function nowNs(): bigint {
  // Date has millisecond resolution; borrow sub-millisecond digits from hrtime so the
  // timestamp looks like Go's nanosecond clock.
  return BigInt(Date.now()) * NS_PER_MS + (process.hrtime.bigint() % NS_PER_MS);
}

/** "ip:port" / "[ip6]:port" like Go's RemoteAddr; IPv4-mapped addresses unmapped as Go does. */
function hostPort(address: string | undefined, port: number | undefined): string {
  let a = address ?? "";
  if (a.toLowerCase().startsWith("::ffff:") && net.isIPv4(a.slice(7))) a = a.slice(7);
  return (a.includes(":") ? `[${a}]` : a) + ":" + String(port ?? 0);
}

function remoteAddr(s: net.Socket): string {
  return hostPort(s.remoteAddress, s.remotePort);
}

/** Go-style error text: "bind: address already in use" rather than Node's wording. */
function goErr(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const byCode: Record<string, string> = {
    EADDRINUSE: "bind: address already in use",
    EACCES: "bind: permission denied",
    EADDRNOTAVAIL: "bind: cannot assign requested address",
    EPERM: "sendto: operation not permitted",
    ENETUNREACH: "sendto: network is unreachable",
    EHOSTUNREACH: "sendto: no route to host",
  };
  if (e && typeof e.code === "string" && byCode[e.code]) return byCode[e.code]!;
  const msg = e && typeof e.message === "string" ? e.message : String(err);
  // The native addon says "bind: Address already in use" (strerror); Go lowercases.
  return msg.replace(/^(\w+): ([A-Z])/, (_m, step: string, c: string) => `${step}: ${c.toLowerCase()}`);
}

function send(res: http.ServerResponse, status: number, body?: string | Buffer, contentType?: string): void {
  if (res.headersSent || res.destroyed) return;
  if (contentType) res.setHeader("Content-Type", contentType);
  // statusCode + end(body) (not writeHead) lets Node add Content-Length as Go does for
  // small bodies, and leave it out for 204/304.
  res.statusCode = status;
  res.end(body);
}

/** fmt.Fprint to a Go ResponseWriter: Content-Type is sniffed from the first bytes. */
function write(res: http.ServerResponse, goString: string, status = 200): void {
  const body = bytesOf(goString);
  if (body.length === 0) send(res, status);
  else send(res, status, body, detectContentType(body));
}

/** Split a request-target into the decoded path (binary string), escaped path and raw query. */
function splitTarget(target: string): { path: string; rawPath: string; rawQuery: string } | null {
  let t = target;
  if (!t.startsWith("/")) {
    // absolute-form ("GET http://host/path HTTP/1.1")
    try {
      const u = new URL(t);
      t = (u.pathname || "/") + u.search;
    } catch {
      return null;
    }
  }
  const q = t.indexOf("?");
  const rawPath = q < 0 ? t : t.slice(0, q);
  const rawQuery = q < 0 ? "" : t.slice(q + 1);
  const p = unescape(rawPath, false);
  return p === null ? null : { path: p, rawPath, rawQuery };
}

/** url.PathUnescape / QueryUnescape into a binary string; null on a bad %-escape. */
function unescape(s: string, plusIsSpace: boolean): string | null {
  let out = "";
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === "%") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) return null;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else if (c === "+" && plusIsSpace) {
      out += " ";
    } else {
      out += c;
    }
  }
  return out;
}

/** url.ParseQuery: "&"-separated; pairs with ";" or bad escapes are dropped. */
function parseQuery(q: string, into: Form): void {
  for (const pair of q.split("&")) {
    if (pair === "" || pair.includes(";")) continue;
    const eq = pair.indexOf("=");
    const k = unescape(eq < 0 ? pair : pair.slice(0, eq), true);
    const v = unescape(eq < 0 ? "" : pair.slice(eq + 1), true);
    if (k === null || v === null) continue;
    const list = into.get(k);
    if (list) list.push(v);
    else into.set(k, [v]);
  }
}

/** r.ParseForm: urlencoded POST/PUT/PATCH body values come before query values. */
async function readForm(req: http.IncomingMessage, rawQuery: string): Promise<Form> {
  const form: Form = new Map();
  const ct = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
  if (["POST", "PUT", "PATCH"].includes(req.method ?? "") && ct === "application/x-www-form-urlencoded") {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      n += chunk.length;
      if (n > MAX_FORM_BYTES) break;
      chunks.push(chunk);
    }
    parseQuery(Buffer.concat(chunks).toString("latin1"), form);
  }
  const query: Form = new Map();
  parseQuery(rawQuery, query);
  for (const [k, vs] of query) {
    const list = form.get(k);
    if (list) list.push(...vs);
    else form.set(k, vs);
  }
  return form;
}

/** r.Header as Go builds it: canonical keys, Host and Transfer-Encoding taken out. */
function goHeader(req: http.IncomingMessage): Map<string, string[]> {
  const h = new Map<string, string[]>();
  const raw = req.rawHeaders;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const k = canonicalHeaderKey(raw[i]!);
    if (k === "Host" || k === "Transfer-Encoding") continue;
    const list = h.get(k);
    if (list) list.push(raw[i + 1]!);
    else h.set(k, [raw[i + 1]!]);
  }
  return h;
}

/** path.Clean with a leading "/" and the trailing slash kept (net/http cleanPath). */
function cleanPath(p: string): string {
  if (p === "") return "/";
  if (!p.startsWith("/")) p = "/" + p;
  let np = path.normalize(p);
  if (np.length > 1 && np.endsWith("/")) np = np.replace(/\/+$/, "");
  if (p.endsWith("/") && np !== "/") np += "/";
  return np;
}

const STATUS_TEXT = http.STATUS_CODES;

/** http.Redirect, including its relative-URL resolution and tiny HTML body for GET. */
function redirect(req: http.IncomingMessage, res: http.ServerResponse, url: string, code: number, reqPath: string): void {
  let u = url;
  const hasScheme = /^[a-zA-Z][a-zA-Z0-9+.-]*:/.test(u);
  const hasHost = u.startsWith("//");
  if (!hasScheme && !hasHost) {
    const oldPath = reqPath === "" ? "/" : reqPath;
    if (u === "" || u[0] !== "/") u = oldPath.slice(0, oldPath.lastIndexOf("/") + 1) + u;
    let query = "";
    const qi = u.indexOf("?");
    if (qi !== -1) { query = u.slice(qi); u = u.slice(0, qi); }
    const trailing = u.endsWith("/");
    u = path.normalize(u);
    if (u.length > 1 && u.endsWith("/")) u = u.slice(0, -1);
    if (trailing && !u.endsWith("/")) u += "/";
    u += query;
  }
  // hexEscapeNonASCII: Location must be ASCII
  let loc = "";
  for (const ch of u) loc += ch.charCodeAt(0) >= 0x80 ? "%" + ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0") : ch;
  res.setHeader("Location", loc);
  const method = req.method ?? "GET";
  if (method === "GET" || method === "HEAD") res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.statusCode = code;
  if (method === "GET") {
    res.end(`<a href="${htmlEscape(loc)}">${STATUS_TEXT[code] ?? ""}</a>.\n\n`);
  } else {
    res.end();
  }
}

function htmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&#34;")
    .replace(/'/g, "&#39;");
}
