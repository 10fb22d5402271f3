import t from "tap";
import {
  canonicalHeaderKey,
  decodeRunes,
  detectContentType,
  formatGoDuration,
  goAtoi,
  goJSONHeader,
  goLogPrefix,
  goParseIntBase0,
  goQuote,
  goTimeString,
  goTrimLower,
  parseGoDuration,
  textOf,
} from "../../src/workloads/goformat.js";

const bin = (s: string) => Buffer.from(s, "utf8").toString("latin1"); // text -> Go byte string

t.test("time.ParseDuration", async (t) => {
  const cases: [string, bigint | null][] = [
    ["0", 0n], ["-0", 0n], ["1s", 1_000_000_000n], ["1.5s", 1_500_000_000n], [".5s", 500_000_000n],
    ["1.s", 1_000_000_000n], ["1h30m", 5_400_000_000_000n], ["10ms", 10_000_000n], ["1us", 1000n],
    ["1\u00b5s", 1000n], ["1\u03bcs", 1000n], ["7ns", 7n], ["-2m", -120_000_000_000n], ["+3s", 3_000_000_000n],
    ["", null], ["5", null], ["5x", null], [".s", null], ["s", null], ["1s2", null], ["-", null],
    ["9223372036854775807ns", 9223372036854775807n], ["9223372036854775808ns", null],
    ["-9223372036854775808ns", -9223372036854775808n],
  ];
  for (const [s, want] of cases) t.equal(parseGoDuration(s), want, JSON.stringify(s));
});

t.test("time.Duration.String", async (t) => {
  const cases: [bigint, string][] = [
    [0n, "0s"], [7n, "7ns"], [1000n, "1\u00b5s"], [1500n, "1.5\u00b5s"], [10_000_000n, "10ms"],
    [1_500_000_000n, "1.5s"], [90_000_000_000n, "1m30s"], [3_600_000_000_000n, "1h0m0s"],
    [5_400_000_000_001n, "1h30m0.000000001s"], [-2_000_000_000n, "-2s"],
  ];
  for (const [d, want] of cases) t.equal(formatGoDuration(d), want, want);
});

t.test("strconv", async (t) => {
  t.equal(goAtoi("42"), 42n);
  t.equal(goAtoi("-7"), -7n);
  t.equal(goAtoi("+7"), 7n);
  t.equal(goAtoi("4 2"), null);
  t.equal(goAtoi("0x10"), null);
  t.equal(goAtoi("9223372036854775808"), null);
  const base0: [string, bigint | null][] = [
    ["8080", 8080n], ["0x1F90", 8080n], ["017", 15n], ["0o17", 15n], ["0b11", 3n], ["8_080", 8080n],
    ["0x_1F90", 8080n], ["0", 0n], ["-1", -1n], ["+80", 80n], ["08", null], ["_8080", null],
    ["8080_", null], ["8__0", null], ["0x", null], ["abc", null], ["", null],
  ];
  for (const [s, want] of base0) t.equal(goParseIntBase0(s), want, JSON.stringify(s));
});

t.test("%q", async (t) => {
  t.equal(goQuote("abc"), '"abc"');
  t.equal(goQuote('a"b\\c'), '"a\\"b\\\\c"');
  t.equal(goQuote("\n\t\x00\x7f"), '"\\n\\t\\x00\\x7f"');
  t.equal(textOf(goQuote(bin("é"))), '"é"', "printable UTF-8 kept");
  t.equal(goQuote("\xff"), '"\\xff"', "invalid UTF-8 byte");
  t.equal(goQuote(bin("\u200b")), '"\\u200b"', "non-printable rune");
});

t.test("UTF-8 decoding follows Go", async (t) => {
  t.same(decodeRunes(Buffer.from([0x61, 0xc3, 0xa9, 0xff, 0xe2, 0x82])).map((r) => r.r), [0x61, 0xe9, -1, -1, -1]);
  t.same(decodeRunes(Buffer.from([0xed, 0xa0, 0x80])).map((r) => r.r), [-1, -1, -1], "surrogates are invalid");
  t.same(decodeRunes(Buffer.from([0xf0, 0x9f, 0x98, 0x80])).map((r) => r.r), [0x1f600]);
});

t.test("strings.ToLower(strings.TrimSpace)", async (t) => {
  t.equal(goTrimLower(Buffer.from("  HostName\r\n")).toString(), "hostname");
  t.equal(goTrimLower(Buffer.from("ECHO ÀB\u00a0")).toString(), "echo àb", "unicode space and case");
  t.same([...goTrimLower(Buffer.from([0x41, 0xff, 0xc3, 0x80]))], [0x61, 0xef, 0xbf, 0xbd, 0xc3, 0xa0], "invalid byte becomes U+FFFD");
});

t.test("headers and JSON", async (t) => {
  t.equal(canonicalHeaderKey("x-forwarded-for"), "X-Forwarded-For");
  t.equal(canonicalHeaderKey("USER-AGENT"), "User-Agent");
  t.equal(canonicalHeaderKey("bad key"), "bad key", "invalid keys unchanged");
  const h = new Map([["X-B", ["<b>", "x&y"]], ["Accept", ["*/*"]], ["X-U", [bin("é")]]]);
  t.equal(textOf(goJSONHeader(h)), '{"Accept":["*/*"],"X-B":["\\u003cb\\u003e","x\\u0026y"],"X-U":["é"]}');
  t.equal(goJSONHeader(new Map([["X", ["\xff"]]])), '{"X":["\\ufffd"]}');
});

t.test("time and log formats", async (t) => {
  const wall = BigInt(Date.UTC(2024, 0, 2, 3, 4, 5)) * 1_000_000n + 120_000_000n;
  t.equal(goTimeString(wall, 1_500_000_000n), "2024-01-02 03:04:05.12 +0000 UTC m=+1.500000000");
  t.equal(goTimeString(wall - 120_000_000n, 0n), "2024-01-02 03:04:05 +0000 UTC m=+0.000000000");
  t.equal(goLogPrefix(new Date(Date.UTC(2024, 10, 9, 8, 7, 6))), "2024/11/09 08:07:06 ");
});

t.test("http.DetectContentType", async (t) => {
  t.equal(detectContentType(Buffer.from("hello")), "text/plain; charset=utf-8");
  t.equal(detectContentType(Buffer.from("  <HTML><body>")), "text/html; charset=utf-8");
  t.equal(detectContentType(Buffer.from("<a href=x>")), "text/html; charset=utf-8");
  t.equal(detectContentType(Buffer.from("<abc>")), "text/plain; charset=utf-8");
  t.equal(detectContentType(Buffer.from("<?xml version=1>")), "text/xml; charset=utf-8");
  t.equal(detectContentType(Buffer.from("%PDF-1.4")), "application/pdf");
  t.equal(detectContentType(Buffer.from([0x00, 0x01])), "application/octet-stream");
  t.equal(detectContentType(Buffer.from('{"a":1}')), "text/plain; charset=utf-8", "Go doesn't sniff JSON");
});
