// Reading the output of ping, curl and nc, and the reports.
import t from "tap";
import { judgeHttp, parseHttpResponse, parsePing, parseTcp, parseUdp, curlError } from "../../src/checks/probes.js";
import { jsonReport, junitReport, tableReport } from "../../src/checks/report.js";
import type { CheckResult } from "../../src/checks/runner.js";

t.test("ping", async (t) => {
  t.same(parsePing("64 bytes from 10.244.1.2: icmp_seq=1 ttl=62 time=0.512 ms\n", 0), { ok: true, observed: "reply in 0.512 ms" });
  t.same(parsePing("From 10.244.0.1 icmp_seq=1 Destination Host Unreachable\n", 1), { ok: false, observed: "destination host unreachable (from 10.244.0.1)" });
  t.same(parsePing("1 packets transmitted, 0 received, 100% packet loss", 1), { ok: false, observed: "no reply (100% packet loss)" });
});

const http = (status?: number, bodyContains?: string, bodyMatches?: string, headers?: Record<string, string>) =>
  ({ kind: "http" as const, url: "http://x/", method: "GET", status, bodyContains, bodyMatches, headers });

t.test("http", async (t) => {
  const raw = "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\nweb";
  t.same(parseHttpResponse(raw), { status: 200, reason: "OK", headers: { "content-type": "text/plain; charset=utf-8", "content-length": "3" }, body: "web" });
  t.equal(parseHttpResponse("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n\r\nok")!.status, 201, "the last response counts");
  t.equal(judgeHttp(http(200, "we"), raw, "", 0).ok, true);
  t.match(judgeHttp(http(404), raw, "", 0), { ok: false, mismatch: "expected status 404, got 200" });
  t.match(judgeHttp(http(undefined, "nope"), raw, "", 0), { ok: false, mismatch: 'body does not contain "nope"' });
  t.match(judgeHttp(http(undefined, undefined, "^w.b$"), raw, "", 0), { ok: true });
  t.match(judgeHttp(http(undefined, undefined, undefined, { "Content-Type": "json" }), raw, "", 0), { ok: false });
  t.match(judgeHttp(http(), "HTTP/1.1 503 Service Unavailable\r\n\r\n", "", 0), { ok: false, mismatch: "expected status 2xx/3xx, got 503" });
  t.equal(curlError("curl: (7) Failed to connect to 10.0.0.1 port 80 after 0 ms: Connection refused", 7), "connection refused");
  t.equal(curlError("curl: (28) Connection timed out after 1001 milliseconds", 28), "timed out");
  t.match(judgeHttp(http(), "", "curl: (28) Connection timed out after 1001 milliseconds", 28), { ok: false, observed: "timed out" });
});

t.test("tcp and udp", async (t) => {
  t.same(parseTcp("Connection to 10.0.0.1 8080 port [tcp/*] succeeded!", 0), { ok: true, observed: "connected" });
  t.same(parseTcp("nc: connect to 10.0.0.1 port 9 (tcp) failed: Connection refused", 1), { ok: false, observed: "connection refused" });
  t.same(parseTcp("nc: connect to 10.0.0.1 port 9 (tcp) failed: No route to host", 1), { ok: false, observed: "no route to host" });
  t.same(parseTcp("nc: connect to 10.0.0.1 port 9 (tcp) timed out: Operation now in progress", 1), { ok: false, observed: "timed out" });
  const udp = { kind: "udp" as const, target: { kind: "ip" as const, ip: "1.2.3.4" }, port: 1, send: "hostname", replyContains: "web" };
  t.same(parseUdp(udp, "web-1", ""), { ok: true, observed: 'reply "web-1"' });
  t.match(parseUdp(udp, "db", ""), { ok: false, mismatch: 'reply does not contain "web"' });
  t.same(parseUdp(udp, "", ""), { ok: false, observed: "no reply" });
});

const results: CheckResult[] = [
  { name: "ok one", from: "pod/default/a", probe: "ping 10.244.0.3", expect: "succeed", passed: true, observed: "reply in 0.1 ms", attempts: 1, durationMs: 12 },
  { name: "bad <one>", from: "node/node1", probe: "tcp 10.244.0.3:80", expect: "fail", passed: false, observed: "connected", reason: "expected to fail, but it succeeded: connected", attempts: 1, durationMs: 5 },
  { name: "mx", probe: "matrix ping", expect: "succeed", passed: true, observed: "4/4 pairs reachable", attempts: 1, durationMs: 30,
    matrix: { protocol: "ping", from: ["default/a", "default/b"], to: ["default/a", "default/b"], cells: [[true, true], [true, true]] } },
];

t.test("reports", async (t) => {
  const table = tableReport(results, "lab");
  t.match(table, /✔ ok one/);
  t.match(table, /✖ bad <one>/);
  t.match(table, /expected to fail, but it succeeded: connected/);
  t.match(table, /from \\ to {2}a {2}b/);
  t.match(table, /\n2 passed, 1 failed\n$/);
  const json = JSON.parse(jsonReport(results, "lab"));
  t.same([json.passed, json.failed, json.checks.length], [2, 1, 3]);
  const xml = junitReport(results, "lab");
  t.match(xml, /<testsuite name="lab" tests="3" failures="1"/);
  t.match(xml, /name="bad &lt;one&gt;"/);
  t.match(xml, /<failure message="expected to fail, but it succeeded: connected">/);
});
