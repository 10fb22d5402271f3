// Golden plans: the whole kernel plan of each numbered lab, compared as text (as kube-proxy
// tests compare whole rulesets). UPDATE_GOLDEN=1 rewrites them; review the diff.
import t from "tap";
import { readFileSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { loadLabFiles } from "../../src/spec/load.js";
import { buildCluster } from "../../src/model/cluster.js";
import { renderPlan } from "../../src/plan/cluster.js";
import { planScript } from "../../src/plan/script.js";

// Every numbered lab but the tour (which grows with each capability and is checked live).
const labs = readdirSync("labs").filter((f) => /^(0[1-9]|[1-9]\d)-.*\.yaml$/.test(f)).sort();
t.ok(labs.length >= 4, "labs 01-04 at least");

for (const lab of labs) {
  t.test(lab, async (t) => {
    const file = `labs/${lab}`;
    const m = buildCluster(loadLabFiles([file]));
    const text = planScript(renderPlan(m), [`from: ${file}`]);
    const golden = `test/golden/plan-${lab.replace(/\.yaml$/, "")}.sh`;
    if (process.env.UPDATE_GOLDEN) {
      writeFileSync(golden, text);
      t.comment(`wrote ${golden}`);
    }
    t.ok(existsSync(golden), `${golden} exists (UPDATE_GOLDEN=1 writes it)`);
    t.equal(text, existsSync(golden) ? readFileSync(golden, "utf8") : "", `plan for ${file} matches ${golden}`);
  });
}

t.test("a plan is deterministic", async (t) => {
  const a = planScript(renderPlan(buildCluster(loadLabFiles(["labs/04-vxlan-overlay.yaml"]))));
  const b = planScript(renderPlan(buildCluster(loadLabFiles(["labs/04-vxlan-overlay.yaml"]))));
  t.equal(a, b);
});
