// First kernel test: record the root namespace (compared by test/zz-root-snapshot-after.test.ts).
import t from "tap";
import { writeFileSync } from "node:fs";
import { skipKernel } from "./helpers.js";
import { rootSnapshot, SNAPSHOT_FILE } from "./root-snapshot.js";

t.test("record the root network namespace before the suite", { skip: skipKernel }, async (t) => {
  const snap = rootSnapshot();
  t.ok(snap.links.includes("lo"), "the snapshot sees the root namespace's links");
  t.equal(snap.klabNetns, "", "no klab namespaces before the suite");
  writeFileSync(SNAPSHOT_FILE, JSON.stringify({ takenAt: new Date().toISOString(), snap }));
});
