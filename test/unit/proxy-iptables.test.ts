// kube-proxy's iptables mode (src/plan/proxy/iptables.ts): chain-name hashes and rulesets checked
// against kube-proxy's own test expectations, whole-text golden files for a fixture cluster,
// and partial syncs. UPDATE_GOLDEN=1 rewrites the golden files (review the diff); a missing
// golden file is a failure, never created silently.
import t from "tap";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import {
  chainsOf,
  endpointChainName,
  iptablesArgv,
  isServiceChainName,
  portProtoHash,
  probability,
  renderIptables,
  renderIptablesPartial,
  renderIptablesSync,
  restoreText,
  EMPTY_IPTABLES_STATE,
  serviceChainNames,
  type IptablesOptions,
} from "../../src/plan/proxy/iptables.js";
import type { ProxyNode, ServiceModel } from "../../src/model/services.js";
import { ep, fixtureServices, fixtureServicesNext, NEXT_CHANGED, NODES, svc } from "../lib/proxy-fixture.js";

/** A subtest's `t` (tap exports no plain name for it). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

// ---- helpers -------------------------------------------------------------------------------

function golden(t: TapTest, name: string, text: string) {
  const file = `test/golden/${name}`;
  if (process.env.UPDATE_GOLDEN) {
    writeFileSync(file, text);
    t.comment(`wrote ${file}`);
  }
  if (!existsSync(file)) {
    t.fail(`${file} is missing (UPDATE_GOLDEN=1 writes it; review it before committing)`);
    return;
  }
  t.equal(text, readFileSync(file, "utf8"), `matches ${file}`);
}

interface Table {
  declared: string[];
  rules: Record<string, string[]>;
  deleted: string[];
}

/** An iptables-restore text in the canonical form kube-proxy's tests compare
 * (assertIPTablesRulesEqual): per table, the declared chains as a set, each chain's rules in
 * order, the deleted chains as a set. */
function canonical(text: string): Record<string, Table> {
  const tables: Record<string, Table> = {};
  let cur: Table | undefined;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    if (line.startsWith("*")) tables[line.slice(1)] = cur = { declared: [], rules: {}, deleted: [] };
    else if (line === "COMMIT") cur = undefined;
    else if (!cur) throw new Error(`line outside a table: ${line}`);
    else if (line.startsWith(":")) cur.declared.push(line.slice(1).split(" ")[0]);
    else if (line.startsWith("-X ")) cur.deleted.push(line.slice(3));
    else if (line.startsWith("-A ")) (cur.rules[line.split(" ")[1]] ??= []).push(line);
    else throw new Error(`unexpected line: ${line}`);
  }
  for (const tb of Object.values(tables)) {
    tb.declared.sort();
    tb.deleted.sort();
  }
  return tables;
}

/** Apply restore texts the way `iptables-restore --noflush` does, to a map chain → rules:
 * a declaration creates or flushes, -A appends, -X deletes (and must find no references). */
function applyRestore(state: Map<string, string[]>, text: string): Map<string, string[]> {
  const next = new Map([...state].map(([k, v]) => [k, [...v]]));
  let tableName = "";
  for (const line of text.split("\n")) {
    if (line.startsWith("*")) tableName = line.slice(1);
    else if (line.startsWith(":")) next.set(`${tableName}/${line.slice(1).split(" ")[0]}`, []);
    else if (line.startsWith("-A ")) {
      const chain = `${tableName}/${line.split(" ")[1]}`;
      if (!next.has(chain)) throw new Error(`-A to missing chain ${chain}`);
      const target = / -j (\S+)/.exec(line)?.[1];
      if (target?.startsWith("KUBE-") && !next.has(`${tableName}/${target}`)) throw new Error(`jump to missing chain: ${line}`);
      next.get(chain)!.push(line);
    } else if (line.startsWith("-X ")) {
      const chain = `${tableName}/${line.slice(3)}`;
      for (const [name, rules] of next) if (rules.some((r) => r.endsWith(` -j ${line.slice(3)}`))) throw new Error(`-X ${chain} still referenced from ${name}`);
      next.delete(chain);
    }
  }
  return next;
}
const emptyState = () => new Map<string, string[]>();

const KP_NODE: ProxyNode = { name: "test-hostname", ip: "192.168.0.2", clusterCIDR: "10.0.0.0/8" };
/** kube-proxy's fake proxier: localhost NodePorts on (KUBE-FIREWALL), fake iptables without
 * --random-fully. */
const KP_OPTS: IptablesOptions = { localhostNodePorts: true, randomFully: false };
const kp = (services: ServiceModel[]) => restoreText(renderIptables(KP_NODE, services, KP_OPTS));

/** The filter table kube-proxy's tests expect when no Service needs a filter rule. */
const KP_FILTER_EMPTY = `*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
`;
const KP_NAT_TOP = `:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]`;
const KP_NAT_FIXED = `-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE`;
const KP_NODEPORTS_LAST = `-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`;

// ---- chain names ---------------------------------------------------------------------------

t.test("chain names hash exactly as kube-proxy's (values from pkg/proxy/iptables/proxier_test.go)", async (t) => {
  // TestOverallIPTablesRulesWithMultipleServices, TestSyncProxyRulesRepeated and the
  // terminating-endpoints tests name these chains for these service ports and endpoints.
  const svcs: [string, string][] = [
    ["ns1/svc1:p80", "XPGD46QRK7WJZT7O"],
    ["ns2/svc2:p80", "GNZBNJ2PO5MGZ6GT"],
    ["ns3/svc3:p80", "X27LE4BHSL4DOUIK"],
    ["ns4/svc4:p80", "4SW47YFZTEDKD3PK"],
    ["ns5/svc5:p80", "NUKIZ6OKUXPJNT4C"],
    ["ns2/svc2:p8080", "2VJB64SDSIJUP5T6"],
    ["ns1/svc1", "AQI2S6QIMU7PVVRP"],
  ];
  for (const [name, hash] of svcs) {
    t.equal(portProtoHash(name, "tcp"), hash, `portProtoHash(${name}, tcp)`);
    t.same(serviceChainNames(name, "TCP"), { svc: `KUBE-SVC-${hash}`, svl: `KUBE-SVL-${hash}`, ext: `KUBE-EXT-${hash}`, fw: `KUBE-FW-${hash}` });
  }
  const seps: [string, string, string][] = [
    ["ns1/svc1:p80", "10.180.0.1:80", "SXIVWICOYRO3J4NJ"],
    ["ns2/svc2:p80", "10.180.0.2:80", "RS4RBKLTHTF2IUXJ"],
    ["ns3/svc3:p80", "10.180.0.3:80", "OYPFS5VJICHGATKP"],
    ["ns4/svc4:p80", "10.180.0.4:80", "UKSFD7AGPMPPLUHC"],
    ["ns4/svc4:p80", "10.180.0.5:80", "C6EBXVWJJZMIWKLZ"],
    ["ns5/svc5:p80", "10.180.0.3:80", "I77PXRDZVX7PMWMN"],
    ["ns1/svc1:p80", "10.0.1.1:80", "SNQ3ZNILQDEJNDQO"],
    ["ns2/svc2:p8080", "10.0.2.1:8080", "UHEGFW77JX3KXTOV"],
    ["ns1/svc1", "10.0.1.1:80", "3JOIVZTXZZRGORX4"],
    ["ns1/svc1", "10.0.1.3:80", "XGJFVO3L2O5SRFNT"],
  ];
  for (const [name, endpoint, hash] of seps) t.equal(endpointChainName(name, "TCP", endpoint), `KUBE-SEP-${hash}`, `SEP for ${name} -> ${endpoint}`);
  t.not(portProtoHash("ns1/svc1:p80", "udp"), portProtoHash("ns1/svc1:p80", "tcp"), "the protocol is part of the hash");
  t.ok(isServiceChainName("KUBE-SVL-X") && isServiceChainName("KUBE-FW-X") && !isServiceChainName("KUBE-SERVICES") && !isServiceChainName("KUBE-MARK-MASQ"));
});

t.test("probabilities format as Go's %0.10f of 1/n", async (t) => {
  t.equal(probability(2), "0.5000000000");
  t.equal(probability(3), "0.3333333333");
  t.equal(probability(7), "0.1428571429");
  t.equal(probability(1024), "0.0009765625");
  t.equal(probability(2048), "0.0004882812", "an exact tie rounds half to even, as Go does (toFixed would give ...13)");
  t.equal(probability(1), "1.0000000000");
});

// ---- kube-proxy's own expectations ------------------------------------------------------------

t.test("TestSyncProxyRulesRepeated: full sync, then partial syncs (kube-proxy's expected texts)", async (t) => {
  const tcp80 = (name: string, port = 80) => ({ name, protocol: "TCP" as const, port });
  const svc1 = svc("ns1", "svc1", { clusterIP: "172.30.0.41", ports: [tcp80("p80")], endpoints: { p80: [ep("10.0.1.1:80@other")] } });
  const svc2 = svc("ns2", "svc2", { clusterIP: "172.30.0.42", ports: [tcp80("p8080", 8080)], endpoints: { p8080: [ep("10.0.2.1:8080@other")] } });
  const svc3 = svc("ns3", "svc3", { clusterIP: "172.30.0.43", ports: [tcp80("p80")], endpoints: { p80: [ep("10.0.3.1:80@other")] } });
  const svc4 = svc("ns4", "svc4", { clusterIP: "172.30.0.44", ports: [tcp80("p80")] });

  let state = [svc1, svc2];
  let text = kp(state);
  t.same(canonical(text), canonical(`${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -s 10.0.2.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-UHEGFW77JX3KXTOV -m comment --comment ns2/svc2:p8080 -m tcp -p tcp -j DNAT --to-destination 10.0.2.1:8080
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-2VJB64SDSIJUP5T6 -m comment --comment "ns2/svc2:p8080 -> 10.0.2.1:8080" -j KUBE-SEP-UHEGFW77JX3KXTOV
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
COMMIT
`), "initial full sync");

  /** One partial sync: kube-proxy's expectation, and the simulated result equals a full render. */
  let kernel = applyRestore(emptyState(), text);
  const step = (name: string, next: ServiceModel[], changed: string[] | "all", expected: string) => {
    const partial = restoreText(renderIptablesPartial(KP_NODE, next, changed === "all" ? "all" : new Set(changed), chainsOf(kp(state)), KP_OPTS));
    t.same(canonical(partial), canonical(expected), name);
    kernel = applyRestore(kernel, partial);
    t.same(kernel, applyRestore(emptyState(), kp(next)), `${name}: applied on top, equals a full sync of the new state`);
    state = next;
  };

  step("add a service and its endpoints: only its SVC/SEP chains are written", [svc1, svc2, svc3], ["ns3/svc3"], `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p8080 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 8080 -j KUBE-SVC-2VJB64SDSIJUP5T6
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -s 10.0.3.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-BSWRHOQ77KEXZLNL -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.1:80" -j KUBE-SEP-BSWRHOQ77KEXZLNL
COMMIT
`);

  step("delete a service: its chains are flushed and deleted", [svc1, svc3], ["ns2/svc2"], `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-UHEGFW77JX3KXTOV - [0:0]
:KUBE-SVC-2VJB64SDSIJUP5T6 - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-X KUBE-SEP-UHEGFW77JX3KXTOV
-X KUBE-SVC-2VJB64SDSIJUP5T6
COMMIT
`);

  step("add a service without endpoints: a REJECT rule and nothing else", [svc1, svc3, svc4], ["ns4/svc4"], `*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j REJECT
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
${KP_NAT_TOP}
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
COMMIT
`);

  const svc4e = { ...svc4, endpoints: { p80: [ep("10.0.4.1:80@other")] } };
  step("its endpoints arrive", [svc1, svc3, svc4e], ["ns4/svc4"], `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -s 10.0.4.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-AYCN5HPXMIRJNJXU -m comment --comment ns4/svc4:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.4.1:80
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-4SW47YFZTEDKD3PK -m comment --comment "ns4/svc4:p80 -> 10.0.4.1:80" -j KUBE-SEP-AYCN5HPXMIRJNJXU
COMMIT
`);

  const svc3b = { ...svc3, endpoints: { p80: [ep("10.0.3.2:80@other")] } };
  step("an endpoint changes: SVC rewritten, new SEP written, old SEP deleted", [svc1, svc3b, svc4e], ["ns3/svc3"], `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-BSWRHOQ77KEXZLNL - [0:0]
:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -j KUBE-SEP-DKCFIS26GWF2WLWC
-X KUBE-SEP-BSWRHOQ77KEXZLNL
COMMIT
`);

  const svc3c = { ...svc3, endpoints: { p80: [ep("10.0.3.2:80@other"), ep("10.0.3.3:80@other")] } };
  step("an endpoint is added", [svc1, svc3c, svc4e], ["ns3/svc3"], `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
:KUBE-SEP-JVVZVJ7BSEPPRNBS - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -s 10.0.3.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.3:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS
COMMIT
`);

  step("no changes: only the top-level chains", [svc1, svc3c, svc4e], [], `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns4/svc4:p80 cluster IP" -m tcp -p tcp -d 172.30.0.44 --dport 80 -j KUBE-SVC-4SW47YFZTEDKD3PK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
COMMIT
`);

  step("a full resync deleting a service rewrites everything and deletes its chains", [svc1, svc3c], "all", `${KP_FILTER_EMPTY}*nat
${KP_NAT_TOP}
:KUBE-SEP-AYCN5HPXMIRJNJXU - [0:0]
:KUBE-SEP-DKCFIS26GWF2WLWC - [0:0]
:KUBE-SEP-JVVZVJ7BSEPPRNBS - [0:0]
:KUBE-SEP-SNQ3ZNILQDEJNDQO - [0:0]
:KUBE-SVC-4SW47YFZTEDKD3PK - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
${KP_NODEPORTS_LAST}
${KP_NAT_FIXED}
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -s 10.0.3.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-DKCFIS26GWF2WLWC -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.2:80
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -s 10.0.3.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-JVVZVJ7BSEPPRNBS -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.3.3:80
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SNQ3ZNILQDEJNDQO -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-DKCFIS26GWF2WLWC
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.0.3.3:80" -j KUBE-SEP-JVVZVJ7BSEPPRNBS
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.0.1.1:80" -j KUBE-SEP-SNQ3ZNILQDEJNDQO
-X KUBE-SEP-AYCN5HPXMIRJNJXU
-X KUBE-SVC-4SW47YFZTEDKD3PK
COMMIT
`);
});

t.test("TestOverallIPTablesRulesWithMultipleServices (the parts the model has)", async (t) => {
  // kube-proxy's fixture minus what klab does not model: svc2's externalIP 192.168.99.22 and
  // healthCheckNodePort, svc4 (externalIPs) and svc5 (loadBalancerSourceRanges). Their rules
  // are left out of the expectation below; every other line is kube-proxy's, verbatim.
  const p80 = (nodePort?: number) => [{ name: "p80", protocol: "TCP" as const, port: 80, ...(nodePort ? { nodePort } : {}) }];
  const text = kp([
    svc("ns1", "svc1", { clusterIP: "172.30.0.41", ports: p80(), endpoints: { p80: [ep("10.180.0.1:80@other")] } }),
    svc("ns2", "svc2", {
      type: "LoadBalancer",
      externalTrafficPolicy: "Local",
      clusterIP: "172.30.0.42",
      loadBalancerIP: "1.2.3.4",
      ports: p80(3001),
      // Not on this node: "considered non-local and ignored".
      endpoints: { p80: [ep("10.180.0.2:80@other")] },
    }),
    svc("ns3", "svc3", { type: "NodePort", clusterIP: "172.30.0.43", ports: p80(3003), endpoints: { p80: [ep("10.180.0.3:80@other")] } }),
    svc("ns6", "svc6", { clusterIP: "172.30.0.46", ports: p80() }),
  ]);
  t.same(canonical(text), canonical(`*filter
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXTERNAL-SERVICES - [0:0]
:KUBE-FIREWALL - [0:0]
:KUBE-FORWARD - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
-A KUBE-SERVICES -m comment --comment "ns6/svc6:p80 has no endpoints" -m tcp -p tcp -d 172.30.0.46 --dport 80 -j REJECT
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j DROP
-A KUBE-EXTERNAL-SERVICES -m comment --comment "ns2/svc2:p80 has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 3001 -j DROP
-A KUBE-FIREWALL -m comment --comment "block incoming localnet connections" -d 127.0.0.0/8 ! -s 127.0.0.0/8 -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP
-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
COMMIT
*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-EXT-X27LE4BHSL4DOUIK - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-OYPFS5VJICHGATKP - [0:0]
:KUBE-SEP-RS4RBKLTHTF2IUXJ - [0:0]
:KUBE-SEP-SXIVWICOYRO3J4NJ - [0:0]
:KUBE-SVC-GNZBNJ2PO5MGZ6GT - [0:0]
:KUBE-SVC-X27LE4BHSL4DOUIK - [0:0]
:KUBE-SVC-XPGD46QRK7WJZT7O - [0:0]
-A KUBE-NODEPORTS -m comment --comment ns2/svc2:p80 -m tcp -p tcp --dport 3001 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-NODEPORTS -m comment --comment ns3/svc3:p80 -m tcp -p tcp --dport 3003 -j KUBE-EXT-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 -j KUBE-SVC-XPGD46QRK7WJZT7O
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns2/svc2:p80 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-GNZBNJ2PO5MGZ6GT
-A KUBE-SERVICES -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "pod traffic for ns2/svc2:p80 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "masquerade LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-GNZBNJ2PO5MGZ6GT -m comment --comment "route LOCAL traffic for ns2/svc2:p80 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-GNZBNJ2PO5MGZ6GT
-A KUBE-EXT-X27LE4BHSL4DOUIK -m comment --comment "masquerade traffic for ns3/svc3:p80 external destinations" -j KUBE-MARK-MASQ
-A KUBE-EXT-X27LE4BHSL4DOUIK -j KUBE-SVC-X27LE4BHSL4DOUIK
-A KUBE-MARK-MASQ -j MARK --or-mark 0x4000
-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x4000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -s 10.180.0.3 -j KUBE-MARK-MASQ
-A KUBE-SEP-OYPFS5VJICHGATKP -m comment --comment ns3/svc3:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.3:80
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -s 10.180.0.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-RS4RBKLTHTF2IUXJ -m comment --comment ns2/svc2:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.2:80
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -s 10.180.0.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-SXIVWICOYRO3J4NJ -m comment --comment ns1/svc1:p80 -m tcp -p tcp -j DNAT --to-destination 10.180.0.1:80
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 cluster IP" -m tcp -p tcp -d 172.30.0.42 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-GNZBNJ2PO5MGZ6GT -m comment --comment "ns2/svc2:p80 -> 10.180.0.2:80" -j KUBE-SEP-RS4RBKLTHTF2IUXJ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 cluster IP" -m tcp -p tcp -d 172.30.0.43 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-X27LE4BHSL4DOUIK -m comment --comment "ns3/svc3:p80 -> 10.180.0.3:80" -j KUBE-SEP-OYPFS5VJICHGATKP
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 cluster IP" -m tcp -p tcp -d 172.30.0.41 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-XPGD46QRK7WJZT7O -m comment --comment "ns1/svc1:p80 -> 10.180.0.1:80" -j KUBE-SEP-SXIVWICOYRO3J4NJ
COMMIT
`));
});

t.test("session affinity with externalTrafficPolicy Local (kube-proxy's terminating-endpoints test, ready case)", async (t) => {
  // Left out of kube-proxy's expectation: the healthCheckNodePort ACCEPT rule (not modelled).
  // Its two not-ready endpoints (10.0.1.3 serving+terminating, 10.0.1.4) are unused there
  // because ready endpoints exist; here they are simply not ready.
  const text = kp([
    svc("ns1", "svc1", {
      type: "LoadBalancer",
      clusterIP: "172.30.1.1",
      loadBalancerIP: "1.2.3.4",
      externalTrafficPolicy: "Local",
      sessionAffinity: "ClientIP",
      ports: [{ name: "", protocol: "TCP", port: 80 }],
      endpoints: {
        "": [
          ep("10.0.1.1:80@test-hostname"),
          ep("10.0.1.2:80@test-hostname"),
          ep("10.0.1.3:80@test-hostname", false),
          ep("10.0.1.4:80@test-hostname", false),
          ep("10.0.1.5:80@host-1"),
        ],
      },
    }),
  ]);
  t.same(canonical(text), canonical(`${KP_FILTER_EMPTY}*nat
:KUBE-NODEPORTS - [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-EXT-AQI2S6QIMU7PVVRP - [0:0]
:KUBE-MARK-MASQ - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-SEP-3JOIVZTXZZRGORX4 - [0:0]
:KUBE-SEP-EQCHZ7S2PJ72OHAY - [0:0]
:KUBE-SEP-IO5XOSKPAXIFQXAJ - [0:0]
:KUBE-SVC-AQI2S6QIMU7PVVRP - [0:0]
:KUBE-SVL-AQI2S6QIMU7PVVRP - [0:0]
-A KUBE-SERVICES -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 -j KUBE-SVC-AQI2S6QIMU7PVVRP
-A KUBE-SERVICES -m comment --comment "ns1/svc1 loadbalancer IP" -m tcp -p tcp -d 1.2.3.4 --dport 80 -j KUBE-EXT-AQI2S6QIMU7PVVRP
-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS
-A KUBE-EXT-AQI2S6QIMU7PVVRP -m comment --comment "pod traffic for ns1/svc1 external destinations" -s 10.0.0.0/8 -j KUBE-SVC-AQI2S6QIMU7PVVRP
-A KUBE-EXT-AQI2S6QIMU7PVVRP -m comment --comment "masquerade LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ
-A KUBE-EXT-AQI2S6QIMU7PVVRP -m comment --comment "route LOCAL traffic for ns1/svc1 external destinations" -m addrtype --src-type LOCAL -j KUBE-SVC-AQI2S6QIMU7PVVRP
-A KUBE-EXT-AQI2S6QIMU7PVVRP -j KUBE-SVL-AQI2S6QIMU7PVVRP
${KP_NAT_FIXED}
-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -s 10.0.1.1 -j KUBE-MARK-MASQ
-A KUBE-SEP-3JOIVZTXZZRGORX4 -m comment --comment ns1/svc1 -m recent --name KUBE-SEP-3JOIVZTXZZRGORX4 --set -m tcp -p tcp -j DNAT --to-destination 10.0.1.1:80
-A KUBE-SEP-EQCHZ7S2PJ72OHAY -m comment --comment ns1/svc1 -s 10.0.1.5 -j KUBE-MARK-MASQ
-A KUBE-SEP-EQCHZ7S2PJ72OHAY -m comment --comment ns1/svc1 -m recent --name KUBE-SEP-EQCHZ7S2PJ72OHAY --set -m tcp -p tcp -j DNAT --to-destination 10.0.1.5:80
-A KUBE-SEP-IO5XOSKPAXIFQXAJ -m comment --comment ns1/svc1 -s 10.0.1.2 -j KUBE-MARK-MASQ
-A KUBE-SEP-IO5XOSKPAXIFQXAJ -m comment --comment ns1/svc1 -m recent --name KUBE-SEP-IO5XOSKPAXIFQXAJ --set -m tcp -p tcp -j DNAT --to-destination 10.0.1.2:80
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 cluster IP" -m tcp -p tcp -d 172.30.1.1 --dport 80 ! -s 10.0.0.0/8 -j KUBE-MARK-MASQ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m recent --name KUBE-SEP-3JOIVZTXZZRGORX4 --rcheck --seconds 10800 --reap -j KUBE-SEP-3JOIVZTXZZRGORX4
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m recent --name KUBE-SEP-IO5XOSKPAXIFQXAJ --rcheck --seconds 10800 --reap -j KUBE-SEP-IO5XOSKPAXIFQXAJ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -m recent --name KUBE-SEP-EQCHZ7S2PJ72OHAY --rcheck --seconds 10800 --reap -j KUBE-SEP-EQCHZ7S2PJ72OHAY
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.3333333333 -j KUBE-SEP-3JOIVZTXZZRGORX4
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-IO5XOSKPAXIFQXAJ
-A KUBE-SVC-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.5:80" -j KUBE-SEP-EQCHZ7S2PJ72OHAY
-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m recent --name KUBE-SEP-3JOIVZTXZZRGORX4 --rcheck --seconds 10800 --reap -j KUBE-SEP-3JOIVZTXZZRGORX4
-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -m recent --name KUBE-SEP-IO5XOSKPAXIFQXAJ --rcheck --seconds 10800 --reap -j KUBE-SEP-IO5XOSKPAXIFQXAJ
-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.1:80" -m statistic --mode random --probability 0.5000000000 -j KUBE-SEP-3JOIVZTXZZRGORX4
-A KUBE-SVL-AQI2S6QIMU7PVVRP -m comment --comment "ns1/svc1 -> 10.0.1.2:80" -j KUBE-SEP-IO5XOSKPAXIFQXAJ
COMMIT
`));
});

// ---- the fixture cluster: golden files --------------------------------------------------------

t.test("golden: node1 (local endpoints for the Local-policy Services)", async (t) => {
  golden(t, "iptables-node1.txt", restoreText(renderIptables(NODES.node1, fixtureServices())));
});

t.test("golden: node3 (no local endpoints for them)", async (t) => {
  golden(t, "iptables-node3.txt", restoreText(renderIptables(NODES.node3, fixtureServices())));
});

t.test("golden: the one-time jumps", async (t) => {
  const r = renderIptables(NODES.node1, fixtureServices());
  golden(t, "iptables-jumps.txt", `${r.jumps.join("\n")}\n`);
  t.same(r.sysctls, [["net.ipv4.conf.all.route_localnet", "1"]]);
  t.same(iptablesArgv(r.jumps.find((j) => j.includes("PREROUTING"))!), ["-t", "nat", "-I", "PREROUTING", "-m", "comment", "--comment", "kubernetes service portals", "-j", "KUBE-SERVICES"]);
});

t.test("golden: partial sync on node1 after cart changed, front deleted, new added", async (t) => {
  const previous = chainsOf(renderIptables(NODES.node1, fixtureServices()));
  golden(t, "iptables-partial-node1.txt", restoreText(renderIptablesPartial(NODES.node1, fixtureServicesNext(), NEXT_CHANGED, previous)));
});

// ---- the fixture cluster: what the goldens should show ----------------------------------------

const lines = (text: string) => text.split("\n");

t.test("rendering is deterministic and services keep the caller's order", async (t) => {
  const a = renderIptables(NODES.node1, fixtureServices());
  t.same(renderIptables(NODES.node1, fixtureServices()), a);
  const order = lines(a.nat).filter((l) => l.startsWith("-A KUBE-SERVICES")).map((l) => /--comment "([^ ]+) /.exec(l)?.[1]);
  t.same(order.slice(0, 4), ["kube-system/kube-dns:dns", "kube-system/kube-dns:dns-tcp", "kube-system/kube-dns:metrics", "shop/web:http"]);
  t.match(lines(a.nat).filter((l) => l.startsWith("-A KUBE-SERVICES")).at(-1)!, /kubernetes service nodeports; NOTE: this must be the last rule/);
  t.ok(a.nat.startsWith("*nat\n:KUBE-SERVICES - [0:0]\n") && a.nat.endsWith("COMMIT\n"));
  t.ok(a.filter.startsWith("*filter\n:KUBE-SERVICES - [0:0]\n") && a.filter.endsWith("COMMIT\n"));
});

t.test("headless and ExternalName Services have no rules; readiness decides endpoints", async (t) => {
  const text = restoreText(renderIptables(NODES.node1, fixtureServices()));
  t.notMatch(text, /shop\/db/, "headless: nothing");
  t.notMatch(text, /shop\/ext/, "ExternalName: nothing");
  t.notMatch(text, /10\.244\.1\.3/, "web's unready endpoint is not used");
  t.match(text, /-A KUBE-SERVICES -m comment --comment "shop\/unready has no endpoints" -m tcp -p tcp -d 10\.96\.0\.26 --dport 80 -j REJECT/, "only unready endpoints: REJECT");
  t.match(text, /--to-destination 10\.244\.2\.3:7000/, "publishNotReadyAddresses: the unready endpoint is used");
  t.match(text, /-m udp -p udp -d 10\.96\.0\.10 --dport 53 -j KUBE-SVC-/, "UDP port");
  t.match(text, /-m udp -p udp -j DNAT --to-destination 10\.244\.0\.6:53/);
});

t.test("no endpoints: REJECT on the cluster IP, the load-balancer IP and the NodePort", async (t) => {
  const { filter, nat } = renderIptables(NODES.node1, fixtureServices());
  const rejects = lines(filter).filter((l) => l.includes("shop/empty has no endpoints"));
  t.same(rejects, [
    `-A KUBE-SERVICES -m comment --comment "shop/empty has no endpoints" -m tcp -p tcp -d 10.96.0.25 --dport 80 -j REJECT`,
    `-A KUBE-EXTERNAL-SERVICES -m comment --comment "shop/empty has no endpoints" -m tcp -p tcp -d 192.168.56.242 --dport 80 -j REJECT`,
    `-A KUBE-EXTERNAL-SERVICES -m comment --comment "shop/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30082 -j REJECT`,
  ]);
  t.notMatch(nat, /shop\/empty/, "and nothing in nat");
});

t.test("externalTrafficPolicy Local: KUBE-SVL with local endpoints, or DROP where there are none", async (t) => {
  const { svc: svcChain, svl, ext } = serviceChainNames("shop/local", "tcp");
  const n1 = renderIptables(NODES.node1, fixtureServices());
  t.same(lines(n1.nat).filter((l) => l.startsWith(`-A ${svl} `)), [`-A ${svl} -m comment --comment "shop/local -> 10.244.0.5:8080" -j ${endpointChainName("shop/local", "tcp", "10.244.0.5:8080")}`]);
  t.equal(lines(n1.nat).filter((l) => l.startsWith(`-A ${ext} `)).at(-1), `-A ${ext} -j ${svl}`);
  t.notMatch(n1.filter, /shop\/local/);

  const n3 = renderIptables(NODES.node3, fixtureServices());
  t.notMatch(n3.nat, new RegExp(svl), "no KUBE-SVL without local endpoints");
  t.same(lines(n3.nat).filter((l) => l.startsWith(`-A ${ext} `)), [
    `-A ${ext} -m comment --comment "pod traffic for shop/local external destinations" -s 10.244.0.0/16 -j ${svcChain}`,
    `-A ${ext} -m comment --comment "masquerade LOCAL traffic for shop/local external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ`,
    `-A ${ext} -m comment --comment "route LOCAL traffic for shop/local external destinations" -m addrtype --src-type LOCAL -j ${svcChain}`,
  ]);
  t.same(lines(n3.filter).filter((l) => l.includes("shop/local")), [
    `-A KUBE-EXTERNAL-SERVICES -m comment --comment "shop/local has no local endpoints" -m tcp -p tcp -d 192.168.56.241 --dport 80 -j DROP`,
    `-A KUBE-EXTERNAL-SERVICES -m comment --comment "shop/local has no local endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30081 -j DROP`,
  ]);
  t.match(n3.nat, `-A KUBE-SERVICES -m comment --comment "shop/local cluster IP" -m tcp -p tcp -d 10.96.0.24 --dport 80 -j ${svcChain}`, "the cluster IP still works");
});

t.test("internalTrafficPolicy Local: the cluster IP goes to KUBE-SVL, or is dropped", async (t) => {
  const { svc: svcChain, svl } = serviceChainNames("shop/node-cache", "tcp");
  const n1 = renderIptables(NODES.node1, fixtureServices());
  t.match(n1.nat, `-A KUBE-SERVICES -m comment --comment "shop/node-cache cluster IP" -m tcp -p tcp -d 10.96.0.28 --dport 80 -j ${svl}`);
  t.match(n1.nat, `-A ${svl} -m comment --comment "shop/node-cache cluster IP" -m tcp -p tcp -d 10.96.0.28 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`);
  t.notMatch(n1.nat, svcChain, "no KUBE-SVC: nothing uses Cluster policy");
  const n3 = renderIptables(NODES.node3, fixtureServices());
  t.notMatch(n3.nat, /shop\/node-cache/);
  t.same(lines(n3.filter).filter((l) => l.includes("shop/node-cache")), [
    `-A KUBE-SERVICES -m comment --comment "shop/node-cache has no local endpoints" -m tcp -p tcp -d 10.96.0.28 --dport 80 -j DROP`,
  ]);
});

t.test("session affinity: recent lists named after the endpoint chains", async (t) => {
  const { nat } = renderIptables(NODES.node1, fixtureServices());
  const { svc: chain } = serviceChainNames("shop/cart", "tcp");
  const sep = endpointChainName("shop/cart", "tcp", "10.244.1.4:8080");
  t.match(nat, `-A ${chain} -m comment --comment "shop/cart -> 10.244.1.4:8080" -m recent --name ${sep} --rcheck --seconds 600 --reap -j ${sep}`);
  t.match(nat, `-A ${sep} -m comment --comment shop/cart -m recent --name ${sep} --set -m tcp -p tcp -j DNAT --to-destination 10.244.1.4:8080`);
  const svcRules = lines(nat).filter((l) => l.startsWith(`-A ${chain} `));
  t.equal(svcRules.length, 1 + 3 + 3, "masquerade, 3 affinity checks, 3 load-balancing rules");
  t.match(svcRules[4], /--probability 0\.3333333333 /);
  t.match(svcRules[5], /--probability 0\.5000000000 /);
  t.notMatch(svcRules[6], /statistic/, "the last rule always matches");
});

t.test("options: localhost NodePorts off, no --random-fully", async (t) => {
  const r = renderIptables(NODES.node1, fixtureServices(), { localhostNodePorts: false, randomFully: false });
  t.match(r.nat, `-m addrtype --dst-type LOCAL ! -d 127.0.0.0/8 -j KUBE-NODEPORTS`);
  t.notMatch(r.filter, /KUBE-FIREWALL/);
  t.same(r.sysctls, []);
  t.match(r.nat, /-j MASQUERADE\n/);
  t.match(renderIptables(NODES.node1, fixtureServices()).nat, /-j MASQUERADE --random-fully\n/);
});

t.test("large cluster mode drops the per-endpoint comments above 1000 endpoints", async (t) => {
  const many = Array.from({ length: 1001 }, (_, i) => ep(`10.244.${Math.floor(i / 250)}.${(i % 250) + 2}:80@node1`));
  const big = svc("big", "svc", { clusterIP: "10.96.9.9", ports: [{ name: "", protocol: "TCP", port: 80 }], endpoints: { "": many } });
  const { nat } = renderIptables(NODES.node1, [big]);
  const chain = serviceChainNames("big/svc", "tcp").svc;
  const first = lines(nat).filter((l) => l.startsWith(`-A ${chain} `))[1];
  t.equal(first, `-A ${chain} -m statistic --mode random --probability 0.0009990010 -j ${endpointChainName("big/svc", "tcp", "10.244.0.2:80")}`);
  t.match(nat, `-A ${endpointChainName("big/svc", "tcp", "10.244.0.2:80")} -s 10.244.0.2 -j KUBE-MARK-MASQ`);
  t.match(nat, `-A ${chain} -m comment --comment "big/svc cluster IP"`, "the cluster IP rules keep theirs");
  const small = renderIptables(NODES.node1, [{ ...big, endpoints: { "": many.slice(0, 1000) } }]).nat;
  t.match(small, `-m comment --comment "big/svc -> 10.244.0.2:80"`, "1000 endpoints: comments kept");
});

// ---- partial sync ------------------------------------------------------------------------------

t.test("partial sync touches only the changed Services' chains and the top-level ones", async (t) => {
  const before = renderIptables(NODES.node1, fixtureServices());
  const after = renderIptables(NODES.node1, fixtureServicesNext());
  const partial = renderIptablesPartial(NODES.node1, fixtureServicesNext(), NEXT_CHANGED, chainsOf(before));

  t.equal(partial.filter, after.filter, "filter is written whole");

  const ownChains = (key: string, r = after) =>
    [...chainsOf(r)].filter((c) => isServiceChainName(c) && r.nat.split("\n").some((l) => l.startsWith(`-A ${c} `) && l.includes(`${key}`)));
  const declared = lines(partial.nat).filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0]);
  const deleted = lines(partial.nat).filter((l) => l.startsWith("-X ")).map((l) => l.slice(3));

  const frontChains = ownChains("shop/front", before);
  const oldCartSep = endpointChainName("shop/cart", "tcp", "10.244.1.4:8080");
  t.equal(frontChains.length, 4, "front had EXT, SVC and two SEP chains");
  t.same(deleted, [...frontChains, oldCartSep].sort(), "the deleted Service's chains and the removed endpoint's chain are deleted");
  t.same(
    declared.sort(),
    ["KUBE-SERVICES", "KUBE-NODEPORTS", "KUBE-POSTROUTING", "KUBE-MARK-MASQ", ...ownChains("shop/cart"), ...ownChains("shop/new"), ...deleted].sort(),
    "declared: top-level chains, the changed Services' chains, and (to flush them) the deleted ones",
  );
  for (const unchanged of ["shop/web", "kube-system/kube-dns", "shop/local", "shop/lb"]) {
    for (const c of ownChains(unchanged)) t.notOk(declared.includes(c), `${unchanged}'s ${c} is left alone`);
  }
  const servicesRules = (text: string) => lines(text).filter((l) => l.startsWith("-A KUBE-SERVICES ") || l.startsWith("-A KUBE-NODEPORTS "));
  t.same(servicesRules(partial.nat), servicesRules(after.nat), "KUBE-SERVICES and KUBE-NODEPORTS are rewritten whole");
  t.ok(
    lines(partial.nat).indexOf(`-X ${oldCartSep}`) > lines(partial.nat).findIndex((l) => l.startsWith(`-A ${serviceChainNames("shop/cart", "tcp").svc} `)),
    "chains are deleted after the rules that jumped to them were rewritten",
  );

  t.same(applyRestore(applyRestore(emptyState(), restoreText(before)), restoreText(partial)), applyRestore(emptyState(), restoreText(after)), "applied on top of the old state: equals the new full state");
  const all = renderIptablesPartial(NODES.node1, fixtureServicesNext(), "all", chainsOf(before));
  t.same(applyRestore(applyRestore(emptyState(), restoreText(before)), restoreText(all)), applyRestore(emptyState(), restoreText(after)), `changed "all": a full sync with cleanup`);

  const none = renderIptablesPartial(NODES.node1, fixtureServices(), new Set(), chainsOf(before));
  t.same(lines(none.nat).filter((l) => l.startsWith(":")), [":KUBE-SERVICES - [0:0]", ":KUBE-NODEPORTS - [0:0]", ":KUBE-POSTROUTING - [0:0]", ":KUBE-MARK-MASQ - [0:0]"], "nothing changed: top-level chains only");
});

t.test("partial sync on node3 (the Local-policy Service has no local chains there)", async (t) => {
  const before = renderIptables(NODES.node3, fixtureServices());
  const after = renderIptables(NODES.node3, fixtureServicesNext());
  const partial = renderIptablesPartial(NODES.node3, fixtureServicesNext(), NEXT_CHANGED, chainsOf(before));
  t.same(applyRestore(applyRestore(emptyState(), restoreText(before)), restoreText(partial)), applyRestore(emptyState(), restoreText(after)));
});

t.test("chainsOf: declared chains minus deleted ones", async (t) => {
  t.same([...chainsOf("*nat\n:A - [0:0]\n:KUBE-SEP-X - [0:0]\n-X KUBE-SEP-X\nCOMMIT\n")], ["A"]);
  const r = renderIptables(NODES.node1, fixtureServices());
  const c = chainsOf(r);
  t.ok(c.has("KUBE-SERVICES") && c.has("KUBE-FORWARD") && c.has("KUBE-MARK-MASQ"));
  t.ok(c.has(serviceChainNames("shop/web:http", "tcp").svc));
  t.notOk([...c].some((x) => x.includes("CANARY")), "the canary chains belong to the jumps, not the restore");
});

// ---- klab's incremental sync (renderIptablesSync) ------------------------------------------------

t.test("incremental sync: an endpoint change writes only that Service's chains", async (t) => {
  const node = NODES.node1;
  const prev = fixtureServices();
  const full = renderIptablesSync(node, prev, "all", EMPTY_IPTABLES_STATE);
  t.same(full.restore, { filter: renderIptables(node, prev).filter, nat: renderIptables(node, prev).nat }, `"all" from nothing is the full render`);

  const next = fixtureServices();
  const cart = next.find((s) => s.name === "cart")!;
  cart.endpoints[""] = [...cart.endpoints[""].slice(0, -1), ep("10.244.1.77:8080@node2")];
  const step = renderIptablesSync(node, next, new Set(["shop/cart"]), full.state);
  t.equal(step.restore.filter, "", "filter unchanged: not written");
  const declared = lines(step.restore.nat).filter((l) => l.startsWith(":")).map((l) => l.slice(1).split(" ")[0]);
  t.notOk(declared.some((c) => !isServiceChainName(c)), "no top-level chain declared (KUBE-SERVICES is unchanged)");
  t.notOk(lines(step.restore.nat).some((l) => l.startsWith("-A KUBE-SERVICES ")), "no KUBE-SERVICES rule written");
  t.ok(declared.includes(serviceChainNames("shop/cart", "tcp").svc), "the Service's chain is rewritten");
  t.same(
    applyRestore(applyRestore(emptyState(), restoreText(full.restore)), restoreText(step.restore)),
    applyRestore(emptyState(), restoreText(renderIptables(node, next))),
    "applied on top: equals a full render of the new state",
  );
  t.same([...step.state.chains].sort(), [...chainsOf(renderIptables(node, next))].sort(), "the state knows the chains left");

  // The Services that did not change are reused, not re-rendered: same objects.
  const web = full.state.services!.get("shop/web");
  t.equal(step.state.services!.get("shop/web"), web, "unchanged Service's contribution reused");

  // A Service removed changes KUBE-SERVICES: then it is rewritten.
  const fewer = next.filter((s) => s.name !== "front");
  const gone = renderIptablesSync(node, fewer, new Set(["shop/front"]), step.state);
  t.ok(lines(gone.restore.nat).includes(":KUBE-SERVICES - [0:0]"), "KUBE-SERVICES changed: declared and rewritten");
  t.same(
    applyRestore(applyRestore(applyRestore(emptyState(), restoreText(full.restore)), restoreText(step.restore)), restoreText(gone.restore)),
    applyRestore(emptyState(), restoreText(renderIptables(node, fewer))),
    "second step applied: equals a full render",
  );
  t.same(renderIptablesSync(node, fewer, new Set(), gone.state).restore, { filter: "", nat: "" }, "nothing changed: nothing to write");
});

t.test("incremental syncs in a row: each state equals a full render's and leaves the one before it as it was", async (t) => {
  const node = NODES.node1;
  const entries = (m: ReadonlyMap<string, unknown> | undefined) => [...(m ?? new Map())].sort(([a], [b]) => (a < b ? -1 : 1));
  let services = fixtureServices();
  let state = renderIptablesSync(node, services, "all", EMPTY_IPTABLES_STATE).state;
  // Endpoint changes (the quick path, which overlays the previous state), one Service at a
  // time, more than once each, and one back to where it started.
  const steps: Array<[string, (s: ServiceModel) => void]> = [
    ["shop/cart", (s) => { s.endpoints[""] = [...s.endpoints[""].slice(0, -1), ep("10.244.1.77:8080@node2")]; }],
    ["shop/web", (s) => { for (const k in s.endpoints) s.endpoints[k] = s.endpoints[k].slice(1); }],
    ["shop/cart", (s) => { s.endpoints[""] = [ep("10.244.2.9:8080@node3")]; }],
    ["shop/cart", (s) => { s.endpoints[""] = fixtureServices().find((x) => x.name === "cart")!.endpoints[""]; }],
  ];
  for (const [key, edit] of steps) {
    const next: ServiceModel[] = JSON.parse(JSON.stringify(services));
    edit(next.find((s) => `${s.namespace}/${s.name}` === key)!);
    const before = entries(state.services);
    const chainsBefore = [...state.chains].sort();
    const step = renderIptablesSync(node, next, new Set([key]), state);
    const full = renderIptablesSync(node, next, "all", EMPTY_IPTABLES_STATE).state;
    t.not(step.state.services!.constructor, Map, `${key}: an overlay of the previous state, not a copy`);
    t.same(entries(step.state.services), entries(full.services), `${key}: the contributions are a full render's`);
    t.equal(step.state.services!.size, full.services!.size, `${key}: size`);
    t.same([...step.state.chains].sort(), [...full.chains].sort(), `${key}: the chains are a full render's`);
    t.same(entries(state.services), before, `${key}: the previous state is unchanged (an apply may fail)`);
    t.same([...state.chains].sort(), chainsBefore, `${key}: its chains too`);
    services = next;
    state = step.state;
  }
  t.ok(state.services!.has("shop/cart") && state.services!.get("shop/cart") !== undefined, "has/get agree");
  t.same([...state.services!.keys()].length, state.services!.size, "keys() and size agree");
});
