// `up` killed with SIGKILL halfway, then `down`: nothing may remain. State is written before
// anything is created, so `down` knows every object, including a runtime that outlived `up`.
import t from "tap";
import { existsSync, readdirSync, rmSync } from "node:fs";
import { klab, klabAsync, podsLab, residue, skipKernel, sleep, writeLab } from "../lib/kernel.js";

async function killDuringUp(t: Tap.Test, lab: string, when: (lab: string) => boolean) {
  const file = writeLab(podsLab(lab, { nodes: 4, mode: "vxlan", podsPerNode: 10 }));
  t.teardown(() => void klab(["down", lab]));
  const child = klabAsync(["up", file]);
  const exited = new Promise((r) => child.once("exit", r));
  const deadline = Date.now() + 60_000;
  while (!when(lab) && Date.now() < deadline) await sleep(5);
  t.ok(when(lab), "reached the point to kill at");
  child.kill("SIGKILL");
  await exited;
  t.ok(residue(lab).length > 0, `the killed up left objects behind (${residue(lab).length})`);
  const down = klab(["down", lab]);
  t.equal(down.code, 0, `down after the crash: ${down.stderr}`);
  t.same(residue(lab), [], "zero residue");
}

t.test("SIGKILL while namespaces and links are being created", { skip: skipKernel }, async (t) => {
  await killDuringUp(t, "kt-crash1", (lab) => existsSync(`/run/netns/klab-${lab}-node1`) && existsSync(`/run/netns/klab-${lab}-default-p4-9`));
});

t.test("SIGKILL after the runtime started", { skip: skipKernel }, async (t) => {
  await killDuringUp(t, "kt-crash2", (lab) => existsSync(`/run/klab/${lab}/agent.sock`));
});

t.test("cleanup removes klab objects even when state is lost", { skip: skipKernel }, async (t) => {
  const lab = "kt-lost";
  const file = writeLab(podsLab(lab, { nodes: 2, mode: "host-gw", podsPerNode: 2 }));
  t.teardown(() => void klab(["cleanup", lab]));
  t.equal(klab(["up", file]).code, 0);
  // Lose the state: as if /run/klab were wiped while namespaces and the runtime live on.
  klab(["exec", "node/node1", "--lab", lab, "--", "true"]);
  rmSync(`/run/klab/${lab}/state.json`);
  t.ok(residue(lab).length > 0);
  const r = klab(["cleanup", lab]);
  t.equal(r.code, 0, r.stderr);
  t.match(r.stdout, /stray namespace/);
  t.same(residue(lab), [], "zero residue after cleanup");
});

t.test("cleanup with no lab named removes every klab object on the host", {
  skip: skipKernel || (readdirSync("/run/netns").some((n) => n.startsWith("klab-")) ? "other klab namespaces exist on this host; a global cleanup would remove them" : false),
}, async (t) => {
  const labs = ["kt-glob-a", "kt-glob-b"];
  t.teardown(() => labs.forEach((l) => klab(["cleanup", l])));
  for (const lab of labs) t.equal(klab(["up", writeLab(podsLab(lab, { nodes: 1, mode: "host-gw", podsPerNode: 2 }))]).code, 0);
  rmSync(`/run/klab/${labs[0]}/state.json`); // one with state lost, one intact
  const r = klab(["cleanup"]);
  t.equal(r.code, 0, r.stderr);
  for (const lab of labs) t.same(residue(lab), [], `${lab}: zero residue`);
  t.same(readdirSync("/run/netns").filter((n) => n.startsWith("klab-")), [], "no klab namespace at all");
});
