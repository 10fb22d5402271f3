// Every numbered lab, brought up, checked and torn down with `klab run`, as a user would.
import t from "tap";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { klab, residue, skipKernel } from "./lib/kernel.js";

const labs = readdirSync("labs").filter((f) => f.endsWith(".yaml")).sort();

t.test("labs/*.yaml pass their own checks", { skip: skipKernel }, async (t) => {
  t.ok(labs.length >= 5, "labs 00-04 at least");
  for (const file of labs) {
    const name = /^\s+name:\s*(\S+)/m.exec(readFileSync(`labs/${file}`, "utf8"))?.[1] ?? "";
    const already = existsSync(`/run/klab/${name}/state.json`);
    await t.test(file, { skip: already ? `lab ${name} is already up on this host (klab down ${name}, then rerun)` : false }, async (t) => {
      const r = klab(["run", `labs/${file}`, "-o", "json"]);
      t.equal(r.code, 0, `klab run labs/${file} exits 0\n${r.stderr}`);
      const report = JSON.parse(r.stdout || "{}");
      t.ok(report.checks?.length > 0, "the lab has checks");
      t.equal(report.failed, 0, "no check failed");
      for (const c of report.checks ?? []) t.ok(c.passed, `${c.name}: ${c.observed}${c.reason ? ` — ${c.reason}` : ""}`);
      t.same(residue(report.lab), [], "nothing left behind");
    });
  }
});
