// Two labs with the same addressing side by side: names never collide, traffic never crosses,
// and taking one down leaves the other working.
import t from "tap";
import { klab, podsLab, residue, skipKernel, writeLab } from "../lib/kernel.js";

const checks = `    - name: mesh
      matrix: {from: {namespace: default}, to: {namespace: default}, port: 8080}`;

t.test("two labs at once", { skip: skipKernel }, async (t) => {
  const a = "kt-two-a";
  const b = "kt-two-b";
  t.teardown(() => {
    klab(["down", a]);
    klab(["down", b]);
  });
  t.equal(klab(["up", writeLab(podsLab(a, { nodes: 2, mode: "host-gw", podsPerNode: 2, checks }))]).code, 0);
  t.equal(klab(["up", writeLab(podsLab(b, { nodes: 2, mode: "vxlan", podsPerNode: 2, checks }))]).code, 0);
  const ls = klab(["ls"]).stdout;
  t.match(ls, new RegExp(`${a}\\s+up`));
  t.match(ls, new RegExp(`${b}\\s+up`));
  t.equal(klab(["check", a]).code, 0, "lab a checks pass");
  t.equal(klab(["check", b]).code, 0, "lab b checks pass");
  // Same pod IPs in both labs, different namespaces: each answers with its own hostname.
  const ha = klab(["exec", "p1-0", "--lab", a, "--", "curl", "-s", "http://10.244.1.2:8080/hostname"]).stdout;
  const hb = klab(["exec", "p1-0", "--lab", b, "--", "curl", "-s", "http://10.244.1.2:8080/hostname"]).stdout;
  t.equal(ha, "p2-0");
  t.equal(hb, "p2-0");
  t.equal(klab(["get", "pods"]).code, 2, "`get` without --lab is ambiguous with two labs up");
  t.equal(klab(["down", a]).code, 0);
  t.same(residue(a), []);
  t.equal(klab(["check", b]).code, 0, "lab b still works after a is gone");
  t.equal(klab(["down", b]).code, 0);
  t.same(residue(b), []);
});
