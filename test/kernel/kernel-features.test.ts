// Kernel features the development/CI kernel lacks, used for real where the kernel has them:
//   dummy   a dummy link in a throwaway namespace, with an address: `ip -d link` says `dummy`,
//           the address is local (local route, answers ping), the link deletes cleanly;
//   netem   a veth pair between two throwaway namespaces, `tc qdisc add dev … root netem delay
//           50ms` on one end: ping's minimum RTT goes from the baseline to ≥ 50 ms, and back
//           under 50 ms once the qdisc is deleted.
// Each is probed first (in a namespace of its own) and skipped, with the reason and the command
// that runs it under a stock kernel in qemu (`npm run test:kernel-vm`), where the feature is
// missing; that run fails if they are skipped there.
import t from "tap";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { isRoot } from "../lib/kernel.js";

/** A subtest's `t` (tap exports no plain name for it). */
type TapTest = Parameters<Parameters<typeof t.test>[0]>[0];

const VM = "run them under a stock kernel: npm run test:kernel-vm";

function run(cmd: string, args: string[], timeoutMs = 30_000) {
  const r = spawnSync(cmd, args, { encoding: "utf8", timeout: timeoutMs });
  return { code: r.status ?? -1, stdout: r.stdout ?? "", stderr: `${r.stderr ?? ""}${r.error ? String(r.error) : ""}`.trim() };
}
const inNs = (ns: string, cmd: string, args: string[]) => run("ip", ["netns", "exec", ns, cmd, ...args]);
const lastLine = (s: string) => s.trim().split("\n").at(-1) ?? "";

// ---- namespaces: kt-kf-<pid>-<n>, always deleted -----------------------------------------------

const made = new Set<string>();
function removeAll() {
  for (const ns of made) spawnSync("ip", ["netns", "del", ns]);
  made.clear();
}
process.on("exit", removeAll);

let seq = 0;
function addNetns(): string {
  const name = `kt-kf-${process.pid}-${++seq}`;
  const r = run("ip", ["netns", "add", name]);
  if (r.code !== 0) throw new Error(`ip netns add ${name}: ${r.stderr}`);
  made.add(name);
  const lo = inNs(name, "ip", ["link", "set", "lo", "up"]);
  if (lo.code !== 0) throw new Error(`ip link set lo up in ${name}: ${lo.stderr}`);
  return name;
}
function delNetns(name: string) {
  spawnSync("ip", ["netns", "del", name]);
  made.delete(name);
}
function netns(t: TapTest): string {
  const name = addNetns();
  t.teardown(() => delNetns(name));
  return name;
}

// ---- what this kernel can do (probed once, in a namespace of its own) ---------------------------

function probe(): { dummy: string | false; netem: string | false } {
  if (!isRoot) {
    const why = `needs root (network namespaces); run: sudo bash scripts/test.sh kernel, or ${VM}`;
    return { dummy: why, netem: why };
  }
  const ns = addNetns();
  try {
    const d = inNs(ns, "ip", ["link", "add", "kt-probe-d", "type", "dummy"]);
    const dummy = d.code === 0 ? false : `no dummy link type in this kernel (ip link add … type dummy: ${lastLine(d.stderr)}); ${VM}`;
    let netem: string | false = false;
    const v = inNs(ns, "ip", ["link", "add", "kt-probe-a", "type", "veth", "peer", "name", "kt-probe-b"]);
    if (v.code !== 0) netem = `cannot create a veth pair to try netem on: ${lastLine(v.stderr)}`;
    else {
      const q = inNs(ns, "tc", ["qdisc", "add", "dev", "kt-probe-a", "root", "netem", "delay", "1ms"]);
      if (q.code !== 0) netem = `no netem qdisc in this kernel (tc qdisc add … netem: ${lastLine(q.stderr)}); ${VM}`;
    }
    return { dummy, netem };
  } finally {
    delNetns(ns);
  }
}

const can = probe();
t.comment(
  `kernel ${readFileSync("/proc/sys/kernel/osrelease", "utf8").trim()}: ${Object.entries(can)
    .map(([k, v]) => `${k}=${v === false ? "yes" : `no (${v})`}`)
    .join("; ")}`,
);

// ---- dummy -------------------------------------------------------------------------------------

t.test("dummy link: created with an address in a throwaway namespace, then deleted", { skip: can.dummy }, async (t) => {
  const ns = netns(t);
  const addr = "192.0.2.10";
  for (const argv of [
    ["link", "add", "kt-dummy0", "type", "dummy"],
    ["addr", "add", `${addr}/32`, "dev", "kt-dummy0"],
    ["link", "set", "kt-dummy0", "up"],
  ]) {
    const r = inNs(ns, "ip", argv);
    t.equal(r.code, 0, `ip ${argv.join(" ")}${r.code ? `: ${r.stderr}` : ""}`);
    if (r.code) return;
  }
  const details = inNs(ns, "ip", ["-d", "link", "show", "kt-dummy0"]);
  t.equal(details.code, 0, "ip -d link show kt-dummy0");
  t.match(details.stdout, /\n\s+dummy\b/, "ip -d link shows the link kind: dummy");
  const addrs = inNs(ns, "ip", ["-4", "-o", "addr", "show", "dev", "kt-dummy0"]).stdout;
  t.match(addrs, new RegExp(`inet ${addr.replaceAll(".", "\\.")}/32 `), `the link holds ${addr}/32`);
  const local = inNs(ns, "ip", ["-4", "route", "show", "table", "local", "dev", "kt-dummy0"]).stdout;
  t.match(local, new RegExp(`(^|\\n)local ${addr.replaceAll(".", "\\.")} `), "with a local route");
  const ping = inNs(ns, "ping", ["-c", "1", "-W", "5", addr]);
  t.equal(ping.code, 0, `the address answers ping inside the namespace${ping.code ? `: ${ping.stdout}${ping.stderr}` : ""}`);
  const del = inNs(ns, "ip", ["link", "del", "kt-dummy0"]);
  t.equal(del.code, 0, "ip link del kt-dummy0");
  t.not(inNs(ns, "ip", ["link", "show", "kt-dummy0"]).code, 0, "the link is gone");
});

// ---- netem -------------------------------------------------------------------------------------

/** ping's rtt line: min/avg/max in ms, or undefined (with the output for the message). */
function pingRtt(ns: string, to: string, count: number): { min: number; avg: number; max: number } | string {
  const r = inNs(ns, "ping", ["-n", "-c", String(count), "-i", "0.2", "-W", "5", to]);
  const m = /rtt min\/avg\/max\/mdev = ([\d.]+)\/([\d.]+)\/([\d.]+)\//.exec(r.stdout);
  if (r.code !== 0 || !m) return `ping ${to} exited ${r.code}: ${(r.stdout + r.stderr).trim()}`;
  return { min: Number(m[1]), avg: Number(m[2]), max: Number(m[3]) };
}

t.test("netem: delay 50ms on a veth between two throwaway namespaces", { skip: can.netem }, async (t) => {
  const a = netns(t);
  const b = netns(t);
  const steps: [string, string[]][] = [
    [a, ["link", "add", "kt-nem-a", "type", "veth", "peer", "name", "kt-nem-b", "netns", b]],
    [a, ["addr", "add", "10.254.254.1/30", "dev", "kt-nem-a"]],
    [b, ["addr", "add", "10.254.254.2/30", "dev", "kt-nem-b"]],
    [a, ["link", "set", "kt-nem-a", "up"]],
    [b, ["link", "set", "kt-nem-b", "up"]],
  ];
  for (const [ns, argv] of steps) {
    const r = inNs(ns, "ip", argv);
    if (r.code !== 0) {
      t.fail(`ip ${argv.join(" ")} (in ${ns}): ${r.stderr}`);
      return;
    }
  }
  const before = pingRtt(a, "10.254.254.2", 3);
  if (typeof before === "string") {
    t.fail(`baseline: ${before}`);
    return;
  }
  t.pass(`baseline RTT min/avg/max ${before.min}/${before.avg}/${before.max} ms`);

  const add = inNs(a, "tc", ["qdisc", "add", "dev", "kt-nem-a", "root", "netem", "delay", "50ms"]);
  t.equal(add.code, 0, `tc qdisc add dev kt-nem-a root netem delay 50ms${add.code ? `: ${add.stderr}` : ""}`);
  if (add.code) return;
  t.match(inNs(a, "tc", ["qdisc", "show", "dev", "kt-nem-a"]).stdout, /qdisc netem \S+: root .*delay 50(\.0+)?ms/, "tc qdisc show lists the netem qdisc with its delay");

  const delayed = pingRtt(a, "10.254.254.2", 5);
  if (typeof delayed === "string") {
    t.fail(`with netem: ${delayed}`);
    return;
  }
  t.ok(delayed.min >= 50, `with netem the minimum RTT is ≥ 50 ms: min/avg/max ${delayed.min}/${delayed.avg}/${delayed.max} ms`);

  const del = inNs(a, "tc", ["qdisc", "del", "dev", "kt-nem-a", "root"]);
  t.equal(del.code, 0, "tc qdisc del dev kt-nem-a root");
  const after = pingRtt(a, "10.254.254.2", 3);
  if (typeof after === "string") t.fail(`after deleting the qdisc: ${after}`);
  else t.ok(after.min < 50, `without it the minimum RTT is back under 50 ms: ${after.min} ms`);
});

t.test("namespaces are cleaned up", { skip: isRoot ? false : "needs root" }, async (t) => {
  const left = run("ip", ["netns", "list"]).stdout.split("\n").filter((l) => l.startsWith(`kt-kf-${process.pid}-`));
  t.same(left, [], "no kt-kf namespace of this run is left after the tests' teardown");
});

t.teardown(removeAll);
