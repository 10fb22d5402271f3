// DNS name compression (RFC 1035 §4.1.4) of an encoded message. dns-packet writes every name
// in full; real servers (CoreDNS via miekg/dns) compress, which decides how many records of a
// big headless or PTR answer fit in 512/1232 bytes or in one TCP message. Compressed: owner
// names, and the names inside NS, CNAME, PTR and SOA data (the RFC 1035 types; SRV targets
// stay uncompressed, RFC 2782). Input must be uncompressed (as dns-packet encodes).

const HEADER = 12;
const NAME_RDATA = new Set([2, 5, 12]); // NS, CNAME, PTR
const SOA = 6;
const MAX_POINTER = 0x3fff;

class Writer {
  buf: Buffer;
  len = 0;
  private readonly known = new Map<string, number>();
  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }
  bytes(src: Buffer, start: number, end: number) {
    src.copy(this.buf, this.len, start, end);
    this.len += end - start;
  }
  u16(v: number) {
    this.buf.writeUInt16BE(v, this.len);
    this.len += 2;
  }
  /** Write the uncompressed name at src[o…]; returns the offset after it in src. */
  name(src: Buffer, o: number, compress: boolean): number {
    const labels: [number, number][] = [];
    for (;;) {
      const l = src[o];
      if (l === undefined || l >= 0xc0) throw new Error("bad name");
      if (l === 0) { o++; break; }
      labels.push([o, o + 1 + l]);
      o += 1 + l;
    }
    for (let i = 0; i < labels.length; i++) {
      // Case-sensitive: a pointer must not change the case a name was asked in.
      const key = src.toString("latin1", labels[i][0], labels[labels.length - 1][1]);
      const at = this.known.get(key);
      if (compress && at !== undefined) {
        this.u16(0xc000 | at);
        return o;
      }
      if (this.len <= MAX_POINTER && !this.known.has(key)) this.known.set(key, this.len);
      this.bytes(src, labels[i][0], labels[i][1]);
    }
    this.buf[this.len++] = 0;
    return o;
  }
}

/** The same message with its names compressed. Throws on input it does not understand. */
export function compressMessage(msg: Buffer): Buffer {
  if (msg.length < HEADER) throw new Error("short message");
  const w = new Writer(msg.length);
  w.bytes(msg, 0, HEADER);
  let o = HEADER;
  const qd = msg.readUInt16BE(4);
  const rr = msg.readUInt16BE(6) + msg.readUInt16BE(8) + msg.readUInt16BE(10);
  for (let i = 0; i < qd; i++) {
    o = w.name(msg, o, true);
    w.bytes(msg, o, o + 4);
    o += 4;
  }
  for (let i = 0; i < rr; i++) {
    o = w.name(msg, o, true);
    const type = msg.readUInt16BE(o);
    const rdlen = msg.readUInt16BE(o + 8);
    w.bytes(msg, o, o + 8);
    o += 10;
    const end = o + rdlen;
    if (end > msg.length) throw new Error("bad rdlength");
    const lenAt = w.len;
    w.u16(0);
    if (NAME_RDATA.has(type)) {
      if (w.name(msg, o, true) !== end) throw new Error("bad rdata");
    } else if (type === SOA) {
      let p = w.name(msg, o, true);
      p = w.name(msg, p, true);
      if (p + 20 !== end) throw new Error("bad SOA");
      w.bytes(msg, p, end);
    } else w.bytes(msg, o, end);
    w.buf.writeUInt16BE(w.len - lenAt - 2, lenAt);
    o = end;
  }
  if (o !== msg.length) throw new Error("trailing bytes");
  return w.buf.subarray(0, w.len);
}
