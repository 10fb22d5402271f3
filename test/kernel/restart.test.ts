// restartPolicy with the kubelet's back-off (scaled down through KLAB_BACKOFF_INITIAL_MS).
import t from "tap";
import { klab, residue, skipKernel, writeLab, sleep } from "../lib/kernel.js";

const LAB = "kt-restart";
const pod = (name: string, policy: string, cmd: string) => `---
apiVersion: v1
kind: Pod
metadata: {name: ${name}}
spec:
  restartPolicy: ${policy}
  containers:
    - {name: c, image: busybox, command: [sh, -c, '${cmd}']}
`;
const text = `apiVersion: klab/v1alpha1
kind: Lab
metadata: {name: ${LAB}}
spec: {nodes: 1}
${pod("always", "Always", "echo run; exit 3")}${pod("onfailure-ok", "OnFailure", "echo done; exit 0")}${pod("never", "Never", "echo once; exit 5")}
---
apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: netexec, image: agnhost, args: [netexec]}]
`;

type Status = { items: { metadata: { name: string }; status: { phase: string; containerStatuses: { restartCount: number; state: Record<string, { exitCode?: number; reason?: string }> }[] } }[] };

t.test("restartPolicy Always / OnFailure / Never", { skip: skipKernel }, async (t) => {
  t.teardown(() => void klab(["down", LAB]));
  const up = klab(["up", writeLab(text)], { env: { KLAB_BACKOFF_INITIAL_MS: "200" } });
  t.equal(up.code, 0, up.stderr);
  let s: Status = { items: [] };
  const byName = () => Object.fromEntries(s.items.map((i) => [i.metadata.name, i.status]));
  for (let i = 0; i < 60; i++) {
    s = JSON.parse(klab(["get", "--lab", LAB, "pods", "-o", "json"]).stdout);
    if ((byName().always?.containerStatuses[0]?.restartCount ?? 0) >= 2) break;
    await sleep(100);
  }
  const st = byName();
  t.ok(st.always.containerStatuses[0].restartCount >= 2, `Always restarts (${st.always.containerStatuses[0].restartCount})`);
  t.equal(st["onfailure-ok"].containerStatuses[0].restartCount, 0, "OnFailure does not restart exit 0");
  t.equal(st["onfailure-ok"].phase, "Succeeded");
  t.equal(st.never.containerStatuses[0].restartCount, 0, "Never does not restart");
  t.equal(st.never.containerStatuses[0].state.terminated?.exitCode, 5);
  t.equal(st.never.phase, "Failed");
  t.match(klab(["logs", "--lab", LAB, "always"]).stdout, /run\nrun\n/, "each run appends to the log");
  t.match(klab(["get", "--lab", LAB, "pods"]).stdout, /always\s+0\/1\s+(CrashLoopBackOff|Running|Error)\s+[1-9]/);

  // A built-in workload that exits (agnhost /exit) is restarted too.
  klab(["exec", "--lab", LAB, "web", "--", "curl", "-s", "-m", "2", "http://127.0.0.1:8080/exit?code=0"]);
  let restarts = 0;
  for (let i = 0; i < 50 && restarts < 1; i++) {
    await sleep(100);
    s = JSON.parse(klab(["get", "--lab", LAB, "pods", "-o", "json"]).stdout);
    restarts = byName().web.containerStatuses[0].restartCount;
  }
  t.equal(restarts, 1, "netexec restarted after /exit");
  let body = "";
  for (let i = 0; i < 30 && body !== "web"; i++) {
    body = klab(["exec", "--lab", LAB, "web", "--", "curl", "-s", "-m", "1", "http://127.0.0.1:8080/hostname"]).stdout;
    await sleep(100);
  }
  t.equal(body, "web", "and serves again");
  t.equal(klab(["down", LAB]).code, 0);
  t.same(residue(LAB), []);
});
