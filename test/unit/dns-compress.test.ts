// Name compression of encoded messages (src/dns/compress.ts): what dns-packet writes in full,
// compressed as miekg/dns (CoreDNS) compresses when a reply would not fit otherwise.
import t from "tap";
import dnsPacket from "dns-packet";
import type { Answer, Packet } from "dns-packet";
import { compressMessage } from "../../src/dns/compress.js";

const msg = (answers: Answer[], extra: Partial<Packet> = {}): Packet => ({
  id: 7, type: "response", flags: dnsPacket.AUTHORITATIVE_ANSWER,
  questions: [{ name: "Web-Headless.default.svc.cluster.local", type: "A", class: "IN" }], answers, ...extra,
});

t.test("a compressed message decodes to the same message, smaller", async (t) => {
  const answers: Answer[] = Array.from({ length: 40 }, (_, i) => ({ name: "Web-Headless.default.svc.cluster.local", type: "A", class: "IN", ttl: 5, data: `10.244.0.${i + 2}` }));
  const p = msg([
    ...answers,
    { name: "11.0.96.10.in-addr.arpa", type: "PTR", class: "IN", ttl: 5, data: "web.default.svc.cluster.local" },
    { name: "web.default.svc.cluster.local", type: "CNAME", class: "IN", ttl: 5, data: "other.default.svc.cluster.local" },
    { name: "_http._tcp.web.default.svc.cluster.local", type: "SRV", class: "IN", ttl: 5, data: { priority: 0, weight: 100, port: 80, target: "web.default.svc.cluster.local" } },
    { name: "dns-version.cluster.local", type: "TXT", class: "IN", ttl: 28800, data: ["1.1.0"] },
  ], {
    authorities: [{ name: "cluster.local", type: "SOA", class: "IN", ttl: 5, data: { mname: "ns.dns.cluster.local", rname: "hostmaster.cluster.local", serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 } }],
    additionals: [{ name: ".", type: "OPT", udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] } as unknown as Answer],
  });
  const plain = dnsPacket.encode(p);
  const small = compressMessage(plain);
  t.ok(small.length < plain.length / 2, `${plain.length} → ${small.length} bytes`);
  t.same(dnsPacket.decode(small), dnsPacket.decode(plain), "decodes to the same records");
  // Owner names after the question are 2-byte pointers to it (offset 12).
  t.equal(small.readUInt16BE(12 + "Web-Headless.default.svc.cluster.local".length + 2 + 4), 0xc000 | 12);
  const srvTarget = Buffer.from("\x03web\x07default\x03svc\x07cluster\x05local\x00", "latin1");
  t.ok(small.includes(srvTarget), "the SRV target is written in full (RFC 2782)");
});

t.test("case is kept: a pointer never stands for a name in another case", async (t) => {
  const p = msg([{ name: "web-headless.default.svc.cluster.local", type: "A", class: "IN", ttl: 5, data: "10.244.0.2" }]);
  const d = dnsPacket.decode(compressMessage(dnsPacket.encode(p)));
  t.equal(d.questions![0].name, "Web-Headless.default.svc.cluster.local");
  t.equal(d.answers![0].name, "web-headless.default.svc.cluster.local");
});

t.test("what it does not understand is an error (the server then sends the uncompressed form)", async (t) => {
  t.throws(() => compressMessage(Buffer.alloc(5)));
  const b = dnsPacket.encode(msg([{ name: "a.b", type: "A", class: "IN", ttl: 5, data: "1.2.3.4" }]));
  t.throws(() => compressMessage(Buffer.concat([b, Buffer.from([0])])), /trailing/);
  const cut = Buffer.from(b);
  cut.writeUInt16BE(3, 6); // three answers announced, one present
  t.throws(() => compressMessage(cut));
});
