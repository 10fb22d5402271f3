// The cluster DNS zone (src/dns/zone.ts): the records of the Kubernetes DNS spec as CoreDNS's
// kubernetes plugin answers them, and the negative answers.
import t from "tap";
import { buildZone, reverseZonesOf, reverseName, DNS_SCHEMA_VERSION, type DnsRecord, type ZoneAnswer } from "../../src/dns/zone.js";
import { ep, input, pods, services, svc } from "../fixtures/dns/cluster.js";

const zone = buildZone(input());
const SOA = {
  name: "cluster.local",
  type: "SOA",
  class: "IN",
  ttl: 5,
  data: { mname: "ns.dns.cluster.local", rname: "hostmaster.cluster.local", serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: 5 },
};

const data = (a: ZoneAnswer) => a.answers.map((r) => r.data);
const types = (a: ZoneAnswer) => a.answers.map((r) => r.type);

type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

function nxdomain(tt: TapTest, name: string, type = "A", z = zone) {
  const a = z.answer(name, type);
  tt.equal(a.rcode, "NXDOMAIN", `${name} ${type}: NXDOMAIN`);
  tt.same(a.answers, [], `${name} ${type}: no answers`);
  tt.equal(a.authority.length, 1, `${name} ${type}: SOA in authority`);
  tt.equal(a.authority[0]?.type, "SOA");
}
function nodata(tt: TapTest, name: string, type = "A", z = zone) {
  const a = z.answer(name, type);
  tt.equal(a.rcode, "NOERROR", `${name} ${type}: NOERROR`);
  tt.same(a.answers, [], `${name} ${type}: NODATA`);
  tt.equal(a.authority[0]?.type, "SOA", `${name} ${type}: SOA in authority`);
}


t.test("ClusterIP Service: A (spec 2.3.1)", async (t) => {
  const a = zone.answer("web.default.svc.cluster.local", "A");
  t.equal(a.rcode, "NOERROR");
  t.same(a.answers, [{ name: "web.default.svc.cluster.local", type: "A", class: "IN", ttl: 5, data: "10.96.0.20" }]);
  t.same(a.authority, [], "no SOA on positive answers");
  t.same(data(zone.answer("web.default.svc.cluster.local.", "A")), ["10.96.0.20"], "trailing dot");
  t.same(data(zone.answer("kube-dns.kube-system.svc.cluster.local", "A")), ["10.96.0.10"]);
  t.same(data(buildZone(input({ ttl: 30 })).answer("web.default.svc.cluster.local", "A")), ["10.96.0.20"]);
  t.equal(buildZone(input({ ttl: 30 })).answer("web.default.svc.cluster.local", "A").answers[0].ttl, 30, "ttl option");
  // NodePort/LoadBalancer Services have a ClusterIP too
  const lb = buildZone(input({ services: [svc("default", "lb", "10.96.0.50", [{ name: "http", protocol: "TCP", port: 80 }], {}, { type: "LoadBalancer", loadBalancerIP: "192.168.1.240" })] }));
  t.same(data(lb.answer("lb.default.svc.cluster.local", "A")), ["10.96.0.50"], "LoadBalancer: the ClusterIP, not the ingress IP");
});

t.test("case-insensitive, answered in the question's case", async (t) => {
  const a = zone.answer("WeB.DEFAULT.svc.Cluster.LOCAL.", "A");
  t.equal(a.rcode, "NOERROR");
  t.same(a.answers, [{ name: "WeB.DEFAULT.svc.Cluster.LOCAL", type: "A", class: "IN", ttl: 5, data: "10.96.0.20" }]);
  const n = zone.answer("NOPE.default.svc.CLUSTER.local", "A");
  t.equal(n.rcode, "NXDOMAIN");
  t.equal(n.authority[0].name, "CLUSTER.local", "SOA owner keeps the zone's case as asked (CoreDNS)");
  t.same(data(zone.answer("_HTTP._TCP.web.default.svc.cluster.local", "srv")), [
    { priority: 0, weight: 100, port: 80, target: "web.default.svc.cluster.local" },
  ], "qtype case-insensitive too");
  const z = buildZone(input({ clusterDomain: "Cluster.Local." }));
  t.equal(z.clusterDomain, "cluster.local", "cluster domain normalized");
  t.same(data(z.answer("web.default.svc.cluster.local", "A")), ["10.96.0.20"]);
  const other = buildZone(input({ clusterDomain: "k8s.example.org" }));
  t.same(data(other.answer("web.default.svc.k8s.example.org", "A")), ["10.96.0.20"], "custom cluster domain");
  t.equal(other.answer("web.default.svc.cluster.local", "A").rcode, "NOT_AUTHORITATIVE");
});

t.test("headless Service: one A per ready endpoint (spec 2.4.1)", async (t) => {
  const a = zone.answer("db.default.svc.cluster.local", "A");
  t.same(data(a), ["10.244.1.10", "10.244.2.11"], "db-2 is not ready");
  t.ok(a.answers.every((r) => r.name === "db.default.svc.cluster.local" && r.ttl === 5));
  nxdomain(t, "empty.default.svc.cluster.local", "A");
  nxdomain(t, "empty.default.svc.cluster.local", "SRV");
  t.same(data(zone.answer("pna.default.svc.cluster.local", "A")), ["10.244.1.31"], "publishNotReadyAddresses: not-ready endpoints too");
  t.same(data(zone.answer("manual.default.svc.cluster.local", "A")), ["192.168.50.5"], "selectorless Service with manual endpoints");
  // the same IP under two ports answers once (plugin.A dedups by address)
  const two = buildZone(input({
    services: [svc("default", "h", null, [{ name: "a", protocol: "TCP", port: 1 }, { name: "b", protocol: "TCP", port: 2 }], {
      a: [ep("10.244.1.5", 1)],
      b: [ep("10.244.1.5", 2)],
    })],
  }));
  t.same(data(two.answer("h.default.svc.cluster.local", "A")), ["10.244.1.5"]);
});

t.test("endpoint names: hostname.subdomain, else the dashed IP", async (t) => {
  t.same(data(zone.answer("db-0.db.default.svc.cluster.local", "A")), ["10.244.1.10"], "pod hostname + subdomain = Service name");
  t.same(data(zone.answer("db-1.db.default.svc.cluster.local", "A")), ["10.244.2.11"]);
  nxdomain(t, "db-2.db.default.svc.cluster.local", "A"); // not ready
  nxdomain(t, "10-244-1-10.db.default.svc.cluster.local", "A"); // it has a hostname: no dashed name
  t.same(data(zone.answer("10-244-1-5.web.default.svc.cluster.local", "A")), ["10.244.1.5"], "dashed IP for pods without hostname (ClusterIP Service too, as CoreDNS)");
  nxdomain(t, "10-244-2-7.web.default.svc.cluster.local", "A"); // not ready
  t.same(data(zone.answer("legacy.manual.default.svc.cluster.local", "A")), ["192.168.50.5"], "hostname from the Endpoints object");
  nxdomain(t, "lone.nothing.default.svc.cluster.local", "A");
  nxdomain(t, "lone.default.svc.cluster.local", "A");
  // hostname without the matching subdomain: the endpoint gets its dashed IP
  const z = buildZone(input({
    services: [svc("default", "h", null, [{ name: "", protocol: "TCP", port: 80 }], { "": [ep("10.244.1.40", 80, "default/p")] })],
    pods: [{ namespace: "default", name: "p", ip: "10.244.1.40", hostname: "p", subdomain: "other" }],
  }));
  t.same(data(z.answer("10-244-1-40.h.default.svc.cluster.local", "A")), ["10.244.1.40"]);
  nxdomain(t, "p.h.default.svc.cluster.local", "A", z);
  // two endpoints with one hostname: one A per IP (spec 2.4.1)
  const dup = buildZone(input({
    services: [svc("default", "h", null, [{ name: "", protocol: "TCP", port: 80 }], { "": [{ ...ep("10.244.1.41", 80), hostname: "x" }, { ...ep("10.244.1.42", 80), hostname: "x" }] })],
  }));
  t.same(data(dup.answer("x.h.default.svc.cluster.local", "A")), ["10.244.1.41", "10.244.1.42"]);
  nxdomain(t, "a.db-0.db.default.svc.cluster.local", "A");
});

t.test("SRV: named ports only (spec 2.3.2, 2.4.2)", async (t) => {
  const c = zone.answer("_http._tcp.web.default.svc.cluster.local", "SRV");
  t.same(c.answers, [{ name: "_http._tcp.web.default.svc.cluster.local", type: "SRV", class: "IN", ttl: 5, data: { priority: 0, weight: 100, port: 80, target: "web.default.svc.cluster.local" } }]);
  t.same(c.additionals, [{ name: "web.default.svc.cluster.local", type: "A", class: "IN", ttl: 5, data: "10.96.0.20" }], "the target's A in the additional section");
  t.same(data(zone.answer("_metrics._tcp.web.default.svc.cluster.local", "SRV")), [{ priority: 0, weight: 100, port: 9090, target: "web.default.svc.cluster.local" }]);
  t.same(data(zone.answer("_dns._udp.kube-dns.kube-system.svc.cluster.local", "SRV")), [{ priority: 0, weight: 100, port: 53, target: "kube-dns.kube-system.svc.cluster.local" }]);

  const h = zone.answer("_pg._tcp.db.default.svc.cluster.local", "SRV");
  t.same(data(h), [
    { priority: 0, weight: 50, port: 5432, target: "db-0.db.default.svc.cluster.local" },
    { priority: 0, weight: 50, port: 5432, target: "db-1.db.default.svc.cluster.local" },
  ], "headless: one per ready endpoint, target its hostname record");
  t.same(h.additionals.map((r) => [r.name, r.data]), [["db-0.db.default.svc.cluster.local", "10.244.1.10"], ["db-1.db.default.svc.cluster.local", "10.244.2.11"]]);

  // headless SRV carries the endpoint's (target) port, as CoreDNS does
  const tp = buildZone(input({ services: [svc("default", "h", null, [{ name: "web", protocol: "TCP", port: 80 }], { web: [ep("10.244.1.5", 8080), ep("10.244.1.6", 8080), ep("10.244.1.7", 8080)] })] }));
  const s = tp.answer("_web._tcp.h.default.svc.cluster.local", "SRV");
  t.same(s.answers.map((r) => r.data), ["5", "6", "7"].map((n) => ({ priority: 0, weight: 33, port: 8080, target: `10-244-1-${n}.h.default.svc.cluster.local` })), "weights share 100 (plugin.SRV)");

  nxdomain(t, "_http._udp.web.default.svc.cluster.local", "SRV"); // wrong protocol
  nxdomain(t, "_nope._tcp.web.default.svc.cluster.local", "SRV");
  nxdomain(t, "_._tcp.single.default.svc.cluster.local", "SRV"); // the unnamed port
  nxdomain(t, "__tcp.single.default.svc.cluster.local", "SRV");
  nodata(t, "_tcp.web.default.svc.cluster.local", "SRV"); // empty non-terminal
  nxdomain(t, "_udp.web.default.svc.cluster.local", "SRV");
  nxdomain(t, "_tcp.single.default.svc.cluster.local", "SRV");
  nodata(t, "_http._tcp.web.default.svc.cluster.local", "TXT");

  // CoreDNS also answers A at the SRV name (its Records() returns the same services)
  t.same(data(zone.answer("_http._tcp.web.default.svc.cluster.local", "A")), ["10.96.0.20"]);
  t.same(data(zone.answer("_pg._tcp.db.default.svc.cluster.local", "A")), ["10.244.1.10", "10.244.2.11"]);
  // CoreDNS extension: SRV at the Service name itself, one per port (named or not)
  t.same(data(zone.answer("single.default.svc.cluster.local", "SRV")), [{ priority: 0, weight: 100, port: 80, target: "single.default.svc.cluster.local" }]);
  t.same(data(zone.answer("web.default.svc.cluster.local", "SRV")).map((d) => (d as { port: number }).port), [80, 9090]);
  t.same(data(zone.answer("db-0.db.default.svc.cluster.local", "SRV")), [{ priority: 0, weight: 100, port: 5432, target: "db-0.db.default.svc.cluster.local" }]);
});

t.test("PTR (spec 2.3.3, 2.4.3)", async (t) => {
  t.equal(reverseName("10.96.0.20"), "20.0.96.10.in-addr.arpa");
  const p = zone.answer("20.0.96.10.in-addr.arpa", "PTR");
  t.same(p.answers, [{ name: "20.0.96.10.in-addr.arpa", type: "PTR", class: "IN", ttl: 5, data: "web.default.svc.cluster.local" }]);
  t.same(data(zone.answer("10.0.96.10.IN-ADDR.ARPA.", "PTR")), ["kube-dns.kube-system.svc.cluster.local"]);
  t.same(data(zone.answer("10.1.244.10.in-addr.arpa", "PTR")), ["db-0.db.default.svc.cluster.local"], "endpoint with hostname");
  t.same(data(zone.answer("5.1.244.10.in-addr.arpa", "PTR")), [
    "10-244-1-5.web.default.svc.cluster.local",
    "10-244-1-5.single.default.svc.cluster.local",
  ], "one per Service the endpoint backs (CoreDNS serviceRecordForIP)");
  nxdomain(t, "12.1.244.10.in-addr.arpa", "PTR"); // db-2, not ready
  nxdomain(t, "7.2.244.10.in-addr.arpa", "PTR");
  nxdomain(t, "99.0.96.10.in-addr.arpa", "PTR"); // unused ClusterIP, in the service CIDR
  t.equal(zone.answer("99.0.96.10.in-addr.arpa", "PTR").authority[0].name, "96.10.in-addr.arpa", "SOA of the reverse zone");
  nodata(t, "1.244.10.in-addr.arpa", "PTR"); // empty non-terminal
  nodata(t, "20.0.96.10.in-addr.arpa", "A");
  t.same(types(zone.answer("96.10.in-addr.arpa", "SOA")), ["SOA"], "reverse zone apex");
  t.equal(zone.answer("1.2.3.4.in-addr.arpa", "PTR").rcode, "NOT_AUTHORITATIVE", "outside the service/pod CIDRs");
  t.equal(zone.answer("10.in-addr.arpa", "PTR").rcode, "NOT_AUTHORITATIVE", "above the reverse zones");
  t.same(data(zone.answer("5.50.168.192.in-addr.arpa", "PTR")), ["legacy.manual.default.svc.cluster.local"], "a known endpoint outside the CIDRs is still answered");
  t.equal(zone.answer("6.50.168.192.in-addr.arpa", "PTR").rcode, "NOT_AUTHORITATIVE");
  // without CIDRs: only known PTRs are ours
  const z = buildZone(input({ reverseCIDRs: [] }));
  t.same(data(z.answer("20.0.96.10.in-addr.arpa", "PTR")), ["web.default.svc.cluster.local"]);
  t.equal(z.answer("99.0.96.10.in-addr.arpa", "PTR").rcode, "NOT_AUTHORITATIVE");
  t.equal(z.answer("20.0.96.10.in-addr.arpa", "A").authority[0].name, "in-addr.arpa");
});

t.test("reverse zones of CIDRs (CoreDNS splits on octet boundaries)", async (t) => {
  t.same(reverseZonesOf("10.96.0.0/12"), Array.from({ length: 16 }, (_, i) => `${96 + i}.10.in-addr.arpa`));
  t.same(reverseZonesOf("10.244.0.0/16"), ["244.10.in-addr.arpa"]);
  t.same(reverseZonesOf("192.168.5.0/24"), ["5.168.192.in-addr.arpa"]);
  t.same(reverseZonesOf("10.0.0.0/8"), ["10.in-addr.arpa"]);
  t.same(reverseZonesOf("192.168.4.0/23"), ["4.168.192.in-addr.arpa", "5.168.192.in-addr.arpa"]);
  t.same(reverseZonesOf("10.1.2.3/32"), ["3.2.1.10.in-addr.arpa"]);
  t.same(reverseZonesOf("10.96.7.1/12"), reverseZonesOf("10.96.0.0/12"), "host bits ignored");
  t.throws(() => reverseZonesOf("10.96.0.0"), /invalid IPv4 CIDR/);
  t.throws(() => reverseZonesOf("10.96.0.0/33"), /invalid IPv4 CIDR/);
  t.throws(() => reverseZonesOf("fd00::/64"), /invalid IPv4 CIDR/);
});

t.test("ExternalName: CNAME (spec 2.5)", async (t) => {
  const a = zone.answer("ext.default.svc.cluster.local", "A");
  t.equal(a.rcode, "NOERROR");
  t.same(a.answers, [{ name: "ext.default.svc.cluster.local", type: "CNAME", class: "IN", ttl: 5, data: "www.example.com" }]);
  t.same(a.external, { name: "www.example.com", type: "A" }, "the server resolves the target upstream");
  const c = zone.answer("EXT.default.svc.cluster.local", "CNAME");
  t.same(c.answers.map((r) => [r.name, r.type, r.data]), [["EXT.default.svc.cluster.local", "CNAME", "www.example.com"]]);
  t.equal(c.external, undefined, "a CNAME query ends at the CNAME");
  t.same(zone.answer("ext.default.svc.cluster.local", "AAAA").external, { name: "www.example.com", type: "AAAA" });
  t.same(types(zone.answer("ext.default.svc.cluster.local", "TXT")), ["CNAME"]);
  // in-zone target: followed
  const al = zone.answer("alias.default.svc.cluster.local", "A");
  t.same(al.answers.map((r) => [r.name, r.type, r.data]), [
    ["alias.default.svc.cluster.local", "CNAME", "web.default.svc.cluster.local"],
    ["web.default.svc.cluster.local", "A", "10.96.0.20"],
  ]);
  t.equal(al.external, undefined);
  nxdomain(t, "extip.default.svc.cluster.local", "A"); // an IP as externalName gives no record (CoreDNS)
  nxdomain(t, "x.ext.default.svc.cluster.local", "A");
  // loops and dangling in-zone targets stop
  const loop = buildZone(input({ services: [
    svc("default", "a", null, [], {}, { type: "ExternalName", externalName: "b.default.svc.cluster.local" }),
    svc("default", "b", null, [], {}, { type: "ExternalName", externalName: "a.default.svc.cluster.local" }),
    svc("default", "d", null, [], {}, { type: "ExternalName", externalName: "gone.default.svc.cluster.local" }),
  ] }));
  const l = loop.answer("a.default.svc.cluster.local", "A");
  t.equal(l.rcode, "NOERROR");
  t.same(types(l), ["CNAME", "CNAME"], "loop detected");
  const d = loop.answer("d.default.svc.cluster.local", "A");
  t.equal(d.rcode, "NXDOMAIN", "RCODE of the last name in the chain (RFC 6604)");
  t.same(types(d), ["CNAME"]);
});

t.test("pod records: <a-b-c-d>.<ns>.pod.<zone> (spec 2.6, pods insecure)", async (t) => {
  const a = zone.answer("10-244-1-5.default.pod.cluster.local", "A");
  t.same(a.answers, [{ name: "10-244-1-5.default.pod.cluster.local", type: "A", class: "IN", ttl: 5, data: "10.244.1.5" }]);
  t.same(data(zone.answer("1-2-3-4.default.pod.cluster.local", "A")), ["1.2.3.4"], "insecure: any IP");
  t.same(data(zone.answer("1-2-3-4.empty-ns.pod.cluster.local", "A")), ["1.2.3.4"], "any existing namespace");
  nxdomain(t, "1-2-3-4.nope.pod.cluster.local", "A");
  nxdomain(t, "256-1-1-1.default.pod.cluster.local", "A");
  nxdomain(t, "01-2-3-4.default.pod.cluster.local", "A");
  nxdomain(t, "1-2-3.default.pod.cluster.local", "A");
  nxdomain(t, "web-1.default.pod.cluster.local", "A");
  nxdomain(t, "x.1-2-3-4.default.pod.cluster.local", "A");
  nodata(t, "1-2-3-4.default.pod.cluster.local", "AAAA");
  nodata(t, "default.pod.cluster.local", "A");
  nodata(t, "pod.cluster.local", "A");
  t.same(data(zone.answer("fd00--1.default.pod.cluster.local", "AAAA")), ["fd00::1"], "dashes as colons: IPv6");
  const verified = buildZone(input({ podMode: "verified" }));
  t.same(data(verified.answer("10-244-1-5.default.pod.cluster.local", "A")), ["10.244.1.5"]);
  nxdomain(t, "1-2-3-4.default.pod.cluster.local", "A", verified);
  nxdomain(t, "10-244-1-5.kube-system.pod.cluster.local", "A", verified); // wrong namespace
  const disabled = buildZone(input({ podMode: "disabled" }));
  nxdomain(t, "10-244-1-5.default.pod.cluster.local", "A", disabled);
  nxdomain(t, "default.pod.cluster.local", "A", disabled);
});

t.test("dns-version TXT (spec 2.2)", async (t) => {
  const a = zone.answer("dns-version.cluster.local", "TXT");
  t.same(a.answers, [{ name: "dns-version.cluster.local", type: "TXT", class: "IN", ttl: 28800, data: ["1.1.0"] }]);
  t.equal(DNS_SCHEMA_VERSION, "1.1.0");
  nodata(t, "dns-version.cluster.local", "A"); // CoreDNS says NXDOMAIN here; the name exists
  nxdomain(t, "dns-version.svc.cluster.local", "TXT");
});

t.test("NXDOMAIN vs NODATA, SOA", async (t) => {
  const n = zone.answer("nope.default.svc.cluster.local", "A");
  t.equal(n.rcode, "NXDOMAIN");
  t.same(n.authority, [SOA], "SOA: ns.dns.<zone> hostmaster.<zone> serial 7200 1800 86400 ttl (plugin.SOA)");
  nxdomain(t, "web.nope.svc.cluster.local", "A"); // namespace doesn't exist
  nxdomain(t, "web.default.pod.cluster.local", "A");
  nxdomain(t, "nope.cluster.local", "A");
  nxdomain(t, "a.b.web.default.svc.cluster.local", "A");
  nodata(t, "svc.cluster.local", "A");
  nodata(t, "default.svc.cluster.local", "A");
  nodata(t, "empty-ns.svc.cluster.local", "A"); // namespace without Services
  nxdomain(t, "nope.svc.cluster.local", "A");
  nodata(t, "web.default.svc.cluster.local", "AAAA");
  nodata(t, "web.default.svc.cluster.local", "TXT");
  nodata(t, "web.default.svc.cluster.local", "MX");
  nodata(t, "web.default.svc.cluster.local", "CNAME");
  nodata(t, "web.default.svc.cluster.local", "PTR");
  nodata(t, "web.default.svc.cluster.local", "UNKNOWN_65280");
  nodata(t, "web.default.svc.cluster.local", "ANY"); // CoreDNS answers ANY with NODATA
  nodata(t, "web.default.svc.cluster.local", "SOA"); // SOA only at the apex
  nxdomain(t, "nope.default.svc.cluster.local", "SOA");
  nodata(t, "db-0.db.default.svc.cluster.local", "AAAA");
  nodata(t, "cluster.local", "A");
  const ttl60 = buildZone(input({ ttl: 600, serial: 42 })).answer("nope.cluster.local", "A").authority[0] as Extract<DnsRecord, { type: "SOA" }>;
  t.equal(ttl60.ttl, 300, "SOA TTL is min(300, ttl)");
  t.equal(ttl60.data.minimum, 600, "minimum (negative TTL) is the zone ttl");
  t.equal(ttl60.data.serial, 42);
});

t.test("apex: SOA and NS", async (t) => {
  t.same(zone.answer("cluster.local", "SOA").answers, [SOA]);
  const ns = zone.answer("cluster.local", "NS");
  t.same(ns.answers, [{ name: "cluster.local", type: "NS", class: "IN", ttl: 5, data: "ns.dns.cluster.local" }]);
  t.same(ns.additionals, [{ name: "ns.dns.cluster.local", type: "A", class: "IN", ttl: 5, data: "10.96.0.10" }], "glue: the kube-dns ClusterIP");
  t.same(data(zone.answer("ns.dns.cluster.local", "A")), ["10.96.0.10"]);
  nodata(t, "dns.cluster.local", "A");
  const noNs = buildZone(input({ nameserverIP: null }));
  nodata(t, "cluster.local", "NS", noNs);
  nxdomain(t, "ns.dns.cluster.local", "A", noNs);
  t.same(data(buildZone(input({ nameserverIP: "10.96.0.11" })).answer("ns.dns.cluster.local", "A")), ["10.96.0.11"]);
});

t.test("names outside the zone: not authoritative", async (t) => {
  for (const n of ["example.com", "www.example.com.", ".", "", "local", "cluster.local.evil.com", "xcluster.local", "1.2.3.4.in-addr.arpa", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa"]) {
    const a = zone.answer(n, "A");
    t.same(a, { rcode: "NOT_AUTHORITATIVE", answers: [], authority: [], additionals: [] }, JSON.stringify(n));
    t.equal(zone.isAuthoritative(n), false);
  }
  t.equal(zone.isAuthoritative("anything.cluster.local"), true);
  t.equal(zone.isAuthoritative("CLUSTER.LOCAL."), true);
});

t.test("records(): the static zone", async (t) => {
  const rs = zone.records();
  const line = (r: DnsRecord) => `${r.name} ${r.ttl} ${r.type} ${typeof r.data === "string" ? r.data : JSON.stringify(r.data)}`;
  const lines = rs.map(line);
  for (const want of [
    "web.default.svc.cluster.local 5 A 10.96.0.20",
    "db.default.svc.cluster.local 5 A 10.244.1.10",
    "db-0.db.default.svc.cluster.local 5 A 10.244.1.10",
    "ext.default.svc.cluster.local 5 CNAME www.example.com",
    "dns-version.cluster.local 28800 TXT [\"1.1.0\"]",
    "20.0.96.10.in-addr.arpa 5 PTR web.default.svc.cluster.local",
    `_pg._tcp.db.default.svc.cluster.local 5 SRV ${JSON.stringify({ priority: 0, weight: 50, port: 5432, target: "db-0.db.default.svc.cluster.local" })}`,
  ]) t.ok(lines.includes(want), want);
  t.notOk(lines.some((l) => l.includes("db-2")), "no not-ready endpoint");
  t.same(buildZone(input()).records(), rs, "deterministic");
  const before = JSON.stringify({ services, pods });
  buildZone(input()).answer("web.default.svc.cluster.local", "A");
  t.equal(JSON.stringify({ services, pods }), before, "input not mutated");
});

t.test("scale: 5000 Services build and answer quickly", async (t) => {
  const many = Array.from({ length: 5000 }, (_, i) =>
    svc("default", `s${i}`, `10.96.${Math.floor(i / 250) + 1}.${(i % 250) + 1}`, [{ name: "http", protocol: "TCP", port: 80 }], { http: [ep(`10.244.${Math.floor(i / 250)}.${(i % 250) + 1}`, 8080)] }));
  const start = performance.now();
  const z = buildZone(input({ services: many }));
  const built = performance.now() - start;
  t.ok(built < 2000, `built in ${built.toFixed(0)} ms`);
  t.same(data(z.answer("s4999.default.svc.cluster.local", "A")), ["10.96.20.250"]);
  const q0 = performance.now();
  for (let i = 0; i < 20000; i++) z.answer(`s${i % 5000}.default.svc.cluster.local`, "A");
  t.ok(performance.now() - q0 < 2000, "20k lookups");
});
