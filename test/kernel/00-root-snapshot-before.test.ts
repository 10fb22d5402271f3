// First kernel test: record the root namespace (compared by test/zz-root-snapshot-after.test.ts).
import t from "tap";
import { writeFileSync } from "node:fs";
import { skipKernel } from "../lib/kernel.js";
import { rootSnapshot, SNAPSHOT_FILE } from "../lib/root-snapshot.js";

t.test("record the root network namespace before the suite", { skip: skipKernel }, async (t) => {
  const snap = rootSnapshot();
  t.ok(snap.links.includes("lo"), "the snapshot sees the root namespace's links");
  // Labs a developer already has up are recorded too: the suite must leave them as they were.
  if (snap.klabNetns) t.comment(`klab namespaces present before the suite:\n${snap.klabNetns}`);
  writeFileSync(SNAPSHOT_FILE, JSON.stringify({ takenAt: new Date().toISOString(), snap }));
});
