import t from "tap";
import dgram from "node:dgram";
import http from "node:http";
import net from "node:net";
import { closeSync } from "node:fs";
import { createRequire } from "node:module";
import { startNetexec, type NetexecOptions, type RunningWorkload } from "../../src/workloads/netexec.js";

const LOG_PREFIX = /^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d /;

interface Harness {
  w: RunningWorkload;
  http: number;
  udp: number;
  logs: string[]; // without the Go log prefix
  rawLogs: string[];
  exits: number[];
  exited: Promise<number>;
}

async function start(over: Partial<NetexecOptions> = {}): Promise<Harness> {
  const logs: string[] = [];
  const rawLogs: string[] = [];
  const exits: number[] = [];
  let onExit!: (c: number) => void;
  const exited = new Promise<number>((r) => (onExit = r));
  const w = await startNetexec({
    podName: "pod-a",
    httpPort: 8080,
    udpPort: 8081,
    listen: () => ({ host: "127.0.0.1", port: 0 }),
    log: (l) => { rawLogs.push(l); logs.push(l.replace(LOG_PREFIX, "")); },
    exit: (c) => { exits.push(c); onExit(c); },
    ...over,
  });
  return { w, http: w.httpAddress?.port ?? 0, udp: w.udpAddress?.port ?? 0, logs, rawLogs, exits, exited };
}

interface Res { status: number; headers: http.IncomingHttpHeaders; body: string; bytes: Buffer }

function get(port: number, path: string, opt: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path, method: opt.method ?? "GET", headers: opt.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () => {
        const bytes = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: bytes.toString("utf8"), bytes });
      });
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(opt.body);
  });
}

/** Send exact request bytes; resolves with the raw response and our local port. */
function raw(port: number, request: string): Promise<{ text: string; localPort: number }> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, "127.0.0.1");
    let text = "";
    let localPort = 0;
    s.on("connect", () => { localPort = s.localPort ?? 0; s.write(request); });
    s.on("data", (d) => (text += d.toString("latin1")));
    s.on("end", () => resolve({ text, localPort }));
    s.on("error", reject);
  });
}

function bodyOf(rawResponse: string): string {
  return rawResponse.slice(rawResponse.indexOf("\r\n\r\n") + 4);
}

function udp(port: number, msg: string | Buffer, waitMs = 1000): Promise<{ reply: Buffer | null; localPort: number }> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket("udp4");
    const timer = setTimeout(() => { const lp = s.address().port; s.close(); resolve({ reply: null, localPort: lp }); }, waitMs);
    s.on("message", (m) => { clearTimeout(timer); const lp = s.address().port; s.close(); resolve({ reply: m, localPort: lp }); });
    s.on("error", (e) => { clearTimeout(timer); s.close(); reject(e); });
    s.bind(0, "127.0.0.1", () => s.send(msg, port, "127.0.0.1"));
  });
}

const refused = (port: number) =>
  new Promise<string>((resolve) => {
    const s = net.connect(port, "127.0.0.1");
    s.on("connect", () => { s.destroy(); resolve("connected"); });
    s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
  });

t.test("startup logs and ports", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  t.ok(h.http > 0 && h.udp > 0, "reports the real bound ports");
  t.same(h.logs, ["Started HTTP server on port 8080", "Started UDP server on port  8081"]);
  t.match(h.rawLogs[0], LOG_PREFIX, "Go log prefix");
});

t.test("/ and unknown paths answer NOW: like Go's ServeMux catch-all", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  const NOW = /^NOW: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{1,9})? \+0000 UTC m=\+\d+\.\d{9}$/;
  const r = await get(h.http, "/");
  t.equal(r.status, 200);
  t.match(r.body, NOW);
  t.equal(r.headers["content-type"], "text/plain; charset=utf-8");
  const u = await get(h.http, "/no/such/path");
  t.equal(u.status, 200, "agnhost has no 404: \"/\" matches everything");
  t.match(u.body, NOW);
  t.equal((await get(h.http, "/hostname/")).body.slice(0, 4), "NOW:", "exact patterns only");
  t.equal(h.logs.filter((l) => l === "GET /").length, 3);
});

t.test("/hostname and /hostName", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  for (const p of ["/hostname", "/hostName"]) {
    const r = await get(h.http, p);
    t.equal(r.status, 200);
    t.equal(r.body, "pod-a", "no trailing newline");
    t.equal(r.headers["content-length"], "5");
    t.equal(r.headers["content-type"], "text/plain; charset=utf-8");
  }
  const r = await get(h.http, "/hostname", { method: "POST" });
  t.equal(r.body, "pod-a", "any method, like Go handlers");
  t.ok(h.logs.includes("GET /hostname") && h.logs.includes("GET /hostName") && h.logs.includes("hostname: pod-a"));
});

t.test("/clientip is the client's ip:port", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  const r = await raw(h.http, "GET /clientip HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  t.match(r.text, /^HTTP\/1\.1 200 OK\r\n/);
  t.equal(bodyOf(r.text), `127.0.0.1:${r.localPort}`);
  t.ok(h.logs.includes("GET /clientip"));
});

t.test("/echo", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  let r = await get(h.http, "/echo?msg=hello");
  t.equal(r.status, 200);
  t.equal(r.body, "hello");
  t.ok(h.logs.includes("GET /echo?msg=hello&code="));

  r = await get(h.http, "/echo?msg=a+b%21%C3%A9");
  t.equal(r.body, "a b!é", "query unescaping, UTF-8 bytes kept");

  r = await get(h.http, "/echo?msg=not+here&code=404");
  t.equal(r.status, 404);
  t.equal(r.body, "not here");
  t.ok(h.logs.includes("GET /echo?msg=not here&code=404"));

  r = await get(h.http, "/echo?code=204&msg=dropped");
  t.equal(r.status, 204);
  t.equal(r.body, "");

  r = await get(h.http, "/echo?msg=x&code=abc");
  t.equal(r.status, 200);
  t.equal(r.body, `argument 'code' must be an integer or empty, got "abc"\n`);

  r = await get(h.http, "/echo?msg=two%0Alines");
  t.equal(r.body, "two\nlines");
  t.ok(h.logs.includes("GET /echo?msg=two") && h.logs.includes("lines&code="), "log.Printf prints embedded newlines");

  r = await get(h.http, "/echo?msg=<html><body>hi");
  t.equal(r.headers["content-type"], "text/html; charset=utf-8", "Go content sniffing");

  r = await get(h.http, "/echo");
  t.equal(r.status, 200);
  t.equal(r.body, "");
  t.equal(r.headers["content-length"], "0");
  t.notOk(r.headers["content-type"], "nothing written, nothing sniffed");

  r = await get(h.http, "/echo?msg=fromQuery", {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: "msg=fromBody",
  });
  t.equal(r.body, "fromBody", "FormValue prefers the urlencoded body");

  await t.rejects(get(h.http, "/echo?msg=x&code=42"), "WriteHeader(42) panics in Go: connection dropped");
  t.ok(h.logs.some((l) => /^http: panic serving 127\.0\.0\.1:\d+: invalid WriteHeader code 42$/.test(l)));
});

t.test("/header", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  let r = await get(h.http, "/header?key=X-Forwarded-For", { headers: { "X-Forwarded-For": "1.2.3.4" } });
  t.equal(r.body, "1.2.3.4");
  t.ok(h.logs.includes("GET /header?key=X-Forwarded-For"));

  r = await get(h.http, "/header?key=x-forwarded-for", { headers: { "x-forwarded-for": "5.6.7.8" } });
  t.equal(r.body, "5.6.7.8", "canonical key lookup");

  r = await get(h.http, "/header?key=X-Missing");
  t.equal(r.status, 200);
  t.equal(r.body, "");

  const x = await raw(
    h.http,
    "GET /header HTTP/1.1\r\nHost: x\r\nuser-agent: t/1\r\nx-test: a\r\nX-TEST: <&>\r\nConnection: close\r\n\r\n",
  );
  t.equal(
    bodyOf(x.text),
    '{"Connection":["close"],"User-Agent":["t/1"],"X-Test":["a","\\u003c\\u0026\\u003e"]}',
    "json.Marshal(r.Header): sorted canonical keys, no Host, HTML-escaped",
  );
  t.ok(h.logs.includes("GET /header"));
});

t.test("/healthz and /readyz follow the UDP server", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  let r = await get(h.http, "/healthz");
  t.equal(r.status, 200);
  t.equal(r.body, "");
  r = await get(h.http, "/readyz");
  t.equal(r.status, 200);
  t.equal(r.body, "ok");

  const noUdp = await start({ udpPort: null, listen: (kind) => { t.equal(kind, "tcp", "no UDP socket requested"); return { host: "127.0.0.1", port: 0 }; } });
  t.teardown(() => noUdp.w.stop());
  t.equal(noUdp.w.udpAddress, undefined);
  t.same(noUdp.logs, ["Started HTTP server on port 8080"]);
  t.equal((await get(noUdp.http, "/healthz")).status, 412, "agnhost with --udp-port=-1 is never healthy");
  t.equal((await get(noUdp.http, "/readyz")).status, 412);
});

t.test("/redirect and unclean paths", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  let r = await get(h.http, "/redirect?location=/echo%3Fmsg%3Dfoobar&code=307");
  t.equal(r.status, 307);
  t.equal(r.headers.location, "/echo?msg=foobar");
  t.equal(r.body, '<a href="/echo?msg=foobar">Temporary Redirect</a>.\n\n');
  t.ok(h.logs.includes("GET /redirect?msg=/echo?msg=foobar&code=307"));

  r = await get(h.http, "/redirect?location=hostname");
  t.equal(r.status, 302, "default 302");
  t.equal(r.headers.location, "/hostname", "relative to the request directory");

  r = await get(h.http, "//hostname?x=1");
  t.equal(r.status, 301, "ServeMux cleans paths");
  t.equal(r.headers.location, "/hostname?x=1");
});

t.test("/exit?code=N exits at once, without a response (os.Exit)", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  await t.rejects(get(h.http, "/exit?code=3"), "connection closed with no reply, like agnhost");
  t.equal(await h.exited, 3);
  t.same(h.exits, [3]);
  t.ok(h.logs.includes("GET /exit?code=3&timeout=&wait="));
  t.ok(h.logs.includes("Will begin shutdown in 0s, allowing 0s for connections to close, then will exit with 3"));
  t.equal(await refused(h.http), "ECONNREFUSED", "sockets are gone with the process");
  await h.w.stop(); // the agent stops it again: harmless
  t.same(h.exits, [3], "exit reported once");
});

t.test("/exit with timeout shuts down gracefully and answers first", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  const r = await get(h.http, "/exit?code=4&timeout=2s&wait=10ms");
  t.equal(r.status, 200);
  t.equal(r.body, "");
  t.equal(r.headers.connection, "close");
  t.equal(await h.exited, 4);
  t.ok(h.logs.includes("Will begin shutdown in 10ms, allowing 2s for connections to close, then will exit with 4"));
  t.ok(h.logs.includes("Graceful shutdown completed with: <nil>"));
});

t.test("/exit argument errors and exit-code truncation", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  let r = await get(h.http, "/exit?code=abc");
  t.equal(r.status, 200);
  t.equal(r.body, `argument 'code' must be an integer [0-127] or empty, got "abc"\n`);
  r = await get(h.http, "/exit?timeout=5x");
  t.equal(r.body, `argument 'timeout' must be a valid golang duration or empty, got "5x"\n`);
  r = await get(h.http, "/exit?wait=soon");
  t.equal(r.body, `argument 'wait' must be a valid golang duration or empty, got "soon"\n`);
  t.same(h.exits, [], "no exit on bad arguments");
  await t.rejects(get(h.http, "/exit?code=300"));
  t.equal(await h.exited, 44, "the kernel keeps the low 8 bits (300 & 0xff)");
});

t.test("/shutdown exits 0 with no response", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  await t.rejects(get(h.http, "/shutdown"));
  t.equal(await h.exited, 0);
  t.ok(h.logs.includes("GET /shutdown"));
});

t.test("/dial, /shell and /upload are refused plainly", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  for (const p of ["/dial?host=1.2.3.4&port=80&request=hostname", "/shell?cmd=ls", "/upload"]) {
    const r = await get(h.http, p);
    t.equal(r.status, 501, p);
    t.match(r.body, /not supported by the built-in agnhost netexec/);
  }
});

t.test("UDP commands", async (t) => {
  const h = await start();
  t.teardown(() => h.w.stop());
  let r = await udp(h.udp, "hostname");
  t.equal(r.reply?.toString(), "pod-a");
  r = await udp(h.udp, "  HostName\n");
  t.equal(r.reply?.toString(), "pod-a", "trimmed and case-insensitive");
  r = await udp(h.udp, "echo Hello World");
  t.equal(r.reply?.toString(), "hello world", "agnhost lowercases the whole datagram, echo text included");
  r = await udp(h.udp, "clientip");
  t.equal(r.reply?.toString(), `127.0.0.1:${r.localPort}`);
  r = await udp(h.udp, "bogus", 200);
  t.equal(r.reply, null, "unknown commands get no reply");
  t.ok(h.logs.includes(`Unknown UDP command received from 127.0.0.1:${r.localPort}: bogus`));
  t.ok(h.logs.includes("Sending udp hostName response"));
  t.ok(h.logs.some((l) => /^Echoing hello world to UDP client 127\.0\.0\.1:\d+$/.test(l)));
  t.ok(h.logs.some((l) => /^Sending clientip back to UDP client 127\.0\.0\.1:\d+$/.test(l)));
});

t.test("stop() closes listeners and keep-alive connections quickly", async (t) => {
  const h = await start();
  // A keep-alive connection that stays open (Go has no idle timeout).
  const s = net.connect(h.http, "127.0.0.1");
  const closed = new Promise<void>((r) => s.on("close", () => r()));
  s.on("error", () => undefined);
  await new Promise<void>((r) => s.on("connect", () => r()));
  const first = new Promise<string>((r) => s.once("data", (d) => r(d.toString())));
  s.write("GET /hostname HTTP/1.1\r\nHost: x\r\n\r\n");
  t.match(await first, /\r\n\r\npod-a$/);
  const t0 = Date.now();
  await h.w.stop();
  await closed;
  t.ok(Date.now() - t0 < 1000, "stop is quick");
  t.equal(await refused(h.http), "ECONNREFUSED");
  await h.w.stop();
  t.same(h.exits, [], "stop() is not an exit");
});

t.test("bind failure: logged like log.Fatal, exit 1", async (t) => {
  const blocker = net.createServer();
  await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", () => r()));
  t.teardown(() => new Promise<void>((r) => blocker.close(() => r())));
  const port = (blocker.address() as net.AddressInfo).port;
  const h = await start({ listen: () => ({ host: "127.0.0.1", port }) });
  t.equal(await h.exited, 1);
  t.same(h.logs, ["Started HTTP server on port 8080", "listen tcp :8080: bind: address already in use"]);

  const h2 = await start({
    listen: (kind) => {
      if (kind === "udp") throw Object.assign(new Error("bind: Address already in use"), { code: "E98" });
      return { host: "127.0.0.1", port: 0 };
    },
  });
  t.equal(await h2.exited, 1);
  t.equal(h2.logs[1], "Error occurred: failed to create listener for UDP address :8081:listen udp :8081: bind: address already in use");
  t.equal(await refused(h2.http), "ECONNREFUSED", "the HTTP side went down with it");
});

t.test("serves sockets handed over as fds (the agent's path)", async (t) => {
  let native: { socketInNetns(ns: string, kind: string, addr: string, port: number): number };
  try {
    native = createRequire(import.meta.url)("../../native/build/Release/klab_netns.node");
    closeSync(native.socketInNetns("/proc/self/ns/net", "udp", "127.0.0.1", 0)); // needs CAP_SYS_ADMIN
  } catch (e) {
    t.skip(`native addon unavailable or not permitted: ${(e as Error).message}`);
    return;
  }
  const h = await start({ listen: (kind) => ({ fd: native.socketInNetns("/proc/self/ns/net", kind, "127.0.0.1", 0) }) });
  t.teardown(() => h.w.stop());
  t.equal((await get(h.http, "/hostname")).body, "pod-a");
  t.equal((await udp(h.udp, "hostname")).reply?.toString(), "pod-a");
  await h.w.stop();
  t.equal(await refused(h.http), "ECONNREFUSED");
});
