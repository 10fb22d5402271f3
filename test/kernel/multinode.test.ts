// 3-node clusters in both network modes: a full pod-to-pod ping matrix across nodes, and the
// kernel objects behind it (routes, flannel.1, FDB, neighbours) as the modes define them.
import t from "tap";
import { klab, podsLab, residue, skipKernel, writeLab } from "../lib/kernel.js";

const matrixCheck = `    - name: full pod-to-pod ping matrix
      matrix: {from: {podSelector: {matchLabels: {app: mesh}}}, to: {podSelector: {matchLabels: {app: mesh}}}, protocol: ping}
    - name: full pod-to-pod tcp matrix
      matrix: {from: {podSelector: {matchLabels: {app: mesh}}}, to: {podSelector: {matchLabels: {app: mesh}}}, port: 8080}`;

for (const mode of ["host-gw", "vxlan"] as const) {
  t.test(`3-node ${mode}`, { skip: skipKernel }, async (t) => {
    const lab = `kt-mn-${mode === "vxlan" ? "vx" : "gw"}`;
    const file = writeLab(podsLab(lab, { nodes: 3, mode, podsPerNode: 2, checks: matrixCheck }));
    t.teardown(() => void klab(["down", lab]));
    const up = klab(["up", file]);
    t.equal(up.code, 0, `up: ${up.stderr}`);

    const check = klab(["check", lab, "-o", "json"]);
    t.equal(check.code, 0, "checks pass");
    const report = JSON.parse(check.stdout);
    const ping = report.checks.find((c: { name: string }) => c.name === "full pod-to-pod ping matrix");
    t.equal(ping.matrix.from.length, 6);
    t.same(ping.matrix.cells.flat().filter((x: boolean) => !x), [], "all 36 pairs answer ping");
    t.equal(ping.observed, "36/36 pairs reachable");

    const routes = klab(["exec", "node/node1", "--lab", lab, "--", "ip", "-4", "route", "show"]).stdout;
    if (mode === "host-gw") {
      t.match(routes, /10\.244\.1\.0\/24 via 192\.168\.56\.12 dev eth0/, "route to node2's pods via node2");
      t.match(routes, /10\.244\.2\.0\/24 via 192\.168\.56\.13 dev eth0/, "route to node3's pods via node3");
      t.notMatch(klab(["exec", "node/node1", "--lab", lab, "--", "ip", "link"]).stdout, /flannel/, "no overlay in host-gw");
    } else {
      t.match(routes, /10\.244\.1\.0\/24 via 10\.244\.1\.0 dev flannel\.1 onlink/);
      t.match(routes, /10\.244\.2\.0\/24 via 10\.244\.2\.0 dev flannel\.1 onlink/);
      const link = klab(["exec", "node/node1", "--lab", lab, "--", "ip", "-d", "link", "show", "flannel.1"]).stdout;
      t.match(link, /mtu 1450/);
      t.match(link, /vxlan id 1 local 192\.168\.56\.11 dev eth0 .*dstport 8472 nolearning/);
      const fdb = klab(["exec", "node/node1", "--lab", lab, "--", "bridge", "fdb", "show", "dev", "flannel.1"]).stdout;
      t.match(fdb, /dst 192\.168\.56\.12 self permanent/);
      t.match(fdb, /dst 192\.168\.56\.13 self permanent/);
      const neigh = klab(["exec", "node/node1", "--lab", lab, "--", "ip", "neigh", "show", "dev", "flannel.1"]).stdout;
      t.match(neigh, /10\.244\.1\.0 lladdr [0-9a-f:]{17} PERMANENT/);
      const podMtu = klab(["exec", "p1-0", "--lab", lab, "--", "cat", "/sys/class/net/eth0/mtu"]).stdout.trim();
      t.equal(podMtu, "1450", "pod MTU follows the overlay");
    }
    t.equal(klab(["down", lab]).code, 0);
    t.same(residue(lab), []);
  });
}
