// Go-compatible formatting and parsing helpers for the built-in agnhost workloads.
// agnhost is a Go program; users diff our output against the real image, so the
// small things (time.Time.String, Duration.String, %q, log prefixes, JSON escaping,
// content sniffing) follow the Go standard library rather than Node's defaults.
//
// Go strings are byte strings. We model them as "binary" JS strings (one char per
// byte, latin1), which is also how node:http hands us header values, so echoed
// bytes come back exactly as they were sent.

/** Bytes of a binary (latin1) string. */
export function bytesOf(s: string): Buffer {
  return Buffer.from(s, "latin1");
}

/** Human-readable form of a binary string, for log lines (invalid UTF-8 -> U+FFFD). */
export function textOf(s: string): string {
  return bytesOf(s).toString("utf8");
}

// ---------------------------------------------------------------------------
// UTF-8 decoding with Go's rules (utf8.DecodeRune): each invalid byte decodes to
// RuneError with width 1, which matters for %q, strings.ToLower and encoding/json.

export interface GoRune {
  r: number; // code point, or -1 for an invalid byte
  b: Buffer; // the bytes it came from
}

export function decodeRunes(buf: Buffer): GoRune[] {
  const out: GoRune[] = [];
  let i = 0;
  while (i < buf.length) {
    const c0 = buf[i]!;
    if (c0 < 0x80) {
      out.push({ r: c0, b: buf.subarray(i, i + 1) });
      i += 1;
      continue;
    }
    let need = 0;
    let min = 0;
    let cp = 0;
    if (c0 >= 0xc2 && c0 <= 0xdf) { need = 1; min = 0x80; cp = c0 & 0x1f; }
    else if (c0 >= 0xe0 && c0 <= 0xef) { need = 2; min = 0x800; cp = c0 & 0x0f; }
    else if (c0 >= 0xf0 && c0 <= 0xf4) { need = 3; min = 0x10000; cp = c0 & 0x07; }
    let ok = need > 0 && i + need < buf.length;
    for (let k = 1; ok && k <= need; k++) {
      const c = buf[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) ok = false;
      else cp = (cp << 6) | (c & 0x3f);
    }
    if (ok && (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))) ok = false;
    if (ok) {
      out.push({ r: cp, b: buf.subarray(i, i + need + 1) });
      i += need + 1;
    } else {
      out.push({ r: -1, b: buf.subarray(i, i + 1) });
      i += 1;
    }
  }
  return out;
}

const RUNE_ERROR_BYTES = Buffer.from([0xef, 0xbf, 0xbd]);

// unicode.IsSpace
function isGoSpace(r: number): boolean {
  return (
    (r >= 0x09 && r <= 0x0d) || r === 0x20 || r === 0x85 || r === 0xa0 || r === 0x1680 ||
    (r >= 0x2000 && r <= 0x200a) || r === 0x2028 || r === 0x2029 || r === 0x202f ||
    r === 0x205f || r === 0x3000
  );
}

/** strings.ToLower(strings.TrimSpace(s)) on bytes, as agnhost does to UDP commands. */
export function goTrimLower(buf: Buffer): Buffer {
  let runes = decodeRunes(buf);
  let a = 0;
  let z = runes.length;
  while (a < z && isGoSpace(runes[a]!.r)) a++;
  while (z > a && isGoSpace(runes[z - 1]!.r)) z--;
  runes = runes.slice(a, z);
  if (runes.every((x) => x.r >= 0 && x.r < 0x80)) {
    // ASCII fast path, like Go: only A-Z change.
    return Buffer.from(runes.map((x) => (x.r >= 0x41 && x.r <= 0x5a ? x.r + 0x20 : x.r)));
  }
  // strings.Map(unicode.ToLower): invalid bytes come out as U+FFFD.
  return Buffer.concat(
    runes.map((x) => {
      if (x.r < 0) return RUNE_ERROR_BYTES;
      const lower = String.fromCodePoint(x.r).toLowerCase();
      return Buffer.from(String.fromCodePoint(lower.codePointAt(0)!), "utf8");
    }),
  );
}

// ---------------------------------------------------------------------------
// fmt %q (strconv.Quote)

const PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** fmt's %q of a Go string; returns a binary string (printable UTF-8 kept as bytes). */
export function goQuote(s: string): string {
  let out = '"';
  for (const { r, b } of decodeRunes(bytesOf(s))) {
    if (r < 0) { out += "\\x" + b[0]!.toString(16).padStart(2, "0"); continue; }
    if (r === 0x22) { out += '\\"'; continue; }
    if (r === 0x5c) { out += "\\\\"; continue; }
    if (r >= 0x20 && r < 0x7f) { out += String.fromCharCode(r); continue; }
    const ch = String.fromCodePoint(r);
    if (r >= 0x80 && PRINTABLE.test(ch)) { out += b.toString("latin1"); continue; }
    switch (r) {
      case 0x07: out += "\\a"; continue;
      case 0x08: out += "\\b"; continue;
      case 0x0c: out += "\\f"; continue;
      case 0x0a: out += "\\n"; continue;
      case 0x0d: out += "\\r"; continue;
      case 0x09: out += "\\t"; continue;
      case 0x0b: out += "\\v"; continue;
    }
    if (r < 0x20 || r === 0x7f) out += "\\x" + r.toString(16).padStart(2, "0");
    else if (r < 0x10000) out += "\\u" + r.toString(16).padStart(4, "0");
    else out += "\\U" + r.toString(16).padStart(8, "0");
  }
  return out + '"';
}

// ---------------------------------------------------------------------------
// encoding/json string encoding (json.Marshal escapes HTML characters by default)

/** A Go string as a JSON string literal; input and output are binary strings. */
export function goJSONString(s: string): string {
  let out = '"';
  for (const { r, b } of decodeRunes(bytesOf(s))) {
    if (r < 0) { out += "\\ufffd"; continue; }
    switch (r) {
      case 0x22: out += '\\"'; continue;
      case 0x5c: out += "\\\\"; continue;
      case 0x08: out += "\\b"; continue;
      case 0x0c: out += "\\f"; continue;
      case 0x0a: out += "\\n"; continue;
      case 0x0d: out += "\\r"; continue;
      case 0x09: out += "\\t"; continue;
      case 0x3c: case 0x3e: case 0x26: case 0x2028: case 0x2029:
        out += "\\u" + r.toString(16).padStart(4, "0");
        continue;
    }
    if (r < 0x20) out += "\\u" + r.toString(16).padStart(4, "0");
    else out += b.toString("latin1");
  }
  return out + '"';
}

/** json.Marshal(map[string][]string) — keys sorted, as Go does for maps. */
export function goJSONHeader(h: Map<string, string[]>): string {
  const keys = [...h.keys()].sort((x, y) => Buffer.compare(bytesOf(x), bytesOf(y)));
  const parts = keys.map((k) => goJSONString(k) + ":[" + h.get(k)!.map(goJSONString).join(",") + "]");
  return "{" + parts.join(",") + "}";
}

// ---------------------------------------------------------------------------
// net/textproto.CanonicalMIMEHeaderKey

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function canonicalHeaderKey(k: string): string {
  if (!TOKEN.test(k)) return k; // Go returns invalid keys unchanged
  let upper = true;
  let out = "";
  for (const c of k) {
    out += upper ? c.toUpperCase() : c.toLowerCase();
    upper = c === "-";
  }
  return out;
}

// ---------------------------------------------------------------------------
// strconv

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/** strconv.Atoi on a 64-bit platform; null on error. */
export function goAtoi(s: string): bigint | null {
  if (!/^[+-]?[0-9]+$/.test(s)) return null;
  const v = BigInt(s);
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

// strconv.underscoreOK: Go integer-literal rules for "_" (only between digits or
// after a base prefix).
function underscoreOK(s: string): boolean {
  let saw = "^";
  let i = 0;
  if (s.startsWith("-") || s.startsWith("+")) s = s.slice(1);
  let hex = false;
  if (/^0[bBoOxX]/.test(s)) { i = 2; saw = "0"; hex = /^0[xX]/.test(s); }
  for (; i < s.length; i++) {
    const c = s[i]!;
    if ((c >= "0" && c <= "9") || (hex && /[a-fA-F]/.test(c))) { saw = "0"; continue; }
    if (c === "_") { if (saw !== "0") return false; saw = "_"; continue; }
    if (saw === "_") return false;
    saw = "!";
  }
  return saw !== "_";
}

/**
 * strconv.ParseInt(s, 0, 64), which pflag uses for int flags: accepts 0x/0o/0b
 * prefixes, a bare leading 0 as octal, and Go-literal underscores ("8_080").
 */
export function goParseIntBase0(s: string): bigint | null {
  if (s.includes("_") && !underscoreOK(s)) return null;
  const clean = s.replace(/_/g, "");
  const m = /^([+-]?)(0[xX]([0-9a-fA-F]+)|0[bB]([01]+)|0[oO]([0-7]+)|0([0-7]+)|(0|[1-9][0-9]*))$/.exec(clean);
  if (!m) return null;
  let v: bigint;
  if (m[3] !== undefined) v = BigInt("0x" + m[3]);
  else if (m[4] !== undefined) v = BigInt("0b" + m[4]);
  else if (m[5] !== undefined) v = BigInt("0o" + m[5]);
  else if (m[6] !== undefined) v = BigInt("0o" + m[6]);
  else v = BigInt(m[7]!);
  if (m[1] === "-") v = -v;
  return v < INT64_MIN || v > INT64_MAX ? null : v;
}

// ---------------------------------------------------------------------------
// time.Duration (int64 nanoseconds)

const UNITS: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  "\u00b5s": 1_000n, // U+00B5 micro sign
  "\u03bcs": 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** time.ParseDuration; returns nanoseconds or null on error. */
export function parseGoDuration(s: string): bigint | null {
  let rest = s;
  let neg = false;
  if (rest.startsWith("-") || rest.startsWith("+")) { neg = rest[0] === "-"; rest = rest.slice(1); }
  if (rest === "0") return 0n;
  if (rest === "") return null;
  let total = 0n;
  while (rest !== "") {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(rest)!;
    const intPart = m[1]!;
    const fracPart = m[2];
    if (intPart === "" && (fracPart === undefined || fracPart === "")) return null; // no digits
    rest = rest.slice(m[0].length);
    const um = /^[^0-9.]*/.exec(rest)!;
    const unitName = um[0];
    if (unitName === "") return null; // missing unit
    const unit = UNITS[unitName];
    if (unit === undefined) return null; // unknown unit
    rest = rest.slice(unitName.length);
    let v = BigInt(intPart === "" ? "0" : intPart) * unit;
    if (fracPart) v += (BigInt(fracPart) * unit) / 10n ** BigInt(fracPart.length);
    total += v;
    if (total > INT64_MAX + (neg ? 1n : 0n)) return null; // overflow
  }
  return neg ? -total : total;
}

function fmtFrac(v: bigint, prec: number): [string, bigint] {
  // Like Go's fmtFrac: print the low prec digits as a fraction, dropping trailing zeros.
  let digits = "";
  let print = false;
  for (let i = 0; i < prec; i++) {
    const d = v % 10n;
    print = print || d !== 0n;
    if (print) digits = d.toString() + digits;
    v /= 10n;
  }
  return [print ? "." + digits : "", v];
}

/** time.Duration.String */
export function formatGoDuration(ns: bigint): string {
  if (ns === 0n) return "0s";
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    let prec: number;
    let unit: string;
    if (u < 1_000n) return (neg ? "-" : "") + u.toString() + "ns";
    if (u < 1_000_000n) { prec = 3; unit = "\u00b5s"; }
    else { prec = 6; unit = "ms"; }
    const [frac, rest] = fmtFrac(u, prec);
    out = rest.toString() + frac + unit;
  } else {
    const [frac, secsTotal] = fmtFrac(u, 9);
    u = secsTotal;
    out = (u % 60n).toString() + frac + "s";
    u /= 60n;
    if (u > 0n) {
      out = (u % 60n).toString() + "m" + out;
      u /= 60n;
      if (u > 0n) out = u.toString() + "h" + out;
    }
  }
  return (neg ? "-" : "") + out;
}

// ---------------------------------------------------------------------------
// time.Time.String and the log package prefix. agnhost's image sets no TZ, so Go's
// Local is UTC there; we always print UTC.

const p2 = (n: number) => String(n).padStart(2, "0");

/**
 * time.Now().String(): "2006-01-02 15:04:05.999999999 +0000 UTC m=+0.000000001".
 * wallNs is Unix time in ns; monoNs is the monotonic reading since process start.
 */
export function goTimeString(wallNs: bigint, monoNs: bigint): string {
  const ms = Number(wallNs / 1_000_000n);
  const d = new Date(ms);
  const nanos = wallNs % 1_000_000_000n;
  let frac = nanos.toString().padStart(9, "0").replace(/0+$/, "");
  if (frac !== "") frac = "." + frac;
  const date = `${d.getUTCFullYear()}-${p2(d.getUTCMonth() + 1)}-${p2(d.getUTCDate())}`;
  const time = `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())}`;
  const sign = monoNs < 0n ? "-" : "+";
  const m = monoNs < 0n ? -monoNs : monoNs;
  const mono = `${m / 1_000_000_000n}.${(m % 1_000_000_000n).toString().padStart(9, "0")}`;
  return `${date} ${time}${frac} +0000 UTC m=${sign}${mono}`;
}

/** The standard logger's LstdFlags prefix: "2006/01/02 15:04:05 ". */
export function goLogPrefix(d: Date): string {
  return (
    `${d.getUTCFullYear()}/${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())} ` +
    `${p2(d.getUTCHours())}:${p2(d.getUTCMinutes())}:${p2(d.getUTCSeconds())} `
  );
}

// ---------------------------------------------------------------------------
// net/http.DetectContentType (the common cases: HTML, XML, PDF, PostScript, BOMs,
// binary vs text). Image/audio/archive signatures are left out: netexec only ever
// writes what the client sent it, and those fall back to octet-stream or text anyway.

const HTML_SIGS = [
  "<!DOCTYPE HTML", "<HTML", "<HEAD", "<SCRIPT", "<IFRAME", "<H1", "<DIV", "<FONT", "<TABLE",
  "<A", "<STYLE", "<TITLE", "<B", "<BODY", "<BR", "<P", "<!--",
];

export function detectContentType(body: Buffer): string {
  const data = body.subarray(0, 512);
  let i = 0;
  while (i < data.length && [0x09, 0x0a, 0x0c, 0x0d, 0x20].includes(data[i]!)) i++;
  const ws = data.subarray(i);
  for (const sig of HTML_SIGS) {
    if (ws.length < sig.length + 1) continue;
    if (ws.subarray(0, sig.length).toString("latin1").toUpperCase() !== sig) continue;
    const term = ws[sig.length]!;
    if (term === 0x20 || term === 0x3e) return "text/html; charset=utf-8";
  }
  if (ws.subarray(0, 5).toString("latin1") === "<?xml") return "text/xml; charset=utf-8";
  if (data.subarray(0, 5).toString("latin1") === "%PDF-") return "application/pdf";
  if (data.subarray(0, 11).toString("latin1") === "%!PS-Adobe-") return "application/postscript";
  if (data[0] === 0xfe && data[1] === 0xff) return "text/plain; charset=utf-16be";
  if (data[0] === 0xff && data[1] === 0xfe) return "text/plain; charset=utf-16le";
  if (data[0] === 0xef && data[1] === 0xbb && data[2] === 0xbf) return "text/plain; charset=utf-8";
  for (const b of data) {
    if (b <= 0x08 || b === 0x0b || (b >= 0x0e && b <= 0x1a) || (b >= 0x1c && b <= 0x1f)) {
      return "application/octet-stream";
    }
  }
  return "text/plain; charset=utf-8";
}
